"""How many starts, in which order: fixed, adaptive, and A/B interleaved.

One program or two (NEW and OLD) are started in rounds, each round every program once;
with two, the order alternates ABBA so drift and "second one runs warmer" effects fall on
both alike. Adaptive sampling looks at the data only at a few checkpoints (the minimum,
then 1.5x more each time up to the ceiling), because every look is a chance to be fooled
by noise: it stops at the first checkpoint where every verdict is decided.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gate.run.cache import Eviction, also_evict
from gate.run.runner import (
    GIVE_UP_AFTER,
    Progress,
    RunConfig,
    RunSample,
    check_executable,
    run_once,
)

GROWTH = 1.5  # each checkpoint asks for this many times the runs of the previous one

# Decided? Given the wall times so far, one list per program, None for a failed start;
# the lists are aligned by round, so [0][k] and [1][k] were started one after the other.
# None when every verdict is decided, else why one is not ("the p95 interval ... still
# contains the limit ..."), which the progress shows when sampling is extended.
Decider = Callable[[Sequence[Sequence[float | None]]], str | None]


@dataclass(frozen=True)
class Sampled:
    samples: tuple[tuple[RunSample, ...], ...]  # per program, in run order
    evictions: tuple[Eviction | None, ...]  # the first recorded run's, per program
    stopped: str  # "fixed" | "decided" | "max_runs" | "gave_up"


def checkpoints(runs: int, max_runs: int) -> list[int]:
    """Run counts at which the data is looked at: runs, then x1.5 each time, max_runs last."""
    points = [runs]
    while points[-1] < max_runs:
        points.append(min(max_runs, max(points[-1] + 1, round(points[-1] * GROWTH))))
    return points


def _order(round_no: int, count: int) -> list[int]:
    """ABBA: programs in order on even rounds, reversed on odd ones."""
    order = list(range(count))
    return order if round_no % 2 == 0 else order[::-1]


def sample(
    cfgs: Sequence[RunConfig],
    runs: int,
    warmup: int,
    max_runs: int | None = None,
    decided: Decider | None = None,
    progress: Progress | None = None,
    *,
    phase: str = "runs",
    metric: Callable[[RunSample], float | None] = lambda s: s.wall_ms,
) -> Sampled:
    """Warm-up rounds, then recorded rounds until `runs`, or adaptively up to `max_runs`;
    `decided` is asked about each side's `metric` (wall time, or a counted start's count)."""
    for cfg in cfgs:
        check_executable(cfg.binary)
    cfgs = list(cfgs)  # a cold one learns from each start what else to evict
    count = len(cfgs)
    ceiling = max(runs, max_runs or runs)
    adaptive = ceiling > runs and decided is not None
    streaks = [0] * count  # failed starts in a row from each program's first one
    started = [0] * count
    samples: list[list[RunSample]] = [[] for _ in cfgs]
    firsts: list[Eviction | None] = [None] * count

    def start(i: int, phase: str, done: int, total: int, record: bool) -> None:
        sample_, eviction = run_once(cfgs[i])
        cfgs[i] = also_evict(cfgs[i], sample_)
        if not sample_.ok and streaks[i] == started[i]:
            streaks[i] += 1
        started[i] += 1
        if record:
            samples[i].append(sample_)
            firsts[i] = firsts[i] or eviction
        if progress:
            progress(phase, done, total, sample_)

    for r in range(warmup):
        for i in _order(r, count):
            start(i, "warmup", r + 1, warmup, record=False)
    targets = checkpoints(runs, ceiling) if adaptive else [runs]
    stopped = "fixed"
    done = 0
    for target in targets:
        while done < target:
            if any(s >= GIVE_UP_AFTER for s in streaks):
                return _result(samples, firsts, "gave_up")
            for i in _order(done, count):
                start(i, phase, done + 1, target, record=True)
            done += 1
        if adaptive and decided is not None:
            walls = [[metric(s) if s.ok else None for s in per] for per in samples]
            enough = all(sum(w is not None for w in per) >= 2 for per in walls)
            why = decided(walls) if enough else "fewer than 2 successful starts"
            if why is None:
                return _result(samples, firsts, "decided")
            stopped = "max_runs"
            if progress and target < targets[-1]:
                progress.extended(runs, targets[targets.index(target) + 1], why)
    return _result(samples, firsts, stopped)


def _result(samples: list[list[RunSample]], firsts: list[Eviction | None], stopped: str) -> Sampled:
    return Sampled(tuple(tuple(s) for s in samples), tuple(firsts), stopped)
