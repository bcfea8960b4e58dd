"""The gate/size/v1 document (`gate size --json`), and the attribution a results
document keeps: built from an Attribution (gate/read/attribution.py), compared with what
an older binary or document says. Pure: reading the binaries and documents is
gate/size_command.py's, the table gate/report/size.py's.

A comparison accounts for the whole change of the file: the view's names, and a row for
each section group's bytes they leave out (`<go metadata>`, `<other code>`), so the rows
add up to the headline.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from gate.judge.explain import toolchain_change
from gate.values.groups import CODE, group_name

if TYPE_CHECKING:
    from gate.judge.diff import Growth, Side
    from gate.judge.explain import BuiltBy
    from gate.read.attribution import Attribution
    from gate.read.sections import Entry
    from gate.results import types

SIZE_SCHEMA = "gate/size/v1"
VIEWS = {"section": "sections", "package": "packages", "module": "modules", "symbol": "symbols"}
RESULTS_SYMBOLS = 200  # symbols of each kind a results document keeps (all packages are)


def _entries(entries: Sequence[Entry] | None) -> list[types.NamedBytes] | None:
    return None if entries is None else [{"name": e.name, "bytes": e.bytes} for e in entries]


def attribution_to_dict(attr: Attribution) -> types.Attribution:
    """The attribution as a results document keeps it: enough for a later --against."""
    symbols, data, code = attr.symbols, attr.data_symbols, attr.code_symbols
    return {
        "pclntab": attr.pclntab,
        "bss": attr.bss,
        "warnings": list(attr.warnings),
        "sections": _entries(attr.sections),
        "packages": _entries(attr.packages),
        "modules": _entries(attr.modules),
        "symbols": _entries(symbols[:RESULTS_SYMBOLS] if symbols is not None else None),
        "symbols_count": len(symbols) if symbols is not None else None,
        # The largest data objects and non-Go functions: what a size failure names inside
        # the data and code groups (a later baseline compares against these).
        "data_symbols": None
        if data is None
        else [cast("types.DataSymbol", d._asdict()) for d in data[:RESULTS_SYMBOLS]],
        "code_symbols": _entries(code[:RESULTS_SYMBOLS] if code is not None else None),
    }


def view(attr: Attribution, by: str) -> tuple[Entry, ...] | None:
    entries: tuple[Entry, ...] | None = getattr(attr, VIEWS[by])
    return entries


def covered(
    by: str, entries: Mapping[str, int], data: Iterable[tuple[str, int]] | None
) -> dict[str, int] | None:
    """The bytes of a view's entries in each section group (gate/judge/diff.py's Side.covered).

    Packages and modules are code. Symbols: the data objects in their groups and the rest
    (functions) in code, so the groups' rows add up however the symbols are spread; None
    when the data objects are not all known.
    """
    total = sum(entries.values())
    if by in ("package", "module"):
        return {CODE: total}
    if by != "symbol" or data is None:
        return None
    out: dict[str, int] = {}
    for group, size in data:
        out[group_name(group)] = out.get(group_name(group), 0) + size
    out[CODE] = out.get(CODE, 0) + total - sum(out.values())
    return out


def covered_of(attr: Attribution, by: str) -> dict[str, int] | None:
    """covered() of the attribution's own view, without a dict of its names (a million
    symbols are summed, not copied)."""
    entries = view(attr, by) or ()
    total = sum(e.bytes for e in entries) if isinstance(entries, tuple) else entries.total()
    data = attr.data_symbols
    spread = None if data is None else ((d.group, d.bytes) for d in data)
    return covered(by, {"": total}, spread)


def side_of(attr: Attribution, by: str) -> Side:
    """A binary as a comparison by `by` sees it (all of its entries, all of its groups)."""
    from gate.judge.diff import Side

    entries = {e.name: e.bytes for e in view(attr, by) or ()}
    data = attr.data_symbols
    return Side(
        attr.file_size,
        entries,
        {e.name: e.bytes for e in attr.sections},
        covered(by, entries, None if data is None else ((d.group, d.bytes) for d in data)),
    )


@dataclass(frozen=True)
class Same:
    """The names whose bytes did not change, as two columns: of a million symbols compared
    with themselves, no Growth is made for any (gate.judge.diff would make one each, some 200
    bytes, and sort them all)."""

    names: list[str]
    sizes: array[int]

    def __len__(self) -> int:
        return len(self.names)

    def ranked(self) -> Iterator[Growth]:
        """Every one as a row, in whole_growth's order (largest first, ties by name)."""
        from gate.judge.diff import Growth

        order = sorted(range(len(self.names)), key=self.names.__getitem__)
        order.sort(key=self.sizes.__getitem__, reverse=True)  # stable: ties stay by name
        return (Growth(self.names[i], self.sizes[i], self.sizes[i]) for i in order)

    def first(self, n: int) -> list[Growth]:
        """The first n of ranked(), without sorting the rest."""
        import heapq

        from gate.judge.diff import Growth

        names, sizes = self.names, self.sizes
        picked = heapq.nsmallest(n, range(len(names)), key=lambda i: (-sizes[i], names[i]))
        return [Growth(names[i], sizes[i], sizes[i]) for i in picked]


@dataclass(frozen=True)
class Compared:
    """`--against`: the old binary's name and size, the rows that changed (the view's
    names and the groups' rest, adding up to the change) and the names that did not, and
    the toolchains when they differ."""

    binary: str
    file_size: int
    rows: list[Growth]
    toolchain: tuple[str, str] | None
    same: Same = Same([], array("Q"))


def _pairs(attr: Attribution, by: str) -> Iterable[tuple[str, int]]:
    """(name, bytes) of the view's entries, a name once, in no particular order: a
    million symbols are read from their columns, not made into rows."""
    entries = view(attr, by) or ()
    if isinstance(entries, tuple):
        return {e.name: e.bytes for e in entries}.items()
    named: Iterable[tuple[str, int]] = entries.named()
    return named


def compare(
    binary: str, attr: Attribution, by: str, old_view: tuple[str, Side, BuiltBy], tools: BuiltBy
) -> Compared:
    """BINARY (already attributed; built by `tools`) against OLD as read (its name, its
    side, its toolchain: gate/size_command.py's against_view).

    One dict is made, of OLD's names (taken apart here as BINARY's names
    are matched with it); the names whose bytes are the same go to `same`, and gate.judge.diff
    ranks only the others. Their bytes are taken off both files' sizes, so every other
    row (the groups' rest, what no row holds) is what it would be with them."""
    from gate.judge.diff import Side, whole_growth

    old_name, old, old_tools = old_view
    left = old.entries if isinstance(old.entries, dict) else dict(old.entries)
    same = Same([], array("Q"))
    now: dict[str, int] = {}
    before: dict[str, int] = {}
    for name, size in _pairs(attr, by):
        was = left.pop(name, None)
        if was == size:
            if size:
                same.names.append(name)
                same.sizes.append(size)
        else:
            now[name] = size
            if was is not None:
                before[name] = was
    before.update(left)
    left.clear()
    kept = sum(same.sizes)
    groups = {e.name: e.bytes for e in attr.sections}
    new_side = Side(attr.file_size - kept, now, groups, covered_of(attr, by))
    old_side = Side(old.file_size - kept, before, old.groups, old.covered)
    rows = whole_growth(new_side, old_side, section_view=by == "section")
    change = toolchain_change(tools, old_tools)
    return Compared(old_name, old.file_size, rows, change, same)


def _row(g: Growth) -> dict[str, Any]:
    return {"name": g.name, "bytes": g.bytes, "old_bytes": g.old_bytes, "delta": g.delta,
            "status": g.status, "group": g.group}  # fmt: skip


def size_document(
    binary: str,
    attr: Attribution,
    by: str,
    top: int | None,
    against: Compared | None = None,
    toolchain: BuiltBy | None = None,
) -> dict[str, Any]:
    """The gate/size/v1 document. Against a baseline every group row is kept whatever
    `top` says, and `unlisted` sums the rows `top` leaves out, so the listed deltas plus
    `unlisted.delta` are the file's change exactly."""
    entries = view(attr, by) or ()
    found = covered_of(attr, by)
    doc: dict[str, Any] = {
        "schema": SIZE_SCHEMA,
        "binary": binary,
        "file_size": attr.file_size,
        "by": by,
        "pclntab": attr.pclntab,
        "bss": attr.bss,
        "warnings": list(attr.warnings),
        "entries": Rows(entries) if top is None else Rows(entries)[:top],
        "entries_total": len(entries),
        # What a later --against needs to account for the whole file: the section groups,
        # and the bytes of this view's entries in each.
        "groups": [{"name": e.name, "bytes": e.bytes} for e in attr.sections],
        "covered": None if found is None else as_rows(found),
        "toolchain": None if toolchain is None else toolchain._asdict(),
        "against": None,
    }
    if against is not None:
        rows = against.rows
        listed: Sequence[dict[str, Any]]
        if top is None:
            hidden: list[Growth] = []
            listed = AgainstRows(rows, against.same)
        else:
            # The view's names in whole_growth's order: those that grew, the same ones
            # (delta 0), those that shrank; the first `top` of them are listed.
            names = [g for g in rows if g.group is None]
            grown = [g for g in names if g.delta > 0]
            kept = against.same.first(top - len(grown)) if len(grown) < top else []
            first = (grown + kept + [g for g in names if g.delta <= 0])[:top]
            shown = {id(g) for g in first} | {id(g) for g in rows if g.group is not None}
            hidden = [g for g in rows if id(g) not in shown]
            merged = heapq.merge(rows, kept, key=_order)
            listed = [_row(g) for g in merged if id(g) in shown]
        doc["against"] = {
            "binary": against.binary,
            "file_size": against.file_size,
            "toolchain": None if against.toolchain is None else list(against.toolchain),
            "entries": listed,
            "changed_total": sum(g.status != "same" for g in rows),
            "unlisted": {
                "changed": sum(g.status != "same" for g in hidden),
                "delta": sum(g.delta for g in hidden),
            },
        }
    return doc


def _order(g: Growth) -> tuple[int, int, str]:
    return (-g.delta, -g.bytes, g.name)  # gate.judge.diff's ranking: largest growth first


class AgainstRows(Sequence[dict[str, Any]]):
    """Every row of a comparison as the document lists them (whole_growth's order, the
    same names among them), each dict made as it is read. The text shows only the rows
    that changed (`changed`), and never sorts or makes the others."""

    def __init__(self, rows: list[Growth], same: Same) -> None:
        self.rows, self.same = rows, same
        self._all: list[dict[str, Any]] | None = None

    def changed(self) -> list[dict[str, Any]]:
        return [_row(g) for g in self.rows if g.status != "same"]

    def __len__(self) -> int:
        return len(self.rows) + len(self.same)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(_row, heapq.merge(self.rows, self.same.ranked(), key=_order))

    def __getitem__(self, i: Any) -> Any:
        if self._all is None:
            self._all = list(self)
        return self._all[i]


class Rows(Sequence[dict[str, Any]]):
    """A view's entries as the document's {name, bytes} rows, each made as it is read: a
    million symbols are written (size_json) without a million dicts held."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = entries

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [{"name": e[0], "bytes": e[1]} for e in self.entries[i]]
        name, size = self.entries[i]
        return {"name": name, "bytes": size}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return ({"name": name, "bytes": size} for name, size in self.entries)


def as_rows(named: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"name": n, "bytes": b} for n, b in sorted(named.items(), key=lambda kv: -kv[1])]
