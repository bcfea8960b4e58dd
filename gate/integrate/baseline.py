"""A previous document (a file, URL or CI artifact) for the relative checks: growth,
regression. Read with gate.fetch's bounds (gate.integrate.sources names the source),
validated by gate.results.

Two kinds of failure are kept apart, because `--baseline-optional` forgives only one: a
baseline that cannot be had (SourceUnavailable: no file, no token, no network, HTTP
401/403/404/410/429/5xx, no artifact yet or an expired one) says nothing about the change
under review, so an optional one skips the relative checks with a warning; a baseline that
was had but is wrong (not JSON, not a results document, too large, a hostile zip) is a
broken pipeline and stays an error whatever the flags.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import BaselineNotApplicable, SourceMissing, SourceUnavailable
from gate.fetch import Origin, json_object, shown_source
from gate.integrate.sources import fetch_source

if TYPE_CHECKING:
    from gate.results.types import BaselineRecord, Document, Entry


def _stderr_note(message: str) -> None:
    import sys

    sys.stderr.write(f"gate: baseline: {message}\n")


def entry_for(doc: Document | None, path: str) -> Entry | None:
    """The baseline's entry for a binary: same path, else the same file name."""
    if doc is None:
        return None
    entries = [b for b in doc["binaries"] if isinstance(b, dict)]
    for b in entries:
        if b.get("path") == path:
            return b
    name = Path(path).name
    for b in entries:
        if b.get("name") == name or Path(str(b.get("path", ""))).name == name:
            return b
    return None


def load_baseline(
    source: str,
    optional: bool,
    warn: Callable[[str], None],
    note: Callable[[str], None] = _stderr_note,
) -> tuple[Document | None, BaselineRecord]:
    """(the baseline results or None, what the results record about it).

    With `optional`, a baseline that cannot be had (SourceUnavailable) is one warning
    line and None, so relative checks are skipped, not failed; one that was had but is
    not a valid results document is an error either way. A source found through a CI API
    says in `note` which commit it is, since that decides what the growth is measured on.
    """
    from gate.results.validate import validate

    shown = shown_source(source)
    try:
        raw, origin = fetch_source(source, warn)
    except BaselineNotApplicable as exc:
        note(f"{exc}; growth and regression checks are skipped")
        return None, record(shown, False, reason=str(exc))
    except SourceUnavailable as exc:
        if not optional:
            raise
        absent = "no baseline yet" if isinstance(exc, SourceMissing) else "no baseline"
        warn(f"{exc}; {absent}, so growth and regression checks are skipped")
        return None, record(shown, False, reason=str(exc))
    box = [raw]
    del raw
    doc = validate(json_object(box, shown), shown)
    if origin.said:
        note(origin.said)
    # A file or URL names no commit itself; the one its document was measured at is the
    # next best thing.
    return doc, record(shown, True, origin, commit=doc["commit"])


def record(
    source: str,
    found: bool,
    origin: Origin | None = None,
    reason: str | None = None,
    commit: str | None = None,
) -> BaselineRecord:
    """The results' `baseline` object, every key present (as validation would fill it)."""
    known = Origin("") if origin is None else origin
    return {
        "source": source,
        "found": found,
        "relation": known.relation or None,
        "commit": known.commit or commit,
        "run_id": known.run_id,
        "merge_base": known.merge_base,
        "distance": known.distance,
        "reason": reason,
    }
