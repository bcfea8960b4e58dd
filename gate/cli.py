"""Command line: options -> pipeline -> exit code. Thin on purpose.

Each command imports what it needs inside its body, so `gate --help` and
`gate inspect` never pay for requests, rich or the start-up machinery.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from gate import __version__
from gate.errors import EXIT_ERROR, BinaryError, GateError

app = typer.Typer(
    name="gate",
    help="May this build ship? Measure a built ELF binary and judge it against a policy.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state = {"debug": bool(os.environ.get("GATE_DEBUG"))}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when something goes wrong.")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    _state["debug"] = _state["debug"] or debug


def _error(message: str) -> None:
    sys.stderr.write(f"gate: error: {message}\n")


@app.command()
def inspect(
    binaries: Annotated[
        list[Path], typer.Argument(metavar="BINARY", help="ELF binaries to inspect.")
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a gate/facts/v1 JSON document.")
    ] = False,
) -> None:
    """ELF facts: size, sections, type, linking, hardening, Go build. Never runs the binary."""
    from gate.elf.facts import inspect_binary

    results = []
    errors: list[BinaryError] = []
    for path in binaries:
        try:
            results.append(inspect_binary(path))
        except BinaryError as exc:
            if _state["debug"]:
                raise
            errors.append(exc)
            _error(str(exc))
    if json_out:
        from gate.report.json import dumps, facts_document

        sys.stdout.write(dumps(facts_document(results, errors)))
    else:
        from gate.report.text import render_facts

        sys.stdout.write("\n\n".join(render_facts(f) for f in results) + ("\n" if results else ""))
    if errors:
        raise typer.Exit(EXIT_ERROR)


def main() -> None:
    """Console entry point: GateError -> one line and exit 2; never a traceback by default."""
    try:
        app()
    except GateError as exc:
        if _state["debug"]:
            raise
        _error(str(exc))
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # `gate inspect x | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)
    except Exception as exc:
        if _state["debug"]:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)")
        sys.exit(EXIT_ERROR)
