"""Symbol names and totals in bulk: a million symbols without a million Python objects each.

`gate size --by symbol` on a file of 1M symbols shows 25 of them, and its `--json` every
one; the results document keeps 200. So the string table stays bytes with an array of
where its strings start, a symbol is a name id in an array, same names add up in arrays
indexed by those ids (names that may be the same are found by their hashes, and only
those are decoded), and the ranked list is an array of ids: a name is decoded, and an
Entry made, only for what is shown (and for the ties around the N-th). The largest N are
found in one linear pass (a threshold, then a sort of the few at or above it); the whole
ranking (largest first, ties by name) is sorted only when every entry is asked for.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, overload

from gate.errors import BinaryError

NO_NAME = 0xFFFFFFFF  # a name id for an offset that names nothing (out of the table, cut)
_LOW32 = 0xFFFFFFFF


def _next_start(start: int, length: int) -> int:
    return start + length + 1


def _pieces(table: bytes, chunk: int = 1 << 20) -> Iterator[tuple[int, list[bytes]]]:
    """`table` split at its NULs in C a chunk at a time (where each chunk starts, its
    pieces): a megabyte of objects at once, not a million."""
    at, end = 0, len(table)
    while True:
        nul = table.find(b"\0", at + chunk)
        stop = end if nul < 0 else nul
        yield at, table[at:stop].split(b"\0")
        if nul < 0:
            return
        at = stop + 1


def _starts(table: bytes) -> array[int]:
    """Where each NUL-ended string of `table` starts (and, last, one past its end + 1)."""
    starts = array("Q", [0])
    for at, pieces in _pieces(table):
        lengths = map(len, pieces)
        starts.extend(
            itertools.islice(itertools.accumulate(lengths, _next_start, initial=at), 1, None)
        )
    return starts


class Strings(Sequence[str]):
    """A string table's strings by index, each decoded when asked for (never kept), then
    those added after them (names cut from a string's middle, names found elsewhere).

    A million names cost the table's bytes and their starts, not a million strs: what is
    shown is decoded, the rest never is."""

    def __init__(self, table: bytes, starts: array[int], ascii: bool) -> None:
        self._table, self._starts = table, starts
        self._codec = ("ascii", "strict") if ascii else ("utf-8", "replace")
        self._count = len(starts) - 1
        self._added: list[str] = []
        self._hashes: array[int] | None = None
        self._repeated: set[int] | None = None

    def __len__(self) -> int:
        return self._count + len(self._added)

    @overload
    def __getitem__(self, k: int) -> str: ...
    @overload
    def __getitem__(self, k: slice) -> list[str]: ...
    def __getitem__(self, k: int | slice) -> str | list[str]:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        if k < 0:
            k += len(self)
        if k < self._count:
            starts = self._starts
            return self._table[starts[k] : starts[k + 1] - 1].decode(*self._codec)
        return self._added[k - self._count]

    def texts(self, ids: Sequence[int]) -> Iterable[str]:
        """The strings of `ids`, decoded in C where the table is ASCII."""
        if self._codec[0] != "ascii" or max(ids, default=0) >= self._count:
            return map(self.__getitem__, ids)
        return map(operator.methodcaller("decode", "ascii"), self._cut(ids))

    def order_keys(self, ids: Sequence[int]) -> Iterable[bytes | str]:
        """Keys that sort the strings of `ids` as the strings sort: an ASCII table's
        bytes (cut from it in C), else the strs."""
        if self._codec[0] != "ascii" or max(ids, default=0) >= self._count:
            return map(self.__getitem__, ids)
        return self._cut(ids)

    def _cut(self, ids: Sequence[int]) -> Iterator[bytes]:
        starts = self._starts
        ends = map((-1).__add__, map(starts.__getitem__, map((1).__add__, ids)))
        return map(self._table.__getitem__, map(slice, map(starts.__getitem__, ids), ends))

    def piece(self, k: int, skip: int) -> str:
        """String k of the table, less its first `skip` bytes."""
        return self.raw(k)[skip:].decode(*self._codec)

    def raw(self, k: int) -> bytes:
        """String k's bytes (an added one's UTF-8)."""
        if k >= self._count:
            return self._added[k - self._count].encode("utf-8", "surrogatepass")
        # The unterminated last piece runs to the table's end (its start + 1 is past it).
        return self._table[self._starts[k] : self._starts[k + 1] - 1]

    def hashes(self, ids: array[int]) -> array[int]:
        """Each string's hash (equal strings, equal hashes: an ASCII table's
        bytes, else the strs), the table's hashed a chunk at a time in C on first use."""
        if max(ids, default=0) < self._count:
            return array("q", map(self._hashed().__getitem__, ids))
        return array("q", map(self._hash, ids))

    def repeated(self) -> set[int]:
        """The hashes two strings may share: those met twice among the table's
        (found once) and those of the strings added after them."""
        if self._repeated is None:
            self._repeated = _repeated(self._hashed())
        return self._repeated | set(map(self._hash, range(self._count, len(self))))

    def _hashed(self) -> array[int]:
        if self._hashes is None:
            self._hashes = array("q")
            for _, pieces in _pieces(self._table):
                text = pieces if self._codec[0] == "ascii" else self._decoded(pieces)
                self._hashes.extend(map(hash, text))
        return self._hashes

    def _hash(self, k: int) -> int:
        return hash(self._key(k))

    def _decoded(self, pieces: list[bytes]) -> Iterator[str]:
        return map(operator.methodcaller("decode", *self._codec), pieces)

    def _key(self, k: int) -> bytes | str:
        if k < self._count:
            return self.raw(k) if self._codec[0] == "ascii" else self[k]
        text = self._added[k - self._count]
        return text.encode("utf-8", "surrogatepass") if self._codec[0] == "ascii" else text

    def ending(self, tail: bytes) -> set[int]:
        """The indexes of the strings that end with `tail`, found by searching the table."""
        found, at, starts = set(), self._table.find(tail + b"\0"), self._starts
        while at >= 0:
            found.add(bisect_right(starts, at) - 1)
            at = self._table.find(tail + b"\0", at + 1)
        if self._table.endswith(tail):  # the unterminated last piece
            found.add(self._count - 1)
        text = tail.decode(*self._codec)
        found.update(self._count + i for i, s in enumerate(self._added) if s.endswith(text))
        return found

    def append(self, text: str) -> None:
        self._added.append(text)


class Names:
    """A string table's strings (gate/elf/symbols.Strings, each decoded when asked for);
    `ids` maps name offsets to indexes of them.

    Offsets at the start of a string (what linkers write) are its index; an offset into
    the middle of one (a shared suffix) gets its own string, added after them; those extra
    bytes are budgeted: more than twice the table (+1 MiB) is corruption, never gigabytes
    of names."""

    def __init__(self, path: str, table: bytes, max_string: int) -> None:
        self.path = path
        self.max_string = max_string
        self.ascii = table.isascii()
        # The strings' starts, found in C (their lengths, from a split let go at once); the
        # last piece has no NUL after it: a name that runs into it is cut (none).
        self.starts = _starts(table)
        self.strings = Strings(table, self.starts, self.ascii)
        self.cut = len(self.starts) - 2  # the index of the unterminated piece
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
        text = self.strings.piece(k, skip)
        self.strings.append(text)
        self._suffixes[off] = len(self.strings) - 1
        return len(self.strings) - 1


class Ranked(Sequence[Any]):
    """Items (names, or names with a detail such as their section) with their summed
    sizes, largest first and ties by name; an item's row is made only when asked for.

    `names[i]` and `totals[i]` describe item i; `make(names[i], i)` builds its row."""

    def __init__(
        self,
        names: Sequence[str],
        totals: array[int],
        items: array[int],
        make: Callable[[str, int], Any],
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
                return list(self._rows(self.top(stop)))
            return list(self._rows(self.order()[i]))
        k = self.order()[i]
        return self._make(self._names[k], k)

    def __iter__(self) -> Iterator[Any]:
        return self._rows(self.order())

    def _rows(self, ids: Sequence[int]) -> Iterator[Any]:
        names = self._names
        texts = names.texts(ids) if isinstance(names, Strings) else map(names.__getitem__, ids)
        return map(self._make, texts, ids)

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
        """Every item, largest first, ties by name (cached). Sizes first, in one sort of
        plain ints (the size complemented, then the item: no key objects, no tuples); then
        each run of equal sizes by its names, whose keys exist one run at a time. A million
        symbols in 16 sizes cost 40 MB at the peak, not the 90 MB of all their names at
        once (every size the same costs that again, and no more)."""
        if self._order is None:
            items, totals = self._items, self._totals
            most = max(totals, default=0)
            packed = [(most - totals[k]) << 32 | k for k in items]
            packed.sort()
            ranked = array("I", map(_LOW32.__and__, packed))
            del packed
            at = 0
            for _, run in itertools.groupby(map(totals.__getitem__, ranked)):
                end = at + sum(1 for _ in run)
                if end - at > 1:
                    ranked[at:end] = self._by_name(ranked[at:end])
                at = end
            self._order = ranked
        return self._order

    def _by_name(self, ids: array[int]) -> array[int]:
        """`ids` in their names' order (equal names keep their order)."""
        names = self._names
        keys = list(
            names.order_keys(ids) if isinstance(names, Strings) else map(names.__getitem__, ids)
        )
        return array("I", map(ids.__getitem__, sorted(range(len(ids)), key=keys.__getitem__)))


def _repeated(hashes: array[int], parts: int = 4) -> set[int]:
    """The hashes met more than once, a part at a time (split by their low bits, in C),
    so the int objects made are a quarter of them at once: a part whose set is smaller
    than it (names met twice, nearly never a chance) is sorted to tell which."""
    twice: set[int] = set()
    low = bytes(map((parts - 1).__and__, hashes))
    for part in range(parts):
        met = list(itertools.compress(hashes, low.translate(bytes(n == part for n in range(256)))))
        if len(set(met)) < len(met):
            met.sort()
            twice.update(itertools.compress(met, map(operator.eq, met, met[1:])))
    return twice


def rank_names(
    strings: Strings, ids: Iterable[int], sizes: Iterable[int], make: Callable[[str, int], Any]
) -> Ranked:
    """Sizes summed by name (ids of `strings`; same strings add up, whatever their ids)."""
    totals = array("Q", bytes(8 * len(strings)))
    for k, size in zip(ids, sizes, strict=True):
        if k != NO_NAME:
            totals[k] += size
    items = array("I", itertools.compress(range(len(totals)), totals))
    # One name, many offsets: only the names whose hashes meet in the table are decoded
    # and compared (those that meet by chance are told apart here).
    twice = strings.repeated()
    if twice:
        hashes = strings.hashes(items)
        first: dict[str, int] = {}
        merged: set[int] = set()
        for k in itertools.compress(items, map(twice.__contains__, hashes)):
            at = first.setdefault(strings[k], k)
            if at != k:
                totals[at] += totals[k]
                merged.add(k)
        if merged:
            items = array("I", itertools.filterfalse(merged.__contains__, items))
    return Ranked(strings, totals, items, lambda name, k: make(name, totals[k]))


def rank_keyed(
    strings: Sequence[str],
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
    return Ranked(names, totals, items, lambda name, i: make(name, totals[i], details[i]))
