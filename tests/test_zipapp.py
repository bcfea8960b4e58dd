"""scripts/build-zipapp: one file that runs gate with no install, and the same bytes every build.

The zipapp is built once per session into a temporary directory (pip takes the pinned wheels
from its cache or the configured index) and run with `python3 -I -S`: no site-packages, so
everything it imports must come from inside the archive, the policies included.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gate import __version__

# Every policy file of the checkout: what an installed gate must list, in that order.
SHIPPED_POLICIES = sorted(
    p.stem for p in (Path(__file__).parent.parent / "policies").glob("*.toml")
)

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build-zipapp"


def build(out: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    digest, path = proc.stdout.strip().splitlines()[-1].split("  ", 1)
    pyz = Path(path)
    assert pyz == out / f"gate-{__version__}.pyz"
    assert hashlib.sha256(pyz.read_bytes()).hexdigest() == digest
    assert (out / f"{pyz.name}.sha256").read_text() == f"{digest}  {pyz.name}\n"
    return pyz


@pytest.fixture(scope="session")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("zipapp-a"))


def run(pyz: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, "-I", "-S", str(pyz), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_version_runs_from_the_archive_alone(zipapp: Path, tmp_path: Path) -> None:
    proc = run(zipapp, "--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"gate {__version__}"
    assert zipapp.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(zipapp, os.X_OK)


def test_policies_come_from_inside_the_archive(zipapp: Path, tmp_path: Path) -> None:
    proc = run(zipapp, "policy", "list", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()] == SHIPPED_POLICIES
    shown = run(zipapp, "policy", "show", "serverless", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "builtin:serverless" in shown.stdout


def test_inspect_and_check(zipapp: Path, fixtures, tmp_path: Path) -> None:
    binary = str(fixtures["c-pie"].path)
    proc = run(zipapp, "inspect", "--json", binary, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["binaries"][0]["path"] == binary

    out = tmp_path / "results.json"
    checked = run(
        zipapp, "check", "--policy", "default", "--no-startup", "--json", str(out), binary,
        cwd=tmp_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(out.read_text())["verdict"] == "pass"


def test_archive_is_pure_python_sorted_and_without_pycache(zipapp: Path) -> None:
    with zipfile.ZipFile(zipapp) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert names == sorted(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".so", "RECORD"))]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert "__main__.py" in names
    assert "gate/policies/default.toml" in names
    assert "gate/cli.pyc" in names  # zipimport never caches: bytecode ships inside


def test_rebuild_is_byte_identical(zipapp: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "b")
    assert again.read_bytes() == zipapp.read_bytes()
