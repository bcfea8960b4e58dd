"""Counted starts' statistics: a median, the range, and how far the runs spread.

A count is nearly the same on every run (gate/run/count.py says what moves it), so it is
summarized by its median and judged against a budget as it is; an A/B comparison of
counts goes through the same paired interval as wall time (compare.py), which the
occasional high run of a Go start cannot move far.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gate.errors import UnitError

_COUNT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kKMG]?)\s*")
_SCALE = {"": 1, "k": 1_000, "K": 1_000, "M": 1_000_000, "G": 1_000_000_000}


@dataclass(frozen=True)
class CountSummary:
    count: int
    median: float
    min: int
    max: int
    spread_pct: float  # (max - min) / median, in percent: 0 for a deterministic program


def summarize_counts(values: Sequence[int]) -> CountSummary:
    if not values:
        raise ValueError("no counts to summarize")
    s = sorted(values)
    n = len(s)
    median = float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    spread = (s[-1] - s[0]) / median * 100 if median else 0.0
    return CountSummary(n, median, s[0], s[-1], spread)


def format_count(value: float) -> str:
    """`1.75M`, `353.8k`, `912`: instructions as people read them (four figures)."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{unit}"
    return f"{value:.0f}"


def parse_count(raw: object) -> int:
    """`30000000`, `"30M"`, `"1.5G"`, `"350k"`: an instruction budget (powers of 1000)."""
    if isinstance(raw, bool):
        raise UnitError(f'expected a count like 30000000 or "30M", got {raw!r}')
    if isinstance(raw, int) and raw >= 0:
        return raw
    m = _COUNT.fullmatch(raw) if isinstance(raw, str) else None
    if m is None:
        raise UnitError(f'expected a count like 30000000 or "30M", got {raw!r}')
    return round(float(m.group(1)) * _SCALE[m.group(2)])
