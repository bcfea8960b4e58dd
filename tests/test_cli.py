"""The command line's own contract: version, usage errors, and what it does not import."""

from __future__ import annotations

import json
import subprocess
import sys

from gate import __version__


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"gate {__version__}"


def test_usage_errors_exit_2() -> None:
    for args in (["inspect"], ["inspect", "--bogus", "/bin/sh"], ["no-such-command"]):
        proc = subprocess.run(
            [sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, args
        assert "Traceback" not in proc.stderr
        assert "Error" in proc.stderr


def test_heavy_modules_are_imported_lazily(fixtures) -> None:
    """Start-up is what gate judges: the CLI must not pay for what a command does not use."""
    code = (
        "import sys, json\n"
        "import gate.cli\n"
        "before = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('elftools', 'requests', 'rich', 'junit_xml', 'pydantic'))\n"
        "sys.argv = ['gate', 'inspect', '--json', sys.argv[1]]\n"
        "import contextlib, io\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    gate.cli.main()\n"
        "after = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('elftools', 'requests', 'rich', 'junit_xml', 'pydantic'))\n"
        "print(json.dumps({'before': before, 'after': after}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(fixtures["c-pie"].path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["before"] == []  # `gate --help` and friends load none of them
    roots = {m.split(".")[0] for m in seen["after"]}
    assert roots == {"elftools"}  # inspect needs pyelftools, nothing else heavy
    # ...and only its ELF structures, not the DWARF machinery behind ELFFile.
    assert not any(m.startswith("elftools.dwarf") for m in seen["after"])
