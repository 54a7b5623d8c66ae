"""Writes `metrics.json` in the run folder: best and last validation metrics, test metrics, history, checkpoints.

`last_val` is the latest validation, the final weights' scores when validation ran at the end (every epoch, or
at a trainer.max_time stop with step-counted validation), as a fixed-budget protocol scores; `best_val` picks the
best epoch on the same validation set, so it is a little optimistic as an estimate.

A test-only run (train=false) records the checkpoint it tested and no `best_val`: the validation scores stored
in that checkpoint belong to the run that trained it, possibly with other inference settings.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException
from rich.table import Table

from src.core.atomic_files import write_json_atomically
from src.core.console import stdout_console
from src.core.errors import ConfigError
from src.core.history import csv_metrics_file, read_history


def named_ious(trainer: Trainer, class_iou: Any) -> dict[str, float | None]:
    """{class name: IoU} (None for a class absent from both target and prediction), or {} without IoUs."""
    if class_iou is None:
        return {}
    names = getattr(trainer.datamodule, "class_names", None)
    if names is None or len(names) != len(class_iou):
        names = [str(i) for i in range(len(class_iou))]
    return {n: None if math.isnan(v) else round(v, 4) for n, v in zip(names, class_iou.tolist(), strict=True)}


def print_class_table(title: str, ious: dict[str, float | None]) -> None:
    table = Table(title=f"{title} (classes absent from target and prediction omitted)")
    table.add_column("class")
    table.add_column("IoU", justify="right")
    for name, iou in ious.items():
        if iou is not None:
            table.add_row(name, f"{iou:.3f}")
    stdout_console().print(table)


class MetricsSummary(Callback):
    """Keeps the validation metrics of the best epoch (by `monitor`) and writes them with the test results."""

    def __init__(self, output_dir: str, monitor: str = "val/miou", mode: str = "max") -> None:
        if mode not in ("max", "min"):
            raise ConfigError(f"callbacks.metrics_summary.mode must be 'max' or 'min', got {mode!r}")
        self.path = Path(output_dir) / "metrics.json"
        self.monitor, self.mode = monitor, mode
        self.best_val: dict[str, float] = {}
        self.test: dict[str, float] = {}
        self.test_class_iou: dict[str, float | None] = {}
        self.best_val_class_iou: dict[str, float | None] = {}
        self.last_val: dict[str, float] = {}
        self.last_val_class_iou: dict[str, float | None] = {}
        self.checkpoints: dict[str, str | None] = {"best": None, "last": None}
        self.tested_checkpoint: str | None = None
        self.history: list[dict[str, float]] = []  # per epoch, from the CSV logger (src/core/history.py)
        self.fitted = False  # not part of state_dict: a restored checkpoint must not claim this run trained

    def state_dict(self) -> dict[str, Any]:
        keys = ("best_val", "best_val_class_iou", "last_val", "last_val_class_iou")
        return {key: getattr(self, key) for key in keys}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_val = state_dict.get("best_val", {})
        self.best_val_class_iou = state_dict.get("best_val_class_iou", {})
        if not self.last_val:  # a resumed fit; testing the best checkpoint after a fit keeps the fit's latest
            self.last_val = state_dict.get("last_val", {})
            self.last_val_class_iou = state_dict.get("last_val_class_iou", {})

    def _is_better(self, value: float) -> bool:
        if self.monitor not in self.best_val:
            return True
        best = self.best_val[self.monitor]
        return value > best if self.mode == "max" else value < best

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.fitted = True

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        self.last_val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self.last_val["epoch"] = trainer.current_epoch
        self.last_val_class_iou = named_ious(trainer, getattr(pl_module, "val_class_iou", None))
        if self._is_better(float(trainer.callback_metrics[self.monitor])):
            self.best_val, self.best_val_class_iou = dict(self.last_val), dict(self.last_val_class_iou)

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Read the paths now: testing a checkpoint restores ModelCheckpoint's state as it was when that file was saved.
        for ckpt in trainer.checkpoint_callbacks:
            if ckpt.monitor:
                self.checkpoints["best"] = ckpt.best_model_path or None
            # last.ckpt: a `save_last` file, or the newest (= "best") file of an unmonitored checkpoint.
            last = ckpt.last_model_path or (None if ckpt.monitor else ckpt.best_model_path)
            self.checkpoints["last"] = last or self.checkpoints["last"]
        metrics_csv = csv_metrics_file(trainer)
        self.history = read_history(metrics_csv) if metrics_csv else []
        if trainer.is_global_zero and self.best_val_class_iou:
            print_class_table(f"Val IoU per class, best epoch ({self.best_val.get('epoch')})", self.best_val_class_iou)
        self._write(trainer)

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.test = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        self.tested_checkpoint = trainer.ckpt_path
        self.test_class_iou = named_ious(trainer, getattr(pl_module, "test_class_iou", None))
        if trainer.is_global_zero and self.test_class_iou:
            print_class_table("Test IoU per class", self.test_class_iou)
        self._write(trainer)

    def _write(self, trainer: Trainer) -> None:
        if not trainer.is_global_zero:
            return
        write_json_atomically(
            self.path,
            {
                "best_val": self.best_val if self.fitted else {},
                "best_val_class_iou": self.best_val_class_iou if self.fitted else {},
                "last_val": self.last_val if self.fitted else {},
                "last_val_class_iou": self.last_val_class_iou if self.fitted else {},
                "test": self.test,
                "tested_checkpoint": self.tested_checkpoint,
                "test_class_iou": self.test_class_iou,
                "epochs_run": trainer.current_epoch,
                "global_steps": trainer.global_step,
                "checkpoints": self.checkpoints,
                "history": self.history,
            },
        )

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Stopped by SIGTERM or Ctrl-C during fit: metrics.json for the epochs run, as at the end of fit."""
        if isinstance(exception, SIGTERMException) and trainer.state.fn == TrainerFn.FITTING:
            self.on_fit_end(trainer, pl_module)
