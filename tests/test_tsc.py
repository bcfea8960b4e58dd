"""The dynamic loader's cost in milliseconds of the measured start (gate/run/tsc.py,
gate/judge/remedies.py), against references that are not gate: the TSC rate a C program
measures with `__rdtsc()` and `clock_gettime` over 200 ms, and the loader's own
`LD_DEBUG=statistics` report for the same binary, run here.

The loader's time differs from one start to the next (and more on a loaded machine), so
the rate is held to 1% and gate's loader time to the median of five reference starts
within a factor of three; the conversion itself (cycles / rate) is exact to rounding.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from ci import unavailable
from reference import Fixture
from test_check import gate

from gate.run.tsc import cycles_per_ms

REFERENCE = r"""
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void)
{
    struct timespec pause = {0, 200000000};
    double a = now_ns();
    unsigned long long t0 = __rdtsc();
    nanosleep(&pause, NULL);
    double b = now_ns();
    unsigned long long t1 = __rdtsc();
    printf("%.3f\n", (t1 - t0) / (b - a) * 1e6); /* cycles per ms */
    return 0;
}
"""

TINY = """
[policy]
name = "tiny"
[startup]
runs = 3
warmup = 1
cold = false
p50 = "0.01 ms"
"""


@pytest.fixture(scope="module")
def reference_rate(tmp_path_factory: pytest.TempPathFactory) -> float:
    """TSC cycles per ms as a C program measures them: the median of three 200 ms runs."""
    if platform.machine() != "x86_64":
        unavailable("the TSC rate is measured on x86_64 only; elsewhere the loader stays in cycles")
    if shutil.which("gcc") is None:
        unavailable("gcc is missing: the TSC reference cannot be built")
    out = tmp_path_factory.mktemp("tsc")
    (out / "rate.c").write_text(REFERENCE)
    subprocess.run(["gcc", "-O2", "-o", str(out / "rate"), str(out / "rate.c")], check=True)
    rates = [
        float(subprocess.run([str(out / "rate")], capture_output=True, text=True).stdout)
        for _ in range(3)
    ]
    return statistics.median(rates)


def test_the_tsc_rate_is_what_a_c_program_measures(reference_rate: float) -> None:
    rate = cycles_per_ms()
    assert rate is not None
    assert rate == pytest.approx(reference_rate, rel=0.01)


def ld_statistics_ms(path: Path, rate: float, runs: int = 5) -> float:
    """The loader's total time (LD_DEBUG=statistics) of `runs` starts of `path`, median, in
    ms at the reference rate."""
    totals = []
    for _ in range(runs):
        proc = subprocess.run(
            [str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "LD_DEBUG": "statistics"},
        )
        m = re.search(r"total startup time in dynamic loader: (\d+) (?:clock )?cycles", proc.stderr)
        if m is None:
            unavailable("this glibc does not time its loader (no HP_TIMING)")
        totals.append(int(m[1]))
    return statistics.median(totals) / rate


def test_the_loader_s_cost_reads_in_ms_of_the_measured_start(
    fixtures: Mapping[str, Fixture], reference_rate: float, tmp_path: Path
) -> None:
    path = fixtures["rt-multilib"].path  # six libraries: real loader work
    policy = tmp_path / "tiny.toml"
    policy.write_text(TINY)
    out = tmp_path / "r.json"
    proc = gate("check", str(path), "--policy", str(policy), "--json", str(out), "--ready", "exit")
    assert proc.returncode == 1, proc.stderr
    entry = json.loads(out.read_text())["binaries"][0]
    loader = entry["startup"]["breakdown"]["loader"]
    cycles, ms = loader["total_cycles"], loader["total_ms"]
    assert cycles is not None and ms is not None
    # The conversion: the cycles glibc counted at the rate the C program measured.
    assert ms == pytest.approx(cycles / reference_rate, rel=0.01)
    # The loader's time itself, against the loader's own report of five starts run here.
    reference = ld_statistics_ms(path, reference_rate)
    assert reference / 3 <= ms <= reference * 3, (ms, reference)
    p50 = entry["startup"]["stats"]["p50_ms"]
    remedy = {r["id"]: r for r in entry["remedies"]}["dynamic"]
    assert remedy["saving"] == ms and remedy["unit"] == "ms"
    shown = f"{ms:.0f}" if ms >= 10 else f"{ms:.2g}"
    assert (
        f"the dynamic loader took about {shown} ms of a {p50:.1f} ms p50 ({cycles:,} cycles"
        in remedy["evidence"]
    ), remedy["evidence"]
    saving = f"{ms:.2g} ms" if ms < 1 else f"{ms:.1f} ms"  # as the log shows it
    assert f"    expected saving: {saving}\n" in proc.stdout, proc.stdout
