"""Progress of long work on stderr: a live line on a terminal, one line per phase in CI.

A failed run is always printed as its own line: a pipeline log must show why a
start failed even when nobody watches the bar.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from gate.report.escape import printable
from gate.startup.runner import RunSample


class RunProgress:
    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = printable(label)  # a file name can hold ESC or a newline
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() and not os.environ.get("CI")
        self.phase: str | None = None
        self.dirty = False

    def _clear(self) -> None:
        if self.dirty:
            self.stream.write("\r\x1b[2K")
            self.dirty = False

    def __call__(self, phase: str, done: int, total: int, sample: RunSample | None) -> None:
        if not self.live and phase != self.phase:
            starts = "1 start" if total == 1 else f"{total} starts"
            self.stream.write(f"gate: {self.label}: {phase}: {starts}\n")
            self.phase = phase
        if sample is not None and not sample.ok:
            self._clear()
            where = f"{phase} {done}/{total}"
            self.stream.write(f"gate: {self.label}: {where} failed: {printable(sample.error)}\n")
        if self.live:
            width = 24
            filled = width * done // max(total, 1)
            last = f"  last {sample.wall_ms:.1f} ms" if sample is not None else ""
            bar = "#" * filled + "." * (width - filled)
            self._clear()
            self.stream.write(f"{self.label}: {phase} [{bar}] {done}/{total}{last}")
            self.dirty = True
        self.stream.flush()

    def finish(self) -> None:
        self._clear()
        self.stream.flush()
