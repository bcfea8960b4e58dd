"""Crafted ELF files cost bounded memory and seconds, never a traceback (issue 14, Files).

Each generator builds a hostile file from a real fixture or from struct-packed headers:

- a `.gopclntab` whose function-name table lost its NULs (magic kept): every name used to
  run to the end of the table (quadratic memory: 1.36 GB on a 10 MB binary);
- a 4 GB sparse file with no section headers and one read-only load segment over all of
  it: the function table was searched in a copy of the segment (8.4 GB, 30-45 s);
- a 1 GB sparse file whose `.symtab` spans it: the table was copied into bytes and arrays
  (5.8 GB);
- 100,000 one-byte sections: `section_groups` was quadratic (284 s).

Each runs through a child `python -m gate` whose peak RSS is its own VmHWM (read as it
exits; rusage would carry the forking pytest's peak across exec) and whose CPU time comes
from `os.wait4`. Margins: a child python with gate imported peaks near 60-80 MB, so the
bound is "2 x the bytes the file really holds on disk (st_blocks) + 150 MB" (a sparse
file's holes cost no RSS when they are not kept resident); time is CPU time (user +
system, not wall clock, so a loaded 2-core machine does not fail it) under 10 s, where the
old code took minutes or ran out of memory. The output is a normal result, one warning
line or
one error line, never an internal error or a traceback.
"""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from peak import PEAK_WRAPPER
from reference import readelf_sections

MB = 1 << 20
GB = 1 << 30
BASE_RSS = 150 * MB  # the interpreter, gate and its imports, with room to spare
MAX_CPU_S = 10.0


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    max_rss: int  # bytes
    cpu_s: float


def run_gate(*args: str) -> Run:
    """`python -m gate ARGS` in a child, with its own peak RSS (VmHWM) and CPU time."""
    peak_r, peak_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", PEAK_WRAPPER, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=(peak_w,),
        env={**os.environ, "GATE_TEST_PEAK_FD": str(peak_w)},
    )
    os.close(peak_w)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    finally:
        with os.fdopen(peak_r, "rb") as f:
            peak_kb = f.read()
    assert proc.returncode is not None
    usage = _last_usage.pop(proc.pid, None)
    assert usage is not None, "the child's rusage was not collected"
    assert peak_kb.isdigit(), f"the child reported no peak RSS: {err[-2000:]}"
    return Run(proc.returncode, out, err, int(peak_kb) * 1024, usage.ru_utime + usage.ru_stime)


_last_usage: dict[int, resource.struct_rusage] = {}
_real_waitpid = os.waitpid


def _waitpid_with_usage(pid: int, options: int) -> tuple[int, int]:
    """subprocess reaps with os.waitpid: wait4 instead, keeping the child's rusage."""
    got, status, usage = os.wait4(pid, options)
    if got:
        _last_usage[got] = usage
    return got, status


@pytest.fixture(autouse=True)
def _record_rusage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "waitpid", _waitpid_with_usage)


def on_disk(path: Path) -> int:
    return path.stat().st_blocks * 512


def check_bounded(run: Run, path: Path, what: str) -> None:
    limit = 2 * on_disk(path) + BASE_RSS
    assert run.max_rss <= limit, (
        f"{what}: peak RSS {run.max_rss / MB:.0f} MB > {limit / MB:.0f} MB "
        f"(2 x {on_disk(path) / MB:.0f} MB on disk + {BASE_RSS // MB} MB)"
    )
    assert run.cpu_s < MAX_CPU_S, f"{what}: {run.cpu_s:.1f} s of CPU"
    both = run.stdout + run.stderr
    assert "Traceback" not in both and "internal error" not in both, both[-2000:]
    assert run.returncode in (0, 1, 2), (run.returncode, both[-2000:])
    lines = run.stderr.splitlines()
    assert len(lines) <= 2, run.stderr  # a warning about the file, an error naming it
    for line in lines:
        assert line.startswith((f"gate: warning: {path}: ", f"gate: error: {path}: ")), line
    if run.returncode == 2:  # bad input: it ends with one error line
        assert lines and lines[-1].startswith("gate: error: "), run.stderr


# ---------------------------------------------------------------- generators


def pclntab_without_nuls(src: Path, out: Path) -> None:
    """`src` with every NUL in the function-name table of .gopclntab made 'A'."""
    (pcln,) = [s for s in readelf_sections(src) if s["name"] == ".gopclntab"]
    data = bytearray(src.read_bytes())
    base = pcln["offset"]
    ptr = data[base + 7]
    word = "<Q" if ptr == 8 else "<I"
    # Go 1.18+ header: magic, pad, pad, minLC, ptrSize, then nfunc, nfiles, textStart,
    # funcnameOffset, cuOffset, ...
    funcname = struct.unpack_from(word, data, base + 8 + 3 * ptr)[0]
    cu = struct.unpack_from(word, data, base + 8 + 4 * ptr)[0]
    lo, hi = base + funcname, base + cu
    assert data[lo:hi].count(0) > 1000
    data[lo:hi] = data[lo:hi].replace(b"\0", b"A")
    out.write_bytes(bytes(data))


def _ehdr64(*, phoff: int, phnum: int, shoff: int, shnum: int, shstrndx: int) -> bytes:
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return ident + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, 0x401000, phoff, shoff, 0, 64, 56, phnum, 64, shnum, shstrndx
    )


def _shdr64(
    name: int,
    sh_type: int,
    offset: int,
    size: int,
    *,
    link: int = 0,
    entsize: int = 0,
    flags: int = 0,
) -> bytes:
    return struct.pack("<IIQQQQIIQQ", name, sh_type, flags, 0, offset, size, link, 0, 1, entsize)


def sparse_one_segment(out: Path, size: int) -> None:
    """A sparse `size`-byte file: ELF header and one read-only PT_LOAD over the whole file,
    no section headers (so the Go table is searched for in the segment)."""
    phdr = struct.pack("<IIQQQQQQ", 1, 4, 0, 0x400000, 0x400000, size, size, 0x1000)
    with out.open("wb") as f:
        f.write(_ehdr64(phoff=64, phnum=1, shoff=0, shnum=0, shstrndx=0) + phdr)
    os.truncate(out, size)


def sparse_symtab(out: Path, size: int) -> None:
    """A sparse `size`-byte file whose .symtab spans nearly all of it (after the headers)."""
    names = b"\0.symtab\0.strtab\0.shstrtab\0"
    shoff, shnum = 64, 4
    strtab_at = shoff + shnum * 64
    shstr_at = strtab_at + 16
    symtab_at = 4096
    count = (size - symtab_at) // 24
    shdrs = (
        bytes(64)
        + _shdr64(1, 2, symtab_at, count * 24, link=2, entsize=24)
        + _shdr64(9, 3, strtab_at, 16)
        + _shdr64(17, 3, shstr_at, len(names))
    )
    with out.open("wb") as f:
        f.write(_ehdr64(phoff=0, phnum=0, shoff=shoff, shnum=shnum, shstrndx=3))
        f.write(shdrs)
        f.write(b"\0main\0".ljust(16, b"\0"))
        f.write(names)
    os.truncate(out, size)


def sparse_dynamic(out: Path, size: int) -> None:
    """A sparse `size`-byte file whose dynamic string table (DT_STRSZ), .dynsym, interpreter
    path (PT_INTERP) and section name table (sh_size) each claim nearly all of it."""
    base = 0x400000
    dyn_at, str_at, interp_at, names_at, sym_at = 1024, 2048, 3072, 3840, 4096
    names = b"\0.dynsym\0.dynstr\0.shstrtab\0"
    phdrs = (
        struct.pack("<IIQQQQQQ", 1, 4, 0, base, base, size, size, 0x1000)  # PT_LOAD
        + struct.pack("<IIQQQQQQ", 2, 4, dyn_at, base + dyn_at, base + dyn_at, 64, 64, 8)
        + struct.pack(
            "<IIQQQQQQ", 3, 4, interp_at, 0, 0, size - interp_at, size - interp_at, 1
        )  # PT_INTERP: a path with no NUL for a gigabyte
    )
    # DT_NEEDED 1, DT_STRTAB, DT_STRSZ, DT_NULL
    dynamic = struct.pack("<qQqQqQqQ", 1, 1, 5, base + str_at, 10, size - str_at, 0, 0)
    shoff, shnum = 64 + 3 * 56, 4
    shdrs = (
        bytes(64)
        + _shdr64(1, 11, sym_at, (size - sym_at) // 24 * 24, link=2, entsize=24)
        + _shdr64(9, 3, str_at, size - str_at)
        + _shdr64(17, 3, names_at, size - names_at)
    )
    with out.open("r+b" if out.exists() else "wb") as f:
        f.write(_ehdr64(phoff=64, phnum=3, shoff=shoff, shnum=shnum, shstrndx=3))
        f.write(phdrs)
        f.write(shdrs)
        f.seek(dyn_at)
        f.write(dynamic)
        f.seek(str_at)
        f.write(b"\0libc.so.6\0")
        f.seek(interp_at)
        f.write(b"/lib/ld" * 100)
        f.seek(names_at)
        f.write(names)
    os.truncate(out, size)


def overlapping_names(out: Path, count: int, length: int) -> None:
    """`count` sized functions whose names start at distinct offsets of one `length`-byte
    name: each name runs to the same NUL (their lengths add up quadratically)."""
    names = b"\0.symtab\0.strtab\0.shstrtab\0.text\0"
    strtab = b"\0" + b"A" * length + b"\0"
    syms = bytes(24) + b"".join(
        struct.pack("<IBBHQQ", 1 + i % length, 0x12, 0, 4, 0x401000 + i, 1) for i in range(count)
    )
    shoff, shnum = 64, 5
    text_at = shoff + shnum * 64
    sym_at = text_at + count
    str_at = sym_at + len(syms)
    names_at = str_at + len(strtab)
    shdrs = (
        bytes(64)
        + _shdr64(1, 2, sym_at, len(syms), link=2, entsize=24)
        + _shdr64(9, 3, str_at, len(strtab))
        + _shdr64(17, 3, names_at, len(names))
        + _shdr64(27, 1, text_at, count, flags=0x6)
    )
    out.write_bytes(
        _ehdr64(phoff=0, phnum=0, shoff=shoff, shnum=shnum, shstrndx=3)
        + shdrs
        + b"\xc3" * count
        + syms
        + strtab
        + names
    )


def many_sections(out: Path, count: int, name_len: int = 0) -> None:
    """`count` one-byte PROGBITS sections, each at its own offset, plus the name table;
    with `name_len`, every section is named by a distinct offset into one name that long."""
    shoff = 64
    total = count + 2  # the null section, the sections, .shstrtab
    data_at = shoff + total * 64
    names = b"\0.s\0.shstrtab\0" + b"A" * name_len + b"\0"
    # Extended numbering: the count in section 0's sh_size, the name table's in its sh_link.
    shdrs = [_shdr64(0, 0, 0, total, link=total - 1)]
    shdrs += [
        _shdr64(14 + i % name_len if name_len else 1, 1, data_at + i, 1, flags=0x2)
        for i in range(count)
    ]
    shdrs.append(_shdr64(4, 3, data_at + count, len(names)))
    out.write_bytes(
        _ehdr64(phoff=0, phnum=0, shoff=shoff, shnum=0, shstrndx=0xFFFF)
        + b"".join(shdrs)
        + bytes(range(256)) * (count // 256)
        + bytes(count % 256)
        + names
    )


# ---------------------------------------------------------------- tests


def test_pclntab_names_without_nuls_are_a_warning(fixtures, tmp_path: Path) -> None:
    """1.48 GB and 2.8 s on go1.27-deps-sw (7 MB) before: each name ran on through the
    names after it, each a copy of its own; now a warning at once. Both layouts."""
    for name in ("go1.27-deps-sw", "go1.19-deps-sw"):
        path = tmp_path / f"nonuls-{name}"
        pclntab_without_nuls(fixtures[name].path, path)
        _check_nonuls(path)


def _check_nonuls(path: Path) -> None:
    for args in (
        ["size", str(path)],
        ["size", "--by", "module", str(path)],
        ["check", "--no-startup", str(path)],
    ):
        run = run_gate(*args)
        check_bounded(run, path, " ".join(args[:-1]))
        if args[0] == "size":  # check judges sizes by section: the table is not read
            assert "Go function table unreadable" in run.stderr, run.stderr


def test_sparse_4gb_segment_is_searched_without_holding_it(tmp_path: Path) -> None:
    """8.4 GB and 30-45 s before (the segment was copied to search it)."""
    path = tmp_path / "sparse4g"
    sparse_one_segment(path, 4 * GB)
    assert on_disk(path) < MB, "tmp_path does not keep sparse files sparse"
    for args in (
        ["size", str(path)],
        ["inspect", str(path)],
        ["check", "--no-startup", str(path)],
    ):
        run = run_gate(*args)
        check_bounded(run, path, args[0])


def test_sparse_1gb_symtab_is_not_copied(tmp_path: Path) -> None:
    """5.8 GB before (.symtab copied into bytes, then into arrays)."""
    path = tmp_path / "sparse-symtab"
    sparse_symtab(path, 1 * GB)
    assert on_disk(path) < MB, "tmp_path does not keep sparse files sparse"
    for args in (
        ["size", "--by", "symbol", str(path)],
        ["inspect", str(path)],
        ["check", "--no-startup", str(path)],
    ):
        run = run_gate(*args)
        check_bounded(run, path, " ".join(args[:-1]))


def test_sparse_1gb_dynamic_tables_are_not_copied(tmp_path: Path) -> None:
    """Dynamic strings, .dynsym, interpreter path and section names that each claim a
    gigabyte are read as far as a name can reach, not copied whole."""
    path = tmp_path / "sparse-dynamic"
    sparse_dynamic(path, 1 * GB)
    assert on_disk(path) < MB, "tmp_path does not keep sparse files sparse"
    for args in (["inspect", str(path)], ["check", "--no-startup", str(path)]):
        run = run_gate(*args)
        check_bounded(run, path, args[0])


def test_overlapping_symbol_names_are_bounded(tmp_path: Path) -> None:
    """100,000 functions named by distinct offsets into one 64 KiB name: their names add
    up to gigabytes; reading them stops at twice the string table, a one-line error."""
    path = tmp_path / "overlapping"
    overlapping_names(path, 100_000, 60_000)
    for args in (["size", "--by", "symbol", str(path)], ["size", "--by", "section", str(path)]):
        run = run_gate(*args)
        check_bounded(run, path, " ".join(args[:-1]))
    assert run.returncode == 0, run.stderr  # the section view does not read the names


def test_100k_sections_are_grouped_in_linear_time(tmp_path: Path) -> None:
    """284 s before (section_groups was quadratic)."""
    path = tmp_path / "sections"
    many_sections(path, 100_000)
    run = run_gate("size", "--by", "section", str(path))
    check_bounded(run, path, "size --by section")
    assert run.returncode == 0, run.stderr
    assert "read-only data" in run.stdout, run.stdout


def test_overlapping_section_names_are_bounded(tmp_path: Path) -> None:
    """100,000 sections named by distinct offsets into one 60 KB name (3 GB of names
    before); reading them stops at twice the name table: one error line."""
    path = tmp_path / "section-names"
    many_sections(path, 100_000, name_len=60_000)
    for args in (["size", "--by", "section", str(path)], ["inspect", str(path)]):
        run = run_gate(*args)
        check_bounded(run, path, args[0])
        assert run.returncode == 2 and "names overlap" in run.stderr, run.stderr


def test_find_skips_holes_and_matches_bytes_find(tmp_path: Path, monkeypatch) -> None:
    """ElfImage.find (chunked, hole-skipping, pages let go) finds what bytes.find finds,
    across chunk borders and at the edge of a hole, with and without the file's fd."""
    import mmap
    import random

    from gate.read import elf as reader
    from gate.read.elf import ElfImage

    monkeypatch.setattr(reader, "_CHUNK", 4096)
    path = tmp_path / "holes"
    with path.open("wb") as f:
        f.write(b"\x01" * 10)
        f.seek(1 << 20)
        f.write(b"\xff\xff\xff")  # ends where a hole begins: the match runs into zeros
        f.seek(3 << 20)
        f.write(b"\xfa\xff\xff\xff")
    os.truncate(path, (3 << 20) + 6)
    raw = path.read_bytes()
    rng = random.Random(14)
    with path.open("rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        for fd in (f.fileno(), None):
            img = ElfImage(str(path), len(raw), data, 64, True, "", "", 0, 0, (), (), fd=fd)
            for sub in (b"\xff\xff\xff\0\0", b"\xfa\xff", b"\x01\x01", b"\0\0\0"):
                for start in (0, 5, 100, 1 << 20, (1 << 20) + 1, rng.randrange(len(raw))):
                    assert img.find(sub, start, len(raw)) == raw.find(sub, start), (sub, start)
            assert img.is_hole(2 << 20, 4096) == (fd is not None)
        data.close()


def test_an_unforeseen_table_error_in_attribution_is_one_corrupt_elf_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fuzzer has not found yet must still not be an internal error in gate size."""
    import struct

    from gate.errors import BinaryError
    from gate.read import attribution

    def broken(*args: object, **kwargs: object) -> None:
        raise struct.error("unpack requires a buffer of 16 bytes")

    monkeypatch.setattr(attribution, "attribute", broken)
    with pytest.raises(BinaryError) as caught:
        attribution.attribute_binary("/bin/true")
    assert (
        str(caught.value) == "/bin/true: corrupt ELF: error: unpack requires a buffer of 16 bytes"
    )
