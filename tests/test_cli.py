"""The command line's own contract: version, usage errors, and what it does not import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gate import __version__


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"gate {__version__}"


def test_version_does_not_load_the_cli() -> None:
    """`gate --version` is many CI jobs' first call: it answers as the CLI's own
    --version does (`--version --help` goes through the CLI), without importing typer."""
    code = (
        "import sys; sys.argv = ['gate', '--version']; from gate.entry import main; main(); "
        "print(sorted(m for m in ('typer', 'click', 'gate.cli') if m in sys.modules))"
    )
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"gate {__version__}", "[]"]
    via_cli = subprocess.run(
        [sys.executable, "-m", "gate", "--version", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert via_cli.stdout.strip() == f"gate {__version__}"  # the eager option, same line


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


# ---------------------------------------------------------------- issue 21, part 8


def gate(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "CI": "true"}, **kw,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize("form", ["space", "equals"])
def test_startup_json_path_writes_the_file_and_prints_the_text(
    fixtures, tmp_path: Path, form: str
) -> None:
    """`--json PATH` as `gate check` takes it (it was refused as a stray argument) and
    `--json=PATH` (it printed nothing): the document in the file, the summary on stdout."""
    binary = str(fixtures["rt-noop"].path)
    out = tmp_path / "startup.json"
    json_args = ["--json", str(out)] if form == "space" else [f"--json={out}"]
    proc = gate("startup", binary, "--runs", "3", "--warm", *json_args)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == "gate/startup/v1" and len(doc["runs"]) == 3
    lines = proc.stdout.splitlines()
    assert lines[0] == binary
    assert lines[1] == "  3 runs after 1 warmup, warm, ready: exit"
    p50 = next(line.split() for line in lines if line.split()[:1] == ["p50"])
    assert float(p50[1]) == pytest.approx(doc["stats"]["p50_ms"], abs=0.05)


def test_startup_bare_json_still_means_stdout(fixtures, tmp_path: Path) -> None:
    """Before the binary, or with nothing after it, the word is not a path."""
    binary = str(fixtures["rt-noop"].path)
    for argv in (["--json", binary], [binary, "--json"], [binary, "--json", "-"]):
        proc = gate("startup", *argv, "--runs", "2", "--warm", cwd=tmp_path)
        assert proc.returncode == 0, (argv, proc.stderr)
        assert json.loads(proc.stdout)["binary"] == binary, argv
        assert list(tmp_path.iterdir()) == [], argv
    proc = gate("size", binary, "--json", str(tmp_path / "s.json"))  # the same in gate size
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "s.json").read_text())["binary"] == binary


def test_an_empty_argument_is_quoted_where_the_command_is_echoed(fixtures) -> None:
    binary = str(fixtures["rt-noop"].path)
    proc = gate("startup", binary, "--runs", "2", "--warm", "--", "", "a b", "-v")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"{binary} '' 'a b' -v"
    stray = gate("startup", binary, "", "x")
    assert stray.returncode == 2
    assert stray.stderr.splitlines() == [
        f"gate: error: '' x: arguments for the program go after --: gate startup {binary} -- '' x"
    ]


def test_a_forgotten_double_dash_gets_a_hint(fixtures) -> None:
    """An unknown option after the binary is the program's own: say where it goes."""
    binary = str(fixtures["rt-noop"].path)
    proc = gate("startup", binary, "--runs", "2", "--port", "8080")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith(  # click may add its own guesses
        "Error: No such option: --port (options for the program under test go after --: "
        "gate startup BINARY [options] -- --port 8080)"
    )
    check = gate("check", binary, "--no-startup", "--listen=:8080", "-v")
    assert check.returncode == 2
    assert check.stderr.splitlines()[-1].startswith(  # click may add its own guesses
        "Error: No such option: --listen (options for the program under test go after --: "
        "gate check BINARY... [options] -- --listen=:8080)"
    )
    before = gate("startup", "--port", "8080", binary)  # before the binary: gate's own typo
    assert before.returncode == 2
    last = before.stderr.splitlines()[-1]  # no hint about --, only click's own guesses
    assert last.startswith("Error: No such option: --port") and " after --" not in last


def test_options_no_startup_makes_meaningless_are_warned_about(fixtures) -> None:
    binary = str(fixtures["c-pie"].path)
    plain = gate("check", binary, "--no-startup")
    proc = gate(
        "check", binary, "--no-startup", "--runs", "5", "--cpus", "0.5", "--memory", "64MB",
        "--warm", "--", "--port", "1",
    )  # fmt: skip
    assert proc.returncode == plain.returncode == 0, proc.stderr
    assert proc.stdout == plain.stdout
    assert proc.stderr.splitlines() == [
        "gate: warning: --runs, --warm, --cpus, --memory, arguments after --: ignored with "
        "--no-startup (nothing is started)"
    ]
    assert plain.stderr == ""
