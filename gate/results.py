"""The gate/results/v1 document: built here, and loaded (validated) here, nowhere else.

`gate check` builds it (`results_document`, from `facts_to_dict` and `startup_to_dict`)
and `--json` writes it; `gate report`, `gate diff`, `gate comment`, `gate check --baseline`
and `gate size --against RESULTS.json` read it back through `load`. A document read back
is untrusted input, like the binary: `validate` checks every key that judging, diffing
and rendering read, fills each missing optional key once with its default, and refuses
anything else with one line naming the file and the JSON path
(`base.json: binaries[0].facts.file_size: expected a non-negative integer, got NaN`).
The facts and start-up bodies are built here too, since they are parts of this document;
gate/facts/v1 and gate/startup/v1 (`gate inspect --json`, `gate startup --json`) wrap the
same bodies and are never read back, so they stay with the other renderings in
report/json.py.

The validated form, which is what every consumer may assume without checking again:

- Every key named below is present with the type shown ("?" may be null); a key marked
  "= x" was optional in the file and is now x. Unknown keys are kept as they are (the
  format may grow) but no renderer reads them.
- Numbers are finite: never NaN or an infinity. Integers fit in 64 bits (unsigned ones
  are 0 to 2**64 - 1, the range of every ELF field; signed ones within +-2**63), other
  numbers lie within +-2**64, so sums and ratios of them stay finite. Times, sizes and
  counts are never negative; confidences and p-values lie in [0, 1].
- Strings are Unicode text that can be written out as UTF-8: an unpaired surrogate (which
  JSON can escape, "\\ud800") is replaced by U+FFFD, so no renderer fails to write it.
- Nesting is at most `textlimits.MAX_DEPTH` levels, and what the values cost in memory is
  at most `textlimits.cost_cap` of the text's length (both checked before parsing).

    schema "gate/results/v1", gate_version: str? = null, created: str? = null,
    policy: str = "unknown", policy_sources: [str] = [], baseline: BASELINE? = null,
    pull_request: {number, head_sha: str}? = null (GitHub: the pull request judged, and the
    commit at its head, which is not `commit`, the merge commit the job checked out),
    binaries: [ENTRY], verdict: "pass"|"fail"|"error" = the binaries' (error, else fail, else pass),
    skipped: [{path: str, reason: str}] = []: inputs passed over as not ELF at all, and
    what each is instead (gate check --skip-unsupported); none of them is in `binaries`
  BASELINE: source: str (redacted), found: bool; relation, commit, merge_base, reason: str? =
    null, run_id, distance: count? = null (from before gate had them): what the relative
    checks compared with; relation is "file", "url", "merge-base", "ancestor" (`distance`
    commits before `merge_base`), "branch-tip" (which may hold commits the change does not)
    or "binary"; `run_id` the CI run or pipeline that measured `commit`; `reason` why none
    was found (--baseline-optional)
  ENTRY: path: str, name: str = the path's file name, error: str? = null, facts: FACTS? = null,
    startup: STARTUP? = null, attribution: ATTRIBUTION? = null, checks: [CHECK] = [],
    verdict = "error" with an error, else "fail" with a failed check, else "pass",
    compared_with: {name, how, file_size?, p50_ms?, p95_ms?}? = null, timings: TIMINGS? = null,
    remedies: [REMEDY] = [], not_judged: "error"|"failure" = "error" (the policy's
    report.not_judged for this binary: how JUnit shows it when it could not be judged)
  REMEDY: id: str, title: str, evidence: str, saving: number? = null, unit: str? = null,
    checks: [str] = []; what to try for the failed and warned start-up and size checks
    named in `checks` (gate/remedies.py), with the measured evidence and expected saving
  TIMINGS: inspect_s, attribution_s, startup_s, breakdown_s: seconds? = null; the wall time
    gate spent measuring (reading the ELF facts; attributing the bytes; the start-up runs
    with their warm-ups, evictions and A/B runs; the breakdown run), null where not done
  CHECK: id: str, status: "pass"|"fail"|"warn"|"skip", measured: any = null, limit: any = null,
    unit: str? = null, message: str = "", severity: "error"|"warn" = "error"
  FACTS: the keys `gate inspect --json` writes, all required; groups [{name, bytes}] = [];
    elf.endian, linking.soname, linking.relocations: count? = null (from before gate had it),
    sections[].address/offset = null; debug.sections, hardening.fortified, go.deps = [];
    go.format = "inline"; go.main_module(.replace): {path, version, sum? = null, replace? = null};
    toolchain: {language: "go"|"rust"|"c++"|"c", compiler: str?, version: str?, evidence: str,
    c_code: bool?, c_evidence: str}? = null (from before gate had it)
  STARTUP: binary, args [str], ready, cold, eviction, runs [RUN], stats: STATS?;
    max_rss_bytes? = the peak of the successful runs (stats.peak_rss), faults {major,
    minor}? = their median page faults (stats.fault_medians): both null without a
    successful run, derived from the runs for a document from before gate carried them;
    warmup, requested_runs, timeout_s, eviction_detail, adaptive, against, environment,
    breakdown = null; stopped = "fixed"; envelope: ENVELOPE? = null (unconstrained),
    peak_memory_bytes? = null (the successful runs' highest cgroup peak, in an envelope);
    mapped_objects?, open_fds? = the most shared objects mapped and descriptors open at
    readiness of a successful run (null when none was read: --ready exit), derived from the
    runs; shared_objects [str] = [] (every one a successful run mapped at readiness);
    eviction_detail.beyond [str] = [] (the files evicted beyond the loader's list)
  ENVELOPE: cpus? (CPU quota in CPUs), cpu_period_us, memory? (bytes), cpu? (pinned CPU):
    what every start ran inside (gate/startup/envelope.py)
  RUN: wall_ms, user_ms, sys_ms, max_rss_bytes?, major_faults, minor_faults, exit_code?, ok;
    error = null, stopped = 0, port = null, stdout_tail = "", stderr_tail = "",
    resident_before = null, resident_after = null, peak_memory_bytes = null (the run
    cgroup's peak, inside an envelope), throttled_ms = null (time the CPU quota held it),
    mapped_objects = null, open_fds = null (at readiness, gate/startup/loaded.py)
  STATS: count, failed, min_ms, p50_ms, p90_ms, p95_ms, p99_ms, max_ms, mean_ms, stdev_ms,
    confidence, ci {key: [lo?, hi?]} with p50, p90, p95 and p99 = [null, null]; min_runs = {},
    quantile_method and ci_method = the methods gate uses
  AGAINST: binary, runs [RUN], stats: STATS?; ratio_p50, ratio_hl, ratio_ci [lo, hi],
    p_value, confidence = null; pairs = 0; order, method = gate's
  BREAKDOWN: kind; inits [{package, at_ms, clock_ms, bytes, allocs, spread_ms = 0}] = [],
    init_count = 0, init_clock_ms = 0, loader {..., total_ms? = null (total_cycles at the
    measuring machine's TSC rate)}? = null, faults {major, minor}? = null,
    note = "", gomaxprocs: count? = null, runs = 1 (the inits' numbers are medians over
    them, spread_ms slowest minus fastest), start_ms? = null (their median wall time),
    throttle {cpus, cpu_period_us, throttled_ms?, wall_ms}? = null (one start inside the
    CPU quota, which the init runs were made without)
  ATTRIBUTION: pclntab: str? = null, bss = 0, warnings [str] = [], sections, packages,
    modules, symbols, code_symbols: [{name: str, bytes}]? = null, symbols_count? = null,
    data_symbols: [{name, bytes, group, section = "", package? = null}]? = null; other keys
    as they are
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, NoReturn

from gate.baseline import BaselineError, OutOfRange
from gate.startup.loaded import most
from gate.startup.stats import (
    CI_METHOD,
    NOT_RECORDED,
    QUANTILE_METHOD,
    QUANTILES,
    fault_medians,
    peak_rss,
)

if TYPE_CHECKING:
    from gate.elf.facts import BinaryFacts
    from gate.policy import Policy
    from gate.startup.measure import StartupResult
    from gate.startup.runner import RunSample
    from gate.startup.stats import Summary

RESULTS_SCHEMA = "gate/results/v1"
VERDICTS = ("pass", "fail", "error")
STATUSES = ("pass", "fail", "warn", "skip")
PERCENTILES = tuple(QUANTILES)  # the STATS keys p50_ms ... and the ci keys
AB_ORDER = "ABBA (interleaved)"
AB_METHOD = (
    "paired by round: Hodges-Lehmann ratio of log times, Wilcoxon signed-rank interval and p-value"
)
TIMING_KEYS = ("inspect_s", "attribution_s", "startup_s", "breakdown_s")
MAX_UNSIGNED = 2**64 - 1  # every ELF field (sizes, addresses, counts) fits
MIN_SIGNED, MAX_SIGNED = -(2**63), 2**63 - 1
MAX_MAGNITUDE = 2.0**64  # any other number: sums and ratios of a few stay finite


class ResultsError(BaselineError):
    """A file that is not a valid gate/results/v1 document.

    A BaselineError, so every place that carries on without an unusable baseline (the
    comment's "what changed" table) carries on without an invalid one too.
    """


# ---------------------------------------------------------------- building


_TAIL_KEYS = ("stdout_tail", "stderr_tail")


def overall_verdict(entries: Iterable[Mapping[str, Any]]) -> str:
    """error if a binary could not be judged, else fail if one failed, else pass."""
    verdicts = {e["verdict"] for e in entries}
    return "error" if "error" in verdicts else "fail" if "fail" in verdicts else "pass"


def results_document(
    policy: Policy,
    entries: list[dict[str, Any]],
    baseline: Mapping[str, Any] | None = None,
    shard: tuple[int, int] | None = None,
    commit: str | None = None,
    pull_request: Mapping[str, Any] | None = None,
    skipped: Iterable[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """The gate/results/v1 document; `baseline` says what relative checks compared with,
    `shard` ((index, total), --shard) which share of the binaries this is, `commit` the
    CI's commit (so `gate merge` can tell documents of another commit), `pull_request`
    ({number, head_sha}) the pull request judged (so a comment written later, by another
    workflow, can be checked to belong to it), `skipped` the inputs passed over as not
    ELF (so every report says they were seen and not judged)."""
    from datetime import UTC, datetime

    from gate import __version__

    return {
        "schema": RESULTS_SCHEMA,
        "gate_version": __version__,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verdict": overall_verdict(entries),
        "policy": policy.name,
        "policy_sources": list(policy.sources),
        "baseline": dict(baseline) if baseline else None,
        "commit": commit,
        "pull_request": dict(pull_request) if pull_request else None,
        "shard": {"index": shard[0], "total": shard[1]} if shard else None,
        "merged": None,
        "binaries": entries,
        "skipped": [dict(s) for s in skipped],
    }


def facts_to_dict(facts: BinaryFacts) -> dict[str, Any]:
    """FACTS as `gate inspect --json` names the keys (extra keys allowed, none renamed)."""
    doc = dataclasses.asdict(facts)
    doc["elf"]["class"] = doc["elf"].pop("elf_class")
    return doc


def run_to_dict(run: RunSample) -> dict[str, Any]:
    """A run as the results document names it; output tails only where a run failed."""
    doc = dataclasses.asdict(run)
    doc.pop("mapped_files")  # the start-up's shared_objects say what was mapped
    doc.pop("shared_objects")
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
    doc["quantile_method"] = QUANTILE_METHOD
    doc["ci_method"] = CI_METHOD
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
        "max_rss_bytes": result.max_rss_bytes,
        "faults": result.faults,
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
        "envelope": result.envelope.to_dict(),
        "peak_memory_bytes": result.peak_memory_bytes,
        "mapped_objects": result.mapped_objects,
        "open_fds": result.open_fds,
        "shared_objects": list(result.shared_objects),
    }


def _against_to_dict(result: StartupResult) -> dict[str, Any] | None:
    other = result.against
    if other is None:
        return None
    failed = sum(not r.ok for r in other.runs)
    cmp = other.comparison
    return {
        "binary": other.binary,
        "order": AB_ORDER,
        "runs": [run_to_dict(r) for r in other.runs],
        "stats": stats_to_dict(other.stats, failed),
        "ratio_p50": cmp.ratio_p50 if cmp else None,
        "ratio_hl": cmp.ratio_hl if cmp else None,
        "ratio_ci": list(cmp.ratio_ci) if cmp else None,
        "p_value": cmp.p_value if cmp else None,
        "confidence": cmp.confidence if cmp else None,
        "method": AB_METHOD,
        "pairs": cmp.n_new if cmp else 0,
    }


# ---------------------------------------------------------------- loading


def load(source: str) -> dict[str, Any]:
    """The validated form of the gate/results/v1 document at a path or an http(s) URL.

    Read with the baseline's bounds (size, time, nesting); BaselineMissing when it does
    not exist, ResultsError (a BaselineError) when it is not a valid document.
    """
    from gate.baseline import load_document, shown_source

    return validate(load_document(source), shown_source(source))


def validate(doc: Any, source: str) -> dict[str, Any]:
    """`doc` in the validated form (see the module's docstring), or ResultsError.

    Missing optional keys are filled in place, so the same object is returned; `source`
    names the file in the error.
    """
    if not isinstance(doc, dict):
        raise ResultsError(f"{source}: not a gate document (a JSON {_json_kind(doc)})")
    schema = doc.get("schema")
    if schema != RESULTS_SCHEMA:
        shown = _clip(repr(schema), 60) if isinstance(schema, str) else _describe(schema)
        raise ResultsError(
            f"{source}: not a gate results file (schema {shown}, expected {RESULTS_SCHEMA!r})"
        )
    try:
        _DOCUMENT.check(doc, "")
    except _Invalid as exc:
        raise ResultsError(f"{source}: {exc.path}: {exc.problem}") from None
    return doc


class _Invalid(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path or "(the document)"
        self.problem = problem


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _key_path(path: str, key: str) -> str:
    """`binaries[0].facts`, or `settings["-ldflags"]` for a key that is not a plain name."""
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{_quoted(key)}]"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quoted(text: str) -> str:
    """A string in JSON's quotes, cut, with anything unprintable escaped: one safe line."""
    import json

    quoted = json.dumps(_clip(text, 40), ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else type(value).__name__


def _describe(value: Any) -> str:
    """A value as an error message shows it: short, on one line, in JSON's spelling."""
    if isinstance(value, OutOfRange):
        digits = value.text.lstrip("+-")
        if digits.isdigit():
            return f"a {len(digits)}-digit integer"
        return _clip(value.text, 30)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 96:
            return f"an integer of {value.bit_length()} bits"
        return str(value)
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class _Spec:
    """What one value must be; `check` returns the value in the validated form."""

    expected = "a value"

    def check(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def fail(self, value: Any, path: str, bound: str = "") -> NoReturn:
        raise _Invalid(path, f"expected {self.expected}{bound}, got {_describe(value)}")


class _Int(_Spec):
    def __init__(self, minimum: int = 0, maximum: int = MAX_UNSIGNED) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.expected = "a non-negative integer" if minimum == 0 else "an integer"

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(value, path)
        if value < self.minimum:
            self.fail(value, path)
        if value > self.maximum:
            self.fail(value, path, f" (at most {_power(self.maximum)})")
        return value


def _power(n: int) -> str:
    return {MAX_UNSIGNED: "2**64 - 1", MAX_SIGNED: "2**63 - 1"}.get(n, str(n))


class _Num(_Spec):
    def __init__(self, minimum: float = 0.0, maximum: float = MAX_MAGNITUDE) -> None:
        self.minimum, self.maximum = minimum, maximum
        if maximum == 1.0:
            self.expected = "a number from 0 to 1"
        elif minimum == 0.0:
            self.expected = "a non-negative number"
        else:
            self.expected = "a number"

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(value, path)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(value, path)
        if value < self.minimum:
            self.fail(value, path)
        if value > self.maximum:
            self.fail(value, path, f" (at most {self.maximum:g})")
        return value


class _Str(_Spec):
    expected = "a string"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            self.fail(value, path)
        return _text(value)


def _text(value: str) -> str:
    """Text that can be written out as UTF-8: an unpaired surrogate (JSON can escape one,
    "\\udcff") becomes U+FFFD, the replacement character."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _text_keys(value: dict[str, Any]) -> None:
    """The object's keys as text (see _text); a key that changes moves to the end."""
    for key in [k for k in value if _text(k) != k]:
        value[_text(key)] = value.pop(key)


class _Bool(_Spec):
    expected = "true or false"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            self.fail(value, path)
        return value


class _OneOf(_Spec):
    def __init__(self, *choices: str | int) -> None:
        self.choices = choices
        self.expected = "one of " + ", ".join(
            f'"{c}"' if isinstance(c, str) else str(c) for c in choices
        )

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not any(
            type(value) is type(c) and value == c for c in self.choices
        ):
            self.fail(value, path)
        return value


class _Null(_Spec):
    """The inner value, or null."""

    def __init__(self, inner: _Spec) -> None:
        self.inner = inner
        self.expected = f"{inner.expected} or null"

    def check(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        if isinstance(self.inner, _Obj | _Map | _List | _Pair):
            # A value of the right kind is checked inside (the error names the inner path).
            if not isinstance(value, dict if isinstance(self.inner, _Obj | _Map) else list):
                self.fail(value, path)
            return self.inner.check(value, path)
        try:
            return self.inner.check(value, path)
        except _Invalid as exc:
            wrong = f"expected {self.inner.expected}"
            if exc.path != path or not exc.problem.startswith(wrong):
                raise
            problem = self.expected.join(exc.problem.split(self.inner.expected, 1))
            raise _Invalid(path, problem) from None


class _List(_Spec):
    def __init__(self, item: _Spec, what: str) -> None:
        self.item = item
        self.expected = what

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            self.fail(value, path)
        for i, item in enumerate(value):
            value[i] = self.item.check(item, f"{path}[{i}]")
        return value


class _Pair(_Spec):
    """[low, high]: an interval."""

    def __init__(self, item: _Spec) -> None:
        self.item = item
        self.expected = f"[low, high] ({item.expected})"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list) or len(value) != 2:
            self.fail(value, path)
        for i, item in enumerate(value):
            value[i] = self.item.check(item, f"{path}[{i}]")
        return value


class _Map(_Spec):
    """An object with any keys and values of one kind (Go settings, CI bounds)."""

    def __init__(self, value: _Spec, what: str, defaults: Mapping[str, Any] | None = None) -> None:
        self.value = value
        self.expected = what
        self.defaults = defaults or {}

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.fail(value, path)
        _text_keys(value)
        for key, item in value.items():
            value[key] = self.value.check(item, _key_path(path, key))
        for key, default in self.defaults.items():
            if key not in value:
                value[key] = _fresh(default)
        return value


def _fresh(default: Any) -> Any:
    return list(default) if isinstance(default, list | tuple) else default


Default = Callable[[dict[str, Any]], Any]


def _required(obj: dict[str, Any]) -> Any:
    """The default of a key that must be there: a marker, never called."""
    raise AssertionError("a required key has no default")


@dataclasses.dataclass(frozen=True)
class _Field:
    spec: _Spec
    default: Default


def _req(spec: _Spec) -> _Field:
    return _Field(spec, _required)


def _opt(spec: _Spec, default: Any) -> _Field:
    """An optional key: a constant default (a list default is copied for each object)."""
    return _Field(spec, lambda obj: _fresh(default))


def _derived(spec: _Spec, default: Default) -> _Field:
    """An optional key whose default follows from the keys checked before it."""
    return _Field(spec, default)


class _Obj(_Spec):
    """An object with known keys, checked in order; unknown keys are kept, as plain JSON."""

    def __init__(self, what: str, fields: dict[str, _Field]) -> None:
        self.fields = fields
        self.expected = f"{what} (an object)"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.fail(value, path)
        for key, field in self.fields.items():
            where = _key_path(path, key)
            if key in value:
                value[key] = field.spec.check(value[key], where)
            elif field.default is _required:
                raise _Invalid(where, f"missing; expected {field.spec.expected}")
            else:
                value[key] = field.default(value)
        _text_keys(value)
        for key, item in value.items():
            if key not in self.fields:
                value[key] = _JSON.check(item, _key_path(path, key))
        return value


class _Any(_Spec):
    """Any JSON value with finite, 64-bit numbers: measured values, limits, unknown keys."""

    expected = "a JSON value"

    def check(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return _text(value)
        if isinstance(value, int):
            if not MIN_SIGNED <= value <= MAX_UNSIGNED:
                raise _Invalid(path, f"expected a 64-bit integer, got {_describe(value)}")
        elif isinstance(value, float):
            if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
                raise _Invalid(path, f"expected a finite number, got {_describe(value)}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = self.check(item, f"{path}[{i}]")
        elif isinstance(value, dict):
            _text_keys(value)
            for key, item in value.items():
                value[key] = self.check(item, _key_path(path, key))
        else:
            self.fail(value, path)
        return value


# ---------------------------------------------------------------- the format

_JSON = _Any()
_TEXT = _Str()
_FLAG = _Bool()
_COUNT = _Int()  # bytes, entries, runs, pages: unsigned 64-bit
_SIGNED = _Int(MIN_SIGNED, MAX_SIGNED)
_MS = _Num()  # durations, never negative
_FRACTION = _Num(0.0, 1.0)
_NO_TEXT = _opt(_Null(_TEXT), None)
_NO_COUNT = _opt(_Null(_COUNT), None)
_STRINGS = _List(_TEXT, "a list of strings")


def _object(what: str, **fields: _Field) -> _Obj:
    return _Obj(what, dict(fields))


_MODULE = _object("a Go module")
_MODULE.fields.update(
    path=_req(_TEXT), version=_req(_TEXT), sum=_NO_TEXT, replace=_opt(_Null(_MODULE), None)
)

_FACTS = _object(
    "the binary's facts",
    path=_req(_TEXT),
    file_size=_req(_COUNT),
    elf=_req(
        _object(
            "ELF header facts",
            **{"class": _req(_OneOf(32, 64))},
            machine=_req(_TEXT),
            type=_req(_TEXT),
            entry=_req(_COUNT),
            endian=_NO_TEXT,
        )
    ),
    linking=_req(
        _object(
            "linking facts",
            static=_req(_FLAG),
            interpreter=_req(_Null(_TEXT)),
            needed=_req(_STRINGS),
            rpath=_req(_STRINGS),
            runpath=_req(_STRINGS),
            soname=_NO_TEXT,
            relocations=_NO_COUNT,
        )
    ),
    sections=_req(
        _List(
            _object(
                "a section",
                name=_req(_TEXT),
                type=_req(_TEXT),
                size=_req(_COUNT),
                flags=_req(_TEXT),
                address=_NO_COUNT,
                offset=_NO_COUNT,
            ),
            "a list of sections",
        )
    ),
    totals=_req(
        _object(
            "size totals",
            **{k: _req(_COUNT) for k in ("text", "rodata", "data", "bss", "symbols", "debug")},
        )
    ),
    groups=_opt(
        _List(_object("a size group", name=_req(_TEXT), bytes=_req(_COUNT)), "a list of groups"),
        [],
    ),
    symbols=_req(
        _object(
            "symbol facts",
            stripped=_req(_FLAG),
            symtab_entries=_req(_COUNT),
            dynsym_entries=_req(_COUNT),
        )
    ),
    debug=_req(
        _object(
            "debug facts",
            present=_req(_FLAG),
            compressed=_req(_FLAG),
            bytes=_req(_COUNT),
            sections=_opt(_STRINGS, []),
        )
    ),
    hardening=_req(
        _object(
            "hardening facts",
            nx=_req(_FLAG),
            relro=_req(_OneOf("none", "partial", "full")),
            bind_now=_req(_FLAG),
            textrel=_req(_FLAG),
            canary=_req(_FLAG),
            fortify=_req(_FLAG),
            fortified=_opt(_STRINGS, []),
        )
    ),
    go=_req(
        _Null(
            _object(
                "Go build info",
                version=_req(_TEXT),
                path=_req(_TEXT),
                main_module=_req(_Null(_MODULE)),
                settings=_req(_Map(_TEXT, "an object of strings")),
                deps=_opt(_List(_MODULE, "a list of Go modules"), []),
                format=_opt(_TEXT, "inline"),
            )
        )
    ),
    # gate/elf/toolchain.py; null in documents written before it was recorded.
    toolchain=_opt(
        _Null(
            _object(
                "the toolchain",
                language=_req(_OneOf("go", "rust", "c++", "c")),
                compiler=_req(_Null(_TEXT)),
                version=_req(_Null(_TEXT)),
                evidence=_req(_TEXT),
                c_code=_req(_Null(_FLAG)),
                c_evidence=_req(_TEXT),
            )
        ),
        None,
    ),
)

_RUN = _object(
    "a start-up run",
    wall_ms=_req(_MS),
    user_ms=_req(_MS),
    sys_ms=_req(_MS),
    max_rss_bytes=_req(_Null(_COUNT)),
    major_faults=_req(_COUNT),
    minor_faults=_req(_COUNT),
    exit_code=_req(_Null(_SIGNED)),
    ok=_req(_FLAG),
    error=_NO_TEXT,
    stopped=_opt(_COUNT, 0),
    port=_NO_COUNT,
    stdout_tail=_opt(_TEXT, ""),
    stderr_tail=_opt(_TEXT, ""),
    peak_memory_bytes=_NO_COUNT,
    throttled_ms=_opt(_Null(_MS), None),
    resident_before=_NO_COUNT,
    resident_after=_NO_COUNT,
    mapped_objects=_NO_COUNT,
    open_fds=_NO_COUNT,
)
_RUNS = _List(_RUN, "a list of runs")

_STATS = _object(
    "start-up statistics",
    count=_req(_COUNT),
    failed=_req(_COUNT),
    **{f"{k}_ms": _req(_MS) for k in ("min", *PERCENTILES, "max", "mean", "stdev")},
    ci=_req(
        _Map(
            _Pair(_Null(_MS)),
            "an object of [low, high] intervals",
            {k: [None, None] for k in PERCENTILES},
        )
    ),
    confidence=_req(_FRACTION),
    min_runs=_opt(_Map(_COUNT, "an object of run counts"), {}),
    # An older document's own words, or none: never today's (a comparison says when the
    # two sides differ: compare.across_methods).
    quantile_method=_opt(_TEXT, NOT_RECORDED),
    ci_method=_opt(_TEXT, NOT_RECORDED),
)

_AGAINST = _object(
    "an A/B comparison",
    binary=_req(_TEXT),
    order=_opt(_TEXT, AB_ORDER),
    runs=_req(_RUNS),
    stats=_req(_Null(_STATS)),
    ratio_p50=_opt(_Null(_MS), None),
    ratio_hl=_opt(_Null(_MS), None),
    ratio_ci=_opt(_Null(_Pair(_MS)), None),
    p_value=_opt(_Null(_FRACTION), None),
    confidence=_opt(_Null(_FRACTION), None),
    method=_opt(_TEXT, AB_METHOD),
    pairs=_opt(_COUNT, 0),
)

_FAULTS = _object("page faults", major=_req(_MS), minor=_req(_MS))

_BREAKDOWN = _object(
    "a start-up breakdown",
    kind=_req(_TEXT),
    inits=_opt(
        _List(
            _object(
                "a Go package init",
                package=_req(_TEXT),
                at_ms=_req(_MS),
                clock_ms=_req(_MS),
                bytes=_req(_COUNT),
                allocs=_req(_COUNT),
                spread_ms=_opt(_MS, 0.0),
            ),
            "a list of inits",
        ),
        [],
    ),
    init_count=_opt(_COUNT, 0),
    init_clock_ms=_opt(_MS, 0.0),
    loader=_opt(
        _Null(
            _object(
                "loader statistics",
                pid=_req(_COUNT),
                total_cycles=_req(_Null(_COUNT)),
                relocation_cycles=_req(_Null(_COUNT)),
                relocation_percent=_req(_Null(_MS)),
                load_cycles=_req(_Null(_COUNT)),
                load_percent=_req(_Null(_MS)),
                relocations=_req(_COUNT),
                relocations_from_cache=_req(_COUNT),
                relative_relocations=_req(_COUNT),
                final_relocations=_NO_COUNT,
                final_relocations_from_cache=_NO_COUNT,
                total_ms=_opt(_Null(_MS), None),
            )
        ),
        None,
    ),
    faults=_opt(_Null(_FAULTS), None),
    note=_opt(_TEXT, ""),
    gomaxprocs=_NO_COUNT,
    runs=_opt(_COUNT, 1),
    start_ms=_opt(_Null(_MS), None),
    throttle=_opt(
        _Null(
            _object(
                "the CPU quota's hold on a start",
                cpus=_req(_MS),
                cpu_period_us=_req(_COUNT),
                throttled_ms=_req(_Null(_MS)),
                wall_ms=_req(_MS),
            )
        ),
        None,
    ),
)

_STARTUP = _object(
    "a start-up measurement",
    binary=_req(_TEXT),
    args=_req(_STRINGS),
    ready=_req(_TEXT),
    cold=_req(_FLAG),
    eviction=_req(_TEXT),
    warmup=_NO_COUNT,
    requested_runs=_NO_COUNT,
    timeout_s=_opt(_Null(_MS), None),
    runs=_req(_RUNS),
    stats=_req(_Null(_STATS)),
    max_rss_bytes=_derived(
        _Null(_COUNT), lambda s: peak_rss((r["ok"], r["max_rss_bytes"]) for r in s["runs"])
    ),
    faults=_derived(
        _Null(_FAULTS),
        lambda s: fault_medians((r["ok"], r["major_faults"], r["minor_faults"]) for r in s["runs"]),
    ),
    eviction_detail=_opt(
        _Null(
            _object(
                "the page-cache eviction",
                method=_req(_TEXT),
                note=_NO_TEXT,
                beyond=_opt(_STRINGS, []),
                files=_opt(
                    _List(
                        _object(
                            "an evicted file",
                            path=_req(_TEXT),
                            pages=_req(_COUNT),
                            resident_before=_req(_COUNT),
                            resident_after=_req(_COUNT),
                        ),
                        "a list of files",
                    ),
                    [],
                ),
            )
        ),
        None,
    ),
    adaptive=_opt(
        _Null(
            _object(
                "adaptive sampling",
                min_runs=_req(_COUNT),
                max_runs=_req(_COUNT),
                runs=_req(_COUNT),
                stopped=_req(_TEXT),
            )
        ),
        None,
    ),
    stopped=_opt(_TEXT, "fixed"),
    against=_opt(_Null(_AGAINST), None),
    environment=_opt(_Null(_Map(_JSON, "an object")), None),
    breakdown=_opt(_Null(_BREAKDOWN), None),
    envelope=_opt(
        _Null(
            _object(
                "a start-up envelope",
                cpus=_opt(_Null(_MS), None),
                cpu_period_us=_req(_COUNT),
                memory=_NO_COUNT,
                cpu=_NO_COUNT,
            )
        ),
        None,
    ),
    peak_memory_bytes=_NO_COUNT,
    mapped_objects=_derived(
        _Null(_COUNT), lambda s: most((r["ok"], r["mapped_objects"]) for r in s["runs"])
    ),
    open_fds=_derived(_Null(_COUNT), lambda s: most((r["ok"], r["open_fds"]) for r in s["runs"])),
    shared_objects=_opt(_STRINGS, []),
)

_NAMED_BYTES = _Null(
    _List(_object("an entry", name=_req(_TEXT), bytes=_req(_COUNT)), "a list of entries")
)

# What exists today; report/size.py's attribution_to_dict may add keys (kept as they are).
_ATTRIBUTION = _object(
    "the attribution",
    pclntab=_NO_TEXT,
    bss=_opt(_COUNT, 0),
    warnings=_opt(_STRINGS, []),
    sections=_opt(_NAMED_BYTES, None),
    packages=_opt(_NAMED_BYTES, None),
    modules=_opt(_NAMED_BYTES, None),
    symbols=_opt(_NAMED_BYTES, None),
    symbols_count=_NO_COUNT,
    data_symbols=_opt(
        _Null(
            _List(
                _object(
                    "a data symbol",
                    name=_req(_TEXT),
                    bytes=_req(_COUNT),
                    group=_req(_TEXT),
                    section=_opt(_TEXT, ""),
                    package=_NO_TEXT,
                ),
                "a list of data symbols",
            )
        ),
        None,
    ),
    code_symbols=_opt(_NAMED_BYTES, None),
)

_CHECK = _object(
    "a check",
    id=_req(_TEXT),
    status=_req(_OneOf(*STATUSES)),
    measured=_opt(_JSON, None),
    limit=_opt(_JSON, None),
    unit=_NO_TEXT,
    message=_opt(_TEXT, ""),
    severity=_opt(_OneOf("error", "warn"), "error"),
)


_REMEDY = _object(
    "a remedy",
    id=_req(_TEXT),
    title=_req(_TEXT),
    evidence=_req(_TEXT),
    saving=_opt(_Null(_MS), None),
    unit=_NO_TEXT,
    checks=_opt(_STRINGS, []),
)


def _entry_verdict(entry: dict[str, Any]) -> str:
    if entry["error"] is not None:
        return "error"
    return "fail" if any(c["status"] == "fail" for c in entry["checks"]) else "pass"


_TIMINGS = _object("measuring times", **{key: _opt(_Null(_MS), None) for key in TIMING_KEYS})

_ENTRY = _object(
    "a binary's entry",
    path=_req(_TEXT),
    name=_derived(_TEXT, lambda entry: PurePath(entry["path"]).name),
    error=_NO_TEXT,
    facts=_opt(_Null(_FACTS), None),
    startup=_opt(_Null(_STARTUP), None),
    attribution=_opt(_Null(_ATTRIBUTION), None),
    checks=_opt(_List(_CHECK, "a list of checks"), []),
    verdict=_derived(_OneOf(*VERDICTS), _entry_verdict),
    compared_with=_opt(
        _Null(
            _object(
                "the baseline's numbers",
                name=_req(_TEXT),
                how=_req(_TEXT),
                file_size=_req(_Null(_COUNT)),
                p50_ms=_req(_Null(_MS)),
                p95_ms=_req(_Null(_MS)),
            )
        ),
        None,
    ),
    timings=_opt(_Null(_TIMINGS), None),
    remedies=_opt(_List(_REMEDY, "a list of remedies"), []),
    not_judged=_opt(_OneOf("error", "failure"), "error"),
)

_DOCUMENT = _object(
    "a gate results document",
    schema=_req(_TEXT),
    gate_version=_NO_TEXT,
    created=_NO_TEXT,
    policy=_opt(_TEXT, "unknown"),
    policy_sources=_opt(_STRINGS, []),
    baseline=_opt(
        _Null(
            _object(
                "the baseline's record",
                source=_req(_TEXT),
                found=_req(_FLAG),
                relation=_NO_TEXT,
                commit=_NO_TEXT,
                run_id=_NO_COUNT,
                merge_base=_NO_TEXT,
                distance=_NO_COUNT,
                reason=_NO_TEXT,
            )
        ),
        None,
    ),
    commit=_NO_TEXT,
    pull_request=_opt(
        _Null(_object("the pull request", number=_req(_COUNT), head_sha=_req(_TEXT))), None
    ),
    shard=_opt(
        _Null(_object("the shard (--shard I/N)", index=_req(_COUNT), total=_req(_COUNT))), None
    ),
    merged=_opt(
        _Null(
            _object(
                "what gate merge combined",
                documents=_req(
                    _List(
                        _object(
                            "a merged document",
                            source=_req(_TEXT),
                            shard=_NO_TEXT,
                            gate_version=_NO_TEXT,
                            policy=_NO_TEXT,
                            verdict=_NO_TEXT,
                            binaries=_req(_COUNT),
                        ),
                        "a list of merged documents",
                    )
                ),
                expected_shards=_NO_COUNT,
            )
        ),
        None,
    ),
    binaries=_req(_List(_ENTRY, "a list of binaries")),
    skipped=_opt(
        _List(
            _object("a file passed over", path=_req(_TEXT), reason=_req(_TEXT)),
            "a list of files passed over",
        ),
        [],
    ),
    verdict=_derived(_OneOf(*VERDICTS), lambda doc: overall_verdict(doc["binaries"])),
)
