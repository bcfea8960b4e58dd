"""The program under test cannot freeze gate: what holds, and how a stop is still told.

A program that wants gate to never judge it has three ways to freeze it, and the keeper
(keeper.py) alone answers none of them for good: the program can stop the keeper first.

- SIGSTOP (or SIGTSTP) to gate, re-sent from a setsid child as often as it likes. While
  a start runs, gate holds a POSIX timer of its own that sends it SIGCONT every
  `PERIOD_NS`. The kernel resumes a stopped process when SIGCONT is *generated*, whatever
  else keeps stopping it, and nothing in another process can disarm a timer of gate's:
  gate keeps getting slices, its deadline (the clock, not its own progress) passes, and
  it stops the run's tree, the re-sending child included. Its handler only re-arms the
  timers (_Ring); twenty a second cost gate about 0.4% of a core while a start runs (a
  wake-up of a Python process costs 80-180 us on a 2-core VM: at 100 a second, 1.8%,
  taken from the program being timed), and the program (whose handlers start at their
  defaults) nothing.
- ptrace, which holds a tracee however it is signalled. gate and the keeper are not
  dumpable (secrets.py), so tracing them takes CAP_SYS_PTRACE, and gate drops that
  capability from its bounding set (and inheritable and ambient sets) before it runs any
  program: a program started by gate lacks it even as root, even setuid-root.
- SIGSTOP to the keeper: harmless to the start, but a keeper left stopped never exits.
  After each start gate resumes it.

How a stop is told: gate cannot see its own stop, its parent can. The keeper reports each
stop or continue of gate it is told of (waitpid WUNTRACED|WCONTINUED); before and after
each start gate asks it (`fence`) and reads the count. A start during which gate or its
keeper was stopped, or gate was traced, fails: its time includes the stop.

What no user-space guard holds against, and the README says so: a program running as
root can still SIGKILL gate and the keeper together (what gate started then runs on), move
them into a cgroup it freezes, or load a kernel module. Only running the job as a normal
user, or the program as another user, closes those.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import time
from collections.abc import Iterator

PERIOD_NS = 50_000_000  # a stopped gate runs again within 50 ms
RING = 64  # timers: spread over a start, then re-armed as they fire
NEAR = 8  # of them PERIOD_NS apart ahead of a running gate: 20 wake-ups a second
TAIL_S = 10.0  # covered beyond the start's own time: stopping a tree under attack is slow
_TIMER_ABSTIME = 1
_CLOCK_MONOTONIC = 1
_SIGEV_SIGNAL = 0
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_LOWER = 47, 3
_CAP_SYS_PTRACE = 19
_CAP_VERSION_3 = 0x20080522
FENCE_SIGNAL = signal.SIGUSR1  # gate to the keeper: report the stops you have seen
_FENCE_WAIT_S = 1.0


class _SigEvent(ctypes.Structure):
    _fields_ = [
        ("value", ctypes.c_void_p),
        ("signo", ctypes.c_int),
        ("notify", ctypes.c_int),
        ("pad", ctypes.c_byte * 48),
    ]


class TimeSpec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("interval", TimeSpec), ("value", TimeSpec)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_libc: ctypes.CDLL | None = None
_ptrace_dropped = False
_reports: int | None = None  # the keeper's report pipe (read end), set by keeper.split
_keeper: int | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def attach_keeper(keeper: int, reports: int) -> None:
    """Called in gate right after the split: who the keeper is, where it reports."""
    global _keeper, _reports
    _keeper, _reports = keeper, reports


def drop_ptrace() -> bool:
    """Make sure nothing gate runs can hold CAP_SYS_PTRACE; True when that holds.

    A process without CAP_SETPCAP (a normal user) cannot drop from its bounding set, and
    needs not: it has no CAP_SYS_PTRACE to pass on, and a non-dumpable gate refuses it."""
    global _ptrace_dropped
    if _ptrace_dropped:
        return True
    libc = _c()
    try:
        libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_LOWER, _CAP_SYS_PTRACE, 0, 0)
        header = _CapHeader(_CAP_VERSION_3, 0)
        data = (_CapData * 2)()
        if libc.capget(ctypes.byref(header), data) == 0:
            bit = 1 << _CAP_SYS_PTRACE
            if data[0].inheritable & bit:
                data[0].inheritable &= ~bit
                libc.capset(ctypes.byref(header), data)
            if not data[0].permitted & bit:
                _ptrace_dropped = True  # nothing to drop: a normal user
                return True
        _ptrace_dropped = bool(libc.prctl(_PR_CAPBSET_DROP, _CAP_SYS_PTRACE, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
    return _ptrace_dropped


class _Ring:
    """One-shot timers, each sending gate SIGCONT once, spread over the start.

    Not one periodic timer: the kernel rearms a periodic timer only when its signal is
    taken, and a SIGSTOP arriving first throws the pending SIGCONT away (stop signals
    flush it), so a program stopping gate every millisecond starved a periodic timer to
    a few signals in six seconds. A one-shot timer has done its work when it fires (the
    kernel resumes a stopped process when SIGCONT is generated). So RING of them are armed
    up front, spread over the whole start (its timeout, the watch after readiness, the
    grace period and TAIL_S for stopping the tree): a frozen gate still wakes to see its
    deadline. Then, whenever gate's own code runs (`tick`, from its loops, and the
    handler), the timers that have fired extend a chain PERIOD_NS apart, up to NEAR
    periods ahead, so a gate at work (stopping the tree) wakes every PERIOD_NS however
    often it is stopped; the rest go to the far end of the ring, a spread apart. One slot
    of the chain, one timer: each fired timer re-armed near `now` made them pile up, and a
    6 s wait took 2,400 wake-ups a second (12% of a core) where 20 do."""

    def __init__(self) -> None:
        self.timers: list[ctypes.c_void_p] = []
        self.due: list[int] = []
        self.next_due = 0
        self.spread = PERIOD_NS
        self.chain_end = 0  # the last of the timers PERIOD_NS apart ahead of gate
        self.armed = False
        self.spec = _ITimerSpec()
        self.spec_ref = ctypes.byref(self.spec)
        self.settime = _c().timer_settime
        self.settime.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        # Handled, not left at its default, so the handler can re-arm fired timers.
        signal.signal(signal.SIGCONT, _resumed)

    def _grow(self, count: int) -> None:
        libc = _c()
        while len(self.timers) < count:
            event = _SigEvent(None, signal.SIGCONT, _SIGEV_SIGNAL)
            timer = ctypes.c_void_p()
            if libc.timer_create(_CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(timer)):
                return  # out of timers (RLIMIT_SIGPENDING): cover what can be covered
            self.timers.append(timer)
            self.due.append(0)

    def _set(self, k: int, at_ns: int) -> None:
        spec = self.spec
        spec.value.sec, spec.value.nsec = divmod(at_ns, 1_000_000_000)
        self.settime(self.timers[k], _TIMER_ABSTIME if at_ns else 0, self.spec_ref, None)
        self.due[k] = at_ns

    def arm(self, window_ns: int) -> None:
        self._grow(RING)
        if not self.timers:
            return
        self.spread = period = max(PERIOD_NS, window_ns // len(self.timers))
        now = time.monotonic_ns()
        for k in range(len(self.timers)):
            self._set(k, now + (k + 1) * period)
        self.next_due = now + period
        self.chain_end = 0
        self.armed = True

    def refresh(self) -> None:
        """Re-arm the timers that have fired: the chain ahead first, the rest far (cheap when
        none has)."""
        if not self.armed:
            return
        now = time.monotonic_ns()
        if now < self.next_due:
            return
        far = max(self.due)
        for k, due in enumerate(self.due):
            if due > now:
                continue
            if self.chain_end < now + NEAR * PERIOD_NS:
                self.chain_end = max(self.chain_end, now) + PERIOD_NS
                self._set(k, self.chain_end)
            else:
                far += self.spread
                self._set(k, far)
        self.next_due = min(self.due)

    def disarm(self) -> None:
        self.armed = False
        for k in range(len(self.timers)):
            if self.due[k]:
                self._set(k, 0)


_ring: _Ring | None = None


def _resumed(signum: int, frame: object) -> None:
    """gate runs again: cover the time ahead (_Ring)."""
    tick()


def tick() -> None:
    """Called from gate's loops while a start runs: re-arm the timers that have fired."""
    if _ring is not None:
        _ring.refresh()


@contextlib.contextmanager
def guarded(window_s: float) -> Iterator[Watch]:
    """One start under the guard: gate resumes itself for `window_s` (and TAIL_S more);
    `Watch.problem()` afterwards says whether gate was stopped or traced during it."""
    global _ring
    drop_ptrace()
    watch = Watch()
    fence()  # stops from before this start (a Ctrl-Z between starts) are not its own
    with contextlib.suppress(OSError, AttributeError):
        if _ring is None:
            _ring = _Ring()
        _ring.arm(int((window_s + TAIL_S) * 1e9))
    try:
        yield watch
    finally:
        with contextlib.suppress(OSError, AttributeError):
            if _ring is not None:
                _ring.disarm()
        watch.close()


class Watch:
    """What happened to gate and its keeper during one start."""

    def __init__(self) -> None:
        self.stops = 0
        self.keeper_stopped = False
        self.tracer: tuple[int, str] | None = None

    def close(self) -> None:
        if _keeper is not None and state(_keeper)[0] in ("T", "t"):
            self.keeper_stopped = True
            with contextlib.suppress(OSError):
                os.kill(_keeper, signal.SIGCONT)
        self.stops += fence()
        for pid in (os.getpid(), _keeper):
            tracer = state(pid)[1] if pid is not None else 0
            if tracer:
                from gate.run.tree import comm

                self.tracer = (tracer, comm(tracer))
                break

    def problem(self) -> str | None:
        """Why this start's time cannot be trusted, or None."""
        if self.tracer is not None:
            pid, name = self.tracer
            return (
                f"gate was being traced during the start (by {name}, pid {pid}): a traced"
                " gate's clock is not the program's start-up"
            )
        if self.stops:
            return (
                "gate was stopped during the start (SIGSTOP or SIGTSTP: by the program under"
                " test?) and resumed itself; a stopped gate's clock is not the program's start-up"
            )
        if self.keeper_stopped:
            return (
                f"gate's keeper (pid {_keeper}) was stopped during the start (SIGSTOP: by the"
                " program under test?); gate resumed it, the start does not count"
            )
        return None


def fence() -> int:
    """Ask the keeper how many stops or continues of gate it has seen since it was last
    asked, and wait for its answer (it answers after collecting what the kernel holds for
    it, so a stop that happened before this call is in the count). 0 without a keeper."""
    if _keeper is None or _reports is None:
        return 0
    _drain()
    try:
        os.kill(_keeper, FENCE_SIGNAL)
    except OSError:
        return 0
    count = 0
    poller = select.poll()
    poller.register(_reports, select.POLLIN)
    for _ in range(2):
        if not poller.poll(int(_FENCE_WAIT_S * 1000)):
            if state(_keeper)[0] not in ("T", "t"):
                return count  # a keeper that does not answer: it is gone, or busy killing
            with contextlib.suppress(OSError):
                os.kill(_keeper, signal.SIGCONT)  # stopped in between: once more
            count += 1
            continue
        answer = _drain()
        if answer.endswith(b"\n"):
            with contextlib.suppress(ValueError):
                count += int(answer.split()[-1])
            return count
    return count


def _drain() -> bytes:
    got = b""
    while True:
        try:
            chunk = os.read(_reports, 4096) if _reports is not None else b""
        except BlockingIOError:
            return got
        except OSError:
            return got
        if not chunk:
            return got
        got += chunk


def state(pid: int) -> tuple[str, int]:
    """(state letter, TracerPid) of a process; ("", 0) when it is gone."""
    state, tracer = "", 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"State:"):
                    state = line.split()[1].decode()
                elif line.startswith(b"TracerPid:"):
                    tracer = int(line.split()[1])
                    break
    except (OSError, ValueError, IndexError):
        pass
    return state, tracer
