"""What `python -m src.predict` writes per image: five PNGs beside each other, four pixel-aligned with the input.

`<name>_label.png` (class indices), `<name>_color.png` (the label table's colours), `<name>_overlay.png` (mask
over the photo), `<name>_uncertainty.png` (predictive entropy, black = certain, bright = log(C) nats) and
`<name>_overlay_legend.png`, the overlay with a legend strip (swatch and name of each predicted class) under it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from src.data.labels import ClassTable
from src.figures.legend import present_classes, with_legend_below
from src.figures.segmentation import colorize, heatmap, overlay
from src.models.uncertainty import Prediction


def write_outputs(photo: np.ndarray, result: Prediction, table: ClassTable, stem: Path, alpha: float) -> dict:
    """The five PNGs of one image; returns their paths, the classes predicted and the mean uncertainty.

    The legend goes into a file of its own rather than into `_color`/`_overlay`, so those stay pixel-aligned
    with the input (same size, pixel for pixel) for tools that stack or compare them.
    """
    labels = result.probs[0].argmax(0).byte().cpu().numpy()
    uncertainty = result.entropy[0].cpu().numpy()
    palette = table.palette()
    colours = colorize(labels, palette)
    blended = overlay(photo, colours, alpha)
    classes = present_classes([labels], table.num_classes)
    max_entropy = math.log(result.probs.shape[1])
    files = {
        "label": (labels, "_label.png"),
        "color": (colours, "_color.png"),
        "overlay": (blended, "_overlay.png"),
        "uncertainty": (heatmap(uncertainty, max_entropy), "_uncertainty.png"),
        "overlay_legend": (with_legend_below(blended, classes, table.names, palette), "_overlay_legend.png"),
    }
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = {}
    for kind, (array, suffix) in files.items():
        path = stem.with_name(stem.name + suffix)
        Image.fromarray(array).save(path)
        written[kind] = str(path)
    written["classes_present"] = [table.names[i] for i in classes]
    written["mean_entropy"] = float(uncertainty.mean())
    if result.mutual_information is not None:
        written["mean_mutual_information"] = float(result.mutual_information.mean())
    return written
