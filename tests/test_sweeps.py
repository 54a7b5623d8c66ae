"""Optuna sweeps (a failed trial does not stop them, a killed stored study continues) and sweep summaries."""

import json
import signal
import subprocess
import sys
import time

import optuna
import pytest
from omegaconf import OmegaConf

from src.core.config_resolvers import SWEEP_RECORD, sweep_dir
from src.core.errors import ConfigError
from src.sweeps.summary import SweepSummary
from tests.fake_datasets import write_camvid
from tests.helpers import ROOT, TINY_REAL_DATA, with_user_callbacks


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_grid_sweep_stopped_by_a_failed_job_still_leaves_a_summary(tmp_path, tiny_camvid):
    fixed = [o for o in tiny_camvid if not o.startswith("model.net.depth=")]
    cmd = [sys.executable, "-m", "src.train", "-m", *fixed, "model.net.depth=2,0"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0  # Hydra's basic sweeper stops at the failed job
    _, rows = sweep_rows(tmp_path)
    assert [(r["job"], r["status"]) for r in rows] == [("0", "done"), ("1", "failed")]


@pytest.mark.slow
def test_optuna_sweep_of_ddp_trials_maximises_val_miou_best_and_runs_once(tmp_path, tiny_camvid):
    proc = run_sweep([*with_user_callbacks(tiny_camvid), "trainer=ddp_cpu"])  # the callbacks users have
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((tmp_path / "logs" / "multirun").glob("*/*"))) == 1  # no DDP process started the sweep again
    sweep, rows = sweep_rows(tmp_path)
    assert [r["status"] for r in rows] == ["done"] * 3 and proc.stderr.count("MEMBER: 2/2") == 3
    swept = " ".join(r["overrides"] for r in rows)
    for key in ("model=", "model.net.base_channels=", "model.optimizer.lr=", "model.optimizer.weight_decay="):
        assert key in swept
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_value == pytest.approx(max(r["val/miou"] for r in rows))  # what train() returned


def completed_trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    try:
        trials = optuna.load_study(study_name="unet_search", storage=storage).get_trials(deepcopy=False)
    except KeyError:  # not created yet
        return []
    return [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]


@pytest.mark.slow
def test_a_killed_optuna_sweep_with_storage_continues_to_n_trials(tmp_path, tiny_camvid):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    cmd = [sys.executable, "-m", "src.train", "hparams_search=optuna", *tiny_camvid, f"hydra.sweeper.storage={storage}"]
    cmd += ["hydra.sweeper.n_trials=4", "hydra.sweeper.sampler.n_startup_trials=4"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while len(completed_trials(storage)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        proc.send_signal(signal.SIGKILL)  # killed after 2 of 4 trials, possibly in the middle of the third
    finally:
        proc.kill()
        proc.communicate()
    assert len(completed_trials(storage)) == 2

    again = subprocess.run([*cmd, "resume=true"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Study unet_search: 2 of 4 trials done" in again.stdout + again.stderr
    done = completed_trials(storage)
    assert len(done) == 4  # continued to 4, not 2 + 4
    assert len({tuple(sorted(t.params.items())) for t in done}) == 4  # the new trials are not replays
    sweep, rows = sweep_rows(tmp_path)  # resume=true: the same sweep folder; folder n holds trial n
    assert {int(r["job"]) for r in rows if r["status"] == "done"} == {t.number for t in done}
    assert all(r["status"] == "failed" for r in rows if int(r["job"]) not in {t.number for t in done})  # the killed
    best = OmegaConf.load(sweep / "optimization_results.yaml").best_value
    assert best == pytest.approx(max(t.value for t in done))


def test_resume_finds_the_sweep_started_with_the_same_overrides(tmp_path):
    for stamp, overrides in [("01-00-00", ["model=unet,unetpp"]), ("02-00-00", ["model=unet,unetpp", "seed=1"])]:
        folder = tmp_path / "multirun" / "2026-12-01" / stamp
        folder.mkdir(parents=True)
        OmegaConf.save(OmegaConf.create({"overrides": overrides}), folder / SWEEP_RECORD)
    found = sweep_dir(str(tmp_path), True, ["model=unet,unetpp", "resume=true", "trainer.max_epochs=9"])
    assert found == str(tmp_path / "multirun" / "2026-12-01" / "01-00-00")  # resume and max_epochs may differ
    assert sweep_dir(str(tmp_path), False, ["model=unet,unetpp"]).startswith(f"{tmp_path}/multirun/")
    with pytest.raises(
        ConfigError, match=r"resume: no earlier sweep in .* started with the overrides \['model=unet'\]"
    ):
        sweep_dir(str(tmp_path), True, ["model=unet"])


def write_job(sweep, number, overrides, metrics_json=None):
    """A hand-made job folder: its overrides.yaml and, unless None, this text as its metrics.json."""
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics_json is not None:
        (job / "metrics.json").write_text(metrics_json)


def test_summary_of_done_crashed_cut_off_and_test_only_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    best = {"epoch": 2, "val/miou": 0.5, "val/acc": 0.8, "val/loss": 0.7}
    write_job(sweep, 0, ["model=unet", "seed=1"], json.dumps({"best_val": best, "test": {"test/miou": 0.4}}))
    write_job(sweep, 1, ["model=unetpp", "seed=1"])  # crashed: no metrics.json
    write_job(
        sweep, 2, ["model=unet", "seed=1", "train=false"], json.dumps({"best_val": {}, "test": {"test/miou": 0.3}})
    )
    cut = ["model=unetpp", "seed=1", "model.net.base_channels=8"]  # a recipe of its own: no seed axis here
    write_job(sweep, 3, cut, '{"best_val": ')  # cut off: listed, not a crash of the sweep
    SweepSummary().write(sweep, show=False)
    rows = json.loads((sweep / "summary.json").read_text())
    assert [(r["job"], r["status"], r["swept"]) for r in rows] == [
        ("0", "done", "model=unet"),
        ("1", "failed", "model=unetpp"),
        ("2", "done", "model=unet train=false"),  # a test-only job has test metrics to show
        ("3", "failed", "model=unetpp model.net.base_channels=8"),
    ]
    assert (rows[0]["best_epoch"], rows[0]["val/miou"], rows[0]["test/miou"]) == (2, 0.5, 0.4)
    assert (rows[2]["best_epoch"], rows[2]["val/miou"], rows[2]["test/miou"]) == (None, None, 0.3)
    assert rows[0]["overrides"] == "model=unet seed=1"
    header = (sweep / "summary.csv").read_text().splitlines()[0]
    assert header == "job,status,swept,best_epoch,val/miou,val/acc,val/loss,test/miou,test/acc,test/loss,overrides"
