"""A tool's report, kept in its run folder as JSON: the file the tool's last line names."""

from __future__ import annotations

from pathlib import Path

from src.core.atomic_files import write_json_atomically


def write_run_report(output_dir: str | Path, name: str, report: dict) -> Path:
    """Write `report` to <output_dir>/<name> (indented JSON, atomically: a crash leaves no half file); its path."""
    path = Path(output_dir) / name
    write_json_atomically(path, report)
    return path
