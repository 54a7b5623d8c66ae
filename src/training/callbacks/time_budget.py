"""`trainer.max_time` that always ends validated and checkpointed, said once (Lightning's Timer, three changes).

Lightning's own Timer sets `should_stop` when the time is spent, but with `val_check_interval` counting steps
the run then stops without validating its final weights (no best checkpoint, empty val metrics), `min_epochs`
keeps it training past the budget, and "Time limit reached" is printed at every batch until it stops. Here,
once the budget is spent (checked at each train batch end and after each validation, agreed across DDP ranks):
- `min_epochs` / `min_steps` no longer hold the run, so it stops at this batch;
- validation runs on these weights whatever `val_check_interval` or `check_val_every_n_epoch` say (unless the
  weights were just validated), and the checkpoint callbacks save them (best by val/miou, last.ckpt);
- one line says when and where it stopped.
So a run overshoots its budget by one batch plus one validation and checkpoint write.

It is also the clock of the schedules that follow trainer.max_time (src/training/schedules.py): `budget_used`,
the share of the budget spent, restored from the checkpoint on resume and the same on every DDP rank.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.trainer.states import TrainerFn

log = logging.getLogger(__name__)
BUDGET_SYNC_STEPS = 20  # under DDP, how often rank 0's share of the budget is broadcast (one host sync)


class TimeBudget(Timer):
    """Stop when `duration` ("DD:HH:MM:SS", a dict or a timedelta) of training time is spent, validated."""

    def __init__(self, duration: str | dict[str, int] | timedelta) -> None:
        super().__init__(duration=duration, interval="step", verbose=False)
        self.spent = False
        self._shared_budget_used: float | None = None  # rank 0's share under DDP, set every BUDGET_SYNC_STEPS

    def budget_used(self) -> float:
        """Share of the budget spent training so far, 0..1 (more once overrun), as the schedules read it each step.
        Under DDP, rank 0's share, broadcast every BUDGET_SYNC_STEPS steps: each rank's clock starts on its own,
        and unequal learning rates would split the weights."""
        return self._shared_budget_used if self._shared_budget_used is not None else self._own_budget_used()

    def _own_budget_used(self) -> float:
        if self._duration is None:
            return 0.0
        elapsed = self.time_elapsed()  # restored from the checkpoint on resume
        remaining = self.time_remaining()
        return elapsed / (elapsed + remaining) if elapsed + remaining > 0 else 1.0

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if trainer.world_size > 1 and trainer.global_step % BUDGET_SYNC_STEPS == 0:
            self._shared_budget_used = trainer.strategy.broadcast(self._own_budget_used())

    def _stop_when_spent(self, trainer: L.Trainer, what: str = "validating and checkpointing these weights") -> None:
        if self.spent or self._duration is None:
            return
        spent = trainer.strategy.broadcast(self.time_elapsed() >= self._duration)  # rank 0's clock decides
        if not spent:
            return
        self.spent = True
        trainer.should_stop = True
        trainer.fit_loop.min_epochs = trainer.fit_loop.epoch_loop.min_steps = 0  # the budget outranks min_epochs
        trainer.check_val_every_n_epoch = None  # so validation runs on the final weights, in any epoch
        if trainer.is_global_zero:
            log.info(
                f"trainer.max_time={timedelta(seconds=int(self._duration))} spent (training for"
                f" {timedelta(seconds=int(self.time_elapsed()))}) at epoch {trainer.current_epoch},"
                f" step {trainer.global_step}: {what}, then stopping"
            )

    def on_fit_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        self._stop_when_spent(trainer, "nothing left to train")  # a resumed run whose budget was already spent

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        self._stop_when_spent(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not trainer.sanity_checking and trainer.state.fn == TrainerFn.FITTING:  # stop on just-validated weights
            self._stop_when_spent(trainer)
