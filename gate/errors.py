"""Errors the gate reports as one line on stderr.

Every error a user can cause (a bad path, a corrupt binary, a bad policy) is a
`GateError`: the CLI prints its message and exits with `exit_code`. Anything else
escaping is a bug in gate and is reported as such.
"""

from __future__ import annotations

from pathlib import Path

# The exit-code contract with every CI system (DESIGN.md section 1).
EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_ERROR = 2


class GateError(Exception):
    """The gate could not judge: the message is shown to the user as is."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(GateError):
    """A value given on the command line cannot be understood."""


class BinaryError(GateError):
    """A binary is missing, unreadable, not ELF, or corrupt."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class UnitError(GateError, ValueError):
    """A size or duration string cannot be parsed."""
