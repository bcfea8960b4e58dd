"""gate in a child whose own peak memory and CPU time are measured, whatever ran before.

rusage's ru_maxrss would carry the forking process's peak across exec: Linux keeps the
high-water mark of the copy fork made, so a child of a pytest process that once held a
GB reports a GB. VmHWM belongs to the image exec made, which is gate's alone; CPU time
comes from wait4.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import IO, NamedTuple

# `python -c PEAK_WRAPPER ARGS` is `gate ARGS` in a fresh interpreter that writes its own
# peak RSS (VmHWM, in KiB) to the fd named by $GATE_TEST_PEAK_FD as it exits: rusage's
# ru_maxrss would carry the forking process's peak across exec (a pytest process of a few
# hundred MB), while VmHWM belongs to the image the exec made, which is gate's alone.
PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                os.write(int(os.environ["GATE_TEST_PEAK_FD"]), line.split()[1].encode())
atexit.register(_peak)
sys.argv = ["gate", *sys.argv[1:]]
runpy.run_module("gate", run_name="__main__", alter_sys=True)
"""


class Measured(NamedTuple):
    returncode: int
    peak: int | None  # bytes of VmHWM; None when gate died before it could say
    cpu_s: float


def run_gate(args: list[str], stdout: IO[bytes] | IO[str], stderr: IO[bytes] | IO[str]) -> Measured:
    """`python -m gate ARGS`, its output to the given files, measured."""
    peak_r, peak_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", PEAK_WRAPPER, *args],
        stdout=stdout,
        stderr=stderr,
        pass_fds=(peak_w,),
        env={**os.environ, "GATE_TEST_PEAK_FD": str(peak_w)},
    )
    os.close(peak_w)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    with os.fdopen(peak_r, "rb") as f:
        peak = f.read()
    return Measured(
        proc.returncode,
        int(peak) * 1024 if peak.isdigit() else None,
        usage.ru_utime + usage.ru_stime,
    )
