"""The body of the one PR/MR comment gate keeps per gate id: marker, summary, what changed.

The marker is how the next run finds the comment to update instead of adding another;
it is an HTML comment, so it does not show. The body stays under GitHub's 65,536
character limit by cutting the summary, never the marker or the verdict line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gate.errors import UsageError
from gate.judge.diff import BinaryDiff
from gate.report.diff import render_diff_markdown
from gate.report.markdown import render_markdown

if TYPE_CHECKING:
    from gate.results.types import Document, Entry

MAX_BODY = 65_000  # GitHub refuses bodies over 65,536 characters
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def marker(comment_id: str) -> str:
    """`<!-- gate:ID -->`; the id is checked so it cannot end the HTML comment early."""
    if not _ID.fullmatch(comment_id):
        raise UsageError(
            f"--id {comment_id!r}: use 1-64 letters, digits, '.', '_' or '-' (e.g. the job name)"
        )
    return f"<!-- gate:{comment_id} -->"


MANY = 10  # binaries: beyond this, passing unchanged ones fold into one table


def render_comment(
    doc: Document,
    comment_id: str,
    diffs: list[BinaryDiff] | None = None,
    footer: str = "",
) -> str:
    """The comment: marker, the summary, then what changed against the baseline.

    A monorepo's comment (more than MANY binaries) shows the failing, warned and changed
    ones first with their explanations and folds the ones that passed unchanged into one
    table. Whatever the count, the body fits GitHub's limit: the summary gets at least
    half of it, what changed the rest, each cut at a line with a note.
    """
    quiet = None
    if len(doc["binaries"]) > MANY:
        moved = {d.name for d in diffs or () if _moved(d)}
        quiet = lambda b: _calm(b) and (b["name"] or b["path"]) not in moved  # noqa: E731
    summary = render_markdown(doc, quiet)
    changes = ""
    if diffs:
        changes = (
            "<details open><summary><b>What changed against the baseline</b></summary>\n\n"
            + render_diff_markdown(diffs)
            + "\n</details>\n"
        )
    tail = f"\n<sub>{footer}</sub>\n" if footer else ""
    head = marker(comment_id) + "\n"
    room = MAX_BODY - len(head) - len(tail)
    changes = _fit(changes, max(room // 2, room - len(summary)), "the diff")
    summary = _fit(summary, room - len(changes), "the job summary")
    return head + summary + ("\n" + changes if changes else "") + tail


def _calm(binary: Entry) -> bool:
    return binary["verdict"] == "pass" and not any(c["status"] == "warn" for c in binary["checks"])


def _moved(diff: BinaryDiff) -> bool:
    """A binary whose size or check statuses moved (or that is new) against the baseline.
    Start-up times differ a little on every run; a move that matters is a check's status
    (max_regression, the percentiles), so they alone do not count; start-up measured in
    another envelope than the baseline's does (its warning is in the diff's notes)."""
    if diff.kind != "changed":
        return True
    size = diff.file_size is not None and diff.file_size.kind != "same"
    return size or bool(diff.checks) or bool(diff.envelope)


def _fit(text: str, room: int, where: str) -> str:
    """`text` cut at a line to fit `room` characters, open <details> closed, with a note."""
    if len(text) <= room:
        return text
    note = f"\n\n… cut to fit a comment: {where} has all of it.\n"
    cut = text[: max(0, room - len(note) - 200)].rsplit("\n", 1)[0]
    unclosed = cut.count("<details") - cut.count("</details>")
    return cut + "\n" + "\n</details>" * max(0, unclosed) + note


def footer(doc: Document, env: Mapping[str, str]) -> str:
    """gate's version, the policy and a link to the job, for the comment's last line."""
    from gate import __version__

    parts = [f"gate {doc['gate_version'] or __version__}", f"policy {doc['policy']}"]
    job = env.get("CI_JOB_URL")
    if not job and env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        job = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    if job and job.startswith(("https://", "http://")):
        parts.append(f'<a href="{job.replace(chr(34), "%22")}">job</a>')
    return " · ".join(parts)
