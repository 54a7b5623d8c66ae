"""Faults a long run meets on a shared machine: SIGKILL at any moment, SIGTERM, a NaN loss, a full disk.

The kills hit a real `python -m src.train` process; every checkpoint left on disk must load, and resuming must
reach the planned final epoch with exactly the planned number of optimizer steps.
"""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict

import src.core.checkpoint_io
from src.core.errors import OutputError, TrainingError
from src.core.history import read_history
from src.train import train
from src.training.loggers.appending_csv import AppendingCSVLogger
from tests.helpers import ROOT, TINY, run_in_process, with_user_callbacks

pytestmark = pytest.mark.slow

EPOCHS, STEPS_PER_EPOCH = 6, 2  # 8 train images in batches of 4
RUN = [
    *TINY,
    f"trainer.max_epochs={EPOCHS}",
    "trainer.limit_train_batches=null",
    "trainer.limit_val_batches=null",
    "data.sizes.val=8",  # 2 validation batches, so a kill can land between them
    "data.size=[32,64]",
    "callbacks.validation_predictions=null",
]
KILL = "+callbacks.fault._target_=tests.fault_injection.KillAt"


def launch(run_dir: Path, data_dir: Path, extra: list[str]) -> subprocess.Popen:
    """Start (or, when it has a last.ckpt, resume) the run in `run_dir`."""
    resume = ["ckpt_path=last"] if (run_dir / "checkpoints" / "last.ckpt").is_file() else []
    cmd = [sys.executable, "-m", "src.train", *RUN, *resume, *extra]
    cmd += [f"paths.data_dir={data_dir}", f"hydra.run.dir={run_dir}"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def checkpoints_all_load(run_dir: Path) -> int:
    """Load every checkpoint on disk with weights_only=True; returns how many. No partial file may pose as one."""
    files = sorted((run_dir / "checkpoints").glob("*.ckpt"))
    for path in files:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
        assert {"state_dict", "epoch", "global_step", "loops"} <= set(checkpoint), path
        assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point()), path
    return len(files)


def mtime(path: Path) -> float:
    return path.stat().st_mtime_ns if path.is_file() else 0


def test_sigkill_at_many_moments_then_resume_reaches_the_planned_epoch_and_every_checkpoint_loads(tmp_path, data_cache):
    run_dir = tmp_path / "run"
    rng = random.Random(0)
    plans = [
        ("after training step 3", [KILL, "+callbacks.fault.moment=train_batch", "+callbacks.fault.count=3"]),
        ("mid-validation", [KILL, "+callbacks.fault.moment=validation_batch", "+callbacks.fault.count=1"]),
        ("mid checkpoint write", [KILL, "+callbacks.fault.moment=checkpoint_write", "+callbacks.fault.count=2"]),
        ("before a checkpoint rename", [KILL, "+callbacks.fault.moment=before_rename", "+callbacks.fault.count=3"]),
        *[(f"at random {i}", None) for i in range(2)],
    ]
    killed = verified = resumed = 0
    for what, extra in plans:
        resumed += (run_dir / "checkpoints" / "last.ckpt").is_file()
        before = mtime(run_dir / "checkpoints" / "last.ckpt")
        proc = launch(run_dir, data_cache, extra or [])
        # Once this run has written a checkpoint, a random moment within the next 0.5 s. An epoch takes ~0.3 s here;
        # the 1.5 s window used before outlasted the remaining epochs on a fast day, so the run ended unkilled.
        if extra is None:
            deadline = time.monotonic() + 120
            while mtime(run_dir / "checkpoints" / "last.ckpt") == before and proc.poll() is None:
                assert time.monotonic() < deadline, "no checkpoint written in 120 s"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
        output = proc.communicate(timeout=300)[0]
        assert proc.returncode in (-signal.SIGKILL, 0), f"{what}: exit {proc.returncode}\n{output[-3000:]}"
        killed += proc.returncode == -signal.SIGKILL
        verified += checkpoints_all_load(run_dir)
        if extra is not None:
            assert proc.returncode == -signal.SIGKILL, f"{what}: the planned kill did not happen"
        if proc.returncode == 0:
            break
    resumed += (run_dir / "checkpoints" / "last.ckpt").is_file()
    final = launch(run_dir, data_cache, [])
    output = final.communicate(timeout=300)[0]
    assert final.returncode == 0, output[-3000:]
    verified += checkpoints_all_load(run_dir)

    summary = json.loads((run_dir / "metrics.json").read_text())
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert summary["epochs_run"] == EPOCHS and last["epoch"] == EPOCHS - 1
    assert last["global_step"] == EPOCHS * STEPS_PER_EPOCH  # no step lost or counted twice across the kills
    history = read_history(run_dir / "csv" / "metrics.csv")
    assert [h["epoch"] for h in history] == list(range(EPOCHS))
    assert all("val/miou" in h and "train/loss" in h for h in history)
    assert "test/miou" in summary["test"]
    assert not list((run_dir / "checkpoints").glob(".partial-*"))  # the torn write's file was cleaned up
    print(f"\nfault injection: {len(plans)} trials, {killed} killed, {resumed} resumed, {verified} checkpoint loads")
    assert killed >= 5


def test_sigterm_saves_a_resumable_checkpoint_and_exits_143_then_resume_finishes(tmp_path, data_cache):
    run_dir, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.ckpt"
    longer = ["data.sizes.train=40"]  # 10 steps per epoch, so the signal lands inside an epoch
    proc = launch(run_dir, data_cache, ["trainer.max_epochs=40", *longer])
    deadline = time.monotonic() + 120
    while mtime(last) == 0:
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 143, output[-3000:]
    assert "SIGTERM: saved" in output and "Traceback" not in output
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] > 10  # written at the signal, after epoch 0's checkpoint
    planned = saved["epoch"] + 2
    final = launch(run_dir, data_cache, [f"trainer.max_epochs={planned}", *longer])
    output = final.communicate(timeout=300)[0]
    assert final.returncode == 0, output[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == planned
    resumed = torch.load(last, weights_only=True)
    assert resumed["epoch"] == planned - 1
    assert resumed["global_step"] == planned * 10  # the cut epoch's remaining steps were run, not the whole epoch again


def start_as_from_a_terminal(args: list[str]) -> subprocess.Popen:
    """`python -m src.train` in a process group of its own, with Ctrl-C's default disposition (a test runner may
    have started with it ignored): `os.killpg(pid, SIGINT)` then does what a terminal's Ctrl-C does."""
    cmd = [sys.executable, "-m", "src.train", *args]

    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_sigint,
        start_new_session=True,
    )


def test_ctrl_c_saves_metrics_and_plots_exits_130_then_resume_continues_from_that_step(tmp_path, data_cache):
    """A real SIGINT to every process of a real run (as a terminal sends it: loader workers too), with the
    callbacks, loggers and progress bar a user has."""
    run_dir, last = tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.ckpt"
    args = [
        *with_user_callbacks(RUN),
        "data.sizes.train=40",
        "data.num_workers=2",
        f"paths.data_dir={data_cache}",
        f"hydra.run.dir={run_dir}",
    ]
    proc = start_as_from_a_terminal([*args, "trainer.max_epochs=40"])  # 10 steps per epoch
    deadline = time.monotonic() + 120
    while mtime(last) == 0:
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint"
        time.sleep(0.02)
    time.sleep(0.3)
    before = {p.name: p.read_bytes() for p in (run_dir / "checkpoints").glob("epoch_*.ckpt")}
    os.killpg(proc.pid, signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output[-3000:]
    assert "SIGINT: saved" in output and "stopped by SIGINT" in output and "Traceback" not in output
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] > 10  # written at the interrupt, after epoch 0's checkpoint
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["global_steps"] == saved["global_step"] and summary["epochs_run"] == saved["epoch"]
    assert [h["epoch"] for h in summary["history"]] == list(range(saved["epoch"]))  # each finished epoch
    assert summary["best_val"]["val/miou"] >= 0
    assert all((run_dir / "plots" / f"{m}.png").stat().st_size > 0 for m in ("loss", "accuracy", "miou"))
    after = {p.name: p.read_bytes() for p in (run_dir / "checkpoints").glob("epoch_*.ckpt")}
    assert len(after) == 1  # save_top_k=1: a better epoch finishing before the signal lands may replace it
    for name, data in after.items():  # the best checkpoint is whole, and untouched by the interrupt if older
        assert torch.load(run_dir / "checkpoints" / name, weights_only=True)["epoch"] <= saved["epoch"]
        assert data == before.get(name, data)

    planned = saved["epoch"] + 2
    final = start_as_from_a_terminal([*args, f"trainer.max_epochs={planned}", "resume=true"])
    output = final.communicate(timeout=300)[0]
    assert final.returncode == 0, output[-3000:]
    resumed = torch.load(last, weights_only=True)
    assert resumed["global_step"] == planned * 10  # the cut epoch's remaining steps, not the whole epoch again
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == planned


def test_a_second_ctrl_c_exits_at_once_with_130_and_leaves_complete_checkpoints(tmp_path, data_cache):
    run_dir = tmp_path / "run"
    twice = ["+callbacks.ctrl_c._target_=tests.fault_injection.CtrlCTwice", "+callbacks.ctrl_c.count=5"]
    args = [*RUN, *twice, f"paths.data_dir={data_cache}", f"hydra.run.dir={run_dir}"]
    proc = start_as_from_a_terminal(args)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output[-3000:]
    assert "second Ctrl-C: exiting now" in output and "SIGINT: saved" not in output
    assert checkpoints_all_load(run_dir) >= 1  # epoch 1's checkpoints, whole
    assert not (run_dir / "metrics.json").exists()  # at once: nothing more was written


def test_a_batch_with_every_pixel_ignored_trains_with_loss_0_not_nan(cfg_tiny):
    module = instantiate(cfg_tiny.model)
    labels = torch.full((2, 64, 128), 255, dtype=torch.uint8)  # all void: cross-entropy alone is 0/0
    loss = module.training_step((torch.randn(2, 3, 64, 128), labels), 0)
    loss.backward()
    assert loss.item() == 0.0
    assert all(torch.isfinite(p.grad).all() and not p.grad.any() for p in module.parameters() if p.grad is not None)


def test_metrics_csv_drops_a_torn_last_line_on_resume_and_keeps_every_row_when_columns_grow(tmp_path):
    logger = AppendingCSVLogger(save_dir=str(tmp_path), name="csv", version="")
    logger.log_metrics({"epoch": 0, "val/miou": 0.5}, step=1)
    logger.save()
    path = Path(logger.log_dir) / "metrics.csv"
    with open(path, "a") as f:
        f.write("2,0.7")  # a kill mid-append: epoch 1's row cut inside its number, no newline
    resumed = AppendingCSVLogger(save_dir=str(tmp_path), name="csv", version="")
    resumed.log_metrics({"epoch": 1, "val/miou": 0.75}, step=2)
    resumed.save()
    resumed.log_metrics({"test/miou": 0.7}, step=3)  # a new column: the file is rewritten with a wider header
    resumed.save()
    assert [(h["epoch"], h["val/miou"]) for h in read_history(path)] == [(0, 0.5), (1, 0.75)]
    assert path.read_text().splitlines()[0].split(",") == ["epoch", "step", "test/miou", "val/miou"]
    assert not list(tmp_path.glob("csv/.*"))  # no temporary file left


def test_nan_loss_stops_naming_epoch_batch_and_step_and_the_last_good_checkpoint_stays(cfg_tiny, tmp_path):
    with open_dict(cfg_tiny):
        cfg_tiny.trainer.max_epochs = 4
        cfg_tiny.callbacks.poison = {"_target_": "tests.fault_injection.PoisonWeightsAt", "step": 4}
    with pytest.raises(TrainingError) as caught:
        train(cfg_tiny)
    last = tmp_path / "checkpoints" / "last.ckpt"
    message = str(caught.value)
    assert "the training loss is nan at epoch 1, batch 1 (training step 4)" in message
    assert f"Last good checkpoint: {last}" in message
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["epoch"] == 0 and checkpoint["global_step"] == 2  # epoch 0's, never the broken weights
    assert all(torch.isfinite(t).all() for t in checkpoint["state_dict"].values() if t.is_floating_point())


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
        # what torch.save itself raises when its writes fail (seen writing to /dev/full)
        (RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0"), "unexpected pos"),
    ],
    ids=["oserror", "torch_runtime_error"],
)
def test_disk_full_while_saving_is_one_error_naming_the_file_and_earlier_checkpoints_stay(
    cfg_tiny, tmp_path, monkeypatch, failure, reason
):
    real_save, saves = torch.save, []

    def save_until_disk_full(obj, f, *args, **kwargs):
        saves.append(1)
        if len(saves) <= 2:  # epoch 0's best and last
            return real_save(obj, f, *args, **kwargs)
        f.write(b"\0" * 1000)
        raise failure

    monkeypatch.setattr(src.core.checkpoint_io.torch, "save", save_until_disk_full)
    with open_dict(cfg_tiny):
        cfg_tiny.trainer.max_epochs = 3
    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(OutputError, match=rf"cannot write checkpoint .*: .*{reason}.*; earlier checkpoints"):
        train(cfg_tiny)
    monkeypatch.setattr(src.core.checkpoint_io.torch, "save", real_save)
    assert sorted(p.name for p in checkpoints.iterdir()) == ["epoch_000.ckpt", "last.ckpt"]  # no partial file
    assert all(torch.load(p, weights_only=True)["epoch"] == 0 for p in checkpoints.iterdir())


def test_an_output_folder_that_cannot_be_created_is_a_short_error_naming_it_and_nothing_runs(tmp_path, data_cache):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    # In this process: Hydra's report is the same, and tests/test_bad_input.py runs refusals as real processes.
    proc = run_in_process("src.train", [*TINY, f"paths.data_dir={data_cache}", f"hydra.run.dir={blocker}/run"])
    # Hydra makes the run folder before any project code runs: its own short report (4 lines) names it.
    assert proc.returncode == 1
    assert f"NotADirectoryError: [Errno 20] Not a directory: '{blocker}/run'" in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) <= 6 and "Epoch" not in proc.stdout
    assert blocker.read_text() == "not a folder"
