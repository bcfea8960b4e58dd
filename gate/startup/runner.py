"""Timed starts: spawn, wait for readiness, stop the whole tree, reap. One RunSample each.

The clock starts just before posix_spawn (no shell, a new session, stdin from
/dev/null) and stops at the readiness event, so gate's own start-up never enters
a measurement. One single-threaded poll loop watches the child's pidfd (exit is
seen the instant it happens), both output pipes (drained continuously, only a
bounded tail kept, so a child writing gigabytes neither blocks nor fills memory)
and the probe's sockets. rusage comes from wait4 on the child.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from gate.errors import GateError
from gate.startup.cache import Eviction, evict
from gate.startup.ready import POLL_INTERVAL_S, READY_EXIT, Probe, ReadySpec, make_probe
from gate.startup.tree import Tree, become_subreaper

TAIL_BYTES = 4096
_RSS_SLACK = 2 << 20
GIVE_UP_AFTER = 3  # failed starts in a row, from the first, before the rest are skipped
_READ_CHUNK = 1 << 20
_F_SETPIPE_SZ = 1031  # fewer wake-ups for chatty children


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
    stopped: int = 0  # processes gate had to stop after the run (daemons, children, the service)
    port: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    resident_before: int | None = None  # binary pages in the page cache before eviction
    resident_after: int | None = None


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
    tail_bytes: int = TAIL_BYTES  # output kept per stream (a breakdown run keeps up to 1 MiB)

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


def _describe_exit(code: int, stderr: _Tail) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        desc = signal.strsignal(-code) or ""
        text = f"killed by {name}" + (f" ({desc.lower()})" if desc else "")
    else:
        text = f"exited with status {code}"
    last = _last_line(stderr)
    return f"{text}: {last}" if last else text


def _last_line(tail: _Tail) -> str:
    lines = [ln.strip() for ln in tail.text().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


# CI credentials gate itself may use (comments, baselines) but the program under test has
# no business with: it is the change being judged. `--env` can still pass one on purpose.
CI_SECRETS = frozenset(
    {
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "CI_JOB_TOKEN",
        "CI_JOB_JWT",
        "CI_JOB_JWT_V2",
        "CI_REGISTRY_PASSWORD",
        "CI_DEPLOY_PASSWORD",
        "CI_DEPENDENCY_PROXY_PASSWORD",
        "GATE_GITLAB_TOKEN",
        "GITLAB_TOKEN",
    }
)


def child_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """gate's environment less the CI's credentials."""
    return {k: v for k, v in environ.items() if k not in CI_SECRETS}


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
    if cfg.cold and cfg.evict_files:
        eviction = evict(list(cfg.evict_files), cfg.drop_caches)
    become_subreaper()
    tree = Tree()
    try:
        t0, pid, out_r, err_r = _spawn(cfg.binary, [fill(a) for a in cfg.args], env)
    except OSError as exc:
        probe.close()
        raise StartError(_spawn_problem(cfg.binary, exc)) from None
    tree.adopt(pid)
    try:
        child = _Child(t0, pid, tree, out_r, err_r)
        return _watch(cfg, spec, probe, child, port, eviction), eviction
    finally:
        probe.close()
        os.close(out_r)
        os.close(err_r)


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


def _watch(
    cfg: RunConfig,
    spec: ReadySpec,
    probe: Probe,
    child: _Child,
    port: int | None,
    eviction: Eviction | None,
) -> RunSample:
    t0, pid, tree, out_r, err_r = child
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(out_r, select.POLLIN)
    poller.register(err_r, select.POLLIN)
    tails = {out_r: _Tail(cfg.tail_bytes), err_r: _Tail(cfg.tail_bytes)}
    open_pipes = {out_r, err_r}
    probe_fds: set[int] = set()
    deadline = t0 + int(cfg.timeout_s * 1e9)
    ready_ns: int | None = None
    failure: str | None = None
    status: int | None = None
    rusage = None
    exit_mode = spec.kind == "exit"

    def read_output(fd: int, now: int) -> bool:
        """Drain what is there; True when the line probe saw its line."""
        seen = False
        while fd in open_pipes:
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                return seen
            if not chunk:
                poller.unregister(fd)
                open_pipes.discard(fd)
                return seen
            tails[fd].add(chunk)
            if probe.on_output(chunk):
                seen = True
        return seen

    try:
        while ready_ns is None and failure is None:
            wanted = set(probe.fds())
            for fd in probe_fds - wanted:
                poller.unregister(fd)
            for fd in wanted - probe_fds:
                poller.register(fd, select.POLLIN)
            probe_fds = wanted
            now = time.perf_counter_ns()
            if now >= deadline:
                failure = _timeout_message(spec, cfg.timeout_s, exit_mode)
                break
            if spec.polls:
                if probe.attempt():
                    ready_ns = time.perf_counter_ns()
                    break
                events = poller.poll(0)
                if not events:
                    time.sleep(POLL_INTERVAL_S)
                    continue
            else:
                events = poller.poll(max(1, (deadline - now + 999_999) // 1_000_000))
            now = time.perf_counter_ns()
            for fd, _ in events:
                if fd == pidfd:
                    _, status, rusage = os.wait4(pid, 0)
                    poller.unregister(pidfd)
                    code = os.waitstatus_to_exitcode(status)
                    if exit_mode:
                        if code == 0:
                            ready_ns = now
                        else:
                            read_output(err_r, now)
                            failure = _describe_exit(code, tails[err_r])
                    elif code != 0 or not tree.living():
                        read_output(err_r, now)
                        why = _describe_exit(code, tails[err_r])
                        failure = f"{why} before becoming ready ({spec.text})"
                    # else: a daemonizing service; its adopted child may still get ready
                elif fd in tails:
                    if read_output(fd, now) and ready_ns is None:
                        ready_ns = now
                elif fd in probe_fds and probe.on_readable(fd) and ready_ns is None:
                    ready_ns = now
    finally:
        end_ns = ready_ns if ready_ns is not None else time.perf_counter_ns()
        live_hwm = _vm_hwm(pid) if rusage is None else None  # still running: exact peak
        stopped = tree.stop(cfg.grace_s)
        if rusage is None:
            _, status, rusage = os.wait4(pid, 0)
        os.close(pidfd)
        for fd in tails:
            with contextlib.suppress(OSError):
                read_output(fd, end_ns)

    code = os.waitstatus_to_exitcode(status) if status is not None else None
    if not exit_mode and ready_ns is not None:
        stopped = max(0, stopped - 1)  # stopping the service itself is the plan, not news
    return RunSample(
        wall_ms=(end_ns - t0) / 1e6,
        user_ms=rusage.ru_utime * 1000,
        sys_ms=rusage.ru_stime * 1000,
        # gate's peak now bounds its peak at the exec from above (peaks only grow)
        max_rss_bytes=live_hwm or _child_peak(rusage.ru_maxrss * 1024, _vm_hwm("self")),
        major_faults=rusage.ru_majflt,
        minor_faults=rusage.ru_minflt,
        exit_code=code,
        ok=failure is None,
        error=failure,
        stopped=stopped,
        port=port,
        stdout_tail=tails[out_r].text(),
        stderr_tail=tails[err_r].text(),
        resident_before=eviction.before[0].resident if eviction else None,
        resident_after=eviction.after[0].resident if eviction else None,
    )


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


def _timeout_message(spec: ReadySpec, timeout_s: float, exit_mode: bool) -> str:
    if exit_mode:
        return (
            f"still running after {timeout_s:g} s (timeout); stopped"
            " (a service? say when it is ready: --ready http://127.0.0.1:{port}/healthz,"
            " tcp:PORT, line:REGEX or notify)"
        )
    return f"not ready ({spec.text}) within {timeout_s:g} s (timeout); stopped"


def check_executable(binary: str) -> None:
    """Refuse early, with the reason, what posix_spawn would refuse on every run."""
    if not os.path.exists(binary):
        raise StartError(f"{binary}: no such file")
    if os.path.isdir(binary):
        raise StartError(f"{binary}: is a directory, not a binary")
    if not os.access(binary, os.X_OK):
        mode = os.stat(binary).st_mode & 0o777
        raise StartError(f"{binary}: not executable (mode {mode:o}); chmod +x it")


Progress = Callable[[str, int, int, RunSample | None], None]
