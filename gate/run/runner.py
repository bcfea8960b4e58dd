"""Timed starts: spawn, wait for readiness, stop the whole tree, reap. One RunSample each.

The clock starts just before posix_spawn (no shell, a new session, stdin from
/dev/null) and stops at the readiness event, so gate's own start-up never enters
a measurement. One single-threaded poll loop watches the child's pidfd (exit is
seen the instant it happens), both output pipes (drained continuously, only a
bounded tail kept, so a child writing gigabytes neither blocks nor fills memory)
and the probe's sockets. rusage comes from wait4 on the child.

What a start is, when it is not `exit` (the program's own exit is the event there):

- Ready is the probe's event, whoever in the run's tree causes it. A daemon that forks
  (its first process exits 0, a child or grandchild serves) is a service like any
  other: gate is a child subreaper, so the orphans are adopted, and the child opening
  the port, printing the line or sending READY=1 is the readiness event; wall_ms still
  runs from the first spawn.
- The root exiting non-zero before readiness fails the start at once. Exiting 0 with
  no descendant alive fails it at once too (`/bin/true --ready tcp:1`: "exited with
  status 0 before it was ready ... it left no process running"). Exiting 0 while
  descendants live keeps the watch going; nothing wakes the poll loop when an adopted
  grandchild dies, so the tree is looked at every 5 ms (a few /proc reads) and the
  start fails as soon as none is left, naming the children gate saw and how they ended.
- After readiness the service is watched `post_ready_s` longer (20 ms; not timed, so
  wall_ms stays spawn -> ready), and on while it is still runnable (waiting for a CPU on a
  loaded machine: its next steps have not happened yet; at most 0.2 s more): exiting by a
  signal or non-zero in that window fails the
  start (`crashed 2.1 ms after it was ready: killed by SIGSEGV ...`), exiting 0 does not
  (a forking parent's job is done). Then gate stops the tree; a service that dies of a
  crash signal (SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGSYS, SIGTRAP) on that
  SIGTERM failed too. Exit status 0, 143, or death by SIGTERM/SIGKILL, is a clean stop.
  The window costs each ready start 20 ms of gate's time, never of the measurement.
- A failure's message ends with the program's last line on each stream, and a timeout
  waiting on a port says which ports the output named instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import shutil
import signal
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NamedTuple, Protocol

from gate.errors import GateError
from gate.run import cgroup
from gate.run.cache import Eviction, evict
from gate.run.guard import guarded, tick
from gate.run.loaded import Loaded
from gate.run.loaded import sample as loaded_sample
from gate.run.ready import Probe, make_probe, poll_interval_s, ports_named
from gate.run.tree import Tree, become_subreaper, comm, signals_held
from gate.secrets import child_environ
from gate.values.envelope import UNCONSTRAINED, Envelope
from gate.values.readiness import READY_EXIT, ReadySpec

if TYPE_CHECKING:
    import resource

TAIL_BYTES = 4096
_RSS_SLACK = 2 << 20
GIVE_UP_AFTER = 3  # failed starts in a row, from the first, before the rest are skipped
_READ_CHUNK = 1 << 20
_F_SETPIPE_SZ = 1031  # fewer wake-ups for chatty children
POST_READY_S = 0.02  # after readiness, how long dying on its own still fails the start
POST_READY_WAIT_S = 0.2  # ... and at most this much longer while it waits for a CPU
_LOOK_EVERY_NS = 5_000_000  # a forking daemon's parent has exited: how often to look at the rest
_HINT_SCAN = 2048  # output bytes searched for the ports a program names
# Signals that mean a crash, not a stop: a start that dies by one of them failed, even
# when it was gate's SIGTERM that made it happen.
CRASH_SIGNALS = frozenset(
    int(s)
    for s in (
        signal.SIGSEGV,
        signal.SIGBUS,
        signal.SIGABRT,
        signal.SIGILL,
        signal.SIGFPE,
        signal.SIGSYS,
        signal.SIGTRAP,
    )
)


class StartError(GateError):
    """The binary cannot be started at all: nothing can be measured."""


@dataclass(frozen=True)
class RunSample:
    wall_ms: float  # spawn -> readiness (or -> failure)
    user_ms: float
    sys_ms: float
    max_rss_bytes: int | None  # None: below gate's own footprint, so not measurable
    major_faults: int
    minor_faults: int
    exit_code: int | None  # negative: killed by that signal; None: still running when stopped
    ok: bool
    error: str | None = None
    stopped: int = 0  # leftovers gate had to stop after the run (daemons, children; not the root)
    port: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    resident_before: int | None = None  # binary pages in the page cache before eviction
    resident_after: int | None = None
    # Inside an envelope (gate/run/cgroup.py): the run cgroup's peak, the whole tree's,
    # page cache it read included; and how long the CPU quota held it back.
    peak_memory_bytes: int | None = None
    throttled_ms: float | None = None
    # At readiness (gate/run/loaded.py), None when the program exited to be ready:
    # shared objects mapped, descriptors open, and the regular files mapped (not in the
    # results: measure.py evicts them before the next cold start).
    mapped_objects: int | None = None
    open_fds: int | None = None
    shared_objects: tuple[str, ...] = ()
    mapped_files: tuple[str, ...] = ()
    # A counted start (gate/run/count.py): the user-space instructions it executed.
    instructions: int | None = None


class Counter(Protocol):
    """What runs a start under a counting tool (gate/run/count.py): the runner spawns its
    command instead of the binary and hands it the finished sample to fill in."""

    def prepare(self) -> str: ...

    def command(self, handle: str, binary: str, args: list[str]) -> tuple[str, list[str]]: ...

    def collect(self, handle: str, sample: RunSample) -> RunSample: ...


@dataclass(frozen=True)
class RunConfig:
    binary: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    ready: ReadySpec = READY_EXIT
    timeout_s: float = 10.0
    grace_s: float = 1.0
    cold: bool = True
    drop_caches: bool = False
    evict_files: tuple[str, ...] = ()
    evict_also: tuple[str, ...] = ()  # [startup] evict: paths and globs beyond DT_NEEDED
    evict_mapped: tuple[str, ...] = ()  # those files, and what earlier starts mapped
    tail_bytes: int = TAIL_BYTES  # output kept per stream (a breakdown run keeps up to 1 MiB)
    post_ready_s: float = POST_READY_S  # watched after readiness, untimed (see the docstring)
    envelope: Envelope = UNCONSTRAINED  # CPU quota, memory limit, pinned CPU (envelope.py)
    counter: Counter | None = None  # a counted start runs under it (gate/run/count.py)

    @property
    def uses_port(self) -> bool:
        texts = (*self.args, *self.env.values(), self.ready.target)
        return any("{port}" in t for t in texts)


def free_port() -> int:
    """A port nothing listens on right now (the kernel's pick on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Tail:
    """The last `limit` bytes of a stream."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self.data = b""
        self.limit = limit

    def add(self, chunk: bytes) -> None:
        self.data = (self.data + chunk)[-self.limit :] if self.limit > 0 else b""

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def _exit_text(code: int) -> str:
    """`killed by SIGSEGV (segmentation fault)` or `exited with status 3`."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        desc = signal.strsignal(-code) or ""
        return f"killed by {name}" + (f" ({desc.lower()})" if desc else "")
    return f"exited with status {code}"


def _describe_exit(code: int, stderr: _Tail) -> str:
    text = _exit_text(code)
    last = _last_line(stderr)
    return f"{text}: {last}" if last else text


_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """Control characters (an ANSI colour, a bell) shown as escapes: messages stay one
    inert line whatever the program printed."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _last_line(tail: _Tail) -> str:
    lines = [ln.strip() for ln in tail.text().splitlines() if ln.strip()]
    return _clean(lines[-1][:200]) if lines else ""


def _spawn(binary: str, args: list[str], env: dict[str, str]) -> tuple[int, int, int, int]:
    """(t0_ns, pid, stdout_r, stderr_r): the clock starts right before the spawn."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    for fd in (out_r, err_r):
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, _F_SETPIPE_SZ, _READ_CHUNK)
        os.set_blocking(fd, False)
    actions = [
        (os.POSIX_SPAWN_DUP2, devnull, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
        *((os.POSIX_SPAWN_CLOSE, fd) for fd in _inherited_fds()),
    ]
    try:
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(binary, [binary, *args], env, file_actions=actions, setsid=True)
    except OSError:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        for fd in (out_w, err_w, devnull):
            os.close(fd)
    return t0, pid, out_r, err_r


def _inherited_fds() -> list[int]:
    """Descriptors above stderr that gate's own parent left open without close-on-exec (a
    CI runner's, a shell's): closed in the child, so the program starts with stdin, stdout
    and stderr only, as a service manager starts it, and its open_fds are its own."""
    fds = []
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            with contextlib.suppress(OSError):
                if fd > 2 and os.get_inheritable(fd):
                    fds.append(fd)
    return fds


def run_once(cfg: RunConfig) -> tuple[RunSample, Eviction | None]:
    """One timed start (and, when cold, what eviction achieved).

    Raises StartError only when the binary cannot be executed at all.
    """
    port = free_port() if cfg.uses_port else None

    def fill(text: str) -> str:
        return text.replace("{port}", str(port)) if port is not None else text

    spec = ReadySpec(cfg.ready.kind, fill(cfg.ready.target))
    probe = make_probe(spec)
    env = {**child_environ(os.environ), **{k: fill(v) for k, v in cfg.env.items()}, **probe.env()}
    eviction: Eviction | None = None
    if cfg.cold and (cfg.evict_files or cfg.evict_mapped):
        eviction = evict(list(cfg.evict_files), cfg.drop_caches, cfg.evict_mapped)
    become_subreaper()
    tree = Tree()
    jail = _jail(cfg.envelope)
    counting = cfg.counter.prepare() if cfg.counter else None
    try:
        window = cfg.timeout_s + cfg.post_ready_s + POST_READY_WAIT_S + cfg.grace_s
        with guarded(window) as guard:  # from the spawn until the tree is stopped and reaped
            try:
                exe, argv = cfg.binary, [fill(a) for a in cfg.args]
                if cfg.counter is not None and counting is not None:
                    exe, argv = cfg.counter.command(counting, exe, argv)
                with _placed(jail, cfg.envelope.cpu):
                    t0, pid, out_r, err_r = _spawn(exe, argv, env)
            except OSError as exc:
                probe.close()
                raise StartError(_spawn_problem(cfg.binary, exc)) from None
            tree.adopt(pid)
            try:
                child = _Child(t0, pid, tree, out_r, err_r)
                sample = _Run(cfg, spec, probe, child, port, eviction, jail).watch()
            finally:
                probe.close()
                os.close(out_r)
                os.close(err_r)
        if jail is not None:
            sample = _in_envelope(sample, jail, cfg.envelope)
        problem = guard.problem()
        if problem is not None:
            error = f"{problem}; {sample.error}" if sample.error else problem
            sample = replace(sample, ok=False, error=error)
        if cfg.counter is not None and counting is not None:
            sample, counting = cfg.counter.collect(counting, sample), None
        return sample, eviction
    finally:
        if jail is not None:
            jail.remove()
        if counting is not None:  # a start that raised: its counts go with it
            shutil.rmtree(counting, ignore_errors=True)


def _jail(envelope: Envelope) -> cgroup.Run | None:
    """This start's own cgroup, when the envelope has a quota or a limit."""
    if not envelope.needs_cgroup:
        return None
    return cgroup.maker(envelope).run()


def unpinnable(cpu: int) -> str | None:
    """Why the program cannot be pinned to `cpu` here (not a CPU gate may run on), or None:
    asked before the first start, so a policy written for a larger machine fails at once."""
    allowed = sorted(os.sched_getaffinity(0))
    if cpu in allowed:
        return None
    shown = ", ".join(map(str, allowed[:16])) + (", ..." if len(allowed) > 16 else "")
    return f"CPU {cpu} is not one gate may run on (allowed: {shown})"


@contextlib.contextmanager
def _placed(jail: cgroup.Run | None, cpu: int | None) -> Iterator[None]:
    """The spawn happens inside the start's cgroup and on its pinned CPU, so the program
    inherits both from its first instruction; gate goes back right after."""
    before = os.sched_getaffinity(0) if cpu is not None else None
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if jail is None:
            yield
        else:
            with jail.entered():
                yield
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


def _in_envelope(sample: RunSample, jail: cgroup.Run, envelope: Envelope) -> RunSample:
    """The cgroup's account of the start: its peak memory, its throttling, whether the
    memory limit killed any of it (a failed start that says so), and whether a start that
    failed otherwise (a timeout) was starved at the limit."""
    from gate.values.envelope import memory_text

    peak = jail.peak_memory()
    throttled = jail.throttled()
    out = replace(sample, peak_memory_bytes=peak,
                  throttled_ms=throttled[1] if throttled else None)  # fmt: skip
    if jail.oom_kills() and envelope.memory is not None:
        at = f" at {memory_text(peak, envelope.memory)}" if peak is not None else ""
        error = f"killed by the {memory_text(envelope.memory)} memory limit{at}"
        if sample.exit_code is not None and sample.exit_code != -signal.SIGKILL:
            error = f"a process of the start was {error}"
        out = replace(out, ok=False, error=error)
    elif not out.ok and envelope.memory is not None:
        # Not killed, but thrashing at the limit until the timeout: say so (envelope.starved).
        from gate.values.envelope import starved

        why = starved(envelope.memory, peak, jail.memory_counters(), jail.peak_name())
        if why:
            out = replace(out, error=f"{out.error}; {why}" if out.error else why)
    return out


def _spawn_problem(binary: str, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{binary}: cannot execute: {reason.lower()}"


class _Child(NamedTuple):
    """A spawned run: when the clock started, who it is, where its output goes."""

    t0: int
    pid: int
    tree: Tree
    out_r: int
    err_r: int


def _ms_until(when_ns: int, now_ns: int) -> int:
    """A poll() timeout in whole milliseconds, rounded up, at least 1."""
    return max(1, (when_ns - now_ns + 999_999) // 1_000_000)


class _Run:
    """One start, watched from the spawn until gate has stopped and reaped its tree.

    The phases: until ready (or failed), the post-readiness watch, the stop. The
    module's docstring says what counts as ready and what fails a start.
    """

    def __init__(
        self,
        cfg: RunConfig,
        spec: ReadySpec,
        probe: Probe,
        child: _Child,
        port: int | None,
        eviction: Eviction | None,
        jail: cgroup.Run | None = None,
    ) -> None:
        self.cfg, self.spec, self.probe, self.port, self.eviction = cfg, spec, probe, port, eviction
        self.jail = jail
        self.t0, self.pid, self.tree, self.out_r, self.err_r = child
        self.exit_mode = spec.kind == "exit"
        self.pidfd = os.pidfd_open(self.pid)
        self.poller = select.poll()
        for fd in (self.pidfd, self.out_r, self.err_r):
            self.poller.register(fd, select.POLLIN)
        self.tails = {self.out_r: _Tail(cfg.tail_bytes), self.err_r: _Tail(cfg.tail_bytes)}
        self.open_pipes = {self.out_r, self.err_r}
        self.probe_fds: set[int] = set()
        self.deadline = self.t0 + int(cfg.timeout_s * 1e9)
        self.ready_ns: int | None = None
        self.failure: str | None = None
        self.failed_ns = 0
        self.status: int | None = None  # the root's wait status, once reaped
        self.rusage: resource.struct_rusage | None = None
        self.root_stopped = False  # the root was still running when gate stopped the tree
        self.orphaned = False  # the root exited 0 before readiness; its descendants run on
        self.next_look = 0  # when orphaned: the next look at whether any descendant lives
        self.service: set[int] = set()  # a forking daemon's processes running at readiness
        self.live_hwm: int | None = None
        self.loaded: Loaded | None = None  # what the service held at readiness
        self.escaped = False  # a process of the start was found outside its cgroup

    # ------------------------------------------------------------ plumbing

    def _fail(self, message: str) -> None:
        if self.failure is None:
            self.failure = message
            self.failed_ns = time.perf_counter_ns()

    def _read_output(self, fd: int) -> bool:
        """Drain what is there; True when the line probe saw its line."""
        seen = False
        while fd in self.open_pipes:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                return seen
            if not chunk:
                self.poller.unregister(fd)
                self.open_pipes.discard(fd)
                return seen
            self.tails[fd].add(chunk)
            if self.probe.on_output(chunk):
                seen = True
        return seen

    def _sync_probe_fds(self) -> None:
        wanted = set(self.probe.fds())
        for fd in self.probe_fds - wanted:
            self.poller.unregister(fd)
        for fd in wanted - self.probe_fds:
            self.poller.register(fd, select.POLLIN)
        self.probe_fds = wanted

    def _drain(self, now: int) -> bool:
        """Read what is queued (output, datagrams) before a verdict; True, and ready at
        `now`, when the probe's event was among it."""
        for fd in (self.out_r, self.err_r):
            if self._read_output(fd) and self.ready_ns is None:
                self.ready_ns = now
        for fd in self.probe.fds():
            if self.probe.on_readable(fd) and self.ready_ns is None:
                self.ready_ns = now
        return self.ready_ns is not None

    def _reap_root(self) -> int:
        """wait4 the root (it has exited, or is about to be): its exit code.

        With gate's stop signals held: a SIGINT handled between wait4's return and the
        assignment would lose the reaped root's status, and the next wait4 would find no
        child (ECHILD) instead of the exit code."""
        if self.rusage is None:
            with signals_held():
                _, self.status, self.rusage = os.wait4(self.pid, 0)
            with contextlib.suppress(KeyError):
                self.poller.unregister(self.pidfd)
        assert self.status is not None
        return os.waitstatus_to_exitcode(self.status)

    # ------------------------------------------------------------ phases

    def watch(self) -> RunSample:
        try:
            self._until_ready()
            if self.ready_ns is not None and self.failure is None and not self.exit_mode:
                self._after_ready()
        finally:
            with signals_held():  # a signal to gate now acts once the tree is stopped
                self._check_envelope("at the end of the start")
                if self.rusage is None and self.live_hwm is None:
                    self.live_hwm = _vm_hwm(self.pid)  # still running: its exact peak
                stop_ns = time.perf_counter_ns()
                stopped = self.tree.stop(self.cfg.grace_s)
                if self.rusage is None and not self.tree.unstoppable:
                    self.root_stopped = True
                    self._reap_root()
                os.close(self.pidfd)
                for fd in self.tails:
                    with contextlib.suppress(OSError):
                        self._read_output(fd)
        if self.tree.unstoppable:
            raise StartError(self._unstoppable_message())
        if self.ready_ns is not None and self.failure is None and not self.exit_mode:
            self._crashed_on_stop(stop_ns)
        return self._sample(stopped)

    def _until_ready(self) -> None:
        while self.ready_ns is None and self.failure is None:
            tick()
            self._sync_probe_fds()
            now = time.perf_counter_ns()
            if now >= self.deadline:
                if not self._drain(now):
                    self._fail(self._timeout_message())
                return
            if self.orphaned and now >= self.next_look:
                # Nothing wakes the loop when an adopted descendant dies: look, cheaply.
                if not self.tree.living():
                    if not self._drain(now):  # its last words may be in the pipes
                        self._fail(self._orphan_message())
                    return
                self.next_look = now + _LOOK_EVERY_NS
            if self.spec.polls:
                if self.probe.attempt():
                    self.ready_ns = time.perf_counter_ns()
                    return
                events = self.poller.poll(0)
                if not events:
                    time.sleep(poll_interval_s((now - self.t0) / 1e9))
                    continue
            else:
                until = min(self.next_look, self.deadline) if self.orphaned else self.deadline
                events = self.poller.poll(_ms_until(until, now))
            now = time.perf_counter_ns()
            root_exited = False
            for fd, _ in events:
                if fd == self.pidfd:
                    root_exited = True  # after the rest: output sent before exiting counts
                elif fd in self.tails:
                    if self._read_output(fd) and self.ready_ns is None:
                        self.ready_ns = now
                elif fd in self.probe_fds and self.probe.on_readable(fd) and self.ready_ns is None:
                    self.ready_ns = now
            if root_exited:
                self._root_exited(now)

    def _root_exited(self, now: int) -> None:
        code = self._reap_root()
        if self.exit_mode:
            if code == 0:
                self.ready_ns = now
            else:
                self._read_output(self.err_r)
                self._fail(_describe_exit(code, self.tails[self.err_r]))
            return
        if self.ready_ns is not None:
            return  # ready in the same breath; the post-readiness watch judges the exit
        if self._drain(now):  # a line or READY=1 sent just before exiting: it was ready
            return
        if code != 0:
            why = _describe_exit(code, self.tails[self.err_r])
            self._fail(f"{why} before becoming ready ({self.spec.text})")
        elif self.tree.living():
            self.orphaned = True  # a daemon that forks: its child may still get ready
            self.next_look = now + _LOOK_EVERY_NS
        else:
            self._fail(self._orphan_message())

    def _after_ready(self) -> None:
        """Watch the service `post_ready_s` longer: dying on its own now fails the start.

        Not timed: wall_ms ends at readiness. The root's exit is seen through its pidfd
        the moment it happens; a forking daemon's adopted processes are looked at once,
        at the end of the window (gate is their parent, so their exit codes are known).
        """
        assert self.ready_ns is not None
        self._check_envelope("when it was ready")
        for fd in self.probe_fds:
            self.poller.unregister(fd)  # a probe answering again must not spin the loop
        self.probe_fds = set()
        if self.rusage is None:
            self.live_hwm = _vm_hwm(self.pid)  # the peak at readiness
            self.loaded = loaded_sample(self.pid)
        else:
            code = os.waitstatus_to_exitcode(self.status or 0)
            if code != 0:  # said it was ready and died in the same breath
                self._fail(self._died_after_ready(code, time.perf_counter_ns()))
                return
            # A forking daemon: its processes, living or seen (one may have died already).
            self.service = self.tree.living() | self.tree.names.keys()
            living = sorted(self.tree.living())
            self.loaded = loaded_sample(living[0]) if living else None
        end = self.ready_ns + int(self.cfg.post_ready_s * 1e9)
        last = end + int(POST_READY_WAIT_S * 1e9)
        now = time.perf_counter_ns()
        while now < end or (now < last and self.rusage is None and _runnable(self.pid)):
            # A loaded machine may not have run the service at all in the window: it is
            # watched on while it waits for a CPU, so its own next steps still count.
            tick()
            until = end if now < end else now + 1_000_000
            events = self.poller.poll(_ms_until(until, now))
            now = time.perf_counter_ns()
            for fd, _ in events:
                if fd == self.pidfd:
                    code = self._reap_root()
                    if code != 0:
                        self._fail(self._died_after_ready(code, now))
                        return
                elif fd in self.tails:
                    self._read_output(fd)
        if self.service:
            self.tree.settle()  # reaps (and records) the adopted processes that have died
            for pid in sorted(self.service):
                died = self.tree.exits.get(pid, 0)
                if died:
                    name = self.tree.names.get(pid, "?")
                    window = self.cfg.post_ready_s * 1000
                    self._fail(
                        f"{_crash_word(died)} by {window:g} ms after it was ready: its "
                        f"process {name} (pid {pid}) {_exit_text(died)}"
                    )
                    return

    def _crashed_on_stop(self, stop_ns: int) -> None:
        """Stopped by gate's SIGTERM, a crash signal is still a crash: a failed start."""
        assert self.ready_ns is not None
        after = (stop_ns - self.ready_ns) / 1e6
        if self.root_stopped:
            code = os.waitstatus_to_exitcode(self.status or 0)
            if -code in CRASH_SIGNALS:
                why = _describe_exit(code, self.tails[self.err_r])
                self._fail(
                    f"crashed when gate stopped it, {after:.1f} ms after it was ready: {why}"
                )
                return
        for pid in sorted(self.service):
            code = self.tree.exits.get(pid, 0)
            if -code in CRASH_SIGNALS:
                name = self.tree.names.get(pid, "?")
                self._fail(
                    f"crashed when gate stopped it, {after:.1f} ms after it was ready: its "
                    f"process {name} (pid {pid}) {_exit_text(code)}"
                )
                return

    def _check_envelope(self, when: str) -> None:
        """Every process of the start must still be in its cgroup: one that wrote itself
        out (root can) ran outside the limits and outside the cgroup's numbers, so the
        start fails, saying who left and where it went."""
        if self.jail is None or self.escaped:
            return
        pids = self.tree.living() | ({self.pid} if self.rusage is None else set())
        outside = self.jail.outside(pids)
        if not outside:
            return
        self.escaped = True
        shown = [
            f"{_clean(self.tree.names.get(pid) or comm(pid))} (pid {pid}) is in {_clean(where)}"
            for pid, where in sorted(outside.items())[:3]
        ]
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        message = (
            f"left the envelope {when}: {'; '.join(shown)}{more}, not in the start's cgroup;"
            " the --cpus/--memory limits and the cgroup's peak memory and throttling did not"
            " cover it"
        )
        self.failure = f"{message}; {self.failure}" if self.failure else message
        if not self.failed_ns:
            self.failed_ns = time.perf_counter_ns()

    # ------------------------------------------------------------ messages and the sample

    def _unstoppable_message(self) -> str:
        """Processes of the run gate may not signal: the run ends here, never in a hang."""
        held = sorted(self.tree.unstoppable.items())
        shown = [f"{_clean(name)} (pid {pid})" for pid, name in held]
        more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
        return (
            f"{self.cfg.binary}: cannot stop {', '.join(shown[:3])}{more}: not permitted to"
            " signal it (a setuid program, or another user's?); it is still running. Run gate"
            " as the user the program runs as, or remove the setuid bit"
        )

    def _died_after_ready(self, code: int, now: int) -> str:
        assert self.ready_ns is not None
        self._read_output(self.err_r)
        after = (now - self.ready_ns) / 1e6
        why = _describe_exit(code, self.tails[self.err_r])
        return f"{_crash_word(code)} {after:.1f} ms after it was ready: {why}"

    def _orphan_message(self) -> str:
        """The root exited 0 before readiness and nothing it started is left running."""
        text = f"exited with status 0 before it was ready ({self.spec.text})"
        kids = _children_text(self.tree)
        if not kids:
            text += (
                "; it left no process running (a program that does its work and exits?"
                " use --ready exit)"
            )
        elif self.orphaned:
            text += (
                f"; a daemon that forks? its children were: {kids}; all of them exited"
                " before one was ready"
            )
        else:
            text += f"; a daemon that forks? its children were: {kids}; none is running"
        return text + _printed(self.tails[self.out_r], self.tails[self.err_r])

    def _timeout_message(self) -> str:
        timeout_s = self.cfg.timeout_s
        if self.exit_mode:
            text = (
                f"still running after {timeout_s:g} s (timeout); stopped"
                " (a service? say when it is ready: --ready http://127.0.0.1:{port}/healthz,"
                " tcp:PORT, line:REGEX or notify)"
            )
        else:
            text = f"not ready ({self.spec.text}) within {timeout_s:g} s (timeout); stopped"
            if self.orphaned:
                kids = _children_text(self.tree)
                text += f"; it had exited 0 (a daemon that forks), leaving {kids} running"
        out, err = self.tails[self.out_r], self.tails[self.err_r]
        return text + _printed(out, err) + _port_hint(self.spec, out, err)

    def _sample(self, stopped: int) -> RunSample:
        assert self.rusage is not None
        rusage = self.rusage
        end_ns = self.ready_ns if self.ready_ns is not None else self.failed_ns
        code = os.waitstatus_to_exitcode(self.status) if self.status is not None else None
        eviction, loaded = self.eviction, self.loaded
        return RunSample(
            wall_ms=(end_ns - self.t0) / 1e6,
            user_ms=rusage.ru_utime * 1000,
            sys_ms=rusage.ru_stime * 1000,
            # gate's peak now bounds its peak at the exec from above (peaks only grow)
            max_rss_bytes=self.live_hwm or _child_peak(rusage.ru_maxrss * 1024, _vm_hwm("self")),
            major_faults=rusage.ru_majflt,
            minor_faults=rusage.ru_minflt,
            exit_code=code,
            ok=self.failure is None,
            error=self.failure,
            stopped=stopped,
            port=self.port,
            stdout_tail=self.tails[self.out_r].text(),
            stderr_tail=self.tails[self.err_r].text(),
            resident_before=eviction.before[0].resident if eviction else None,
            resident_after=eviction.after[0].resident if eviction else None,
            mapped_objects=len(loaded.objects) if loaded else None,
            open_fds=loaded.open_fds if loaded else None,
            shared_objects=loaded.objects if loaded else (),
            mapped_files=loaded.files if loaded else (),
        )


def _crash_word(code: int) -> str:
    return "crashed" if code < 0 else "failed"


def _children_text(tree: Tree, limit: int = 5) -> str:
    """The root's descendants gate has seen: name, pid and, once reaped, how they ended."""
    seen = [(pid, name) for pid, name in tree.names.items() if pid != tree.root]
    parts = []
    for pid, name in seen[:limit]:
        code = tree.exits.get(pid)
        parts.append(
            f"{_clean(name)} (pid {pid}" + (f", {_exit_text(code)})" if code is not None else ")")
        )
    if len(seen) > limit:
        parts.append(f"{len(seen) - limit} more")
    return ", ".join(parts)


def _printed(out: _Tail, err: _Tail) -> str:
    """What the program said last, per stream, for a one-line message ("" when silent)."""
    said = [
        f'{name} "{line}"'
        for name, tail in (("stdout", out), ("stderr", err))
        if (line := _last_line(tail))
    ]
    return f"; last output: {', '.join(said)}" if said else ""


def _port_hint(spec: ReadySpec, out: _Tail, err: _Tail) -> str:
    """When the output names ports and not the one gate waited on: say so."""
    if spec.kind not in ("tcp", "http"):
        return ""
    if spec.kind == "tcp":
        awaited = spec.target.rpartition(":")[2]
    else:
        from urllib.parse import urlsplit

        try:
            awaited = str(urlsplit(spec.target).port or "")
        except ValueError:
            return ""
    text = err.text()[-_HINT_SCAN:] + "\n" + out.text()[-_HINT_SCAN:]
    named = ports_named(text)
    if not named or awaited in named:
        return ""
    return (
        f"; it names port {', '.join(named[:3])} but gate waited on {awaited}"
        " (pass {port} to the program, e.g. -- --listen 127.0.0.1:{port})"
    )


def port_problem(ready: ReadySpec, args: Sequence[str], env: Mapping[str, str]) -> str | None:
    """Why a readiness target with {port} cannot work, or None.

    gate picks a fresh port per start; the program learns it only through an argument or
    an environment value holding {port}. Without one it listens elsewhere and every start
    waits out the timeout.
    """
    if "{port}" not in ready.target:
        return None
    if any("{port}" in text for text in (*args, *env.values())):
        return None
    return (
        "{port} is in the readiness target but in no argument or --env value; the program"
        " cannot know which port to listen on (pass it, e.g. -- --listen 127.0.0.1:{port})"
    )


def _runnable(pid: int) -> bool:
    """The process is runnable (state R: running, or waiting for a CPU)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] == b"R"


def _vm_hwm(pid: int | str) -> int | None:
    """Peak RSS of a process's current image (VmHWM), None when unreadable."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _child_peak(ru_maxrss: int, spawner_hwm: int | None) -> int | None:
    """rusage's max RSS of the child, when it is the child's.

    The kernel carries the spawning process's peak across exec into ru_maxrss
    (posix_spawn shares gate's memory until exec), so a child smaller than gate
    reports gate's footprint. Only a value clearly above it is the child's own: the
    kernel's RSS counters lag by up to 64 pages per thread, and gate may grow a little
    between the exec and our reading of its peak.
    """
    if spawner_hwm is None or ru_maxrss > spawner_hwm + _RSS_SLACK:
        return ru_maxrss
    return None


def check_executable(binary: str) -> None:
    """Refuse early, with the reason, what posix_spawn would refuse on every run."""
    if not os.path.exists(binary):
        raise StartError(f"{binary}: no such file")
    if os.path.isdir(binary):
        raise StartError(f"{binary}: is a directory, not a binary")
    if not os.access(binary, os.X_OK):
        mode = os.stat(binary).st_mode & 0o777
        raise StartError(f"{binary}: not executable (mode {mode:o}); chmod +x it")


class Progress(Protocol):
    """Told of each start, and of adaptive sampling going on past the runs planned."""

    def __call__(self, phase: str, done: int, total: int, sample: RunSample | None) -> None: ...

    def extended(self, planned: int, total: int, why: str) -> None: ...
