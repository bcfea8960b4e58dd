"""Structural ELF mutants (issue 14, Hostile binaries); tests/gate_forkserver.py runs gate
on them.

Pure and deterministic: `layout(data)` reads where a real ELF file keeps its headers and
tables (ELFCLASS32 and ELFCLASS64, either byte order), and every mutation is a NAMED
function of (the file, its layout, a seed) -> the mutated bytes and a one-line detail
(which field, which value). `mutant(data, name, seed)` reproduces any one of them exactly;
`mutants(data, seed, count)` draws `count` of them, each with its own name and seed, so a
failure reads as "ehdr.e_shoff seed 123456 on go1.27-hello-sw" and is a regression case
by itself.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

MB = 1 << 20

# ---------------------------------------------------------------- layout


class Sec(NamedTuple):
    index: int
    name: str
    type: int
    offset: int
    size: int
    link: int
    entsize: int
    hdr: int  # file offset of its section header


class Seg(NamedTuple):
    index: int
    type: int
    offset: int
    filesz: int
    memsz: int
    vaddr: int
    hdr: int  # file offset of its program header


# Field -> (offset, struct code) in the ELF header, by class.
_EHDR = {
    64: {
        "e_type": (16, "H"),
        "e_phoff": (32, "Q"),
        "e_shoff": (40, "Q"),
        "e_ehsize": (52, "H"),
        "e_phentsize": (54, "H"),
        "e_phnum": (56, "H"),
        "e_shentsize": (58, "H"),
        "e_shnum": (60, "H"),
        "e_shstrndx": (62, "H"),
    },
    32: {
        "e_type": (16, "H"),
        "e_phoff": (28, "I"),
        "e_shoff": (32, "I"),
        "e_ehsize": (40, "H"),
        "e_phentsize": (42, "H"),
        "e_phnum": (44, "H"),
        "e_shentsize": (46, "H"),
        "e_shnum": (48, "H"),
        "e_shstrndx": (50, "H"),
    },
}
_SHDR = {
    64: {
        "sh_name": (0, "I"),
        "sh_type": (4, "I"),
        "sh_flags": (8, "Q"),
        "sh_addr": (16, "Q"),
        "sh_offset": (24, "Q"),
        "sh_size": (32, "Q"),
        "sh_link": (40, "I"),
        "sh_info": (44, "I"),
        "sh_entsize": (56, "Q"),
    },
    32: {
        "sh_name": (0, "I"),
        "sh_type": (4, "I"),
        "sh_flags": (8, "I"),
        "sh_addr": (12, "I"),
        "sh_offset": (16, "I"),
        "sh_size": (20, "I"),
        "sh_link": (24, "I"),
        "sh_info": (28, "I"),
        "sh_entsize": (36, "I"),
    },
}
_PHDR = {
    64: {
        "p_type": (0, "I"),
        "p_flags": (4, "I"),
        "p_offset": (8, "Q"),
        "p_vaddr": (16, "Q"),
        "p_filesz": (32, "Q"),
        "p_memsz": (40, "Q"),
    },
    32: {
        "p_type": (0, "I"),
        "p_offset": (4, "I"),
        "p_vaddr": (8, "I"),
        "p_filesz": (16, "I"),
        "p_memsz": (20, "I"),
        "p_flags": (24, "I"),
    },
}
SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_DYNAMIC = 0, 1, 2, 3, 6
SHT_NOTE, SHT_NOBITS, SHT_DYNSYM = 7, 8, 11
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR = 1, 2, 3, 4, 6
PT_GNU_STACK, PT_GNU_RELRO = 0x6474E551, 0x6474E552
PCLN_MAGICS = (0xFFFFFFFA, 0xFFFFFFF0, 0xFFFFFFF1)  # go1.16, go1.18, go1.20
BUILDINFO_MAGIC = b"\xff Go buildinf:"


@dataclass(frozen=True)
class Layout:
    """Where a (valid) ELF file keeps its headers and tables."""

    size: int
    bits: int  # 32 or 64
    end: str  # "<" or ">"
    shoff: int
    shentsize: int
    phoff: int
    phentsize: int
    sections: tuple[Sec, ...]
    segments: tuple[Seg, ...]

    @property
    def word(self) -> str:
        return "Q" if self.bits == 64 else "I"

    def section(self, name: str) -> Sec | None:
        return next((s for s in self.sections if s.name == name), None)

    def of_type(self, *types: int) -> list[Sec]:
        return [s for s in self.sections if s.type in types]

    def in_file(self, sec: Sec) -> bool:
        return sec.type not in (SHT_NULL, SHT_NOBITS) and sec.offset + sec.size <= self.size

    def segment(self, p_type: int) -> Seg | None:
        return next((s for s in self.segments if s.type == p_type), None)


def layout(data: bytes) -> Layout:
    """The layout of an intact ELF file (ValueError when it is not one)."""
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError("not an ELF file")
    bits = 64 if data[4] == 2 else 32
    end = "<" if data[5] == 1 else ">"

    def ehdr(name: str) -> int:
        at, code = _EHDR[bits][name]
        return int(struct.unpack_from(end + code, data, at)[0])

    shoff, shentsize, shnum = ehdr("e_shoff"), ehdr("e_shentsize"), ehdr("e_shnum")
    phoff, phentsize, phnum = ehdr("e_phoff"), ehdr("e_phentsize"), ehdr("e_phnum")
    if shoff and shnum == 0:
        shnum = _field(data, bits, end, _SHDR, shoff, "sh_size")
    shstrndx = ehdr("e_shstrndx")
    if shoff and shstrndx == 0xFFFF:
        shstrndx = _field(data, bits, end, _SHDR, shoff, "sh_link")
    raw = []
    for i in range(shnum if shoff else 0):
        at = shoff + i * shentsize
        raw.append([at] + [_field(data, bits, end, _SHDR, at, f) for f in _SEC_FIELDS])
    names = b""
    if raw and shstrndx < len(raw):
        _, _, _, off, size, _, _ = raw[shstrndx]
        names = data[off : off + size]
    sections = []
    for i, (at, name, sh_type, off, size, link, entsize) in enumerate(raw):
        stop = names.find(b"\0", name)
        text = names[name : stop if stop >= 0 else len(names)].decode("latin-1")
        sections.append(Sec(i, text, sh_type, off, size, link, entsize, at))
    segments = []
    for i in range(phnum):
        at = phoff + i * phentsize
        fields = [_field(data, bits, end, _PHDR, at, f) for f in _SEG_FIELDS]
        segments.append(Seg(i, *fields, at))
    return Layout(
        len(data), bits, end, shoff, shentsize, phoff, phentsize, tuple(sections), tuple(segments)
    )


_SEC_FIELDS = ("sh_name", "sh_type", "sh_offset", "sh_size", "sh_link", "sh_entsize")
_SEG_FIELDS = ("p_type", "p_offset", "p_filesz", "p_memsz", "p_vaddr")


def _field(data: bytes, bits: int, end: str, table: dict, at: int, name: str) -> int:
    off, code = table[bits][name]
    return int(struct.unpack_from(end + code, data, at + off)[0])


# ---------------------------------------------------------------- values


def _put(buf: bytearray, at: int, end: str, code: str, value: int) -> None:
    width = struct.calcsize(code)
    if at >= 0 and at + width <= len(buf):
        struct.pack_into(end + code, buf, at, value & ((1 << (8 * width)) - 1))


def _get(buf: bytes | bytearray, at: int, end: str, code: str) -> int:
    return int(struct.unpack_from(end + code, buf, at)[0])


VALUE_KINDS = ("zero", "max", "sign", "plus1", "minus1", "eof", "past_eof", "near_eof", "random")


def hostile_value(rng: random.Random, current: int, code: str, size: int) -> tuple[int, str]:
    """A value for a field of struct type `code` now holding `current`, in a file of
    `size` bytes: 0, the largest, the sign bit, off by one, at or past the end, random."""
    bits = 8 * struct.calcsize(code)
    kind = rng.choice(VALUE_KINDS)
    value = {
        "zero": 0,
        "max": (1 << bits) - 1,
        "sign": 1 << (bits - 1),
        "plus1": current + 1,
        "minus1": current - 1,
        "eof": size,
        "past_eof": size + rng.randrange(1, 1 << 16),
        "near_eof": max(0, size - rng.randrange(1, 64)),
        "random": rng.getrandbits(bits),
    }[kind]
    value &= (1 << bits) - 1
    return value, f"{kind}={value:#x}"


# ---------------------------------------------------------------- mutations

Mutation = Callable[[bytearray, Layout, random.Random], "str | None"]
MUTATIONS: dict[str, Mutation] = {}


def mutation(name: str) -> Callable[[Mutation], Mutation]:
    def register(fn: Mutation) -> Mutation:
        MUTATIONS[name] = fn
        return fn

    return register


def _ehdr_field(name: str) -> Mutation:
    def mutate(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
        at, code = _EHDR[lay.bits][name]
        value, detail = hostile_value(rng, _get(buf, at, lay.end, code), code, lay.size)
        _put(buf, at, lay.end, code, value)
        return detail

    return mutate


for _name in ("e_shoff", "e_shnum", "e_shstrndx", "e_phoff", "e_phnum", "e_shentsize"):
    mutation(f"ehdr.{_name}")(_ehdr_field(_name))
for _name in ("e_phentsize", "e_ehsize", "e_type"):
    mutation(f"ehdr.{_name}")(_ehdr_field(_name))


@mutation("ehdr.ident")
def _ident(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """The other class or byte order (every field then reads as something else)."""
    at = rng.choice((4, 5))
    buf[at] = rng.choice([v for v in (0, 1, 2, 3, 0xFF) if v != buf[at]])
    return f"e_ident[{at}]={buf[at]}"


def _pick_section(lay: Layout, rng: random.Random) -> Sec | None:
    return rng.choice(lay.sections[1:]) if len(lay.sections) > 1 else None


def _shdr_field(name: str) -> Mutation:
    def mutate(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
        sec = _pick_section(lay, rng)
        if sec is None:
            return None
        off, code = _SHDR[lay.bits][name]
        current = _get(buf, sec.hdr + off, lay.end, code)
        if name == "sh_size" and rng.random() < 0.3:  # reach exactly past the end
            value, detail = lay.size - sec.offset + rng.randrange(1, 64), "past_eof"
        elif name == "sh_link" and rng.random() < 0.5:  # another section, or itself
            value = rng.choice([sec.index, len(lay.sections), 0, rng.randrange(len(lay.sections))])
            detail = f"link={value}"
        else:
            value, detail = hostile_value(rng, current, code, lay.size)
        _put(buf, sec.hdr + off, lay.end, code, value)
        return f"{sec.name or sec.index}: {detail}"

    return mutate


for _name in ("sh_offset", "sh_size", "sh_name", "sh_link", "sh_entsize", "sh_flags", "sh_addr"):
    mutation(f"shdr.{_name}")(_shdr_field(_name))

_TYPES = (SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_DYNAMIC, SHT_NOTE, SHT_NOBITS)
_TYPES += (SHT_DYNSYM, 0x6FFFFFF6, 0x6FFFFFFF, 0x70000001, 0xFFFFFFFF)


@mutation("shdr.sh_type")
def _sh_type(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """A section of another type: a string table read as symbols, code as NOBITS, ..."""
    sec = _pick_section(lay, rng)
    if sec is None:
        return None
    new = rng.choice([t for t in _TYPES if t != sec.type])
    _put(buf, sec.hdr + _SHDR[lay.bits]["sh_type"][0], lay.end, "I", new)
    return f"{sec.name}: type {sec.type:#x} -> {new:#x}"


@mutation("shdr.overlap")
def _overlap(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """A section moved over another section, or over the ELF/section/program headers."""
    sec = _pick_section(lay, rng)
    if sec is None:
        return None
    headers = len(lay.sections) * lay.shentsize
    targets = [("ELF header", 0, 64), ("section headers", lay.shoff, headers)]
    targets.append(("program headers", lay.phoff, len(lay.segments) * lay.phentsize))
    targets += [(s.name, s.offset, s.size) for s in lay.sections[1:] if lay.in_file(s)]
    what, at, size = rng.choice(targets)
    if rng.random() < 0.5:
        at += rng.randrange(max(1, size))
    off_at, code = _SHDR[lay.bits]["sh_offset"]
    _put(buf, sec.hdr + off_at, lay.end, code, at)
    if rng.random() < 0.5:
        size_at, _ = _SHDR[lay.bits]["sh_size"]
        _put(buf, sec.hdr + size_at, lay.end, code, max(size, 1))
    return f"{sec.name} over {what} at {at:#x}"


@mutation("shdr.swap")
def _swap_headers(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """Two section headers trade places (names, links and indexes no longer agree)."""
    if len(lay.sections) < 3:
        return None
    a, b = rng.sample(lay.sections[1:], 2)
    n = lay.shentsize
    buf[a.hdr : a.hdr + n], buf[b.hdr : b.hdr + n] = buf[b.hdr : b.hdr + n], buf[a.hdr : a.hdr + n]
    return f"{a.name} <-> {b.name}"


def _phdr_field(name: str) -> Mutation:
    def mutate(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
        if not lay.segments:
            return None
        seg = rng.choice(lay.segments)
        off, code = _PHDR[lay.bits][name]
        value, detail = hostile_value(rng, _get(buf, seg.hdr + off, lay.end, code), code, lay.size)
        _put(buf, seg.hdr + off, lay.end, code, value)
        return f"segment {seg.index} (type {seg.type:#x}): {detail}"

    return mutate


for _name in ("p_offset", "p_filesz", "p_memsz", "p_vaddr", "p_flags"):
    mutation(f"phdr.{_name}")(_phdr_field(_name))


@mutation("phdr.p_type")
def _p_type(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """A segment of another type: a LOAD read as DYNAMIC, a NOTE as INTERP, ..."""
    if not lay.segments:
        return None
    seg = rng.choice(lay.segments)
    types = (PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE, PT_PHDR, PT_GNU_STACK, PT_GNU_RELRO)
    new = rng.choice([t for t in types if t != seg.type])
    _put(buf, seg.hdr, lay.end, "I", new)
    return f"segment {seg.index}: type {seg.type:#x} -> {new:#x}"


@mutation("phdr.interp_no_nul")
def _interp_no_nul(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """The interpreter path loses its NUL (and may claim the rest of the file)."""
    seg = lay.segment(PT_INTERP)
    if seg is None or seg.offset + seg.filesz > lay.size:
        return None
    for i in range(seg.offset, seg.offset + seg.filesz):
        if buf[i] == 0:
            buf[i] = ord("A")
    if rng.random() < 0.5:
        code = lay.word
        _put(buf, seg.hdr + _PHDR[lay.bits]["p_filesz"][0], lay.end, code, lay.size - seg.offset)
        return "no NUL, runs to the end of the file"
    return "no NUL"


@mutation("phdr.interp_huge")
def _interp_huge(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    seg = lay.segment(PT_INTERP)
    if seg is None:
        return None
    at, code = _PHDR[lay.bits]["p_filesz"]
    value = rng.choice(((1 << (8 * struct.calcsize(code))) - 1, lay.size, lay.size - seg.offset))
    _put(buf, seg.hdr + at, lay.end, code, value)
    return f"p_filesz={value:#x}"


@mutation("phdr.dynamic_elsewhere")
def _dynamic_elsewhere(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """PT_DYNAMIC points at some other section: its words read as tags."""
    seg = lay.segment(PT_DYNAMIC)
    targets = [s for s in lay.sections[1:] if lay.in_file(s)]
    if seg is None or not targets:
        return None
    sec = rng.choice(targets)
    code = lay.word
    _put(buf, seg.hdr + _PHDR[lay.bits]["p_offset"][0], lay.end, code, sec.offset)
    if rng.random() < 0.5:
        _put(buf, seg.hdr + _PHDR[lay.bits]["p_filesz"][0], lay.end, code, sec.size)
    return f"over {sec.name}"


DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME = 0, 1, 5, 10, 14
DT_RPATH, DT_RUNPATH, DT_FLAGS_1 = 15, 29, 0x6FFFFFFB


def _dynamic_entries(buf: bytearray, lay: Layout) -> list[tuple[int, int, int]]:
    """(file offset, tag, value) of each dynamic entry up to DT_NULL."""
    seg = lay.segment(PT_DYNAMIC)
    if seg is None or seg.offset + seg.filesz > lay.size:
        return []
    code = "qQ" if lay.bits == 64 else "iI"
    width = struct.calcsize(code)
    out = []
    for at in range(seg.offset, seg.offset + seg.filesz - width + 1, width):
        tag, value = struct.unpack_from(lay.end + code, buf, at)
        out.append((at, tag, value))
        if tag == DT_NULL:
            break
    return out


@mutation("dyn.value")
def _dyn_value(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """A dynamic entry's value (DT_STRSZ, DT_STRTAB, DT_NEEDED offsets, flags) made hostile."""
    entries = [e for e in _dynamic_entries(buf, lay) if e[1] != DT_NULL]
    if not entries:
        return None
    wanted = (DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS_1)
    pick = [e for e in entries if e[1] in wanted] or entries
    at, tag, value = rng.choice(pick)
    new, detail = hostile_value(rng, value, lay.word, lay.size)
    _put(buf, at + lay.bits // 8, lay.end, lay.word, new)
    return f"tag {tag}: {detail}"


@mutation("dyn.no_null")
def _dyn_no_null(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """No DT_NULL: the table runs on to the end of its segment (and beyond)."""
    entries = _dynamic_entries(buf, lay)
    seg = lay.segment(PT_DYNAMIC)
    if not entries or seg is None:
        return None
    width = lay.bits // 4
    for at in range(entries[-1][0], seg.offset + seg.filesz - width + 1, width):
        _put(buf, at, lay.end, lay.word, 0x6FFFFEFF)  # DT_ADDRRNGHI-ish filler: not DT_NULL
    return "DT_NULL replaced"


MAX_NAME = 64 * 1024  # the longest name gate reads (reader.MAX_STRING)


@mutation("dyn.flood")
def _dyn_flood(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """A dynamic table written over the largest loaded section: thousands of DT_NEEDED
    (or DT_RPATH) entries, each at its own offset into one long NUL-less string table.
    PT_DYNAMIC (or, in a static binary, a NOTE or GNU_STACK segment made one) points at it.
    """
    seg = lay.segment(PT_DYNAMIC) or next(
        (g for g in lay.segments if g.type in (PT_NOTE, PT_GNU_STACK)), None
    )
    loads = [g for g in lay.segments if g.type == PT_LOAD and g.offset + g.filesz <= lay.size]
    best = None
    for sec in lay.sections[1:]:
        load = next(
            (
                g
                for g in loads
                if g.offset <= sec.offset and sec.offset + sec.size <= g.offset + g.filesz
            ),
            None,
        )
        if load and lay.in_file(sec) and (best is None or sec.size > best[0].size):
            best = (sec, load)
    if seg is None or best is None:
        return None
    sec, load = best
    width = lay.bits // 4
    n = min(rng.choice((1000, 10_000, 65_536)), (sec.size - MAX_NAME) // (width + 1))
    if n < 100:
        return None
    tag = rng.choice((DT_NEEDED, DT_NEEDED, DT_RPATH, DT_RUNPATH))
    table_at = sec.offset
    names_at = table_at + (n + 3) * width
    names_size = n + MAX_NAME
    code = "qQ" if lay.bits == 64 else "iI"
    vaddr = load.vaddr + (names_at - load.offset)
    entries = [(DT_STRTAB, vaddr), (DT_STRSZ, names_size)]
    same = rng.random() < 0.3  # every entry names the same (64 KiB) string
    entries += [(tag, 0 if same else k) for k in range(n)] + [(DT_NULL, 0)]
    struct.pack_into(lay.end + code * len(entries), buf, table_at, *sum(entries, ()))
    buf[names_at : names_at + names_size] = b"A" * names_size
    off, word = _PHDR[lay.bits]["p_type"]
    _put(buf, seg.hdr + off, lay.end, word, PT_DYNAMIC)
    for name, value in (("p_offset", table_at), ("p_filesz", len(entries) * width)):
        off, word = _PHDR[lay.bits][name]
        _put(buf, seg.hdr + off, lay.end, word, value)
    where = "one offset" if same else "distinct offsets"
    return f"{n} entries of tag {tag} at {where} over {sec.name}"


def _nuls_removed(buf: bytearray, start: int, stop: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        for i in range(start, stop):
            if buf[i] == 0:
                buf[i] = ord("A")
        return "every NUL"
    count = 0
    for i in range(start, stop):
        if buf[i] == 0 and rng.random() < 0.5:
            buf[i] = ord("B")
            count += 1
    return f"{count} NULs"


@mutation("strtab.no_nuls")
def _strtab_no_nuls(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """A string table (.shstrtab, .strtab, .dynstr) with its NULs (some or all) gone."""
    tables = [s for s in lay.of_type(SHT_STRTAB) if lay.in_file(s) and s.size]
    if not tables:
        return None
    sec = rng.choice(tables)
    return f"{sec.name}: " + _nuls_removed(buf, sec.offset, sec.offset + sec.size, rng)


# .gopclntab: Go 1.18+ header: magic, 0, 0, minLC, ptrSize, then nfunc, nfiles, textStart,
# funcnameOffset, cuOffset, filetabOffset, pctabOffset, pclnOffset (go1.16 has no textStart).
_PCLN_FIELDS = {
    0xFFFFFFFA: ("nfunc", "nfiles", "funcnameOffset", "cuOffset", "filetabOffset", "pctab", "pcln"),
    0xFFFFFFF0: (
        *("nfunc", "nfiles", "textStart", "funcnameOffset"),
        *("cuOffset", "filetabOffset", "pctabOffset", "pclnOffset"),
    ),
}
_PCLN_FIELDS[0xFFFFFFF1] = _PCLN_FIELDS[0xFFFFFFF0]


class _Pcln(NamedTuple):
    at: int  # file offset of the table
    size: int
    ptr: int
    magic: int
    words: dict[str, int]


def _pcln(buf: bytearray, lay: Layout) -> _Pcln | None:
    """The function table: its section, else its magic in a read-only load segment."""
    sec = lay.section(".gopclntab") or lay.section(".data.rel.ro.gopclntab")
    if sec is None and not lay.sections:
        for seg in lay.segments:
            if seg.type != PT_LOAD or seg.offset + seg.filesz > lay.size:
                continue
            hay = bytes(buf[seg.offset : seg.offset + seg.filesz])
            for magic in PCLN_MAGICS:
                at = hay.find(struct.pack(lay.end + "I", magic) + b"\0\0")
                if at >= 0:
                    size = seg.filesz - at
                    sec = Sec(-1, ".gopclntab", SHT_PROGBITS, seg.offset + at, size, 0, 0, 0)
                    break
            if sec is not None:
                break
    if sec is None or not lay.in_file(sec) or sec.size < 72:
        return None
    magic = _get(buf, sec.offset, lay.end, "I")
    ptr = buf[sec.offset + 7]
    if magic not in _PCLN_FIELDS or ptr not in (4, 8):
        return None
    names = _PCLN_FIELDS[magic]
    code = "Q" if ptr == 8 else "I"
    words = {n: _get(buf, sec.offset + 8 + i * ptr, lay.end, code) for i, n in enumerate(names)}
    return _Pcln(sec.offset, sec.size, ptr, magic, words)


@mutation("pcln.header")
def _pcln_header(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """One word of the function table's header (magic kept)."""
    tab = _pcln(buf, lay)
    if tab is None:
        return None
    names = _PCLN_FIELDS[tab.magic]
    i = rng.randrange(len(names))
    code = "Q" if tab.ptr == 8 else "I"
    value, detail = hostile_value(rng, tab.words[names[i]], code, tab.size)
    _put(buf, tab.at + 8 + i * tab.ptr, lay.end, code, value)
    return f"{names[i]}: {detail}"


@mutation("pcln.minlc_ptrsize")
def _pcln_small(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    tab = _pcln(buf, lay)
    if tab is None:
        return None
    at = tab.at + rng.choice((4, 5, 6, 7))
    buf[at] = rng.choice((0, 1, 2, 3, 4, 8, 16, 0xFF))
    return f"byte {at - tab.at}={buf[at]}"


@mutation("pcln.magic")
def _pcln_magic(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """Another release's magic: the header read with the wrong layout."""
    tab = _pcln(buf, lay)
    if tab is None:
        return None
    new = rng.choice([m for m in PCLN_MAGICS if m != tab.magic])
    _put(buf, tab.at, lay.end, "I", new)
    return f"magic {new:#x}"


def _functab(buf: bytearray, lay: Layout, tab: _Pcln) -> tuple[int, int, int] | None:
    """(file offset of the function table, its entry width, nfunc) when it is in the file."""
    nfunc = tab.words["nfunc"]
    pcln = tab.words.get("pclnOffset", tab.words.get("pcln", 0))
    width = tab.ptr if tab.magic == 0xFFFFFFFA else 4
    if not 0 < nfunc < tab.size or pcln + (2 * nfunc + 1) * width > tab.size:
        return None
    return tab.at + pcln, width, nfunc


@mutation("pcln.functab")
def _pcln_functab(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """An entry or function offset of the function table (or the end word)."""
    tab = _pcln(buf, lay)
    ft = _functab(buf, lay, tab) if tab else None
    if ft is None:
        return None
    at, width, nfunc = ft
    i = rng.choice((rng.randrange(2 * nfunc + 1), 2 * nfunc, 0, 1))
    code = "Q" if width == 8 else "I"
    value, detail = hostile_value(rng, _get(buf, at + i * width, lay.end, code), code, lay.size)
    _put(buf, at + i * width, lay.end, code, value)
    return f"word {i} of {2 * nfunc + 1}: {detail}"


@mutation("pcln.nameoff")
def _pcln_nameoff(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """The name offset (or pcsp) of some function records: past the table, negative, ..."""
    tab = _pcln(buf, lay)
    ft = _functab(buf, lay, tab) if tab else None
    if tab is None or ft is None:
        return None
    at, width, nfunc = ft
    code = "Q" if width == 8 else "I"
    skip = tab.ptr if tab.magic == 0xFFFFFFFA else 4
    changed = []
    for _ in range(rng.choice((1, 1, 3, 50))):
        k = rng.randrange(nfunc)
        funcoff = _get(buf, at + (2 * k + 1) * width, lay.end, code)
        field_at = at + funcoff + skip + rng.choice((0, 0, 12))  # nameoff, or pcsp
        if field_at + 4 > tab.at + tab.size:
            continue
        value, detail = hostile_value(rng, _get(buf, field_at, lay.end, "I"), "I", tab.size)
        _put(buf, field_at, lay.end, "I", value)
        changed.append(f"func {k}: {detail}")
    return "; ".join(changed[:3]) or None


@mutation("pcln.names_no_nuls")
def _pcln_names(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """The function-name table with its NULs (some or all) gone, magic kept."""
    tab = _pcln(buf, lay)
    if tab is None:
        return None
    lo = tab.words["funcnameOffset"]
    hi = tab.words["cuOffset"]
    if not 0 < lo < hi <= tab.size:
        return None
    return "names: " + _nuls_removed(buf, tab.at + lo, tab.at + hi, rng)


def _buildinfo(buf: bytearray, lay: Layout) -> int | None:
    """File offset of the build info header (its section, else the first writable load)."""
    sec = lay.section(".go.buildinfo")
    if sec is not None and lay.in_file(sec):
        lo, hi = sec.offset, sec.offset + min(sec.size, 1 << 16)
    else:
        segs = [s for s in lay.segments if s.type == PT_LOAD and s.offset + s.filesz <= lay.size]
        if not segs:
            return None
        lo, hi = segs[0].offset, max(s.offset + s.filesz for s in segs)
    at = bytes(buf[lo:hi]).find(BUILDINFO_MAGIC)
    return lo + at if at >= 0 and lo + at + 48 <= lay.size else None


@mutation("binfo.header")
def _binfo_header(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """Pointer size or flags (inline/pointer format, byte order) of `.go.buildinfo`."""
    at = _buildinfo(buf, lay)
    if at is None:
        return None
    i = rng.choice((14, 15))
    buf[at + i] = rng.choice((0, 1, 2, 3, 4, 8, 0x80, 0xFF))
    return f"byte {i}={buf[at + i]}"


@mutation("binfo.varint")
def _binfo_varint(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """The inline format's length varints: huge, unterminated, or longer than the data."""
    at = _buildinfo(buf, lay)
    if at is None or not buf[at + 15] & 2:
        return None
    pos = at + 32
    if rng.random() < 0.5:  # the second string's length: skip the first string
        length, shift = 0, 0
        while pos < len(buf) and shift < 64:
            length |= (buf[pos] & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if not buf[pos - 1] & 0x80:
                break
        pos += length
        if pos + 16 > len(buf):
            return None
    kind = rng.choice(("huge", "unterminated", "max64", "past"))
    patch = {
        "huge": b"\xff\xff\xff\xff\x0f",
        "unterminated": b"\xff" * 16,
        "max64": b"\xff" * 9 + b"\x01",
        "past": bytes([0x80 | 0x7F, 0x7F]),  # 16383 bytes
    }[kind]
    buf[pos : pos + len(patch)] = patch
    return f"{kind} at +{pos - at}"


@mutation("binfo.pointer")
def _binfo_pointer(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """The pre-1.18 format's pointers (and the string headers they point at) off."""
    at = _buildinfo(buf, lay)
    if at is None:
        return None
    if buf[at + 15] & 2:
        buf[at + 15] &= ~2  # the inline format read as pointers
    ptr = buf[at + 14] if buf[at + 14] in (4, 8) else lay.bits // 8
    code = "Q" if ptr == 8 else "I"
    i = rng.choice((0, 1))
    end = ">" if buf[at + 15] & 1 else "<"
    value, detail = hostile_value(rng, _get(buf, at + 16 + i * ptr, end, code), code, lay.size)
    if rng.random() < 0.4:  # somewhere real: the header itself, or a section
        value = rng.choice([s.offset for s in lay.sections] + [0]) + rng.choice((0, 0x400000))
        detail = f"addr={value:#x}"
    _put(buf, at + 16 + i * ptr, end, code, value)
    return f"pointer {i}: {detail}"


@mutation("binfo.modinfo")
def _binfo_modinfo(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """Garbage inside the module info text (quotes, tabs, escapes, no newline)."""
    at = _buildinfo(buf, lay)
    if at is None or not buf[at + 15] & 2:
        return None
    start = at + 32 + rng.randrange(8, 200)
    junk = rng.choice((b'build\t"k\\', b"\t\t\t", b'"\\x', b"\\u", b"=>\t", b"\xff\xfe", b"`"))
    buf[start : start + len(junk)] = junk
    return f"{junk!r} at +{start - at}"


# What a `build KEY=VALUE` line of the module info may hold instead of Go's quoting.
_BAD_SETTINGS = (
    b'"\\xzz"',  # hex escape without hex digits
    b'"\\x4"',
    b'"\\uD800"',  # a surrogate
    b'"\\U0011FFFF"',  # past the last code point
    b'"\\777"',  # octal past a byte
    b'"\\8"',
    b'"\\u+123"',
    b'"\\',  # a trailing backslash
    b'"open',  # no closing quote
    b"`raw",
    b'"k"v',  # a quoted key without '='
    b"\t\t=",
)


@mutation("binfo.setting")
def _binfo_setting(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """A `build` line's value (or key) written with a malformed Go quoting."""
    at = _buildinfo(buf, lay)
    if at is None or not buf[at + 15] & 2:
        return None
    region = bytes(buf[at : at + (1 << 16)])
    lines = [i for i in range(len(region)) if region.startswith(b"\nbuild\t", i)]
    if not lines:
        return None
    start = rng.choice(lines) + len(b"\nbuild\t")
    stop = region.find(b"\n", start)
    eq = region.find(b"=", start, stop)
    if stop < 0 or eq < 0:
        return None
    bad = rng.choice(_BAD_SETTINGS)
    where = rng.choice((start, eq + 1))  # the key or the value
    room = stop - where
    pad = b"w" * max(0, room - len(bad))  # the same length: nothing moves
    closed = len(bad) > 1 and bad[:1] == bad[-1:] == b'"'
    patch = (bad[:-1] + pad + b'"' if closed else bad + pad)[:room]
    buf[at + where : at + stop] = patch
    return f"{region[start:stop][:40]!r} -> {patch[:40]!r}"


def _symtabs(lay: Layout) -> list[Sec]:
    return [s for s in lay.of_type(SHT_SYMTAB, SHT_DYNSYM) if lay.in_file(s) and s.entsize]


@mutation("sym.field")
def _sym_field(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """st_name, st_size, st_value, st_shndx or st_info of some symbols of .symtab/.dynsym."""
    tabs = _symtabs(lay)
    if not tabs:
        return None
    sec = rng.choice(tabs)
    count = sec.size // sec.entsize
    if not count:
        return None
    fields64 = {"st_name": (0, "I"), "st_info": (4, "B"), "st_shndx": (6, "H")}
    fields64 |= {"st_value": (8, "Q"), "st_size": (16, "Q")}
    fields32 = {"st_name": (0, "I"), "st_value": (4, "I"), "st_size": (8, "I")}
    fields32 |= {"st_info": (12, "B"), "st_shndx": (14, "H")}
    fields = fields64 if lay.bits == 64 else fields32
    name = rng.choice(sorted(fields))
    off, code = fields[name]
    many = rng.random() < 0.2
    for k in range(count) if many else [rng.randrange(count)]:
        at = sec.offset + k * sec.entsize + off
        value, detail = hostile_value(rng, _get(buf, at, lay.end, code), code, lay.size)
        _put(buf, at, lay.end, code, value)
    return f"{sec.name} {name}: {'all ' if many else ''}{detail}"


@mutation("sym.count")
def _sym_count(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """A symbol table whose size is not a multiple of its entry size (or entsize off)."""
    tabs = _symtabs(lay)
    if not tabs:
        return None
    sec = rng.choice(tabs)
    code = lay.word
    if rng.random() < 0.6:
        delta = rng.choice((1, sec.entsize - 1, -1, sec.entsize // 2))
        _put(buf, sec.hdr + _SHDR[lay.bits]["sh_size"][0], lay.end, code, sec.size + delta)
        return f"{sec.name}: sh_size {delta:+}"
    new = rng.choice((1, 7, 8, 16, 24, 0x10000))
    _put(buf, sec.hdr + _SHDR[lay.bits]["sh_entsize"][0], lay.end, code, new)
    return f"{sec.name}: sh_entsize {new}"


@mutation("trunc.random")
def _trunc_random(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    at = rng.choice((rng.randrange(lay.size), rng.randrange(min(lay.size, 4096))))
    del buf[at:]
    return f"at {at:#x}"


@mutation("trunc.boundary")
def _trunc_boundary(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """Cut at (or a byte around) where a section, a segment or a header table starts/ends."""
    cuts = {lay.shoff, lay.phoff, lay.size - 1}
    for s in lay.sections[1:]:
        if lay.in_file(s):
            cuts.update((s.offset, s.offset + s.size))
    for g in lay.segments:
        cuts.update((g.offset, g.offset + g.filesz))
    at = rng.choice(sorted(c for c in cuts if 0 < c < lay.size)) + rng.choice((-1, 0, 0, 1))
    at = max(1, min(at, lay.size - 1))
    del buf[at:]
    return f"at {at:#x}"


def _flip(buf: bytearray, lo: int, hi: int, rng: random.Random) -> str:
    hi = min(hi, len(buf))
    if hi <= lo:
        return "nothing"
    n = rng.choice((1, 1, 2, 4, 16))
    for _ in range(n):
        i = rng.randrange(lo, hi)
        buf[i] = rng.choice((buf[i] ^ (1 << rng.randrange(8)), 0, 0xFF, rng.randrange(256)))
    return f"{n} byte(s) in [{lo:#x}, {hi:#x})"


@mutation("flip.ehdr")
def _flip_ehdr(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    return _flip(buf, 16, 64 if lay.bits == 64 else 52, rng)


@mutation("flip.shdrs")
def _flip_shdrs(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    if not lay.sections:
        return None
    return _flip(buf, lay.shoff, lay.shoff + len(lay.sections) * lay.shentsize, rng)


@mutation("flip.phdrs")
def _flip_phdrs(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    if not lay.segments:
        return None
    return _flip(buf, lay.phoff, lay.phoff + len(lay.segments) * lay.phentsize, rng)


_TABLES = (".dynamic", ".symtab", ".dynsym", ".dynstr", ".strtab", ".shstrtab", ".gopclntab")
_TABLES += (".go.buildinfo", ".note.go.buildid", ".gnu.hash", ".gnu.version", ".gnu.version_r")
_TABLES += (".interp", ".rela.dyn", ".data.rel.ro.gopclntab", ".note.gnu.build-id")


@mutation("flip.table")
def _flip_table(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """Bytes of one of the tables gate reads (dynamic, symbols, strings, Go's)."""
    tabs = [s for s in lay.sections if s.name in _TABLES and lay.in_file(s) and s.size]
    if not tabs:
        return None
    sec = rng.choice(tabs)
    hi = sec.offset + (sec.size if rng.random() < 0.5 else min(sec.size, 128))
    return f"{sec.name}: " + _flip(buf, sec.offset, hi, rng)


@mutation("flip.random")
def _flip_random(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    return _flip(buf, 0, lay.size, rng)


@mutation("combo")
def _combo(buf: bytearray, lay: Layout, rng: random.Random) -> str | None:
    """Two or three of the others on one file (each as if the file were still intact)."""
    names = [n for n in MUTATIONS if n != "combo" and not n.startswith("trunc.")]
    done = []
    for name in rng.sample(names, rng.choice((2, 2, 3))):
        detail = MUTATIONS[name](buf, lay, rng)
        if detail is not None:
            done.append(f"{name}({detail})")
    return " + ".join(done) or None


class Mutant(NamedTuple):
    name: str  # the mutation
    seed: int  # with the name and the source, reproduces the bytes (mutant())
    detail: str
    data: bytes


def mutant(data: bytes, name: str, seed: int, lay: Layout | None = None) -> Mutant | None:
    """The mutant `name` makes of `data` with `seed`; None when it does not apply."""
    buf = bytearray(data)
    detail = MUTATIONS[name](buf, lay or layout(data), random.Random(seed))
    if detail is None:
        return None
    return Mutant(name, seed, detail, bytes(buf))


def draw(data: bytes, lay: Layout, key: str, names: Sequence[str] | None = None) -> Mutant | None:
    """One mutant of `data`: a mutation drawn from `names` (all by default) and a seed, both
    from `key`; None when none of 32 draws applies to this file."""
    pool = sorted(names or MUTATIONS)
    rng = random.Random(key)
    for _ in range(32):
        got = mutant(data, rng.choice(pool), rng.getrandbits(32), lay)
        if got is not None:
            return got
    return None


def mutants(
    data: bytes, seed: int, count: int, names: Sequence[str] | None = None
) -> Iterator[Mutant]:
    """`count` mutants of `data`, each a mutation drawn from `names` (all by default) with
    its own seed; the same (data, seed, count) always gives the same mutants."""
    lay = layout(data)
    for k in range(count):
        got = draw(data, lay, f"{seed}/{k}", names)
        if got is None:
            return  # nothing applies to this file
        yield got
