"""Instruction counts of a start: the CPU work from exec to exit, the same on every run.

Wall time on a shared runner moves by a few percent from noise alone; the number of
user-space instructions a start executes does not, so a 1% regression in the work before
readiness shows in it. Two ways to count:

- Hardware counters through perf_event_open, where the machine exposes them. GitHub's
  hosted runners and most VMs do not (`perf stat -e instructions` says `<not supported>`);
  `probe_hardware` says why in one line and the next backend is tried.
- Valgrind's cachegrind with `--cache-sim=no`: a simulated CPU that counts every guest
  instruction (the program's and its loader's), about 5 to 50 times slower than the start
  itself, so counted starts are separate from timed ones. Each counted start gets its own
  directory; every process of the start (a fork stays under Valgrind) writes its count
  there, and the start's count is their sum.

What a count leaves out: page-cache misses, I/O waits, scheduling, the kernel's work. What
it keeps that is not the program's choice: a Go runtime's background work follows wall
time (a slower start spins and wakes more), so a Go start's count varies by a fraction of a
percent, with an occasional run several percent higher; the judge uses medians and paired
intervals for that reason. Valgrind 3.19 cannot read a count while the program runs, so a
service's count runs from exec to its exit after gate's SIGTERM at readiness: its shutdown
is in the count, the same on both sides of an A/B comparison.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from gate.errors import GateError

if TYPE_CHECKING:
    from gate.run.runner import RunConfig, RunSample

METRICS = ("instructions",)
# A counted start may take this many times the slowest timed start, and at least
# MIN_TIMEOUT_S: cachegrind's translation costs about 0.3 s up front and 5-50x on the
# program's own work. Never more than the timed starts' own timeout allows for that.
SLOWDOWN = 50
MIN_TIMEOUT_S = 30.0
MIN_GRACE_S = 10.0  # a graceful shutdown under Valgrind is as slow as its start
_SUMMARY = re.compile(rb"^summary:\s+(\d+)", re.MULTILINE)
_VALGRIND_SAYS = re.compile(
    r"(valgrind: .*|vex .*|.*unhandled instruction.*|.*Valgrind's memory management.*"
    r"|.*the 'impossible' happened.*|.*Assertion .* failed.*)",
    re.IGNORECASE,
)


class NotCountable(GateError):
    """No way to count instructions on this machine: one line that says why."""


@dataclass(frozen=True)
class Backend:
    """How the counts were taken: recorded beside them, so a reader can tell two apart."""

    name: str  # "valgrind-cachegrind"
    version: str  # "valgrind-3.19.0"
    scope: str  # what one count covers, in words


@lru_cache(maxsize=1)
def probe_hardware() -> str:
    """Why perf_event_open cannot count this machine's user-space instructions ("" when it
    can). Hardware counters are not used yet even where they work; this names the reason
    Valgrind is used, in the results and in `gate startup`'s line."""
    from gate.run import perf

    return perf.instructions_unavailable()


@lru_cache(maxsize=1)
def _valgrind() -> tuple[str, str]:
    """(path, version) of the Valgrind on PATH that can run cachegrind."""
    path = shutil.which("valgrind")
    if path is None:
        raise NotCountable("no valgrind on PATH (Debian/Ubuntu: apt-get install valgrind)")
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise NotCountable(f"{path} --version: {exc}") from None
    version = done.stdout.strip()
    if done.returncode != 0 or not version.startswith("valgrind-"):
        raise NotCountable(f"{path} --version printed {version[:80]!r}, not a Valgrind version")
    return path, version


def backend(metric: str = "instructions") -> Backend:
    """The backend that counts `metric` here, or NotCountable with why not."""
    if metric not in METRICS:
        raise NotCountable(f"cannot count {metric!r}; gate counts {', '.join(METRICS)}")
    hardware = probe_hardware()
    try:
        _, version = _valgrind()
    except NotCountable as exc:
        raise NotCountable(f"not countable here: {hardware}, and {exc}") from None
    return Backend("valgrind-cachegrind", version, "")


def scope(ready_kind: str) -> str:
    """What one count covers, for the results and the README's words."""
    if ready_kind == "exit":
        return "exec to exit, user space, every process of the start"
    return "exec to exit after gate's SIGTERM at readiness, user space, every process"


@dataclass(frozen=True)
class Cachegrind:
    """The runner's Counter for Valgrind's cachegrind (gate/run/runner.py `Counter`)."""

    valgrind: str

    def prepare(self) -> str:
        return tempfile.mkdtemp(prefix="gate-count-")

    def command(self, handle: str, binary: str, args: list[str]) -> tuple[str, list[str]]:
        return self.valgrind, [
            "--tool=cachegrind",
            "--cache-sim=no",
            f"--cachegrind-out-file={handle}/count.%p",
            f"--log-file={handle}/valgrind.%p",
            binary,
            *args,
        ]

    def collect(self, handle: str, sample: RunSample) -> RunSample:
        """The start's count (the sum over its processes' files), or the start failed with
        Valgrind's reason. The directory goes either way."""
        try:
            total, files, said = 0, 0, ""
            for name in sorted(os.listdir(handle)):
                with open(os.path.join(handle, name), "rb") as f:
                    data = f.read(64 << 20)
                if name.startswith("count."):
                    found = _SUMMARY.search(data)
                    if found:
                        total += int(found.group(1))
                        files += 1
                elif not said:
                    said = _reason(data.decode("utf-8", "replace"))
        finally:
            shutil.rmtree(handle, ignore_errors=True)
        if said and not sample.ok:
            return replace(sample, error=f"{sample.error}; Valgrind: {said}")
        if not sample.ok:
            return sample
        if files == 0:
            why = said or "the program ended without Valgrind writing its count"
            return replace(sample, ok=False, error=f"not countable: {why}")
        return replace(sample, instructions=total)


def _reason(log: str) -> str:
    """Valgrind's own line about why it stopped (an unhandled instruction, an assertion)."""
    for line in log.splitlines():
        text = line.split("== ", 1)[-1].strip()
        if _VALGRIND_SAYS.fullmatch(text):
            return text[:200]
    return ""


def counted(cfg: RunConfig, slowest_ms: float) -> RunConfig:
    """`cfg` as a counted start: under the counter, warm (a count does not depend on the
    page cache), outside the envelope (a quota moves when instructions run, not how many,
    and Valgrind's own memory would break a memory limit), with time for the slowdown of
    the slowest timed start (`slowest_ms`)."""
    from gate.values.envelope import UNCONSTRAINED

    path, _ = _valgrind()
    return replace(
        cfg,
        counter=Cachegrind(path),
        cold=False,
        evict_files=(),
        evict_mapped=(),
        envelope=UNCONSTRAINED,
        timeout_s=min(max(MIN_TIMEOUT_S, slowest_ms / 1000 * SLOWDOWN), cfg.timeout_s * SLOWDOWN),
        grace_s=max(MIN_GRACE_S, cfg.grace_s),
    )
