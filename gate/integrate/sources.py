"""Where a document comes from: a path, an http(s) URL, or a CI artifact by name
(`github-artifact:NAME`, `gitlab-artifact:JOB`), read through gate.fetch's bounds.

`gate report`, `gate diff`, `gate merge`, `gate history`, `gate comment`, `gate size
--against` and `--baseline` all name their documents this way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gate.fetch import Origin, fetch_url, is_url, json_object, read_path, shown_source

if TYPE_CHECKING:
    from gate.results.types import Document


def _stderr_warning(message: str) -> None:
    import sys

    sys.stderr.write(f"gate: warning: {message}\n")


def fetch_source(
    source: str, warn: Callable[[str], None] = _stderr_warning
) -> tuple[bytes, Origin]:
    """The raw bytes behind a baseline source, and where they came from.

    `warn` hears about a fallback that still found a baseline (a token that may not
    find the merge base, so the branch tip is used): worth a line, not a failure.
    """
    if source.startswith("github-artifact:"):
        from gate.integrate import ghartifact  # a GitHub Actions artifact, by name

        return ghartifact.fetch(source, warn=warn)
    if source.startswith("gitlab-artifact:"):
        from gate.integrate import glartifact  # a GitLab CI job's artifact, by job name

        return glartifact.fetch(source, warn=warn)
    if is_url(source):
        return fetch_url(source), Origin("url")
    return read_path(source), Origin("file")


def load_document(source: str, warn: Callable[[str], None] = _stderr_warning) -> dict[str, Any]:
    """A JSON object from a path, an http(s) URL or a CI artifact, read with the same
    bounds as a baseline.

    Numbers may still be NaN, infinite or OutOfRange: a reader checks them against the
    format it expects (gate.results does for results documents).
    """
    return json_object([fetch_source(source, warn)[0]], shown_source(source))


def load_results(source: str) -> Document:
    """The validated form of the gate/results/v1 document at `source`.

    SourceMissing when it does not exist, SourceError when it cannot be read as JSON,
    ResultsError when it is not a valid document: all three are DocumentErrors.
    """
    from gate.results.validate import validate

    return validate(load_document(source), shown_source(source))
