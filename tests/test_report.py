"""python -m src.report: convergence and overfitting onset on hand-made histories, a hand-made sweep with a
failed job and prediction grids, one real tiny multirun (UNet vs UNet++), and the one-line bad-input errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from PIL import Image

from src.report import main
from src.sweeps.jobs import Job, name_runs, swept_values
from src.sweeps.statistics import convergence_epoch, overfitting_onset
from tests.helpers import TINY, run_module


def history(**columns: list[float | None]) -> list[dict[str, float]]:
    """history(val_loss=[...], train_loss=[...]) -> [{"epoch": 0, "val/loss": ..., "train/loss": ...}, ...];
    a None leaves the key out of that epoch."""
    keys = {name: name.replace("_", "/", 1) for name in columns}
    epochs = len(next(iter(columns.values())))
    return [
        {"epoch": e} | {keys[n]: values[e] for n, values in columns.items() if values[e] is not None}
        for e in range(epochs)
    ]


# ------------------------------------------------------------------------------------------- convergence
def test_convergence_is_the_first_epoch_at_95_percent_of_the_runs_own_best():
    assert convergence_epoch(history(val_miou=[0.1, 0.5, 0.77, 0.8, 0.79])) == 2  # 0.77 >= 0.95 * 0.8 = 0.76
    assert convergence_epoch(history(val_miou=[0.2, 0.95, 0.9, 1.0])) == 1  # exactly 95% counts


def test_convergence_skips_missing_and_nan_and_is_none_without_learning():
    assert convergence_epoch(history(val_miou=[0.1, None, math.nan, 0.6, 0.6])) == 3
    assert convergence_epoch(history(val_miou=[0.0, 0.0, 0.0])) is None  # best 0: every epoch would "count"
    assert convergence_epoch(history(val_loss=[1.0, 0.9])) is None  # no val/miou at all
    assert convergence_epoch([]) is None


# --------------------------------------------------------------------------------------- overfitting onset
def test_u_shaped_val_loss_with_falling_train_loss_overfits_from_the_minimum():
    h = history(val_loss=[1.0, 0.7, 0.5, 0.6, 0.8], train_loss=[1.0, 0.8, 0.6, 0.4, 0.3])
    assert overfitting_onset(h) == 2


def test_monotone_falling_val_loss_has_no_onset():
    assert overfitting_onset(history(val_loss=[1.0, 0.8, 0.6, 0.5], train_loss=[1.1, 0.9, 0.7, 0.6])) is None


def test_a_tie_at_the_minimum_takes_the_last_epoch_at_it():
    h = history(val_loss=[1.0, 0.5, 0.5, 0.7], train_loss=[1.0, 0.8, 0.6, 0.4])
    assert overfitting_onset(h) == 2
    h = history(val_loss=[1.0, 0.5, 0.7, 0.5], train_loss=[1.0, 0.8, 0.6, 0.4])
    assert overfitting_onset(h) is None  # back at the minimum in the last epoch: not stopped improving


def test_rising_val_loss_with_rising_train_loss_is_not_overfitting():
    assert overfitting_onset(history(val_loss=[0.8, 0.5, 0.9, 1.2], train_loss=[0.9, 0.6, 0.7, 0.8])) is None


def test_onset_skips_nan_and_missing_values():
    h = history(val_loss=[1.0, 0.4, math.nan, 0.6, None], train_loss=[1.0, 0.8, 0.6, 0.5, 0.3])
    assert overfitting_onset(h) == 1  # epoch 3 has a higher val loss and a lower train loss than epoch 1
    h = history(val_loss=[1.0, 0.4, 0.6], train_loss=[1.0, None, 0.5])
    assert overfitting_onset(h) is None  # no train loss at e* to compare with
    assert overfitting_onset(history(val_loss=[math.nan, math.nan], train_loss=[1.0, 0.5])) is None
    assert overfitting_onset([]) is None


# ------------------------------------------------------------------------------------------------- names
def test_runs_are_named_by_the_overrides_that_differ():
    def job(n: int, overrides: list[str] | None) -> Job:
        return Job(Path(str(n)), overrides, None, "done")

    jobs = [job(0, ["trainer=cpu", "model=unet", "seed=1"]), job(1, ["trainer=cpu", "model=unetpp", "seed=1"])]
    jobs.append(job(2, None))  # a job that left no overrides.yaml does not change what is shared
    name_runs(jobs)
    assert [j.label for j in jobs] == ["model=unet", "model=unetpp", "job 2"]
    assert swept_values(jobs) == {"model": ["unet", "unetpp"]}
    twins = [job(0, ["model=unet"]), job(1, ["model=unet"])]  # e.g. an optuna sampler repeating a trial
    name_runs(twins)
    assert [j.label for j in twins] == ["job 0", "job 1"]


# ------------------------------------------------------------------------------------ a hand-made sweep
def write_job(sweep: Path, n: int, overrides: list[str], hist: list[dict] | None, grid_size: tuple | None = None):
    job = sweep / str(n)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if hist is not None:
        best = max(hist, key=lambda h: h["val/miou"])
        metrics = {"best_val": best, "test": {"test/acc": 0.9, "test/miou": 0.5}, "epochs_run": len(hist)}
        (job / "metrics.json").write_text(json.dumps(metrics | {"history": hist}))
    if grid_size is not None:
        (job / "images").mkdir()
        for epoch, colour in ((0, "gray"), (3, "teal")):  # the report must pick the latest
            Image.new("RGB", grid_size, colour).save(job / "images" / f"val_epoch_{epoch:03d}.png")
    return job


@pytest.fixture
def hand_made_sweep(tmp_path: Path) -> Path:
    sweep = tmp_path / "multirun" / "2026-01-01" / "12-00-00"
    shared = ["experiment=quickstart", "trainer.max_epochs=4"]
    overfit = history(val_loss=[1.0, 0.6, 0.7, 0.9], train_loss=[1.0, 0.7, 0.5, 0.3], val_miou=[0.2, 0.5, 0.52, 0.5])
    steady = history(val_loss=[1.0, 0.8, 0.6, 0.5], train_loss=[1.1, 0.9, 0.7, 0.6], val_miou=[0.1, 0.3, 0.55, 0.6])
    write_job(sweep, 0, [*shared, "model=unet"], overfit, grid_size=(40, 30))
    write_job(sweep, 1, [*shared, "model=unetpp"], steady, grid_size=(40, 30))
    write_job(sweep, 2, [*shared, "model=colour_baseline"], None)  # crashed: no metrics.json
    cut_off = [*shared, "model=unet", "model.optimizer.lr=0.1"]  # not seed=3: that would make a seed axis
    (write_job(sweep, 3, cut_off, None) / "metrics.json").write_text('{"best_val": ')
    return sweep


def files_in_jobs(sweep: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in sweep.glob("[0-9]*/**/*")}


def test_report_of_a_hand_made_sweep(hand_made_sweep: Path, capsys: pytest.CaptureFixture):
    before = files_in_jobs(hand_made_sweep)
    main([str(hand_made_sweep)])
    report = (hand_made_sweep / "report" / "report.md").read_text()
    assert files_in_jobs(hand_made_sweep) == before  # nothing written into a job folder
    assert "`model` = unet, unetpp, colour_baseline" in report
    assert "4 jobs: 2 done, 2 failed." in report
    assert "| `model=unet` | 0 | 4 | 0.5200 (2) | 0.9000 | 0.9000 | 0.5000 | epoch 1 | epoch 1 |" in report
    assert (
        "| `model=unetpp` | 1 | 4 | 0.6000 (3) | 0.5000 | 0.9000 | 0.5000 | epoch 3 | none within 4 epochs |" in report
    )
    assert "`model=unet` converged first" in report
    assert "`model=unetpp` reached the highest best val mIoU, 0.6000 (epoch 3), 0.0800 above `model=unet`" in report
    assert "`model=unet` started overfitting after epoch 1" in report
    assert "job 2 (`model=colour_baseline`): failed: no metrics.json" in report
    assert "job 3 (`model=unet model.optimizer.lr=0.1`): failed: unreadable metrics.json" in report
    assert "![latest prediction grid of each run, side by side](predictions.png)" in report
    with Image.open(hand_made_sweep / "report" / "predictions.png") as grids:
        assert grids.width >= 2 * 40 and grids.getpixel((20, grids.height - 15))[:3] == (0, 128, 128)  # epoch 3
    assert "report: " in capsys.readouterr().out


def test_html_report_and_a_run_without_prediction_grid(hand_made_sweep: Path, tmp_path: Path):
    Image.new("RGB", (50, 30)).save(hand_made_sweep / "1" / "images" / "val_epoch_003.png")  # sizes now differ
    main([str(hand_made_sweep), "--out", str(tmp_path / "html"), "--format", "html"])
    page = (tmp_path / "html" / "report.html").read_text()
    assert "<td><code>model=unet</code></td><td>0</td>" in page
    assert {"predictions_job0.png", "predictions_job1.png", "val_loss.png"} <= {
        p.name for p in (tmp_path / "html").iterdir()
    }
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (tmp_path / "html" / src).stat().st_size > 0
    (hand_made_sweep / "1" / "images" / "val_epoch_003.png").unlink()
    (hand_made_sweep / "1" / "images" / "val_epoch_000.png").unlink()
    main([str(hand_made_sweep)])
    report = (hand_made_sweep / "report" / "report.md").read_text()
    assert "`model=unetpp`: no prediction grid (no images/val_epoch_*.png in `1/`)." in report


# ------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("case", ["missing", "empty", "single run", "out inside a job"])
def test_bad_input_exits_1_with_one_line_naming_the_path(case, hand_made_sweep, tmp_path, capsys):
    path, args = tmp_path / "nowhere", []
    if case == "empty":
        path.mkdir()
    elif case == "single run":
        path = hand_made_sweep / "0"
    elif case == "out inside a job":
        path, args = hand_made_sweep, ["--out", str(hand_made_sweep / "0" / "report")]
    with pytest.raises(SystemExit) as exit_:
        main([str(path), *args])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("ConfigError: ") and err.count("\n") == 1 and str(path) in err
    if case == "single run":
        assert f"{path}/plots" in err and "multirun" in err


@pytest.mark.slow  # runs the CLI
def test_cli_bad_path_and_help(capsys):
    proc = run_module("src.report", ["does/not/exist"])
    assert proc.returncode == 1
    assert proc.stderr.startswith("ConfigError: does/not/exist: no such folder") and proc.stderr.count("\n") == 1
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "outputs/multirun/<date>/<time>" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ a real tiny sweep
@pytest.mark.slow
def test_report_of_a_real_unet_vs_unetpp_multirun(tmp_path: Path, data_cache: Path):
    sweep = tmp_path / "sweep"
    args = ["-m", *TINY, "model=unet,unetpp", "trainer.max_epochs=3", "model.optimizer.lr=0.02"]  # lr: learns a bit
    proc = run_module("src.train", [*args, f"paths.data_dir={data_cache}", f"hydra.sweep.dir={sweep}"])
    assert proc.returncode == 0, proc.stderr[-3000:]

    proc = run_module("src.report", [str(sweep)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report_file = sweep / "report" / "report.md"
    assert f"report: {report_file}" in proc.stdout
    report = report_file.read_text()
    assert "`model` = unet, unetpp" in report and "2 jobs: 2 done, 0 failed." in report
    for job, name in (("0", "model=unet"), ("1", "model=unetpp")):
        best = json.loads((sweep / job / "metrics.json").read_text())["best_val"]
        row = next(line for line in report.splitlines() if line.startswith(f"| `{name}` | {job} |"))
        assert f"| {best['val/miou']:.4f} ({best['epoch']}) |" in row
    # Both grids side by side, though their legends may list different classes (and so differ in height).
    assert "![latest prediction grid of each run, side by side](predictions.png)" in report
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", report)
    assert {"val_loss.png", "val_miou.png", "train_loss.png"} <= set(links)
    for link in links:
        assert (sweep / "report" / link).stat().st_size > 0
