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

What it cannot cover: a program running as root (or as gate's user, aiming for it) can
kill or stop the keeper itself; and a process gate cannot signal (setuid, another user)
is beyond the keeper too (the run ends with an error naming it, see runner.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

from gate.report.escape import printable
from gate.startup.tree import become_subreaper, children, comm, descendants

_PR_SET_PDEATHSIG = 1
_FORWARDED = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
_LOOK_EVERY_S = 0.1
_KILL_FOR_S = 10.0  # a fork bomb gets this long to be caught; an unkillable process is left


def split() -> None:
    """Fork; return in gate (the child). The keeper (the parent) never returns."""
    blocked = {*_FORWARDED, signal.SIGCHLD}
    sys.stdout.flush()  # nothing buffered may be written twice
    sys.stderr.flush()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    keeper = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # no room for a second process: run without a keeper
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != keeper:  # the keeper died before the line above
            os.kill(os.getpid(), signal.SIGTERM)
        return
    os._exit(_keep(pid, blocked))


def _keep(gate: int, blocked: set[signal.Signals]) -> int:
    """Watch gate until it ends; then clean up and return the exit status to pass on."""
    with contextlib.suppress(OSError):
        sys.stdin.close()
        os.close(0)
    become_subreaper()
    while True:
        info = signal.sigtimedwait(blocked, _LOOK_EVERY_S)
        if info is not None and info.si_signo != signal.SIGCHLD:
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


def _sweep(gate: int) -> None:
    """The envelope's cgroups gate could not remove itself (it was killed mid-run)."""
    from gate.startup.cgroup import sweep

    with contextlib.suppress(OSError):
        sweep(gate)


def _reap(gate: int) -> int | None:
    """Collect every zombie child; gate's wait status once it has ended, else None.

    A stop of gate is reported here too (WUNTRACED) and answered with SIGCONT at once.
    """
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG | os.WUNTRACED)
        except ChildProcessError:
            return None
        if pid == 0:
            return None
        if pid != gate:
            continue  # an orphan adopted from gate: collected, nothing more
        if os.WIFSTOPPED(status):
            _unfreeze(gate)
            continue
        return status


def _state(pid: int) -> tuple[str, int]:
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


def _unfreeze(gate: int) -> None:
    """Resume gate if something stopped it; kill a tracer that gate itself started."""
    state, tracer = _state(gate)
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
