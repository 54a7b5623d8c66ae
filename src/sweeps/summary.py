"""A Hydra callback: at the end of a multirun, one table of every job's overrides and metrics.

Writes `summary.csv` and `summary.json` into the sweep folder and prints the table; with a seed axis, one
row per group follows the job rows (job "group": mean, and sd in the `<metric> sd` columns). A job without a readable
`metrics.json` (it failed, or is still running elsewhere) is listed with status "failed"; the jobs are read as
the report reads them (`jobs.py`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig
from rich.table import Table
from rich.text import Text

from src.core.atomic_files import write_json_atomically, write_text_atomically
from src.core.console import stdout_console
from src.sweeps.groups import group_jobs
from src.sweeps.jobs import Job, differing_overrides, read_jobs
from src.sweeps.spread import spread

METRICS = ("val/miou", "val/acc", "val/loss", "test/miou", "test/acc", "test/loss")


def job_row(job: Job) -> dict[str, Any]:
    """One job's number, overrides, status, best-val epoch and metrics; "failed" without a readable metrics.json."""
    row: dict[str, Any] = {"job": job.number, "overrides": job.overrides or []}
    if job.metrics is None:
        return row | {"status": "failed"}
    values = job.metrics.get("best_val", {}) | job.metrics.get("test", {})
    return (
        row
        | {"status": "done", "best_epoch": job.metrics.get("best_val", {}).get("epoch")}
        | {name: values.get(name) for name in METRICS}
    )


def group_rows(jobs: list[Job], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """With a seed axis, one row per recipe (`groups.py`): n finished jobs, each metric's mean and its sd
    (None with fewer than 2 values); none without a seed axis. Failed jobs are counted, not averaged."""
    groups = group_jobs(jobs)
    if len(groups) == len(jobs):
        return []
    by_job = {row["job"]: row for row in rows}
    grouped = []
    for group in groups:
        done = [by_job[j.number] for j in group.jobs if by_job[j.number]["status"] == "done"]
        row: dict[str, Any] = {"job": "group", "status": f"{len(done)}/{len(group.jobs)} done", "swept": group.label}
        row |= {"best_epoch": None, "n": len(done), "jobs": " ".join(j.number for j in group.jobs), "overrides": ""}
        for name in METRICS:
            values = [r[name] for r in done if isinstance(r.get(name), (int, float))]
            s = spread(values) if values else None
            row |= {name: s and s.mean, f"{name} sd": s and s.sd}
        grouped.append(row)
    return grouped


def sweep_summary(sweep_dir: Path) -> list[dict[str, Any]]:
    """Rows for the numbered job folders of a sweep, in job order; then, with a seed axis, one per group."""
    jobs = read_jobs(sweep_dir)
    rows = [job_row(job) for job in jobs]
    for row, swept in zip(rows, differing_overrides(jobs)[0], strict=True):
        row["swept"] = " ".join(swept)  # what this job sets that not every job does
        row["overrides"] = " ".join(row["overrides"])
    return rows + group_rows(jobs, rows)


class SweepSummary(Callback):
    """Summarise a multirun after each job and at its end (registered in conf/hydra/default.yaml).

    After each job too: a grid sweep stops at its first failed job without reaching `on_multirun_end`.
    """

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if config.hydra.mode == RunMode.MULTIRUN and rank_zero_only.rank == 0:  # once per SLURM job, not per task
            self.write(Path(config.hydra.sweep.dir), show=False)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.write(Path(config.hydra.sweep.dir), show=True)

    def write(self, sweep_dir: Path, show: bool) -> None:
        if not sweep_dir.is_dir():
            return
        rows = sweep_summary(sweep_dir)
        columns = ["job", "status", "swept", "best_epoch", *METRICS]
        grouped = [f"{name} sd" for name in METRICS] + ["n", "jobs"] if any(r["job"] == "group" for r in rows) else []
        table_csv = io.StringIO(newline="")
        writer = csv.DictWriter(table_csv, fieldnames=[*columns, "overrides", *grouped])
        writer.writeheader()
        writer.writerows(rows)
        # Atomic: the jobs of a SLURM sweep finish, and rewrite these, side by side.
        write_text_atomically(sweep_dir / "summary.csv", table_csv.getvalue())
        write_json_atomically(sweep_dir / "summary.json", rows)
        if not show:
            return
        table = Table(title=f"Sweep {sweep_dir}: best-val epoch metrics, then test")
        for column in columns:
            table.add_column(column, justify="left" if column in ("status", "swept") else "right")
        for row in rows:
            # Text, not markup: an override such as tags=[a,b] would otherwise be read as a style tag and vanish.
            table.add_row(*(Text(format_cell(row.get(c), row.get(f"{c} sd"))) for c in columns))
        stdout_console().print(table)


def format_cell(value: Any, sd: float | None = None) -> str:
    """A metric with 4 decimals (a group's mean as `mean ± sd`), anything else as text, None as blank."""
    if isinstance(value, float):
        return f"{value:.4f}" + (f" ± {sd:.4f}" if sd is not None else "")
    return "" if value is None else str(value)
