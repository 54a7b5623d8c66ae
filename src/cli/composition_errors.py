"""A command line Hydra cannot compose ends in one line that says what to type instead.

Hydra reports an unknown key as "Could not override 'trainer.max_epoch'. To append to your config use
+trainer.max_epoch=1", advice that leads to a TypeError inside the Trainer. Hydra prints and exits inside
`hydra.main`, so the only way to add "did you mean trainer.max_epochs?" is to let its exceptions through
(HYDRA_FULL_ERROR, for this call only) and report them here; every other error is handed back to Hydra's own
report unchanged. The same one-line report covers a user error raised by a job of a multirun.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf.errors import ValidationError

from src.cli.config_checks import closest
from src.cli.exit_on_user_error import user_error_line
from src.core.lightning_compat import hydra_report
from src.inference.trained_run import model_from_checkpoint_error

FULL_ERROR = "HYDRA_FULL_ERROR"


def composition_error_line(err: BaseException) -> str | None:
    """The one line for an override Hydra could not apply or a config option it could not find, else None."""
    cause = err.__cause__
    if isinstance(err, ConfigCompositionException) and (
        str(err).startswith("Could not override 'model") and getattr(cause, "full_key", "model") == "model"
    ):  # eval, predict, export: their config has no model, it comes with the checkpoint
        return f"ConfigError: {model_from_checkpoint_error(argument('ckpt_path'))}"
    if isinstance(err, ConfigCompositionException) and isinstance(cause, ValidationError):
        # a value of the wrong type for a typed config (src/cli/tool_configs.py): mc_samples=abc, batch_size=1.5
        override = str(err).removeprefix("Error merging override ")
        return f"ConfigError: {override}: {str(cause).splitlines()[0]}"
    if isinstance(err, ConfigCompositionException) and getattr(cause, "parent_node", None) is not None:
        full_key = str(cause.full_key)
        parent = full_key.rsplit(".", 1)[0] if "." in full_key else ""
        known = [f"{parent}.{k}" if parent else str(k) for k in cause.parent_node]
        close = closest(full_key, known)
        hint = (
            f"; did you mean {close}?" if close else f" (keys there: {', '.join(sorted(map(str, cause.parent_node)))})"
        )
        return f"ConfigError: {full_key} is not a key of this config{hint}"
    if isinstance(err, MissingConfigException):  # model=unetp: Hydra lists the options; name the closest one
        found = re.search(r"Could not find '([^']+)/([^'/]+)'", str(err))
        options = re.findall(r"^\t(\S+)$", str(err), flags=re.M)
        if found and options:
            group, choice = found.groups()
            close = closest(choice, options)
            hint = f"; did you mean {group}={close}?" if close else ""
            return f"ConfigError: {group}={choice}: no such option; options: {', '.join(options)}{hint}"
    return None


def argument(key: str) -> str | None:
    """The value `key=` has on the command line, if given."""
    return next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith(f"{key}=")), None)


def one_line_config_errors(main: Callable[[], Any]) -> Callable[[], Any]:
    """Run a `hydra.main` entry point; a composition error or a multirun job's user error ends in one line."""

    @functools.wraps(main)
    def wrapped() -> Any:
        if os.environ.get(FULL_ERROR):  # the user asked for Hydra's full tracebacks
            return main()
        os.environ[FULL_ERROR] = "1"
        try:
            return main()
        except Exception as err:
            line = composition_error_line(err) or user_error_line(err)
            if line is None:
                del os.environ[FULL_ERROR]
                return hydra_report(functools.partial(reraise, err))  # Hydra's usual report and exit
            sys.stderr.write(line + os.linesep)
            sys.exit(1)
        finally:
            os.environ.pop(FULL_ERROR, None)

    return wrapped


def reraise(err: BaseException) -> None:
    """Raise `err` as Hydra's `run_job` raised it: Hydra's report trims the frames above that one."""
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_name != "run_job":
        tb = tb.tb_next
    raise err.with_traceback(tb or err.__traceback__)
