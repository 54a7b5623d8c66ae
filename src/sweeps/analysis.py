"""What the report says about a sweep's finished runs: the table of final metrics and a paragraph in words.

Both only restate the numbers of `statistics.RunNumbers`; `DEFINITIONS` explains the table's last two columns.
"""

from __future__ import annotations

from src.sweeps.statistics import CONVERGED, RunNumbers, last_epoch

MISSING = "-"  # a table cell without a value
DEFINITIONS = (
    f"**Convergence**: the first epoch at which `val/miou` reached {CONVERGED:.0%} of that run's own best"
    " `val/miou` (none when the best is 0). **Overfitting onset**: e\\*, the last epoch at which `val/loss` is at"
    " its minimum, counted as the onset only if a later epoch has a lower `train/loss` than e\\* had (val loss"
    " no longer improving while train loss still falls); otherwise none within the epochs run. Epochs count"
    " from 0 as logged; an epoch without a value (or NaN) is skipped. One noisy rise of val loss in the last"
    " epoch is enough for an onset: check it against the curves."
)


def fmt(value: float | None, digits: int = 4) -> str:
    """`value` with `digits` decimals, or MISSING."""
    return MISSING if value is None else f"{value:.{digits}f}"


def and_list(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" and {items[-1]}"


def metrics_table(runs: list[RunNumbers]) -> tuple[list[str], list[list[str]]]:
    """The header and one row per run of the report's "Final metrics" table."""
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
    return header, rows


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
