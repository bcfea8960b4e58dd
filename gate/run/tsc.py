"""The rate of the CPU's time-stamp counter: glibc's loader statistics in milliseconds.

`LD_DEBUG=statistics` times the dynamic loader with the TSC (glibc's HP_TIMING is `rdtsc`
on x86_64) and prints cycles, which say nothing next to a start-up measured in
milliseconds: "834,012 cycles" should read "about 0.3 ms of a 36 ms p50". A TSC with
`constant_tsc` (every x86_64 CPU of the last fifteen years, and the virtual CPUs of the
clouds) ticks at one rate whatever the core's clock, and nothing in /proc or /sys names
that rate reliably (/proc/cpuinfo's "cpu MHz" is the core clock on bare metal). So it is
measured: the counter read on both sides of 20 ms of CLOCK_MONOTONIC. Python cannot read
the counter itself; a ten-byte function (`rdtsc; shl rdx, 32; or rax, rdx; ret`) in an
anonymous executable mapping, called through ctypes, can. Each read is bracketed by two
clock reads and retried until the bracket is under 20 us, so a preemption between the
reads (a loaded machine) cannot skew the rate by more than 0.2%.

Where there is no rate (another architecture, no constant_tsc, a policy that refuses
executable mappings), None: the loader's time stays in cycles.
"""

from __future__ import annotations

import functools
import platform
import time
from collections.abc import Callable

_RDTSC = bytes.fromhex("0f3148c1e2204809d0c3")  # rdtsc; shl rdx,32; or rax,rdx; ret
_SPAN_NS = 20_000_000  # the interval the counter is measured over
_BRACKET_NS = 20_000  # the most two clock reads around one counter read may lie apart
_TRIES = 20


def _reader() -> Callable[[], int] | None:
    """A function returning the TSC, or None where it cannot be had."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return None
    if "constant_tsc" not in flags.split():
        return None
    import ctypes
    import mmap

    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):
        return None
    page.write(_RDTSC)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    read: Callable[[], int] = ctypes.CFUNCTYPE(ctypes.c_uint64)(address)
    read.page = page  # type: ignore[attr-defined]  # the mapping lives as long as the function
    return read


def _pair(read: Callable[[], int]) -> tuple[float, int] | None:
    """(CLOCK_MONOTONIC ns, TSC) read together: the counter between two clock reads that
    lie at most _BRACKET_NS apart, at their midpoint."""
    for _ in range(_TRIES):
        before = time.perf_counter_ns()
        tsc = read()
        after = time.perf_counter_ns()
        if after - before <= _BRACKET_NS:
            return (before + after) / 2, tsc
    return None


@functools.cache
def cycles_per_ms() -> float | None:
    """TSC cycles per millisecond on this machine, or None (see the module's docstring)."""
    read = _reader()
    if read is None:
        return None
    first = _pair(read)
    time.sleep(_SPAN_NS / 1e9)
    last = _pair(read)
    if first is None or last is None or last[0] <= first[0] or last[1] <= first[1]:
        return None
    return (last[1] - first[1]) / (last[0] - first[0]) * 1e6
