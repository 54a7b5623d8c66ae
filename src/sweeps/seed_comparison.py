"""What a sweep with a seed axis says per recipe: a table of mean ± sd and 95% intervals, and one plain
sentence per measure for each group against the first group, from paired differences matched by seed.

Only runs that finished count; a group's failed jobs are named and left out. A measure a run lacks (no test
split, no overfitting onset within its epochs) leaves that run out of that measure's statistics only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from src.sweeps.groups import Group
from src.sweeps.spread import LEVEL, Spread, paired_difference, spread
from src.sweeps.statistics import RunNumbers

MISSING = "-"


@dataclass(frozen=True)
class Measure:
    """One number per run that groups are compared on.

    `lower_leads`: the sentence's subject is the group with the lower value (converges earlier, overfits
    earlier) rather than the higher (beats). `phrase` takes {a}, {b} (the groups) and {d} (the difference).
    """

    name: str
    value: Callable[[RunNumbers], float | None]
    epochs: bool  # an epoch count: one decimal, no sign, "epochs"; else a score with three decimals and a sign
    lower_leads: bool
    phrase: str


MEASURES = (
    Measure("best val mIoU", lambda r: r.best and r.best[1], False, False, "{a} beats {b} by {d} best val mIoU"),
    Measure("final val mIoU", lambda r: r.final_val_miou, False, False, "{a} beats {b} by {d} final val mIoU"),
    Measure("test mIoU", lambda r: r.test_miou, False, False, "{a} beats {b} by {d} test mIoU"),
    Measure("test pixel acc", lambda r: r.test_acc, False, False, "{a} beats {b} by {d} test pixel accuracy"),
    Measure("convergence epoch", lambda r: r.converged, True, True, "{a} converges {d} earlier than {b}"),
    Measure("overfitting onset", lambda r: r.onset, True, True, "{a} starts overfitting {d} earlier than {b}"),
)


def values_by_seed(runs: list[RunNumbers], measure: Measure) -> dict[int, float]:
    """{seed: value} of the runs that have both (a run without a seed cannot be paired)."""
    return {r.job.seed: float(v) for r in runs if r.job.seed is not None and (v := measure.value(r)) is not None}


def number(value: float, measure: Measure, sign: bool = False) -> str:
    """A score with three decimals (signed if asked, with a real minus), an epoch count with one."""
    text = f"{value:+.1f}" if measure.epochs and sign else f"{value:.1f}" if measure.epochs else f"{value:+.3f}"
    text = text if sign else text.lstrip("+")
    return text


def describe(s: Spread, measure: Measure) -> str:
    """`0.757 ± 0.004 (95% CI 0.747 to 0.767)`, or the mean and why there is no spread."""
    if s.sd is None:
        return f"{number(s.mean, measure)} (n = 1: no spread)"
    return (
        f"{number(s.mean, measure)} ± {number(s.sd, measure)}"
        f" (95% CI {number(s.low, measure)} to {number(s.high, measure)})"
    )


def group_table(groups: list[Group], runs: dict[str, RunNumbers]) -> tuple[list[str], list[list[str]]]:
    """Header and one row per group: finished/all runs, then each measure's mean ± sd and interval over seeds."""
    header = ["group", "runs (done/all)", "seeds", *(m.name for m in MEASURES)]
    rows = []
    for group in groups:
        done = [runs[j.number] for j in group.done]
        row = [f"`{group.label}`", f"{len(done)}/{len(group.jobs)}", ", ".join(str(r.job.seed) for r in done)]
        for measure in MEASURES:
            values = [float(v) for r in done if (v := measure.value(r)) is not None]
            cell = describe(spread(values), measure) if values else MISSING
            if measure.name == "overfitting onset":
                cell = f"{len(values)}/{len(done)} runs" + (f": epoch {cell}" if values else "")
            row.append(cell)
        rows.append(row)
    return header, rows


def verdict(a: Group, b: Group, runs: dict[str, RunNumbers], measure: Measure) -> str | None:
    """One sentence on `a` against `b` for `measure`, from their paired differences; None if no seed pairs."""
    a_runs, b_runs = ([runs[j.number] for j in g.done] for g in (a, b))
    a_values, b_values = values_by_seed(a_runs, measure), values_by_seed(b_runs, measure)
    d = paired_difference(a_values, b_values)
    a_name, b_name = f"`{a.label}`", f"`{b.label}`"
    if measure.name == "overfitting onset":
        counts = f"onset in {len(a_values)}/{len(a_runs)} runs of {a_name}"
        counts += f" and {len(b_values)}/{len(b_runs)} of {b_name}"
        if d is None or d.n < 2:
            return f"Overfitting: {counts}; fewer than 2 seeds overfit in both, so no paired difference can be given."
    if d is None:
        return None
    epochs = " epochs" if measure.epochs else ""
    if d.sd is None:
        return (
            f"{measure.name}: {a_name} - {b_name} = {number(d.mean, measure, sign=True)}{epochs} on one shared seed;"
            " no spread can be given with n < 2."
        )
    lead_is_a = (d.mean < 0) == measure.lower_leads
    lead, other = (a_name, b_name) if lead_is_a else (b_name, a_name)
    flip = 1 if lead_is_a != measure.lower_leads else -1  # turns a - b into the difference the phrase reads
    prefix = f"Overfitting: {counts}. " if measure.name == "overfitting onset" else ""
    if d.sd == 0:
        spread_text = f"the same difference in each of {d.n} seeds, so no interval or p-value"
    else:
        spread_text = f"{interval(flip * d.low, flip * d.high, measure)}, {d.n} seeds, paired t-test {p_value(d.p)}"
    if d.excludes_zero:
        size = number(flip * d.mean, measure, sign=not measure.epochs) + epochs
        return f"{prefix}{measure.phrase.format(a=lead, b=other, d=size)} ({spread_text})."
    if d.sd == 0:
        return f"{prefix}No difference in {measure.name} between {a_name} and {b_name}: equal in each of {d.n} seeds."
    return (
        f"{prefix}No difference in {measure.name} detectable between {a_name} and {b_name} with {d.n} seeds"
        f" ({a_name} - {b_name} = {number(d.mean, measure, sign=True)}{epochs};"
        f" {interval(d.low, d.high, measure)}, paired t-test {p_value(d.p)})."
    )


def interval(low: float, high: float, measure: Measure) -> str:
    low, high = sorted((low, high))
    epochs = " epochs" if measure.epochs else ""
    return f"95% CI {number(low, measure, sign=True)} to {number(high, measure, sign=True)}{epochs}"


def p_value(p: float) -> str:
    """`p = 0.031`, or `p < 0.001` rather than a string of zeros."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def single_pair(a: Group, b: Group, runs: dict[str, RunNumbers]) -> str:
    """For groups sharing fewer than 2 seeds: the differences on the shared seed, if any, and why no verdict."""
    parts = []
    for measure in MEASURES[:-1]:
        d = paired_difference(*(values_by_seed([runs[j.number] for j in g.done], measure) for g in (a, b)))
        if d is not None:
            parts.append(f"{measure.name} {number(d.mean, measure, sign=True)}{' epochs' if measure.epochs else ''}")
    a_name, b_name = f"`{a.label}`", f"`{b.label}`"
    detail = f"on their one shared seed, {a_name} - {b_name}: {', '.join(parts)}" if parts else "no shared seed"
    return f"{a_name} vs {b_name}: {detail}; no spread can be given (n < 2)."


def verdicts(groups: list[Group], runs: dict[str, RunNumbers]) -> list[str]:
    """Every later group against the first (the sweep's first recipe is its reference), measure by measure;
    one sentence for a pair that shares fewer than 2 finished seeds."""
    sentences = []
    for other in groups[1:]:
        seeds = [{runs[j.number].job.seed for j in g.done} - {None} for g in (other, groups[0])]
        if len(seeds[0] & seeds[1]) < 2:
            sentences.append(single_pair(other, groups[0], runs))
            continue
        sentences += [s for m in MEASURES if (s := verdict(other, groups[0], runs, m)) is not None]
    return sentences


def failed_in_groups(groups: list[Group]) -> list[str]:
    """A line per group with failed jobs: which, and that they are left out."""
    return [
        f"`{g.label}`: {len(g.failed)} of {len(g.jobs)} jobs failed (job {', '.join(j.number for j in g.failed)})"
        " and are left out of its statistics."
        for g in groups
        if g.failed
    ]


DEFINITIONS = (
    "Jobs are grouped by their overrides without `seed` and `data.num_workers` (which only change the random"
    " draw); each group's row gives the mean ± sample standard deviation over its finished runs and the"
    f" {LEVEL:.0%} confidence interval of the mean (t distribution, n - 1 degrees of freedom). Groups are compared"
    " with the first group, run by run on the seeds both ran: the mean paired difference, its 95% interval and"
    " a two-sided paired t-test. A difference is called only when its interval excludes 0. Overfitting onset"
    " counts only the runs that overfit within their epochs."
)
