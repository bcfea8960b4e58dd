"""JUnit report read back by real consumers: Jenkins' schema (xmlschema) and junitparser.

The results documents are plain dicts shaped as gate/results/v1 describes them, so these
tests pin the format contract, not gate's internals; the last tests run `gate check` on
real binaries to see that the times it reports are the times it spent.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from hypothesis import given
from hypothesis import strategies as st
from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite
from reference import Fixture
from results_docs import check, document

from gate.report.junit import MAX_PROPERTIES, render_junit, xml_safe
from gate.values.stats import QUANTILE_METHOD

XSD = Path(__file__).parent / "data" / "junit.xsd"

# What a misbehaving binary may print: ANSI colours, NUL, BEL, a lone surrogate (from
# surrogateescape decoding), a noncharacter, a C1 CSI, accents, CJK and an emoji.
NASTY_STDERR = (
    "panic: \x1b[31mconfig missing\x1b[0m\x00\n"
    "caf\u00e9 \u65e5\u672c\u8a9e \U0001f680 \ud800 \uffff \x9b2J \x07\n"
)
NASTY_STDOUT = "listening on :8080\x1b[K\r\nready? no\ufffe\n"


def _facts(
    path: str,
    *,
    file_size: int,
    elf_type: str,
    static: bool,
    stripped: bool,
    go: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A gate/facts/v1 binary entry with every key the results schema lists."""
    text, rodata = file_size // 2, file_size // 4
    return {
        "path": path,
        "file_size": file_size,
        "elf": {
            "class": 64,
            "machine": "x86_64",
            "type": elf_type,
            "entry": 0x401000,
            "endian": "little",
        },
        "linking": {
            "static": static,
            "interpreter": None if static else "/lib64/ld-linux-x86-64.so.2",
            "needed": [] if static else ["libc.so.6"],
            "rpath": [],
            "runpath": [],
            "soname": None,
        },
        "sections": [
            {"name": "", "type": "SHT_NULL", "size": 0, "flags": "", "address": 0, "offset": 0},
            {"name": ".text", "type": "SHT_PROGBITS", "size": text, "flags": "AX",
             "address": 0x401000, "offset": 0x1000},
            {"name": ".rodata", "type": "SHT_PROGBITS", "size": rodata, "flags": "A",
             "address": 0x801000, "offset": 0x1000 + text},
            {"name": ".tbss", "type": "SHT_NOBITS", "size": 0, "flags": "WAT",
             "address": 0xa01000, "offset": 0x1000 + text + rodata},
            {"name": ".bss", "type": "SHT_NOBITS", "size": 196608, "flags": "WA",
             "address": 0xa02000, "offset": 0x1000 + text + rodata},
        ],
        "totals": {"text": text, "rodata": rodata, "data": 12288, "bss": 196608,
                   "symbols": 0 if stripped else 1536, "debug": 0},
        "symbols": {"stripped": stripped, "symtab_entries": 0 if stripped else 64,
                    "dynsym_entries": 0 if static else 7},
        "debug": {"present": False, "compressed": False, "bytes": 0, "sections": []},
        "hardening": {"nx": True, "relro": "partial" if static else "full",
                      "bind_now": not static, "textrel": False, "canary": not static,
                      "fortify": False, "fortified": []},
        "go": go,
    }  # fmt: skip


def _run(wall_ms: float, rss: int | None, **failure: Any) -> dict[str, Any]:
    run = {
        "wall_ms": wall_ms,
        "user_ms": round(wall_ms * 0.4, 3),
        "sys_ms": round(wall_ms * 0.3, 3),
        "max_rss_bytes": rss,
        "major_faults": 0,
        "minor_faults": 412,
        "exit_code": 0,
        "ok": True,
        "error": None,
        "stopped": 0,
        "port": None,
        "resident_before": 0,
        "resident_after": 1843,
    }
    if failure:
        run.update({"ok": False, "stdout_tail": "", "stderr_tail": ""}, **failure)
    return run


def _stats(count: int, failed: int, p: dict[str, float]) -> dict[str, Any]:
    return {
        "count": count,
        "failed": failed,
        "min_ms": p["min"],
        "p50_ms": p["p50"],
        "p90_ms": p["p90"],
        "p95_ms": p["p95"],
        "p99_ms": p["p99"],
        "max_ms": p["max"],
        "mean_ms": p["mean"],
        "stdev_ms": p["stdev"],
        "ci": {
            "p50": [p["p50"] * 0.95, p["p50"] * 1.05],
            "p90": [p["p90"] * 0.95, None],
            "p95": [p["p95"] * 0.95, None],
            "p99": [None, None],
        },
        "confidence": 0.95,
        "min_runs": {"p50": 6, "p90": 29, "p95": 59, "p99": 299},
        "quantile_method": QUANTILE_METHOD,
        "ci_method": "order statistics (binomial), distribution-free",
    }


def _startup(binary: str, runs: list[dict[str, Any]], p: dict[str, float]) -> dict[str, Any]:
    failed = sum(not r["ok"] for r in runs)
    return {
        "binary": binary,
        "args": [],
        "ready": "exit",
        "cold": True,
        "eviction": "fadvise",
        "warmup": 1,
        "timeout_s": 10.0,
        "runs": runs,
        "stats": _stats(len(runs) - failed, failed, p),
        "eviction_detail": None,
        "against": None,
    }


GO_SVC = {
    "version": "go1.22.5",
    "path": "example.com/svc/cmd/svc",
    "main_module": {"path": "example.com/svc", "version": "(devel)", "sum": "", "replace": None},
    "deps": [],
    "settings": {
        "-buildmode": "exe",
        "-compiler": "gc",
        # -X values are whatever the build put there, terminal escapes included.
        "-ldflags": "-s -w -X main.banner=\x1b[1mhi\x1b[0m",
        "CGO_ENABLED": "0",
        "GOARCH": "amd64",
        "GOOS": "linux",
        "vcs.modified": "true",
    },
    "format": "inline",
}

# What gate spent measuring each binary (seconds). The float noise is what the renderer
# must round away; the start-up times cover the runs (their wall times sum to less).
HELLO_TIMINGS = {"inspect_s": 0.0042137, "attribution_s": 0.0091, "startup_s": 0.0412,
                 "breakdown_s": None}  # fmt: skip
SVC_TIMINGS = {"inspect_s": 0.0213, "attribution_s": 0.1876,
               "startup_s": 16.419254599999999, "breakdown_s": 0.4127}  # fmt: skip
RUN_SH_TIMINGS = {"inspect_s": 0.000137, "attribution_s": None, "startup_s": None,
                  "breakdown_s": None}  # fmt: skip

P95_MESSAGE = (
    "cold-start p95 412.3 ms > 320 ms by 92.3 ms (18 runs, p50 280.1 ms, 95% CI [390.1, \u2026])"
)


@cache
def _document() -> dict[str, Any]:
    hello_runs = [_run(0.7 + i * 0.05, None) for i in range(10)]
    svc_runs = [_run(270.0 + i * 8.5, 31_457_280 + i * 4096) for i in range(18)]
    svc_runs.insert(
        3,
        _run(
            12.9,
            9_437_184,
            exit_code=2,
            error="exited with code 2 before ready",
            stderr_tail=NASTY_STDERR,
            stdout_tail=NASTY_STDOUT,
        ),
    )
    svc_runs.insert(
        10, _run(10_000.0, None, exit_code=None, error="not ready after 10.0 s\x1b[0m; killed")
    )
    return document(
        "error",
        [
            {
                "path": "build/hello",
                "name": "hello",
                "verdict": "pass",
                "error": None,
                "facts": _facts(
                    "build/hello", file_size=16_784, elf_type="pie", static=False, stripped=False
                ),
                "startup": _startup(
                    "build/hello",
                    hello_runs,
                    {"min": 0.7, "p50": 0.925, "p90": 1.105, "p95": 1.1275, "p99": 1.1455,
                     "max": 1.15, "mean": 0.925, "stdev": 0.1514},
                ),
                "attribution": None,
                "timings": dict(HELLO_TIMINGS),
                "checks": [
                    check("size.max_file", "pass", 16_784, 8_500_000, "bytes",
                           "file size 16.4 KiB (16,784 bytes) <= 8.5 MB"),
                    check("elf.types", "pass", "pie", ["exec", "pie", "static-pie"], None,
                           "ELF type pie is allowed (exec, pie, static-pie)"),
                    check("elf.stripped", "warn", False, True, None,
                           "not stripped: .symtab has 64 entries (1.5 KiB); strip it or link"
                           " with -s", severity="warn"),
                    check("go.cgo", "skip", None, False, None, "not a Go binary"),
                    check("startup.p95", "pass", 1.1275, 320.0, "ms",
                           "cold-start p95 1.1 ms <= 320 ms (10 runs, p50 0.9 ms)"),
                ],
            },
            {
                "path": "build/svc",
                "name": "svc",
                "verdict": "fail",
                "error": None,
                "facts": _facts(
                    "build/svc",
                    file_size=9_437_184,
                    elf_type="exec",
                    static=True,
                    stripped=True,
                    go=GO_SVC,
                ),
                "startup": _startup(
                    "build/svc",
                    svc_runs,
                    {"min": 270.0, "p50": 342.25, "p90": 399.2, "p95": 412.3, "p99": 413.9,
                     "max": 414.5, "mean": 342.25, "stdev": 44.6},
                ),
                "attribution": None,
                "timings": dict(SVC_TIMINGS),
                "checks": [
                    check("size.max_file", "fail", 9_437_184, 8_500_000, "bytes",
                           "file size 9.0 MiB (9,437,184 bytes) > 8.5 MB by 937,184 bytes"),
                    check("elf.stripped", "pass", True, True, None, "stripped"),
                    check("go.ldflags_contain", "pass", ["-s", "-w"], ["-s", "-w"], None,
                           "-ldflags has -s, -w"),
                    check("go.min_version", "pass", "go1.22.5", "1.21", None,
                           "go1.22.5 >= 1.21"),
                    check("startup.runs", "fail", 2, 0, None,
                           "2 of 20 starts failed (run 4: exited with code 2 before ready;"
                           " run 11: not ready after 10.0 s)"),
                    check("startup.p95", "fail", 412.3, 320.0, "ms", P95_MESSAGE),
                    check("startup.max_rss", "pass", 31_526_912, 67_108_864, "bytes",
                           "max RSS 30.1 MiB <= 64 MiB"),
                    check("startup.max_regression", "skip", None, 10.0, "%",
                           "no baseline: give --baseline or --baseline-binary"),
                ],
            },
            {
                "path": "build/run.sh",
                "name": "run.sh",
                "verdict": "error",
                "error": "build/run.sh: not an ELF file (starts with '#!/bi'): pass the built"
                " binary, not a script",
                "facts": None,
                "startup": None,
                "attribution": None,
                "timings": dict(RUN_SH_TIMINGS),
                "checks": [],
            },
        ],
        sources=("builtin:serverless", "builtin:default"),
    )  # fmt: skip


@pytest.fixture
def doc() -> dict[str, Any]:
    return copy.deepcopy(_document())


@cache
def _schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(XSD)


def _render(doc: dict[str, Any]) -> str:
    """Render, validate against the Jenkins schema, and return the text."""
    text = render_junit(doc)
    _schema().validate(text)
    return text


def _parse(text: str) -> JUnitXml:
    # As bytes, the way a CI system reads the file (lxml refuses a str with a declaration).
    return JUnitXml.fromstring(text.encode("utf-8"))


def _suites(text: str) -> dict[str, TestSuite]:
    return {suite.name: suite for suite in _parse(text)}


def _cases(suite: TestSuite) -> dict[str, Any]:
    return {case.name: case for case in suite}


def _result_of(case: Any, kind: type) -> Any:
    found = [r for r in case.result if isinstance(r, kind)]
    assert len(found) == 1, case.result
    return found[0]


def test_validates_against_the_jenkins_junit_schema(doc: dict[str, Any]) -> None:
    text = _render(doc)
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<testsuites')


def test_schema_is_a_realcheck() -> None:
    """The XSD rejects what junit_xml writes unfixed, so a green validation means something."""
    bad = '<testsuites disabled="0"><testsuite name="s" tests="0" failures="0" errors="0"/>'
    assert not _schema().is_valid(bad + "</testsuites>")
    assert not _schema().is_valid(
        '<testsuites><testsuite name="s" tests="0" failures="0" errors="0" time="1e-05"/>'
        "</testsuites>"
    )


def test_counts_per_suite_equal_the_document(doc: dict[str, Any]) -> None:
    suites = _suites(_render(doc))
    assert list(suites) == ["gate.hello", "gate.svc", "gate.run.sh"]
    for binary in doc["binaries"]:
        statuses = [c["status"] for c in binary["checks"]]
        is_error = binary["verdict"] == "error"
        suite = suites[f"gate.{binary['name']}"]
        expected = {
            "tests": len(statuses) + is_error,
            "failures": statuses.count("fail"),
            "errors": int(is_error),
            "skipped": statuses.count("skip"),
        }
        # What the suite element declares ...
        assert {k: int(getattr(suite, k)) for k in expected} == expected
        # ... and what its test cases hold.
        cases = list(suite)
        counted = {
            "tests": len(cases),
            "failures": sum(any(isinstance(r, Failure) for r in c.result) for c in cases),
            "errors": sum(any(isinstance(r, Error) for r in c.result) for c in cases),
            "skipped": sum(any(isinstance(r, Skipped) for r in c.result) for c in cases),
        }
        assert counted == expected
        assert all(c.classname == f"gate.{binary['name']}" for c in cases)
        assert suite.timestamp == doc["created"]
    total = _parse(render_junit(doc))
    assert int(total.failures) == 3 and int(total.errors) == 1 and int(total.tests) == 14


def test_failures_carry_the_check_message_exactly(doc: dict[str, Any]) -> None:
    cases = _cases(_suites(_render(doc))["gate.svc"])
    for c in doc["binaries"][1]["checks"]:
        case = cases[c["id"]]
        if c["status"] != "fail":
            assert case.is_passed or case.is_skipped
            continue
        failure = _result_of(case, Failure)
        assert failure.message == c["message"]
        assert failure.type == f"gate.{c['id']}"
    p95 = _result_of(cases["startup.p95"], Failure).text
    assert p95.splitlines() == ["measured: 412.3 ms", "limit:    320.0 ms", "severity: error"]
    size = _result_of(cases["size.max_file"], Failure).text
    assert "measured: 9,437,184 bytes (9.0 MiB)" in size
    assert "limit:    8,500,000 bytes (8.1 MiB)" in size


def test_skip_warn_and_pass(doc: dict[str, Any]) -> None:
    text = _render(doc)
    cases = _cases(_suites(text)["gate.hello"])
    assert _result_of(cases["go.cgo"], Skipped).message == "not a Go binary"
    passed = cases["size.max_file"]
    assert passed.is_passed and passed.system_out is None and passed.system_err is None


def test_a_warning_is_a_passing_case_that_says_warning(doc: dict[str, Any]) -> None:
    """Not a failure (gate passed), not skipped (it was measured): a pass under its check
    id whose only child is `system-out: WARNING: ...`: the one child xunit-viewer's page
    still draws the case for (a first child `system-err` hides it), and junit2html shows
    it as the case's Stdout (tests/test_junit_viewers.py runs both)."""
    text = _render(doc)
    cases = _cases(_suites(text)["gate.hello"])
    warned = cases["elf.stripped"]
    assert warned.is_passed and not warned.result and not warned.is_skipped
    message = doc["binaries"][0]["checks"][2]["message"]
    assert warned.system_out.splitlines() == [
        f"WARNING: {message}",
        "measured: false",
        "limit:    true",
        "severity: warn",
    ]
    assert warned.system_err is None
    element = ET.fromstring(text.encode()).find(
        "testsuite[@name='gate.hello']/testcase[@name='elf.stripped']"
    )
    assert [child.tag for child in element] == ["system-out"]
    # The suite still counts it as a passed test, as gate does.
    suite = _suites(text)["gate.hello"]
    assert (int(suite.tests), int(suite.failures), int(suite.skipped)) == (5, 0, 1)


def test_error_binary_is_one_error_case(doc: dict[str, Any]) -> None:
    suite = _suites(_render(doc))["gate.run.sh"]
    (case,) = list(suite)
    assert case.name == "gate.error"
    assert _result_of(case, Error).message == doc["binaries"][2]["error"]
    props = {p.name: p.value for p in suite.properties()}
    assert props["gate.verdict"] == "error"
    assert props["gate.error"] == doc["binaries"][2]["error"]
    assert "gate.file_size" not in props


def test_a_handful_of_properties_the_rest_is_in_the_json(doc: dict[str, Any]) -> None:
    suites = _suites(_render(doc))
    assert MAX_PROPERTIES <= 10
    for suite in suites.values():
        assert 4 <= len(list(suite.properties())) <= MAX_PROPERTIES
    svc = {p.name: p.value for p in suites["gate.svc"].properties()}
    assert svc == {
        "gate.version": "0.1.0",
        "gate.policy": "serverless",
        "gate.path": "build/svc",
        "gate.verdict": "fail",
        "gate.file_size": "9437184",
        "gate.startup.runs": "20",
        "gate.startup.p50_ms": "342.2",  # 342.25, to 0.1 ms as gate prints durations
        "gate.startup.p95_ms": "412.3",
    }
    hello = {p.name: p.value for p in suites["gate.hello"].properties()}
    assert (hello["gate.startup.p50_ms"], hello["gate.startup.p95_ms"]) == ("0.9", "1.1")
    run_sh = {p.name: p.value for p in suites["gate.run.sh"].properties()}
    assert set(run_sh) == {"gate.version", "gate.policy", "gate.path", "gate.verdict",
                           "gate.error"}  # fmt: skip


def test_numbers_are_rounded(doc: dict[str, Any]) -> None:
    """Sizes exactly, milliseconds to 0.1, other fractions to 3 decimals: no float noise."""
    checks = doc["binaries"][1]["checks"]
    checks[5]["measured"] = 412.34567890123
    checks.append(check("size.max_growth", "fail", 13.419254599999999, 5.0, "%", "grew"))
    text = _render(doc)
    assert not re.search(r"\d\.\d{4,}", text), re.findall(r"[^\s\"]*\d\.\d{4,}[^\s\"]*", text)
    cases = _cases(_suites(text)["gate.svc"])
    p95 = _result_of(cases["startup.p95"], Failure).text
    assert p95.splitlines()[:2] == ["measured: 412.3 ms", "limit:    320.0 ms"]
    growth = _result_of(cases["size.max_growth"], Failure).text
    assert growth.splitlines()[:2] == ["measured: 13.419%", "limit:    5%"]
    assert "measured: 9,437,184 bytes" in _result_of(cases["size.max_file"], Failure).text
    for element in ET.fromstring(text.encode()).iter():
        if "time" in element.attrib:
            assert re.fullmatch(r"\d+\.\d{3}", element.get("time")), element.attrib


def test_each_case_takes_the_time_spent_measuring_it(doc: dict[str, Any]) -> None:
    """startup.*: the runs and the breakdown; size.*: inspection and attribution; elf.* and
    go.*: the inspection. A suite's time counts each measurement once."""
    suites = _suites(_render(doc))
    svc, hello = _cases(suites["gate.svc"]), _cases(suites["gate.hello"])
    startup = round(SVC_TIMINGS["startup_s"] + SVC_TIMINGS["breakdown_s"], 3)
    for name in ("startup.runs", "startup.p95", "startup.max_rss", "startup.max_regression"):
        assert svc[name].time == startup, name
    walls = sum(r["wall_ms"] for r in doc["binaries"][1]["startup"]["runs"]) / 1000
    assert svc["startup.p95"].time >= walls
    assert svc["size.max_file"].time == round(SVC_TIMINGS["inspect_s"] + 0.1876, 3)
    assert svc["elf.stripped"].time == svc["go.min_version"].time == 0.021
    assert hello["startup.p95"].time == 0.041
    assert hello["size.max_file"].time == 0.013  # 0.0042137 + 0.0091
    assert hello["elf.types"].time == 0.004
    assert suites["gate.svc"].time == round(sum(v or 0 for v in SVC_TIMINGS.values()), 3)
    assert suites["gate.hello"].time == 0.055
    # The error case: the time until gate gave up, under a millisecond but not 0.
    (error,) = list(suites["gate.run.sh"])
    assert error.time == suites["gate.run.sh"].time == 0.001
    assert _parse(_render(doc)).time == pytest.approx(
        sum(s.time for s in suites.values()), abs=0.002
    )


def test_a_document_without_timings_shows_zero_times(doc: dict[str, Any]) -> None:
    """A results file from before gate recorded timings: 0, not a made-up time."""
    for binary in doc["binaries"]:
        binary["timings"] = None
    suites = _suites(_render(doc))
    assert {c.time for s in suites.values() for c in s} == {0.0}
    assert {s.time for s in suites.values()} == {0.0}


def test_unknown_timing_keys_count_only_as_numbers(doc: dict[str, Any]) -> None:
    """A later gate's timings key is kept by validation as plain JSON; a text there once
    crashed the sum (TypeError). Numbers count, whatever their key; anything else does not."""
    from gate.results.validate import validate

    doc["binaries"][0]["timings"] = {"inspect_s": 0.25, "note": "x", "later_s": 0.5}
    suites = _suites(_render(validate(doc, "doc.json")))
    assert suites["gate.hello"].time == 0.75


def test_suite_output_has_the_table_and_failed_runs(doc: dict[str, Any]) -> None:
    text = _render(doc)
    out = ET.fromstring(text.encode()).find("testsuite[@name='gate.svc']/system-out").text
    lines = out.splitlines()
    assert lines[0] == "gate svc (build/svc): FAIL"
    assert "startup.p95             fail    " + P95_MESSAGE in lines
    assert "go.min_version          pass    go1.22.5 >= 1.21" in lines
    assert "failed start-up runs: 2 of 20" in lines
    assert "run 4: exit code 2: exited with code 2 before ready" in lines
    assert "run 11: no exit code: not ready after 10.0 s\ufffd[0m; killed" in lines
    assert "    | panic: \ufffd[31mconfig missing\ufffd[0m\ufffd" in lines
    assert "    | caf\u00e9 \u65e5\u672c\u8a9e \U0001f680 \ufffd \ufffd \ufffd2J \ufffd" in lines
    assert "    | ready? no\ufffd" in lines


def test_text_from_the_binary_never_reaches_the_xml_raw(doc: dict[str, Any]) -> None:
    text = _render(doc)
    for bad in ("\x00", "\x1b", "\x07", "\x9b", "\ud800", "\ufffe", "\uffff", "&#"):
        assert bad not in text
    assert "\U0001f680" in text and "caf\u00e9" in text  # non-ASCII is kept, as UTF-8


def test_xml_safe_adversarial() -> None:
    nasty = "a\x00b\x1b[31mc\ud800d\udfffe\uffff\ufffef\x7f\x85\x9b\t\n\r\U0001f600\u00e9\ufdd0"
    assert xml_safe(nasty) == (
        "a\ufffdb\ufffd[31mc\ufffdd\ufffde\ufffd\ufffdf\ufffd\ufffd\ufffd\t\n\r\U0001f600\u00e9"
        "\ufdd0"
    )
    assert xml_safe("") == ""


@given(st.text(st.characters(exclude_categories=())))
def test_xml_safe_output_is_always_xml(text: str) -> None:
    safe = xml_safe(text)
    assert len(safe) == len(text)  # replaced, never dropped
    assert xml_safe(safe) == safe
    element = ET.Element("e", {"a": safe})
    element.text = safe
    parsed = ET.fromstring(ET.tostring(element, encoding="utf-8"))
    assert parsed.get("a") == safe
    # Parsers normalise a raw CR in text content to LF.
    assert (parsed.text or "") == safe.replace("\r\n", "\n").replace("\r", "\n")


def test_sanitised_text_round_trips_through_the_report(doc: dict[str, Any]) -> None:
    binary = doc["binaries"][1]
    binary["name"] = "svc\x1b[0m-\u00e9\U0001f680"
    message = 'Go setting -X main.v=\x00\ud800\n2nd line \u65e5\u672c \U0001f600 "q" <&>'
    binary["checks"][0]["message"] = message
    binary["checks"][-1]["message"] = "skipped \x1b[2m\ufffe"
    suites = _suites(_render(doc))
    name = "gate.svc\ufffd[0m-\u00e9\U0001f680"
    cases = _cases(suites[name])
    failure = _result_of(cases["size.max_file"], Failure)
    assert failure.message == xml_safe(message)
    assert "\n2nd line" in failure.message  # newlines in attributes survive (no minidom)
    assert _result_of(cases["startup.max_regression"], Skipped).message == "skipped \ufffd[2m\ufffd"
    assert {c.classname for c in cases.values()} == {name}


def test_tiny_times_stay_fixed_point(doc: dict[str, Any]) -> None:
    """80 us is 8e-05 s as str(float) writes it: fixed-point instead, and a measured time
    under half a millisecond shows as 0.001 so it never reads as unmeasured."""
    doc["binaries"][0]["timings"] = {"inspect_s": 0.00008, "attribution_s": 0.0,
                                     "startup_s": 0.00002, "breakdown_s": None}  # fmt: skip
    text = _render(doc)
    assert "e-0" not in text
    suites = _suites(text)
    assert suites["gate.hello"].time == 0.001
    assert {c.time for c in suites["gate.hello"] if c.name != "go.cgo"} == {0.001}


def test_binaries_sharing_a_name_get_distinct_suites(doc: dict[str, Any]) -> None:
    other = copy.deepcopy(doc["binaries"][1])
    other["path"] = "build/arm64/svc"
    doc["binaries"].append(other)
    suites = _suites(_render(doc))
    assert {"gate.build/svc", "gate.build/arm64/svc"} <= set(suites)
    assert "gate.svc" not in suites


def test_empty_document_is_valid() -> None:
    text = _render({"schema": "gate/results/v1", "created": "2026-11-25T04:50:00Z",
                    "verdict": "pass", "policy": "default", "binaries": []})  # fmt: skip
    assert len(_parse(text)) == 0


def test_error_without_a_reason_is_still_an_error(doc: dict[str, Any]) -> None:
    """junit_xml silently drops an error (or failure) with an empty message."""
    doc["binaries"][2]["error"] = ""
    doc["binaries"][1]["checks"][0]["message"] = ""
    suites = _suites(_render(doc))
    assert int(suites["gate.run.sh"].errors) == 1
    assert int(suites["gate.svc"].failures) == 3


def test_not_judged_can_be_a_failure(doc: dict[str, Any]) -> None:
    """`[report] not_judged = "failure"`: a consumer that ignores errors still goes red."""
    doc["binaries"][2]["not_judged"] = "failure"
    suite = _suites(_render(doc))["gate.run.sh"]
    (case,) = list(suite)
    failure = _result_of(case, Failure)
    assert not [r for r in case.result if isinstance(r, Error)]
    reason = doc["binaries"][2]["error"]
    assert failure.message == f"not judged: {reason}"
    assert failure.type == "gate.not_judged"
    assert (int(suite.failures), int(suite.errors), int(suite.tests)) == (1, 0, 1)
    # Every other suite is as it was: the switch is about entries gate could not judge.
    doc["binaries"][2]["not_judged"] = "error"
    suites = _suites(_render(doc))
    assert int(suites["gate.run.sh"].errors) == 1 and int(suites["gate.run.sh"].failures) == 0
    (case,) = list(suites["gate.run.sh"])
    assert _result_of(case, Error).message == reason


def test_not_judged_failure_without_a_reason_still_fails(doc: dict[str, Any]) -> None:
    doc["binaries"][2].update(error="", not_judged="failure")
    (case,) = list(_suites(_render(doc))["gate.run.sh"])
    why = _result_of(case, Failure).message
    assert why == "not judged: the binary could not be judged"


# --------------------------------------------------------------------------- real runs


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": "true"},
    )


def test_real_times_are_the_measuring_times(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    """On a real binary: start-up cases take at least their runs' wall times, size cases a
    short but measured time, and the report is what the JSON's timings say."""
    binary = fixtures["go1.27-hello-sw"].path
    junit, results = tmp_path / "r.xml", tmp_path / "r.json"
    proc = _gate("check", str(binary), "--policy", "default", "--runs", "3", "--warm",
                 "--junit", str(junit), "--json", str(results))  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    _schema().validate(str(junit))
    entry = json.loads(results.read_text())["binaries"][0]
    timings = entry["timings"]
    assert all(timings[k] > 0 for k in ("inspect_s", "attribution_s", "startup_s")), timings
    walls = sum(r["wall_ms"] for r in entry["startup"]["runs"]) / 1000
    assert timings["startup_s"] >= walls
    (suite,) = list(JUnitXml.fromfile(str(junit)))
    cases = _cases(suite)
    assert any(name.startswith("startup.") for name in cases)
    for name, case in cases.items():
        assert case.time > 0, name
        if name.startswith("startup."):
            assert case.time >= round(walls, 3), (name, case.time, walls)
        elif name.startswith("size."):
            assert case.time < 5, (name, case.time)  # inspection and attribution
            assert case.time == round(timings["inspect_s"] + timings["attribution_s"], 3)
    assert suite.time >= max(c.time for c in cases.values())


def _unstartable_check(tmp_path: Path, fixtures: Mapping[str, Fixture], *policy: str) -> Path:
    """`gate check` of a real binary it cannot start (not executable): exit 2, JUnit."""
    binary = tmp_path / "svc"
    binary.write_bytes(fixtures["rt-noop"].path.read_bytes())
    binary.chmod(0o644)
    junit = tmp_path / "junit.xml"
    proc = _gate("check", str(binary), *policy, "--runs", "3", "--junit", str(junit))
    assert proc.returncode == 2, proc.stderr
    _schema().validate(str(junit))
    return junit


def test_policy_makes_a_real_unjudged_run_a_failure(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    policy = tmp_path / "gate.toml"
    policy.write_text('[policy]\nextends = "default"\n\n[report]\nnot_judged = "failure"\n')
    (suite,) = list(JUnitXml.fromfile(str(_unstartable_check(tmp_path, fixtures, "--policy",
                                                            str(policy)))))  # fmt: skip
    (case,) = list(suite)
    failure = _result_of(case, Failure)
    assert failure.type == "gate.not_judged"
    assert failure.message.startswith("not judged: ") and "not executable" in failure.message
    assert (int(suite.failures), int(suite.errors)) == (1, 0)
    # Without the switch: today's <error>.
    (suite,) = list(JUnitXml.fromfile(str(_unstartable_check(tmp_path, fixtures))))
    (case,) = list(suite)
    assert "not executable" in _result_of(case, Error).message
    assert (int(suite.failures), int(suite.errors)) == (0, 1)


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('[report]\nnot_judged = "fail"\n',
         "report.not_judged: expected one of error, failure; got 'fail'"),
        ("[report]\nnot_judged = true\n",
         "report.not_judged: expected one of error, failure; got True"),
        ('[report]\nnot_judgd = "failure"\n',
         "report.not_judgd: unknown key; did you mean not_judged?"),
        ('[report]\nnot_judged = { value = "failure", severity = "warn" }\n',
         "report.not_judged: a setting takes a plain value, not a severity"),
    ],
)  # fmt: skip
def test_not_judged_is_validated_like_every_policy_key(
    tmp_path: Path, toml: str, problem: str
) -> None:
    policy = tmp_path / "gate.toml"
    policy.write_text(toml)
    proc = _gate("policy", "validate", str(policy))
    assert proc.returncode == 2
    assert proc.stderr == f"gate: error: {policy}: {problem}\n"
    policy.write_text('[report]\nnot_judged = "failure"\n')
    proc = _gate("policy", "validate", str(policy))
    assert proc.returncode == 0, proc.stderr
