"""What changed between two results documents (old: the base branch; new: this change).

Pure, like judge.py: two gate/results/v1 documents in, frozen dataclasses out. Binaries
are paired as the baseline pairs them (same path, else same file name), so a results
file from main and one from a pull request line up without configuration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gate import explain
from gate.explain import Contributor
from gate.pairing import label, pair


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
    sections: tuple[Delta, ...]  # changed ones, largest change first
    packages: tuple[Delta, ...]  # from the attribution, when both sides have one
    startup: tuple[Delta, ...]  # p50, p95, max RSS (ms, ms, bytes)
    checks: tuple[StatusChange, ...]  # checks whose status changed
    # What explains the file's growth (groups, packages, data symbols), as the size checks
    # say it; empty when it did not grow or a side has no attribution.
    grew: tuple[Contributor, ...] = ()
    compared_with: str | None = None  # the old binary's name, where it differs


def _changed(deltas: Iterable[Delta]) -> tuple[Delta, ...]:
    moved = [d for d in deltas if d.kind != "same"]
    return tuple(sorted(moved, key=lambda d: (-abs(d.change or 0), d.name)))


def _named_sizes(
    items: Iterable[Mapping[str, Any]] | None, value: str = "size"
) -> dict[str, float]:
    """Bytes by name; entries sharing a name (legal for ELF sections) are summed."""
    out: dict[str, float] = {}
    for item in items or ():
        out[item["name"]] = out.get(item["name"], 0) + item[value]
    return out


def _pair(old: Mapping[str, float], new: Mapping[str, float]) -> tuple[Delta, ...]:
    return _changed(Delta(n, old.get(n), new.get(n)) for n in sorted(old.keys() | new.keys()))


def _facts(entry: Mapping[str, Any] | None) -> Mapping[str, Any]:
    facts = entry["facts"] if entry else None
    return facts if facts is not None else {}


def _packages(entry: Mapping[str, Any] | None) -> dict[str, float]:
    attribution = entry["attribution"] if entry else None
    return _named_sizes(attribution["packages"], value="bytes") if attribution else {}


def _stats(entry: Mapping[str, Any] | None) -> Mapping[str, Any]:
    stats = entry["startup"]["stats"] if entry and entry["startup"] else None
    return stats if stats is not None else {}


def _max_rss(entry: Mapping[str, Any] | None) -> float | None:
    """The start-up's max RSS as the results carry it (stats.peak_rss)."""
    startup = entry["startup"] if entry else None
    return startup["max_rss_bytes"] if startup else None


def _statuses(entry: Mapping[str, Any] | None) -> dict[str, str]:
    return {c["id"]: c["status"] for c in entry["checks"]} if entry else {}


def diff_binary(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> BinaryDiff:
    side = new or old or {"name": "", "path": ""}
    name = side["name"] or side["path"] or "?"
    kind = "new" if old is None else "removed" if new is None else "changed"
    of, nf = _facts(old), _facts(new)
    size = Delta("file", of.get("file_size"), nf.get("file_size"))
    sections = _pair(_named_sizes(of.get("sections")), _named_sizes(nf.get("sections")))
    packages = _pair(_packages(old), _packages(new)) if _packages(old) and _packages(new) else ()
    os_, ns = _stats(old), _stats(new)
    startup = tuple(
        d
        for d in (
            Delta("p50 ms", os_.get("p50_ms"), ns.get("p50_ms")),
            Delta("p95 ms", os_.get("p95_ms"), ns.get("p95_ms")),
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
    )


def diff_results(
    old: Mapping[str, Any], new: Mapping[str, Any], chosen: Mapping[str, str] | None = None
) -> list[BinaryDiff]:
    """One BinaryDiff per binary in either document: new ones first in their order, then removed.

    Paired as a baseline is (gate/pairing.py): a chosen name, the same path, the same file
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
    """One name's bytes in the new and the old binary (0 where it is absent)."""

    name: str
    bytes: int
    old_bytes: int

    @property
    def delta(self) -> int:
        return self.bytes - self.old_bytes

    @property
    def status(self) -> str:
        if not self.old_bytes:
            return "new"
        if not self.bytes:
            return "removed"
        return "grown" if self.delta > 0 else "shrunk" if self.delta < 0 else "same"


def growth(new: Mapping[str, int], old: Mapping[str, int]) -> list[Growth]:
    """Every name in either, the largest growth first (then the largest shrink last)."""
    rows = [Growth(n, new.get(n, 0), old.get(n, 0)) for n in new.keys() | old.keys()]
    return sorted(rows, key=lambda g: (-g.delta, -g.bytes, g.name))
