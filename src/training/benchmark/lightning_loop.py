"""Lightning's side of the comparison: training steps through Trainer.fit, timed by a callback inside its loop."""

from __future__ import annotations

import time

import lightning as L
from hydra.utils import instantiate
from lightning import Callback
from omegaconf import DictConfig

from src.core.device_timing import sync


class StepTimer(Callback):
    """Times training steps warmup+1 .. warmup+steps (Lightning's own loop, nothing else in the window)."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.seconds: float | None = None
        self.images = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.warmup:
            sync(pl_module.device)
            self.start = time.perf_counter()
        if trainer.global_step >= self.warmup:
            self.images += len(batch[0])

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if trainer.global_step == self.warmup + self.steps:
            sync(pl_module.device)
            self.seconds = time.perf_counter() - self.start
            trainer.should_stop = True


def lightning_images_per_s(
    trainer_cfg: DictConfig, module: L.LightningModule, datamodule: L.LightningDataModule, warmup: int, steps: int
) -> float:
    """Images/s of `steps` training steps after `warmup` through Trainer.fit with the configured trainer settings
    (precision, accelerator, ...), without validation, logging, checkpoints or a progress bar."""
    timer = StepTimer(warmup, steps)
    trainer = instantiate(
        trainer_cfg,
        max_epochs=-1,
        max_steps=warmup + steps,
        limit_train_batches=None,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(module, datamodule=datamodule)
    return timer.images / timer.seconds
