"""What explains a size: the few contributors behind a growth, or behind an excess over a limit.

A red size check is only useful when it names what to remove, so every size failure
(`max_file`, `max_growth`, `max_section`, `max_package`) and `gate diff` say it the same
way, from the attribution the results document keeps:

    data +2.9 MiB (main.blob +2.9 MiB), code +165 B

Contributors are section groups (code, read-only data, data, go metadata, symbols, debug,
headers, padding, other), and inside a group what the attribution can name there: Go
packages and non-Go functions in code, data objects (by symbol) in the data groups. They
are taken largest first until together they explain at least 90% of the amount (the gross
growth, or the excess over the limit), so a reviewer reads two or three names, not forty.

Pure: attribution mappings in (the results' `attribution`), frozen dataclasses and text out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from gate.values.groups import CODE, NON_GO, group_name
from gate.values.units import format_signed_size, format_size

if TYPE_CHECKING:
    from gate.results.types import Attribution, NamedBytes

COVER = 0.9  # contributors named until they explain this share of the amount
MAX_GROUPS = 4
MAX_PARTS = 3  # names inside one group

# What to try when a group that can simply be left out is what grew.
HINTS = {
    "symbols": "link with -s, or strip",
    "debug": "link with -w, or strip --strip-debug",
}
# ... said the go build way for a Go binary, the Cargo way for a Rust one.
GO_HINTS = {"symbols": 'link with -ldflags="-s"', "debug": 'link with -ldflags="-w"'}
RUST_HINTS = {
    "symbols": "strip = true in Cargo.toml's [profile.release]",
    "debug": 'debug = false (or strip = "debuginfo") in Cargo.toml\'s [profile.release]',
}
_HINTS_OF = {"go": GO_HINTS, "rust": RUST_HINTS}  # C and C++: HINTS


@dataclass(frozen=True)
class Contributor:
    """A group or a name inside one, with its bytes (or its change, when comparing)."""

    name: str
    bytes: int
    parts: tuple[Contributor, ...] = ()


def named(rows: Iterable[NamedBytes] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in rows or ():
        out[row["name"]] = out.get(row["name"], 0) + row["bytes"]
    return out


def groups(attribution: Attribution | None) -> dict[str, int]:
    """Bytes per section group (names of older results mapped to today's)."""
    out: dict[str, int] = {}
    for name, size in named(attribution.get("sections") if attribution else None).items():
        key = group_name(name)
        out[key] = out.get(key, 0) + size
    return out


def parts(attribution: Attribution | None, group: str) -> dict[str, int] | None:
    """The names inside one group, or None when the attribution cannot name them.

    Code: Go packages, with the non-Go code named by function where .symtab has it (a C
    binary: all of its functions). Data groups: the data objects kept, by symbol.
    """
    if not attribution:
        return None
    if group == CODE:
        packages, functions = attribution.get("packages"), attribution.get("code_symbols")
        if packages is None and functions is None:
            return None
        out = named(packages)
        if functions is not None:
            out.pop(NON_GO, None)
            out.update(named(functions))
        return out
    data = attribution.get("data_symbols")
    if data is None:
        return None
    out = {}
    for row in data:
        if group_name(row["group"]) == group:
            out[row["name"]] = out.get(row["name"], 0) + row["bytes"]
    return out


def section_parts(attribution: Attribution | None, section: str) -> dict[str, int] | None:
    """The names inside one section: data objects by symbol; .text by package."""
    if section == ".text":
        return parts(attribution, CODE)
    data = attribution.get("data_symbols") if attribution else None
    if data is None:
        return None
    out: dict[str, int] = {}
    for row in data:
        if row.get("section") == section:
            out[row["name"]] = out.get(row["name"], 0) + row["bytes"]
    return out


def _cover(amounts: Iterable[tuple[str, int]], amount: int, most: int) -> list[tuple[str, int]]:
    """The largest positive amounts until they reach COVER of `amount` (at most `most`)."""
    chosen: list[tuple[str, int]] = []
    total = 0
    for name, value in sorted(amounts, key=lambda kv: (-kv[1], kv[0])):
        if value <= 0 or len(chosen) >= most or (chosen and total >= COVER * amount):
            break
        chosen.append((name, value))
        total += value
    return chosen


def _deltas(new: Mapping[str, int], old: Mapping[str, int]) -> list[tuple[str, int]]:
    return [(n, new.get(n, 0) - old.get(n, 0)) for n in new.keys() | old.keys()]


def growth(new: Attribution | None, old: Attribution | None) -> tuple[Contributor, ...]:
    """The groups (and names inside them) that explain >= 90% of what grew, largest first.

    The amount is the gross growth (what grew, before what shrank is taken off), so a
    build that gained 2 MiB of DWARF while losing 1.99 MiB of code names the DWARF.
    """
    deltas = _deltas(groups(new), groups(old))
    gross = sum(d for _, d in deltas if d > 0)
    out = []
    for name, delta in _cover(deltas, gross, MAX_GROUPS):
        inner_new, inner_old = parts(new, name), parts(old, name)
        inner: list[tuple[str, int]] = []
        if inner_new is not None and inner_old is not None:
            inner = _cover(_deltas(inner_new, inner_old), delta, MAX_PARTS)
        out.append(Contributor(name, delta, tuple(Contributor(n, d) for n, d in inner)))
    return tuple(out)


def names_growth(
    new: Mapping[str, int] | None, old: Mapping[str, int] | None, amount: int
) -> tuple[Contributor, ...]:
    """Names (packages, symbols) that explain >= 90% of `amount` of growth."""
    if new is None or old is None:
        return ()
    return tuple(Contributor(n, d) for n, d in _cover(_deltas(new, old), amount, MAX_PARTS))


def largest(attribution: Attribution | None, amount: int) -> tuple[Contributor, ...]:
    """Without a baseline: the largest groups, then the largest names inside each, until
    they cover 90% of `amount` (the excess over a limit); at least the two largest groups."""
    sizes = groups(attribution)
    chosen = _cover(sizes.items(), amount, MAX_GROUPS)
    if len(chosen) < 2:
        chosen = _cover(sizes.items(), sum(sizes.values()), 2)
    out = []
    for name, size in chosen:
        inner = parts(attribution, name) or {}
        top = _cover(inner.items(), min(size, max(amount, 1)), MAX_PARTS)
        out.append(Contributor(name, size, tuple(Contributor(n, b) for n, b in top)))
    return tuple(out)


def largest_names(names: Mapping[str, int] | None, amount: int) -> tuple[Contributor, ...]:
    if not names:
        return ()
    return tuple(Contributor(n, b) for n, b in _cover(names.items(), amount, MAX_PARTS))


class BuiltBy(NamedTuple):
    """What built a binary: the compiler as `.comment` names it, the Go version the build
    info records (either None where the binary does not say)."""

    compiler: str | None
    go: str | None


def toolchain_of(facts: Mapping[str, Any] | None) -> BuiltBy:
    facts = facts or {}
    found, go = facts.get("toolchain"), facts.get("go")
    named = None
    if isinstance(found, str):
        named = found
    elif isinstance(found, Mapping):
        named = next(
            (v for k in ("compiler", "version") if isinstance(v := found.get(k), str)), None
        )
    version = go.get("version") if isinstance(go, Mapping) else None
    return BuiltBy(named or None, version if isinstance(version, str) and version else None)


def toolchain_change(new: BuiltBy, old: BuiltBy) -> tuple[str, str] | None:
    """(old, new) when the baseline was built by another toolchain, else None.

    A new compiler moves every number at once (Go 1.16 -> 1.26 alone adds megabytes of
    metadata), so a reviewer should hear it before reading package rows. The compilers
    are compared when both sides name one, else the Go versions: never one kind against
    the other, which could differ in spelling only.
    """
    for before, after in ((old.compiler, new.compiler), (old.go, new.go)):
        if before is not None and after is not None:
            return (before, after) if before != after else None
    return None


def toolchain_note(change: tuple[str, str] | None) -> str:
    """`toolchain go1.22.3 -> go1.26.8 (a likely cause)`, or "" when it did not change."""
    return f"toolchain {change[0]} -> {change[1]} (a likely cause)" if change else ""


def _amount(n: int, signed: bool) -> str:
    if not signed:
        return format_size(n)
    return format_signed_size(n)


def describe(
    contributors: Sequence[Contributor],
    signed: bool = True,
    go: bool = False,
    language: str | None = None,
) -> str:
    """`data +2.9 MiB (main.blob +2.9 MiB), code +165 B`; with hints for what can go, in
    the terms of the binary's toolchain (`language`, gate/read/toolchain.py; or `go`: a Go
    binary)."""
    hints = _HINTS_OF.get(language or ("go" if go else "c"), HINTS)
    items = []
    for c in contributors:
        text = f"{c.name} {_amount(c.bytes, signed)}"
        inner = ", ".join(f"{p.name} {_amount(p.bytes, signed)}" for p in c.parts)
        hint = hints.get(c.name)
        if inner or hint:
            text += f" ({'; '.join(x for x in (inner, hint) if x)})"
        items.append(text)
    return ", ".join(items)
