"""Errors that mean "your input is wrong", not "the code is wrong": their message names the file or key."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A setting that cannot work; the message names the config key and what it accepts."""


class DataError(ValueError):
    """A data file that cannot be used as it is; the message names the file and what was expected."""


class MissingDataError(DataError, FileNotFoundError):
    """A data folder or file that is not there; the message names it and the layout expected."""


USER_ERRORS = (ConfigError, DataError)


def user_error(err: BaseException) -> BaseException | None:
    """The user error behind `err` (Hydra wraps errors raised while instantiating), or None."""
    while err is not None:
        if isinstance(err, USER_ERRORS):
            return err
        err = err.__cause__ if isinstance(err, InstantiationException) else None
    return None


def exit_on_user_error(task: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input ends a single run with one logged line and exit status 1, instead of a traceback.

    In a multirun the error is raised as usual, for the sweep to handle.
    """

    @functools.wraps(task)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return task(*args, **kwargs)
        except Exception as err:
            cause = user_error(err)
            multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
            if cause is None or multirun:
                raise
            log.error(f"{type(cause).__name__}: {cause}")
            sys.exit(1)

    return wrapped
