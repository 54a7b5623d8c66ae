"""Ctrl-C (SIGINT) keeps the work: the run stops at the next batch end as on SIGTERM, then exits with 130.

Lightning's own Ctrl-C handling ends fit at once with status 1 and saves nothing, so an interrupted epoch is
redone from the last epoch-end checkpoint. Here the first Ctrl-C is only noted; at the next end of a training
(or test) batch the run takes Lightning's SIGTERM path: `checkpoint_on_sigterm` saves `last.ckpt` there,
`metrics_summary` and `training_curves` write metrics.json and the plots for the epochs run, and `resume=true`
continues from that step. Under DDP a terminal's Ctrl-C reaches every process, not always between the same two
batches, so the ranks agree first (one all-reduce every `check_every_n_batches` batches) and stop together.
A Ctrl-C before training starts (data preparation, checkpoint restore) stops at once: nothing is trained yet.
A second Ctrl-C exits at once (status 130), leaving the files on disk as they are: every checkpoint write is
atomic. DataLoader workers ignore Ctrl-C (src/data/datamodule.py): the main process decides.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

import lightning as L
from lightning import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

from src.core.lightning_compat import stop_at_batch_end
from src.training.callbacks.ranks_agree import ranks_agree_to_stop

SIGINT_EXIT = 128 + signal.SIGINT  # 130, what a shell reports for a job ended by Ctrl-C


class StopOnSigint(Callback):
    """First Ctrl-C: stop at the next batch end, save and report, exit 130. Second: exit 130 at once.

    The handler is installed when the callback is built, so a Ctrl-C during data preparation is seen too.
    """

    def __init__(self, check_every_n_batches: int = 5) -> None:
        self.check_every_n_batches = check_every_n_batches  # >= 1: src/cli/config_checks.py
        self.pressed = False  # the first Ctrl-C, noted by the handler
        self.stopping = False  # the ranks agreed: this run stops for Ctrl-C
        self.in_loop = False  # between the start and end of training or testing: batches will come
        self.batches = 0
        self.is_global_zero = True
        in_main_thread = threading.current_thread() is threading.main_thread()  # where handlers live
        if in_main_thread and signal.getsignal(signal.SIGINT) != signal.SIG_IGN:  # not a shell's background job
            signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.pressed:
            os.write(2, b"\nsecond Ctrl-C: exiting now; checkpoints on disk are complete (written atomically)\n")
            os._exit(SIGINT_EXIT)
        self.pressed = True
        if not self.in_loop:
            raise KeyboardInterrupt  # nothing trained yet: stop now (src/cli/exit_on_user_error.py exits 130)
        if self.is_global_zero:
            os.write(2, b"\nCtrl-C: stopping after this batch, saving last.ckpt (Ctrl-C again to exit at once)\n")

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.is_global_zero = trainer.is_global_zero

    def _start(self, *args: Any) -> None:
        self.in_loop = True

    def _end(self, *args: Any) -> None:
        self.in_loop = False

    on_train_start = on_test_start = _start
    on_train_end = on_test_end = _end

    def _stop_if_pressed(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.batches += 1
        if ranks_agree_to_stop(trainer, pl_module.device, self.pressed, self.batches, self.check_every_n_batches):
            self.pressed = self.stopping = True  # a rank pressed a moment later than its peers stops with them
            stop_at_batch_end(trainer)  # Lightning's SIGTERM stop, after this batch

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._stop_if_pressed(trainer, pl_module)

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        self._stop_if_pressed(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.in_loop = False
        if self.stopping and isinstance(exception, SIGTERMException):
            exception.signum = signal.SIGINT  # read by checkpoint_on_sigterm's message and the exit status
