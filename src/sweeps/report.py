"""A sweep's report: its jobs' curves, final metrics, analysis, prediction grids and failures in one document.

Reads the jobs once (`jobs.py`), draws the figures into the report's folder and writes `report.md` or
`report.html` beside them, linked by file name so the folder can be moved. Nothing is written into a job folder.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from src.core.errors import ConfigError
from src.figures.curves import plot_runs
from src.figures.group_curves import plot_groups
from src.figures.side_by_side import side_by_side
from src.sweeps import seed_comparison
from src.sweeps.analysis import DEFINITIONS, analysis, metrics_table
from src.sweeps.groups import Group, group_jobs
from src.sweeps.jobs import Job, differing_overrides, find_jobs, name_runs, swept_values
from src.sweeps.render import Block, to_html, to_markdown
from src.sweeps.statistics import RunNumbers, finite_series, run_numbers

MAX_SIDE_BY_SIDE = 3  # more grids than this in one row get too small to read: shown one after the other
CURVES = (  # file, metric, axis label
    ("val_loss.png", "val/loss", "cross-entropy loss"),
    ("val_miou.png", "val/miou", "mean IoU"),
    ("train_loss.png", "train/loss", "cross-entropy loss"),
)
GRID_COLUMNS = "input | ground truth | prediction | uncertainty"
ONE_SEED = (
    "One run per recipe, so no spread can be given (n < 2) and every gap above includes run-to-run variation;"
    " sweep over seeds (e.g. add `seed=1,2,3`) for means, intervals and paired verdicts."
)


def latest_grid(folder: Path) -> tuple[int, Path] | None:
    """(epoch, file) of the job's newest images/val_epoch_XXX.png, or None."""
    files = (folder / "images").glob("val_epoch_*.png")
    grids = [(int(epoch), p) for p in files if (epoch := p.stem.removeprefix("val_epoch_")).isdigit()]
    return max(grids) if grids else None


def curve_blocks(jobs: list[Job], out_dir: Path) -> list[Block]:
    """Per metric of CURVES, one chart of every run drawn into out_dir, or a line saying no run logged it."""
    histories = {j.label: j.history for j in jobs}
    blocks: list[Block] = []
    for file, key, ylabel in CURVES:
        if any(finite_series(h, key)[0] for h in histories.values()):
            plot_runs(histories, key, ylabel, out_dir / file)
            blocks.append(("img", f"{key} of every run", file))
        else:
            blocks.append(("p", f"No run logged `{key}`."))
    return blocks


def seed_blocks(groups: list[Group], runs: dict[str, RunNumbers], out_dir: Path) -> tuple[list[Block], list[str]]:
    """The comparison figure (mean and min-max band per group), the group table and the paired verdicts."""
    histories = {g.label: [j.history for j in g.done] for g in groups if g.done}
    panels = [(key, ylabel) for _, key, ylabel in CURVES]
    blocks: list[Block] = [("h2", "Curves and groups over seeds")]
    if plot_groups(histories, panels, out_dir / "comparison.png"):
        blocks.append(("img", "each group's mean per epoch, band min to max over its seeds", "comparison.png"))
    blocks += [("table", *seed_comparison.group_table(groups, runs)), ("p", seed_comparison.DEFINITIONS)]
    failed = seed_comparison.failed_in_groups(groups)
    words = seed_comparison.verdicts(groups, runs) or ["Only one group: nothing to compare it with."]
    return blocks + ([("p", " ".join(failed))] if failed else []), words + failed


def prediction_blocks(jobs: list[Job], out_dir: Path) -> list[Block]:
    """Each job's latest prediction grid: side by side in one PNG when few and they fit, else one copy each."""
    blocks: list[Block] = [("p", f"Rows: the same fixed validation samples for every run; columns: {GRID_COLUMNS}.")]
    found = {job.number: (job, grid) for job in jobs if (grid := latest_grid(job.folder)) is not None}
    titled = {f"{job.label} (epoch {epoch})": path for job, (epoch, path) in found.values()}
    if 1 < len(found) <= MAX_SIDE_BY_SIDE and side_by_side(titled, out_dir / "predictions.png"):
        blocks.append(("img", "latest prediction grid of each run, side by side", "predictions.png"))
    else:
        for job, (epoch, path) in found.values():
            name = f"predictions_job{job.number}.png"
            shutil.copyfile(path, out_dir / name)
            blocks += [("p", f"`{job.label}`, epoch {epoch}:"), ("img", f"{job.label} predictions", name)]
    blocks += [
        ("p", f"`{job.label}`: no prediction grid (no images/val_epoch_*.png in `{job.number}/`).")
        for job in jobs
        if job.number not in found
    ]
    return blocks


def build_report(sweep_dir: Path, out_dir: Path) -> tuple[list[Block], str]:
    """Draw the figures into out_dir and return the report's blocks and its analysis paragraph."""
    jobs = find_jobs(sweep_dir)
    for job in jobs:
        if out_dir.resolve().is_relative_to(job.folder.resolve()):
            raise ConfigError(f"--out {out_dir} is inside job folder {job.folder}: the report never writes there")
    name_runs(jobs)
    done = [j for j in jobs if j.status == "done"]
    failed = [j for j in jobs if j.status != "done"]
    out_dir.mkdir(parents=True, exist_ok=True)

    swept = swept_values(jobs)
    shared = differing_overrides(jobs)[1]
    blocks: list[Block] = [
        ("h1", f"Sweep report: {sweep_dir.resolve().parent.name}/{sweep_dir.resolve().name}"),
        ("p", f"Sweep folder: `{sweep_dir.resolve()}` (reported {datetime.now():%Y-%m-%d %H:%M})."),
        ("p", "Swept: " + ("; ".join(f"`{k}` = {', '.join(v)}" for k, v in swept.items()) or "nothing differs")),
        ("p", f"Shared by all jobs: `{' '.join(shared)}`" if shared else "No override shared by all jobs."),
        ("p", f"{len(jobs)} jobs: {len(done)} done, {len(failed)} failed."),
    ]
    runs = [run_numbers(j) for j in done]
    groups = group_jobs(jobs)
    if len(groups) < len(jobs):  # a seed axis: curves, table and verdicts per recipe, not per run
        group_part, sentences = seed_blocks(groups, {r.job.number: r for r in runs}, out_dir)
        words, said, shown = "\n".join(sentences), ("ul", sentences), [g.done[0] for g in groups if g.done]
    else:
        group_part = [("h2", "Curves"), *curve_blocks(done, out_dir)]
        words, shown = f"{analysis(runs)} {ONE_SEED}" if runs else analysis(runs), done
        said = ("p", words)
    blocks += [*group_part, ("h2", "Final metrics"), ("table", *metrics_table(runs)), ("p", DEFINITIONS)]
    blocks += [("h2", "Analysis"), said]
    blocks += [("h2", "Predictions (latest epoch of each run)"), *prediction_blocks(shown, out_dir)]
    blocks += [("h2", "Failed jobs")]
    blocks.append(("ul", [f"job {j.number} (`{j.label}`): {j.status}" for j in failed]) if failed else ("p", "None."))
    return blocks, words


def write_report(sweep_dir: Path, out_dir: Path | None = None, fmt: str = "md") -> tuple[Path, str]:
    """Write report.md (or report.html, `fmt="html"`) and its PNGs into out_dir (default <sweep_dir>/report);
    returns the report's path and the analysis paragraph."""
    out_dir = out_dir or sweep_dir / "report"
    blocks, words = build_report(sweep_dir, out_dir)
    path = out_dir / f"report.{fmt}"
    path.write_text(to_html(blocks) if fmt == "html" else to_markdown(blocks))
    return path, words
