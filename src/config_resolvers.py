"""OmegaConf resolvers the configs use (`${len:...}`, `${cityscapes_num_classes:...}`, `${run_dir:...}`).

Registered on import of `src`, before any config is composed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

from src.errors import ConfigError

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


def run_dir(log_dir: str, resume: bool, ckpt_path: str | None, task_overrides: list[str]) -> str:
    """outputs/<date>/<time> for a new run; to resume (resume=true or ckpt_path=last), the newest earlier run
    with the same overrides (ignoring RESUME_MAY_CHANGE) that has a checkpoints/last.ckpt."""
    if not resume and ckpt_path != "last":
        return f"{log_dir}/{START:%Y-%m-%d}/{START:%H-%M-%S}"

    def key(overrides: list[str]) -> list[str]:
        return sorted(o for o in overrides if o.split("=")[0].lstrip("+~") not in RESUME_MAY_CHANGE)

    wanted = key(list(task_overrides))
    for overrides_file in sorted(Path(log_dir).glob("*/*/.hydra/overrides.yaml"), reverse=True):
        run = overrides_file.parent.parent
        if (run / "checkpoints" / "last.ckpt").is_file() and key(OmegaConf.load(overrides_file)) == wanted:
            return str(run)
    raise ConfigError(
        f"resume: no earlier run in {log_dir}/<date>/<time>/ with the overrides {wanted} and a"
        " checkpoints/last.ckpt; give the file instead: ckpt_path=/path/to/last.ckpt"
    )


def register_resolvers() -> None:
    """Make the resolvers known to OmegaConf; safe to call more than once."""
    from src.data.labels import CITYSCAPES_NUM_CLASSES

    OmegaConf.register_new_resolver("len", len, replace=True)
    # An unknown mode gives null here; the datamodule then rejects data.label_mode with one clear line.
    OmegaConf.register_new_resolver("cityscapes_num_classes", CITYSCAPES_NUM_CLASSES.get, replace=True)
    OmegaConf.register_new_resolver("run_dir", run_dir, replace=True)
