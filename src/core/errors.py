"""Errors a user can act on, not "the code is wrong": their message names the file or key and what to do.

Plain exception classes, importable by models and data code alike (no Hydra, no Lightning).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot work; the message names the config key and what it accepts."""


class DataError(ValueError):
    """A data file that cannot be used as it is; the message names the file and what was expected."""


class MissingDataError(DataError, FileNotFoundError):
    """A data folder or file that is not there; the message names it and the layout expected."""


class OutputError(RuntimeError):
    """A result that cannot be written (folder not writable, disk full); names the file, says what is intact."""


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss); names the epoch and step and the last good checkpoint."""


USER_ERRORS = (ConfigError, DataError, OutputError, TrainingError)
