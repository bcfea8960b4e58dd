"""`gate startup` end to end, as gate/check.py is `gate check`: the command's options in,
the measured series (and its breakdown) out. The CLI parses options and renders; this
decides what runs. Settings the command line leaves out come from the built-in default
policy (policy.startup_default), as they do for `gate check`, not from copies here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gate.results.types import Breakdown
    from gate.run.measure import StartupResult


@dataclass(frozen=True)
class StartupRequest:
    """What `gate startup` was asked, as given (None: not given)."""

    binary: str
    program_args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    ready: str | None = None
    timeout: str | None = None
    grace: str = "1s"
    cold: bool | None = None
    drop_caches: bool = False
    envelope: dict[str, Any] | None = None
    against: str | None = None
    runs: int | None = None
    warmup: int | None = None
    breakdown: bool = False
    count: str | None = None  # --count: instructions | none
    count_runs: int | None = None


@dataclass(frozen=True)
class StartupOutcome:
    result: StartupResult
    breakdown: Breakdown | None  # why a start takes what it takes, when asked


def run_startup(request: StartupRequest) -> StartupOutcome:
    """Time the starts (interleaved with `against`'s when given), under gate's stop
    signals (a cancelled CI job, or Ctrl-C, cleans up first); then the breakdown."""
    from gate import options
    from gate.judge.policy import startup_default
    from gate.report.progress import RunProgress
    from gate.run.interrupt import stop_on_signals
    from gate.run.measure import Counting, measure

    timeout_ms = (
        options.duration_ms("--timeout", request.timeout)
        if request.timeout
        else startup_default("timeout")
    )
    cfg = options.startup_config(
        request.binary, list(request.program_args), list(request.env), request.ready,
        timeout_ms, request.grace, request.cold, request.drop_caches, request.envelope,
    )  # fmt: skip
    other = None
    if request.against is not None:
        other = replace(cfg, binary=options.resolve_program(request.against), evict_files=())
    runs = request.runs or startup_default("runs")
    warmup = startup_default("warmup") if request.warmup is None else request.warmup
    counting = None
    if request.count == "instructions":
        counting = Counting(runs=request.count_runs or startup_default("count_runs"))
    progress = RunProgress(Path(request.binary).name)
    try:
        with stop_on_signals():
            result = measure(cfg, runs, warmup, progress, against=other, counting=counting)
    finally:
        progress.finish()
    why = None
    if request.breakdown and result.stats:
        from gate.check import explain_measured

        why = explain_measured(cfg, result)
    return StartupOutcome(result, why)
