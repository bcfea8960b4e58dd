"""`gate size`: the gate/size/v1 document and its table, with or without `--against`.

The table answers a reviewer's question in its first lines: the largest entries, or with a
baseline the largest growth first, new and removed entries marked, the rest counted. A
comparison accounts for the whole change of the file: the view's names, and a row for each
section group's bytes they leave out (`<go metadata>`, `<other code>`), so the rows add up
to the headline, and a new toolchain is named beside it.
"""

from __future__ import annotations

import heapq
import itertools
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import UsageError
from gate.explain import CODE, group_name, toolchain_change, toolchain_note, toolchain_of
from gate.sizerows import SizeRows
from gate.units import format_signed_size, format_size

if TYPE_CHECKING:
    from gate.diff import Growth, Side
    from gate.elf.attribution import Attribution, Entry
    from gate.explain import BuiltBy

SIZE_SCHEMA = "gate/size/v1"
VIEWS = {"section": "sections", "package": "packages", "module": "modules", "symbol": "symbols"}
TEXT_TOP = 25  # rows in the table when --top is not given
RESULTS_SYMBOLS = 200  # symbols of each kind a results document keeps (all packages are)


def _entries(entries: Sequence[Entry] | None) -> list[dict[str, Any]] | None:
    return None if entries is None else [{"name": e.name, "bytes": e.bytes} for e in entries]


def attribution_to_dict(attr: Attribution) -> dict[str, Any]:
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
        "data_symbols": None if data is None else [d._asdict() for d in data[:RESULTS_SYMBOLS]],
        "code_symbols": _entries(code[:RESULTS_SYMBOLS] if code is not None else None),
    }


def view(attr: Attribution, by: str) -> tuple[Entry, ...] | None:
    entries: tuple[Entry, ...] | None = getattr(attr, VIEWS[by])
    return entries


def covered(
    by: str, entries: Mapping[str, int], data: Iterable[tuple[str, int]] | None
) -> dict[str, int] | None:
    """The bytes of a view's entries in each section group (gate/diff.py's Side.covered).

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


def _covered_of(attr: Attribution, by: str) -> dict[str, int] | None:
    """covered() of the attribution's own view, without a dict of its names (a million
    symbols are summed, not copied)."""
    entries = view(attr, by) or ()
    total = sum(e.bytes for e in entries) if isinstance(entries, tuple) else entries.total()
    data = attr.data_symbols
    spread = None if data is None else ((d.group, d.bytes) for d in data)
    return covered(by, {"": total}, spread)


def side_of(attr: Attribution, by: str) -> Side:
    """A binary as a comparison by `by` sees it (all of its entries, all of its groups)."""
    from gate.diff import Side

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
    with themselves, no Growth is made for any (gate.diff would make one each, some 200
    bytes, and sort them all)."""

    names: list[str]
    sizes: array[int]

    def __len__(self) -> int:
        return len(self.names)

    def ranked(self) -> Iterator[Growth]:
        """Every one as a row, in whole_growth's order (largest first, ties by name)."""
        from gate.diff import Growth

        order = sorted(range(len(self.names)), key=self.names.__getitem__)
        order.sort(key=self.sizes.__getitem__, reverse=True)  # stable: ties stay by name
        return (Growth(self.names[i], self.sizes[i], self.sizes[i]) for i in order)

    def first(self, n: int) -> list[Growth]:
        """The first n of ranked(), without sorting the rest."""
        import heapq

        from gate.diff import Growth

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
    binary: str, attr: Attribution, by: str, against: str, names: list[str], tools: BuiltBy
) -> Compared:
    """BINARY (already attributed; built by `tools`) against OLD: a binary, or a size or
    results document.

    One dict is made, of OLD's names (against_view's, taken apart here as BINARY's names
    are matched with it); the names whose bytes are the same go to `same`, and gate.diff
    ranks only the others. Their bytes are taken off both files' sizes, so every other
    row (the groups' rest, what no row holds) is what it would be with them."""
    from gate.diff import Side, whole_growth

    old_name, old, old_tools = against_view(against, by, binary, names)
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
    new_side = Side(attr.file_size - kept, now, groups, _covered_of(attr, by))
    old_side = Side(old.file_size - kept, before, old.groups, old.covered)
    rows = whole_growth(new_side, old_side, section_view=by == "section")
    change = toolchain_change(tools, old_tools)
    return Compared(old_name, old.file_size, rows, change, same)


def toolchain_of_binary(path: str) -> BuiltBy:
    """What built the binary, from its facts as `gate inspect` reads them (a few ms)."""
    from gate.elf.facts import inspect_binary
    from gate.errors import BinaryError
    from gate.results import facts_to_dict

    try:
        return toolchain_of(facts_to_dict(inspect_binary(path)))
    except BinaryError:  # e.g. corrupt Go build info: the sizes still stand, as attributed
        return toolchain_of(None)


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
    found = _covered_of(attr, by)
    doc: dict[str, Any] = {
        "schema": SIZE_SCHEMA,
        "binary": binary,
        "file_size": attr.file_size,
        "by": by,
        "pclntab": attr.pclntab,
        "bss": attr.bss,
        "warnings": list(attr.warnings),
        "entries": _Rows(entries) if top is None else _Rows(entries)[:top],
        "entries_total": len(entries),
        # What a later --against needs to account for the whole file: the section groups,
        # and the bytes of this view's entries in each.
        "groups": [{"name": e.name, "bytes": e.bytes} for e in attr.sections],
        "covered": None if found is None else _as_rows(found),
        "toolchain": None if toolchain is None else toolchain._asdict(),
        "against": None,
    }
    if against is not None:
        rows = against.rows
        listed: Sequence[dict[str, Any]]
        if top is None:
            hidden: list[Growth] = []
            listed = _Against(rows, against.same)
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
    return (-g.delta, -g.bytes, g.name)  # gate.diff's ranking: largest growth first


class _Against(Sequence[dict[str, Any]]):
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


class _Rows(Sequence[dict[str, Any]]):
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


def size_json(doc: Mapping[str, Any]) -> str:
    """The gate/size/v1 document as one string (size_json_pieces, joined)."""
    return "".join(size_json_pieces(doc))


def size_json_pieces(doc: Mapping[str, Any]) -> Iterator[str]:
    """The gate/size/v1 document as JSON, in pieces made as they are written: as every
    document is (report.json.dumps), but its entries one compact row a line
    (`{"name":"main.f","bytes":120}`), the shortest form of the same schema: a million
    symbols take about 35 bytes each, not 70, and never exist as one string."""
    import json

    from gate.report.escape import json_bidi_escaped
    from gate.report.json import dumps

    rows = doc["entries"]
    marker = "\0entries\0"
    against = doc.get("against")
    if against is not None and not isinstance(against["entries"], list):
        against = {**against, "entries": list(against["entries"])}
    text = dumps({**doc, "entries": marker, "against": against})
    pairs = iter(
        rows.entries if isinstance(rows, _Rows) else [(r["name"], r["bytes"]) for r in rows]
    )
    quote = json.encoder.encode_basestring  # UTF-8, as dumps
    head, tail = text.split(json.dumps(marker), 1)
    yield head
    opening = "[\n"
    # Rows a batch at a time: a million of them never exist as a million strings.
    while batch := list(itertools.islice(pairs, 1 << 16)):
        rows_text = ",\n".join([f'{{"name":{quote(n)},"bytes":{b}}}' for n, b in batch])
        yield opening + json_bidi_escaped(rows_text)
        opening = ",\n"
    yield "[]" if opening == "[\n" else "\n]"
    yield tail


def _as_rows(named: Mapping[str, int]) -> list[dict[str, Any]]:
    return [{"name": n, "bytes": b} for n, b in sorted(named.items(), key=lambda kv: -kv[1])]


def _percent(part: int, whole: int) -> str:
    return f"{part / whole * 100:5.1f}%" if whole else "    —"


def _more(total: int, shown: int, what: str) -> list[str]:
    return [f"  … {total - shown} more {what} (--top N shows more)"] if total > shown else []


def render_size_text(doc: Mapping[str, Any], top: int | None) -> str:
    by, size = doc["by"], doc["file_size"]
    limit = top or TEXT_TOP
    source = f", pclntab {doc['pclntab']}" if doc.get("pclntab") and by != "section" else ""
    lines = [f"{doc['binary']}: {format_size(size)} ({size:,} bytes), by {by}{source}"]
    against = doc.get("against")
    if against is None:
        entries = doc["entries"]
        column = "group" if by == "section" else by  # sections come grouped
        lines.append(f"  {'bytes':>11}  {'share':>6}  {column}")
        for e in entries[:limit]:
            share = _percent(e["bytes"], size)
            lines.append(f"  {format_size(e['bytes']):>11}  {share}  {e['name']}")
        shown = min(len(entries), limit)
        lines += _more(doc.get("entries_total", len(entries)), shown, f"{by} entries")
        if by == "section" and doc.get("bss"):
            lines.append(f"  (.bss: {format_size(doc['bss'])} in memory, none in the file)")
    else:
        lines += _against_text(doc, by, limit)
    return "\n".join(lines) + "\n"


def _against_text(doc: Mapping[str, Any], by: str, limit: int) -> list[str]:
    """The headline change, then every group row and the `limit` largest changes among the
    view's names, largest growth first; the names left out are counted and summed, so what
    is shown adds up to the headline."""
    against, size = doc["against"], doc["file_size"]
    old = against["file_size"]
    change = size - old
    pct = f" ({change / old * 100:+.1f}%)" if old else ""
    note = toolchain_note(tuple(against["toolchain"]) if against.get("toolchain") else None)
    lines = [
        f"against {against['binary']}: {format_signed_size(change)}{pct}, "
        f"{format_size(old)} -> {format_size(size)}" + (f"; {note}" if note else "")
    ]
    listed = against["entries"]
    rows = (
        listed.changed()
        if isinstance(listed, _Against)
        else [r for r in listed if r["status"] != "same"]
    )
    names = [r for r in rows if r.get("group") is None]
    shown = [r for r in rows if r.get("group") is not None or any(r is n for n in names[:limit])]
    lines.append(f"  {'change':>12}  {'':>8}  {'now':>11}  {by}")
    for r in shown:
        if r["status"] in ("new", "removed"):
            mark = r["status"]
        else:
            mark = f"{r['delta'] / r['old_bytes'] * 100:+.1f}%" if r["old_bytes"] > 0 else ""
        delta, now = format_signed_size(r["delta"]), format_size(r["bytes"])
        lines.append(f"  {delta:>12}  {mark:>8}  {now:>11}  {r['name']}")
    unlisted = against.get("unlisted") or {"changed": 0, "delta": 0}
    more = len(names) - min(len(names), limit) + unlisted["changed"]
    if more:
        rest = sum(r["delta"] for r in names[limit:]) + unlisted["delta"]
        lines.append(
            f"  {format_signed_size(rest):>12}  … {more} more changed {by} entries "
            "(--top N shows more)"
        )
    if not rows:
        lines.append(f"  no {by} changed")
    return lines


def against_view(source: str, by: str, binary: str, names: list[str]) -> tuple[str, Side, BuiltBy]:
    """(name, side, toolchain) of what `gate size --against` compares with: a binary, or a
    size/results JSON (its entry for this binary paired as gate/pairing.py says; `names`:
    --baseline-name). Read here, so its numbers are checked as used."""
    from gate.baseline import load_document
    from gate.diff import Side
    from gate.pairing import pair, parse_choices

    is_json = source.startswith(("http://", "https://")) or source.endswith(".json")
    if not is_json:
        from gate.elf.attribution import attribute_binary

        attr = attribute_binary(
            source,
            want_symbols=by == "symbol",
            want_packages=by in ("package", "module"),
            exported=by == "symbol",  # a stripped OLD as cli.size reads a stripped NEW
        )
        if view(attr, by) is None:
            what = "no Go function table" if by in ("package", "module") else "no symbol table"
            raise UsageError(f"{source}: {what}, so nothing to compare by {by} (try --by section)")
        return source, side_of(attr, by), toolchain_of_binary(source)
    doc = load_document(source)
    schema = doc.get("schema")
    covered_rows: Any = None
    if schema == SIZE_SCHEMA:
        if doc.get("by") != by:
            raise UsageError(f"{source}: entries by {doc.get('by')}, not by {by} (use --by)")
        rows, size, groups = doc.get("entries"), doc.get("file_size"), doc.get("groups")
        complete = isinstance(rows, _LISTS) and doc.get("entries_total") == len(rows)
        covered_rows = doc.get("covered") if complete else None
        tools = doc.get("toolchain")
        tools = tools if isinstance(tools, dict) else {}
        facts: Mapping[str, Any] = {
            "toolchain": tools.get("compiler"),
            "go": {"version": tools.get("go")},
        }
    elif schema == "gate/results/v1":
        from gate.baseline import shown_source
        from gate.results import validate

        doc = validate(doc, shown_source(source))
        (paired,) = pair(doc["binaries"], [binary], parse_choices(names, [binary]), source)
        if paired.entry is None:
            raise UsageError(f"--against: {paired.note}")
        entry = paired.entry
        attribution = entry.get("attribution") if isinstance(entry, dict) else None
        if entry is None or not isinstance(attribution, dict):
            raise UsageError(f"{source}: no attribution recorded for {Path(binary).name}")
        facts = entry.get("facts") or {}
        rows, size, groups = (
            attribution.get(VIEWS[by]),
            facts.get("file_size"),
            attribution.get("sections"),
        )
        data = attribution.get("data_symbols")
        # The 200 largest symbols and data objects are kept: the rest of a longer list
        # cannot be placed in its groups.
        complete = by != "symbol" or (
            isinstance(rows, list)
            and attribution.get("symbols_count") == len(rows)
            and isinstance(data, list)
            and len(data) < RESULTS_SYMBOLS
        )
        if complete and isinstance(rows, list):
            spread = None if data is None else ((d["group"], d["bytes"]) for d in data)
            found = covered(by, _named(rows, source, "entries", count=_counter(source)), spread)
            covered_rows = None if found is None else _as_rows(found)
    else:
        raise UsageError(f"{source}: not a gate size or results document (schema {schema!r})")
    if not isinstance(rows, _LISTS):
        raise UsageError(f"{source}: no {by} attribution in it (not a Go binary?)")
    count = _counter(source)
    side = Side(
        count(size, "file_size"),
        (_grouped if by == "section" else _named)(rows, source, "entries", count),
        None if not isinstance(groups, list) else _grouped(groups, source, "groups", count),
        None
        if not isinstance(covered_rows, list)
        else _grouped(covered_rows, source, "covered", count),
    )
    return source, side, toolchain_of(facts)


def _counter(source: str) -> Callable[[Any, str], int]:
    def count(value: Any, where: str) -> int:
        """A size document is read only here: its numbers are checked as they are used."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
            return value
        raise UsageError(f"{source}: {where}: expected a non-negative integer, got {value!r:.60}")

    return count


_LISTS = (list, SizeRows)  # a size document's entries are SizeRows as gate wrote them


def _named(
    rows: Sequence[Any], source: str, where: str, count: Callable[[Any, str], int]
) -> dict[str, int]:
    """{name: bytes} of a list of {name, bytes}; same names add up. Rows read as gate
    wrote them (SizeRows) are whole numbers below 2**64 already: zipped, not checked."""
    out: dict[str, int] = {}
    if isinstance(rows, SizeRows):
        out = dict(zip(rows.names, rows.sizes, strict=True))
        if len(out) == len(rows):
            return out
        out = {}
        for name, size in zip(rows.names, rows.sizes, strict=True):
            out[name] = out.get(name, 0) + size
        return out
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise UsageError(f"{source}: {where}[{i}]: expected {{name, bytes}}, got {row!r:.60}")
        out[row["name"]] = out.get(row["name"], 0) + count(row.get("bytes"), f"{where}[{i}].bytes")
    return out


def _grouped(
    rows: Sequence[Any], source: str, where: str, count: Callable[[Any, str], int]
) -> dict[str, int]:
    """Bytes per section group, older documents' group names mapped to today's."""
    out: dict[str, int] = {}
    for name, size in _named(rows, source, where, count).items():
        out[group_name(name)] = out.get(group_name(name), 0) + size
    return out


def demangle(doc: dict[str, Any]) -> None:
    """Names as people read them, from binutils' c++filt: one process for all of them."""
    import shutil
    import subprocess

    tool = shutil.which("c++filt")
    if tool is None:
        raise UsageError("--demangle needs c++filt (binutils); it is not on PATH")
    doc["entries"] = list(doc["entries"])  # names that change are rows of their own
    if doc.get("against"):
        doc["against"]["entries"] = list(doc["against"]["entries"])
    rows = doc["entries"] + (doc["against"]["entries"] if doc.get("against") else [])
    names = "".join(r["name"].replace("\n", " ") + "\n" for r in rows)
    out = subprocess.run(
        [tool], input=names, capture_output=True, text=True, timeout=60, check=False
    ).stdout.splitlines()
    if len(out) == len(rows):
        for row, name in zip(rows, out, strict=True):
            row["name"] = name
