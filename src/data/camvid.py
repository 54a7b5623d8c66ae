"""The SegNet release of CamVid: <split>/NAME.png photos and <split>annot/NAME.png class maps (480x360)."""

from __future__ import annotations

from pathlib import Path

from src.data.folder import pair_by_stem
from src.errors import MissingDataError

LAYOUT = "<root>/<split>/<name>.png with labels in <root>/<split>annot/<name>.png (the SegNet CamVid release)"


def has_split(root: str | Path, split: str) -> bool:
    return (Path(root).expanduser() / split).is_dir()


def find_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """All (photo, label) paths of a split, sorted; a missing folder or an unpaired file is an error."""
    root = Path(root).expanduser().absolute()  # errors name the folder actually tried
    if not root.is_dir():
        raise MissingDataError(f"no folder {root} (data.root); expected {LAYOUT}")
    return pair_by_stem(root / split, root / f"{split}annot", f"{LAYOUT} (data.root={root})")
