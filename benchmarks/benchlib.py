"""What every benchmark script here needs: running tools, the cache, honest labels."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any


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
