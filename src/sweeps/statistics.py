"""Per-run statistics from a job's metrics.json: best epoch, convergence epoch and overfitting onset.

Every function reads the per-epoch `history` and skips epochs whose value is missing, null or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from src.core.history import series
from src.sweeps.jobs import History, Job

CONVERGED = 0.95  # share of a run's own best val mIoU that counts as converged


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool): a value a table or a sentence can quote."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def finite_series(history: History, key: str) -> tuple[list[int], list[float]]:
    """`series(history, key)` without the epochs whose value is missing, null or NaN."""
    points = [(e, float(v)) for e, v in zip(*series(history, key), strict=True) if is_number(v)]
    return [e for e, _ in points], [v for _, v in points]


def best_epoch(history: History, key: str = "val/miou") -> tuple[int, float] | None:
    """(epoch, value) of the highest `key`, the first such epoch on a tie; None without a value."""
    epochs, values = finite_series(history, key)
    if not values:
        return None
    best = max(values)
    return epochs[values.index(best)], best


def last_epoch(history: History, key: str = "val/miou") -> int | None:
    """The last epoch with a value of `key`, or None."""
    epochs = finite_series(history, key)[0]
    return epochs[-1] if epochs else None


def convergence_epoch(history: History, key: str = "val/miou", fraction: float = CONVERGED) -> int | None:
    """The first epoch at which `key` reached `fraction` of its best value over the run.

    None without a value, or when the best is <= 0: a run that learnt nothing would "converge" at epoch 0.
    """
    epochs, values = finite_series(history, key)
    if not values or max(values) <= 0:
        return None
    target = fraction * max(values)
    return next(e for e, v in zip(epochs, values, strict=True) if v >= target)


def overfitting_onset(history: History, val_key: str = "val/loss", train_key: str = "train/loss") -> int | None:
    """The epoch after which val loss stopped improving while train loss kept falling, or None.

    e* is the last epoch at which `val_key` is at its minimum (a later epoch that ties the minimum is not
    worse, so the last one is taken); every later epoch therefore has a higher val loss. e* is the onset if
    at least one later epoch (with a val loss) has a lower `train_key` than e* had. Missing and NaN values
    are skipped; None when no epoch follows e*, or when e* has no train loss to compare with.
    """
    val_epochs, val_values = finite_series(history, val_key)
    if not val_values:
        return None
    lowest = min(val_values)
    e_star = max(e for e, v in zip(val_epochs, val_values, strict=True) if v == lowest)
    train = dict(zip(*finite_series(history, train_key), strict=True))
    if e_star not in train:
        return None
    later = [e for e in val_epochs if e > e_star and e in train]
    return e_star if any(train[e] < train[e_star] for e in later) else None


@dataclass
class RunNumbers:
    """The numbers the table and the analysis quote for one finished run."""

    job: Job
    epochs: int | None
    best: tuple[int, float] | None  # (epoch, best val mIoU)
    final_val_loss: float | None
    final_val_miou: float | None  # the last validation's mIoU: metrics.json's last_val, else the history's last
    test_acc: float | None
    test_miou: float | None
    converged: int | None
    onset: int | None
    val_epochs: int  # epochs with a val loss: the "within N epochs" of no onset
    extra: dict[str, float] = field(default_factory=dict)  # with an onset: val_min, train_at, train_last, last_epoch


def run_numbers(job: Job) -> RunNumbers:
    """The statistics of one finished job; the best epoch falls back to metrics.json's `best_val`."""
    history, metrics = job.history, job.metrics or {}
    best = best_epoch(history)
    best_val = metrics.get("best_val") or {}
    if best is None and is_number(best_val.get("val/miou")) and "epoch" in best_val:  # no history: the callback's
        best = (int(best_val["epoch"]), float(best_val["val/miou"]))
    val_epochs, val_losses = finite_series(history, "val/loss")
    test = metrics.get("test") or {}
    last_val = (metrics.get("last_val") or {}).get("val/miou")
    val_mious = finite_series(history, "val/miou")[1]
    epochs = metrics.get("epochs_run")
    numbers = RunNumbers(
        job=job,
        epochs=epochs if isinstance(epochs, int) else len(history) or None,
        best=best,
        final_val_loss=val_losses[-1] if val_losses else None,
        final_val_miou=last_val if is_number(last_val) else val_mious[-1] if val_mious else None,
        test_acc=test.get("test/acc") if is_number(test.get("test/acc")) else None,
        test_miou=test.get("test/miou") if is_number(test.get("test/miou")) else None,
        converged=convergence_epoch(history),
        onset=overfitting_onset(history),
        val_epochs=len(val_epochs),
    )
    if numbers.onset is not None:  # what the analysis quotes: val loss at e*, train loss at e* and at the end
        train = dict(zip(*finite_series(history, "train/loss"), strict=True))
        last = max(e for e in train if e > numbers.onset)
        numbers.extra = {"val_min": min(val_losses), "train_at": train[numbers.onset], "train_last": train[last]}
        numbers.extra["last_epoch"] = last
    return numbers
