"""A/B statistics against scipy, and the interval's coverage on simulated start-up times."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats as sps

from gate.startup.compare import (
    FAIL,
    PASS,
    UNDECIDED,
    compare,
    interval_verdict,
    regression_verdict,
)
from gate.startup.sampling import checkpoints


def lognormal(rng: random.Random, n: int, median: float, sigma: float) -> list[float]:
    return [median * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


@pytest.mark.parametrize("seed", range(8))
def test_matches_scipy_wilcoxon_and_walsh_averages(seed: int) -> None:
    rng = random.Random(seed)
    n = 9 + 3 * seed
    load = [math.exp(rng.gauss(0, 0.3)) for _ in range(n)]  # bursts shared by a round
    new = [x * 10.0 * (1 + seed / 20) * math.exp(rng.gauss(0, 0.05)) for x in load]
    old = [x * 10.0 * math.exp(rng.gauss(0, 0.05)) for x in load]
    if seed % 2:  # ties, as a coarse clock makes them
        new, old = [round(x, 1) for x in new], [round(x, 1) for x in old]
    got = compare(new, old)
    d = np.log(new) - np.log(old)
    ref = sps.wilcoxon(d, alternative="two-sided", method="approx", correction=True,
                       zero_method="wilcox")  # fmt: skip
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
    walsh = [(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)]
    assert got.ratio_hl == pytest.approx(math.exp(np.median(walsh)), rel=1e-12)
    assert got.ratio_p50 == pytest.approx(np.median(new) / np.median(old), rel=1e-12)
    lo, hi = got.ratio_ci
    assert lo <= got.ratio_hl <= hi


def test_pairing_cancels_shared_bursts() -> None:
    """Load that slows both starts of a round leaves the interval narrow; unpaired, it
    would not (the spread of the times themselves is 30%)."""
    rng = random.Random(11)
    load = [math.exp(rng.gauss(0, 0.3)) for _ in range(20)]
    new = [x * 23.0 * math.exp(rng.gauss(0, 0.02)) for x in load]
    old = [x * 20.0 * math.exp(rng.gauss(0, 0.02)) for x in load]
    lo, hi = compare(new, old).ratio_ci
    assert 1.10 < lo < 1.15 < hi < 1.20


def test_interval_covers_the_true_ratio() -> None:
    """On skewed, noisy samples with a known ratio the 95% interval covers it ~95% of the time."""
    rng = random.Random(7)
    true = 1.15
    hits = 0
    trials = 400
    for _ in range(trials):
        load = lognormal(rng, 20, 1.0, 0.2)
        old = [x * y for x, y in zip(load, lognormal(rng, 20, 20.0, 0.1), strict=True)]
        new = [x * y for x, y in zip(load, lognormal(rng, 20, 20.0 * true, 0.1), strict=True)]
        lo, hi = compare(new, old).ratio_ci
        hits += lo <= true <= hi
    assert 0.92 <= hits / trials <= 0.985


def test_verdicts_on_the_interval() -> None:
    rng = random.Random(3)
    base = lognormal(rng, 40, 20.0, 0.05)
    same = compare(lognormal(rng, 40, 20.0, 0.05), base)
    slower = compare(lognormal(rng, 40, 26.0, 0.05), base)
    near = compare(lognormal(rng, 6, 22.0, 0.1), lognormal(rng, 6, 20.0, 0.1))
    assert regression_verdict(same, 10) == PASS
    assert regression_verdict(slower, 10) == FAIL
    assert regression_verdict(near, 10) == UNDECIDED
    # Percentiles: an undefined bound runs to the sample's extreme.
    assert interval_verdict(None, None, 10.0, 30.0, 40.0) == PASS
    assert interval_verdict(None, None, 45.0, 60.0, 40.0) == FAIL
    assert interval_verdict(30.0, None, 10.0, 60.0, 40.0) == UNDECIDED
    assert interval_verdict(41.0, 50.0, 10.0, 60.0, 40.0) == FAIL


def test_bad_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="one OLD start for each NEW"):
        compare([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2 runs"):
        compare([1.0], [1.0])
    with pytest.raises(ValueError, match="positive finite"):
        compare([1.0, 0.0], [1.0, 2.0])


def test_checkpoints_grow_by_half_up_to_the_ceiling() -> None:
    assert checkpoints(20, 20) == [20]
    assert checkpoints(20, 100) == [20, 30, 45, 68, 100]
    assert checkpoints(1, 4) == [1, 2, 3, 4]
