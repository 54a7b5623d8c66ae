"""End to end: train(cfg) in process, and `python -m src.train` as a user runs it."""

import json
import os
import subprocess
import sys

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict

from src.train import train
from tests.fake_datasets import write_camvid
from tests.helpers import ROOT, TINY, TINY_REAL_DATA, compose_tiny, run_in_process

pytestmark = pytest.mark.slow


def read_metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def test_train_writes_checkpoints_metrics_json_and_tensorboard(cfg_tiny, tmp_path):
    metrics = train(cfg_tiny)
    for key in (
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/miou",
        "val/miou_best",
        "test/loss",
        "test/acc",
        "test/miou",
    ):
        assert key in metrics, key
        assert 0.0 <= metrics[key] < 10.0
    summary = read_metrics(tmp_path)
    assert summary["epochs_run"] == 2
    assert summary["best_val"]["val/miou"] == pytest.approx(metrics["val/miou_best"])
    assert summary["test"]["test/miou"] == pytest.approx(metrics["test/miou"])
    assert set(summary["test_class_iou"]) >= {"road", "sky", "car"}
    assert len(summary["best_val_class_iou"]) == 34 and 0 <= summary["best_val_class_iou"]["road"] <= 1
    # last_val: the final weights' scores, the second epoch's row of the history
    assert summary["last_val"]["epoch"] == 1 and len(summary["last_val_class_iou"]) == 34
    assert summary["last_val"]["val/miou"] == pytest.approx(summary["history"][-1]["val/miou"])
    assert summary["best_val"]["val/miou"] == pytest.approx(max(h["val/miou"] for h in summary["history"]))
    best, last = summary["checkpoints"]["best"], summary["checkpoints"]["last"]
    assert os.path.isfile(best) and last == str(tmp_path / "checkpoints" / "last.ckpt") and os.path.isfile(last)
    ckpt = torch.load(last, map_location="cpu", weights_only=True)  # no pickled code in our checkpoints
    assert ckpt["epoch"] == 1 and any(k.startswith("net.") for k in ckpt["state_dict"])
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    header = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/miou", "val/miou_best"} <= set(header)


def test_resume_from_checkpoint_continues_the_epoch_count(cfg_tiny, tmp_path):
    train(cfg_tiny)
    first = read_metrics(tmp_path)
    last = tmp_path / "checkpoints" / "last.ckpt"
    resumed_dir = tmp_path / "resumed"
    with open_dict(cfg_tiny):
        cfg_tiny.ckpt_path = str(last)
        cfg_tiny.trainer.max_epochs = 4
        cfg_tiny.paths.output_dir = str(resumed_dir)
        cfg_tiny.trainer.default_root_dir = str(resumed_dir)
    train(cfg_tiny)
    resumed = read_metrics(resumed_dir)
    assert resumed["epochs_run"] == 4
    assert resumed["global_steps"] == 2 * first["global_steps"]  # 2 more epochs of 2 steps, not 4 from zero
    assert torch.load(resumed_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 3
    assert resumed["best_val"]["val/miou"] >= first["best_val"]["val/miou"]  # the best carries over


def test_training_step_never_syncs_with_the_host(cfg_tiny, monkeypatch):
    from src.training.module import SegmentationModule

    calls = []
    step = SegmentationModule.training_step

    def watched_step(self, batch, batch_idx):
        original = torch.Tensor.item
        monkeypatch.setattr(torch.Tensor, "item", lambda t: calls.append(1) or original(t))
        try:
            return step(self, batch, batch_idx)
        finally:
            monkeypatch.setattr(torch.Tensor, "item", original)

    monkeypatch.setattr(SegmentationModule, "training_step", watched_step)
    with open_dict(cfg_tiny):
        cfg_tiny.test = False
    train(cfg_tiny)
    assert calls == []


def test_cli_trains_and_writes_a_run_folder(tmp_path, data_cache):
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "src.train",
        *TINY,
        "trainer.max_epochs=1",
        f"paths.data_dir={data_cache}",
        f"hydra.run.dir={run_dir}",
        "print_config=true",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "model" in proc.stdout and "base_channels: 4" in proc.stdout  # the config tree
    assert "test/miou" in proc.stdout  # the final table
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert read_metrics(run_dir)["epochs_run"] == 1
    log = (run_dir / "train.log").read_text()  # Lightning's messages reach the run's log file
    assert "Seed set to 42" in log and "`Trainer.fit` stopped" in log


def test_same_seed_gives_identical_metrics_and_checkpoint_weights_on_cpu(cfg_tiny, tmp_path):
    with open_dict(cfg_tiny):
        cfg_tiny.test = False
        cfg_tiny.seed = 123
    first = train(cfg_tiny)
    with open_dict(cfg_tiny):
        cfg_tiny.paths.output_dir = str(tmp_path / "again")
        cfg_tiny.trainer.default_root_dir = str(tmp_path / "again")
    second = train(cfg_tiny)
    assert first == second
    assert first["train/loss"] > 0
    weights = [torch.load(d / "checkpoints" / "last.ckpt", weights_only=True) for d in (tmp_path, tmp_path / "again")]
    assert weights[0]["state_dict"].keys() == weights[1]["state_dict"].keys()
    for key, tensor in weights[0]["state_dict"].items():
        assert torch.equal(tensor, weights[1]["state_dict"][key]), key  # bit for bit
    assert weights[0]["optimizer_states"][0]["state"].keys() == weights[1]["optimizer_states"][0]["state"].keys()


def test_testing_without_training_needs_a_checkpoint(cfg_tiny, tmp_path):
    with open_dict(cfg_tiny):
        cfg_tiny.train = False
    with pytest.raises(ValueError, match="ckpt_path"):
        train(cfg_tiny)
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_metrics_json_best_is_the_monitored_file_even_with_save_last(cfg_tiny, tmp_path):
    with open_dict(cfg_tiny):
        cfg_tiny.callbacks.model_checkpoint.save_last = True
        cfg_tiny.test = False
    train(cfg_tiny)
    paths = read_metrics(tmp_path)["checkpoints"]
    assert os.path.basename(paths["best"]).startswith("epoch_")
    assert os.path.basename(paths["last"]).startswith("last")


def test_last_ckpt_is_written_every_epoch_when_validation_runs_less_often(cfg_tiny, tmp_path):
    with open_dict(cfg_tiny):
        cfg_tiny.trainer.max_epochs, cfg_tiny.trainer.check_val_every_n_epoch, cfg_tiny.test = 3, 2, False
    train(cfg_tiny)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2 and last["global_step"] == 6  # not epoch 1, the last one validated
    assert read_metrics(tmp_path)["last_val"]["epoch"] == 1


def test_a_run_stopped_by_max_time_validates_and_checkpoints_its_final_weights_with_its_lr_decayed(
    tmp_path, data_cache
):
    # As experiment=camvid: validation every N steps, a step schedule, and the time budget ends the run.
    budget = ["trainer.max_epochs=1000", "trainer.max_time=00:00:00:04", "trainer.check_val_every_n_epoch=null"]
    budget += ["trainer.val_check_interval=1000", "trainer.min_epochs=0", "test=false", "model/scheduler=warmup_cosine"]
    train(compose_tiny(tmp_path, data_cache, [*budget, "model.scheduler.warmup_steps=1"]))
    summary = read_metrics(tmp_path)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert 0 < summary["epochs_run"] < 1000 and last["global_step"] == summary["global_steps"] < 1000
    assert summary["last_val"]["epoch"] == last["epoch"] == summary["epochs_run"] - 1  # validated at the stop
    assert 0 <= summary["last_val"]["val/miou"] <= 1
    # The schedule followed the clock: the LR is near its final 1% when the budget ends, not near the start's.
    assert last["optimizer_states"][0]["param_groups"][0]["lr"] < 0.05 * 1e-3


def test_unetpp_deep_supervision_trains_and_one_checkpoint_serves_every_prune_level(tmp_path, data_cache):
    cfg = compose_tiny(tmp_path, data_cache, ["model=unetpp", "model.net.deep_supervision=true"])
    L.seed_everything(cfg.seed)
    initial = instantiate(cfg.model).state_dict()  # what train() starts from, with the same seed
    metrics = train(cfg)
    summary = read_metrics(tmp_path)
    assert summary["epochs_run"] == 2 and summary["test"]["test/miou"] == pytest.approx(metrics["test/miou"])
    assert metrics["train/loss_ds"] > 0 and metrics["train/loss_ds"] != metrics["train/loss"]
    state = torch.load(summary["checkpoints"]["best"], weights_only=True)["state_dict"]
    assert {"net.heads.x_0_1.0.weight", "net.heads.x_0_2.0.weight", "net.nodes.x_1_1.block.0.weight"} <= set(state)
    for head in ("net.heads.x_0_1.0.weight", "net.heads.x_0_2.0.weight"):  # both heads learned
        assert not torch.equal(state[head], initial[head]), head

    losses = {}
    for level in (1, 2):  # test the trained checkpoint pruned to each head, no retraining
        out = tmp_path / f"pruned_{level}"
        pruned = compose_tiny(out, data_cache, ["model=unetpp", "model.net.deep_supervision=true"])
        with open_dict(pruned):
            pruned.train, pruned.ckpt_path, pruned.model.net.prune_level = False, summary["checkpoints"]["best"], level
        losses[level] = train(pruned)["test/loss"]
        tested = read_metrics(out)
        assert tested["tested_checkpoint"] == summary["checkpoints"]["best"] and tested["best_val"] == {}
    assert losses[1] != losses[2]  # different heads, different predictions
    assert all(0 < loss < 10 for loss in losses.values())

    without_ds = compose_tiny(tmp_path / "no_ds", data_cache, ["model=unetpp", "train=false"])
    with open_dict(without_ds):
        without_ds.ckpt_path = summary["checkpoints"]["best"]
    with pytest.raises(
        ValueError, match=r"model\.net\.deep_supervision=true\), but this config builds .*deep_supervision=false"
    ):
        train(without_ds)


def test_cli_bad_unetpp_setting_is_one_clear_error_naming_the_key(tmp_path):
    """In this process (tests/test_bad_input.py runs refusals through the real `python -m src.train`)."""
    proc = run_in_process("src.train", [*TINY, "model=unetpp", "model.net.prune_level=0", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode != 0
    assert "model.net.prune_level must be null or an integer from 1 to model.net.depth=2; got 0" in proc.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_cli_multirun_compares_unet_and_unetpp_one_folder_each(tmp_path, data_cache):
    cmd = [sys.executable, "-m", "src.train", "-m", *TINY, "trainer.max_epochs=1", "model=unet,unetpp"]
    proc = subprocess.run(
        [*cmd, f"paths.data_dir={data_cache}", f"paths.log_dir={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "multirun").glob("*/*")  # outputs/multirun/<date>/<time>
    jobs = {p.name: p for p in sweep.iterdir() if p.is_dir()}
    assert {"0", "1"} <= set(jobs)
    for job, model in (("0", "UNet"), ("1", "NestedUNet")):
        assert read_metrics(jobs[job])["epochs_run"] == 1
        assert (
            f"src.models.{'unet' if model == 'UNet' else 'nested_unet'}.{model}"
            in (jobs[job] / ".hydra" / "config.yaml").read_text()
        )


def test_camvid_trains_end_to_end_at_a_size_not_divisible_by_16_without_a_test_split(tmp_path):
    root = write_camvid(tmp_path / "camvid", {"train": 8, "val": 4}, h=45, w=60)
    cfg = compose_tiny(
        tmp_path / "run", tmp_path / "data", ["data=camvid", f"data.root={root}", "data.size=[45,60]"], TINY_REAL_DATA
    )
    metrics = train(cfg)
    summary = read_metrics(tmp_path / "run")
    assert cfg.model.num_classes == 11 and summary["epochs_run"] == 2
    assert summary["test"] == {} and not any(k.startswith("test/") for k in metrics)  # no test split: not tested
    assert 0 <= summary["best_val"]["val/miou"] <= 1
    assert list(summary["best_val_class_iou"])[:3] == ["sky", "building", "pole"]  # per class without a test split
