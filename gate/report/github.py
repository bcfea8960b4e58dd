"""GitHub Actions: workflow-command annotations per failed or warned check.

GitHub shows at most 10 error and 10 warning annotations per step, so the rest are
counted in a notice rather than silently dropped. Messages carry text from the binary
and the policy: GitHub's escaping keeps each one a single command, so nothing in them
can start another workflow command. Bidirectional controls are `\\uNNNN`, as in the
log, so an annotation cannot show a message in another order than it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from gate.values.escape import bidi_escaped, printable

if TYPE_CHECKING:
    from gate.results.types import Document

MAX_PER_LEVEL = 10  # what GitHub displays per step and level
_LEVEL = {"fail": "error", "warn": "warning"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, title: str, message: str) -> str:
    """One `::error title=...::message` line."""
    return f"::{level} title={_prop(bidi_escaped(title))}::{_data(bidi_escaped(message))}"


def _problems(doc: Document) -> Iterator[tuple[str, str, str]]:
    """(level, title, message) for every binary that errored and every failed or warned check."""
    for binary in doc["binaries"]:
        name = printable(binary["name"] or binary["path"] or "?")  # ESC, newline: escaped
        if binary["error"]:
            yield "error", f"{name}: not judged", binary["error"]
        for check in binary["checks"]:
            level = _LEVEL.get(check["status"])
            if level:
                yield level, f"{name}: {check['id']}", check["message"]


def render_github(doc: Document) -> str:
    """Annotation lines, errors first; over-limit ones are counted in a notice."""
    problems = sorted(_problems(doc), key=lambda p: p[0] != "error")
    lines: list[str] = []
    hidden = {"error": 0, "warning": 0}
    shown = {"error": 0, "warning": 0}
    for level, title, message in problems:
        if shown[level] < MAX_PER_LEVEL:
            shown[level] += 1
            lines.append(command(level, title, message))
        else:
            hidden[level] += 1
    if any(hidden.values()):
        more = ", ".join(f"{n} more {lvl}s" for lvl, n in hidden.items() if n)
        lines.append(command("notice", "gate", f"{more}: see the job summary"))
    return "".join(line + "\n" for line in lines)
