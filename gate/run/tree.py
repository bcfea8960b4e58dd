"""Find and stop everything a run started, however it tried to get away.

The child runs in a new session, so one killpg reaches its process group. A
daemon that double-forks and calls setsid() leaves that group, but its parent
exits first, and as a child subreaper (PR_SET_CHILD_SUBREAPER) gate inherits the
orphan instead of init: every process a run leaves behind becomes gate's own
descendant, found through /proc/<pid>/task/<tid>/children, stopped with SIGTERM,
then SIGKILL after a grace period, and reaped so no zombie is left either.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterator

PR_SET_CHILD_SUBREAPER = 36
# What asks gate itself to stop (a CI cancelling the job, Ctrl-C, a closed terminal).
STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
_subreaper: bool | None = None


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux >= 3.4); False where not possible."""
    global _subreaper
    if _subreaper is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _subreaper = False
    return _subreaper


def _children_via_task(pid: int) -> set[int] | None:
    found: set[int] = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return set()
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.update(int(x) for x in f.read().split())
        except FileNotFoundError:
            if tid == str(pid):
                return None  # kernel without CONFIG_PROC_CHILDREN
        except OSError:
            continue
    return found


def _children_via_scan(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pid:
                found.add(int(entry))
    return found


def children(pid: int) -> set[int]:
    kids = _children_via_task(pid)
    return _children_via_scan(pid) if kids is None else kids


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()  # the command name may hold spaces and ')'
    return rest[0].decode(), int(rest[1])


def comm(pid: int) -> str:
    """The process's name (comm, at most 15 bytes), "?" when it is gone."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read(64).decode("utf-8", "replace").strip() or "?"
    except OSError:
        return "?"


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def descendants(roots: set[int]) -> set[int]:
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(children(pid) - seen)
    return seen


class Tree:
    """The processes of one run: the child, its descendants, and orphans adopted by gate."""

    def __init__(self) -> None:
        """Call before spawning: what gate's children are now is left alone later
        (a child that forks and exits at once would otherwise hand its orphans to
        gate before they could be told apart from gate's own)."""
        self.me = os.getpid()
        self.baseline = children(self.me)
        self.root = -1
        self.names: dict[int, str] = {}  # members seen by living() or reaped: pid -> comm
        self.exits: dict[int, int] = {}  # members gate reaped: pid -> exit code (-N: signal N)
        self.unstoppable: dict[int, str] = {}  # members gate may not signal: pid -> comm

    def adopt(self, root: int) -> None:
        self.root = root

    def members(self) -> set[int]:
        own = children(self.me) - self.baseline
        own.add(self.root)
        return descendants(own)

    def settle(self) -> set[int]:
        """The living members. A member is done only once reaped: a zombie child of
        gate has just handed its own children to gate, so reap it and look again."""
        from gate.run.guard import tick

        while True:
            tick()  # a program stopping gate over and over: gate wakes to go on (guard.py)
            states = {pid: _stat(pid) for pid in self.members()}
            ours = children(self.me) - self.baseline - {self.root}
            zombies = [p for p, st in states.items() if p in ours and st and st[0] in "ZX"]
            if not zombies:
                return {p for p, st in states.items() if st and st[0] not in "ZX"}
            for pid in zombies:
                self._reap(pid)

    def living(self) -> set[int]:
        """The living members other than the root, named in `names` (cheap: a few
        /proc reads per member). After the root exits, these are what is left of the
        run: a daemon's children, adopted by gate as child subreaper."""
        alive = self.settle() - {self.root}
        for pid in alive - self.names.keys():
            self.names[pid] = comm(pid)
        return alive

    def _reap(self, pid: int) -> None:
        """Collect one zombie child of gate, keeping its name and exit code."""
        name = self.names.get(pid) or comm(pid)
        with contextlib.suppress(ChildProcessError, OSError):
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                self.names[pid] = name
                self.exits[pid] = os.waitstatus_to_exitcode(status)

    def reap(self) -> None:
        """Collect zombies that are gate's children (never the root: its rusage is wanted)."""
        for pid in children(self.me) - self.baseline - {self.root}:
            self._reap(pid)

    def stop(self, grace_s: float) -> int:
        """SIGTERM everything, SIGKILL what survives `grace_s`; returns how many processes
        other than the root were stopped: the leftovers (daemons, children). The root
        stopped at a timeout or once ready is the program itself, not something it left.

        A member gate may not signal (a setuid program, another user's) cannot be
        stopped: it ends up in `unstoppable` and stop() returns at the end of the grace
        period instead of waiting on it.
        """
        targets = self.settle()
        if not targets:
            return 0
        with contextlib.suppress(OSError):
            os.killpg(self.root, signal.SIGTERM)
        _signal_all(targets, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            left = self.settle()
            if not left:
                return len(targets - {self.root})
            _signal_all(left - targets, signal.SIGTERM)  # forked while we waited
            targets |= left
            time.sleep(0.001)
        for _ in range(200):  # SIGKILL cannot be ignored; new forks are caught next round
            left = self.settle()
            if not left:
                break
            with contextlib.suppress(OSError):
                os.killpg(self.root, signal.SIGKILL)
            refused = _signal_all(left, signal.SIGKILL)
            targets |= left
            if refused == left:  # the rest cannot be signalled at all: waiting will not help
                self.unstoppable = {pid: self.names.get(pid) or comm(pid) for pid in refused}
                break
            time.sleep(0.001)
            self.reap()
        self.reap()
        return len(targets - {self.root})


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGTERM, SIGINT, SIGHUP and SIGQUIT to gate until the block ends.

    Stopping a run must not be cut short by the very signal that asks gate to stop
    (a handler raising inside stop() would skip the SIGKILL phase): the signal is
    delivered, and its handler runs, once the processes are stopped and reaped.
    """
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _signal_all(pids: set[int], sig: int) -> set[int]:
    """Signal each; returns those gate is not permitted to signal."""
    refused = set()
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            refused.add(pid)
    return refused
