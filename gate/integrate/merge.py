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

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, cast

from gate.results.schema import RESULTS_SCHEMA, overall_verdict

if TYPE_CHECKING:
    from gate.results.types import (
        Check,
        Document,
        Entry,
        MergedDocument,
        Skipped,
        Status,
    )

MERGE_ENTRY = "gate merge"


def merge(docs: Sequence[tuple[str, Document]], expected_shards: int | None = None) -> Document:
    """One document from `docs` ((source, validated document), in the order given)."""
    from gate import __version__

    entries: list[Entry] = []
    judged: dict[str, str] = {}  # binary path -> where it was judged
    twice: list[str] = []
    shards: dict[int, str] = {}
    checks: list[Check] = []
    totals: set[int] = set()
    skipped: dict[str, Skipped] = {}  # passed over (--skip-unsupported), by path
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
            entries.append(entry.copy())
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
    first = docs[0][1] if docs else None
    return {
        "schema": RESULTS_SCHEMA,
        "gate_version": __version__,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verdict": overall_verdict(entries),
        "policy": first.get("policy", "unknown") if first else "unknown",
        "policy_sources": list(first.get("policy_sources") or []) if first else [],
        "baseline": first.get("baseline") if first else None,
        "commit": first.get("commit") if first else None,
        # for gate comment --from-artifact
        "pull_request": first.get("pull_request") if first else None,
        "shard": None,
        "merged": {
            "documents": [_summary(source, doc) for source, doc in docs],
            "expected_shards": total,
        },
        "binaries": entries,
        "skipped": [s.copy() for s in skipped.values()],
    }


def _differences(docs: Sequence[tuple[str, Document]]) -> list[Check]:
    """Policies and commits must agree (else no single verdict holds); gate versions may not."""
    found = []
    agree: tuple[tuple[Literal["policy", "commit", "gate_version"], str, Status, str], ...] = (
        ("policy", "merge.policy", "fail", "judged against different policies"),
        ("commit", "merge.commit", "fail", "judged at different commits"),
        ("gate_version", "merge.versions", "warn", "written by different gate versions"),
    )
    for key, check_id, status, what in agree:
        seen: dict[str, list[str]] = {}
        for source, doc in docs:
            value = doc.get(key)
            if value is not None:
                seen.setdefault(str(value), []).append(source)
        if len(seen) > 1:
            parts = [f"{value} ({', '.join(sources[:3])})" for value, sources in seen.items()]
            found.append(_check(check_id, status, f"{what}: {'; '.join(parts)}"))
    return found


def _summary(source: str, doc: Document) -> MergedDocument:
    shard = doc.get("shard")
    return {
        "source": source,
        "shard": f"{shard['index']}/{shard['total']}" if shard else None,
        "gate_version": doc.get("gate_version"),
        "policy": doc.get("policy"),
        "verdict": doc.get("verdict"),
        "binaries": len(doc["binaries"]),
    }


def _check(check_id: str, status: Status, message: str) -> Check:
    return {"id": check_id, "status": status, "measured": None, "limit": None, "unit": None,
            "message": message, "severity": "warn" if status == "warn" else "error"}  # fmt: skip


def _blank(path: str) -> Entry:
    """An entry as gate check writes one that could not be judged, without `not_judged`:
    validation reads it back as "error", what JUnit shows without a policy saying more."""
    return cast("Entry", {"path": path, "name": path, "verdict": "error", "error": None,
                          "facts": None, "startup": None, "attribution": None, "checks": [],
                          "compared_with": None, "timings": None, "remedies": []})  # fmt: skip


def _missing(index: int, total: int) -> Entry:
    entry = _blank(f"shard {index}/{total}")
    entry["error"] = (
        f"no results from shard {index}/{total}: its job failed before gate wrote them, or "
        "did not pass them on (its binaries were not judged)"
    )
    return entry


def _merge_entry(checks: list[Check]) -> Entry:
    entry = _blank(MERGE_ENTRY)
    entry["checks"] = checks
    entry["verdict"] = "fail" if any(c["status"] == "fail" for c in checks) else "pass"
    return entry
