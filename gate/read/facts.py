"""BinaryFacts: everything the gate judges about a binary without running it.

Only headers and small tables are read (section and program headers, the dynamic
table, the dynamic string table, `.go.buildinfo`), so a 150 MB binary with 60k
symbols is inspected in milliseconds. Counts come from section headers
(sh_size / sh_entsize), never from walking a symbol table.
"""

from __future__ import annotations

import itertools
import operator
import re
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gate.errors import BinaryError
from gate.read.elf import (
    CORRUPTION_ERRORS,
    MAX_STRING,
    PF_X,
    PT_DYNAMIC,
    PT_INTERP,
    SHF_ALLOC,
    SHF_COMPRESSED,
    SHF_EXECINSTR,
    SHF_WRITE,
    ElfImage,
    SectionHeader,
    cstrings,
    is_debug_section,
    open_elf,
)
from gate.read.gobuild import BuildInfoError, GoBuild, read_go_build
from gate.read.sections import section_groups
from gate.read.toolchain import Toolchain, detect

PT_PHDR = 6
PT_GNU_STACK = 0x6474E551
PT_GNU_RELRO = 0x6474E552

DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ = 0, 1, 5, 10
DT_SONAME, DT_RPATH, DT_TEXTREL, DT_BIND_NOW = 14, 15, 22, 24
DT_RUNPATH, DT_FLAGS, DT_FLAGS_1 = 29, 30, 0x6FFFFFFB
DF_TEXTREL, DF_BIND_NOW = 0x4, 0x8
DF_1_NOW, DF_1_PIE = 0x1, 0x08000000
_STRING_TAGS = (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH)

_MACHINES = {
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390",
    40: "arm",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
    258: "loongarch",
    43: "sparcv9",
}
# readelf's letters for section flags, in its order.
_FLAG_LETTERS = (
    (0x1, "W"),
    (0x2, "A"),
    (0x4, "X"),
    (0x10, "M"),
    (0x20, "S"),
    (0x40, "I"),
    (0x80, "L"),
    (0x100, "O"),
    (0x200, "G"),
    (0x400, "T"),
    (0x800, "C"),
    (0x200000, "R"),
    (0x80000000, "E"),
)
# A dynamic table has tens of entries; this many without its DT_NULL is corruption.
_MAX_DYNAMIC = 1 << 16
_MAX_PATH = 4096  # PATH_MAX: the longest interpreter path the kernel takes
_CANARY = re.compile(rb"\x00(?:__stack_chk_fail|__stack_chk_fail_local)(?=[\x00@])")
_FORTIFY = re.compile(rb"\x00(__[A-Za-z0-9_]+_chk)(?=[\x00@])")


@dataclass(frozen=True)
class Section:
    name: str
    type: str
    size: int
    flags: str  # readelf's letters, e.g. "AX"
    address: int
    offset: int


@dataclass(frozen=True)
class ElfInfo:
    elf_class: int  # 32 or 64
    machine: str
    type: str  # exec | pie | static-pie | shared-object (| relocatable | core)
    entry: int
    endian: str


@dataclass(frozen=True)
class Linking:
    static: bool
    interpreter: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    soname: str | None
    # Entries of the loaded relocation sections (SHF_ALLOC SHT_RELA/SHT_REL): what
    # `readelf -r` lists and the dynamic loader applies at every start (a PIE's are mostly
    # relative). Counted from sh_size / sh_entsize, never entry by entry.
    relocations: int = 0


@dataclass(frozen=True)
class SizeGroup:
    """Bytes of the file in one group; the groups add up to the file size. The same groups,
    from the same rule, as `gate size --by section` and the results' attribution."""

    name: str
    bytes: int


@dataclass(frozen=True)
class Totals:
    """Allocated section bytes by flags (text: executable, data: writable, rodata: neither),
    as readelf -S shows them; `groups` is where every byte of the file is."""

    text: int
    rodata: int
    data: int
    bss: int
    symbols: int
    debug: int


@dataclass(frozen=True)
class Symbols:
    stripped: bool
    symtab_entries: int
    dynsym_entries: int


@dataclass(frozen=True)
class Debug:
    present: bool
    compressed: bool
    bytes: int
    sections: tuple[str, ...]


@dataclass(frozen=True)
class Hardening:
    nx: bool
    relro: str  # none | partial | full
    bind_now: bool
    textrel: bool
    canary: bool
    fortify: bool
    fortified: tuple[str, ...]  # the *_chk functions imported


@dataclass(frozen=True)
class BinaryFacts:
    path: str
    file_size: int
    elf: ElfInfo
    linking: Linking
    sections: tuple[Section, ...]
    totals: Totals
    groups: tuple[SizeGroup, ...]  # largest first; add up to file_size
    symbols: Symbols
    debug: Debug
    hardening: Hardening
    go: GoBuild | None
    toolchain: Toolchain  # the language and compiler that built it (gate/read/toolchain.py)


def section_flags(flags: int) -> str:
    return "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)


def _totals(img: ElfImage) -> Totals:
    text = rodata = data = bss = symbols = debug = 0
    symtab_strtabs = {s.link for s in img.sections if s.type == "SYMTAB"}
    for sec in img.sections:
        if sec.flags & SHF_ALLOC:
            if sec.type == "NOBITS":
                bss += sec.size
            elif sec.flags & SHF_EXECINSTR:
                text += sec.size
            elif sec.flags & SHF_WRITE:
                data += sec.size
            else:
                rodata += sec.size
        elif sec.type == "SYMTAB" or sec.number in symtab_strtabs:
            symbols += sec.size
        elif is_debug_section(sec):
            debug += sec.in_file
    return Totals(text, rodata, data, bss, symbols, debug)


class _Dynamic(NamedTuple):
    """The dynamic table and its string table (internal, so a light NamedTuple)."""

    tags: tuple[tuple[int, int], ...]
    strtab: memoryview  # in the file's mapping: not copied, however large DT_STRSZ says
    strtab_at: int = 0  # its offset in the file

    def values(self, tag: int) -> list[int]:
        return [v for t, v in self.tags if t == tag]

    def strings(self, path: str) -> dict[int, list[str]]:
        """The names the string tags (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH) give, by tag.

        Each offset is read once, as far as MAX_STRING; all the names together (repeats
        included, as they are reported) may take at most twice the string table + 1 MiB.
        Thousands of entries at distinct offsets into one long NUL-less table (or at one
        offset) are corruption, not gigabytes of names."""
        found = [(t, v) for t, v in self.tags if t in _STRING_TAGS]
        out: dict[int, list[str]] = {tag: [] for tag in _STRING_TAGS}
        if not found:
            return out
        # Only what the names can reach is copied (a corrupt DT_STRSZ may claim the file).
        table = bytes(self.strtab[: max(v for _, v in found) + MAX_STRING])
        names = cstrings(path, table, {v for _, v in found})
        budget = 2 * len(table) + (1 << 20)
        for tag, value in found:
            budget -= len(names[value]) + 1
            if budget < 0:
                raise BinaryError(
                    path,
                    "corrupt ELF: the dynamic table's names overlap (reading them takes more "
                    "than twice their string table)",
                )
            out[tag].append(names[value])
        return out

    def flags(self, tag: int) -> int:
        out = 0
        for v in self.values(tag):
            out |= v
        return out


def _dynamic(img: ElfImage) -> _Dynamic:
    seg = next((s for s in img.segments if s.type == PT_DYNAMIC), None)
    if seg is None:
        return _Dynamic((), memoryview(b""))
    fmt = img.endian + ("qQ" if img.elfclass == 64 else "iI")
    entsize = struct.calcsize(fmt)
    count = min(seg.filesz // entsize, _MAX_DYNAMIC + 1)
    raw = img.read(seg.offset, count * entsize)
    tags = []
    for tag, value in struct.iter_unpack(fmt, raw):
        if tag == DT_NULL:
            break
        tags.append((tag, value))
    else:
        if count > _MAX_DYNAMIC:
            raise BinaryError(
                img.path, f"corrupt ELF: no end to the dynamic table in {_MAX_DYNAMIC:,} entries"
            )
    strtab = memoryview(b"")
    addr = next((v for t, v in tags if t == DT_STRTAB), None)
    size = next((v for t, v in tags if t == DT_STRSZ), 0)
    if addr is not None and size:
        at = img.vaddr_to_offset(addr, size)
        view = img.read_vaddr(addr, size)
        if view is None:  # DT_STRTAB not inside a PT_LOAD: trust the section header
            sec = img.section(".dynstr")
            view = img.section_data(sec) if sec else None
            at = sec.offset if sec else None
        if view is None or at is None:
            raise BinaryError(img.path, "corrupt ELF: dynamic string table outside the file")
        return _Dynamic(tuple(tags), view, at)
    return _Dynamic(tuple(tags), strtab)


def _interpreter(img: ElfImage) -> str | None:
    for seg in img.segments:
        if seg.type == PT_INTERP:
            return (
                bytes(img.read(seg.offset, min(seg.filesz, _MAX_PATH)))
                .split(b"\0", 1)[0]
                .decode("utf-8", "replace")
            )
    return None


def classify(e_type: str, flags_1: int, has_interp: bool, soname: str | None) -> str:
    """exec, pie, static-pie or shared-object, as hardening-check decides.

    DF_1_PIE is the linker's own statement. Without it (binutils before 2.26, Go's
    internal linker) an ET_DYN that asks for an interpreter and has no SONAME is an
    executable; a library (which may also carry an interpreter, like libc.so.6) is
    never reported as PIE.
    """
    if e_type == "ET_EXEC":
        return "exec"
    if e_type == "ET_DYN":
        if flags_1 & DF_1_PIE:
            return "pie" if has_interp else "static-pie"
        if has_interp and soname is None:
            return "pie"
        return "shared-object"
    return {"ET_REL": "relocatable", "ET_CORE": "core"}.get(e_type, e_type.lower())


def _symbol_strtab(img: ElfImage) -> tuple[memoryview, int]:
    """.symtab's string table in the mapping (searched by regex, never copied), its offset."""
    symtab = next((s for s in img.sections if s.type == "SYMTAB"), None)
    if symtab is None or not 0 < symtab.link < len(img.sections):
        return memoryview(b""), 0
    sec = img.sections[symtab.link]
    return img.section_data(sec), sec.offset


def _chunks(img: ElfImage, table: memoryview, at: int) -> Iterator[memoryview]:
    """A string table (at offset `at` of the file) in overlapping pieces, each piece's pages
    let go once searched: a regex over a huge table holds a piece at a time. A name (at
    most MAX_STRING bytes) lies whole in some piece; a match may come twice."""
    step = 16 << 20
    for start in range(0, max(1, len(table)), step):
        piece = table[start : start + step + MAX_STRING]
        if img.is_hole(at + start, len(piece)):
            continue  # zeros: no name in it
        yield piece
        img.release(at + start, len(piece))


def _imported_names(
    img: ElfImage, dynsym: SectionHeader | None, strtab: memoryview
) -> set[str] | None:
    """Names of undefined dynamic symbols, read in bulk (columns of a chunk at a time, the
    chunk's pages let go after); None without a .dynsym header."""
    if dynsym is None or not strtab or dynsym.entsize == 0:
        return None
    is64 = img.elfclass == 64
    width = 24 if is64 else 16
    if dynsym.entsize != width:
        return None
    raw = img.section_data(dynsym)
    count = len(raw) // width
    swap = img.little_endian != (struct.pack("=H", 1) == b"\x01\x00")
    offsets: set[int] = set()
    step = max(1, (16 << 20) // width)
    for first in range(0, count, step):
        stop = min(count, first + step)
        if img.is_hole(dynsym.offset + first * width, (stop - first) * width):
            offsets.add(0)  # symbols of zeros: undefined, named by offset 0
            continue
        chunk = bytes(raw[first * width : stop * width])
        img.release(dynsym.offset + first * width, len(chunk))
        names, halves = array("I"), array("H")
        names.frombytes(chunk)
        halves.frombytes(chunk)
        if swap:
            names.byteswap()
            halves.byteswap()
        # Elf64_Sym: name u32 at 0, shndx u16 at 6; Elf32_Sym: name at 0, shndx at 14.
        shndx = halves[3::12] if is64 else halves[7::8]
        offsets.update(itertools.compress(names[0 :: width // 4], map(operator.not_, shndx)))
    # Only what the names can reach is copied (a corrupt DT_STRSZ may claim the file).
    table = bytes(strtab[: max(offsets, default=0) + MAX_STRING])
    return set(cstrings(img.path, table, offsets).values())


def _protection_hints(
    img: ElfImage, dyn: _Dynamic, dynsym: SectionHeader | None
) -> tuple[bool, tuple[str, ...]]:
    """(canary, fortified functions): what checksec infers from symbol names.

    The canary hint is any dynamic symbol __stack_chk_fail (imported by a protected
    program, defined by libc, which is built protected). FORTIFY counts only
    imported *_chk functions, so a library that merely defines them is not credited.
    A static binary has no imports: its .symtab names are the hint.
    """
    imported = _imported_names(img, dynsym, dyn.strtab)
    if imported is not None:
        fortified = sorted(n.split("@")[0] for n in imported if n.endswith("_chk"))
        canary = any(_CANARY.search(p) for p in _chunks(img, dyn.strtab, dyn.strtab_at))
        return canary, tuple(fortified)
    names, at = (dyn.strtab, dyn.strtab_at) if dyn.strtab else _symbol_strtab(img)
    found: set[str] = set()
    canary = False
    for piece in _chunks(img, names, at):
        found.update(m.decode() for m in _FORTIFY.findall(piece))
        canary = canary or _CANARY.search(piece) is not None
    return canary, tuple(sorted(found))


def _entries(sec: SectionHeader | None) -> int:
    if sec is None or sec.entsize == 0:
        return 0
    return sec.size // sec.entsize


def _relocations(img: ElfImage) -> int:
    """Dynamic relocations: the entries of every allocated REL/RELA section."""
    return sum(
        _entries(s) for s in img.sections if s.type in ("RELA", "REL") and s.flags & SHF_ALLOC
    )


def _facts(img: ElfImage) -> BinaryFacts:
    dyn = _dynamic(img)
    interp = _interpreter(img)
    strings = dyn.strings(img.path)
    needed = tuple(strings[DT_NEEDED])
    sonames = strings[DT_SONAME]
    soname = sonames[0] if sonames else None
    flags = dyn.flags(DT_FLAGS)
    flags_1 = dyn.flags(DT_FLAGS_1)
    seg_types = {s.type for s in img.segments}

    elf = ElfInfo(
        elf_class=img.elfclass,
        machine=_MACHINES.get(img.e_machine_num, img.e_machine.removeprefix("EM_").lower()),
        type=classify(img.e_type, flags_1, interp is not None, soname),
        entry=img.entry,
        endian="little" if img.little_endian else "big",
    )
    linking = Linking(
        static=interp is None and not needed,
        interpreter=interp,
        needed=needed,
        rpath=tuple(p for v in strings[DT_RPATH] for p in v.split(":") if p),
        runpath=tuple(p for v in strings[DT_RUNPATH] for p in v.split(":") if p),
        soname=soname,
        relocations=_relocations(img),
    )

    symtab = next((s for s in img.sections if s.type == "SYMTAB"), None)
    dynsym = next((s for s in img.sections if s.type == "DYNSYM"), None)
    symbols = Symbols(symtab is None, _entries(symtab), _entries(dynsym))

    debug_secs = [s for s in img.sections if is_debug_section(s)]
    debug = Debug(
        present=bool(debug_secs),
        compressed=any(
            s.flags & SHF_COMPRESSED or s.name.startswith(".zdebug") for s in debug_secs
        ),
        bytes=sum(s.in_file for s in debug_secs),
        sections=tuple(s.name for s in debug_secs),
    )

    bind_now = (
        bool(dyn.values(DT_BIND_NOW)) or bool(flags & DF_BIND_NOW) or bool(flags_1 & DF_1_NOW)
    )
    stack = next((s for s in img.segments if s.type == PT_GNU_STACK), None)
    canary, fortified = _protection_hints(img, dyn, dynsym)
    hardening = Hardening(
        nx=stack is not None and not stack.flags & PF_X,
        relro=("full" if bind_now else "partial") if PT_GNU_RELRO in seg_types else "none",
        bind_now=bind_now,
        textrel=bool(dyn.values(DT_TEXTREL)) or bool(flags & DF_TEXTREL),
        canary=canary,
        fortify=bool(fortified),
        fortified=fortified,
    )

    try:
        go = read_go_build(img)
    except BuildInfoError as exc:
        raise BinaryError(img.path, f"corrupt Go build info: {exc}") from None
    toolchain = detect(img, go, needed, dyn.strtab, dyn.strtab_at, canary, fortified)

    return BinaryFacts(
        path=img.path,
        file_size=img.size,
        elf=elf,
        linking=linking,
        sections=tuple(
            Section(s.name, s.type, s.size, section_flags(s.flags), s.addr, s.offset)
            for s in img.sections
            if s.number != 0 or s.type != "NULL"
        ),
        totals=_totals(img),
        groups=tuple(SizeGroup(*g) for g in section_groups(img)[0]),
        symbols=symbols,
        debug=debug,
        hardening=hardening,
        go=go,
        toolchain=toolchain,
    )


def inspect_binary(path: str | Path) -> BinaryFacts:
    """Facts of one binary; any problem with the file is a one-line BinaryError."""
    with open_elf(path) as img:
        try:
            return _facts(img)
        except BinaryError:
            raise
        except CORRUPTION_ERRORS as exc:  # corrupt tables surface as struct/index errors
            raise BinaryError(path, f"corrupt ELF: {type(exc).__name__}: {exc}") from exc
