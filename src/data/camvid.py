"""The SegNet release of CamVid: <split>/NAME.png photos and <split>annot/NAME.png class maps (480x360)."""

from __future__ import annotations

from pathlib import Path

from src.core.errors import MissingDataError
from src.data.cache import Pair
from src.data.datamodule import SegmentationDataModule
from src.data.folder import pair_by_stem
from src.data.labels import ClassTable, camvid_table

LAYOUT = "<root>/<split>/<name>.png with labels in <root>/<split>annot/<name>.png (the SegNet CamVid release)"


def has_split(root: str | Path, split: str) -> bool:
    return (Path(root).expanduser() / split).is_dir()


def find_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """All (photo, label) paths of a split, sorted; a missing folder or an unpaired file is an error."""
    root = Path(root).expanduser().absolute()  # errors name the folder actually tried
    if not root.is_dir():
        raise MissingDataError(f"no folder {root} (data.root); expected {LAYOUT}")
    return pair_by_stem(root / split, root / f"{split}annot", f"{LAYOUT} (data.root={root})")


class CamVidDataModule(SegmentationDataModule):
    """The SegNet CamVid release (11 classes, 11 = unlabelled ignored); 480x360 photos."""

    name = "camvid"

    @property
    def table(self) -> ClassTable:
        return camvid_table()

    def has_split(self, split: str) -> bool:
        return has_split(self.root, split)

    def find_pairs(self, split: str) -> list[Pair]:
        return find_pairs(self.root, split)
