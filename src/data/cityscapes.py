"""The Cityscapes folder layout: leftImg8bit/<split>/<city>/*_leftImg8bit.png with gtFine labels beside it."""

from __future__ import annotations

from pathlib import Path

from src.core.errors import MissingDataError
from src.data.cache import Pair
from src.data.datamodule import SegmentationDataModule
from src.data.labels import ClassTable, cityscapes_table

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


class CityscapesDataModule(SegmentationDataModule):
    """A Cityscapes copy: the 34 label ids (`label_mode=labelIds`, the reference's) or the 19 benchmark trainIds.

    In trainIds mode a split's `*_gtFine_labelTrainIds.png` files are read when every image has one;
    otherwise the label ids are mapped (void ids -> ignored).
    """

    name = "cityscapes"

    def __init__(self, root: str | None, label_mode: str = "labelIds", **kwargs) -> None:
        cityscapes_table(label_mode)  # an unknown data.label_mode stops here, before the model is built
        super().__init__(root=root, **kwargs)
        self.label_mode = label_mode

    @property
    def table(self) -> ClassTable:
        return cityscapes_table(self.label_mode)

    def _train_id_files(self, split: str) -> bool:
        return self.label_mode == "trainIds" and has_train_id_files(self.root, split)

    def split_table(self, split: str) -> ClassTable:
        return cityscapes_table(self.label_mode, files_hold_train_ids=self._train_id_files(split))

    def has_split(self, split: str) -> bool:
        return has_split(self.root, split)

    def find_pairs(self, split: str) -> list[Pair]:
        suffix = TRAIN_ID_SUFFIX if self._train_id_files(split) else LABEL_SUFFIX
        return find_pairs(self.root, split, suffix)
