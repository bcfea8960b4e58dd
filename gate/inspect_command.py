"""The whole `gate inspect`: each binary's facts as text or as a gate/facts/v1 document,
an error line for each that cannot be read (the others are still shown), exit 2 if any
could not. Called by the CLI and, for its plain forms, straight from the console script
(gate/entry.py), so the most common call pays for no command-line framework."""

from __future__ import annotations

import sys

from gate.console import emit, error
from gate.errors import EXIT_ERROR, BinaryError


def run_inspect(binaries: list[str], json_out: str | None, debug: bool) -> int:
    """The exit code: 0, or 2 when a binary could not be inspected."""
    from gate.read.facts import inspect_binary

    results = []
    errors: list[BinaryError] = []
    for path in binaries:
        try:
            results.append(inspect_binary(path))
        except BinaryError as exc:
            if debug:
                raise
            errors.append(exc)
            error(str(exc))
    if json_out is not None:
        from gate.report.json import dumps, facts_document

        emit(json_out, dumps(facts_document(results, errors)))
    else:
        from gate.report.text import render_facts

        sys.stdout.write("\n\n".join(render_facts(f) for f in results) + ("\n" if results else ""))
    return EXIT_ERROR if errors else 0


def plain_inspect(args: list[str]) -> tuple[list[str], str | None] | None:
    """(binaries, json_out) when `args` (the words after `inspect`) are only binaries and
    bare `--json`s, which the CLI reads the same way (a bare --json is standard output:
    cli._bare_json); None for anything else (--help, --json=PATH, `--`, a path starting
    with -), which goes through the CLI."""
    binaries = [a for a in args if a != "--json"]
    if not binaries or any(a.startswith("-") for a in binaries):
        return None
    return binaries, ("-" if "--json" in args else None)
