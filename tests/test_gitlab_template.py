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

import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import zipfile
from base64 import urlsafe_b64encode
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import readme_snippets
import yaml
from ci import in_ci, unavailable
from fake_forge import FakeForge, Request
from junitparser import Failure, JUnitXml, Skipped
from packaging.requirements import Requirement
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "data" / "gitlab-project"
TEMPLATE = REPO / ".gitlab-ci-template.yml"
COMPONENT = REPO / "templates" / "gate.yml"
DEBIAN_PYTHON = Path("/usr/bin/python3")  # Debian's own: PEP 668 marks it externally managed
PINNED = "9.8.7"  # the version the pinned wheel is built with: no other gate has it
TOOLS = ("gitlab-ci-local", "rsync", "git")
GCL_VERSION = "4.73.0"  # the newest release that still runs on Node 20 (4.74 needs Node 22)
PROJECT_ID = "4242"
MR_IID = 7
MARKER = "<!-- gate:default -->"
REPORT = Path(".gitlab-ci-local/artifacts/gate/gate-report")  # the gate job's exported artifacts
BUILT = Path(".gitlab-ci-local/artifacts/build/bin/svc")  # the build job's exported binary
TIMEOUT_S = 180


MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING) and not in_ci(),
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
    env: Mapping[str, str] | None = None,
    file: str | None = None,
) -> Run:
    """Run one job the way a developer would, with the shell executor and no Docker.

    `env` replaces the runner's environment (the shell executor hands it to the job);
    `file` is another pipeline file of the project than .gitlab-ci.yml.
    """
    argv = [
        "gitlab-ci-local",  # in the project: it wants --cwd relative, so none is given
        "--home",
        str(runner.home),
        *(["--file", file] if file else []),
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
        env=runner.env if env is None else env,
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


def _init_project(project: Path) -> None:
    """The project as a git repository with a GitLab remote, committed on main."""
    _git(project, "-c", "init.defaultBranch=main", "init", "-q")
    _git(project, "config", "user.name", "Sample")  # gitlab-ci-local's GITLAB_USER_NAME
    _git(project, "config", "user.email", "sample@example.com")
    _git(project, "remote", "add", "origin", "https://gitlab.example.com/group/sample.git")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "sample service")
    # origin/HEAD -> origin/main, so CI_DEFAULT_BRANCH is main as on the server.
    _git(project, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(project, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")


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
    (project / "templates").mkdir()
    shutil.copy2(COMPONENT, project / "templates" / "gate.yml")  # the component, as in gate's repo
    _init_project(project)

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
        "baseline.match": "skip",
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
    # gate check and gate comment each ask for it (the note compares with the baseline), with
    # GATE_GITLAB_TOKEN, which wins over the job token when both are set.
    assert {(r.path, r.headers.get("private-token")) for r in gets} == {
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


# --------------------------------------------------------------------------- installing gate
#
# The runs above find this checkout's `gate` on PATH, as in an image that ships gate. These
# run the other ways: Debian's system python3 (PEP 668: its pip refuses to install) making the
# venv that a pinned wheel goes into, a provided zipapp, and the default package. pip finds
# nothing on the network here: the wheels come from a local wheelhouse (PIP_NO_INDEX and
# PIP_FIND_LINKS, as an offline runner would set them), made once for the module.


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _write_wheel(path: Path, files: Mapping[str, bytes], info_dir: str) -> Path:
    """A wheel: the files, and a RECORD of their hashes (what pip checks)."""
    rows = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, data in sorted(files.items()):
            whl.writestr(name, data)
            digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{name},sha256={digest},{len(data)}")
        rows.append(f"{info_dir}/RECORD,,")
        whl.writestr(f"{info_dir}/RECORD", "\n".join(rows) + "\n")
    return path


def _repack(dist: importlib.metadata.Distribution, out: Path) -> Path:
    """An installed distribution back into the wheel it came from (its files, as listed)."""
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    meta = (dist.read_text("WHEEL") or "").splitlines()
    tags = [ln.split(":", 1)[1].strip().split("-") for ln in meta if ln.startswith("Tag:")]
    # py2-none-any and py3-none-any: py2.py3-none-any, as the wheel's own name had it
    tag = "-".join(".".join(dict.fromkeys(part)) for part in zip(*tags, strict=True))
    files, info_dir = {}, f"{name}-{dist.version}.dist-info"
    for f in dist.files or []:
        if f.parts[0] == ".." or "__pycache__" in f.parts:
            continue  # console scripts (pip writes its own) and byte code
        if f.parts[0].endswith(".dist-info"):
            info_dir = f.parts[0]
            if len(f.parts) == 2 and f.name in (
                "RECORD",
                "INSTALLER",
                "REQUESTED",
                "direct_url.json",
            ):
                continue
        files[f.as_posix()] = Path(str(f.locate())).read_bytes()
    return _write_wheel(out / f"{name}-{dist.version}-{tag}.whl", files, info_dir)


def _dependencies(requirements: Sequence[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions these requirements pull in, transitively."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if _canonical(req.name) in found:
            continue
        dist = importlib.metadata.distribution(req.name)
        found[_canonical(req.name)] = dist
        todo += [Requirement(r) for r in dist.requires or []]
    return list(found.values())


def _gate_wheel(out: Path, version: str) -> Path:
    """This checkout as a wheel of `version`, under the distribution name pyproject gives.

    Written here, not by `pip wheel`: building needs setuptools >= 68 and `wheel`, which pip
    would fetch from the network into its build environment.
    """
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    name = re.sub(r"[-_.]+", "_", project["name"]).lower()
    info = f"{name}-{version}.dist-info"
    files = {}
    for path in sorted((REPO / "gate").rglob("*.py")):
        text = path.read_text()
        if path == REPO / "gate" / "__init__.py":
            text = re.sub(r'(?m)^__version__ = "[^"]*"', f'__version__ = "{version}"', text)
        files[path.relative_to(REPO).as_posix()] = text.encode()
    for path in sorted((REPO / "policies").glob("*.toml")):  # package-dir: gate.policies
        files[f"gate/policies/{path.name}"] = path.read_bytes()
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
        f"Requires-Python: {project['requires-python']}",
        *(f"Requires-Dist: {r}" for r in project["dependencies"]),
    ]
    files[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    scripts = "".join(f"{k} = {v}\n" for k, v in project["scripts"].items())
    files[f"{info}/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()
    return _write_wheel(out / f"{name}-{version}-py3-none-any.whl", files, info)


@dataclass(frozen=True)
class Debian:
    """A Debian shell runner: python3 is /usr/bin/python3, pip reads a local wheelhouse."""

    env: dict[str, str]  # without `gate` on PATH
    impostor: str  # PATH with a `gate` first that is not the one wanted
    wheel: Path  # gate pinned at PINNED
    log: Path  # every python3 command line a job ran


@pytest.fixture(scope="module")
def debian(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Debian:
    if not _pep668_python():
        unavailable(
            f"{DEBIAN_PYTHON} is not a PEP 668 managed Python >= 3.11 with venv "
            "(.ci/run installs python3-venv)"
        )
    root = tmp_path_factory.mktemp("debian")
    wheels = root / "wheelhouse"
    wheels.mkdir()
    wheel = _gate_wheel(wheels, PINNED)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for dist in _dependencies(project["dependencies"]):
        _repack(dist, wheels)
    log = root / "python3.log"
    shims = root / "bin"
    shims.mkdir()
    python3 = shims / "python3"  # Debian's python3, noting how it was called
    python3.write_text(
        f'#!/bin/sh\necho "$*" >> {shlex.quote(str(log))}\nexec {DEBIAN_PYTHON} "$@"\n'
    )
    impostors = root / "impostor"
    impostors.mkdir()
    impostor = impostors / "gate"
    impostor.write_text("#!/bin/sh\necho 'impostor gate ran' >&2\nexit 3\n")
    for script in (python3, impostor):
        script.chmod(0o755)
    # No gate on this runner's PATH: not the checkout's, not the test interpreter's.
    path = [p for p in runner.env["PATH"].split(os.pathsep) if not (Path(p) / "gate").exists()]
    env = {k: v for k, v in runner.env.items() if k != "PYTHONPATH"}
    env.update(
        PATH=os.pathsep.join([str(shims), *path]),
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
    )
    return Debian(env, os.pathsep.join([str(impostors), env["PATH"]]), wheel, log)


def _pep668_python() -> bool:
    if not DEBIAN_PYTHON.is_file():
        return False
    probe = (
        "import ensurepip, pathlib, sys, sysconfig\n"
        "marker = pathlib.Path(sysconfig.get_path('stdlib')) / 'EXTERNALLY-MANAGED'\n"
        "sys.exit(sys.version_info < (3, 11) or not marker.is_file())\n"
    )
    return subprocess.run([str(DEBIAN_PYTHON), "-c", probe], capture_output=True).returncode == 0


def _version_lines(output: str) -> list[str]:
    """The lines the job printed for `gate --version` (gitlab-ci-local prefixes "JOB > ")."""
    return re.findall(r"(?m)^\S+ > (gate \S+)$", output)


def test_debian_system_python_refuses_pip_so_a_pinned_wheel_goes_into_a_venv(
    runner: Runner, project: Path, debian: Debian
) -> None:
    """The pin wins over the `gate` already on PATH; the version that ran is printed."""
    refused = subprocess.run(
        [str(DEBIAN_PYTHON), "-m", "pip", "install", "--no-index", "gate-no-such-package"],
        env={"PATH": debian.env["PATH"], "HOME": debian.env["HOME"]},
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert "externally-managed-environment" in refused.stdout + refused.stderr
    debian.log.write_text("")

    tmp = project.parent / "tmp"  # the job's TMPDIR, where its venv goes
    tmp.mkdir()
    run = gitlab_ci_local(
        runner,
        project,
        "gate",
        {"GATE_PACKAGE": str(debian.wheel), "GATE_PROGRAM_ARGS": "--greeting\nhello, world\n"},
        env={**debian.env, "PATH": debian.impostor, "TMPDIR": str(tmp)},
    )
    assert run.returncode == 0, run.output
    assert "impostor" not in run.output
    assert f"installing {debian.wheel} into a venv" in run.output
    assert _version_lines(run.output) == [f"gate {PINNED}"]
    assert "PASS  gate" in run.output
    assert re.search(rf"(?m)^-m venv {re.escape(str(tmp))}/gate-venv\.\w+$", debian.log.read_text())
    doc = run.results()
    assert doc["gate_version"] == PINNED
    assert doc["binaries"][0]["startup"]["args"] == ["--greeting", "hello, world"]
    assert run.junit()["size.max_file"] == "pass"
    # The venv was the job's own: nothing of it is left, in TMPDIR or in the checkout.
    assert not list(tmp.iterdir())
    assert not list((project / ".gitlab-ci-local/builds/gate").glob("**/pyvenv.cfg"))
    assert "cache created in '.gitlab-ci-local/cache/gate-pip'" in run.output  # pip's cache


def test_without_gate_on_path_or_a_pin_the_job_installs_binary_gate(
    runner: Runner, project: Path, debian: Debian
) -> None:
    """The default package is `binary-gate`, from wherever pip looks (here: the wheelhouse)."""
    run = gitlab_ci_local(runner, project, "gate", env=debian.env)
    assert run.returncode == 0, run.output
    assert "installing binary-gate into a venv" in run.output
    assert _version_lines(run.output) == [f"gate {PINNED}"]


def test_a_pin_that_cannot_be_installed_is_one_clear_error(
    runner: Runner, project: Path, debian: Debian
) -> None:
    run = gitlab_ci_local(
        runner, project, "gate", {"GATE_PACKAGE": "binary-gate==0.0.0"}, env=debian.env
    )
    assert run.returncode != 0, run.output
    assert "No matching distribution found for binary-gate==0.0.0" in run.output  # pip's reason
    assert "gate: error: could not install 'binary-gate==0.0.0'" in run.output
    assert not _version_lines(run.output)
    assert not (project / REPORT / "results.json").exists()


def test_a_python_older_than_gate_needs_is_one_clear_error(
    runner: Runner, project: Path, tmp_path: Path
) -> None:
    """A shell runner ignores `image:`: its python3 may be Ubuntu 22.04's 3.10."""
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\n[ "$1" = -V ] && echo "Python 3.10.12" && exit 0\nexit 1\n')
    old.chmod(0o755)
    run = gitlab_ci_local(
        runner, project, "gate", {"GATE_PACKAGE": "binary-gate", "GATE_PYTHON": str(old)}
    )
    assert run.returncode != 0, run.output
    assert f"gate: error: gate needs Python >= 3.11; '{old}' is Python 3.10.12" in run.output
    assert "installing" not in run.output


@pytest.fixture(scope="module")
def release_zipapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zipapp a release carries, built by scripts/build-zipapp (pip takes its pinned
    wheels from its cache or the index, as in tests/test_zipapp.py)."""
    out = tmp_path_factory.mktemp("zipapp")
    build = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build-zipapp"), "--out-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert build.returncode == 0, build.stderr
    return Path(build.stdout.strip().splitlines()[-1].split("  ", 1)[1])


def test_a_provided_zipapp_runs_on_debian_python_without_installing_anything(
    runner: Runner, project: Path, debian: Debian, release_zipapp: Path
) -> None:
    """GATE_ZIPAPP: Debian's python3, which has none of gate's dependencies, runs the release
    zipapp; nothing is installed and the `gate` on PATH is not used."""
    debian.log.write_text("")
    run = gitlab_ci_local(
        runner,
        project,
        "gate",
        {"GATE_ZIPAPP": str(release_zipapp)},
        env={**debian.env, "PATH": debian.impostor},
    )
    assert run.returncode == 0, run.output
    assert "impostor" not in run.output and "installing" not in run.output
    assert _version_lines(run.output) == [f"gate {runner.base['gate_version']}"]
    assert "PASS  gate" in run.output
    calls = debian.log.read_text().splitlines()
    assert f"{release_zipapp} --version" in calls
    assert any(c.startswith(f"{release_zipapp} check bin/svc ") for c in calls), calls
    assert run.junit()["size.max_file"] == "pass"


# --------------------------------------------------------------------------- program arguments


@pytest.mark.parametrize(
    ("variables", "argv"),
    [
        (
            {"GATE_PROGRAM_ARGS": "--greeting\nhello, world\n  two  blanks  \n"},
            ["--greeting", "hello, world", "  two  blanks  "],
        ),
        ({"GATE_ARGS": "-v --name svc"}, ["-v", "--name", "svc"]),  # one line: as before
        ({"GATE_ARGS": "--greeting\nhello, world\n"}, ["--greeting", "hello, world"]),
    ],
    ids=["program-args-one-per-line", "args-one-line-split", "args-block-one-per-line"],
)
def test_program_arguments_reach_the_program_as_written(
    runner: Runner, project: Path, variables: dict[str, str], argv: list[str]
) -> None:
    run = gitlab_ci_local(runner, project, "gate", {**variables, "GATE_OPTIONS": "--timeout=9s"})
    assert run.returncode == 0, run.output
    startup = run.results()["binaries"][0]["startup"]
    assert startup["args"] == argv
    assert startup["timeout_s"] == 9  # GATE_OPTIONS, one argument a line
    assert all(r["ok"] for r in startup["runs"])


def test_program_args_and_the_older_args_together_are_refused(
    runner: Runner, project: Path
) -> None:
    run = gitlab_ci_local(runner, project, "gate", {"GATE_PROGRAM_ARGS": "-a", "GATE_ARGS": "-b"})
    assert run.returncode != 0, run.output
    assert "gate: error: set GATE_PROGRAM_ARGS or GATE_ARGS, not both" in run.output


# --------------------------------------------------------------------------- the component


def _component() -> tuple[dict[str, Any], dict[str, Any]]:
    header, body = yaml.safe_load_all(COMPONENT.read_text())
    return header["spec"]["inputs"], body["$[[ inputs.job-name ]]"]


def test_the_component_and_the_include_run_one_script() -> None:
    """What is duplicated (a component cannot include its project's files) stays identical."""
    inputs, job = _component()
    template = yaml.safe_load(TEMPLATE.read_text())
    classic = template[".gate"]
    assert job["script"] == classic["script"]
    # The include's settings are global variables (so top-level ones override them too).
    settings = set(template["variables"]) | set(classic["variables"])
    assert set(job["variables"]) == settings - {"GATE_IMAGE"}
    assert job["cache"] == classic["cache"]
    cache = "$CI_PROJECT_DIR/" + classic["cache"]["paths"][0].rstrip("/")
    assert classic["variables"]["PIP_CACHE_DIR"] == job["variables"]["PIP_CACHE_DIR"] == cache
    assert job["artifacts"]["reports"].keys() == classic["artifacts"]["reports"].keys()
    used = re.findall(r"\$\[\[ inputs\.([\w-]+) \]\]", COMPONENT.read_text().split("\n---\n", 1)[1])
    assert set(used) == set(inputs)  # every input does something
    # binaries or merge (the last job of a matrix): neither is required alone
    assert inputs["binaries"]["default"] == inputs["merge"]["default"] == ""


def test_the_component_with_inputs_gates_the_service_and_writes_the_note(
    runner: Runner, project: Path, forge: FakeForge
) -> None:
    """`include: component:` as GitLab documents for testing a component in its own project
    (gitlab-ci-local reads it from the checkout), inputs for binaries, policy, runs, args
    (one per line) and comment (a boolean)."""
    forge.add_gitlab_mr(PROJECT_ID, MR_IID)
    run = gitlab_ci_local(
        runner,
        project,
        "gate",
        mr_variables(forge, GATE_GITLAB_TOKEN=forge.token),
        unset=["CI_COMMIT_BRANCH"],
        file=".gitlab-ci-component.yml",
    )
    assert run.returncode == 0, run.output
    assert "PASS  gate" in run.output
    assert _version_lines(run.output) == [f"gate {runner.base['gate_version']}"]
    startup = run.results()["binaries"][0]["startup"]
    assert startup["args"] == ["--greeting", "hello, component world"]
    assert startup["requested_runs"] == 3
    assert run.results()["policy"] == "sample"
    assert run.junit()["size.max_growth"] == "skip"  # main has no artifact yet
    notes = forge.gitlab_notes[(PROJECT_ID, MR_IID)]
    assert len(notes) == 1 and notes[0]["body"].startswith(MARKER), notes


# --------------------------------------------------------------------------- the README's pipelines
#
# The pipelines README.md prints, run as printed: the only changes are the ones
# tests/readme_snippets.py declares (the include from this checkout, the pinned package as this
# checkout's wheel). The runner is Debian's: gate is installed from the pin, not found on PATH.

README_PROJECT = Path(__file__).resolve().parent / "data" / "readme-project"


def _compose(base: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """`part` added to `base` as a reader adds a snippet to a pipeline: keys merged, its win."""
    out = dict(base)
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _compose(out[key], value)
        else:
            out[key] = value
    return out


def readme_pipeline(name: str, fill: Mapping[str, str]) -> str:
    """The README snippet `name` as the test runs it (with the jobs it is composed with)."""
    found = readme_snippets.snippets()
    text = readme_snippets.as_run(found[name], dict(fill))
    if name not in readme_snippets.COMPOSED_WITH:
        return text
    base_name, keys = readme_snippets.COMPOSED_WITH[name]
    base = yaml.safe_load(readme_snippets.as_run(found[base_name], dict(fill)))
    composed = _compose({k: base[k] for k in keys}, yaml.safe_load(text))
    return yaml.safe_dump(composed, sort_keys=False)


def readme_project(root: Path, pipeline: str) -> Path:
    """The README's sample service with `pipeline` as its .gitlab-ci.yml, gate's template and
    component beside it, committed."""
    project = root / "sample"
    shutil.copytree(README_PROJECT, project)
    shutil.copy2(TEMPLATE, project / ".gitlab-ci-template.yml")
    (project / "templates").mkdir()
    shutil.copy2(COMPONENT, project / "templates" / "gate.yml")
    (project / ".gitlab-ci.yml").write_text(pipeline, encoding="utf-8")
    _init_project(project)
    return project


@pytest.fixture(scope="module")
def readme_built(runner: Runner, debian: Debian, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's project after the build job of its .gitlab-ci.yml ran (once: every README
    pipeline that builds has that same job)."""
    fill = {"GATE_TEST_WHEEL": str(debian.wheel)}
    project = readme_project(
        tmp_path_factory.mktemp("readme"), readme_pipeline(".gitlab-ci.yml", fill)
    )
    build = gitlab_ci_local(runner, project, "build", env=debian.env)
    assert build.returncode == 0, build.output
    return project


@pytest.fixture
def readme_run(
    runner: Runner, debian: Debian, readme_built: Path, release_zipapp: Path, tmp_path: Path
) -> Any:
    """readme_run(snippet, job, variables={}, unset=()) -> Run of `job` in that snippet's
    pipeline, in a copy of the built project."""
    fill = {"GATE_TEST_WHEEL": str(debian.wheel), "GATE_TEST_ZIPAPP": str(release_zipapp)}

    def run(
        name: str, job: str, variables: Mapping[str, str] = {}, unset: Sequence[str] = ()
    ) -> Run:
        project = tmp_path / "sample"
        shutil.copytree(readme_built, project, symlinks=True)
        (project / ".gitlab-ci.yml").write_text(readme_pipeline(name, fill), encoding="utf-8")
        _git(project, "commit", "-q", "--allow-empty", "-a", "-m", name)
        return gitlab_ci_local(runner, project, job, variables, unset, env=debian.env)

    return run


def test_gitlab_pipeline(readme_run: Any, forge: FakeForge) -> None:
    """README's .gitlab-ci.yml in a merge request pipeline: gate installed from the pin, the
    serverless policy, 20 starts to readiness on {port}, the merge request note."""
    forge.add_gitlab_mr(PROJECT_ID, MR_IID)
    run = readme_run(
        ".gitlab-ci.yml",
        "gate",
        mr_variables(forge, GATE_GITLAB_TOKEN=forge.token),
        unset=["CI_COMMIT_BRANCH"],
    )
    assert run.returncode == 0, run.output
    assert _version_lines(run.output) == [f"gate {PINNED}"], run.output
    assert "installing" in run.output
    doc = run.results()
    assert doc["policy"] == "serverless"
    startup = doc["binaries"][0]["startup"]
    assert startup["requested_runs"] == 20 and startup["ready"].startswith("http://127.0.0.1:")
    assert startup["args"][0] == "-addr" and startup["args"][1].startswith("127.0.0.1:")
    notes = forge.gitlab_notes[(PROJECT_ID, MR_IID)]
    assert len(notes) == 1 and notes[0]["body"].startswith(MARKER), notes
    # The metrics widget's report: three numbers a reviewer reads, equal to the results'.
    text = (run.report / "mr-metrics.txt").read_text()
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    stats = startup["stats"]
    assert samples == pytest.approx(
        {
            "gate_file_bytes": doc["binaries"][0]["facts"]["file_size"],
            "gate_startup_p50_seconds": stats["p50_ms"] / 1000,
            "gate_startup_p95_seconds": stats["p95_ms"] / 1000,
        }
    )


def test_gitlab_component(readme_run: Any, forge: FakeForge) -> None:
    """README's component snippet, with the build job of its .gitlab-ci.yml."""
    forge.add_gitlab_mr(PROJECT_ID, MR_IID)
    run = readme_run(
        ".gitlab-ci.yml: the component",
        "gate",
        mr_variables(forge, GATE_GITLAB_TOKEN=forge.token),
        unset=["CI_COMMIT_BRANCH"],
    )
    assert run.returncode == 0, run.output
    assert _version_lines(run.output) == [f"gate {PINNED}"], run.output
    doc = run.results()
    assert doc["policy"] == "serverless"
    assert doc["binaries"][0]["startup"]["requested_runs"] == 20
    assert len(forge.gitlab_notes[(PROJECT_ID, MR_IID)]) == 1


def test_gitlab_expose_as(readme_run: Any) -> None:
    """README's `expose_as` job: the summary is among the job's artifacts."""
    run = readme_run(".gitlab-ci.yml: the gate job, with a link on the merge request", "gate")
    assert run.returncode == 0, run.output
    assert (run.report / "summary.md").read_text().startswith("## ")


def test_gitlab_pipeline_wide_settings(readme_run: Any, release_zipapp: Path) -> None:
    """A top-level GATE_ZIPAPP reaches the job: the zipapp runs, nothing is installed (the
    template once set every GATE_* empty at job level, which beat the pipeline's own)."""
    run = readme_run(".gitlab-ci.yml: pipeline-wide settings", "gate")
    assert run.returncode == 0, run.output
    assert "installing" not in run.output
    version = release_zipapp.stem.removeprefix("gate-")
    assert _version_lines(run.output) == [f"gate {version}"], run.output


def test_gitlab_monorepo(runner: Runner, tmp_path: Path) -> None:
    """README's monorepo pipeline: four `parallel` shards over the project's services. The
    shard with the C service fails its check, shard 2's runner dies before gate writes
    anything; the merge job still runs and its verdict names both."""
    from gate.integrate.shard import shard_of

    project = readme_project(tmp_path, readme_pipeline(".gitlab-ci.yml: a monorepo", {}))
    subprocess.run(
        ["make", "build-all"],
        cwd=project,
        env=runner.env,
        check=True,
        capture_output=True,
        timeout=TIMEOUT_S,
    )
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "built services")
    services = sorted(p.relative_to(project).as_posix() for p in project.glob("services/*/bin/*"))
    failing = "services/legacy/bin/legacy"
    lost = next(shard_of(s, 4) for s in services if shard_of(s, 4) != shard_of(failing, 4))
    # An image with gate on PATH (the snippet pins no package), whose runner dies in shard
    # `lost` before gate writes anything.
    gate = shutil.which("gate", path=runner.env["PATH"])
    dying = tmp_path / "dying"
    dying.mkdir()
    (dying / "gate").write_text(
        f'#!/bin/sh\n[ "$CI_NODE_INDEX" = {lost} ] && {{ echo "runner lost" >&2; exit 137; }}\n'
        f'exec {shlex.quote(str(gate))} "$@"\n'
    )
    (dying / "gate").chmod(0o755)
    env = {**runner.env, "PATH": os.pathsep.join([str(dying), runner.env["PATH"]])}
    proc = subprocess.run(
        [
            "gitlab-ci-local",
            "--home",
            str(runner.home),
            "--force-shell-executor",
            "--shell-isolation",
            "--no-artifacts-to-source",
            "--no-color",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S * 2,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    merged_path = project / ".gitlab-ci-local/artifacts/gate-merge/gate-report/results.json"
    assert merged_path.is_file(), output  # the merge job ran although shards failed
    merged = json.loads(merged_path.read_text())
    assert merged["verdict"] == "error"
    verdicts = {b["path"]: b["verdict"] for b in merged["binaries"]}
    assert verdicts[failing] == "fail"
    assert f"shard {lost}/4" in verdicts, verdicts
    kept = {s for s in services if shard_of(s, 4) != lost}
    assert kept <= set(verdicts), verdicts
