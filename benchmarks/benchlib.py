"""What every benchmark script here needs: running tools, the cache, honest labels."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
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
