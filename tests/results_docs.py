"""Building blocks of gate/results/v1 documents for the report tests.

The renderers take the document in the validated form (gate.results), as `gate report`
hands it to them: `document` validates what it builds, filling the optional keys a test
leaves out. These keep the shape in one place so a schema change is made once, not in
every report's tests.
"""

from __future__ import annotations

from typing import Any

from gate.results.validate import validate


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


def facts(path: str = "build/svc", **over: Any) -> dict[str, Any]:
    """FACTS of a small static binary, every key the format requires; `over` replaces keys."""
    doc: dict[str, Any] = {
        "path": path,
        "file_size": 1_000_000,
        "elf": {"class": 64, "machine": "x86_64", "type": "exec", "entry": 4096},
        "linking": {"static": True, "interpreter": None, "needed": [], "rpath": [],
                    "runpath": []},
        "sections": [],
        "totals": {"text": 0, "rodata": 0, "data": 0, "bss": 0, "symbols": 0, "debug": 0},
        "symbols": {"stripped": True, "symtab_entries": 0, "dynsym_entries": 0},
        "debug": {"present": False, "compressed": False, "bytes": 0},
        "hardening": {"nx": True, "relro": "none", "bind_now": False, "textrel": False,
                      "canary": False, "fortify": False},
        "go": None,
    }  # fmt: skip
    doc.update(over)
    return doc


def document(verdict: str, binaries: list[dict[str, Any]], policy: str = "serverless",
             sources: tuple[str, ...] = ("builtin:serverless",)) -> dict[str, Any]:  # fmt: skip
    doc = {
        "schema": "gate/results/v1",
        "gate_version": "0.1.0",
        "created": "2026-11-25T04:50:00Z",
        "verdict": verdict,
        "policy": policy,
        "policy_sources": list(sources),
        "binaries": binaries,
    }
    return validate(doc, "test document")
