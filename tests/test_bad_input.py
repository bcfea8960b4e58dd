"""Bad input: one line on stderr naming the file, exit code 2, never a traceback, fast.

Truncated and mutated copies of every real fixture go through the in-process
reader (hundreds of cases, each bounded to 1 s); a sample goes through the real
CLI to check the contract a pipeline sees.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import Fixture, readelf_sections, readelf_segments

from gate.errors import BinaryError
from gate.read.facts import BinaryFacts, inspect_binary

FUZZ_FIXTURES = (
    "c-pie",
    "c-nopie",
    "c-static-pie",
    "c-shared",
    "c-debug-zlib",
    "go1.19-hello-pie",
    "go1.27-hello-sw",
    "go1.27-hello-noshdr",
    "go1.19-httpserver",
)


def run_gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=60
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], path: Path | str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith(f"gate: error: {path}: "), lines[0]
    return lines[0]


def inspect_bounded(path: Path) -> BinaryFacts | BinaryError:
    """inspect_binary, which must either succeed or raise BinaryError, within 1 s."""
    start = time.perf_counter()
    try:
        result: BinaryFacts | BinaryError = inspect_binary(path)
    except BinaryError as exc:
        assert "\n" not in str(exc), str(exc)
        assert str(exc).startswith(f"{path}: ")
        result = exc
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"{path}: took {elapsed:.2f} s"
    return result


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "missing", "no such file"),
        (lambda d: d, "is a directory"),
        (lambda d: _write(d / "empty", b""), "empty file"),
        (lambda d: _write(d / "notes.txt", b"hello\n" * 100), "not an ELF binary"),
        (lambda d: _write(d / "run.sh", b"#!/bin/sh\necho hi\n"), "a shell script (#!/bin/sh)"),
        (lambda d: _write(d / "lib.a", b"!<arch>\n" + b"\0" * 100), "an ar archive"),
        (lambda d: _write(d / "elf4", b"\x7fELF"), "truncated ELF"),
        (lambda d: _write(d / "elf20", b"\x7fELF\x02\x01\x01" + b"\0" * 13), "truncated ELF"),
        (lambda d: _write(d / "badclass", b"\x7fELF\x07\x01" + b"\0" * 64), "unknown class"),
        (lambda d: _fifo(d / "fifo"), "not a regular file"),
    ],
    ids=[
        "missing",
        "directory",
        "empty",
        "text",
        "script",
        "archive",
        "magic-only",
        "short-header",
        "bad-class",
        "fifo",
    ],
)
def test_cli_rejects_non_binaries(tmp_path: Path, make, fragment: str) -> None:
    path = make(tmp_path)
    line = assert_one_line_error(run_gate("inspect", str(path)), path)
    assert fragment in line


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_one_bad_binary_does_not_hide_the_others(tmp_path: Path, fixtures) -> None:
    good = fixtures["c-pie"].path
    bad = _write(tmp_path / "bad", b"nope")
    proc = run_gate("inspect", str(bad), str(good))
    assert_one_line_error(proc, bad)
    assert str(good) in proc.stdout and ", pie," in proc.stdout

    proc = run_gate("inspect", "--json", str(good), str(bad))
    assert proc.returncode == 2
    import json

    doc = json.loads(proc.stdout)
    assert [b["path"] for b in doc["binaries"]] == [str(good)]
    assert doc["errors"] == [
        {"path": str(bad), "error": 'a text file (starts with "nope"), not an ELF binary'}
    ]


def _cut_points(size: int, rng: random.Random) -> list[int]:
    fixed = [
        1,
        4,
        15,
        16,
        20,
        51,
        52,
        63,
        64,
        100,
        64 + 56,
        64 + 56 * 3,
        4096,
        size // 2,
        size - 4096,
        size - 64,
        size - 1,
    ]
    return sorted({p for p in fixed + [rng.randrange(1, size) for _ in range(12)] if 0 < p < size})


def _needed_extent(path: Path) -> int:
    """Bytes the file must have, per readelf: the end of every table, section, segment."""
    hdr = subprocess.run(
        ["readelf", "-hW", path], capture_output=True, text=True, check=True
    ).stdout
    field = {
        k.strip(): v.split()[0]
        for k, v in (line.split(":", 1) for line in hdr.splitlines() if ":" in line)
        if v.split()
    }
    ends = [
        int(field["Start of section headers"])
        + int(field["Number of section headers"]) * int(field["Size of section headers"])
    ]
    ends += [s["offset"] + s["size"] for s in readelf_sections(path) if s["type"] != "NOBITS"]
    ends += [s["offset"] + s["filesz"] for s in readelf_segments(path)]
    return max(ends)


def test_truncated_copies_of_every_fixture(tmp_path: Path, fixtures: Mapping[str, Fixture]) -> None:
    rng = random.Random(20261125)
    rejected = 0
    for name, fx in fixtures.items():
        data = fx.path.read_bytes()
        needed = _needed_extent(fx.path)
        target = tmp_path / name
        for cut in [*_cut_points(len(data), rng), needed - 1]:
            target.write_bytes(data[:cut])
            result = inspect_bounded(target)
            if cut < needed:
                assert isinstance(result, BinaryError), f"{name} cut at {cut} was accepted"
                rejected += 1
            else:  # only trailing padding went: the binary is whole
                assert isinstance(result, BinaryFacts), f"{name} cut at {cut}: {result}"
    assert rejected > 500


def test_truncated_and_garbage_through_the_cli(tmp_path: Path, fixtures) -> None:
    rng = random.Random(7)
    cases = []
    for name in ("c-pie", "go1.27-hello-sw", "c-shared"):
        data = fixtures[name].path.read_bytes()
        for cut in (40, len(data) // 3, len(data) - 1):
            cases.append((f"{name}-{cut}", data[:cut]))
    cases.append(("random", bytes(rng.randrange(256) for _ in range(5000))))
    cases.append(("elf-random", b"\x7fELF" + bytes(rng.randrange(256) for _ in range(5000))))
    for label, blob in cases:
        path = _write(tmp_path / label, blob)
        assert_one_line_error(run_gate("inspect", str(path)), path)
        assert_one_line_error(run_gate("inspect", "--json", str(path)), path)


def _patched(data: bytes, fmt: str, offset: int, *values: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


# ELF64 header field offsets: e_phoff 32, e_shoff 40, e_phentsize 54, e_phnum 56,
# e_shentsize 58, e_shnum 60, e_shstrndx 62.
ABSURD = {
    "phoff-huge": ("<Q", 32, 2**63 - 1),
    "phoff-past-end": ("<Q", 32, 0xFFFFFFFF),
    "shoff-huge": ("<Q", 40, 2**64 - 64),
    "shoff-past-end": ("<Q", 40, 0x7FFFFFFF),
    "phnum-max": ("<H", 56, 0xFFFF),
    "shnum-max": ("<H", 60, 0xFFFF),
    "shstrndx-max": ("<H", 62, 0xFFFE),
    "phentsize-1": ("<H", 54, 1),
    "shentsize-1": ("<H", 58, 1),
}


@pytest.mark.parametrize("field", sorted(ABSURD))
def test_valid_header_with_absurd_values(tmp_path: Path, fixtures, field: str) -> None:
    fmt, offset, value = ABSURD[field]
    for name in ("c-pie", "go1.27-hello-default"):
        path = _write(
            tmp_path / f"{name}-{field}",
            _patched(fixtures[name].path.read_bytes(), fmt, offset, value),
        )
        result = inspect_bounded(path)
        assert isinstance(result, BinaryError), f"{name} with {field} was accepted"
    line = assert_one_line_error(run_gate("inspect", str(path)), path)
    assert "corrupt" in line or "truncated" in line


def test_absurd_section_and_dynamic_entries(tmp_path: Path, fixtures) -> None:
    """Section sizes/offsets and the dynamic segment pointing outside the file."""
    data = fixtures["c-pie"].path.read_bytes()
    (shoff,) = struct.unpack_from("<Q", data, 40)
    (shnum,) = struct.unpack_from("<H", data, 60)
    (phoff,) = struct.unpack_from("<Q", data, 32)
    (phnum,) = struct.unpack_from("<H", data, 56)
    cases = {}
    for i in range(1, shnum):
        base = shoff + i * 64
        cases[f"sec{i}-size"] = _patched(data, "<Q", base + 32, 2**62)
        cases[f"sec{i}-offset"] = _patched(data, "<Q", base + 24, 2**40)
        cases[f"sec{i}-name"] = _patched(data, "<I", base, 0xFFFFFFF0)
        cases[f"sec{i}-link"] = _patched(data, "<I", base + 40, 0xFFFF)
    for i in range(phnum):
        base = phoff + i * 56
        cases[f"seg{i}-offset"] = _patched(data, "<Q", base + 8, 2**40)
        cases[f"seg{i}-filesz"] = _patched(data, "<Q", base + 32, 2**62)
        cases[f"seg{i}-vaddr"] = _patched(data, "<Q", base + 16, 2**63)
    accepted = 0
    for label, blob in cases.items():
        result = inspect_bounded(_write(tmp_path / label, blob))
        accepted += isinstance(result, BinaryFacts)
    # Offsets/sizes past the end are always caught; a bad name or vaddr may still read.
    assert accepted < len(cases) / 2


def test_corrupt_go_buildinfo(tmp_path: Path, fixtures) -> None:
    data = fixtures["go1.27-hello-sw"].path.read_bytes()
    at = data.index(b"\xff Go buildinf:")
    # The version string's varint length right after the 32-byte header, made huge.
    blob = data[: at + 32] + b"\xff\xff\xff\xff\x0f" + data[at + 37 :]
    path = _write(tmp_path / "go-badinfo", blob)
    line = assert_one_line_error(run_gate("inspect", str(path)), path)
    assert "corrupt Go build info" in line
    # The pre-1.18 pointer layout (flags without the inline bit), pointing nowhere.
    blob = data[: at + 15] + b"\x00" + b"\xee" * 16 + data[at + 32 :]
    path = _write(tmp_path / "go-badptr", blob)
    line = assert_one_line_error(run_gate("inspect", str(path)), path)
    assert "corrupt Go build info" in line


_FUZZ_CACHE: dict[str, bytes] = {}


@pytest.fixture(scope="session")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=400,
    deadline=1000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(FUZZ_FIXTURES),
    region=st.sampled_from(["header", "phdrs", "shdrs", "anywhere", "dynamic"]),
    where=st.integers(min_value=0, max_value=2**32),
    patch=st.binary(min_size=1, max_size=8),
)
def test_mutated_binaries_never_crash(fixtures, fuzz_dir, name, region, where, patch) -> None:
    """Random overwrites in the tables gate reads: facts or BinaryError, nothing else."""
    data = _FUZZ_CACHE.setdefault(name, fixtures[name].path.read_bytes())
    phoff, shoff = struct.unpack_from("<QQ", data, 32)
    phnum, shnum = struct.unpack_from("<H", data, 56)[0], struct.unpack_from("<H", data, 60)[0]
    span = {
        "header": (0, 64),
        "phdrs": (phoff, phnum * 56),
        "shdrs": (shoff, shnum * 64) if shoff else (0, 64),
        "anywhere": (0, len(data)),
        "dynamic": _dynamic_span(data, phoff, phnum) or (0, 64),
    }[region]
    start = span[0] + where % max(span[1], 1)
    blob = bytearray(data)
    blob[start : start + len(patch)] = patch
    path = fuzz_dir / name
    path.write_bytes(bytes(blob[: len(data)]))
    inspect_bounded(path)


def _dynamic_span(data: bytes, phoff: int, phnum: int) -> tuple[int, int] | None:
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * 56)
        if p_type == 2:
            return p_offset, p_filesz
    return None
