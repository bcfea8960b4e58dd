"""Run the real gate CLI as a normal user (nobody), from a root test session.

Protections that only hold against a non-root program (not dumpable, no ptrace, no
/proc/<pid>/environ, no signalling a setuid-root process) can only be shown as one.
The interpreter and site-packages of the session may live where nobody cannot read
(/root), so a world-readable copy is made: gate's source and the installed files of
every distribution it depends on, under a directory of mode 0755 in /tmp.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import gate

NOBODY = 65534
_SETPRIV = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--")


def public_dir() -> Path:
    """A fresh directory under /tmp that any user can enter and read."""
    path = Path(tempfile.mkdtemp(prefix="gate-public-", dir="/tmp"))
    path.chmod(0o755)
    return path


def _requirements(name: str, seen: set[str]) -> None:
    key = name.lower().replace("_", "-")
    if key in seen:
        return
    seen.add(key)
    for req in md.requires(name) or ():
        if "extra ==" in req:
            continue
        _requirements(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0], seen)


def _copy_distribution(name: str, site: Path) -> None:
    dist = md.distribution(name)
    for file in dist.files or ():
        src = Path(str(dist.locate_file(file)))
        if ".." in file.parts or not src.is_file() or src.suffix == ".pyc":
            continue
        dst = site / file
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def _python_for_nobody() -> str:
    """This interpreter when nobody may run it, else the system's (>= 3.11)."""
    for python in (sys.executable, "/usr/bin/python3"):
        check = "import sys; assert sys.version_info >= (3, 11)"
        probe = [*_SETPRIV, "env", python, "-c", check]
        if subprocess.run(probe, capture_output=True, timeout=30).returncode == 0:
            return python
    raise AssertionError("no Python >= 3.11 that the user nobody can run")


def install_for_nobody(root: Path) -> list[str]:
    """Copy gate and its dependencies under `root`; the argv prefix of `gate` as nobody."""
    site = root / "site"
    names: set[str] = set()
    _requirements("binary-gate", names)
    for name in sorted(names - {"binary-gate"}):
        _copy_distribution(name, site)
    shutil.copytree(Path(gate.__file__).parent, site / "gate", ignore=_no_bytecode)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return [*_SETPRIV, "env", f"PYTHONPATH={site}", _python_for_nobody(), "-m", "gate"]


def _no_bytecode(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def as_nobody(argv: list[str]) -> list[str]:
    """`argv` run as nobody (no supplementary groups)."""
    return [*_SETPRIV, *argv]


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    assert not os.path.exists(path)
