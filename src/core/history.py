"""Per-epoch metric history of a run, read back from the CSV logger's metrics.csv.

The CSV logger is the record of every logged value (appended across resumes); reading it back at the end of
fit gives curves and metrics.json the same numbers the dashboard shows, with no second bookkeeping.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lightning import Trainer


def csv_metrics_file(trainer: Trainer) -> Path | None:
    """The metrics.csv of the trainer's CSV logger, or None without one (logger=tensorboard alone)."""
    # Imported here: the sweep report (src/sweeps/statistics.py) reads histories without loading Lightning.
    from lightning.pytorch.loggers import CSVLogger

    for logger in trainer.loggers:
        if isinstance(logger, CSVLogger):
            return Path(logger.log_dir) / "metrics.csv"
    return None


def read_history(metrics_csv: Path) -> list[dict[str, float]]:
    """One dict per epoch, in epoch order: {"epoch": e, "train/loss": ..., "val/miou": ...}.

    Rows of the same epoch (train, val, learning rate) are merged; a later row wins, so an epoch run again
    after a resume shows its final values. Rows without an epoch and test metrics (logged once, after fit,
    with the tested checkpoint's epoch) are left out.
    """
    if not metrics_csv.is_file():
        return []
    epochs: dict[int, dict[str, float]] = {}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            if not row.get("epoch"):
                continue
            values = {
                key: float(value)
                for key, value in row.items()
                if key not in ("epoch", "step") and not key.startswith("test/") and value not in ("", None)
            }
            values = {key: number for key, number in values.items() if not math.isnan(number)}
            if values:
                epoch = int(float(row["epoch"]))
                epochs.setdefault(epoch, {"epoch": epoch}).update(values)
    return [epochs[e] for e in sorted(epochs)]


def series(history: list[dict[str, float]], key: str) -> tuple[list[int], list[float]]:
    """(epochs, values) of one metric, skipping epochs that did not log it."""
    points = [(int(h["epoch"]), h[key]) for h in history if key in h]
    return [e for e, _ in points], [v for _, v in points]
