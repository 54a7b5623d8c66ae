"""Tiny on-disk datasets in each supported layout, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def _image(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _label(rng: np.random.Generator, h: int, w: int, values: list[int]) -> Image.Image:
    return Image.fromarray(rng.choice(np.array(values, dtype=np.uint8), (h, w)))


def write_cityscapes(
    root: Path, counts: dict[str, int], h: int = 24, w: int = 48, train_id_files: bool = False, seed: int = 0
) -> Path:
    """leftImg8bit/<split>/<city>/*_leftImg8bit.png + gtFine labelIds (road, sidewalk, car, unlabeled)."""
    rng = np.random.default_rng(seed)
    for split, n in counts.items():
        for i in range(n):
            city = "aachen" if i % 2 else "bonn"
            name = f"{city}_{i:06d}_000019"
            image_dir, label_dir = root / "leftImg8bit" / split / city, root / "gtFine" / split / city
            image_dir.mkdir(parents=True, exist_ok=True)
            label_dir.mkdir(parents=True, exist_ok=True)
            _image(rng, h, w).save(image_dir / f"{name}_leftImg8bit.png")
            _label(rng, h, w, [0, 7, 8, 26]).save(label_dir / f"{name}_gtFine_labelIds.png")
            if train_id_files:
                Image.fromarray(np.full((h, w), 5, np.uint8)).save(label_dir / f"{name}_gtFine_labelTrainIds.png")
    return root


def write_camvid(root: Path, counts: dict[str, int], h: int = 36, w: int = 48, seed: int = 0) -> Path:
    """<split>/NAME.png photos + <split>annot/NAME.png class maps with values 0..11 (11 = unlabelled)."""
    rng = np.random.default_rng(seed)
    for split, n in counts.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / f"{split}annot").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            _image(rng, h, w).save(root / split / f"0001TP_{i:06d}.png")
            _label(rng, h, w, list(range(12))).save(root / f"{split}annot" / f"0001TP_{i:06d}.png")
    return root


def write_folder(
    root: Path, counts: dict[str, int] | int, h: int = 20, w: int = 30, values: tuple[int, ...] = (0, 1, 2, 255)
) -> Path:
    """images/[<split>/]NAME.jpg + masks/[<split>/]NAME.png; an int count means no split folders."""
    rng = np.random.default_rng(0)
    groups = counts.items() if isinstance(counts, dict) else [("", counts)]
    for split, n in groups:
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "masks" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            _image(rng, h, w).save(root / "images" / split / f"img{split}{i:03d}.jpg", quality=95)
            _label(rng, h, w, list(values)).save(root / "masks" / split / f"img{split}{i:03d}.png")
    return root
