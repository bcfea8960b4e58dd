"""Versioned JSON documents: the machine-readable form of every result."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from gate.elf.facts import BinaryFacts
from gate.errors import BinaryError

FACTS_SCHEMA = "gate/facts/v1"


def facts_to_dict(facts: BinaryFacts) -> dict[str, Any]:
    """FACTS as DESIGN.md section 3 names the keys (extra keys allowed, none renamed)."""
    doc = dataclasses.asdict(facts)
    doc["elf"]["class"] = doc["elf"].pop("elf_class")
    return doc


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


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
