"""The .pre-commit-hooks.yaml hook under the real pre-commit (`pre-commit try-repo`).

A sample git repository in tmp holds built binaries; pre-commit installs this checkout into its
own virtualenv with pip, offline: PIP_NO_INDEX and a wheel directory prepared once (this
checkout's dependencies and its build backend, from pip's configured index or cache). Slowish:
two hook environments are installed (about 7 s each).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci import in_ci

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("pre-commit") is None and not in_ci(), reason="pre-commit (test extras)"
    ),
    pytest.mark.skipif(shutil.which("git") is None and not in_ci(), reason="git is not installed"),
]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--error-unmatch", ".pre-commit-hooks.yaml"],
        capture_output=True,
        text=True,
    )
    assert tracked.returncode == 0, (
        "try-repo sees tracked files only: git add .pre-commit-hooks.yaml"
    )
    where = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "-d", str(where), str(ROOT),
         "setuptools>=77"],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return where


@pytest.fixture
def sample(fixtures, tmp_path: Path) -> Path:
    repo = tmp_path / "sample"
    (repo / "bin").mkdir(parents=True)
    shutil.copy(fixtures["c-pie"].path, repo / "bin" / "svc")
    shutil.copy(fixtures["c-execstack"].path, repo / "bin" / "bad")  # built, not tracked
    (repo / "bin" / "README.txt").write_text("not a binary: types: [binary] skips it\n")
    (repo / "main.c").write_text("int main(void) { return 0; }\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for cmd in (["init", "-q"], ["add", "bin/svc", "bin/README.txt", "main.c"],
                ["commit", "-q", "-m", "sample"]):  # fmt: skip
        subprocess.run([*git, *cmd], check=True, capture_output=True)
    return repo


def try_repo(repo: Path, wheelhouse: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home = repo.parent
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home / "pre-commit"),
        "VIRTUALENV_OVERRIDE_APP_DATA": str(home / "virtualenv"),
        # Offline: only the wheel directory, none of this machine's pip configuration.
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_CONSTRAINT": "",
    }
    return subprocess.run(
        ["pre-commit", "try-repo", str(ROOT), "gate", "--color", "never", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo,
        env=env,
    )


def test_hook_passes_a_good_binary(sample: Path, wheelhouse: Path) -> None:
    proc = try_repo(sample, wheelhouse, "--all-files", "--verbose")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate (ELF merge gate)" in proc.stdout and "Passed" in proc.stdout
    assert "bin/svc: PASS" in proc.stdout  # the files: glob picked it, the README was skipped
    assert "README" not in proc.stdout.split("Passed", 1)[1]


def test_hook_blocks_a_binary_the_policy_fails(sample: Path, wheelhouse: Path) -> None:
    proc = try_repo(sample, wheelhouse, "--files", "bin/bad")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Failed" in proc.stdout
    assert "bin/bad: FAIL" in proc.stdout and "elf.nx" in proc.stdout
