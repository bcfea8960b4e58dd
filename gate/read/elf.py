"""One ELF file, opened once, every read bounds-checked.

The binary is untrusted input: a truncated upload, a corrupt artefact, a file that
is not ELF at all. This module is the only place that touches its bytes.
pyelftools parses the ELF header and names things (machine, section types); the
section and program header tables are unpacked in bulk with `struct`, each checked
against the file size before it is read, so no absurd count or offset can make us
allocate, seek or loop past the file. Table data is served from an mmap, so callers
unpack tables in bulk instead of building one Python object per entry; a file that
shrinks under the mapping is an error, not a SIGBUS (gate.read.shrink).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import mmap
import os
import stat
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from gate.errors import BinaryError
from gate.read import shrink

ELF_MAGIC = b"\x7fELF"
# What a search or a streamed read of a large table holds in memory at a time.
_CHUNK = 16 << 20
# The longest string read from a string table (a name); a name without its NUL within
# this many bytes reads as cut there.
MAX_STRING = 64 * 1024

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_COMPRESSED = 0x1, 0x2, 0x4, 0x800
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
PF_X, PF_W = 0x1, 0x2


def _corruption_errors() -> tuple[type[BaseException], ...]:
    """What parsing a corrupt file raises; anything else (NameError...) is a gate bug."""
    from elftools.common.exceptions import ELFError
    from elftools.construct.core import ConstructError

    return (
        ELFError,
        ConstructError,
        struct.error,
        ValueError,
        IndexError,
        KeyError,
        UnicodeDecodeError,
        OverflowError,
        EOFError,
        OSError,  # e.g. a seek to a negative offset computed from a corrupt field
        MemoryError,
        AssertionError,
    )


class SectionHeader(NamedTuple):
    number: int  # its index in the section header table (`index` would shadow tuple.index)
    name: str
    type: str  # readelf's spelling: PROGBITS, NOBITS, SYMTAB, ... or 0x... when unknown
    flags: int
    addr: int
    offset: int
    size: int
    entsize: int
    link: int

    @property
    def in_file(self) -> int:
        """Bytes the section occupies in the file (NOBITS occupies none)."""
        return 0 if self.type == "NOBITS" else self.size


class SegmentHeader(NamedTuple):
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


@dataclass
class ElfImage:
    """Headers as plain tuples plus bounded access to the bytes behind them."""

    path: str
    size: int
    data: mmap.mmap | bytes
    elfclass: int
    little_endian: bool
    e_type: str
    e_machine: str
    e_machine_num: int
    entry: int
    sections: tuple[SectionHeader, ...]
    segments: tuple[SegmentHeader, ...]
    # (name, offset, size) of the ELF header and the two header tables: bytes of the file
    # that belong to no section, so an attribution can still add up to the file size.
    header_tables: tuple[tuple[str, int, int], ...] = ()
    # The open file, while open_elf holds it: a search skips its holes (SEEK_DATA).
    fd: int | None = None

    @property
    def endian(self) -> str:
        return "<" if self.little_endian else ">"

    def section(self, name: str) -> SectionHeader | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def read(self, offset: int, size: int) -> memoryview:
        """File bytes [offset, offset+size); a range outside the file is corruption."""
        if offset < 0 or size < 0 or offset + size > self.size:
            raise BinaryError(
                self.path,
                f"truncated or corrupt ELF: {size} bytes at offset {offset} "
                f"lie past the end of the file ({self.size} bytes)",
            )
        return memoryview(self.data)[offset : offset + size]

    def find(self, sub: bytes, start: int, end: int) -> int:
        """Where `sub` first lies within [start, end) of the file, or -1: searched in the
        mapping chunk by chunk, each chunk's pages let go once searched, so a search
        through a huge (or sparse) file holds at most a chunk in memory."""
        start, end = max(0, start), min(end, self.size)
        # A hole reads as zeros: what starts with another byte is not in one (SEEK_DATA).
        skip_holes = sub[:1] not in (b"", b"\0")
        pos = start
        while pos < end:
            region_end = end
            if skip_holes:
                pos, region_end = self._data_region(pos, end)
                region_end = max(region_end, pos + 1)
            while pos < min(region_end, end):
                # A match starts inside the region; it may end in the zeros after it.
                stop = min(end, pos + _CHUNK + len(sub) - 1, region_end + len(sub) - 1)
                found = self.data.find(sub, pos, stop)
                self.release(pos, stop - pos)
                if found >= 0:
                    return found
                pos = min(pos + _CHUNK, region_end)
        return -1

    def is_hole(self, offset: int, size: int) -> bool:
        """Whether [offset, offset+size) lies in a hole of a sparse file (reads as zeros
        without reading anything); False when that cannot be told."""
        return size > 0 and self._data_region(offset, offset + size)[0] >= offset + size

    def _data_region(self, pos: int, end: int) -> tuple[int, int]:
        """(the first offset >= pos not in a hole, where that data ends): the whole rest
        of the file when holes cannot be told (no fd, a file system without SEEK_DATA)."""
        if self.fd is None:
            return pos, end
        try:
            data = os.lseek(self.fd, pos, os.SEEK_DATA)
            hole = os.lseek(self.fd, data, os.SEEK_HOLE)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                return end, end
            return pos, end
        return data, min(hole, end)

    def release(self, offset: int, size: int) -> None:
        """Let go of the pages of [offset, offset+size) read so far (MADV_DONTNEED: a
        read-only file mapping reads them again if touched): what streams through a large
        table is not kept resident."""
        if not isinstance(self.data, mmap.mmap) or size < _CHUNK // 4:
            return
        page = mmap.PAGESIZE
        lo = offset // page * page
        hi = min(self.size, -(-(offset + size) // page) * page)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self.data.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def section_data(self, sec: SectionHeader) -> memoryview:
        if sec.type == "NOBITS":
            return memoryview(b"")
        return self.read(sec.offset, sec.size)

    def vaddr_to_offset(self, vaddr: int, size: int = 1) -> int | None:
        """File offset of virtual address `vaddr` through the PT_LOAD segments."""
        for seg in self.segments:
            if (
                seg.type == PT_LOAD
                and seg.vaddr <= vaddr
                and vaddr + size <= seg.vaddr + seg.filesz
            ):
                return seg.offset + (vaddr - seg.vaddr)
        return None

    def read_vaddr(self, vaddr: int, size: int) -> memoryview | None:
        off = self.vaddr_to_offset(vaddr, size)
        return None if off is None else self.read(off, size)


def _check_path(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise BinaryError(path, "no such file") from None
    except PermissionError:
        raise BinaryError(path, "permission denied") from None
    except OSError as exc:
        raise BinaryError(path, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise BinaryError(path, "is a directory, not a binary")
    if not stat.S_ISREG(st.st_mode):
        raise BinaryError(path, "is not a regular file")
    if st.st_size == 0:
        raise BinaryError(path, "empty file, not an ELF binary")


_SHT_NAMES = {
    "SHT_GNU_versym": "VERSYM",
    "SHT_GNU_verneed": "VERNEED",
    "SHT_GNU_verdef": "VERDEF",
    "SHT_GNU_HASH": "GNU_HASH",
    "SHT_GNU_ATTRIBUTES": "GNU_ATTRIBUTES",
    "SHT_AMD64_UNWIND": "X86_64_UNWIND",
}
_SHT_BY_MACHINE = {
    "EM_ARM": "ARM",
    "EM_AARCH64": "AARCH64",
    "EM_X86_64": "AMD64",
    "EM_MIPS": "MIPS",
    "EM_RISCV": "RISCV",
}


@functools.cache
def _structs(little_endian: bool, elfclass: int) -> Any:
    from elftools.elf.structs import ELFStructs  # the ELF vocabulary, without DWARF & co.

    structs = ELFStructs(little_endian=little_endian, elfclass=elfclass)
    structs.create_basic_structs()
    return structs


@functools.cache
def _section_type_names(machine: str) -> dict[int, str]:
    """sh_type -> readelf's spelling, from pyelftools' tables for this machine."""
    from elftools.elf import enums

    table = getattr(enums, f"ENUM_SH_TYPE_{_SHT_BY_MACHINE.get(machine, 'BASE')}")
    return {
        value: _SHT_NAMES.get(name, name.removeprefix("SHT_"))
        for name, value in table.items()
        if isinstance(value, int) and name != "_default_"
    }


def _parse(path: str, data: mmap.mmap | bytes, size: int) -> ElfImage:
    """Header by pyelftools; section and program header tables unpacked in bulk.

    Every table is checked against the file size before it is read, so no corrupt
    count or offset can make us allocate, seek or loop beyond the file.
    """
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2):
        raise BinaryError(path, f"corrupt ELF header: unknown class {ei_class}")
    if ei_data not in (1, 2):
        raise BinaryError(path, f"corrupt ELF header: unknown byte order {ei_data}")
    is64, little = ei_class == 2, ei_data == 1
    ehsize = 64 if is64 else 52
    if size < ehsize:
        raise BinaryError(path, f"truncated ELF: {size} bytes, shorter than its own header")
    hdr = _structs(little, 64 if is64 else 32).Elf_Ehdr.parse(bytes(data[:ehsize]))
    end = "<" if little else ">"

    phnum, phentsize, phoff = hdr["e_phnum"], hdr["e_phentsize"], hdr["e_phoff"]
    phfmt = end + ("IIQQQQQQ" if is64 else "IIIIIIII")
    segments = []
    if phnum:
        if phentsize != struct.calcsize(phfmt):
            raise BinaryError(path, f"corrupt ELF header: program header size {phentsize}")
        if phoff + phnum * phentsize > size:
            raise BinaryError(
                path, "truncated or corrupt ELF: program headers lie past the end of the file"
            )
        for ph in struct.iter_unpack(phfmt, data[phoff : phoff + phnum * phentsize]):
            if is64:
                p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = ph
            else:
                p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, _ = ph
            segments.append(SegmentHeader(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_memsz))

    sections = []
    shoff, shentsize = hdr["e_shoff"], hdr["e_shentsize"]
    shfmt = end + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    if shoff:
        if shentsize != struct.calcsize(shfmt):
            raise BinaryError(path, f"corrupt ELF header: section header size {shentsize}")
        if shoff + shentsize > size:
            raise BinaryError(
                path, "truncated or corrupt ELF: section headers lie past the end of the file"
            )
        shnum, shstrndx = hdr["e_shnum"], hdr["e_shstrndx"]
        first = struct.unpack_from(shfmt, data, shoff)
        if shnum == 0:  # extended numbering: the count lives in section 0's sh_size
            shnum = first[5]
        if shstrndx == 0xFFFF:  # SHN_XINDEX: the index lives in section 0's sh_link
            shstrndx = first[6]
        if shoff + shnum * shentsize > size:
            raise BinaryError(
                path, "truncated or corrupt ELF: section headers lie past the end of the file"
            )
        if shstrndx >= shnum:
            raise BinaryError(path, f"corrupt ELF header: section name table index {shstrndx}")
        table = list(struct.iter_unpack(shfmt, data[shoff : shoff + shnum * shentsize]))
        names_at, names_size = table[shstrndx][4], table[shstrndx][5]
        if shstrndx and names_at + names_size > size:
            raise BinaryError(
                path, "truncated or corrupt ELF: section name table lies past the end of the file"
            )
        # Only what the headers' name offsets can reach (a corrupt sh_size may claim the
        # whole file): the largest offset plus the longest name read.
        reach = max((row[0] for row in table), default=0) + MAX_STRING
        names = bytes(data[names_at : names_at + min(names_size, reach)]) if shstrndx else b""
        type_names = _section_type_names(str(hdr["e_machine"]))
        section_names = cstrings(path, names, {row[0] for row in table})
        # Elf32_Shdr and Elf64_Shdr share the field order; only the widths differ.
        for i, (name, sh_type, flags, addr, offset, sh_size, link, _, _, entsize) in enumerate(
            table
        ):
            sections.append(
                SectionHeader(
                    i,
                    section_names[name],
                    type_names.get(sh_type, f"0x{sh_type:x}"),
                    flags,
                    addr,
                    offset,
                    sh_size,
                    entsize,
                    link,
                )
            )

    return ElfImage(
        path=path,
        size=size,
        data=data,
        elfclass=64 if is64 else 32,
        little_endian=little,
        e_type=str(hdr["e_type"]),
        e_machine=str(hdr["e_machine"]),
        e_machine_num=struct.unpack_from(end + "H", data, 18)[0],
        entry=hdr["e_entry"],
        sections=tuple(sections),
        segments=tuple(segments),
        header_tables=(
            ("ELF header", 0, ehsize),
            ("program headers", phoff, phnum * phentsize if phnum else 0),
            ("section headers", shoff, len(sections) * shentsize if shoff else 0),
        ),
    )


_DEBUG_NAMES = (".debug", ".zdebug", ".gdb_index", ".stab")


def is_debug_section(sec: SectionHeader) -> bool:
    return not sec.flags & SHF_ALLOC and sec.name.startswith(_DEBUG_NAMES)


def cstring(table: bytes, offset: int) -> str:
    """The NUL-terminated string at `offset` of a string table ("" when out of range)."""
    if not 0 <= offset < len(table):
        return ""
    limit = min(len(table), offset + MAX_STRING)  # each name costs at most MAX_STRING
    stop = table.find(b"\0", offset, limit)
    return table[offset : stop if stop >= 0 else limit].decode("utf-8", "replace")


def cstrings(path: str, table: bytes, offsets: set[int]) -> dict[int, str]:
    """The strings at these offsets of a string table, as cstring reads them.

    Distinct offsets into one long string would each cost its length (a crafted table
    can make that quadratic): more bytes of strings than twice the table (+1 MiB) is
    corruption, never gigabytes of names."""
    out: dict[int, str] = {}
    budget = 2 * len(table) + (1 << 20)
    for offset in offsets:
        out[offset] = name = cstring(table, offset)
        budget -= len(name) + 1
        if budget < 0:
            raise BinaryError(
                path,
                "corrupt ELF: names overlap (reading them takes more than twice "
                "their string table)",
            )
    return out


def _check_contents(img: ElfImage) -> None:
    """Every section and segment that claims file bytes must have them (truncation)."""
    for sec in img.sections:
        if sec.type != "NOBITS" and sec.type != "NULL" and sec.offset + sec.size > img.size:
            raise BinaryError(
                img.path,
                f"truncated or corrupt ELF: section {sec.name or sec.number} ends at byte "
                f"{sec.offset + sec.size}, past the end of the file ({img.size} bytes)",
            )
    for seg in img.segments:
        if seg.filesz and seg.offset + seg.filesz > img.size:
            raise BinaryError(
                img.path,
                f"truncated or corrupt ELF: a segment ends at byte {seg.offset + seg.filesz}, "
                f"past the end of the file ({img.size} bytes)",
            )


@contextmanager
def open_elf(path: str | Path) -> Iterator[ElfImage]:
    """Open `path` as ELF; every failure becomes a one-line BinaryError naming the file."""
    p = Path(path)
    _check_path(p)
    try:
        f = p.open("rb")
    except OSError as exc:
        raise BinaryError(p, f"cannot open: {exc.strerror or exc}") from None
    with f:
        head = f.read(64)
        if not head.startswith(ELF_MAGIC):
            from gate.read.filekind import describe_not_elf  # what it is instead

            raise BinaryError(p, describe_not_elf(head + f.read(448), p.name))
        if len(head) < 16:
            raise BinaryError(p, f"truncated ELF: only {len(head)} bytes")
        try:
            data: mmap.mmap | bytes = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):
            f.seek(0)
            data = f.read()
        size = len(data)
        key = shrink.guard(data) if isinstance(data, mmap.mmap) else None
        try:
            try:
                try:
                    img = _parse(str(p), data, size)
                except BinaryError:
                    raise
                except CORRUPTION_ERRORS as exc:
                    raise BinaryError(p, f"corrupt ELF: {_describe(exc)}") from exc
                _check_contents(img)
                img.fd = f.fileno()
                yield img
            except Exception:
                # What the zeros past a shrunk file's end made of it is no finding.
                _check_unchanged(p, key, size, f.fileno())
                raise
            _check_unchanged(p, key, size, f.fileno())
        finally:
            shrink.unguard(key)
            if isinstance(data, mmap.mmap):
                with contextlib.suppress(BufferError):  # a view is still held; GC frees it
                    data.close()


def _check_unchanged(path: Path, key: int | None, size: int, fd: int) -> None:
    """A file that shrank under its mapping (a read past its new end: see gate.read.shrink)
    is one error saying so, whatever was read."""
    if not shrink.faults(key):
        return
    try:
        now = f"{os.fstat(fd).st_size} bytes"
    except OSError:
        now = "less"
    raise BinaryError(
        path, f"changed while being read: it was {size} bytes, then {now}; read it once complete"
    )


CORRUPTION_ERRORS = _corruption_errors()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__
