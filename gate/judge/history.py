"""`gate history`: each binary's numbers over a series of results, and where a budget falls.

A 5% `max_growth` never fires on a service that grows 1% per pull request; the series
does show it. The input is the results documents of the last runs on main (artifacts),
in any order: they are put in time order by `created`. Per binary (by path): file size,
its largest Go packages, start-up p50 and p95, and the limits the latest run was judged
against. The slope is a least-squares line over the last SLOPE_RUNS points per run; where
it rises towards a limit, the run at which it would be crossed is estimated.

Pure: documents in, frozen series out; gate/report/history.py renders them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gate.results.types import Document, Entry

SLOPE_RUNS = 10  # the trend is the recent one: the last runs, not the whole history
TOP_PACKAGES = 3


@dataclass(frozen=True)
class Point:
    created: str
    commit: str | None
    file_size: int | None
    p50_ms: float | None
    p95_ms: float | None
    packages: tuple[tuple[str, int], ...]  # the largest Go packages: (name, bytes)


@dataclass(frozen=True)
class Forecast:
    """A measure's trend against its limit: runs left before it is crossed at this slope."""

    measure: str  # "file_size" | "p95_ms"
    limit: float
    slope: float  # per run
    runs_left: int | None  # None: not rising towards the limit, or over it already
    latest: float = 0.0  # the last run's value

    @property
    def over(self) -> float | None:
        """How far the last run is over the limit; None when it is within it."""
        return self.latest - self.limit if self.latest > self.limit else None


@dataclass(frozen=True)
class Series:
    binary: str
    points: tuple[Point, ...]
    forecasts: tuple[Forecast, ...]


def build(docs: Sequence[tuple[str, Document]]) -> list[Series]:
    """One series per binary path, in time order (created; ties keep the order given)."""
    ordered = sorted(
        enumerate(docs), key=lambda item: (str(item[1][1].get("created") or ""), item[0])
    )
    points: dict[str, list[Point]] = {}
    latest: dict[str, Entry] = {}
    for _, (_, doc) in ordered:
        for entry in doc["binaries"]:
            if entry.get("facts") is None and entry.get("startup") is None:
                continue  # could not be judged: no numbers, no point
            path = str(entry["path"])
            points.setdefault(path, []).append(_point(doc, entry))
            latest[path] = entry
    return [
        Series(path, tuple(series), _forecasts(series, latest[path]))
        for path, series in sorted(points.items())
    ]


def _point(doc: Document, entry: Entry) -> Point:
    facts, startup = entry.get("facts"), entry.get("startup")
    attribution = entry.get("attribution")
    stats = startup.get("stats") if startup else None
    packages = (attribution.get("packages") if attribution else None) or []
    top = sorted(((str(p["name"]), int(p["bytes"])) for p in packages), key=lambda p: -p[1])
    return Point(
        created=str(doc.get("created") or ""),
        commit=doc.get("commit"),
        file_size=facts.get("file_size") if facts else None,
        p50_ms=stats.get("p50_ms") if stats else None,
        p95_ms=stats.get("p95_ms") if stats else None,
        packages=tuple(top[:TOP_PACKAGES]),
    )


def _limits(entry: Entry) -> dict[str, float]:
    """The limits the latest run judged this binary against, by the measure they bound."""
    found = {}
    for check in entry.get("checks") or []:
        limit = check.get("limit")
        if not isinstance(limit, int | float) or isinstance(limit, bool):
            continue
        if check["id"] == "size.max_file":
            found["file_size"] = float(limit)
        elif check["id"] == "startup.p95":
            found["p95_ms"] = float(limit)
    return found


def _forecasts(series: list[Point], latest: Entry) -> tuple[Forecast, ...]:
    out = []
    for measure, limit in _limits(latest).items():
        values = [getattr(p, measure) for p in series[-SLOPE_RUNS:]]
        known = [float(v) for v in values if v is not None]
        if len(known) < 2:
            continue
        slope = _slope(known)
        runs_left = None
        if slope > 0 and known[-1] <= limit:
            runs_left = math.ceil((limit - known[-1]) / slope)
        out.append(Forecast(measure, limit, slope, runs_left, known[-1]))
    return tuple(out)


def _slope(values: list[float]) -> float:
    """Least-squares slope per step."""
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den if den else 0.0
