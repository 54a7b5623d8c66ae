"""Pictures of predictions: colour masks, overlays, uncertainty heat maps, and the input | truth | prediction |
uncertainty grid that TensorBoard, the run folder and the report show."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from src.figures.legend import class_patches, present_classes

UNCERTAINTY_CMAP = "inferno"  # dark = certain, bright = uncertain; readable in greyscale too
LEGEND_COLUMNS = 6
LEGEND_ROW_IN = 0.2  # inches a row of the class legend takes at fontsize 8: reserved under the panels


def denormalize(image: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised (3, H, W) tensor back to an (H, W, 3) uint8 photo."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    photo = (image.float().cpu() * std_t + mean_t).clamp(0, 1) * 255
    return photo.round().byte().permute(1, 2, 0).numpy()


def colorize(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) class indices to (H, W, 3) uint8 colours; `palette` is (256, 3), ignored pixels black."""
    return palette[np.asarray(labels, dtype=np.uint8)]


def overlay(photo: np.ndarray, colours: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The colour mask blended over the photo (both (H, W, 3) uint8)."""
    return (photo.astype(np.float32) * (1 - alpha) + colours.astype(np.float32) * alpha).round().astype(np.uint8)


def heatmap(values: np.ndarray, vmax: float) -> np.ndarray:
    """(H, W) values in [0, vmax] to an (H, W, 3) uint8 heat map (inferno)."""
    scaled = np.clip(np.asarray(values, dtype=np.float32) / max(vmax, 1e-12), 0, 1)
    return (colormaps[UNCERTAINTY_CMAP](scaled)[..., :3] * 255).round().astype(np.uint8)


def prediction_grid(
    photos: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    uncertainties: Sequence[np.ndarray],
    palette: np.ndarray,
    class_names: Sequence[str],
    vmax: float,
    title: str = "",
    uncertainty_label: str = "predictive entropy (nats)",
) -> Figure:
    """Rows of samples; columns input | ground truth | prediction | uncertainty, with a legend of the classes
    shown (in the truths or the predictions; `fig.legends[0]`) and a colour bar for the uncertainty scale."""
    rows = len(photos)
    height, width = photos[0].shape[:2]
    panel = 2.6  # inches per panel width
    handles = class_patches(present_classes([*truths, *predictions], len(class_names)), class_names, palette)
    legend_in = 0.15 + LEGEND_ROW_IN * math.ceil(len(handles) / LEGEND_COLUMNS)  # grows with the classes shown
    top_in = 0.45 if title else 0.3
    fig_height = rows * panel * height / width + 0.5 + top_in + legend_in
    fig = Figure(figsize=(4 * panel + 0.6, fig_height), dpi=110)
    # Margins before the colour bar is made: it takes its place from the uncertainty axes as they are then.
    margins = {"left": 0.01, "right": 0.9, "top": 1 - top_in / fig_height, "bottom": legend_in / fig_height}
    axes = fig.subplots(rows, 4, squeeze=False, gridspec_kw=margins)
    columns = ("input", "ground truth", "prediction", "uncertainty")
    for r in range(rows):
        panels = (photos[r], colorize(truths[r], palette), colorize(predictions[r], palette), None)
        for c, image in enumerate(panels):
            ax = axes[r, c]
            if image is None:
                shown = ax.imshow(uncertainties[r], cmap=UNCERTAINTY_CMAP, vmin=0, vmax=vmax)
            else:
                ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize=10)
    fig.colorbar(shown, ax=axes[:, 3].tolist(), fraction=0.05, pad=0.02, label=uncertainty_label)
    ncol = max(1, min(len(handles), LEGEND_COLUMNS))
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8, frameon=False, borderaxespad=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def figure_to_array(fig: Figure) -> np.ndarray:
    """The rendered figure as an (H, W, 3) uint8 array (for TensorBoard's add_image)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_figure(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
