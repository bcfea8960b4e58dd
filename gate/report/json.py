"""JSON output: the facts and start-up documents, and writing any document as text.

gate/facts/v1 (`gate inspect --json`) and gate/startup/v1 (`gate startup --json`) are
renderings of one command's measurements and are never read back, so they live here with
the other renderings. Their bodies (FACTS, STARTUP) are parts of the results document and
are built by gate.results, the one owner of that format, so the three documents cannot
drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gate.errors import BinaryError
from gate.results.build import facts_to_dict, startup_to_dict
from gate.values.escape import dump_json

if TYPE_CHECKING:
    from gate.read.facts import BinaryFacts
    from gate.run.measure import StartupResult

FACTS_SCHEMA = "gate/facts/v1"
STARTUP_SCHEMA = "gate/startup/v1"


def facts_document(
    all_facts: Sequence[BinaryFacts], errors: Sequence[BinaryError] = ()
) -> dict[str, Any]:
    """gate/facts/v1; binaries that could not be read are listed, not dropped."""
    doc: dict[str, Any] = {
        "schema": FACTS_SCHEMA,
        "binaries": [facts_to_dict(f) for f in all_facts],
    }
    if errors:
        doc["errors"] = [{"path": e.path, "error": e.problem} for e in errors]
    return doc


def startup_document(result: StartupResult) -> dict[str, Any]:
    return {"schema": STARTUP_SCHEMA, **startup_to_dict(result)}


def dumps(doc: Mapping[str, Any]) -> str:
    """JSON as UTF-8 text, bidirectional controls as `\\uNNNN` (the data is unchanged):
    escape.dump_json, the one writer of every JSON export."""
    return dump_json(doc)
