"""Curves of groups of runs (one recipe over several seeds): the mean per epoch as a line, min-max as a band.

A band over three seeds is honest about the range actually seen; a ± sd band from three points would claim
more than they show. An epoch counts the runs that logged it, so a band can narrow where runs stopped early.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from src.core.history import series

History = list[dict[str, float]]


def per_epoch(histories: list[History], key: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """(epochs, mean, min, max) of `key` over the runs that logged a finite value at each epoch."""
    by_epoch: dict[int, list[float]] = {}
    for history in histories:
        for epoch, value in zip(*series(history, key), strict=True):
            if isinstance(value, (int, float)) and math.isfinite(value):
                by_epoch.setdefault(int(epoch), []).append(float(value))
    epochs = sorted(by_epoch)
    values = [by_epoch[e] for e in epochs]
    return epochs, [statistics.fmean(v) for v in values], [min(v) for v in values], [max(v) for v in values]


def plot_groups(groups: dict[str, list[History]], panels: list[tuple[str, str]], path: Path) -> bool:
    """One panel per (metric key, axis label), side by side: each group's mean line and its min-max band.

    False (nothing written) when no group logged any of the keys.
    """
    fig = Figure(figsize=(5 * len(panels), 3.8), dpi=110)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    drawn = False
    for ax, (key, ylabel) in zip(axes, panels, strict=True):
        for index, (label, histories) in enumerate(groups.items()):
            epochs, mean, low, high = per_epoch(histories, key)
            if not epochs:
                continue
            colour = f"C{index % 10}"
            ax.plot(epochs, mean, "-o", color=colour, markersize=3, label=f"{label} (n={len(histories)})")
            ax.fill_between(epochs, low, high, color=colour, alpha=0.2, linewidth=0)
            drawn = True
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{key}: mean, band min-max over seeds")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    if drawn:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path)
    return drawn
