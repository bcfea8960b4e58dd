"""Stop signals to gate while programs run: unwind, so every run is stopped and reaped.

Without this, click turns Ctrl-C into "Aborted!" and exit 1 (a "fail"), and SIGTERM
(a cancelled CI job), SIGHUP or SIGQUIT would end gate with its program still running.
The handler raises errors.Interrupted; the runner's clean-up holds these signals while it
stops a tree (tree.signals_held), so the exception arrives once the tree is gone. Only
the first signal counts: a second one (the keeper passing on what the terminal sent
too, an impatient Ctrl-C) must not cut the clean-up short.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from gate.errors import Interrupted
from gate.run.tree import STOP_SIGNALS

_stopping = False


def _terminated(signum: int, frame: FrameType | None) -> None:
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise Interrupted(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """The stop signals raise Interrupted for the duration of the block."""
    global _stopping
    _stopping = False
    previous = {sig: signal.signal(sig, _terminated) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        if not _stopping:  # once stopping, keep ignoring the rest while gate winds down
            for sig, handler in previous.items():
                signal.signal(sig, handler)
