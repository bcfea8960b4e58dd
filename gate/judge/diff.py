"""What changed between two results documents (old: the base branch; new: this change).

Pure, like judge.py: two gate/results/v1 documents in, frozen dataclasses out. Binaries
are paired as the baseline pairs them (same path, else same file name), so a results
file from main and one from a pull request line up without configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gate.judge import explain
from gate.judge.explain import Contributor
from gate.judge.pairing import label, pair
from gate.values.compare import across_envelopes, across_methods

if TYPE_CHECKING:
    from gate.results.types import Document, Entry, Facts, Stats


@dataclass(frozen=True)
class Delta:
    """One number before and after; None where one side lacks it (new or removed)."""

    name: str
    old: float | None
    new: float | None

    @property
    def change(self) -> float | None:
        """new - old; a new entry counts from 0, a removed one goes to 0."""
        if self.old is None and self.new is None:
            return None
        return (self.new or 0) - (self.old or 0)

    @property
    def percent(self) -> float | None:
        if self.old is None or self.new is None or not self.old:
            return None
        return (self.new - self.old) / self.old * 100

    @property
    def kind(self) -> str:
        if self.old is None:
            return "new"
        if self.new is None:
            return "removed"
        return "changed" if self.new != self.old else "same"


@dataclass(frozen=True)
class StatusChange:
    check: str
    old: str | None  # None: the check did not exist before
    new: str | None


@dataclass(frozen=True)
class BinaryDiff:
    name: str
    kind: str  # "changed" | "new" | "removed"
    file_size: Delta | None
    sections: tuple[Delta, ...]  # changed ones with file bytes, largest change first
    packages: tuple[Delta, ...]  # from the attribution, when both sides have one
    startup: tuple[Delta, ...]  # p50, p95, max RSS (ms, ms, bytes)
    checks: tuple[StatusChange, ...]  # checks whose status changed
    # What explains the file's growth (groups, packages, data symbols), as the size checks
    # say it; empty when it did not grow or a side has no attribution.
    grew: tuple[Contributor, ...] = ()
    compared_with: str | None = None  # the old binary's name, where it differs
    # Sections that take memory and no file bytes (NOBITS: .bss, .noptrbss, .tbss): a
    # 32 MiB .noptrbss is not why a file grew 10 MiB, so they are listed apart.
    memory: tuple[Delta, ...] = ()
    toolchain: tuple[str, str] | None = None  # (old, new) when another one built it
    go: bool = False  # a Go binary: hints in the go build way (explain.describe)
    # The start-up numbers were measured in two envelopes, or their percentiles computed by
    # two methods (compare.across_envelopes, across_methods); "" else.
    envelope: str = ""


def _changed(deltas: Iterable[Delta]) -> tuple[Delta, ...]:
    moved = [d for d in deltas if d.kind != "same"]
    return tuple(sorted(moved, key=lambda d: (-abs(d.change or 0), d.name)))


def _named_sizes(items: Iterable[tuple[str, int]]) -> dict[str, float]:
    """Bytes by name; entries sharing a name (legal for ELF sections) are summed."""
    out: dict[str, float] = {}
    for name, size in items:
        out[name] = out.get(name, 0) + size
    return out


def _sections(facts: Facts | None, nobits: bool) -> dict[str, float]:
    """Sizes of the sections with file bytes, or (nobits) of those with memory only."""
    rows = (facts.get("sections") if facts else None) or ()
    return _named_sizes(
        (s["name"], s["size"]) for s in rows if (s.get("type") == "NOBITS") == nobits
    )


def _pair(old: Mapping[str, float], new: Mapping[str, float]) -> tuple[Delta, ...]:
    return _changed(Delta(n, old.get(n), new.get(n)) for n in sorted(old.keys() | new.keys()))


def _facts(entry: Entry | None) -> Facts | None:
    return entry["facts"] if entry else None


def _packages(entry: Entry | None) -> dict[str, float]:
    attribution = entry["attribution"] if entry else None
    rows = (attribution["packages"] if attribution else None) or ()
    return _named_sizes((p["name"], p["bytes"]) for p in rows)


def _stats(entry: Entry | None) -> Stats | None:
    return entry["startup"]["stats"] if entry and entry["startup"] else None


def _max_rss(entry: Entry | None) -> float | None:
    """The start-up's max RSS as the results carry it (stats.peak_rss)."""
    startup = entry["startup"] if entry else None
    return startup["max_rss_bytes"] if startup else None


def _statuses(entry: Entry | None) -> dict[str, str]:
    return {c["id"]: c["status"] for c in entry["checks"]} if entry else {}


def _toolchain_change(new: Facts | None, old: Facts | None) -> tuple[str, str] | None:
    return explain.toolchain_change(explain.toolchain_of(new), explain.toolchain_of(old))


def _envelope_change(old: Entry | None, new: Entry | None) -> str:
    """The warnings when both sides' start-up was measured, in different envelopes or with
    percentiles computed by different methods."""
    before, after = (e.get("startup") if e else None for e in (old, new))
    if not before or not after or not before.get("stats") or not after.get("stats"):
        return ""
    notes = (
        across_envelopes(before.get("envelope"), after.get("envelope"), ("old", "new")),
        across_methods(before["stats"], after["stats"], ("old", "new")),
    )
    return "; ".join(note for note in notes if note)


def diff_binary(old: Entry | None, new: Entry | None) -> BinaryDiff:
    side = new or old
    name = (side["name"] or side["path"] or "?") if side else "?"
    kind = "new" if old is None else "removed" if new is None else "changed"
    of, nf = _facts(old), _facts(new)
    size = Delta("file", of.get("file_size") if of else None, nf.get("file_size") if nf else None)
    sections = _pair(_sections(of, False), _sections(nf, False))
    memory = _pair(_sections(of, True), _sections(nf, True))
    packages = _pair(_packages(old), _packages(new)) if _packages(old) and _packages(new) else ()
    os_, ns = _stats(old), _stats(new)
    startup = tuple(
        d
        for d in (
            Delta("p50 ms", os_.get("p50_ms") if os_ else None, ns.get("p50_ms") if ns else None),
            Delta("p95 ms", os_.get("p95_ms") if os_ else None, ns.get("p95_ms") if ns else None),
            Delta("max RSS", _max_rss(old), _max_rss(new)),
        )
        if d.old is not None or d.new is not None
    )
    before, after = _statuses(old), _statuses(new)
    checks = tuple(
        StatusChange(cid, before.get(cid), after.get(cid))
        for cid in sorted(before.keys() | after.keys())
        if before.get(cid) != after.get(cid)
    )
    grew: tuple[Contributor, ...] = ()
    if (size.change or 0) > 0 and old is not None and new is not None:
        old_attr, new_attr = old.get("attribution"), new.get("attribution")
        if isinstance(old_attr, Mapping) and isinstance(new_attr, Mapping):
            grew = explain.growth(new_attr, old_attr)
    return BinaryDiff(
        name,
        kind,
        size if size.old is not None or size.new is not None else None,
        sections,
        packages,
        startup,
        checks,
        grew,
        memory=memory,
        toolchain=_toolchain_change(nf, of) if old and new else None,
        go=nf is not None and nf.get("go") is not None,
        envelope=_envelope_change(old, new),
    )


def diff_results(
    old: Document, new: Document, chosen: Mapping[str, str] | None = None
) -> list[BinaryDiff]:
    """One BinaryDiff per binary in either document: new ones first in their order, then removed.

    Paired as a baseline is (gate/judge/pairing.py): a chosen name, the same path, the same file
    name, or the only binary on each side; a pair whose names differ says so.
    """
    new_entries, old_entries = new["binaries"], old["binaries"]
    paths = [str(e.get("path") or e.get("name") or "?") for e in new_entries]
    out: list[BinaryDiff] = []
    matched: set[int] = set()
    for entry, paired in zip(new_entries, pair(old_entries, paths, chosen), strict=True):
        base = paired.entry
        if base is not None:
            matched.add(id(base))
        found = diff_binary(base, entry)
        if base is not None and label(base) != found.name:
            found = dataclasses.replace(found, compared_with=label(base))
        out.append(found)
    out += [diff_binary(b, None) for b in old_entries if id(b) not in matched]
    return out


@dataclass(frozen=True)
class Growth:
    """One name's bytes in the new and the old binary (0 where it is absent); `group`: a
    row for a section group's bytes that the view's names do not cover."""

    name: str
    bytes: int
    old_bytes: int
    group: str | None = None

    @property
    def delta(self) -> int:
        return self.bytes - self.old_bytes

    @property
    def status(self) -> str:
        if self.group is not None:  # a group's rest: it was there before, and is still
            return "grown" if self.delta > 0 else "shrunk" if self.delta < 0 else "same"
        if not self.old_bytes:
            return "new"
        if not self.bytes:
            return "removed"
        return "grown" if self.delta > 0 else "shrunk" if self.delta < 0 else "same"


def growth(new: Mapping[str, int], old: Mapping[str, int]) -> list[Growth]:
    """Every name in either, the largest growth first (then the largest shrink last)."""
    rows = [Growth(n, new.get(n, 0), old.get(n, 0)) for n in new.keys() | old.keys()]
    return _ranked(rows)


def _ranked(rows: Iterable[Growth]) -> list[Growth]:
    return sorted(rows, key=lambda g: (-g.delta, -g.bytes, g.name))


@dataclass(frozen=True)
class Side:
    """One binary as a comparison by one view sees it.

    `groups`: bytes per section group (they add up to the file); `covered`: the bytes of
    `entries` in each group (packages: all code; symbols: data objects in their groups,
    functions in code). Either None when the source does not say (an old document, a list
    cut by --top): the rest of the file is then one row.
    """

    file_size: int
    entries: Mapping[str, int]
    groups: Mapping[str, int] | None = None
    covered: Mapping[str, int] | None = None


REST = "<rest of the file>"  # what a view's names do not cover, when groups are unknown
UNACCOUNTED = "<unaccounted>"  # groups that do not add up to the file (a foreign document)
TWICE = "<bytes with two names>"  # taken off again: the view's names overlap there


def rest_name(group: str, partial: bool) -> str:
    """`<go metadata>` for a group the view names nothing in; `<other code>` for the part
    of a group its names do not cover (code outside .text in the package view)."""
    return f"<other {group}>" if partial else f"<{group}>"


def _rest(side: Side) -> dict[str, int] | None:
    """Per group, the bytes the side's names leave out (negative where names overlap)."""
    if side.groups is None or side.covered is None:
        return None
    groups, covered = side.groups, side.covered
    return {g: groups.get(g, 0) - covered.get(g, 0) for g in groups.keys() | covered.keys()}


def whole_growth(new: Side, old: Side, section_view: bool = False) -> list[Growth]:
    """The view's rows plus a row per section group for the bytes its names leave out, so
    the rows add up exactly to the file's change: a package view of a build whose Go
    metadata grew 6.5 MiB says so instead of showing 3.7 MiB of packages under +10.8 MiB.

    `section_view`: the entries are the groups themselves (nothing is left out).
    """
    rows = growth(new.entries, old.entries)
    new_rest, old_rest = _rest(new), _rest(old)
    if section_view:
        pass
    elif new_rest is None or old_rest is None:
        rest = [side.file_size - sum(side.entries.values()) for side in (new, old)]
        rows.append(Growth(REST, rest[0], rest[1], ""))
    else:
        for group in new_rest.keys() | old_rest.keys():
            partial = bool((new.covered or {}).get(group) or (old.covered or {}).get(group))
            n, o = new_rest.get(group, 0), old_rest.get(group, 0)
            rows.append(Growth(rest_name(group, partial), max(0, n), max(0, o), group))
        # Names that share bytes (a C library's aliases: memcpy and __memcpy) count them
        # twice; one row takes them off again.
        twice = [sum(min(0, v) for v in rest.values()) for rest in (new_rest, old_rest)]
        rows.append(Growth(TWICE, twice[0], twice[1], ""))
    # Each side's bytes no row holds: none, unless its groups miss part of the file.
    listed = (sum(r.bytes for r in rows), sum(r.old_bytes for r in rows))
    rows.append(Growth(UNACCOUNTED, new.file_size - listed[0], old.file_size - listed[1], ""))
    return _ranked(r for r in rows if r.bytes or r.old_bytes)
