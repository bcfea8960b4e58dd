"""Building blocks of gate/results/v1 documents for the report tests.

The renderers take the document as plain data; these keep the shape in one place
so a schema change is made once, not in every report's tests.
"""

from __future__ import annotations

from typing import Any


def check(
    check_id: str,
    status: str,
    measured: Any = None,
    limit: Any = None,
    unit: str | None = None,
    message: str = "",
    severity: str = "error",
) -> dict[str, Any]:
    return {"id": check_id, "status": status, "severity": severity, "measured": measured,
            "limit": limit, "unit": unit, "message": message}  # fmt: skip


def document(verdict: str, binaries: list[dict[str, Any]], policy: str = "serverless",
             sources: tuple[str, ...] = ("builtin:serverless",)) -> dict[str, Any]:  # fmt: skip
    return {
        "schema": "gate/results/v1",
        "gate_version": "0.1.0",
        "created": "2026-11-25T04:50:00Z",
        "verdict": verdict,
        "policy": policy,
        "policy_sources": list(sources),
        "binaries": binaries,
    }
