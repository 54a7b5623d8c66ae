"""albumentations pipelines over pairs already resized to the training size: augment on train only, normalise."""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import cv2
from albumentations.pytorch import ToTensorV2

from src.data.labels import IGNORE_INDEX


def eval_transform(mean: Sequence[float], std: Sequence[float]) -> A.Compose:
    """Normalise to a float tensor; validation and test never augment."""
    return A.Compose([A.Normalize(mean=mean, std=std), ToTensorV2()])


def train_transform(
    size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    hflip: float = 0.5,
    jitter: float = 0.2,
    jitter_p: float = 0.8,
    scale: Sequence[float] | None = None,
    seed: int | None = None,
) -> A.Compose:
    """Optional random scale + crop back to `size`, horizontal flip, photometric jitter; then normalise.

    Crops that reach past a shrunken image are padded with black pixels labelled IGNORE_INDEX, so the loss
    never learns from padding.
    """
    augment: list[A.BasicTransform] = []
    if scale is not None:
        low, high = scale
        augment += [
            A.RandomScale(
                scale_limit=(low - 1, high - 1),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST_EXACT,
                p=1.0,
            ),
            A.RandomCrop(
                *size,
                pad_if_needed=True,
                pad_position="random",
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=IGNORE_INDEX,
            ),
        ]
    if hflip > 0:
        augment.append(A.HorizontalFlip(p=hflip))
    if jitter > 0:
        augment.append(A.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter, hue=jitter / 4, p=jitter_p))
    # albumentations keeps its own RNG, untouched by seed_everything: seed it explicitly.
    return A.Compose([*augment, *eval_transform(mean, std).transforms], seed=seed)
