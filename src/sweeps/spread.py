"""How much a number moves from seed to seed: mean, standard deviation and a 95% confidence interval, of one
group's runs or of two groups' paired differences (a paired t-test, matched by seed).

Written out rather than taken from a library's summary because the report must say *why* a value is missing
(n < 2, or no spread at all) instead of printing a zero or a NaN; scipy gives the t quantiles and the test.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.95  # the confidence level of every interval the report quotes


@dataclass(frozen=True)
class Spread:
    """Mean over n values, their sample standard deviation (n - 1) and the t interval of the mean.

    `sd` and the interval are None with n < 2: one run says nothing about the spread. `p` is the two-sided
    p-value of "the true mean is 0" (a one-sample t-test, which on paired differences is the paired t-test);
    None with n < 2 or when every value is the same (no spread to test against).
    """

    n: int
    mean: float
    sd: float | None
    low: float | None
    high: float | None
    p: float | None

    @property
    def excludes_zero(self) -> bool:
        """True when the interval lies wholly above or below 0; a difference with no spread (sd 0) counts."""
        if self.sd == 0:
            return self.mean != 0
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def spread(values: list[float]) -> Spread:
    """The mean, sd, 95% t interval and t-test p-value of `values` (at least one)."""
    if not values:
        raise ValueError("spread() needs at least one value")
    n, mean = len(values), statistics.fmean(values)
    if n < 2:
        return Spread(n, mean, None, None, None, None)
    sd = statistics.stdev(values)
    if sd == 0:
        return Spread(n, mean, 0.0, mean, mean, None)
    half = stats.t.ppf(0.5 + LEVEL / 2, n - 1) * sd / math.sqrt(n)
    p = 2 * stats.t.sf(abs(mean / (sd / math.sqrt(n))), n - 1)
    return Spread(n, mean, sd, mean - half, mean + half, float(p))


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Spread | None:
    """The spread of a[seed] - b[seed] over the seeds both have; None when they share no seed."""
    seeds = sorted(set(a) & set(b))
    return spread([a[s] - b[s] for s in seeds]) if seeds else None
