"""Metrics report read back by Prometheus' own parsers (text 0.0.4 and OpenMetrics) and
linted by `promtool check metrics`: every text rendered here goes through `_render`.

GitLab's `metrics` report reads the same `name{labels} value` lines. The results
documents are plain dicts shaped as gate/results/v1 describes them.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families as prometheus_families
from promtool import assert_promtool_accepts
from results_docs import check, document

from gate.report.metrics import render_metrics
from gate.values.stats import QUANTILE_METHOD

WEIRD = 'we"ird\nna\\me'


def _section(name: str, size: int, kind: str = "SHT_PROGBITS") -> dict[str, Any]:
    return {"name": name, "type": kind, "size": size, "flags": "A", "address": 0, "offset": 0}


def _facts(path: str, file_size: int, sections: list[dict[str, Any]]) -> dict[str, Any]:
    """A gate/facts/v1 entry; only sizes matter to the metrics, the rest is realistic filler."""
    sizes = {s["name"]: s["size"] for s in sections}
    return {
        "path": path,
        "file_size": file_size,
        "elf": {"class": 64, "machine": "x86_64", "type": "pie", "entry": 0x1040,
                "endian": "little"},
        "linking": {"static": False, "interpreter": "/lib64/ld-linux-x86-64.so.2",
                    "needed": ["libc.so.6"], "rpath": [], "runpath": [], "soname": None},
        "sections": sections,
        "totals": {"text": sizes.get(".text", 0), "rodata": sizes.get(".rodata", 0),
                   "data": sizes.get(".data", 0), "bss": sizes.get(".bss", 0),
                   "symbols": sizes.get(".symtab", 0) + sizes.get(".strtab", 0),
                   "debug": 0},
        "symbols": {"stripped": ".symtab" not in sizes, "symtab_entries": 0,
                    "dynsym_entries": 7},
        "debug": {"present": False, "compressed": False, "bytes": 0, "sections": []},
        "hardening": {"nx": True, "relro": "full", "bind_now": True, "textrel": False,
                      "canary": True, "fortify": False, "fortified": []},
        "go": None,
    }  # fmt: skip


def _run(wall_ms: float, rss: int | None, ok: bool = True) -> dict[str, Any]:
    run: dict[str, Any] = {
        "wall_ms": wall_ms,
        "user_ms": wall_ms * 0.4,
        "sys_ms": wall_ms * 0.3,
        "max_rss_bytes": rss,
        "major_faults": 0,
        "minor_faults": 97,
        "exit_code": 0 if ok else None,
        "ok": ok,
        "error": None if ok else "not ready after 10.0 s",
        "stopped": 0,
        "port": 40123,
        "resident_before": 0,
        "resident_after": 12,
    }
    if not ok:
        run["stdout_tail"] = "listening\x1b[K\n"
        run["stderr_tail"] = "caf\u00e9 \U0001f680\x00\n"
    return run


def _startup(runs: list[dict[str, Any]], p: tuple[float, float, float, float]) -> dict[str, Any]:
    failed = sum(not r["ok"] for r in runs)
    ok = sorted(r["wall_ms"] for r in runs if r["ok"])
    return {
        "binary": "build/svc",
        "args": ["--port", "{port}"],
        "ready": "http://127.0.0.1:{port}/healthz",
        "cold": True,
        "eviction": "fadvise",
        "warmup": 1,
        "timeout_s": 10.0,
        "runs": runs,
        "stats": {
            "count": len(ok), "failed": failed, "min_ms": ok[0], "p50_ms": p[0],
            "p90_ms": p[1], "p95_ms": p[2], "p99_ms": p[3], "max_ms": ok[-1],
            "mean_ms": sum(ok) / len(ok), "stdev_ms": 21.7,
            "ci": {"p50": [p[0] * 0.9, p[0] * 1.1], "p90": [p[1] * 0.9, None],
                   "p95": [p[2] * 0.9, None], "p99": [None, None]},
            "confidence": 0.95, "min_runs": {"p50": 6, "p90": 29, "p95": 59, "p99": 299},
            "quantile_method": QUANTILE_METHOD,
            "ci_method": "order statistics (binomial), distribution-free",
        },
        "eviction_detail": None,
        "against": None,
    }  # fmt: skip


@cache
def _document() -> dict[str, Any]:
    svc_runs = [_run(280.1 + 7.3 * i, 31_457_280 + 8192 * i) for i in range(18)]
    svc_runs[5:5] = [_run(10_000.0, None, ok=False), _run(10_000.0, 33_554_432, ok=False)]
    return document(
        "error",
        [
            {
                "path": "build/hello",
                "name": "hello",
                "verdict": "pass",
                "error": None,
                "facts": _facts("build/hello", 16_784, [
                    _section("", 0, "SHT_NULL"), _section(".text", 322), _section(".rodata", 4),
                    _section(".data", 16), _section(".bss", 8, "SHT_NOBITS"),
                    _section(".tbss", 0, "SHT_NOBITS"), _section(".symtab", 888, "SHT_SYMTAB"),
                    _section(".strtab", 470, "SHT_STRTAB"),
                ]),
                # A run that reports no rusage: no RSS sample may be made up.
                "startup": _startup([_run(0.6 + 0.02 * i, None) for i in range(10)],
                                    (0.69, 0.78, 0.79, 0.7980000000000001)),
                "attribution": None,
                "checks": [
                    check("size.max_file", "pass", message="file size 16.4 KiB <= 8.5 MB"),
                    check("elf.stripped", "warn", message="not stripped: .symtab has 37 entries"),
                    check("go.cgo", "skip", message="not a Go binary"),
                    check("startup.p95", "pass", message="cold-start p95 0.8 ms <= 320 ms"),
                ],
            },
            {
                "path": "build/svc",
                "name": "svc",
                "verdict": "fail",
                "error": None,
                "facts": _facts("build/svc", 9_437_184, [
                    _section("", 0, "SHT_NULL"), _section(".text", 4_718_592),
                    _section(".rodata", 2_359_296), _section(".data", 12_288),
                    # ELF allows two sections of one name; one sample, summed.
                    _section(".note.go", 100, "SHT_NOTE"), _section(".note.go", 36, "SHT_NOTE"),
                    _section(".bss", 196_608, "SHT_NOBITS"),
                ]),
                "startup": _startup(svc_runs, (342.25, 399.2, 412.3, 413.9)),
                "attribution": None,
                "checks": [
                    check("size.max_file", "fail", message="file size 9.0 MiB > 8.5 MB"),
                    check("elf.stripped", "pass", message="stripped"),
                    check("startup.runs", "fail", message="2 of 20 starts failed"),
                    check("startup.p95", "fail", message="cold-start p95 412.3 ms > 320 ms"),
                    check("startup.max_rss", "pass", message="max RSS 32.0 MiB <= 64 MiB"),
                    check("startup.max_regression", "skip", message="no baseline"),
                ],
            },
            {
                "path": "build/run.sh",
                "name": "run.sh",
                "verdict": "error",
                "error": "build/run.sh: not an ELF file (starts with '#!/bi')",
                "facts": None,
                "startup": None,
                "attribution": None,
                "checks": [],
            },
        ],
        sources=("builtin:serverless", "builtin:default"),
    )  # fmt: skip


@pytest.fixture
def doc() -> dict[str, Any]:
    return copy.deepcopy(_document())


def _render(doc: dict[str, Any]) -> str:
    """The metrics text, which promtool must accept without a word."""
    text = render_metrics(doc)
    assert_promtool_accepts(text)
    return text


Key = tuple[str, frozenset[tuple[str, str]]]


def _samples(families: Any) -> dict[Key, float]:
    """Every sample by (name, labels); a duplicate series would be an invalid exposition."""
    found: dict[Key, float] = {}
    for family in families:
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in found, key
            assert sample.timestamp is None
            found[key] = sample.value
    return found


def _key(name: str, **labels: str) -> Key:
    return name, frozenset(labels.items())


NO_ENVELOPE = {"cpus": "none", "memory_bytes": "none", "pinned_cpu": "none"}


def _started(name: str, **labels: str) -> Key:
    """A start-up sample's key: its binary and envelope labels (none: the bare machine)."""
    return _key(name, **NO_ENVELOPE, **labels)


def _expected(doc: dict[str, Any]) -> dict[Key, float]:
    """The samples the document calls for, computed independently of the renderer."""
    want: dict[Key, float] = {}
    for binary in doc["binaries"]:
        b = binary["name"]
        want[_key("gate_verdict", binary=b)] = {"pass": 0, "fail": 1, "error": 2}[binary["verdict"]]
        if binary["checks"]:
            for status in ("pass", "fail", "warn", "skip"):
                count = sum(c["status"] == status for c in binary["checks"])
                want[_key("gate_checks", binary=b, status=status)] = count
        facts = binary["facts"]
        if facts:
            want[_key("gate_file_bytes", binary=b)] = facts["file_size"]
            for kind, size in facts["totals"].items():
                want[_key("gate_size_bytes", binary=b, kind=kind)] = size
            for section in facts["sections"]:
                if section["size"]:
                    key = _key("gate_section_bytes", binary=b, section=section["name"])
                    want[key] = want.get(key, 0) + section["size"]
        startup = binary["startup"]
        if startup:
            stats = startup["stats"]
            for quantile, key in (("0.5", "p50_ms"), ("0.9", "p90_ms"), ("0.95", "p95_ms"),
                                  ("0.99", "p99_ms")):  # fmt: skip
                seconds = stats[key] / 1000
                want[_started("gate_startup_seconds", binary=b, quantile=quantile)] = seconds
            want[_started("gate_startup_seconds_count", binary=b)] = stats["count"]
            want[_started("gate_startup_seconds_sum", binary=b)] = (
                stats["mean_ms"] * stats["count"] / 1000
            )
            want[_started("gate_startup_runs", binary=b)] = len(startup["runs"])
            failed = sum(not r["ok"] for r in startup["runs"])
            want[_started("gate_startup_failed_runs", binary=b)] = failed
            # max RSS is the peak of the successful runs: a failed run's is not a start-up's
            rss = [r["max_rss_bytes"] for r in startup["runs"] if r["ok"] and r["max_rss_bytes"]]
            if rss:
                want[_started("gate_startup_max_rss_bytes", binary=b)] = max(rss)
    return want


@pytest.mark.parametrize("parse", [prometheus_families, openmetrics_families])
def test_every_sample_equals_the_document(doc: dict[str, Any], parse: Any) -> None:
    assert _samples(parse(_render(doc))) == _expected(doc)


def test_spot_values(doc: dict[str, Any]) -> None:
    """A few by hand, so a shared mistake in `_expected` cannot hide."""
    got = _samples(openmetrics_families(_render(doc)))
    assert got[_started("gate_startup_seconds", binary="svc", quantile="0.95")] == 0.4123
    assert got[_started("gate_startup_runs", binary="svc")] == 20
    assert got[_started("gate_startup_failed_runs", binary="svc")] == 2
    # The failed run's 33,554,432 is not the start-up's peak: the 18th successful run's is.
    assert got[_started("gate_startup_max_rss_bytes", binary="svc")] == 31_457_280 + 8192 * 17
    assert got[_key("gate_section_bytes", binary="svc", section=".note.go")] == 136
    assert got[_key("gate_checks", binary="svc", status="fail")] == 3
    assert got[_key("gate_checks", binary="hello", status="warn")] == 1
    assert got[_started("gate_startup_seconds_count", binary="svc")] == 18
    assert got[_started("gate_startup_seconds_sum", binary="svc")] == pytest.approx(
        sum(r["wall_ms"] for r in doc["binaries"][1]["startup"]["runs"] if r["ok"]) / 1000
    )
    assert got[_key("gate_verdict", binary="run.sh")] == 2
    assert _started("gate_startup_max_rss_bytes", binary="hello") not in got
    assert _key("gate_section_bytes", binary="hello", section=".tbss") not in got
    assert not [k for k in got if ("binary", "run.sh") in k[1] and k[0] != "gate_verdict"]


def test_families_are_documented_with_types_and_units(doc: dict[str, Any]) -> None:
    """Gauges, but the percentiles: a summary. No counters, so nothing ends in _total."""
    text = _render(doc)
    families = {f.name: f for f in openmetrics_families(text)}
    assert set(families) == {
        "gate_file_bytes", "gate_section_bytes", "gate_size_bytes", "gate_startup_seconds",
        "gate_startup_runs", "gate_startup_failed_runs", "gate_startup_max_rss_bytes",
        "gate_checks", "gate_verdict",
    }  # fmt: skip
    types = {name: f.type for name, f in families.items()}
    assert types.pop("gate_startup_seconds") == "summary"
    assert set(types.values()) == {"gauge"}
    assert all(f.documentation for f in families.values())
    assert families["gate_startup_seconds"].unit == "seconds"
    assert families["gate_file_bytes"].unit == "bytes"
    classic = {f.name: f for f in prometheus_families(text)}
    assert {name: f.type for name, f in classic.items()} == {
        name: f.type for name, f in families.items()
    }
    assert "_total" not in text
    # Each binary's summary samples together, quantiles first (OpenMetrics' grouping).
    summary = [line.split("{")[0] for line in text.splitlines()
               if line.startswith("gate_startup_seconds")]  # fmt: skip
    one_binary = ["gate_startup_seconds"] * 4 + [
        "gate_startup_seconds_sum",
        "gate_startup_seconds_count",
    ]
    assert summary == one_binary * 2


def test_promtool_rejects_what_gate_used_to_write() -> None:
    """The oracle is real: promtool flags a gauge named _total and a gauge with quantiles."""
    old = (
        "# HELP gate_checks_total Checks.\n# TYPE gate_checks_total gauge\n"
        'gate_checks_total{binary="a",status="pass"} 3\n'
        "# HELP gate_startup_seconds Start-up.\n# TYPE gate_startup_seconds gauge\n"
        'gate_startup_seconds{binary="a",quantile="0.5"} 0.1\n# EOF\n'
    )
    with pytest.raises(AssertionError) as raised:
        assert_promtool_accepts(old)
    assert 'non-counter metrics should not have "_total" suffix' in str(raised.value)
    assert 'non-summary metrics should not have "quantile" label' in str(raised.value)


def test_text_shape_for_gitlab(doc: dict[str, Any]) -> None:
    """GitLab reads `name{labels} value` lines; comments are metadata; the end is `# EOF`."""
    text = _render(doc)
    assert text.endswith("\n# EOF\n")
    lines = text.splitlines()
    samples = [line for line in lines if not line.startswith("#")]
    assert samples and all(re.fullmatch(r"gate_[a-z_]+\{[^\n]*\} [0-9.e+-]+", s) for s in samples)
    for line in lines:
        if line.startswith("#") and line != "# EOF":
            assert re.fullmatch(r"# (HELP|TYPE|UNIT) gate_[a-z_]+ .+", line)


def test_label_escaping_round_trips(doc: dict[str, Any]) -> None:
    doc["binaries"][1]["name"] = WEIRD
    text = _render(doc)
    assert 'binary="we\\"ird\\nna\\\\me"' in text
    for parse in (prometheus_families, openmetrics_families):
        got = _samples(parse(text))
        assert got[_key("gate_verdict", binary=WEIRD)] == 1
        assert got[_started("gate_startup_seconds", binary=WEIRD, quantile="0.5")] == 0.34225


def test_unwritable_characters_in_labels_are_replaced(doc: dict[str, Any]) -> None:
    """A lone surrogate is not UTF-8 and a CR splits lines for some readers: U+FFFD."""
    doc["binaries"][0]["name"] = "a\ud800b\rc\u00e9\U0001f680"
    text = _render(doc)
    text.encode("utf-8")  # would raise on a surrogate
    got = _samples(openmetrics_families(text))
    assert got[_key("gate_verdict", binary="a\ufffdb\ufffdc\u00e9\U0001f680")] == 0


def test_binaries_sharing_a_name_are_told_apart_by_path(doc: dict[str, Any]) -> None:
    twin = copy.deepcopy(doc["binaries"][1])
    twin["path"] = "build/arm64/svc"
    twin["verdict"] = "pass"
    doc["binaries"].append(twin)
    got = _samples(openmetrics_families(_render(doc)))
    assert got[_key("gate_verdict", binary="build/svc")] == 1
    assert got[_key("gate_verdict", binary="build/arm64/svc")] == 0


def test_missing_stats_and_empty_document() -> None:
    doc = copy.deepcopy(_document())
    startup = doc["binaries"][1]["startup"]
    for run in startup["runs"]:
        run.update(ok=False, max_rss_bytes=None)
    startup["stats"] = None  # no run succeeded: no percentiles
    got = _samples(openmetrics_families(_render(doc)))
    assert got[_started("gate_startup_failed_runs", binary="svc")] == 20
    assert not [k for k in got if k[0] == "gate_startup_seconds" and ("binary", "svc") in k[1]]
    assert _render({"schema": "gate/results/v1", "binaries": []}) == "# EOF\n"


def test_largest_packages_are_samples() -> None:
    """Top packages (by the attribution's order) become gate_package_bytes, at most 20."""
    from prometheus_client.parser import text_string_to_metric_families
    from results_docs import document

    from gate.report.metrics import TOP_PACKAGES

    packages = [{"name": f"example.com/p{i}", "bytes": 10_000 - i} for i in range(30)]
    binary = {"path": "bin/svc", "name": "svc", "verdict": "pass", "error": None,
              "facts": None, "startup": None, "checks": [],
              "attribution": {"packages": packages}}  # fmt: skip
    families = {f.name: f for f in text_string_to_metric_families(
        _render(document("pass", [binary])))}  # fmt: skip
    samples = families["gate_package_bytes"].samples
    assert [(s.labels["package"], s.value) for s in samples] == [
        (p["name"], p["bytes"]) for p in packages[:TOP_PACKAGES]
    ]
    assert {s.labels["binary"] for s in samples} == {"svc"}


def _in_envelope(doc: dict[str, Any]) -> dict[str, Any]:
    """svc's starts ran at 0.25 CPU, 128 MiB, pinned to CPU 1; hello's on the bare machine."""
    doc["binaries"][1]["startup"]["envelope"] = {
        "cpus": 0.25, "cpu_period_us": 100_000, "memory": 134_217_728, "cpu": 1,
    }  # fmt: skip
    return doc


SVC_ENVELOPE = {"cpus": "0.25", "memory_bytes": "134217728", "pinned_cpu": "1"}


@pytest.mark.parametrize("parse", [prometheus_families, openmetrics_families])
def test_startup_samples_are_labelled_with_their_envelope(doc: dict[str, Any], parse: Any) -> None:
    """Every start-up sample has the three envelope labels, "none" where a part was not
    set; the size samples have none of them (the envelope does not change a file)."""
    got = _samples(parse(_render(_in_envelope(doc))))
    startup = [(name, dict(labels)) for name, labels in got if name.startswith("gate_startup")]
    # svc: 4 quantiles, _sum, _count, runs, failed runs, max RSS; hello has no RSS sample
    assert len(startup) == 9 + 8
    for name, labels in startup:
        want = SVC_ENVELOPE if labels["binary"] == "svc" else NO_ENVELOPE
        assert {k: labels[k] for k in want} == want, (name, labels)
    assert (
        got[_key("gate_startup_seconds", binary="svc", quantile="0.95", **SVC_ENVELOPE)] == 0.4123
    )
    assert got[_key("gate_startup_runs", binary="svc", **SVC_ENVELOPE)] == 20
    assert got[_key("gate_startup_seconds_count", binary="hello", **NO_ENVELOPE)] == 10
    others = {k for name, labels in got if not name.startswith("gate_startup") for k, _ in labels}
    assert others == {"binary", "kind", "section", "status"}


def test_summary_file_carries_the_envelope_too(doc: dict[str, Any]) -> None:
    """GitLab's widget compares `name{labels}` lines: a p95 from another envelope is
    another row, never a change of this one."""
    got = _samples(openmetrics_families(_render_summary(_in_envelope(doc))))
    assert got[_key("gate_startup_p95_seconds", binary="svc", **SVC_ENVELOPE)] == 0.4123
    assert got[_key("gate_startup_p50_seconds", binary="hello", **NO_ENVELOPE)] == 0.00069
    assert got[_key("gate_file_bytes", binary="svc")] == 9_437_184


def test_envelope_labels_are_canonical() -> None:
    """One envelope, one series, however it was spelt; a CFS period is shown only where
    it is not the default 100 ms, and only with a quota (without one it limits nothing)."""
    from gate.report.metrics import envelope_labels
    from gate.values.envelope import build, overrides

    def labels(**over: Any) -> dict[str, str]:
        return dict(envelope_labels(build({}, over).to_dict()))

    spelt = [overrides(*args) for args in (("250m", "128MiB"), ("0.25", "134217728"))]
    assert [labels(**o) for o in spelt] == [{**NO_ENVELOPE, "cpus": "0.25",
                                             "memory_bytes": "134217728"}] * 2  # fmt: skip
    assert labels(cpus=0.1 + 0.2) == {**NO_ENVELOPE, "cpus": "0.3"}
    assert labels(cpus=1.0)["cpus"] == "1"
    assert labels(cpus=0.5, cpu_period_us=50_000)["cpus"] == "0.5 (period 50 ms)"
    assert labels(cpu_period_us=50_000) == NO_ENVELOPE  # a period alone: no envelope
    assert labels(cpu=0) == {**NO_ENVELOPE, "pinned_cpu": "0"}
    assert dict(envelope_labels(None)) == NO_ENVELOPE


def test_two_envelopes_are_two_series(doc: dict[str, Any]) -> None:
    """The same binary measured in two envelopes (two shards' results merged): two
    series, each valid, neither overwriting the other."""
    twin = copy.deepcopy(_in_envelope(doc)["binaries"][1])
    twin["path"] = "build/arm64/svc"
    twin["startup"]["envelope"] = None
    doc["binaries"].append(twin)
    got = _samples(openmetrics_families(_render(doc)))
    assert got[_key("gate_startup_runs", binary="build/svc", **SVC_ENVELOPE)] == 20
    assert got[_key("gate_startup_runs", binary="build/arm64/svc", **NO_ENVELOPE)] == 20


def test_bidi_controls_in_labels_are_shown_as_escapes(doc: dict[str, Any]) -> None:
    """The exposition format has no escape for U+202E: the label holds the text `\\u202e`,
    as the log shows it, and no raw control reaches the file."""
    doc["binaries"][1]["name"] = "svc\u202egnp.exe"
    text = _render(doc)
    assert "\u202e" not in text
    assert 'binary="svc\\\\u202egnp.exe"' in text
    got = _samples(openmetrics_families(text))
    assert got[_key("gate_verdict", binary="svc\\u202egnp.exe")] == 1


# --------------------------------------------------------------------------- metrics-summary


def _render_summary(doc: dict[str, Any]) -> str:
    """The short file (`--format metrics-summary`), which promtool must accept too."""
    from gate.report.formats import render

    text = render(doc, "metrics-summary")
    assert_promtool_accepts(text)
    return text


@pytest.mark.parametrize("parse", [prometheus_families, openmetrics_families])
def test_summary_is_size_p50_and_p95_per_binary(doc: dict[str, Any], parse: Any) -> None:
    """Three samples per binary (GitLab's MR widget shows a row per sample), each the
    document's own number; the binary gate could not read has none."""
    got = _samples(parse(_render_summary(doc)))
    want: dict[Key, float] = {}
    for binary in doc["binaries"][:2]:  # hello and svc; run.sh was not read
        b, stats = binary["name"], binary["startup"]["stats"]
        want[_key("gate_file_bytes", binary=b)] = binary["facts"]["file_size"]
        want[_started("gate_startup_p50_seconds", binary=b)] = stats["p50_ms"] / 1000
        want[_started("gate_startup_p95_seconds", binary=b)] = stats["p95_ms"] / 1000
    assert got == want
    # By hand, so a shared mistake cannot hide: svc's 9 MiB, 342.25 ms and 412.3 ms.
    assert got[_key("gate_file_bytes", binary="svc")] == 9_437_184
    assert got[_started("gate_startup_p50_seconds", binary="svc")] == 0.34225
    assert got[_started("gate_startup_p95_seconds", binary="svc")] == 0.4123
    for binary in ("hello", "svc"):
        assert sum(("binary", binary) in labels for _, labels in got) == 3


def test_summary_families_are_gauges_with_units(doc: dict[str, Any]) -> None:
    text = _render_summary(doc)
    families = {f.name: f for f in openmetrics_families(text)}
    assert {name: (f.type, f.unit) for name, f in families.items()} == {
        "gate_file_bytes": ("gauge", "bytes"),
        "gate_startup_p50_seconds": ("gauge", "seconds"),
        "gate_startup_p95_seconds": ("gauge", "seconds"),
    }
    assert all(f.documentation for f in families.values())
    assert text.endswith("\n# EOF\n")
    # The full file's size sample is the summary's, line for line.
    full = {line for line in _render(doc).splitlines() if line.startswith("gate_file_bytes")}
    assert full == {line for line in text.splitlines() if line.startswith("gate_file_bytes")}


def test_summary_without_stats_has_only_the_size(doc: dict[str, Any]) -> None:
    doc["binaries"][1]["startup"]["stats"] = None  # no run succeeded
    got = _samples(openmetrics_families(_render_summary(doc)))
    assert [k for k in got if ("binary", "svc") in k[1]] == [_key("gate_file_bytes", binary="svc")]
    assert _render_summary({"schema": "gate/results/v1", "binaries": []}) == "# EOF\n"


def test_summary_from_gate_check_and_gate_report(fixtures: Any, tmp_path: Any) -> None:
    """`gate check --metrics-summary PATH` writes what `gate report --format
    metrics-summary` renders from the same run's results, for a real binary."""
    import os
    import subprocess
    import sys

    binary = fixtures["rt-noop"].path
    summary, results, again = tmp_path / "mr.txt", tmp_path / "r.json", tmp_path / "again.txt"
    run = [sys.executable, "-m", "gate"]
    proc = subprocess.run(
        [*run, "check", str(binary), "--runs", "3", "--json", str(results),
         "--metrics-summary", str(summary)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    proc = subprocess.run(
        [*run, "report", str(results), "--format", "metrics-summary", "-o", str(again)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = summary.read_text()
    assert text == again.read_text()
    assert_promtool_accepts(text)
    got = _samples(openmetrics_families(text))
    assert got[_key("gate_file_bytes", binary="rt-noop")] == os.path.getsize(binary)
    assert len(got) == 3
