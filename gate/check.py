"""The full gate for a set of binaries: inspect, start, judge -> a gate/results/v1 document.

Side effects (reading binaries, running them) happen here and in the modules it
calls; judging is pure (judge.py) and rendering lives in report/.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gate import options
from gate.errors import GateError, UsageError
from gate.judge.checks import Context, judge, verdict
from gate.judge.pairing import Pairing, label
from gate.judge.policy import Policy, Rule, startup_default
from gate.run import cgroup
from gate.run.runner import RunConfig, StartError, port_problem, unpinnable
from gate.run.sampling import Decider
from gate.values.envelope import build as build_envelope
from gate.values.readiness import ReadySpec, parse_ready
from gate.values.stats import QUANTILES

if TYPE_CHECKING:
    from gate.integrate.shard import Shard
    from gate.results.types import (
        Attribution,
        BaselineRecord,
        Breakdown,
        Check,
        ComparedWith,
        Document,
        Entry,
        Facts,
        PullRequest,
        Remedy,
        Skipped,
        Startup,
        Timings,
    )
    from gate.run.measure import Counting

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")  # GITHUB_EVENT_NAME


@dataclass(frozen=True)
class CheckOptions:
    runs: int | None = None  # None: the policy's startup.runs
    ready: str | None = None
    timeout_ms: float | None = None
    cold: bool | None = None
    startup: bool = True
    args: tuple[str, ...] = ()  # () : the policy's startup.args
    env: Mapping[str, str] = field(default_factory=dict)  # over the policy's startup.env
    max_runs: int | None = None  # None: the policy's startup.max_runs (adaptive when > runs)
    against: str | None = None  # OLD binary, started interleaved with each NEW one (A/B)
    breakdown: bool = False  # explain start-up even when its checks pass
    count: str | None = None  # --count: instructions | none (None: the policy's)
    count_runs: int | None = None  # None: the policy's startup.count_runs
    # --cpus/--memory/--cpu/--cpu-period as Envelope fields, over the policy's (envelope.py)
    envelope: Mapping[str, Any] = field(default_factory=dict)
    skip_unsupported: bool = False  # pass over inputs that are not ELF at all (pass_over)
    # A results JSON is written: it keeps the largest symbols, for a later --against or
    # baseline. Without it only the policy's size checks read the symbol table.
    keep_symbols: bool = True


@dataclass(frozen=True)
class BaselineOptions:
    """What to compare with: --baseline (with --baseline-optional), or --baseline-binary;
    --baseline-name chooses within either when names differ. `required`
    (--baseline-required) wins over `optional`, as the policy's `[baseline] required` does."""

    source: str | None = None
    optional: bool = False
    binaries: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    required: bool = False


def run_check(
    patterns: list[str],
    policy: Policy,
    opts: CheckOptions,
    base: BaselineOptions,
    report_paths: Sequence[str] = (),
    warn: Callable[[str], None] = lambda message: None,
    shard: Shard | None = None,
) -> Document:
    """The gate for a set of binaries: the gate/results/v1 document.

    Everything that can make the whole run pointless is refused before the first binary
    is started: conflicting baseline options, a baseline that cannot be had, a glob that
    matches nothing, a start-up that cannot work, a report path that is one of the
    binaries. A stop signal meanwhile stops the program under test first (interrupt.py).
    """
    from gate.integrate.baseline import load_baseline
    from gate.report.progress import RunProgress
    from gate.results.build import results_document
    from gate.run.interrupt import stop_on_signals

    if base.source and base.binaries:
        raise UsageError("--baseline and --baseline-binary: give one of them")
    if base.names and not (base.source or base.binaries):
        raise UsageError("--baseline-name chooses within a baseline: give --baseline or "
                         "--baseline-binary too")  # fmt: skip
    if base.required and not (base.source or base.binaries):
        raise UsageError("--baseline-required: which baseline? Give --baseline too")
    doc, base_info = (
        load_baseline(base.source, _forgiving(base, policy), warn) if base.source else (None, None)
    )
    paths = options.expand(patterns)
    if shard is not None:  # this job's share of a CI matrix (gate/integrate/shard.py)
        from gate.integrate.shard import select

        paths = select(paths, shard)
    _refuse_binaries_as_reports(paths, report_paths)
    paths, skipped = pass_over(paths) if opts.skip_unsupported else (paths, [])
    preflight(paths, policy, opts)  # a start-up that cannot work stops everything first
    pairings, base_info = _pairings(paths, doc, base_info, base)
    entries: list[Entry] = []
    with stop_on_signals():
        for path, paired in zip(paths, pairings, strict=True):
            these = opts
            if base.binaries and paired is not None and paired.entry is not None:
                these = dataclasses.replace(opts, against=str(paired.entry["path"]))
            entries.append(check_binary(path, policy, these, paired, RunProgress))
    where = (shard.index, shard.total) if shard else None
    return results_document(
        policy, entries, base_info, where, ci_commit(), ci_pull_request(), skipped=skipped
    )


def pass_over(paths: Sequence[str]) -> tuple[list[str], list[Skipped]]:
    """(the paths to judge, the rest as {path, reason}): --skip-unsupported's split.

    A pre-commit hook is handed every binary file under bin/ or dist/, images and tarballs
    too; only what is not ELF at all is passed over. A truncated ELF, an empty file or a
    path that is not there is still judged, and is an error as without the option."""
    from gate.read.filekind import not_elf

    judged: list[str] = []
    skipped: list[Skipped] = []
    for path in paths:
        what = not_elf(path)
        if what is None:
            judged.append(path)
        else:
            skipped.append({"path": path, "reason": what})
    return judged, skipped


def _forgiving(base: BaselineOptions, policy: Policy) -> bool:
    """Whether a baseline that cannot be had only skips the relative checks: asked for
    (--baseline-optional) and required by neither --baseline-required nor the policy. A
    gate whose point is the relative checks must not pass quietly without them."""
    rule = policy.rules.get("baseline.required")
    return base.optional and not base.required and not (rule is not None and rule.value)


def ci_commit() -> str | None:
    """The commit the CI is building (GitHub Actions, GitLab CI), or None."""
    import os

    return os.environ.get("GITHUB_SHA") or os.environ.get("CI_COMMIT_SHA") or None


def ci_pull_request() -> PullRequest | None:
    """{number, head_sha} of the GitHub pull request this job judges, or None.

    On a pull_request event GITHUB_SHA is a merge commit GitHub made, not the commit
    pushed; a comment written from these results by another workflow (`gate comment
    --from-artifact`) checks both against GitHub's record of the pull request. Never an
    error: a job that is not for a pull request, or an event that cannot be read, has none.
    """
    import json
    import os

    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or os.environ.get("GITHUB_EVENT_NAME") not in PULL_REQUEST_EVENTS:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            event = json.load(f)
    except (OSError, ValueError):
        return None
    pr = event.get("pull_request") if isinstance(event, dict) else None
    head = pr.get("head") if isinstance(pr, dict) else None
    number = pr.get("number") if isinstance(pr, dict) else None
    sha = head.get("sha") if isinstance(head, dict) else None
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        return None
    return {"number": number, "head_sha": sha} if isinstance(sha, str) and sha else None


def _pairings(
    paths: list[str],
    doc: Document | None,
    base_info: BaselineRecord | None,
    base: BaselineOptions,
) -> tuple[list[Pairing | None], BaselineRecord | None]:
    """Each binary's baseline entry (pairing.py says how), and the results' baseline record;
    --baseline-binary's entries are the old binaries, inspected here."""
    from gate.fetch import Origin
    from gate.integrate.baseline import record
    from gate.judge.pairing import pair, parse_choices

    choices = parse_choices(list(base.names), paths)
    if base.binaries:
        olds = [inspect_baseline_binary(b) for b in base.binaries]
        info = record("binary " + ", ".join(base.binaries), True, Origin("binary"))
        return list(pair(olds, paths, choices, "--baseline-binary")), info
    if doc is not None:
        source = str(base_info["source"]) if base_info else base.source or ""
        return list(pair(doc["binaries"], paths, choices, source)), base_info
    if base_info is not None:  # --baseline-optional, and it cannot be had
        note = f"no baseline ({base_info.get('reason') or base_info['source']})"
        return [Pairing(None, "missing", note)] * len(paths), base_info
    return [None] * len(paths), None


def _refuse_binaries_as_reports(paths: Sequence[str], reports: Sequence[str]) -> None:
    """`gate check --json build/svc` (a flag elsewhere) would write the report over the
    binary: refused, before anything runs."""
    import os

    for report in reports:
        if report == "-" or not os.path.exists(report):
            continue
        for path in paths:
            if os.path.exists(path) and os.path.samefile(report, path):
                raise UsageError(
                    f"{report}: is a binary being checked, not a place for a report (give "
                    "the report a path, e.g. --json results.json, or - for stdout)"
                )


def _setting(rules: Mapping[str, Rule], key: str, default: Any = None) -> Any:
    """The policy's [startup] `key`; else the built-in default policy's; else `default`."""
    rule = rules.get(f"startup.{key}")
    if rule is not None:
        return rule.value
    builtin = startup_default(key)
    return default if builtin is None else builtin


ENVELOPE_SETTINGS = ("cpus", "cpu_period", "memory", "cpu")  # [startup]'s envelope keys


def run_config(
    path: str, rules: Mapping[str, Rule], opts: CheckOptions
) -> tuple[RunConfig, int, int]:
    """(RunConfig, runs, warmup) from the policy's startup settings and the CLI's overrides.

    Arguments given after `--` replace the policy's `args`; `--env` entries are merged over
    its `env`. A readiness target with {port} that no argument or environment value passes
    on is a usage error: every start would wait out the timeout.
    """
    ready_text: str = opts.ready or _setting(rules, "ready", "exit")  # default.toml has none
    ready: ReadySpec = parse_ready(ready_text)
    timeout_ms = opts.timeout_ms or _setting(rules, "timeout")
    cold = _setting(rules, "cold") if opts.cold is None else opts.cold
    args = opts.args or tuple(_setting(rules, "args", ()))
    env = {**_setting(rules, "env", {}), **opts.env}
    problem = port_problem(ready, args, env)
    if problem:
        rule = rules.get("startup.ready")
        where = (
            f"--ready {ready_text}"
            if opts.ready or rule is None
            else f"{rule.source}: startup.ready {ready_text!r}"
        )
        hint = "" if opts.ready else "; or set [startup] args in the policy"
        raise UsageError(f"{where}: {problem}{hint}")
    settings = {k: _setting(rules, k, None) for k in ENVELOPE_SETTINGS}
    cfg = RunConfig(
        binary=path,
        args=args,
        env=env,
        ready=ready,
        timeout_s=timeout_ms / 1000,
        cold=cold,
        evict_also=tuple(_setting(rules, "evict", ())),
        envelope=build_envelope({k: v for k, v in settings.items() if v is not None},
                                opts.envelope),
    )  # fmt: skip
    runs = opts.runs or _setting(rules, "runs")
    return cfg, runs, _setting(rules, "warmup")


def preflight(paths: Sequence[str], policy: Policy, opts: CheckOptions) -> None:
    """Refuse a start-up configuration that cannot work, for every binary, before the
    first one runs (a usage error, exit 2)."""
    if opts.startup:
        for path in paths:
            cfg, _, _ = run_config(path, policy.for_binary(path), opts)
            pinned = cfg.envelope.cpu
            if pinned is not None and (problem := unpinnable(pinned)):
                where = "--cpu" if "cpu" in opts.envelope else "startup.cpu"
                raise UsageError(f"{where}: {problem}")
            if cfg.envelope.needs_cgroup:  # no cgroup: say so now, not after the first binary
                cgroup.maker(cfg.envelope)
            if counting_for(policy.for_binary(path), opts, False) is not None:
                from gate.run.count import backend

                backend()  # NotCountable: one line before the first start


def decider(rules: Mapping[str, Rule], with_regression: bool) -> Decider:
    """Whether the runs so far settle every start-up verdict the rules ask for: the same
    interval tests the judge applies, so sampling stops exactly when judging can. Not
    settled: which interval still contains its limit (the progress line says it)."""
    from gate.values.compare import (
        UNDECIDED,
        compare,
        interval_verdict,
        regression_verdict,
    )
    from gate.values.stats import summarize

    limits = [(r.id.split(".")[1], r.value) for r in rules.values() if r.id in _PERCENTILE_IDS]
    regression = rules.get("startup.max_regression") if with_regression else None

    def decided(walls: Sequence[Sequence[float | None]]) -> str | None:
        new = summarize([w for w in walls[0] if w is not None])
        for key, limit in limits:
            lo, hi = new.ci[key]
            if interval_verdict(lo, hi, new.min_ms, new.max_ms, limit) == UNDECIDED:
                low, high = new.min_ms if lo is None else lo, new.max_ms if hi is None else hi
                return (
                    f"the {key} interval [{low:.1f}, {high:.1f}] ms still contains the limit "
                    f"{limit:g} ms"
                )
        if regression is not None and len(walls) > 1:
            pairs = [(a, b) for a, b in zip(walls[0], walls[1], strict=False) if a and b]
            if len(pairs) < 2:
                return "fewer than 2 interleaved pairs of successful starts"
            cmp = compare([a for a, _ in pairs], [b for _, b in pairs])
            if regression_verdict(cmp, regression.value) == UNDECIDED:
                lo, hi = cmp.ratio_ci
                return (
                    f"the NEW/OLD interval [{lo:.3f}, {hi:.3f}] still contains the limit "
                    f"+{regression.value:g}%"
                )
        return None

    return decided


_PERCENTILE_IDS = frozenset(f"startup.{k}" for k in QUANTILES)
_COUNT_IDS = ("startup.max_instructions", "startup.max_instructions_regression")


def counting_for(rules: Mapping[str, Rule], opts: CheckOptions, ab: bool) -> Counting | None:
    """Counted starts when --count or `[startup] count` asks, or an instructions check is in
    the policy (unless counting is turned off by name); adaptive up to twice count_runs
    while an A/B instructions verdict is undecided."""
    from gate.run.measure import Counting

    asked = opts.count or _setting(rules, "count", None)
    if asked == "none" or (asked is None and not any(k in rules for k in _COUNT_IDS)):
        return None
    runs = opts.count_runs or _setting(rules, "count_runs")
    regression = rules.get("startup.max_instructions_regression") if ab else None
    if regression is None:
        return Counting(runs=runs)
    return Counting(runs=runs, max_runs=2 * runs, decided=_count_decider(regression.value))


def _count_decider(limit_pct: float) -> Decider:
    from gate.values.compare import UNDECIDED, compare, regression_verdict

    def decided(counts: Sequence[Sequence[float | None]]) -> str | None:
        pairs = [(a, b) for a, b in zip(counts[0], counts[1], strict=False) if a and b]
        if len(pairs) < 2:
            return "fewer than 2 interleaved pairs of counted starts"
        cmp = compare([a for a, _ in pairs], [b for _, b in pairs])
        if regression_verdict(cmp, limit_pct) == UNDECIDED:
            lo, hi = cmp.ratio_ci
            return (
                f"the NEW/OLD instructions interval [{lo:.4f}, {hi:.4f}] still contains the "
                f"limit +{limit_pct:g}%"
            )
        return None

    return decided


class _Unjudgeable(Exception):
    """A binary that could not be inspected or started: its entry records why, and what was
    measured before that (a binary that cannot start was read: its size goes to the reports
    and trend tools)."""

    def __init__(
        self,
        why: str,
        facts: Facts | None = None,
        attribution: Attribution | None = None,
    ) -> None:
        super().__init__(why)
        self.facts = facts
        self.attribution = attribution


def _attribution(path: str, want_symbols: bool = True) -> Attribution | None:
    """Where the bytes are, for size checks that name packages and for a later --against.
    The symbol table is read only when something shows its symbols (`want_symbols`): a
    million of them cost seconds that a check of the ELF flags alone has no use for."""
    from gate.read.attribution import attribute_binary
    from gate.results.size import attribution_to_dict

    try:
        return attribution_to_dict(attribute_binary(path, want_symbols=want_symbols))
    except GateError:  # inspect_binary read it a moment ago; a file changing under us
        return None


def _measure(
    path: str,
    rules: Mapping[str, Rule],
    opts: CheckOptions,
    progress_for: Callable[[str], Any] | None,
    timings: Timings,
) -> tuple[Facts, Attribution | None, Startup | None, str]:
    """(facts, attribution, startup or None, why start-up was skipped) for one binary.

    `timings` gets the seconds each measurement took as it finishes (a binary that could
    not be judged keeps those of the steps it got through)."""
    from gate.read.facts import inspect_binary
    from gate.results.build import facts_to_dict, startup_to_dict
    from gate.run.measure import measure

    started = time.perf_counter()
    try:
        facts = facts_to_dict(inspect_binary(path))
    except GateError as exc:
        raise _Unjudgeable(str(exc)) from None
    finally:
        timings["inspect_s"] = time.perf_counter() - started
    started = time.perf_counter()
    # Size checks name symbols in what they explain; a results JSON keeps the largest.
    symbols = opts.keep_symbols or any(rule_id.startswith("size.") for rule_id in rules)
    attribution = _attribution(path, symbols)
    timings["attribution_s"] = time.perf_counter() - started
    skipped = "start-up not measured (--no-startup)"
    if opts.startup and facts["elf"]["type"] == "shared-object":
        return facts, attribution, None, "a shared library is not started"
    if not opts.startup:
        return facts, attribution, None, skipped
    cfg, runs, warmup = run_config(path, rules, opts)
    against = None
    if opts.against:
        against, _, _ = run_config(opts.against, rules, opts)  # NEW's settings for OLD too
    max_runs = opts.max_runs or _setting(rules, "max_runs", None)
    counting = counting_for(rules, opts, against is not None)
    progress = progress_for(Path(path).name) if progress_for else None
    started = time.perf_counter()
    try:
        result = measure(
            cfg,
            runs,
            warmup,
            progress,
            max_runs=max_runs,
            decided=decider(rules, with_regression=against is not None),
            against=against,
            counting=counting,
        )
    except StartError as exc:
        raise _Unjudgeable(str(exc), facts, attribution) from None
    finally:
        timings["startup_s"] = time.perf_counter() - started
        if progress is not None:
            progress.finish()
    return facts, attribution, startup_to_dict(result), skipped


def check_binary(
    path: str,
    policy: Policy,
    opts: CheckOptions,
    pairing: Pairing | None,
    progress_for: Callable[[str], Any] | None = None,
) -> Entry:
    """One binary's entry of the results document; `pairing` says which baseline entry it
    is compared with (None: no baseline was given)."""
    from gate.results.schema import TIMING_KEYS

    rules = policy.for_binary(path)
    shown = rules.get("report.not_judged")  # how JUnit shows this entry if it ends unjudged
    timings = cast("Timings", dict.fromkeys(TIMING_KEYS))
    entry: Entry = {
        "path": path,
        "name": Path(path).name,
        "verdict": "error",
        "error": None,
        "facts": None,
        "startup": None,
        "attribution": None,
        "checks": [],
        "compared_with": None,
        "timings": timings,  # filled in as each measurement finishes
        "remedies": [],
        "not_judged": "error" if shown is None else shown.value,
    }
    try:
        facts, attribution, startup, skipped = _measure(path, rules, opts, progress_for, timings)
    except _Unjudgeable as exc:
        entry["error"] = str(exc)
        entry["facts"], entry["attribution"] = exc.facts, exc.attribution
        return entry
    entry["facts"], entry["attribution"], entry["startup"] = facts, attribution, startup
    entry["compared_with"] = compared_with(pairing, startup)
    undecided = _setting(rules, "undecided", "warn")
    rule = rules.get("baseline.unmatched")
    ctx = Context(
        facts,
        startup,
        pairing.entry if pairing else None,
        skipped,
        attribution,
        undecided,
        pairing,
        "warn" if rule is None else rule.value,
    )
    checks = judge(rules, ctx)
    slow = any(c.id.startswith("startup.") and c.status in ("fail", "warn") for c in checks)
    if startup is not None and (opts.breakdown or slow):
        started = time.perf_counter()
        startup["breakdown"] = explain_startup(path, rules, opts, facts, startup)
        timings["breakdown_s"] = time.perf_counter() - started
    entry["checks"] = cast("list[Check]", [dataclasses.asdict(c) for c in checks])
    entry["verdict"] = verdict(checks)
    entry["remedies"] = remedies_of(entry)
    return entry


def remedies_of(entry: Entry) -> list[Remedy]:
    """What to try for the entry's red start-up and size checks (gate/judge/remedies.py), once
    its checks are judged and its start-up breakdown is in."""
    import os

    from gate.judge.remedies import remedies, remedy_to_dict

    found = remedies(
        entry["facts"],
        entry["attribution"],
        entry["startup"],
        entry["checks"],
        os.sysconf("SC_PAGE_SIZE"),
    )
    return [remedy_to_dict(r) for r in found]


def compared_with(pairing: Pairing | None, startup: Startup | None) -> ComparedWith | None:
    """The few baseline numbers every report shows beside this binary's: its name, size and
    p50/p95 (from the baseline's results, or the A/B runs of --baseline-binary)."""
    if pairing is None or pairing.entry is None:
        return None
    base = pairing.entry
    base_startup = base.get("startup")
    stats = base_startup.get("stats") if base_startup else None
    against = startup.get("against") if startup is not None else None
    if not stats and against:
        stats = against.get("stats")
    facts = base.get("facts")
    return {
        "name": label(base),
        "how": pairing.how,
        "file_size": facts.get("file_size") if facts else None,
        "p50_ms": stats["p50_ms"] if stats else None,
        "p95_ms": stats["p95_ms"] if stats else None,
    }


def explain_startup(
    path: str,
    rules: Mapping[str, Rule],
    opts: CheckOptions,
    facts: Facts,
    startup: Startup,
) -> Breakdown:
    """Why the start-up is slow: one more start with Go's init trace and/or the loader's
    statistics, and the timed runs' page faults. Run when a start-up check did not pass."""
    from dataclasses import replace

    from gate.run.breakdown import breakdown_to_dict, run_breakdown

    cfg, _, _ = run_config(path, rules, opts)
    found = run_breakdown(cfg, facts.get("go") is not None, not facts["linking"]["static"])
    faults = startup.get("faults")
    if faults:  # the timed runs' medians, as measured (stats.fault_medians)
        found = replace(found, faults={"major": faults["major"], "minor": faults["minor"]})
    return breakdown_to_dict(found)


def inspect_baseline_binary(old: str) -> Entry:
    """The base branch's binary as a baseline entry: its facts and attribution. Its
    start-up is not measured here but interleaved with the new one's (A/B, `against`)."""
    from gate.read.facts import inspect_binary
    from gate.results.build import facts_to_dict
    from gate.run.runner import check_executable

    try:
        facts = facts_to_dict(inspect_binary(old))
        check_executable(old)
    except GateError as exc:
        raise GateError(f"--baseline-binary: {exc}") from None
    # Only what pairing and the relative checks read: never written, never validated.
    found = {
        "path": old,
        "name": Path(old).name,
        "facts": facts,
        "attribution": _attribution(old),
        "startup": None,
    }
    return cast("Entry", found)


def explain_measured(cfg: RunConfig, result: Any) -> Breakdown:
    """`gate startup --breakdown`: one more start with Go's init trace and/or the loader's
    statistics, and the timed runs' page faults."""
    from dataclasses import replace

    from gate.errors import BinaryError
    from gate.read.facts import inspect_binary
    from gate.run.breakdown import breakdown_to_dict, run_breakdown

    try:
        facts = inspect_binary(cfg.binary)
        is_go, dynamic = facts.go is not None, not facts.linking.static
    except BinaryError:
        is_go, dynamic = False, True
    found = run_breakdown(cfg, is_go, dynamic)
    return breakdown_to_dict(replace(found, faults=result.faults))
