"""`gate comment --github --from-artifact NAME`: a fork's pull request gets its comment.

Phase 1 is a real `gate check` on a pull_request event (the fork's run, read-only token): its
results record the pull request and its head commit, and are uploaded as an artifact. Phase 2
is `gate comment --from-artifact` in a workflow_run workflow of the base repository: against
tests/fake_forge.py (a real HTTP server) with event files written here, as GitHub writes them.
The artifact is the fork's to forge; every test that hands gate a forged one checks that no
comment is written anywhere, and the token never shows in the output, a URL or a body.
"""

from __future__ import annotations

import copy
import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from fake_forge import FakeForge
from reference import Fixture

from gate.integrate.sources import load_results

SECRET = "ghp_FORKsecretFORK0123456789abcdef"
REPO = "acme/svc"
FORK = "mallory/svc"
NAME = "gate-results"
RUN = 31337
HEAD = "a7" * 20  # the fork's commit: the pull request's head
MERGE = "c0" * 20  # what a pull_request job checks out: GitHub's merge commit (GITHUB_SHA)
OTHER = "b8" * 20
MARK = "<!-- gate:default -->"


def gate(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def pull_request_event(tmp: Path, number: int = 7) -> Path:
    """The event of the fork's own run (phase 1), as GitHub stores it for pull_request."""
    path = tmp / "pull_request.json"
    path.write_text(json.dumps({
        "action": "synchronize",
        "number": number,
        "pull_request": {"number": number, "head": {"sha": HEAD, "ref": "feature",
                                                    "repo": {"full_name": FORK}}},
    }))  # fmt: skip
    return path


def phase_one_env(tmp: Path) -> dict[str, str]:
    return {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(pull_request_event(tmp)),
            "GITHUB_SHA": MERGE}  # fmt: skip


@pytest.fixture(scope="module")
def phase_one(fixtures: Mapping[str, Fixture], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Phase 1, for real: the fork's run judges its binary on the pull_request event."""
    tmp = tmp_path_factory.mktemp("phase1")
    svc = tmp / "svc"
    svc.write_bytes(fixtures["c-pie"].path.read_bytes())
    out = tmp / "results.json"
    proc = gate("check", str(svc), "--no-startup", "--policy", "default", "--json", str(out),
                env=phase_one_env(tmp))  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return out


@pytest.fixture
def doc(phase_one: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(phase_one.read_text())
    return loaded


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as f:
        f.token = SECRET
        yield f


def zipped(doc: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("results.json", json.dumps(doc))
    return buf.getvalue()


def workflow_run(**changes: Any) -> dict[str, Any]:
    """The `workflow_run` object of the event: the fork's run, finished."""
    run = {
        "id": RUN,
        "name": "gate",
        "event": "pull_request",
        "status": "completed",
        "conclusion": "failure",
        "head_sha": HEAD,
        "head_branch": "feature",
        "head_repository": {"full_name": FORK},
        "repository": {"full_name": REPO},
        "pull_requests": [],  # always empty for a fork's pull request
        "html_url": f"https://github.example/{REPO}/actions/runs/{RUN}",
    }
    run.update(changes)
    return run


def phase_two_env(
    forge: FakeForge, tmp: Path, run: Mapping[str, Any] | None = None, **extra: str
) -> dict[str, str]:
    event = tmp / "workflow_run.json"
    event.write_text(json.dumps({"action": "completed", "workflow_run": run or workflow_run()}))
    return {
        "GITHUB_TOKEN": forge.token,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_EVENT_NAME": "workflow_run",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_API_URL": forge.github_api,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "9999",  # this workflow's run: not the one the footer links to
        **extra,
    }


def comment(env: Mapping[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return gate("comment", "--github", "--from-artifact", NAME, *extra, env=env)


def writes(forge: FakeForge) -> list[str]:
    return [f"{r.method} {r.path}" for r in forge.requests if r.method != "GET"]


def no_secret(proc: subprocess.CompletedProcess[str], forge: FakeForge) -> None:
    assert SECRET not in proc.stdout + proc.stderr
    for comments in forge.github_comments.values():
        assert all(SECRET not in c["body"] for c in comments)
    for request in forge.requests:  # only ever in the Authorization header
        assert SECRET not in request.path + json.dumps(request.query) + json.dumps(request.body)
    if forge.storage is not None:
        assert all("authorization" not in r.headers for r in forge.storage.requests)


# ---------------------------------------------------------------- phase 1


def test_phase_one_records_the_pull_request_and_its_head(
    doc: dict[str, Any], fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    assert doc["pull_request"] == {"number": 7, "head_sha": HEAD}
    assert doc["commit"] == MERGE  # the merge commit stays what `commit` says
    svc = tmp_path / "svc"
    svc.write_bytes(fixtures["c-pie"].path.read_bytes())
    env = {**phase_one_env(tmp_path), "GITHUB_EVENT_NAME": "push"}
    proc = gate("check", str(svc), "--no-startup", "--json", str(tmp_path / "push.json"), env=env)
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads((tmp_path / "push.json").read_text())["pull_request"] is None


def test_results_without_a_pull_request_still_load(doc: dict[str, Any], tmp_path: Path) -> None:
    """A document from before gate recorded it: `gate report` reads it, pull_request null."""
    old = {k: v for k, v in doc.items() if k != "pull_request"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    bad = {**doc, "pull_request": {"number": "7", "head_sha": HEAD}}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert load_results(str(tmp_path / "old.json"))["pull_request"] is None
    assert gate("report", str(tmp_path / "old.json")).returncode == 0
    proc = gate("report", str(tmp_path / "bad.json"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"gate: error: {tmp_path}/bad.json: pull_request.number: expected a non-negative "
        'integer, got "7"'
    ]


def test_merged_shards_keep_the_pull_request(phase_one: Path, tmp_path: Path) -> None:
    out = tmp_path / "merged.json"
    proc = gate("merge", str(phase_one), "--json", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    assert json.loads(out.read_text())["pull_request"] == {"number": 7, "head_sha": HEAD}


# ---------------------------------------------------------------- phase 2


def test_a_forks_pull_request_gets_its_comment_created_then_updated(
    forge: FakeForge, doc: dict[str, Any], tmp_path: Path
) -> None:
    forge.add_github_pull(REPO, 7, HEAD, FORK)
    forge.add_github_run_artifact(REPO, workflow_run(), NAME, zipped(doc))
    env = phase_two_env(forge, tmp_path)

    first = comment(env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        f"gate: comment on #7 created from artifact {NAME} of run {RUN} (head a7a7a7a)"
    ]
    (created,) = forge.github_comments[(REPO, 7)]
    body = created["body"]
    assert body.startswith(MARK + "\n")
    assert f"**{doc['binaries'][0]['name']}**" in body or doc["binaries"][0]["name"] in body
    # The footer links to the run that judged, not to this workflow's run.
    assert f'href="https://github.example/{REPO}/actions/runs/{RUN}"' in body
    assert "runs/9999" not in body
    listed = next(r for r in forge.requests if r.path.endswith(f"/runs/{RUN}/artifacts"))
    assert listed.query["name"] == NAME
    assert any(r.path == f"/api/v3/repos/{REPO}/pulls/7" for r in forge.requests)
    assert forge.storage is not None and forge.storage.requests  # the zip came from storage

    second = comment(env)
    assert second.returncode == 0, second.stderr
    assert second.stderr.splitlines() == [
        f"gate: comment on #7 updated from artifact {NAME} of run {RUN} (head a7a7a7a)"
    ]
    assert [c["id"] for c in forge.github_comments[(REPO, 7)]] == [created["id"]]
    assert writes(forge) == [
        f"POST /api/v3/repos/{REPO}/issues/7/comments",
        f"PATCH /api/v3/repos/{REPO}/issues/comments/{created['id']}",
    ]
    no_secret(first, forge)
    no_secret(second, forge)


def test_a_branch_of_this_repository_is_checked_against_the_events_list(
    forge: FakeForge, doc: dict[str, Any], tmp_path: Path
) -> None:
    """Not a fork: the event lists the run's pull request, and a claim of another is refused
    even when that one has the same head commit."""
    run = workflow_run(head_repository={"full_name": REPO}, pull_requests=[{"number": 7}])
    forge.add_github_pull(REPO, 7, HEAD, REPO)
    forge.add_github_pull(REPO, 8, HEAD, REPO, head_ref="copy")
    claim = copy.deepcopy(doc)
    claim["pull_request"]["number"] = 8
    forge.add_github_run_artifact(REPO, run, NAME, zipped(claim))
    proc = comment(phase_two_env(forge, tmp_path, run))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"gate: error: artifact '{NAME}' of run {RUN} names pull request #8, but the run was "
        "for #7; no comment written"
    ]
    assert writes(forge) == []
    no_secret(proc, forge)


def test_a_forged_claim_of_another_pull_request_is_refused(
    forge: FakeForge, doc: dict[str, Any], tmp_path: Path
) -> None:
    forge.add_github_pull(REPO, 7, HEAD, FORK)
    forge.add_github_pull(REPO, 8, OTHER, "eve/svc", head_ref="topic")
    forged = copy.deepcopy(doc)
    forged["pull_request"]["number"] = 8  # the fork wrote its artifact: any number it likes
    forge.add_github_run_artifact(REPO, workflow_run(), NAME, zipped(forged))
    proc = comment(phase_two_env(forge, tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"gate: error: artifact '{NAME}' of run {RUN} names pull request #8, whose head is "
        f"{OTHER[:12]}, not the run's {HEAD[:12]}: a forged or mixed-up artifact; no comment "
        "written"
    ]
    assert writes(forge) == []
    assert forge.github_comments[(REPO, 7)] == forge.github_comments[(REPO, 8)] == []
    no_secret(proc, forge)


def test_a_claim_of_a_pull_request_that_does_not_exist_is_refused(
    forge: FakeForge, doc: dict[str, Any], tmp_path: Path
) -> None:
    forged = copy.deepcopy(doc)
    forged["pull_request"]["number"] = 99
    forge.add_github_run_artifact(REPO, workflow_run(), NAME, zipped(forged))
    proc = comment(phase_two_env(forge, tmp_path))
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"gate: error: {REPO}#99: not found (404)"), line
    assert writes(forge) == []


@pytest.mark.parametrize(
    ("judged", "expected"),
    [
        ({"head_sha": OTHER}, f'judged at "{OTHER}", not at run {RUN}\'s head {HEAD[:12]}'),
        ({"head_sha": "a7\n::error::forged\x1b[2J"}, 'judged at "a7\\n::error::forged\\u001b'),
        # Without pull_request the document's commit must be the head: a merge commit is not.
        (None, "the results do not say which pull request they judged"),
    ],
)
def test_results_judged_at_another_commit_are_refused(
    forge: FakeForge,
    doc: dict[str, Any],
    tmp_path: Path,
    judged: dict[str, str] | None,
    expected: str,
) -> None:
    forge.add_github_pull(REPO, 7, HEAD, FORK)
    stale = copy.deepcopy(doc)
    if judged is None:
        del stale["pull_request"]
    else:
        stale["pull_request"].update(judged)
    forge.add_github_run_artifact(REPO, workflow_run(), NAME, zipped(stale))
    proc = comment(phase_two_env(forge, tmp_path))
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()  # one line, whatever the artifact holds
    assert line.startswith(f"gate: error: artifact '{NAME}' of run {RUN}: "), line
    assert expected in line and line.endswith("; no comment written"), line
    assert "\x1b" not in line
    assert writes(forge) == []


def test_a_pull_request_that_moved_on_is_skipped(
    forge: FakeForge, doc: dict[str, Any], tmp_path: Path
) -> None:
    """A push to the fork's branch while the run ran: its own run will comment."""
    forge.add_github_pull(REPO, 7, OTHER, FORK)
    forge.add_github_run_artifact(REPO, workflow_run(), NAME, zipped(doc))
    proc = comment(phase_two_env(forge, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        f"gate: comment skipped: pull request #7 has moved on to b8b8b8b since run {RUN} "
        "judged a7a7a7a; the run for its new head comments"
    ]
    assert writes(forge) == []


@pytest.mark.parametrize(
    ("event_name", "event", "expected"),
    [
        ("pull_request", {"pull_request": {"number": 7}},
         "--from-artifact: this is a pull_request event; run it in a workflow started by "
         "`on: workflow_run` (types: [completed])"),
        ("workflow_run", {"action": "completed", "workflow_run": workflow_run(event="push")},
         f"--from-artifact: run {RUN} was started by 'push', not pull_request: there is no "
         "pull request to comment on (add `if: github.event.workflow_run.event == "
         "'pull_request'` to the job)"),
        ("", {"ref": "refs/heads/main"},
         "--from-artifact: the event has no workflow_run; run it in a workflow started by "
         "`on: workflow_run` (types: [completed])"),
        ("workflow_run", None,
         "--from-artifact: $GITHUB_EVENT_PATH is not set; run it in a workflow started by "
         "`on: workflow_run` (types: [completed])"),
    ],
)  # fmt: skip
def test_events_other_than_a_pull_requests_workflow_run_are_refused(
    forge: FakeForge, tmp_path: Path, event_name: str, event: Any, expected: str
) -> None:
    env = phase_two_env(forge, tmp_path, GITHUB_EVENT_NAME=event_name)
    if event is None:
        env["GITHUB_EVENT_PATH"] = ""
    else:
        Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(event))
    proc = comment(env)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"gate: error: {expected}"]
    assert forge.requests == []  # refused before asking GitHub anything


def test_a_run_not_yet_completed_is_skipped(forge: FakeForge, tmp_path: Path) -> None:
    env = phase_two_env(forge, tmp_path)
    event = {"action": "requested", "workflow_run": workflow_run(status="queued")}
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(event))
    proc = comment(env)
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == [
        f"gate: comment skipped: run {RUN} is requested, not completed: its artifact is not "
        "there yet (on: workflow_run: types: [completed])"
    ]
    assert forge.requests == []


@pytest.mark.parametrize(
    ("artifact", "why"),
    [
        (None, "none (the run stopped before uploading it, or uploaded it under another name)"),
        ("other-name", "none (the run stopped before uploading it, or uploaded it under "
                       "another name)"),
        ("expired", "expired"),
    ],
)  # fmt: skip
def test_a_missing_or_expired_artifact_is_a_warning(
    forge: FakeForge, doc: dict[str, Any], tmp_path: Path, artifact: str | None, why: str
) -> None:
    """The fork's run could not judge (it failed before uploading, was cancelled), or its
    artifact is gone: nothing to show, and the base repository's workflow stays green."""
    forge.add_github_pull(REPO, 7, HEAD, FORK)
    name = {None: None, "other-name": "other-name", "expired": NAME}[artifact]
    forge.add_github_run_artifact(
        REPO, workflow_run(), name, zipped(doc), expired=artifact == "expired"
    )
    proc = comment(phase_two_env(forge, tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        f"gate: warning: artifact '{NAME}' of run {RUN}: {why}: nothing to comment"
    ]
    assert writes(forge) == []
    no_secret(proc, forge)


def test_a_token_that_may_not_write_fails_with_the_permission_to_add(
    forge: FakeForge, doc: dict[str, Any], tmp_path: Path
) -> None:
    """Unlike the fork's own run, this workflow's token must write: a 403 is an error."""
    forge.add_github_pull(REPO, 7, HEAD, FORK)
    forge.add_github_run_artifact(REPO, workflow_run(), NAME, zipped(doc))
    forge.read_only_repos.add(REPO)
    proc = comment(phase_two_env(forge, tmp_path))
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"gate: error: the token may not comment on {REPO}#7 (403 "), line
    assert line.endswith("; the workflow needs `permissions: pull-requests: write`"), line
    no_secret(proc, forge)


def test_usage_errors(forge: FakeForge, tmp_path: Path, phase_one: Path) -> None:
    env = phase_two_env(forge, tmp_path)
    cases = {
        ("--gitlab",): "gate: error: --from-artifact is for GitHub's workflow_run: give --github",
        ("--github", "--pr", "7"): "gate: error: --pr with --from-artifact: the pull request is "
        "the one the run was for",
        ("--github", str(phase_one)): f"gate: error: {phase_one} and --from-artifact: give one "
        "(the artifact holds it)",
    }
    for args, expected in cases.items():
        proc = gate("comment", *args, "--from-artifact", NAME, env=env)
        assert proc.returncode == 2
        assert proc.stderr.splitlines() == [expected]
    bare = gate("comment", "--github", env=env)
    assert bare.returncode == 2
    assert bare.stderr.splitlines() == [
        "gate: error: give the results JSON: gate comment RESULTS.json --github|--gitlab"
    ]
    assert forge.requests == []


def test_a_hostile_artifact_cannot_break_the_marker_or_add_markup(
    forge: FakeForge, doc: dict[str, Any], tmp_path: Path
) -> None:
    """The fork writes the artifact: names, paths and messages built to end the marker, fake
    another gate id's marker, add HTML, links and mentions are shown as text."""
    hostile = (
        "--> <!-- gate:other --> <img src=x onerror=alert(1)> [click](https://evil.example) "
        "@admin </details>"
    )
    forged = copy.deepcopy(doc)
    entry = forged["binaries"][0]
    entry["path"] = f"bin/{hostile}/svc"
    entry["name"] = hostile
    entry["verdict"] = "fail"
    entry["checks"].append({"id": "size.max_file", "status": "fail", "measured": 1, "limit": 0,
                            "unit": "B", "message": hostile, "severity": "error"})  # fmt: skip
    forged["verdict"] = "fail"
    forge.add_github_pull(REPO, 7, HEAD, FORK)
    forge.add_github_run_artifact(REPO, workflow_run(), NAME, zipped(forged))
    env = phase_two_env(forge, tmp_path)
    proc = comment(env)
    assert proc.returncode == 0, proc.stderr
    (created,) = forge.github_comments[(REPO, 7)]
    body = created["body"]
    assert body.startswith(MARK + "\n")
    assert body.count("<!--") == 1 and body.count("-->") >= 1
    assert "<!-- gate:other" not in body and "<img" not in body
    for line in body.splitlines():  # never a link: escaped, or inside an HTML block's line
        if not line.startswith("<details"):
            assert "[click]" not in line.replace("\\[click]", ""), line
    assert "@admin" not in body  # a word joiner: nobody is pinged
    assert body.count("</details>") == body.count("<details")
    # The marker holds: another gate id's comment is a second comment, not this one.
    other = gate("comment", "--github", "--from-artifact", NAME, "--id", "other", env=env)
    assert other.returncode == 0, other.stderr
    assert other.stderr.startswith("gate: comment on #7 created"), other.stderr
    bodies = [c["body"] for c in forge.github_comments[(REPO, 7)]]
    assert [b.splitlines()[0] for b in bodies] == [MARK, "<!-- gate:other -->"]
    assert bodies[0] == body
    no_secret(proc, forge)


@pytest.mark.parametrize(
    "tail", ["/../../plain/steal", "/%2e%2e/%2e%2e/plain/steal", "/%2E%2E/.%2e/plain/steal"]
)
def test_a_download_url_that_climbs_out_of_the_api_never_gets_the_token(
    forge: FakeForge, tail: str
) -> None:
    from gate.integrate.forge import ForgeError
    from gate.integrate.forkcomment import fetch_run_results

    run = {"id": 77, "head_sha": "a" * 40, "head_branch": "feature", "event": "pull_request"}
    forge.add_github_run_artifact("octo/svc", run, "gate-results", b"PK")
    forge.github_artifacts[0]["archive_download_url"] = forge.github_api + tail
    with pytest.raises(ForgeError, match="the artifact's download URL is not under"):
        fetch_run_results(forge.github_api, "octo/svc", forge.token, 77, "gate-results")
    assert not [r for r in forge.requests if "steal" in r.path]  # not even asked for
