"""Lightning's CSVLogger, except that a resumed run appends to metrics.csv instead of deleting it.

Lightning's writer removes an existing metrics.csv as soon as its folder exists, which would erase the
epochs before a resume (`resume=true` continues in the same run folder). A run killed while appending leaves a
last line cut short: it is dropped on resume, so no truncated number is ever read back as a value.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from src.core.atomic_files import temporary_sibling


class AppendingExperimentWriter(ExperimentWriter):
    """Starts from the existing file's columns, so new rows are appended under the same header; a new column
    (test/* at the end of a run) rewrites the file through a temporary one, so a kill then loses nothing."""

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        with open(self.metrics_file_path, newline="") as f:
            rows = list(csv.DictReader(f))
        tmp = temporary_sibling(Path(self.metrics_file_path))
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.metrics_file_path)

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            drop_partial_last_line(self.metrics_file_path)
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = next(csv.reader(f), [])


def drop_partial_last_line(path: str) -> None:
    """Cut a file back to its last newline (Lightning writes whole rows, so anything after one is a torn write)."""
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


class AppendingCSVLogger(CSVLogger):
    """CSVLogger writing through AppendingExperimentWriter."""

    @property
    @rank_zero_experiment
    def experiment(self) -> AppendingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = AppendingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
