"""The console entry point, kept tiny: `gate check` and `gate startup` split in two here,
and `gate --version` and the plain forms of `gate inspect` are answered without the CLI.

They run code from the change under review, so before anything else the CI's credentials
are withheld (gate/secrets.py) and a keeper process is split off that outlives gate
(gate/run/keeper.py). It happens before the CLI and its dependencies are imported:
the fork then copies a small process, and the worker pays no copy-on-write faults for
a heap it is about to rewrite (a few ms less on every run than forking from cli.main).

`gate inspect BINARY...` and `gate inspect --json BINARY...` (the pre-release check and
the benchmark's form) go straight to gate/inspect_command.py: importing typer and the CLI
costs more than reading the binary does. Any other word (--help, --json=PATH, a path
starting with -) goes through the CLI, which calls the same function.
"""

from __future__ import annotations

import os
import sys

_RUN_PROGRAMS = ("check", "startup")


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # a CI job's first call: answered without the CLI
        from gate import __version__

        print(f"gate {__version__}")
        return
    if sys.argv[1:2] == ["inspect"]:
        from gate.inspect_command import plain_inspect

        plain = plain_inspect(sys.argv[2:])
        if plain is not None:
            _inspect(*plain)
            return
    words = [w for w in sys.argv[1:] if not w.startswith("-")]
    if words[:1] and words[0] in _RUN_PROGRAMS:
        from gate.secrets import withhold

        withhold()
        if not os.environ.get("GATE_NO_KEEPER"):
            from gate.run.keeper import split

            split()
    from gate.cli import main as run

    run()


def _inspect(binaries: list[str], json_out: str | None) -> None:
    from gate.console import guarded
    from gate.inspect_command import run_inspect

    debug = bool(os.environ.get("GATE_DEBUG"))

    def command() -> None:
        code = run_inspect(binaries, json_out, debug)
        if code:
            sys.exit(code)

    guarded(command, lambda: debug)
