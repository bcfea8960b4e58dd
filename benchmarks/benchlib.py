"""What every benchmark script here needs: running tools, the cache, honest labels."""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple


class BenchError(RuntimeError):
    """A step could not run; reported and turned into a non-zero exit."""


def run(cmd: Sequence[str | os.PathLike[str]], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, capture text output, raise BenchError with its stderr on failure."""
    try:
        proc = subprocess.run([os.fspath(c) for c in cmd], capture_output=True, text=True, **kw)
    except OSError as exc:
        raise BenchError(f"cannot run {cmd[0]}: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise BenchError(f"{shlex.join(map(os.fspath, cmd))} exited {proc.returncode}\n{tail}")
    return proc


def need_tool(name: str) -> str:
    """Resolve a required external tool, failing early with a clear message."""
    path = shutil.which(name)
    if path is None:
        raise BenchError(f"required tool {name!r} not found on PATH")
    return path


def cache_root() -> Path:
    """Cache directory; GATE_BENCH_CACHE overrides the XDG-ish default."""
    env = os.environ.get("GATE_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gate-bench"


def verdict(ok: bool) -> str:
    """PASS/MISS label for one target."""
    return "PASS" if ok else "MISS"


def load() -> str:
    """1-minute load average: the first thing to look at when numbers are noisy."""
    return f"{os.getloadavg()[0]:.2f}"


class Timing(NamedTuple):
    """One command of a hyperfine run, in milliseconds."""

    name: str
    mean: float
    stddev: float
    min: float
    median: float
    runs: int


def hyperfine_timings(
    commands: Sequence[tuple[str, Sequence[str | os.PathLike[str]]]],
    export: Path,
    *,
    runs: int,
    warmup: int,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> list[Timing]:
    """Time all commands in ONE `hyperfine -N` run, so they share the machine's state.

    Each argv is quoted for hyperfine's own word splitting; a pipeline therefore has to be
    spelled `sh -c '...'`, which puts the shell's start-up in that command's time.
    """
    cmd: list[str | os.PathLike[str]] = [
        "hyperfine",
        "-N",
        "--style",
        "none",
        "--warmup",
        str(warmup),
        "--runs",
        str(runs),
        "--export-json",
        export,
    ]
    for name, argv in commands:
        cmd += ["--command-name", name, shlex.join(map(os.fspath, argv))]
    run(cmd, env=env, cwd=cwd)
    results = json.loads(Path(export).read_text())["results"]
    return [
        Timing(
            name,
            r["mean"] * 1e3,
            (r["stddev"] or 0.0) * 1e3,
            r["min"] * 1e3,
            r["median"] * 1e3,
            len(r["times"]),
        )
        for (name, _), r in zip(commands, results, strict=True)
    ]


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95% by default) for a binomial rate; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _hog_child_setup(cpu: int | None) -> None:
    """In the hog's child: die with the benchmark (PR_SET_PDEATHSIG), stay on one CPU."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


class CpuHog:
    """One CPU-bound background process, pinned to one core, started and stopped on demand.

    `gzip -c` of /dev/urandom (getrandom in the kernel plus deflate: busy all the time, no
    I/O wait), or a Python busy loop without gzip. It runs in its own session, so Ctrl-C
    reaches only the benchmark, whose `finally` (or `with`) stops it; the kernel also kills
    it when the benchmark dies (PR_SET_PDEATHSIG). `cpu_seconds` and `wall_seconds` add up
    what every started hog used, to show the load was real.
    """

    def __init__(self, cpu: int | None) -> None:
        self.cpu = cpu
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0
        gzip = shutil.which("gzip")
        self.argv = [gzip, "-c"] if gzip else [sys.executable, "-c", "while True: pass"]
        self.what = "gzip -c < /dev/urandom" if gzip else "python busy loop"

    @property
    def running(self) -> bool:
        return self.proc is not None

    def start(self) -> None:
        if self.proc is not None:
            return
        with open("/dev/urandom", "rb") as urandom:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=urandom,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=lambda: _hog_child_setup(self.cpu),
            )
        self.started = time.monotonic()

    @staticmethod
    def _cpu_used(pid: int) -> float:
        """utime + stime of a live process, from /proc (0 when it cannot be read)."""
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def stop(self) -> None:
        """Kill the hog (if running) and add up what it used."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        used = self._cpu_used(proc.pid) if proc.poll() is None else 0.0
        proc.kill()
        proc.wait()
        self.cpu_seconds += used
        self.wall_seconds += time.monotonic() - self.started

    def __enter__(self) -> CpuHog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def preflight(
    name: str,
    argv: Sequence[str | os.PathLike[str]],
    env: dict[str, str] | None,
    cwd: Path,
    check: Callable[[str], object] | None = None,
) -> str | None:
    """Run a command once before timing it, so an error path is never benchmarked.

    Returns its stdout, or None (after a NOTE) when it fails or `check(stdout)` raises
    ValueError.
    """
    try:
        out = run(argv, env=env, cwd=cwd).stdout
        if check:
            check(out)
    except (BenchError, ValueError) as exc:
        print(f"NOTE: {name} does not run cleanly, not timed: {exc}")
        return None
    return out


def time_calls(
    fn: Callable[[], object],
    calls: int,
    *,
    warmup: int = 1,
    before: Callable[[], object] | None = None,
) -> list[float]:
    """Wall time (ms) of `calls` calls of fn in this process, after `warmup` untimed ones;
    `before` (e.g. a cache_clear) runs ahead of every call, untimed."""
    for _ in range(warmup):
        if before:
            before()
        fn()
    samples = []
    for _ in range(calls):
        if before:
            before()
        t = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t) / 1e6)
    return samples


def print_timings(
    stats: Sequence[Timing],
    *,
    name_width: int,
    mean_width: int,
    width: int,
    decimals: int,
    runs_width: int,
) -> None:
    """Fixed-width table of hyperfine results: mean, stdev, min, median (ms) and runs."""
    print(
        f"\n{'command':<{name_width}} {'mean ms':>{mean_width}} {'stdev':>{width}}"
        f" {'min':>{width}} {'median':>{width}} {'runs':>{runs_width}}"
    )
    d = decimals
    for s in stats:
        print(
            f"{s.name:<{name_width}} {s.mean:{mean_width}.{d}f} {s.stddev:{width}.{d}f}"
            f" {s.min:{width}.{d}f} {s.median:{width}.{d}f} {s.runs:{runs_width}d}"
        )


@contextlib.contextmanager
def scratch_dir(keep: bool, what: str, **mkdtemp: Any) -> Iterator[Path]:
    """A temporary directory (tempfile.mkdtemp's arguments), removed afterwards unless
    `keep`, in which case the report ends with where it is."""
    tmp = Path(tempfile.mkdtemp(**mkdtemp))
    try:
        yield tmp
    finally:
        if keep:
            print(f"\nkept {what} in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
