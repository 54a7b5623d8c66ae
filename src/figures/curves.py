"""Train-vs-val curves per epoch (the reference's loss and accuracy figures), and one metric across several runs."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state
from matplotlib.ticker import MaxNLocator

from src.core.history import series

#: file name -> (metric after "train/" / "val/", axis label)
CURVES = {"loss": ("loss", "cross-entropy loss"), "accuracy": ("acc", "pixel accuracy"), "miou": ("miou", "mean IoU")}


def plot_train_val(history: list[dict[str, float]], metric: str, ylabel: str, path: Path) -> bool:
    """train/<metric> and val/<metric> against epoch in one PNG; False (nothing written) if neither was logged."""
    fig = Figure(figsize=(6, 4), dpi=120)
    ax = fig.subplots()
    drawn = False
    for stage, style in (("train", "-o"), ("val", "-s")):
        epochs, values = series(history, f"{stage}/{metric}")
        if epochs:
            ax.plot(epochs, values, style, markersize=3, label=stage)
            drawn = True
    if drawn:
        ax.set(xlabel="epoch", ylabel=ylabel, title=f"{ylabel}: train vs val")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path)
    return drawn


def plot_curves(history: list[dict[str, float]], out_dir: Path) -> list[Path]:
    """loss.png, accuracy.png and miou.png in out_dir; returns the files written."""
    written = []
    for name, (metric, ylabel) in CURVES.items():
        path = out_dir / f"{name}.png"
        if plot_train_val(history, metric, ylabel, path):
            written.append(path)
    return written


def plot_runs(histories: dict[str, list[dict[str, float]]], key: str, ylabel: str, path: Path) -> None:
    """One metric (e.g. val/miou) of several runs against epoch, one line per run, in one PNG."""
    fig = Figure(figsize=(7, 4), dpi=120)
    ax = fig.subplots()
    for name, history in histories.items():
        epochs, values = series(history, key)
        if epochs:
            ax.plot(epochs, values, "-o", markersize=3, label=name)
    ax.set(xlabel="epoch", ylabel=ylabel, title=key)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
