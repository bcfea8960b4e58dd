"""Metrics: OpenMetrics text, read by GitLab's `metrics` report, Prometheus and promtool.

Rendered from a gate/results/v1 document. GitLab compares `name{labels} value` lines
between the merge request and its target branch, so every number a reviewer may want
to see move (bytes, start-up seconds, check counts, the verdict) is one sample, labelled
by binary. No timestamps: the scraper (or GitLab) records when it read the file.

Types say what the numbers are, as `promtool check metrics` and Prometheus read them:
each report is a snapshot, so the families are gauges, except the start-up percentiles,
which are a summary (`quantile` labels over the successful runs, with `_sum` and
`_count` of those runs' seconds). Nothing counts up across runs of gate, so there are no
counters and no `_total` suffix: `gate_checks{status}` is how many checks of this run
ended in each status, a gauge.

That is dozens of samples per binary, and GitLab's merge request widget shows each as a
row; `render_metrics_summary` (`--format metrics-summary`, `gate check --metrics-summary`)
is the short file for that widget: per binary the file size and the start-up p50 and p95,
three samples, the numbers a reviewer reads.

Every start-up sample is labelled with the envelope its starts ran in (gate/run/
envelope.py): `cpus` (the CPU quota, "0.25"; with a CFS period other than 100 ms,
"0.25 (period 50 ms)"), `memory_bytes` (the hard limit in bytes, "134217728") and
`pinned_cpu` (the CPU the starts were pinned to, "1"), each "none" where that part was
not set. The three are on every start-up sample, so a series keeps one label set; the
values are canonical (`250m` and `0.25`, `128MiB` and `134217728` read the same), so
the same envelope is the same series whatever the spelling. A number measured in another
envelope is another series: GitLab's comparison shows it as new, not as a change, and
a dashboard never draws one line through numbers from two envelopes.

The text is OpenMetrics 1.0 and also the Prometheus 0.0.4 text format (the one GitLab's
metrics report and `promtool check metrics` parse): `# UNIT` and `# EOF` are comments
there, and no family uses what only one of the two formats has (counters' `_total`
naming, `_created`, exemplars).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Literal

from gate.report.markup import percentile_ms
from gate.values.envelope import DEFAULT_PERIOD_US, from_dict
from gate.values.escape import bidi_escaped
from gate.values.stats import QUANTILE_SHORT, QUANTILES

if TYPE_CHECKING:
    from gate.results.types import Check, Document, Entry, Envelope, Facts, Startup, Status

    TotalKind = Literal["text", "rodata", "data", "bss", "symbols", "debug"]

_TOTAL_KINDS: tuple[TotalKind, ...] = ("text", "rodata", "data", "bss", "symbols", "debug")
# OpenMetrics quantile labels ("0.95") for the statistics' percentiles ("p95").
_QUANTILES = tuple((f"{q / 100:g}", key) for key, q in QUANTILES.items())
_STATUSES: tuple[Status, ...] = ("pass", "fail", "warn", "skip")
_VERDICTS = {"pass": 0, "fail": 1, "error": 2}
TOP_PACKAGES = 20
ENVELOPE_LABELS = ("cpus", "memory_bytes", "pinned_cpu")  # on every start-up sample
NONE = "none"  # the label's value where that part of the envelope was not set

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, int | float]
Family = tuple[str, str, str, str | None, list[Sample]]  # name, type, help, unit, samples


def _file_bytes(pairs: list[tuple[Entry, str]]) -> Family:
    """The one number both files carry, written once so the two never disagree."""
    samples: list[Sample] = [((("binary", b),), f["file_size"]) for f, b in _facts(pairs)]
    return ("gate_file_bytes", "gauge", "File size of the binary.", "bytes", samples)


def render_metrics(doc: Document) -> str:
    """OpenMetrics exposition for a gate/results/v1 document, ending in `# EOF`."""
    binaries = doc["binaries"]
    labels = _labels(binaries)
    pairs = list(zip(binaries, labels, strict=True))
    families: list[Family] = [
        _file_bytes(pairs),
        (
            "gate_package_bytes",
            "gauge",
            f"Go code bytes of the {TOP_PACKAGES} largest packages (from the function table).",
            "bytes",
            list(_packages(pairs)),
        ),
        (
            "gate_section_bytes",
            "gauge",
            "Size of each ELF section with a non-zero size.",
            "bytes",
            list(_sections(pairs)),
        ),
        (
            "gate_size_bytes",
            "gauge",
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
            "summary",
            f"Start-up time over the successful runs: percentiles ({QUANTILE_SHORT}), sum and "
            "count; labelled with the envelope (cpus, memory_bytes, pinned_cpu).",
            "seconds",
            list(_startup_summary(pairs)),
        ),
        (
            "gate_startup_runs",
            "gauge",
            "Timed start-up runs, failed ones included, warm-up runs not.",
            None,
            [(_startup_labels(s, b), len(s["runs"])) for s, b in _startups(pairs)],
        ),
        (
            "gate_startup_failed_runs",
            "gauge",
            "Start-up runs that crashed, timed out or never became ready.",
            None,
            [
                (_startup_labels(s, b), sum(not r["ok"] for r in s["runs"]))
                for s, b in _startups(pairs)
            ],
        ),
        (
            "gate_startup_max_rss_bytes",
            "gauge",
            "Largest maximum resident set size over the successful start-up runs.",
            "bytes",
            [
                (_startup_labels(s, b), s["max_rss_bytes"])
                for s, b in _startups(pairs)
                if s["max_rss_bytes"] is not None
            ],
        ),
        (
            "gate_checks",
            "gauge",
            "Checks of this run by status (pass, fail, warn, skip).",
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
            "gauge",
            "Verdict of the binary: 0 pass, 1 fail, 2 error (could not be judged).",
            None,
            [((("binary", b),), _VERDICTS[binary["verdict"]]) for binary, b in pairs],
        ),
    ]
    return _exposition(families)


def render_metrics_summary(doc: Document) -> str:
    """The few numbers a reviewer reads, per binary: file size, start-up p50 and p95.

    GitLab's merge request widget makes a row of every sample of the metrics report, and
    the full exposition has dozens per binary (sections, packages, every quantile with
    `_sum` and `_count`), most of which move on every run. This one has three: the same
    `gate_file_bytes` as the full file, and the two percentiles as gauges of their own
    (a summary's `quantile` samples belong with its `_sum` and `_count`). A binary that
    could not be read or started has only what was measured."""
    pairs = list(zip(doc["binaries"], _labels(doc["binaries"]), strict=True))
    families: list[Family] = [
        _file_bytes(pairs),
        *(_percentile_gauge(pairs, key, what) for key, what in _SUMMARY_PERCENTILES),
    ]
    return _exposition(families)


_SUMMARY_PERCENTILES = (("p50", "Median"), ("p95", "95th percentile of the"))


def _percentile_gauge(pairs: list[tuple[Entry, str]], key: str, what: str) -> Family:
    samples: list[Sample] = [
        (_startup_labels(s, b), percentile_ms(s["stats"], key) / 1000.0)
        for s, b in _startups(pairs)
        if s["stats"] is not None
    ]
    help_text = f"{what} start-up time over the successful runs ({QUANTILE_SHORT}), by envelope."
    return f"gate_startup_{key}_seconds", "gauge", help_text, "seconds", samples


def _exposition(families: list[Family]) -> str:
    """The text of `families`, ending in `# EOF`; a family without samples is left out."""
    lines: list[str] = []
    for name, kind, help_text, unit, samples in families:
        if not samples:
            continue  # a family with no samples says nothing and clutters GitLab's table
        lines.append(f"# HELP {name} {help_text}")  # constants: nothing to escape
        lines.append(f"# TYPE {name} {kind}")
        if unit:
            lines.append(f"# UNIT {name} {unit}")
        for lbls, value in samples:
            suffix = dict(lbls).get(_SUFFIX, "")
            shown = tuple((k, v) for k, v in lbls if k != _SUFFIX)
            lines.append(f"{name}{suffix}{_labelset(shown)} {_number(value)}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _labels(binaries: list[Entry]) -> list[str]:
    """The `binary` label: the name, or the path where two binaries share a name.

    Two samples with the same name and labels are invalid exposition, and would
    silently overwrite each other in GitLab's comparison.
    """
    names = [b["name"] or b["path"] or "?" for b in binaries]
    return [
        b["path"] or name if names.count(name) > 1 else name
        for b, name in zip(binaries, names, strict=True)
    ]


def _facts(pairs: list[tuple[Entry, str]]) -> Iterator[tuple[Facts, str]]:
    for binary, label in pairs:
        if binary["facts"] is not None:
            yield binary["facts"], label


def _startups(
    pairs: list[tuple[Entry, str]],
) -> Iterator[tuple[Startup, str]]:
    for binary, label in pairs:
        if binary["startup"] is not None:
            yield binary["startup"], label


_SUFFIX = "__suffix__"  # not a label: the sample's name suffix (`_sum`, `_count`)


def envelope_labels(envelope: Envelope | None) -> Labels:
    """A results' `envelope` (None: unconstrained) as the start-up samples' labels: the
    same three on every sample, canonical values, "none" for what was not set."""
    env = from_dict(envelope)
    cpus = NONE
    if env.cpus is not None:
        cpus = f"{env.cpus:.15g}"  # 15 digits: 0.1 + 0.2 is "0.3", as it was written
        if env.cpu_period_us != DEFAULT_PERIOD_US:
            cpus += f" (period {env.cpu_period_us / 1000:g} ms)"
    memory = NONE if env.memory is None else str(env.memory)
    pinned = NONE if env.cpu is None else str(env.cpu)
    return tuple(zip(ENVELOPE_LABELS, (cpus, memory, pinned), strict=True))


def _startup_labels(startup: Startup, label: str) -> Labels:
    return (("binary", label), *envelope_labels(startup.get("envelope")))


def _startup_summary(pairs: list[tuple[Entry, str]]) -> Iterator[Sample]:
    """Per binary, its quantiles then `_sum` and `_count`: OpenMetrics wants each
    binary's samples of a summary together."""
    for startup, label in _startups(pairs):
        stats = startup["stats"]
        if stats is None:
            continue  # no run succeeded: nothing to summarise
        labels = _startup_labels(startup, label)
        for q, key in _QUANTILES:
            yield (*labels, ("quantile", q)), percentile_ms(stats, key) / 1000.0
        count = stats["count"]
        yield ((_SUFFIX, "_sum"), *labels), stats["mean_ms"] * count / 1000.0
        yield ((_SUFFIX, "_count"), *labels), count


def _sections(pairs: list[tuple[Entry, str]]) -> Iterator[Sample]:
    """Section sizes; sections that share a name (legal in ELF) are summed into one sample."""
    for facts, label in _facts(pairs):
        sizes: dict[str, float] = {}
        for section in facts["sections"]:
            if section["size"] > 0 and section["name"]:
                sizes[section["name"]] = sizes.get(section["name"], 0) + section["size"]
        for name, size in sizes.items():
            yield (("binary", label), ("section", name)), size


def _packages(pairs: list[tuple[Entry, str]]) -> Iterator[Sample]:
    """The largest packages only: a metric per package of a big service would swamp GitLab's
    widget, and what grew is in the Markdown and `gate diff` anyway."""
    for binary, label in pairs:
        attribution = binary["attribution"]
        rows = attribution["packages"] if attribution is not None else None
        for row in (rows or [])[:TOP_PACKAGES]:
            yield (("binary", label), ("package", row["name"])), row["bytes"]


def _status_counts(checks: list[Check]) -> Iterator[tuple[str, int]]:
    """Every status, zeros included, so a count that drops to 0 still shows in a diff."""
    statuses = [c["status"] for c in checks]
    for status in _STATUSES:
        yield status, statuses.count(status)


def _escape(text: str) -> str:
    """A label value escaped per the exposition format: backslash, double quote, newline.

    Characters the format cannot carry or that line-based readers split on (lone
    surrogates are not UTF-8; \\r, \\x85, U+2028 end a line for some parsers) become U+FFFD.
    Bidirectional controls (U+202E ...) are written as the text `\\u202e`, as the log
    shows them: the format has no escape of its own for them, and raw they would make a
    viewer show the line in another order.
    """
    text = bidi_escaped(_unsafe_in_label().sub("\ufffd", text))
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
