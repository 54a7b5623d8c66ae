"""`trainer.max_time` ends a run validated and checkpointed, whatever the validation interval or min_epochs; its
clock is what the schedules that follow max_time read."""

import json
import subprocess
import sys
from types import SimpleNamespace

import lightning.pytorch.callbacks.timer as lightning_timer
import pytest
import torch

from src.training.callbacks.time_budget import BUDGET_SYNC_STEPS, TimeBudget
from tests.helpers import ROOT, TINY, with_user_callbacks


def test_the_clock_is_the_share_of_the_budget_spent_restored_on_resume_and_rank_0s_under_ddp(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(lightning_timer, "time", SimpleNamespace(monotonic=lambda: now[0]))
    budget = TimeBudget("00:00:00:10")
    assert budget.budget_used() == 0.0  # before training starts
    budget.on_train_start(None, None)
    now[0] += 4
    assert budget.budget_used() == pytest.approx(0.4)
    resumed = TimeBudget("00:00:00:10")
    resumed.load_state_dict(budget.state_dict())  # a resumed run's clock starts where the checkpoint's stopped
    assert resumed.budget_used() == pytest.approx(0.4)

    shares = iter([0.25, 0.5])  # rank 0's share, as broadcast
    trainer = SimpleNamespace(world_size=2, global_step=0, strategy=SimpleNamespace(broadcast=lambda _: next(shares)))
    budget.on_train_batch_start(trainer, None, None, 0)
    now[0] += 3  # this rank's own clock says 0.7
    assert budget.budget_used() == 0.25
    trainer.global_step = BUDGET_SYNC_STEPS - 1
    budget.on_train_batch_start(trainer, None, None, 0)  # no broadcast between sync steps
    assert budget.budget_used() == 0.25
    trainer.global_step = BUDGET_SYNC_STEPS
    budget.on_train_batch_start(trainer, None, None, 0)
    assert budget.budget_used() == 0.5

    alone = TimeBudget("00:00:00:10")
    alone.on_train_start(None, None)
    alone.on_train_batch_start(SimpleNamespace(world_size=1, global_step=0), None, None, 0)  # one process: no sync
    now[0] += 5
    assert alone.budget_used() == pytest.approx(0.5)


@pytest.mark.slow
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
