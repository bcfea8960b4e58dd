"""Reading back the list gate writes one row a line: a size document's entries.

`gate size --by symbol --json` writes its entries as `{"name":"main.f","bytes":120}` a
line (report/size.py, size_json): a million symbols are 34 MB of text, which json.loads
makes a million dicts of some 250 bytes each (and took 73 s and 624 MB to compare with).
Rows of exactly that form are read here into two columns instead, a list of names and an
array of sizes (a name's str, 8 bytes of list and 8 of array: some 75 bytes a row), by
regular expressions that run in C a batch of lines at a time. Text of any other form
(rewritten by jq, edited by hand, cut short) is left to json, so this reader decides how
fast and small a document is read, never what it says.
"""

from __future__ import annotations

import json
import os
import re
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, overload

# A JSON string's inside as json reads it: no quote, backslash or control character
# except as a valid escape (the loop unrolled: a run of plain characters, then escapes).
_PLAIN = r'[^"\\\x00-\x1f]*+'
_NAME = rf'{_PLAIN}(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{{4}}){_PLAIN})*+'
# At most 19 digits: every such number is below 2**64, as a size document's must be; a
# longer one is json's (and gate.values.textlimits.OutOfRange's) to read.
_BYTES = r"0|[1-9][0-9]{0,18}"
_ROW = rf'\{{"name":"({_NAME})","bytes":({_BYTES})\}}'
_ROW_BARE = _ROW.replace("(", "(?:").replace("(?:?:", "(?:")
_ROWS = re.compile(rf"(?:{_ROW_BARE},\n)*+{_ROW_BARE}")
_ROW_RE = re.compile(_ROW)

# Where size_json puts the rows: the top-level key (dumps indents it by 2), `[`, a newline.
_START = '\n  "entries": [\n{"name":"'
_BATCH = 1 << 21  # characters of rows read at a time (some 60,000 rows)

ROW_COST = 49 + 8 + 8  # a name's str header, its pointer in the list, its size in the array


class SizeRows(Sequence[dict[str, Any]]):
    """A size document's entries as columns; `rows[i]` is the `{"name", "bytes"}` dict
    json would have made, built when asked for (a reader that wants all of them cheaply
    zips `names` and `sizes`)."""

    def __init__(self, names: list[str], sizes: array[int]) -> None:
        self.names, self.sizes = names, sizes

    def __len__(self) -> int:
        return len(self.names)

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [
                {"name": n, "bytes": b} for n, b in zip(self.names[i], self.sizes[i], strict=True)
            ]
        return {"name": self.names[i], "bytes": self.sizes[i]}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return ({"name": n, "bytes": b} for n, b in zip(self.names, self.sizes, strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SizeRows):
            return self.names == other.names and self.sizes == other.sizes
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]


def _ends(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The rows between start and end in batches of about _BATCH characters, each cut
    after a row's `,\\n` (a batch that is not rows fails on its own; one that is, is)."""
    while start < end:
        stop = text.find(",\n", min(start + _BATCH, end), end) if start + _BATCH < end else -1
        stop = end if stop < 0 else stop
        yield start, stop
        start = stop + 2


def _name(raw: str) -> str:
    return json.loads(f'"{raw}"') if "\\" in raw else raw


def cut(text: str) -> tuple[str, str, int, int] | None:
    """(the text with gate's rows replaced by a marker string, the marker, where the
    rows are in `text`) when a top-level `entries` is a list of rows in size_json's form,
    else None. Nothing is built but the short rest; what the rows will cost is
    `cost(text, start, end)`."""
    at = text.find(_START)
    if at < 0:
        return None
    start = at + len(_START) - len('{"name":"')
    end = text.find("\n]", start)
    if end < 0:
        return None
    for a, b in _ends(text, start, end):
        if _ROWS.fullmatch(text, a, b) is None:
            return None
    marker = f"\0rows {os.urandom(16).hex()}\0"  # nowhere else: json puts it where the rows were
    rest = "".join([text[: start - 2], json.dumps(marker), text[end + 2 :]])
    return rest, marker, start, end


def cost(text: str, start: int, end: int, width: int) -> int:
    """An upper bound on the memory of the rows between start and end as SizeRows: each
    row's fixed 20 characters and digits are not a name's; every other one may be."""
    rows = text.count(",\n", start, end) + 1
    return rows * ROW_COST + width * (end - start - 21 * rows)


def read(text: str, start: int, end: int) -> SizeRows:
    """The rows between start and end (cut() has matched them) as columns."""
    names: list[str] = []
    sizes = array("Q")
    for a, b in _ends(text, start, end):
        batch = _ROW_RE.findall(text, a, b)
        names += (_name(n) for n, _ in batch)
        sizes.extend(int(d) for _, d in batch)
    return SizeRows(names, sizes)
