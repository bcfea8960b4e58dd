"""Where the bytes are: by section group, by Go package and module (pclntab), by symbol.

A red size gate is only useful if it says what to remove. Three views, each read in bulk
from tables the linker already wrote (never one Python object per symbol):

- section groups add up exactly to the file size: headers and the padding between
  sections are rows of their own, so nothing is hidden. `gate inspect`, `gate size` and
  every report use these groups (gate/read/sections.py's `section_group` is the one rule);
- Go packages from `.gopclntab`: a function runs from its entry to the next function's
  entry (alignment padding belongs to the function before it), so the package totals add
  up to the text the function table covers. Works on `-s -w` binaries, which keep it;
- symbols from `.symtab` (C, C++, Rust, unstripped Go), sized by the linker; from the
  same table, the data objects (each with its group and, in Go, its package; an embedded
  file is named by the variable that holds it) and the functions outside Go's table (C
  code of a cgo binary), so a size failure can name `main.blob` rather than "data".

A corrupt function table is not an error: the section view still stands, with a warning.
"""

from __future__ import annotations

import itertools
import mmap
import operator
import struct
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote

from gate.errors import BinaryError
from gate.read.elf import (
    MAX_STRING,
    PF_X,
    PT_LOAD,
    SHF_ALLOC,
    SHF_EXECINSTR,
    ElfImage,
)
from gate.read.sections import (
    Entry,
    section_group,
    section_groups,
    sorted_entries,
    symtab_strtabs,
)
from gate.read.symbols import NO_NAME, Names, Ranked, rank_keyed, rank_names
from gate.values.groups import (
    CODE,
    DATA,
    NON_GO,
    RODATA,
)

if TYPE_CHECKING:
    from gate.read.gobuild import GoBuild

# Go's function table magics, by the release that introduced the layout.
_PCLN_MAGICS = {0xFFFFFFFA: "go1.16", 0xFFFFFFF0: "go1.18", 0xFFFFFFF1: "go1.20"}


GENERATED = "<generated>"  # compiler-made functions: type:.eq.*, go:buildid, ...
UNATTRIBUTED_TEXT = NON_GO
# Go assembly declared file-local (TEXT foo<>(SB)) has no package in its name; in the
# standard library these are the runtime's, internal/bytealg's and runtime/cgo's helpers.
ASSEMBLY_PACKAGE = "runtime"
STT_OBJECT, STT_FUNC, STT_TLS = 1, 2, 6


class DataSymbol(NamedTuple):
    """A data object from .symtab: where it lies (its group) and, in Go, whose it is."""

    name: str
    bytes: int
    group: str  # "data" or "read-only data" (or "go metadata": Go's own tables)
    section: str
    package: str | None  # None: not a Go binary


@dataclass(frozen=True)
class Attribution:
    file_size: int
    sections: tuple[Entry, ...]  # groups, largest first; they add up to file_size
    bss: int  # memory only: not in the file, so not in `sections`
    packages: tuple[Entry, ...] | None  # None: no Go function table
    modules: tuple[Entry, ...] | None
    # None: no .symtab. Largest first; a Sequence whose rows are made as they are read
    # (gate/elf/symbols.Ranked), so a million symbols cost arrays, not a million tuples.
    symbols: Sequence[Entry] | None
    pclntab: str | None  # the table's layout ("go1.20"), None when there is none
    warnings: tuple[str, ...] = ()
    data_symbols: Sequence[DataSymbol] | None = None  # None: no .symtab; largest first
    # Functions in the code group that are not Go's: all of a C binary's, a cgo binary's
    # C code. None: no .symtab.
    code_symbols: Sequence[Entry] | None = None


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
    text: int  # the address entries count from (0: entries are addresses, go1.16)


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
        text = 0  # entries are addresses
    else:
        nfunc, _nfiles, text, funcname, cu, _filetab, _pctab, pcln = fields
    if not 0 < nfunc < len(buf) or not 0 < funcname < len(buf) or not 0 < pcln < len(buf):
        raise PclntabError("header offsets lie outside the table")
    names_end = cu if funcname < cu <= len(buf) else len(buf)
    return _Pclntab(layout, ptr_size, nfunc, funcname, names_end, pcln, text)


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


# What the linker and compiler of Go 1.19 and older named `go.*` (Go 1.20 renamed them
# `go:*`): none is an import path, though `go.itab.golang.org/x/...` would pass for one.
# Only prefixes a '/' can follow matter: a name without one is never an import path.
_LINKER_GO_DOT = (
    "go.itab.", "go.shape.", "go.string.", "go.func.", "go.info.", "go.type.",
    "go.builtin.", "go.importpath.", "go.map.", "go.link.", "go.cuinfo.", "go.constinfo.",
    "go.track.", "go.weak.", "go.loc.", "go.range.", "go.debuglines.", "go.runtime.",
)  # fmt: skip


def _is_import_path(name: str) -> bool:
    """Whether a `go.`/`type.` name is a function of a package such as go.uber.org/zap:
    an import path's first element is a domain (labels of letters, digits and '-') before
    a '/'. The linker's own `go.` names (Go 1.19 and older) have no '/' there, an empty
    label (`type..eq.`), a '*' or '(' (`go.itab.*net/http.conn`), or a prefix of its own.
    """
    slash = name.find("/")
    if slash < 0 or name.startswith(_LINKER_GO_DOT):
        return False
    labels = name[:slash].split(".")
    return len(labels) >= 2 and all(
        label and label.replace("-", "").isalnum() and label.isascii() for label in labels
    )


def package_of(name: str) -> str:
    """A Go symbol's package path: up to the first '.' after the last '/'.

    The linker escapes '.' in a path's last element as %2e, so `gopkg.in/yaml%2ev3.F`
    splits right; type parameters in brackets may hold dots and slashes, so they go first.
    A name with no '.' at all is file-local assembly (`memeqbody`, `crosscall2`): the
    runtime's (ASSEMBLY_PACKAGE), never a package of its own. `go:` and `type:` names
    (Go 1.20 and later) and the linker's `go.`/`type.` names (Go 1.19 and older) are
    GENERATED; `go.uber.org/zap.New` is package go.uber.org/zap under every toolchain.
    """
    if name.startswith(("type:", "go:")):
        return GENERATED
    if name.startswith(("type.", "go.")) and not _is_import_path(name):
        return GENERATED
    bracket = name.find("[")
    if bracket >= 0:
        name = name[:bracket]
    dot = name.find(".", name.rfind("/") + 1)
    if dot < 0:
        return ASSEMBLY_PACKAGE if name and "/" not in name else name or GENERATED
    pkg = name[:dot]
    if not pkg:
        return GENERATED
    return unquote(pkg) if "%" in pkg else pkg


def _name_offsets(raw: memoryview, base: int, offsets: array[int], swap: bool) -> list[int]:
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


# The longest function name read: Go's names with type parameters run long, but not this.
_MAX_NAME = 64 * 1024
_FOREIGN = b"\0"  # the cut of a function no Go compiler or assembler made
_LINKER_MARKS = (b"go:", b"go.", b"type:", b"type.")  # the linker's own (go:textfipsstart)


def _package_sizes(
    located: _Located, tab: _Pclntab, offsets: array[int], sizes: list[int], swap: bool
) -> tuple[dict[str, int], list[int]]:
    """(bytes per package from each function's name, indexes of the non-Go functions).

    A name is cut to its package part (up to the first '.' after the last '/') on the raw
    bytes and the bytes are summed per cut; each distinct cut is decoded and checked once
    afterwards (package_of gives a cut the same answer as the whole name).

    An internally linked cgo binary lists its C functions (x_cgo_init, fatalf) in the table
    too, by their C names; they have no stack-pointer table (pcsp 0), which every function
    Go's compiler or assembler made has, so they count as non-Go code, not as packages.
    """
    buf, data, base = located
    # _func starts with the entry (uintptr before 1.18, uint32 since), then nameoff, args,
    # deferreturn and pcsp (int32/uint32 each).
    skip = tab.ptr_size if tab.layout == "go1.16" else 4
    nameoffs = _name_offsets(buf, tab.pcln + skip, offsets, swap)
    pcsps = _name_offsets(buf, tab.pcln + skip + 12, offsets, swap)
    names, size_of_table = tab.funcname, len(buf)
    if nameoffs and (min(nameoffs) < 0 or names + max(nameoffs) >= size_of_table):
        raise PclntabError("a function name lies outside the table")
    foreign: list[int] = []
    go_names: set[int] = set()
    for i, (nameoff, pcsp) in enumerate(zip(nameoffs, pcsps, strict=True)):
        if not pcsp and not bytes(buf[names + nameoff : names + nameoff + 5]).startswith(
            _LINKER_MARKS
        ):
            foreign.append(i)
        else:
            go_names.add(nameoff)
    # Each distinct name is read once, in table order: the names are NUL-terminated strings
    # that do not overlap, each at most _MAX_NAME bytes, so the searches (in the file's
    # mapping, no copy) touch each byte of the name table at most once.
    find, rfind = data.find, data.rfind
    cut_of: dict[int, bytes] = {}
    prev_end = -1
    for nameoff in sorted(go_names):
        start = base + names + nameoff
        if start < prev_end:
            raise PclntabError("a function name starts inside another")
        end = find(b"\0", start, min(start + _MAX_NAME, base + size_of_table))
        if end < 0:
            raise PclntabError(f"a function name has no end within {_MAX_NAME:,} bytes")
        slash = rfind(b"/", start, end)
        dot = find(b".", slash + 1 if slash >= 0 else start, end)
        cut_of[nameoff] = data[start : dot + 1 if dot >= 0 else end]  # "net." is a package
        prev_end = end
    cuts: dict[bytes, int] = {}
    foreign_set = set(foreign)
    for i, (nameoff, size) in enumerate(zip(nameoffs, sizes, strict=True)):
        cut = _FOREIGN if i in foreign_set else cut_of[nameoff]
        cuts[cut] = cuts.get(cut, 0) + size
    packages: dict[str, int] = {}
    for cut, size in cuts.items():
        pkg = NON_GO if cut == _FOREIGN else package_of(cut.decode("utf-8", "replace"))
        packages[pkg] = packages.get(pkg, 0) + size
    return packages, foreign


class _Located(NamedTuple):
    buf: memoryview  # the table, to the end of its section (or segment)
    data: mmap.mmap | bytes  # the whole file, to search without copying
    base: int  # where `buf` starts in the file


# A file full of would-be magics is not searched to its end one header at a time.
_MAX_CANDIDATES = 4096


def _next_magic(img: ElfImage, pos: int, hi: int) -> int:
    """The first offset in [pos, hi) where a table magic and its two zero bytes start.

    Every magic holds ff ff ff: that is searched first (a search that skips fast through
    zeros and most data), then the magics only in the few KiB after each find."""
    sigs = [struct.pack(img.endian + "I", magic) + b"\0\0" for magic in _PCLN_MAGICS]
    window = 4096
    while pos < hi:
        run = img.find(b"\xff\xff\xff", pos, hi)
        if run < 0:
            return -1
        start = max(pos, run - 1)  # a little-endian magic starts a byte before its ff ff ff
        found = [img.find(sig, start, min(hi, start + window + len(sig))) for sig in sigs]
        hits = [f for f in found if f >= 0]
        if hits:
            return min(hits)
        pos = start + window + 1
    return -1


# Sections that say a file is Go's even when its function table has no section of its own.
_GO_MARKS = (".note.go.buildid", ".go.buildinfo", ".noptrdata", ".gosymtab")


def _locate(img: ElfImage) -> _Located | None:
    """The pclntab: its section, else its magic where the linker put it without one.

    An externally linked Go shared object (a plugin, -buildmode=c-shared or shared, a cgo
    PIE) built by an older Go (1.19 does; 1.27 gives the table its section) has no
    .gopclntab: the table lies inside .data.rel.ro, which relocations make writable. So a
    Go file (one of _GO_MARKS) without the section is searched: .data.rel.ro first, then
    its other allocated data; a file with no section headers, its read-only segments. A
    find counts only when its header holds.

    The search runs in the file's mapping (img.find: no copy, its pages let go as it goes),
    so a huge or sparse region costs time in proportion, not memory."""
    for name in (".gopclntab", ".data.rel.ro.gopclntab"):
        sec = img.section(name)
        if sec is not None and sec.type != "NOBITS":
            return _Located(img.section_data(sec), img.data, sec.offset)
    regions: list[tuple[int, int]]
    if img.sections:
        if not any(img.section(name) for name in _GO_MARKS):
            return None
        data = [
            s
            for s in img.sections
            if s.flags & SHF_ALLOC and not s.flags & SHF_EXECINSTR and s.type == "PROGBITS"
        ]
        data.sort(key=lambda s: s.name != ".data.rel.ro")
        regions = [(s.offset, s.offset + s.size) for s in data if s.size]
    else:
        regions = [
            (seg.offset, seg.offset + seg.filesz)
            for seg in img.segments
            if seg.type == PT_LOAD and not seg.flags & PF_X and seg.filesz
        ]
    return _search(img, regions)


def _search(img: ElfImage, regions: Iterable[tuple[int, int]]) -> _Located | None:
    """The first offset in `regions` where a table header holds, as a _Located to the
    region's end."""
    endian = img.endian
    tried = 0
    for lo, end in regions:
        hi = min(end, img.size)
        at = _next_magic(img, lo, hi)
        while at >= 0:
            window = img.read(at, hi - at)
            try:
                _header(window, endian)
                return _Located(window, img.data, at)
            except PclntabError:
                tried += 1
                if tried > _MAX_CANDIDATES:
                    raise PclntabError("too many would-be table headers") from None
                at = _next_magic(img, at + 1, hi)
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
    # The address of the first function (covered runs from here); None when the table
    # leaves it to a relocation (Go 1.2x writes textStart as 0): runtime.text tells then.
    start: int | None
    first: int  # the first function's entry, relative to `start`'s base
    foreign: tuple[int, ...]  # entries (relative, as `first`) of the non-Go functions


def go_functions(img: ElfImage) -> GoFunctions | None:
    """Bytes per Go package from the function table; None when there is no table."""
    located = _locate(img)
    if located is None:
        return None
    buf = located.buf
    tab = _header(buf, img.endian)
    if tab.nfunc > _text_bytes(img):  # every function takes at least a byte of text
        raise PclntabError(f"{tab.nfunc:,} functions, more than the bytes of text")
    entries, offsets = _functab(buf, tab, img.little_endian)
    sizes = [b - a for a, b in itertools.pairwise(entries)]
    if any(s < 0 for s in sizes):
        raise PclntabError("function entries are not in address order")
    covered, text = entries[-1] - entries[0], _text_bytes(img)
    if covered > text:
        raise PclntabError(f"its functions span {covered:,} bytes, more than the {text:,} of text")
    swap = img.little_endian != (struct.pack("=H", 1) == b"\x01\x00")
    packages, foreign = _package_sizes(located, tab, offsets, sizes, swap)
    known = tab.text or tab.layout == "go1.16"
    return GoFunctions(
        tab.layout,
        packages,
        covered,
        tab.text + entries[0] if known else None,
        entries[0],
        tuple(entries[i] for i in foreign),
    )


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


class _Symtab(NamedTuple):
    """.symtab cut into columns (array slicing: one pass, no object per symbol)."""

    names: array[int]  # offsets into strtab
    infos: bytes
    sizes: array[int]
    shndx: array[int]
    values: array[int]
    img: ElfImage  # the string table is read in its mapping, never copied whole
    strtab_at: int  # the string table's offset in the file
    strtab_size: int
    # The string table's strings once decoded (gate/elf/symbols.Names), then every kept
    # symbol's name id in them: each found on first use.
    decoded: list[Any]

    def of_kind(self, *kinds: int) -> Iterator[int]:
        """Indexes of the symbols of these types, picked in bulk (bytes.translate over the
        info column, itertools.compress over it): the Python loop sees only those."""
        table = bytes(1 if b & 0xF in kinds else 0 for b in range(256))
        return itertools.compress(range(len(self.infos)), self.infos.translate(table))

    def strings(self) -> Names:
        """Every name of the string table, decoded in one pass on first use."""
        if not self.decoded:
            # Only what the names can reach (a corrupt sh_size may claim a sparse file).
            reach = min(self.strtab_size, max(self.names, default=0) + MAX_STRING)
            table = bytes(self.img.read(self.strtab_at, reach))
            self.img.release(self.strtab_at, reach)  # copied: its pages need not stay
            self.decoded.append(Names(self.img.path, table, MAX_STRING))
        return self.decoded[0]  # type: ignore[no-any-return]

    def ids(self) -> array[int]:
        """Every kept symbol's name id in strings() (NO_NAME: none), found on first use."""
        if len(self.decoded) < 2:
            self.decoded.append(self.strings().ids(self.names))
        return self.decoded[1]  # type: ignore[no-any-return]

    def name(self, i: int) -> str | None:
        names = self.strings()
        k = self.ids()[i]
        return None if k == NO_NAME else names.strings[k]

    def find(self, name: bytes) -> int:
        """The offset of `name` (with its NULs) in the string table, or -1."""
        at = self.img.find(name, self.strtab_at, self.strtab_at + self.strtab_size)
        return at - self.strtab_at if at >= 0 else -1


# The symbols any view reads (functions, objects, thread-local objects; runtime.text is a
# function): the others (sections, files, unnamed padding) are dropped as the table is read.
_KEPT_KINDS = bytes(1 if b & 0xF in (STT_FUNC, STT_OBJECT, STT_TLS) else 0 for b in range(256))


def _symtab(img: ElfImage, kind: str = "SYMTAB") -> _Symtab | None:
    """.symtab's kept symbols (`kind` DYNSYM: .dynsym's), read in chunks (each chunk's
    pages let go once read), so a huge table costs the columns of the symbols kept, not
    copies of the whole table."""
    symtab = next((s for s in img.sections if s.type == kind), None)
    if symtab is None or not 0 < symtab.link < len(img.sections):
        return None
    is64 = img.elfclass == 64
    width = 24 if is64 else 16
    view = img.section_data(symtab)
    count = len(view) // width
    swap = img.little_endian != (struct.pack("=H", 1) == b"\x01\x00")
    names: array[int] = array("I")
    wide = "Q" if is64 else "I"
    sizes: array[int] = array(wide)
    values: array[int] = array(wide)
    shndx: array[int] = array("H")
    infos = bytearray()
    # A chunk is copied, then cut into columns (copies again): 4 MiB at a time keeps that
    # transient below the columns themselves (and is large enough to be let go of).
    step = max(1, (4 << 20) // width)
    compress = itertools.compress
    for first in range(0, count, step):
        stop = min(count, first + step)
        if img.is_hole(symtab.offset + first * width, (stop - first) * width):
            continue  # symbols of zeros: none of the kinds kept
        data = bytes(view[first * width : stop * width])
        img.release(symtab.offset + first * width, len(data))
        kept = data[4::24] if is64 else data[12::16]
        mask = kept.translate(_KEPT_KINDS)
        if not mask.count(1):
            continue
        words, halves = _words(data, "I", swap), _words(data, "H", swap)
        if is64:  # Elf64_Sym: name u32, info u8, other u8, shndx u16, value u64, size u64
            longs = _words(data, "Q", swap)
            columns = (words[0::6], longs[2::3], longs[1::3], halves[3::12])
        else:  # Elf32_Sym: name u32, value u32, size u32, info u8, other u8, shndx u16
            columns = (words[0::4], words[2::4], words[1::4], halves[7::8])
        for out, column in zip((names, sizes, values, shndx), columns, strict=True):
            out.extend(compress(column, mask))
        infos += bytes(compress(kept, mask))
    strtab = img.sections[symtab.link]
    size = len(img.section_data(strtab))  # a table past the file's end is corruption
    return _Symtab(names, bytes(infos), sizes, shndx, values, img, strtab.offset, size, [])


def _file_symbols(img: ElfImage, tab: _Symtab) -> Iterator[int]:
    """Indexes of the sized functions and objects with bytes in the file (not .bss):
    picked by masks over the columns (map and compress in C), no Python loop per symbol."""
    # .bss and friends take memory, not file bytes: their symbols are not where the bytes are.
    nobits = {s.number for s in img.sections if s.type == "NOBITS"}
    in_file = bytes(0 if n in nobits else 1 for n in range(1 << 16))
    kinds = tab.infos.translate(_KEPT_KINDS)
    masks = map(operator.and_, kinds, map(in_file.__getitem__, tab.shndx))
    return itertools.compress(
        range(len(tab.infos)), map(operator.and_, masks, map(bool, tab.sizes))
    )


def ranked_symbols(img: ElfImage, tab: _Symtab) -> Ranked:
    """Sized functions and objects in the file (not .bss), same names added up, largest
    first: names decoded in bulk, an Entry made only for what is shown."""
    kept = array("I", _file_symbols(img, tab))
    names, all_ids = tab.strings(), tab.ids()
    ids = map(all_ids.__getitem__, kept)
    return rank_names(names.strings, ids, map(tab.sizes.__getitem__, kept), Entry)


def symbols(img: ElfImage, table: _Symtab | None = None) -> dict[str, int] | None:
    """Sized functions and objects in the file (not .bss) from .symtab; same names add up."""
    tab = table or _symtab(img)
    if tab is None:
        return None
    return dict(ranked_symbols(img, tab))


def _groups_by_section(img: ElfImage) -> list[str | None]:
    """Each section's group, None for those without file bytes."""
    strtabs = symtab_strtabs(img)
    return [
        None if sec.type == "NOBITS" or not sec.size else section_group(sec, strtabs)
        for sec in img.sections
    ]


_EMBED_MARKS = ("..gobytes.", "..stmp_")  # the compiler's names for embedded contents


def _embed_owners(img: ElfImage, tab: _Symtab, groups: list[str | None]) -> dict[int, str]:
    """address -> the variable whose slice or string header points there.

    `//go:embed` into a []byte or string stores the contents as an anonymous symbol
    (`main..gobytes.1`) and points the variable's header at it: reading each small
    header's first word names the contents after the variable a person wrote.
    """
    ptr = 8 if img.elfclass == 64 else 4
    fmt = img.endian + ("Q" if ptr == 8 else "I")
    owners: dict[int, str] = {}
    for i, (info, size, sec) in enumerate(zip(tab.infos, tab.sizes, tab.shndx, strict=True)):
        if (info & 0xF) != STT_OBJECT or size not in (2 * ptr, 3 * ptr):
            continue
        if not 0 < sec < len(groups) or groups[sec] not in (DATA, RODATA):
            continue
        raw = img.read_vaddr(tab.values[i], ptr)
        name = tab.name(i)
        if raw is None or name is None or ".." in name:
            continue
        owners.setdefault(struct.unpack(fmt, raw)[0], name)
    return owners


def data_symbols(img: ElfImage, tab: _Symtab, go: bool, groups: list[str | None]) -> Ranked:
    """Sized data objects with file bytes, largest first (DataSymbol rows, made as they are
    read): where `data` and `read-only data` went. In a Go binary each names its package,
    and embedded contents the variable."""
    found = array("I")
    sizes, shndx = tab.sizes, tab.shndx
    for i in tab.of_kind(STT_OBJECT, STT_TLS):
        sec = shndx[i]
        if sizes[i] and 0 < sec < len(groups) and groups[sec]:
            found.append(i)
    strings, all_ids = tab.strings().strings, tab.ids()
    ids = array("I", map(all_ids.__getitem__, found))
    if go:
        owners: dict[int, str] | None = None
        for j, k in enumerate(ids):
            if k != NO_NAME and any(mark in strings[k] for mark in _EMBED_MARKS):
                if owners is None:
                    owners = _embed_owners(img, tab, groups)
                owner = owners.get(tab.values[found[j]])
                if owner is not None:
                    strings.append(owner)
                    ids[j] = len(strings) - 1
    # Sections of one group and name are one place (the first of them stands for all).
    first: dict[tuple[str | None, str], int] = {}
    same = [first.setdefault((groups[n], s.name), n) for n, s in enumerate(img.sections)]
    secs = map(same.__getitem__, map(shndx.__getitem__, found))

    def row(name: str, size: int, sec: int) -> DataSymbol:
        group, section = groups[sec] or DATA, img.sections[sec].name
        return DataSymbol(name, size, group, section, package_of(name) if go else None)

    return rank_keyed(strings, zip(ids, secs, strict=True), map(sizes.__getitem__, found), row)


def code_symbols(
    img: ElfImage, tab: _Symtab, groups: list[str | None], go: _GoCode | None
) -> Ranked:
    """Sized functions in the code group that are not Go's: every function of a C binary,
    the C code of a cgo one."""
    kept = array("I")
    sizes, shndx, values = tab.sizes, tab.shndx, tab.values
    lo, hi, foreign = go if go is not None else (0, 0, frozenset[int]())
    for i in tab.of_kind(STT_FUNC):
        size, sec, address = sizes[i], shndx[i], values[i]
        if lo <= address < hi and address not in foreign:
            continue  # Go's own (checked first: nearly every function of a Go binary)
        if size and 0 < sec < len(groups) and groups[sec] == CODE:
            kept.append(i)
    strings, all_ids = tab.strings().strings, tab.ids()
    ids = array("I", map(all_ids.__getitem__, kept))
    # Go's linker names each host object's text `pkg(.text)`: an alias of the C functions
    # in it, not code of its own.
    aliases = strings.ending(b"(.text)")
    for j, k in enumerate(ids) if aliases else ():
        if k in aliases:
            ids[j] = NO_NAME
    return rank_names(strings, ids, map(sizes.__getitem__, kept), Entry)


# ---------------------------------------------------------------- all together


def _text_size(img: ElfImage) -> int | None:
    text = img.section(".text")
    return text.size if text is not None else None


class _GoCode(NamedTuple):
    """Where Go's own functions are: the range the table covers, less its C functions."""

    lo: int
    hi: int
    foreign: frozenset[int]  # addresses of the table's non-Go functions


def _go_code(funcs: GoFunctions | None, tab: _Symtab) -> _GoCode | None:
    """The addresses of Go's functions, so code that is not Go's is told apart."""
    if funcs is None:
        return None
    start = funcs.start
    if start is None:  # the table leaves its base to a relocation: runtime.text says it
        at = tab.find(b"\0runtime.text\0")
        try:
            start = tab.values[tab.names.index(at + 1)] + funcs.first if at >= 0 else None
        except ValueError:
            start = None
    if start is None:
        return None
    base = start - funcs.first
    return _GoCode(start, start + funcs.covered, frozenset(base + e for e in funcs.foreign))


def attribute(
    img: ElfImage, want_symbols: bool = True, want_packages: bool = True, exported: bool = False
) -> Attribution:
    """Every view the binary allows (those not wanted left None); a broken function
    table becomes a warning. `exported`: a file with no .symtab and no Go function table
    (a stripped C, C++ or Rust binary) takes its symbols from .dynsym, with a warning that
    they are only what it exports (`gate size --by symbol`)."""
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
            pkgs[NON_GO] = pkgs.get(NON_GO, 0) + text - funcs.covered
        from gate.read.gobuild import BuildInfoError, read_go_build  # only for Go binaries

        try:
            build = read_go_build(img)
        except BuildInfoError as exc:  # packages still stand; modules lose their names
            build = None
            warnings.append(f"Go build info unreadable ({exc}); modules are not named")
        packages, modules = sorted_entries(pkgs), sorted_entries(_modules(pkgs, build))
    tab = _symtab(img) if want_symbols else None
    if tab is None and exported and funcs is None:
        tab = _exported(img, warnings)
    syms = data = code = None
    if tab is not None:
        syms = ranked_symbols(img, tab)
        by_section = _groups_by_section(img)
        data = data_symbols(img, tab, funcs is not None, by_section)
        code = code_symbols(img, tab, by_section, _go_code(funcs, tab))
    return Attribution(
        file_size=img.size,
        sections=groups,
        bss=bss,
        packages=packages,
        modules=modules,
        symbols=syms,
        pclntab=layout,
        warnings=tuple(warnings),
        data_symbols=data,
        code_symbols=code,
    )


def _exported(img: ElfImage, warnings: list[str]) -> _Symtab | None:
    """.dynsym in place of a stripped .symtab, when it names anything with file bytes."""
    tab = _symtab(img, "DYNSYM")
    found = ranked_symbols(img, tab) if tab is not None else None
    if not found:
        return None
    share = found.total() / img.size * 100 if img.size else 0.0
    warnings.append(
        f"stripped (no .symtab): the {len(found)} functions and objects .dynsym exports "
        f"({share:.1f}% of the file), not every symbol"
    )
    return tab


def attribute_binary(
    path: str, want_symbols: bool = True, want_packages: bool = True, exported: bool = False
) -> Attribution:
    """Where the bytes are in one binary; any problem with the file is a one-line
    BinaryError, as in inspect_binary (corrupt tables surface as struct/index errors)."""
    from gate.read.elf import CORRUPTION_ERRORS, open_elf

    with open_elf(path) as img:
        try:
            return attribute(img, want_symbols, want_packages, exported)
        except BinaryError:
            raise
        except CORRUPTION_ERRORS as exc:
            raise BinaryError(path, f"corrupt ELF: {type(exc).__name__}: {exc}") from exc


def top(entries: Iterable[Entry] | None, n: int) -> list[Entry]:
    return list((entries or ())[:n])  # type: ignore[index]
