"""Stop at a NaN or infinite training loss, naming where, before any checkpoint of the broken weights is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning import Callback

from src.core.errors import TrainingError

HINT = "Try a lower model.optimizer.lr, trainer.gradient_clip_val=1.0 or trainer.precision=32-true"


class StopOnNonFiniteLoss(Callback):
    """Raise a TrainingError naming the epoch, batch and step of the first non-finite training loss.

    Which step went wrong is recorded on the device (no host sync); the record is read on the host every
    `check_every_n_steps` steps (a per-step read would stall a GPU every step) and before each validation, in
    every process at once under DDP (one process's NaN stops them all, rather than leaving the others waiting).
    Before any checkpoint is saved this process's record and the weights themselves are checked (an infinite
    gradient can break the weights while the loss is still finite), so no checkpoint ever holds broken weights
    and the last good one stays.
    """

    def __init__(self, check_every_n_steps: int = 50) -> None:
        self.check_every_n_steps = check_every_n_steps
        self.where: torch.Tensor | None = None  # (epoch, batch, step) of the first bad loss; -1s while none
        self.value: torch.Tensor | None = None  # that loss

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        loss = loss.detach().float()
        if self.where is None:
            self.where = torch.full((3,), -1, dtype=torch.long, device=loss.device)
            self.value = torch.zeros((), device=loss.device)
        first = ~torch.isfinite(loss) & (self.where[0] < 0)
        for i, number in enumerate((trainer.current_epoch, batch_idx, trainer.global_step)):
            self.where[i] = torch.where(first, number, self.where[i])
        self.value = torch.where(first, loss, self.value)
        if trainer.global_step % self.check_every_n_steps == 0:
            self.check(trainer, together=True)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.check(trainer, together=True)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        # No collective here: a SIGTERM checkpoint is written by rank 0 alone. DDP keeps the weights equal.
        self.check(trainer, together=False)
        if not bool(torch.stack([torch.isfinite(p).all() for p in pl_module.parameters()]).all()):  # one host sync
            raise TrainingError(
                f"the weights are not finite at epoch {trainer.current_epoch} (training step {trainer.global_step})"
                f" although the loss was; stopped without saving them. {self.last_good(trainer)}. {HINT}"
            )

    def check(self, trainer: L.Trainer, together: bool) -> None:
        bad = self.where is not None and int(self.where[0]) >= 0
        if together:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if not bad:
            return
        if self.where is None or int(self.where[0]) < 0:
            where = "in another process"
        else:
            epoch, batch, step = self.where.tolist()
            where = f"{self.value.item()} at epoch {epoch}, batch {batch} (training step {step})"
        raise TrainingError(
            f"the training loss is {where}; stopped without saving the broken weights. {self.last_good(trainer)}."
            f" {HINT}"
        )

    @staticmethod
    def last_good(trainer: L.Trainer) -> str:
        saved = [Path(p) for cb in trainer.checkpoint_callbacks for p in (cb.best_model_path, cb.last_model_path) if p]
        saved = [p for p in saved if p.is_file()]
        if not saved:
            return "No checkpoint was saved before it"
        return f"Last good checkpoint: {max(saved, key=lambda p: p.stat().st_mtime)} (resume with ckpt_path=...)"
