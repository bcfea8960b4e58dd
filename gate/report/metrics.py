"""Metrics: OpenMetrics text, read by GitLab's `metrics` report and by Prometheus.

Rendered from a gate/results/v1 document. GitLab compares `name{labels} value` lines
between the merge request and its target branch, so every number a reviewer may want
to see move (bytes, start-up seconds, check counts, the verdict) is one sample, labelled
by binary. All families are gauges: each report is a snapshot, not a running count.
No timestamps: the scraper (or GitLab) records when it read the file.

The same text parses as the Prometheus 0.0.4 text format: `# UNIT` and `# EOF` are
comments there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

_TOTAL_KINDS = ("text", "rodata", "data", "bss", "symbols", "debug")
_QUANTILES = (("0.5", "p50_ms"), ("0.9", "p90_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))
_STATUSES = ("pass", "fail", "warn", "skip")
_VERDICTS = {"pass": 0, "fail": 1, "error": 2}
TOP_PACKAGES = 20

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, int | float]


def render_metrics(doc: Mapping[str, Any]) -> str:
    """OpenMetrics exposition for a gate/results/v1 document, ending in `# EOF`."""
    binaries = doc["binaries"]
    labels = _labels(binaries)
    pairs = list(zip(binaries, labels, strict=True))
    families: list[tuple[str, str, str | None, list[Sample]]] = [
        (
            "gate_file_bytes",
            "File size of the binary.",
            "bytes",
            [((("binary", b),), f["file_size"]) for f, b in _facts(pairs)],
        ),
        (
            "gate_package_bytes",
            f"Go code bytes of the {TOP_PACKAGES} largest packages (from the function table).",
            "bytes",
            list(_packages(pairs)),
        ),
        (
            "gate_section_bytes",
            "Size of each ELF section with a non-zero size.",
            "bytes",
            list(_sections(pairs)),
        ),
        (
            "gate_size_bytes",
            "Bytes by kind: text, rodata, data, bss, symbols, debug.",
            "bytes",
            [
                ((("binary", b), ("kind", kind)), f["totals"][kind])
                for f, b in _facts(pairs)
                for kind in _TOTAL_KINDS
            ],
        ),
        (
            "gate_startup_seconds",
            "Start-up time percentiles over the successful runs (type 7 quantiles).",
            "seconds",
            [
                ((("binary", b), ("quantile", q)), stats[key] / 1000.0)
                for s, b in _startups(pairs)
                if (stats := s["stats"]) is not None
                for q, key in _QUANTILES
            ],
        ),
        (
            "gate_startup_runs",
            "Timed start-up runs, failed ones included, warm-up runs not.",
            None,
            [((("binary", b),), len(s["runs"])) for s, b in _startups(pairs)],
        ),
        (
            "gate_startup_failed_runs",
            "Start-up runs that crashed, timed out or never became ready.",
            None,
            [((("binary", b),), sum(not r["ok"] for r in s["runs"])) for s, b in _startups(pairs)],
        ),
        (
            "gate_startup_max_rss_bytes",
            "Largest maximum resident set size over the start-up runs.",
            "bytes",
            [
                ((("binary", b),), max(rss))
                for s, b in _startups(pairs)
                if (
                    rss := [r["max_rss_bytes"] for r in s["runs"] if r["max_rss_bytes"] is not None]
                )
            ],
        ),
        (
            "gate_checks_total",
            "Number of checks by status (pass, fail, warn, skip).",
            None,
            [
                ((("binary", b), ("status", status)), count)
                for binary, b in pairs
                if binary["checks"]
                for status, count in _status_counts(binary["checks"])
            ],
        ),
        (
            "gate_verdict",
            "Verdict of the binary: 0 pass, 1 fail, 2 error (could not be judged).",
            None,
            [((("binary", b),), _VERDICTS[binary["verdict"]]) for binary, b in pairs],
        ),
    ]
    lines: list[str] = []
    for name, help_text, unit, samples in families:
        if not samples:
            continue  # a family with no samples says nothing and clutters GitLab's table
        lines.append(f"# HELP {name} {help_text}")  # constants: nothing to escape
        lines.append(f"# TYPE {name} gauge")
        if unit:
            lines.append(f"# UNIT {name} {unit}")
        lines += [f"{name}{_labelset(lbls)} {_number(value)}" for lbls, value in samples]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _labels(binaries: list[Mapping[str, Any]]) -> list[str]:
    """The `binary` label: the name, or the path where two binaries share a name.

    Two samples with the same name and labels are invalid exposition, and would
    silently overwrite each other in GitLab's comparison.
    """
    names = [b["name"] or b["path"] or "?" for b in binaries]
    return [
        b["path"] or name if names.count(name) > 1 else name
        for b, name in zip(binaries, names, strict=True)
    ]


def _facts(pairs: list[tuple[Mapping[str, Any], str]]) -> Iterator[tuple[Mapping[str, Any], str]]:
    for binary, label in pairs:
        if binary["facts"] is not None:
            yield binary["facts"], label


def _startups(
    pairs: list[tuple[Mapping[str, Any], str]],
) -> Iterator[tuple[Mapping[str, Any], str]]:
    for binary, label in pairs:
        if binary["startup"] is not None:
            yield binary["startup"], label


def _sections(pairs: list[tuple[Mapping[str, Any], str]]) -> Iterator[Sample]:
    """Section sizes; sections that share a name (legal in ELF) are summed into one sample."""
    for facts, label in _facts(pairs):
        sizes: dict[str, float] = {}
        for section in facts["sections"]:
            size, name = section["size"], section["name"]
            if size > 0 and name:
                sizes[name] = sizes.get(name, 0) + size
        for name, size in sizes.items():
            yield (("binary", label), ("section", name)), size


def _packages(pairs: list[tuple[Mapping[str, Any], str]]) -> Iterator[Sample]:
    """The largest packages only: a metric per package of a big service would swamp GitLab's
    widget, and what grew is in the Markdown and `gate diff` anyway."""
    for binary, label in pairs:
        attribution = binary["attribution"]
        rows = attribution["packages"] if attribution is not None else None
        for row in (rows or [])[:TOP_PACKAGES]:
            yield (("binary", label), ("package", row["name"])), row["bytes"]


def _status_counts(checks: list[Mapping[str, Any]]) -> Iterator[tuple[str, int]]:
    """Every status, zeros included, so a count that drops to 0 still shows in a diff."""
    statuses = [c["status"] for c in checks]
    for status in _STATUSES:
        yield status, statuses.count(status)


def _escape(text: str) -> str:
    """A label value escaped per the exposition format: backslash, double quote, newline.

    Characters the format cannot carry or that line-based readers split on (lone
    surrogates are not UTF-8; \\r, \\x85, U+2028 end a line for some parsers) become U+FFFD.
    """
    text = _unsafe_in_label().sub("\ufffd", text)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@cache
def _unsafe_in_label() -> re.Pattern[str]:
    """Controls other than tab and newline (newline is escaped), line separators, surrogates.

    Compiled on first use, not at import: the surrogate range alone costs about a millisecond.
    """
    return re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _labelset(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _number(value: int | float) -> str:
    """Integers exactly, floats by repr (shortest round trip), specials as spelt in the format."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
