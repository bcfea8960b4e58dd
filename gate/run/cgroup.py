"""One cgroup per start, so the envelope's limits hold from the program's first instruction.

Where: cgroup v2 where the unified hierarchy offers the needed controllers (cpu,
memory), else the v1 hierarchies of those controllers (hybrid machines, older CI
images). gate's cgroups live under one directory per gate process, `gate.<pid>`:
next to gate's own cgroup on v2 (a v2 cgroup holding processes cannot have children
with controllers), under it on v1. Each start gets `run.<n>` inside, removed as soon as
the start is over; the keeper (gate/run/keeper.py) removes what is left if gate
itself is killed (`sweep`).

How a start gets in before it runs: gate's worker is single-threaded, so it moves
itself into the run's cgroup, spawns (the child inherits the cgroup from its first
instruction; posix_spawn returns after the exec), and moves back. Neither v1 (without
move_charge_at_immigrate) nor v2 migrates memory charges, so gate's own memory is never
counted against the program, and the moment spent inside costs the program's quota a
few microseconds of gate's CPU.

What comes back per start: the cgroup's peak memory (v2 memory.peak, v1
memory.max_usage_in_bytes): the whole tree's, children smaller than gate included, page
cache the start read included (that is what the limit counts too); and whether the
kernel's OOM killer acted inside it (v2 memory.events, v1 memory.oom_control oom_kill).

Inside a container (a cgroup namespace, as Docker and GitHub container jobs give): gate's
cgroup is the namespace's root, which holds the container's processes, and the kernel
enables no controller below a non-root cgroup that holds processes ("no internal
processes": the subtree_control write fails with EBUSY for memory, and cpu alone makes
it a thread root below which no cgroup can enable one). Where the cgroup file system is
writable, gate first does what container init systems do: it makes the leaf `init` in that
root, moves every process of the root into it (gate's keeper and worker, and any other
process there: each keeps running, under the same limits from above, in a child of where
it was), enables the controllers, and carries on. The leaf stays after gate exits, as the
controllers do: moving processes back would race with another gate, and `docker exec`
joins the container's init cgroup when the root is busy. Where it is not writable (a
container started without --privileged), the message names what fixes it.

Where no cgroup can be made, CgroupError says what is missing and how to get it; the
start never runs unconstrained instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from gate.errors import GateError
from gate.values.envelope import Envelope

_MOUNTINFO = "/proc/self/mountinfo"
_CGROUP = "/proc/self/cgroup"
_RMDIR_TRIES = 50  # 1 ms apart: a killed task leaves its cgroup a moment after it is reaped
HOW_TO = (
    "run gate as root (sudo), or inside a delegated cgroup "
    "(systemd-run --scope -p Delegate=yes gate ...), or leave out --cpus/--memory"
)
IN_CONTAINER = (
    "gate runs in a container whose cgroup it may not change: run it as root in a container "
    "started with --privileged (a writable /sys/fs/cgroup), or delegate a cgroup to it (a writable "
    "cgroup namespace, e.g. podman --cgroups=split or a systemd Delegate=yes unit), or run "
    "gate outside the container; or leave out --cpus/--memory"
)
LEAF = "init"  # where the processes of a container's root cgroup go (as container inits do)
_VACATE_TRIES = 20  # a process forking while the root is emptied adds a pid: read again


class CgroupError(GateError):
    """No cgroup can hold the start: the envelope cannot be applied."""


@dataclass(frozen=True)
class Hierarchy:
    """Where gate makes its cgroups in one hierarchy, and which controllers it serves."""

    version: int  # 1 or 2
    controllers: frozenset[str]
    home: str  # gate's own cgroup, as a directory
    parent: str  # where gate.<pid> goes
    point: str = ""  # where the hierarchy is mounted (v2: a container's view is its root)


def _unescape(path: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal."""
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, ch)
    return path


def _mounts() -> tuple[dict[str, tuple[str, str]], tuple[str, str] | None]:
    """(v1 controller -> (mount point, mount root), the v2 (mount point, mount root))."""
    v1: dict[str, tuple[str, str]] = {}
    v2: tuple[str, str] | None = None
    with contextlib.suppress(OSError), open(_MOUNTINFO, encoding="utf-8") as f:
        for line in f:
            left, sep, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if not sep or len(fields) < 5 or len(tail) < 3:
                continue
            root, point = _unescape(fields[3]), _unescape(fields[4])
            if tail[0] == "cgroup2" and v2 is None:
                v2 = (point, root)
            elif tail[0] == "cgroup":
                for option in tail[2].split(","):
                    v1.setdefault(option, (point, root))
    return v1, v2


def _own_paths() -> tuple[dict[str, str], str | None]:
    """(v1 controller -> this process's cgroup path, the v2 path) from /proc/self/cgroup."""
    v1: dict[str, str] = {}
    v2: str | None = None
    with contextlib.suppress(OSError), open(_CGROUP, encoding="utf-8") as f:
        for line in f:
            num, _, rest = line.rstrip("\n").partition(":")
            names, _, path = rest.partition(":")
            if num == "0" and not names:
                v2 = path
            for name in names.split(","):
                if name:
                    v1[name] = path
    return v1, v2


def _join(point: str, root: str, path: str) -> str:
    """The directory of cgroup `path` in a hierarchy mounted at `point` (from `root`)."""
    rel = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
    return os.path.normpath(os.path.join(point, "" if rel == "." else rel))


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def needed(envelope: Envelope) -> frozenset[str]:
    out = set()
    if envelope.cpus is not None:
        out.add("cpu")
    if envelope.memory is not None:
        out.add("memory")
    return frozenset(out)


def hierarchies(controllers: frozenset[str]) -> list[Hierarchy]:
    """Where each needed controller's cgroups go: v2 if it offers them all, else v1."""
    v1_mounts, v2_mount = _mounts()
    v1_paths, v2_path = _own_paths()
    if v2_mount is not None and v2_path is not None:
        home = _join(*v2_mount, v2_path)
        parent = os.path.dirname(home) if home != os.path.normpath(v2_mount[0]) else home
        try:
            offered = set(_read(os.path.join(parent, "cgroup.controllers")).split())
        except OSError:
            offered = set()
        if controllers <= offered:
            return [Hierarchy(2, controllers, home, parent, os.path.normpath(v2_mount[0]))]
    out: dict[str, Hierarchy] = {}
    missing = []
    for name in sorted(controllers):
        if name not in v1_mounts or name not in v1_paths:
            missing.append(name)
            continue
        point, root = v1_mounts[name]
        home = _join(point, root, v1_paths[name])
        if home in out:  # co-mounted (cpu,cpuacct or cpu,memory): one directory serves both
            h = out[home]
            out[home] = Hierarchy(1, h.controllers | {name}, home, home)
        else:
            out[home] = Hierarchy(1, frozenset({name}), home, home)
    if missing:
        raise CgroupError(
            f"the envelope needs the cgroup controller{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}, which this machine does not offer (neither mounted as "
            "cgroup v1 nor enabled in cgroup v2); on a container, give it its own cgroup "
            "namespace with the controllers delegated"
        )
    return list(out.values())


def in_container(point: str) -> bool:
    """Whether the v2 hierarchy mounted at `point` is a cgroup namespace's root (a
    container's view) rather than the system's: only a non-root cgroup has cgroup.type."""
    return os.path.exists(os.path.join(point, "cgroup.type"))


def _problem(path: str, exc: OSError, how: str = HOW_TO) -> CgroupError:
    if exc.errno == errno.EROFS:  # what a container without --privileged mounts, v1 or v2
        how = IN_CONTAINER
    reason = exc.strerror or str(exc)
    return CgroupError(f"cannot make a cgroup for the envelope: {path}: {reason.lower()}; {how}")


def _busy(cgroup: str) -> bool:
    """Whether `cgroup` is a non-root cgroup holding processes, where enabling a controller
    fails or harms: memory (a domain controller) with EBUSY; cpu alone (a threaded one) is
    taken, but turns the cgroup into a thread root, below which no cgroup can enable
    either (EOPNOTSUPP). The system's root is exempt from the rule (no cgroup.type)."""
    if not os.path.exists(os.path.join(cgroup, "cgroup.type")):
        return False
    return bool(_read(os.path.join(cgroup, "cgroup.procs")).split())


def _vacate(root: str) -> str:
    """Move every process of cgroup `root` into its leaf `root/init` (made if missing), so
    that controllers can be enabled below `root`; the leaf's path. Processes are moved,
    never signalled; one that exits meanwhile is passed over."""
    leaf = os.path.join(root, LEAF)
    with contextlib.suppress(FileExistsError):
        os.mkdir(leaf)
    for _ in range(_VACATE_TRIES):
        pids = [p for p in _read(os.path.join(root, "cgroup.procs")).split() if p != "0"]
        if not pids:
            return leaf
        for pid in pids:
            try:
                _write(os.path.join(leaf, "cgroup.procs"), pid)
            except ProcessLookupError:
                continue
    raise OSError(errno.EBUSY, "processes keep appearing in it", root)


class Run:
    """One start's cgroup (one directory per hierarchy), made, entered, read and removed."""

    def __init__(self, dirs: list[tuple[Hierarchy, str]], envelope: Envelope) -> None:
        self.dirs, self.envelope = dirs, envelope

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """gate's worker inside the run's cgroup (and on the pinned CPU) for the spawn."""
        pid = str(os.getpid())
        moved: list[Hierarchy] = []
        try:
            for h, path in self.dirs:
                try:
                    _write(os.path.join(path, "cgroup.procs"), pid)
                except OSError as exc:
                    raise _problem(os.path.join(path, "cgroup.procs"), exc) from None
                moved.append(h)
            yield
        finally:
            for h in moved:
                _write(os.path.join(h.home, "cgroup.procs"), pid)

    def _memory_dir(self) -> tuple[int, str] | None:
        for h, path in self.dirs:
            if "memory" in h.controllers:
                return h.version, path
        return None

    def peak_memory(self) -> int | None:
        """The start's peak memory (its whole tree, page cache it read included)."""
        found = self._memory_dir()
        if found is None:
            return None
        version, path = found
        name = "memory.peak" if version == 2 else "memory.max_usage_in_bytes"
        try:
            return int(_read(os.path.join(path, name)).split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def oom_kills(self) -> int:
        """Processes the kernel's OOM killer killed in this cgroup."""
        found = self._memory_dir()
        if found is None:
            return 0
        version, path = found
        name = "memory.events" if version == 2 else "memory.oom_control"
        try:
            for line in _read(os.path.join(path, name)).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def memory_counters(self) -> dict[str, int]:
        """How hard the start pressed on its memory limit, by the kernel's own counters,
        each named by its file: v2 `memory.events` high, max and oom (usage at memory.high,
        at memory.max, an OOM); v1 `memory.failcnt` and `memory.memsw.failcnt` (charges
        refused at the limit; some kernels leave them at 0); both `memory.stat`
        workingset_refault_file (file pages read back soon after they were evicted: the
        thrash itself). A start that thrashes at its limit instead of being OOM-killed
        shows here and nowhere else."""
        found = self._memory_dir()
        if found is None:
            return {}
        version, path = found
        out: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            if version == 2:
                for line in _read(os.path.join(path, "memory.events")).splitlines():
                    key, _, value = line.partition(" ")
                    if key in ("high", "max", "oom"):
                        out[f"memory.events {key}"] = int(value)
            else:  # with swap accounting the limit is on memsw too, and that one fails first
                for name in ("memory.failcnt", "memory.memsw.failcnt"):
                    with contextlib.suppress(FileNotFoundError):
                        out[name] = int(_read(os.path.join(path, name)))
            for line in _read(os.path.join(path, "memory.stat")).splitlines():
                key, _, value = line.partition(" ")
                if key == "workingset_refault_file":
                    out[f"memory.stat {key}"] = int(value)
        return out

    def peak_name(self) -> str:
        """The file peak_memory reads, as a message names it."""
        found = self._memory_dir()
        return "memory.peak" if found is None or found[0] == 2 else "memory.max_usage_in_bytes"

    def throttled(self) -> tuple[int, float] | None:
        """(periods throttled, ms throttled) by the CPU quota, when the kernel says."""
        for h, path in self.dirs:
            if "cpu" not in h.controllers:
                continue
            try:
                stat = dict(
                    line.split() for line in _read(os.path.join(path, "cpu.stat")).splitlines()
                )
            except (OSError, ValueError):
                return None
            if "throttled_usec" in stat:  # v2
                return int(stat["nr_throttled"]), int(stat["throttled_usec"]) / 1000
            if "throttled_time" in stat:  # v1, nanoseconds
                return int(stat["nr_throttled"]), int(stat["throttled_time"]) / 1e6
        return None

    def outside(self, pids: set[int]) -> dict[int, str]:
        """Those of `pids` not inside this start's cgroup (or a cgroup below it) in every
        hierarchy, each with where /proc says it is: a program running as root can write
        its pid into any cgroup.procs and leave the limits, and the cgroup's own numbers
        (peak memory, throttling) then no longer count it."""
        inside: set[int] | None = None
        for _, path in self.dirs:
            members: set[int] = set()
            with contextlib.suppress(OSError):
                for top, _dirs, _files in os.walk(path):
                    with contextlib.suppress(OSError, ValueError):
                        members.update(map(int, _read(os.path.join(top, "cgroup.procs")).split()))
            inside = members if inside is None else inside & members
        if inside is None:
            return {}
        out = {}
        for pid in pids - inside:
            try:
                where = _read(f"/proc/{pid}/cgroup")
            except OSError:
                continue  # gone: nothing more to count
            places = {line.split(":", 2)[2] for line in where.splitlines() if line.count(":") >= 2}
            out[pid] = ", ".join(sorted(places)) or "?"
        return out

    def remove(self) -> None:
        """Kill whatever is left inside (the start's tree is reaped by now), then rmdir."""
        for _, path in reversed(self.dirs):
            _remove(path)


def _kill_inside(path: str) -> None:
    with contextlib.suppress(OSError):
        if os.path.exists(os.path.join(path, "cgroup.kill")):
            _write(os.path.join(path, "cgroup.kill"), "1")
            return
        for line in _read(os.path.join(path, "cgroup.procs")).split():
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(line), 9)


def _remove(path: str) -> None:
    """rmdir a gate cgroup, its children first; a task still leaving is waited for briefly."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(path):
            if entry.is_dir(follow_symlinks=False):
                _remove(entry.path)
    for attempt in range(_RMDIR_TRIES):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or attempt == _RMDIR_TRIES - 1:
                return
            _kill_inside(path)
            time.sleep(0.001)


class Maker:
    """gate's `gate.<pid>` directories, made once, and a numbered run cgroup per start."""

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self.hierarchies = hierarchies(needed(envelope))
        self.count = 0
        self.made: list[str] = []
        for h in self.hierarchies:
            top = os.path.join(h.parent, f"gate.{os.getpid()}")
            try:
                os.mkdir(top)
            except FileExistsError:
                pass
            except OSError as exc:
                self.close()
                how = IN_CONTAINER if h.version == 2 and in_container(h.point) else HOW_TO
                raise _problem(top, exc, how) from None
            self.made.append(top)
        for i, h in enumerate(self.hierarchies):
            if h.version == 2:
                self.hierarchies[i] = self._enable(h, self.made[i])

    def _enable(self, h: Hierarchy, top: str) -> Hierarchy:
        """v2: the controllers must be on in the parent's and gate.<pid>'s subtree_control.
        Where the parent is gate's own cgroup and holds processes (a container's root), they
        move to its leaf first: `h` with that leaf as gate's home comes back."""
        wanted = " ".join(f"+{c}" for c in sorted(h.controllers))
        how = IN_CONTAINER if in_container(h.point or h.parent) else HOW_TO
        for where in (h.parent, top):
            control = os.path.join(where, "cgroup.subtree_control")
            try:
                if not h.controllers <= set(_read(control).split()):
                    if where == h.home and _busy(where):
                        h = Hierarchy(2, h.controllers, _vacate(where), h.parent, h.point)
                    _write(control, wanted)
            except OSError as exc:
                self.close()
                raise _problem(control, exc, how) from None
        return h

    def run(self) -> Run:
        """A fresh cgroup with the envelope's limits, for one start."""
        self.count += 1
        dirs: list[tuple[Hierarchy, str]] = []
        for h, top in zip(self.hierarchies, self.made, strict=True):
            path = os.path.join(top, f"run.{self.count}")
            try:
                os.mkdir(path)
                dirs.append((h, path))
                self._limit(h, path)
            except OSError as exc:
                Run(dirs, self.envelope).remove()
                raise _problem(path, exc) from None
        return Run(dirs, self.envelope)

    def _limit(self, h: Hierarchy, path: str) -> None:
        env = self.envelope
        if "cpu" in h.controllers and env.quota_us is not None:
            if h.version == 2:
                _write(os.path.join(path, "cpu.max"), f"{env.quota_us} {env.cpu_period_us}")
            else:
                _write(os.path.join(path, "cpu.cfs_period_us"), str(env.cpu_period_us))
                _write(os.path.join(path, "cpu.cfs_quota_us"), str(env.quota_us))
        if "memory" in h.controllers and env.memory is not None:
            if h.version == 2:
                _write(os.path.join(path, "memory.max"), str(env.memory))
                with contextlib.suppress(FileNotFoundError):  # no swap accounting
                    _write(os.path.join(path, "memory.swap.max"), "0")
            else:
                _write(os.path.join(path, "memory.limit_in_bytes"), str(env.memory))
                with contextlib.suppress(FileNotFoundError):  # swapping is not fitting in
                    _write(os.path.join(path, "memory.memsw.limit_in_bytes"), str(env.memory))

    def close(self) -> None:
        for top in self.made:
            _remove(top)
        self.made = []


def sweep(pid: int) -> None:
    """Remove what a gate worker `pid` left (it was killed mid-run): run by the keeper,
    which shares the worker's cgroups, after it has killed the worker's orphans."""
    v1_mounts, v2_mount = _mounts()
    v1_paths, v2_path = _own_paths()
    places = set()
    if v2_mount is not None and v2_path is not None:
        home = _join(*v2_mount, v2_path)
        places.add(os.path.dirname(home))
        places.add(home)
    for name, path in v1_paths.items():
        if name in v1_mounts:
            places.add(_join(*v1_mounts[name], path))
    for place in places:
        top = os.path.join(place, f"gate.{pid}")
        if os.path.isdir(top):
            _remove(top)


_makers: dict[Envelope, Maker] = {}


def maker(envelope: Envelope) -> Maker:
    """The Maker for `envelope`, made on first use (CgroupError when none can be) and
    closed when gate exits; the keeper sweeps up after a gate that could not close it."""
    if envelope not in _makers:
        import atexit

        if not _makers:
            atexit.register(close_all)
        _makers[envelope] = Maker(envelope)
    return _makers[envelope]


def close_all() -> None:
    while _makers:
        _makers.popitem()[1].close()


def version(envelope: Envelope) -> str:
    """Which cgroup version holds `envelope`'s starts ("v1", "v2"), for the environment."""
    return f"v{maker(envelope).hierarchies[0].version}"
