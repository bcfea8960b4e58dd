"""`gate history`: a service's numbers over the runs on main, and when a budget falls (issue 16).

Four real `gate check` results of one service growing run by run (Go 1.19 builds: hello,
a small embedded blob, a big one, with and without -s -w), handed over out of order.
The series must come back in time order with the sizes `stat` reports; the forecast must
agree with numpy's least-squares line; the CSV goes through Python's csv reader and the
Markdown through a CommonMark parser with GFM tables, the chart as a `mermaid` fence.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import markdown_it
import numpy
import pytest

STEPS = ("go1.19-hello-sw", "go1.19-embed-small-sw", "go1.19-embed-small", "go1.19-embed-big-sw")
LIMIT = 8 * 2**20


def gate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ, "CI": "true"})  # fmt: skip


@pytest.fixture(scope="module")
def runs(fixtures: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """results-N.json of the same service path, its `created` a day apart; sizes by stat."""
    root = tmp_path_factory.mktemp("history")
    (root / "p.toml").write_text('[size]\nmax_file = "8 MiB"\n')
    (root / "bin").mkdir()
    sizes = []
    for i, fixture in enumerate(STEPS):
        svc = root / "bin" / "svc"
        svc.write_bytes(fixtures[fixture].path.read_bytes())
        svc.chmod(0o755)
        sizes.append(os.stat(svc).st_size)
        proc = gate(root, "check", "bin/svc", "--no-startup", "--policy", "p.toml",
                    "--json", f"r{i}.json")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        doc = json.loads((root / f"r{i}.json").read_text())
        doc["created"] = f"2026-11-{10 + i:02}T12:00:00Z"
        (root / f"r{i}.json").write_text(json.dumps(doc))
    return root, sizes


def test_the_csv_is_the_series_in_time_order(runs: tuple[Path, list[int]]) -> None:
    root, sizes = runs
    proc = gate(root, "history", "r2.json", "r0.json", "r3.json", "r1.json", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["binary"] for r in rows] == ["bin/svc"] * 4
    assert [r["created"][:10] for r in rows] == [f"2026-11-{d}" for d in (10, 11, 12, 13)]
    assert [int(r["file_size"]) for r in rows] == sizes
    assert rows[0]["top_packages"].split()[0].split("=")[0]  # the largest Go package, named


def test_the_markdown_shows_the_trend_and_when_the_budget_falls(
    runs: tuple[Path, list[int]],
) -> None:
    root, sizes = runs
    proc = gate(root, "history", *(f"r{i}.json" for i in range(4)))
    assert proc.returncode == 0, proc.stderr
    slope = numpy.polyfit(range(4), sizes, 1)[0]  # bytes per run, the reference line
    runs_left = math.ceil((LIMIT - sizes[-1]) / slope)
    assert f"crosses its limit of 8.0 MiB in about {runs_left} runs" in proc.stdout
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(proc.stdout)
    headings = [t for t in tokens if t.type == "inline" and t.map and t.content.startswith("bin/")]
    assert [h.content for h in headings] == ["bin/svc"]
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 1 + 4  # the header and one row per run
    (chart,) = [t for t in tokens if t.type == "fence"]
    assert chart.info == "mermaid" and chart.content.startswith("xychart-beta\n")
    assert f"{sizes[-1] / 2**20:.3f}" in chart.content


def test_a_shrinking_service_is_not_heading_for_its_limit(runs: tuple[Path, list[int]]) -> None:
    root, _ = runs
    later = json.loads((root / "r0.json").read_text())  # the small build again, a day later
    later["created"] = "2026-11-14T12:00:00Z"
    (root / "r4.json").write_text(json.dumps(later))
    proc = gate(root, "history", "r4.json", "r3.json")
    assert "not heading for its limit of 8.0 MiB" in proc.stdout, proc.stdout


def test_history_refuses_what_is_not_results(runs: tuple[Path, list[int]]) -> None:
    root, _ = runs
    (root / "bad.json").write_text("{}")
    proc = gate(root, "history", "r0.json", "bad.json")
    assert proc.returncode == 2
    assert proc.stderr.startswith("gate: error: bad.json: not a gate results file")
    bad_format = gate(root, "history", "r0.json", "--format", "xml")
    assert bad_format.stderr == "gate: error: --format 'xml': expected markdown or csv\n"


def test_a_service_over_its_limit_is_said_to_be_over(runs: tuple[Path, list[int]]) -> None:
    """The latest run judged against a limit a sixth of its size (a real `gate check`):
    over it, by `stat`'s numbers, six times; never "not heading for its limit"."""
    root, sizes = runs
    limit = sizes[-1] // 6
    (root / "small.toml").write_text(f'[size]\nmax_file = "{limit} B"\n')
    proc = gate(root, "check", "bin/svc", "--no-startup", "--policy", "small.toml",
                "--json", "r5.json")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    doc = json.loads((root / "r5.json").read_text())
    doc["created"] = "2026-11-15T12:00:00Z"
    (root / "r5.json").write_text(json.dumps(doc))
    out = gate(root, "history", "r2.json", "r5.json").stdout
    from gate.values.units import format_size

    over = f"file size: {format_size(sizes[-1])}, over its limit of {format_size(limit)} "
    over += f"by {format_size(sizes[-1] - limit)}, 6.0 times its limit"
    assert over in out, out
    assert "not heading" not in out and "crosses" not in out
