"""What a command says on the console, the same way whichever path ran it: one `gate:
error:` line (outside text made printable), warnings, a report to a path or standard
output, and the guard that turns any escaping error into one line and an exit code instead
of a traceback. Shared by the CLI (gate/cli.py) and the console script's fast path for
`gate inspect` (gate/entry.py), which must not import typer."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

from gate.errors import EXIT_ERROR, GateError


def error(message: str) -> None:
    from gate.values.escape import printable

    sys.stderr.write(f"gate: error: {printable(message)}\n")  # paths may hold ESC, newlines


def warn(message: str) -> None:
    sys.stderr.write(f"gate: warning: {message}\n")


def emit(path: str | None, text: str | Iterable[str]) -> None:
    """A command's report, whole or in pieces: to `path` (written as every report is) or
    standard output."""
    if path is None:
        sys.stdout.writelines((text,) if isinstance(text, str) else text)
    else:
        from gate.report.write import write_reports

        write_reports([(path, text)])


def guarded(command: Callable[[], None], debug: Callable[[], bool]) -> None:
    """Run `command`: a GateError is one line and its exit code, a reader that went away
    (`gate inspect x | head`) exit 2 quietly, Ctrl-C outside a run 130, anything else one
    "internal error" line; with `debug()` true, a traceback instead."""
    try:
        command()
    except GateError as exc:
        if debug():
            raise
        error(str(exc))
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:  # Ctrl-C outside a run (within one, interrupt.py explains)
        error("interrupted (SIGINT)")
        sys.exit(130)
    except Exception as exc:
        if debug():
            raise
        error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)")
        sys.exit(EXIT_ERROR)
