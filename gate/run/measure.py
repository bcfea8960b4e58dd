"""A start-up measurement: the runs of one binary and their statistics."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from gate.errors import BinaryError
from gate.run import cgroup, count
from gate.run.cache import Eviction, also_evict, evictable, loader_files
from gate.run.count import Backend
from gate.run.environment import environment, load_average
from gate.run.loaded import most
from gate.run.runner import Progress, RunConfig, RunSample, StartError, run_once
from gate.run.sampling import Decider, sample
from gate.values.compare import Comparison, compare
from gate.values.counts import CountSummary, summarize_counts
from gate.values.envelope import UNCONSTRAINED, Envelope
from gate.values.stats import Summary, fault_medians, peak_rss, summarize


@dataclass(frozen=True)
class Against:
    """OLD's runs, interleaved with NEW's, and NEW compared with them."""

    binary: str
    runs: tuple[RunSample, ...]
    stats: Summary | None
    comparison: Comparison | None  # None: fewer than 2 successful runs on a side


@dataclass(frozen=True)
class Counted:
    """The counted starts (gate/run/count.py), apart from the timed ones: NEW's, and
    OLD's interleaved with them when there is an A/B comparison."""

    metric: str  # "instructions"
    backend: Backend
    scope: str  # what one count covers
    hardware: str  # why hardware counters were not used ("" when they were)
    runs: tuple[RunSample, ...]
    summary: CountSummary | None  # over the successful counts; None when none succeeded
    stopped: str = "fixed"
    max_runs: int | None = None
    against: tuple[RunSample, ...] | None = None
    against_binary: str = ""
    against_summary: CountSummary | None = None
    comparison: Comparison | None = None


@dataclass(frozen=True)
class Counting:
    """What to count and how many counted starts (`[startup] count`, `count_runs`)."""

    metric: str = "instructions"
    runs: int = 5
    max_runs: int | None = None  # adaptive ceiling while `decided` says no
    decided: Decider | None = None


@dataclass(frozen=True)
class StartupResult:
    binary: str
    args: tuple[str, ...]
    ready: str
    cold: bool
    eviction: str  # fadvise | drop_caches | none
    warmup: int
    requested: int  # runs asked for; fewer ran when the first starts all failed
    runs: tuple[RunSample, ...]
    stats: Summary | None  # over the successful runs; None when none succeeded
    eviction_detail: Eviction | None
    timeout_s: float
    max_runs: int | None = None  # adaptive ceiling; None: a fixed number of runs
    stopped: str = "fixed"  # fixed | decided | max_runs | gave_up
    against: Against | None = None
    environment: Mapping[str, Any] | None = None  # the machine, so a reader can judge a number
    envelope: Envelope = UNCONSTRAINED  # what every start ran inside (envelope.py)
    counted: Counted | None = None  # counted starts, when asked for

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.runs)

    @cached_property
    def max_rss_bytes(self) -> int | None:
        """The start-up's max RSS (stats.peak_rss: over the successful runs)."""
        return peak_rss((r.ok, r.max_rss_bytes) for r in self.runs)

    @cached_property
    def peak_memory_bytes(self) -> int | None:
        """Inside an envelope: the successful runs' highest cgroup peak (stats.peak_rss)."""
        return peak_rss((r.ok, r.peak_memory_bytes) for r in self.runs)

    @cached_property
    def mapped_objects(self) -> int | None:
        """Shared objects mapped at readiness: the most of any successful run (a limit on
        what a start loads holds for every start)."""
        return most((r.ok, r.mapped_objects) for r in self.runs)

    @cached_property
    def open_fds(self) -> int | None:
        """Descriptors open at readiness: the most of any successful run."""
        return most((r.ok, r.open_fds) for r in self.runs)

    @cached_property
    def shared_objects(self) -> tuple[str, ...]:
        """Every shared object a successful run mapped at readiness, in first-seen order."""
        seen: dict[str, None] = {}
        for run in self.runs:
            if run.ok:
                seen.update(dict.fromkeys(run.shared_objects))
        return tuple(seen)

    @cached_property
    def faults(self) -> dict[str, float] | None:
        """Median page faults per start, {"major", "minor"} (stats.fault_medians)."""
        return fault_medians((r.ok, r.major_faults, r.minor_faults) for r in self.runs)


def _exec_format_hint(binary: str) -> str:
    """Which machine a binary is for, when the kernel refuses it (ENOEXEC)."""
    from gate.read.facts import inspect_binary

    try:
        machine = inspect_binary(binary).elf.machine
    except BinaryError:
        return "not a binary this kernel can run"
    here = platform.machine()
    return f"a {machine} binary; this machine is {here}" if machine != here else ""


def measure(
    cfg: RunConfig,
    runs: int,
    warmup: int,
    progress: Progress | None = None,
    *,
    max_runs: int | None = None,
    decided: Decider | None = None,
    against: RunConfig | None = None,
    counting: Counting | None = None,
) -> StartupResult:
    """Run `cfg` warmup + runs times (adaptively up to max_runs while `decided` says no),
    interleaved with `against` when given; the files to evict are resolved here when cold.
    With `counting`, counted starts follow the timed ones, interleaved the same way."""
    if counting is not None:
        count.backend(counting.metric)  # NotCountable before the first start, not after
    cfgs = [cfg] if against is None else [cfg, against]
    cfgs = [_with_evict_files(c) if c.cold and not c.evict_files else c for c in cfgs]
    if warmup == 0:  # no warm-up start to find what a start maps beyond the loader's list
        cfgs = [_discover_mapped(c) if c.cold and c.ready.kind != "exit" else c for c in cfgs]
    machine = environment()
    if cfg.envelope.needs_cgroup:
        machine["cgroup"] = cgroup.version(cfg.envelope)
    machine["load_average_before"] = machine.pop("load_average", None)
    try:
        sampled = sample(cfgs, runs, warmup, max_runs, decided, progress)
    except StartError as exc:
        if "exec format error" in str(exc):
            which = next((c.binary for c in cfgs if str(exc).startswith(c.binary)), cfg.binary)
            hint = _exec_format_hint(which)
            raise StartError(f"{exc} ({hint})" if hint else str(exc)) from None
        raise
    samples, detail = sampled.samples[0], sampled.evictions[0]
    machine["load_average_after"] = load_average()
    machine["page_cache"] = (
        "not evicted (warm)"
        if not cfg.cold
        else "whole page cache dropped"
        if detail is not None and detail.method == "drop_caches"
        else "binary, its libraries and what it maps at start evicted (posix_fadvise)"
        if detail is not None and detail.beyond
        else "binary and its libraries evicted (posix_fadvise)"
    )
    ok = [s.wall_ms for s in samples if s.ok]
    other = None
    if against is not None:
        old_samples = sampled.samples[1]
        old_ok = [s.wall_ms for s in old_samples if s.ok]
        pairs = [
            (a.wall_ms, b.wall_ms) for a, b in zip(samples, old_samples, strict=False)
            if a.ok and b.ok
        ]  # fmt: skip
        other = Against(
            binary=against.binary,
            runs=old_samples,
            stats=summarize(old_ok) if old_ok else None,
            comparison=compare([a for a, _ in pairs], [b for _, b in pairs])
            if len(pairs) >= 2
            else None,
        )
    timed = [s.wall_ms for side in sampled.samples for s in side if s.ok]
    counts = None
    if counting is not None and ok:  # a program that cannot start is not counted either
        counts = _count(cfgs, counting, cfg.ready.kind, max(timed), progress)
    return StartupResult(
        counted=counts,
        binary=cfg.binary,
        args=cfg.args,
        ready=cfg.ready.text,
        cold=cfg.cold,
        eviction=(detail.method if detail else "none"),
        warmup=warmup,
        requested=runs,
        runs=samples,
        stats=summarize(ok) if ok else None,
        eviction_detail=detail,
        timeout_s=cfg.timeout_s,
        max_runs=max_runs if max_runs and max_runs > runs else None,
        stopped=sampled.stopped,
        against=other,
        environment=machine,
        envelope=cfg.envelope,
    )


def _count(
    cfgs: list[RunConfig],
    counting: Counting,
    ready_kind: str,
    slowest_ms: float,
    progress: Progress | None,
) -> Counted:
    """The counted starts, after the timed ones (NEW and OLD interleaved, ABBA)."""
    backend = count.backend(counting.metric)
    sampled = sample(
        [count.counted(c, slowest_ms) for c in cfgs],
        counting.runs,
        0,
        counting.max_runs,
        counting.decided,
        progress,
        phase="counted",
        metric=lambda s: s.instructions,
    )
    sides = [
        (runs, [r.instructions for r in runs if r.ok and r.instructions is not None])
        for runs in sampled.samples
    ]
    comparison = None
    if len(sides) == 2:
        pairs = [
            (a.instructions, b.instructions)
            for a, b in zip(sampled.samples[0], sampled.samples[1], strict=False)
            if a.ok and b.ok and a.instructions and b.instructions
        ]
        if len(pairs) >= 2:
            comparison = compare([a for a, _ in pairs], [b for _, b in pairs])
    return Counted(
        metric=counting.metric,
        backend=backend,
        scope=count.scope(ready_kind),
        hardware=count.probe_hardware(),
        runs=sides[0][0],
        summary=summarize_counts(sides[0][1]) if sides[0][1] else None,
        stopped=sampled.stopped,
        max_runs=counting.max_runs if (counting.max_runs or 0) > counting.runs else None,
        against=sides[1][0] if len(sides) == 2 else None,
        against_binary=cfgs[1].binary if len(cfgs) == 2 else "",
        against_summary=summarize_counts(sides[1][1]) if len(sides) == 2 and sides[1][1] else None,
        comparison=comparison,
    )


def _with_evict_files(cfg: RunConfig) -> RunConfig:
    from gate.read.facts import inspect_binary

    interpreter = None
    with contextlib.suppress(BinaryError):  # a script, say: evict just the file
        interpreter = inspect_binary(cfg.binary).linking.interpreter
    if not os.path.isfile(cfg.binary):
        return cfg
    listing = _loader_listing(interpreter, cfg) if interpreter else ""
    files = tuple(loader_files(cfg.binary, interpreter, listing))
    named = evictable(_globbed(cfg.evict_also), files) if cfg.evict_also else ()
    return replace(cfg, evict_files=files, evict_mapped=named)


def _globbed(patterns: Iterable[str]) -> list[str]:
    """[startup] evict: each path, or each file a glob matches (none: nothing to evict)."""
    import glob

    out: list[str] = []
    for pattern in patterns:
        magic = glob.has_magic(pattern)
        out.extend(sorted(glob.glob(pattern, recursive=True)) if magic else [pattern])
    return out


def _discover_mapped(cfg: RunConfig) -> RunConfig:
    """One untimed start to learn what the program maps at readiness beyond the loader's
    list, so the first timed start is cold for it too (a warm-up start does this)."""
    try:
        sample, _ = run_once(replace(cfg, cold=False))
    except StartError:
        return cfg  # the timed starts will say why
    return also_evict(cfg, sample)


def _loader_listing(interpreter: str, cfg: RunConfig) -> str:
    """`INTERP --list BINARY`, run like a timed start: the binary names its interpreter,
    so this is code from the change under review (same environment, same containment)."""
    if not os.path.isfile(interpreter):
        return ""
    listing = RunConfig(
        binary=interpreter,
        args=("--list", cfg.binary),
        env=cfg.env,
        timeout_s=min(cfg.timeout_s, 10.0),
        grace_s=cfg.grace_s,
        cold=False,
        tail_bytes=1 << 20,
    )
    try:
        sample, _ = run_once(listing)
    except StartError:
        return ""
    return sample.stdout_tail if sample.ok else ""
