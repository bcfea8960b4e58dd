"""Command line: options -> the module that does the work -> exit code. Nothing else.

Each command imports what it needs inside its body, so `gate --help` and `gate inspect`
never pay for requests or the start-up machinery. Options `gate startup` and `gate check`
share are declared once (below). `--json` is a path everywhere (`-`: standard output);
in inspect, size and startup a bare `--json` still means standard output, unless the word
after it cannot be the binary (_bare_json).
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup, TyperOption

from gate import __version__, options
from gate.console import emit as _emit
from gate.console import error as _error
from gate.console import guarded
from gate.console import warn as _warn
from gate.errors import EXIT_ERROR, EXIT_FAIL, GateError, UsageError
from gate.report.formats import FORMATS
from gate.values.escape import printable

if TYPE_CHECKING:
    from gate.results.types import Document

app = typer.Typer(
    name="gate",
    help="May this build ship? Measure a built ELF binary and judge it against a policy.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@dataclass
class Invocation:
    """What main() sets aside before click parses the rest: the program's arguments after
    `--` (click allows one variadic argument), and --debug, read again when an error
    escapes the command. Handed to the commands as click's context object: the CLI keeps no
    state of its own between calls."""

    program_args: tuple[str, ...] = ()
    debug: bool = False


def _invocation(ctx: typer.Context) -> Invocation:
    found = ctx.find_root().obj
    return found if isinstance(found, Invocation) else Invocation()


_EXIT_FOR = {"pass": 0, "fail": EXIT_FAIL, "error": EXIT_ERROR}
_BARE_JSON_IS_STDOUT = ("inspect", "size", "startup")  # where --json was a flag


def _writes_reports(command: Any) -> Any:
    """`command` with an option per report file of the registry (formats.REPORT_FILES),
    handed to it as `reports`, [(path, format)] of those given: gate check and gate merge
    declare none of them themselves, so a format added there is an option of both."""
    import functools
    import inspect

    from gate.report.formats import REPORT_FILES

    def name(fmt: str) -> str:
        return "report_" + fmt.replace("-", "_")

    signature = inspect.signature(command, eval_str=True)
    own = [p for p in signature.parameters.values() if p.name != "reports"]
    added = [
        inspect.Parameter(
            name(fmt),
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None, typer.Option(spec.option, metavar="PATH", help=spec.help)
            ],
        )
        for fmt, spec in REPORT_FILES.items()
    ]

    @functools.wraps(command)
    def with_reports(**kwargs: Any) -> Any:
        given = [(kwargs.pop(name(fmt)), fmt) for fmt in REPORT_FILES]
        return command(reports=[(path, fmt) for path, fmt in given if path], **kwargs)

    with_reports.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    with_reports.__annotations__ = {p.name: p.annotation for p in (*own, *added)}
    return with_reports


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when something goes wrong.")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    if debug:
        _invocation(ctx).debug = True


def _positionals(
    command: TyperCommand, args: list[str], flags: frozenset[str] | set[str] = frozenset()
) -> list[int]:
    """Indexes of the words in `args` that are arguments, not options or their values
    (`flags`: options read as taking none here)."""
    takes_value = {
        name
        for p in command.params
        if isinstance(p, TyperOption) and not p.is_flag and not p.count
        for name in p.opts
    } - set(flags)
    found: list[int] = []
    skip = False
    for i, word in enumerate(args):
        if skip:
            skip = False
        elif word == "--":
            break
        elif word.startswith("-") and word != "-":
            skip = word in takes_value  # `--runs=5` is one word
        else:
            found.append(i)
    return found


class _RunsProgram(TyperCommand):
    """`gate startup` and `gate check`: an unknown option after the binary is most likely
    the program's own, given without the `--` that sets the program's arguments apart."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = list(args)  # the parser consumes `args`
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:
            if isinstance(exc, _click("exceptions").NoSuchOption):
                hint = _forgotten_dashes(self, ctx.info_name or "", given, exc.option_name)
                exc.message += hint
            raise


def _click(name: str) -> Any:
    """A module of the click typer builds on (its own copy from typer 0.28 on)."""
    import importlib

    package = TyperCommand.__mro__[1].__module__.rpartition(".")[0]  # click, typer._click
    return importlib.import_module(f"{package}.{name}")


def _forgotten_dashes(command: TyperCommand, name: str, args: list[str], option: str) -> str:
    """The hint for an unknown option that follows the binary ("" when none precedes it)."""
    at = next((i for i, w in enumerate(args) if w.partition("=")[0] == option), None)
    if at is None:
        return ""
    before = [i for i in _positionals(command, args) if i < at]
    if not before:
        return ""
    program = [args[at]]
    for word in args[at + 1 :]:
        if word.startswith("-"):
            break
        program.append(word)
    binary = "BINARY..." if name == "check" else "BINARY"
    return (
        f" (options for the program under test go after --: gate {name} {binary} [options]"
        f" -- {printable(shlex.join(program))})"
    )


@app.command()
def inspect(
    ctx: typer.Context,
    binaries: Annotated[
        list[Path], typer.Argument(metavar="BINARY", help="ELF binaries to inspect.")
    ],
    json_out: Annotated[str | None, options.json_option("a gate/facts/v1 document")] = None,
) -> None:
    """ELF facts: size, sections, type, linking, hardening, Go build. Never runs the binary."""
    from gate.inspect_command import run_inspect

    code = run_inspect([str(p) for p in binaries], json_out, _invocation(ctx).debug)
    if code:
        raise typer.Exit(code)


@app.command(cls=_RunsProgram)
def startup(
    ctx: typer.Context,
    binary: Annotated[str, typer.Argument(metavar="BINARY", help="The program to start.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(metavar="[-- ARGS...]", help="Arguments for the program; {port} is filled."),
    ] = None,
    runs: options.Runs = None,
    warmup: Annotated[
        int | None,
        typer.Option("--warmup", min=0, help="Untimed starts first (default: the policy's)."),
    ] = None,
    cold: options.Cold = None,
    drop_caches: Annotated[
        bool, typer.Option("--drop-caches", help="Cold: drop the whole page cache (root).")
    ] = False,
    ready: options.Ready = None,
    timeout: options.Timeout = None,
    grace: Annotated[str, typer.Option("--grace", help="SIGTERM to SIGKILL, e.g. 1s.")] = "1s",
    env: options.Env = None,
    against: Annotated[
        str | None,
        typer.Option(
            "--against", help="OLD binary: started interleaved with BINARY; NEW/OLD ratio."
        ),
    ] = None,
    breakdown: options.Breakdown = False,
    count: options.Count = None,
    count_runs: options.CountRuns = None,
    cpus: options.Cpus = None,
    memory: options.Memory = None,
    cpu: options.Cpu = None,
    cpu_period: options.CpuPeriod = None,
    json_out: Annotated[str | None, options.json_option("a gate/startup/v1 document")] = None,
    export_hyperfine: Annotated[
        str | None,
        typer.Option(
            "--export-hyperfine",
            metavar="PATH",
            help="Also write the successful runs as hyperfine --export-json does (- for stdout).",
        ),
    ] = None,
) -> None:
    """Time N cold starts of a program, to exit or until it is ready."""
    if args:  # words after BINARY but before `--`: a forgotten `--`, not program arguments
        shown = shlex.join(args)  # an empty argument shows as ''
        raise UsageError(
            f"{shown}: arguments for the program go after --: gate startup "
            f"{shlex.quote(binary)} -- {shown}"
        )
    from gate.startup_command import StartupRequest, run_startup
    from gate.values.envelope import overrides

    request = StartupRequest(
        binary, _invocation(ctx).program_args, tuple(env or ()), ready, timeout, grace, cold,
        drop_caches, overrides(cpus, memory, cpu, cpu_period), against, runs, warmup,
        breakdown, options.count_choice(count), count_runs,
    )  # fmt: skip
    outcome = run_startup(request)
    result, why = outcome.result, outcome.breakdown
    reports: list[tuple[str, str]] = []
    if json_out is not None:
        from gate.report.json import dumps, startup_document

        doc = startup_document(result)
        doc["breakdown"] = why
        reports.append((json_out, dumps(doc)))
    if export_hyperfine is not None:
        from gate.report.hyperfine import render_hyperfine

        exported = render_hyperfine(result)  # None: no successful run (the error below)
        if exported is not None:
            reports.append((export_hyperfine, exported))
    if reports:
        from gate.report.write import write_reports

        write_reports(reports)  # both or neither; one path named twice is an error
    if json_out != "-":  # the JSON on stdout is the whole output; in a file, the text too
        from gate.report.text import render_startup

        # The export on stdout: the text goes to stderr, not into the JSON.
        out = sys.stderr if export_hyperfine == "-" else sys.stdout
        out.write(render_startup(result, why))
    if result.stats is None:
        first = next((r.error for r in result.runs if r.error), "no run succeeded")
        gave_up = " (gave up early)" if len(result.runs) < result.requested else ""
        raise GateError(f"{binary}: all {len(result.runs)} runs failed{gave_up}; first: {first}")
    if result.failed:
        raise typer.Exit(EXIT_FAIL)


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
    baseline_name: options.BaselineName = None,
    demangle: Annotated[
        bool, typer.Option("--demangle", help="C++/Rust symbol names through c++filt.")
    ] = False,
    json_out: Annotated[str | None, options.json_option("a gate/size/v1 document")] = None,
) -> None:
    """Where the bytes are: by section, Go package, module or symbol; with --against, what grew."""
    from gate.report.size import render_size_text, size_json_pieces
    from gate.size_command import measure_size

    doc = measure_size(binary, by, top, against, baseline_name or [], demangle, _warn)
    if json_out is not None:
        _emit(json_out, size_json_pieces(doc))
    else:
        sys.stdout.write(render_size_text(doc, top))


@app.command(cls=_RunsProgram)
@_writes_reports
def check(
    ctx: typer.Context,
    binaries: Annotated[
        list[str],
        typer.Argument(
            metavar="BINARY... [-- ARGS...]",
            help="Binaries or globs; after --, arguments for each start ({port} is filled).",
        ),
    ],
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Built-in name (default, serverless, hardened) or file (default: ./gate.toml "
            "when there is one, else the built-in default).",
        ),
    ] = None,
    runs: options.Runs = None,
    max_runs: Annotated[
        int | None,
        typer.Option(
            "--max-runs",
            min=1,
            help="Adaptive: keep starting, up to N, while a start-up verdict is undecided.",
        ),
    ] = None,
    breakdown: options.Breakdown = False,
    count: options.Count = None,
    count_runs: options.CountRuns = None,
    ready: options.Ready = None,
    timeout: options.Timeout = None,
    cold: options.Cold = None,
    no_startup: Annotated[
        bool, typer.Option("--no-startup", help="Judge size and ELF only; run nothing.")
    ] = False,
    env: options.Env = None,
    cpus: options.Cpus = None,
    memory: options.Memory = None,
    cpu: options.Cpu = None,
    cpu_period: options.CpuPeriod = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="A previous results JSON: file, URL, github-artifact:NAME[@BRANCH] (GitHub "
            "Actions artifact NAME: on a pull request the merge base's run, else the branch's "
            "last successful run) or gitlab-artifact:JOB[:PATH] (GitLab job JOB's artifact "
            "file, default gate-report/results.json: the merge request's merge base, else the "
            "default branch; a PATH ends in .json).",
        ),
    ] = None,
    baseline_optional: Annotated[
        bool,
        typer.Option(
            "--baseline-optional",
            help="A baseline that cannot be had (no file, no token, no network, HTTP "
            "401/403/404/410/5xx, no artifact yet or an expired one) is one warning and skips "
            "relative checks; one that is had but malformed is still an error.",
        ),
    ] = False,
    baseline_required: Annotated[
        bool,
        typer.Option(
            "--baseline-required",
            help="A baseline that cannot be had is an error (exit 2), as without "
            "--baseline-optional; wins over --baseline-optional when both are given (as "
            "the policy's [baseline] required = true does). A GitLab pipeline on the default "
            "branch has nothing to compare with and skips relative checks either way.",
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
    baseline_name: options.BaselineName = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="I/N",
            help="Judge only share I of N of the binaries (a CI matrix job; gate merge "
            "combines the N results).",
        ),
    ] = None,
    skip_unsupported: Annotated[
        bool,
        typer.Option(
            "--skip-unsupported",
            help="Inputs that are not ELF binaries, e.g. a PNG under bin/, are passed over "
            "and named; without it they are an error.",
        ),
    ] = False,
    reports: list[tuple[str, str]] | None = None,
) -> None:
    """Inspect, start, judge against a policy, report. Exit 0 pass, 1 fail, 2 error."""
    from gate.check import BaselineOptions, CheckOptions, run_check
    from gate.judge.policy import load_policy, repository_policy
    from gate.values.envelope import overrides

    chosen = load_policy(policy or repository_policy())  # a bad one stops everything first
    if no_startup:
        moot = {
            "--runs": runs, "--max-runs": max_runs, "--breakdown": breakdown, "--ready": ready,
            "--timeout": timeout, "--cold" if cold else "--warm": cold is not None,
            "--env": env, "--cpus": cpus, "--memory": memory, "--cpu": cpu,
            "--cpu-period": cpu_period, "--baseline-binary": baseline_binary,
            "--count": count, "--count-runs": count_runs,
            "arguments after --": _invocation(ctx).program_args,
        }  # fmt: skip
        given = [name for name, value in moot.items() if value]
        if given:
            _warn(f"{', '.join(given)}: ignored with --no-startup (nothing is started)")
    if ready is not None:
        from gate.values.readiness import parse_ready

        parse_ready(ready)
    opts = CheckOptions(
        runs=runs,
        ready=ready,
        timeout_ms=options.duration_ms("--timeout", timeout) if timeout else None,
        cold=cold,
        startup=not no_startup,
        args=_invocation(ctx).program_args,
        env=options.parse_env(env or []),
        max_runs=max_runs,
        breakdown=breakdown,
        count=options.count_choice(count),
        count_runs=count_runs,
        envelope=overrides(cpus, memory, cpu, cpu_period),
        skip_unsupported=skip_unsupported,
        keep_symbols=any(fmt == "json" for _, fmt in reports or ()),
    )
    base = BaselineOptions(
        baseline,
        baseline_optional,
        tuple(baseline_binary or ()),
        tuple(baseline_name or ()),
        required=baseline_required,
    )
    outputs = reports or []
    share = None
    if shard is not None:
        from gate.integrate.shard import parse_shard

        share = parse_shard(shard)
    doc = run_check(binaries, chosen, opts, base, [path for path, _ in outputs], _warn, share)
    _finish(doc, outputs)


def _finish(doc: Document, outputs: list[tuple[str, str]]) -> None:
    """Write the reports, print the text summary and the errors, exit with the verdict."""
    from gate.report.formats import render, render_pieces
    from gate.report.write import same_stream, write_reports

    write_reports([(path, render_pieces(doc, fmt)) for path, fmt in outputs])
    # `--json -` puts a report on stdout: the text summary goes to stderr, not into it.
    to_stdout = any(path == "-" for path, _ in outputs)
    (sys.stderr if to_stdout else sys.stdout).write(render(doc, "text"))
    if not same_stream():  # the report above already says it where both streams meet
        for entry in doc["binaries"]:
            if entry["error"]:
                _error(entry["error"])
    _say_passed_over(doc, text_on_stderr=to_stdout)
    raise typer.Exit(_EXIT_FOR[doc["verdict"]])


def _say_passed_over(doc: Document, text_on_stderr: bool) -> None:
    """The files --skip-unsupported passed over, on stderr, unless the text summary, which
    names them too, is already there (a terminal, a CI log taking both streams)."""
    from gate.report.text import passed_over
    from gate.report.write import same_stream

    skipped = doc.get("skipped") or []
    if skipped and not text_on_stderr and not same_stream():
        sys.stderr.write(passed_over(skipped) + "\n")


policy_app = typer.Typer(help="Built-in policies and checking a policy file.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("list")
def policy_list() -> None:
    """The built-in policies."""
    from gate.judge.policy import describe_builtins

    for name, description in describe_builtins():
        typer.echo(f"{name:<12} {description}")


@policy_app.command("keys")
def policy_keys() -> None:
    """Every policy key: what it judges or sets, its value, the built-in policies' values."""
    from gate.judge.policy import KEYS, builtin_values
    from gate.report.keys import render_keys

    sys.stdout.write(render_keys(KEYS, builtin_values()))


@policy_app.command("show")
def policy_show(name: Annotated[str, typer.Argument(help="Built-in name or file.")]) -> None:
    """A policy's file, and the rules in force once `extends` is resolved."""
    from gate.judge.policy import show_policy

    typer.echo(show_policy(name))


@policy_app.command("validate")
def policy_validate(path: Annotated[str, typer.Argument(help="A policy file.")]) -> None:
    """Load a policy as gate check would; exit 2 with the first problem."""
    from gate.judge.policy import validate_policy

    typer.echo(validate_policy(path))


@app.command()
def report(
    results: Annotated[str, typer.Argument(help="A results JSON written by gate check --json.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"One of {', '.join(FORMATS)}. github: annotations (in Actions also the "
            "job summary and the verdict output); gitlab: Code Quality JSON; bmf: Bencher "
            "Metric Format; benchmark-action: github-action-benchmark's customSmallerIsBetter "
            "(nothing measured: no file, a warning); metrics-summary: file size and start-up "
            "p50/p95 only.",
        ),
    ] = "text",
    output: options.Output = None,
) -> None:
    """Re-render a saved result."""
    from gate.integrate.sources import load_results
    from gate.report.formats import NothingToWrite, render_pieces

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    doc = load_results(results)
    try:
        text = render_pieces(doc, fmt)  # json: written as it is made
    except NothingToWrite as exc:  # a file its reader would fail on: none, and say so
        where = "nothing written" if output in (None, "-") else f"{output} not written"
        _warn(f"{exc}; {where}")
        return
    _emit(output, text)
    if fmt == "github":
        from gate.report.write import write_step_files

        write_step_files(doc)


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
    from gate.integrate.sources import load_results
    from gate.judge.diff import diff_results
    from gate.judge.pairing import parse_choices
    from gate.report.diff import render_diff_markdown, render_diff_text

    if fmt not in ("text", "markdown"):
        raise UsageError(f"--format {fmt!r}: expected text or markdown")
    old_doc, new_doc = load_results(old), load_results(new)
    paths = [str(b["path"]) for b in new_doc["binaries"]]
    diffs = diff_results(old_doc, new_doc, parse_choices(baseline_name or [], paths))
    render = render_diff_markdown if fmt == "markdown" else render_diff_text
    sys.stdout.write(render(diffs))


@app.command(short_help="Create or update the one PR/MR comment.")
def comment(
    results: Annotated[
        str | None,
        typer.Argument(help="The results JSON of this run (not with --from-artifact)."),
    ] = None,
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
    from_artifact: Annotated[
        str | None,
        typer.Option(
            "--from-artifact",
            metavar="NAME",
            help="GitHub, in an on: workflow_run workflow: the results are artifact NAME of "
            "the pull request run that started it (a fork's; RESULTS is then not read).",
        ),
    ] = None,
) -> None:
    """Create or update the one PR/MR comment for this gate id (marker <!-- gate:ID -->).

    GitHub: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (or --pr), GITHUB_API_URL.
    GitLab: GATE_GITLAB_TOKEN, CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID (or --mr).
    A token that may not write (a fork's pull request) skips the comment with exit 0.
    With --from-artifact NAME, a workflow_run workflow comments for it: the pull request
    the artifact names is checked against the run's head commit first.
    """
    from gate.integrate.forge import post_comment

    if github == gitlab:
        raise UsageError("give --github or --gitlab")
    if from_artifact is not None:
        if results is not None:
            raise UsageError(f"{results} and --from-artifact: give one (the artifact holds it)")
        _comment_from_artifact(from_artifact, gitlab, number, comment_id, baseline)
        return
    if results is None:
        raise UsageError("give the results JSON: gate comment RESULTS.json --github|--gitlab")
    forge = "github" if github else "gitlab"
    sys.stderr.write(post_comment(results, forge, comment_id, baseline, number, _warn) + "\n")


def _comment_from_artifact(
    name: str, gitlab: bool, number: int | None, comment_id: str, baseline: str | None
) -> None:
    """The workflow_run side of a fork's comment (gate/integrate/forkcomment.py)."""
    from gate.integrate.forkcomment import comment_from_artifact

    if gitlab:
        raise UsageError("--from-artifact is for GitHub's workflow_run: give --github")
    if number is not None:
        raise UsageError("--pr with --from-artifact: the pull request is the one the run was for")
    if not name:
        raise UsageError("--from-artifact: give the artifact's name")
    line = comment_from_artifact(name, comment_id, baseline, _warn)
    if line:
        sys.stderr.write(line + "\n")


@app.command(short_help="Combine the results of a CI matrix's shards into one.")
@_writes_reports
def merge(
    results: Annotated[
        list[str],
        typer.Argument(metavar="RESULTS.json...", help="Each shard's results JSON, or globs."),
    ],
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            min=1,
            help="How many shards ran: a missing one is an entry that could not be judged "
            "(default: the documents' own count).",
        ),
    ] = None,
    reports: list[tuple[str, str]] | None = None,
) -> None:
    """One verdict, one report set from the shards' results (gate check --shard I/N)."""
    from gate.integrate.merge import merge as combine
    from gate.integrate.sources import load_results

    doc = combine([(source, load_results(source)) for source in options.expand(results)], shards)
    _finish(doc, reports or [])


@app.command(short_help="Each binary's size and start-up over a series of results.")
def history(
    results: Annotated[
        list[str],
        typer.Argument(metavar="RESULTS.json...", help="Results of past runs (e.g. on main)."),
    ],
    fmt: Annotated[str, typer.Option("--format", help="markdown or csv.")] = "markdown",
    output: options.Output = None,
) -> None:
    """Each binary's file size, largest packages and start-up p50/p95 over the runs, in time
    order; where a limit would be crossed at the current slope, after how many runs."""
    from gate.integrate.sources import load_results
    from gate.judge.history import build
    from gate.report.history import render_history_csv, render_history_markdown

    if fmt not in ("markdown", "csv"):
        raise UsageError(f"--format {fmt!r}: expected markdown or csv")
    series = build([(source, load_results(source)) for source in results])
    render = render_history_csv if fmt == "csv" else render_history_markdown
    _emit(output, render(series))


def _split_argv(argv: list[str], group: TyperGroup, invocation: Invocation) -> list[str]:
    """The program's arguments (after `--`) set aside: click allows one variadic argument,
    and `gate check A B -- ARGS` needs two. A bare `--json` where it was a flag: stdout."""
    words = [w for w in argv if not w.startswith("-")]
    command = words[0] if words else ""
    if command in ("check", "startup") and "--" in argv:
        cut = argv.index("--")
        argv, invocation.program_args = argv[:cut], tuple(argv[cut + 1 :])
    sub = group.commands.get(command)
    if command in _BARE_JSON_IS_STDOUT and sub is not None:
        at = argv.index(command) + 1
        argv = argv[:at] + _bare_json(argv[at:], sub, one_binary=command != "inspect")
    return argv


def _bare_json(args: list[str], command: Any, one_binary: bool) -> list[str]:
    """`--json` with no value becomes `--json=-`. The word after it is its path when it
    cannot be the binary: `gate startup BIN --json out.json` writes out.json, as `gate
    check` would, while `gate startup --json BIN` still prints to stdout."""
    out = list(args)
    for i, word in enumerate(args):
        if word != "--json":
            continue
        nxt = args[i + 1] if i + 1 < len(args) else None
        if nxt == "-":
            continue  # `--json -`: stdout, said explicitly
        binaries = _positionals(command, args, flags={"--json"})
        if nxt is None or nxt.startswith("-") or not one_binary or len(binaries) < 2:
            out[i] = "--json=-"
    return out


def main() -> None:
    """The CLI in this process: GateError -> one line and exit 2; never a traceback by
    default. (The console script is gate/entry.py, which calls this.)"""
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    invocation = Invocation(debug=bool(os.environ.get("GATE_DEBUG")))
    argv = _split_argv(sys.argv[1:], group, invocation)
    guarded(lambda: group(args=argv, prog_name="gate", obj=invocation), lambda: invocation.debug)
