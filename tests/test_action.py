"""The GitHub Action (`action.yml`): validated by a real validator, then run as GitHub would.

`action_runner` runs the composite steps with real bash, real file commands and a real gate
installed by the action's own "Install gate" step into a venv in RUNNER_TEMP. The scenarios
with real binaries are runs of the action in one module-scoped job, so the ~12 s install
happens once: the first run installs (its GITHUB_PATH entry stays in the job, as on GitHub),
later runs leave that step out (`skip_steps`) and find gate on the job's PATH. The PR comment
goes to `FakeForge`, a real HTTP server. Smaller tests pin the runner's own GitHub semantics
and, with a recording stand-in for gate, the exact command lines the action builds.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from action_runner import (
    ActionResult,
    Job,
    UnsupportedExpression,
    evaluate,
    interpolate,
    parse_key_value_file,
    parse_workflow_command,
    run_action,
)
from fake_forge import FakeForge
from junitparser import Failure, JUnitXml, TestCase
from reference import Fixture

ACTION_DIR = Path(__file__).resolve().parent.parent
ACTION_YML = ACTION_DIR / "action.yml"
INSTALL = "Install gate"
REPO = "octo/svc"
PR = 7
BINARY = "rt-noop"  # static C no-op: starts in a millisecond, 0.7 MB
RUNS = "2"

# Smaller than any static binary (size.max_file fails) and a warning for the symbol table.
TIGHT_POLICY = """\
[policy]
name = "tight"
extends = "default"

[size]
max_file = "100 kB"

[elf]
stripped = { value = true, severity = "warn" }
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _pr_event(number: int, base: str, head: str) -> dict[str, Any]:
    """The parts of a `pull_request` event payload that gate and the action read."""
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "base": {"ref": "main", "repo": {"full_name": base}},
            "head": {"ref": "feature", "repo": {"full_name": head}},
        },
        "repository": {"full_name": base},
    }


# --------------------------------------------------------------------------- the validator


@pytest.fixture(scope="module")
def action_validator() -> str:
    exe = shutil.which("action-validator")
    if exe is None:
        reason = "action-validator not on PATH (npm install -g @action-validator/cli)"
        if _in_ci():
            pytest.fail(reason + " in CI", pytrace=False)
        pytest.skip(reason)
    return exe


def _validate(exe: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)


def test_action_yml_passes_action_validator(action_validator: str) -> None:
    proc = _validate(action_validator, ACTION_YML)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_validator_rejects_a_broken_action(action_validator: str, tmp_path: Path) -> None:
    """The check above means something: the same file without a step's `shell` is refused.

    (The validator tells actions from workflows by the file name, hence action.yml.)
    """
    text = ACTION_YML.read_text()
    assert text.count("shell: bash\n") >= 2
    broken = tmp_path / "action.yml"
    broken.write_text(text.replace("      shell: bash\n", "", 1))
    proc = _validate(action_validator, broken)
    assert proc.returncode == 1
    report = json.loads(proc.stderr[proc.stderr.index("{") :])
    assert report["actionType"] == "action"
    assert "/runs/steps/0/shell" in proc.stderr


# --------------------------------------------------------------------------- the runner itself


def test_expressions_follow_github_semantics() -> None:
    steps: dict[str, Any] = {"check": {"outputs": {"verdict": "FAIL", "exit-code": "1"}}}
    ctx = {"steps": steps, "inputs": {"comment": "true"}, "github": {"event": {}}}
    # A missing output is null, and null == '' (both coerce to 0).
    assert evaluate("steps.python.outputs.found != 'true'", ctx) is True
    assert evaluate("steps.nothing.outputs.x == ''", ctx) is True
    # Strings compare case-insensitively; a number and a numeric string are equal.
    assert evaluate("steps.check.outputs.verdict == 'fail'", ctx) is True
    assert evaluate("steps.check.outputs.exit-code == 1", ctx) is True
    # && and || return an operand, not a bool; an empty object is truthy.
    assert evaluate("inputs.comment && 'yes'", ctx) == "yes"
    assert evaluate("github.event.pull_request || 'none'", ctx) == "none"
    assert evaluate("!github.event", ctx) is False
    assert evaluate("'it''s'", ctx) == "it's"
    assert interpolate("a=${{ inputs.comment }} b=${{ steps.x.outputs.y }}.", ctx) == "a=true b=."
    for unsupported in (
        "contains(github.ref, 'x')",
        "steps.check.outputs.exit-code > 0",
        "github.event['number']",
        "secrets.TOKEN",
        "always()",  # status functions belong in `if:` only
    ):
        with pytest.raises(UnsupportedExpression):
            evaluate(unsupported, ctx)


def test_file_commands_parse_as_the_runner_does() -> None:
    text = "a=1\nb=x=y\n\nnotes<<EOF\nline 1\r\nline 2\nEOF\nempty<<E\nE\nc=not<<heredoc\n"
    assert parse_key_value_file(text, "GITHUB_OUTPUT") == {
        "a": "1",
        "b": "x=y",
        "notes": "line 1\r\nline 2",
        "empty": "",
        "c": "not<<heredoc",
    }
    with pytest.raises(Exception, match="delimiter not found"):
        parse_key_value_file("x<<EOF\nno end\n", "GITHUB_OUTPUT")
    with pytest.raises(Exception, match="invalid format"):
        parse_key_value_file("no separator\n", "GITHUB_OUTPUT")


def test_workflow_commands_unescape_data_and_properties() -> None:
    line = "  ::error title=svc%3A size.max_file%2C again,line=3,bad::50%25 over%0Anext%0D"
    assert parse_workflow_command(line) == (
        "error",
        {"title": "svc: size.max_file, again", "line": "3"},
        "50% over\nnext\r",
    )
    assert parse_workflow_command("::warning::plain") == ("warning", {}, "plain")
    assert parse_workflow_command("::unknown::x") is None
    assert parse_workflow_command("text ::error::x") is None


SEMANTICS_ACTION = """\
name: semantics
description: what the runner must do like GitHub
inputs:
  word:
    description: defaults are expressions too
    default: ${{ github.repository }}
outputs:
  joined:
    description: evaluated after the last step
    value: ${{ steps.b.outputs.multi }}|${{ steps.a.outputs.x }}
runs:
  using: composite
  steps:
    - id: a
      shell: bash
      env:
        GREETING: hi
      run: |
        echo "x=$GREETING" >> "$GITHUB_OUTPUT"
        echo "FROM_A=${{ inputs.word }}" >> "$GITHUB_ENV"
        mkdir -p "$RUNNER_TEMP/tools"
        printf '#!/bin/sh\\necho tool-ran\\n' > "$RUNNER_TEMP/tools/mytool"
        chmod +x "$RUNNER_TEMP/tools/mytool"
        echo "$RUNNER_TEMP/tools" >> "$GITHUB_PATH"
        echo "# A" >> "$GITHUB_STEP_SUMMARY"
        echo "same step sees FROM_A=${FROM_A:-unset}"
    - id: b
      shell: bash
      run: |
        { echo "multi<<EOF"; echo "$FROM_A"; mytool; echo EOF; } >> "$GITHUB_OUTPUT"
        echo "::warning file=a.c,line=3::from%25stderr" >&2
        echo "# B" >> "$GITHUB_STEP_SUMMARY"
    - id: c
      shell: bash
      continue-on-error: true
      run: exit 5
    - id: d
      shell: bash
      run: |
        false | true
        echo "not reached: -o pipefail"
    - id: e
      shell: bash
      run: echo "not reached either"
    - id: f
      if: failure() && steps.d.outcome == 'failure' && steps.c.outcome == 'failure'
      shell: bash
      run: echo "::notice::d failed"
    - id: g
      if: ${{ always() }}
      shell: bash
      run: echo "# G" >> "$GITHUB_STEP_SUMMARY"
"""


def test_runner_semantics_on_a_small_action(tmp_path: Path) -> None:
    """File commands, PATH, failure handling and `if:` as GitHub does them, on bash itself."""
    (tmp_path / "action" / "action.yml").parent.mkdir()
    (tmp_path / "action" / "action.yml").write_text(SEMANTICS_ACTION)
    job = Job(tmp_path / "job", repository="octo/demo")
    result = run_action(tmp_path / "action", job)
    assert {s.id: (s.status, s.exit_code) for s in result.steps} == {
        "a": ("ran", 0),
        "b": ("ran", 0),
        "c": ("failed", 5),
        "d": ("failed", 1),
        "e": ("skipped", None),
        "f": ("ran", 0),
        "g": ("ran", 0),
    }
    assert result.exit_code == 1  # d's: c had continue-on-error
    assert result.step("a").stdout == "same step sees FROM_A=unset\n"
    assert result.step("d").stdout == ""
    assert result.outputs == {"joined": "octo/demo\ntool-ran|hi"}
    assert job.env == {"FROM_A": "octo/demo"}
    assert job.path == [str(job.runner_temp / "tools")]
    assert result.summary == "# A\n# B\n# G\n"
    warning, notice = result.annotations
    assert (warning.level, warning.message, warning.stream) == ("warning", "from%stderr", "stderr")
    assert dict(warning.properties) == {"file": "a.c", "line": "3"}
    assert (notice.level, notice.message, notice.step) == ("notice", "d failed", "f")


def test_runner_refuses_an_if_it_cannot_evaluate(tmp_path: Path) -> None:
    action = SEMANTICS_ACTION.replace(
        "    - id: e\n", "    - id: e\n      if: contains(github.ref, 'main')\n"
    )
    (tmp_path / "action").mkdir()
    (tmp_path / "action" / "action.yml").write_text(action)
    with pytest.raises(UnsupportedExpression, match="contains"):
        run_action(tmp_path / "action", Job(tmp_path / "job"))


# A stand-in for gate that records how the action called it (argv, cwd, token present).
RECORDING_GATE = """\
#!/usr/bin/env python3
import json, os, sys
with open(os.environ["GATE_CALLS"], "a") as log:
    call = {"argv": sys.argv[1:], "cwd": os.getcwd(), "token": os.environ.get("GITHUB_TOKEN")}
    log.write(json.dumps(call) + "\\n")
args = sys.argv[1:]
if args[0] == "check":  # a results file, so the action goes on to report and comment
    with open(args[args.index("--json") + 1], "w") as f:
        f.write("{}")
elif args[0] == "report":
    with open(os.environ["GITHUB_OUTPUT"], "a") as f:
        f.write("verdict=fail\\n")
"""


def test_inputs_reach_gate_as_exact_arguments(tmp_path: Path) -> None:
    """Each input is one argument however it is spelled: no word splitting, no injection,
    no empty argument from the newline a YAML `|` block ends with."""
    job = Job(
        tmp_path / "job",
        event=_pr_event(PR, REPO, REPO),
        event_name="pull_request",
        repository=REPO,
        env={"GATE_CALLS": str(tmp_path / "calls.jsonl")},  # as if set through GITHUB_ENV
        path=[str(tmp_path / "fake-bin")],
    )
    (tmp_path / "fake-bin").mkdir()
    (tmp_path / "fake-bin" / "gate").write_text(RECORDING_GATE)
    (tmp_path / "fake-bin" / "gate").chmod(0o755)
    (job.workspace / "sub").mkdir()
    hostile = "$(touch pwned) 'single' \"double\" `touch pwned2`; touch pwned3"
    inputs = {
        "binaries": "  build/svc one  \n\nbuild/worker-*\n",
        "policy": "gate.toml",
        "runs": "5",
        "ready": "http://127.0.0.1:{port}/healthz",
        "args": f"-addr\n127.0.0.1:{{port}}\n{hostile}\n",
        "baseline": "https://ci.example/main/results.json",
        "baseline-binary": "old/svc",
        "working-directory": "sub",
        "comment": "true",
        "comment-id": "amd64 release",
        "github-token": "t0ken",
    }
    result = run_action(ACTION_DIR, job, inputs, skip_steps={INSTALL})
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    out = str(Path(result.outputs["results-json"]).parent)
    assert calls[0] == {
        "argv": [
            "check",
            "build/svc one",
            "build/worker-*",
            "--policy",
            "gate.toml",
            "--junit",
            f"{out}/junit.xml",
            "--json",
            f"{out}/results.json",
            "--markdown",
            f"{out}/summary.md",
            "--metrics",
            f"{out}/metrics.txt",
            "--runs",
            "5",
            "--ready",
            "http://127.0.0.1:{port}/healthz",
            "--baseline",
            "https://ci.example/main/results.json",
            "--baseline-optional",
            "--baseline-binary",
            "old/svc",
            "--",
            "-addr",
            "127.0.0.1:{port}",
            hostile,
        ],
        "cwd": str(job.workspace / "sub"),
        "token": None,  # only the comment step gets the token
    }
    assert result.outputs["verdict"] == "fail"
    assert calls[1]["argv"] == ["report", f"{out}/results.json", "--format", "github"]
    assert calls[2] == {
        "argv": [
            "comment",
            f"{out}/results.json",
            "--github",
            "--id",
            "amd64 release",
            "--baseline",
            "https://ci.example/main/results.json",
        ],
        "cwd": str(job.workspace / "sub"),
        "token": "t0ken",
    }
    assert len(calls) == 3
    assert not [p.name for p in tmp_path.rglob("pwned*")]


# --------------------------------------------------------------------------- one job, several runs


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    with FakeForge() as server:
        server.token = "ghs_" + secrets.token_hex(20)  # unmistakable if it leaks anywhere
        server.add_github_pr(REPO, PR)
        yield server


def _runner_python_is_new_enough() -> bool:
    """What the action's first step asks: python3 >= 3.11 on PATH (else setup-python runs)."""
    code = "import sys; sys.exit(sys.version_info < (3, 11))"
    python3 = shutil.which("python3")
    return python3 is not None and subprocess.run([python3, "-c", code], timeout=60).returncode == 0


@pytest.fixture(scope="module")
def job(
    tmp_path_factory: pytest.TempPathFactory, forge: FakeForge, fixtures: Mapping[str, Fixture]
) -> Job:
    """A pull_request job; the workspace holds the binary (bin/) and a policy file."""
    if not _runner_python_is_new_enough():
        reason = "python3 on PATH is older than 3.11: the action would need actions/setup-python"
        if _in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    binary = fixtures[BINARY]
    job = Job(
        tmp_path_factory.mktemp("gh-job"),
        event=_pr_event(PR, REPO, REPO),
        event_name="pull_request",
        repository=REPO,
        api_url=forge.github_api,
        token=forge.token,
    )
    (job.workspace / "bin").mkdir()
    shutil.copy2(binary.path, job.workspace / "bin" / BINARY)
    (job.workspace / "tight.toml").write_text(TIGHT_POLICY)
    return job


def _inputs(**extra: str) -> dict[str, str]:
    return {"binaries": f"bin/{BINARY}", "runs": RUNS, **extra}


@pytest.fixture(scope="module")
def passing(job: Job) -> ActionResult:
    """The job's first run of the action: the only one that installs gate."""
    return run_action(ACTION_DIR, job, _inputs())


@pytest.fixture(scope="module")
def failing(job: Job, passing: ActionResult) -> ActionResult:
    """With a baseline that does not exist yet (the base branch's first run): not an error."""
    inputs = _inputs(policy="tight.toml", baseline="baseline/missing.json")
    return run_action(ACTION_DIR, job, inputs, skip_steps={INSTALL})


@pytest.fixture(scope="module")
def no_match(job: Job, passing: ActionResult) -> ActionResult:
    """Runs after a run that wrote results: those must not be mistaken for this run's."""
    inputs = _inputs(binaries="bin/missing-*\n")
    return run_action(ACTION_DIR, job, inputs, skip_steps={INSTALL})


@pytest.fixture(scope="module")
def commented(job: Job, forge: FakeForge, passing: ActionResult) -> list[ActionResult]:
    """Two pushes to the same pull request: each runs the action with `comment: true`,
    against the first run's results as the base branch's."""
    baseline = passing.outputs["results-json"]
    inputs = _inputs(comment="true", baseline=baseline, **{"github-token": forge.token})
    return [run_action(ACTION_DIR, job, inputs, skip_steps={INSTALL}) for _ in range(2)]


@pytest.fixture(scope="module")
def fork(
    tmp_path_factory: pytest.TempPathFactory, job: Job, forge: FakeForge, passing: ActionResult
) -> ActionResult:
    """A pull request from a fork: its token may read the base repository, not write to it.

    Another job; it reuses the main job's venv through PATH instead of installing again.
    """
    base = "octo/fork-target"
    forge.add_github_pr(base, 8)
    forge.read_only_repos.add(base)
    fork_job = Job(
        tmp_path_factory.mktemp("gh-fork-job"),
        event=_pr_event(8, base, "contributor/fork-target"),
        event_name="pull_request",
        repository=base,
        api_url=forge.github_api,
        token=forge.token,
        path=list(job.path),
    )
    (fork_job.workspace / "bin").mkdir()
    shutil.copy2(job.workspace / "bin" / BINARY, fork_job.workspace / "bin" / BINARY)
    inputs = _inputs(comment="true", **{"github-token": forge.token})
    return run_action(ACTION_DIR, fork_job, inputs, skip_steps={INSTALL})


def _venv_gate(job: Job) -> Path:
    return job.runner_temp / "gate-venv" / "bin" / "gate"


def _markdown(job: Job, results: str) -> str:
    """What `gate report --format markdown` renders, with the gate the action installed."""
    proc = subprocess.run(
        [str(_venv_gate(job)), "report", results, "--format", "markdown"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CI": "true"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    return proc.stdout


def _checks(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    (binary,) = doc["binaries"]
    return {c["id"]: c for c in binary["checks"]}


def _junit_cases(path: str) -> list[TestCase]:
    return [case for suite in JUnitXml.fromfile(path) for case in suite]


def _statuses(result: ActionResult) -> dict[str, str]:
    return {step.name: step.status for step in result.steps}


def test_a_passing_binary(job: Job, passing: ActionResult) -> None:
    assert _statuses(passing) == {
        "python": "ran",
        "Run actions/setup-python@v5": "skipped",
        INSTALL: "ran",
        "gate check": "ran",
        "gate comment": "skipped",
        "gate verdict": "ran",
    }, passing.stderr
    # python3 >= 3.11 is here, so the first step said so and setup-python's `if:` skipped it.
    assert passing.step("python").outputs == {"found": "true"}
    assert passing.step("Run actions/setup-python@v5").skipped_by == "if"
    # The install's GITHUB_PATH entry is how later steps (and runs) find gate.
    assert job.path == [str(_venv_gate(job).parent)]
    assert _venv_gate(job).is_file()

    assert passing.exit_code == 0
    assert set(passing.outputs) == {"verdict", "exit-code", "results-json", "junit", "markdown"}
    assert (passing.outputs["verdict"], passing.outputs["exit-code"]) == ("pass", "0")
    results = Path(passing.outputs["results-json"])
    assert results.is_relative_to(job.runner_temp)
    doc = json.loads(results.read_text())
    assert doc["verdict"] == "pass"
    checks = _checks(doc)
    assert {"startup.runs", "elf.nx", "elf.textrel"} <= set(checks)
    assert all(c["status"] == "pass" for c in checks.values()), checks
    assert doc["binaries"][0]["startup"]["runs"] and len(doc["binaries"][0]["startup"]["runs"]) == 2

    cases = _junit_cases(passing.outputs["junit"])
    assert sorted(case.name for case in cases) == sorted(checks)  # one testcase per check
    assert all(case.is_passed for case in cases)

    markdown = _markdown(job, str(results))
    assert markdown in passing.summary
    assert Path(passing.outputs["markdown"]).read_text() == markdown
    assert passing.annotations == ()


def test_a_failing_binary(job: Job, failing: ActionResult, fixtures: Mapping[str, Fixture]) -> None:
    assert failing.outputs["verdict"] == "fail"
    assert failing.outputs["exit-code"] == "1"
    assert failing.exit_code == 1
    assert failing.step("gate check").status == "ran"  # gate's verdict is the last step's exit
    assert failing.step("gate verdict").status == "failed"
    assert failing.step(INSTALL).skipped_by == "caller"

    doc = json.loads(Path(failing.outputs["results-json"]).read_text())
    assert doc["verdict"] == "fail"
    # The missing baseline (--baseline-optional) is recorded, not an error (that would be 2).
    assert doc["baseline"] == {"source": "baseline/missing.json", "found": False}
    checks = _checks(doc)
    size = checks["size.max_file"]
    assert size["status"] == "fail"
    file_size = fixtures[BINARY].path.stat().st_size
    assert f"{file_size:,} bytes" in size["message"] and "100 kB" in size["message"]

    (error,) = failing.annotations_of("error")
    assert (error.title, error.step) == (f"{BINARY}: size.max_file", "check")
    assert error.message == size["message"]
    (warning,) = failing.annotations_of("warning")
    assert checks["elf.stripped"]["status"] == "warn"
    assert warning.title == f"{BINARY}: elf.stripped"
    assert warning.message == checks["elf.stripped"]["message"]

    cases = _junit_cases(failing.outputs["junit"])
    assert sorted(case.name for case in cases) == sorted(checks)
    assert [case.name for case in cases if case.is_skipped] == ["baseline.match"]
    assert [c.name for c in cases if not c.is_passed and not c.is_skipped] == ["size.max_file"]
    (size_case,) = [case for case in cases if case.name == "size.max_file"]
    (failure,) = [r for r in size_case.result if isinstance(r, Failure)]
    assert size["message"] in (failure.message or "")
    assert _markdown(job, failing.outputs["results-json"]) in failing.summary


def test_a_glob_matching_nothing(job: Job, no_match: ActionResult, passing: ActionResult) -> None:
    assert no_match.outputs["verdict"] == "error"
    assert no_match.outputs["exit-code"] == "2"
    assert no_match.exit_code == 2
    (error,) = no_match.annotations_of("error")
    assert error.title == "gate"
    assert "exit 2" in error.message
    error_lines = [
        line for line in no_match.step("check").stderr.splitlines() if line.startswith("gate:")
    ]
    assert any("bin/missing-*" in line and "error" in line for line in error_lines), error_lines
    # Nothing was written, and the earlier run's results are neither reused nor overwritten.
    assert not Path(no_match.outputs["results-json"]).exists()
    assert no_match.outputs["results-json"] != passing.outputs["results-json"]
    assert json.loads(Path(passing.outputs["results-json"]).read_text())["verdict"] == "pass"


def test_the_pull_request_comment_is_created_then_updated(
    job: Job, forge: FakeForge, commented: list[ActionResult]
) -> None:
    for result in commented:
        assert result.step("gate comment").status == "ran", result.stderr
        assert result.exit_code == 0 and result.outputs["verdict"] == "pass"
        assert not [a for a in result.annotations if a.level in ("error", "warning")]
    (comment,) = forge.github_comments[(REPO, PR)]
    assert comment["body"].startswith("<!-- gate:default -->\n")
    # The same verdict line as the job summary, from the second run's results.
    headline = _markdown(job, commented[1].outputs["results-json"]).splitlines()[0]
    assert headline.startswith("## ") and headline in comment["body"].splitlines()
    created, updated = (r.step("gate comment").stderr for r in commented)
    assert created.startswith("gate: created the comment <!-- gate:default -->")
    assert updated.startswith("gate: updated the comment <!-- gate:default -->")
    writes = [r for r in forge.requests if r.method in ("POST", "PATCH")]
    post, patch = writes[-2:]
    assert post.method == "POST" and post.path.endswith(f"/repos/{REPO}/issues/{PR}/comments")
    assert patch.method == "PATCH"
    assert patch.path.endswith(f"/repos/{REPO}/issues/comments/{comment['id']}")
    assert comment["body"] == patch.body["body"]
    assert post.headers["authorization"].endswith(forge.token)


def test_a_fork_skips_the_comment_and_keeps_gates_exit_code(
    forge: FakeForge, fork: ActionResult
) -> None:
    step = fork.step("gate comment")
    assert step.status == "ran" and step.exit_code == 0
    (said,) = [line for line in step.stderr.splitlines() if line.startswith("gate:")]
    assert said.startswith("gate: comment skipped:") and "octo/fork-target#8" in said, said
    assert not [a for a in fork.annotations if a.level in ("error", "warning")]
    assert forge.github_comments[("octo/fork-target", 8)] == []
    assert fork.exit_code == 0 and fork.outputs["exit-code"] == "0"


def test_the_token_never_leaks(
    forge: FakeForge,
    passing: ActionResult,
    failing: ActionResult,
    no_match: ActionResult,
    commented: list[ActionResult],
    fork: ActionResult,
) -> None:
    for result in (passing, failing, no_match, *commented, fork):
        texts = [result.summary, *result.outputs.values()]
        for step in result.steps:
            texts += [step.stdout, step.stderr, *step.files.values()]
        for name in ("results-json", "junit", "markdown"):
            path = Path(result.outputs[name])
            if path.exists():
                texts.append(path.read_text())
        assert texts and not [t for t in texts if forge.token in t]
