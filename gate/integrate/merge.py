"""`gate merge`: the shard documents of one CI matrix -> one results document, one verdict.

Each job of the matrix ran `gate check --shard I/N` and uploaded its gate/results/v1
document; a last job merges them, so a monorepo gets one verdict (the worst), one JUnit
file with a suite per binary, one summary and one PR/MR comment. Nothing is silently
missing or silently doubled:

- a shard that produced no document (its job failed before gate wrote one, or did not
  upload it) is an entry that could not be judged, named by the shard (`shard 3/4`),
  when the expected count is given (`--shards N`; without it, from the documents' own
  `shard.total`);
- a binary judged in two documents, documents judged against different policies or at
  different commits make the merged verdict say so: they are checks of a `gate merge`
  entry (failed), and different gate versions a warning there.

Pure: documents in, a document out (the CLI reads and writes the files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gate.results.schema import RESULTS_SCHEMA, overall_verdict

MERGE_ENTRY = "gate merge"


def merge(
    docs: Sequence[tuple[str, Mapping[str, Any]]], expected_shards: int | None = None
) -> dict[str, Any]:
    """One document from `docs` ((source, validated document), in the order given)."""
    from gate import __version__

    entries: list[dict[str, Any]] = []
    judged: dict[str, str] = {}  # binary path -> where it was judged
    twice: list[str] = []
    shards: dict[int, str] = {}
    checks: list[dict[str, Any]] = []
    totals: set[int] = set()
    skipped: dict[str, Mapping[str, Any]] = {}  # passed over (--skip-unsupported), by path
    for source, doc in docs:
        skipped.update((str(s["path"]), s) for s in doc.get("skipped") or [])
        shard = doc.get("shard")
        where = f"shard {shard['index']}/{shard['total']} ({source})" if shard else source
        if shard:
            totals.add(shard["total"])
            if shard["index"] in shards:
                earlier = shards[shard["index"]]
                twice.append(f"shard {shard['index']}/{shard['total']} in {earlier} and {source}")
            shards.setdefault(shard["index"], source)
        for entry in doc["binaries"]:
            path = str(entry["path"])
            if path in judged:
                twice.append(f"{path} in {judged[path]} and {where}")
                continue
            judged[path] = where
            entries.append(dict(entry))
    total = expected_shards or (max(totals) if totals else None)
    if total is not None:
        entries += [_missing(i, total) for i in range(1, total + 1) if i not in shards]
        other = sorted(t for t in totals if t != total)
        if other:
            checks.append(
                _check(
                    "merge.shards",
                    "fail",
                    f"documents cut into {', '.join(map(str, other))} shards, not {total}:"
                    " not one matrix",
                )
            )
    if twice:
        checks.append(
            _check(
                "merge.duplicates",
                "fail",
                "judged twice, kept the first: "
                + "; ".join(twice[:5])
                + (f"; {len(twice) - 5} more" if len(twice) > 5 else ""),
            )
        )
    checks += _differences(docs)
    if checks:
        entries.append(_merge_entry(checks))
    first = docs[0][1] if docs else {}
    return {
        "schema": RESULTS_SCHEMA,
        "gate_version": __version__,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verdict": overall_verdict(entries),
        "policy": first.get("policy", "unknown"),
        "policy_sources": list(first.get("policy_sources") or []),
        "baseline": first.get("baseline"),
        "commit": first.get("commit"),
        "pull_request": first.get("pull_request"),  # for gate comment --from-artifact
        "shard": None,
        "merged": {
            "documents": [_summary(source, doc) for source, doc in docs],
            "expected_shards": total,
        },
        "binaries": entries,
        "skipped": [dict(s) for s in skipped.values()],
    }


def _differences(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Policies and commits must agree (else no single verdict holds); gate versions may not."""
    found = []
    for key, check_id, status, what in (
        ("policy", "merge.policy", "fail", "judged against different policies"),
        ("commit", "merge.commit", "fail", "judged at different commits"),
        ("gate_version", "merge.versions", "warn", "written by different gate versions"),
    ):
        seen: dict[str, list[str]] = {}
        for source, doc in docs:
            value = doc.get(key)
            if value is not None:
                seen.setdefault(str(value), []).append(source)
        if len(seen) > 1:
            parts = [f"{value} ({', '.join(sources[:3])})" for value, sources in seen.items()]
            found.append(_check(check_id, status, f"{what}: {'; '.join(parts)}"))
    return found


def _summary(source: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    shard = doc.get("shard")
    return {
        "source": source,
        "shard": f"{shard['index']}/{shard['total']}" if shard else None,
        "gate_version": doc.get("gate_version"),
        "policy": doc.get("policy"),
        "verdict": doc.get("verdict"),
        "binaries": len(doc["binaries"]),
    }


def _check(check_id: str, status: str, message: str) -> dict[str, Any]:
    severity = "warn" if status == "warn" else "error"
    return {"id": check_id, "status": status, "measured": None, "limit": None, "unit": None,
            "message": message, "severity": severity}  # fmt: skip


def _blank(path: str) -> dict[str, Any]:
    return {"path": path, "name": path, "verdict": "error", "error": None, "facts": None,
            "startup": None, "attribution": None, "checks": [], "compared_with": None,
            "timings": None, "remedies": []}  # fmt: skip


def _missing(index: int, total: int) -> dict[str, Any]:
    entry = _blank(f"shard {index}/{total}")
    entry["error"] = (
        f"no results from shard {index}/{total}: its job failed before gate wrote them, or "
        "did not pass them on (its binaries were not judged)"
    )
    return entry


def _merge_entry(checks: list[dict[str, Any]]) -> dict[str, Any]:
    entry = _blank(MERGE_ENTRY)
    entry["checks"] = checks
    entry["verdict"] = "fail" if any(c["status"] == "fail" for c in checks) else "pass"
    return entry
