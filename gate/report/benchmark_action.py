"""github-action-benchmark's custom JSON: gate's numbers on its gh-pages charts and alerts.

Rendered from a gate/results/v1 document (`gate report RESULTS.json --format
benchmark-action`) and given to the action with `tool: customSmallerIsBetter`. The format,
as the action's README documents it
(https://github.com/benchmark-action/github-action-benchmark#examples, "customBiggerIsBetter
and customSmallerIsBetter"): a JSON array whose entries have `name`, `unit` and `value`,
and optionally `range` ("results' variance") and `extra` (text for the tooltip). The
action parses it with zod (src/extract.ts, `BenchmarkResult`): name, unit, range and extra
are strings, value a number.

Every gate number is smaller-is-better, so one file serves. Per binary (named as the BMF
export and the metrics report name it):

- `<binary> - file-size`: bytes (unit "bytes");
- `<binary> - startup-p50`, `<binary> - startup-p95`: milliseconds (unit "ms", one of the
  time units the action converts between when a series changes unit:
  src/normalizeValueByUnit.ts), with gate's confidence interval of that percentile as
  `range` and the runs behind it as `extra`.

`range` is the interval as it is ("95% CI 1.201 to 1.452 ms"), not the "± x" other tools
write: the interval of a percentile is not symmetric, and the action shows `range` as
text (the chart's tooltip, the alert comment). Where the runs bound the percentile on
one side only (p95 needs 72 successful runs at 95% for an upper bound, and gate's
default is 10), the range says so rather than leaving the entry without one: "95% CI
from 1.201 ms (no upper bound under 72 runs)". Where they bound it on neither side,
there is no range. The numbers are the document's own.

What was measured is written even when gate could not judge: a binary whose start
failed still has its size. A document with nothing at all (no binary could even be
read) has no entry, and the action fails on an empty array ("No benchmark result was
found"), so such a document raises NothingToWrite and no file is written: the workflow
guards the step with `if: hashFiles('bench.json') != ''`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gate.report.bmf import FILE_SIZE, benchmark_names
from gate.report.formats import NothingToWrite
from gate.report.markup import percentile_ms
from gate.values.escape import dump_json

if TYPE_CHECKING:
    from gate.results.types import Document, Entry, Stats

STARTUP_ENTRIES = (("startup-p50", "p50"), ("startup-p95", "p95"))  # name suffix, STATS key


def render_benchmark_action(doc: Document) -> str:
    """customSmallerIsBetter JSON for a gate/results/v1 document."""
    entries = benchmark_action_entries(doc)
    if not entries:
        raise NothingToWrite("nothing was measured")
    return dump_json(entries)


def benchmark_action_entries(doc: Document) -> list[dict[str, Any]]:
    binaries = doc["binaries"]
    return [
        entry
        for binary, name in zip(binaries, benchmark_names(binaries), strict=True)
        for entry in _entries(binary, name)
    ]


def _entries(binary: Entry, name: str) -> Iterator[dict[str, Any]]:
    facts = binary["facts"]
    if facts is not None:
        yield {"name": f"{name} - {FILE_SIZE}", "unit": "bytes", "value": facts["file_size"]}
    startup = binary["startup"]
    stats = startup["stats"] if startup is not None else None
    if startup is None or stats is None:
        return
    runs = f"{stats['count']} successful runs" + (
        f" ({stats['failed']} failed)" if stats["failed"] else ""
    )
    start = "cold" if startup["cold"] else "warm"
    extra = f"{runs}, {start} start, ready: {startup['ready']}"
    for suffix, key in STARTUP_ENTRIES:
        entry: dict[str, Any] = {"name": f"{name} - {suffix}", "unit": "ms"}
        entry["value"] = percentile_ms(stats, key)
        shown = interval_text(stats, key)
        if shown is not None:
            entry["range"] = shown
        entry["extra"] = extra
        yield entry


def interval_text(stats: Stats, key: str) -> str | None:
    """The confidence interval of percentile `key` as the results hold it, in words; None
    when the runs bound it on neither side (no interval is made up)."""
    low, high = stats["ci"].get(key, (None, None))
    level = f"{stats['confidence'] * 100:g}% CI"
    if low is not None and high is not None:
        return f"{level} {low:.3f} to {high:.3f} ms"
    if low is None and high is None:
        return None
    need = stats["min_runs"].get(key)
    missing = "upper" if high is None else "lower"
    why = f"no {missing} bound under {need} runs" if need else f"too few runs for a {missing} bound"
    if high is None:
        return f"{level} from {low:.3f} ms ({why})"
    return f"{level} up to {high:.3f} ms ({why})"
