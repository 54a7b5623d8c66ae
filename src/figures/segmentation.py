"""Pictures of predictions: colour masks, overlays, uncertainty heat maps, and the input | truth | prediction |
uncertainty grid that TensorBoard, the run folder and the report show."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

UNCERTAINTY_CMAP = "inferno"  # dark = certain, bright = uncertain; readable in greyscale too


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
    shown and a colour bar for the uncertainty scale."""
    rows = len(photos)
    height, width = photos[0].shape[:2]
    panel = 2.6  # inches per panel width
    fig = Figure(figsize=(4 * panel + 0.6, rows * panel * height / width + 1.4), dpi=110)
    axes = fig.subplots(rows, 4, squeeze=False)
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
    present = sorted(set(np.unique(np.concatenate([np.ravel(t) for t in (*truths, *predictions)]))))
    handles = [
        Patch(color=palette[i] / 255, label=class_names[i]) for i in present if i < len(class_names)
    ]  # ignored pixels (black) have no class
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=0.01, right=0.9, top=0.93 if title else 0.96, bottom=0.1 + 0.02 * (len(handles) // 6))
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
