"""Why a start was slow: Go package inits, dynamic loader work and page faults.

The timed runs say how slow a start is; a red gate is only actionable with the why
(DESIGN.md 4). Go and glibc both report their own start-up work on stderr when asked:
`GODEBUG=inittrace=1` prints one line per package init (wall clock, heap allocated),
`LD_DEBUG=statistics` the loader's relocation work, and `GODEBUG=schedtrace=1000` the
GOMAXPROCS the program got (to hold against a CPU quota). One extra warm start with those
variables set is enough: the breakdown is about init work, not the page cache, so it
never joins the timed runs. Parsing is kept apart from running, so the parsers can be
tested on captured text and reused on saved output; rendering is the report layer's
(gate/report/markup.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from gate.errors import GateError
from gate.startup.runner import RunConfig, RunSample, run_once
from gate.startup.stats import fault_medians
from gate.units import format_size

BreakdownKind = Literal["go-inittrace", "ld-statistics", "none"]

TOP_INITS = 10  # slowest package inits kept; the count and total cover all of them
BREAKDOWN_TAIL_BYTES = 1 << 20  # stderr kept from the breakdown run (a big program's trace)

# runtime/proc.go doInit1, identical in Go 1.19 and 1.27:
#   init internal/bytealg @0.008 ms, 0 ms clock, 0 bytes, 0 allocs
# Times are fmtNSAsMS: whole milliseconds from 10 ms up, else two significant digits
# ("0.013 ms", "0.11 ms", "1.1 ms", "84 ms").
_INIT_RE = re.compile(
    r"^init (?P<pkg>\S+) @(?P<at>\d+(?:\.\d+)?) ms, (?P<clock>\d+(?:\.\d+)?) ms clock,"
    r" (?P<bytes>\d+) bytes, (?P<allocs>\d+) allocs[ \t]*$",
    re.MULTILINE,
)

# glibc's _dl_debug_printf prefixes every line with the pid and a tab: "     12345:\t...".
_LD_LINE_RE = re.compile(r"^[ \t]*(?P<pid>\d+):\t[ \t]*(?P<text>.*?)[ \t]*$", re.MULTILINE)
# "time needed for relocation: 766774 cycles (74.4%)"; glibc writes 0.5% as ".5%" and
# leaves 100% empty ("(%)"), hence the loose percentage; before 2.30 it said "clock cycles".
_LD_ITEM_RE = re.compile(
    r"^(?P<key>[a-z][a-z ]*[a-z]): (?P<num>\d+)(?: (?:clock )?cycles)?"
    r"(?: \((?P<pct>\d*(?:\.\d+)?)%\))?$"
)
_LD_HEADER = "runtime linker statistics:"

# runtime/proc.go schedtrace, printed by sysmon on its first round (the interval is counted
# from boot, so the first line comes at start whatever the interval) and every second after:
#   SCHED 0ms: gomaxprocs=2 idleprocs=0 threads=4 spinningthreads=1 ...
# The same in Go 1.19 and 1.27. Only the first line is read: GOMAXPROCS as the program
# started with it. A whole-hour interval would never print (nanotime counts from boot).
# Both traces are written by several print statements each, and sysmon prints while the
# inits run, so a SCHED line can land inside an init line ("init runtime @SCHED 0ms: ...
# ]\n0.022 ms, ...") or an init line after a SCHED line's first statement ("SCHED 0ms:
# ... runqueue=0init os @0.30 ms, ..."); seen about once in 20 starts. The first statement,
# which holds gomaxprocs, is whole either way, so it is searched for anywhere; `_SCHED_CUT`
# takes the SCHED text out before the init trace is parsed, to the end of its line or to
# an init line that starts inside it.
_SCHED_RE = re.compile(r"SCHED \d+ms: gomaxprocs=(?P<procs>\d+) ")
_SCHED_CUT = re.compile(r"SCHED \d+ms: gomaxprocs=[^\n]*?(?:\n|(?=init ))")
SCHEDTRACE = "schedtrace=1000"


@dataclass(frozen=True)
class Init:
    """One package's init, as the Go runtime measured it."""

    package: str
    at_ms: float  # when it started, since the runtime began initialising
    clock_ms: float  # wall time of the package's init functions
    bytes: int  # heap allocated by them
    allocs: int


@dataclass(frozen=True)
class LoaderStats:
    """glibc's count of its own start-up work (the first process's first report).

    Times are in TSC cycles, as glibc prints them: user space has no reliable TSC rate to
    turn them into milliseconds (/proc/cpuinfo's "cpu MHz" is the current core clock), so
    they stay cycles, with glibc's exact share of the loader's total. They are None on
    machines where glibc does not time (no HP_TIMING_INLINE).
    """

    pid: int
    total_cycles: int | None
    relocation_cycles: int | None
    relocation_percent: float | None
    load_cycles: int | None
    load_percent: float | None
    relocations: int  # symbol relocations at start-up
    relocations_from_cache: int
    relative_relocations: int
    # At exit, lazily bound symbols included; None when the process did not exit normally.
    final_relocations: int | None = None
    final_relocations_from_cache: int | None = None


@dataclass(frozen=True)
class Breakdown:
    """What the start-up time went into, for a report next to the timings."""

    kind: BreakdownKind
    inits: tuple[Init, ...] = ()  # slowest first, at most TOP_INITS
    init_count: int = 0  # every init traced
    init_clock_ms: float = 0.0  # their clock summed
    loader: LoaderStats | None = None
    faults: Mapping[str, float] | None = None  # {"major", "minor"}: medians over the timed runs
    note: str = ""  # why something is missing, or that the breakdown run failed
    gomaxprocs: int | None = None  # Go: GOMAXPROCS as the program started (schedtrace)


# --------------------------------------------------------------------------- parsing


def parse_inittrace(text: str) -> list[Init]:
    """Every `GODEBUG=inittrace=1` line in `text`, in the order printed (with any
    `schedtrace` output printed into the middle of one taken out first)."""
    if "SCHED " in text:
        text = _SCHED_CUT.sub("", text)
    return [
        Init(
            package=m["pkg"],
            at_ms=float(m["at"]),
            clock_ms=float(m["clock"]),
            bytes=int(m["bytes"]),
            allocs=int(m["allocs"]),
        )
        for m in _INIT_RE.finditer(text)
    ]


def parse_gomaxprocs(text: str) -> int | None:
    """GOMAXPROCS from the first `GODEBUG=schedtrace` line in `text`, if any."""
    m = _SCHED_RE.search(text)
    return int(m["procs"]) if m else None


def _ld_blocks(text: str) -> list[tuple[int, dict[str, tuple[int, float | None]]]]:
    """The `runtime linker statistics:` reports in `text`: (pid, key -> (number, percent))."""
    blocks: list[tuple[int, dict[str, tuple[int, float | None]]]] = []
    open_by_pid: dict[int, dict[str, tuple[int, float | None]]] = {}
    for line in _LD_LINE_RE.finditer(text):
        pid, body = int(line["pid"]), line["text"]
        if body == _LD_HEADER:
            items: dict[str, tuple[int, float | None]] = {}
            blocks.append((pid, items))
            open_by_pid[pid] = items
            continue
        m = _LD_ITEM_RE.match(body)
        if m and pid in open_by_pid:
            pct = m["pct"]
            open_by_pid[pid][m["key"]] = (int(m["num"]), float(pct) if pct else None)
    return blocks


def parse_ld_statistics(text: str) -> LoaderStats | None:
    """glibc's `LD_DEBUG=statistics` report of the first process in `text`, if any.

    A program that starts others passes LD_DEBUG on; the first start-up report is the
    program's own (its loader runs before anything it starts). The exit report of the
    same pid, if printed, adds the final relocation counts.
    """
    blocks = _ld_blocks(text)
    first = next((n for n, (_, it) in enumerate(blocks) if "number of relocations" in it), None)
    if first is None:
        return None
    pid, items = blocks[first]
    final = next(
        (
            found
            for p, found in blocks[first + 1 :]
            if p == pid and "final number of relocations" in found
        ),
        {},
    )

    def num(key: str, source: Mapping[str, tuple[int, float | None]] = items) -> int | None:
        return source[key][0] if key in source else None

    def pct(key: str) -> float | None:
        if key not in items:
            return None
        cycles, percent = items[key]
        total = num("total startup time in dynamic loader")
        if percent is None and total:  # glibc prints 100% as "(%)"
            percent = round(100 * cycles / total, 1)
        return percent

    return LoaderStats(
        pid=pid,
        total_cycles=num("total startup time in dynamic loader"),
        relocation_cycles=num("time needed for relocation"),
        relocation_percent=pct("time needed for relocation"),
        load_cycles=num("time needed to load objects"),
        load_percent=pct("time needed to load objects"),
        relocations=num("number of relocations") or 0,
        relocations_from_cache=num("number of relocations from cache") or 0,
        relative_relocations=num("number of relative relocations") or 0,
        final_relocations=num("final number of relocations", final),
        final_relocations_from_cache=num("final number of relocations from cache", final),
    )


def fault_summary(samples: Iterable[RunSample]) -> dict[str, float] | None:
    """Median major and minor page faults per start over the successful runs; None
    without one. The one definition is stats.fault_medians; StartupResult.faults and the
    results' `faults` hold the same number for the timed runs."""
    return fault_medians((s.ok, s.major_faults, s.minor_faults) for s in samples)


def summarize_inits(
    inits: Iterable[Init], top: int = TOP_INITS
) -> tuple[tuple[Init, ...], int, float]:
    """(the `top` slowest, slowest first and in printed order on ties; count; total clock ms)."""
    every = list(inits)
    slowest = sorted(every, key=lambda i: -i.clock_ms)[:top]
    return tuple(slowest), len(every), round(sum(i.clock_ms for i in every), 3)


# --------------------------------------------------------------------------- running


def _with_setting(current: str | None, setting: str, sep: str = ",") -> str:
    """`current` with `setting` appended: later GODEBUG settings win, LD_DEBUG takes a list."""
    return f"{current}{sep}{setting}" if current else setting


def _effective(cfg: RunConfig, key: str) -> str | None:
    """What the program would see for `key`: cfg.env over gate's own environment."""
    return cfg.env[key] if key in cfg.env else os.environ.get(key)


def run_breakdown(cfg: RunConfig, is_go: bool, is_dynamic: bool) -> Breakdown:
    """One extra warm start of `cfg` with Go's init trace and/or glibc's loader statistics.

    Go binaries get `GODEBUG=inittrace=1,schedtrace=1000`, dynamically linked ones
    `LD_DEBUG=statistics` (a dynamic cgo binary both, in the same run). A run that fails
    still yields what it printed, with the failure in the note; the program's misbehaviour
    never raises.
    `faults` is left for the caller, who has the timed runs (fault_summary).
    """
    if not (is_go or is_dynamic):
        return Breakdown(
            "none", note="statically linked and not Go: no init trace or loader statistics"
        )
    env = dict(cfg.env)
    if is_go:
        env["GODEBUG"] = _with_setting(_effective(cfg, "GODEBUG"), f"inittrace=1,{SCHEDTRACE}")
    if is_dynamic:
        env["LD_DEBUG"] = _with_setting(_effective(cfg, "LD_DEBUG"), "statistics")
    run = replace(cfg, env=env, cold=False, evict_files=(), tail_bytes=BREAKDOWN_TAIL_BYTES)
    try:
        sample, _ = run_once(run)
    except (GateError, OSError) as exc:
        return Breakdown("none", note=f"the breakdown run could not start: {exc}")
    return breakdown_from_output(sample, is_go, is_dynamic, _effective(cfg, "LD_DEBUG_OUTPUT"))


def breakdown_from_output(
    sample: RunSample, is_go: bool, is_dynamic: bool, ld_debug_output: str | None = None
) -> Breakdown:
    """The Breakdown in a finished breakdown run's stderr, with notes on what is missing."""
    text = sample.stderr_tail
    inits = parse_inittrace(text) if is_go else []
    loader = parse_ld_statistics(text) if is_dynamic else None
    notes: list[str] = []
    if not sample.ok:
        notes.append(f"the breakdown run failed: {sample.error}")
        if inits:
            notes.append(f"the init trace ends after {inits[-1].package}")
    if len(text.encode("utf-8", "replace")) >= BREAKDOWN_TAIL_BYTES:
        notes.append(f"stderr passed {format_size(BREAKDOWN_TAIL_BYTES)}: only its end was kept")
    if is_go and not inits:
        notes.append("no init trace (GODEBUG=inittrace=1) on stderr")
    if is_dynamic and loader is None:
        where = f" (LD_DEBUG_OUTPUT={ld_debug_output} sends it to files)" if ld_debug_output else ""
        notes.append(f"no loader statistics (LD_DEBUG=statistics) on stderr{where}")
    kind: BreakdownKind = "go-inittrace" if inits else "ld-statistics" if loader else "none"
    top, count, total = summarize_inits(inits)
    procs = parse_gomaxprocs(text) if is_go else None
    return Breakdown(kind, top, count, total, loader, None, "; ".join(notes), procs)


# --------------------------------------------------------------------------- the results' form
# (shown to a person by gate/report/markup.py: breakdown_lines, breakdown_text)


def breakdown_to_dict(b: Breakdown) -> dict[str, Any]:
    """The results-JSON form (every field; cycles stay cycles)."""
    return {
        "kind": b.kind,
        "inits": [asdict(i) for i in b.inits],
        "init_count": b.init_count,
        "init_clock_ms": b.init_clock_ms,
        "loader": asdict(b.loader) if b.loader else None,
        "faults": dict(b.faults) if b.faults is not None else None,
        "note": b.note,
        "gomaxprocs": b.gomaxprocs,
    }


def breakdown_from_dict(d: Mapping[str, Any]) -> Breakdown:
    """Back from breakdown_to_dict, so a saved result re-renders identically."""
    loader = d.get("loader")
    faults = d.get("faults")
    return Breakdown(
        kind=d["kind"],
        inits=tuple(Init(**i) for i in d.get("inits", ())),
        init_count=int(d.get("init_count", 0)),
        init_clock_ms=float(d.get("init_clock_ms", 0.0)),
        loader=LoaderStats(**loader) if loader else None,
        faults=dict(faults) if faults is not None else None,
        note=str(d.get("note", "")),
        gomaxprocs=d.get("gomaxprocs"),
    )
