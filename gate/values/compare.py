"""A/B statistics and three-way verdicts: pass, fail, or not decided yet.

Start-up times are skewed and noisy, and a shared CI runner adds bursts. NEW and OLD are
started in rounds (one of each, ABBA), so each round gives one log ratio in which a burst
that slowed both cancels; the estimate is the Hodges-Lehmann one over those ratios with
the Wilcoxon signed-rank interval and p-value (distribution-free). A verdict is taken on
the interval, never on a point: a limit inside the interval is "undecided", which is what
adaptive sampling keeps sampling on.

A number is only comparable with one measured in the same envelope (a CPU quota, a
memory limit, a pinned CPU): `across_envelopes` is the one warning that says when a
baseline's was another.

Pure functions over numbers; nothing here runs a process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any

PASS, FAIL, UNDECIDED = "pass", "fail", "undecided"


@dataclass(frozen=True)
class Comparison:
    """NEW against OLD."""

    n_new: int
    n_old: int
    ratio_p50: float  # median(NEW) / median(OLD)
    ratio_hl: float  # Hodges-Lehmann estimate of NEW/OLD
    ratio_ci: tuple[float, float]  # its interval at `confidence`
    p_value: float  # two-sided Wilcoxon signed-rank: do NEW and OLD differ at all?
    confidence: float


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _tie_term(values: Sequence[float]) -> float:
    """sum(t^3 - t) over groups of equal absolute values, for the signed-rank variance."""
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return float(sum(t**3 - t for t in counts.values() if t > 1))


def _signed_rank_p(d: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value: zeros dropped, ties averaged, normal
    approximation with tie and continuity corrections (as scipy's method="approx")."""
    nz = sorted((abs(x), x > 0) for x in d if x != 0)
    n = len(nz)
    if n == 0:
        return 1.0
    ranks: list[float] = [0.0] * n
    i = 0
    while i < n:  # average ranks over runs of equal |d|
        j = i
        while j + 1 < n and nz[j + 1][0] == nz[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    w_plus = sum(r for r, (_, positive) in zip(ranks, nz, strict=True) if positive)
    mean = n * (n + 1) / 4
    var = n * (n + 1) * (2 * n + 1) / 24 - _tie_term([a for a, _ in nz]) / 48
    if var <= 0:
        return 1.0
    z = (abs(w_plus - mean) - 0.5) / math.sqrt(var)
    return min(1.0, 2 * (1 - NormalDist().cdf(max(z, 0.0))))


def compare(new: Sequence[float], old: Sequence[float], confidence: float = 0.95) -> Comparison:
    """NEW/OLD from paired times (ms): new[i] and old[i] were started in the same round.

    Pairing is what makes this hold on a busy runner: a burst of load slows both starts of
    a round alike, and their ratio cancels it. The estimate is the Hodges-Lehmann median of
    the Walsh averages of the per-round log ratios, its interval the Wilcoxon signed-rank
    one (distribution-free), the p-value Wilcoxon's.
    """
    if len(new) != len(old):
        raise ValueError("an A/B comparison needs one OLD start for each NEW start")
    n = len(new)
    if n < 2:
        raise ValueError("an A/B comparison needs at least 2 runs of each binary")
    if min(min(new), min(old)) <= 0 or not all(map(math.isfinite, (*new, *old))):
        raise ValueError("times must be positive finite numbers")
    d = [math.log(a) - math.log(b) for a, b in zip(new, old, strict=True)]
    walsh = sorted((d[i] + d[j]) / 2 for i in range(n) for j in range(i, n))
    total = len(walsh)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    k = math.floor(n * (n + 1) / 4 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24))
    k = max(0, min(k, (total - 1) // 2))
    lo, hi = walsh[k], walsh[total - 1 - k]
    return Comparison(
        n_new=n,
        n_old=n,
        ratio_p50=_median(new) / _median(old),
        ratio_hl=math.exp(_median(walsh)),
        ratio_ci=(math.exp(lo), math.exp(hi)),
        p_value=_signed_rank_p(d),
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


def across_envelopes(old: Any, new: Any, sides: tuple[str, str] = ("baseline", "this run")) -> str:
    """`startup compared across envelopes: baseline 0.5 CPU, 128 MB memory; this run none`
    when two results' `envelope` objects (None: unconstrained) differ; "" when they agree.

    A quota or a limit changes start-up time by design (0.25 CPU stretches CPU-bound init
    about 4x), so start-up compared across two envelopes moves with the envelope, not the
    program. Declared here once: `gate check` warns with it (the `baseline.envelope`
    check, judge.py) and `gate diff` notes it (diff.py), in these words. A CFS period
    without a quota is no part of an envelope, and a missing key is none.
    """
    from gate.values.envelope import DEFAULT_PERIOD_US, from_dict

    envelopes = []
    for d in (old, new):
        e = from_dict(d)
        envelopes.append(e if e.cpus is not None else replace(e, cpu_period_us=DEFAULT_PERIOD_US))
    if envelopes[0] == envelopes[1]:
        return ""
    shown = [e.describe() or "none" for e in envelopes]
    return f"startup compared across envelopes: {sides[0]} {shown[0]}; {sides[1]} {shown[1]}"


def across_methods(old: Any, new: Any, sides: tuple[str, str] = ("baseline", "this run")) -> str:
    """`startup percentiles compared across methods: baseline not recorded; this run type 7
    (linear interpolation)` when two stats objects' quantile methods differ; "" when they
    agree. Percentiles of the same runs differ by method (type 7 against nearest rank moves a
    p95 of 20 runs by up to half the gap to the next), so a change of method, or a document
    that does not say which, is told beside the comparison, as `gate check` (the
    `baseline.quantiles` check, judge.py) and `gate diff` (diff.py) say it, not hidden."""
    from gate.values.stats import NOT_RECORDED

    methods = [(s or {}).get("quantile_method") or NOT_RECORDED for s in (old, new)]
    if methods[0] == methods[1]:
        return ""
    return (
        f"startup percentiles compared across methods: {sides[0]} {methods[0]}; "
        f"{sides[1]} {methods[1]}"
    )
