"""Every format a results document is rendered in, by name: one registry.

`gate check` (its --junit/--json/--markdown/--metrics files and the text log), `gate
report --format` and the GitHub Action (through `gate report`) all pick from here, so a
new format is one function and one line below. Each renderer is imported when used:
`gate check` writing JUnit never pays for the Markdown or metrics modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from gate.results.types import Document

Renderer = Callable[["Document"], str]


class NothingToWrite(Exception):
    """A format whose reader fails on an empty report (github-action-benchmark on `[]`):
    the caller writes no file and warns with this message, instead of an error."""


def _text(doc: Document) -> str:
    from gate.report.text import render_checks

    return render_checks(doc) + "\n"


def _json(doc: Document) -> str:
    from gate.report.json import dumps

    return dumps(doc)


def _junit(doc: Document) -> str:
    from gate.report.junit import render_junit

    return render_junit(doc)


def _markdown(doc: Document) -> str:
    from gate.report.markdown import render_markdown

    return render_markdown(doc)


def _metrics(doc: Document) -> str:
    from gate.report.metrics import render_metrics

    return render_metrics(doc)


def _metrics_summary(doc: Document) -> str:
    from gate.report.metrics import render_metrics_summary

    return render_metrics_summary(doc)


def _github(doc: Document) -> str:
    from gate.report.github import render_github

    return render_github(doc)


def _gitlab(doc: Document) -> str:
    from gate.report.gitlab import render_gitlab

    return render_gitlab(doc)


def _bmf(doc: Document) -> str:
    from gate.report.bmf import render_bmf

    return render_bmf(doc)


def _benchmark_action(doc: Document) -> str:
    from gate.report.benchmark_action import render_benchmark_action

    return render_benchmark_action(doc)


RENDERERS: dict[str, Renderer] = {
    "text": _text,  # the CI log: a verdict per binary, one line per check
    "json": _json,  # gate/results/v1 itself
    "junit": _junit,  # a suite per binary, a test case per check
    "markdown": _markdown,  # the job summary
    "metrics": _metrics,  # OpenMetrics text
    "metrics-summary": _metrics_summary,  # size, p50, p95 per binary: GitLab's MR widget
    "github": _github,  # workflow commands: annotations
    "gitlab": _gitlab,  # Code Quality JSON
    "bmf": _bmf,  # Bencher Metric Format JSON: bencher run --adapter json
    "benchmark-action": _benchmark_action,  # github-action-benchmark customSmallerIsBetter
}
FORMATS = tuple(RENDERERS)


class ReportFile(NamedTuple):
    """A format `gate check` and `gate merge` write to a path given by an option, declared
    once: the commands' options come from here (cli._writes_reports), and a test holds the
    GitHub Action and both GitLab templates to the same options and file names."""

    option: str
    help: str
    ci_name: str  # its name in the Action's and the GitLab job's report directory
    action_output: str | None  # the Action's output with its path (None: not written there)


REPORT_FILES: dict[str, ReportFile] = {
    "junit": ReportFile("--junit", "Write JUnit XML here.", "junit.xml", "junit"),
    "json": ReportFile(
        "--json", "Write the results JSON here (- for stdout).", "results.json", "results-json"
    ),
    "markdown": ReportFile(
        "--markdown", "Write a Markdown summary here.", "summary.md", "markdown"
    ),
    "metrics": ReportFile("--metrics", "Write OpenMetrics text here.", "metrics.txt", "metrics"),
    "metrics-summary": ReportFile(
        "--metrics-summary",
        "Write OpenMetrics text with only file size and start-up p50/p95 per binary here "
        "(GitLab's merge request metrics widget).",
        "mr-metrics.txt",
        None,  # GitHub has no merge request metrics widget
    ),
}


def render(doc: Document, fmt: str) -> str:
    """`doc` in format `fmt` (one of FORMATS)."""
    return RENDERERS[fmt](doc)


def render_pieces(doc: Document, fmt: str) -> str | Iterable[str]:
    """render(doc, fmt) for write_reports: the results document itself (json, tens of MB
    when merged) as text in pieces made while it is written (escape.json_chunks, the same
    bytes); every other format whole, rendered here, so NothingToWrite comes before any
    file is touched."""
    if fmt == "json":
        from gate.values.escape import json_chunks

        return json_chunks(doc)
    return render(doc, fmt)
