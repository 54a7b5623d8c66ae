"""Entry-point decorator: bad input ends a run with one line naming the file or key, not a traceback."""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from src.cli.run_folder_on_error import settle_failed_run_folder
from src.core.errors import USER_ERRORS

log = logging.getLogger(__name__)
WORKER_PREFIX = "Caught "  # torch re-raises a DataLoader worker's error with its traceback in the message


def user_error_line(err: BaseException) -> str | None:
    """`Type: message` of the user error behind `err` (unwrapping Hydra's instantiation errors), or None."""
    while err is not None and not isinstance(err, (*USER_ERRORS, MissingMandatoryValue)):
        if isinstance(err, InterpolationResolutionError):  # a resolver's error (OmegaConf keeps it as the context)
            err = err.__cause__ or err.__context__
        else:
            err = err.__cause__ if isinstance(err, InstantiationException) else None
    if err is None:
        return None
    if isinstance(err, MissingMandatoryValue):  # a required key left at ??? (data.root, data.class_names)
        return f"ConfigError: {err.full_key} is required: set it on the command line, e.g. {err.full_key}=..."
    message = str(err).strip()
    if message.startswith(WORKER_PREFIX):  # keep the worker's own last line: "src.core.errors.DataError: <message>"
        message = message.splitlines()[-1].split(": ", 1)[-1]
    return f"{type(err).__name__}: {message}"


def exit_on_user_error(task: Callable[..., Any]) -> Callable[..., Any]:
    """Log a user error as one line and exit with status 1; in a multirun, raise it for the sweep to handle.

    A run stopped by SIGTERM or Ctrl-C (its checkpoint saved by CheckpointOnSigterm) exits quietly with status
    143 or 130, as a shell reports a process those signals ended.
    """

    @functools.wraps(task)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except SIGTERMException as stop:  # SIGTERM, or Ctrl-C (src/training/callbacks/stop_on_sigint.py sets signum)
            signum = getattr(stop, "signum", signal.SIGTERM)
            log.warning(f"stopped by {signal.Signals(signum).name}")
            sys.exit(128 + signum)
        except (KeyboardInterrupt, SystemExit) as stop:  # Ctrl-C before training started: nothing to save yet
            # Lightning ends a KeyboardInterrupt inside fit or test with exit(1); any other exit passes through.
            if isinstance(stop, SystemExit) and not isinstance(stop.__context__, KeyboardInterrupt):
                raise
            log.warning("stopped by Ctrl-C before training started")
            sys.exit(128 + signal.SIGINT)
        except Exception as err:
            line = user_error_line(err)
            multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
            if line is None or multirun:
                raise
            if rank_zero_only.rank == 0:  # the other DDP processes share rank 0's folder
                log.info(settle_failed_run_folder(Path(HydraConfig.get().runtime.output_dir)))
            log.error(line)  # last, so the error is the line a user reads
            sys.exit(1)

    return wrapped
