"""Optuna sweeps (a failed trial does not stop them) and the SLURM launcher preset."""

import json
import subprocess
import sys

import pytest
from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from tests.conftest import ROOT, TINY_REAL_DATA
from tests.fake_datasets import write_camvid


@pytest.fixture
def tiny_camvid(tmp_path):
    root = write_camvid(tmp_path / "camvid", {"train": 4, "val": 2})
    return [
        *TINY_REAL_DATA,
        "data=camvid",
        f"data.root={root}",
        "data.size=[36,48]",
        "data.batch_size=2",
        "trainer.max_epochs=1",
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]


def sweep_rows(tmp_path):
    (sweep,) = (tmp_path / "logs" / "multirun").glob("*/*")
    return sweep, json.loads((sweep / "summary.json").read_text())


def run_sweep(args):
    cmd = [sys.executable, "-m", "src.train", "hparams_search=optuna", *args]
    cmd += ["hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=3"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path, tiny_camvid):
    extra = tmp_path / "extra" / "hparams_search"
    extra.mkdir(parents=True)
    (extra / "optuna_with_failures.yaml").write_text(
        "# @package _global_\ndefaults:\n  - optuna\n  - _self_\n"
        "hydra:\n  sweeper:\n    params:\n      model.net.depth: choice(2, 0)\n"  # depth 0 cannot build a net
    )
    args = ["hparams_search=optuna_with_failures", f"hydra.searchpath=[file://{extra.parent}]"]
    fixed = [o for o in tiny_camvid if not o.startswith("model.net.depth=")]  # a fixed value would win
    cmd = [sys.executable, "-m", "src.train", *fixed, *args, "hydra.sweeper.n_trials=4"]
    proc = subprocess.run(
        [*cmd, "hydra.sweeper.sampler.n_startup_trials=4"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, rows = sweep_rows(tmp_path)
    status = {r["status"] for r in rows}
    assert status == {"done", "failed"} and len(rows) == 4
    assert all(("model.net.depth=0" in r["overrides"]) == (r["status"] == "failed") for r in rows)


def test_slurm_launcher_preset_composes_with_nodes_gpus_time_partition():
    GlobalHydra.instance().clear()
    with initialize(version_base="1.3", config_path="../conf"):
        overrides = ["hydra/launcher=submitit_slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]
        overrides += ["hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=720"]
        cfg = compose(config_name="train.yaml", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.nodes, launcher.gpus_per_node, launcher.tasks_per_node) == (2, 4, 4)
    assert (launcher.partition, launcher.timeout_min) == ("gpu", 720)


def test_a_grid_sweep_stopped_by_a_failed_job_still_leaves_a_summary(tmp_path, tiny_camvid):
    fixed = [o for o in tiny_camvid if not o.startswith("model.net.depth=")]
    cmd = [sys.executable, "-m", "src.train", "-m", *fixed, "model.net.depth=2,0"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0  # Hydra's basic sweeper stops at the failed job
    _, rows = sweep_rows(tmp_path)
    assert [(r["job"], r["status"]) for r in rows] == [("0", "done"), ("1", "failed")]


def test_optuna_sweep_of_ddp_trials_maximises_val_miou_best_and_runs_once(tmp_path, tiny_camvid):
    proc = run_sweep([*tiny_camvid, "trainer=ddp_cpu"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((tmp_path / "logs" / "multirun").glob("*/*"))) == 1  # no DDP process started the sweep again
    sweep, rows = sweep_rows(tmp_path)
    assert [r["status"] for r in rows] == ["done"] * 3 and proc.stderr.count("MEMBER: 2/2") == 3
    swept = " ".join(r["overrides"] for r in rows)
    for key in ("model=", "model.net.base_channels=", "model.optimizer.lr=", "model.optimizer.weight_decay="):
        assert key in swept
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_value == pytest.approx(max(r["val/miou"] for r in rows))  # what train() returned
