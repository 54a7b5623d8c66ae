"""The jobs of a sweep, read once from the numbered folders a multirun leaves: overrides and metrics.json.

Both readers of a sweep use this: the summary (`summary.py`, written while the sweep runs) and the report
(`python -m src.report`). Each job folder `0/`, `1/`, ... holds `.hydra/overrides.yaml` (from its start) and
`metrics.json` (from the end of its fit, or its test).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from src.core.errors import ConfigError

History = list[dict[str, float]]
MULTIRUN = "expected a multirun folder such as outputs/multirun/<date>/<time>/ (made by python -m src.train -m ...)"


@dataclass
class Job:
    """One numbered job folder of a sweep and what it left."""

    folder: Path
    overrides: list[str] | None  # None: no .hydra/overrides.yaml
    metrics: dict[str, Any] | None  # None: no readable metrics.json holding an object
    status: str  # "done" (metrics.json records a validation epoch), or what is wrong
    label: str = ""  # the run's name in the report: its overrides that differ between jobs
    seed: int | None = None  # the job's `seed` (its override, else its .hydra/config.yaml): pairs runs across groups

    @property
    def number(self) -> str:
        return self.folder.name

    @property
    def history(self) -> History:
        return (self.metrics or {}).get("history") or []


def job_seed(folder: Path, overrides: list[str] | None) -> int | None:
    """The seed a job ran with: its `seed=` override, else the `seed` its saved config holds, else None."""
    values = [o.partition("=")[2] for o in overrides or [] if o.partition("=")[0].lstrip("+") == "seed"]
    if not values and (folder / ".hydra" / "config.yaml").is_file():
        config = OmegaConf.load(folder / ".hydra" / "config.yaml")
        values = [str(OmegaConf.select(config, "seed", throw_on_resolution_failure=False))]
    return int(values[-1]) if values and values[-1].lstrip("-").isdigit() else None


def load_job(folder: Path) -> Job:
    """What one job folder holds; a missing or unreadable file is told in the status, not raised."""
    job = read_job_files(folder)
    job.seed = job_seed(folder, job.overrides)
    return job


def read_job_files(folder: Path) -> Job:
    """The job's overrides and metrics.json, and its status."""
    overrides_file = folder / ".hydra" / "overrides.yaml"
    overrides = None
    if overrides_file.is_file():
        overrides = [str(o) for o in OmegaConf.to_container(OmegaConf.load(overrides_file)) or []]
    metrics_file = folder / "metrics.json"
    log = f"see {folder.name}/train.log"
    if not metrics_file.is_file():
        return Job(
            folder, overrides, None, f"failed: no metrics.json (stopped before the end of fit, or still running; {log})"
        )
    try:
        metrics = json.loads(metrics_file.read_text())
    except (OSError, ValueError) as err:
        return Job(folder, overrides, None, f"failed: unreadable metrics.json ({err}; {log})")
    if not isinstance(metrics, dict):
        return Job(folder, overrides, None, f"incomplete: metrics.json records no validation epoch ({log})")
    if not (metrics.get("history") or metrics.get("best_val")):  # e.g. a test-only job (train=false)
        return Job(folder, overrides, metrics, f"incomplete: metrics.json records no validation epoch ({log})")
    return Job(folder, overrides, metrics, "done")


def job_folders(sweep_dir: Path) -> list[Path]:
    """The numbered job folders (0/, 1/, ...) directly in `sweep_dir`, in job order."""
    return sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def read_jobs(sweep_dir: Path) -> list[Job]:
    """Every job of the sweep in job order; none when `sweep_dir` holds no job folder (yet)."""
    return [load_job(folder) for folder in job_folders(sweep_dir)]


def find_jobs(sweep_dir: Path) -> list[Job]:
    """The jobs of a multirun, in job order; ConfigError, with a hint, when `sweep_dir` is not one."""
    if not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: no such folder; {MULTIRUN}")
    jobs = read_jobs(sweep_dir)
    if jobs:
        return jobs
    if (sweep_dir / "metrics.json").is_file() or (sweep_dir / ".hydra").is_dir():
        raise ConfigError(
            f"{sweep_dir} is a single run's folder, not a multirun: {MULTIRUN}; this run's curves are in"
            f" {sweep_dir / 'plots'}"
        )
    sweeps = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and any(q.name.isdigit() for q in p.iterdir()))
    hint = f"; it holds sweep folders, e.g. {sweeps[-1]}" if sweeps else ""
    raise ConfigError(f"{sweep_dir}: no job folders (0/, 1/, ...); {MULTIRUN}{hint}")


def differing_overrides(jobs: list[Job]) -> tuple[list[list[str]], list[str]]:
    """Per job, its overrides that not every job has (the swept values); and the overrides all jobs share.

    A job without overrides.yaml does not change what is shared.
    """
    known = [set(j.overrides) for j in jobs if j.overrides is not None]
    shared = set.intersection(*known) if len(known) > 1 else set()
    differing = [[o for o in (j.overrides or []) if o not in shared] for j in jobs]
    first = next((j.overrides for j in jobs if j.overrides is not None), [])
    return differing, [o for o in first if o in shared]


def name_runs(jobs: list[Job]) -> None:
    """Label each job by its differing overrides (`model=unet`); `job N` when none differ or two labels clash."""
    differing, _ = differing_overrides(jobs)
    labels = [" ".join(d) or f"job {j.number}" for d, j in zip(differing, jobs, strict=True)]
    for job, label in zip(jobs, labels, strict=True):
        job.label = f"{label} (job {job.number})" if labels.count(label) > 1 else label


def swept_values(jobs: list[Job]) -> dict[str, list[str]]:
    """{override key: its values in job order}, for the overrides that differ between jobs."""
    swept: dict[str, list[str]] = {}
    for overrides in differing_overrides(jobs)[0]:
        for override in overrides:
            key, _, value = override.partition("=")
            values = swept.setdefault(key, [])
            if value not in values:
                values.append(value)
    return swept
