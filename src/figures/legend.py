"""Class legends for colour maps: which classes a map shows, as matplotlib patches for figures, and as a strip
drawn with PIL under a plain PNG (the files `python -m src.predict` writes have no figure to hold a legend)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib.patches import Patch
from PIL import Image, ImageDraw, ImageFont

SWATCH_EDGE = (128, 128, 128)  # a grey outline keeps black (void) and white swatches visible on white
MIN_FONT_PX = 12  # readable on a small image; larger images get a proportionally larger font


def present_classes(label_maps: Iterable[np.ndarray], num_classes: int) -> list[int]:
    """The class indices that occur in any of the (H, W) maps, ascending; values >= num_classes (ignored
    pixels, 255) belong to no class and are left out."""
    found: set[int] = set()
    for labels in label_maps:
        found.update(int(v) for v in np.unique(labels))
    return sorted(v for v in found if 0 <= v < num_classes)


def class_patches(classes: Sequence[int], names: Sequence[str], palette: np.ndarray) -> list[Patch]:
    """One matplotlib legend handle per class: a swatch of its colour (`palette`: (256, 3) uint8), its name."""
    edge = np.array(SWATCH_EDGE) / 255
    return [Patch(facecolor=palette[i] / 255, edgecolor=edge, linewidth=0.5, label=names[i]) for i in classes]


def legend_font_px(width: int) -> int:
    """Font height for a strip under an image `width` pixels wide: ~1/80 of it, at least MIN_FONT_PX."""
    return max(MIN_FONT_PX, round(width / 80))


def legend_strip(
    width: int, classes: Sequence[int], names: Sequence[str], palette: np.ndarray, font_px: int | None = None
) -> np.ndarray:
    """A white (h, w, 3) uint8 strip, w = max(width, one column): a swatch and the name of each class, row
    by row, in as many equal columns as fit."""
    font_px = font_px or legend_font_px(width)
    font = ImageFont.load_default(size=font_px)
    pad, swatch, row_h = font_px // 2, font_px, round(font_px * 1.6)
    text_w = max((math.ceil(font.getlength(names[i])) for i in classes), default=0)
    column_w = pad + swatch + pad + text_w + 2 * pad
    columns = max(1, min(len(classes), (width - pad) // column_w))
    rows = math.ceil(len(classes) / columns)
    strip = Image.new("RGB", (max(width, column_w + pad), rows * row_h + 2 * pad), "white")
    draw = ImageDraw.Draw(strip)
    for k, i in enumerate(classes):
        x, y = pad + (k % columns) * column_w, pad + (k // columns) * row_h
        top = y + (row_h - swatch) // 2
        colour = tuple(int(c) for c in palette[i])
        draw.rectangle((x, top, x + swatch - 1, top + swatch - 1), fill=colour, outline=SWATCH_EDGE)
        draw.text((x + swatch + pad, y + row_h // 2), names[i], fill="black", font=font, anchor="lm")
    return np.asarray(strip)


def with_legend_below(
    image: np.ndarray, classes: Sequence[int], names: Sequence[str], palette: np.ndarray
) -> np.ndarray:
    """`image` ((H, W, 3) uint8) unchanged at the top left, the legend strip of `classes` under it; white
    fills the right of the narrower of the two."""
    strip = legend_strip(image.shape[1], classes, names, palette)
    width = max(image.shape[1], strip.shape[1])
    out = np.full((image.shape[0] + strip.shape[0], width, 3), 255, dtype=np.uint8)
    out[: image.shape[0], : image.shape[1]] = image
    out[image.shape[0] :, : strip.shape[1]] = strip
    return out
