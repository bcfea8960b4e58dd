"""Real image files, written byte by byte: what sits beside built binaries under bin/ or
dist/ (a logo, an icon) and is a binary file to pre-commit, but not ELF."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data and the CRC over type and data (PNG spec, 5.3)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 2, height: int = 2) -> bytes:
    """A valid greyscale PNG of width x height black pixels (file(1) and image viewers
    read it), so a test's "not ELF" file is a real one, not four magic bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey, no interlace
    rows = b"".join(b"\0" + b"\0" * width for _ in range(height))  # filter 0, then the pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
