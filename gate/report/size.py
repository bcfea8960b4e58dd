"""`gate size`'s table and JSON: the gate/size/v1 document (gate/results/size.py) as a
person reads it, or as one compact row a line.

The table answers a reviewer's question in its first lines: the largest entries, or with a
baseline the largest growth first, new and removed entries marked, the rest counted, and a
new toolchain named beside the headline.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from gate.judge.explain import toolchain_note
from gate.results.size import AgainstRows, Rows
from gate.values.units import format_signed_size, format_size

TEXT_TOP = 25  # rows in the table when --top is not given


def size_json(doc: Mapping[str, Any]) -> str:
    """The gate/size/v1 document as one string (size_json_pieces, joined)."""
    return "".join(size_json_pieces(doc))


def size_json_pieces(doc: Mapping[str, Any]) -> Iterator[str]:
    """The gate/size/v1 document as JSON, in pieces made as they are written: as every
    document is (report.json.dumps), but its entries one compact row a line
    (`{"name":"main.f","bytes":120}`), the shortest form of the same schema: a million
    symbols take about 35 bytes each, not 70, and never exist as one string."""
    import json

    from gate.report.json import dumps
    from gate.values.escape import json_bidi_escaped

    rows = doc["entries"]
    marker = "\0entries\0"
    against = doc.get("against")
    if against is not None and not isinstance(against["entries"], list):
        against = {**against, "entries": list(against["entries"])}
    text = dumps({**doc, "entries": marker, "against": against})
    pairs = iter(
        rows.entries if isinstance(rows, Rows) else [(r["name"], r["bytes"]) for r in rows]
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
        if isinstance(listed, AgainstRows)
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
