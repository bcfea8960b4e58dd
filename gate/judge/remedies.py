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
is never offered. Advice is given in the terms of the toolchain that built the binary
(the facts' toolchain, gate/read/toolchain.py): Go flags for Go, Cargo profile settings and
RUSTFLAGS for Rust, C compiler and linker flags for C and C++; never another's. The
loader's cost is given in milliseconds of the measured start where the machine's TSC rate
is known (gate/run/tsc.py), its cycles beside them.

Pure, like judge.py: the inputs are the JSON form of one entry of the results document
(gate/results/v1: its facts, attribution, startup with its breakdown, and checks), the
output frozen dataclasses, so a saved result gets the same remedies as a fresh one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, cast

from gate.judge import explain
from gate.values.groups import DEBUG, SYMBOLS
from gate.values.units import format_duration, format_size

if TYPE_CHECKING:
    from gate.results.types import Attribution, Breakdown, Check, Facts, LoaderStats, Startup
    from gate.results.types import Remedy as RemedyJSON

MAX_INITS = 3  # package inits named, slowest first
MIN_INIT_MS = 1.0  # an init below this is not worth a remedy
MIN_INIT_SHARE = 0.05  # nor one below this share of the p50
MIN_THROTTLED_SHARE = 0.25  # a start held back by the CPU quota for less is not the quota's
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
# Size checks a Rust release profile answers: the code, and the tables unwinding needs.
_RUST_SECTIONS = tuple(
    f"size.max_section:{name}" for name in (".text", ".eh_frame", ".gcc_except_table")
)
_PROFILE = "in Cargo.toml's [profile.release]"


@dataclass(frozen=True)
class Remedy:
    """One thing to try: what (title), why (evidence: the measured numbers in one line),
    how much it should save (None where gate cannot compute it) and which checks it
    answers."""

    # "go-init:<package>", "pie", "dynamic", "gomaxprocs", "quota", "faults", "symbols",
    # "cargo-profile"
    id: str
    title: str  # what to try, in the toolchain's terms
    evidence: str
    saving: float | None
    unit: str | None  # "ms" | "bytes" | "cycles" | None
    checks: tuple[str, ...]


def remedy_to_dict(remedy: Remedy) -> RemedyJSON:
    """The results' REMEDY (gate/results.py)."""
    doc = asdict(remedy)
    doc["checks"] = list(remedy.checks)
    return cast("RemedyJSON", doc)


def remedies(
    facts: Facts | None,
    attribution: Attribution | None,
    startup: Startup | None,
    checks: Iterable[Check],
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
        breakdown = startup.get("breakdown")
        found += _inits(facts, startup, breakdown, timing)
        stats = startup.get("stats")
        p50 = float((stats.get("p50_ms") if stats else None) or 0.0)
        found += _pie(facts, breakdown, timing, p50)
        found += _dynamic(facts, breakdown, timing, p50)
        found += _gomaxprocs(facts, startup, breakdown, timing)
        found += _quota(breakdown, timing)
        found += _faults(facts, startup, timing, page_size)
    if size:
        found += _symbols(facts, attribution, size)
    profile = tuple(c for c in red if c in _SIZE_WHOLE or c in _RUST_SECTIONS)
    if profile:
        found += _cargo_profile(facts, profile)
    return tuple(found)


def _strippable_check(check_id: str) -> bool:
    if check_id in _SIZE_WHOLE:
        return True
    section = check_id.removeprefix("size.max_section:")
    return section != check_id and section.startswith(_STRIPPABLE)


def _is_go(facts: Facts) -> bool:
    return facts.get("go") is not None


def _language(facts: Facts) -> str:
    from gate.read.toolchain import language_of

    return language_of(facts)


def _go_setting(facts: Facts, key: str) -> str | None:
    go = facts.get("go")
    value = (go.get("settings") or {}).get(key) if go else None
    return None if value is None else str(value)


def _cycles(n: int) -> str:
    return f"{n:,} cycles"


# ---------------------------------------------------------------- Go package inits


def _owner(facts: Facts, package: str) -> tuple[str, str]:
    """("main" | "std" | "dep", the module's path and version) that a package belongs to."""
    go = facts.get("go")
    module = go.get("main_module") if go else None
    main = (module.get("path") if module else None) or (go.get("path") if go else None) or ""
    if main and (package == main or package.startswith(main + "/")):
        return "main", main
    best, version = "", ""
    for dep in (go.get("deps") if go else None) or ():
        path = str(dep.get("path") or "")
        if path and (package == path or package.startswith(path + "/")) and len(path) > len(best):
            best, version = path, str(dep.get("version") or "")
    if best:
        return "dep", f"{best} {version}".strip()
    if package == "main":  # the program's own package, whatever its module is called
        return "main", main
    first = package.split("/", 1)[0]
    return ("std", "") if "." not in first else ("main", main)


def _inits(
    facts: Facts,
    startup: Startup,
    breakdown: Breakdown | None,
    timing: tuple[str, ...],
) -> list[Remedy]:
    """The slowest package inits (GODEBUG=inittrace=1): make them lazy.

    An init's cost is the median of the breakdown's runs (taken without the CPU quota,
    whose pauses land on whichever init is running), and it is blamed only when that
    median is above its spread over the runs: below it, the number is the machine's
    noise, and a saving it names would be too. The floor is a share of the start the
    inits were measured in: the timed p50, or inside a quota the start without it."""
    if not _is_go(facts) or not breakdown:
        return []
    stats = startup.get("stats")
    runs = int(breakdown.get("runs") or 1)
    without = breakdown.get("throttle") is not None
    start = breakdown.get("start_ms")
    if without and start:
        base = float(start)
        base_text = f"the {format_duration(base)} start without the CPU quota"
    else:
        base = float((stats.get("p50_ms") if stats else None) or 0.0)
        base_text = f"the p50 {format_duration(base)}"
    floor = max(MIN_INIT_MS, MIN_INIT_SHARE * base)
    inits = [
        i
        for i in breakdown.get("inits") or ()
        if float(i["clock_ms"]) >= floor and float(i["clock_ms"]) > float(i.get("spread_ms") or 0)
    ]
    inits.sort(key=lambda i: -float(i["clock_ms"]))
    spent = format_duration(float(breakdown.get("init_clock_ms") or 0.0))
    total = f"{breakdown.get('init_count', 0)} inits took {spent} in all"
    quota = " without the CPU quota" if without else ""
    out = []
    for init in inits[:MAX_INITS]:
        package, clock = str(init["package"]), float(init["clock_ms"])
        spread = format_duration(float(init.get("spread_ms") or 0))
        measured = f" (median of {runs} runs{quota}, spread {spread})" if runs > 1 else quota
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
        share = f", {clock / base:.0%} of {base_text}" if base else ""
        evidence = (
            f"init {package}: {format_duration(clock)} clock{measured}{allocated}{share} "
            f"(GODEBUG=inittrace=1; {total})"
        )
        out.append(Remedy(f"go-init:{package}", title, evidence, clock, "ms", timing))
    return out


# ---------------------------------------------------------------- the dynamic loader


def _about_ms(ms: float) -> str:
    """Two significant digits: a loader's time is a fraction of a millisecond or a few."""
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.2g} ms"


def _loader_cost(loader: LoaderStats | None, p50: float) -> str:
    """The loader's own account (LD_DEBUG=statistics), or "" without one: in milliseconds
    of the measured start where the machine's TSC rate turned its cycles into time
    (gate/run/tsc.py), the cycles beside them."""
    if not loader:
        return ""
    total = loader.get("total_cycles")
    if total is None:
        return (
            f"the loader applied {loader['relocations']:,} symbol and "
            f"{loader['relative_relocations']:,} relative relocations (LD_DEBUG=statistics)"
        )
    parts = [_cycles(int(total))]
    for percent, what in (
        (loader.get("relocation_percent"), "relocating"),
        (loader.get("load_percent"), "loading objects"),
    ):
        if percent is not None:
            parts.append(f"{percent:.1f}% {what}")
    ms = loader.get("total_ms")
    if ms is None:
        took = f"{parts[0]}" + (f" ({', '.join(parts[1:])})" if parts[1:] else "")
    else:
        of = f" of a {format_duration(p50)} p50" if p50 else ""
        took = f"about {_about_ms(float(ms))}{of} ({'; '.join(parts)})"
    return f"the dynamic loader took {took} (LD_DEBUG=statistics)"


def _loader_saving(loader: LoaderStats | None) -> tuple[float | None, str | None]:
    """What the loader's work costs, in ms where known, else in cycles; (None, None)."""
    if not loader:
        return None, None
    cycles, ms = loader.get("total_cycles"), loader.get("total_ms")
    if cycles is None:
        return None, None
    if ms is not None:
        return float(ms), "ms"
    return int(cycles), "cycles"


def _pie(
    facts: Facts, breakdown: Breakdown | None, timing: tuple[str, ...], p50: float
) -> list[Remedy]:
    """A PIE's relocations are applied at every start: an executable at a fixed address
    has none of the relative ones."""
    kind = facts["elf"]["type"]
    if kind not in ("pie", "static-pie"):
        return []
    count = facts["linking"].get("relocations")
    loader = breakdown.get("loader") if breakdown else None
    what = "static PIE" if kind == "static-pie" else "PIE"
    parts = [
        f"{what}: {count:,} dynamic relocations (readelf -r) applied at every start"
        if count is not None
        else f"{what}: its dynamic relocations are applied at every start"
    ]
    cost = _loader_cost(loader, p50)
    if cost:
        parts.append(cost)
    saving: float | None = None
    unit: str | None = None
    needed = facts["linking"].get("needed") or []
    language = _language(facts)
    aslr = "(the program loses ASLR of its own code)"
    if language == "go":
        title = f"link with -buildmode=exe instead of PIE {aslr}"
        if not needed and loader and loader.get("total_cycles") is not None:
            # Go's internal linker makes an exe without libraries static: no loader at all.
            parts.append("an exe without libraries is static: no dynamic loader runs")
            saving, unit = _loader_saving(loader)
    elif language == "rust":
        # rustc links a fixed-address executable for the static relocation model, a static
        # one (not a static PIE) with crt-static beside it.
        flags = "-C relocation-model=static"
        if kind == "static-pie":
            flags = f"-C target-feature=+crt-static {flags}"
            parts.append("a static PIE applies its relative relocations itself before main")
        title = f'build with RUSTFLAGS="{flags}" instead of PIE {aslr}'
    elif kind == "static-pie":
        title = f"link with -static instead of -static-pie {aslr}"
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
    facts: Facts, breakdown: Breakdown | None, timing: tuple[str, ...], p50: float
) -> list[Remedy]:
    """Dynamic linking: ld.so maps and relocates every library before main."""
    linking = facts["linking"]
    needed = list(linking.get("needed") or [])
    if linking["static"] or not needed:
        return []
    loader = breakdown.get("loader") if breakdown else None
    shown = ", ".join(needed[:5]) + (f", … {len(needed) - 5} more" if len(needed) > 5 else "")
    interp = linking.get("interpreter") or "the dynamic loader"
    parts = [f"dynamically linked through {interp} with {len(needed)} libraries ({shown})"]
    cost = _loader_cost(loader, p50)
    if cost:
        parts.append(cost)
    saving, unit = _loader_saving(loader)
    language = _language(facts)
    gone = "no dynamic loader, no libraries to map at start"
    if language == "go":
        cgo = _go_setting(facts, "CGO_ENABLED")
        if cgo == "0":
            return []  # linked against libraries without cgo: nothing a Go setting removes
        title = (
            "build with CGO_ENABLED=0 (pure-Go net and os/user; no dynamic loader, "
            "no libc start-up)"
        )
        parts.append(f"built with CGO_ENABLED={cgo or '1'}")
    elif language == "rust":
        title = (
            'link statically: build with RUSTFLAGS="-C target-feature=+crt-static" (glibc) '
            f"or for a *-linux-musl target: {gone}"
        )
    else:
        title = f"link statically (-static): {gone}"
    return [Remedy("dynamic", title, "; ".join(parts), saving, unit, timing)]


# ---------------------------------------------------------------- GOMAXPROCS


def _gomaxprocs(
    facts: Facts,
    startup: Startup,
    breakdown: Breakdown | None,
    timing: tuple[str, ...],
) -> list[Remedy]:
    """More Ps than the CPU quota: the scheduler's threads fight over a fraction of a CPU."""
    procs = breakdown.get("gomaxprocs") if breakdown else None
    envelope = startup.get("envelope")
    cpus = envelope.get("cpus") if isinstance(envelope, Mapping) else None
    go = facts.get("go")
    if go is None or procs is None or not cpus:
        return []
    fits = max(1, math.ceil(float(cpus)))
    if procs <= fits:
        return []
    version = str(go.get("version") or "")
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


def _quota(breakdown: Breakdown | None, timing: tuple[str, ...]) -> list[Remedy]:
    """The CPU quota itself: a start held back for much of its time is CPU work stretched
    by the quota, whatever init does it. Measured on one start inside the whole envelope
    (the cgroup's cpu.stat); what to cut comes from the inits, measured without it."""
    from gate.values.envelope import quota_held

    throttle = breakdown.get("throttle") if breakdown else None
    if not breakdown or not throttle:
        return []
    held, wall = throttle.get("throttled_ms"), throttle.get("wall_ms")
    if held is None or not wall or held < MIN_THROTTLED_SHARE * float(wall):
        return []
    start = breakdown.get("start_ms")
    evidence = quota_held(float(throttle["cpus"]), float(held), float(wall),
                          None if start is None else float(start))  # fmt: skip
    runs = int(breakdown.get("runs") or 1)
    if start is not None and runs > 1:
        evidence += f" (the median of {runs} runs)"
    title = (
        "do less CPU work before the program is ready, or give it more CPU "
        "(a larger cpus; on Lambda, more memory buys more CPU)"
    )
    return [Remedy("quota", title, evidence, None, None, timing)]


def _go_at_least(version: str, wanted: tuple[int, int]) -> bool:
    from gate.judge.policy import go_version_tuple

    found = go_version_tuple(version)
    return found is not None and found[:2] >= wanted


# ---------------------------------------------------------------- page faults


def _faults(
    facts: Facts,
    startup: Startup,
    timing: tuple[str, ...],
    page_size: int,
) -> list[Remedy]:
    """Major faults at a cold start read the binary (and its libraries) from disk."""
    faults = startup.get("faults")
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
    language = _language(facts)
    if language == "go":
        title = (
            "touch fewer pages at start: a smaller binary (fewer dependencies), data loaded lazily"
        )
    elif language == "rust":
        title = (
            'touch fewer pages at start: a smaller binary (opt-level = "z", lto = true, '
            f"codegen-units = 1 {_PROFILE}), data read on first use"
        )
    else:
        title = "touch fewer pages at start: a smaller binary, data read on first use"
    return [Remedy("faults", title, evidence, None, None, timing)]


# ---------------------------------------------------------------- symbols and DWARF


def _symbols(facts: Facts, attribution: Attribution | None, size: tuple[str, ...]) -> list[Remedy]:
    """.symtab, .strtab and DWARF are never loaded: bytes a shipped binary can do without."""
    if attribution is not None:
        groups = explain.groups(attribution)
        symbols, debug = groups.get(SYMBOLS, 0), groups.get(DEBUG, 0)
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
    language = _language(facts)
    if language == "go":
        title = 'link with -ldflags="-s -w" (no symbol table, no DWARF)'
    elif language == "rust":
        title = (
            f"set strip = true {_PROFILE} (no symbol table, no DWARF)"
            if symbols
            else f'set debug = false (or strip = "debuginfo") {_PROFILE}'
        )
    elif symbols:
        title = "strip the binary (strip, or link with -s)"
    else:
        title = "strip the debug info (strip --strip-debug, or build without -g)"
    return [Remedy("symbols", title, evidence, saving, "bytes", size)]


# ---------------------------------------------------------------- a Rust release profile


def _cargo_profile(facts: Facts, size: tuple[str, ...]) -> list[Remedy]:
    """A Rust binary's size is mostly its release profile: unwinding (panic = "unwind"
    keeps landing pads in the code and `.gcc_except_table` beside it), monomorphised
    copies that LTO and one codegen unit fold, and the optimisation level. Offered only
    with the unwinding tables as evidence; gate cannot predict how much a profile saves
    (the standard library, prebuilt for unwinding, keeps its own tables)."""
    if _language(facts) != "rust":
        return []
    sizes: dict[str, int] = {}
    for sec in facts.get("sections") or ():
        sizes[sec["name"]] = sizes.get(sec["name"], 0) + int(sec["size"])
    except_table = sizes.get(".gcc_except_table", 0)
    if not except_table:
        return []  # built with panic = "abort" already: no landing pads to drop
    file_size = int(facts["file_size"])
    code = sizes.get(".text", 0)
    unwind = f".gcc_except_table {format_size(except_table)}"
    if sizes.get(".eh_frame"):
        unwind += f", .eh_frame {format_size(sizes['.eh_frame'])}"
    evidence = (
        f"code (.text) {format_size(code)} of the {format_size(file_size)} file; "
        f'unwinding tables ({unwind}): built with panic = "unwind", whose landing pads '
        "are in the code too"
    )
    title = (
        'set panic = "abort", lto = true, codegen-units = 1 and opt-level = "z" '
        f'(or "s") {_PROFILE}'
    )
    return [Remedy("cargo-profile", title, evidence, None, None, size)]
