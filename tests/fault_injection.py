"""Test-only callbacks that break a real training run at a chosen moment (added with `+callbacks.fault=...`)."""

from __future__ import annotations

import io
import os
import signal

import lightning as L
import torch
from lightning import Callback


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillAt(Callback):
    """SIGKILL this process at `moment`, the `count`-th time it comes (1-based), this run counting from its start.

    moment: `train_batch` (after a training step), `validation_batch` (in the middle of validation),
    `checkpoint_write` (half of the checkpoint's bytes written to its temporary file), or `before_rename` (the
    temporary file complete and fsynced, not yet renamed over the checkpoint).
    """

    def __init__(self, moment: str, count: int) -> None:
        self.moment, self.count, self.seen = moment, count, 0

    def _tick(self) -> None:
        self.seen += 1
        if self.seen == self.count:
            die()

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.moment == "before_rename":
            real_replace = os.replace

            def die_before_the_checkpoint_rename(src: object, dst: object, *args: object, **kwargs: object) -> None:
                if ".partial-checkpoint-" in str(src):
                    self._tick()
                return real_replace(src, dst, *args, **kwargs)

            os.replace = die_before_the_checkpoint_rename
        if self.moment != "checkpoint_write":
            return
        callback = self
        real_save = torch.save

        def half_then_die(obj: object, f: object, *args: object, **kwargs: object) -> None:
            callback.seen += 1
            if callback.seen < callback.count:
                return real_save(obj, f, *args, **kwargs)
            buffer = io.BytesIO()
            real_save(obj, buffer)
            f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            f.flush()
            die()

        torch.save = half_then_die

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if self.moment == "train_batch":
            self._tick()

    def on_validation_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if self.moment == "validation_batch" and not trainer.sanity_checking:
            self._tick()


class PoisonWeightsAt(Callback):
    """Fill the first parameter with NaN before training step `step` (1-based over the run), so its loss is NaN."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, batch_idx: int):
        if trainer.global_step + 1 == self.step:
            with torch.no_grad():
                next(pl_module.parameters()).fill_(float("nan"))


class CtrlCTwice(Callback):
    """Press Ctrl-C twice at the `count`-th training batch end: a real SIGINT to this process, then a second one
    once the first has been handled (a user's two presses, without the race of timing them from outside)."""

    def __init__(self, count: int) -> None:
        self.count, self.seen = count, 0

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        self.seen += 1
        if self.seen == self.count:
            os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler before the next line
            os.kill(os.getpid(), signal.SIGINT)
