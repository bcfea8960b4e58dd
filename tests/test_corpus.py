"""gate on binaries nobody here wrote (tests/corpus.py), each answer against a reference
that is not gate: readelf, Debian's checksec, `go version -m` (the go1.27 toolchain's go)
and Go's own debug/gosym (the `gosymsizes` fixture).

Our fixtures are small standard-library programs; these are real services with hundreds
of modules, `go.`-prefixed import paths (go.uber.org/zap, go.opentelemetry.io/...,
go.etcd.io/...), a table written by Go 1.16 (etcd), a Rust tool and a C server built with
Debian's hardening flags. gate runs once per binary and view (module-scoped fixtures);
each call takes well under a second.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from reference import (
    Fixture,
    GosymSizes,
    checksec,
    go_version_m,
    gosym_sizes,
    readelf_dynamic_info,
    readelf_dynsym_names,
    readelf_header,
    readelf_interpreter,
    readelf_sections,
    readelf_segments,
    readelf_symbol_counts,
    section_group_sizes,
)

ALL = ("caddy", "etcd", "gh", "nats", "just", "memcached")
GO = ("caddy", "etcd", "gh", "nats")
# Import paths whose first element begins `go.`: the linker of Go 1.19 and older named
# its own symbols `go.*` too, which is what gate once took these for.
GO_DOT = ("go.uber.org/", "go.opentelemetry.io/", "go.etcd.io/")
GENERATED, NON_GO, RUNTIME = "<generated>", "<non-Go code>", "runtime"


def gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=120
    )


def gate_json(*args: str) -> Any:
    proc = gate(*args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def paths(corpus: Callable[[str], Path]) -> dict[str, Path]:
    return {name: corpus(name) for name in ALL}


@pytest.fixture(scope="module")
def facts(paths: Mapping[str, Path]) -> dict[str, dict[str, Any]]:
    """`gate inspect --json` of the whole corpus, one call."""
    doc = gate_json("inspect", "--json", *map(str, paths.values()))
    by_path = {b["path"]: b for b in doc["binaries"]}
    return {name: by_path[str(path)] for name, path in paths.items()}


@pytest.fixture(scope="module")
def go_m(paths: Mapping[str, Path], go_toolchains: Any) -> dict[str, dict[str, Any]]:
    """`go version -m` of each Go binary, by the newest toolchain (it reads them all)."""
    go, env = go_toolchains["go1.27"]
    return {name: go_version_m(go, env, paths[name]) for name in GO}


def module_paths(ref: Mapping[str, Any]) -> list[str]:
    return [ref["mod"][0], *(d[0] for d in ref["deps"])]


@pytest.fixture(scope="module")
def gosym(
    paths: Mapping[str, Path], go_m: Mapping[str, dict[str, Any]], fixtures: Mapping[str, Fixture]
) -> dict[str, GosymSizes]:
    return {name: gosym_sizes(fixtures, paths[name], module_paths(go_m[name])) for name in GO}


@pytest.fixture(scope="module")
def packages(paths: Mapping[str, Path]) -> dict[str, dict[str, int]]:
    """`gate size --by package --json` of each Go binary (the JSON holds every row)."""
    out = {}
    for name in GO:
        doc = gate_json("size", "--by", "package", "--json", "-", str(paths[name]))
        assert doc["entries_total"] == len(doc["entries"])
        out[name] = {e["name"]: e["bytes"] for e in doc["entries"]}
    return out


# ---------------------------------------------------------------- gate inspect


@pytest.mark.parametrize("name", ALL)
def test_elf_type_and_linking(name: str, facts, paths) -> None:
    path, f = paths[name], facts[name]
    header, interp = readelf_header(path), readelf_interpreter(path)
    dyn = readelf_dynamic_info(path)
    pie = checksec(path)["pie"] == "yes"
    assert f["file_size"] == path.stat().st_size
    expected = "exec" if header["type"] == "EXEC" else ("pie" if interp else "static-pie")
    assert header["type"] == "EXEC" or pie  # none of them is a shared library
    assert f["elf"]["type"] == expected
    assert f["elf"]["entry"] == header["entry"]
    ln = f["linking"]
    assert ln["interpreter"] == interp
    assert ln["needed"] == dyn["needed"]
    assert (ln["rpath"], ln["runpath"], ln["soname"]) == (dyn["rpath"], dyn["runpath"], None)
    assert ln["static"] == (interp is None and not dyn["needed"])
    if name in GO:
        assert ln["static"] and f["elf"]["type"] == "exec"  # as their projects build them
    else:
        assert f["elf"]["type"] == "pie" and "libc.so.6" in ln["needed"]


@pytest.mark.parametrize("name", ALL)
def test_symbols_and_debug(name: str, facts, paths) -> None:
    path, f = paths[name], facts[name]
    sections = readelf_sections(path)
    counts = readelf_symbol_counts(path)
    has_symtab = any(s["type"] == "SYMTAB" for s in sections)
    assert f["symbols"]["stripped"] == (not has_symtab) == (checksec(path)["symbols"] == "no")
    assert f["symbols"]["symtab_entries"] == counts[".symtab"]
    assert f["symbols"]["dynsym_entries"] == counts[".dynsym"]
    debug = [
        s for s in sections if "A" not in s["flags"] and s["name"].startswith((".debug", ".zdebug"))
    ]
    d = f["debug"]
    assert d["sections"] == [s["name"] for s in debug]
    assert (d["present"], d["bytes"]) == (bool(debug), sum(s["size"] for s in debug))
    assert d["compressed"] == any("C" in s["flags"] or s["name"].startswith(".z") for s in debug)


@pytest.mark.parametrize("name", ALL)
def test_hardening(name: str, facts, paths) -> None:
    path, h = paths[name], facts[name]["hardening"]
    segments, dyn, sec = readelf_segments(path), readelf_dynamic_info(path), checksec(path)
    stack = [s for s in segments if s["type"] == "GNU_STACK"]
    assert h["nx"] == (bool(stack) and "E" not in stack[0]["flags"]) == (sec["nx"] == "yes")
    assert h["bind_now"] == dyn["has_bind_now"]
    relro = any(s["type"] == "GNU_RELRO" for s in segments)
    expected = "full" if relro and dyn["has_bind_now"] else "partial" if relro else "none"
    assert h["relro"] == expected == {"no": "none"}.get(sec["relro"], sec["relro"])
    assert h["textrel"] == dyn["has_textrel"]
    assert h["canary"] == (sec["canary"] == "yes")
    dynsyms = readelf_dynsym_names(path)
    fortified = sorted(n for n, ndx in dynsyms if ndx == "UND" and n.endswith("_chk"))
    assert list(h["fortified"]) == fortified
    assert len(h["fortified"]) == int(sec["fortified"])
    assert h["fortify"] == bool(fortified) == (sec["fortify_source"] == "yes")
    if dynsyms:
        assert h["canary"] == any(n == "__stack_chk_fail" for n, _ in dynsyms)
    if name == "memcached":  # Debian's hardening flags, all of them
        assert (h["relro"], h["canary"], h["fortify"]) == ("full", True, True)


@pytest.mark.parametrize("name", ALL)
def test_section_groups_add_up(name: str, facts, paths) -> None:
    path, f = paths[name], facts[name]
    groups, bss = section_group_sizes(path)
    assert {g["name"]: g["bytes"] for g in f["groups"]} == groups
    assert sum(g["bytes"] for g in f["groups"]) == f["file_size"] == path.stat().st_size
    assert f["totals"]["bss"] == bss


def _unquote(text: str) -> str:
    """A key or value as `go version -m` prints it: quoted (strconv.Quote) when it holds a
    space, a quote, '=' (keys) and the like."""
    return str(json.loads(text)) if text.startswith('"') else text


@pytest.mark.parametrize("name", GO)
def test_go_build_info_matches_go_version_m(name: str, facts, go_m) -> None:
    g, ref = facts[name]["go"], go_m[name]
    assert g["version"] == ref["go_version"]
    assert g["path"] == ref["path"]
    main = g["main_module"]
    assert (main["path"], main["version"], main["sum"]) == ref["mod"]
    assert [(d["path"], d["version"], d["sum"]) for d in g["deps"]] == [d[:3] for d in ref["deps"]]
    assert [
        (r["path"], r["version"], r["sum"]) if (r := d["replace"]) else None for d in g["deps"]
    ] == [d[3] for d in ref["deps"]]
    assert list(g["settings"].items()) == [(_unquote(k), _unquote(v)) for k, v in ref["settings"]]
    if name == "etcd":  # Go 1.16 recorded no build settings
        assert g["version"] == "go1.16.3" and g["settings"] == {} and len(g["deps"]) > 40
    else:
        assert g["settings"]["CGO_ENABLED"] == "0" and g["settings"]["GOOS"] == "linux"


@pytest.mark.parametrize("name", ("just", "memcached"))
def test_not_go(name: str, facts) -> None:
    assert facts[name]["go"] is None


# ---------------------------------------------------------------- Go packages (debug/gosym)


def reference_packages(ref: GosymSizes) -> dict[str, int]:
    """The reference in gate's terms: gate files file-local assembly (dotless names such
    as memeqbody, which debug/gosym leaves without a package) under runtime, whose it is
    in the standard library; so the reference's dotless bytes are added to runtime."""
    out = dict(ref.packages)
    out[RUNTIME] = out.get(RUNTIME, 0) + ref.dotless
    return out


@pytest.mark.parametrize("name", GO)
def test_largest_packages_match_gosym(name: str, packages, gosym, paths) -> None:
    ours, ref = packages[name], gosym[name]
    theirs = reference_packages(ref)
    largest = sorted((p for p in ours if p not in (GENERATED, NON_GO)), key=lambda p: -ours[p])
    wrong = {
        p: (ours[p], theirs.get(p))
        for p in largest[:30]
        if abs(ours[p] - theirs.get(p, 0)) > 0.01 * theirs.get(p, 0)
    }
    assert not wrong, f"gate vs debug/gosym (bytes): {wrong}"
    # Everything the table covers, and what .text holds beyond it is not Go's.
    (text,) = [s["size"] for s in readelf_sections(paths[name]) if s["name"] == ".text"]
    assert sum(ours.values()) - ours.get(NON_GO, 0) == ref.covered
    assert ours.get(NON_GO, 0) == text - ref.covered
    # Only the linker's and compiler's own functions are generated.
    assert ours.get(GENERATED, 0) <= ref.generated, (ours.get(GENERATED), ref.generated)


@pytest.mark.parametrize("name", ("caddy", "etcd", "gh"))
def test_go_dot_import_paths_are_packages(name: str, packages, gosym) -> None:
    """go.uber.org/zap is a package whatever toolchain built the binary: every package of
    such a path has its reference bytes, none of them filed as generated."""
    ours, ref = packages[name], gosym[name]
    go_dot = {p: b for p, b in ref.packages.items() if p.startswith("go.")}
    assert {p: ours.get(p) for p in go_dot} == go_dot
    prefixes = {pre for pre in GO_DOT if any(p.startswith(pre) for p in go_dot)}
    expected = {"caddy": set(GO_DOT), "etcd": set(GO_DOT), "gh": {"go.opentelemetry.io/"}}
    assert prefixes == expected[name]
    assert ours.get(GENERATED, 0) < 0.05 * sum(ours.values())


def test_etcd_main_module_is_not_lost(packages, gosym, go_m, paths, fixtures) -> None:
    """etcd (Go 1.16): its own module go.etcd.io/etcd/server/v3 holds 1.9 MB of code."""
    ref, main = gosym["etcd"], go_m["etcd"]["mod"][0]
    # debug/gosym on its own files every go. name of this table as generated; the module
    # paths given move exactly those of go.etcd.io/..., go.uber.org/... to their packages.
    alone = gosym_sizes(fixtures, paths["etcd"], [])
    moved = sum(b for p, b in ref.packages.items() if p.startswith("go."))
    assert alone.generated == ref.generated + moved and moved > 4_000_000
    assert main == "go.etcd.io/etcd/server/v3"
    mods = sorted(module_paths(go_m["etcd"]), key=len, reverse=True)

    def owner(package: str) -> str | None:
        if package == "main":  # the main package's functions are main.*; its path is `path`
            package = go_m["etcd"]["path"]
        return next((m for m in mods if package == m or package.startswith(m + "/")), None)

    expected = sum(b for p, b in ref.packages.items() if owner(p) == main)
    assert expected > 1_500_000
    ours = packages["etcd"]
    assert sum(b for p, b in ours.items() if owner(p) == main) == expected
    doc = gate_json("size", "--by", "module", "--json", "-", str(paths["etcd"]))
    modules = {e["name"]: e["bytes"] for e in doc["entries"]}
    assert modules[main] == expected
    assert max(modules, key=lambda m: modules[m]) != GENERATED


# ---------------------------------------------------------------- budgets


def test_package_budgets_on_go_dot_paths(paths, gosym, tmp_path) -> None:
    """A budget on go.uber.org/zap or go.opentelemetry.io/... measures their linked code;
    one on a package Caddy does not link still says so."""
    ref = gosym["caddy"].packages
    unlinked = "go.etcd.io/etcd/server/v3"
    assert unlinked not in ref
    policy = tmp_path / "budgets.toml"
    policy.write_text(
        "[size]\nmax_package = {"
        f'"go.uber.org/zap" = "10 KB", "go.opentelemetry.io/..." = "100 KB", "{unlinked}" = "1 KB"'
        "}\n"
    )
    proc = gate(
        "check", "--no-startup", "--policy", str(policy), "--json", "-", str(paths["caddy"])
    )
    assert proc.returncode == 1, proc.stderr
    (binary,) = json.loads(proc.stdout)["binaries"]
    checks = {c["id"].removeprefix("size.max_package:"): c for c in binary["checks"]}
    zap, otel = checks["go.uber.org/zap"], checks["go.opentelemetry.io/..."]
    other = checks[unlinked]
    assert (zap["status"], zap["measured"]) == ("fail", ref["go.uber.org/zap"])
    tree = sum(b for p, b in ref.items() if p.startswith("go.opentelemetry.io/"))
    assert (otel["status"], otel["measured"]) == ("fail", tree)
    assert f"{ref['go.uber.org/zap']:,} bytes" in zap["message"]
    assert (other["status"], other["measured"]) == ("pass", 0)
    assert "(not linked)" in other["message"]
