"""Errors the gate reports as one line on stderr.

Every error a user can cause (a bad path, a corrupt binary, a bad policy) is a
`GateError`: the CLI prints its message and exits with `exit_code` (2 unless said).
Anything else escaping is a bug in gate and is reported as such ("internal error").

    GateError                     could not judge: one line, exit 2
    +-- UsageError                a value on the command line (errors.py)
    +-- UnitError                 a size or duration string; also a ValueError (errors.py)
    +-- BinaryError               missing, unreadable, not ELF, corrupt (errors.py)
    +-- PolicyError               a policy file, with where in it (judge/policy.py)
    +-- DocumentError             a document gate reads (a baseline, results, an artifact's)
    |   |                         cannot be used (errors.py)
    |   +-- SourceError           ... because it cannot be read as JSON: too large, not a
    |   |   |                     file, not JSON, HTTP 400 (fetch.py, the artifact readers)
    |   |   +-- SourceUnavailable ... because it cannot be had: no token, no network, HTTP
    |   |       |                 401/403/410/5xx, expired (--baseline-optional skips)
    |   |       +-- SourceMissing ... because it does not exist yet: no file, HTTP 404
    |   |       +-- BaselineNotApplicable  nothing to compare with here (the default branch)
    |   +-- ResultsError          ... because it is not a valid gate/results/v1 (results/)
    +-- ForgeError                the GitHub/GitLab API refused or failed (integrate/forge.py)
    +-- StartError                the program cannot be started, or stopped (run/runner.py)
    +-- Interrupted               a stop signal while programs ran; SIGINT exits 130 (errors.py)

Not errors: forge.CommentSkipped (a token that may not write: the comment is skipped,
exit 0), and check's per-binary "could not judge", recorded in the results entry.
"""

from __future__ import annotations

from pathlib import Path

# The exit-code contract with every CI system (README, "Exit codes and errors").
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


class DocumentError(GateError):
    """A document gate was given to read cannot be used. What carries on without one (the
    comment's "what changed" table without a baseline) catches this, whatever the cause."""


class SourceError(DocumentError):
    """The source cannot be read as JSON: too large, not a file or a pipe, not JSON, an
    HTTP answer that says the request was wrong. No flag forgives it."""


class SourceUnavailable(SourceError):
    """The source cannot be had: nothing says it is broken, only that it is not here (no
    token, no network, refused, expired). `--baseline-optional` skips the relative checks."""


class SourceMissing(SourceUnavailable):
    """The source does not exist (yet): no file, HTTP 404, no artifact: the first run."""


class BaselineNotApplicable(SourceUnavailable):
    """Nothing to compare with by design (a pipeline on the default branch): the relative
    checks skip even where a baseline is required, since none could ever be had here."""


class UnitError(GateError, ValueError):
    """A size or duration string cannot be parsed."""


class Interrupted(GateError):
    """SIGTERM, SIGINT, SIGHUP or SIGQUIT while programs ran; raised once they are stopped."""

    def __init__(self, signum: int) -> None:
        import signal

        name = signal.Signals(signum).name
        verb = "interrupted" if signum == signal.SIGINT else "terminated"
        super().__init__(f"{verb} by {name}; stopped the program under test")
        self.exit_code = 130 if signum == signal.SIGINT else EXIT_ERROR
