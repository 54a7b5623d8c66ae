"""`python -m src.eval`: scores equal the training run's test scores, tables add up, figures and errors."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from src.core.errors import ConfigError
from src.eval import MC_HINT
from src.inference.trained_run import load_trained_run
from tests.helpers import ROOT, run_in_process, run_module

pytestmark = pytest.mark.slow


def best_checkpoint(run: Path) -> Path:
    return Path(json.loads((run / "metrics.json").read_text())["checkpoints"]["best"])


@pytest.fixture(scope="module")
def evaluated(trained_run: Path, data_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "run"
    args = [f"ckpt_path={best_checkpoint(trained_run)}", "mc_samples=4", f"paths.data_dir={data_cache}"]
    proc = run_module("src.eval", [*args, f"hydra.run.dir={out}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "per class" in proc.stdout and "road" in proc.stdout  # the printed class table
    assert "mc_dropout: loss" in proc.stderr and MC_HINT not in proc.stderr  # MC asked for: scored, no hint
    return out


def test_eval_reproduces_the_training_runs_test_scores(evaluated: Path, trained_run: Path):
    ours = json.loads((evaluated / "metrics.json").read_text())
    trained = json.loads((trained_run / "metrics.json").read_text())
    assert ours["split"] == "test" and ours["images"] == 4
    assert ours["test"]["test/acc"] == pytest.approx(trained["test"]["test/acc"], abs=1e-6)
    assert ours["test"]["test/miou"] == pytest.approx(trained["test"]["test/miou"], abs=1e-6)
    assert ours["test"]["test/loss"] == pytest.approx(trained["test"]["test/loss"], rel=1e-4)
    assert 0.1 < ours["test"]["test/acc"] < 1  # the model learned something: the scores below are not degenerate
    assert 0 <= ours["test"]["test/ece"] <= 1 and 0 < ours["test"]["test/error_auroc"] < 1
    mc = ours["mc_dropout"]
    assert mc["samples"] == 4 and ours["mc_samples"] == 4
    for key in ("test/acc", "test/miou", "test/ece", "test/error_auroc", "test/error_auroc_mutual_information"):
        assert 0 <= mc[key] <= 1


def test_class_table_adds_up_to_the_confusion_matrix(evaluated: Path):
    with open(evaluated / "confusion_matrix.csv", newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    confmat = np.array([[int(v) for v in row[1:]] for row in rows[1:]])
    assert confmat.shape == (34, 34) and [r[0] for r in rows[1:]] == names
    with open(evaluated / "class_metrics.csv", newline="") as f:
        classes = list(csv.DictReader(f))
    assert [c["class"] for c in classes] == names
    for i, c in enumerate(classes):
        assert int(c["pixels"]) == confmat[i].sum() and int(c["predicted"]) == confmat[:, i].sum()
        union = confmat[i].sum() + confmat[:, i].sum() - confmat[i, i]
        if union:
            assert float(c["iou"]) == pytest.approx(confmat[i, i] / union)
        else:
            assert math.isnan(float(c["iou"]))
        if confmat[i].sum():
            assert float(c["accuracy"]) == pytest.approx(confmat[i, i] / confmat[i].sum())
    scores = json.loads((evaluated / "metrics.json").read_text())["test"]
    assert scores["test/acc"] == pytest.approx(np.trace(confmat) / confmat.sum())
    ious = [float(c["iou"]) for c in classes]
    assert scores["test/miou"] == pytest.approx(np.nanmean(ious), abs=1e-6)
    markdown = (evaluated / "class_metrics.md").read_text().splitlines()
    assert markdown[0] == "| class | pixels | IoU | accuracy |"
    assert len(markdown) - 2 == sum(1 for c in classes if int(c["pixels"]) or int(c["predicted"]))


def test_eval_figures_are_written(evaluated: Path):
    for name, min_width in (("confusion_matrix.png", 500), ("reliability.png", 800)):  # two columns: softmax, MC
        with Image.open(evaluated / name) as image:
            assert image.width >= min_width and image.height >= 400


def test_eval_on_the_val_split_scores_softmax_only_by_default(trained_run: Path, data_cache: Path, tmp_path: Path):
    """No mc_samples given: one softmax pass, no MC-dropout scores anywhere, and the log says how to get them."""
    args = [f"ckpt_path={trained_run / 'checkpoints' / 'last.ckpt'}", "split=val"]
    proc = run_module("src.eval", [*args, f"paths.data_dir={data_cache}", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["split"] == "val" and "mc_dropout" not in metrics and metrics["mc_samples"] == 0
    assert set(metrics["val"]) == {f"val/{k}" for k in ("loss", "acc", "miou", "ece", "error_auroc")}
    assert "softmax: loss" in proc.stderr and "mc_dropout: loss" not in proc.stderr
    assert MC_HINT in proc.stderr and "mc_samples=20" in MC_HINT
    assert MC_HINT in (tmp_path / "eval.log").read_text()  # the run folder's log keeps it too
    with Image.open(tmp_path / "reliability.png") as image:  # one column (softmax), not two
        assert 400 <= image.width < 800
    for name in ("class_metrics.csv", "class_metrics.md", "confusion_matrix.csv", "confusion_matrix.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["split=train"], "split must be one of test, val; got 'train'"),
        (["prune_level=1"], "prune_level=1 applies to UNet++ (model=unetpp); the checkpoint is a UNet"),
    ],
)
def test_eval_bad_settings_are_one_line_errors(trained_run: Path, tmp_path: Path, args, message):
    """In this process; test_eval_without_a_checkpoint_is_one_line_error runs the real `python -m src.eval`."""
    ckpt = trained_run / "checkpoints" / "last.ckpt"
    proc = run_in_process("src.eval", [f"ckpt_path={ckpt}", *args, f"hydra.run.dir={tmp_path / 'run'}"])
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].endswith(f"ConfigError: {message}")


def test_bad_checkpoints_are_named_errors(trained_run: Path, tmp_path: Path):
    """What eval, predict and export say about a checkpoint they cannot use (the loader they share)."""
    lone = tmp_path / "lone.ckpt"  # a checkpoint moved out of its run folder: no config beside it
    shutil.copy(trained_run / "checkpoints" / "last.ckpt", lone)
    broken_run = tmp_path / "broken"  # a truncated checkpoint inside a proper run folder
    shutil.copytree(trained_run / ".hydra", broken_run / ".hydra")
    (broken_run / "checkpoints").mkdir()
    data = (trained_run / "checkpoints" / "last.ckpt").read_bytes()
    (broken_run / "checkpoints" / "last.ckpt").write_bytes(data[: len(data) // 2])
    paths = OmegaConf.create({"root_dir": str(ROOT), "data_dir": str(tmp_path), "log_dir": "x", "output_dir": "x"})
    cases = {
        None: "ckpt_path is required",
        str(tmp_path / "missing.ckpt"): "no such file",
        str(lone): "not found: " + str(tmp_path.parent / ".hydra" / "config.yaml"),
        str(broken_run / "checkpoints" / "last.ckpt"): "not a readable checkpoint",
    }
    for ckpt, message in cases.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_trained_run(ckpt, paths)


def test_eval_without_a_checkpoint_is_one_line_error(tmp_path: Path):
    proc = run_module("src.eval", [f"hydra.run.dir={tmp_path / 'run'}"])
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("ConfigError: ckpt_path is required: a .ckpt file written by python -m src.train")
    )
