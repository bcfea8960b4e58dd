"""gate installs under its own PyPI name, binary-gate, and still gives the `gate` command.

(The PyPI name `gate` belongs to an unrelated project.) Slowish: builds a wheel and installs
it with pipx into a temporary PIPX_HOME, dependencies from pip's configured index or cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ci import in_ci

from gate import __version__

# Every policy file of the checkout: what an installed gate must list, in that order.
SHIPPED_POLICIES = sorted(
    p.stem for p in (Path(__file__).parent.parent / "policies").glob("*.toml")
)

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_wheel_is_named_binary_gate_and_carries_gate(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    wheels = list(tmp_path.glob("*.whl"))
    assert [w.name for w in wheels] == [f"binary_gate-{__version__}-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as zf:
        names = set(zf.namelist())
        info = f"binary_gate-{__version__}.dist-info"
        metadata = zf.read(f"{info}/METADATA").decode()
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert "Name: binary-gate\n" in metadata
    assert "License-Expression: MIT\n" in metadata
    assert f"{info}/licenses/LICENSE" in names
    assert "gate/cli.py" in names and "gate/policies/default.toml" in names
    assert "gate = gate.entry:main" in entry_points


@pytest.mark.skipif(
    shutil.which("pipx") is None and not in_ci(), reason="pipx is not installed (test extras)"
)
def test_pipx_install_gives_the_gate_command(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(tmp_path / "bin"),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
    }
    proc = subprocess.run(
        ["pipx", "install", str(ROOT)], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gate = tmp_path / "bin" / "gate"
    version = subprocess.run(
        [str(gate), "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert version.stdout.strip() == f"gate {__version__}", version.stderr
    # The built-in policies ship inside the installed package, not beside a checkout.
    policies = subprocess.run(
        [str(gate), "policy", "list"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert [line.split()[0] for line in policies.stdout.splitlines()] == SHIPPED_POLICIES, (
        policies.stderr
    )
    listed = subprocess.run(
        ["pipx", "list", "--short"], capture_output=True, text=True, timeout=60, env=env
    )
    assert listed.stdout.split() == ["binary-gate", __version__]
