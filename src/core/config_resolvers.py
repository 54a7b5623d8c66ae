"""The OmegaConf resolvers every config may use (`${len:...}`, `${run_dir:...}`, `${sweep_dir:...}`).

Registered on import of `src`, before any config is composed, with the data package's
(`${cityscapes_num_classes:...}`) and the SLURM launcher's (`${slurm_*:...}`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from src.core.errors import ConfigError

# Overrides that may differ between a run and its resumption.
RESUME_MAY_CHANGE = (
    "resume",
    "ckpt_path",
    "trainer.max_epochs",
    "trainer.max_time",
    "trainer.enable_progress_bar",
    "callbacks.rich_progress_bar",
    "print_config",
)
START = datetime.now()  # one timestamp per process, as Hydra's ${now:} gives
SWEEP_RECORD = "sweep.yaml"  # a sweep's own overrides, written at its start (src/sweeps/resume.py)


def run_dir(log_dir: str, resume: bool, ckpt_path: str | None, task_overrides: list[str]) -> str:
    """outputs/<date>/<time> for a new run; to resume (resume=true or ckpt_path=last), the newest earlier run
    with the same overrides (ignoring RESUME_MAY_CHANGE) that has a checkpoints/last.ckpt."""
    if not resume and ckpt_path != "last":
        return f"{log_dir}/{START:%Y-%m-%d}/{START:%H-%M-%S}"

    wanted = resume_key(list(task_overrides))
    for overrides_file in sorted(Path(log_dir).glob("*/*/.hydra/overrides.yaml"), reverse=True):
        run = overrides_file.parent.parent
        if (run / "checkpoints" / "last.ckpt").is_file() and resume_key(OmegaConf.load(overrides_file)) == wanted:
            return str(run)
    raise ConfigError(
        f"resume: no earlier run in {log_dir}/<date>/<time>/ with the overrides {wanted} and a"
        " checkpoints/last.ckpt; give the file instead: ckpt_path=/path/to/last.ckpt"
    )


def resume_key(overrides: list[str], may_change: tuple[str, ...] = RESUME_MAY_CHANGE) -> list[str]:
    """The overrides that must match for a run (or sweep, or sweep job) to be the one resumed: all but `may_change`."""
    return sorted(o for o in overrides if o.split("=")[0].lstrip("+~") not in may_change)


def sweep_dir(log_dir: str, resume: bool, task_overrides: list[str]) -> str:
    """outputs/multirun/<date>/<time> for a new sweep; with resume=true, the newest earlier sweep started with the
    same overrides (ignoring RESUME_MAY_CHANGE): its finished jobs are kept and the others continue there.

    Resolved once, by the launching process: src/sweeps/resume.py pins the result for the jobs.
    """
    if not resume:
        return f"{log_dir}/multirun/{START:%Y-%m-%d}/{START:%H-%M-%S}"
    wanted = resume_key(list(task_overrides))
    for record in sorted(Path(log_dir).glob(f"multirun/*/*/{SWEEP_RECORD}"), reverse=True):
        if resume_key(OmegaConf.load(record).overrides) == wanted:
            return str(record.parent)
    raise ConfigError(
        f"resume: no earlier sweep in {log_dir}/multirun/<date>/<time>/ started with the overrides {wanted};"
        f" compare with that sweep's {SWEEP_RECORD}, or give its folder: hydra.sweep.dir=... resume=true"
    )


def register_resolvers() -> None:
    """Make the resolvers known to OmegaConf; safe to call more than once."""
    OmegaConf.register_new_resolver("len", len, replace=True)
    OmegaConf.register_new_resolver("run_dir", run_dir, replace=True)
    OmegaConf.register_new_resolver("sweep_dir", sweep_dir, replace=True)
