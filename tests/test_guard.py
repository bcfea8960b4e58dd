"""gate/run/guard.py's timers: a stopped gate resumes within PERIOD_NS, and a running
one is woken about 1/PERIOD_NS times a second, not more. The attacks themselves (a
program stopping or tracing gate) are in tests/test_hostile_programs.py."""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Iterator

import pytest

from gate.run import guard


@pytest.fixture
def woken() -> Iterator[list[float]]:
    """The times gate's SIGCONT handler ran, while a start's timers are armed for 5 s."""
    times: list[float] = []

    def counted(signum: int, frame: object) -> None:
        times.append(time.monotonic())
        guard.tick()

    previous = signal.getsignal(signal.SIGCONT)
    with guard.guarded(5.0 - guard.TAIL_S):
        signal.signal(signal.SIGCONT, counted)
        yield times
    signal.signal(signal.SIGCONT, previous)


def test_a_running_gate_is_woken_twenty_times_a_second(woken: list[float]) -> None:
    """gate's loop ticks every millisecond for 2 s: the chain wakes it every 50 ms (about
    40) and the far timers of the ring add one each 5 s / 64 (about 25). Re-arming every
    fired timer near `now` piled them up: thousands (12% of a core in a 6 s wait)."""
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        guard.tick()
        time.sleep(0.001)
    assert 40 <= len(woken) <= 100, len(woken)
    gaps = [b - a for a, b in itertools.pairwise(woken)]
    assert max(gaps) < 0.2, max(gaps)  # never long without a wake-up: a stop ends soon


def test_a_gate_that_never_ticks_is_still_woken_across_the_window(woken: list[float]) -> None:
    """No loop running (gate stopped, its pending SIGCONT thrown away by the next SIGSTOP,
    so its handler may not run either): the ring's far timers alone still fire across the
    whole window, one every 5 s / 64."""
    signal.signal(signal.SIGCONT, lambda signum, frame: woken.append(time.monotonic()))
    time.sleep(1.0)  # PEP 475: sleep resumes after each handler, the full second
    assert 8 <= len(woken) <= 20, len(woken)  # about 12.8 in a second
