"""Which baseline binary each binary is compared with; never silently none.

Renaming a binary, or a CI matrix adding a suffix (`svc` -> `svc-amd64`), must not
switch the growth and regression checks off without a word. The rules, in order:

1. a name the user chose (`--baseline-name NAME`, or `BINARY=NAME` for one of several);
2. the same path;
3. the same file name;
4. when each side holds exactly one binary, those two, whatever their names (said so);
5. otherwise none, and the message lists the names the baseline has and how to choose.

`gate check --baseline`, `--baseline-binary`, `gate size --against RESULTS.json` and
`gate diff` pair by these rules. Pure: documents in, Pairings out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import UsageError

if TYPE_CHECKING:
    from gate.results.types import Entry

MAX_NAMES = 10  # baseline names listed in a message


@dataclass(frozen=True)
class Pairing:
    entry: Entry | None  # the baseline's entry; None: no counterpart
    how: str  # "chosen" | "path" | "name" | "only" | "none"
    note: str  # one line for a reviewer: what it was compared with, or why nothing


def label(entry: Entry) -> str:
    """A baseline entry as a person names it: its file name."""
    return str(entry.get("name") or Path(str(entry.get("path") or "?")).name)


def names_of(entries: Sequence[Entry]) -> str:
    shown = [label(e) for e in entries[:MAX_NAMES]]
    more = f", … {len(entries) - MAX_NAMES} more" if len(entries) > MAX_NAMES else ""
    return ", ".join(shown) + more if shown else "no binaries"


def parse_choices(values: Sequence[str], paths: Sequence[str]) -> dict[str, str]:
    """`--baseline-name` values -> {binary (path or file name): baseline name}.

    `NAME` alone is allowed only for a single binary; with several, `BINARY=NAME`.
    """
    out: dict[str, str] = {}
    for value in values:
        binary, sep, name = value.rpartition("=")
        if not sep:
            if len(paths) != 1:
                raise UsageError(
                    f"--baseline-name {value}: {len(paths)} binaries; say which one: "
                    f"--baseline-name BINARY={value}"
                )
            binary, name = paths[0], value
        if not binary or not name:
            raise UsageError(f"--baseline-name {value!r}: expected NAME or BINARY=NAME")
        known = {p for p in paths} | {Path(p).name for p in paths}
        if binary not in known:
            raise UsageError(
                f"--baseline-name {value}: {binary} is not one of the binaries checked "
                f"({', '.join(Path(p).name for p in paths)})"
            )
        out[binary] = name
    return out


def _find(entries: Sequence[Entry], name: str) -> Entry | None:
    for key in ("path", "name"):
        for entry in entries:
            if entry.get(key) == name:
                return entry
    for entry in entries:
        if Path(str(entry.get("path") or "")).name == name:
            return entry
    return None


def pair(
    entries: Sequence[Entry],
    paths: Sequence[str],
    chosen: Mapping[str, str] | None = None,
    source: str = "the baseline",
) -> list[Pairing]:
    """One Pairing per path, in order. A chosen name the baseline lacks is a usage error."""
    chosen = chosen or {}
    out: list[Pairing] = []
    for path in paths:
        name = Path(path).name
        wanted = chosen.get(path) or chosen.get(name)
        if wanted is not None:
            entry = _find(entries, wanted)
            if entry is None:
                raise UsageError(
                    f"--baseline-name {wanted}: {source} has no binary of that name "
                    f"(it has: {names_of(entries)})"
                )
            out.append(Pairing(entry, "chosen", f"compared with {label(entry)} in {source}"))
            continue
        entry = next((e for e in entries if e.get("path") == path), None)
        if entry is not None:
            out.append(Pairing(entry, "path", f"compared with {label(entry)} in {source}"))
            continue
        entry = next(
            (e for e in entries if name in (e.get("name"), Path(str(e.get("path"))).name)),
            None,
        )
        if entry is not None:
            out.append(Pairing(entry, "name", f"compared with {label(entry)} in {source}"))
            continue
        if len(entries) == 1 and len(paths) == 1:
            only = entries[0]
            out.append(
                Pairing(
                    only,
                    "only",
                    f"compared with {label(only)} in {source}: the only binary on each side, "
                    "though the names differ",
                )
            )
            continue
        out.append(
            Pairing(
                None,
                "none",
                f"no binary named {name} in {source} (it has: {names_of(entries)}); "
                f"--baseline-name {name}=NAME chooses one",
            )
        )
    return out
