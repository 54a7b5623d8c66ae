"""Tables and the config tree reach a pipe or log file whole, fit a terminal, and stay ASCII on an ASCII stdout."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from rich.table import Table

from src.core.config_tree import print_config_tree
from src.core.console import stdout_console
from tests.helpers import TINY, run_module

pytestmark = pytest.mark.slow

# Wider than rich's 80-column fallback and than the 200 columns the sweep table once had.
LONG = "a_folder_name_long_enough_to_be_cut_" + "x" * 180
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_piped_run_prints_the_config_tree_with_a_long_run_folder_whole(tmp_path: Path, data_cache: Path) -> None:
    run_dir = tmp_path / LONG
    args = [*TINY, "trainer.max_epochs=1", "print_config=true"]
    proc = run_module("src.train", [*args, f"paths.data_dir={data_cache}", f"hydra.run.dir={run_dir}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    dirpaths = lines_with(proc.stdout, "dirpath:")  # the checkpoint callbacks
    assert dirpaths and all(line.endswith(f"dirpath: {run_dir}/checkpoints") for line in dirpaths)
    assert lines_with(proc.stdout, f"output_dir: {run_dir}")
    assert "…" not in proc.stdout  # nothing ellipsised
    assert lines_with(proc.stdout, "Test IoU per class")  # the per-class table, printed through the same console
    # train.log holds log records (the tree and tables go to stdout only); each naming the run folder names it whole.
    logged = lines_with((run_dir / "train.log").read_text(), LONG[:40])
    assert logged and all(str(run_dir) in line for line in logged)


def test_piped_sweep_summary_prints_a_long_swept_value_whole(tmp_path: Path, data_cache: Path) -> None:
    tags = [f"{job}_{LONG}" for job in "ab"]
    args = ["-m", *TINY, "trainer.max_epochs=1", f"tags=[{tags[0]}],[{tags[1]}]"]
    proc = run_module("src.train", [*args, f"paths.data_dir={data_cache}", f"paths.log_dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    for job, tag in enumerate(tags):  # brackets and all: a cell is plain text, not rich markup
        (row,) = (line for line in lines_with(proc.stdout, f"tags=[{tag}]") if " done " in line)
        assert re.search(rf"\b{job} .* done .* tags=\[{tag}\] ", row)
    assert "…" not in proc.stdout


def test_ascii_stdout_gets_ascii_tree_and_box_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, encoding="ascii", write_through=True))
    print_config_tree(OmegaConf.create({"paths": {"output_dir": f"/runs/{LONG}"}, "seed": 42}))
    table = Table(title="t")
    table.add_column("value")
    table.add_row(LONG)
    stdout_console().print(table)
    text = out.getvalue().decode("ascii")  # raises on any non-ASCII byte
    assert "+-- paths" in text and f"|   `-- output_dir: /runs/{LONG}\n" in text and "`-- seed" in text
    assert f"| {LONG} |" in text


class Terminal(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_terminal_still_gets_tables_and_tree_fitted_to_its_width(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "60")
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    print_config_tree(OmegaConf.create({"paths": {"output_dir": f"/runs/{LONG}"}}))
    lines = ANSI.sub("", out.getvalue()).splitlines()
    assert max(len(line) for line in lines) <= 60 and lines_with("\n".join(lines), "output_dir: /runs/a_folder")
