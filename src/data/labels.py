"""The Cityscapes label table (cityscapesScripts `labels.py`): the one place class names, ids and colours live."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from omegaconf import OmegaConf

from src.core.errors import ConfigError


class Label(NamedTuple):
    """One Cityscapes class: `id` is what `*_labelIds.png` stores, `train_id` the 19-class benchmark index."""

    name: str
    id: int
    train_id: int
    category: str
    color: tuple[int, int, int]


CITYSCAPES_LABELS: tuple[Label, ...] = (
    Label("unlabeled", 0, 255, "void", (0, 0, 0)),
    Label("ego vehicle", 1, 255, "void", (0, 0, 0)),
    Label("rectification border", 2, 255, "void", (0, 0, 0)),
    Label("out of roi", 3, 255, "void", (0, 0, 0)),
    Label("static", 4, 255, "void", (0, 0, 0)),
    Label("dynamic", 5, 255, "void", (111, 74, 0)),
    Label("ground", 6, 255, "void", (81, 0, 81)),
    Label("road", 7, 0, "flat", (128, 64, 128)),
    Label("sidewalk", 8, 1, "flat", (244, 35, 232)),
    Label("parking", 9, 255, "flat", (250, 170, 160)),
    Label("rail track", 10, 255, "flat", (230, 150, 140)),
    Label("building", 11, 2, "construction", (70, 70, 70)),
    Label("wall", 12, 3, "construction", (102, 102, 156)),
    Label("fence", 13, 4, "construction", (190, 153, 153)),
    Label("guard rail", 14, 255, "construction", (180, 165, 180)),
    Label("bridge", 15, 255, "construction", (150, 100, 100)),
    Label("tunnel", 16, 255, "construction", (150, 120, 90)),
    Label("pole", 17, 5, "object", (153, 153, 153)),
    Label("polegroup", 18, 255, "object", (153, 153, 153)),
    Label("traffic light", 19, 6, "object", (250, 170, 30)),
    Label("traffic sign", 20, 7, "object", (220, 220, 0)),
    Label("vegetation", 21, 8, "nature", (107, 142, 35)),
    Label("terrain", 22, 9, "nature", (152, 251, 152)),
    Label("sky", 23, 10, "sky", (70, 130, 180)),
    Label("person", 24, 11, "human", (220, 20, 60)),
    Label("rider", 25, 12, "human", (255, 0, 0)),
    Label("car", 26, 13, "vehicle", (0, 0, 142)),
    Label("truck", 27, 14, "vehicle", (0, 0, 70)),
    Label("bus", 28, 15, "vehicle", (0, 60, 100)),
    Label("caravan", 29, 255, "vehicle", (0, 0, 90)),
    Label("trailer", 30, 255, "vehicle", (0, 0, 110)),
    Label("train", 31, 16, "vehicle", (0, 80, 100)),
    Label("motorcycle", 32, 17, "vehicle", (0, 0, 230)),
    Label("bicycle", 33, 18, "vehicle", (119, 11, 32)),
    Label("license plate", -1, -1, "vehicle", (0, 0, 142)),
)

#: Classes as the reference UNet counts them: label ids 0..33 (license plate, id -1, never appears in label files).
NUM_LABEL_IDS = 34
LABEL_ID = {label.name: label.id for label in CITYSCAPES_LABELS}
CLASS_NAMES: tuple[str, ...] = tuple(label.name for label in CITYSCAPES_LABELS if label.id >= 0)


def label_id_palette() -> np.ndarray:
    """A (256, 3) uint8 colour table indexed by label id; ids outside the table (e.g. ignore 255) are black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in CITYSCAPES_LABELS:
        if label.id >= 0:
            palette[label.id] = label.color
    return palette


def colorize(label_ids: np.ndarray) -> np.ndarray:
    """Map an (H, W) array of label ids to an (H, W, 3) uint8 Cityscapes colour image."""
    return label_id_palette()[label_ids]


IGNORE_INDEX = 255  # the class index every dataset's void pixels map to; left out of loss and metrics


@dataclass(frozen=True)
class ClassTable:
    """What a dataset's label files mean: the classes (by training index) and how raw values map to them.

    `lut[v]` is the training index of raw label value v (IGNORE_INDEX for void); `valid[v]` says whether v
    may appear in a label file at all, so a value outside the classes is an error rather than a silent class.
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    lut: np.ndarray
    valid: np.ndarray
    description: str  # the valid values in words, for error messages

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def palette(self) -> np.ndarray:
        """A (256, 3) uint8 colour table indexed by training index; IGNORE_INDEX is black."""
        palette = np.zeros((256, 3), dtype=np.uint8)
        palette[: self.num_classes] = self.colors
        return palette


def identity_table(
    names: Sequence[str], colors: Sequence[tuple[int, int, int]], void: Sequence[int] = (), what: str = ""
) -> ClassTable:
    """Raw values 0..K-1 are the classes; the `void` values map to IGNORE_INDEX; anything else is invalid."""
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    lut[: len(names)] = np.arange(len(names))
    valid = np.zeros(256, dtype=bool)
    valid[: len(names)] = True
    valid[list(void)] = True
    void_text = f" or {', '.join(map(str, void))} (ignored)" if void else ""
    return ClassTable(tuple(names), tuple(map(tuple, colors)), lut, valid, what or f"0..{len(names) - 1}{void_text}")


TRAIN_LABELS = tuple(sorted((lb for lb in CITYSCAPES_LABELS if 0 <= lb.train_id < 255), key=lambda lb: lb.train_id))


def cityscapes_table(label_mode: str = "labelIds", files_hold_train_ids: bool = False) -> ClassTable:
    """The 34 label ids (the reference's classes), or the 19-class benchmark trainIds with every other id ignored.

    `files_hold_train_ids`: the label files are `*_labelTrainIds.png` (values 0..18 and 255), not label ids.
    """
    if label_mode == "labelIds":
        labels = [lb for lb in CITYSCAPES_LABELS if lb.id >= 0]
        return identity_table([lb.name for lb in labels], [lb.color for lb in labels], void=[IGNORE_INDEX])
    if label_mode != "trainIds":
        raise ConfigError(f"data.label_mode must be labelIds or trainIds, got {label_mode!r}")
    names, colors = [lb.name for lb in TRAIN_LABELS], [lb.color for lb in TRAIN_LABELS]
    if files_hold_train_ids:
        return identity_table(names, colors, void=[IGNORE_INDEX])
    table = identity_table(names, colors, what=f"label ids 0..{NUM_LABEL_IDS - 1} or {IGNORE_INDEX}")
    table.lut[:] = IGNORE_INDEX
    table.valid[:] = False
    for label in CITYSCAPES_LABELS:
        if label.id >= 0:
            table.lut[label.id] = label.train_id
            table.valid[label.id] = True
    table.valid[IGNORE_INDEX] = True
    return table


CITYSCAPES_NUM_CLASSES = {"labelIds": NUM_LABEL_IDS, "trainIds": len(TRAIN_LABELS)}

# The SegNet release of CamVid: classes 0..10; 11 is "Unlabelled" and ignored.
CAMVID_CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("sky", (128, 128, 128)),
    ("building", (128, 0, 0)),
    ("pole", (192, 192, 128)),
    ("road", (128, 64, 128)),
    ("pavement", (60, 40, 222)),
    ("tree", (128, 128, 0)),
    ("sign", (192, 128, 128)),
    ("fence", (64, 64, 128)),
    ("car", (64, 0, 128)),
    ("pedestrian", (64, 64, 0)),
    ("bicyclist", (0, 128, 192)),
)
CAMVID_VOID = 11


def camvid_table() -> ClassTable:
    """CamVid's 11 SegNet classes; 11 (unlabelled) is ignored."""
    return identity_table([n for n, _ in CAMVID_CLASSES], [c for _, c in CAMVID_CLASSES], void=[CAMVID_VOID])


def folder_table(
    class_names: Sequence[str], ignore_index: int | None = IGNORE_INDEX, value_map: dict[int, int] | None = None
) -> ClassTable:
    """Masks holding 0..K-1 for the given classes and `ignore_index` for void; colours from a fixed palette.

    `value_map` maps other raw mask values to a class first, e.g. {255: 1} for 0/255 binary masks.
    """
    k = len(class_names)
    if k < 2 or len(set(class_names)) != k:
        raise ConfigError(f"data.class_names must name at least 2 different classes, got {list(class_names)}")
    if ignore_index is not None and not (k <= ignore_index <= 255):
        raise ConfigError(f"data.ignore_index must be null or in {k}..255 (not a class index), got {ignore_index}")
    rng = np.random.default_rng(0)  # fixed, distinct-enough colours for any number of classes
    colors = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(k)]
    table = identity_table(class_names, colors, void=[] if ignore_index is None else [ignore_index])
    for raw, index in (value_map or {}).items():
        if not (0 <= int(raw) <= 255 and 0 <= int(index) < k) or raw == ignore_index:
            raise ConfigError(
                f"data.value_map must map mask values 0..255 (not data.ignore_index) to class indices 0..{k - 1},"
                f" got {raw}: {index}"
            )
        table.lut[int(raw)], table.valid[int(raw)] = int(index), True
    if value_map:
        mapped = ", ".join(f"{raw}->{index}" for raw, index in value_map.items())
        table = ClassTable(table.names, table.colors, table.lut, table.valid, f"{table.description}, or {mapped}")
    return table


def register_label_resolvers() -> None:
    """`${cityscapes_num_classes:<label_mode>}` for the data configs; safe to call more than once."""
    # An unknown mode gives null here; the datamodule then rejects data.label_mode with one clear line.
    OmegaConf.register_new_resolver("cityscapes_num_classes", CITYSCAPES_NUM_CLASSES.get, replace=True)
