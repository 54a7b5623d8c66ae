"""Images of the same width next to each other, a title above each, in one PNG at their own resolution.

Heights may differ: a prediction grid's legend takes as many rows as it has classes to show, so two runs'
grids can differ in height alone; the shorter ones are top-aligned, white below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state
from PIL import Image

TITLE_PX = 34  # room above each image for its title
GAP_PX = 12  # white gutter between two images


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, read from its header."""
    with Image.open(path) as image:
        return image.size


def side_by_side(images: dict[str, Path], path: Path) -> bool:
    """Draw {title: image file} left to right into `path`; False (nothing written) unless all widths are equal."""
    if not images or len({image_size(p)[0] for p in images.values()}) != 1:
        return False
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in images.values()]
    width, height = arrays[0].shape[1], max(a.shape[0] for a in arrays)
    n = len(arrays)
    total_w, total_h = n * width + (n - 1) * GAP_PX, height + TITLE_PX
    dpi = 100
    fig = Figure(figsize=(total_w / dpi, total_h / dpi), dpi=dpi)
    for i, (title, array) in enumerate(zip(images, arrays, strict=True)):
        left, own_h = i * (width + GAP_PX) / total_w, array.shape[0]
        ax = fig.add_axes((left, (height - own_h) / total_h, width / total_w, own_h / total_h))  # top-aligned
        ax.imshow(array, interpolation="nearest")  # one image pixel per output pixel: no resampling blur
        ax.set_axis_off()
        ax.set_title(title, fontsize=13, fontweight="bold")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return True
