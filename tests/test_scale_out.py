"""trainer.gpus, DDP on CPU (gloo), DDP inside a multirun, and the sweep summary."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from hydra.utils import instantiate

from src.core.errors import ConfigError
from src.training.trainer import gpu_settings
from tests.fake_datasets import write_camvid
from tests.helpers import ROOT, TINY_REAL_DATA, compose_train, run_in_process, with_user_callbacks


@pytest.mark.parametrize(
    ("gpus", "available", "expected"),
    [
        (1, 1, {"accelerator": "gpu", "devices": 1, "strategy": "auto"}),
        (2, 4, {"accelerator": "gpu", "devices": 2, "strategy": "ddp"}),
        (0, 0, {"accelerator": "cpu", "devices": 1, "strategy": "auto", "sync_batchnorm": False}),
    ],
)
def test_gpus_maps_to_lightning_2_accelerator_devices_strategy(gpus, available, expected):
    assert gpu_settings(gpus, available) == expected


@pytest.mark.parametrize(
    ("gpus", "available", "message"),
    [
        (2, 0, "trainer.gpus=2 but this machine has no CUDA GPU"),
        (4, 2, "trainer.gpus=4 but this machine has 2 CUDA GPU(s); use trainer.gpus=2"),
        (-1, 2, "trainer.gpus must be null or a number of GPUs >= 0"),
    ],
)
def test_too_many_or_bad_gpus_is_a_config_error(gpus, available, message):
    with pytest.raises(ConfigError) as err:
        gpu_settings(gpus, available)
    assert message in str(err.value)


def test_gpus_is_not_a_trainer_argument_and_presets_compose():
    cfg = compose_train(["trainer=cpu", "trainer.enable_progress_bar=false", "trainer.default_root_dir=/tmp"])
    trainer = instantiate(cfg.trainer)  # gpus: null is consumed by build_trainer, not passed on
    assert trainer.num_devices == 1
    ddp, ddp_cpu = compose_train(["trainer=ddp"]).trainer, compose_train(["trainer=ddp_cpu"]).trainer
    assert (ddp.accelerator, ddp.strategy, ddp.sync_batchnorm, ddp.devices) == ("gpu", "ddp", True, 2)
    assert (ddp_cpu.accelerator, ddp_cpu.strategy, ddp_cpu.devices) == ("cpu", "ddp", 2)
    assert compose_train(["trainer.num_nodes=4"]).trainer.num_nodes == 4


def run_cli(args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "src.train", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def camvid_val_as_test(tmp_path):
    """A tiny CamVid whose test split holds the val images: a test run scores the validation set."""
    root = write_camvid(tmp_path / "camvid", {"train": 8, "val": 4}, h=36, w=48)
    shutil.copytree(root / "val", root / "test")
    shutil.copytree(root / "valannot", root / "testannot")
    return [
        *with_user_callbacks(TINY_REAL_DATA),  # as users run it: progress bar and model summary too
        "data=camvid",
        f"data.root={root}",
        "data.size=[36,48]",
        "data.batch_size=2",
        "trainer.max_epochs=1",
        "trainer.limit_val_batches=null",  # all 4 images: a batch limit would count per process
        "trainer.limit_test_batches=null",
        f"paths.data_dir={tmp_path / 'data'}",
    ]


@pytest.mark.slow
def test_ddp_on_cpu_scores_a_checkpoint_as_one_process_does(tmp_path, camvid_val_as_test):
    # One epoch: the best checkpoint the training run tested (one process) is its last.ckpt.
    proc = run_cli([*camvid_val_as_test, f"hydra.run.dir={tmp_path / 'train'}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = json.loads((tmp_path / "train" / "metrics.json").read_text())
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"
    tested = torch.load(single["tested_checkpoint"], weights_only=True)["state_dict"]
    assert all(torch.equal(t, tested[k]) for k, t in torch.load(ckpt, weights_only=True)["state_dict"].items())
    args = [
        *camvid_val_as_test,
        "trainer=ddp_cpu",
        "train=false",
        f"ckpt_path={ckpt}",
        f"hydra.run.dir={tmp_path / 'ddp'}",
    ]
    proc = run_cli(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MEMBER: 2/2" in proc.stderr  # the run really had two processes
    scores = {"single": single["test"], "ddp": json.loads((tmp_path / "ddp" / "metrics.json").read_text())["test"]}
    for key in ("test/acc", "test/miou"):  # one confusion matrix summed over both processes
        assert scores["ddp"][key] == pytest.approx(scores["single"][key], abs=1e-6)
    assert scores["ddp"]["test/loss"] == pytest.approx(scores["single"]["test/loss"], rel=1e-4)
    assert not list(tmp_path.glob("ddp/*/.hydra"))  # the second process wrote no run folder of its own


@pytest.mark.slow
def test_ddp_with_the_default_callbacks_trains_validates_and_tests(tmp_path, data_cache):
    # The command of issue 16, which crashed at the end of epoch 0: rank 0's progress bar made Lightning reduce a
    # logged metric object that rank 1 reduced later, so the two processes' collectives paired up wrongly.
    args = ["trainer=ddp_cpu", "model.net.base_channels=4", "trainer.max_epochs=1", "data.batch_size=2"]
    args += ["data.sizes.train=8", "data.sizes.val=4", "data.sizes.test=4", "data.size=[64,128]"]
    proc = run_cli([*args, f"paths.data_dir={data_cache}", f"hydra.run.dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MEMBER: 2/2" in proc.stderr and "Epoch 0/0" in proc.stdout  # two processes; the rich progress bar drew
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 <= summary["test"]["test/miou"] <= 1 and [h["epoch"] for h in summary["history"]] == [0]
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/miou"} <= set(summary["history"][0])
    assert (tmp_path / "plots" / "loss.png").is_file() and list((tmp_path / "images").glob("val_epoch_*.png"))


@pytest.mark.slow
def test_ddp_inside_a_multirun_runs_each_job_once_in_its_own_folder_with_a_summary(tmp_path, camvid_val_as_test):
    proc = run_cli(["-m", *camvid_val_as_test, "trainer=ddp_cpu", "model=unet,unetpp", f"paths.log_dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "multirun").glob("*/*")  # one sweep: no process started the sweep again
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert proc.stderr.count("MEMBER: 2/2") == 2  # each job had its second process
    rows = json.loads((sweep / "summary.json").read_text())
    assert [(r["job"], r["status"], r["swept"]) for r in rows] == [
        ("0", "done", "model=unet"),
        ("1", "done", "model=unetpp"),
    ]
    for row in rows:
        assert 0 <= row["val/miou"] <= 1 and 0 <= row["test/miou"] <= 1
    assert (sweep / "summary.csv").read_text().splitlines()[0].startswith("job,status,swept,best_epoch,val/miou")
    assert "model=unetpp" in proc.stdout  # the printed table


@pytest.mark.slow
def test_resume_continues_the_newest_matching_run_in_its_own_folder(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    common = [
        *TINY_REAL_DATA,
        "data.sizes.train=8",
        "data.sizes.val=4",
        "data.sizes.test=4",
        "data.size=[64,128]",
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.log_dir={tmp_path / 'logs'}",
    ]
    assert run_cli([*common, "trainer.max_epochs=2"]).returncode == 0
    proc = run_cli([*common, "trainer.max_epochs=3", "resume=true"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = (tmp_path / "logs").glob("*/*")  # one run folder: the resumed run wrote into the first one
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["epochs_run"] == 3
    # The curves and history cover the epochs before the resume too.
    assert [h["epoch"] for h in summary["history"]] == [0, 1, 2]
    assert all("train/loss" in h and "val/loss" in h for h in summary["history"])
    assert (run / "plots" / "loss.png").is_file()
    rows = (run / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    val_epochs = [r.split(",")[header.index("epoch")] for r in rows[1:] if r.split(",")[header.index("val/miou")]]
    assert val_epochs == ["0", "1", "2"]  # each epoch once, the first two kept from before the resume
    events = EventAccumulator(str(run / "tensorboard")).Reload()
    steps = [e.step for e in events.Scalars("val/miou")]
    assert len(steps) == 3 and len(set(steps)) == 3 and steps == sorted(steps)  # one run, steps continue
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2

    again = run_cli([*common, "trainer.max_epochs=4", "ckpt_path=last"])  # the other spelling
    assert again.returncode == 0 and json.loads((run / "metrics.json").read_text())["epochs_run"] == 4
    other = run_in_process("src.train", [*common, "model.net.base_channels=8", "resume=true"])  # no such run
    assert other.returncode != 0 and "resume: no earlier run in" in other.stderr


def test_a_progress_bar_callback_is_dropped_when_the_trainer_disables_the_bar(tmp_path):
    from lightning.pytorch.callbacks import RichProgressBar

    from src.training.trainer import build_trainer

    trainer = build_trainer(
        accelerator="cpu", enable_progress_bar=False, callbacks=[RichProgressBar()], default_root_dir=tmp_path
    )
    assert trainer.progress_bar_callback is None  # Lightning raises MisconfigurationException if it is passed on


@pytest.mark.slow
def test_ddp_ctrl_c_to_every_process_stops_both_ranks_together_saved_and_resumable(tmp_path, data_cache):
    """A terminal's Ctrl-C reaches both DDP processes, not always between the same two batches: they agree
    (src/training/callbacks/stop_on_sigint.py), stop at one step, rank 0 saves, and the run exits 130 without a hang."""
    last = tmp_path / "checkpoints" / "last.ckpt"
    args = ["trainer=ddp_cpu", "model.net.base_channels=4", "model.net.depth=2", "data.batch_size=2"]
    args += ["data.sizes.train=80", "data.sizes.val=4", "data.sizes.test=4", "data.size=[32,64]"]
    args += ["trainer.max_epochs=50", "callbacks.validation_predictions=null"]
    cmd = [sys.executable, "-m", "src.train", *args, f"paths.data_dir={data_cache}", f"hydra.run.dir={tmp_path}"]

    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen(  # its own process group, so killpg is a terminal's Ctrl-C
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=default_sigint, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while not last.is_file():  # epoch 0 done (20 steps of 2 x 2 images)
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.05)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output[-3000:]
    assert output.count("SIGINT: saved") == 1 and "Traceback" not in output
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] > 20 and saved["epoch"] >= 1  # at the interrupt, not epoch 0's end
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["global_steps"] == saved["global_step"]
