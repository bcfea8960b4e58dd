"""A keeper process that outlives gate: nothing gate started runs on, however gate ends.

gate stops each run's processes itself (tree.py), but only while it lives and runs. A
SIGKILL, an OOM kill or a crash of gate would leave a service and its daemons running,
and a hostile program could freeze gate (SIGSTOP to its parent, or ptrace it as root)
so that no timeout ever fires. So a command that runs programs first splits in two:

    keeper (the process the shell or CI started; child subreaper)
      `-- gate (does the work; PR_SET_PDEATHSIG: SIGTERM if the keeper dies)
            `-- the program under test, its children, adopted orphans ...

- gate dies, by any means: every process it started is reparented to the keeper (the
  nearest subreaper above them), which kills them all, reaps them, removes the
  envelope's cgroups gate left (cgroup.sweep), and exits with gate's status (dying by
  the same signal, so the shell sees what happened).
- The keeper is killed: gate gets SIGTERM and stops its runs as on any SIGTERM.
- SIGTERM, SIGINT, SIGHUP or SIGQUIT sent to the keeper is passed on to gate (a CI
  cancelling the job signals the process it started).
- gate stopped on its own (SIGSTOP, SIGTSTP from its program) is resumed; while ptraced
  by a process it started, that tracer is killed and gate resumed. The keeper looks
  every 100 ms. A Ctrl-Z stops the keeper too, so job control still works.
- Each stop and continue of gate the kernel reports to its parent is counted, and the
  count is told to gate when it asks (FENCE_SIGNAL, answered on a pipe): gate cannot see
  its own stops, and a start during which gate was stopped does not count (guard.py).

What it cannot cover: a program running as root (or as gate's user, aiming for it) can
kill or stop the keeper itself (guard.py is what holds then); and a process gate cannot
signal (setuid, another user) is beyond the keeper too (the run ends with an error naming
it, see runner.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

from gate.run.guard import FENCE_SIGNAL, TimeSpec, attach_keeper
from gate.run.guard import state as _state_of
from gate.run.tree import become_subreaper, children, comm, descendants
from gate.values.escape import printable

_PR_SET_PDEATHSIG = 1
_FORWARDED = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
_LOOK_EVERY_S = 0.1
_KILL_FOR_S = 10.0  # a fork bomb gets this long to be caught; an unkillable process is left


def split() -> None:
    """Fork; return in gate (the child). The keeper (the parent) never returns."""
    blocked = {*_FORWARDED, signal.SIGCHLD, FENCE_SIGNAL}
    sys.stdout.flush()  # nothing buffered may be written twice
    sys.stderr.flush()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    keeper = os.getpid()
    try:
        reports_r, reports_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return
    try:
        pid = os.fork()
    except OSError:  # no room for a second process: run without a keeper
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        os.close(reports_r)
        os.close(reports_w)
        return
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        os.close(reports_w)
        attach_keeper(keeper, reports_r)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != keeper:  # the keeper died before the line above
            os.kill(os.getpid(), signal.SIGTERM)
        return
    os.close(reports_r)
    os._exit(_keep(pid, blocked, reports_w))


def _keep(gate: int, blocked: set[signal.Signals], reports: int) -> int:
    """Watch gate until it ends; then clean up and return the exit status to pass on."""
    with contextlib.suppress(OSError):
        sys.stdin.close()
        os.close(0)
    become_subreaper()
    while True:
        info = wait(blocked, _LOOK_EVERY_S)
        if info is not None and info.si_signo == FENCE_SIGNAL:
            if info.si_pid != gate:
                continue  # not gate asking: nobody else is answered
            status = _reap(gate)
            with contextlib.suppress(OSError):
                os.write(reports, f"{_take_stops()}\n".encode())
            if status is not None:
                break
            continue
        if info is not None and info.si_signo in _FORWARDED:
            with contextlib.suppress(OSError):
                os.kill(gate, info.si_signo)
            continue
        status = _reap(gate)
        if status is not None:
            break
        _unfreeze(gate)
    _kill_all()
    _sweep(gate)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:  # die as gate died, so the caller sees the same signal
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
            if -code != signal.SIGKILL:
                signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        return 128 - code
    return code


_libc: ctypes.CDLL | None = None


class _SigInfo(ctypes.Structure):
    _fields_ = [
        ("si_signo", ctypes.c_int),
        ("si_errno", ctypes.c_int),
        ("si_code", ctypes.c_int),
        ("pad0", ctypes.c_int),
        ("si_pid", ctypes.c_int),
        ("si_uid", ctypes.c_uint),
        ("rest", ctypes.c_byte * 104),
    ]


def wait(signals: set[signal.Signals], timeout_s: float) -> _SigInfo | None:
    """sigtimedwait(2), called here rather than through signal.sigtimedwait: when the
    wait is cut short (EINTR: the keeper was stopped and resumed) and its timeout has
    passed meanwhile, CPython returns the siginfo it never filled (seen: SIGILL and
    SIGQUIT that nobody sent, passed on to gate). None for a timeout or an interruption."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    libc = _libc
    mask = ctypes.create_string_buffer(128)  # a sigset_t
    libc.sigemptyset(mask)
    for sig in signals:
        libc.sigaddset(mask, int(sig))
    info = _SigInfo()
    sec = int(timeout_s)
    spec = TimeSpec(sec, int((timeout_s - sec) * 1e9))
    if libc.sigtimedwait(mask, ctypes.byref(info), ctypes.byref(spec)) <= 0:
        return None
    return info


def _sweep(gate: int) -> None:
    """The envelope's cgroups gate could not remove itself (it was killed mid-run)."""
    from gate.run.cgroup import sweep

    with contextlib.suppress(OSError):
        sweep(gate)


_stops = 0  # stops and continues of gate the kernel reported, since gate last asked


def _take_stops() -> int:
    global _stops
    count, _stops = _stops, 0
    return count


def _reap(gate: int) -> int | None:
    """Collect every zombie child; gate's wait status once it has ended, else None.

    A stop of gate is reported here too (WUNTRACED) and answered with SIGCONT at once; a
    continue (WCONTINUED: gate resumed itself, guard.py) is counted like a stop, since
    the kernel keeps only the latest of the two for a parent that was not looking.
    """
    global _stops
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED | os.WCONTINUED)
        except ChildProcessError:
            return None
        if pid == 0:
            return None
        if pid != gate:
            continue  # an orphan adopted from gate: collected, nothing more
        if os.WIFSTOPPED(status):
            _stops += 1
            _unfreeze(gate)
            continue
        if os.WIFCONTINUED(status):
            _stops += 1
            continue
        return status


def _unfreeze(gate: int) -> None:
    """Resume gate if something stopped it; kill a tracer that gate itself started."""
    state, tracer = _state_of(gate)
    if tracer and tracer in descendants(children(gate)):
        name = comm(tracer)
        with contextlib.suppress(OSError):
            os.kill(tracer, signal.SIGKILL)
            _say(f"killed {name} (pid {tracer}): a program under test may not ptrace gate")
        state = "T"
    if state in ("T", "t"):
        with contextlib.suppress(OSError):
            os.kill(gate, signal.SIGCONT)
            _say("gate was stopped (SIGSTOP?) while the keeper was not: resumed it")


_said: set[str] = set()


def _say(text: str) -> None:
    """One line on stderr, each text once (a program stopping gate in a loop is no flood)."""
    if text not in _said:
        _said.add(text)
        with contextlib.suppress(OSError):
            os.write(2, f"gate: {printable(text)}\n".encode())


def _kill_all() -> None:
    """SIGKILL every descendant (gate has ended; they are all orphans the keeper adopted)."""
    import time

    me = os.getpid()
    deadline = time.monotonic() + _KILL_FOR_S
    while time.monotonic() < deadline:
        left = descendants(children(me)) - {me}
        if not left:
            return
        signalled = 0
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                signalled += 1
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        if not signalled:
            return  # none of them can be signalled (setuid, another user): leave them
        time.sleep(0.001)
