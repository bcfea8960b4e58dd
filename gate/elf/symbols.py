"""Symbol names and totals in bulk: a million symbols without a million Python objects each.

`gate size --by symbol` on a file of 1M symbols shows 25 of them, and its `--json` every
one; the results document keeps 200. So the names are decoded once, in bulk (the string
table split at its NULs in C, one str per string of the table), a symbol is a name id in
an array, same names add up in arrays indexed by those ids, and the ranked list is an
array of ids: an Entry is made only for what is shown. The largest N are found in one
linear pass (a threshold, then a sort of the few at or above it); the whole ranking
(largest first, ties by name) is sorted only when every entry is asked for.
"""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

from gate.errors import BinaryError

NO_NAME = 0xFFFFFFFF  # a name id for an offset that names nothing (out of the table, cut)


def _next_start(start: int, length: int) -> int:
    return start + length + 1


class Names:
    """A string table's strings, decoded once; `ids` maps name offsets to indexes of them.

    Offsets at the start of a string (what linkers write) share the split's objects; an
    offset into the middle of one (a shared suffix) gets its own string, and those extra
    bytes are budgeted: more than twice the table (+1 MiB) is corruption, never gigabytes
    of names."""

    def __init__(self, path: str, table: bytes, max_string: int) -> None:
        self.path = path
        self.max_string = max_string
        self.ascii = table.isascii()
        # ASCII (nearly every table): split the text, one str per string and no bytes.
        pieces: list[Any] = table.decode("ascii").split("\0") if self.ascii else table.split(b"\0")
        # The last piece has no NUL after it: a name that runs into it is cut (none).
        self.starts = array("Q", itertools.accumulate(map(len, pieces), _next_start, initial=0))
        self.raw = None if self.ascii else pieces
        self.strings: list[str] = (
            pieces if self.ascii else [p.decode("utf-8", "replace") for p in pieces]
        )
        self.cut = len(pieces) - 1  # the index of the unterminated piece
        self._suffixes: dict[int, int] = {}
        self._budget = 2 * len(table) + (1 << 20)

    def ids(self, offsets: Iterable[int]) -> array[int]:
        """The name id of each offset (NO_NAME when it names nothing)."""
        starts, cut, out = self.starts, self.cut, array("I")
        limit = self.max_string
        append = out.append
        k = 0
        for off in offsets:
            # Linkers write names in symbol order: the next string is the likely one.
            if k + 1 < cut and starts[k + 1] == off:
                k += 1
            else:
                k = bisect_right(starts, off) - 1
            if k >= cut or starts[k + 1] - 1 - off >= limit:
                append(NO_NAME)
            elif starts[k] == off:
                append(k)
            else:
                append(self._suffix(k, off))
        return out

    def _suffix(self, k: int, off: int) -> int:
        found = self._suffixes.get(off)
        if found is not None:
            return found
        skip = off - self.starts[k]
        self._budget -= self.starts[k + 1] - off
        if self._budget < 0:
            raise BinaryError(
                self.path,
                "corrupt ELF: symbol names overlap (reading them takes more than twice "
                "their string table)",
            )
        if self.raw is None:
            text = self.strings[k][skip:]
        else:
            text = self.raw[k][skip:].decode("utf-8", "replace")
        self.strings.append(text)
        self._suffixes[off] = len(self.strings) - 1
        return len(self.strings) - 1


class Ranked(Sequence[Any]):
    """Items (names, or names with a detail such as their section) with their summed
    sizes, largest first and ties by name; an item's row is made only when asked for.

    `names[i]` and `totals[i]` describe item i; `make(i)` builds its row."""

    def __init__(
        self,
        names: Sequence[str],
        totals: array[int],
        items: array[int],
        make: Callable[[int], Any],
    ) -> None:
        self._names, self._totals, self._items, self._make = names, totals, items, make
        self._order: array[int] | None = None

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...
    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if start == 0 and step == 1 and stop < len(self) and self._order is None:
                return [self._make(k) for k in self.top(stop)]
            return [self._make(k) for k in self.order()[i]]
        return self._make(self.order()[i])

    def __iter__(self) -> Iterator[Any]:
        return map(self._make, self.order())

    def total(self) -> int:
        return sum(self._totals[k] for k in self._items)

    def sizes(self) -> Iterator[tuple[int, int]]:
        """(item, size) of every item, in no particular order (no sort, no rows)."""
        return zip(self._items, map(self._totals.__getitem__, self._items), strict=True)

    def named(self) -> Iterator[tuple[str, int]]:
        """(name, size) of every item, in no particular order (no sort, no rows)."""
        names = self._names
        return ((names[k], size) for k, size in self.sizes())

    def top(self, n: int) -> list[int]:
        """The n largest items (ties by name), in one pass and a sort of the few at or
        above the n-th largest size."""
        if n <= 0:
            return []
        totals = self._totals
        if n >= len(self._items):
            return list(self.order())
        import heapq

        floor = heapq.nlargest(n, map(totals.__getitem__, self._items))[-1]
        chosen = [k for k in self._items if totals[k] >= floor]
        chosen.sort(key=self._names.__getitem__)
        chosen.sort(key=totals.__getitem__, reverse=True)  # stable: ties stay by name
        return chosen[:n]

    def order(self) -> array[int]:
        """Every item, largest first, ties by name (two stable sorts, cached)."""
        if self._order is None:
            ranked = sorted(self._items, key=self._names.__getitem__)
            ranked.sort(key=self._totals.__getitem__, reverse=True)
            self._order = array("I", ranked)
        return self._order


def rank_names(
    strings: list[str], ids: Iterable[int], sizes: Iterable[int], make: Callable[[str, int], Any]
) -> Ranked:
    """Sizes summed by name (ids of `strings`; same strings add up, whatever their ids)."""
    totals = array("Q", bytes(8 * len(strings)))
    for k, size in zip(ids, sizes, strict=True):
        if k != NO_NAME:
            totals[k] += size
    items = array("I", itertools.compress(range(len(totals)), totals))
    if len(set(map(strings.__getitem__, items))) != len(items):  # one name, many offsets
        merged, last = array("I"), None
        for k in sorted(items, key=strings.__getitem__):
            if last is not None and strings[k] == strings[last]:
                totals[last] += totals[k]
            else:
                merged.append(k)
                last = k
        items = merged
    return Ranked(strings, totals, items, lambda k: make(strings[k], totals[k]))


def rank_keyed(
    strings: list[str],
    keys: Iterable[tuple[int, int]],
    sizes: Iterable[int],
    make: Callable[[str, int, int], Any],
) -> Ranked:
    """Sizes summed by (name, detail): `keys` are (name id, detail) per symbol; the
    detail (a section index) is an int. For the data objects, fewer than the functions."""
    index: dict[tuple[str, int], int] = {}
    names: list[str] = []
    details = array("I")
    totals = array("Q")
    for (k, detail), size in zip(keys, sizes, strict=True):
        if k == NO_NAME:
            continue
        key = (strings[k], detail)
        at = index.get(key)
        if at is None:
            index[key] = at = len(names)
            names.append(strings[k])
            details.append(detail)
            totals.append(size)
        else:
            totals[at] += size
    del index
    items = array("I", range(len(names)))
    return Ranked(names, totals, items, lambda i: make(names[i], totals[i], details[i]))
