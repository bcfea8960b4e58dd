"""One helper for text shown on a terminal or in a CI log that comes from outside:
binary paths and names, messages that quote them, a program's output. A file name may
hold any byte but NUL and `/`, so ESC (a terminal's control sequences) or a newline (a
forged log line, a second workflow command) is shown as an escape instead.

Bidirectional controls are escaped too: U+202E (right-to-left override) and its kin
make a viewer show text in another order than it is ("Trojan Source"), so a program's
output could make `FAIL` read as something else."""

from __future__ import annotations

import re
from collections.abc import Iterator

# Arabic letter mark, LRM/RLM, the embeddings and overrides, the isolates.
BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI}]")
_BIDI = re.compile(f"[{BIDI}]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` with every control character (C0, DEL, C1; tab and newline too) as `\\xNN`,
    and every bidirectional control as `\\uNNNN`."""
    return _CONTROL.sub(_escape, str(text))


def bidi_escaped(text: str) -> str:
    """`text` with its bidirectional controls as `\\uNNNN`, everything else kept."""
    return _BIDI.sub(_escape, text)


def json_bidi_escaped(text: str) -> str:
    """JSON text whose bidirectional controls are JSON's own `\\uNNNN` escapes: the data
    reads back unchanged, and the file shows no override to whoever opens it. (Outside
    its strings json.dumps writes only ASCII, so every such character is in a string.)"""
    return _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dump_json(obj: object) -> str:
    """`obj` as every JSON file gate writes it: indented UTF-8 text, bidirectional controls
    as `\\uNNNN` (json_bidi_escaped), a newline at the end. Every exporter (results, BMF,
    hyperfine, Code Quality, github-action-benchmark) writes through this one function,
    so a program's output or a file name cannot reorder what any of those files shows
    (or through json_chunks, the same text in pieces, for the results document)."""
    import json

    return json_bidi_escaped(json.dumps(obj, indent=2, ensure_ascii=False)) + "\n"


PIECE = 1 << 20  # characters: the text of a big document is never held whole


def json_chunks(obj: object, piece: int = PIECE) -> Iterator[str]:
    """dump_json(obj) in pieces of about `piece` characters, for a writer to pass on as they
    come: a merged results document is tens of MB, and its text built whole (then escaped,
    then encoded) took more than twice the memory of the document itself. Escaping each
    piece on its own gives the same text, since a bidirectional control is one character."""
    import json

    parts: list[str] = []
    size = 0
    for part in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(obj):
        parts.append(part)
        size += len(part)
        if size >= piece:
            yield json_bidi_escaped("".join(parts))
            parts.clear()
            size = 0
    parts.append("\n")
    yield json_bidi_escaped("".join(parts))
