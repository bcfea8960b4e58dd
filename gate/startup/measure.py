"""A start-up measurement: the runs of one binary and their statistics."""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import dataclass

from gate.errors import BinaryError
from gate.startup.cache import Eviction, loader_files
from gate.startup.runner import Progress, RunConfig, RunSample, StartError, run_series
from gate.startup.stats import Summary, summarize


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

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.runs)


def _exec_format_hint(binary: str) -> str:
    """Which machine a binary is for, when the kernel refuses it (ENOEXEC)."""
    from gate.elf.facts import inspect_binary

    try:
        machine = inspect_binary(binary).elf.machine
    except BinaryError:
        return "not a binary this kernel can run"
    here = platform.machine()
    return f"a {machine} binary; this machine is {here}" if machine != here else ""


def measure(
    cfg: RunConfig, runs: int, warmup: int, progress: Progress | None = None
) -> StartupResult:
    """Run `cfg` warmup + runs times; the files to evict are resolved here when cold."""
    if cfg.cold and not cfg.evict_files:
        cfg = _with_evict_files(cfg)
    try:
        samples, detail = run_series(cfg, runs, warmup, progress)
    except StartError as exc:
        if "exec format error" in str(exc):
            hint = _exec_format_hint(cfg.binary)
            raise StartError(f"{exc} ({hint})" if hint else str(exc)) from None
        raise
    ok = [s.wall_ms for s in samples if s.ok]
    return StartupResult(
        binary=cfg.binary,
        args=cfg.args,
        ready=cfg.ready.text,
        cold=cfg.cold,
        eviction=(detail.method if detail else "none"),
        warmup=warmup,
        requested=runs,
        runs=tuple(samples),
        stats=summarize(ok) if ok else None,
        eviction_detail=detail,
        timeout_s=cfg.timeout_s,
    )


def _with_evict_files(cfg: RunConfig) -> RunConfig:
    from dataclasses import replace

    from gate.elf.facts import inspect_binary

    interpreter = None
    with contextlib.suppress(BinaryError):  # a script, say: evict just the file
        interpreter = inspect_binary(cfg.binary).linking.interpreter
    if not os.path.isfile(cfg.binary):
        return cfg
    env = {**os.environ, **cfg.env}
    return replace(cfg, evict_files=tuple(loader_files(cfg.binary, interpreter, env)))
