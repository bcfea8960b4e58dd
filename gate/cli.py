"""Command line: options -> pipeline -> exit code. Thin on purpose.

Each command imports what it needs inside its body, so `gate --help` and
`gate inspect` never pay for requests, rich or the start-up machinery.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from gate import __version__
from gate.errors import EXIT_ERROR, EXIT_FAIL, BinaryError, GateError, UnitError, UsageError
from gate.report.escape import printable

app = typer.Typer(
    name="gate",
    help="May this build ship? Measure a built ELF binary and judge it against a policy.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state: dict[str, Any] = {"debug": bool(os.environ.get("GATE_DEBUG")), "program_args": []}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when something goes wrong.")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    _state["debug"] = _state["debug"] or debug


def _error(message: str) -> None:
    sys.stderr.write(f"gate: error: {printable(message)}\n")  # paths may hold ESC, newlines


@app.command()
def inspect(
    binaries: Annotated[
        list[Path], typer.Argument(metavar="BINARY", help="ELF binaries to inspect.")
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a gate/facts/v1 JSON document.")
    ] = False,
) -> None:
    """ELF facts: size, sections, type, linking, hardening, Go build. Never runs the binary."""
    from gate.elf.facts import inspect_binary

    results = []
    errors: list[BinaryError] = []
    for path in binaries:
        try:
            results.append(inspect_binary(path))
        except BinaryError as exc:
            if _state["debug"]:
                raise
            errors.append(exc)
            _error(str(exc))
    if json_out:
        from gate.report.json import dumps, facts_document

        sys.stdout.write(dumps(facts_document(results, errors)))
    else:
        from gate.report.text import render_facts

        sys.stdout.write("\n\n".join(render_facts(f) for f in results) + ("\n" if results else ""))
    if errors:
        raise typer.Exit(EXIT_ERROR)


class _Interrupted(GateError):
    """A stop signal while programs run: said in one line, like every other stop."""

    def __init__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"{'interrupted' if signum == signal.SIGINT else 'terminated'} by "
                         f"{name}; stopped the program under test")  # fmt: skip
        self.exit_code = 130 if signum == signal.SIGINT else EXIT_ERROR


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM, SIGINT, SIGHUP or SIGQUIT while a program runs: unwind, so the run's
    processes are stopped and reaped (click would otherwise turn Ctrl-C into "Aborted!"
    and exit 1, a "fail"). Only the first counts: a second one (the keeper passing on
    what the terminal also sent, an impatient Ctrl-C) must not cut the clean-up short."""
    if _state.get("stopping"):
        return
    _state["stopping"] = True
    raise _Interrupted(signum)


class _OnStop:
    """The stop signals handled by _terminated for the duration of a `with`."""

    def __enter__(self) -> None:
        from gate.startup.tree import STOP_SIGNALS

        _state["stopping"] = False
        self.previous = {sig: signal.signal(sig, _terminated) for sig in STOP_SIGNALS}

    def __exit__(self, *exc: object) -> None:
        if _state.get("stopping"):
            return  # keep ignoring the rest while gate winds down
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _resolve_program(binary: str) -> str:
    """A bare name that is not a file here is looked up on PATH, as a shell would."""
    if "/" not in binary and not os.path.exists(binary):
        import shutil

        return shutil.which(binary) or binary
    return binary


def _duration_ms(option: str, text: str) -> float:
    """A duration option in milliseconds; a bad or absurd one names the option."""
    from gate.units import parse_duration

    try:
        return parse_duration(text)
    except UnitError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


@app.command()
def startup(
    binary: Annotated[str, typer.Argument(metavar="BINARY", help="The program to start.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(metavar="[-- ARGS...]", help="Arguments for the program; {port} is filled."),
    ] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Timed starts.")] = 10,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed starts first.")] = 1,
    cold: Annotated[
        bool, typer.Option("--cold/--warm", help="Evict the binary and its libraries first.")
    ] = True,
    drop_caches: Annotated[
        bool, typer.Option("--drop-caches", help="Cold: drop the whole page cache (root).")
    ] = False,
    ready: Annotated[
        str,
        typer.Option(
            "--ready",
            help="exit | notify | line:REGEX | tcp:PORT | http://127.0.0.1:{port}/healthz",
        ),
    ] = "exit",
    timeout: Annotated[str, typer.Option("--timeout", help="Per start, e.g. 10s.")] = "10s",
    grace: Annotated[str, typer.Option("--grace", help="SIGTERM to SIGKILL, e.g. 1s.")] = "1s",
    env: Annotated[
        list[str] | None, typer.Option("--env", help="KEY=VALUE for the program; repeatable.")
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            "--against", help="OLD binary: started interleaved with BINARY; NEW/OLD ratio."
        ),
    ] = None,
    breakdown: Annotated[
        bool,
        typer.Option("--breakdown", help="One more start: Go inits, loader work, page faults."),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a gate/startup/v1 JSON document.")
    ] = False,
) -> None:
    """Time N cold starts of a program, to exit or until it is ready."""
    if args:  # words after BINARY but before `--`: a forgotten `--`, not program arguments
        shown = " ".join(args)
        raise UsageError(
            f"{shown!r}: arguments for the program go after --: gate startup {binary} -- {shown}"
        )
    from gate.report.progress import RunProgress
    from gate.startup.measure import measure
    from gate.startup.ready import parse_ready
    from gate.startup.runner import RunConfig, port_problem

    cfg = RunConfig(
        binary=_resolve_program(binary),
        args=tuple(_state["program_args"]),
        env=_parse_env(env or []),
        ready=parse_ready(ready),
        timeout_s=_duration_ms("--timeout", timeout) / 1000,
        grace_s=_duration_ms("--grace", grace) / 1000,
        cold=cold,
        drop_caches=drop_caches,
    )
    problem = port_problem(cfg.ready, cfg.args, cfg.env)
    if problem:  # every start would wait out the timeout: say why before the first
        raise UsageError(f"--ready {ready}: {problem}")
    other = None
    if against is not None:
        from dataclasses import replace

        other = replace(cfg, binary=_resolve_program(against), evict_files=())
    progress = RunProgress(Path(binary).name)
    try:
        with _OnStop():  # a cancelled CI job, or Ctrl-C: clean up first
            result = measure(cfg, runs, warmup, progress, against=other)
    finally:
        progress.finish()
    why = _startup_breakdown(cfg, result) if breakdown and result.stats else None
    if json_out:
        from gate.report.json import dumps, startup_document

        doc = startup_document(result)
        doc["breakdown"] = why
        sys.stdout.write(dumps(doc))
    else:
        from gate.report.text import render_startup

        sys.stdout.write(render_startup(result, why))
    if result.stats is None:
        first = next((r.error for r in result.runs if r.error), "no run succeeded")
        gave_up = " (gave up early)" if len(result.runs) < result.requested else ""
        raise GateError(f"{binary}: all {len(result.runs)} runs failed{gave_up}; first: {first}")
    if result.failed:
        raise typer.Exit(EXIT_FAIL)


def _old_view(
    source: str, by: str, binary: str, names: list[str]
) -> tuple[str, int, dict[str, int]]:
    """(name, file size, bytes per name) of the baseline: a binary, or a size/results JSON
    (its entry for this binary paired as gate/pairing.py says; `names`: --baseline-name)."""
    from gate.baseline import load_document
    from gate.pairing import pair, parse_choices
    from gate.report.size import SIZE_SCHEMA, VIEWS

    is_json = source.startswith(("http://", "https://")) or source.endswith(".json")
    if not is_json:
        from gate.elf.attribution import attribute_binary
        from gate.report.size import view

        attr = attribute_binary(
            source, want_symbols=by == "symbol", want_packages=by in ("package", "module")
        )
        return source, attr.file_size, {e.name: e.bytes for e in view(attr, by) or ()}
    doc = load_document(source)
    schema = doc.get("schema")
    if schema == SIZE_SCHEMA:
        if doc.get("by") != by:
            raise UsageError(f"{source}: entries by {doc.get('by')}, not by {by} (use --by)")
        rows, size = doc.get("entries"), doc.get("file_size")
    elif schema == "gate/results/v1":
        from gate.baseline import shown_source
        from gate.results import validate

        doc = validate(doc, shown_source(source))
        (paired,) = pair(doc["binaries"], [binary], parse_choices(names, [binary]), source)
        if paired.entry is None:
            raise UsageError(f"--against: {paired.note}")
        entry = paired.entry
        attribution = entry.get("attribution") if isinstance(entry, dict) else None
        if entry is None or not isinstance(attribution, dict):
            raise UsageError(f"{source}: no attribution recorded for {Path(binary).name}")
        rows, size = attribution.get(VIEWS[by]), (entry.get("facts") or {}).get("file_size")
    else:
        raise UsageError(f"{source}: not a gate size or results document (schema {schema!r})")
    if not isinstance(rows, list):
        raise UsageError(f"{source}: no {by} attribution in it (not a Go binary?)")

    def count(value: Any, where: str) -> int:
        """A size document is read only here: its numbers are checked as they are used."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
            return value
        raise UsageError(f"{source}: {where}: expected a non-negative integer, got {value!r:.60}")

    old: dict[str, int] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise UsageError(f"{source}: entries[{i}]: expected {{name, bytes}}, got {row!r:.60}")
        old[row["name"]] = old.get(row["name"], 0) + count(row.get("bytes"), f"entries[{i}].bytes")
    return source, count(size, "file_size"), old


def _demangle(doc: dict[str, Any]) -> None:
    """Names as people read them, from binutils' c++filt: one process for all of them."""
    import shutil
    import subprocess

    tool = shutil.which("c++filt")
    if tool is None:
        raise UsageError("--demangle needs c++filt (binutils); it is not on PATH")
    rows = doc["entries"] + (doc["against"]["entries"] if doc.get("against") else [])
    names = "".join(r["name"].replace("\n", " ") + "\n" for r in rows)
    out = subprocess.run(
        [tool], input=names, capture_output=True, text=True, timeout=60, check=False
    ).stdout.splitlines()
    if len(out) == len(rows):
        for row, name in zip(rows, out, strict=True):
            row["name"] = name


@app.command(short_help="Where the bytes are; with --against, what grew.")
def size(
    binary: Annotated[str, typer.Argument(metavar="BINARY", help="The ELF binary.")],
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="section, package, module or symbol (default: package for Go, else symbol "
            "when there is a symbol table, else section).",
        ),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Show N entries.")] = None,
    against: Annotated[
        str | None,
        typer.Option("--against", help="The old binary, or its size/results JSON: what grew."),
    ] = None,
    baseline_name: Annotated[
        list[str] | None,
        typer.Option(
            "--baseline-name",
            help="With --against RESULTS.json of several binaries: which one to compare with.",
        ),
    ] = None,
    demangle: Annotated[
        bool, typer.Option("--demangle", help="C++/Rust symbol names through c++filt.")
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print a gate/size/v1 JSON document.")
    ] = False,
) -> None:
    """Where the bytes are: by section, Go package, module or symbol; with --against, what grew."""
    from gate.elf.attribution import attribute_binary
    from gate.report.size import VIEWS, render_size_text, size_document, view

    if by is not None and by not in VIEWS:
        raise UsageError(f"--by {by!r}: expected one of {', '.join(VIEWS)}")
    attr = attribute_binary(
        binary, want_symbols=by in (None, "symbol"), want_packages=by != "section"
    )
    for warning in attr.warnings:
        _warn(f"{binary}: {warning}")
    if by is None:
        by = "package" if attr.packages else "symbol" if attr.symbols else "section"
    entries = view(attr, by)
    if entries is None:
        what = "no Go function table" if by in ("package", "module") else "no symbol table"
        raise UsageError(f"{binary}: {what}, so nothing to show by {by} (try --by section)")
    compared = None
    if against is not None:
        from gate.diff import growth

        old_name, old_size, old = _old_view(against, by, binary, baseline_name or [])
        compared = (old_name, old_size, growth({e.name: e.bytes for e in entries}, old))
    doc = size_document(binary, attr, by, top, compared)
    if demangle and by == "symbol":
        _demangle(doc)
    if json_out:
        from gate.report.json import dumps

        sys.stdout.write(dumps(doc))
    else:
        sys.stdout.write(render_size_text(doc, top))


def _startup_breakdown(cfg: Any, result: Any) -> dict[str, Any]:
    from dataclasses import replace

    from gate.elf.facts import inspect_binary
    from gate.startup.breakdown import breakdown_to_dict, fault_summary, run_breakdown

    try:
        facts = inspect_binary(cfg.binary)
        is_go, dynamic = facts.go is not None, not facts.linking.static
    except BinaryError:
        is_go, dynamic = False, True
    found = run_breakdown(cfg, is_go, dynamic)
    return breakdown_to_dict(replace(found, faults=fault_summary(result.runs)))


_REPORT_FORMATS = ("text", "json", "junit", "markdown", "metrics", "github", "gitlab")


def _render(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        from gate.report.json import dumps

        return dumps(doc)
    if fmt == "junit":
        from gate.report.junit import render_junit

        return render_junit(doc)
    if fmt == "markdown":
        from gate.report.markdown import render_markdown

        return render_markdown(doc)
    if fmt == "metrics":
        from gate.report.metrics import render_metrics

        return render_metrics(doc)
    if fmt == "github":
        from gate.report.github import render_github

        return render_github(doc)
    if fmt == "gitlab":
        from gate.report.gitlab import render_gitlab

        return render_gitlab(doc)
    from gate.report.text import render_checks

    return render_checks(doc) + "\n"


_EXIT_FOR = {"pass": 0, "fail": EXIT_FAIL, "error": EXIT_ERROR}


def _warn(message: str) -> None:
    sys.stderr.write(f"gate: warning: {message}\n")


def _load_baseline(source: str, optional: bool) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(document or None, what the results record about it)."""
    from gate.baseline import BaselineMissing, redact_url
    from gate.results import load

    shown = redact_url(source) if source.startswith(("http://", "https://")) else source
    try:
        return load(source), {"source": shown, "found": True}
    except BaselineMissing as exc:
        if not optional:
            raise
        _warn(f"{exc}; no baseline yet, so growth and regression checks are skipped")
        return None, {"source": shown, "found": False}


@app.command()
def check(
    binaries: Annotated[
        list[str],
        typer.Argument(
            metavar="BINARY... [-- ARGS...]",
            help="Binaries or globs; after --, arguments for each start ({port} is filled).",
        ),
    ],
    policy: Annotated[
        str, typer.Option("--policy", help="Built-in name (default, serverless, hardened) or file.")
    ] = "default",
    runs: Annotated[
        int | None, typer.Option("--runs", min=1, help="Timed starts (default: the policy's).")
    ] = None,
    max_runs: Annotated[
        int | None,
        typer.Option(
            "--max-runs",
            min=1,
            help="Adaptive: keep starting, up to N, while a start-up verdict is undecided.",
        ),
    ] = None,
    breakdown: Annotated[
        bool,
        typer.Option(
            "--breakdown",
            help="Explain start-up (Go inits, loader, page faults) even when it passes.",
        ),
    ] = False,
    ready: Annotated[
        str | None, typer.Option("--ready", help="Readiness, as for gate startup.")
    ] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Per start.")] = None,
    cold: Annotated[
        bool | None, typer.Option("--cold/--warm", help="Default: the policy's startup.cold.")
    ] = None,
    no_startup: Annotated[
        bool, typer.Option("--no-startup", help="Judge size and ELF only; run nothing.")
    ] = False,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE; repeatable.")] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="A previous results JSON: file, URL, or github-artifact:NAME[@BRANCH] (the "
            "base branch's last successful GitHub Actions run's artifact NAME).",
        ),
    ] = None,
    baseline_optional: Annotated[
        bool,
        typer.Option(
            "--baseline-optional",
            help="A baseline that does not exist yet (no file, HTTP 404) skips relative checks.",
        ),
    ] = False,
    baseline_binary: Annotated[
        list[str] | None,
        typer.Option(
            "--baseline-binary",
            help="The base branch's binary, started interleaved as baseline; repeatable, "
            "paired with the binaries as --baseline's entries are.",
        ),
    ] = None,
    baseline_name: Annotated[
        list[str] | None,
        typer.Option(
            "--baseline-name",
            help="NAME or BINARY=NAME: which baseline binary to compare with when the names "
            "differ (default: same path, same file name, or the only one on each side).",
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results JSON.")] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write a Markdown summary.")
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option("--metrics", help="Write OpenMetrics text.")
    ] = None,
) -> None:
    """Inspect, start, judge against a policy, report. Exit 0 pass, 1 fail, 2 error."""
    import dataclasses

    from gate.check import (
        CheckOptions,
        check_binary,
        expand,
        inspect_baseline_binary,
        preflight,
    )
    from gate.pairing import Pairing, pair, parse_choices
    from gate.policy import load_policy
    from gate.report.progress import RunProgress
    from gate.report.write import write_reports
    from gate.results import results_document

    chosen = load_policy(policy)  # a bad policy stops everything before anything runs
    if ready is not None:
        from gate.startup.ready import parse_ready

        parse_ready(ready)
    opts = CheckOptions(
        runs=runs,
        ready=ready,
        timeout_ms=_duration_ms("--timeout", timeout) if timeout else None,
        cold=cold,
        startup=not no_startup,
        args=tuple(_state["program_args"]),
        env=_parse_env(env or []),
        max_runs=max_runs,
        breakdown=breakdown,
    )
    if baseline and baseline_binary:
        raise UsageError("--baseline and --baseline-binary: give one of them")
    if baseline_name and not (baseline or baseline_binary):
        raise UsageError("--baseline-name chooses within a baseline: give --baseline or "
                         "--baseline-binary too")  # fmt: skip
    base, base_info = _load_baseline(baseline, baseline_optional) if baseline else (None, None)
    paths = expand(binaries)
    preflight(paths, chosen, opts)  # a start-up that cannot work stops everything first
    choices = parse_choices(baseline_name or [], paths)
    pairings: list[Pairing | None] = [None] * len(paths)
    if baseline_binary:
        olds = [inspect_baseline_binary(b) for b in baseline_binary]
        pairings = list(pair(olds, paths, choices, "--baseline-binary"))
        base_info = {"source": "binary " + ", ".join(baseline_binary), "found": True}
    elif base is not None:
        source = str(base_info["source"]) if base_info else baseline or ""
        pairings = list(pair(base["binaries"], paths, choices, source))
    elif base_info is not None:  # --baseline-optional, and it does not exist yet
        note = f"no baseline yet ({base_info['source']} does not exist; --baseline-optional)"
        pairings = [Pairing(None, "missing", note)] * len(paths)
    entries = []
    with _OnStop():
        for path, paired in zip(paths, pairings, strict=True):
            these = opts
            if baseline_binary and paired is not None and paired.entry is not None:
                these = dataclasses.replace(opts, against=str(paired.entry["path"]))
            entries.append(check_binary(path, chosen, these, paired, RunProgress))
    doc = results_document(chosen, entries, base_info)
    outputs = [
        (path, fmt)
        for path, fmt in (
            (junit, "junit"),
            (json_path, "json"),
            (markdown, "markdown"),
            (metrics, "metrics"),
        )
        if path
    ]
    write_reports([(path, _render(doc, fmt)) for path, fmt in outputs])
    # `--json -` puts a report on stdout: the text summary goes to stderr, not into it.
    to_stdout = any(str(path) == "-" for path, _ in outputs)
    (sys.stderr if to_stdout else sys.stdout).write(_render(doc, "text"))
    if not _same_stream():  # the report above already says it where both streams meet
        for entry in entries:
            if entry["error"]:
                _error(entry["error"])
    raise typer.Exit(_EXIT_FOR[doc["verdict"]])


def _same_stream() -> bool:
    """stdout and stderr are one file (a terminal, or a CI log taking both)."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


policy_app = typer.Typer(help="Built-in policies and checking a policy file.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("list")
def policy_list() -> None:
    """The built-in policies."""
    import tomllib

    from gate.policy import builtin_dir, builtin_names

    for name in builtin_names():
        meta = tomllib.loads((builtin_dir() / f"{name}.toml").read_text()).get("policy", {})
        typer.echo(f"{name:<12} {meta.get('description', '')}")


@policy_app.command("show")
def policy_show(name: Annotated[str, typer.Argument(help="Built-in name or file.")]) -> None:
    """A policy's file, and the rules in force once `extends` is resolved."""
    from gate.policy import builtin_dir, builtin_names, load_policy

    pol = load_policy(name)
    path = builtin_dir() / f"{name}.toml" if name in builtin_names() else Path(name)
    typer.echo(path.read_text().rstrip())
    typer.echo(f"\n# in force ({' -> '.join(pol.sources)}):")
    for rule in pol.rules.values():
        sev = "  # warn" if rule.severity == "warn" else ""
        typer.echo(f"#   {rule.id} = {rule.text!r}{sev}")
    for pattern, rules in pol.overrides:
        for rule in rules.values():
            typer.echo(f"#   binary {pattern!r}: {rule.id} = {rule.text!r}")


@policy_app.command("validate")
def policy_validate(path: Annotated[str, typer.Argument(help="A policy file.")]) -> None:
    """Load a policy as gate check would; exit 2 with the first problem."""
    from gate.policy import SETTINGS, load_policy

    pol = load_policy(path)
    checks = sum(rule_id not in SETTINGS for rule_id in pol.rules)
    overrides = len(pol.overrides)
    typer.echo(
        f"{path}: ok: policy {pol.name!r}, {checks} check{'' if checks == 1 else 's'}, "
        f"{overrides} per-binary override{'' if overrides == 1 else 's'} "
        f"({' -> '.join(pol.sources)})"
    )


@app.command()
def report(
    results: Annotated[str, typer.Argument(help="A results JSON written by gate check --json.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="text, json, junit, markdown, metrics, github (annotations; in Actions also "
            "the job summary and the verdict output) or gitlab (Code Quality JSON).",
        ),
    ] = "text",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (- for stdout).")
    ] = None,
) -> None:
    """Re-render a saved result."""
    from gate.results import load

    if fmt not in _REPORT_FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(_REPORT_FORMATS)}")
    doc = load(results)
    text = _render(doc, fmt)
    if output is None:
        sys.stdout.write(text)
    else:
        from gate.report.write import write_atomic

        write_atomic(output, text)
    if fmt == "github":
        _github_files(doc)


def _append(variable: str, text: str) -> None:
    """Append to one of the files GitHub names in the environment (summary, outputs)."""
    path = os.environ.get(variable)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise GateError(f"${variable} ({path}): cannot write: {exc.strerror or exc}") from None


def _github_files(doc: dict[str, Any]) -> None:
    """Inside GitHub Actions: the Markdown into the job summary, the verdict into the outputs."""
    _append("GITHUB_STEP_SUMMARY", _render(doc, "markdown"))
    _append("GITHUB_OUTPUT", f"verdict={doc['verdict']}\n")


@app.command(short_help="What changed between two results.")
def diff(
    old: Annotated[str, typer.Argument(help="The base branch's results JSON (file or URL).")],
    new: Annotated[str, typer.Argument(help="This change's results JSON (file or URL).")],
    fmt: Annotated[str, typer.Option("--format", help="text or markdown.")] = "text",
    baseline_name: Annotated[
        list[str] | None,
        typer.Option(
            "--baseline-name",
            help="NEW=OLD: pair a renamed binary (default: same path, same file name, or the "
            "only binary on each side).",
        ),
    ] = None,
) -> None:
    """What changed between two results: size, sections, packages, start-up, check verdicts."""
    from gate.diff import diff_results
    from gate.pairing import parse_choices
    from gate.results import load

    if fmt not in ("text", "markdown"):
        raise UsageError(f"--format {fmt!r}: expected text or markdown")
    old_doc, new_doc = load(old), load(new)
    paths = [str(b["path"]) for b in new_doc["binaries"]]
    diffs = diff_results(old_doc, new_doc, parse_choices(baseline_name or [], paths))
    if fmt == "markdown":
        from gate.report.diff import render_diff_markdown

        sys.stdout.write(render_diff_markdown(diffs))
    else:
        from gate.report.diff import render_diff_text

        sys.stdout.write(render_diff_text(diffs))


def _footer(doc: dict[str, Any], env: dict[str, str]) -> str:
    """gate's version, the policy and a link to the job, for the comment's last line."""
    parts = [f"gate {doc['gate_version'] or __version__}", f"policy {doc['policy']}"]
    job = env.get("CI_JOB_URL")
    if not job and env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        job = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    if job and job.startswith(("https://", "http://")):
        parts.append(f'<a href="{job.replace(chr(34), "%22")}">job</a>')
    return " · ".join(parts)


@app.command(short_help="Create or update the one PR/MR comment.")
def comment(
    results: Annotated[str, typer.Argument(help="The results JSON of this run.")],
    github: Annotated[bool, typer.Option("--github", help="Pull request comment.")] = False,
    gitlab: Annotated[bool, typer.Option("--gitlab", help="Merge request note.")] = False,
    comment_id: Annotated[
        str, typer.Option("--id", help="One comment per id: tells several gate jobs apart.")
    ] = "default",
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="The baseline results, for a 'what changed' table."),
    ] = None,
    number: Annotated[
        int | None,
        typer.Option(
            "--pr", "--mr", min=1, help="Pull/merge request number (default: from the CI)."
        ),
    ] = None,
) -> None:
    """Create or update the one PR/MR comment for this gate id (marker <!-- gate:ID -->).

    GitHub: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (or --pr), GITHUB_API_URL.
    GitLab: GATE_GITLAB_TOKEN, CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID (or --mr).
    A token that may not write (a fork's pull request) skips the comment with exit 0.
    """
    from gate.baseline import BaselineError
    from gate.forge import CommentSkipped, github_target, gitlab_target, upsert_comment
    from gate.report.comment import marker, render_comment

    if github == gitlab:
        raise UsageError("give --github or --gitlab")
    mark = marker(comment_id)
    from gate.results import load

    doc = load(results)
    diffs = None
    if baseline:
        from gate.diff import diff_results

        try:
            diffs = diff_results(load(baseline), doc)
        except BaselineError as exc:  # the comment is still worth posting without the diff
            _warn(f"{exc}; the comment has no 'what changed' table")
    from gate.secrets import environ

    env = environ()
    try:
        target = github_target(env, number) if github else gitlab_target(env, number)
        body = render_comment(doc, comment_id, diffs, _footer(doc, env))
        done = upsert_comment(target, mark, body)
    except CommentSkipped as exc:
        sys.stderr.write(f"gate: comment skipped: {exc}\n")
        return
    where = done.url or f"{target.name} (comment {done.comment_id})"
    sys.stderr.write(f"gate: {done.action} the comment {mark} on {where}\n")


def main() -> None:
    """Console entry point: GateError -> one line and exit 2; never a traceback by default."""
    argv = sys.argv[1:]
    # `gate check A B -- ARGS`: click allows one variadic argument, so the program's
    # arguments are split off here, before parsing.
    words = [w for w in argv if not w.startswith("-")]
    if words[:1] in (["check"], ["startup"]) and "--" in argv:
        cut = argv.index("--")
        argv, _state["program_args"] = argv[:cut], argv[cut + 1 :]
    try:
        app(args=argv, prog_name="gate")
    except GateError as exc:
        if _state["debug"]:
            raise
        _error(str(exc))
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # `gate inspect x | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:  # Ctrl-C outside a run (within one, _terminated explains)
        _error("interrupted (SIGINT)")
        sys.exit(130)
    except Exception as exc:
        if _state["debug"]:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)")
        sys.exit(EXIT_ERROR)
