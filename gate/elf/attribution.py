"""Where the bytes are: by section group, by Go package and module (pclntab), by symbol.

A red size gate is only useful if it says what to remove. Three views, each read in bulk
from tables the linker already wrote (never one Python object per symbol):

- section groups add up exactly to the file size: headers and the padding between
  sections are rows of their own, so nothing is hidden;
- Go packages from `.gopclntab`: a function runs from its entry to the next function's
  entry (alignment padding belongs to the function before it), so the package totals add
  up to the text the function table covers. Works on `-s -w` binaries, which keep it;
- symbols from `.symtab` (C, C++, Rust, unstripped Go), sized by the linker.

A corrupt function table is not an error: the section view still stands, with a warning.
"""

from __future__ import annotations

import itertools
import struct
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote

from gate.elf.reader import (
    PF_W,
    PF_X,
    PT_LOAD,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    ElfImage,
    SectionHeader,
    is_debug_section,
)
from gate.errors import BinaryError

if TYPE_CHECKING:
    from gate.elf.gobuild import GoBuild

# Go's function table magics, by the release that introduced the layout.
_PCLN_MAGICS = {0xFFFFFFFA: "go1.16", 0xFFFFFFF0: "go1.18", 0xFFFFFFF1: "go1.20"}
GO_METADATA = frozenset(
    {
        ".gopclntab",
        ".go.buildinfo",
        ".go.fipsinfo",
        ".gosymtab",
        ".typelink",
        ".itablink",
        ".noptrdata",
        ".note.go.buildid",
        ".data.rel.ro.gopclntab",
    }
)
GENERATED = "<generated>"  # compiler-made functions: type:.eq.*, go:buildid, ...
UNATTRIBUTED_TEXT = "<text outside Go functions>"
STT_OBJECT, STT_FUNC, STT_TLS = 1, 2, 6


class Entry(NamedTuple):  # a tuple, not a frozen dataclass: there are tens of thousands
    name: str
    bytes: int


@dataclass(frozen=True)
class Attribution:
    file_size: int
    sections: tuple[Entry, ...]  # groups, largest first; they add up to file_size
    bss: int  # memory only: not in the file, so not in `sections`
    packages: tuple[Entry, ...] | None  # None: no Go function table
    modules: tuple[Entry, ...] | None
    symbols: tuple[Entry, ...] | None  # None: no .symtab
    pclntab: str | None  # the table's layout ("go1.20"), None when there is none
    warnings: tuple[str, ...] = ()


def _sorted(totals: Mapping[str, int]) -> tuple[Entry, ...]:
    return tuple(map(Entry._make, sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))))


# ---------------------------------------------------------------- section groups


def _group(sec: SectionHeader, symtab_strtabs: set[int]) -> str:
    if sec.name in GO_METADATA:
        return "go metadata"
    if is_debug_section(sec):
        return "debug"
    if sec.type == "SYMTAB" or (sec.number in symtab_strtabs and not sec.flags & SHF_ALLOC):
        return "symbols"
    if sec.flags & SHF_ALLOC:
        if sec.flags & SHF_EXECINSTR:
            return "text"
        return "data" if sec.flags & SHF_WRITE else "rodata"
    return "other"


def _segment_group(flags: int) -> str:
    if flags & PF_X:
        return "text"
    return "data" if flags & PF_W else "rodata"


def _unclaimed(claimed: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of [start, end) that no claimed (sorted, disjoint) interval covers."""
    parts, pos = [], start
    for lo, hi in claimed:
        if hi <= pos:
            continue
        if lo >= end:
            break
        if lo > pos:
            parts.append((pos, lo))
        pos = max(pos, hi)
    if pos < end:
        parts.append((pos, end))
    return parts


def section_groups(img: ElfImage) -> tuple[tuple[Entry, ...], int]:
    """(groups, bss bytes): every byte of the file in exactly one group.

    The headers are claimed first, then sections (or segments) in file order, each byte
    once, so an overlap (a corrupt or unusual layout) is not counted twice; what nothing
    covers is padding. A binary without section headers is
    attributed by its loadable segments instead.
    """
    ranges: list[tuple[int, int, str]] = [
        (off, off + size, "headers") for _, off, size in img.header_tables if size > 0
    ]
    bss = 0
    if img.sections:
        strtabs = {s.link for s in img.sections if s.type == "SYMTAB"}
        for sec in img.sections[1:]:
            if sec.type == "NOBITS":
                bss += sec.size if sec.flags & SHF_ALLOC else 0
            elif sec.size:
                ranges.append((sec.offset, sec.offset + sec.size, _group(sec, strtabs)))
    else:
        for seg in img.segments:
            if seg.type == PT_LOAD and seg.filesz:
                ranges.append((seg.offset, seg.offset + seg.filesz, _segment_group(seg.flags)))
            if seg.type == PT_LOAD and seg.memsz > seg.filesz:
                bss += seg.memsz - seg.filesz
    # Headers first: a PT_LOAD segment starting at offset 0 also spans them.
    ranges.sort(key=lambda r: (r[2] != "headers", r[0]))
    claimed: list[tuple[int, int]] = []
    totals: dict[str, int] = {}
    for start, end, group in ranges:
        for lo, hi in _unclaimed(claimed, max(0, start), min(end, img.size)):
            totals[group] = totals.get(group, 0) + hi - lo
            claimed.append((lo, hi))
        claimed.sort()
    padding = img.size - sum(hi - lo for lo, hi in claimed)
    if padding:
        totals["padding"] = padding
    return _sorted(totals), bss


# ---------------------------------------------------------------- Go function table


class PclntabError(Exception):
    """The function table is not what its header says (corrupt or an unknown layout)."""


class _Pclntab(NamedTuple):
    layout: str
    ptr_size: int
    nfunc: int
    funcname: int  # offset of the function name table within the pclntab
    names_end: int  # where that table ends (the next table, the compilation units)
    pcln: int  # offset of the function table within the pclntab


def _header(buf: memoryview, endian: str) -> _Pclntab:
    if len(buf) < 8:
        raise PclntabError("shorter than its header")
    magic = struct.unpack_from(endian + "I", buf)[0]
    layout = _PCLN_MAGICS.get(magic)
    if layout is None:
        raise PclntabError(f"unknown magic 0x{magic:08x} (Go before 1.16?)")
    pad1, pad2, min_lc, ptr_size = buf[4], buf[5], buf[6], buf[7]
    if pad1 or pad2 or min_lc not in (1, 2, 4) or ptr_size not in (4, 8):
        raise PclntabError("corrupt header")
    word = endian + ("Q" if ptr_size == 8 else "I")
    count = 7 if layout == "go1.16" else 8
    if len(buf) < 8 + count * ptr_size:
        raise PclntabError("shorter than its header")
    fields = struct.unpack_from(endian + word[-1] * count, buf, 8)
    if layout == "go1.16":
        nfunc, _nfiles, funcname, cu, _filetab, _pctab, pcln = fields
    else:
        nfunc, _nfiles, _text, funcname, cu, _filetab, _pctab, pcln = fields
    if not 0 < nfunc < len(buf) or not 0 < funcname < len(buf) or not 0 < pcln < len(buf):
        raise PclntabError("header offsets lie outside the table")
    names_end = cu if funcname < cu <= len(buf) else len(buf)
    return _Pclntab(layout, ptr_size, nfunc, funcname, names_end, pcln)


def _functab(buf: memoryview, tab: _Pclntab, little: bool) -> tuple[array[int], array[int]]:
    """(entries, func offsets) unpacked in bulk; entries has nfunc + 1 values (the end)."""
    wide = tab.layout == "go1.16"
    size = tab.ptr_size if wide else 4
    n = 2 * tab.nfunc + 1
    start, stop = tab.pcln, tab.pcln + n * size
    if stop > len(buf):
        raise PclntabError(f"function table of {tab.nfunc} functions runs past the table")
    values: array[int] = array("Q" if size == 8 else "I")
    if values.itemsize != size:  # a platform where "I" is not 4 bytes
        values = array("L" if size == 8 else "I")
    values.frombytes(buf[start:stop])
    if little != (struct.pack("=H", 1) == b"\x01\x00"):
        values.byteswap()
    entries, offsets = values[0::2], values[1::2]
    return entries, offsets


def package_of(name: str) -> str:
    """A Go symbol's package path: up to the first '.' after the last '/'.

    The linker escapes '.' in a path's last element as %2e, so `gopkg.in/yaml%2ev3.F`
    splits right; type parameters in brackets may hold dots and slashes, so they go first.
    """
    if name.startswith(("type:", "type.", "go:", "go.")):
        return GENERATED
    bracket = name.find("[")
    if bracket >= 0:
        name = name[:bracket]
    dot = name.find(".", name.rfind("/") + 1)
    pkg = name if dot < 0 else name[:dot]
    if not pkg:
        return GENERATED
    return unquote(pkg) if "%" in pkg else pkg


def _name_offsets(raw: bytes, base: int, offsets: array[int], swap: bool) -> list[int]:
    """Each function's nameoff, read at `base + funcoff`: through an int32 view of the
    table when the records are 4-byte aligned (as Go writes them), else one by one."""
    if offsets and max(offsets) > len(raw) - 4 - base:
        raise PclntabError("a function record lies outside the table")
    shift = base & 3
    aligned = not any(o & 3 for o in offsets)
    if aligned and not swap:
        ints = memoryview(raw)[shift : shift + (len(raw) - shift) // 4 * 4].cast("i")
        first = (base - shift) >> 2
        return [ints[first + (o >> 2)] for o in offsets]
    unpack = struct.Struct((">" if swap == (struct.pack("=H", 1) == b"\x01\x00") else "<") + "i")
    return [unpack.unpack_from(raw, base + o)[0] for o in offsets]


def _package_sizes(
    buf: memoryview, tab: _Pclntab, offsets: array[int], sizes: list[int], swap: bool
) -> dict[str, int]:
    """Bytes per package, from each function's name.

    A name is cut to its package part (up to the first '.' after the last '/') on the raw
    bytes and the bytes are summed per cut; each distinct cut is decoded and checked once
    afterwards (package_of gives a cut the same answer as the whole name).
    """
    raw = bytes(buf)
    # _func starts with the entry (uintptr before 1.18, uint32 since) and then nameoff.
    skip = tab.ptr_size if tab.layout == "go1.16" else 4
    nameoffs = _name_offsets(raw, tab.pcln + skip, offsets, swap)
    names = tab.funcname
    if nameoffs and (min(nameoffs) < 0 or names + max(nameoffs) >= len(raw)):
        raise PclntabError("a function name lies outside the table")
    find, rfind = raw.find, raw.rfind
    cuts: dict[bytes, int] = {}
    for nameoff, size in zip(nameoffs, sizes, strict=True):
        start = names + nameoff
        end = find(b"\0", start)
        if end < 0:
            raise PclntabError("a function name runs past the table")
        slash = rfind(b"/", start, end)
        dot = find(b".", slash + 1 if slash >= 0 else start, end)
        cut = raw[start : dot if dot >= 0 else end]
        cuts[cut] = cuts.get(cut, 0) + size
    packages: dict[str, int] = {}
    for cut, size in cuts.items():
        pkg = package_of(cut.decode("utf-8", "replace"))
        packages[pkg] = packages.get(pkg, 0) + size
    return packages


def _locate(img: ElfImage) -> memoryview | None:
    """The pclntab: its section, else its magic in a read-only segment (no section headers)."""
    for name in (".gopclntab", ".data.rel.ro.gopclntab"):
        sec = img.section(name)
        if sec is not None and sec.type != "NOBITS":
            return img.section_data(sec)
    if img.sections:
        return None
    endian = img.endian
    for seg in img.segments:
        if seg.type != PT_LOAD or seg.flags & PF_X or not seg.filesz:
            continue
        data = bytes(img.read(seg.offset, seg.filesz))
        for magic in _PCLN_MAGICS:
            sig = struct.pack(endian + "I", magic) + b"\0\0"
            pos = data.find(sig)
            while pos >= 0:
                window = memoryview(data)[pos:]
                try:
                    _header(window, endian)
                    return window
                except PclntabError:
                    pos = data.find(sig, pos + 1)
    return None


def _text_bytes(img: ElfImage) -> int:
    """The most code the binary can hold: its executable sections, else segments."""
    if img.sections:
        return sum(s.size for s in img.sections if s.flags & SHF_EXECINSTR and s.flags & SHF_ALLOC)
    return sum(s.filesz for s in img.segments if s.type == PT_LOAD and s.flags & PF_X)


class GoFunctions(NamedTuple):
    layout: str
    packages: dict[str, int]
    covered: int  # bytes from the first function's entry to the table's end


def go_functions(img: ElfImage) -> GoFunctions | None:
    """Bytes per Go package from the function table; None when there is no table."""
    buf = _locate(img)
    if buf is None:
        return None
    tab = _header(buf, img.endian)
    entries, offsets = _functab(buf, tab, img.little_endian)
    sizes = [b - a for a, b in itertools.pairwise(entries)]
    if any(s < 0 for s in sizes):
        raise PclntabError("function entries are not in address order")
    covered, text = entries[-1] - entries[0], _text_bytes(img)
    if covered > text:
        raise PclntabError(f"its functions span {covered:,} bytes, more than the {text:,} of text")
    swap = img.little_endian != (struct.pack("=H", 1) == b"\x01\x00")
    packages = _package_sizes(buf, tab, offsets, sizes, swap)
    return GoFunctions(tab.layout, packages, covered)


def module_of(package: str, build: GoBuild | None) -> str:
    """The module a package comes from: main module, a dependency, std or runtime."""
    if package in (GENERATED, UNATTRIBUTED_TEXT):
        return package
    if package == "runtime" or package.startswith(("runtime/", "internal/runtime/")):
        return "runtime"
    best = ""
    if build is not None:
        mods = [m.path for m in build.deps] + (
            [build.main_module.path] if build.main_module else []
        )
        for mod in mods:
            if (package == mod or package.startswith(mod + "/")) and len(mod) > len(best):
                best = mod
    if best:
        return best
    if package == "main":
        return build.main_module.path if build is not None and build.main_module else "main"
    first = package.split("/", 1)[0]
    return "std" if "." not in first else package


def _modules(packages: Mapping[str, int], build: GoBuild | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for pkg, size in packages.items():
        mod = module_of(pkg, build)
        out[mod] = out.get(mod, 0) + size
    return out


# ---------------------------------------------------------------- symbols


def _words(data: bytes, code: str, swap: bool) -> array[int]:
    values: array[int] = array(code)
    values.frombytes(data)
    if swap:
        values.byteswap()
    return values


def symbols(img: ElfImage) -> dict[str, int] | None:
    """Sized functions and objects in the file (not .bss) from .symtab; same names add up.

    The table is cut into columns with array slicing (name offsets, info bytes, sizes),
    so Python touches each symbol once, with three ints, and decodes only the kept names.
    """
    symtab = next((s for s in img.sections if s.type == "SYMTAB"), None)
    if symtab is None or not 0 < symtab.link < len(img.sections):
        return None
    is64 = img.elfclass == 64
    width = 24 if is64 else 16
    view = img.section_data(symtab)
    data = bytes(view[: len(view) // width * width])
    swap = img.little_endian != (struct.pack("=H", 1) == b"\x01\x00")
    words, halves = _words(data, "I", swap), _words(data, "H", swap)
    if is64:  # Elf64_Sym: name u32, info u8, other u8, shndx u16, value u64, size u64
        names, infos, sizes = words[0::6], data[4::24], _words(data, "Q", swap)[2::3]
        shndx = halves[3::12]
    else:  # Elf32_Sym: name u32, value u32, size u32, info u8, other u8, shndx u16
        names, infos, sizes, shndx = words[0::4], data[12::16], words[2::4], halves[7::8]
    strtab = bytes(img.section_data(img.sections[symtab.link]))
    kinds = (STT_FUNC, STT_OBJECT, STT_TLS)
    # .bss and friends take memory, not file bytes: their symbols are not where the bytes are.
    nobits = {s.number for s in img.sections if s.type == "NOBITS"}
    out: dict[str, int] = {}
    for name, info, size, sec in zip(names, infos, sizes, shndx, strict=True):
        if not size or (info & 0xF) not in kinds or sec in nobits:
            continue
        end = strtab.find(b"\0", name)
        if end < 0:
            continue
        key = strtab[name:end].decode("utf-8", "replace")
        out[key] = out.get(key, 0) + size
    return out


# ---------------------------------------------------------------- all together


def _text_size(img: ElfImage) -> int | None:
    text = img.section(".text")
    return text.size if text is not None else None


def attribute(img: ElfImage, want_symbols: bool = True, want_packages: bool = True) -> Attribution:
    """Every view the binary allows (those not wanted left None); a broken function
    table becomes a warning."""
    groups, bss = section_groups(img)
    warnings: list[str] = []
    packages = modules = None
    layout = None
    try:
        funcs = go_functions(img) if want_packages else None
    except (PclntabError, BinaryError, struct.error, ValueError, IndexError) as exc:
        funcs = None
        warnings.append(
            f"Go function table unreadable ({exc}); showing sections only, not packages"
        )
    if funcs is not None:
        layout = funcs.layout
        pkgs = dict(funcs.packages)
        text = _text_size(img)
        if text is not None and text > funcs.covered:
            pkgs[UNATTRIBUTED_TEXT] = text - funcs.covered
        from gate.elf.gobuild import read_go_build  # only for Go binaries

        build = read_go_build(img)
        packages, modules = _sorted(pkgs), _sorted(_modules(pkgs, build))
    syms = symbols(img) if want_symbols else None
    return Attribution(
        file_size=img.size,
        sections=groups,
        bss=bss,
        packages=packages,
        modules=modules,
        symbols=_sorted(syms) if syms is not None else None,
        pclntab=layout,
        warnings=tuple(warnings),
    )


def attribute_binary(
    path: str, want_symbols: bool = True, want_packages: bool = True
) -> Attribution:
    from gate.elf.reader import open_elf

    with open_elf(path) as img:
        return attribute(img, want_symbols, want_packages)


def top(entries: Iterable[Entry] | None, n: int) -> list[Entry]:
    return list(entries or ())[:n]
