"""A/B statistics and three-way verdicts: pass, fail, or not decided yet.

Start-up times are skewed and noisy, and a shared CI runner adds bursts. So NEW is
compared with OLD on the log scale (a ratio, not a difference), with the Hodges-Lehmann
estimator (the median of all pairwise log ratios) and its distribution-free interval
from the Mann-Whitney statistic; the p-value is Mann-Whitney's (normal approximation,
ties corrected). A verdict is taken on the interval, never on a point: a limit inside the
interval is "undecided", which is what adaptive sampling keeps sampling on.

Pure functions over numbers; nothing here runs a process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

PASS, FAIL, UNDECIDED = "pass", "fail", "undecided"


@dataclass(frozen=True)
class Comparison:
    """NEW against OLD."""

    n_new: int
    n_old: int
    ratio_p50: float  # median(NEW) / median(OLD)
    ratio_hl: float  # Hodges-Lehmann estimate of NEW/OLD
    ratio_ci: tuple[float, float]  # its interval at `confidence`
    p_value: float  # two-sided Mann-Whitney: do NEW and OLD differ at all?
    confidence: float


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _tie_term(values: Sequence[float]) -> float:
    """sum(t^3 - t) over groups of equal values, for the Mann-Whitney variance."""
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return float(sum(t**3 - t for t in counts.values() if t > 1))


def compare(new: Sequence[float], old: Sequence[float], confidence: float = 0.95) -> Comparison:
    """NEW/OLD from two samples of positive times (ms). Needs at least 2 of each."""
    n, m = len(new), len(old)
    if n < 2 or m < 2:
        raise ValueError("an A/B comparison needs at least 2 runs of each binary")
    if min(min(new), min(old)) <= 0 or not all(map(math.isfinite, (*new, *old))):
        raise ValueError("times must be positive finite numbers")
    ln_new, ln_old = [math.log(x) for x in new], [math.log(x) for x in old]
    diffs = sorted(a - b for a in ln_new for b in ln_old)
    pairs = n * m
    hl = _median(diffs)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    # Rank interval for the shift: the k-th smallest and largest pairwise differences.
    k = math.floor(pairs / 2 - z * math.sqrt(pairs * (n + m + 1) / 12))
    k = max(0, min(k, pairs // 2))
    lo, hi = diffs[k], diffs[pairs - 1 - k]
    # Mann-Whitney U of NEW over OLD, ties counted half; tie-corrected normal approximation.
    greater = sum(d > 0 for d in diffs)
    ties = sum(d == 0 for d in diffs)
    u = greater + ties / 2
    total = n + m
    var = pairs / 12 * ((total + 1) - _tie_term([*ln_new, *ln_old]) / (total * (total - 1)))
    if var > 0:
        zu = (abs(u - pairs / 2) - 0.5) / math.sqrt(var)
        p_value = min(1.0, 2 * (1 - NormalDist().cdf(max(zu, 0.0))))
    else:
        p_value = 1.0
    return Comparison(
        n_new=n,
        n_old=m,
        ratio_p50=_median(new) / _median(old),
        ratio_hl=math.exp(hl),
        ratio_ci=(math.exp(lo), math.exp(hi)),
        p_value=p_value,
        confidence=confidence,
    )


def regression_verdict(cmp: Comparison, limit_pct: float) -> str:
    return regression_verdict_of(*cmp.ratio_ci, limit_pct)


def regression_verdict_of(lo: float, hi: float, limit_pct: float) -> str:
    """fail: even the interval's low end is a regression beyond the limit; pass: even its
    high end is within it; undecided: the limit lies inside the interval."""
    limit = 1 + limit_pct / 100
    if lo > limit:
        return FAIL
    if hi <= limit:
        return PASS
    return UNDECIDED


def interval_verdict(lo: float | None, hi: float | None, value_min: float, value_max: float,
                     limit: float) -> str:  # fmt: skip
    """A percentile against a limit, on its order-statistic interval.

    With too few runs for an exact rank the interval runs to the sample's extreme (the
    smallest or largest run): a p95 whose slowest run is under the limit passes, one
    whose fastest run is over it fails, anything in between needs more runs.
    """
    low = lo if lo is not None else value_min
    high = hi if hi is not None else value_max
    if low > limit:
        return FAIL
    if high <= limit:
        return PASS
    return UNDECIDED
