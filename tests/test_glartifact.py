"""`--baseline gitlab-artifact:JOB[:PATH]`: a GitLab job's results, at the merge base.

Against tests/fake_forge.py, a real HTTP server answering GitLab's pipelines, jobs, job
artifacts and repository/commits, the last from a real git repository (tests/git_history.py),
so the walk from the merge base to its ancestors follows real history. As on GitLab, the job
token may download a job's artifact but may not list pipelines: that case falls back to the
target branch's newest artifact, with a warning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fake_forge import FakeForge
from git_history import FORK_POINT, growth, make_history, results_at
from reference import Fixture

from gate.errors import BaselineNotApplicable, SourceError, SourceMissing, SourceUnavailable
from gate.fetch import Origin
from gate.integrate.glartifact import DEFAULT_PATH, fetch, parse

PROJECT = "42"
SOURCE = "gitlab-artifact:gate"
SECRET = "glpat-SECRET-read-api-0123456789"
POLICY = '[size]\nmax_growth = "50%"\n'


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as f:
        f.token = SECRET
        yield f


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("history")
    return root, make_history(root)


def _results(tag: str) -> bytes:
    return json.dumps({"format": "test", "tag": tag}).encode()


def _mr_env(forge: FakeForge, shas: Mapping[str, str], **extra: str) -> dict[str, str]:
    """A merge request pipeline of feature (f2) into main, with a read_api token."""
    env = {
        "CI_API_V4_URL": forge.gitlab_api,
        "CI_PROJECT_ID": PROJECT,
        "GATE_GITLAB_TOKEN": SECRET,
        "CI_JOB_TOKEN": "",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": shas[FORK_POINT],
        "CI_MERGE_REQUEST_IID": "7",
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_COMMIT_BRANCH": "",
        "CI_DEFAULT_BRANCH": "main",
    }
    env.update(extra)
    return env


def _pipeline(forge: FakeForge, sha: str, tag: str, **kwargs: Any) -> dict[str, Any]:
    return forge.add_gitlab_pipeline(PROJECT, sha, {"gate": {DEFAULT_PATH: _results(tag)}},
                                     **kwargs)  # fmt: skip


def test_the_nearest_ancestor_of_the_merge_base_with_the_jobs_artifact(
    forge: FakeForge, history: tuple[Path, dict[str, str]]
) -> None:
    root, shas = history
    forge.git_repo = root
    m2 = _pipeline(forge, shas["m2"], "m2")
    # At the merge base m3: the job failed in the one pipeline there, and a merge request
    # pipeline (a fork's code could have written its artifact) is never used.
    _pipeline(forge, shas["m3"], "x", job_status="failed")
    _pipeline(forge, shas["m3"], "x", ref="refs/merge-requests/3/head")
    _pipeline(forge, shas["m6"], "m6")  # main's newest: holds commits the MR does not
    warnings: list[str] = []

    raw, origin = fetch(SOURCE, _mr_env(forge, shas), warnings.append)

    assert json.loads(raw)["tag"] == "m2"
    assert origin == Origin(
        "ancestor", shas["m2"], m2["id"], shas["m3"], 1,
        f"job gate's {DEFAULT_PATH} of pipeline {m2['id']} at commit {shas['m2'][:7]} (the "
        f"nearest ancestor of the merge base {shas['m3'][:7]} with an artifact, 1 commit back)",
    )  # fmt: skip
    assert warnings == []
    api = f"/api/v4/projects/{PROJECT}"
    asked = [(r.path, r.query) for r in forge.requests]
    failed_at_m3 = [p for p in forge.gitlab_pipelines if p["sha"] == shas["m3"]][-1]
    assert asked == [
        (f"{api}/pipelines", {"sha": shas["m3"], "status": "success", "per_page": "20"}),
        (f"{api}/pipelines/{failed_at_m3['id']}/jobs", {"scope[]": "success", "per_page": "100"}),
        (f"{api}/repository/commits", {"ref_name": shas["m3"], "per_page": "20"}),
        (f"{api}/pipelines", {"sha": shas["m2"], "status": "success", "per_page": "20"}),
        (f"{api}/pipelines/{m2['id']}/jobs", {"scope[]": "success", "per_page": "100"}),
        (f"{api}/jobs/{m2['jobs'][0]['id']}/artifacts/{DEFAULT_PATH}", {}),
    ]
    assert {r.headers.get("private-token") for r in forge.requests} == {SECRET}
    assert not [r for r in forge.requests if "job-token" in r.headers]


def test_the_merge_base_itself_when_its_pipeline_kept_the_artifact(
    forge: FakeForge, history: tuple[Path, dict[str, str]]
) -> None:
    root, shas = history
    forge.git_repo = root
    for name in ("m2", "m3", "m6"):
        _pipeline(forge, shas[name], name)
    raw, origin = fetch(SOURCE, _mr_env(forge, shas))
    assert json.loads(raw)["tag"] == "m3"
    assert (origin.relation, origin.commit, origin.merge_base, origin.distance) == (
        "merge-base", shas["m3"], shas["m3"], 0,
    )  # fmt: skip
    assert origin.said is not None and origin.said.endswith("(the merge base of !7)")
    assert not [r for r in forge.requests if r.path.endswith("/repository/commits")]


def test_the_job_token_may_not_list_pipelines_so_the_branch_tip_with_a_warning(
    forge: FakeForge, history: tuple[Path, dict[str, str]]
) -> None:
    root, shas = history
    forge.git_repo = root
    _pipeline(forge, shas["m3"], "m3")
    forge.artifacts[(PROJECT, "main", "gate", DEFAULT_PATH)] = _results("main")
    warnings: list[str] = []
    env = _mr_env(forge, shas, GATE_GITLAB_TOKEN="", CI_JOB_TOKEN=SECRET)

    raw, origin = fetch(SOURCE, env, warnings.append)

    assert json.loads(raw)["tag"] == "main"
    assert origin == Origin(
        "branch-tip", said=f"job gate's {DEFAULT_PATH}, the latest successful one on main, "
        "not the merge base"
    )  # fmt: skip
    assert warnings == [
        f"{SOURCE} (project {PROJECT}): the token may not list pipelines (HTTP 403 Forbidden): "
        f"comparing with the latest gate artifact on main, not the merge base "
        f"{shas['m3'][:7]}; set GATE_GITLAB_TOKEN to a token with read_api to compare with "
        "the merge base"
    ]
    api = f"/api/v4/projects/{PROJECT}"
    assert [(r.path, r.headers.get("job-token")) for r in forge.requests] == [
        (f"{api}/pipelines", SECRET),
        (f"{api}/jobs/artifacts/main/raw/{DEFAULT_PATH}", SECRET),
    ]


def test_a_branch_pipeline_compares_with_the_default_branch_and_the_default_branch_with_nothing(
    forge: FakeForge,
) -> None:
    forge.artifacts[(PROJECT, "main", "gate", "out/r.json")] = _results("main")
    env = {"CI_API_V4_URL": forge.gitlab_api, "CI_PROJECT_ID": PROJECT, "CI_JOB_TOKEN": SECRET,
           "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_BRANCH": "topic"}  # fmt: skip
    raw, origin = fetch("gitlab-artifact:gate:out/r.json", env)
    assert json.loads(raw)["tag"] == "main"
    assert origin.relation == "branch-tip"
    assert [r.query for r in forge.requests] == [{"job": "gate"}]

    forge.requests.clear()
    with pytest.raises(BaselineNotApplicable, match="a pipeline on the default branch main"):
        fetch(SOURCE, {**env, "CI_COMMIT_BRANCH": "main"})
    assert forge.requests == []  # no request at all


def test_nothing_at_or_before_the_merge_base_is_missing(
    forge: FakeForge, history: tuple[Path, dict[str, str]]
) -> None:
    root, shas = history
    forge.git_repo = root
    _pipeline(forge, shas["m6"], "m6")
    with pytest.raises(SourceMissing) as info:
        fetch(SOURCE, _mr_env(forge, shas))
    assert str(info.value) == (
        f"{SOURCE} (project {PROJECT}): no successful pipeline kept job gate's {DEFAULT_PATH} "
        f"at the merge base {shas['m3'][:7]} or the 2 commits before it"
    )


def test_the_source_and_the_environment() -> None:
    assert parse("gitlab-artifact:gate") == ("gate", DEFAULT_PATH)
    assert parse("gitlab-artifact:size check:out/results.json") == (
        "size check",
        "out/results.json",
    )
    matrix = "gate: [amd64, debian]"  # a parallel:matrix job's name
    assert parse(f"gitlab-artifact:{matrix}") == (matrix, DEFAULT_PATH)
    assert parse(f"gitlab-artifact:{matrix}:r.json") == (matrix, "r.json")
    for bad in ("gitlab-artifact:", "gitlab-artifact::x.json"):
        with pytest.raises(SourceError, match="no job name"):
            parse(bad)
    for path in ("../../x.json", "/etc/passwd.json", "a//b.json"):
        with pytest.raises(SourceError, match="a path inside the job's artifacts"):
            parse(f"gitlab-artifact:gate:{path}")
    with pytest.raises(SourceUnavailable, match=r"not in a GitLab CI job \(\$CI_API_V4_URL"):
        fetch(SOURCE, {})
    with pytest.raises(SourceUnavailable, match="no token"):
        fetch(SOURCE, {"CI_API_V4_URL": "http://127.0.0.1:9/api/v4", "CI_PROJECT_ID": "1"})


def test_the_token_stays_with_the_api(
    forge: FakeForge, history: tuple[Path, dict[str, str]]
) -> None:
    """The artifact download is sent on to object storage (another origin): not the token."""
    root, shas = history
    forge.git_repo = root
    m3 = _pipeline(forge, shas["m3"], "m3")
    with FakeForge() as storage:
        storage.files["blob.json"] = _results("stored")
        job = m3["jobs"][0]["id"]
        forge.redirects[f"/api/v4/projects/{PROJECT}/jobs/{job}/artifacts/{DEFAULT_PATH}"] = (
            f"{storage.url}/plain/blob.json"
        )
        raw, _ = fetch(SOURCE, _mr_env(forge, shas))
        assert json.loads(raw)["tag"] == "stored"
        (download,) = storage.requests
        assert "private-token" not in download.headers and "job-token" not in download.headers
    for r in forge.requests:
        assert SECRET not in r.path + json.dumps(r.query)


# ---------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def measured(
    fixtures: Mapping[str, Fixture], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """A binary and its real results (size only), the material of every commit's baseline."""
    tmp = tmp_path_factory.mktemp("measured")
    binary = tmp / "svc"
    binary.write_bytes(fixtures["rt-noop"].path.read_bytes())
    (tmp / "p.toml").write_text(POLICY)
    proc = gate_check(binary, "--json", str(tmp / "base.json"))
    assert proc.returncode == 0, proc.stderr
    return binary, json.loads((tmp / "base.json").read_text())


def gate_check(
    binary: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gate", "check", str(binary), "--no-startup"]
    argv += ["--policy", str(binary.parent / "p.toml"), *args]
    full = {**os.environ, "CI": "true", **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=full)


def test_gate_check_in_a_merge_request_compares_with_the_merge_base(
    forge: FakeForge,
    history: tuple[Path, dict[str, str]],
    measured: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    root, shas = history
    binary, doc = measured
    forge.git_repo = root
    size = os.path.getsize(binary)
    sizes = {"m2": size - 1000, "m6": size * 3}
    m2 = forge.add_gitlab_pipeline(
        PROJECT, shas["m2"], {"gate": {DEFAULT_PATH: results_at(doc, shas["m2"], sizes["m2"])}}
    )
    forge.add_gitlab_pipeline(
        PROJECT, shas["m6"], {"gate": {DEFAULT_PATH: results_at(doc, shas["m6"], sizes["m6"])}}
    )
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    proc = gate_check(binary, "--baseline", SOURCE, "--baseline-optional", "--json", str(out),
                      "--markdown", str(md), env=_mr_env(forge, shas))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["baseline"] == {
        "source": SOURCE, "found": True, "relation": "ancestor", "commit": shas["m2"],
        "run_id": m2["id"], "merge_base": shas["m3"], "distance": 1, "reason": None,
    }  # fmt: skip
    (check,) = [c for c in result["binaries"][0]["checks"] if c["id"] == "size.max_growth"]
    assert check["measured"] == growth(sizes["m2"], size)
    assert (
        f"gate: baseline: job gate's {DEFAULT_PATH} of pipeline {m2['id']} at commit "
        f"{shas['m2'][:7]} (the nearest ancestor of the merge base {shas['m3'][:7]} with an "
        "artifact, 1 commit back)"
    ) in proc.stderr.splitlines()
    assert f"compared with {shas['m2'][:7]}, 1 commit before the merge base" in md.read_text()
    assert SECRET not in proc.stdout + proc.stderr + out.read_text() + md.read_text()


def test_gate_check_on_the_default_branch_skips_without_a_request_even_if_required(
    forge: FakeForge, measured: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    binary, _ = measured
    env = {"CI_API_V4_URL": forge.gitlab_api, "CI_PROJECT_ID": PROJECT, "CI_JOB_TOKEN": SECRET,
           "GATE_GITLAB_TOKEN": "", "CI_MERGE_REQUEST_DIFF_BASE_SHA": "",
           "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_BRANCH": "main"}  # fmt: skip
    out = tmp_path / "r.json"
    proc = gate_check(binary, "--baseline", SOURCE, "--baseline-required", "--json", str(out),
                      env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    reason = f"{SOURCE}: a pipeline on the default branch main: nothing to compare with"
    assert f"gate: baseline: {reason}; growth and regression checks are skipped" in (
        proc.stderr.splitlines()
    )
    assert not [line for line in proc.stderr.splitlines() if "warning" in line]
    result = json.loads(out.read_text())
    assert result["baseline"]["found"] is False and result["baseline"]["reason"] == reason
    assert forge.requests == []


@pytest.mark.parametrize(
    "location",
    [
        "{api}/../../plain/blob.json",
        "/api/v4/%2e%2e/%2e%2e/plain/blob.json",
        "/api/v4/%2E%2E/%2E%2E/plain/blob.json",
        "/api/v4/.%2e/.%2e/plain/blob.json",
        "/api/v4/..\\..\\plain/blob.json",
    ],
    ids=["dots", "%2e%2e", "%2E%2E", ".%2e", "backslash"],
)
def test_a_redirect_out_of_the_api_on_the_same_host_gets_no_token(
    forge: FakeForge, location: str
) -> None:
    from gate.integrate.glartifact import _Api

    api = _Api(forge.gitlab_api, PROJECT, {"PRIVATE-TOKEN": SECRET}, "test")
    forge.redirects[f"/api/v4/projects/{PROJECT}/jobs/1/artifacts/a.json"] = location.format(
        api=forge.gitlab_api
    )
    with pytest.raises(SourceMissing):  # nothing there: what was sent counts
        api.fetch("/jobs/1/artifacts/a.json", {}, 1000)
    sent = [r.headers.get("private-token") for r in forge.requests]
    assert sent == [SECRET, None]


def test_a_project_id_that_climbs_out_of_the_api_gets_no_token(forge: FakeForge) -> None:
    """$CI_PROJECT_ID `../../..` is sent as `..%2F..%2F..`: a server decoding %2F first
    would climb out of the API, so the token stays home."""
    from gate.integrate.glartifact import _Api

    api = _Api(forge.gitlab_api, "../../..", {"PRIVATE-TOKEN": SECRET}, "test")
    with pytest.raises(SourceError):
        api.fetch("/jobs/1/artifacts/a.json", {}, 1000)
    assert [(r.path, r.headers.get("private-token")) for r in forge.requests] == [
        ("/api/v4/projects/..%2F..%2F../jobs/1/artifacts/a.json", None)
    ]
