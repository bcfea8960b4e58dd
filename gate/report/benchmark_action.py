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
text (the chart's tooltip, the alert comment). The numbers are the document's own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from gate.report.bmf import FILE_SIZE, STARTUP_MEASURES, benchmark_names


def render_benchmark_action(doc: Mapping[str, Any]) -> str:
    """customSmallerIsBetter JSON for a gate/results/v1 document."""
    return json.dumps(benchmark_action_entries(doc), indent=2, ensure_ascii=False) + "\n"


def benchmark_action_entries(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    binaries = doc["binaries"]
    return [
        entry
        for binary, name in zip(binaries, benchmark_names(binaries), strict=True)
        for entry in _entries(binary, name)
    ]


def _entries(binary: Mapping[str, Any], name: str) -> Iterator[dict[str, Any]]:
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
    for slug, key in STARTUP_MEASURES:
        entry: dict[str, Any] = {"name": f"{name} - {slug}", "unit": "ms"}
        entry["value"] = stats[f"{key}_ms"]
        low, high = stats["ci"].get(key, (None, None))
        if low is not None and high is not None:
            entry["range"] = f"{stats['confidence']:.0%} CI {low:.3f} to {high:.3f} ms"
        entry["extra"] = extra
        yield entry
