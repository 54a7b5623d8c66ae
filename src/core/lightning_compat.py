"""Every private Lightning (and Hydra, torch) API this project uses, in one place: an upgrade breaks here only.

pyproject.toml pins the Lightning minor version the suite runs against; tests/test_lightning_compat.py checks
that each name below still exists in the installed versions, so an upgrade fails there, by name, rather than
deep inside a run. Each function says why no public API does the job.

Subclasses that override private hooks cannot go through a function; they are listed in OVERRIDDEN, which the
same test checks: src/training/loggers/appending_csv.py (ExperimentWriter._rewrite_with_new_header and
._check_log_dir_exists, CSVLogger._experiment and ._fs) and src/training/callbacks/time_budget.py (Timer._duration).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
from hydra._internal.utils import run_and_report
from lightning.fabric.utilities.logger import _convert_params, _flatten_dict
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter

OVERRIDDEN: list[tuple[type, str]] = [  # (class, private name a subclass of ours overrides or reads)
    (ExperimentWriter, "_rewrite_with_new_header"),
    (ExperimentWriter, "_check_log_dir_exists"),
    (CSVLogger, "_experiment"),
    (CSVLogger, "_fs"),
    (Timer, "_duration"),
]


def stop_at_batch_end(trainer: L.Trainer) -> None:
    """Take Lightning's SIGTERM stop after the current batch (in every process that calls it): there is no public
    "stop now" (`should_stop` waits for min_epochs and the end of the epoch)."""
    trainer._signal_connector.received_sigterm = True


def dump_checkpoint(trainer: L.Trainer) -> dict[str, Any]:
    """The checkpoint dict `trainer.save_checkpoint` would write, without its barrier (which could meet another
    collective under DDP when only rank 0 saves on a signal)."""
    return trainer._checkpoint_connector.dump_checkpoint()


def loggable_params(params: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters flattened to `a/b` keys and converted as Lightning's loggers do (no public helper)."""
    return _flatten_dict(_convert_params(params))


def tensorboard_file_writer(experiment: Any) -> Any:
    """torch's SummaryWriter file writer: custom-scalar layouts and HPARAMS session summaries need it."""
    return experiment._get_file_writer()


def hydra_report(task: Callable[[], Any]) -> Any:
    """Run `task` under Hydra's own error report (the trimmed traceback and exit 1 of `hydra.main`)."""
    return run_and_report(task)
