"""`gate size`: the gate/size/v1 document and its table, with or without `--against`.

The table answers a reviewer's question in its first lines: the largest entries, or with a
baseline the largest growth first, new and removed entries marked, the rest counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gate.units import format_signed_size, format_size

if TYPE_CHECKING:
    from gate.diff import Growth
    from gate.elf.attribution import Attribution, Entry

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


def size_document(
    binary: str,
    attr: Attribution,
    by: str,
    top: int | None,
    against: tuple[str, int, list[Growth]] | None = None,
) -> dict[str, Any]:
    entries = list(view(attr, by) or ())
    doc: dict[str, Any] = {
        "schema": SIZE_SCHEMA,
        "binary": binary,
        "file_size": attr.file_size,
        "by": by,
        "pclntab": attr.pclntab,
        "bss": attr.bss,
        "warnings": list(attr.warnings),
        "entries": [{"name": e.name, "bytes": e.bytes} for e in entries[:top]],
        "entries_total": len(entries),
        "against": None,
    }
    if against is not None:
        old_binary, old_size, rows = against
        doc["against"] = {
            "binary": old_binary,
            "file_size": old_size,
            "entries": [
                {
                    "name": g.name,
                    "bytes": g.bytes,
                    "old_bytes": g.old_bytes,
                    "delta": g.delta,
                    "status": g.status,
                }
                for g in rows[:top]
            ],
            "changed_total": sum(g.status != "same" for g in rows),
        }
    return doc


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
        old = against["file_size"]
        change = size - old
        pct = f" ({change / old * 100:+.1f}%)" if old else ""
        lines.append(
            f"against {against['binary']}: {format_signed_size(change)}{pct}, "
            f"{format_size(old)} -> {format_size(size)}"
        )
        rows = [r for r in against["entries"] if r["status"] != "same"]
        lines.append(f"  {'change':>12}  {'':>8}  {'now':>11}  {by}")
        for r in rows[:limit]:
            mark = (
                r["status"]
                if r["status"] in ("new", "removed")
                else (f"{r['delta'] / r['old_bytes'] * 100:+.1f}%")
            )
            change, now = format_signed_size(r["delta"]), format_size(r["bytes"])
            lines.append(f"  {change:>12}  {mark:>8}  {now:>11}  {r['name']}")
        total = against.get("changed_total", len(rows))
        lines += _more(total, min(len(rows), limit), f"changed {by} entries")
        if not rows:
            lines.append(f"  no {by} changed")
    return "\n".join(lines) + "\n"
