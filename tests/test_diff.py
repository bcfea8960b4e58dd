"""`gate diff` (gate/judge/diff.py, gate/report/diff.py) on real pairs: what changed in the file,
what changed in memory only, and a change of toolchain named as a likely cause.

Caddy (built by Go 1.26) against etcd (Go 1.16) from the corpus: which sections are NOBITS
comes from `readelf -S`, every size from readelf too, the toolchains from `go version -m`;
and our own deps program built by Go 1.19 and by Go 1.27, beside a pair from one toolchain
that must not mention any.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import GoToolchains
from reference import Fixture, go_version_m, readelf_sections

from gate.values.units import format_signed_size, format_size

Fixtures = dict[str, Fixture]
POLICY = '[size]\nmax_file = "8 MiB"\nmax_growth = "5%"\n'
MEMORY = "  sections in memory only (NOBITS, no file bytes):"


def gate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "gate", *map(str, args)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    return proc


def check(tmp: Path, side: str, binary: Path, *extra: str | Path) -> dict[str, Any]:
    """`gate check --no-startup` on a copy of `binary` named svc, as CI builds it."""
    (tmp / side).mkdir()
    (tmp / side / "svc").write_bytes(binary.read_bytes())
    (tmp / "p.toml").write_text(POLICY)
    gate("check", tmp / side / "svc", "--no-startup", "--policy", tmp / "p.toml",
         "--json", tmp / f"{side}.json", *extra)  # fmt: skip
    doc: dict[str, Any] = json.loads((tmp / f"{side}.json").read_text())
    return doc


def block(lines: list[str], title: str) -> list[list[str]]:
    """The rows under `title` in gate diff's text: [name, before, after, change, %]."""
    start = lines.index(title)
    rows = []
    for line in lines[start + 1 :]:
        if not line.startswith("    ") or line.startswith("    …"):
            break
        name, rest = line.split(None, 1)
        before, after = (p.strip() for p in rest.split("->")[:2])
        after_cells = after.split("  ")
        rows.append(
            [
                name,
                before,
                after_cells[0].strip(),
                *[c.strip() for c in after_cells[1:] if c.strip()],
            ]
        )
    return rows


def plain(markdown: str) -> str:
    """The text a reader sees: rendered by a CommonMark parser, tags dropped."""
    import html
    import re

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").enable("table").render(markdown)
    return html.unescape(re.sub(r"<[^>]+>", "", rendered))


def sizes(path: Path) -> tuple[dict[str, int], set[str]]:
    """readelf: {section: size}, and the NOBITS ones."""
    secs = readelf_sections(path)
    return ({s["name"]: s["size"] for s in secs[1:]},
            {s["name"] for s in secs if s["type"] == "NOBITS"})  # fmt: skip


def go_versions(go_toolchains: GoToolchains, *paths: Path) -> list[str]:
    go, env = go_toolchains["go1.27"]
    return [go_version_m(go, env, p)["go_version"] for p in paths]


def test_nobits_sections_are_memory_not_file(
    corpus: Callable[[str], Path], go_toolchains: GoToolchains, tmp_path: Path
) -> None:
    """Caddy grew 27 MiB over etcd, and its .noptrbss 32 MiB: the sections list holds only
    sections with file bytes, largest change first (readelf's), and the NOBITS ones are
    listed apart with readelf's sizes; a new toolchain is named."""
    old_bin, new_bin = corpus("etcd"), corpus("caddy")
    check(tmp_path, "old", old_bin)
    new = check(tmp_path, "new", new_bin, "--baseline", tmp_path / "old.json")
    out = gate("diff", tmp_path / "old.json", tmp_path / "new.json").stdout
    lines = out.splitlines()
    (old, old_nobits), (after, new_nobits) = sizes(old_bin), sizes(new_bin)
    nobits = old_nobits | new_nobits
    assert ".noptrbss" in nobits and after[".noptrbss"] - old[".noptrbss"] > 32 << 20

    in_file = block(lines, "  sections:")
    assert not {r[0] for r in in_file} & nobits, in_file
    moved = {n: after.get(n, 0) - old.get(n, 0) for n in (old.keys() | after.keys()) - nobits}
    largest = max((n for n in moved if moved[n]), key=lambda n: abs(moved[n]))
    assert in_file[0][0] == largest == ".gopclntab"
    assert in_file[0][3] == format_signed_size(moved[largest])

    memory = {r[0]: r for r in block(lines, MEMORY)}
    changed = {n for n in nobits if old.get(n) != after.get(n)}
    assert memory.keys() == changed and ".noptrbss" in memory
    row = memory[".noptrbss"]
    assert row[1:4] == [format_size(old[".noptrbss"]), format_size(after[".noptrbss"]),
                        format_signed_size(after[".noptrbss"] - old[".noptrbss"])]  # fmt: skip
    assert lines.index(MEMORY) > lines.index("  sections:")

    versions = go_versions(go_toolchains, old_bin, new_bin)
    assert versions == ["go1.16.3", "go1.26.8"]
    note = f"toolchain {versions[0]} -> {versions[1]} (a likely cause)"
    assert f"  {note}" in lines
    markdown = gate("diff", tmp_path / "old.json", tmp_path / "new.json", "--format", "markdown")
    assert "sections in memory only (NOBITS, no file bytes)" in markdown.stdout
    assert f"Toolchain {note.removeprefix('toolchain ')}" in plain(markdown.stdout)
    # The size checks say it too, after what grew.
    messages = {c["id"]: c["message"] for c in new["binaries"][0]["checks"]}
    assert f" > 5%: {note}; go metadata +" in messages["size.max_growth"]
    assert " > 8 MiB by " in messages["size.max_file"]
    assert f": {note}; over before too (" in messages["size.max_file"]


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [("go1.19-deps", "go1.27-deps", True), ("go1.27-hello-default", "go1.27-deps", False)],
)
def test_a_new_toolchain_is_named_and_only_then(
    fixtures: Fixtures, go_toolchains: GoToolchains, tmp_path: Path, old: str, new: str,
    changed: bool,
) -> None:  # fmt: skip
    """deps by Go 1.19, then by Go 1.27: gate diff, gate size --against and the growth check
    name both versions as `go version -m` reads them; hello and deps by one Go name none."""
    old_bin, new_bin = fixtures[old].path, fixtures[new].path
    check(tmp_path, "old", old_bin)
    doc = check(tmp_path, "new", new_bin, "--baseline", tmp_path / "old.json")
    versions = go_versions(go_toolchains, old_bin, new_bin)
    assert (versions[0] != versions[1]) == changed
    note = f"toolchain {versions[0]} -> {versions[1]} (a likely cause)"
    diff = gate("diff", tmp_path / "old.json", tmp_path / "new.json").stdout
    size = gate("size", new_bin, "--against", old_bin).stdout
    growth = {c["id"]: c for c in doc["binaries"][0]["checks"]}["size.max_growth"]
    assert growth["status"] == "fail"
    if changed:
        assert f"\n  {note}\n" in diff
        assert size.splitlines()[1].endswith(f"; {note}")
        assert f" > 5%: {note}; " in growth["message"]
    else:
        assert "toolchain" not in diff + size + growth["message"]
    assert os.path.getsize(new_bin) > os.path.getsize(old_bin)
