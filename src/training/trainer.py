"""The Lightning Trainer from `conf/trainer`, plus the `trainer.gpus=N` shorthand Lightning 2 removed and a
`trainer.max_time` that ends validated and that schedules can follow (src/training/callbacks/time_budget.py)."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.plugins.environments import SLURMEnvironment

from src.core.checkpoint_io import AtomicCheckpointIO
from src.core.errors import ConfigError
from src.training.callbacks.time_budget import TimeBudget


def gpu_settings(gpus: int, available: int) -> dict[str, Any]:
    """`gpus=N` as Lightning 2 Trainer arguments: the GPU accelerator, N devices, DDP when N > 1."""
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise ConfigError(f"trainer.gpus must be null or a number of GPUs >= 0, got {gpus!r}")
    if gpus == 0:
        return {"accelerator": "cpu", "devices": 1, "strategy": "auto", "sync_batchnorm": False}
    if gpus > available:
        raise ConfigError(
            f"trainer.gpus={gpus} but this machine has {available} CUDA GPU(s); use trainer.gpus={available}"
            if available
            else f"trainer.gpus={gpus} but this machine has no CUDA GPU; drop trainer.gpus (or use trainer=cpu)"
        )
    return {"accelerator": "gpu", "devices": gpus, "strategy": "ddp" if gpus > 1 else "auto"}  # keeps sync_batchnorm


def build_trainer(gpus: int | None = None, **trainer_kwargs: Any) -> Trainer:
    """A Trainer from the config's flags; `gpus`, when set, overrides accelerator, devices and strategy."""
    if gpus is not None:
        trainer_kwargs |= gpu_settings(gpus, torch.cuda.device_count())
    if trainer_kwargs.get("deterministic"):  # cudnn.benchmark picks kernels by timing them: not deterministic
        trainer_kwargs["benchmark"] = False
    # Checkpoints are written atomically and read with weights_only=True (src/core/checkpoint_io.py).
    plugins = [*(trainer_kwargs.get("plugins") or []), AtomicCheckpointIO()]
    if SLURMEnvironment.detect():  # requeueing is RequeueOnSlurmSignal's (see why there), not Lightning's
        plugins.append(SLURMEnvironment(auto_requeue=False))
    trainer_kwargs["plugins"] = plugins
    if (max_time := trainer_kwargs.pop("max_time", None)) is not None:  # Lightning's Timer, ending validated
        trainer_kwargs["callbacks"] = [*(trainer_kwargs.get("callbacks") or []), TimeBudget(max_time)]
    if trainer_kwargs.get("enable_progress_bar") is False:  # Lightning refuses a progress bar callback then
        callbacks = trainer_kwargs.get("callbacks") or []
        trainer_kwargs["callbacks"] = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return Trainer(**trainer_kwargs)
