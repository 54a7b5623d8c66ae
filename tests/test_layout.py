"""The layout shows the architecture: entry modules and packages by role, imports only downwards, small files;
and runs written before the layout moved still load."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf

from src.core.moved_targets import MOVED, with_current_targets
from tests.helpers import ROOT, run_in_process

SRC = ROOT / "src"
ENTRY_MODULES = {"train", "eval", "predict", "export", "report", "benchmark", "check_data", "model_table", "gpu_check"}
# Lowest first: a module may import its own package and any package on a lower layer, never a higher one.
LAYERS = {
    "core": 0,
    "data": 1,
    "models": 1,
    "metrics": 1,
    "figures": 2,
    "training": 3,
    "inference": 4,
    "sweeps": 5,
    "cli": 6,
    "checks": 6,  # the GPU check runs the CLI tools as processes; it imports no other package of this layer
    **dict.fromkeys(ENTRY_MODULES, 7),
}
MAX_LINES, MAX_ENTRY_LINES = 300, 60
OLD_RUN = ROOT / "tests" / "fixtures" / "run_before_layout_move"  # written by main at 9b4f8c9


def src_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_src_holds_the_entry_modules_and_one_package_per_role() -> None:
    modules = {p.stem for p in SRC.glob("*.py")} - {"__init__"}
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert modules == ENTRY_MODULES
    assert packages == set(LAYERS) - ENTRY_MODULES


def test_no_file_is_over_300_lines_and_entry_modules_are_thin() -> None:
    lines = {p.relative_to(ROOT): len(p.read_text().splitlines()) for p in src_files()}
    assert {p: n for p, n in lines.items() if n > MAX_LINES} == {}
    entries = {p: n for p, n in lines.items() if p.parent == Path("src") and p.stem in ENTRY_MODULES}
    assert {p: n for p, n in entries.items() if n > MAX_ENTRY_LINES} == {}


def imported_src_modules(path: Path) -> set[str]:
    """Every `src.<x>` module the file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] if node.module != "src" else [f"src.{a.name}" for a in node.names]
        found |= {n for n in names if n.startswith("src.")}
    return found


def test_imports_only_run_downwards() -> None:
    upward = []
    for path in src_files():
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts == ("__init__",):  # the package's init registers every layer's resolvers: the assembly point
            continue
        own = parts[0]
        for module in imported_src_modules(path):
            other = module.split(".")[1]
            if other != own and LAYERS[other] > LAYERS[own]:
                upward.append(f"{path.relative_to(ROOT)} imports {module}")
    assert upward == []


def test_every_moved_target_names_what_exists_now() -> None:
    for new in MOVED.values():
        target = new.rstrip(".")
        assert get_object(target) is not None, target
    config = with_current_targets(OmegaConf.load(OLD_RUN / ".hydra" / "config.yaml"))
    targets = [v for k, v in _walk(OmegaConf.to_container(config, resolve=False)) if k == "_target_"]
    assert "src.training.module.SegmentationModule" in targets
    assert "src.data.synthetic.SyntheticStreetsDataModule" in targets
    assert all(get_object(t) is not None for t in targets)


def _walk(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.mark.slow
def test_a_run_written_before_the_move_still_evaluates_predicts_and_exports(tmp_path: Path) -> None:
    old_config = (OLD_RUN / ".hydra" / "config.yaml").read_text()
    assert "_target_: src.module.SegmentationModule" in old_config  # the old paths, as written then
    run = tmp_path / "old_run"
    shutil.copytree(OLD_RUN, run)
    ckpt, data = f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}", f"paths.data_dir={tmp_path / 'data'}"
    # Each tool's entry in this process: the tools' own tests run them as real processes.
    proc = run_in_process("src.eval", [ckpt, data, f"hydra.run.dir={tmp_path / 'eval'}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = OmegaConf.load(tmp_path / "eval" / "metrics.json")
    assert set(scores.test) >= {"test/loss", "test/acc", "test/miou"} and scores.images == 8

    image = next((tmp_path / "data" / "synthetic").glob("*/leftImg8bit/test/*/*.png"))
    proc = run_in_process("src.predict", [ckpt, data, f"input={image}", f"hydra.run.dir={tmp_path / 'predict'}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "predict" / f"{image.stem}_color.png").is_file()

    proc = run_in_process("src.export", [ckpt, data, "format=onnx", f"hydra.run.dir={tmp_path / 'export'}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((tmp_path / "export").glob("*.onnx"))
