"""What `resume=true` needs to finish a sweep that was stopped (SLURM jobs cancelled, the launcher killed).

A Hydra callback (conf/hydra/default.yaml) records the sweep's overrides in `<sweep>/sweep.yaml`, so the same
command with resume=true finds the folder again (`${sweep_dir:...}`), and each completed job's return value in
`<job>/job.json`; a resumed sweep's job whose record matches its overrides is not run again. Unfinished jobs
resume from their checkpoints/last.ckpt, jobs that never started start afresh.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from src.core.atomic_files import write_json_atomically, write_text_atomically
from src.core.config_resolvers import SWEEP_RECORD, resume_key

JOB_RECORD = "job.json"
# Overrides that do not change what a job computes: a finished job resumed with another value of these is still
# finished. (trainer.max_epochs is not one: a job resumed with more epochs continues from its last.ckpt.)
COSMETIC = ("resume", "print_config", "trainer.enable_progress_bar", "callbacks.rich_progress_bar")


@dataclass(frozen=True)
class FinishedJob:
    """A job folder's record: what the job returned to the sweeper (the optimised metric, or None)."""

    return_value: float | None


def finished_job(cfg: DictConfig) -> FinishedJob | None:
    """With resume=true in a sweep: this job's earlier result if it completed with the same overrides, else None."""
    if not cfg.get("resume") or not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    hydra_cfg = HydraConfig.get()
    path = Path(hydra_cfg.runtime.output_dir) / JOB_RECORD
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if resume_key(record.get("overrides", []), COSMETIC) != resume_key(list(hydra_cfg.overrides.task), COSMETIC):
        return None
    return FinishedJob(record.get("return_value"))


class SweepResume(Callback):
    """Records a sweep's overrides and its completed jobs; pins the sweep's folder for the jobs."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)  # resolved once, here (a new folder, or the one to resume)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        record = OmegaConf.create({"overrides": list(config.hydra.overrides.task)})
        write_text_atomically(sweep_dir / SWEEP_RECORD, OmegaConf.to_yaml(record))
        # Pinned as a plain value here (the launcher, the sweeper and the summary read it again) and as an override
        # for the jobs, which compose their config again from the overrides, also on a SLURM node at another time:
        # the folder cannot resolve to another timestamp or another resumed sweep there.
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.sweep.dir = str(sweep_dir)
            if not any(o.startswith("hydra.sweep.dir=") for o in config.hydra.overrides.hydra):
                quoted = '"' + str(sweep_dir).replace('"', '\\"') + '"'  # Hydra's quoted string; \" is a quote
                config.hydra.overrides.hydra.append(f"hydra.sweep.dir={quoted}")

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        # Rank 0 only: every task of a multi-task SLURM job runs the Hydra job, callbacks included.
        if config.hydra.mode != RunMode.MULTIRUN or rank_zero_only.rank != 0:
            return
        if job_return is None or job_return.status != JobStatus.COMPLETED:
            return
        value = job_return.return_value
        record = {"overrides": list(job_return.overrides), "return_value": value if isinstance(value, float) else None}
        write_json_atomically(Path(config.hydra.runtime.output_dir) / JOB_RECORD, record)
