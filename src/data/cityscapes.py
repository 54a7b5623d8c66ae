"""The Cityscapes folder layout: leftImg8bit/<split>/<city>/*_leftImg8bit.png with gtFine labels beside it."""

from __future__ import annotations

from pathlib import Path

from src.errors import MissingDataError

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelIds.png"
TRAIN_ID_SUFFIX = "_gtFine_labelTrainIds.png"  # written by cityscapesScripts' createTrainIdLabelImgs
LAYOUT = (
    "<root>/leftImg8bit/<split>/<city>/<name>_leftImg8bit.png with labels in "
    "<root>/gtFine/<split>/<city>/<name>_gtFine_labelIds.png"
)


def has_split(root: str | Path, split: str) -> bool:
    return (Path(root).expanduser() / "leftImg8bit" / split).is_dir()


def find_pairs(root: str | Path, split: str, label_suffix: str = LABEL_SUFFIX) -> list[tuple[Path, Path]]:
    """All (image, label) paths of a split, sorted; a missing root or split, or an unpaired file, is an error."""
    root = Path(root).expanduser().absolute()  # errors name the folder actually tried
    image_dir, label_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    if not image_dir.is_dir():
        raise MissingDataError(f"no folder {image_dir} (data.root={root}); expected {LAYOUT}")
    images = sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}"))
    if not images:
        raise MissingDataError(f"no images in {image_dir} (data.root={root}); expected {LAYOUT}")
    pairs = []
    for image in images:
        name = image.name[: -len(IMAGE_SUFFIX)]
        label = label_dir / image.parent.name / f"{name}{label_suffix}"
        if not label.is_file():
            raise MissingDataError(f"no labels for {name} (expected {label})")
        pairs.append((image, label))
    paired = {label for _, label in pairs}
    for label in sorted(label_dir.glob(f"*/*{label_suffix}")):
        if label not in paired:
            name = label.name[: -len(label_suffix)]
            raise MissingDataError(
                f"{label} has no image (expected {image_dir / label.parent.name / (name + IMAGE_SUFFIX)})"
            )
    return pairs


def has_train_id_files(root: str | Path, split: str) -> bool:
    """True when every image of the split has a `*_gtFine_labelTrainIds.png` beside its label ids."""
    try:
        find_pairs(root, split, TRAIN_ID_SUFFIX)
    except MissingDataError:
        return False
    return True
