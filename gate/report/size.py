"""`gate size`: the gate/size/v1 document and its table, with or without `--against`.

The table answers a reviewer's question in its first lines: the largest entries, or with a
baseline the largest growth first, new and removed entries marked, the rest counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import UsageError
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


def against_view(
    source: str, by: str, binary: str, names: list[str]
) -> tuple[str, int, dict[str, int]]:
    """(name, file size, bytes per name) of what `gate size --against` compares with: a
    binary, or a size/results JSON (its entry for this binary paired as gate/pairing.py
    says; `names`: --baseline-name). Read here, so its numbers are checked as used."""
    from gate.baseline import load_document
    from gate.pairing import pair, parse_choices

    is_json = source.startswith(("http://", "https://")) or source.endswith(".json")
    if not is_json:
        from gate.elf.attribution import attribute_binary

        attr = attribute_binary(
            source, want_symbols=by == "symbol", want_packages=by in ("package", "module")
        )
        return source, attr.file_size, {e.name: e.bytes for e in view(attr, by) or ()}
    doc = load_document(source)
    schema = doc.get("schema")
    if schema == SIZE_SCHEMA:
        if doc.get("by") != by:
            raise UsageError(f"{source}: entries by {doc.get('by')}, not by {by} (use --by)")
        rows, size = doc.get("entries"), doc.get("file_size")
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
        rows, size = attribution.get(VIEWS[by]), (entry.get("facts") or {}).get("file_size")
    else:
        raise UsageError(f"{source}: not a gate size or results document (schema {schema!r})")
    if not isinstance(rows, list):
        raise UsageError(f"{source}: no {by} attribution in it (not a Go binary?)")

    def count(value: Any, where: str) -> int:
        """A size document is read only here: its numbers are checked as they are used."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
            return value
        raise UsageError(f"{source}: {where}: expected a non-negative integer, got {value!r:.60}")

    old: dict[str, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise UsageError(f"{source}: entries[{i}]: expected {{name, bytes}}, got {row!r:.60}")
        old[row["name"]] = old.get(row["name"], 0) + count(row.get("bytes"), f"entries[{i}].bytes")
    return source, count(size, "file_size"), old


def demangle(doc: dict[str, Any]) -> None:
    """Names as people read them, from binutils' c++filt: one process for all of them."""
    import shutil
    import subprocess

    tool = shutil.which("c++filt")
    if tool is None:
        raise UsageError("--demangle needs c++filt (binutils); it is not on PATH")
    rows = doc["entries"] + (doc["against"]["entries"] if doc.get("against") else [])
    names = "".join(r["name"].replace("\n", " ") + "\n" for r in rows)
    out = subprocess.run(
        [tool], input=names, capture_output=True, text=True, timeout=60, check=False
    ).stdout.splitlines()
    if len(out) == len(rows):
        for row, name in zip(rows, out, strict=True):
            row["name"] = name
