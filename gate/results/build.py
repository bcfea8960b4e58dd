"""Building gate/results/v1 from what was measured: the facts, the start-up runs and
their statistics, the policy and the checks. `gate check` builds it; `gate inspect --json`
and `gate startup --json` wrap the same FACTS and STARTUP bodies (gate/report/json.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from gate.values.stats import CI_METHOD, QUANTILE_METHOD

if TYPE_CHECKING:
    from gate.judge.policy import Policy
    from gate.read.facts import BinaryFacts
    from gate.results.types import (
        Against,
        BaselineRecord,
        Counted,
        Counts,
        CountsAgainst,
        Document,
        Entry,
        Envelope,
        Facts,
        Faults,
        PullRequest,
        Run,
        Skipped,
        Startup,
        Stats,
    )
    from gate.run.measure import Counted as CountedStarts
    from gate.run.measure import StartupResult
    from gate.run.runner import RunSample
    from gate.values.stats import Summary

_TAIL_KEYS = ("stdout_tail", "stderr_tail")


def results_document(
    policy: Policy,
    entries: list[Entry],
    baseline: BaselineRecord | None = None,
    shard: tuple[int, int] | None = None,
    commit: str | None = None,
    pull_request: PullRequest | None = None,
    skipped: Iterable[Skipped] = (),
) -> Document:
    """The gate/results/v1 document; `baseline` says what relative checks compared with,
    `shard` ((index, total), --shard) which share of the binaries this is, `commit` the
    CI's commit (so `gate merge` can tell documents of another commit), `pull_request`
    ({number, head_sha}) the pull request judged (so a comment written later, by another
    workflow, can be checked to belong to it), `skipped` the inputs passed over as not
    ELF (so every report says they were seen and not judged)."""
    from datetime import UTC, datetime

    from gate import __version__
    from gate.results import schema  # its checks are built at import: not for inspect --json

    return {
        "schema": schema.RESULTS_SCHEMA,
        "gate_version": __version__,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verdict": schema.overall_verdict(entries),
        "policy": policy.name,
        "policy_sources": list(policy.sources),
        "baseline": baseline.copy() if baseline else None,
        "commit": commit,
        "pull_request": pull_request.copy() if pull_request else None,
        "shard": {"index": shard[0], "total": shard[1]} if shard else None,
        "merged": None,
        "binaries": entries,
        "skipped": [s.copy() for s in skipped],
    }


def facts_to_dict(facts: BinaryFacts) -> Facts:
    """FACTS as `gate inspect --json` names the keys (extra keys allowed, none renamed)."""
    doc = dataclasses.asdict(facts)
    doc["elf"]["class"] = doc["elf"].pop("elf_class")
    return cast("Facts", doc)


def run_to_dict(run: RunSample) -> Run:
    """A run as the results document names it; output tails only where a run failed."""
    doc = dataclasses.asdict(run)
    doc.pop("mapped_files")  # the start-up's shared_objects say what was mapped
    doc.pop("shared_objects")
    if run.ok:
        for key in _TAIL_KEYS:
            doc.pop(key)
    return cast("Run", doc)


def stats_to_dict(stats: Summary | None, failed: int) -> Stats | None:
    if stats is None:
        return None
    doc = dataclasses.asdict(stats)
    doc["ci"] = {k: list(v) for k, v in stats.ci.items()}
    doc["failed"] = failed
    doc["quantile_method"] = QUANTILE_METHOD
    doc["ci_method"] = CI_METHOD
    return cast("Stats", doc)


def startup_to_dict(result: StartupResult) -> Startup:
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
        "max_rss_bytes": result.max_rss_bytes,
        "faults": cast("Faults | None", result.faults),
        "eviction_detail": None
        if detail is None
        else {
            "method": detail.method,
            "note": detail.note,
            "beyond": list(detail.beyond),
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
        "envelope": cast("Envelope | None", result.envelope.to_dict()),
        "peak_memory_bytes": result.peak_memory_bytes,
        "mapped_objects": result.mapped_objects,
        "open_fds": result.open_fds,
        "shared_objects": list(result.shared_objects),
        "counts": _counts_to_dict(result.counted),
    }


def _counted_to_dict(run: RunSample) -> Counted:
    return {
        "instructions": run.instructions,
        "ok": run.ok,
        "wall_ms": run.wall_ms,
        "error": run.error,
    }


def _counts_to_dict(counted: CountedStarts | None) -> Counts | None:
    if counted is None:
        return None
    summary, cmp = counted.summary, counted.comparison
    against: CountsAgainst | None = None
    if counted.against is not None:
        other = counted.against_summary
        against = {
            "binary": counted.against_binary,
            "runs": [_counted_to_dict(r) for r in counted.against],
            "median": other.median if other else None,
            "ratio_hl": cmp.ratio_hl if cmp else None,
            "ratio_ci": list(cmp.ratio_ci) if cmp else None,
            "p_value": cmp.p_value if cmp else None,
            "confidence": cmp.confidence if cmp else None,
            "pairs": cmp.n_new if cmp else 0,
        }
    return {
        "metric": counted.metric,
        "backend": counted.backend.name,
        "version": counted.backend.version,
        "scope": counted.scope,
        "hardware": counted.hardware,
        "runs": [_counted_to_dict(r) for r in counted.runs],
        "count": summary.count if summary else 0,
        "failed": sum(not r.ok for r in counted.runs),
        "median": summary.median if summary else None,
        "min": summary.min if summary else None,
        "max": summary.max if summary else None,
        "spread_pct": summary.spread_pct if summary else None,
        "stopped": counted.stopped,
        "max_runs": counted.max_runs,
        "against": against,
    }


def _against_to_dict(result: StartupResult) -> Against | None:
    from gate.results import schema

    other = result.against
    if other is None:
        return None
    failed = sum(not r.ok for r in other.runs)
    cmp = other.comparison
    return {
        "binary": other.binary,
        "order": schema.AB_ORDER,
        "runs": [run_to_dict(r) for r in other.runs],
        "stats": stats_to_dict(other.stats, failed),
        "ratio_p50": cmp.ratio_p50 if cmp else None,
        "ratio_hl": cmp.ratio_hl if cmp else None,
        "ratio_ci": list(cmp.ratio_ci) if cmp else None,
        "p_value": cmp.p_value if cmp else None,
        "confidence": cmp.confidence if cmp else None,
        "method": schema.AB_METHOD,
        "pairs": cmp.n_new if cmp else 0,
    }
