"""A corrupt or truncated Go function table is a warning, never a crash or a wrong total.

Copies of real `-s -w` builds (both pclntab layouts: go1.18 from Go 1.19, go1.20 from the
current Go) get bytes overwritten inside `.gopclntab` (the header, the function table, the
name offsets of the function records, anywhere) or the section cut short. gate must
either read the table into numbers that still make sense (the packages add up to .text)
or give it up with a warning, keeping the section view; the CLI then exits 0 with the
warning on stderr, while a binary truncated inside the table is bad input (exit 2).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from reference import Fixture, readelf_header, readelf_sections

from gate.read.attribution import Attribution, attribute_binary

FUZZ_FIXTURES = ("go1.27-hello-sw", "go1.19-hello-sw")
WARNING = "Go function table unreadable"


@dataclass(frozen=True, repr=False)
class Table:
    """Where the function table of one fixture is, from readelf and the table's header."""

    data: bytes
    offset: int  # .gopclntab in the file
    size: int
    shdr: int  # file offset of its section header
    text: int  # .text size: what valid package totals add up to
    ptr: int
    nfunc: int
    functab: int  # offset of the function table within .gopclntab
    funcs: tuple[int, ...]  # offsets of the function records within .gopclntab

    def __repr__(self) -> str:  # hypothesis prints it with a falsifying example
        return f"Table(.gopclntab at {self.offset:#x}, {self.size:,} bytes, {self.nfunc} funcs)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


_TABLES: dict[str, Table] = {}


def table(fx: Fixture) -> Table:
    if fx.name in _TABLES:
        return _TABLES[fx.name]
    assert readelf_header(fx.path)["endian"] == "little"
    sections = readelf_sections(fx.path)
    (pcln,) = [s for s in sections if s["name"] == ".gopclntab"]
    (text,) = [s for s in sections if s["name"] == ".text"]
    data = fx.path.read_bytes()
    shoff, shentsize = (
        struct.unpack_from("<Q", data, 0x28)[0],
        struct.unpack_from("<H", data, 0x3A)[0],
    )
    buf = data[pcln["offset"] : pcln["offset"] + pcln["size"]]
    ptr = buf[7]
    # Go 1.18+ header: magic, pad, pad, minLC, ptrSize, then nfunc, nfiles, textStart,
    # funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset.
    words = struct.unpack_from("<8" + ("Q" if ptr == 8 else "I"), buf, 8)
    nfunc, functab = words[0], words[7]
    pairs = struct.unpack_from(f"<{2 * nfunc}I", buf, functab)
    _TABLES[fx.name] = Table(
        data=data,
        offset=pcln["offset"],
        size=pcln["size"],
        shdr=shoff + pcln["index"] * shentsize,
        text=text["size"],
        ptr=ptr,
        nfunc=nfunc,
        functab=functab,
        funcs=tuple(functab + off for off in pairs[1::2]),
    )
    return _TABLES[fx.name]


def check_attribution(attr: Attribution, tab: Table) -> None:
    """Given up with the warning, or numbers that still add up."""
    groups = dict(attr.sections)
    assert sum(groups.values()) == attr.file_size == len(tab.data)
    if attr.packages is None:
        assert attr.modules is None and attr.pclntab is None
        assert len(attr.warnings) == 1, attr.warnings
        assert attr.warnings[0].startswith(WARNING), attr.warnings
        assert "\n" not in attr.warnings[0]
        return
    assert attr.warnings == (), attr.warnings
    assert attr.pclntab in ("go1.18", "go1.20")
    assert attr.modules is not None
    sizes = [e.bytes for e in attr.packages]
    assert all(isinstance(b, int) and b >= 0 for b in sizes), attr.packages
    # What the table claims must fit the text it describes: the packages (with the text
    # outside Go functions) add up to .text, as for the intact binary.
    assert sum(sizes) == tab.text, (
        f"packages add up to {sum(sizes):,} bytes, .text is {tab.text:,}; "
        f"largest {attr.packages[0]}"
    )
    assert sum(e.bytes for e in attr.modules) == sum(sizes)


def test_intact_tables_add_up(fixtures) -> None:
    """The property below holds for the unmodified fixtures (else it proves nothing)."""
    for name in FUZZ_FIXTURES:
        fx = fixtures[name]
        tab = table(fx)
        attr = attribute_binary(str(fx.path))
        assert attr.packages is not None and attr.warnings == ()
        check_attribution(attr, tab)
        assert tab.nfunc > 1000 and len(tab.funcs) == tab.nfunc


@pytest.fixture(scope="module")
def tables(fixtures) -> dict[str, Table]:
    return {name: table(fixtures[name]) for name in FUZZ_FIXTURES}


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pclntab")


def mutate(tab: Table, region: str, where: int, patch: bytes) -> bytes:
    blob = bytearray(tab.data)
    if region == "truncate":  # the section header says the table is shorter
        struct.pack_into("<Q", blob, tab.shdr + 32, where % tab.size)
        return bytes(blob)
    if region == "header":
        start = where % (8 + 8 * tab.ptr)
    elif region == "functab":
        start = tab.functab + where % ((2 * tab.nfunc + 1) * 4)
    elif region == "end":  # the table's last word: where the last function ends
        start = tab.functab + 2 * tab.nfunc * 4 + where % 4
    elif region == "nameoff":  # the nameOff field of one function record
        start = tab.funcs[where % tab.nfunc] + 4 + (where // tab.nfunc) % 4
    else:
        start = where % tab.size
    start += tab.offset
    end = min(start + len(patch), tab.offset + tab.size)
    blob[start:end] = patch[: end - start]
    return bytes(blob)


@settings(
    max_examples=50,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(FUZZ_FIXTURES),
    region=st.sampled_from(["header", "functab", "end", "nameoff", "anywhere", "truncate"]),
    where=st.integers(min_value=0, max_value=2**32),
    patch=st.one_of(
        st.binary(min_size=1, max_size=8),
        st.sampled_from([b"\xff\xff\xff\xff", b"\0\0\0\0", b"\xff\xff\xff\x7f", b"\x01"]),
    ),
)
# The last function ending 2 GB past the start of .text: no package can be that large.
@example(name="go1.27-hello-sw", region="end", where=3, patch=b"\x7f")
def test_corrupt_function_table_is_a_warning(tables, fuzz_dir, name, region, where, patch):
    tab = tables[name]
    path = fuzz_dir / name
    path.write_bytes(mutate(tab, region, where, patch))
    check_attribution(attribute_binary(str(path)), tab)


# --------------------------------------------------------------------------- the CLI


def run_size(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", "size", *map(os.fspath, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _broken(tab: Table, how: str) -> bytes:
    blob = bytearray(tab.data)
    at = tab.offset
    if how == "magic":
        blob[at : at + 4] = b"\0\0\0\0"
    elif how == "nfunc":  # more functions than the table holds
        struct.pack_into("<Q", blob, at + 8, tab.size // 4)
    elif how == "order":  # the second function starts before the first
        struct.pack_into("<I", blob, at + tab.functab + 8, 0xFFFFFFF0)
        struct.pack_into("<I", blob, at + tab.functab + 16, 0)
    elif how == "nameoff":  # a name far outside the table
        struct.pack_into("<i", blob, at + tab.funcs[10] + 4, 0x7FFFFFF0)
    else:  # "short": the section header claims 100 bytes
        struct.pack_into("<Q", blob, tab.shdr + 32, 100)
    return bytes(blob)


@pytest.mark.parametrize("how", ["magic", "nfunc", "order", "nameoff", "short"])
def test_cli_warns_once_and_shows_sections(fixtures, tmp_path: Path, how: str) -> None:
    tab = table(fixtures["go1.27-hello-sw"])
    path = tmp_path / f"broken-{how}"
    path.write_bytes(_broken(tab, how))
    path.chmod(0o755)
    proc = run_size(path, "--json")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gate: warning: ") and WARNING in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["warnings"] and doc["warnings"][0].startswith(WARNING), doc["warnings"]
    assert doc["pclntab"] is None
    assert doc["by"] == "section"  # no packages, no .symtab (-s -w)
    assert sum(e["bytes"] for e in doc["entries"]) == doc["file_size"] == len(tab.data)


def test_cli_truncated_binary_is_bad_input(fixtures, tmp_path: Path) -> None:
    tab = table(fixtures["go1.27-hello-sw"])
    path = tmp_path / "cut"
    path.write_bytes(tab.data[: tab.offset + tab.size // 2])  # ends inside .gopclntab
    proc = run_size(path, "--json")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"gate: error: {path}: "), lines[0]
    assert proc.stdout == ""
