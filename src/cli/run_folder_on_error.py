"""A run stopped by bad input keeps its folder only when the folder holds something useful, and says which.

Hydra makes the run folder, writes `.hydra/` and opens the log before any project code runs, so every mistyped
command used to leave one more folder under outputs/ with nothing in it but the config and a log of the error
(which the terminal already showed). A folder this launch created and that holds nothing else is removed; a
folder with checkpoints, metrics or images is kept, whatever made the run fail, and the last line says so.
Folders that existed before the launch (resume=true, a given hydra.run.dir) are never removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

CREATED_BY_THIS_LAUNCH: list[Path] = []  # the run folder and the parents this launch made, deepest first
# Written by every run before its first result: Hydra's config, the log, the loggers' hyperparameters. TensorBoard's
# folder counts too: before the first epoch it holds only the hyperparameters, and after it checkpoints and
# csv/metrics.csv are there as well.
SCAFFOLDING = (".hydra/", "tensorboard/")


class RecordNewRunFolder(Callback):
    """Notes, before Hydra makes it, whether the single run's folder (and which parents) will be new."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            folder = Path(str(config.hydra.run.dir)).absolute()
        except Exception:  # a folder that cannot be resolved fails in Hydra next, with its own message
            return
        CREATED_BY_THIS_LAUNCH.clear()
        while not folder.exists():
            CREATED_BY_THIS_LAUNCH.append(folder)
            folder = folder.parent


def useful_contents(folder: Path) -> list[str]:
    """The top-level entries holding a file that is not SCAFFOLDING, the run's log or a hparams.yaml."""
    useful = set()
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        is_log = "/" not in relative and path.suffix == ".log"
        if path.is_dir() or relative.startswith(SCAFFOLDING) or is_log or path.name == "hparams.yaml":
            continue
        useful.add(relative.split("/")[0])
    return sorted(useful)


def settle_failed_run_folder(folder: Path) -> str:
    """Remove the run folder if this launch made it and it holds nothing useful; the sentence saying what happened."""
    folder = folder.absolute()
    if not folder.is_dir():
        return ""
    kept = useful_contents(folder)
    if kept:
        return f"kept the run folder {folder}: it holds {', '.join(kept)}"
    if folder not in CREATED_BY_THIS_LAUNCH:
        return f"kept the run folder {folder}: it was there before this run"
    shutil.rmtree(folder, ignore_errors=True)
    for parent in CREATED_BY_THIS_LAUNCH[CREATED_BY_THIS_LAUNCH.index(folder) + 1 :]:
        if parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
    return f"removed the run folder {folder}: it held only the config, the hyperparameters and this log"
