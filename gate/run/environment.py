"""The machine a start-up was measured on, recorded next to the numbers.

Start-up times only compare across runs on like machines: a different kernel, CPU,
frequency governor or a busy neighbour (load average, taken before and after the runs)
explains a change better than the code does. Pure reads of /proc, /sys and uname, no
processes, well under a millisecond, and nothing here raises: a value that cannot be
read is None.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

_CPUINFO = "/proc/cpuinfo"
_GOVERNOR = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages; empty where the OS keeps none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu_model(path: str = _CPUINFO) -> str | None:
    """The first "model name" in /proc/cpuinfo (x86; other architectures may have none)."""
    with contextlib.suppress(OSError, UnicodeDecodeError), open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.partition(":")
            if sep and key.strip() == "model name":
                return value.strip() or None
    return None


def _governor(path: str = _GOVERNOR) -> str | None:
    """cpu0's cpufreq governor; None on VMs and containers without cpufreq."""
    with contextlib.suppress(OSError, UnicodeDecodeError), open(path, encoding="utf-8") as f:
        return f.read().strip() or None
    return None


def _cpus_allowed() -> int | None:
    """CPUs this process may run on: a container's or taskset's share, GOMAXPROCS's basis."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def environment() -> dict[str, Any]:
    """Kernel, CPU, governor and load of this machine, now."""
    try:
        uname = os.uname()
        kernel: str | None = f"{uname.release} {uname.version}"
        machine: str | None = uname.machine
    except (AttributeError, OSError):
        kernel = machine = None
    return {
        "kernel": kernel,
        "machine": machine,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": _cpus_allowed(),
        "governor": _governor(),
        "load_average": load_average(),
    }
