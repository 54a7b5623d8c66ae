"""Which checkpoint `trainer.fit` starts from: a resumed run's, a requeued SLURM job's, or the one given."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig


def slurm_restarts() -> int:
    """How often SLURM has requeued this job (time limit, pre-emption); 0 outside SLURM."""
    return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)


def fit_checkpoint(cfg: DictConfig) -> str | None:
    """`last` (this run folder's checkpoints/last.ckpt, found by Lightning) with resume=true, or in a requeued
    SLURM job that saved one before it stopped; otherwise ckpt_path (null: from scratch)."""
    if cfg.get("resume"):
        return "last"
    if slurm_restarts() > 0 and (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").is_file():
        return "last"
    return cfg.ckpt_path
