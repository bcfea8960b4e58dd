"""The gate/results/v1 document's format: what every key is, its type and its default.

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
    what each is instead (gate check --skip-unsupported); none of them is in `binaries`,
    commit: str? = null (the CI's commit), shard: {index, total: count}? = null (gate check
    --shard I/N: which share of the binaries), merged: {documents: [{source: str, shard,
    gate_version, policy, verdict: str?, binaries: count}], expected_shards: count?}? = null
    (what gate merge combined)
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
    named in `checks` (gate/judge/remedies.py), with the measured evidence and expected saving
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
    eviction_detail.beyond [str] = [] (the files evicted beyond the loader's list);
    counts: COUNTS? = null (counted starts, `--count instructions`)
  ENVELOPE: cpus? (CPU quota in CPUs), cpu_period_us, memory? (bytes), cpu? (pinned CPU):
    what every start ran inside (gate/values/envelope.py)
  RUN: wall_ms, user_ms, sys_ms, max_rss_bytes?, major_faults, minor_faults, exit_code?, ok;
    error = null, stopped = 0, port = null, stdout_tail = "", stderr_tail = "",
    resident_before = null, resident_after = null, peak_memory_bytes = null (the run
    cgroup's peak, inside an envelope), throttled_ms = null (time the CPU quota held it),
    mapped_objects = null, open_fds = null (at readiness, gate/run/loaded.py)
  STATS: count, failed, min_ms, p50_ms, p90_ms, p95_ms, p99_ms, max_ms, mean_ms, stdev_ms,
    confidence, ci {key: [lo?, hi?]} with p50, p90, p95 and p99 = [null, null]; min_runs = {},
    quantile_method and ci_method = the methods gate uses
  AGAINST: binary, runs [RUN], stats: STATS?; ratio_p50, ratio_hl, ratio_ci [lo, hi],
    p_value, confidence = null; pairs = 0; order, method = gate's
  COUNTS: metric ("instructions"), backend ("valgrind-cachegrind"), version, scope: str (what
    one count covers); hardware: str = "" (why hardware counters were not used); runs
    [COUNTED]; count, failed; median: number?, min, max: count?, spread_pct: number? (max -
    min over the median) = null without a successful count; stopped = "fixed"; max_runs:
    count? = null (adaptive ceiling); against: {binary, runs [COUNTED], median?, ratio_hl?,
    ratio_ci [lo, hi]?, p_value?, confidence? = null, pairs = 0}? = null (OLD's counted
    starts, interleaved): the counted starts (gate/run/count.py), separate from the timed
  COUNTED: instructions: count?, ok, wall_ms (the counted start's time, under the counter),
    error = null
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

from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from gate.results.spec import (
    JSON,
    MAX_SIGNED,
    MIN_SIGNED,
    Bool,
    Field,
    Int,
    List,
    Map,
    Null,
    Num,
    Obj,
    OneOf,
    Pair,
    Str,
    derived,
    opt,
    req,
)
from gate.run.loaded import most
from gate.values.stats import NOT_RECORDED, QUANTILES, fault_medians, peak_rss

if TYPE_CHECKING:
    from gate.results.types import Verdict

RESULTS_SCHEMA = "gate/results/v1"
VERDICTS = ("pass", "fail", "error")
STATUSES = ("pass", "fail", "warn", "skip")
PERCENTILES = tuple(QUANTILES)  # the STATS keys p50_ms ... and the ci keys
AB_ORDER = "ABBA (interleaved)"
AB_METHOD = (
    "paired by round: Hodges-Lehmann ratio of log times, Wilcoxon signed-rank interval and p-value"
)
TIMING_KEYS = ("inspect_s", "attribution_s", "startup_s", "breakdown_s")


def overall_verdict(entries: Iterable[Mapping[str, Any]]) -> Verdict:
    """error if a binary could not be judged, else fail if one failed, else pass."""
    verdicts = {e["verdict"] for e in entries}
    return "error" if "error" in verdicts else "fail" if "fail" in verdicts else "pass"


_TEXT = Str()
_FLAG = Bool()
_COUNT = Int()  # bytes, entries, runs, pages: unsigned 64-bit
_SIGNED = Int(MIN_SIGNED, MAX_SIGNED)
_MS = Num()  # durations, never negative
_FRACTION = Num(0.0, 1.0)
_NO_TEXT = opt(Null(_TEXT), None)
_NO_COUNT = opt(Null(_COUNT), None)
_STRINGS = List(_TEXT, "a list of strings")


def _object(what: str, **fields: Field) -> Obj:
    return Obj(what, dict(fields))


_MODULE = _object("a Go module")
_MODULE.fields.update(
    path=req(_TEXT), version=req(_TEXT), sum=_NO_TEXT, replace=opt(Null(_MODULE), None)
)

FACTS = _object(
    "the binary's facts",
    path=req(_TEXT),
    file_size=req(_COUNT),
    elf=req(
        _object(
            "ELF header facts",
            **{"class": req(OneOf(32, 64))},
            machine=req(_TEXT),
            type=req(_TEXT),
            entry=req(_COUNT),
            endian=_NO_TEXT,
        )
    ),
    linking=req(
        _object(
            "linking facts",
            static=req(_FLAG),
            interpreter=req(Null(_TEXT)),
            needed=req(_STRINGS),
            rpath=req(_STRINGS),
            runpath=req(_STRINGS),
            soname=_NO_TEXT,
            relocations=_NO_COUNT,
        )
    ),
    sections=req(
        List(
            _object(
                "a section",
                name=req(_TEXT),
                type=req(_TEXT),
                size=req(_COUNT),
                flags=req(_TEXT),
                address=_NO_COUNT,
                offset=_NO_COUNT,
            ),
            "a list of sections",
        )
    ),
    totals=req(
        _object(
            "size totals",
            **{k: req(_COUNT) for k in ("text", "rodata", "data", "bss", "symbols", "debug")},
        )
    ),
    groups=opt(
        List(_object("a size group", name=req(_TEXT), bytes=req(_COUNT)), "a list of groups"),
        [],
    ),
    symbols=req(
        _object(
            "symbol facts",
            stripped=req(_FLAG),
            symtab_entries=req(_COUNT),
            dynsym_entries=req(_COUNT),
        )
    ),
    debug=req(
        _object(
            "debug facts",
            present=req(_FLAG),
            compressed=req(_FLAG),
            bytes=req(_COUNT),
            sections=opt(_STRINGS, []),
        )
    ),
    hardening=req(
        _object(
            "hardening facts",
            nx=req(_FLAG),
            relro=req(OneOf("none", "partial", "full")),
            bind_now=req(_FLAG),
            textrel=req(_FLAG),
            canary=req(_FLAG),
            fortify=req(_FLAG),
            fortified=opt(_STRINGS, []),
        )
    ),
    go=req(
        Null(
            _object(
                "Go build info",
                version=req(_TEXT),
                path=req(_TEXT),
                main_module=req(Null(_MODULE)),
                settings=req(Map(_TEXT, "an object of strings")),
                deps=opt(List(_MODULE, "a list of Go modules"), []),
                format=opt(_TEXT, "inline"),
            )
        )
    ),
    # gate/read/toolchain.py; null in documents written before it was recorded.
    toolchain=opt(
        Null(
            _object(
                "the toolchain",
                language=req(OneOf("go", "rust", "c++", "c")),
                compiler=req(Null(_TEXT)),
                version=req(Null(_TEXT)),
                evidence=req(_TEXT),
                c_code=req(Null(_FLAG)),
                c_evidence=req(_TEXT),
            )
        ),
        None,
    ),
)

RUN = _object(
    "a start-up run",
    wall_ms=req(_MS),
    user_ms=req(_MS),
    sys_ms=req(_MS),
    max_rss_bytes=req(Null(_COUNT)),
    major_faults=req(_COUNT),
    minor_faults=req(_COUNT),
    exit_code=req(Null(_SIGNED)),
    ok=req(_FLAG),
    error=_NO_TEXT,
    stopped=opt(_COUNT, 0),
    port=_NO_COUNT,
    stdout_tail=opt(_TEXT, ""),
    stderr_tail=opt(_TEXT, ""),
    peak_memory_bytes=_NO_COUNT,
    throttled_ms=opt(Null(_MS), None),
    resident_before=_NO_COUNT,
    resident_after=_NO_COUNT,
    mapped_objects=_NO_COUNT,
    open_fds=_NO_COUNT,
)
_RUNS = List(RUN, "a list of runs")

STATS = _object(
    "start-up statistics",
    count=req(_COUNT),
    failed=req(_COUNT),
    **{f"{k}_ms": req(_MS) for k in ("min", *PERCENTILES, "max", "mean", "stdev")},
    ci=req(
        Map(
            Pair(Null(_MS)),
            "an object of [low, high] intervals",
            {k: [None, None] for k in PERCENTILES},
        )
    ),
    confidence=req(_FRACTION),
    min_runs=opt(Map(_COUNT, "an object of run counts"), {}),
    # An older document's own words, or none: never today's (a comparison says when the
    # two sides differ: compare.across_methods).
    quantile_method=opt(_TEXT, NOT_RECORDED),
    ci_method=opt(_TEXT, NOT_RECORDED),
)

AGAINST = _object(
    "an A/B comparison",
    binary=req(_TEXT),
    order=opt(_TEXT, AB_ORDER),
    runs=req(_RUNS),
    stats=req(Null(STATS)),
    ratio_p50=opt(Null(_MS), None),
    ratio_hl=opt(Null(_MS), None),
    ratio_ci=opt(Null(Pair(_MS)), None),
    p_value=opt(Null(_FRACTION), None),
    confidence=opt(Null(_FRACTION), None),
    method=opt(_TEXT, AB_METHOD),
    pairs=opt(_COUNT, 0),
)

COUNTED = _object(
    "a counted start",
    instructions=req(Null(_COUNT)),
    ok=req(_FLAG),
    wall_ms=req(_MS),
    error=_NO_TEXT,
)
_COUNTED_RUNS = List(COUNTED, "a list of counted starts")
COUNTS = _object(
    "counted starts",
    metric=req(_TEXT),
    backend=req(_TEXT),
    version=req(_TEXT),
    scope=req(_TEXT),
    hardware=opt(_TEXT, ""),
    runs=req(_COUNTED_RUNS),
    count=req(_COUNT),
    failed=req(_COUNT),
    median=opt(Null(_MS), None),
    min=_NO_COUNT,
    max=_NO_COUNT,
    spread_pct=opt(Null(_MS), None),
    stopped=opt(_TEXT, "fixed"),
    max_runs=_NO_COUNT,
    against=opt(
        Null(
            _object(
                "OLD's counted starts",
                binary=req(_TEXT),
                runs=req(_COUNTED_RUNS),
                median=opt(Null(_MS), None),
                ratio_hl=opt(Null(_MS), None),
                ratio_ci=opt(Null(Pair(_MS)), None),
                p_value=opt(Null(_FRACTION), None),
                confidence=opt(Null(_FRACTION), None),
                pairs=opt(_COUNT, 0),
            )
        ),
        None,
    ),
)

_FAULTS = _object("page faults", major=req(_MS), minor=req(_MS))

BREAKDOWN = _object(
    "a start-up breakdown",
    kind=req(_TEXT),
    inits=opt(
        List(
            _object(
                "a Go package init",
                package=req(_TEXT),
                at_ms=req(_MS),
                clock_ms=req(_MS),
                bytes=req(_COUNT),
                allocs=req(_COUNT),
                spread_ms=opt(_MS, 0.0),
            ),
            "a list of inits",
        ),
        [],
    ),
    init_count=opt(_COUNT, 0),
    init_clock_ms=opt(_MS, 0.0),
    loader=opt(
        Null(
            _object(
                "loader statistics",
                pid=req(_COUNT),
                total_cycles=req(Null(_COUNT)),
                relocation_cycles=req(Null(_COUNT)),
                relocation_percent=req(Null(_MS)),
                load_cycles=req(Null(_COUNT)),
                load_percent=req(Null(_MS)),
                relocations=req(_COUNT),
                relocations_from_cache=req(_COUNT),
                relative_relocations=req(_COUNT),
                final_relocations=_NO_COUNT,
                final_relocations_from_cache=_NO_COUNT,
                total_ms=opt(Null(_MS), None),
            )
        ),
        None,
    ),
    faults=opt(Null(_FAULTS), None),
    note=opt(_TEXT, ""),
    gomaxprocs=_NO_COUNT,
    runs=opt(_COUNT, 1),
    start_ms=opt(Null(_MS), None),
    throttle=opt(
        Null(
            _object(
                "the CPU quota's hold on a start",
                cpus=req(_MS),
                cpu_period_us=req(_COUNT),
                throttled_ms=req(Null(_MS)),
                wall_ms=req(_MS),
            )
        ),
        None,
    ),
)

STARTUP = _object(
    "a start-up measurement",
    binary=req(_TEXT),
    args=req(_STRINGS),
    ready=req(_TEXT),
    cold=req(_FLAG),
    eviction=req(_TEXT),
    warmup=_NO_COUNT,
    requested_runs=_NO_COUNT,
    timeout_s=opt(Null(_MS), None),
    runs=req(_RUNS),
    stats=req(Null(STATS)),
    max_rss_bytes=derived(
        Null(_COUNT), lambda s: peak_rss((r["ok"], r["max_rss_bytes"]) for r in s["runs"])
    ),
    faults=derived(
        Null(_FAULTS),
        lambda s: fault_medians((r["ok"], r["major_faults"], r["minor_faults"]) for r in s["runs"]),
    ),
    eviction_detail=opt(
        Null(
            _object(
                "the page-cache eviction",
                method=req(_TEXT),
                note=_NO_TEXT,
                beyond=opt(_STRINGS, []),
                files=opt(
                    List(
                        _object(
                            "an evicted file",
                            path=req(_TEXT),
                            pages=req(_COUNT),
                            resident_before=req(_COUNT),
                            resident_after=req(_COUNT),
                        ),
                        "a list of files",
                    ),
                    [],
                ),
            )
        ),
        None,
    ),
    adaptive=opt(
        Null(
            _object(
                "adaptive sampling",
                min_runs=req(_COUNT),
                max_runs=req(_COUNT),
                runs=req(_COUNT),
                stopped=req(_TEXT),
            )
        ),
        None,
    ),
    stopped=opt(_TEXT, "fixed"),
    against=opt(Null(AGAINST), None),
    environment=opt(Null(Map(JSON, "an object")), None),
    breakdown=opt(Null(BREAKDOWN), None),
    envelope=opt(
        Null(
            _object(
                "a start-up envelope",
                cpus=opt(Null(_MS), None),
                cpu_period_us=req(_COUNT),
                memory=_NO_COUNT,
                cpu=_NO_COUNT,
            )
        ),
        None,
    ),
    peak_memory_bytes=_NO_COUNT,
    mapped_objects=derived(
        Null(_COUNT), lambda s: most((r["ok"], r["mapped_objects"]) for r in s["runs"])
    ),
    open_fds=derived(Null(_COUNT), lambda s: most((r["ok"], r["open_fds"]) for r in s["runs"])),
    shared_objects=opt(_STRINGS, []),
    counts=opt(Null(COUNTS), None),
)

_NAMED_BYTES = Null(
    List(_object("an entry", name=req(_TEXT), bytes=req(_COUNT)), "a list of entries")
)

# What exists today; report/size.py's attribution_to_dict may add keys (kept as they are).
ATTRIBUTION = _object(
    "the attribution",
    pclntab=_NO_TEXT,
    bss=opt(_COUNT, 0),
    warnings=opt(_STRINGS, []),
    sections=opt(_NAMED_BYTES, None),
    packages=opt(_NAMED_BYTES, None),
    modules=opt(_NAMED_BYTES, None),
    symbols=opt(_NAMED_BYTES, None),
    symbols_count=_NO_COUNT,
    data_symbols=opt(
        Null(
            List(
                _object(
                    "a data symbol",
                    name=req(_TEXT),
                    bytes=req(_COUNT),
                    group=req(_TEXT),
                    section=opt(_TEXT, ""),
                    package=_NO_TEXT,
                ),
                "a list of data symbols",
            )
        ),
        None,
    ),
    code_symbols=opt(_NAMED_BYTES, None),
)

CHECK = _object(
    "a check",
    id=req(_TEXT),
    status=req(OneOf(*STATUSES)),
    measured=opt(JSON, None),
    limit=opt(JSON, None),
    unit=_NO_TEXT,
    message=opt(_TEXT, ""),
    severity=opt(OneOf("error", "warn"), "error"),
)


REMEDY = _object(
    "a remedy",
    id=req(_TEXT),
    title=req(_TEXT),
    evidence=req(_TEXT),
    saving=opt(Null(_MS), None),
    unit=_NO_TEXT,
    checks=opt(_STRINGS, []),
)


def entry_verdict(entry: dict[str, Any]) -> Verdict:
    if entry["error"] is not None:
        return "error"
    return "fail" if any(c["status"] == "fail" for c in entry["checks"]) else "pass"


TIMINGS = _object("measuring times", **{key: opt(Null(_MS), None) for key in TIMING_KEYS})

ENTRY = _object(
    "a binary's entry",
    path=req(_TEXT),
    name=derived(_TEXT, lambda entry: PurePath(entry["path"]).name),
    error=_NO_TEXT,
    facts=opt(Null(FACTS), None),
    startup=opt(Null(STARTUP), None),
    attribution=opt(Null(ATTRIBUTION), None),
    checks=opt(List(CHECK, "a list of checks"), []),
    verdict=derived(OneOf(*VERDICTS), entry_verdict),
    compared_with=opt(
        Null(
            _object(
                "the baseline's numbers",
                name=req(_TEXT),
                how=req(_TEXT),
                file_size=req(Null(_COUNT)),
                p50_ms=req(Null(_MS)),
                p95_ms=req(Null(_MS)),
            )
        ),
        None,
    ),
    timings=opt(Null(TIMINGS), None),
    remedies=opt(List(REMEDY, "a list of remedies"), []),
    not_judged=opt(OneOf("error", "failure"), "error"),
)

DOCUMENT = _object(
    "a gate results document",
    schema=req(_TEXT),
    gate_version=_NO_TEXT,
    created=_NO_TEXT,
    policy=opt(_TEXT, "unknown"),
    policy_sources=opt(_STRINGS, []),
    baseline=opt(
        Null(
            _object(
                "the baseline's record",
                source=req(_TEXT),
                found=req(_FLAG),
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
    pull_request=opt(
        Null(_object("the pull request", number=req(_COUNT), head_sha=req(_TEXT))), None
    ),
    shard=opt(Null(_object("the shard (--shard I/N)", index=req(_COUNT), total=req(_COUNT))), None),
    merged=opt(
        Null(
            _object(
                "what gate merge combined",
                documents=req(
                    List(
                        _object(
                            "a merged document",
                            source=req(_TEXT),
                            shard=_NO_TEXT,
                            gate_version=_NO_TEXT,
                            policy=_NO_TEXT,
                            verdict=_NO_TEXT,
                            binaries=req(_COUNT),
                        ),
                        "a list of merged documents",
                    )
                ),
                expected_shards=_NO_COUNT,
            )
        ),
        None,
    ),
    binaries=req(List(ENTRY, "a list of binaries")),
    skipped=opt(
        List(
            _object("a file passed over", path=req(_TEXT), reason=req(_TEXT)),
            "a list of files passed over",
        ),
        [],
    ),
    verdict=derived(OneOf(*VERDICTS), lambda doc: overall_verdict(doc["binaries"])),
)
