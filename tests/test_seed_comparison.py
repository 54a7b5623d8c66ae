"""Sweeps over seeds: grouping, mean/sd/CI, paired differences and the verdict sentences, on hand-made sweeps
whose numbers are known (checked against the closed form for 2 degrees of freedom and against scipy)."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
from PIL import Image
from scipy import stats

from src.report import main
from src.sweeps.groups import group_jobs
from src.sweeps.jobs import Job, read_jobs
from src.sweeps.seed_comparison import p_value
from src.sweeps.spread import paired_difference, spread
from src.sweeps.summary import SweepSummary
from tests.helpers import TINY, run_module

T_975_DF2 = 4.302652729749464  # the 97.5% quantile of Student's t with 2 degrees of freedom (tables)


def p_two_sided_df2(t: float) -> float:
    """Student's t with 2 degrees of freedom has a closed-form tail: P(|T| > t) = 1 - t / sqrt(t^2 + 2)."""
    return 1 - abs(t) / math.sqrt(t * t + 2)


def test_spread_of_three_values_by_hand():
    s = spread([0.70, 0.72, 0.74])
    assert (s.n, s.mean, s.sd) == (3, pytest.approx(0.72), pytest.approx(0.02))
    half = T_975_DF2 * 0.02 / math.sqrt(3)
    assert (s.low, s.high) == (pytest.approx(0.72 - half), pytest.approx(0.72 + half))
    assert s.p == pytest.approx(p_two_sided_df2(0.72 / (0.02 / math.sqrt(3))))


def test_paired_difference_matches_the_hand_computation_and_scipy():
    a = {1: 0.75, 2: 0.78, 3: 0.74, 9: 0.5}  # seed 9 has no partner: left out
    b = {1: 0.72, 2: 0.74, 3: 0.73}
    d = paired_difference(a, b)
    diffs = [0.03, 0.04, 0.01]
    mean, sd = sum(diffs) / 3, math.sqrt(sum((x - sum(diffs) / 3) ** 2 for x in diffs) / 2)
    assert (d.n, d.mean, d.sd) == (3, pytest.approx(mean), pytest.approx(sd))
    t = mean / (sd / math.sqrt(3))
    assert d.p == pytest.approx(p_two_sided_df2(t)) == pytest.approx(0.0942, abs=1e-4)
    assert d.p == pytest.approx(stats.ttest_rel([0.75, 0.78, 0.74], [0.72, 0.74, 0.73]).pvalue)
    assert d.low == pytest.approx(mean - T_975_DF2 * sd / math.sqrt(3)) and d.low < 0 < d.high
    assert not d.excludes_zero


def test_one_value_has_no_spread_and_no_shared_seed_no_difference():
    one = spread([0.6])
    assert (one.n, one.mean, one.sd, one.low, one.high, one.p) == (1, 0.6, None, None, None, None)
    assert paired_difference({1: 0.5}, {2: 0.4}) is None
    same = paired_difference({1: 3.0, 2: 4.0}, {1: 2.0, 2: 3.0})  # +1 in each seed: no spread, a clear difference
    assert (same.sd, same.p, same.excludes_zero) == (0.0, None, True)
    with pytest.raises(ValueError):
        spread([])


# ------------------------------------------------------------------------------------ a hand-made seed sweep
def run(best: float, last: float, test: float, overfits: bool) -> dict:
    """metrics.json of a 3-epoch run: best val mIoU at epoch 1 (converged there), overfitting from 1 if asked."""
    val_loss = [1.0, 0.6, 0.7] if overfits else [1.0, 0.8, 0.6]
    miou = [best - 0.2, best, last]
    history = [
        {"epoch": e, "val/miou": miou[e], "val/loss": val_loss[e], "train/loss": [1.0, 0.7, 0.5][e]} for e in range(3)
    ]
    best_val = {"epoch": 1, "val/miou": best, "val/acc": 0.9, "val/loss": 0.6}
    return {
        "best_val": best_val,
        "last_val": {"val/miou": last},
        "test": {"test/miou": test, "test/acc": 0.9},
        "history": history,
        "epochs_run": 3,
    }


UNET = {1: (0.70, 0.69, 0.72), 2: (0.71, 0.70, 0.74), 3: (0.69, 0.68, 0.73)}  # seed: best val, last val, test
UNETPP = {1: (0.75, 0.74, 0.75), 2: (0.77, 0.76, 0.78), 3: (0.745, 0.73, 0.74)}


def write_job(sweep: Path, n: int, overrides: list[str], metrics: dict | None) -> None:
    job = sweep / str(n)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
        (job / "images").mkdir()
        Image.new("RGB", (40, 30), "teal").save(job / "images" / "val_epoch_002.png")


@pytest.fixture
def seed_sweep(tmp_path: Path) -> Path:
    """model=unet,unetpp x seed=1,2,3 in Hydra's job order, a failed 4th UNet seed, one colour-baseline seed."""
    sweep = tmp_path / "multirun" / "2026-01-01" / "12-00-00"
    n = 0
    for seed in (1, 2, 3):
        for model, numbers, overfits in (("unet", UNET, False), ("unetpp", UNETPP, True)):
            overrides = ["experiment=quickstart", f"model={model}", f"seed={seed}"]
            write_job(sweep, n, overrides, run(*numbers[seed], overfits))
            n += 1
    # a 4th UNet seed, resumed with other loader workers, that crashed: still model=unet's
    write_job(sweep, 6, ["experiment=quickstart", "model=unet", "seed=4", "data.num_workers=2", "resume=true"], None)
    write_job(sweep, 7, ["experiment=quickstart", "model=colour_baseline", "seed=1"], run(0.3, 0.3, 0.3, False))
    return sweep


def test_jobs_group_by_overrides_without_seed_worker_count_and_resume(seed_sweep: Path):
    groups = group_jobs(read_jobs(seed_sweep))
    assert [(g.label, [j.number for j in g.jobs]) for g in groups] == [
        ("model=unet", ["0", "2", "4", "6"]),
        ("model=unetpp", ["1", "3", "5"]),
        ("model=colour_baseline", ["7"]),
    ]
    assert [j.seed for j in groups[0].jobs] == [1, 2, 3, 4]
    assert [j.number for j in groups[0].failed] == ["6"]
    folder = seed_sweep / "8"
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("- model=unet\n")
    (folder / ".hydra" / "config.yaml").write_text("seed: 42\nmodel: {}\n")
    job = read_jobs(seed_sweep)[-1]
    assert isinstance(job, Job) and job.seed == 42  # no seed override: the one its config ran with


def test_an_ablation_s_reference_row_is_named_the_base_and_a_single_recipe_all_jobs(tmp_path: Path):
    """scripts/camvid_ablation.sh's shape: the preset with no lever of its own, then one lever per row."""
    for n, lever in enumerate([[], [], ["model/loss=ce"], ["model/loss=ce"]]):
        write_job(tmp_path, n, ["experiment=camvid", *lever, f"seed={n % 2 + 1}"], None)
    assert [g.label for g in group_jobs(read_jobs(tmp_path))] == ["base (the shared overrides only)", "model/loss=ce"]
    one = tmp_path / "single"
    for n in range(2):
        write_job(one, n, ["experiment=camvid", f"seed={n + 1}"], None)
    assert [g.label for g in group_jobs(read_jobs(one))] == ["all jobs"]


def test_report_gives_group_statistics_paired_verdicts_and_a_band_figure(seed_sweep: Path, capsys):
    main([str(seed_sweep)])
    report = (seed_sweep / "report" / "report.md").read_text()
    best = spread([0.70, 0.71, 0.69])
    half = T_975_DF2 * 0.01 / math.sqrt(3)
    assert best.sd == pytest.approx(0.01)
    row = next(line for line in report.splitlines() if line.startswith("| `model=unet` | 3/4 | 1, 2, 3 |"))
    assert f"0.700 ± 0.010 (95% CI {0.70 - half:.3f} to {0.70 + half:.3f})" in row
    assert "| 0/3 runs |" in row  # UNet never overfits
    pp_row = next(line for line in report.splitlines() if line.startswith("| `model=unetpp` | 3/3 |"))
    assert "| 3/3 runs: epoch 1.0 ± 0.0 (95% CI 1.0 to 1.0) |" in pp_row
    assert "| `model=colour_baseline` | 1/1 | 1 | 0.300 (n = 1: no spread) |" in report
    assert "`model=unet`: 1 of 4 jobs failed (job 6) and are left out of its statistics." in report

    # best val mIoU: UNet++ - UNet = [0.05, 0.06, 0.055] per seed
    diffs = [0.05, 0.06, 0.055]
    d_mean, d_sd = 0.055, 0.005
    d_half = T_975_DF2 * d_sd / math.sqrt(3)
    p = p_two_sided_df2(d_mean / (d_sd / math.sqrt(3)))
    assert spread(diffs).p == pytest.approx(p)
    assert (
        f"`model=unetpp` beats `model=unet` by +0.055 best val mIoU (95% CI +{d_mean - d_half:.3f} to"
        f" +{d_mean + d_half:.3f}, 3 seeds, paired t-test p = {p:.2g})." in report
    )
    # test mIoU: [0.03, 0.04, 0.01]: the interval crosses 0
    assert (
        "No difference in test mIoU detectable between `model=unetpp` and `model=unet` with 3 seeds"
        " (`model=unetpp` - `model=unet` = +0.027; 95% CI -0.011 to +0.065, paired t-test p = 0.094)." in report
    )
    assert "No difference in convergence epoch between `model=unetpp` and `model=unet`: equal in each of 3" in report
    assert "Overfitting: onset in 3/3 runs of `model=unetpp` and 0/3 of `model=unet`; fewer than 2 seeds" in report
    assert (
        "`model=colour_baseline` vs `model=unet`: on their one shared seed, `model=colour_baseline` - `model=unet`:"
        " best val mIoU -0.400, final val mIoU -0.390, test mIoU -0.420, test pixel acc +0.000, convergence epoch"
        " +0.0 epochs; no spread can be given (n < 2)." in report
    )
    assert "± 0.000 (95% CI" not in report.split("colour_baseline")[-1]  # n = 1 never prints a zero spread

    assert "![each group's mean per epoch, band min to max over its seeds](comparison.png)" in report
    with Image.open(seed_sweep / "report" / "comparison.png") as figure:
        assert figure.width > 2 * figure.height  # one figure, three panels side by side
    assert "val_miou.png" not in report  # no per-run tangle
    printed = capsys.readouterr().out.splitlines()  # the verdicts, one per line
    assert printed[0].startswith("model=unetpp beats model=unet by +0.055 best val mIoU (95% CI +0.043 to +0.067")


def test_summary_gains_one_row_per_group_with_mean_and_sd(seed_sweep: Path):
    SweepSummary().write(seed_sweep, show=False)
    rows = json.loads((seed_sweep / "summary.json").read_text())
    assert [r["job"] for r in rows] == [*map(str, range(8)), "group", "group", "group"]
    unet, unetpp, colour = rows[8:]
    assert (unet["swept"], unet["status"], unet["n"], unet["jobs"]) == ("model=unet", "3/4 done", 3, "0 2 4 6")
    assert unet["val/miou"] == pytest.approx(0.70) and unet["val/miou sd"] == pytest.approx(0.01)
    assert unetpp["test/miou"] == pytest.approx((0.75 + 0.78 + 0.74) / 3)
    assert (colour["n"], colour["test/miou"], colour["test/miou sd"]) == (1, 0.3, None)  # n = 1: no sd
    with open(seed_sweep / "summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert table[8]["job"] == "group" and float(table[8]["val/miou sd"]) == pytest.approx(0.01)
    assert table[0]["val/miou sd"] == ""  # a job row has no spread


def test_a_sweep_without_seed_axis_says_no_spread_can_be_given(tmp_path: Path):
    sweep = tmp_path / "sweep"
    write_job(sweep, 0, ["model=unet"], run(0.7, 0.7, 0.7, False))
    write_job(sweep, 1, ["model=unetpp"], run(0.8, 0.8, 0.8, False))
    main([str(sweep)])
    report = (sweep / "report" / "report.md").read_text()
    assert "One run per recipe, so no spread can be given (n < 2)" in report and "± " not in report
    SweepSummary().write(sweep, show=False)
    assert [r["job"] for r in json.loads((sweep / "summary.json").read_text())] == ["0", "1"]
    assert "sd" not in (sweep / "summary.csv").read_text().splitlines()[0]


# ------------------------------------------------------------------------------------ a real sweep over seeds
@pytest.mark.slow
def test_a_real_sweep_over_seeds_is_summarised_and_reported_per_group(tmp_path: Path, data_cache: Path):
    sweep = tmp_path / "sweep"
    args = ["-m", *TINY, "model=unet,unetpp", "seed=1,2", "trainer.max_epochs=2", "model.optimizer.lr=0.02"]
    proc = run_module("src.train", [*args, f"paths.data_dir={data_cache}", f"hydra.sweep.dir={sweep}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((sweep / "summary.json").read_text())
    groups = {r["swept"]: r for r in rows if r["job"] == "group"}
    assert set(groups) == {"model=unet", "model=unetpp"} and len(rows) == 6
    for label, group in groups.items():
        jobs = [r for r in rows if r["job"] in group["jobs"].split()]
        for r, seed in zip(jobs, (1, 2), strict=True):
            assert {label, f"seed={seed}"} <= set(r["overrides"].split())
        values = [r["val/miou"] for r in jobs]
        assert group["n"] == 2 and group["val/miou"] == pytest.approx(sum(values) / 2)
        assert group["val/miou sd"] == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    assert " ± " in proc.stdout  # the printed table shows each group's mean ± sd

    proc = run_module("src.report", [str(sweep)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = (sweep / "report" / "report.md").read_text()
    assert "| `model=unet` | 2/2 | 1, 2 |" in report and "| `model=unetpp` | 2/2 | 1, 2 |" in report
    verdict = re.search(
        r"`model=unetpp` beats `model=unet` by \+[0-9.]+ best val mIoU \(95% CI .*, 2 seeds, paired"
        r"|`model=unet` beats `model=unetpp` by \+[0-9.]+ best val mIoU \(95% CI .*, 2 seeds, paired"
        r"|No difference in best val mIoU detectable between `model=unetpp` and `model=unet` with 2",
        report,
    )
    assert verdict, report
    assert (sweep / "report" / "comparison.png").stat().st_size > 0
    assert "side by side](predictions.png)" in report  # one grid per group


def test_a_tiny_p_value_is_not_printed_as_zeros():
    assert (p_value(0.0004), p_value(0.0312), p_value(0.52)) == ("p < 0.001", "p = 0.031", "p = 0.52")
