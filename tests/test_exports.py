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
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUNS = "10"  # enough for a confidence interval of the median (not yet of p95)
BMF_METRIC_KEYS = {"value", "lower_value", "upper_value"}  # bmf.json's properties
ACTION_KEYS = {"name", "unit", "value", "range", "extra"}  # extract.ts BenchmarkResult
ACTION_TIME_UNITS = ("s", "ms", "us", "ns")  # normalizeValueByUnit.ts TIME_UNITS
# Keys hyperfine's export gained after the installed version (benchmark_result.rs).
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
