"""Bencher Metric Format (BMF) JSON: gate's numbers for Bencher's trend charts and alerts.

Rendered from a gate/results/v1 document (`gate report RESULTS.json --format bmf`) and
uploaded with `bencher run --adapter json --file bmf.json`. The format, as documented at
https://bencher.dev/docs/reference/bencher-metric-format/ (and its JSON Schema,
https://bencher.dev/bmf.json): an object whose keys are Benchmark names, each an object
whose keys are Measure slugs, each a Metric `{"value", "lower_value"?, "upper_value"?}`
of JSON numbers.

One Benchmark per binary, named as the results document names it (its file name, or its
path where two binaries share a name, as the metrics report labels them), with:

- `file-size`: the file's size in bytes. This is Bencher's own built-in File Size
  Measure (https://bencher.dev/docs/how-to/track-file-size/, bytes), so the series
  lines up with `bencher run --file-size` on the same binary.
- `startup-p50`, `startup-p95`: cold-start percentiles in nanoseconds, with gate's
  distribution-free confidence interval as `lower_value`/`upper_value` where the runs
  were enough to give a bound. Custom slugs, not the built-in `latency`: a Benchmark
  has one Metric per Measure, and gate has two percentiles (the policy judges p95, a
  reviewer reads p50), neither of which is the per-iteration latency `latency` holds
  for the harnesses Bencher adapts. Bencher creates a Measure the first time its slug
  is used; the numbers are in nanoseconds, the unit of Bencher's `latency` Measure
  (https://bencher.dev/docs/how-to/track-custom-benchmarks/), so a project that gives
  these Measures units gives them "nanoseconds (ns)" and compares them with anything
  else it times.

The numbers are the document's own, converted to the unit (ms to ns); nothing is
recomputed. A binary that could not be inspected or started has only the Measures it
has; one with none is left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

FILE_SIZE = "file-size"  # Bencher's built-in File Size Measure (bytes)
STARTUP_MEASURES = (("startup-p50", "p50"), ("startup-p95", "p95"))  # slug, STATS key
NS_PER_MS = 1_000_000


def render_bmf(doc: Mapping[str, Any]) -> str:
    """BMF JSON for a gate/results/v1 document."""
    return json.dumps(bmf_document(doc), indent=2, ensure_ascii=False) + "\n"


def bmf_document(doc: Mapping[str, Any]) -> dict[str, dict[str, dict[str, int | float]]]:
    out: dict[str, dict[str, dict[str, int | float]]] = {}
    binaries = doc["binaries"]
    for binary, name in zip(binaries, benchmark_names(binaries), strict=True):
        measures = dict(_measures(binary))
        if measures:
            out[name] = measures
    return out


def benchmark_names(binaries: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each binary's name; its path where two share a name; a number where two share both.

    A trend tool keys its series by this name, so two binaries must never share one:
    one would silently overwrite the other (a JSON object's keys are unique).
    """
    names = [b["name"] or b["path"] or "?" for b in binaries]
    shown = [
        b["path"] or name if names.count(name) > 1 else name
        for b, name in zip(binaries, names, strict=True)
    ]
    unique: list[str] = []
    for name in shown:
        candidate, n = name, 1
        while candidate in unique:
            n += 1
            candidate = f"{name} ({n})"
        unique.append(candidate)
    return unique


def ms_to_ns(ms: float) -> float:
    """Milliseconds as nanoseconds, without the float noise of the multiplication
    (1.2345 ms is 1234500.0 ns, not 1234500.0000000002)."""
    return round(ms * NS_PER_MS, 3)


def _measures(binary: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, int | float]]]:
    facts = binary["facts"]
    if facts is not None:
        yield FILE_SIZE, {"value": facts["file_size"]}
    startup = binary["startup"]
    stats = startup["stats"] if startup is not None else None
    if stats is None:
        return  # not started, or no run succeeded: no percentile to report
    for slug, key in STARTUP_MEASURES:
        metric: dict[str, int | float] = {"value": ms_to_ns(stats[f"{key}_ms"])}
        low, high = stats["ci"].get(key, (None, None))
        if low is not None:
            metric["lower_value"] = ms_to_ns(low)
        if high is not None:
            metric["upper_value"] = ms_to_ns(high)
        yield slug, metric
