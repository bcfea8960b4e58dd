"""gate/results/v1 in the validated form, as types: what a consumer (the judge, the
remedies, every renderer) may read without checking again, so `mypy --strict` checks each
key it reads. Every key is present, as gate/results/validate.py leaves the document;
optional keys of the file are filled with their defaults there.

The same format is declared for checking JSON in gate/results/schema.py, with the
bounds and defaults types cannot say; tests/test_results_types.py holds the two to the
same keys and kinds, and FACTS to gate/read/facts.py's BinaryFacts. gate imports this
module only under TYPE_CHECKING: it costs nothing at run time.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Verdict = Literal["pass", "fail", "error"]
Status = Literal["pass", "fail", "warn", "skip"]


class Module(TypedDict):
    path: str
    version: str
    sum: str | None
    replace: Module | None


ElfHeader = TypedDict(
    "ElfHeader",
    {
        "class": Literal[32, 64],
        "machine": str,
        "type": str,
        "entry": int,
        "endian": str | None,
    },
)


class Linking(TypedDict):
    static: bool
    interpreter: str | None
    needed: list[str]
    rpath: list[str]
    runpath: list[str]
    soname: str | None
    relocations: int | None


class Section(TypedDict):
    name: str
    type: str
    size: int
    flags: str
    address: int | None
    offset: int | None


class Totals(TypedDict):
    text: int
    rodata: int
    data: int
    bss: int
    symbols: int
    debug: int


class NamedBytes(TypedDict):
    """A size group, a package, a module or a symbol: a name and its bytes."""

    name: str
    bytes: int


class SymbolFacts(TypedDict):
    stripped: bool
    symtab_entries: int
    dynsym_entries: int


class DebugFacts(TypedDict):
    present: bool
    compressed: bool
    bytes: int
    sections: list[str]


class Hardening(TypedDict):
    nx: bool
    relro: Literal["none", "partial", "full"]
    bind_now: bool
    textrel: bool
    canary: bool
    fortify: bool
    fortified: list[str]


class GoBuild(TypedDict):
    version: str
    path: str
    main_module: Module | None
    settings: dict[str, str]
    deps: list[Module]
    format: str


class Toolchain(TypedDict):
    language: Literal["go", "rust", "c++", "c"]
    compiler: str | None
    version: str | None
    evidence: str
    c_code: bool | None
    c_evidence: str


class Facts(TypedDict):
    path: str
    file_size: int
    elf: ElfHeader
    linking: Linking
    sections: list[Section]
    totals: Totals
    groups: list[NamedBytes]
    symbols: SymbolFacts
    debug: DebugFacts
    hardening: Hardening
    go: GoBuild | None
    toolchain: Toolchain | None


class Run(TypedDict):
    wall_ms: float
    user_ms: float
    sys_ms: float
    max_rss_bytes: int | None
    major_faults: int
    minor_faults: int
    exit_code: int | None
    ok: bool
    error: str | None
    stopped: int
    port: int | None
    stdout_tail: str
    stderr_tail: str
    peak_memory_bytes: int | None
    throttled_ms: float | None
    resident_before: int | None
    resident_after: int | None
    mapped_objects: int | None
    open_fds: int | None


class Stats(TypedDict):
    count: int
    failed: int
    min_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    stdev_ms: float
    ci: dict[str, list[float | None]]
    confidence: float
    min_runs: dict[str, int]
    quantile_method: str
    ci_method: str


class Against(TypedDict):
    binary: str
    order: str
    runs: list[Run]
    stats: Stats | None
    ratio_p50: float | None
    ratio_hl: float | None
    ratio_ci: list[float] | None
    p_value: float | None
    confidence: float | None
    method: str
    pairs: int


class Counted(TypedDict):
    instructions: int | None
    ok: bool
    wall_ms: float
    error: str | None


class CountsAgainst(TypedDict):
    binary: str
    runs: list[Counted]
    median: float | None
    ratio_hl: float | None
    ratio_ci: list[float] | None
    p_value: float | None
    confidence: float | None
    pairs: int


class Counts(TypedDict):
    metric: str
    backend: str
    version: str
    scope: str
    hardware: str
    runs: list[Counted]
    count: int
    failed: int
    median: float | None
    min: int | None
    max: int | None
    spread_pct: float | None
    stopped: str
    max_runs: int | None
    against: CountsAgainst | None


class Faults(TypedDict):
    major: float
    minor: float


class Init(TypedDict):
    package: str
    at_ms: float
    clock_ms: float
    bytes: int
    allocs: int
    spread_ms: float


class LoaderStats(TypedDict):
    pid: int
    total_cycles: int | None
    relocation_cycles: int | None
    relocation_percent: float | None
    load_cycles: int | None
    load_percent: float | None
    relocations: int
    relocations_from_cache: int
    relative_relocations: int
    final_relocations: int | None
    final_relocations_from_cache: int | None
    total_ms: float | None


class Throttle(TypedDict):
    cpus: float
    cpu_period_us: int
    throttled_ms: float | None
    wall_ms: float


class Breakdown(TypedDict):
    kind: str
    inits: list[Init]
    init_count: int
    init_clock_ms: float
    loader: LoaderStats | None
    faults: Faults | None
    note: str
    gomaxprocs: int | None
    runs: int
    start_ms: float | None
    throttle: Throttle | None


class EvictedFile(TypedDict):
    path: str
    pages: int
    resident_before: int
    resident_after: int


class Eviction(TypedDict):
    method: str
    note: str | None
    beyond: list[str]
    files: list[EvictedFile]


class Adaptive(TypedDict):
    min_runs: int
    max_runs: int
    runs: int
    stopped: str


class Envelope(TypedDict):
    cpus: float | None
    cpu_period_us: int
    memory: int | None
    cpu: int | None


class Startup(TypedDict):
    binary: str
    args: list[str]
    ready: str
    cold: bool
    eviction: str
    warmup: int | None
    requested_runs: int | None
    timeout_s: float | None
    runs: list[Run]
    stats: Stats | None
    max_rss_bytes: int | None
    faults: Faults | None
    eviction_detail: Eviction | None
    adaptive: Adaptive | None
    stopped: str
    against: Against | None
    environment: dict[str, Any] | None
    breakdown: Breakdown | None
    envelope: Envelope | None
    peak_memory_bytes: int | None
    mapped_objects: int | None
    open_fds: int | None
    shared_objects: list[str]
    counts: Counts | None


class DataSymbol(TypedDict):
    name: str
    bytes: int
    group: str
    section: str
    package: str | None


class Attribution(TypedDict):
    pclntab: str | None
    bss: int
    warnings: list[str]
    sections: list[NamedBytes] | None
    packages: list[NamedBytes] | None
    modules: list[NamedBytes] | None
    symbols: list[NamedBytes] | None
    symbols_count: int | None
    data_symbols: list[DataSymbol] | None
    code_symbols: list[NamedBytes] | None


class Check(TypedDict):
    id: str
    status: Status
    measured: Any
    limit: Any
    unit: str | None
    message: str
    severity: Literal["error", "warn"]


class Remedy(TypedDict):
    id: str
    title: str
    evidence: str
    saving: float | None
    unit: str | None
    checks: list[str]


class Timings(TypedDict):
    inspect_s: float | None
    attribution_s: float | None
    startup_s: float | None
    breakdown_s: float | None


class ComparedWith(TypedDict):
    name: str
    how: str
    file_size: int | None
    p50_ms: float | None
    p95_ms: float | None


class Entry(TypedDict):
    path: str
    name: str
    error: str | None
    facts: Facts | None
    startup: Startup | None
    attribution: Attribution | None
    checks: list[Check]
    verdict: Verdict
    compared_with: ComparedWith | None
    timings: Timings | None
    remedies: list[Remedy]
    not_judged: Literal["error", "failure"]


class BaselineRecord(TypedDict):
    source: str
    found: bool
    relation: str | None
    commit: str | None
    run_id: int | None
    merge_base: str | None
    distance: int | None
    reason: str | None


class PullRequest(TypedDict):
    number: int
    head_sha: str


class Shard(TypedDict):
    index: int
    total: int


class MergedDocument(TypedDict):
    source: str
    shard: str | None
    gate_version: str | None
    policy: str | None
    verdict: str | None
    binaries: int


class Merged(TypedDict):
    documents: list[MergedDocument]
    expected_shards: int | None


class Skipped(TypedDict):
    path: str
    reason: str


class Document(TypedDict):
    schema: str
    gate_version: str | None
    created: str | None
    policy: str
    policy_sources: list[str]
    baseline: BaselineRecord | None
    commit: str | None
    pull_request: PullRequest | None
    shard: Shard | None
    merged: Merged | None
    binaries: list[Entry]
    skipped: list[Skipped]
    verdict: Verdict
