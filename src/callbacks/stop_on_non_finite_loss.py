"""Stop at a NaN or infinite training loss, naming where, before any checkpoint of the broken weights is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning import Callback

from src.errors import TrainingError


class StopOnNonFiniteLoss(Callback):
    """Raise a TrainingError naming the epoch, batch and step of the first non-finite training loss.

    Which step went wrong is recorded on the device (no host sync); the record is read on the host every
    `check_every_n_steps` steps (a per-step read would stall a GPU every step), before each validation, and
    before any checkpoint is saved, so no checkpoint ever holds the broken weights and the last good one stays.
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
            self.check(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self.check(trainer)

    def check(self, trainer: L.Trainer) -> None:
        if self.where is None:
            return
        epoch, batch, step = self.where.tolist()
        if epoch < 0:
            return
        saved = [Path(p) for cb in trainer.checkpoint_callbacks for p in (cb.best_model_path, cb.last_model_path) if p]
        saved = [p for p in saved if p.is_file()]
        last_good = max(saved, key=lambda p: p.stat().st_mtime) if saved else None
        raise TrainingError(
            f"the training loss is {self.value.item()} at epoch {epoch}, batch {batch} (training step {step}); stopped"
            " without saving the broken weights. Last good checkpoint: "
            + (f"{last_good} (resume with ckpt_path=...)" if last_good else "none yet")
            + ". Try a lower model.optimizer.lr, trainer.gradient_clip_val=1.0 or trainer.precision=32-true"
        )
