"""A dataset over the Cityscapes folder layout: leftImg8bit/<split>/<city>/*.png with gtFine label ids."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
LAYOUT = (
    "<root>/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png with labels in "
    "<root>/gtFine/<split>/<city>/<name>_gtFine_labelIds.png"
)


def find_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """All (image, label) paths of a split, sorted; a missing root, split, or label file is a clear error."""
    root = Path(root).expanduser()
    image_dir = root / "leftImg8bit" / split
    if not image_dir.is_dir():
        raise FileNotFoundError(f"no folder {image_dir} (data.root={root}); expected {LAYOUT}")
    images = sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}"))
    if not images:
        raise FileNotFoundError(f"no images in {image_dir} (data.root={root}); expected {LAYOUT}")
    pairs = []
    for image in images:
        name = image.name[: -len(IMAGE_SUFFIX)]
        label = root / "gtFine" / split / image.parent.name / f"{name}{LABEL_SUFFIX}"
        if not label.is_file():
            raise FileNotFoundError(f"no labels for {name} (expected {label})")
        pairs.append((image, label))
    return pairs


class CityscapesDataset(Dataset):
    """Image/label-id pairs of one split; `transform` (albumentations) resizes and augments both together."""

    def __init__(self, root: str | Path, split: str, transform: Callable[..., dict] | None = None) -> None:
        self.pairs = find_pairs(root, split)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, label_path = self.pairs[index]
        image = np.array(Image.open(image_path).convert("RGB"))  # writable: albumentations hands it to torch
        label = np.array(Image.open(label_path))
        if label.ndim != 2 or image.shape[:2] != label.shape:
            raise ValueError(
                f"{label_path}: expected a single-channel label map of size {image.shape[:2]}, got shape {label.shape}"
            )
        if self.transform is not None:
            out = self.transform(image=image, mask=label)
            image, label = out["image"], out["mask"]
        else:
            image = torch.from_numpy(image.transpose(2, 0, 1).copy()).float().div_(255)
        # Labels stay uint8 through the loader (8x less to copy); the module widens them on the device.
        return image, torch.as_tensor(label, dtype=torch.uint8)
