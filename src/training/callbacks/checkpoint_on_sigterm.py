"""Save a resumable checkpoint when the run is told to stop (SIGTERM: what clusters send before pre-emption; Ctrl-C)."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import lightning as L
from lightning import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from src.core.lightning_compat import dump_checkpoint

log = logging.getLogger(__name__)


class CheckpointOnSigterm(Callback):
    """On SIGTERM during fit, write `<dirpath>/<filename>.ckpt` (the file `resume=true` continues from).

    Lightning already turns a SIGTERM into a SIGTERMException at the next batch boundary, in every process; this
    writes the checkpoint before that exception ends fit (src/cli/exit_on_user_error.py then exits with status 143
    without a traceback). The checkpoint is taken mid-epoch: a resumed run finishes that epoch's remaining batches.
    Not during test: the weights then are the best checkpoint's, not the last.
    """

    def __init__(self, dirpath: str, filename: str = "last") -> None:
        self.path = Path(dirpath) / f"{filename}.ckpt"

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != TrainerFn.FITTING:
            return
        if not trainer.is_global_zero:
            return
        # Not trainer.save_checkpoint: it ends in a barrier, and under DDP the other processes may be elsewhere
        # (each raises at its own next boundary). DDP keeps the weights equal, so rank 0 alone writes them.
        checkpoint = dump_checkpoint(trainer)
        trainer.strategy.checkpoint_io.save_checkpoint(checkpoint, self.path)
        name = signal.Signals(getattr(exception, "signum", signal.SIGTERM)).name  # SIGINT: see stop_on_sigint.py
        log.warning(
            f"{name}: saved {self.path} at epoch {trainer.current_epoch}, step {trainer.global_step};"
            " continue with the same command plus resume=true"
        )
