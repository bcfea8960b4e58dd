"""Summary statistics for start-up times: percentiles and their confidence intervals.

Start-up times are skewed (a long right tail from page faults, scheduling and cache misses),
so nothing here assumes normality: percentile intervals come from order statistics and the
binomial distribution, which holds for any continuous distribution. Standard library only,
because the gate's own start-up cost matters (not even ``statistics``: it pulls in fractions
and decimal, ~4 ms, for exactness that two-pass ``math.fsum`` already gives us here).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The one list of start-up percentiles: the keys name them everywhere (`p95_ms` in the
# statistics, `startup.p95` as a check, `p95` as a policy rule and a CI key).
QUANTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}

# What `percentile` and `quantile_ci` compute, named here where they are computed: the
# results document, the log and the metrics' help take these words, and tests/test_stats.py
# holds `percentile` to type 7. A document read back keeps its own words (NOT_RECORDED when
# it has none), and a comparison across two methods says so (compare.across_methods).
QUANTILE_METHOD = "type 7 (linear interpolation)"
QUANTILE_SHORT = QUANTILE_METHOD.split(" (")[0]  # "type 7"
CI_METHOD = "order statistics (binomial), distribution-free"
CI_SHORT = CI_METHOD.split(" (")[0]  # "order statistics"
NOT_RECORDED = "not recorded"

Bounds = tuple[float | None, float | None]


@dataclass(frozen=True)
class Summary:
    """What a report says about one set of timed runs (all times in milliseconds)."""

    count: int
    min_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    stdev_ms: float  # sample standard deviation (n - 1); 0.0 when count < 2
    ci: dict[str, Bounds]  # QUANTILES key -> (lo, hi); None = too few runs for that bound
    confidence: float
    min_runs: dict[str, int]  # QUANTILES key -> smallest count giving both bounds


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Type-7 percentile (linear interpolation between closest ranks), q in [0, 100].

    Type 7 is what numpy (the default "linear" method), R and hyperfine-style tools report,
    so our numbers can be checked against theirs. ``sorted_values`` must be sorted ascending.
    """
    _check_sorted(sorted_values)
    _fraction(q)
    return _percentile(sorted_values, q)


def quantile_ci(sorted_values: Sequence[float], q: float, confidence: float = 0.95) -> Bounds:
    """Distribution-free confidence interval for the q-th percentile: (X_(l), X_(u)).

    The number of samples below the true percentile is Binomial(n, q/100), whatever the
    distribution of the times, so order statistics give an interval with known coverage
    without assuming a shape. A bound is None when n is too small for it to exist.
    """
    _check_sorted(sorted_values)
    return _quantile_ci(sorted_values, _fraction(q), _alpha(confidence))


def min_runs_for_ci(q: float, confidence: float = 0.95) -> int:
    """Smallest number of runs for which ``quantile_ci`` gives both bounds.

    The lower bound needs P(B = 0) = (1-p)^n <= alpha/2, the upper one P(B = n) = p^n <= alpha/2,
    so n = ceil(log(alpha/2) / log(max(p, 1-p))); confirmed against the exact rule, so the two
    functions can never disagree through rounding.
    """
    p = _fraction(q)
    alpha = _alpha(confidence)
    if not 0.0 < p < 1.0:
        raise ValueError(f"no finite number of runs bounds the {q}th percentile on both sides")
    n = max(1, math.ceil(math.log(alpha / 2) / math.log(max(p, 1.0 - p))))

    def both(m: int) -> bool:
        lower, upper = _ranks(m, p, alpha)
        return lower is not None and upper is not None

    while not both(n):
        n += 1
    while n > 1 and both(n - 1):
        n -= 1
    return n


def summarize(values_ms: Sequence[float], confidence: float = 0.95) -> Summary:
    """Summary of a set of run times, in any order. Raises ValueError on empty or non-finite."""
    if not values_ms:
        raise ValueError("no samples to summarise")
    if not all(math.isfinite(v) for v in values_ms):
        raise ValueError("samples must be finite numbers")
    alpha = _alpha(confidence)
    xs = sorted(float(v) for v in values_ms)
    n = len(xs)
    pct = {key: _percentile(xs, q) for key, q in QUANTILES.items()}
    mean = math.fsum(xs) / n
    stdev = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return Summary(
        count=n,
        min_ms=xs[0],
        p50_ms=pct["p50"],
        p90_ms=pct["p90"],
        p95_ms=pct["p95"],
        p99_ms=pct["p99"],
        max_ms=xs[-1],
        mean_ms=mean,
        stdev_ms=stdev,
        ci={key: _quantile_ci(xs, q / 100.0, alpha) for key, q in QUANTILES.items()},
        confidence=confidence,
        min_runs={key: min_runs_for_ci(q, confidence) for key, q in QUANTILES.items()},
    )


def peak_rss(runs: Iterable[tuple[bool, int | None]]) -> int | None:
    """A start-up's max RSS: the highest peak of its successful runs, from (ok, peak) pairs.

    A failed run's peak is not the program's start-up (a crash half way, a hang killed at
    the timeout, a program that ballooned before it failed), so only successful runs count,
    as for the times. A peak of None or 0 is no measurement (the child stayed below gate's
    own footprint); None when no successful run has one. Every report and the judge read
    this number from the results (`max_rss_bytes`), none derives its own.
    """
    peaks = [peak for ok, peak in runs if ok and peak]
    return max(peaks) if peaks else None


def fault_medians(runs: Iterable[tuple[bool, int, int]]) -> dict[str, float] | None:
    """Median major and minor page faults per start over the successful runs, from
    (ok, major, minor) triples; None when no run succeeded.

    Successful runs only, for the reason `peak_rss` gives. Major faults are reads from
    disk (a cold page cache), minor ones pages mapped or zeroed: together they tell a
    binary too big to load from one doing too much at init.
    """
    ok = [(major, minor) for good, major, minor in runs if good]
    if not ok:
        return None
    return {"major": _median([m for m, _ in ok]), "minor": _median([m for _, m in ok])}


def _median(values: Sequence[float]) -> float:
    xs = sorted(values)
    mid = len(xs) // 2
    return float(xs[mid]) if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def _percentile(xs: Sequence[float], q: float) -> float:
    # Same arithmetic as numpy's "linear" method (incl. its two-sided lerp): bit-identical results.
    h = (len(xs) - 1) * (q / 100.0)
    i = min(math.floor(h), len(xs) - 1)
    j = min(i + 1, len(xs) - 1)
    t = h - i
    a, b = xs[i], xs[j]
    # Interpolate from the nearer end: stays within [a, b] and is exact at t = 0 and t = 1.
    return a + (b - a) * t if t < 0.5 else b - (b - a) * (1.0 - t)


def _quantile_ci(xs: Sequence[float], p: float, alpha: float) -> Bounds:
    lower, upper = _ranks(len(xs), p, alpha)
    return (
        xs[lower - 1] if lower is not None else None,
        xs[upper - 1] if upper is not None else None,
    )


def _ranks(n: int, p: float, alpha: float) -> tuple[int | None, int | None]:
    """1-based ranks (l, u): l the largest with F(l-1) <= alpha/2, u the smallest with
    F(u-1) >= 1 - alpha/2, F the Binomial(n, p) CDF; both in [1, n], None if none exists.

    Coverage of [X_(l), X_(u)] is F(u-1) - F(l-1) >= 1 - alpha. The pmf is evaluated in log
    space (lgamma), so large n neither overflows nor underflows to a wrong sum. The far lower
    tail is skipped: by Hoeffding, F(k) <= exp(-2(np - k)^2 / n) < 1e-20 for k < k0, far below
    any alpha/2 and any rounding error, so the sum costs O(sqrt(n)) terms rather than O(n).
    """
    tail = alpha / 2.0
    if p <= 0.0:  # B is always 0: F(k) = 1 for every k.
        return None, 1
    if p >= 1.0:  # B is always n: F(k) = 0 for every k < n.
        return n, None
    log_n_fact = math.lgamma(n + 1)
    log_p, log_1mp = math.log(p), math.log1p(-p)
    k0 = max(0, math.ceil(n * p - math.sqrt(23.0 * n)))  # exp(-46) < 1e-20
    lower: int | None = k0 if k0 > 0 else None  # F(k0 - 1) < 1e-20 <= alpha/2
    cdf = 0.0
    for k in range(k0, n):
        log_pmf = log_n_fact - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        cdf += math.exp(log_pmf + k * log_p + (n - k) * log_1mp)
        if cdf <= tail:
            lower = k + 1
        elif cdf >= 1.0 - tail:
            return lower, k + 1
    return lower, None


def _check_sorted(xs: Sequence[float]) -> None:
    if not xs:
        raise ValueError("no samples")
    # `a <= b` is also False for NaN, so NaNs are rejected here too.
    if not all(a <= b for a, b in itertools.pairwise(xs)):
        raise ValueError("samples must be sorted ascending (and not NaN)")


def _fraction(q: float) -> float:
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {q!r}")
    return q / 100.0


def _alpha(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return 1.0 - confidence
