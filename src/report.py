"""Compare the runs of a sweep: `python -m src.report outputs/multirun/<date>/<time>/ [--out DIR] [--format md|html]`.

Reads each job folder the sweep left (`.hydra/overrides.yaml`, `metrics.json` with its per-epoch `history`,
`images/val_epoch_*.png`) and writes, into `<sweep>/report/` unless `--out` says otherwise, `report.md` (or
`report.html`) beside its PNGs, linked by file name so the folder can be moved: the swept overrides, the val
loss / val mIoU / train loss of every run in one chart each, a table of final metrics with convergence and
overfitting onset (defined in `convergence_epoch` and `overfitting_onset`), a short analysis in words, the
runs' latest prediction grids side by side, and the failed jobs. Nothing is written into a job folder.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import re
import shutil
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from src.core.errors import ConfigError
from src.core.history import series
from src.figures.curves import plot_runs
from src.figures.side_by_side import side_by_side

History = list[dict[str, float]]
MISSING = "-"  # a table cell without a value
CONVERGED = 0.95  # share of a run's own best val mIoU that counts as converged
MAX_SIDE_BY_SIDE = 3  # more grids than this in one row get too small to read: shown one after the other
CURVES = (  # file, metric, axis label
    ("val_loss.png", "val/loss", "cross-entropy loss"),
    ("val_miou.png", "val/miou", "mean IoU"),
    ("train_loss.png", "train/loss", "cross-entropy loss"),
)
GRID_COLUMNS = "input | ground truth | prediction | uncertainty"
DEFINITIONS = (
    f"**Convergence**: the first epoch at which `val/miou` reached {CONVERGED:.0%} of that run's own best"
    " `val/miou` (none when the best is 0). **Overfitting onset**: e\\*, the last epoch at which `val/loss` is at"
    " its minimum, counted as the onset only if a later epoch has a lower `train/loss` than e\\* had (val loss"
    " no longer improving while train loss still falls); otherwise none within the epochs run. Epochs count"
    " from 0 as logged; an epoch without a value (or NaN) is skipped. One noisy rise of val loss in the last"
    " epoch is enough for an onset: check it against the curves."
)


# ---------------------------------------------------------------------------------------------------- metrics
def finite_series(history: History, key: str) -> tuple[list[int], list[float]]:
    """`series(history, key)` without the epochs whose value is missing, null or NaN."""
    points = [(e, float(v)) for e, v in zip(*series(history, key), strict=True) if is_number(v)]
    return [e for e, _ in points], [v for _, v in points]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def best_epoch(history: History, key: str = "val/miou") -> tuple[int, float] | None:
    """(epoch, value) of the highest `key`, the first such epoch on a tie; None without a value."""
    epochs, values = finite_series(history, key)
    if not values:
        return None
    best = max(values)
    return epochs[values.index(best)], best


def convergence_epoch(history: History, key: str = "val/miou", fraction: float = CONVERGED) -> int | None:
    """The first epoch at which `key` reached `fraction` of its best value over the run.

    None without a value, or when the best is <= 0: a run that learnt nothing would "converge" at epoch 0.
    """
    epochs, values = finite_series(history, key)
    if not values or max(values) <= 0:
        return None
    target = fraction * max(values)
    return next(e for e, v in zip(epochs, values, strict=True) if v >= target)


def overfitting_onset(history: History, val_key: str = "val/loss", train_key: str = "train/loss") -> int | None:
    """The epoch after which val loss stopped improving while train loss kept falling, or None.

    e* is the last epoch at which `val_key` is at its minimum (a later epoch that ties the minimum is not
    worse, so the last one is taken); every later epoch therefore has a higher val loss. e* is the onset if
    at least one later epoch (with a val loss) has a lower `train_key` than e* had. Missing and NaN values
    are skipped; None when no epoch follows e*, or when e* has no train loss to compare with.
    """
    val_epochs, val_values = finite_series(history, val_key)
    if not val_values:
        return None
    lowest = min(val_values)
    e_star = max(e for e, v in zip(val_epochs, val_values, strict=True) if v == lowest)
    train = dict(zip(*finite_series(history, train_key), strict=True))
    if e_star not in train:
        return None
    later = [e for e in val_epochs if e > e_star and e in train]
    return e_star if any(train[e] < train[e_star] for e in later) else None


# ------------------------------------------------------------------------------------------------------ jobs
@dataclass
class Job:
    """One numbered job folder of a sweep and what it left."""

    folder: Path
    overrides: list[str] | None  # None: no .hydra/overrides.yaml
    metrics: dict[str, Any] | None  # None unless status is "done"
    status: str  # "done", or what is wrong
    label: str = ""  # the run's name in the report: its overrides that differ between jobs

    @property
    def number(self) -> str:
        return self.folder.name

    @property
    def history(self) -> History:
        return (self.metrics or {}).get("history") or []


def load_job(folder: Path) -> Job:
    overrides_file = folder / ".hydra" / "overrides.yaml"
    overrides = None
    if overrides_file.is_file():
        overrides = [str(o) for o in OmegaConf.to_container(OmegaConf.load(overrides_file)) or []]
    metrics_file = folder / "metrics.json"
    log = f"see {folder.name}/train.log"
    if not metrics_file.is_file():
        return Job(
            folder, overrides, None, f"failed: no metrics.json (stopped before the end of fit, or still running; {log})"
        )
    try:
        metrics = json.loads(metrics_file.read_text())
    except (OSError, ValueError) as err:
        return Job(folder, overrides, None, f"failed: unreadable metrics.json ({err}; {log})")
    if not isinstance(metrics, dict) or not (metrics.get("history") or metrics.get("best_val")):
        return Job(folder, overrides, None, f"incomplete: metrics.json records no validation epoch ({log})")
    return Job(folder, overrides, metrics, "done")


def find_jobs(sweep_dir: Path) -> list[Job]:
    """The numbered job folders of a multirun, in job order; ConfigError when `sweep_dir` is not one."""
    expected = "expected a multirun folder such as outputs/multirun/<date>/<time>/ (made by python -m src.train -m ...)"
    if not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: no such folder; {expected}")
    folders = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    if folders:
        return [load_job(folder) for folder in folders]
    if (sweep_dir / "metrics.json").is_file() or (sweep_dir / ".hydra").is_dir():
        raise ConfigError(
            f"{sweep_dir} is a single run's folder, not a multirun: {expected}; this run's curves are in"
            f" {sweep_dir / 'plots'}"
        )
    sweeps = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and any(q.name.isdigit() for q in p.iterdir()))
    hint = f"; it holds sweep folders, e.g. {sweeps[-1]}" if sweeps else ""
    raise ConfigError(f"{sweep_dir}: no job folders (0/, 1/, ...); {expected}{hint}")


def differing_overrides(jobs: list[Job]) -> tuple[list[list[str]], list[str]]:
    """Per job, its overrides that not every job has (the swept values); and the overrides all jobs share."""
    known = [set(j.overrides) for j in jobs if j.overrides is not None]
    shared = set.intersection(*known) if len(known) > 1 else set()
    differing = [[o for o in (j.overrides or []) if o not in shared] for j in jobs]
    first = next((j.overrides for j in jobs if j.overrides is not None), [])
    return differing, [o for o in first if o in shared]


def name_runs(jobs: list[Job]) -> None:
    """Label each job by its differing overrides (`model=unet`); `job N` when none differ or two labels clash."""
    differing, _ = differing_overrides(jobs)
    labels = [" ".join(d) or f"job {j.number}" for d, j in zip(differing, jobs, strict=True)]
    for job, label in zip(jobs, labels, strict=True):
        job.label = f"{label} (job {job.number})" if labels.count(label) > 1 else label


def swept_values(jobs: list[Job]) -> dict[str, list[str]]:
    """{override key: its values in job order}, for the overrides that differ between jobs."""
    swept: dict[str, list[str]] = {}
    for overrides in differing_overrides(jobs)[0]:
        for override in overrides:
            key, _, value = override.partition("=")
            values = swept.setdefault(key, [])
            if value not in values:
                values.append(value)
    return swept


@dataclass
class RunNumbers:
    """The numbers the table and the analysis quote for one finished run."""

    job: Job
    epochs: int | None
    best: tuple[int, float] | None  # (epoch, best val mIoU)
    final_val_loss: float | None
    test_acc: float | None
    test_miou: float | None
    converged: int | None
    onset: int | None
    val_epochs: int  # epochs with a val loss: the "within N epochs" of no onset
    extra: dict[str, float] = field(default_factory=dict)


def run_numbers(job: Job) -> RunNumbers:
    history, metrics = job.history, job.metrics or {}
    best = best_epoch(history)
    best_val = metrics.get("best_val") or {}
    if best is None and is_number(best_val.get("val/miou")) and "epoch" in best_val:  # no history: the callback's
        best = (int(best_val["epoch"]), float(best_val["val/miou"]))
    val_epochs, val_losses = finite_series(history, "val/loss")
    test = metrics.get("test") or {}
    epochs = metrics.get("epochs_run")
    numbers = RunNumbers(
        job=job,
        epochs=epochs if isinstance(epochs, int) else len(history) or None,
        best=best,
        final_val_loss=val_losses[-1] if val_losses else None,
        test_acc=test.get("test/acc") if is_number(test.get("test/acc")) else None,
        test_miou=test.get("test/miou") if is_number(test.get("test/miou")) else None,
        converged=convergence_epoch(history),
        onset=overfitting_onset(history),
        val_epochs=len(val_epochs),
    )
    if numbers.onset is not None:  # what the analysis quotes: val loss at e*, train loss at e* and at the end
        train = dict(zip(*finite_series(history, "train/loss"), strict=True))
        last = max(e for e in train if e > numbers.onset)
        numbers.extra = {"val_min": min(val_losses), "train_at": train[numbers.onset], "train_last": train[last]}
        numbers.extra["last_epoch"] = last
    return numbers


# ------------------------------------------------------------------------------------------------ the words
def fmt(value: float | None, digits: int = 4) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def last_epoch(history: History) -> int | None:
    epochs = finite_series(history, "val/miou")[0]
    return epochs[-1] if epochs else None


def analysis(runs: list[RunNumbers]) -> str:
    """A few sentences that only restate the table's numbers: who converged first, who is best, who overfits."""
    runs = [r for r in runs if r.best is not None]
    if not runs:
        return "No run finished a validation epoch: nothing to compare."
    sentences = []
    converged = sorted((r for r in runs if r.converged is not None), key=lambda r: r.converged)
    if converged:
        parts = [f"`{r.job.label}` at epoch {r.converged}" for r in converged]
        first = [r for r in converged if r.converged == converged[0].converged]
        sentence = f"Runs reached {CONVERGED:.0%} of their own best val mIoU: {and_list(parts)}"
        if len(first) == 1 and len(converged) > 1:
            sentence += f"; `{first[0].job.label}` converged first"
        elif 1 < len(first) < len(converged):
            sentence += f"; {and_list([f'`{r.job.label}`' for r in first])} converged first, at the same epoch"
        elif len(first) > 1:
            sentence += "; all at the same epoch"
        sentences.append(sentence + ".")
        rising = [f"`{r.job.label}`" for r in runs if r.best is not None and r.best[0] == last_epoch(r.job.history)]
        if rising:
            sentences.append(f"Best val mIoU in the last epoch, so possibly still improving: {and_list(rising)}.")
    no_history = [f"`{r.job.label}`" for r in runs if r.converged is None and not r.job.history]
    if no_history:  # e.g. the CSV logger was off: no per-epoch values to judge convergence by
        sentences.append(f"{and_list(no_history)}: no per-epoch history in metrics.json, so no convergence epoch.")
    unconverged = [f"`{r.job.label}`" for r in runs if r.converged is None and r.job.history]
    if unconverged:
        sentences.append(f"{and_list(unconverged)} never rose above a val mIoU of 0.")
    ranked = sorted(runs, key=lambda r: -r.best[1])
    top, rest = ranked[0], ranked[1:]
    if not rest:
        sentences.append(f"`{top.job.label}` reached a best val mIoU of {fmt(top.best[1])} (epoch {top.best[0]}).")
    elif rest[0].best[1] == top.best[1]:
        tied = [f"`{r.job.label}`" for r in ranked if r.best[1] == top.best[1]]
        sentences.append(f"{and_list(tied)} reached the same best val mIoU, {fmt(top.best[1])}.")
    else:
        second = rest[0]
        gap = top.best[1] - second.best[1]
        relative = f", {gap / second.best[1]:.0%} relative" if second.best[1] > 0 else ""
        sentences.append(
            f"`{top.job.label}` reached the highest best val mIoU, {fmt(top.best[1])} (epoch {top.best[0]}),"
            f" {fmt(gap)} above `{second.job.label}` ({fmt(second.best[1])}, epoch {second.best[0]}{relative});"
            " one run per setting, so the gap includes run-to-run variation."
        )
    for r in runs:
        if r.onset is not None:
            x = r.extra
            sentences.append(
                f"`{r.job.label}` started overfitting after epoch {r.onset}: its val loss was lowest there"
                f" ({fmt(x['val_min'])}) and higher in every later epoch, while its train loss fell from"
                f" {fmt(x['train_at'])} to {fmt(x['train_last'])} (epoch {int(x['last_epoch'])})."
            )
    calm = [f"`{r.job.label}`" for r in runs if r.onset is None]
    if calm:
        epochs = sorted({r.val_epochs for r in runs if r.onset is None})
        within = f"within {epochs[0]} epochs" if len(epochs) == 1 else "within the epochs run"
        sentences.append(f"No overfitting onset for {and_list(calm)} {within}.")
    tested = [r for r in runs if r.test_miou is not None]
    if len(tested) > 1:
        parts = [f"`{r.job.label}` {fmt(r.test_miou)}" for r in sorted(tested, key=lambda r: -r.test_miou)]
        sentences.append(f"Test mIoU (best-val checkpoint): {', '.join(parts)}.")
    return " ".join(sentences)


# ----------------------------------------------------------------------------------------------- the report
Block = tuple  # ("h1" | "h2" | "p", text) | ("img", alt, file) | ("ul", items) | ("table", header, rows)


def latest_grid(folder: Path) -> tuple[int, Path] | None:
    """(epoch, file) of the job's newest images/val_epoch_XXX.png, or None."""
    files = (folder / "images").glob("val_epoch_*.png")
    grids = [(int(epoch), p) for p in files if (epoch := p.stem.removeprefix("val_epoch_")).isdigit()]
    return max(grids) if grids else None


def prediction_blocks(jobs: list[Job], out_dir: Path) -> list[Block]:
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
        ("h2", "Curves"),
    ]
    histories = {j.label: j.history for j in done}
    for file, key, ylabel in CURVES:
        if any(finite_series(h, key)[0] for h in histories.values()):
            plot_runs(histories, key, ylabel, out_dir / file)
            blocks.append(("img", f"{key} of every run", file))
        else:
            blocks.append(("p", f"No run logged `{key}`."))

    runs = [run_numbers(j) for j in done]
    header = ["run", "job", "epochs", "best val mIoU (epoch)", "final val loss", "test acc", "test mIoU"]
    header += [f"converged ({CONVERGED:.0%} of best)", "overfitting onset"]
    rows = [
        [
            f"`{r.job.label}`",
            r.job.number,
            MISSING if r.epochs is None else str(r.epochs),
            MISSING if r.best is None else f"{fmt(r.best[1])} ({r.best[0]})",
            fmt(r.final_val_loss),
            fmt(r.test_acc),
            fmt(r.test_miou),
            MISSING if r.converged is None else f"epoch {r.converged}",
            f"none within {r.val_epochs} epochs" if r.onset is None else f"epoch {r.onset}",
        ]
        for r in runs
    ]
    words = analysis(runs)
    blocks += [("h2", "Final metrics"), ("table", header, rows), ("p", DEFINITIONS), ("h2", "Analysis"), ("p", words)]
    blocks += [("h2", "Predictions (latest epoch of each run)"), *prediction_blocks(done, out_dir)]
    blocks += [("h2", "Failed jobs")]
    blocks.append(("ul", [f"job {j.number} (`{j.label}`): {j.status}" for j in failed]) if failed else ("p", "None."))
    return blocks, words


def to_markdown(blocks: list[Block]) -> str:
    parts = []
    for kind, *args in blocks:
        if kind in ("h1", "h2"):
            parts.append(f"{'#' * int(kind[1])} {args[0]}")
        elif kind == "p":
            parts.append(args[0])
        elif kind == "img":
            parts.append(f"![{args[0]}]({args[1]})")
        elif kind == "ul":
            parts.append("\n".join(f"- {item}" for item in args[0]))
        elif kind == "table":
            header, rows = args
            lines = [header, ["---", "---:"] + ["---:"] * (len(header) - 2), *rows]
            parts.append("\n".join("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines))
    return "\n\n".join(parts) + "\n"


def inline_html(text: str) -> str:
    """Escape, then the two Markdown marks the report uses: `code` and **bold** (and e\\* for a plain star)."""
    text = html.escape(text).replace("\\*", "&#42;")
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def to_html(blocks: list[Block]) -> str:
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px}td{text-align:right}"
        "td:first-child{text-align:left}img{max-width:100%;display:block;margin:1em 0}"
    )
    title = next(args[0] for kind, *args in blocks if kind == "h1")
    parts = [f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>']
    parts.append(f"<style>{style}</style></head><body>")
    for kind, *args in blocks:
        if kind in ("h1", "h2", "p"):
            parts.append(f"<{kind}>{inline_html(args[0])}</{kind}>")
        elif kind == "img":
            parts.append(f'<img src="{html.escape(args[1])}" alt="{html.escape(args[0])}">')
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in args[0]) + "</ul>")
        elif kind == "table":
            header, rows = args
            cells = ["<tr>" + "".join(f"<th>{inline_html(c)}</th>" for c in header) + "</tr>"]
            cells += ["<tr>" + "".join(f"<td>{inline_html(c)}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("<table>" + "".join(cells) + "</table>")
    return "\n".join([*parts, "</body></html>"]) + "\n"


def write_report(sweep_dir: Path, out_dir: Path | None = None, fmt: str = "md") -> tuple[Path, str]:
    """Write report.md (or report.html) and its PNGs into out_dir (default <sweep_dir>/report); returns the
    report's path and the analysis paragraph."""
    out_dir = out_dir or sweep_dir / "report"
    blocks, words = build_report(sweep_dir, out_dir)
    path = out_dir / f"report.{fmt}"
    path.write_text(to_html(blocks) if fmt == "html" else to_markdown(blocks))
    return path, words


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.report",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python -m src.train -m experiment=quickstart model=unet,unetpp trainer.max_epochs=3\n"
        "  python -m src.report outputs/multirun/<date>/<time>",
    )
    parser.add_argument(
        "sweep_dir", type=Path, help="a multirun folder, outputs/multirun/<date>/<time>/ (jobs 0/, 1/, ...)"
    )
    parser.add_argument("--out", type=Path, help="folder for the report and its PNGs (default: <sweep_dir>/report)")
    parser.add_argument("--format", choices=("md", "html"), default="md", help="report.md (default) or report.html")
    args = parser.parse_args(argv)
    try:
        path, words = write_report(args.sweep_dir, args.out, args.format)
    except ConfigError as err:
        print(f"ConfigError: {err}", file=sys.stderr)
        sys.exit(1)
    print(words.replace("`", ""))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
