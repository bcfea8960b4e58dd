"""What to try when a start-up or size check is red, with the number gate measured behind it.

A red gate blocks a merge; it only helps when it also says what to change. The changes
teams make for a slow or large binary are few and well known (make a heavy init lazy,
link Go with `-buildmode=exe` instead of PIE, build with `CGO_ENABLED=0`, drop the
symbols and DWARF, touch fewer pages at start, size GOMAXPROCS to the CPU quota), and
each is backed by something gate has already measured: the init trace, the relocation
count and the loader's statistics, the bytes of `.symtab` and `.debug_*`, the page
faults, the GOMAXPROCS the program reported. So every failed or warned `startup.*` and
`size.*` check gets the remedies its measurements support, each with that evidence in
one line and, where it can be computed, the expected saving; a remedy without evidence
is never offered. Advice is given in the toolchain's own terms: Go flags for a Go
binary, C compiler and linker flags only for one that is not Go.

Pure, like judge.py: the inputs are the JSON form of one entry of the results document
(gate/results/v1: its facts, attribution, startup with its breakdown, and checks), the
output frozen dataclasses, so a saved result gets the same remedies as a fresh one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gate import explain
from gate.units import format_duration, format_size

MAX_INITS = 3  # package inits named, slowest first
MIN_INIT_MS = 1.0  # an init below this is not worth a remedy
MIN_INIT_SHARE = 0.05  # nor one below this share of the p50
MIN_MAJOR_FAULTS = 4  # fewer: the floor of any cold start (the binary's first pages, ld.so)
PAGE_SIZE = 4096  # the caller passes the machine's (os.sysconf) where it differs
RED = ("fail", "warn")
# Start-up checks a remedy cannot answer: starts that fail are a bug, not a slow start.
_NOT_TIMING = (
    "startup.runs",
    "startup.max_rss",
    "startup.max_mapped_objects",
    "startup.max_open_fds",
)
# Size checks that the symbols and DWARF count in (max_section only for those sections).
_SIZE_WHOLE = ("size.max_file", "size.max_growth")
_STRIPPABLE = (".symtab", ".strtab", ".debug", ".zdebug")


@dataclass(frozen=True)
class Remedy:
    """One thing to try: what (title), why (evidence: the measured numbers in one line),
    how much it should save (None where gate cannot compute it) and which checks it
    answers."""

    id: str  # "go-init:<package>", "pie", "dynamic", "gomaxprocs", "faults", "symbols"
    title: str  # what to try, in the toolchain's terms
    evidence: str
    saving: float | None
    unit: str | None  # "ms" | "bytes" | "cycles" | None
    checks: tuple[str, ...]


def remedy_to_dict(remedy: Remedy) -> dict[str, Any]:
    """The results' REMEDY (gate/results.py)."""
    doc = asdict(remedy)
    doc["checks"] = list(remedy.checks)
    return doc


def remedies(
    facts: Mapping[str, Any] | None,
    attribution: Mapping[str, Any] | None,
    startup: Mapping[str, Any] | None,
    checks: Iterable[Mapping[str, Any]],
    page_size: int = PAGE_SIZE,
) -> tuple[Remedy, ...]:
    """Every remedy the measurements support for the red start-up and size checks."""
    if facts is None:
        return ()
    red = [str(c["id"]) for c in checks if c.get("status") in RED]
    timing = tuple(c for c in red if c.startswith("startup.") and c not in _NOT_TIMING)
    size = tuple(c for c in red if _strippable_check(c))
    found: list[Remedy] = []
    if timing and startup is not None:
        breakdown = startup.get("breakdown") or {}
        found += _inits(facts, startup, breakdown, timing)
        found += _pie(facts, breakdown, timing)
        found += _dynamic(facts, breakdown, timing)
        found += _gomaxprocs(facts, startup, breakdown, timing)
        found += _faults(facts, startup, timing, page_size)
    if size:
        found += _symbols(facts, attribution, size)
    return tuple(found)


def _strippable_check(check_id: str) -> bool:
    if check_id in _SIZE_WHOLE:
        return True
    section = check_id.removeprefix("size.max_section:")
    return section != check_id and section.startswith(_STRIPPABLE)


def _is_go(facts: Mapping[str, Any]) -> bool:
    return facts.get("go") is not None


def _go_setting(facts: Mapping[str, Any], key: str) -> str | None:
    go = facts.get("go") or {}
    value = (go.get("settings") or {}).get(key)
    return None if value is None else str(value)


def _cycles(n: int) -> str:
    return f"{n:,} cycles"


# ---------------------------------------------------------------- Go package inits


def _owner(facts: Mapping[str, Any], package: str) -> tuple[str, str]:
    """("main" | "std" | "dep", the module's path and version) that a package belongs to."""
    go = facts.get("go") or {}
    main = (go.get("main_module") or {}).get("path") or go.get("path") or ""
    if main and (package == main or package.startswith(main + "/")):
        return "main", main
    best, version = "", ""
    for dep in go.get("deps") or ():
        path = str(dep.get("path") or "")
        if path and (package == path or package.startswith(path + "/")) and len(path) > len(best):
            best, version = path, str(dep.get("version") or "")
    if best:
        return "dep", f"{best} {version}".strip()
    first = package.split("/", 1)[0]
    return ("std", "") if "." not in first else ("main", main)


def _inits(
    facts: Mapping[str, Any],
    startup: Mapping[str, Any],
    breakdown: Mapping[str, Any],
    timing: tuple[str, ...],
) -> list[Remedy]:
    """The slowest package inits (GODEBUG=inittrace=1): make them lazy."""
    if not _is_go(facts):
        return []
    stats = startup.get("stats") or {}
    p50 = float(stats.get("p50_ms") or 0.0)
    floor = max(MIN_INIT_MS, MIN_INIT_SHARE * p50)
    inits = [i for i in breakdown.get("inits") or () if float(i["clock_ms"]) >= floor]
    inits.sort(key=lambda i: -float(i["clock_ms"]))
    spent = format_duration(float(breakdown.get("init_clock_ms") or 0.0))
    total = f"{breakdown.get('init_count', 0)} inits took {spent} in all"
    out = []
    for init in inits[:MAX_INITS]:
        package, clock = str(init["package"]), float(init["clock_ms"])
        kind, module = _owner(facts, package)
        if kind == "std":
            title = f"import {package} later or not at all (a standard-library init)"
        elif kind == "dep":
            title = f"make {package}'s init lazy, or import it later (module {module})"
        else:
            title = f"make {package}'s init lazy (do the work on first use, e.g. sync.Once)"
        allocated = (
            f", {format_size(int(init['bytes']))} in {int(init['allocs']):,} allocations"
            if init["bytes"]
            else ", no allocations"
        )
        share = f", {clock / p50:.0%} of the p50 {format_duration(p50)}" if p50 else ""
        evidence = (
            f"init {package}: {format_duration(clock)} clock{allocated}{share} "
            f"(GODEBUG=inittrace=1; {total})"
        )
        out.append(Remedy(f"go-init:{package}", title, evidence, clock, "ms", timing))
    return out


# ---------------------------------------------------------------- the dynamic loader


def _loader_cost(loader: Mapping[str, Any] | None) -> str:
    """The loader's own account (LD_DEBUG=statistics), or "" without one."""
    if not loader:
        return ""
    total = loader.get("total_cycles")
    if total is None:
        return (
            f"the loader applied {loader['relocations']:,} symbol and "
            f"{loader['relative_relocations']:,} relative relocations (LD_DEBUG=statistics)"
        )
    parts = []
    for key, what in (("relocation_percent", "relocating"), ("load_percent", "loading objects")):
        if loader.get(key) is not None:
            parts.append(f"{loader[key]:.1f}% {what}")
    share = f" ({', '.join(parts)})" if parts else ""
    return f"the dynamic loader took {_cycles(int(total))}{share} (LD_DEBUG=statistics)"


def _pie(
    facts: Mapping[str, Any], breakdown: Mapping[str, Any], timing: tuple[str, ...]
) -> list[Remedy]:
    """A PIE's relocations are applied at every start: an executable at a fixed address
    has none of the relative ones."""
    kind = facts["elf"]["type"]
    if kind not in ("pie", "static-pie"):
        return []
    count = facts["linking"].get("relocations")
    loader = breakdown.get("loader")
    what = "static PIE" if kind == "static-pie" else "PIE"
    parts = [
        f"{what}: {count:,} dynamic relocations (readelf -r) applied at every start"
        if count is not None
        else f"{what}: its dynamic relocations are applied at every start"
    ]
    cost = _loader_cost(loader)
    if cost:
        parts.append(cost)
    saving: float | None = None
    unit: str | None = None
    needed = facts["linking"].get("needed") or []
    if _is_go(facts):
        title = "link with -buildmode=exe instead of PIE (the program loses ASLR of its own code)"
        if not needed and loader and loader.get("total_cycles") is not None:
            # Go's internal linker makes an exe without libraries static: no loader at all.
            parts.append("an exe without libraries is static: no dynamic loader runs")
            saving, unit = int(loader["total_cycles"]), "cycles"
    elif kind == "static-pie":
        title = "link with -static instead of -static-pie (the program loses ASLR of its own code)"
        parts.append("a static PIE applies its relative relocations itself before main")
    else:
        title = (
            "link with -no-pie (compile with -fno-pie) instead of PIE; -static-pie does not help"
        )
        parts.append(
            "-static-pie keeps the relative relocations (the program applies them itself); "
            "only a fixed-address executable drops them, at the cost of ASLR of its own code"
        )
    return [Remedy("pie", title, "; ".join(parts), saving, unit, timing)]


def _dynamic(
    facts: Mapping[str, Any], breakdown: Mapping[str, Any], timing: tuple[str, ...]
) -> list[Remedy]:
    """Dynamic linking: ld.so maps and relocates every library before main."""
    linking = facts["linking"]
    needed = list(linking.get("needed") or [])
    if linking["static"] or not needed:
        return []
    loader = breakdown.get("loader")
    shown = ", ".join(needed[:5]) + (f", … {len(needed) - 5} more" if len(needed) > 5 else "")
    interp = linking.get("interpreter") or "the dynamic loader"
    parts = [f"dynamically linked through {interp} with {len(needed)} libraries ({shown})"]
    cost = _loader_cost(loader)
    if cost:
        parts.append(cost)
    total = (loader or {}).get("total_cycles")
    saving = int(total) if total is not None else None
    if _is_go(facts):
        cgo = _go_setting(facts, "CGO_ENABLED")
        if cgo == "0":
            return []  # linked against libraries without cgo: nothing a Go setting removes
        title = (
            "build with CGO_ENABLED=0 (pure-Go net and os/user; no dynamic loader, "
            "no libc start-up)"
        )
        parts.append(f"built with CGO_ENABLED={cgo or '1'}")
    else:
        title = "link statically (-static): no dynamic loader, no libraries to map at start"
    unit = "cycles" if saving is not None else None
    return [Remedy("dynamic", title, "; ".join(parts), saving, unit, timing)]


# ---------------------------------------------------------------- GOMAXPROCS


def _gomaxprocs(
    facts: Mapping[str, Any],
    startup: Mapping[str, Any],
    breakdown: Mapping[str, Any],
    timing: tuple[str, ...],
) -> list[Remedy]:
    """More Ps than the CPU quota: the scheduler's threads fight over a fraction of a CPU."""
    procs = breakdown.get("gomaxprocs")
    envelope = startup.get("envelope") or {}
    cpus = envelope.get("cpus") if isinstance(envelope, Mapping) else None
    if not _is_go(facts) or procs is None or not cpus:
        return []
    fits = max(1, math.ceil(float(cpus)))
    if procs <= fits:
        return []
    version = str((facts.get("go") or {}).get("version") or "")
    why = (
        "Go 1.25 and later size it from the cgroup quota but never below 2 "
        "(runtime/cgroup_linux.go adjustCgroupGOMAXPROCS)"
        if _go_at_least(version, (1, 25))
        else "Go before 1.25 ignores the CPU quota and takes every CPU it may run on"
    )
    evidence = (
        f"the program started with GOMAXPROCS={procs} (GODEBUG=schedtrace) under a "
        f"{float(cpus):g}-CPU quota; {why}"
    )
    title = f"set GOMAXPROCS={fits} (the CPU quota, rounded up)"
    return [Remedy("gomaxprocs", title, evidence, None, None, timing)]


def _go_at_least(version: str, wanted: tuple[int, int]) -> bool:
    from gate.policy import go_version_tuple

    found = go_version_tuple(version)
    return found is not None and found[:2] >= wanted


# ---------------------------------------------------------------- page faults


def _faults(
    facts: Mapping[str, Any],
    startup: Mapping[str, Any],
    timing: tuple[str, ...],
    page_size: int,
) -> list[Remedy]:
    """Major faults at a cold start read the binary (and its libraries) from disk."""
    faults = startup.get("faults") or {}
    major = faults.get("major") if isinstance(faults, Mapping) else None
    if not major or major < MIN_MAJOR_FAULTS:
        return []
    read = int(major * page_size)
    size = int(facts["file_size"])
    evidence = (
        f"median {major:g} major page faults per start: at least {format_size(read)} "
        f"({major:g} x {format_size(page_size)} pages) read from disk, against a "
        f"{format_size(size)} file"
    )
    if _is_go(facts):
        title = (
            "touch fewer pages at start: a smaller binary (fewer dependencies), data loaded lazily"
        )
    else:
        title = "touch fewer pages at start: a smaller binary, data read on first use"
    return [Remedy("faults", title, evidence, None, None, timing)]


# ---------------------------------------------------------------- symbols and DWARF


def _symbols(
    facts: Mapping[str, Any], attribution: Mapping[str, Any] | None, size: tuple[str, ...]
) -> list[Remedy]:
    """.symtab, .strtab and DWARF are never loaded: bytes a shipped binary can do without."""
    if attribution is not None:
        groups = explain.groups(attribution)
        symbols, debug = groups.get(explain.SYMBOLS, 0), groups.get(explain.DEBUG, 0)
    else:  # the same bytes, from the section headers (facts.py _totals)
        symbols, debug = facts["totals"]["symbols"], facts["totals"]["debug"]
    saving = symbols + debug
    if not saving:
        return []
    file_size = int(facts["file_size"])
    sections = len(facts.get("debug", {}).get("sections") or ())
    parts = []
    if symbols:
        parts.append(f"symbol table {format_size(symbols)} (.symtab, .strtab)")
    if debug:
        parts.append(f"DWARF {format_size(debug)} ({sections} debug sections)")
    evidence = (
        f"{' and '.join(parts)}: {format_size(saving)} of the {format_size(file_size)} file "
        f"({saving / file_size:.0%}), never loaded at run time"
    )
    if _is_go(facts):
        title = 'link with -ldflags="-s -w" (no symbol table, no DWARF)'
    elif symbols:
        title = "strip the binary (strip, or link with -s)"
    else:
        title = "strip the debug info (strip --strip-debug, or build without -g)"
    return [Remedy("symbols", title, evidence, saving, "bytes", size)]
