"""The confusion matrix as a row-normalised heat map: where each class's pixels went."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure


def confusion_figure(confmat: torch.Tensor, class_names: Sequence[str], title: str = "") -> Figure:
    """Rows are true classes (each sums to 1), columns predictions; classes that never occur in the labels or the
    predictions are left out so the matrix stays readable; cells of 1% or more are written in."""
    counts = confmat.double().numpy()
    shown = np.flatnonzero((counts.sum(0) + counts.sum(1)) > 0)
    counts = counts[np.ix_(shown, shown)]
    rows = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    names = [class_names[i] for i in shown]
    size = max(4.0, 0.42 * len(shown) + 2.5)
    fig = Figure(figsize=(size + 1.2, size), dpi=110)
    ax = fig.subplots()
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(shown)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(shown)), names, fontsize=8)
    ax.set(xlabel="predicted class", ylabel="true class", title=title or "confusion matrix (rows sum to 1)")
    for r in range(len(shown)):
        for c in range(len(shown)):
            if rows[r, c] >= 0.01:
                colour = "white" if rows[r, c] > 0.5 else "black"
                ax.text(c, r, f"{rows[r, c]:.2f}", ha="center", va="center", fontsize=6, color=colour)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class's pixels")
    fig.tight_layout()
    return fig
