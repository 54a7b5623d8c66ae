"""`make smoke` (experiment=smoke) writes every artifact of a normal run, through the real CLI and default callbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_module

pytestmark = pytest.mark.slow


def test_smoke_preset_trains_validates_tests_and_writes_every_artifact(tmp_path: Path, data_cache: Path) -> None:
    run_dir = tmp_path / "run"
    # Two of its three epochs keep the suite shorter and still give a best and a last checkpoint and curves.
    args = ["experiment=smoke", "trainer.max_epochs=2", f"paths.data_dir={data_cache}", f"hydra.run.dir={run_dir}"]
    proc = run_module("src.train", args)
    assert proc.returncode == 0, proc.stderr[-3000:]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and len(metrics["history"]) == 2
    assert {"val/miou", "val/acc", "val/loss"} <= set(metrics["best_val"])
    assert {"test/miou", "test/acc", "test/loss"} <= set(metrics["test"])
    best, last = (Path(metrics["checkpoints"][k]) for k in ("best", "last"))
    assert last == run_dir / "checkpoints" / "last.ckpt" and last.is_file()
    assert best.parent == run_dir / "checkpoints" and best.name.startswith("epoch_") and best.is_file()
    assert metrics["tested_checkpoint"] == str(best)

    assert {p.name for p in (run_dir / "plots").glob("*.png")} >= {"loss.png", "accuracy.png", "miou.png"}
    assert sorted(p.name for p in (run_dir / "images").glob("val_epoch_*.png")) == [
        "val_epoch_000.png",
        "val_epoch_001.png",
    ]
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (run_dir / "csv" / "metrics.csv").is_file() and (run_dir / "train.log").is_file()
    assert "Test IoU per class" in proc.stdout
