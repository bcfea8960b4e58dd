"""Versioned JSON documents: the machine-readable form of every result."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from gate.elf.facts import BinaryFacts

FACTS_SCHEMA = "gate/facts/v1"


def facts_to_dict(facts: BinaryFacts) -> dict[str, Any]:
    """FACTS as DESIGN.md section 3 names the keys (extra keys allowed, none renamed)."""
    doc = dataclasses.asdict(facts)
    doc["elf"]["class"] = doc["elf"].pop("elf_class")
    return doc


def facts_document(all_facts: Sequence[BinaryFacts]) -> dict[str, Any]:
    return {"schema": FACTS_SCHEMA, "binaries": [facts_to_dict(f) for f in all_facts]}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
