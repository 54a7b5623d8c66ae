"""One part of the GPU check as a process of its own, under a time limit: a hung or crashed part costs its limit
and its own result, never the rest of the check (subprocess rather than a thread: a CUDA hang cannot be interrupted)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Finished:
    """How a part's process ended: its exit status (None: killed at the limit), its seconds and its last error."""

    returncode: int | None
    seconds: float
    last_error: str | None


def last_error_line(text: str) -> str | None:
    """The line that says what went wrong: the last `SomethingError: ...` line, else the last non-empty one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.split(":", 1)[0].endswith(("Error", "Exception"))]
    return (errors or lines or [None])[-1]


def kill_group(process: subprocess.Popen) -> None:
    """Kill the part and every process it started (its process group), and reap it."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_part(args: list[str], folder: Path, limit_s: float) -> Finished:
    """Run `python <args>` from the repository root with its output in <folder>/console.txt, killed (with its
    loader workers: its whole process group) after `limit_s` seconds, or when this process is interrupted."""
    folder.mkdir(parents=True, exist_ok=True)
    console = folder / "console.txt"
    start = time.perf_counter()
    with console.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its own process group, so the kill below reaches its children too
        )
        try:
            returncode: int | None = process.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            kill_group(process)
            returncode = None
        except BaseException:  # Ctrl-C: the part has its own session, so the terminal's SIGINT never reached it
            kill_group(process)
            raise
    seconds = time.perf_counter() - start
    return Finished(returncode, seconds, None if returncode == 0 else last_error_line(console.read_text()))
