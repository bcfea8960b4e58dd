"""The production envelope a start is timed in: a CPU quota, a memory limit, a pinned CPU.

An SLA like "cold start p95 <= 320 ms" is written for where the service runs: a function
with 128 MB gets a fraction of a vCPU, a Kubernetes pod a CPU quota. CPU-bound init work
stretches with the quota and a heavy init meets the memory limit, so the same binary
timed on a bare 4-vCPU CI runner says little about it. The envelope is a setting of the
measurement (like `cold`), written in the policy's [startup] or given as --cpus,
--memory and --cpu, and recorded next to every number measured inside it.

How the kernel enforces it (and why a short start may not slow down): the quota is
CFS bandwidth control, `cpus x period` of CPU time per period (100 ms by default, as
Kubernetes sets it). A start that spends less than its quota within the first period is
never throttled, exactly as in production; only work beyond the quota waits for the
next period. A shorter `cpu_period` spreads the same share more finely.

Pure: parsing and describing. Applying it is gate/run/cgroup.py's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gate.errors import UsageError

DEFAULT_PERIOD_US = 100_000  # the kernel's and Kubernetes' CFS period
MIN_QUOTA_US = 1_000  # the kernel refuses a smaller cfs_quota_us
MIN_PERIOD_US, MAX_PERIOD_US = 1_000, 1_000_000  # the kernel's bounds on cfs_period_us
MIN_MEMORY = 4 << 20  # below this no program starts; a typo, not an envelope
MAX_CPUS = 4096.0
# A peak this close to the limit reached it: the kernel charges memory in batches of up to
# 64 pages per CPU, and v1 rounds the limit down to a page.
STARVED_SLACK = 1 << 20


@dataclass(frozen=True)
class Envelope:
    """What a start may use; every field None: unconstrained (the bare machine)."""

    cpus: float | None = None  # CPU quota in CPUs (0.25: a quarter of one CPU's time)
    cpu_period_us: int = DEFAULT_PERIOD_US
    memory: int | None = None  # hard limit in bytes (page cache the start reads included)
    cpu: int | None = None  # pinned to this CPU

    @property
    def needs_cgroup(self) -> bool:
        """A quota or a limit is kept by a cgroup; pinning alone is a CPU affinity."""
        return self.cpus is not None or self.memory is not None

    @property
    def constrained(self) -> bool:
        return self.needs_cgroup or self.cpu is not None

    @property
    def quota_us(self) -> int | None:
        if self.cpus is None:
            return None
        return max(MIN_QUOTA_US, round(self.cpus * self.cpu_period_us))

    def describe(self) -> str:
        """`0.5 CPU, 128 MB memory, on CPU 1`; "" when unconstrained."""
        parts = []
        if self.cpus is not None:
            text = f"{self.cpus:g} CPU"
            if self.cpu_period_us != DEFAULT_PERIOD_US:
                text += f" (period {self.cpu_period_us / 1000:g} ms)"
            parts.append(text)
        if self.memory is not None:
            parts.append(f"{memory_text(self.memory)} memory")
        if self.cpu is not None:
            parts.append(f"on CPU {self.cpu}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any] | None:
        """The results' `envelope` (None: unconstrained)."""
        if not self.constrained:
            return None
        return {
            "cpus": self.cpus,
            "cpu_period_us": self.cpu_period_us,
            "memory": self.memory,
            "cpu": self.cpu,
        }


UNCONSTRAINED = Envelope()


def _family(limit: int) -> str | None:
    if limit % (1 << 20) == 0:
        return "MiB"
    if limit % 1_000_000 == 0:
        return "MB"
    return None


def memory_text(n: int, limit: int | None = None) -> str:
    """A memory amount in the unit its limit reads best in ("128 MB", "64 MiB"): whole
    numbers for the limit itself, two decimals for what was measured against it."""
    from gate.values.units import format_size

    unit = _family(limit if limit is not None else n)
    if unit is None:
        return format_size(n)
    factor = 1 << 20 if unit == "MiB" else 1_000_000
    if limit is None and n % factor == 0:
        return f"{n // factor} {unit}"
    return f"{n / factor:.1f} {unit}"


def starved(
    limit: int, peak: int | None, counters: Mapping[str, int], peak_name: str = "memory.peak"
) -> str:
    """Why a failed start may have failed, when its memory says so; "" otherwise.

    A program whose working set does not fit under the limit is not always OOM-killed:
    clean file pages (its own text, data it maps) can always be reclaimed, so it runs on,
    reading them back from disk, until the timeout. Its cgroup's peak is then at the limit
    (within the kernel's charge batching) and the counters (`memory_counters`) have risen.
    Either is enough to say so, with the numbers, in the failure's one line."""
    rose = [f"{name} {count:,}" for name, count in counters.items() if count > 0]
    near = peak is not None and peak >= limit - STARVED_SLACK
    if not (near or rose):
        return ""
    if peak is None:
        text = f"the start met its {memory_text(limit)} memory limit"
    else:
        verb = "reached" if near else "stayed under"
        text = f"{peak_name} {memory_text(peak, limit)} {verb} the {memory_text(limit)} limit"
    if rose:
        text += f" ({', '.join(rose)})"
    return f"{text}: short of memory, not slow; raise --memory (startup.memory)"


def quota_held(
    cpus: float, throttled_ms: float, wall_ms: float | None = None, free_ms: float | None = None
) -> str:
    """`the 0.0724 CPU quota held this start back by 180.0 ms (cpu.stat ...): 620.0 ms
    inside the quota, 25.0 ms without`: one start's CFS throttling, as the breakdown and
    its remedies say it. The kernel adds up the throttled time of each CPU's run queue, so
    a program running on two CPUs can be held back longer than it ran; the wall times
    beside it say what that cost the start."""
    from gate.values.units import format_duration

    text = (
        f"the {cpus:g} CPU quota held this start back by {format_duration(throttled_ms)}"
        " (cpu.stat throttled time, summed over its CPUs)"
    )
    if wall_ms is not None:
        text += f": {format_duration(wall_ms)} inside the quota"
        if free_ms is not None:
            text += f", {format_duration(free_ms)} without"
    return text


def from_dict(d: Any) -> Envelope:
    """Back from Envelope.to_dict (None or a missing key: unconstrained)."""
    if not d:
        return UNCONSTRAINED
    return Envelope(d.get("cpus"), d.get("cpu_period_us", DEFAULT_PERIOD_US), d.get("memory"),
                    d.get("cpu"))  # fmt: skip


def describe(d: Any) -> str:
    """A results' `envelope` as words; "" when there was none."""
    return from_dict(d).describe()


def parse_cpus(text: Any) -> float:
    """`0.25`, `1`, `"500m"` (Kubernetes' millicores): a CPU quota in CPUs."""
    value: float
    if isinstance(text, bool):
        raise ValueError(f"expected a number of CPUs like 0.5, got {text!r}")
    if isinstance(text, int | float):
        value = float(text)
    elif isinstance(text, str) and text.strip().endswith("m"):
        try:
            value = float(text.strip()[:-1]) / 1000
        except ValueError:
            raise ValueError(f"expected millicores like 500m, got {text!r}") from None
    else:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise ValueError(f"expected a number of CPUs like 0.5, got {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_CPUS:
        raise ValueError(f"expected a number of CPUs above 0 (like 0.25), got {text!r}")
    return value


def parse_period(text: Any) -> int:
    """A CFS period as a duration (`"100ms"`, `"50 ms"`): whole microseconds."""
    from gate.values.units import parse_duration

    if not isinstance(text, str):
        raise ValueError(f'expected a duration like "100ms", got {text!r}')
    us = round(parse_duration(text) * 1000)
    if not MIN_PERIOD_US <= us <= MAX_PERIOD_US:
        raise ValueError(f"the kernel takes a CPU period from 1 ms to 1 s, got {text!r}")
    return us


def parse_memory(text: Any) -> int:
    """A hard memory limit (`"128 MB"`, `"1 GiB"`) in bytes."""
    from gate.values.units import parse_size

    if not isinstance(text, str):
        raise ValueError(f'expected a size like "128 MB", got {text!r}')
    value = parse_size(text)
    if value < MIN_MEMORY:
        raise ValueError(f"{text!r} is below 4 MiB: no program starts in that")
    return value


def parse_cpu(text: Any) -> int:
    """A CPU number the program is pinned to. Whether this machine lets gate run there is
    asked where the start is prepared (gate.run.runner.unpinnable), not here."""
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ValueError(f"expected a CPU number like 0, got {text!r}")
    try:
        cpu = int(text)
    except ValueError:
        raise ValueError(f"expected a CPU number like 0, got {text!r}") from None
    if cpu < 0:
        raise ValueError(f"expected a CPU number like 0, got {text!r}")
    return cpu


def overrides(
    cpus: str | None = None,
    memory: str | None = None,
    cpu: str | None = None,
    period: str | None = None,
) -> dict[str, Any]:
    """--cpus/--memory/--cpu/--cpu-period as Envelope fields, to lay over a policy's; a bad
    value names its option (a usage error)."""
    out: dict[str, Any] = {}
    for option, text, parse, name in (
        ("--cpus", cpus, parse_cpus, "cpus"),
        ("--memory", memory, parse_memory, "memory"),
        ("--cpu", cpu, parse_cpu, "cpu"),
        ("--cpu-period", period, parse_period, "cpu_period_us"),
    ):
        if text is None:
            continue
        try:
            out[name] = parse(text)
        except ValueError as exc:
            raise UsageError(f"{option}: {exc}") from None
    return out


def build(settings: Mapping[str, Any], over: Mapping[str, Any]) -> Envelope:
    """The envelope from a policy's [startup] settings (cpus, cpu_period, memory, cpu),
    with the command line's `overrides` over them."""
    fields = {
        "cpus": settings.get("cpus"),
        "cpu_period_us": settings.get("cpu_period", DEFAULT_PERIOD_US),
        "memory": settings.get("memory"),
        "cpu": settings.get("cpu"),
    }
    fields.update(over)
    return Envelope(**fields)
