"""Reading gate/results/v1 back: `validate` turns untrusted JSON into the validated form
that gate/results/schema.py describes, or one ResultsError line naming the file and the
JSON path (`base.json: binaries[0].facts.file_size: expected a non-negative integer, got
NaN`). Reading the bytes (a file, a URL, an artifact) is gate.integrate.sources'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from gate.errors import DocumentError
from gate.results.schema import DOCUMENT, RESULTS_SCHEMA
from gate.results.spec import Invalid, clip, describe, json_kind

if TYPE_CHECKING:
    from gate.results.types import Document


class ResultsError(DocumentError):
    """A file that is not a valid gate/results/v1 document. A DocumentError like a source
    that cannot be read, so what carries on without one carries on without the other."""


def validate(doc: Any, source: str) -> Document:
    """`doc` in the validated form (see the module's docstring), or ResultsError.

    Missing optional keys are filled in place, so the same object is returned; `source`
    names the file in the error.
    """
    if not isinstance(doc, dict):
        raise ResultsError(f"{source}: not a gate document (a JSON {json_kind(doc)})")
    schema = doc.get("schema")
    if schema != RESULTS_SCHEMA:
        shown = clip(repr(schema), 60) if isinstance(schema, str) else describe(schema)
        raise ResultsError(
            f"{source}: not a gate results file (schema {shown}, expected {RESULTS_SCHEMA!r})"
        )
    try:
        DOCUMENT.check(doc, "")
    except Invalid as exc:
        raise ResultsError(f"{source}: {exc.path}: {exc.problem}") from None
    return cast("Document", doc)
