"""The body of the one PR/MR comment gate keeps per gate id: marker, summary, what changed.

The marker is how the next run finds the comment to update instead of adding another;
it is an HTML comment, so it does not show. The body stays under GitHub's 65,536
character limit by cutting the summary, never the marker or the verdict line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gate.diff import BinaryDiff
from gate.errors import UsageError
from gate.report.diff import render_diff_markdown
from gate.report.markdown import render_markdown

MAX_BODY = 65_000  # GitHub refuses bodies over 65,536 characters
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def marker(comment_id: str) -> str:
    """`<!-- gate:ID -->`; the id is checked so it cannot end the HTML comment early."""
    if not _ID.fullmatch(comment_id):
        raise UsageError(
            f"--id {comment_id!r}: use 1-64 letters, digits, '.', '_' or '-' (e.g. the job name)"
        )
    return f"<!-- gate:{comment_id} -->"


def render_comment(
    doc: dict[str, Any],
    comment_id: str,
    diffs: list[BinaryDiff] | None = None,
    footer: str = "",
) -> str:
    summary = render_markdown(doc)
    changes = ""
    if diffs:
        changes = (
            "<details open><summary><b>What changed against the baseline</b></summary>\n\n"
            + render_diff_markdown(diffs)
            + "\n</details>\n"
        )
    tail = f"\n<sub>{footer}</sub>\n" if footer else ""
    head = marker(comment_id) + "\n"
    room = MAX_BODY - len(head) - len(changes) - len(tail)
    if len(summary) > room:
        note = "\n\n… cut to fit a comment: the job summary has all of it.\n"
        cut = summary[: max(0, room - len(note) - 200)].rsplit("\n", 1)[0]
        unclosed = cut.count("<details") - cut.count("</details>")
        summary = cut + "\n" + "\n</details>" * max(0, unclosed) + note
    return head + summary + ("\n" + changes if changes else "") + tail


def footer(doc: dict[str, Any], env: Mapping[str, str]) -> str:
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
