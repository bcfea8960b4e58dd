"""`gate inspect` against the truth: readelf and Go's own tools, on every fixture.

Each test walks all fixtures and collects every mismatch, so one run shows the
whole picture instead of stopping at the first binary.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from reference import (
    Fixture,
    go_buildinfo_json,
    go_version_m,
    readelf_dynamic_info,
    readelf_dynsym_names,
    readelf_header,
    readelf_interpreter,
    readelf_sections,
    readelf_segments,
)

from gate.read.facts import inspect_binary

READELF_MACHINES = {
    "Advanced Micro Devices X86-64": "x86_64",
    "Intel 80386": "i386",
    "AArch64": "aarch64",
    "IBM S/390": "s390",
    "MIPS R3000": "mips",
}


def run_gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="session")
def facts(fixtures: Mapping[str, Fixture]) -> dict[str, dict[str, Any]]:
    """Facts of every fixture from ONE end-to-end `gate inspect --json` call."""
    names = [n for n in fixtures if n != "buildinfodump"]
    proc = run_gate("inspect", "--json", *(str(fixtures[n].path) for n in names))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "gate/facts/v1"
    by_path = {b["path"]: b for b in doc["binaries"]}
    assert len(by_path) == len(names)
    return {n: by_path[str(fixtures[n].path)] for n in names}


def each(
    facts: Mapping[str, dict[str, Any]],
    fixtures: Mapping[str, Fixture],
    check: Callable[[Fixture, dict[str, Any]], None],
) -> None:
    """Run `check` on every fixture; fail with all mismatches at once."""
    problems = []
    for name, f in facts.items():
        try:
            check(fixtures[name], f)
        except AssertionError as exc:
            problems.append(f"{name}: {exc}")
    assert not problems, "\n".join(problems)


def test_every_fixture_was_built(fixtures: Mapping[str, Fixture]) -> None:
    go = {f.toolchain for f in fixtures.values() if f.lang == "go"}
    assert {"go1.19", "go1.27"} <= go, f"Go fixtures from both toolchains are needed, got {go}"
    assert sum(f.lang == "c" for f in fixtures.values()) >= 15


def test_header_matches_readelf(facts, fixtures) -> None:
    def check(fx: Fixture, f: dict[str, Any]) -> None:
        ref = readelf_header(fx.path)
        assert f["elf"]["class"] == ref["class"]
        assert f["elf"]["machine"] == READELF_MACHINES[ref["machine"]]
        assert f["elf"]["entry"] == ref["entry"]
        assert f["elf"]["endian"] == ref["endian"]
        assert f["file_size"] == fx.path.stat().st_size
        expect = {"EXEC": {"exec"}, "DYN": {"pie", "static-pie", "shared-object"}}[ref["type"]]
        assert f["elf"]["type"] in expect, (f["elf"]["type"], ref["type"])

    each(facts, fixtures, check)


def _reference_type(fx: Fixture) -> str:
    """hardening-check's decision, from readelf's text."""
    ref = readelf_header(fx.path)
    if ref["type"] == "EXEC":
        return "exec"
    dyn = readelf_dynamic_info(fx.path)
    interp = readelf_interpreter(fx.path)
    if "PIE" in dyn["flags_1"]:
        return "pie" if interp else "static-pie"
    return "pie" if interp and dyn["soname"] is None else "shared-object"


# What each fixture was built to be: the classification must agree with both this
# and readelf (a shared library must never come out as PIE).
EXPECTED_TYPES = {
    "c-pie": "pie",
    "c-nopie": "exec",
    "c-static": "exec",
    "c-static-pie": "static-pie",
    "c-shared": "shared-object",
    "c-shared-nosoname": "shared-object",
    "c-textrel": "shared-object",
    "go1.19-hello-default": "exec",
    "go1.27-hello-default": "exec",
    "go1.19-hello-pie": "pie",
    "go1.27-hello-pie": "pie",
    "go1.19-httpserver-static-sw": "exec",
    "go1.27-httpserver-static-sw": "exec",
}


def test_type_classification(facts, fixtures) -> None:
    def check(fx: Fixture, f: dict[str, Any]) -> None:
        assert f["elf"]["type"] == _reference_type(fx)
        if fx.name in EXPECTED_TYPES:
            assert f["elf"]["type"] == EXPECTED_TYPES[fx.name]

    each(facts, fixtures, check)
    cross = {(f["elf"]["class"], f["elf"]["endian"], f["elf"]["machine"]) for f in facts.values()}
    assert {(32, "little", "i386"), (64, "big", "s390"), (32, "big", "mips")} <= cross
    assert {n for n in EXPECTED_TYPES if n in facts} >= {"c-pie", "c-static-pie", "c-shared"}


def test_sections_match_readelf(facts, fixtures) -> None:
    def check(fx: Fixture, f: dict[str, Any]) -> None:
        ref = [s for s in readelf_sections(fx.path) if s["index"] != 0]
        ours = f["sections"]
        assert [s["name"] for s in ours] == [s["name"] for s in ref]
        for mine, theirs in zip(ours, ref, strict=True):
            assert (mine["type"], mine["size"], mine["address"], mine["offset"]) == (
                theirs["type"],
                theirs["size"],
                theirs["addr"],
                theirs["offset"],
            ), mine["name"]
            assert set(mine["flags"]) == set(theirs["flags"]), mine["name"]

    each(facts, fixtures, check)


def _reference_totals(fx: Fixture) -> dict[str, int]:
    secs = [s for s in readelf_sections(fx.path) if s["index"] != 0]
    symtab_links = {s["link"] for s in secs if s["type"] == "SYMTAB"}
    t = dict.fromkeys(("text", "rodata", "data", "bss", "symbols", "debug"), 0)
    for s in secs:
        fl = s["flags"]
        if "A" in fl:
            key = (
                "bss"
                if s["type"] == "NOBITS"
                else "text"
                if "X" in fl
                else "data"
                if "W" in fl
                else "rodata"
            )
            t[key] += s["size"]
        elif s["type"] == "SYMTAB" or s["index"] in symtab_links:
            t["symbols"] += s["size"]
        elif s["name"].startswith((".debug", ".zdebug")):
            t["debug"] += s["size"]
    return t


def test_totals_add_up_from_readelf(facts, fixtures) -> None:
    def check(fx: Fixture, f: dict[str, Any]) -> None:
        assert f["totals"] == _reference_totals(fx)

    each(facts, fixtures, check)
    assert facts["c-debug"]["totals"]["debug"] > 0
    assert facts["c-stripped"]["totals"]["symbols"] == 0
    assert facts["c-debug"]["totals"]["symbols"] > 0


def test_linking_matches_readelf(facts, fixtures) -> None:
    def check(fx: Fixture, f: dict[str, Any]) -> None:
        dyn = readelf_dynamic_info(fx.path)
        interp = readelf_interpreter(fx.path)
        ln = f["linking"]
        assert ln["interpreter"] == interp
        assert ln["needed"] == dyn["needed"]
        assert ln["rpath"] == dyn["rpath"]
        assert ln["runpath"] == dyn["runpath"]
        assert ln["soname"] == dyn["soname"]
        assert ln["static"] == (interp is None and not dyn["needed"])

    each(facts, fixtures, check)
    assert facts["c-rpath"]["linking"]["rpath"] == ["/opt/gate/lib", "/opt/other"]
    assert facts["c-runpath"]["linking"]["runpath"] == ["/opt/gate/lib"]
    assert "libm.so.6" in facts["c-pie"]["linking"]["needed"]
    assert facts["c-static"]["linking"]["static"] is True
    assert facts["c-static-pie"]["linking"]["static"] is True
    for tc in ("go1.19", "go1.27"):
        assert facts[f"{tc}-httpserver-static-sw"]["linking"]["static"] is True
        assert facts[f"{tc}-httpserver"]["linking"]["static"] is False


def _readelf_symbol_counts(fx: Fixture) -> dict[str, int]:
    out = subprocess.run(
        ["readelf", "-s", "-W", fx.path],
        capture_output=True,
        text=True,
        check=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    ).stdout
    counts = {".symtab": 0, ".dynsym": 0}
    for m in re.finditer(r"Symbol table '([^']+)' contains (\d+) entr", out):
        counts[m.group(1)] = int(m.group(2))
    return counts


def test_symbols_match_readelf(facts, fixtures) -> None:
    def check(fx: Fixture, f: dict[str, Any]) -> None:
        counts = _readelf_symbol_counts(fx)
        has_symtab = any(s["type"] == "SYMTAB" for s in readelf_sections(fx.path))
        assert f["symbols"]["stripped"] == (not has_symtab)
        assert f["symbols"]["symtab_entries"] == counts[".symtab"]
        assert f["symbols"]["dynsym_entries"] == counts[".dynsym"]

    each(facts, fixtures, check)
    assert facts["c-stripped"]["symbols"]["stripped"] is True
    assert facts["c-pie"]["symbols"]["stripped"] is False
    for tc in ("go1.19", "go1.27"):
        assert facts[f"{tc}-hello-sw"]["symbols"]["stripped"] is True
        assert facts[f"{tc}-hello-stripped"]["symbols"]["stripped"] is True
        assert facts[f"{tc}-hello-default"]["symbols"]["symtab_entries"] > 1000


def test_debug_info_matches_readelf(facts, fixtures) -> None:
    def check(fx: Fixture, f: dict[str, Any]) -> None:
        debug = [
            s
            for s in readelf_sections(fx.path)
            if "A" not in s["flags"] and s["name"].startswith((".debug", ".zdebug"))
        ]
        d = f["debug"]
        assert d["present"] == bool(debug)
        assert d["bytes"] == sum(s["size"] for s in debug)
        assert d["compressed"] == any(
            "C" in s["flags"] or s["name"].startswith(".zdebug") for s in debug
        )
        assert d["sections"] == [s["name"] for s in debug]

    each(facts, fixtures, check)
    assert facts["c-debug"]["debug"]["present"] and not facts["c-debug"]["debug"]["compressed"]
    assert facts["c-debug-zlib"]["debug"]["compressed"]
    assert not facts["c-pie"]["debug"]["present"]
    if "c-debug-zdebug" in facts:
        assert facts["c-debug-zdebug"]["debug"]["compressed"]
    for tc in ("go1.19", "go1.27"):
        assert facts[f"{tc}-hello-default"]["debug"]["present"]  # Go keeps DWARF by default
        assert not facts[f"{tc}-hello-sw"]["debug"]["present"]  # -w drops it


def test_hardening_matches_readelf(facts, fixtures) -> None:
    def check(fx: Fixture, f: dict[str, Any]) -> None:
        segs = readelf_segments(fx.path)
        dyn = readelf_dynamic_info(fx.path)
        h = f["hardening"]
        stack = [s for s in segs if s["type"] == "GNU_STACK"]
        assert h["nx"] == (bool(stack) and "E" not in stack[0]["flags"])
        assert h["bind_now"] == dyn["has_bind_now"]
        relro = any(s["type"] == "GNU_RELRO" for s in segs)
        assert h["relro"] == (
            "full" if relro and dyn["has_bind_now"] else "partial" if relro else "none"
        )
        assert h["textrel"] == dyn["has_textrel"]
        dynsyms = readelf_dynsym_names(fx.path)
        if dynsyms:
            assert h["canary"] == any(n == "__stack_chk_fail" for n, _ in dynsyms)
            chk = sorted(n for n, ndx in dynsyms if ndx == "UND" and n.endswith("_chk"))
            assert list(h["fortified"]) == chk
            assert h["fortify"] == bool(chk)

    each(facts, fixtures, check)
    h = {n: f["hardening"] for n, f in facts.items()}
    assert h["c-canary-fortify"]["canary"] and h["c-canary-fortify"]["fortify"]
    assert "__memcpy_chk" in h["c-canary-fortify"]["fortified"]
    assert not h["c-nocanary"]["canary"] and not h["c-nocanary"]["fortify"]
    assert h["c-relro-full"]["relro"] == "full"
    assert h["c-relro-none"]["relro"] == "none"
    assert h["c-execstack"]["nx"] is False
    assert h["c-pie"]["nx"] is True
    if "c-textrel" in h:
        assert h["c-textrel"]["textrel"] is True


def test_hardening_agrees_with_checksec(facts, fixtures) -> None:
    """A second, independent reference for the dynamically linked C fixtures."""
    for name in (
        "c-pie",
        "c-nopie",
        "c-relro-full",
        "c-relro-none",
        "c-execstack",
        "c-canary-fortify",
        "c-nocanary",
    ):
        out = subprocess.run(
            ["checksec", "--output=json", f"--file={fixtures[name].path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        ref = next(iter(json.loads(out).values()))
        h = facts[name]["hardening"]
        assert h["relro"] == {"no": "none"}.get(ref["relro"], ref["relro"]), name
        assert h["canary"] == (ref["canary"] == "yes"), name
        assert h["nx"] == (ref["nx"] == "yes"), name
        assert h["fortify"] == (ref["fortify_source"] == "yes"), name
        assert len(h["fortified"]) == int(ref["fortified"]), name


LEGACY_GO = "c-go-legacy-buildinfo"  # gcc-built, Go's pre-1.18 pointer layout


def _go_quote(value: str, key: bool = False) -> str:
    """How `go version -m` prints a build setting (debug.BuildInfo.String)."""
    special = '= \t\r\n"`' if key else ' \t\r\n"`'
    if (key and not value) or any(c in special for c in value):
        return json.dumps(value)
    return value


def test_go_buildinfo_matches_go_version_m(facts, fixtures, go_toolchains) -> None:
    go, env = go_toolchains["go1.27"]
    checked = 0

    def check(fx: Fixture, f: dict[str, Any]) -> None:
        nonlocal checked
        if fx.lang != "go" and fx.name != LEGACY_GO:
            assert f["go"] is None
            return
        if fx.name.endswith("-noshdr"):
            return  # Go's own tools give up without section headers; compared below
        if fx.name == "go1.19-plugin":
            # Go 1.19 wrote a plugin's build info where no Go tool reads it (`go version -m`
            # exits 1, "not executable file"): gate reports none either, and names Go from
            # the build ID note.
            with pytest.raises(RuntimeError):
                go_version_m(go, env, fx.path)
            assert f["go"] is None and f["toolchain"]["language"] == "go"
            return
        checked += 1
        ref = go_version_m(go, env, fx.path)
        truth = go_buildinfo_json(fixtures, fx.path)
        g = f["go"]
        assert g["version"] == ref["go_version"] == truth["go_version"]
        assert g["version"].startswith(fx.toolchain) or fx.name == LEGACY_GO
        assert g["path"] == ref["path"]
        mod = g["main_module"]
        assert (mod["path"], mod["version"], mod["sum"]) == ref["mod"]
        assert [(d["path"], d["version"], d["sum"]) for d in g["deps"]] == [
            d[:3] for d in ref["deps"]
        ]
        assert [
            (r["path"], r["version"], r["sum"]) if (r := d["replace"]) else None for d in g["deps"]
        ] == [d[3] for d in ref["deps"]]
        # Values are the real ones (Go's own decoder), and print as go version -m does.
        assert list(g["settings"].items()) == [(s["key"], s["value"]) for s in truth["settings"]]
        printed = [(_go_quote(k, key=True), _go_quote(v)) for k, v in g["settings"].items()]
        assert printed == ref["settings"]

    each(facts, fixtures, check)
    assert checked >= 19
    legacy = facts[LEGACY_GO]["go"]
    assert legacy["format"] == "pointer" and legacy["version"] == "go1.16.15"
    assert legacy["deps"][1]["replace"]["path"] == "github.com/fork/lib"
    for tc in ("go1.19", "go1.27"):
        s = facts[f"{tc}-hello-sw"]["go"]["settings"]
        assert s["-ldflags"] == "-s -w"
        assert facts[f"{tc}-hello-pie"]["elf"]["type"] == "pie"
        assert facts[f"{tc}-hello-nocgo"]["go"]["settings"]["CGO_ENABLED"] == "0"
        assert facts[f"{tc}-hello-trimpath"]["go"]["settings"]["-trimpath"] == "true"
        assert "vcs.revision" in facts[f"{tc}-hello-vcs"]["go"]["settings"]
        assert facts[f"{tc}-hello-default"]["go"]["format"] == "inline"
    # Go 1.19 did not record -buildmode yet; the ELF type is the fact that tells.
    assert "-buildmode" not in facts["go1.19-hello-pie"]["go"]["settings"]
    assert facts["go1.27-hello-pie"]["go"]["settings"]["-buildmode"] == "pie"
    # Without section headers the header is found in the first writable PT_LOAD.
    assert facts["go1.27-hello-noshdr"]["sections"] == []
    assert facts["go1.27-hello-noshdr"]["go"] == facts["go1.27-hello-sw"]["go"]
    assert facts["go1.27-hello-noshdr"]["go"]["settings"]["-ldflags"] == "-s -w"


def test_in_process_equals_cli(facts, fixtures) -> None:
    from gate.results.build import facts_to_dict

    for name in ("c-pie", "go1.27-hello-sw", "c-shared"):
        assert (
            json.loads(json.dumps(facts_to_dict(inspect_binary(fixtures[name].path))))
            == (facts[name])
        )


def test_json_has_the_documented_keys(facts) -> None:
    f = facts["c-pie"]
    assert set(f) >= {
        "path",
        "file_size",
        "elf",
        "linking",
        "sections",
        "totals",
        "symbols",
        "debug",
        "hardening",
        "go",
    }
    assert set(f["elf"]) >= {"class", "machine", "type", "entry"}
    assert set(f["linking"]) >= {"static", "interpreter", "needed", "rpath", "runpath"}
    assert set(f["sections"][0]) >= {"name", "type", "size", "flags"}
    assert set(f["totals"]) == {"text", "rodata", "data", "bss", "symbols", "debug"}
    assert set(f["symbols"]) >= {"stripped", "symtab_entries", "dynsym_entries"}
    assert set(f["debug"]) >= {"present", "compressed", "bytes"}
    assert set(f["hardening"]) >= {"nx", "relro", "bind_now", "textrel", "canary", "fortify"}
    g = facts["go1.27-hello-default"]["go"]
    assert set(g) >= {"version", "path", "main_module", "settings"}


def test_table_output(fixtures, facts) -> None:
    proc = run_gate("inspect", str(fixtures["c-pie"].path), str(fixtures["go1.27-hello-sw"].path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"{fixtures['c-pie'].path}  " in out
    assert f"{facts['c-pie']['file_size']:,} bytes" in out
    assert "x86_64 little-endian, pie" in out
    assert "needed     " + ", ".join(facts["c-pie"]["linking"]["needed"]) in out
    assert "-ldflags=-s -w" in out
    assert ".text" in out and "PROGBITS" in out
