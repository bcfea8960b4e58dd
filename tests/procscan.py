"""Which processes a test started are still running: the marker in their environment.

Every program a leak-checking test starts gets a unique marker in its environment (its
children inherit it); after the test, /proc is scanned for it. The environment, not the
command line, because gate's own argv holds the marker too (`--env MARK=...`).
"""

from __future__ import annotations

import contextlib
import os


def marked_processes(marker: str) -> list[int]:
    """The pids whose environment holds `marker`."""
    needle = marker.encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
    return found


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
