"""Which toolchain built a binary, from what the file itself records.

Advice is only useful in the terms of the toolchain that built the binary: a Rust program
is changed through Cargo profiles and RUSTFLAGS, never `-fno-pie`; a stack protector is a
question about C objects, not about Rust or Go code. So the language is decided from
evidence, strongest first, and the evidence is kept so a message can say why:

- Go: the build info (`.go.buildinfo`), else a Go function table section.
- Rust: `.comment`'s `rustc version ...` entry (rustc writes it into every object, so a
  `.comment` without it is not Rust), a `.rustc` section (dylibs); for a binary whose
  `.comment` was stripped (Debian's dh_strip removes it), Rust's own symbols in
  `.symtab`/`.dynsym` (`rust_eh_personality`, `__rust_*`, legacy `_ZN...17h<hash>E` or v0
  `_R` mangling), else std's panic locations (`/rustc/<commit>/library/`) in `.rodata`.
- C++: libstdc++ or libc++ in DT_NEEDED, else `_Z` mangled names in the symbol tables. A
  static, stripped C++ binary says nothing of C++ and reads as C.
- C: everything else.

The compiler is `.comment`'s entry as written (`GCC: (Debian 12.2.0-14) 12.2.0`,
`clang version 16.0.6`, `rustc version 1.99.1 (...)`), or Go's version: a change of it
between baseline and head is a likely cause of any change. Every crt object carries its
compiler's entry too, so a clang entry wins over GCC's (crt objects are GCC's), and of
several GCC entries the newest is taken (a devtoolset's compiler is newer than the
system's crt1.o).

`c_code` is whether C (or C++) objects beyond the C runtime's start-up files were linked
in, which decides whether a stack protector or FORTIFY check applies: yes for C and C++;
for Go, whether cgo linked C in (CGO_ENABLED when recorded, else the ELF: C libraries in
DT_NEEDED or the C linker's `.init`); for Rust, a reference to `__stack_chk_fail` or a
`*_chk` function, or a C source file among `.symtab`'s FILE symbols (build scripts' C,
e.g. the cc crate's). A Rust binary without `.symtab` and without such references is not
known to hold C (None): `.comment` cannot tell, since crtbegin.o carries the same
compiler's entry as any C object the same compiler built.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gate.read.elf import MAX_STRING, ElfImage, SectionHeader, cstrings
from gate.read.gobuild import GoBuild

_MAX_COMMENT = 64 << 10  # .comment holds a few dozen bytes per compiler
_RUSTC = re.compile(r"^rustc version (\S+)")
_CLANG = re.compile(r"\bclang version (\S+)")
_GCC = re.compile(r"^GCC: \(.*\) (\d+(?:\.\d+)*)")
# Rust's names in a string table: the runtime's symbols (found with bytes.find), legacy
# mangling by its 16-hex-digit hash, v0 mangling down to its crate root (`Cs<hash>_<len>`).
# Each regex starts with a literal, which re searches for fast: 50 MB of C++ names take
# 0.2 s, not the 0.6 s one alternation of them all took.
_RUST_RUNTIME = (b"\0__rust_", b"\0rust_eh_personality\0", b"\0rust_begin_unwind\0")
_RUST_LEGACY = re.compile(rb"17h[0-9a-f]{16}E(?=[\x00@.])")
_RUST_V0 = re.compile(rb"\x00_R[NI][0-9A-Za-z_]*?Cs[0-9A-Za-z]+_\d")
_CXX_NAME = re.compile(rb"\x00_Z[A-Za-z0-9_]")
_CXX_LIBS = ("libstdc++.so", "libc++.so")
_RUST_PANIC_PATH = re.compile(rb"/rustc/[0-9a-f]{40}/library/")
# C sources (FILE symbols) the C runtime's start-up objects bring into every executable.
_C_RUNTIME = frozenset(
    ("crtstuff.c", "start.S", "init.c", "abi-note.c", "static-reloc.c", "elf-init.c")
)
_C_SUFFIXES = (".c", ".cc", ".cpp", ".cxx", ".c++", ".C")
STT_FILE = 4


@dataclass(frozen=True)
class Toolchain:
    language: str  # go | rust | c++ | c
    compiler: str | None  # as the binary names it; None when it does not
    version: str | None  # the compiler's version number alone ("12.2.0", "1.99.1", "1.16.3")
    evidence: str  # what decided the language, e.g. ".comment: rustc version 1.99.1 (...)"
    c_code: bool | None  # C objects beyond the C runtime's; None: nothing tells
    c_evidence: str  # why c_code is what it is


def language_of(facts: Mapping[str, Any]) -> str:
    """go | rust | c++ | c from the results' facts; a document from before the toolchain
    fact was recorded: Go when it has Go build info, else C."""
    found = facts.get("toolchain")
    if isinstance(found, Mapping) and found.get("language"):
        return str(found["language"])
    return "go" if facts.get("go") is not None else "c"


def comment_entries(img: ElfImage) -> tuple[str, ...]:
    """`.comment`'s NUL-separated entries (readelf -p .comment)."""
    sec = img.section(".comment")
    if sec is None or sec.type == "NOBITS":
        return ()
    raw = bytes(img.section_data(sec)[:_MAX_COMMENT])
    return tuple(e.decode("utf-8", "replace").strip() for e in raw.split(b"\0") if e.strip())


def _c_compiler(comments: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(entry, version) of the C compiler `.comment` names: clang over GCC, the newest GCC."""
    for entry in comments:
        m = _CLANG.search(entry)
        if m:
            return entry, m[1]
    best: tuple[tuple[int, ...], str, str] | None = None
    for entry in comments:
        m = _GCC.match(entry)
        if m:
            key = tuple(int(p) for p in m[1].split("."))
            if best is None or key > best[0]:
                best = (key, entry, m[1])
    return (best[1], best[2]) if best else (None, None)


def _search(img: ElfImage, table: memoryview, at: int, found: Callable[[bytes], bool]) -> bool:
    """Whether `found` says yes to a piece of a string table (offset `at`), a piece at a
    time (each piece's pages let go once searched)."""
    step = 16 << 20
    for start in range(0, len(table), step):
        piece = table[start : start + step + MAX_STRING]
        if img.is_hole(at + start, len(piece)):
            continue
        yes = found(bytes(piece))
        img.release(at + start, len(piece))
        if yes:
            return True
    return False


def rust_names(names: bytes) -> bool:
    """Whether a string table (NUL-separated) holds a name only Rust writes."""
    return (
        any(marker in names for marker in _RUST_RUNTIME)
        or _RUST_LEGACY.search(names) is not None
        or _RUST_V0.search(names) is not None
    )


def _cxx_names(names: bytes) -> bool:
    return _CXX_NAME.search(names) is not None


def _string_tables(
    img: ElfImage, dynstr: memoryview, dynstr_at: int
) -> list[tuple[memoryview, int]]:
    tables = [(dynstr, dynstr_at)] if dynstr else []
    symtab = next((s for s in img.sections if s.type == "SYMTAB"), None)
    if symtab is not None and 0 < symtab.link < len(img.sections):
        strtab = img.sections[symtab.link]
        tables.append((img.section_data(strtab), strtab.offset))
    return tables


def _c_sources(img: ElfImage, symtab: SectionHeader) -> list[str]:
    """C and C++ source files `.symtab`'s FILE symbols name, the C runtime's left out.

    Only the st_info column is looked at (bytes.translate marks FILE symbols), so a table
    of a million symbols costs a pass over a million bytes, not a Python loop over them."""
    width = 24 if img.elfclass == 64 else 16
    if symtab.entsize != width or not 0 < symtab.link < len(img.sections):
        return []
    raw = img.section_data(symtab)
    info_at = 4 if img.elfclass == 64 else 12
    marks = bytes(raw[info_at::width]).translate(
        bytes(1 if b & 0xF == STT_FILE else 0 for b in range(256))
    )
    offsets: set[int] = set()
    order: Literal["little", "big"] = "little" if img.little_endian else "big"
    i = marks.find(1)
    while i >= 0:
        offsets.add(int.from_bytes(raw[i * width : i * width + 4], order))
        i = marks.find(1, i + 1)
    if not offsets:
        return []
    strtab = img.sections[symtab.link]
    table = bytes(img.section_data(strtab)[: max(offsets) + MAX_STRING])
    names = cstrings(img.path, table, offsets).values()
    return sorted({n for n in names if n.endswith(_C_SUFFIXES) and n not in _C_RUNTIME})


def detect(
    img: ElfImage,
    go: GoBuild | None,
    needed: tuple[str, ...],
    dynstr: memoryview,
    dynstr_at: int,
    canary: bool,
    fortified: tuple[str, ...],
) -> Toolchain:
    """The toolchain of one binary (see the module's docstring for the evidence used)."""
    comments = comment_entries(img)
    names = {s.name for s in img.sections}
    # A Go 1.19 plugin keeps its function table inside .data.rel.ro and has no build
    # info Go's tools read, but every Go link writes the build ID note.
    if go is not None or ".gopclntab" in names or ".note.go.buildid" in names:
        return _go(go, needed, names)
    rustc = next((m for e in comments if (m := _RUSTC.match(e))), None)
    tables = _string_tables(img, dynstr, dynstr_at)
    evidence = ""
    if rustc is not None:
        evidence = f".comment: {rustc.string}"
    elif ".rustc" in names:
        evidence = "a .rustc section"
    elif comments:
        pass  # rustc names itself in every object's .comment: a .comment without it is not Rust
    elif any(_search(img, t, at, rust_names) for t, at in tables):
        evidence = "Rust symbols (rust_begin_unwind, __rust_*, Rust mangling)"
    elif _rust_panic_paths(img):
        evidence = "std's panic locations (/rustc/<commit>/library/) in .rodata"
    if evidence:
        return _rust(img, rustc, evidence, canary, fortified)
    compiler, version = _c_compiler(comments)
    cxx = next((n for n in needed if n.startswith(_CXX_LIBS)), None)
    if cxx is None and any(_search(img, t, at, _cxx_names) for t, at in tables):
        evidence = "C++ symbols (_Z mangling)"
    elif cxx is not None:
        evidence = f"needs {cxx}"
    if evidence:
        return Toolchain("c++", compiler, version, evidence, True, "C++")
    return Toolchain("c", compiler, version, "no Go, Rust or C++ in it", True, "C")


def _rust_panic_paths(img: ElfImage) -> bool:
    sec = img.section(".rodata")
    if sec is None or sec.type == "NOBITS":
        return False
    at = img.find(b"/rustc/", sec.offset, sec.offset + sec.size)
    while at >= 0:
        if _RUST_PANIC_PATH.match(bytes(img.read(at, min(60, sec.offset + sec.size - at)))):
            return True
        at = img.find(b"/rustc/", at + 1, sec.offset + sec.size)
    return False


def _go(go: GoBuild | None, needed: tuple[str, ...], sections: set[str]) -> Toolchain:
    """Go, with whether cgo linked C into it: CGO_ENABLED when the build info records it
    (Go 1.18 and later), else the ELF. Go's own linker needs C libraries only for cgo, and
    only the C linker (cgo's external linking) adds crti.o's `.init`."""
    version = go.version if go is not None else None
    number = version.removeprefix("go") if version and version.startswith("go1") else None
    if go is not None:
        evidence = "Go build info"
    elif ".gopclntab" in sections:
        evidence = "a Go function table (.gopclntab)"
    else:
        evidence = "Go's build ID note (.note.go.buildid)"
    cgo = go.settings.get("CGO_ENABLED") if go is not None else None
    c_code: bool | None
    if cgo == "0":
        c_code, why = False, "CGO_ENABLED=0"
    elif needed:
        c_code, why = True, f"cgo: links {', '.join(needed)}"
    elif ".init" in sections:
        c_code, why = True, "cgo: linked by the C linker (.init)"
    else:
        c_code, why = False, "Go's own linker, no C libraries"
    return Toolchain("go", version, number, evidence, c_code, why)


def _rust(
    img: ElfImage,
    rustc: re.Match[str] | None,
    evidence: str,
    canary: bool,
    fortified: tuple[str, ...],
) -> Toolchain:
    compiler = rustc.string if rustc is not None else None
    version = rustc[1] if rustc is not None else None
    c_code: bool | None
    if canary or fortified:
        c_code = True
        why = "C built with " + ("a stack protector" if canary else "FORTIFY_SOURCE")
    else:
        symtab = next((s for s in img.sections if s.type == "SYMTAB"), None)
        if symtab is None:
            c_code, why = None, "no .symtab to find C objects in"
        else:
            sources = _c_sources(img, symtab)
            more = f", ... {len(sources) - 3} more" if len(sources) > 3 else ""
            c_code = bool(sources)
            why = (
                f"C sources in .symtab: {', '.join(sources[:3])}{more}"
                if sources
                else "no C sources in .symtab"
            )
    return Toolchain("rust", compiler, version, evidence, c_code, why)
