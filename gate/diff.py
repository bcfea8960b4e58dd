"""What changed between two results documents (old: the base branch; new: this change).

Pure, like judge.py: two gate/results/v1 documents in, frozen dataclasses out. Binaries
are paired as the baseline pairs them (same path, else same file name), so a results
file from main and one from a pull request line up without configuration.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gate.baseline import entry_for


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


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _changed(deltas: Iterable[Delta]) -> tuple[Delta, ...]:
    moved = [d for d in deltas if d.kind != "same"]
    return tuple(sorted(moved, key=lambda d: (-abs(d.change or 0), d.name)))


def _named_sizes(items: Any, key: str = "name", value: str = "size") -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get(key), str):
            size = _number(item.get(value))
            if size is not None:
                out[item[key]] = out.get(item[key], 0) + size
    return out


def _pair(old: Mapping[str, float], new: Mapping[str, float]) -> tuple[Delta, ...]:
    return _changed(Delta(n, old.get(n), new.get(n)) for n in sorted(old.keys() | new.keys()))


def _facts(entry: Mapping[str, Any] | None) -> Mapping[str, Any]:
    facts = entry.get("facts") if entry else None
    return facts if isinstance(facts, Mapping) else {}


def _packages(entry: Mapping[str, Any] | None) -> dict[str, float]:
    attribution = entry.get("attribution") if entry else None
    if not isinstance(attribution, Mapping):
        return {}
    return _named_sizes(attribution.get("packages"), value="bytes")


def _stats(entry: Mapping[str, Any] | None) -> Mapping[str, Any]:
    startup = entry.get("startup") if entry else None
    stats = startup.get("stats") if isinstance(startup, Mapping) else None
    return stats if isinstance(stats, Mapping) else {}


def _max_rss(entry: Mapping[str, Any] | None) -> float | None:
    startup = entry.get("startup") if entry else None
    runs = startup.get("runs") if isinstance(startup, Mapping) else None
    values = [
        v
        for r in runs or []
        if isinstance(r, Mapping) and (v := _number(r.get("max_rss_bytes"))) is not None
    ]
    return max(values) if values else None


def _statuses(entry: Mapping[str, Any] | None) -> dict[str, str]:
    checks = entry.get("checks") if entry else None
    items = checks if isinstance(checks, list) else []
    return {
        str(c["id"]): str(c.get("status")) for c in items if isinstance(c, Mapping) and "id" in c
    }


def diff_binary(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> BinaryDiff:
    side = new or old or {}
    name = str(side.get("name") or side.get("path") or "?")
    kind = "new" if old is None else "removed" if new is None else "changed"
    of, nf = _facts(old), _facts(new)
    size = Delta("file", _number(of.get("file_size")), _number(nf.get("file_size")))
    sections = _pair(_named_sizes(of.get("sections")), _named_sizes(nf.get("sections")))
    packages = _pair(_packages(old), _packages(new)) if _packages(old) and _packages(new) else ()
    os_, ns = _stats(old), _stats(new)
    startup = tuple(
        d
        for d in (
            Delta("p50 ms", _number(os_.get("p50_ms")), _number(ns.get("p50_ms"))),
            Delta("p95 ms", _number(os_.get("p95_ms")), _number(ns.get("p95_ms"))),
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
    return BinaryDiff(
        name,
        kind,
        size if size.old is not None or size.new is not None else None,
        sections,
        packages,
        startup,
        checks,
    )


def diff_results(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[BinaryDiff]:
    """One BinaryDiff per binary in either document: new ones first in their order, then removed.

    Paired by path, else file name; two documents of one binary each are always paired.
    """
    new_entries = [b for b in new.get("binaries") or [] if isinstance(b, Mapping)]
    old_entries = [b for b in old.get("binaries") or [] if isinstance(b, Mapping)]
    if len(new_entries) == 1 and len(old_entries) == 1:  # one binary each: the same program
        return [diff_binary(old_entries[0], new_entries[0])]
    out: list[BinaryDiff] = []
    matched: set[int] = set()
    for entry in new_entries:
        base = entry_for({"binaries": old_entries}, str(entry.get("path", "")))
        if base is not None:
            matched.add(id(base))
        out.append(diff_binary(base, entry))
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
