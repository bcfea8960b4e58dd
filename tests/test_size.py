"""`gate size`: bytes by section group, Go package, module and symbol, against references.

Every number is checked against a tool that does not share gate's code:

- packages: `go tool nm -size -sort address` of the toolchain that built the binary, on
  the unstripped `deps` build; a text symbol runs to the next one (the last to the end of
  .text), grouped by Go's package naming rule (reference.go_package_sizes);
- section groups: `readelf -S` section sizes summed by the documented group rule, the
  header tables from `readelf -h`, the rest padding (reference.section_group_sizes);
- symbols: binutils `nm -S`; modules: `go version -m`.

The fixtures (tests/conftest.py): `deps` (net/http + encoding/json + crypto/tls) built by
both toolchains unstripped, `-ldflags=-s -w`, `-buildmode=pie` and `-trimpath`; the `hello`
builds as the "before" of a diff; `c-bigarray` (a 1 MiB .rodata array, a 64 KiB .data one).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import GO_TOOLCHAIN_LABELS, GoToolchains
from reference import (
    Fixture,
    elf_header_tables,
    go_package_name,
    go_package_sizes,
    go_version_m,
    readelf_sections,
    readelf_segments,
    section_group_sizes,
    symbol_sizes,
)

from gate.judge import explain
from gate.read.attribution import UNATTRIBUTED_TEXT, Attribution, attribute_binary

Fixtures = dict[str, Fixture]

TOP = 20  # the largest packages compared
TOLERANCE = 0.01  # relative, per package
# The pclntab layout each toolchain writes (magic 0xfffffff0 since 1.18, 0xfffffff1 since 1.20).
PCLNTAB = {"go1.19": "go1.18", "go1.27": "go1.20"}


# --------------------------------------------------------------------------- helpers


def run_size(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", "size", *map(os.fspath, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def size_json(*args: str | os.PathLike[str]) -> dict[str, Any]:
    proc = run_size(*args, "--json")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["schema"] == "gate/size/v1"
    return doc


_REFERENCE: dict[Path, tuple[dict[str, int], dict[str, int]]] = {}


def reference_packages(go_toolchains: GoToolchains, fx: Fixture) -> dict[str, int]:
    """Extent bytes per package from `go tool nm` of the toolchain that built fx."""
    return _reference(go_toolchains, fx)[0]


def _reference(go_toolchains: GoToolchains, fx: Fixture) -> tuple[dict[str, int], dict[str, int]]:
    if fx.path not in _REFERENCE:
        go, env = go_toolchains[fx.toolchain]
        _REFERENCE[fx.path] = go_package_sizes(go, env, fx.path)
    return _REFERENCE[fx.path]


def largest(totals: Mapping[str, int], n: int = TOP) -> list[str]:
    return sorted(totals, key=lambda k: (-totals[k], k))[:n]


def packages_of(attr: Attribution) -> dict[str, int]:
    assert attr.packages is not None, attr.warnings
    return dict(attr.packages)


def assert_within(
    actual: Mapping[str, int], expected: Mapping[str, int], names: list[str], what: str
) -> None:
    """Each name's bytes within TOLERANCE of expected; all misses reported at once."""
    misses = [
        f"  {name}: gate {actual.get(name, 0):,} vs {expected[name]:,} "
        f"({(actual.get(name, 0) - expected[name]) / expected[name]:+.2%})"
        for name in names
        if abs(actual.get(name, 0) - expected[name]) > TOLERANCE * expected[name]
    ]
    assert not misses, f"{what}: {len(misses)} of {len(names)} packages off by > 1%:\n" + (
        "\n".join(misses)
    )


def expected_status(new: int, old: int) -> str:
    if not old:
        return "new"
    if not new:
        return "removed"
    return "grown" if new > old else "shrunk" if new < old else "same"


def text_size(path: Path) -> int:
    (text,) = [s for s in readelf_sections(path) if s["name"] == ".text"]
    return int(text["size"])


# --------------------------------------------------------------------------- packages


@pytest.mark.parametrize("variant", ["deps", "deps-pie", "deps-trimpath"])
@pytest.mark.parametrize("tc", GO_TOOLCHAIN_LABELS)
def test_packages_match_go_nm_extents(
    fixtures: Fixtures, go_toolchains: GoToolchains, tc: str, variant: str
) -> None:
    """The 20 largest packages as `go tool nm` sees them (symbol to next symbol), within 1%;
    all packages together are exactly .text."""
    fx = fixtures[f"{tc}-{variant}"]
    extents, nm_sizes = _reference(go_toolchains, fx)
    attr = attribute_binary(str(fx.path))
    assert attr.pclntab == PCLNTAB[tc]
    assert attr.warnings == ()
    gate = packages_of(attr)
    top = largest(extents)
    assert {"net/http", "crypto/tls", "runtime"} <= set(top), top
    assert_within(gate, extents, top, fx.name)
    # The function table covers the Go text, the rest of .text is a row of its own.
    assert sum(gate.values()) == text_size(fx.path) == sum(extents.values())
    # nm's own sizes leave out the alignment padding after each function, so they are
    # smaller than the extents (and gate's bytes, which include it): sizing packages by
    # them would not add up to .text.
    for name in top:
        assert nm_sizes[name] < extents[name], (name, nm_sizes[name], extents[name])
        assert nm_sizes[name] < gate[name], (name, nm_sizes[name], gate[name])
    assert sum(nm_sizes.values()) < sum(extents.values())


@pytest.mark.parametrize("mode", ["sw", "pie", "trimpath"])
@pytest.mark.parametrize("tc", GO_TOOLCHAIN_LABELS)
def test_packages_survive_strip_pie_and_trimpath(
    fixtures: Fixtures, go_toolchains: GoToolchains, tc: str, mode: str
) -> None:
    """Without .symtab (-s -w), as PIE, with -trimpath: the same packages as the unstripped
    build's reference, each of the 20 largest within 1%."""
    reference = reference_packages(go_toolchains, fixtures[f"{tc}-deps"])
    fx = fixtures[f"{tc}-deps-{mode}"]
    attr = attribute_binary(str(fx.path))
    assert attr.pclntab == PCLNTAB[tc]
    assert attr.warnings == ()
    if mode == "sw":
        assert attr.symbols is None  # no .symtab: the function table alone names them
        assert ".symtab" not in {s["name"] for s in readelf_sections(fx.path)}
    assert_within(packages_of(attr), reference, largest(reference), fx.name)


def test_packages_found_by_magic_without_section_headers(fixtures: Fixtures) -> None:
    """go1.27-hello-noshdr is go1.27-hello-sw with the section header table zeroed: the
    pclntab is found by its magic in a read-only segment, with the same packages; only
    the text outside Go functions cannot be known without a .text section."""
    noshdr, sw = fixtures["go1.27-hello-noshdr"], fixtures["go1.27-hello-sw"]
    assert readelf_sections(noshdr.path) == []
    got, want = attribute_binary(str(noshdr.path)), attribute_binary(str(sw.path))
    assert got.pclntab == want.pclntab == "go1.20"
    assert got.warnings == ()
    expected = {k: v for k, v in packages_of(want).items() if k != UNATTRIBUTED_TEXT}
    assert packages_of(got) == expected
    assert {"runtime", "fmt", "main"} <= set(expected)
    assert got.modules is not None and want.modules is not None
    assert dict(got.modules) == {k: v for k, v in want.modules if k != UNATTRIBUTED_TEXT}
    # The CLI's default view for a Go binary is by package, here too.
    doc = size_json(noshdr.path)
    assert doc["by"] == "package" and doc["pclntab"] == "go1.20"
    assert {e["name"]: e["bytes"] for e in doc["entries"]} == expected


def test_package_rule_matches_gate() -> None:
    """The reference's naming rule and gate's package_of agree on the awkward cases."""
    from gate.read.attribution import package_of

    cases = {
        "net/http.(*Server).Serve": "net/http",
        "crypto/tls.(*Conn).Handshake.func1": "crypto/tls",
        "gopkg.in/yaml%2ev3.Unmarshal": "gopkg.in/yaml.v3",
        "example.com/m.Map[go.shape.string,net/http.Header]": "example.com/m",
        "slices.Sort[go.shape.[]uint8]": "slices",
        "type:.eq.net/http.Header": "<generated>",
        "type..eq.[4]net/http.http2Setting": "<generated>",
        "go:buildid": "<generated>",
        "go.(*struct { io.Reader; io.WriterTo }).Read": "<generated>",
        "main.main": "main",
        "memeqbody": "runtime",  # file-local assembly: no package in its name
        "crosscall2": "runtime",
    }
    for name, want in cases.items():
        assert go_package_name(name) == want, name
        assert package_of(name) == want, name


# --------------------------------------------------------------------------- diff


@pytest.mark.parametrize("tc", GO_TOOLCHAIN_LABELS)
def test_against_hello_names_the_new_packages(
    fixtures: Fixtures, go_toolchains: GoToolchains, tmp_path: Path, tc: str
) -> None:
    """deps against hello (both default builds): net/http and crypto/tls among the top
    growers, new (hello links neither), bytes = new - old; every row consistent."""
    new_fx, old_fx = fixtures[f"{tc}-deps"], fixtures[f"{tc}-hello-default"]
    doc = size_json(new_fx.path, "--by", "package", "--against", old_fx.path)
    new = packages_of(attribute_binary(str(new_fx.path)))
    old = packages_of(attribute_binary(str(old_fx.path)))
    old_reference = reference_packages(go_toolchains, old_fx)
    new_reference = reference_packages(go_toolchains, new_fx)

    assert doc["by"] == "package" and doc["file_size"] == os.path.getsize(new_fx.path)
    assert {e["name"]: e["bytes"] for e in doc["entries"]} == new
    against = doc["against"]
    assert against["binary"] == str(old_fx.path)
    assert against["file_size"] == os.path.getsize(old_fx.path)
    everything = against["entries"]
    deltas = [r["delta"] for r in everything]
    assert deltas == sorted(deltas, reverse=True)
    rows = [r for r in everything if r["group"] is None]
    assert {r["name"] for r in rows} == new.keys() | old.keys()  # all of them (no --top)
    for r in rows:
        assert (r["bytes"], r["old_bytes"]) == (new.get(r["name"], 0), old.get(r["name"], 0))
        assert r["delta"] == r["bytes"] - r["old_bytes"], r
        assert r["status"] == expected_status(r["bytes"], r["old_bytes"]), r
    assert sum(r["delta"] for r in rows) == sum(new.values()) - sum(old.values())

    top = {r["name"]: r for r in rows[:10]}
    for name in ("net/http", "crypto/tls"):
        assert name in top, [r["name"] for r in rows[:10]]
        row = top[name]
        assert row["status"] == ("new" if name not in old_reference else "grown"), row
        assert row["status"] == "new"  # hello is fmt only
        assert abs(row["bytes"] - new_reference[name]) <= TOLERANCE * new_reference[name]
        assert row["delta"] == row["bytes"] - row["old_bytes"] == row["bytes"]

    # The same comparison against hello's saved `gate size --json` (main's artefact).
    saved = tmp_path / "hello-size.json"
    saved.write_text(json.dumps(size_json(old_fx.path, "--by", "package")))
    again = size_json(new_fx.path, "--by", "package", "--against", saved)
    assert again["against"]["entries"] == everything
    assert again["against"]["file_size"] == against["file_size"]


# --------------------------------------------------------------------------- modules


@pytest.mark.parametrize("tc", GO_TOOLCHAIN_LABELS)
def test_modules_std_runtime_and_main(
    fixtures: Fixtures, go_toolchains: GoToolchains, tc: str
) -> None:
    """--by module: std, runtime and the main module from `go version -m`, adding up to the
    package total; each within 1% of the reference packages mapped to modules."""
    fx = fixtures[f"{tc}-deps"]
    go, env = go_toolchains[tc]
    main_module = go_version_m(go, env, fx.path)["mod"][0]
    assert main_module == "example.com/deps"

    modules = {e["name"]: e["bytes"] for e in size_json(fx.path, "--by", "module")["entries"]}
    packages = {e["name"]: e["bytes"] for e in size_json(fx.path, "--by", "package")["entries"]}
    assert {"std", "runtime", main_module} <= modules.keys(), modules
    assert sum(modules.values()) == sum(packages.values()) == text_size(fx.path)
    # No dependencies: nothing but these and gate's own pseudo-rows.
    assert modules.keys() <= {"std", "runtime", main_module, "<generated>", UNATTRIBUTED_TEXT}

    def module(package: str) -> str:
        if package == "<generated>":
            return package
        if package == "runtime" or package.startswith(("runtime/", "internal/runtime/")):
            return "runtime"
        if package == "main" or package.startswith(main_module + "/"):
            return main_module
        return "std" if "." not in package.split("/", 1)[0] else package

    reference: dict[str, int] = {}
    for package, size in reference_packages(go_toolchains, fx).items():
        reference[module(package)] = reference.get(module(package), 0) + size
    # cgo's C functions (x_cgo_init, ...) have no package; they are tiny.
    names = ["std", "runtime", main_module]
    assert_within(modules, reference, names, f"{fx.name} modules")
    assert modules[main_module] == packages["main"]


# --------------------------------------------------------------------------- C, symbols


def test_symbols_size_the_big_array_like_nm(fixtures: Fixtures) -> None:
    """--by symbol (the default for C): the 1 MiB static array and the 64 KiB global with
    nm -S's sizes; the .bss array takes no file bytes and is left out."""
    fx = fixtures["c-bigarray"]
    nm = symbol_sizes(fx.path)
    doc = size_json(fx.path)
    assert doc["by"] == "symbol" and doc["pclntab"] is None
    entries = {e["name"]: e["bytes"] for e in doc["entries"]}
    assert doc["entries"][0] == {"name": "gate_big", "bytes": 1 << 20}
    assert nm["gate_big"] == [("r", 1 << 20)]
    assert nm["gate_table"] == [("D", 64 * 1024)]
    assert nm["gate_zeros"] == [("B", 256 * 1024)]
    assert entries["gate_big"] == nm["gate_big"][0][1]
    assert entries["gate_table"] == nm["gate_table"][0][1]
    assert "gate_zeros" not in entries
    assert doc["bss"] >= 256 * 1024
    # Every sized symbol nm puts in the file (not .bss: b/B), and nothing else.
    in_file = {
        name: sum(size for kind, size in rows if kind not in "bBuU")
        for name, rows in nm.items()
        if any(kind not in "bBuU" for kind, _ in rows)
    }
    assert entries == {k: v for k, v in in_file.items() if v}


@pytest.mark.parametrize(
    ("name", "by"),
    [("c-bigarray", "symbol"), ("c-stripped", "section"), ("go1.27-deps-sw", "package")],
)
def test_default_view(fixtures: Fixtures, name: str, by: str) -> None:
    """Package for Go, symbol when there is a .symtab, section otherwise; --top cuts."""
    fx = fixtures[name]
    doc = size_json(fx.path, "--top", "3")
    assert doc["by"] == by
    assert len(doc["entries"]) == 3
    full = size_json(fx.path)
    assert doc["entries"] == full["entries"][:3]
    sizes = [e["bytes"] for e in full["entries"]]
    assert sizes == sorted(sizes, reverse=True)


# --------------------------------------------------------------------------- section groups


def test_section_groups_add_up_for_every_fixture(fixtures: Fixtures) -> None:
    """Every fixture of the session: the groups add up to the file size exactly, and each
    equals readelf's section sizes summed by the group rule (header tables from readelf -h,
    the rest padding); .bss apart."""
    assert len(fixtures) > 40
    misses: list[str] = []
    for fx in sorted(fixtures.values(), key=lambda f: f.name):
        attr = attribute_binary(str(fx.path), want_symbols=False)
        groups = dict(attr.sections)
        file_size = os.path.getsize(fx.path)
        if attr.file_size != file_size or sum(groups.values()) != file_size:
            misses.append(f"{fx.name}: groups add up to {sum(groups.values()):,} of {file_size:,}")
        if not readelf_sections(fx.path):
            continue  # no section headers: see the noshdr test
        want, bss = section_group_sizes(fx.path)
        if groups != want or attr.bss != bss:
            diff = {
                k: (groups.get(k, 0), want.get(k, 0))
                for k in groups.keys() | want.keys()
                if groups.get(k, 0) != want.get(k, 0)
            }
            misses.append(f"{fx.name}: (gate, readelf) {diff}, bss {attr.bss} vs {bss}")
    assert not misses, "\n".join(misses)


def test_section_groups_cli(fixtures: Fixtures) -> None:
    fx = fixtures["c-bigarray"]
    doc = size_json(fx.path, "--by", "section")
    want, bss = section_group_sizes(fx.path)
    assert doc["file_size"] == os.path.getsize(fx.path)
    assert {e["name"]: e["bytes"] for e in doc["entries"]} == want
    assert doc["bss"] == bss
    assert want["read-only data"] >= 1 << 20 and want["data"] >= 64 * 1024 and want["debug"] > 0


def test_segment_groups_without_section_headers(fixtures: Fixtures) -> None:
    """No section headers: the loadable segments by their flags, the ELF header and the
    program header table as headers (as they are when sections exist), the rest padding."""
    fx = fixtures["go1.27-hello-noshdr"]
    headers = elf_header_tables(fx.path)
    assert headers["section_headers"] == 0
    header_end = headers["elf_header"] + headers["program_headers"]  # phdrs follow at 64
    want: dict[str, int] = {"headers": header_end}
    covered = [(0, header_end)]
    for seg in readelf_segments(fx.path):
        if seg["type"] != "LOAD" or not seg["filesz"]:
            continue
        flags = seg["flags"]
        group = "code" if "E" in flags else "data" if "W" in flags else "read-only data"
        start, end = max(seg["offset"], header_end), seg["offset"] + seg["filesz"]
        if end > start:
            want[group] = want.get(group, 0) + end - start
            covered.append((start, end))
    want["padding"] = os.path.getsize(fx.path) - sum(end - start for start, end in covered)
    got = dict(attribute_binary(str(fx.path)).sections)
    assert got == {k: v for k, v in want.items() if v}


CXX = """\
namespace shop {
struct Cart { int total(int x); };
int Cart::total(int x) { static char buf[4096] = {1}; return buf[x & 4095] + x; }
}
int main(int argc, char **) { shop::Cart cart; return cart.total(argc) & 1; }
"""


def test_demangled_symbols_match_nm_C(tmp_path: Path) -> None:
    """--demangle: C++ names as `nm -C` prints them, sizes as `nm -S` has them."""
    src, binary = tmp_path / "cart.cc", tmp_path / "cart"
    src.write_text(CXX)
    subprocess.run(["g++", "-O0", "-o", str(binary), str(src)], check=True, timeout=120)
    doc = size_json(binary, "--by", "symbol", "--demangle")
    gate_sizes = {e["name"]: e["bytes"] for e in doc["entries"]}
    nm = subprocess.run(["nm", "-C", "-S", "--defined-only", str(binary)], capture_output=True,
                        text=True, check=True).stdout  # fmt: skip
    expected = {}
    for line in nm.splitlines():
        parts = line.split(maxsplit=3)
        if len(parts) == 4 and parts[2] in "TtDdRr":
            expected[parts[3]] = expected.get(parts[3], 0) + int(parts[1], 16)
    assert gate_sizes["shop::Cart::total(int)::buf"] == 4096
    assert gate_sizes["shop::Cart::total(int)"] == expected["shop::Cart::total(int)"]
    assert {n: b for n, b in gate_sizes.items() if n in expected} == {
        n: b for n, b in expected.items() if n in gate_sizes
    }
    plain = size_json(binary, "--by", "symbol")
    assert "_ZZN4shop4Cart5totalEiE3buf" in {e["name"] for e in plain["entries"]}


def test_failed_size_check_names_the_top_growers_in_junit(
    fixtures: Fixtures, tmp_path: Path
) -> None:
    """main's results (with its attribution) as baseline: the JUnit failure says what grew."""
    from junitparser import Failure, JUnitXml

    policy = tmp_path / "p.toml"
    policy.write_text('[size]\nmax_file = "1 MB"\n')
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    (tmp_path / "old/svc").write_bytes(fixtures["go1.27-hello-sw"].path.read_bytes())
    (tmp_path / "new/svc").write_bytes(fixtures["go1.27-deps-sw"].path.read_bytes())

    def check(side: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gate", "check", str(tmp_path / side / "svc"), "--no-startup",
             "--policy", str(policy), "--json", str(tmp_path / f"{side}.json"), *extra],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    assert check("old").returncode == 1  # hello is over 1 MB too
    proc = check("new", "--baseline", str(tmp_path / "old.json"), "--junit",
                 str(tmp_path / "junit.xml"))  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    new_doc = json.loads((tmp_path / "new.json").read_text())
    old_doc = json.loads((tmp_path / "old.json").read_text())
    new_pk = {p["name"]: p["bytes"] for p in new_doc["binaries"][0]["attribution"]["packages"]}
    old_pk = {p["name"]: p["bytes"] for p in old_doc["binaries"][0]["attribution"]["packages"]}
    (case,) = [c for s in JUnitXml.fromfile(str(tmp_path / "junit.xml")) for c in s
               if c.name == "size.max_file"]  # fmt: skip
    (failure,) = [r for r in case.result if isinstance(r, Failure)]
    grew = explain.growth(new_doc["binaries"][0]["attribution"],
                          old_doc["binaries"][0]["attribution"])  # fmt: skip
    assert failure.message.endswith("grew since the baseline: " + explain.describe(grew))
    # Inside code, the packages that grew most, computed here from the two package tables.
    (code,) = [c for c in grew if c.name == "code"]
    top = sorted(new_pk, key=lambda p: (-(new_pk[p] - old_pk.get(p, 0)), p))[: len(code.parts)]
    assert [p.name for p in code.parts] == top
    assert "net/http" in top or "crypto/tls" in top


# --------------------------------------------------------------------------- the whole growth
# `gate size NEW --against OLD` answers "+10.8 MiB": every view's rows (the names, and a row
# for each section group's bytes the names leave out) add up to it exactly, in the JSON and
# (to the rounding of what is printed) in the text.

_TEXT_ROW = re.compile(r"^\s+([+-]\d+(?:\.\d)? (?:[KMG]i)?B)\s+(.*)$")


def text_rows(out: str) -> list[tuple[int, int, str]]:
    """(bytes, how far printing may have rounded them, rest of the line) of every change
    row under the table's header, the `… N more` line included."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["change", "now"])
    rows = []
    for line in lines[start + 1 :]:
        m = _TEXT_ROW.match(line)
        assert m, line
        amount = m.group(1)
        unit = 1 if amount.endswith(" B") else 2 ** (10 * "KMG".index(amount[-3]) + 10)
        rows.append((round(float(amount.split()[0]) * unit), unit // 2 if unit > 1 else 0, m[2]))
    return rows


def reference_rest(path: Path) -> dict[str, int]:
    """What the package and module views leave out, by readelf: every group but code,
    and of code what is outside .text (the packages add up to .text)."""
    groups = section_group_sizes(path)[0]
    rest = {f"<{g}>": size for g, size in groups.items() if g != "code"}
    rest["<other code>"] = groups.get("code", 0) - text_size(path)
    return rest


def assert_whole(new: Path, old: Path, by: str, *top: str) -> dict[str, Any]:
    """`gate size NEW --by BY --against OLD` in JSON and text: the rows add up to the
    change `stat` sees; returns the JSON document."""
    change = os.path.getsize(new) - os.path.getsize(old)
    doc = size_json(new, "--by", by, "--against", old, *top)
    against = doc["against"]
    listed = sum(r["delta"] for r in against["entries"])
    assert listed + against["unlisted"]["delta"] == change, (listed, against["unlisted"])
    if not top:
        assert against["unlisted"] == {"changed": 0, "delta": 0} and listed == change
    proc = run_size(new, "--by", by, "--against", old, *top)
    assert proc.returncode == 0, proc.stderr
    rows = text_rows(proc.stdout)
    assert abs(sum(r[0] for r in rows) - change) <= sum(r[1] for r in rows), proc.stdout
    return doc


@pytest.mark.parametrize("by", ["package", "module", "symbol", "section"])
def test_every_view_of_a_comparison_adds_up_to_the_file(fixtures: Fixtures, by: str) -> None:
    """deps built by Go 1.27 against deps built by Go 1.19 (unstripped, so every view
    applies): all rows, and the top 3 with the rest summed, make the file's change; the
    groups the view does not name are readelf's."""
    new, old = fixtures["go1.27-deps"].path, fixtures["go1.19-deps"].path
    doc = assert_whole(new, old, by)
    assert_whole(new, old, by, "--top", "3")
    rows = {r["name"]: r for r in doc["against"]["entries"]}
    if by in ("package", "module"):
        after, before = reference_rest(new), reference_rest(old)
        groups = {n: r["delta"] for n, r in rows.items() if r["group"] is not None}
        want = {n: after.get(n, 0) - before.get(n, 0) for n in after.keys() | before.keys()}
        assert groups == {n: d for n, d in want.items() if after.get(n) or before.get(n)}
        assert rows["<go metadata>"]["bytes"] == section_group_sizes(new)[0]["go metadata"]
    elif by == "symbol":  # no symbol lies in the headers, the padding, DWARF or .symtab
        after, before = section_group_sizes(new)[0], section_group_sizes(old)[0]
        for group in ("headers", "padding", "debug", "symbols"):
            assert rows[f"<{group}>"]["delta"] == after[group] - before[group], group
    else:
        after, before = section_group_sizes(new)[0], section_group_sizes(old)[0]
        assert {n: r["delta"] for n, r in rows.items()} == {
            g: after.get(g, 0) - before.get(g, 0) for g in after.keys() | before.keys()
        }


def test_symbols_sharing_bytes_are_taken_off_once(fixtures: Fixtures) -> None:
    """Static glibc names many functions twice (memcpy and its aliases): the symbol rows
    then hold more than the code; one row takes the excess off, so they still add up."""
    new, old = fixtures["c-static"].path, fixtures["c-nopie"].path
    doc = assert_whole(new, old, "symbol")
    rows = {r["name"]: r for r in doc["against"]["entries"]}
    assert all(r["bytes"] >= 0 for r in rows.values() if r["name"] != "<bytes with two names>")
    assert rows["<bytes with two names>"]["delta"] < 0


def test_a_saved_size_document_compares_as_the_binary_does(
    fixtures: Fixtures, go_toolchains: GoToolchains, tmp_path: Path
) -> None:
    """The old side from its `gate size --json` (main's artefact) gives the same rows as
    the binary itself, the groups included, for the symbol view too; one cut by --top
    still adds up (the rest of its file is one row)."""
    new, old = fixtures["go1.27-deps"].path, fixtures["go1.19-deps"].path
    go, env = go_toolchains["go1.27"]
    versions = [go_version_m(go, env, p)["go_version"] for p in (old, new)]
    for by in ("package", "symbol"):
        saved = tmp_path / f"old-{by}.json"
        saved.write_text(json.dumps(size_json(old, "--by", by)))
        direct = size_json(new, "--by", by, "--against", old)["against"]
        again = size_json(new, "--by", by, "--against", saved)["against"]
        assert again["entries"] == direct["entries"]
        assert again["toolchain"] == direct["toolchain"] == versions
    cut = tmp_path / "old-cut.json"
    cut.write_text(json.dumps(size_json(old, "--by", "package", "--top", "5")))
    rows = size_json(new, "--by", "package", "--against", cut)["against"]["entries"]
    assert sum(r["delta"] for r in rows) == os.path.getsize(new) - os.path.getsize(old)
    assert "<rest of the file>" in {r["name"] for r in rows}


@pytest.mark.parametrize("by", ["package", "module", "section"])
def test_corpus_growth_is_explained_whole(
    corpus: Callable[[str], Path], go_toolchains: GoToolchains, by: str
) -> None:
    """Caddy (Go 1.26) against etcd (Go 1.16): the Go metadata row is readelf's growth of
    .gopclntab and its kin, every row adds up to the change, and the headline names the
    toolchains as `go version -m` reads them."""
    new, old = corpus("caddy"), corpus("etcd")
    doc = assert_whole(new, old, by)
    assert_whole(new, old, by, "--top", "5")
    rows = {r["name"]: r for r in doc["against"]["entries"]}
    after, before = section_group_sizes(new)[0], section_group_sizes(old)[0]
    metadata = "go metadata" if by == "section" else "<go metadata>"
    assert rows[metadata]["delta"] == after["go metadata"] - before["go metadata"] > 10 << 20
    go, env = go_toolchains["go1.27"]
    versions = [go_version_m(go, env, p)["go_version"] for p in (old, new)]
    assert versions == ["go1.16.3", "go1.26.8"]
    assert doc["against"]["toolchain"] == versions
    out = run_size(new, "--by", by, "--against", old, "--top", "5").stdout
    assert out.splitlines()[1].endswith(
        f"; toolchain {versions[0]} -> {versions[1]} (a likely cause)"
    )
