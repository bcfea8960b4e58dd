"""Statistics: checked against numpy (percentiles, moments) and scipy (binomial CDF).

numpy and scipy are references here only; gate.values.stats is standard library only.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from gate.values.stats import (
    QUANTILE_METHOD,
    QUANTILE_SHORT,
    QUANTILES,
    Summary,
    min_runs_for_ci,
    percentile,
    quantile_ci,
    summarize,
)

LEVELS = (50.0, 90.0, 95.0, 99.0)


def np_percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q, method="linear"))


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)


def ref_ranks(n: int, q: float, confidence: float = 0.95) -> tuple[int | None, int | None]:
    """The documented rule, on scipy's binomial CDF: 1-based ranks (l, u) or None."""
    tail = (1.0 - confidence) / 2.0
    ks = np.arange(n)  # k = 0 .. n-1, i.e. F(l-1) for l = 1 .. n
    cdf = binom.cdf(ks, n, q / 100.0)
    lows = ks[cdf <= tail]
    highs = ks[cdf >= 1.0 - tail]
    return (
        int(lows.max()) + 1 if lows.size else None,
        int(highs.min()) + 1 if highs.size else None,
    )


def ranks_of(n: int, q: float, confidence: float = 0.95) -> tuple[int | None, int | None]:
    """quantile_ci on the values 1..n, so each bound is its own 1-based rank."""
    lo, hi = quantile_ci([float(i) for i in range(1, n + 1)], q, confidence)
    return (None if lo is None else int(lo), None if hi is None else int(hi))


def coverage(n: int, q: float, lo: int, hi: int) -> float:
    """P(X_(lo) <= true percentile <= X_(hi)) = F(hi-1) - F(lo-1), from scipy."""
    p = q / 100.0
    return float(binom.cdf(hi - 1, n, p) - binom.cdf(lo - 1, n, p))


@functools.cache
def ref_min_runs(q: float, confidence: float = 0.95) -> int:
    """Smallest n with both P(B = 0) and P(B = n) <= alpha/2, searched with scipy."""
    tail = (1.0 - confidence) / 2.0
    p = q / 100.0
    n = 1
    while not (binom.cdf(0, n, p) <= tail and binom.cdf(n - 1, n, p) >= 1.0 - tail):
        n += 1
    return n


# --- percentile ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        [5.0],
        [1.0, 2.0],
        [3.0, 3.0, 3.0],
        [1.0, 1.0, 2.0, 2.0, 2.0, 7.5],
        [0.9, 1.1, 1.2, 1.25, 1.3, 1.4, 2.0, 2.1, 3.5, 11.0],
        [float(i) for i in range(1, 101)],
        [-2.5, -1.0, 0.0, 0.0, 4.25],
    ],
)
@pytest.mark.parametrize("q", [0.0, 1.0, 10.0, 25.0, 33.3, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0])
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert close(percentile(values, q), np_percentile(values, q))


def test_the_method_named_is_the_one_computed() -> None:
    """QUANTILE_METHOD, which every document and report prints, names what `percentile`
    does: numpy's "linear" is Hyndman and Fan's type 7, and its other methods are not."""
    assert QUANTILE_METHOD.startswith(QUANTILE_SHORT) and QUANTILE_SHORT == "type 7"
    values = [0.9, 1.1, 1.2, 1.25, 1.3, 1.4, 2.0, 2.1, 3.5, 11.0]
    for method in ("linear", "nearest", "hazen", "weibull", "median_unbiased"):
        got = float(np.percentile(np.asarray(values), 95.0, method=method))
        assert close(percentile(values, 95.0), got) == (method == "linear"), method


def test_percentile_ends_and_small_samples() -> None:
    assert percentile([5.0], 0.0) == percentile([5.0], 37.0) == percentile([5.0], 100.0) == 5.0
    assert percentile([1.0, 2.0], 0.0) == 1.0
    assert percentile([1.0, 2.0], 50.0) == 1.5
    assert percentile([1.0, 2.0], 100.0) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 90.0) == pytest.approx(3.7)  # h = 3 * 0.9 = 2.7


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=200,
    ),
    q=st.one_of(
        st.sampled_from([0.0, 50.0, 90.0, 95.0, 99.0, 100.0]),
        st.floats(min_value=0.0, max_value=100.0),
    ),
)
def test_percentile_matches_numpy_property(values: list[float], q: float) -> None:
    values.sort()
    got = percentile(values, q)
    assert close(got, np_percentile(values, q))
    assert values[0] <= got <= values[-1]


@pytest.mark.parametrize(
    ("values", "q"),
    [([], 50.0), ([1.0], -0.1), ([1.0], 100.1), ([1.0], math.nan), ([2.0, 1.0], 50.0)],
)
def test_percentile_rejects_bad_input(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, q)


# --- quantile_ci ---------------------------------------------------------------------------


@pytest.mark.parametrize("q", LEVELS)
def test_quantile_ci_matches_scipy_rule(q: float) -> None:
    for n in range(1, 2001):
        assert ranks_of(n, q) == ref_ranks(n, q), f"n={n} q={q}"


@pytest.mark.parametrize("confidence", [0.80, 0.90, 0.99])
@pytest.mark.parametrize("q", [1.0, 25.0, 50.0, 75.0, 99.0])
def test_quantile_ci_matches_scipy_rule_other_levels(q: float, confidence: float) -> None:
    for n in [*range(1, 120), 250, 499, 500, 1000, 1999]:
        assert ranks_of(n, q, confidence) == ref_ranks(n, q, confidence), f"n={n}"


@pytest.mark.parametrize("q", [0.0, 100.0])
def test_quantile_ci_extreme_percentiles(q: float) -> None:
    # q=0: B is always 0, so no lower bound and the upper one is the minimum; q=100 mirrors it.
    for n in (1, 2, 10, 500):
        assert ranks_of(n, q) == ref_ranks(n, q)
    assert ranks_of(10, 0.0) == (None, 1)
    assert ranks_of(10, 100.0) == (10, None)


def test_quantile_ci_textbook_median_n20() -> None:
    # The classic table value: 95% CI for the median of 20 is (X_(6), X_(15)).
    # scipy: F(5) = 0.0207 <= 0.025 < F(6) = 0.0577 and F(13) = 0.9423 < 0.975 <= F(14) = 0.9793.
    assert binom.cdf(5, 20, 0.5) <= 0.025 < binom.cdf(6, 20, 0.5)
    assert binom.cdf(13, 20, 0.5) < 0.975 <= binom.cdf(14, 20, 0.5)
    assert ranks_of(20, 50.0) == (6, 15)
    assert coverage(20, 50.0, 6, 15) == pytest.approx(0.9586, abs=1e-4)
    # The same from exact integer arithmetic: coverage = sum C(20, k) for k = 6..14, over 2^20.
    assert sum(math.comb(20, k) for k in range(6, 15)) / 2**20 == pytest.approx(0.958610534)
    # And n = 10: (X_(2), X_(9)), coverage 1 - 2 * 11/1024.
    assert ranks_of(10, 50.0) == (2, 9)
    assert coverage(10, 50.0, 2, 9) == pytest.approx(1 - 22 / 1024)


def test_quantile_ci_returns_the_order_statistics() -> None:
    xs = sorted([13.0, 2.5, 7.0, 1.0, 9.5, 4.0, 4.0, 8.0, 30.0, 3.0, 6.0, 5.5] * 2)
    for q in LEVELS:
        lo_rank, hi_rank = ref_ranks(len(xs), q)
        expected = (
            None if lo_rank is None else xs[lo_rank - 1],
            None if hi_rank is None else xs[hi_rank - 1],
        )
        assert quantile_ci(xs, q) == expected


@pytest.mark.parametrize("confidence", [0.90, 0.95, 0.99])
def test_quantile_ci_coverage_at_least_confidence(confidence: float) -> None:
    checked = 0
    for q in (10.0, *LEVELS):
        for n in [*range(1, 400, 3), 401, 1000, 1500, 2000]:
            lo, hi = ranks_of(n, q, confidence)
            if lo is not None and hi is not None:
                assert lo < hi
                assert coverage(n, q, lo, hi) >= confidence, f"n={n} q={q}"
                checked += 1
    assert checked > 100


def test_quantile_ci_large_n_does_not_overflow() -> None:
    n = 100_000
    xs = [float(i) for i in range(1, n + 1)]
    for q in LEVELS:
        lo, hi = ref_ranks(n, q)
        assert lo is not None and hi is not None
        assert quantile_ci(xs, q) == (float(lo), float(hi))


@pytest.mark.parametrize(
    ("values", "q", "confidence"),
    [
        ([], 50.0, 0.95),
        ([1.0, 2.0], 101.0, 0.95),
        ([1.0, 2.0], -1.0, 0.95),
        ([2.0, 1.0], 50.0, 0.95),
        ([1.0, 2.0], 50.0, 0.0),
        ([1.0, 2.0], 50.0, 1.0),
        ([1.0, math.nan], 50.0, 0.95),
    ],
)
def test_quantile_ci_rejects_bad_input(values: list[float], q: float, confidence: float) -> None:
    with pytest.raises(ValueError):
        quantile_ci(values, q, confidence)


# --- min_runs_for_ci -----------------------------------------------------------------------


@pytest.mark.parametrize(("q", "expected"), [(50.0, 6), (90.0, 36), (95.0, 72), (99.0, 368)])
def test_min_runs_known_values(q: float, expected: int) -> None:
    # The literal numbers are scipy's: p^n and (1-p)^n must both be <= 0.025.
    assert ref_min_runs(q) == expected
    assert min_runs_for_ci(q) == expected


@pytest.mark.parametrize("confidence", [0.80, 0.90, 0.95, 0.99])
@pytest.mark.parametrize("q", [1.0, 5.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5])
def test_min_runs_is_the_threshold(q: float, confidence: float) -> None:
    n = min_runs_for_ci(q, confidence)
    assert n == ref_min_runs(q, confidence)
    below = ranks_of(n - 1, q, confidence) if n > 1 else (None, None)
    assert None in below
    lo, hi = ranks_of(n, q, confidence)
    assert lo is not None and hi is not None


@pytest.mark.parametrize(("q", "confidence"), [(0.0, 0.95), (100.0, 0.95), (50.0, 1.0)])
def test_min_runs_rejects_unboundable(q: float, confidence: float) -> None:
    with pytest.raises(ValueError):
        min_runs_for_ci(q, confidence)


# --- summarize -----------------------------------------------------------------------------


def check_summary(values: list[float], s: Summary, confidence: float = 0.95) -> None:
    arr = np.asarray(values, dtype=float)
    assert s.count == len(values)
    assert s.min_ms == arr.min()
    assert s.max_ms == arr.max()
    assert close(s.mean_ms, float(arr.mean()))
    expected_std = float(arr.std(ddof=1)) if len(values) > 1 else 0.0
    assert math.isclose(s.stdev_ms, expected_std, rel_tol=1e-9, abs_tol=1e-9)
    for key, q in QUANTILES.items():
        assert close(getattr(s, f"{key}_ms"), np_percentile(values, q))
    xs = sorted(values)
    assert s.confidence == confidence
    assert s.ci == {key: quantile_ci(xs, q, confidence) for key, q in QUANTILES.items()}
    assert s.min_runs == {key: ref_min_runs(q, confidence) for key, q in QUANTILES.items()}
    for key in QUANTILES:
        assert (None not in s.ci[key]) == (s.count >= s.min_runs[key])


def test_summarize_matches_numpy() -> None:
    rng = np.random.default_rng(20240607)
    values = [float(v) for v in rng.lognormal(mean=1.0, sigma=0.4, size=500)]  # skewed, unsorted
    s = summarize(values)
    check_summary(values, s)
    assert s.ci["p50"][0] is not None and s.ci["p50"][1] is not None
    assert s.ci["p50"][0] <= s.p50_ms <= s.ci["p50"][1]
    assert s.ci["p99"][0] is not None and s.ci["p99"][1] is not None  # p99 needs 368 runs
    check_summary(values, summarize(values, confidence=0.9), confidence=0.9)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.floats(min_value=0.01, max_value=1e5, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=120,
    )
)
def test_summarize_matches_numpy_property(values: list[float]) -> None:
    check_summary(values, summarize(values))


def test_summarize_single_and_pair() -> None:
    s = summarize([3.5])
    assert s.count == 1
    assert s.stdev_ms == 0.0
    assert s.min_ms == s.p50_ms == s.p99_ms == s.max_ms == s.mean_ms == 3.5
    assert all(None in bounds for bounds in s.ci.values())
    s2 = summarize([2.0, 1.0])
    assert s2.stdev_ms == pytest.approx(math.sqrt(0.5))
    assert s2.p50_ms == 1.5


@pytest.mark.parametrize("values", [[], [1.0, math.nan], [1.0, math.inf]])
def test_summarize_rejects_bad_input(values: list[float]) -> None:
    with pytest.raises(ValueError):
        summarize(values)


def test_summarize_large_n() -> None:
    values = [float((i * 7919) % 100_000) for i in range(100_000)]  # a permutation of 0..99999
    s = summarize(values)
    assert s.count == 100_000
    for key, q in QUANTILES.items():
        lo, hi = ref_ranks(100_000, q)
        assert lo is not None and hi is not None
        assert s.ci[key] == (float(lo - 1), float(hi - 1))  # value of rank r is r - 1
