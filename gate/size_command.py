"""`gate size`: read the binary (and what `--against` names: a binary, or a size or
results document), build the gate/size/v1 document, and demangle names through c++filt
when asked. The reading and the processes are here; the document is gate/results/size.py's,
the table gate/report/size.py's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import UsageError
from gate.judge.explain import toolchain_of
from gate.results.size import (
    RESULTS_SYMBOLS,
    SIZE_SCHEMA,
    VIEWS,
    as_rows,
    compare,
    covered,
    side_of,
    size_document,
    view,
)
from gate.values.groups import group_name
from gate.values.sizerows import SizeRows

if TYPE_CHECKING:
    from gate.judge.diff import Side
    from gate.judge.explain import BuiltBy


def measure_size(
    binary: str,
    by: str | None,
    top: int | None,
    against: str | None,
    names: list[str],
    demangled: bool,
    warn: Callable[[str], None],
) -> dict[str, Any]:
    """The gate/size/v1 document of BINARY by `by` (None: packages for Go, else symbols,
    else sections), compared with `against` when given."""
    from gate.read.attribution import attribute_binary

    if by is not None and by not in VIEWS:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(VIEWS)}")
    attr = attribute_binary(
        binary,
        want_symbols=by in (None, "symbol"),
        want_packages=by != "section",
        exported=by == "symbol",  # stripped and not Go: what .dynsym exports, said so
    )
    for warning in attr.warnings:
        warn(f"{binary}: {warning}")
    if by is None:
        by = "package" if attr.packages else "symbol" if attr.symbols else "section"
    if view(attr, by) is None:
        raise UsageError(f"{binary}: {_no_view(by, attr.packages is not None)}")
    toolchain = toolchain_of_binary(binary)
    compared = None
    if against is not None:
        old = against_view(against, by, binary, names)
        compared = compare(binary, attr, by, old, toolchain)
    doc = size_document(binary, attr, by, top, compared, toolchain)
    if demangled and by == "symbol":
        demangle(doc)
    return doc


def _no_view(by: str, go: bool) -> str:
    """Why there is nothing to show by `by`, and which view there is instead."""
    if by in ("package", "module"):
        return f"no Go function table, so nothing to show by {by} (try --by section)"
    if go:  # stripped Go: the function table still names every function's package
        return (
            "stripped (no .symtab), so nothing to show by symbol; its Go function table "
            "still names every function's package: try --by package"
        )
    return (
        "stripped (no .symtab), and .dynsym exports no function or object with bytes in "
        "the file, so nothing to show by symbol (try --by section)"
    )


def toolchain_of_binary(path: str) -> BuiltBy:
    """What built the binary, from its facts as `gate inspect` reads them (a few ms)."""
    from gate.errors import BinaryError
    from gate.read.facts import inspect_binary
    from gate.results.build import facts_to_dict

    try:
        return toolchain_of(facts_to_dict(inspect_binary(path)))
    except BinaryError:  # e.g. corrupt Go build info: the sizes still stand, as attributed
        return toolchain_of(None)


def against_view(source: str, by: str, binary: str, names: list[str]) -> tuple[str, Side, BuiltBy]:
    """(name, side, toolchain) of what `gate size --against` compares with: a binary, or a
    size/results JSON (its entry for this binary paired as gate/judge/pairing.py says; `names`:
    --baseline-name). Read here, so its numbers are checked as used."""
    from gate.integrate.sources import load_document
    from gate.judge.diff import Side
    from gate.judge.pairing import pair, parse_choices

    is_json = source.startswith(("http://", "https://")) or source.endswith(".json")
    if not is_json:
        from gate.read.attribution import attribute_binary

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
        from gate.fetch import shown_source
        from gate.results.validate import validate

        results = validate(doc, shown_source(source))
        (paired,) = pair(results["binaries"], [binary], parse_choices(names, [binary]), source)
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
            covered_rows = None if found is None else as_rows(found)
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
