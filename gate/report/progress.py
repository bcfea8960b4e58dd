"""Progress of long work on stderr: a live line on a terminal, one line per phase in CI.

A failed run is always printed as its own line: a pipeline log must show why a
start failed even when nobody watches the bar. So is adaptive sampling going past the
runs planned, with the reason: a log that said `runs: 20 starts` must not hide 45.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from gate.run.runner import RunSample
from gate.values.escape import printable


class RunProgress:
    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = printable(label)  # a file name can hold ESC or a newline
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() and not os.environ.get("CI")
        self.phase: str | None = None
        self.dirty = False
        self.done = 0  # timed starts (rounds, with --against) so far
        self.planned: int | None = None  # set once sampling is extended
        self.why = ""

    def _clear(self) -> None:
        if self.dirty:
            self.stream.write("\r\x1b[2K")
            self.dirty = False

    def __call__(self, phase: str, done: int, total: int, sample: RunSample | None) -> None:
        if phase == "runs":
            self.done = done
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

    def extended(self, planned: int, total: int, why: str) -> None:
        """Adaptive sampling asks for `total` starts where `planned` were planned."""
        if self.planned is None:
            self.planned = planned
        self.why = why
        if not self.live:
            self.stream.write(f"gate: {self.label}: runs: extended to {total} starts ({why})\n")
            self.stream.flush()

    def finish(self) -> None:
        self._clear()
        if self.planned is not None:
            self.stream.write(
                f"gate: {self.label}: runs: {self.done} starts ({self.planned} planned, "
                f"extended: {self.why})\n"
            )
        self.stream.flush()
