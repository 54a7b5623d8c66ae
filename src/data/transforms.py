"""albumentations pipelines: resize everywhere, augment on train only, then normalise to a tensor."""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2


def eval_transform(size: Sequence[int], mean: Sequence[float], std: Sequence[float]) -> A.Compose:
    """Resize to `size` (H, W): area for the image when shrinking, nearest for labels; normalise."""
    return A.Compose(
        [
            A.Resize(
                *size, interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST, area_for_downscale="image"
            ),
            A.Normalize(mean=mean, std=std),
            ToTensorV2(),
        ]
    )


def train_transform(
    size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    hflip: float = 0.5,
    jitter: float = 0.2,
    jitter_p: float = 0.8,
    seed: int | None = None,
) -> A.Compose:
    """Eval's resize plus horizontal flip and photometric jitter (brightness, contrast, saturation, hue)."""
    resize, normalize, to_tensor = eval_transform(size, mean, std).transforms
    augment = [A.HorizontalFlip(p=hflip)]
    if jitter > 0:
        augment.append(A.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=jitter / 4, p=jitter_p))
    # albumentations keeps its own RNG, untouched by seed_everything: seed it explicitly.
    return A.Compose([resize, *augment, normalize, to_tensor], seed=seed)
