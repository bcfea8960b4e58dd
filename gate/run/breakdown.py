"""Why a start was slow: Go package inits, dynamic loader work and page faults.

The timed runs say how slow a start is; a red gate is only actionable with the why
(README, "Why it is slow: the breakdown"). Go and glibc both report their own start-up
work on stderr when asked:
`GODEBUG=inittrace=1` prints one line per package init (wall clock, heap allocated),
`LD_DEBUG=statistics` the loader's relocation work, and `GODEBUG=schedtrace=1000` the
GOMAXPROCS the program got (to hold against a CPU quota). One extra warm start with those
variables set are warm (the breakdown is about init work, not the page cache), and they
never join the timed runs.

Init costs are what a remedy's saving rests on, so one start never decides them: each is
the median of BREAKDOWN_RUNS starts, with its spread (slowest minus fastest), and a
saving is named only above the spread (gate/judge/remedies.py). Inside a CPU quota the trace's
wall clock is not the init's cost: CFS pauses the whole program for the rest of the
period wherever the quota runs out, and the init that happens to be running takes the
~90 ms (a 0.02 ms init read as 89 ms). So the init runs lift the quota (memory limit and
pinning stay), and one more start inside the whole envelope gives what only the quota
shows: how long it held the start back (the cgroup's cpu.stat) and the GOMAXPROCS Go
chose under it. Parsing is kept apart from running, so the parsers can be tested on
captured text and reused on saved output; rendering is the report layer's
(gate/report/markup.py).
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, cast

from gate.errors import GateError
from gate.run.runner import RunConfig, RunSample, run_once
from gate.values.stats import fault_medians
from gate.values.units import format_size

if TYPE_CHECKING:
    from gate.results import types

BreakdownKind = Literal["go-inittrace", "ld-statistics", "none"]

TOP_INITS = 10  # slowest package inits kept; the count and total cover all of them
BREAKDOWN_RUNS = 5  # starts each init cost is the median of (and has the spread of)
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
    clock_ms: float  # wall time of the package's init functions (over runs: the median)
    bytes: int  # heap allocated by them
    allocs: int
    spread_ms: float = 0.0  # over runs: the slowest run's clock minus the fastest's


@dataclass(frozen=True)
class Throttle:
    """One start inside the whole envelope, CPU quota included: how long the quota held it
    back (the run cgroup's cpu.stat throttled time; None where the kernel does not say)."""

    cpus: float
    cpu_period_us: int
    throttled_ms: float | None
    wall_ms: float  # that start, spawn to ready (or to its failure)


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
    # total_cycles at the TSC rate measured on the machine that ran it (gate/run/tsc.py);
    # None where that rate cannot be had.
    total_ms: float | None = None


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
    runs: int = 1  # starts the init costs are the medians of
    start_ms: float | None = None  # those starts' median wall time (what an init is a share of)
    throttle: Throttle | None = None  # inside a CPU quota: the inits ran without it, this in it


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


def run_breakdown(
    cfg: RunConfig, is_go: bool, is_dynamic: bool, runs: int = BREAKDOWN_RUNS
) -> Breakdown:
    """`runs` extra warm starts of `cfg` with Go's init trace and/or glibc's loader
    statistics (and, inside a CPU quota, one more start inside it: the module's docstring).

    Go binaries get `GODEBUG=inittrace=1,schedtrace=1000`, dynamically linked ones
    `LD_DEBUG=statistics` (a dynamic cgo binary both, in the same run). The first run that
    fails ends the series (a hang costs one timeout, not `runs`); what the runs printed is
    kept, with the failure in the note. The program's misbehaviour never raises.
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
    envelope = cfg.envelope
    throttle: Throttle | None = None
    quota_procs: int | None = None
    quota_note = ""
    if envelope.cpus is not None:
        try:
            held, _ = run_once(run)
        except (GateError, OSError) as exc:
            return Breakdown("none", note=f"the breakdown run could not start: {exc}")
        throttle = Throttle(envelope.cpus, envelope.cpu_period_us, held.throttled_ms,
                            round(held.wall_ms, 3))  # fmt: skip
        quota_procs = parse_gomaxprocs(held.stderr_tail) if is_go else None
        if not held.ok:
            quota_note = f"the start inside the CPU quota failed: {held.error}"
        run = replace(run, envelope=replace(envelope, cpus=None))
    samples: list[RunSample] = []
    for _ in range(max(1, runs)):
        try:
            sample, _ = run_once(run)
        except (GateError, OSError) as exc:
            if samples:
                break
            return Breakdown("none", note=f"the breakdown run could not start: {exc}")
        samples.append(sample)
        if not sample.ok:
            break
    found = _loader_in_ms(
        breakdown_from_runs(samples, is_go, is_dynamic, _effective(cfg, "LD_DEBUG_OUTPUT"))
    )
    if throttle is None:
        return found
    note = "; ".join(n for n in (quota_note, found.note) if n)
    procs = quota_procs if quota_procs is not None else found.gomaxprocs
    return replace(found, throttle=throttle, gomaxprocs=procs, note=note)


def _loader_in_ms(found: Breakdown) -> Breakdown:
    """The loader's cycles in milliseconds, at this machine's TSC rate, measured here and
    now: a saved result read elsewhere keeps the number its own machine gave."""
    loader = found.loader
    if loader is None or loader.total_cycles is None:
        return found
    from gate.run.tsc import cycles_per_ms

    rate = cycles_per_ms()
    if rate is None:
        return found
    return replace(found, loader=replace(loader, total_ms=round(loader.total_cycles / rate, 4)))


def breakdown_from_output(
    sample: RunSample, is_go: bool, is_dynamic: bool, ld_debug_output: str | None = None
) -> Breakdown:
    """The Breakdown in one finished breakdown run's stderr."""
    return breakdown_from_runs([sample], is_go, is_dynamic, ld_debug_output)


def median_inits(traces: Sequence[Sequence[Init]]) -> list[Init]:
    """Each package's init over the runs that traced it: the median of every number, the
    spread of its clock; in the order the first run printed them."""
    by_package: dict[str, list[Init]] = {}
    for trace in traces:
        for init in trace:
            by_package.setdefault(init.package, []).append(init)
    out = []
    for package, seen in by_package.items():
        clocks = [i.clock_ms for i in seen]
        out.append(
            Init(
                package=package,
                at_ms=round(statistics.median(i.at_ms for i in seen), 3),
                clock_ms=round(statistics.median(clocks), 3),
                bytes=int(statistics.median(i.bytes for i in seen)),
                allocs=int(statistics.median(i.allocs for i in seen)),
                spread_ms=round(max(clocks) - min(clocks), 3),
            )
        )
    return out


def breakdown_from_runs(
    samples: Sequence[RunSample],
    is_go: bool,
    is_dynamic: bool,
    ld_debug_output: str | None = None,
) -> Breakdown:
    """The Breakdown in finished breakdown runs' stderr (only the last may have failed),
    with notes on what is missing."""
    traces = [parse_inittrace(s.stderr_tail) for s in samples] if is_go else []
    traced = [t for t in traces if t]
    loader = None
    if is_dynamic:
        loader = next((f for s in samples if (f := parse_ld_statistics(s.stderr_tail))), None)
    notes: list[str] = []
    last = samples[-1] if samples else None
    if last is not None and not last.ok:
        notes.append(f"the breakdown run failed: {last.error}")
        if traces and traces[-1]:
            notes.append(f"the init trace ends after {traces[-1][-1].package}")
    if any(len(s.stderr_tail.encode("utf-8", "replace")) >= BREAKDOWN_TAIL_BYTES for s in samples):
        notes.append(f"stderr passed {format_size(BREAKDOWN_TAIL_BYTES)}: only its end was kept")
    if is_go and not traced:
        notes.append("no init trace (GODEBUG=inittrace=1) on stderr")
    if is_dynamic and loader is None:
        where = f" (LD_DEBUG_OUTPUT={ld_debug_output} sends it to files)" if ld_debug_output else ""
        notes.append(f"no loader statistics (LD_DEBUG=statistics) on stderr{where}")
    kind: BreakdownKind = "go-inittrace" if traced else "ld-statistics" if loader else "none"
    inits = median_inits(traced)
    top, _, _ = summarize_inits(inits)
    # The whole: complete traces (a failed run's stops short), else what there is.
    whole = [t for t, s in zip(traces, samples, strict=False) if t and s.ok] or traced
    total = round(statistics.median(sum(i.clock_ms for i in t) for t in whole), 3) if whole else 0.0
    count = max((len(t) for t in whole), default=0)
    procs = None
    if is_go:
        procs = next((p for s in samples if (p := parse_gomaxprocs(s.stderr_tail)) is not None),
                     None)  # fmt: skip
    ok = [s.wall_ms for s in samples if s.ok]
    start = round(statistics.median(ok), 3) if ok else None
    runs = len(traced) or len(samples) or 1
    return Breakdown(kind, top, count, total, loader, None, "; ".join(notes), procs, runs, start)


# --------------------------------------------------------------------------- the results' form
# (shown to a person by gate/report/markup.py: breakdown_lines, breakdown_text)


def breakdown_to_dict(b: Breakdown) -> types.Breakdown:
    """The results-JSON form (every field; cycles stay cycles)."""
    doc = {
        "kind": b.kind,
        "inits": [asdict(i) for i in b.inits],
        "init_count": b.init_count,
        "init_clock_ms": b.init_clock_ms,
        "loader": asdict(b.loader) if b.loader else None,
        "faults": dict(b.faults) if b.faults is not None else None,
        "note": b.note,
        "gomaxprocs": b.gomaxprocs,
        "runs": b.runs,
        "start_ms": b.start_ms,
        "throttle": asdict(b.throttle) if b.throttle else None,
    }
    return cast("types.Breakdown", doc)


def breakdown_from_dict(d: Mapping[str, Any]) -> Breakdown:
    """Back from breakdown_to_dict, so a saved result re-renders identically."""
    loader = d.get("loader")
    faults = d.get("faults")
    throttle = d.get("throttle")
    return Breakdown(
        kind=d["kind"],
        inits=tuple(Init(**i) for i in d.get("inits", ())),
        init_count=int(d.get("init_count", 0)),
        init_clock_ms=float(d.get("init_clock_ms", 0.0)),
        loader=LoaderStats(**loader) if loader else None,
        faults=dict(faults) if faults is not None else None,
        note=str(d.get("note", "")),
        gomaxprocs=d.get("gomaxprocs"),
        runs=int(d.get("runs", 1)),
        start_ms=d.get("start_ms"),
        throttle=Throttle(**throttle) if throttle else None,
    )
