"""Each derived number is defined once and reads the same in every output.

max RSS (the peak of the successful runs), the fault medians (over the same runs), the
over-by of a failed limit and the list of percentiles each have one definition
(gate/values/stats.py, gate/report/markup.py); the start-up result and the results
document carry them, and every renderer and the judge read what is carried. These tests
give the definitions a case where a second one would disagree: a failed run with the
largest peak and the most faults, a size limit written in one unit that another unit
writes with fewer digits.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from results_docs import check, document, facts

from gate.judge.checks import CHECKS, Context, judge
from gate.judge.diff import diff_results
from gate.judge.policy import load_policy
from gate.report.markdown import render_markdown
from gate.report.markup import breakdown_text
from gate.report.metrics import render_metrics
from gate.report.text import render_checks, render_startup
from gate.results.build import startup_to_dict
from gate.results.schema import PERCENTILES
from gate.results.validate import ResultsError, validate
from gate.run.breakdown import Breakdown, breakdown_to_dict, fault_summary
from gate.run.measure import StartupResult
from gate.run.runner import RunSample
from gate.values.stats import QUANTILES, fault_medians, peak_rss, summarize
from gate.values.units import format_size
from gate.values.wording import over_by

MIB = 1 << 20
OK_PEAKS = (10 * MIB, 12 * MIB, 11 * MIB)
FAILED_PEAK = 40 * MIB  # a run that ballooned and crashed: not the program's start-up


def _samples() -> tuple[RunSample, ...]:
    ok = [
        RunSample(5.0 + i, 1.0, 1.0, peak, major, minor, 0, True)
        for i, (peak, major, minor) in enumerate(
            zip(OK_PEAKS, (1, 3, 2), (100, 300, 200), strict=True)
        )
    ]
    failed = RunSample(99.0, 1.0, 1.0, FAILED_PEAK, 50, 9000, -11, False, error="killed by SIGSEGV")
    return (ok[0], failed, ok[1], ok[2])


def _result() -> StartupResult:
    runs = _samples()
    return StartupResult(
        binary="build/svc",
        args=(),
        ready="exit",
        cold=False,
        eviction="none",
        warmup=0,
        requested=len(runs),
        runs=runs,
        stats=summarize([r.wall_ms for r in runs if r.ok]),
        eviction_detail=None,
        timeout_s=10.0,
    )


def _document(breakdown: dict[str, Any] | None = None) -> dict[str, Any]:
    startup = json.loads(json.dumps(startup_to_dict(_result())))
    startup["breakdown"] = breakdown
    entry = {
        "path": "build/svc",
        "facts": facts("build/svc", file_size=8_123_456),
        "startup": startup,
        "checks": [
            check("size.max_file", "fail", 8_123_456, 8_000_000, "bytes"),
            check("startup.max_rss", "pass", 12 * MIB, 64 * MIB, "bytes"),
        ],
    }
    return document("fail", [entry])


def test_the_definitions() -> None:
    assert peak_rss([(True, 5), (False, 9), (True, None), (True, 7)]) == 7
    assert peak_rss([(False, 9), (True, None), (True, 0)]) is None
    assert fault_medians([(True, 1, 10), (False, 99, 990), (True, 4, 40)]) == {
        "major": 2.5,
        "minor": 25.0,
    }
    assert fault_medians([(False, 1, 1)]) is None


def test_max_rss_is_one_number_everywhere(tmp_path: Path) -> None:
    want = max(OK_PEAKS)
    result = _result()
    assert result.max_rss_bytes == want
    doc = _document()
    startup = doc["binaries"][0]["startup"]
    assert startup["max_rss_bytes"] == want  # carried in the results (JSON)
    # gate startup's text
    assert f"max RSS  {format_size(want)}\n" in render_startup(result)
    # metrics
    labels = 'binary="svc",cpus="none",memory_bytes="none",pinned_cpu="none"'
    assert f"gate_startup_max_rss_bytes{{{labels}}} {want}\n" in render_metrics(doc)
    # gate diff: against a copy whose successful peaks are all 1 MiB lower
    old = copy.deepcopy(doc)
    old["binaries"][0]["startup"]["max_rss_bytes"] = want - MIB
    (delta,) = [d for d in diff_results(old, doc)[0].startup if d.name == "max RSS"]
    assert (delta.old, delta.new) == (want - MIB, want)
    # the judge's message
    policy = tmp_path / "p.toml"
    policy.write_text('[startup]\nmax_rss = "10 MiB"\n')
    rules = load_policy(str(policy)).for_binary("svc")
    ctx = Context(doc["binaries"][0]["facts"], startup, None)
    (rss,) = [c for c in judge(rules, ctx) if c.id == "startup.max_rss"]
    assert rss.measured == want
    assert (
        rss.message
        == "max RSS 12.00 MiB (12,582,912 bytes) > 10 MiB by 2.00 MiB (2,097,152 bytes, +20.0%)"
    )


def test_an_old_document_gets_the_same_numbers() -> None:
    """A document from before gate carried them: derived from its runs, by the definitions."""
    doc = _document()
    for key in ("max_rss_bytes", "faults"):
        del doc["binaries"][0]["startup"][key]
    doc.pop("verdict")
    again = validate(json.loads(json.dumps(doc)), "old.json")["binaries"][0]["startup"]
    assert again["max_rss_bytes"] == max(OK_PEAKS)
    assert again["faults"] == {"major": 2.0, "minor": 200.0}


@pytest.mark.parametrize(
    ("key", "value"), [("max_rss_bytes", -1), ("max_rss_bytes", 1.5), ("faults", {"major": 1})]
)
def test_a_carried_number_is_validated(key: str, value: Any) -> None:
    doc = _document()
    doc["binaries"][0]["startup"][key] = value
    with pytest.raises(ResultsError, match=f"binaries\\[0\\].startup.{key}"):
        validate(doc, "bad.json")


def test_fault_medians_are_one_number_everywhere() -> None:
    want = {"major": 2.0, "minor": 200.0}  # the failed run's 50 and 9000 left out
    result = _result()
    assert result.faults == want
    assert fault_summary(result.runs) == want
    line = "page faults per run (median): 2 major, 200 minor"
    # gate startup --breakdown: the breakdown as the CLI builds it
    found = breakdown_to_dict(Breakdown("none", faults=fault_summary(result.runs)))
    assert f"  {line}\n" in render_startup(result, found)
    # gate check's reports: the breakdown of a results document
    doc = _document(breakdown_to_dict(Breakdown("none", note="static")))
    startup = doc["binaries"][0]["startup"]
    assert startup["faults"] == want
    assert line in breakdown_text(startup).splitlines()
    assert f"  {line}" in render_checks(doc).splitlines()
    assert line in render_markdown(doc)


def test_over_by_reads_the_same_in_the_judge_and_the_markdown(tmp_path: Path) -> None:
    """Limit "8000 KB", 8,123,456 bytes: the judge once said "by 123,456 bytes", the
    Markdown "+0.12 MB"; both now say 123.46 KB, in the limit's (decimal) unit family
    (the judge with the exact bytes, as its messages give every size)."""
    policy = tmp_path / "p.toml"
    policy.write_text('[size]\nmax_file = "8000 KB"\n')
    rules = load_policy(str(policy)).for_binary("svc")
    doc = _document()
    entry = doc["binaries"][0]
    (size,) = [
        c for c in judge(rules, Context(entry["facts"], None, None)) if c.id == "size.max_file"
    ]
    assert size.message.startswith(
        "file size 8123.46 KB (8,123,456 bytes) > 8000 KB by 123.46 KB (123,456 bytes, +1.5%)"
    )
    assert over_by(size.measured, size.limit, size.unit) == "+123.46 KB (+1.5%)"
    assert "| 8.12 MB | 8.00 MB | +123.46 KB (+1.5%) |" in render_markdown(doc)


def test_over_by_in_each_unit() -> None:
    assert over_by(9 * MIB, 8 * MIB, "bytes") == "+1.00 MiB (+12.5%)"  # binary family
    assert over_by(8 * MIB + 100, 8 * MIB, "bytes") == "+100 B (+0.0%)"
    assert over_by(7_000_000, 8_000_000, "bytes") == "-1.00 MB (-12.5%)"
    assert over_by(412.3, 320.0, "ms") == "+92.3 ms (+28.8%)"
    assert over_by(7.5, 5.0, "%") == "+2.5 pp"
    assert over_by(2, 0, None) == "+2"
    assert over_by(None, 1, "bytes") == "—"
    assert (
        over_by(1_216_512, 608_256, "bytes", exact=True) == "+594.00 KiB (608,256 bytes, +100.0%)"
    )
    assert over_by(8 * MIB + 100, 8 * MIB, "bytes", exact=True) == "+100 B (+0.0%)"


def test_one_list_of_percentiles() -> None:
    assert tuple(QUANTILES) == PERCENTILES == ("p50", "p90", "p95", "p99")
    assert {f"startup.{k}" for k in QUANTILES} <= set(CHECKS)
    rows = render_startup(_result()).splitlines()
    assert [line.split()[0] for line in rows if line.split()[0] in QUANTILES] == list(QUANTILES)
