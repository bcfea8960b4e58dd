"""Reference answers from real tools (readelf, ``go version -m``, debug/buildinfo).

Tests compare gate's own ELF/Go parsing against these, so the parsers here are
deliberately dumb: run the tool under ``LC_ALL=C`` and turn its text into plain
dicts/lists, keeping the tool's own spelling (e.g. readelf's machine string,
``go version -m``'s quoted setting values).  Every function raises
``RuntimeError`` when the tool fails, so a broken reference never passes
silently.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Fixture",
    "go_buildinfo_json",
    "go_version_m",
    "readelf_dynamic",
    "readelf_dynamic_info",
    "readelf_dynsym_names",
    "readelf_header",
    "readelf_interpreter",
    "readelf_sections",
    "readelf_segments",
    "summarize_dynamic",
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
    r" (?P<flags>[RWE ]{3}) (?P<align>0x[0-9a-f]+)$"
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
