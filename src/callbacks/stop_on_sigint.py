"""Ctrl-C (SIGINT) keeps the work: the run stops at the next batch end as on SIGTERM, then exits with 130.

Lightning's own Ctrl-C handling ends fit at once with status 1 and saves nothing, so an interrupted epoch is
redone from the last epoch-end checkpoint. This handler only notes the first Ctrl-C and lets Lightning's SIGTERM
path stop the run at the next batch end, in every DDP process: `checkpoint_on_sigterm` saves `last.ckpt` there,
`metrics_summary` and `training_curves` write metrics.json and the plots for the epochs run, and `resume=true`
continues from that step. A second Ctrl-C exits at once (status 130), leaving the files on disk as they are:
every checkpoint write is atomic, so none is half-written.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

import lightning as L
from lightning import Callback
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)
SIGINT_EXIT = 128 + signal.SIGINT  # 130, what a shell reports for a job ended by Ctrl-C


class StopOnSigint(Callback):
    """First Ctrl-C: stop at the next batch end, save and report, exit 130. Second: exit 130 at once."""

    def __init__(self) -> None:
        self.trainer: L.Trainer | None = None
        self.interrupted = False
        self._previous: Any = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
            return
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:  # started to ignore Ctrl-C (a shell's background job)
            return
        self.trainer = trainer
        self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.interrupted:
            os.write(2, b"\nsecond Ctrl-C: exiting now; checkpoints on disk are complete (written atomically)\n")
            os._exit(SIGINT_EXIT)
        self.interrupted = True
        if self.trainer is not None and self.trainer.is_global_zero:
            os.write(2, b"\nCtrl-C: stopping after this batch, saving last.ckpt (Ctrl-C again to exit at once)\n")
        if self.trainer is not None:
            self.trainer._signal_connector.received_sigterm = True  # Lightning's SIGTERM stop, at the batch end

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if self.interrupted and isinstance(exception, SIGTERMException):
            exception.signum = signal.SIGINT  # read by checkpoint_on_sigterm's message and the exit status
