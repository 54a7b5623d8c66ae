"""Any images/ + masks/ folders, paired by file stem: what most users with their own data have."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from src.core.errors import ConfigError, DataError, MissingDataError
from src.data.cache import Pair
from src.data.datamodule import SegmentationDataModule
from src.data.labels import ClassTable, folder_table

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
LOSSY_EXTENSIONS = {".jpg", ".jpeg"}  # compression invents values between classes: no use for masks
SPLITS = ("train", "val", "test")


def list_images(folder: Path) -> dict[str, Path]:
    """Image files in `folder` by stem; two files with one stem is ambiguous and an error."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            if path.stem in found:
                raise DataError(f"{path} and {found[path.stem]} share the stem {path.stem!r}; expected one per stem")
            found[path.stem] = path
    return found


def pair_by_stem(image_dir: Path, mask_dir: Path, layout: str) -> list[tuple[Path, Path]]:
    """(image, mask) pairs with equal stems, sorted; a missing folder or an unpaired file is an error."""
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise MissingDataError(f"no folder {folder}; expected {layout}")
    images, masks = list_images(image_dir), list_images(mask_dir)
    if not images:
        raise MissingDataError(f"no images in {image_dir}; expected {layout}")
    for mask in masks.values():
        if mask.suffix.lower() in LOSSY_EXTENSIONS:
            raise DataError(f"{mask}: a JPEG mask; expected a lossless format (PNG) holding exact class values")
    for stem, image in images.items():
        if stem not in masks:
            raise MissingDataError(f"no mask for {image} (expected {mask_dir / stem}.png)")
    for stem, mask in masks.items():
        if stem not in images:
            raise MissingDataError(f"{mask} has no image (expected {image_dir / stem}.<png|jpg|...>)")
    return [(images[stem], masks[stem]) for stem in sorted(images)]


def folder_layout(root: Path, images: str, masks: str) -> str:
    return (
        f"{root}/{images}/<split>/<name>.<png|jpg> with masks {root}/{masks}/<split>/<name>.png, or no <split>"
        f" folders and data.val_fraction/test_fraction to split {root}/{images}/ itself"
    )


def has_split_folders(root: Path, images: str) -> bool:
    return any((root / images / split).is_dir() for split in SPLITS)


def find_folder_pairs(
    root: str | Path,
    split: str,
    images: str = "images",
    masks: str = "masks",
    val_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> list[tuple[Path, Path]]:
    """The pairs of `split`: from <split>/ sub-folders when there are any, else a fixed random share of all."""
    root = Path(root).expanduser().absolute()  # errors name the folder actually tried
    layout = folder_layout(root, images, masks)
    if not root.is_dir():
        raise MissingDataError(f"no folder {root} (data.root); expected {layout}")
    if has_split_folders(root, images):
        return pair_by_stem(root / images / split, root / masks / split, layout)
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be in [0, 1) and sum"
            " to less than 1"
        )
    pairs = pair_by_stem(root / images, root / masks, layout)
    # Rank by a hash of each stem: the same split every run, and a new file moves no other file between splits.
    order = sorted(range(len(pairs)), key=lambda i: hashlib.sha256(f"{seed}:{pairs[i][0].stem}".encode()).digest())
    n_test, n_val = round(test_fraction * len(pairs)), round(val_fraction * len(pairs))
    chosen = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}[split]
    if not chosen:
        fraction = {"train": 1 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}[split]
        fix = "lower data.val_fraction or data.test_fraction" if split == "train" else f"raise data.{split}_fraction"
        raise DataError(
            f"{root / images}: the {split} split is empty ({len(pairs)} pairs x {fraction:.2f} rounds to 0);"
            f" expected at least one pair: add data or {fix}"
        )
    return [pairs[i] for i in sorted(chosen)]


def folder_has_split(
    root: str | Path, split: str, images: str = "images", val_fraction: float = 0.1, test_fraction: float = 0.0
) -> bool:
    root = Path(root).expanduser().absolute()  # errors name the folder actually tried
    if has_split_folders(root, images):
        return (root / images / split).is_dir()
    return {"train": True, "val": val_fraction > 0, "test": test_fraction > 0}[split]


class FolderDataModule(SegmentationDataModule):
    """Any `images/` + `masks/` folders paired by stem, with the classes and the void value given in config."""

    name = "folder"

    def __init__(
        self,
        root: str | None,
        class_names: Sequence[str],
        ignore_index: int | None = 255,
        images: str = "images",
        masks: str = "masks",
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        split_seed: int = 0,
        value_map: dict[int, int] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(root=root, **kwargs)
        self._table = folder_table(class_names, ignore_index, value_map)

    @property
    def table(self) -> ClassTable:
        return self._table

    def has_split(self, split: str) -> bool:
        hp = self.hparams
        return folder_has_split(self.root, split, hp.images, hp.val_fraction, hp.test_fraction)

    def find_pairs(self, split: str) -> list[Pair]:
        hp = self.hparams
        return find_folder_pairs(
            self.root, split, hp.images, hp.masks, hp.val_fraction, hp.test_fraction, hp.split_seed
        )
