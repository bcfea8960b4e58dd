"""`gate size --by symbol` on a stripped binary: a Go one is pointed to `--by package`
(its function table still names every package), a C one shows what .dynsym exports, and
says that is all it is. readelf is the reference for what a table holds."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ci import unavailable
from reference import Fixture

_SECTION_RE = re.compile(r"^\s*\[\s*(\d+)\]\s+(\S+)\s+(\S+)")
_SYMBOL_RE = re.compile(
    r"^\s*\d+:\s+[0-9a-f]+\s+(\d+)\s+(FUNC|OBJECT|TLS)\s+\S+\s+\S+\s+(\d+)\s+(\S+)"
)


def gate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", *map(str, args)], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc


def readelf(*args: str | Path) -> str:
    if shutil.which("readelf") is None:
        unavailable("readelf (binutils) is not installed")
    return subprocess.run(["readelf", *map(str, args)], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def has_symtab(path: Path) -> bool:
    return any(m and m.group(3) == "SYMTAB" for m in map(_SECTION_RE.match, readelf(
        "-SW", path).splitlines()))  # fmt: skip


def exported_with_bytes(path: Path) -> dict[str, int]:
    """readelf's .dynsym: defined, sized functions and objects outside NOBITS sections."""
    nobits = {
        m.group(1) for m in map(_SECTION_RE.match, readelf("-SW", path).splitlines())
        if m and m.group(3) == "NOBITS"
    }  # fmt: skip
    found: dict[str, int] = {}
    for line in readelf("--dyn-syms", "-W", path).splitlines():
        m = _SYMBOL_RE.match(line)
        if m and int(m.group(1)) and m.group(3) not in nobits:
            name = m.group(4).split("@", 1)[0]
            found[name] = found.get(name, 0) + int(m.group(1))
    return found


def test_a_stripped_go_binary_is_pointed_to_by_package(
    fixtures: dict[str, Fixture], corpus: Callable[[str], Path]
) -> None:
    for binary in (fixtures["go1.27-hello-stripped"].path, corpus("caddy")):
        assert not has_symtab(binary)
        proc = gate("size", binary, "--by", "symbol")
        assert proc.returncode == 2
        assert proc.stderr.splitlines() == [
            f"gate: error: {binary}: stripped (no .symtab), so nothing to show by symbol; its "
            "Go function table still names every function's package: try --by package"
        ]
        assert gate("size", binary, "--by", "package").returncode == 0


def test_a_stripped_shared_library_shows_what_dynsym_exports(
    fixtures: dict[str, Fixture], tmp_path: Path
) -> None:
    if shutil.which("strip") is None:
        unavailable("strip (binutils) is not installed")
    lib = tmp_path / "libgatefix.so"
    shutil.copyfile(fixtures["c-shared"].path, lib)
    subprocess.run(["strip", lib], check=True)
    assert not has_symtab(lib)
    expected = exported_with_bytes(lib)
    assert expected == {"gatefix_add": 14, "gatefix_name": 8}  # gatefix_counter is in .bss
    proc = gate("size", lib, "--by", "symbol", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert {e["name"]: e["bytes"] for e in doc["entries"]} == expected
    share = sum(expected.values()) / lib.stat().st_size * 100
    warning = (
        f"stripped (no .symtab): the 2 functions and objects .dynsym exports ({share:.1f}% "
        "of the file), not every symbol"
    )
    assert doc["warnings"] == [warning]
    assert proc.stderr.splitlines() == [f"gate: warning: {lib}: {warning}"]


def test_a_stripped_c_server_that_exports_nothing_says_so(corpus: Callable[[str], Path]) -> None:
    """Debian's memcached exports only two copy-relocated objects, both in .bss."""
    binary = corpus("memcached")
    assert not has_symtab(binary)
    assert exported_with_bytes(binary) == {}
    proc = gate("size", binary, "--by", "symbol")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"gate: error: {binary}: stripped (no .symtab), and .dynsym exports no function or "
        "object with bytes in the file, so nothing to show by symbol (try --by section)"
    ]
