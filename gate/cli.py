"""Command line: options -> pipeline -> exit code. Thin on purpose.

Each command imports what it needs inside its body, so `gate --help` and
`gate inspect` never pay for requests, rich or the start-up machinery.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from gate import __version__
from gate.errors import EXIT_ERROR, EXIT_FAIL, BinaryError, GateError, UsageError

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


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM while a program runs: unwind, so the run's processes are stopped and reaped."""
    raise GateError("terminated by SIGTERM; stopped the program under test")


def _resolve_program(binary: str) -> str:
    """A bare name that is not a file here is looked up on PATH, as a shell would."""
    if "/" not in binary and not os.path.exists(binary):
        import shutil

        return shutil.which(binary) or binary
    return binary


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


@app.command()
def startup(
    binary: Annotated[str, typer.Argument(metavar="BINARY", help="The program to start.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(metavar="[-- ARGS...]", help="Arguments for the program; {port} is filled."),
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed starts.")] = 10,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed starts first.")] = 1,
    cold: Annotated[
        bool, typer.Option("--cold/--warm", help="Evict the binary and its libraries first.")
    ] = True,
    drop_caches: Annotated[
        bool, typer.Option("--drop-caches", help="Cold: drop the whole page cache (root).")
    ] = False,
    ready: Annotated[
        str,
        typer.Option(
            "--ready",
            help="exit | notify | line:REGEX | tcp:PORT | http://127.0.0.1:{port}/healthz",
        ),
    ] = "exit",
    timeout: Annotated[str, typer.Option("--timeout", help="Per start, e.g. 10s.")] = "10s",
    grace: Annotated[str, typer.Option("--grace", help="SIGTERM to SIGKILL, e.g. 1s.")] = "1s",
    env: Annotated[
        list[str] | None, typer.Option("--env", help="KEY=VALUE for the program; repeatable.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a gate/startup/v1 JSON document.")
    ] = False,
) -> None:
    """Time N cold starts of a program, to exit or until it is ready."""
    from gate.report.progress import RunProgress
    from gate.startup.measure import measure
    from gate.startup.ready import parse_ready
    from gate.startup.runner import RunConfig
    from gate.units import parse_duration

    cfg = RunConfig(
        binary=_resolve_program(binary),
        args=tuple(args or ()),
        env=_parse_env(env or []),
        ready=parse_ready(ready),
        timeout_s=parse_duration(timeout) / 1000,
        grace_s=parse_duration(grace) / 1000,
        cold=cold,
        drop_caches=drop_caches,
    )
    progress = RunProgress(Path(binary).name)
    previous = signal.signal(signal.SIGTERM, _terminated)  # a cancelled CI job: clean up first
    try:
        result = measure(cfg, runs, warmup, progress)
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.finish()
    if json_out:
        from gate.report.json import dumps, startup_document

        sys.stdout.write(dumps(startup_document(result)))
    else:
        from gate.report.text import render_startup

        sys.stdout.write(render_startup(result) + "\n")
    if result.stats is None:
        first = next((r.error for r in result.runs if r.error), "no run succeeded")
        raise GateError(f"{binary}: all {len(result.runs)} runs failed; first: {first}")
    if result.failed:
        raise typer.Exit(EXIT_FAIL)


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
