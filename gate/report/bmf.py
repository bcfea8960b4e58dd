"""Bencher Metric Format (BMF) JSON: gate's numbers for Bencher's trend charts and alerts.

Rendered from a gate/results/v1 document (`gate report RESULTS.json --format bmf`) and
uploaded with `bencher run --adapter json --file bmf.json`. The format, as documented at
https://bencher.dev/docs/reference/bencher-metric-format/ (and its JSON Schema,
https://bencher.dev/bmf.json): an object whose keys are Benchmark names, each an object
whose keys are Measure slugs, each a Metric `{"value", "lower_value"?, "upper_value"?}`
of JSON numbers.

Per binary, three Benchmarks, named from the binary as the results document names it (its
file name, or its path where two binaries share a name, as the metrics report labels
them):

- `<binary>`: `file-size`, the file's size in bytes. Bencher's built-in File Size
  Measure (https://bencher.dev/docs/how-to/track-file-size/, bytes), so the series lines
  up with `bencher run --file-size` on the same binary.
- `<binary> startup p50` and `<binary> startup p95`: `latency`, the cold-start
  percentile in nanoseconds, with gate's distribution-free confidence interval as
  `lower_value`/`upper_value` where the runs were enough to give that bound. `latency` is
  Bencher's built-in Measure in nanoseconds, so the series gets that unit; any other
  slug would be created as a Measure of generic units. A Benchmark holds one Metric per
  Measure, so the two percentiles (the policy judges p95, a reviewer reads p50) are two
  Benchmarks; the names are stable, so Bencher's history and thresholds follow them.

The numbers are the document's own, converted to the unit (ms to ns); nothing is
recomputed. A binary that could not be inspected or started has only the Benchmarks it
has numbers for (a binary that could not be started still has its size); one with none
is left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from gate.report.markup import percentile_ms
from gate.values.escape import dump_json

if TYPE_CHECKING:
    from gate.results.types import Document, Entry

FILE_SIZE = "file-size"  # Bencher's built-in File Size Measure (bytes)
LATENCY = "latency"  # Bencher's built-in Latency Measure (nanoseconds)
STARTUP_BENCHMARKS = (("startup p50", "p50"), ("startup p95", "p95"))  # name, STATS key
NS_PER_MS = 1_000_000

Metric = dict[str, int | float]


def render_bmf(doc: Document) -> str:
    """BMF JSON for a gate/results/v1 document."""
    return dump_json(bmf_document(doc))


def bmf_document(doc: Document) -> dict[str, dict[str, Metric]]:
    binaries = doc["binaries"]
    named = [
        (benchmark, measures)
        for binary, name in zip(binaries, benchmark_names(binaries), strict=True)
        for benchmark, measures in _benchmarks(binary, name)
    ]
    return dict(zip(unique([b for b, _ in named]), (m for _, m in named), strict=True))


def benchmark_names(binaries: Sequence[Entry]) -> list[str]:
    """Each binary's name; its path where two share a name; a number where two share both.

    A trend tool keys its series by this name, so two binaries must never share one:
    one would silently overwrite the other (a JSON object's keys are unique).
    """
    names = [b["name"] or b["path"] or "?" for b in binaries]
    return unique(
        [
            b["path"] or name if names.count(name) > 1 else name
            for b, name in zip(binaries, names, strict=True)
        ]
    )


def unique(names: Sequence[str]) -> list[str]:
    """`names` with a number added to each repeat ("svc (2)"), so no key overwrites another:
    a binary could be named like another's start-up benchmark ("svc startup p50")."""
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in out:
            n += 1
            candidate = f"{name} ({n})"
        out.append(candidate)
    return out


def ms_to_ns(ms: float) -> float:
    """Milliseconds as nanoseconds, without the float noise of the multiplication
    (1.2345 ms is 1234500.0 ns, not 1234500.0000000002)."""
    return round(ms * NS_PER_MS, 3)


def _benchmarks(binary: Entry, name: str) -> Iterator[tuple[str, dict[str, Metric]]]:
    facts = binary["facts"]
    if facts is not None:
        yield name, {FILE_SIZE: {"value": facts["file_size"]}}
    startup = binary["startup"]
    stats = startup["stats"] if startup is not None else None
    if stats is None:
        return  # not started, or no run succeeded: no percentile to report
    for suffix, key in STARTUP_BENCHMARKS:
        metric: Metric = {"value": ms_to_ns(percentile_ms(stats, key))}
        low, high = stats["ci"].get(key, (None, None))
        if low is not None:
            metric["lower_value"] = ms_to_ns(low)
        if high is not None:
            metric["upper_value"] = ms_to_ns(high)
        yield f"{name} {suffix}", {LATENCY: metric}
