"""`trainer.max_time` ends a run validated and checkpointed, whatever the validation interval or min_epochs."""

import json
import subprocess
import sys

import pytest
import torch

from tests.helpers import ROOT, TINY, with_user_callbacks

pytestmark = pytest.mark.slow


def test_a_spent_time_budget_validates_and_checkpoints_the_final_weights_and_says_so_once(tmp_path, data_cache):
    """The CamVid preset's shape: validation every N steps (here never reached), a min_epochs the budget cannot
    hold; with the default callbacks, loggers and progress bar."""
    run_dir = tmp_path / "run"
    args = [
        *with_user_callbacks(TINY),
        "trainer.max_time=00:00:00:03",
        "trainer.max_epochs=1000",
        "trainer.min_epochs=500",
        "trainer.limit_train_batches=null",
        "trainer.check_val_every_n_epoch=null",
        "trainer.val_check_interval=100000",
        "callbacks.validation_predictions=null",
        f"paths.data_dir={data_cache}",
        f"hydra.run.dir={run_dir}",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "src.train", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert output.count("trainer.max_time=0:00:03 spent") == 1 and "Time limit reached" not in output
    summary = json.loads((run_dir / "metrics.json").read_text())
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert 0 < summary["global_steps"] == last["global_step"] < 500 * 2  # stopped by the budget, not min_epochs
    assert summary["last_val"]["epoch"] == last["epoch"]  # the final weights were validated
    assert summary["best_val"] and summary["test"]["test/miou"] >= 0
    best = torch.load(summary["checkpoints"]["best"], weights_only=True)
    assert best["global_step"] == last["global_step"]  # the only validation was of the final weights
