"""Go build information from `.go.buildinfo`, read the way `go version -m` reads it.

The Go linker writes a 32-byte header (magic "\\xff Go buildinf:", pointer size,
flags) into `.go.buildinfo`. Go 1.18+ follows it with two varint-prefixed strings
(the toolchain version, then the module info); older toolchains store two pointers
to Go string headers elsewhere in the data segment. The module info is text:
`path`, `mod`, `dep`, `=>` (replacement) and `build KEY=VALUE` lines, the latter
quoted Go-style when a key or value holds spaces or quotes. `-s -w` does not remove
it, and when section headers are gone too the header is found the same way Go
finds it: in the first writable, non-executable PT_LOAD segment.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from gate.read.elf import PF_W, PF_X, PT_LOAD, ElfImage

MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_ALIGN = 16
_SEARCH_WINDOW = 64 * 1024  # how far Go itself looks for the header
_MAX_STRING = 1 << 20  # module info of the largest real binaries is a few tens of KiB
_FLAG_BIG_ENDIAN = 0x1
_FLAG_INLINE = 0x2


class BuildInfoError(ValueError):
    """`.go.buildinfo` exists but cannot be decoded."""


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    sum: str | None = None
    replace: Module | None = None


@dataclass(frozen=True)
class GoBuild:
    version: str  # toolchain, e.g. "go1.19.8"
    path: str  # main package path
    main_module: Module | None
    deps: tuple[Module, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)  # build KEY=VALUE, unquoted
    format: str = "inline"  # "inline" (Go 1.18+) or "pointer" (before 1.18)


def _header_window(img: ElfImage) -> memoryview | None:
    sec = img.section(".go.buildinfo")
    if sec is not None and sec.type != "NOBITS":
        return img.read(sec.offset, min(sec.size, _SEARCH_WINDOW))
    for seg in img.segments:
        if seg.type == PT_LOAD and seg.flags & (PF_X | PF_W) == PF_W:
            return img.read(seg.offset, min(seg.filesz, _SEARCH_WINDOW))
    return None


def _find_header(window: memoryview) -> memoryview | None:
    data = bytes(window)
    pos = 0
    while True:
        i = data.find(MAGIC, pos)
        if i < 0 or len(data) - i < _HEADER_SIZE:
            return None
        if i % _ALIGN == 0:
            return window[i:]
        pos = (i + _ALIGN - 1) & ~(_ALIGN - 1)


def _uvarint(buf: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
    raise BuildInfoError("bad varint in build info")


def _inline_string(buf: memoryview, pos: int) -> tuple[bytes, int]:
    length, pos = _uvarint(buf, pos)
    if length > _MAX_STRING or pos + length > len(buf):
        raise BuildInfoError("build info string runs past its section")
    return bytes(buf[pos : pos + length]), pos + length


def _pointer_string(img: ElfImage, header: memoryview, index: int) -> bytes:
    """Pre-1.18 layout: header holds the address of a Go string header (data, len)."""
    ptr_size = header[14]
    if ptr_size not in (4, 8):
        raise BuildInfoError(f"bad pointer size {ptr_size} in build info")
    end = ">" if header[15] & _FLAG_BIG_ENDIAN else "<"
    word = end + ("Q" if ptr_size == 8 else "I")
    (addr,) = struct.unpack_from(word, header, 16 + index * ptr_size)
    hdr = img.read_vaddr(addr, 2 * ptr_size)
    if hdr is None:
        raise BuildInfoError("build info points outside the loaded segments")
    data_addr, length = struct.unpack_from(end + word[1] * 2, hdr)
    if length == 0:
        return b""
    if length > _MAX_STRING:
        raise BuildInfoError("build info string is implausibly long")
    raw = img.read_vaddr(data_addr, length)
    if raw is None:
        raise BuildInfoError("build info string lies outside the loaded segments")
    return bytes(raw)


def _go_unquote(text: str) -> str:
    """strconv.Unquote for the quoting `go version -m` applies (double or back quotes)."""
    if len(text) >= 2 and text[0] == text[-1] == "`":
        return text[1:-1]
    if not (len(text) >= 2 and text[0] == text[-1] == '"'):
        return text
    body = text[1:-1]
    out = bytearray()
    simple = {
        "a": 7,
        "b": 8,
        "f": 12,
        "n": 10,
        "r": 13,
        "t": 9,
        "v": 11,
        "\\": 92,
        "'": 39,
        '"': 34,
    }
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1 : i + 2]
        if e in simple:
            out.append(simple[e])
            i += 2
            continue
        # \xHH, \uHHHH, \UHHHHHHHH and \OOO, each with exactly its digits (int() alone
        # would take spaces, signs, underscores and other scripts' digits, and raise).
        width, base, start = _NUMERIC_ESCAPES.get(e, (0, 0, 0))
        digits = body[i + start : i + start + width]
        allowed = _OCTAL if base == 8 else _HEX
        if not width or len(digits) != width or not set(digits) <= allowed:
            raise BuildInfoError(f"bad escape in build setting {text!r}")
        value = int(digits, base)
        if e in ("u", "U"):
            if value > 0x10FFFF or 0xD800 <= value < 0xE000:
                raise BuildInfoError(f"bad escape in build setting {text!r}")
            out += chr(value).encode()
        elif value > 0xFF:
            raise BuildInfoError(f"bad escape in build setting {text!r}")
        else:
            out.append(value)
        i += start + width
    return out.decode("utf-8", "replace")


_HEX = frozenset("0123456789abcdefABCDEF")
_OCTAL = frozenset("01234567")
# escape letter -> (digits, base, where the digits start after the backslash)
_NUMERIC_ESCAPES = {"x": (2, 16, 2), "u": (4, 16, 2), "U": (8, 16, 2)}
_NUMERIC_ESCAPES.update({d: (3, 8, 1) for d in _OCTAL})


def _split_setting(kv: str) -> tuple[str, str]:
    if kv[:1] in ('"', "`"):
        quote = kv[0]
        i = 1
        while i < len(kv) and kv[i] != quote:
            i += 2 if (quote == '"' and kv[i] == "\\") else 1
        raw_key, rest = kv[: i + 1], kv[i + 1 :]
        if not rest.startswith("="):
            raise BuildInfoError(f"build setting without '=': {kv!r}")
        return _go_unquote(raw_key), _go_unquote(rest[1:])
    key, sep, value = kv.partition("=")
    if not sep or not key:
        raise BuildInfoError(f"malformed build setting: {kv!r}")
    return key, _go_unquote(value)


def _module(fields: list[str]) -> Module:
    path = fields[0] if fields else ""
    version = fields[1] if len(fields) > 1 else ""
    summ = fields[2] if len(fields) > 2 and fields[2] else None
    return Module(path, version, summ)


def parse_modinfo(text: str) -> tuple[str, Module | None, tuple[Module, ...], dict[str, str]]:
    """(path, main module, deps, settings) from the module-info text."""
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: dict[str, str] = {}
    last: str | None = None  # which module a "=>" line replaces
    for line in text.split("\n"):
        tag, _, rest = line.partition("\t")
        if tag == "path":
            path = rest
        elif tag == "mod":
            main = _module(rest.split("\t"))
            last = "mod"
        elif tag == "dep":
            deps.append(_module(rest.split("\t")))
            last = "dep"
        elif tag == "=>":
            repl = _module(rest.split("\t"))
            if last == "dep" and deps:
                d = deps[-1]
                deps[-1] = Module(d.path, d.version, d.sum, repl)
            elif last == "mod" and main is not None:
                main = Module(main.path, main.version, main.sum, repl)
        elif tag == "build":
            key, value = _split_setting(rest)
            settings[key] = value
    return path, main, tuple(deps), settings


def read_go_build(img: ElfImage) -> GoBuild | None:
    """Build info of a Go binary; None for a binary no Go toolchain linked."""
    window = _header_window(img)
    if window is None:
        return None
    header = _find_header(window)
    if header is None:
        return None
    flags = header[15]
    if flags & _FLAG_INLINE:
        version_b, pos = _inline_string(header, _HEADER_SIZE)
        mod_b, _ = _inline_string(header, pos)
        fmt = "inline"
    else:
        version_b = _pointer_string(img, header, 0)
        mod_b = _pointer_string(img, header, 1)
        fmt = "pointer"
    version = version_b.decode("utf-8", "replace")
    if not version:
        return None
    # The module info is framed by two 16-byte sentinels; unframed means none recorded.
    mod = (
        mod_b[16:-16].decode("utf-8", "replace") if len(mod_b) >= 33 and mod_b[-17] == 0x0A else ""
    )
    path, main, deps, settings = parse_modinfo(mod)
    return GoBuild(version, path, main, deps, settings, fmt)
