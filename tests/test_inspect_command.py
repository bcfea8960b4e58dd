"""gate/inspect_command.py: `gate inspect`'s plain forms are answered by the console script
without typer, and say exactly what the CLI says for the same binaries: the same bytes on
stdout and stderr, the same exit code. The CLI path is forced with a form the fast path
leaves to it (`--` before the binaries, `--json=-`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

import pytest
from reference import Fixture

from gate.inspect_command import plain_inspect


def gate(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "plain"),
    [
        (["a", "b"], (["a", "b"], None)),
        (["--json", "a"], (["a"], "-")),
        (["a", "--json"], (["a"], "-")),
        (["--json"], None),  # no binary: the CLI says what is missing
        ([], None),
        (["--json=out.json", "a"], None),
        (["--json", "-", "a"], None),  # `--json -`: the CLI reads `-` as the path
        (["--help"], None),
        (["--", "a"], None),
        (["a", "-b"], None),
    ],
)
def test_only_plain_forms_take_the_fast_path(
    args: list[str], plain: tuple[list[str], str | None] | None
) -> None:
    assert plain_inspect(args) == plain


def test_the_fast_path_says_what_the_cli_says(
    fixtures: Mapping[str, Fixture], tmp_path_factory: pytest.TempPathFactory
) -> None:
    go = str(fixtures["go1.27-hello-sw"].path)
    text = tmp_path_factory.mktemp("inspect") / "notes.txt"
    text.write_text("root:x:0:0\n")
    for binaries in ([go], [go, "/no/such/file", str(text)]):
        fast, cli = gate("inspect", *binaries), gate("inspect", "--", *binaries)
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            cli.returncode,
            cli.stdout,
            cli.stderr,
        )
        fast, cli = gate("inspect", "--json", *binaries), gate("inspect", "--json=-", *binaries)
        assert (fast.returncode, fast.stdout, fast.stderr) == (
            cli.returncode,
            cli.stdout,
            cli.stderr,
        )
    assert fast.returncode == 2 and b"/no/such/file: no such file" in fast.stderr
    assert b'"schema": "gate/facts/v1"' in fast.stdout


def test_the_fast_path_imports_no_cli(fixtures: Mapping[str, Fixture]) -> None:
    go = str(fixtures["go1.27-hello-sw"].path)
    code = (
        f"import sys; sys.argv = ['gate', 'inspect', '--json', {go!r}]\n"
        "from gate.entry import main\nmain()\n"
        "sys.stderr.write(repr(sorted(m for m in ('typer', 'click', 'gate.cli') "
        "if m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "[]"
