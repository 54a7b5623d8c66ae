"""Writing result files so that a crash never leaves a half-written file, nor destroys the previous one."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write to a temporary file of this process, fsync, then rename: a reader never sees half a file, and
    processes writing the same file at once (the tasks of a SLURM job, parallel jobs) never mix their bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json_atomically(path: Path, data: dict | list) -> None:
    """`data` as indented JSON, written as write_text_atomically does."""
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")


def temporary_sibling(path: Path) -> Path:
    """A path beside `path` to write first and `os.replace` onto it once the content is known to be good."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
