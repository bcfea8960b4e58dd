"""The GitLab template run for real: gitlab-ci-local runs a sample project's pipeline.

`.gitlab-ci-template.yml` is shell inside YAML that no unit test reaches, and GitLab only
runs it after a release. So a sample project (tests/data/gitlab-project: a Go service, a
`build` job, a `gate` job that extends `.gate`) is run by gitlab-ci-local with its shell
executor, each job isolated in its own checkout (`--shell-isolation`): the `gate` job sees
the binary only through the `build` job's artifacts, as on GitLab. What the merge request
would show is read back from the exported artifacts by real consumers (junitparser,
prometheus_client), and the GitLab API side (the target branch's artifact, the merge
request note) is tests/fake_forge.py, a real HTTP server.

Needs gitlab-ci-local (npm; versions that run on Node 20 end at 4.73.0), rsync (which
gitlab-ci-local calls for every job), git and Debian's Go 1.19. Missing tools skip the
module locally and fail it when CI is set, as conftest.py does for missing toolchains.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from fake_forge import FakeForge, Request
from junitparser import Failure, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "data" / "gitlab-project"
TEMPLATE = REPO / ".gitlab-ci-template.yml"
TOOLS = ("gitlab-ci-local", "rsync", "git")
GCL_VERSION = "4.73.0"  # the newest release that still runs on Node 20 (4.74 needs Node 22)
PROJECT_ID = "4242"
MR_IID = 7
MARKER = "<!-- gate:default -->"
REPORT = Path(".gitlab-ci-local/artifacts/gate/gate-report")  # the gate job's exported artifacts
BUILT = Path(".gitlab-ci-local/artifacts/build/bin/svc")  # the build job's exported binary
TIMEOUT_S = 180


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING) and not _in_ci(),
    reason=f"not on PATH: {', '.join(MISSING)} (npm install -g gitlab-ci-local@{GCL_VERSION})",
)


@dataclass(frozen=True)
class Runner:
    """Everything the pipelines of this module share: tools, environment, the first build."""

    project: Path  # the sample project after its `build` job ran: a git repo with artifacts
    env: dict[str, str]  # gitlab-ci-local's environment, which the shell executor passes on
    home: Path  # HOME and gitlab-ci-local's --home: no user's variables.yml can leak in
    base: dict[str, Any]  # a real results document of the built binary (no start-up)


@dataclass(frozen=True)
class Run:
    """One gitlab-ci-local invocation: its exit status, its output and the project it ran in."""

    returncode: int
    output: str
    project: Path

    @property
    def report(self) -> Path:
        return self.project / REPORT

    def junit(self) -> dict[str, str]:
        """check id -> status (pass, fail, skip), read as JUnit consumers read it."""
        xml = JUnitXml.fromfile(str(self.report / "junit.xml"))
        suites = list(xml)
        assert [s.name for s in suites] == ["gate.svc"]
        statuses = {}
        for case in suites[0]:
            kinds = {type(r) for r in case.result}
            statuses[case.name] = (
                "fail" if Failure in kinds else "skip" if Skipped in kinds else "pass"
            )
        return statuses

    def junit_message(self, check: str) -> str:
        xml = JUnitXml.fromfile(str(self.report / "junit.xml"))
        case = next(c for s in xml for c in s if c.name == check)
        return " ".join(r.message or "" for r in case.result)

    def metric(self, name: str) -> dict[str, float]:
        text = (self.report / "metrics.txt").read_text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        return {s.labels.get("binary", ""): s.value for s in families[name].samples}

    def results(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.report / "results.json").read_text())
        return doc


def _git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, text=True)


def _clean_env(go_env: Mapping[str, str], bin_dir: Path, root: Path) -> dict[str, str]:
    """The test's environment without anything that would steer the pipeline.

    gitlab-ci-local's shell executor hands its own environment to every job under the job's
    variables, so an outer CI's CI_*/GITLAB_*/GATE_* variables (or GCL_* options) must not
    reach it. Go is Debian's 1.19 with caches under `root`; `gate` is this checkout's.
    """
    drop = ("CI", "GITLAB_", "GATE_", "GCL_", "GO", "CGO_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update({k: v for k, v in go_env.items() if k.startswith("GO")})
    env.update(
        GOCACHE=str(root / "go-build"),
        GOPATH=str(root / "gopath"),
        PATH=os.pathsep.join([str(bin_dir), go_env["PATH"]]),
        PYTHONPATH=str(REPO),
        HOME=str(root / "home"),
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    return env


def _gate_command(bin_dir: Path) -> None:
    """`gate` on the jobs' PATH: this checkout's code run by the test's interpreter."""
    bin_dir.mkdir(parents=True)
    script = bin_dir / "gate"
    script.write_text(f"#!{sys.executable}\nfrom gate.cli import main\n\nmain()\n")
    script.chmod(0o755)


def gitlab_ci_local(
    runner: Runner,
    project: Path,
    job: str,
    variables: Mapping[str, str] = {},
    unset: Sequence[str] = (),
) -> Run:
    """Run one job the way a developer would, with the shell executor and no Docker."""
    argv = [
        "gitlab-ci-local",  # in the project: it wants --cwd relative, so none is given
        "--home",
        str(runner.home),
        "--force-shell-executor",  # the template names an image: run it on this machine
        "--shell-isolation",  # each job in its own checkout: the binary arrives as an artifact
        "--no-artifacts-to-source",  # artifacts stay where they were exported, nowhere else
        "--no-color",
        "--max-job-name-padding",
        "0",
    ]
    predefined = [k for k in variables if k.startswith("CI_")]
    if predefined:  # overriding them is the point here: no warning banner
        argv += ["--ignore-predefined-vars", ",".join(predefined)]
    for key, value in variables.items():
        argv += ["--variable", f"{key}={value}"]
    for key in unset:
        argv += ["--unset-variable", key]
    argv.append(job)
    proc = subprocess.Popen(
        argv,
        cwd=project,
        env=runner.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # its jobs' processes can be stopped as one group
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"`{shlex.join(argv)}` ran past {TIMEOUT_S} s:\n{output}")
    return Run(proc.returncode, output, project)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory, go_toolchains: Mapping[str, Any]) -> Runner:
    """The sample project as a git repository whose `build` job has run once.

    Building is the slow, unchanging part; every test runs the `gate` job in its own copy.
    The remote is a made-up GitLab: gitlab-ci-local derives CI_SERVER_URL and friends from
    it and never contacts it.
    """
    if MISSING:  # only reached in CI: a missing tool must not look like a pass
        pytest.fail(
            f"not on PATH: {', '.join(MISSING)}; .ci/run installs them "
            f"(npm install -g gitlab-ci-local@{GCL_VERSION}, apt-get install rsync)",
            pytrace=False,
        )
    _, go_env = go_toolchains["go1.19"]
    root = tmp_path_factory.mktemp("gitlab")
    _gate_command(root / "bin")
    (root / "home").mkdir()
    env = _clean_env(go_env, root / "bin", root)
    project = root / "sample"
    shutil.copytree(SAMPLE, project)
    shutil.copy2(TEMPLATE, project / ".gitlab-ci-template.yml")
    _git(project, "-c", "init.defaultBranch=main", "init", "-q")
    _git(project, "config", "user.name", "Sample")  # gitlab-ci-local's GITLAB_USER_NAME
    _git(project, "config", "user.email", "sample@example.com")
    _git(project, "remote", "add", "origin", "https://gitlab.example.com/group/sample.git")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "sample service")
    # origin/HEAD -> origin/main, so CI_DEFAULT_BRANCH is main as on the server.
    _git(project, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(project, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")

    runner = Runner(project, env, root / "home", base={})
    build = gitlab_ci_local(runner, project, "build")
    assert build.returncode == 0, build.output
    assert (project / BUILT).is_file(), build.output
    # main's results.json as its gate job would have written it: same binary path and policy.
    policy, out = str(project / "gate.toml"), str(root / "base.json")
    gate = [str(root / "bin" / "gate"), "check", "bin/svc", "--no-startup"]
    base = subprocess.run(
        [*gate, "--policy", policy, "--json", out],
        cwd=project / BUILT.parent.parent,  # the build job's artifacts: bin/svc
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert base.returncode == 0, base.stdout + base.stderr
    return replace(runner, base=json.loads(Path(out).read_text()))


@pytest.fixture
def project(runner: Runner, tmp_path: Path) -> Path:
    """A private copy of the built project: a test may change its policy or branch."""
    copy = tmp_path / "sample"
    shutil.copytree(
        runner.project,
        copy,
        symlinks=True,
        ignore=lambda d, names: ["builds"] if d.endswith(".gitlab-ci-local") else [],
    )
    return copy


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as server:
        yield server


def built_size(project: Path) -> int:
    return os.path.getsize(project / BUILT)


def set_max_file(project: Path, limit: str) -> None:
    policy = project / "gate.toml"
    text, n = re.subn(r'(?m)^max_file = "[^"]*"', f'max_file = "{limit}"', policy.read_text())
    assert n == 1
    policy.write_text(text)


def baseline_of(runner: Runner, file_size: int) -> bytes:
    """A real results document of the built binary, as if main's binary had `file_size` bytes."""
    doc = json.loads(json.dumps(runner.base))
    doc["binaries"][0]["facts"]["file_size"] = file_size
    return json.dumps(doc).encode()


def mr_variables(forge: FakeForge, **extra: str) -> dict[str, str]:
    """What GitLab sets in a merge request pipeline, pointed at the fake forge."""
    return {
        "CI_API_V4_URL": forge.gitlab_api,
        "CI_PROJECT_ID": PROJECT_ID,
        "CI_JOB_TOKEN": forge.token,
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_IID": str(MR_IID),
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        **extra,
    }


def mr_pipeline(runner: Runner, project: Path, forge: FakeForge, **extra: str) -> Run:
    # A merge request pipeline has no CI_COMMIT_BRANCH; gitlab-ci-local always sets it.
    return gitlab_ci_local(
        runner, project, "gate", mr_variables(forge, **extra), unset=["CI_COMMIT_BRANCH"]
    )


def artifact_path(project_id: str) -> str:
    """Where GitLab serves main's last `gate` job artifact file (the query names the job)."""
    return f"/api/v4/projects/{project_id}/jobs/artifacts/main/raw/gate-report/results.json"


def artifact_gets(forge: FakeForge) -> list[Request]:
    return [r for r in forge.requests if "/jobs/artifacts/" in r.path]


def assert_token_only_in_headers(forge: FakeForge, *runs: Run) -> None:
    """The token went in request headers only: no URL, job log or artifact holds it."""
    for r in forge.requests:
        assert forge.token not in r.path and forge.token not in json.dumps(r.query), r
    for run in runs:
        assert forge.token not in run.output
        for path in run.report.iterdir():
            assert forge.token not in path.read_text(), path


# --------------------------------------------------------------------------- verdicts


def test_a_small_binary_passes_and_the_reports_are_artifacts(runner: Runner, project: Path) -> None:
    run = gitlab_ci_local(runner, project, "gate")
    assert run.returncode == 0, run.output
    assert "PASS  gate" in run.output
    # The job's own checkout got bin/svc from the build job's artifacts: the copy has no
    # bin/ (untracked files are not synced) and artifacts are never copied to the source.
    assert not (project / "bin").exists()
    judged = project / ".gitlab-ci-local/builds/gate/bin/svc"
    assert judged.read_bytes() == (project / BUILT).read_bytes()
    size = built_size(project)
    assert size < 8_000_000  # the policy's limit, so the verdict below is the right one

    assert run.junit() == {
        "startup.runs": "pass",
        "elf.nx": "pass",
        "elf.textrel": "pass",
        "size.max_file": "pass",
        "size.max_growth": "skip",  # a pipeline on main has no target branch to compare with
    }
    assert run.metric("gate_file_bytes") == {"svc": size}
    assert run.metric("gate_verdict") == {"svc": 0}
    doc = run.results()
    assert doc["verdict"] == "pass" and doc["policy"] == "sample"
    assert doc["binaries"][0]["path"] == "bin/svc"
    startup = doc["binaries"][0]["startup"]
    assert startup["requested_runs"] == 3 and len(startup["runs"]) == 3  # GATE_RUNS
    assert (run.report / "summary.md").read_text().strip()
    assert json.loads((run.report / "codequality.json").read_text()) == []


def test_an_oversized_binary_fails_the_job_and_still_leaves_its_reports(
    runner: Runner, project: Path
) -> None:
    size = built_size(project)
    limit = size // 2
    set_max_file(project, f"{limit} B")
    run = gitlab_ci_local(runner, project, "gate")
    assert run.returncode == 1, run.output
    assert "FAIL  gate" in run.output and "PASS  gate" not in run.output
    assert re.search(rf"FAIL\s+size\.max_file\s+file size .*\({size:,} bytes\) > ", run.output)

    # artifacts:when: always, so the reports the merge request shows exist for a failed job.
    statuses = run.junit()
    assert statuses["size.max_file"] == "fail"
    assert [c for c, s in statuses.items() if s == "fail"] == ["size.max_file"]
    assert f"{size - limit:,}" in run.junit_message("size.max_file")
    assert run.metric("gate_file_bytes") == {"svc": size}
    assert run.metric("gate_verdict") == {"svc": 1}
    assert run.results()["verdict"] == "fail"
    issues = json.loads((run.report / "codequality.json").read_text())
    assert [(i["check_name"], i["severity"]) for i in issues] == [("size.max_file", "major")]
    assert issues[0]["location"]["path"] == "bin/svc"


# --------------------------------------------------------------------------- baseline


@pytest.mark.parametrize(
    ("main_size", "verdict"),
    [(1.0, "pass"), (0.95, "fail")],
    ids=["same-size-as-main", "grew-5pc-over-main"],
)
def test_the_baseline_is_the_target_branch_artifact_fetched_with_the_job_token(
    runner: Runner, project: Path, forge: FakeForge, main_size: float, verdict: str
) -> None:
    size = built_size(project)
    old = round(size * main_size)
    forge.artifacts[(PROJECT_ID, "main", "gate", "gate-report/results.json")] = baseline_of(
        runner, old
    )
    run = mr_pipeline(runner, project, forge)
    assert run.returncode == (0 if verdict == "pass" else 1), run.output

    gets = artifact_gets(forge)
    assert len(gets) == 1, forge.requests
    get = gets[0]
    assert get.method == "GET"
    assert get.path == artifact_path(PROJECT_ID)
    assert get.query == {"job": "gate"}
    assert get.headers.get("job-token") == forge.token
    assert "private-token" not in get.headers and "authorization" not in get.headers
    assert_token_only_in_headers(forge, run)

    statuses = run.junit()
    assert statuses["size.max_growth"] == verdict
    assert statuses["size.max_file"] == "pass"
    growth = (size - old) / old * 100
    checks = {c["id"]: c for c in run.results()["binaries"][0]["checks"]}
    assert checks["size.max_growth"]["measured"] == pytest.approx(growth, abs=1e-3)
    if verdict == "fail":
        assert f"file grew {growth:.1f}%" in run.junit_message("size.max_growth")


def test_no_artifact_on_the_target_branch_yet_skips_the_growth_check(
    runner: Runner, project: Path, forge: FakeForge
) -> None:
    """The first merge request of a project: main has no gate artifact yet (HTTP 404)."""
    forge.add_gitlab_mr(PROJECT_ID, MR_IID)
    run = mr_pipeline(runner, project, forge, GATE_COMMENT="true", GATE_GITLAB_TOKEN=forge.token)
    assert run.returncode == 0, run.output
    assert "PASS  gate" in run.output
    gets = artifact_gets(forge)
    # gate check and gate comment each ask for it (the note compares with the baseline).
    assert {(r.path, r.headers.get("job-token")) for r in gets} == {
        (artifact_path(PROJECT_ID), forge.token)
    }
    assert_token_only_in_headers(forge, run)
    assert "HTTP 404" in run.output
    statuses = run.junit()
    assert statuses["size.max_growth"] == "skip"
    assert statuses["size.max_file"] == "pass"
    assert run.results()["verdict"] == "pass"
    # The note is still written, without a baseline to compare with.
    notes = forge.gitlab_notes[(PROJECT_ID, MR_IID)]
    assert len(notes) == 1 and notes[0]["body"].startswith(MARKER), notes


def test_a_branch_pipeline_compares_with_the_default_branch(
    runner: Runner, project: Path, forge: FakeForge
) -> None:
    """No merge request: a feature branch's pipeline takes main's artifact.

    Here nothing but the job token is set by hand: the remote points at the fake forge, and
    gitlab-ci-local derives CI_API_V4_URL from it as GitLab would from its own URL.
    """
    _git(project, "remote", "set-url", "origin", f"{forge.url}/group/sample.git")
    _git(project, "checkout", "-q", "-b", "feature")
    project_id = "1217"  # gitlab-ci-local's CI_PROJECT_ID
    size = built_size(project)
    forge.artifacts[(project_id, "main", "gate", "gate-report/results.json")] = baseline_of(
        runner, size
    )
    run = gitlab_ci_local(runner, project, "gate", {"CI_JOB_TOKEN": forge.token})
    assert run.returncode == 0, run.output
    gets = artifact_gets(forge)
    assert [(g.path, g.query, g.headers.get("job-token")) for g in gets] == [
        (artifact_path(project_id), {"job": "gate"}, forge.token)
    ]
    assert run.junit()["size.max_growth"] == "pass"


# --------------------------------------------------------------------------- MR note


def test_the_merge_request_note_is_created_then_updated_in_place(
    runner: Runner, project: Path, forge: FakeForge
) -> None:
    forge.add_gitlab_mr(PROJECT_ID, MR_IID, notes=["Looks good to me"])
    key = (PROJECT_ID, "main", "gate", "gate-report/results.json")
    comment = {"GATE_COMMENT": "true", "GATE_GITLAB_TOKEN": forge.token}
    size = built_size(project)

    forge.artifacts[key] = baseline_of(runner, size)
    first = mr_pipeline(runner, project, forge, **comment)
    assert first.returncode == 0, first.output
    assert "was not updated" not in first.output, first.output
    ours = [n for n in forge.gitlab_notes[(PROJECT_ID, MR_IID)] if MARKER in n["body"]]
    assert len(ours) == 1, forge.gitlab_notes
    note_id, first_body = ours[0]["id"], ours[0]["body"]

    old = round(size * 0.95)  # main's binary was smaller: growth over the 1% budget
    forge.artifacts[key] = baseline_of(runner, old)
    second = mr_pipeline(runner, project, forge, **comment)
    assert second.returncode == 1, second.output
    assert "was not updated" not in second.output, second.output
    notes = forge.gitlab_notes[(PROJECT_ID, MR_IID)]
    ours = [n for n in notes if MARKER in n["body"]]
    assert [n["id"] for n in ours] == [note_id]
    body = ours[0]["body"]
    assert body != first_body
    growth = (size - old) / old * 100
    assert "size.max\\_growth" in body and f"{growth:.1f}%" in body  # Markdown escapes "_"
    assert [n["body"] for n in notes if n["id"] != note_id] == ["Looks good to me"]

    writes = [(r.method, r.path) for r in forge.requests if r.method in ("POST", "PUT")]
    notes_path = f"/api/v4/projects/{PROJECT_ID}/merge_requests/{MR_IID}/notes"
    assert writes == [("POST", notes_path), ("PUT", f"{notes_path}/{note_id}")]
    assert all(
        r.headers.get("private-token") == forge.token
        for r in forge.requests
        if "/merge_requests/" in r.path
    )
    assert_token_only_in_headers(forge, first, second)


def test_a_note_that_cannot_be_written_does_not_change_the_verdict(
    runner: Runner, project: Path, forge: FakeForge
) -> None:
    """The note is a courtesy: without a token the job warns and keeps gate's verdict."""
    forge.add_gitlab_mr(PROJECT_ID, MR_IID)
    run = mr_pipeline(runner, project, forge, GATE_COMMENT="true")
    assert run.returncode == 0, run.output
    assert "PASS  gate" in run.output
    assert "GATE_GITLAB_TOKEN" in run.output  # gate's reason, then the template's warning
    assert "gate: warning: the merge request note was not updated" in run.output
    assert forge.gitlab_notes[(PROJECT_ID, MR_IID)] == []
    assert not [r for r in forge.requests if "/merge_requests/" in r.path]
