"""The results document through every reader: real documents, and mutants of them at random.

Two real gate/results/v1 documents (a Go fixture judged without start-up; /bin/true
started, A/B against itself, with a breakdown) are mutated with hypothesis at random JSON
paths: keys dropped, wrong types, NaN, infinities, huge and 400-digit integers, strings
in number places, lists in object places, lone surrogates, deep nesting. Each mutant goes
through every consumer as the real CLI runs it (in-process, for speed): `gate report` in
every format, `gate diff` (both sides mutated), the PR comment's rendering, `gate size
--against` and `gate check --baseline`. The contract: exit 0, 1 or 2; with 2, exactly one
line on stderr, `gate: error: ...` naming the file; never an internal error, never a
traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import Fixture

from gate.errors import DocumentError, GateError
from gate.fetch import MAX_DEPTH
from gate.integrate.sources import load_results
from gate.report.formats import FORMATS
from gate.results.schema import RESULTS_SCHEMA
from gate.results.validate import validate

GO_FIXTURE = "go1.27-hello-sw"
REPORT_FORMATS = FORMATS  # every format gate renders: a new one is tested here at once
POLICY = '[size]\nmax_file = "100 MiB"\nmax_growth = "5%"\nmax_package = { "runtime" = "8 MiB" }\n'
# Start-up judged against a recorded baseline: two quick warm starts of /bin/true.
STARTUP_POLICY = '[startup]\nruns = 2\nwarmup = 0\ncold = false\nmax_regression = "10%"\n'
# What the CI's environment could make `gate report --format github` write to.
_GITHUB_FILES = ("GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT")


def gate_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CI": "true"},
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="module")
def policy(work: Path) -> Path:
    path = work / "policy.toml"
    path.write_text(POLICY)
    return path


@pytest.fixture(scope="module")
def startup_policy(work: Path) -> Path:
    path = work / "startup.toml"
    path.write_text(STARTUP_POLICY)
    return path


@pytest.fixture(scope="module")
def go_binary(fixtures: Mapping[str, Fixture]) -> Path:
    return fixtures[GO_FIXTURE].path


@pytest.fixture(scope="module")
def real_docs(work: Path, go_binary: Path, policy: Path) -> dict[str, dict[str, Any]]:
    """Documents the real `gate check --json` wrote: one without start-up, one with."""
    docs = {}
    size_doc = work / "size.json"
    proc = gate_subprocess(
        "check", str(go_binary), "--no-startup", "--policy", str(policy), "--json", str(size_doc)
    )
    assert proc.returncode in (0, 1), proc.stderr
    docs["no-startup"] = json.loads(size_doc.read_text())
    startup_doc = work / "startup.json"
    proc = gate_subprocess(
        "check",
        "/bin/true",
        "--baseline-binary",
        "/bin/true",
        "--policy",
        "serverless",
        "--runs",
        "3",
        "--max-runs",
        "4",
        "--breakdown",
        "--json",
        str(startup_doc),
    )
    assert proc.returncode in (0, 1), proc.stderr
    docs["startup"] = json.loads(startup_doc.read_text())
    startup = docs["startup"]["binaries"][0]["startup"]
    # The mutations should reach every part of the format.
    assert startup["against"] and startup["breakdown"] and startup["environment"]
    assert startup["adaptive"] and startup["stats"] and startup["eviction_detail"]
    assert docs["no-startup"]["binaries"][0]["attribution"]["packages"]
    return docs


# ---------------------------------------------------------------- the real documents


def test_real_documents_are_already_in_the_validated_form(
    real_docs: dict[str, dict[str, Any]],
) -> None:
    """gate writes nothing a reader would refuse, and leaves out only what it means to: the
    output tails of runs that succeeded (filled with "")."""
    for doc in real_docs.values():
        expected = copy.deepcopy(doc)
        startup = expected["binaries"][0]["startup"]
        for run in (startup["runs"] + startup["against"]["runs"]) if startup else []:
            assert run["ok"] and "stdout_tail" not in run
            run.update(stdout_tail="", stderr_tail="")
        assert validate(copy.deepcopy(doc), "doc.json") == expected


def test_report_of_a_result_without_error_keys(work: Path, real_docs: dict[str, Any]) -> None:
    """The reported bug: `gate report --format text` on a result without `error`."""
    doc = copy.deepcopy(real_docs["no-startup"])
    for binary in doc["binaries"]:
        del binary["error"]
    path = work / "no-error.json"
    path.write_text(json.dumps(doc))
    for fmt in REPORT_FORMATS:
        result = run_cli("report", str(path), "--format", fmt)
        assert result.code == 0, (fmt, result)


def test_nan_file_size_is_one_line_naming_the_path(work: Path, real_docs: dict[str, Any]) -> None:
    """The reported bug: NaN in `file_size` broke `gate diff`."""
    doc = copy.deepcopy(real_docs["no-startup"])
    doc["binaries"][0]["facts"]["file_size"] = math.nan
    base = work / "base.json"
    base.write_text(json.dumps(doc))
    good = work / "good.json"
    good.write_text(json.dumps(real_docs["no-startup"]))
    result = run_cli("diff", str(base), str(good))
    assert result.code == 2
    assert result.stderr == (
        f"gate: error: {base}: binaries[0].facts.file_size: expected a non-negative integer, "
        "got NaN\n"
    )
    proc = gate_subprocess("diff", str(base), str(good))  # the real process, once
    assert (proc.returncode, proc.stderr) == (2, result.stderr)


def test_deep_nesting_is_refused_before_parsing(work: Path) -> None:
    path = work / "deep.json"
    for depth in (MAX_DEPTH + 1, 100_000):
        path.write_text(
            '{"schema": "gate/results/v1", "binaries": ' + "[" * depth + "]" * depth + "}"
        )
        start = time.perf_counter()
        result = run_cli("report", str(path))
        assert time.perf_counter() - start < 2
        assert result.code == 2
        assert result.stderr == (
            f"gate: error: {path}: arrays or objects nested deeper than {MAX_DEPTH} levels; "
            "not a gate document\n"
        )
    # Brackets inside strings, escaped quotes included, are not nesting.
    path.write_text(json.dumps({"schema": RESULTS_SCHEMA, "binaries": [], "note": '\\"[' * 1000}))
    assert run_cli("report", str(path)).code == 0


# ---------------------------------------------------------------- every consumer, in-process


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _no_github_files() -> Iterator[None]:
    saved = {k: os.environ.pop(k) for k in _GITHUB_FILES if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def run_cli(*args: str) -> Outcome:
    """`gate ARGS` as the console script runs it (gate.cli.main), in this process."""
    from gate import cli

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["gate", *args]
    code: int | str | None = 0
    try:
        with _no_github_files(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    return Outcome(
        code if isinstance(code, int) else 2 if code else 0, out.getvalue(), err.getvalue()
    )


def render_comment_of(results: Path, baseline: Path | None) -> Outcome:
    """`gate comment`'s body as the command renders it (the forge calls are tested elsewhere)."""
    from gate.judge.diff import diff_results
    from gate.report.comment import footer, render_comment

    try:
        doc = load_results(str(results))
        diffs = None
        if baseline is not None:
            with contextlib.suppress(DocumentError):  # as the command: the comment goes on
                diffs = diff_results(load_results(str(baseline)), doc)
        body = render_comment(doc, "default", diffs, footer(doc, {}))
    except GateError as exc:
        return Outcome(2, "", f"gate: error: {exc}\n")
    return Outcome(0, body, "")


def assert_contract(result: Outcome, files: tuple[Path, ...], what: str) -> None:
    """Exit 0, 1 or 2; with 2, one line that names one of `files`; never an internal error."""
    context = (what, result.code, result.stderr[-2000:])
    assert result.code in (0, 1, 2), context
    assert "internal error" not in result.stderr, context
    assert "Traceback" not in result.stderr + result.stdout, context
    result.stdout.encode("utf-8")  # what a real stdout must be able to write
    if result.code == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1, context
        assert lines[0].startswith("gate: error: "), context
        assert any(str(f) in lines[0] for f in files), context  # it names the file
    else:
        assert all(line.startswith("gate: ") for line in result.stderr.splitlines()), context


# ---------------------------------------------------------------- mutations

Path_ = tuple[str | int, ...]
_DEEP = "\0deep\0"  # placeholder, replaced by nesting in the written text
_HUGE = "\0huge\0"  # placeholder, replaced by a 400-digit integer


def _paths(node: Any, here: Path_ = ()) -> list[Path_]:
    out = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*here, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:3]):  # a few items of each list are enough
            out += _paths(value, (*here, i))
    return out


# Values of the right type but at the edges: documents that stay valid test the renderers.
ODD: dict[type, tuple[Any, ...]] = {
    bool: (True, False),
    int: (0, 1, 2**63, 2**64 - 1, 10**19),
    float: (0.0, 5e-324, 1e-300, 1e19, 0.5),
    str: ("", "\n\n", "a|b<script>`@x", "\ud800", "x" * 1000, "ünï©ødé 🚀"),
}
WEIRD: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -2.5,
    2**63,
    2**64,
    -(2**63) - 1,
    10**20,
    5e-324,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "12 MB",
    "NaN",
    "\ud800",
    "x" * 300,
    [],
    {},
    [1, "a"],
    {"name": 1},
    [[[]]],
    _DEEP,
    _HUGE,
)


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of `doc` with one to three changes at random JSON paths."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for part in path[:-1]:
            parent = parent[part]
        key = path[-1]
        value = parent[key]
        op = draw(st.sampled_from(("drop", "weird", "odd", "odd", "wrap", "extra", "empty")))
        if op == "odd" and type(value) in ODD:
            parent[key] = draw(st.sampled_from(ODD[type(value)]))
        elif op == "odd" and isinstance(value, list):
            parent[key] = copy.deepcopy(value * draw(st.integers(0, 3)))
        elif op == "drop":
            del parent[key]
        elif op == "weird":
            parent[key] = copy.deepcopy(draw(st.sampled_from(WEIRD)))
        elif op == "wrap":  # a list where an object goes, or an object where a list goes
            parent[key] = [value] if not isinstance(value, list) else {"items": value}
        elif op == "extra" and isinstance(value, dict):
            extra = draw(st.sampled_from(("x-new", "name", "ok", "\udcff")))
            value[extra] = copy.deepcopy(draw(st.sampled_from(WEIRD)))
        elif op == "empty":
            parent[key] = type(value)() if isinstance(value, list | dict | str) else 0
    return doc


def write(path: Path, doc: dict[str, Any]) -> Path:
    text = json.dumps(doc, ensure_ascii=True)  # NaN and Infinity as Python's json writes them
    text = text.replace(json.dumps(_DEEP), "[" * 5000 + "]" * 5000)
    text = text.replace(json.dumps(_HUGE), "9" * 400)
    path.write_text(text)
    return path


# Derandomized and database-less: the same examples on every run, so CI never goes red
# by chance; the counts keep the whole file near 20 s (2,000 random examples of each ran
# clean while this was written).
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@SETTINGS
@given(data=st.data(), which=st.sampled_from(("no-startup", "startup")))
def test_mutated_results_through_every_report(
    real_docs: dict[str, Any], work: Path, data: st.DataObject, which: str
) -> None:
    path = write(work / "mutant.json", data.draw(mutated(real_docs[which]), label="doc"))
    files = (path,)
    for fmt in REPORT_FORMATS:
        assert_contract(run_cli("report", str(path), "--format", fmt), files, f"report {fmt}")
    assert_contract(render_comment_of(path, None), files, "comment")


@settings(SETTINGS, max_examples=100)
@given(data=st.data(), which=st.sampled_from(("no-startup", "startup")))
def test_mutated_results_diffed_and_in_the_comment(
    real_docs: dict[str, Any], work: Path, data: st.DataObject, which: str
) -> None:
    old = write(work / "old.json", data.draw(mutated(real_docs[which]), label="old"))
    new = write(work / "new.json", data.draw(mutated(real_docs[which]), label="new"))
    for fmt in ("text", "markdown"):
        assert_contract(run_cli("diff", str(old), str(new), "--format", fmt), (old, new), "diff")
    assert_contract(render_comment_of(new, old), (new,), "comment --baseline")


@settings(SETTINGS, max_examples=80)
@given(data=st.data(), which=st.sampled_from(("no-startup", "startup")))
def test_mutated_baselines_for_size_and_check(
    real_docs: dict[str, Any],
    work: Path,
    go_binary: Path,
    policy: Path,
    data: st.DataObject,
    which: str,
) -> None:
    base = write(work / "base.json", data.draw(mutated(real_docs[which]), label="baseline"))
    files = (base,)
    for by in ("section", "package"):
        size = run_cli("size", str(go_binary), "--by", by, "--against", str(base))
        assert_contract(size, files, f"size --by {by}")
    check = run_cli(
        "check", str(go_binary), "--no-startup", "--policy", str(policy), "--baseline", str(base)
    )
    assert_contract(check, files, "check --baseline")


@settings(SETTINGS, max_examples=30)
@given(data=st.data())
def test_mutated_baselines_judge_a_real_start_up(
    real_docs: dict[str, Any], work: Path, startup_policy: Path, data: st.DataObject
) -> None:
    """max_regression against a recorded baseline reads its start-up statistics."""
    base = write(work / "base-startup.json", data.draw(mutated(real_docs["startup"])))
    check = run_cli("check", "/bin/true", "--policy", str(startup_policy), "--baseline", str(base))
    assert_contract(check, (base,), "check --baseline (start-up)")
