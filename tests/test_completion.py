"""Shell completion: `gate --show-completion bash` prints a script that really completes in bash,
and `gate --install-completion bash` installs it where a new bash finds it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ci import in_ci

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None and not in_ci(), reason="bash is not installed"
)


@pytest.fixture
def gate_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has a `gate` running this checkout, and a HOME of its own."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "gate"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m gate "$@"\n')
    wrapper.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    return {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "SHELL": "/bin/bash",
    }


def bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


COMPLETE = (
    'COMP_WORDS=(gate {words}); COMP_CWORD={cword}; _gate_completion gate; printf "%s\\n" '
    '"${{COMPREPLY[@]}}"'
)


def test_show_completion_prints_a_working_bash_script(gate_on_path: dict[str, str]) -> None:
    shown = bash("gate --show-completion bash", gate_on_path)
    assert shown.returncode == 0, shown.stderr
    assert "complete -o default -F _gate_completion gate" in shown.stdout

    commands = bash(
        "source <(gate --show-completion bash)\n" + COMPLETE.format(words="ins", cword=1),
        gate_on_path,
    )
    assert commands.returncode == 0, commands.stderr
    assert commands.stdout.split() == ["inspect"]

    options = bash(
        "source <(gate --show-completion bash)\n" + COMPLETE.format(words="check --no-s", cword=2),
        gate_on_path,
    )
    assert options.returncode == 0, options.stderr
    assert options.stdout.split() == ["--no-startup"]


def test_install_completion_is_found_by_a_new_bash(gate_on_path: dict[str, str]) -> None:
    installed = bash("gate --install-completion bash", gate_on_path)
    assert installed.returncode == 0, installed.stderr
    home = Path(gate_on_path["HOME"])
    assert (home / ".bash_completions" / "gate.sh").is_file()
    # What an interactive bash does at start: read ~/.bashrc, which now sources the script.
    again = bash("source ~/.bashrc\n" + COMPLETE.format(words="pol", cword=1), gate_on_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["policy"]
