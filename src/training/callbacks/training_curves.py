"""At the end of fit, plots/loss.png, plots/accuracy.png and plots/miou.png: train vs val per epoch."""

from __future__ import annotations

import logging
from pathlib import Path

from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from src.core.history import csv_metrics_file, read_history
from src.figures.curves import plot_curves

log = logging.getLogger(__name__)


class TrainingCurves(Callback):
    """Draws the logged per-epoch metrics (read back from the CSV logger) into `<output_dir>/plots/`."""

    def __init__(self, output_dir: str) -> None:
        self.out_dir = Path(output_dir) / "plots"

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics_csv = csv_metrics_file(trainer)
        if metrics_csv is None:
            log.warning("no plots/: the curves are read from the CSV logger, which this run has switched off")
            return
        written = plot_curves(read_history(metrics_csv), self.out_dir)
        log.info("curves: %s", ", ".join(str(p) for p in written) or "none (no epoch logged)")

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Stopped by SIGTERM or Ctrl-C during fit: the curves of the epochs run."""
        if isinstance(exception, SIGTERMException) and trainer.state.fn == TrainerFn.FITTING:
            self.on_fit_end(trainer, pl_module)
