"""The reliability diagram: accuracy against confidence per bin (on the diagonal = calibrated), and how many
pixels each bin holds."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from matplotlib.figure import Figure


def reliability_diagram(bins_by_name: Mapping[str, Mapping[str, torch.Tensor]], title: str = "") -> Figure:
    """One column per way of predicting (e.g. softmax, MC dropout): accuracy bars over confidence bins with each
    bin's mean confidence marked, ECE in the title; below, the share of pixels per bin (log scale)."""
    names = list(bins_by_name)
    fig = Figure(figsize=(4.6 * len(names), 6.4), dpi=110)
    axes = fig.subplots(2, len(names), squeeze=False, gridspec_kw={"height_ratios": [3, 1.3]})
    for c, name in enumerate(names):
        bins = bins_by_name[name]
        edges = bins["edges"].numpy()
        centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
        accuracy = np.nan_to_num(bins["accuracy"].numpy(), nan=0.0)
        confidence = np.where(np.isnan(bins["confidence"].numpy()), centres, bins["confidence"].numpy())
        pixels = bins["pixels"].numpy()
        filled = pixels > 0
        top = axes[0, c]
        top.bar(centres[filled], accuracy[filled], width=width, edgecolor="black", color="tab:blue", label="accuracy")
        # Each bin's mean confidence as a red tick: the gap between bar top and tick is the bin's miscalibration.
        top.hlines(
            confidence[filled],
            centres[filled] - width / 2,
            centres[filled] + width / 2,
            colors="tab:red",
            linewidth=2.5,
            label="mean confidence",
        )
        top.plot([0, 1], [0, 1], "k--", linewidth=1, label="calibrated")
        top.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy", title=f"{name}: ECE {float(bins['ece']):.4f}")
        top.legend(loc="upper left", fontsize=8)
        bottom = axes[1, c]
        share = pixels / max(pixels.sum(), 1)
        bottom.bar(centres[filled], share[filled], width=width, edgecolor="black", color="grey")
        bottom.set(xlim=(0, 1), xlabel="confidence (top-class probability)", ylabel="share of pixels", yscale="log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
