"""hyperfine's JSON export, from gate's start-up runs (`gate startup --export-hyperfine PATH`).

People keep start-up numbers as `hyperfine --export-json` files and read them with
hyperfine's scripts (scripts/plot_histogram.py, plot_whisker.py, plot_progression.py,
advanced_statistics.py, welch_ttest.py, ...). Those read `results[i]["command"]`,
`["times"]`, `["mean"]`, `["median"]`, `["stddev"]`; this writes the same shape as
hyperfine's own exporter (src/benchmark/benchmark_result.rs, `BenchmarkResult`,
serialised by serde), so they work on gate's runs:

    {"results": [{"command", "mean", "stddev", "median", "user", "system", "min", "max",
                  "times": [...], "memory_usage_byte": [...], "exit_codes": [...]}]}

All times in seconds. One result for BINARY and, with `--against OLD`, a second for OLD
(so welch_ttest.py compares the two, as it does `hyperfine NEW OLD`).

Only the successful runs, the ones gate's statistics are over: mean, median (gate's
p50, type 7, which is the median), min, max and stddev (the sample standard deviation,
n - 1, as hyperfine's; null with one run, as hyperfine's) are gate's own numbers in
seconds. `user` and `system` are the mean CPU times of those runs, as hyperfine reports
them (gate keeps them per run only). `memory_usage_byte` (hyperfine 1.20 and later: the
peak RSS of each run) is there when every run has one. `exit_codes` are as hyperfine
writes them (src/util/exit_code.rs): the status, or 128 + the signal for a process a
signal ended (a service gate stopped with SIGTERM once it was ready: 143); null where
gate recorded none. Failed runs are left out, as hyperfine leaves out a failing command
unless told to ignore failures; gate's own report counts them.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gate.values.escape import dump_json

if TYPE_CHECKING:
    from gate.run.measure import StartupResult
    from gate.run.runner import RunSample
    from gate.values.stats import Summary


def render_hyperfine(result: StartupResult) -> str | None:
    """hyperfine's export JSON for a `gate startup` result; None when no run succeeded."""
    doc = hyperfine_document(result)
    if not doc["results"]:
        return None
    return dump_json(doc)


def hyperfine_document(result: StartupResult) -> dict[str, list[dict[str, Any]]]:
    args = result.args
    commands = [(result.binary, result.runs, result.stats)]
    if result.against is not None:
        other = result.against
        commands.append((other.binary, other.runs, other.stats))
    return {
        "results": [
            _result(shlex.join((binary, *args)), runs, stats)
            for binary, runs, stats in commands
            if stats is not None
        ]
    }


def _result(command: str, runs: Sequence[RunSample], stats: Summary) -> dict[str, Any]:
    ok = [r for r in runs if r.ok]
    doc: dict[str, Any] = {
        "command": command,
        "mean": stats.mean_ms / 1000.0,
        "stddev": stats.stdev_ms / 1000.0 if stats.count > 1 else None,
        "median": stats.p50_ms / 1000.0,
        "user": sum(r.user_ms for r in ok) / len(ok) / 1000.0,
        "system": sum(r.sys_ms for r in ok) / len(ok) / 1000.0,
        "min": stats.min_ms / 1000.0,
        "max": stats.max_ms / 1000.0,
        "times": [r.wall_ms / 1000.0 for r in ok],
    }
    rss = [r.max_rss_bytes for r in ok]
    if all(b is not None for b in rss):
        doc["memory_usage_byte"] = rss
    doc["exit_codes"] = [_exit_code(r.exit_code) for r in ok]
    return doc


def _exit_code(code: int | None) -> int | None:
    """gate's exit code (negative: the signal) as hyperfine's: 128 + signal, as bash does."""
    return 128 - code if code is not None and code < 0 else code
