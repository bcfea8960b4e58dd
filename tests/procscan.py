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
