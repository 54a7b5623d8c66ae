"""The rich Console that every printed table and tree goes through, so a log file gets them whole.

Off a terminal (`python -m src.train > run.log`, `| tee`, a SLURM output file) rich assumes 80 columns and crops
or ellipsises whatever is wider: a long run folder in the config tree, a swept override in the sweep summary.
Nothing reads those lines at a width, so there the console is made wider than any row: tables (not expanded)
and trees take their natural width, written whole on one line. In a terminal or a notebook rich fits them to
the window as usual. Box and tree lines fall back to ASCII by themselves when stdout's encoding is not UTF
(rich's `ascii_only`, from the stream's encoding); the crop's ellipsis did not, and failed on an ASCII stdout.
"""

from __future__ import annotations

import sys

from rich.console import Console

WHOLE_WIDTH = 10_000  # columns off a terminal: wider than any table row or config line printed


def stdout_console() -> Console:
    """A Console on stdout: the window's width in a terminal or notebook, else WHOLE_WIDTH (no cropping)."""
    console = Console()
    if console.is_jupyter or is_a_tty(sys.stdout):
        return console
    return Console(width=WHOLE_WIDTH)


def is_a_tty(stream: object) -> bool:
    """Whether `stream` is a terminal; False for a stream without isatty, or a closed one."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False
