"""Exports to the trend tools teams already run, from real binaries and real runs.

Each export is checked against the format as its tool documents it:

- Bencher Metric Format (`gate report --format bmf`):
  https://bencher.dev/docs/reference/bencher-metric-format/ and its JSON Schema
  https://bencher.dev/bmf.json (benchmark name -> measure slug -> {value, lower_value?,
  upper_value?}, numbers); `file-size` is Bencher's built-in File Size Measure in bytes
  (https://bencher.dev/docs/how-to/track-file-size/); Bencher's `latency` Measure is in
  nanoseconds (https://bencher.dev/docs/how-to/track-custom-benchmarks/), the unit of
  gate's `startup-p50`/`startup-p95`.
- github-action-benchmark `customSmallerIsBetter` (`gate report --format benchmark-action`):
  the README of https://github.com/benchmark-action/github-action-benchmark ("Every
  entry in the JSON file you provide only needs to provide name, unit, and value ...
  optional range ... and extra"), parsed by its src/extract.ts (`BenchmarkResult`: name,
  unit, range, extra strings; value a number); "ms" is one of the time units its
  src/normalizeValueByUnit.ts converts between.
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

RUNS = "10"  # enough for a confidence interval of the median (not yet of p95)
BMF_METRIC_KEYS = {"value", "lower_value", "upper_value"}  # bmf.json's properties
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
    assert list(bmf) == names and len(set(names)) == 3  # the two svc apart, by path
    assert names[2] == "rt-noop-dyn"
    for binary, name in zip(doc["binaries"], names, strict=True):
        measures = bmf[name]
        assert set(measures) == {"file-size", "startup-p50", "startup-p95"}
        # file-size: Bencher's File Size Measure, bytes: the file's own size.
        assert measures["file-size"] == {"value": os.path.getsize(binary["path"])}
        stats = binary["startup"]["stats"]
        ok_ms = [r["wall_ms"] for r in binary["startup"]["runs"] if r["ok"]]
        # Nanoseconds: the median of the runs' milliseconds, times 10^6.
        p50 = measures["startup-p50"]
        assert p50["value"] == pytest.approx(statistics.median(ok_ms) * 1e6, rel=1e-9)
        for key in ("p50", "p95"):
            metric = measures[f"startup-{key}"]
            assert metric["value"] == pytest.approx(stats[f"{key}_ms"] * 1e6, rel=1e-9)
            low, high = stats["ci"][key]
            assert ("lower_value" in metric) == (low is not None)
            assert ("upper_value" in metric) == (high is not None)
            if low is not None and high is not None:
                assert metric["lower_value"] == pytest.approx(low * 1e6, rel=1e-9)
                assert metric["upper_value"] == pytest.approx(high * 1e6, rel=1e-9)
                assert metric["lower_value"] <= metric["value"] <= metric["upper_value"]
        assert "lower_value" in p50  # 10 runs bound the median at 95%


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
        stats = binary["startup"]["stats"]
        for key in ("p50", "p95"):
            entry = by_name[f"{name} - startup-{key}"]
            assert entry["unit"] == "ms" and entry["unit"] in ACTION_TIME_UNITS
            assert entry["value"] == stats[f"{key}_ms"]
            assert f"{stats['count']} successful runs" in entry["extra"]
            low, high = stats["ci"][key]
            if low is None or high is None:
                assert "range" not in entry
            else:
                assert entry["range"] == f"95% CI {low:.3f} to {high:.3f} ms"
        assert "range" in by_name[f"{name} - startup-p50"]


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
