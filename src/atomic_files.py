"""Writing result files so that a crash never leaves a half-written file, nor destroys the previous one."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_json_atomically(path: Path, data: dict) -> None:
    """Write to a temporary file, fsync, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def temporary_sibling(path: Path) -> Path:
    """A path beside `path` to write first and `os.replace` onto it once the content is known to be good."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
