"""Exports to the trend tools teams already run, from real binaries and real runs.

Each export is checked against the format as its tool documents it:

- Bencher Metric Format (`gate report --format bmf`):
  https://bencher.dev/docs/reference/bencher-metric-format/ and its JSON Schema
  https://bencher.dev/bmf.json (benchmark name -> measure slug -> {value, lower_value?,
  upper_value?}, numbers). The measure slugs are Bencher's built-in ones, as its source
  (bencherdev/bencher, lib/bencher_json/src/project/measure/built_in.rs) defines them:
  `latency` (`create_measure!(Latency, "Latency", "latency", NANOSECONDS)`) and
  `file-size` (`create_measure!(FileSize, "File Size", "file-size", BYTES)`), units
  "nanoseconds (ns)" and "bytes (B)" (lib/bencher_valid/src/units.rs); a slug that is
  none of them is created as a new measure of generic units
  (lib/bencher_schema/src/model/project/measure.rs). The JSON adapter
  (lib/bencher_adapter/src/adapters/json.rs) reads the document as it is, e.g.
  lib/bencher_adapter/tool_output/json/report_latency.json: one `latency` metric per
  benchmark, `{"value", "lower_value", "upper_value"}` (JsonNewMetric,
  lib/bencher_json/src/project/metric/mod.rs).
- github-action-benchmark `customSmallerIsBetter` (`gate report --format benchmark-action`):
  the README of https://github.com/benchmark-action/github-action-benchmark ("Every
  entry in the JSON file you provide only needs to provide name, unit, and value ...
  optional range ... and extra"), parsed by its src/extract.ts (`BenchmarkResult`, a zod
  object: name, unit strings, value a number, range and extra optional strings;
  `extractCustomBenchmarkResult`; an empty array throws `No benchmark result was found`);
  `range` is free text shown as it is (src/write.ts `strVal`, the chart's tooltip), and
  only one starting with "±" or "+-" is parsed as a number (src/extractRangeInfo.ts);
  "ms" is one of the time units its src/normalizeValueByUnit.ts converts between.
- hyperfine's `--export-json` (`gate startup --export-hyperfine`): compared with a real
  `hyperfine --export-json` of the same program (keys and types), and read the way
  hyperfine's scripts/ read it (plot_histogram.py, plot_whisker.py,
  plot_benchmark_comparison.py, welch_ttest.py).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ci import unavailable
from results_docs import document, facts

RUNS = "10"  # enough for a confidence interval of the median (not yet of p95)
BMF_METRIC_KEYS = {"value", "lower_value", "upper_value"}  # bmf.json's properties
BMF_SUFFIXES = ("", " startup p50", " startup p95")  # a binary's benchmarks, in order
ACTION_KEYS = {"name", "unit", "value", "range", "extra"}  # extract.ts BenchmarkResult
ACTION_TIME_UNITS = ("s", "ms", "us", "ns")  # normalizeValueByUnit.ts TIME_UNITS
# Keys hyperfine's export gained after the installed 1.15 (memory_usage_byte: 1.20).
NEWER_HYPERFINE_KEYS = {"memory_usage_byte"}


def gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": "true"},
    )


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def checked(fixtures: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A real results document: two binaries that share a name (svc), and one that does not."""
    work = tmp_path_factory.mktemp("exports")
    noop = fixtures["rt-noop"].path
    services = []
    for team in ("a", "b"):
        (work / team).mkdir()
        services.append(shutil.copy(noop, work / team / "svc"))
    dyn = fixtures["rt-noop-dyn"].path
    out = work / "results.json"
    proc = gate("check", *map(str, services), str(dyn), "--runs", RUNS, "--json", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    return out, json.loads(out.read_text())


def expected_names(doc: dict[str, Any]) -> list[str]:
    """Names as the results document gives them: the path where two share a file name."""
    names = [b["name"] for b in doc["binaries"]]
    return [b["path"] if names.count(b["name"]) > 1 else b["name"] for b in doc["binaries"]]


def test_bmf_follows_bencher_metric_format(checked: tuple[Path, dict[str, Any]]) -> None:
    path, doc = checked
    proc = gate("report", str(path), "--format", "bmf")
    assert proc.returncode == 0, proc.stderr
    bmf = json.loads(proc.stdout)
    # bmf.json: an object of benchmarks, each an object of measures, each a metric with a
    # required numeric `value` and optional numeric `lower_value`/`upper_value`.
    assert isinstance(bmf, dict)
    for measures in bmf.values():
        assert isinstance(measures, dict) and measures
        for metric in measures.values():
            assert set(metric) <= BMF_METRIC_KEYS and "value" in metric
            assert all(is_number(v) for v in metric.values())
    names = expected_names(doc)
    assert len(set(names)) == 3 and names[2] == "rt-noop-dyn"  # the two svc apart, by path
    # Per binary: its file size on the binary's own benchmark, and each percentile a
    # benchmark of its own, since one benchmark holds one value per measure.
    assert list(bmf) == [f"{n}{suffix}" for n in names for suffix in BMF_SUFFIXES]
    for binary, name in zip(doc["binaries"], names, strict=True):
        # file-size: Bencher's File Size Measure, bytes: the file's own size.
        assert bmf[name] == {"file-size": {"value": os.path.getsize(binary["path"])}}
        stats = binary["startup"]["stats"]
        ok_ms = [r["wall_ms"] for r in binary["startup"]["runs"] if r["ok"]]
        for key in ("p50", "p95"):
            measures = bmf[f"{name} startup {key}"]
            assert list(measures) == ["latency"]  # Bencher's built-in, in nanoseconds
            metric = measures["latency"]
            assert metric["value"] == pytest.approx(stats[f"{key}_ms"] * 1e6, rel=1e-9)
            low, high = stats["ci"][key]
            assert ("lower_value" in metric) == (low is not None)
            assert ("upper_value" in metric) == (high is not None)
            if low is not None:
                assert metric["lower_value"] == pytest.approx(low * 1e6, rel=1e-9)
                assert metric["lower_value"] <= metric["value"]
            if high is not None:
                assert metric["upper_value"] == pytest.approx(high * 1e6, rel=1e-9)
                assert metric["value"] <= metric["upper_value"]
        # Nanoseconds: the median of the runs' milliseconds, times 10^6.
        p50 = bmf[f"{name} startup p50"]["latency"]
        assert p50["value"] == pytest.approx(statistics.median(ok_ms) * 1e6, rel=1e-9)
        assert {"lower_value", "upper_value"} <= set(p50)  # 10 runs bound the median at 95%
        # 10 runs give p95 a lower bound only (the X_(8) of 10), never an upper one.
        assert set(bmf[f"{name} startup p95"]["latency"]) == {"value", "lower_value"}


def test_benchmark_action_follows_custom_smaller_is_better(
    checked: tuple[Path, dict[str, Any]],
) -> None:
    path, doc = checked
    proc = gate("report", str(path), "--format", "benchmark-action")
    assert proc.returncode == 0, proc.stderr
    entries = json.loads(proc.stdout)
    assert isinstance(entries, list)
    for entry in entries:
        assert set(entry) <= ACTION_KEYS and {"name", "unit", "value"} <= set(entry)
        assert all(isinstance(entry[k], str) for k in set(entry) - {"value"})
        assert is_number(entry["value"])
    by_name = {e["name"]: e for e in entries}
    assert len(by_name) == len(entries) == 9  # unique: each name is one chart
    for binary, name in zip(doc["binaries"], expected_names(doc), strict=True):
        size = by_name[f"{name} - file-size"]
        assert (size["unit"], size["value"]) == ("bytes", os.path.getsize(binary["path"]))
        assert "range" not in size  # a size is exact
        stats = binary["startup"]["stats"]
        for key in ("p50", "p95"):
            entry = by_name[f"{name} - startup-{key}"]
            assert entry["unit"] == "ms" and entry["unit"] in ACTION_TIME_UNITS
            assert entry["value"] == stats[f"{key}_ms"]
            assert f"{stats['count']} successful runs" in entry["extra"]
            # The action would rescale a range that starts with "±" as if it were a number.
            assert not entry["range"].lstrip().startswith(("±", "+-"))
        low, high = stats["ci"]["p50"]
        assert by_name[f"{name} - startup-p50"]["range"] == f"95% CI {low:.3f} to {high:.3f} ms"
        # p95 from 10 runs: the lower bound the results hold, and when an upper one comes:
        # the fewest runs n with 0.95^n <= 0.025 (stats.min_runs_for_ci, by hand).
        low, high = stats["ci"]["p95"]
        assert low is not None and high is None
        need = math.ceil(math.log(0.025) / math.log(0.95))
        assert need == 72
        p95 = by_name[f"{name} - startup-p95"]
        assert p95["range"] == f"95% CI from {low:.3f} ms (no upper bound under {need} runs)"


def _stats_doc(ci: dict[str, list[float | None]]) -> dict[str, Any]:
    """A validated results document of one started binary whose intervals are `ci`."""
    run = {
        "wall_ms": 2.0,
        "user_ms": 0.5,
        "sys_ms": 0.5,
        "max_rss_bytes": 1 << 20,
        "major_faults": 0,
        "minor_faults": 90,
        "exit_code": 0,
        "ok": True,
    }
    stats = {
        "count": 80,
        "failed": 0,
        "min_ms": 1.0,
        "p50_ms": 2.0,
        "p90_ms": 2.5,
        "p95_ms": 2.75,
        "p99_ms": 3.5,
        "max_ms": 4.0,
        "mean_ms": 2.1,
        "stdev_ms": 0.4,
        "ci": ci,
        "confidence": 0.95,
        "min_runs": {"p50": 6, "p90": 36, "p95": 72, "p99": 368},
    }
    startup = {
        "binary": "build/svc",
        "args": [],
        "ready": "exit",
        "cold": True,
        "eviction": "fadvise",
        "runs": [run] * 80,
        "stats": stats,
    }
    entry = {"path": "build/svc", "facts": facts(), "startup": startup}
    return document("pass", [entry])  # fmt: skip


def test_benchmark_action_p95_range_is_the_results_interval() -> None:
    """Both bounds held (80 runs bound p95): the range is the results' own interval."""
    from gate.report.formats import render

    ci = {"p50": [1.9, 2.1], "p90": [2.4, 2.6], "p95": [2.625, 3.0], "p99": [3.25, None]}
    entries = {e["name"]: e for e in json.loads(render(_stats_doc(ci), "benchmark-action"))}
    assert entries["svc - startup-p95"]["range"] == "95% CI 2.625 to 3.000 ms"
    assert entries["svc - startup-p50"]["range"] == "95% CI 1.900 to 2.100 ms"
    bmf = json.loads(render(_stats_doc(ci), "bmf"))
    assert bmf["svc startup p95"] == {
        "latency": {"value": 2_750_000.0, "lower_value": 2_625_000.0, "upper_value": 3_000_000.0}
    }
    # No interval at all (too few runs for either bound): no range, none invented.
    ci["p95"] = [None, None]
    entries = {e["name"]: e for e in json.loads(render(_stats_doc(ci), "benchmark-action"))}
    assert "range" not in entries["svc - startup-p95"]
    assert json.loads(render(_stats_doc(ci), "bmf"))["svc startup p95"] == {
        "latency": {"value": 2_750_000.0}
    }
    # One bound, from a document written before gate recorded min_runs: said as such.
    ci["p50"] = [None, 2.1]
    doc = _stats_doc(ci)
    doc["binaries"][0]["startup"]["stats"]["min_runs"] = {}
    entries = {e["name"]: e for e in json.loads(render(doc, "benchmark-action"))}
    assert entries["svc - startup-p50"]["range"] == (
        "95% CI up to 2.100 ms (too few runs for a lower bound)"
    )


def _unstartable(tmp_path: Path, fixtures: Any) -> tuple[Path, Path]:
    """(a results document, the binary): a real ELF gate read but could not start, because
    it is not executable; `gate check` exits 2 (not judged)."""
    binary = Path(shutil.copy(fixtures["rt-noop"].path, tmp_path / "svc"))
    binary.chmod(0o644)
    results = tmp_path / "results.json"
    proc = gate("check", str(binary), "--runs", "3", "--json", str(results))
    assert proc.returncode == 2, proc.stderr
    assert "not executable" in json.loads(results.read_text())["binaries"][0]["error"]
    return results, binary


def test_an_unjudged_run_exports_what_was_measured(fixtures: Any, tmp_path: Path) -> None:
    """The file was read before the start failed: its size goes to both trend tools."""
    results, binary = _unstartable(tmp_path, fixtures)
    bench = tmp_path / "bench.json"
    proc = gate("report", str(results), "--format", "benchmark-action", "-o", str(bench))
    assert proc.returncode == 0, proc.stderr
    size = os.path.getsize(binary)
    assert json.loads(bench.read_text()) == [
        {"name": "svc - file-size", "unit": "bytes", "value": size}
    ]
    proc = gate("report", str(results), "--format", "bmf")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"svc": {"file-size": {"value": size}}}


def test_nothing_measured_writes_no_benchmark_file(tmp_path: Path) -> None:
    """Not even a size (not an ELF file): no file, one warning, exit 0, so the workflow's
    `if: hashFiles('bench.json') != ''` skips the action instead of failing in it."""
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    results = tmp_path / "results.json"
    proc = gate("check", str(script), "--json", str(results))
    assert proc.returncode == 2, proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "report", str(results), "--format", "benchmark-action",
         "-o", "bench.json"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr == "gate: warning: nothing was measured; bench.json not written\n"
    assert not (tmp_path / "bench.json").exists()
    proc = gate("report", str(results), "--format", "benchmark-action")
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr == "gate: warning: nothing was measured; nothing written\n"


def test_report_lists_the_export_formats(checked: tuple[Path, dict[str, Any]]) -> None:
    proc = gate("report", str(checked[0]), "--format", "nope")
    assert proc.returncode == 2
    assert "bmf" in proc.stderr and "benchmark-action" in proc.stderr


def hyperfine(tmp_path: Path, *commands: str) -> dict[str, Any]:
    if shutil.which("hyperfine") is None:
        unavailable("hyperfine is not installed")
    out = tmp_path / "hyperfine.json"
    argv = ["hyperfine", "-N", "--runs", RUNS, "--warmup", "1", "--export-json", str(out)]
    subprocess.run([*argv, *commands], check=True, capture_output=True, timeout=120)
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def gate_startup(tmp_path: Path, binary: Path, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the hyperfine export, the gate/startup/v1 document) of one real `gate startup`."""
    export, native = tmp_path / "gate-hyperfine.json", tmp_path / "startup.json"
    proc = gate(
        "startup", str(binary), "--runs", RUNS, f"--json={native}",
        "--export-hyperfine", str(export), *args,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(export.read_text()), json.loads(native.read_text())


def json_type(value: Any) -> str:
    """The JSON type a reader sees: hyperfine's seconds are floats, exit codes integers."""
    if isinstance(value, list):
        return "array of " + ",".join(sorted({json_type(v) for v in value}))
    return {bool: "bool", int: "int", float: "float", str: "str"}.get(type(value), "null")


def test_hyperfine_export_has_hyperfines_own_shape(fixtures: Any, tmp_path: Path) -> None:
    binary = fixtures["rt-noop"].path
    real = hyperfine(tmp_path, str(binary))
    ours, native = gate_startup(tmp_path, binary)
    assert set(ours) == set(real) == {"results"}
    (theirs,) = real["results"]
    (mine,) = ours["results"]
    assert set(theirs) <= set(mine) <= set(theirs) | NEWER_HYPERFINE_KEYS
    for key, value in theirs.items():
        if key == "system" and value == 0:  # hyperfine writes 0.0; a float either way
            continue
        assert json_type(mine[key]) == json_type(value), key
    assert mine["command"] == theirs["command"] == str(binary)
    # The numbers are gate's own, in seconds, over the successful runs.
    stats = native["stats"]
    ok = [r for r in native["runs"] if r["ok"]]
    assert mine["times"] == [r["wall_ms"] / 1000 for r in ok]
    assert mine["exit_codes"] == [0] * len(ok) == theirs["exit_codes"][: len(ok)]
    assert len(mine["times"]) == stats["count"]
    pairs = {"mean": "mean_ms", "median": "p50_ms", "min": "min_ms", "max": "max_ms"}
    for key, ms in pairs.items():
        assert mine[key] == pytest.approx(stats[ms] / 1000, rel=1e-12), key
    assert mine["stddev"] == pytest.approx(stats["stdev_ms"] / 1000, rel=1e-12)
    assert mine["median"] == pytest.approx(statistics.median(mine["times"]), rel=1e-12)
    assert mine["min"] == min(mine["times"]) and mine["max"] == max(mine["times"])
    # Same unit as hyperfine (seconds): the same program's medians agree within a factor
    # (a millisecond export would be 1000 times off).
    assert 0.05 < mine["median"] / theirs["median"] < 20
    if "memory_usage_byte" in mine:
        assert mine["memory_usage_byte"] == [r["max_rss_bytes"] for r in ok]


def test_hyperfine_scripts_read_the_export(fixtures: Any, tmp_path: Path) -> None:
    """--against: two results, read as hyperfine's scripts read `hyperfine NEW OLD`."""
    new, old = fixtures["rt-noop"].path, fixtures["rt-noop-dyn"].path
    ours, native = gate_startup(tmp_path, new, "--against", str(old))
    results = ours["results"]
    # plot_histogram.py / plot_whisker.py / advanced_statistics.py
    labels = [b["command"] for b in results]
    all_times = [b["times"] for b in results]
    assert labels == [str(new), str(old)]
    assert min(map(min, all_times)) > 0 and all(len(t) >= 2 for t in all_times)
    assert [b["median"] for b in results] == [
        pytest.approx(s["p50_ms"] / 1000) for s in (native["stats"], native["against"]["stats"])
    ]
    # plot_benchmark_comparison.py rounds the means; welch_ttest.py takes the first two.
    assert all(isinstance(round(b["mean"], 2), float) for b in results)
    a, b = (x["command"] for x in results[:2])
    x, y = (r["times"] for r in results[:2])
    assert (a, b) == (str(new), str(old)) and len(x) == len(y)
    old_runs = native["against"]["runs"]
    assert results[1]["times"] == [r["wall_ms"] / 1000 for r in old_runs if r["ok"]]


def test_hyperfine_exit_codes_and_memory_as_hyperfine_writes_them(
    fixtures: Any, tmp_path: Path
) -> None:
    """A signal is 128 + its number in hyperfine's exit codes (src/util/exit_code.rs; the
    installed hyperfine says so for a crash); a service gate stopped with SIGTERM once it
    was ready is 143. Peak RSS per run is hyperfine's `memory_usage_byte` (1.20+)."""
    real = hyperfine(tmp_path, "-i", str(fixtures["rt-segv"].path))
    assert set(real["results"][0]["exit_codes"]) == {128 + signal.SIGSEGV}
    service = fixtures["rt-readyline"].path
    ours, native = gate_startup(tmp_path, service, "--ready", "line:READY", "--", "5")
    (mine,) = ours["results"]
    assert [r["exit_code"] for r in native["runs"]] == [-signal.SIGTERM] * int(RUNS)
    assert mine["exit_codes"] == [128 + signal.SIGTERM] * int(RUNS)
    assert mine["command"] == f"{service} 5"
    big, native = gate_startup(tmp_path, fixtures["rt-bigtext"].path)
    rss = [r["max_rss_bytes"] for r in native["runs"] if r["ok"]]
    assert None not in rss, "rt-bigtext's RSS is above gate's own: measurable"
    assert big["results"][0]["memory_usage_byte"] == rss
    assert all(isinstance(b, int) and b > 2**20 for b in rss)  # its 40 MiB, touched


def test_hyperfine_export_on_stdout_keeps_the_text_apart(fixtures: Any) -> None:
    proc = gate("startup", str(fixtures["rt-noop"].path), "--runs", "3", "--export-hyperfine", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # nothing but the export on stdout
    assert len(doc["results"][0]["times"]) == 3
    assert "p50" in proc.stderr  # the usual summary, on stderr


def test_no_successful_run_writes_no_export(fixtures: Any, tmp_path: Path) -> None:
    export = tmp_path / "hf.json"
    proc = gate(
        "startup", str(fixtures["rt-exit3"].path), "--runs", "3", "--export-hyperfine", str(export)
    )
    assert proc.returncode == 2
    assert "runs failed" in proc.stderr
    assert not export.exists()
