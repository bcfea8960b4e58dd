"""Versioned JSON documents: the machine-readable form of every result."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gate.elf.facts import BinaryFacts
from gate.errors import BinaryError

if TYPE_CHECKING:
    from gate.startup.measure import StartupResult
    from gate.startup.runner import RunSample
    from gate.startup.stats import Summary

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


STARTUP_SCHEMA = "gate/startup/v1"
_TAIL_KEYS = ("stdout_tail", "stderr_tail")


def run_to_dict(run: RunSample) -> dict[str, Any]:
    """A run as DESIGN.md section 4 names it; output tails only where a run failed."""
    doc = dataclasses.asdict(run)
    if run.ok:
        for key in _TAIL_KEYS:
            doc.pop(key)
    return doc


def stats_to_dict(stats: Summary | None, failed: int) -> dict[str, Any] | None:
    if stats is None:
        return None
    doc = dataclasses.asdict(stats)
    doc["ci"] = {k: list(v) for k, v in stats.ci.items()}
    doc["failed"] = failed
    doc["quantile_method"] = "type 7 (linear interpolation)"
    doc["ci_method"] = "order statistics (binomial), distribution-free"
    return doc


def startup_to_dict(result: StartupResult) -> dict[str, Any]:
    detail = result.eviction_detail
    return {
        "binary": result.binary,
        "args": list(result.args),
        "ready": result.ready,
        "cold": result.cold,
        "eviction": result.eviction,
        "warmup": result.warmup,
        "requested_runs": result.requested,
        "timeout_s": result.timeout_s,
        "runs": [run_to_dict(r) for r in result.runs],
        "stats": stats_to_dict(result.stats, result.failed),
        "eviction_detail": None
        if detail is None
        else {
            "method": detail.method,
            "note": detail.note,
            "files": [
                {
                    "path": b.path,
                    "pages": b.pages,
                    "resident_before": b.resident,
                    "resident_after": a.resident,
                }
                for b, a in zip(detail.before, detail.after, strict=True)
            ],
        },
        "adaptive": None
        if result.max_runs is None
        else {
            "min_runs": result.requested,
            "max_runs": result.max_runs,
            "runs": len(result.runs),
            "stopped": result.stopped,
        },
        "stopped": result.stopped,
        "against": _against_to_dict(result),
        "environment": dict(result.environment) if result.environment else None,
        "breakdown": None,
    }


def _against_to_dict(result: StartupResult) -> dict[str, Any] | None:
    other = result.against
    if other is None:
        return None
    failed = sum(not r.ok for r in other.runs)
    cmp = other.comparison
    return {
        "binary": other.binary,
        "order": "ABBA (interleaved)",
        "runs": [run_to_dict(r) for r in other.runs],
        "stats": stats_to_dict(other.stats, failed),
        "ratio_p50": cmp.ratio_p50 if cmp else None,
        "ratio_hl": cmp.ratio_hl if cmp else None,
        "ratio_ci": list(cmp.ratio_ci) if cmp else None,
        "p_value": cmp.p_value if cmp else None,
        "confidence": cmp.confidence if cmp else None,
        "method": "paired by round: Hodges-Lehmann ratio of log times, Wilcoxon signed-rank "
        "interval and p-value",
        "pairs": cmp.n_new if cmp else 0,
    }


def startup_document(result: StartupResult) -> dict[str, Any]:
    return {"schema": STARTUP_SCHEMA, **startup_to_dict(result)}
