"""Errors that mean "your input is wrong", not "the code is wrong": their message names the file or key.

Plain exception classes, importable by models and data code alike (no Hydra, no Lightning).
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting that cannot work; the message names the config key and what it accepts."""


class DataError(ValueError):
    """A data file that cannot be used as it is; the message names the file and what was expected."""


class MissingDataError(DataError, FileNotFoundError):
    """A data folder or file that is not there; the message names it and the layout expected."""


USER_ERRORS = (ConfigError, DataError)
