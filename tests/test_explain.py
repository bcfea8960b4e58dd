"""A size failure names what actually grew (issue: "Right where users look", part 1).

Real Go services built in the session (both toolchains): one embedding 16 bytes and one
embedding 3 MB into a []byte (`//go:embed`), unstripped and with -s -w; hello unstripped
against hello -s -w; the cgo httpserver. Each explanation is checked against readelf -S
(section group sizes summed by the group rule) and `go tool nm -size` (data symbols), and
the contributors it names must cover >= 90% of the real growth. The same text must reach
the log, the JUnit failure, the Markdown, the PR comment and `gate diff`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import GO_TOOLCHAIN_LABELS, GoToolchains
from reference import Fixture, _run, readelf_sections, section_group_sizes

from gate.judge import explain
from gate.values.groups import GROUPS, NON_GO
from gate.values.units import format_size

Fixtures = dict[str, Fixture]
POLICY = '[size]\nmax_file = "1 MB"\nmax_growth = "5%"\n'


def gate(*args: str | Path, ok: tuple[int, ...] = (0, 1)) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode in ok, (proc.returncode, proc.stdout, proc.stderr)
    assert "internal error" not in proc.stderr
    return proc


def results(tmp_path: Path, binary: Path, name: str, *extra: str | Path) -> dict[str, Any]:
    """`gate check` on a copy of `binary` named svc (as CI builds it), results as JSON."""
    side = tmp_path / name
    side.mkdir()
    (side / "svc").write_bytes(binary.read_bytes())
    (tmp_path / "p.toml").write_text(POLICY)
    out = tmp_path / f"{name}.json"
    gate("check", side / "svc", "--no-startup", "--policy", tmp_path / "p.toml",
         "--json", out, "--junit", tmp_path / f"{name}.xml", "--markdown",
         tmp_path / f"{name}.md", *extra)  # fmt: skip
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def go_nm_data(go_toolchains: GoToolchains, fx: Fixture) -> dict[str, int]:
    """Data symbols (D/d/R/r) with their sizes from `go tool nm -size` of fx's own Go."""
    go, env = go_toolchains[fx.toolchain]
    out: dict[str, int] = {}
    for line in _run([go, "tool", "nm", "-size", fx.path], env).splitlines():
        fields = line.split(None, 3)
        if len(fields) == 4 and fields[2] in "DdRr":
            out[fields[3]] = out.get(fields[3], 0) + int(fields[1])
    return out


def group_growth(old: Path, new: Path) -> dict[str, int]:
    """Per group, new - old bytes, from readelf -S (the reference's restated group rule)."""
    before, after = section_group_sizes(old)[0], section_group_sizes(new)[0]
    return {g: after.get(g, 0) - before.get(g, 0) for g in before.keys() | after.keys()}


def check_of(doc: dict[str, Any], check_id: str) -> dict[str, Any]:
    (binary,) = doc["binaries"]
    (found,) = [c for c in binary["checks"] if c["id"] == check_id]
    return dict(found)


def assert_covers(grew: tuple[explain.Contributor, ...], real: dict[str, int]) -> None:
    """The named groups are readelf's numbers, and cover >= 90% of the real gross growth."""
    gross = sum(d for d in real.values() if d > 0)
    for c in grew:
        assert c.bytes == real[c.name], (c, real)
    assert sum(c.bytes for c in grew) >= 0.9 * gross, (grew, real)


@pytest.mark.parametrize("tc", GO_TOOLCHAIN_LABELS)
def test_embedded_blob_is_named_as_data_main_blob(
    fixtures: Fixtures, go_toolchains: GoToolchains, tmp_path: Path, tc: str
) -> None:
    small, big = fixtures[f"{tc}-embed-small"], fixtures[f"{tc}-embed-big"]
    old = results(tmp_path, small.path, "old")
    new = results(tmp_path, big.path, "new", "--baseline", tmp_path / "old.json")
    (entry,), (base,) = new["binaries"], old["binaries"]
    grew = explain.growth(entry["attribution"], base["attribution"])
    real = group_growth(small.path, big.path)
    assert_covers(grew, real)
    assert grew[0].name == "data" and real["data"] > 2_900_000
    # Inside data: main.blob, its bytes from go tool nm (the contents, which the compiler
    # names main..gobytes.1, plus the slice header main.blob).
    nm_new, nm_old = go_nm_data(go_toolchains, big), go_nm_data(go_toolchains, small)
    blob = [n for n in nm_new if n.startswith("main..gobytes.") and nm_new[n] == 3_000_000]
    assert len(blob) == 1, sorted(n for n in nm_new if n.startswith("main."))
    blob_growth = nm_new[blob[0]] + nm_new["main.blob"] - nm_old[blob[0]] - nm_old["main.blob"]
    assert grew[0].parts[0].name == "main.blob"
    # A results document keeps the largest data objects only: a name the baseline kept
    # none of counts from 0, so the growth is exact to within the smallest one it kept.
    kept = min(d["bytes"] for d in base["attribution"]["data_symbols"])
    assert blob_growth <= grew[0].parts[0].bytes <= blob_growth + kept
    rows = [d for d in entry["attribution"]["data_symbols"] if d["name"] == "main.blob"]
    assert {(r["package"], r["group"]) for r in rows} == {("main", "data")}
    # The one explanation, word for word, in every report a reviewer reads.
    said = explain.describe(grew)
    assert said.startswith("data +2.9 MiB (main.blob +2.9 MiB)"), said
    growth = check_of(new, "size.max_growth")
    assert growth["status"] == "fail" and growth["message"].endswith(": " + said)
    assert check_of(new, "size.max_file")["message"].endswith("grew since the baseline: " + said)
    from junitparser import Failure, JUnitXml

    failures = {
        c.name: r.message
        for s in JUnitXml.fromfile(str(tmp_path / "new.xml"))
        for c in s
        for r in c.result
        if isinstance(r, Failure)
    }
    assert said in failures["size.max_growth"] and said in failures["size.max_file"]
    markdown = (tmp_path / "new.md").read_text()
    assert _md_text(said) in _md_plain(markdown)
    text = gate("report", tmp_path / "new.json").stdout
    assert said in text
    diff = gate("diff", tmp_path / "old.json", tmp_path / "new.json").stdout
    assert f"grew: {said}" in diff
    from gate.judge.diff import diff_results
    from gate.report.comment import render_comment

    comment = render_comment(new, "default", diff_results(old, new), "footer")
    assert _md_text(said) in _md_plain(comment)


def _md_text(text: str) -> str:
    return re.sub(r"[\\*_`]", "", text)


def _md_plain(markdown: str) -> str:
    """The text a reader sees: rendered by a CommonMark parser, tags dropped."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(markdown)
    return _md_text(re.sub(r"<[^>]+>", "", html).replace("&gt;", ">").replace("&lt;", "<"))


@pytest.mark.parametrize("tc", GO_TOOLCHAIN_LABELS)
def test_stripped_blob_growth_is_named_by_group(
    fixtures: Fixtures, tmp_path: Path, tc: str
) -> None:
    """-s -w: no .symtab, so no symbol to name; the group still is, with readelf's bytes."""
    small, big = fixtures[f"{tc}-embed-small-sw"], fixtures[f"{tc}-embed-big-sw"]
    old = results(tmp_path, small.path, "old")
    new = results(tmp_path, big.path, "new", "--baseline", tmp_path / "old.json")
    grew = explain.growth(new["binaries"][0]["attribution"], old["binaries"][0]["attribution"])
    assert_covers(grew, group_growth(small.path, big.path))
    assert grew[0].name == "data" and grew[0].parts == ()
    assert new["binaries"][0]["attribution"]["data_symbols"] is None


@pytest.mark.parametrize("tc", GO_TOOLCHAIN_LABELS)
def test_symbols_and_dwarf_are_blamed_not_code(fixtures: Fixtures, tmp_path: Path, tc: str) -> None:
    """hello -s -w, then hello unstripped: what grew is debug info and the symbol table
    (with what to do about it), not a few bytes of code."""
    sw, full = fixtures[f"{tc}-hello-sw"], fixtures[f"{tc}-hello-default"]
    old = results(tmp_path, sw.path, "old")
    new = results(tmp_path, full.path, "new", "--baseline", tmp_path / "old.json")
    grew = explain.growth(new["binaries"][0]["attribution"], old["binaries"][0]["attribution"])
    real = group_growth(sw.path, full.path)
    assert_covers(grew, real)
    assert {c.name for c in grew} == {"debug", "symbols"}
    message = check_of(new, "size.max_growth")["message"]
    # said the go build way: a Go binary is never told to run strip
    assert '(link with -ldflags="-w")' in message
    assert '(link with -ldflags="-s")' in message
    assert "strip" not in message


def test_cgo_code_is_not_a_package(
    fixtures: Fixtures, go_toolchains: GoToolchains, tmp_path: Path
) -> None:
    """The cgo httpserver: C functions (x_cgo_init, fatalf) are named as code outside Go,
    by symbol, never as packages; Go's file-local assembly (crosscall2) is the runtime's."""
    fx = fixtures["go1.27-httpserver"]
    doc = results(tmp_path, fx.path, "svc")
    attr = doc["binaries"][0]["attribution"]
    packages = {p["name"] for p in attr["packages"]}
    assert not packages & {"x_cgo_init", "fatalf", "crosscall2", "_cgo_panic"}
    assert not packages & set(_readelf_functions(fx.path)) - _dwarf_subprograms(fx.path)
    # The reference: readelf's sized FUNC symbols that have no DWARF subprogram (Go's
    # linker writes DWARF for Go code, its assembly included, and none for C objects).
    dwarf = _dwarf_subprograms(fx.path)
    c_code = {n: size for n, size in _readelf_functions(fx.path).items() if n not in dwarf}
    named = {e["name"]: e["bytes"] for e in attr["code_symbols"]}
    assert {"x_cgo_init", "fatalf"} <= set(named) and named == c_code
    non_go = {p["name"]: p["bytes"] for p in attr["packages"]}["<non-Go code>"]
    assert non_go >= sum(c_code.values()) - max(c_code.values())  # alignment padding aside
    # gate diff against hello: its packages list holds no C symbol either.
    hello = results(tmp_path, fixtures["go1.27-hello-default"].path, "hello")
    from gate.judge.diff import diff_results

    (d,) = diff_results(hello, doc)
    assert not {p.name for p in d.packages} & set(c_code)


def _readelf_functions(path: Path) -> dict[str, int]:
    """Sized FUNC symbols in .symtab, less the linker's `pkg(.text)` aliases and markers."""
    out: dict[str, int] = {}
    for line in _run(["readelf", "-sW", path]).splitlines():
        fields = line.split()
        if len(fields) == 8 and fields[3] == "FUNC" and fields[6] != "UND":
            size = int(fields[2], 0)
            # go:textfipsstart and friends: the linker's markers, not code
            if size and not fields[7].endswith("(.text)") and not fields[7].startswith("go:"):
                out[fields[7]] = out.get(fields[7], 0) + size
    return out


def _dwarf_subprograms(path: Path) -> set[str]:
    names: set[str] = set()
    lines = _run(["readelf", "--debug-dump=info", path]).splitlines()
    for i, line in enumerate(lines):
        if "DW_TAG_subprogram" in line:
            for follow in lines[i + 1 : i + 4]:
                if "DW_AT_name" in follow:
                    names.add(follow.split()[-1])
                    break
    # Assembly is named with its ABI in .symtab (memmove.abi0), without it in DWARF.
    return names | {f"{n}.abi0" for n in names}


def test_without_baseline_max_file_names_the_largest_groups_then_names(
    fixtures: Fixtures, tmp_path: Path
) -> None:
    fx = fixtures["go1.27-embed-big"]
    doc = results(tmp_path, fx.path, "svc")
    message = check_of(doc, "size.max_file")["message"]
    groups = section_group_sizes(fx.path)[0]
    largest = sorted(groups, key=lambda g: -groups[g])[:2]
    assert largest[0] == "data"
    assert ": largest: data 2.9 MiB (main.blob 2.9 MiB), " in message, message
    assert f"{largest[1]} " in message.split(": largest: ")[1]


def test_one_set_of_group_names_and_bytes_everywhere(fixtures: Fixtures, tmp_path: Path) -> None:
    """inspect, size --by section and the results: the same groups with the same bytes, and
    .noptrdata counted as data, not Go metadata."""
    fx = fixtures["go1.19-embed-big"]
    inspected = json.loads(gate("inspect", "--json", fx.path).stdout)["binaries"][0]
    sized = json.loads(gate("size", fx.path, "--by", "section", "--json").stdout)
    doc = results(tmp_path, fx.path, "svc")
    from_inspect = {g["name"]: g["bytes"] for g in inspected["groups"]}
    from_size = {e["name"]: e["bytes"] for e in sized["entries"]}
    from_results = {e["name"]: e["bytes"] for e in doc["binaries"][0]["attribution"]["sections"]}
    assert from_inspect == from_size == from_results == section_group_sizes(fx.path)[0]
    assert set(from_inspect) <= set(GROUPS)
    noptr = {s["name"]: s["size"] for s in readelf_sections(fx.path)}[".noptrdata"]
    assert from_inspect["data"] >= noptr > 2_900_000
    text = gate("inspect", fx.path).stdout
    assert f"bytes      data {format_size(from_inspect['data'])}, " in text


def test_markdown_package_rows_add_up_to_the_file(fixtures: Fixtures, tmp_path: Path) -> None:
    """The package table states Go code's share of the file, and its rows (packages, the
    rest of Go, what is outside Go code) add up to the file size."""
    fx = fixtures["go1.27-embed-big"]
    doc = results(tmp_path, fx.path, "svc")
    markdown = (tmp_path / "svc.md").read_text()
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    cells = [t.content for t in tokens if t.type == "inline"]
    start = cells.index("share of the file")
    rows = [cells[i : i + 4] for i in range(start + 2, len(cells) - 3, 4)]
    rows = [r for r in rows if r[2].endswith("%")]
    shares = [float(r[2].rstrip("%")) for r in rows]
    assert abs(sum(shares) - 100) < 0.1 * len(rows), rows
    assert rows[-1][0].startswith("*outside Go code*")
    attr, size = doc["binaries"][0]["attribution"], doc["binaries"][0]["facts"]["file_size"]
    go_code = sum(p["bytes"] for p in attr["packages"] if p["name"] != NON_GO)
    summary = re.search(r"Go code is (\d+)% of the file", markdown)
    assert summary is not None and int(summary.group(1)) == round(go_code / size * 100)


def test_a_baseline_over_the_limit_too_gets_the_excess_explained(
    fixtures: Fixtures, tmp_path: Path
) -> None:
    """max_file 1 MB, under both builds: the failure says the baseline was over too (by
    `stat`'s numbers), names the largest groups behind the excess with readelf's bytes,
    then what grew; a baseline within the limit gets the growth alone."""
    small, big = fixtures["go1.27-embed-small"], fixtures["go1.27-embed-big"]
    results(tmp_path, small.path, "old")
    new = results(tmp_path, big.path, "new", "--baseline", tmp_path / "old.json")
    limit, old_size = 1_000_000, os.path.getsize(small.path)
    assert os.path.getsize(big.path) > old_size > limit
    message = check_of(new, "size.max_file")["message"]
    over = f"over before too ({format_size(old_size, 'MB')} in the baseline, "  # as "1 MB"
    over += f"{format_size(old_size - limit, 'MB')} over)"
    assert f": {over}; largest: " in message, message
    groups = section_group_sizes(big.path)[0]
    named = message.split("; largest: ")[1].split("; grew since the baseline: ")[0]
    first, second = sorted(groups, key=lambda g: -groups[g])[:2]
    assert named.startswith(f"{first} {format_size(groups[first])}"), named
    assert f", {second} {format_size(groups[second])}" in named, named
    base = json.loads((tmp_path / "old.json").read_text())["binaries"][0]["attribution"]
    grew = explain.describe(explain.growth(new["binaries"][0]["attribution"], base), go=True)
    assert message.endswith("; grew since the baseline: " + grew), message
    # Under the limit before: the growth explains the excess, as before.
    (tmp_path / "p.toml").write_text(f'[size]\nmax_file = "{old_size + 1} B"\n')
    again = tmp_path / "again.json"
    gate("check", tmp_path / "new" / "svc", "--no-startup", "--policy", tmp_path / "p.toml",
         "--baseline", tmp_path / "old.json", "--json", again)  # fmt: skip
    message = check_of(json.loads(again.read_text()), "size.max_file")["message"]
    assert "over before" not in message and "largest:" not in message
    assert ": grew since the baseline: data +2.9 MiB (main.blob +2.9 MiB)" in message
