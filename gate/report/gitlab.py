"""GitLab Code Quality report: failed and warned checks shown in the merge request widget.

GitLab matches issues across pipelines by fingerprint, so a fingerprint names the binary
and the check, never the measured value: a check that keeps failing is one "unchanged"
issue, and a fixed one is reported as resolved.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from gate.values.escape import dump_json

if TYPE_CHECKING:
    from gate.results.types import Document

_SEVERITY = {"fail": "major", "warn": "minor"}


def _issue(path: str, check_name: str, description: str, severity: str) -> dict[str, Any]:
    digest = hashlib.sha256(f"gate\0{path}\0{check_name}".encode()).hexdigest()
    return {
        "type": "issue",
        "check_name": check_name,
        "description": description,
        "categories": ["Performance"],
        "severity": severity,
        "fingerprint": digest,
        "location": {"path": path, "lines": {"begin": 1}},
    }


def render_gitlab(doc: Document) -> str:
    issues = []
    for binary in doc["binaries"]:
        path = binary["path"] or binary["name"] or "?"
        name = binary["name"] or path
        if binary["error"]:
            issues.append(_issue(path, "gate.error", f"{name}: {binary['error']}", "critical"))
        for check in binary["checks"]:
            severity = _SEVERITY.get(check["status"])
            if severity:
                text = f"{name}: {check['id']}: {check['message']}"
                issues.append(_issue(path, check["id"], text, severity))
    return dump_json(issues)
