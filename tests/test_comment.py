"""`gate comment` against a real HTTP server that speaks the GitHub and GitLab endpoints used.

The token in these tests is a recognisable secret: every test checks it never reaches
stdout, stderr or the comment body, whatever the API answers.
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
from reference import Fixture

SECRET = "ghp_SECRETsecretSECRET0123456789"
MARK = "<!-- gate:default -->"


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as f:
        f.token = SECRET
        yield f


@pytest.fixture(scope="module")
def results(fixtures: Mapping[str, Fixture], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real failing result (size over a tiny limit) and a baseline of a smaller binary."""
    tmp = tmp_path_factory.mktemp("results")
    policy = tmp / "p.toml"
    policy.write_text('[size]\nmax_file = "10 KiB"\nmax_growth = "5%"\n')
    for side, fixture in (("old", "go1.27-hello-sw"), ("new", "go1.27-httpserver-static-sw")):
        (tmp / side).mkdir()
        svc = tmp / side / "svc"
        svc.write_bytes(fixtures[fixture].path.read_bytes())
        base = ["--baseline", str(tmp / "old.json")] if side == "new" else []
        proc = gate("check", str(svc), "--policy", str(policy), "--no-startup",
                    "--json", str(tmp / f"{side}.json"), *base)  # fmt: skip
        assert proc.returncode == 1, proc.stderr
    return tmp


def gate(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def github_env(forge: FakeForge, tmp: Path, number: int = 5, **extra: str) -> dict[str, str]:
    event = tmp / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": number}}))
    return {
        "GITHUB_TOKEN": forge.token,
        "GITHUB_REPOSITORY": "acme/svc",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_API_URL": forge.github_api,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "4242",
        **extra,
    }


def gitlab_env(forge: FakeForge, iid: int = 7) -> dict[str, str]:
    return {
        "GATE_GITLAB_TOKEN": forge.token,
        "CI_API_V4_URL": forge.gitlab_api,
        "CI_PROJECT_ID": "group/svc",
        "CI_MERGE_REQUEST_IID": str(iid),
        "CI_JOB_URL": "https://gitlab.example/group/svc/-/jobs/99",
    }


def no_secret(proc: subprocess.CompletedProcess[str], forge: FakeForge) -> None:
    assert SECRET not in proc.stdout + proc.stderr
    for comments in [*forge.github_comments.values(), *forge.gitlab_notes.values()]:
        assert all(SECRET not in c["body"] for c in comments)
    for request in forge.requests:  # only ever in a header, never in a URL or a body
        assert SECRET not in request.path + json.dumps(request.query) + json.dumps(request.body)


def test_github_creates_then_updates_one_comment_across_pages(
    forge: FakeForge, results: Path, tmp_path: Path
) -> None:
    forge.per_page_cap = 2  # five comments of others: three pages to search
    forge.add_github_pr("acme/svc", 5, [f"review {i}" for i in range(5)])
    env = github_env(forge, tmp_path)
    new, old = str(results / "new.json"), str(results / "old.json")
    args = ("comment", new, "--github", "--baseline", old)
    first = gate(*args, env=env)
    assert first.returncode == 0, first.stderr
    comments = forge.github_comments[("acme/svc", 5)]
    assert len(comments) == 6
    created = comments[-1]
    assert created["body"].startswith(MARK + "\n")
    assert f"gate: created the comment {MARK} on " in first.stderr
    pages = [r.query.get("page", "1") for r in forge.requests if r.method == "GET"]
    assert pages == ["1", "2", "3"]

    second = gate(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert len(forge.github_comments[("acme/svc", 5)]) == 6  # updated in place, not added
    patches = [r for r in forge.requests if r.method == "PATCH"]
    assert [r.path for r in patches] == [f"/api/v3/repos/acme/svc/issues/comments/{created['id']}"]
    assert "gate: updated the comment" in second.stderr
    body = forge.github_comments[("acme/svc", 5)][-1]["body"]
    # What a reviewer reads: the failure, the growth against main, and a link to the job.
    new_doc = json.loads((results / "new.json").read_text())
    failed = {c["id"] for c in new_doc["binaries"][0]["checks"] if c["status"] == "fail"}
    assert failed == {"size.max_file", "size.max_growth"}
    assert "size.max\\_file" in body and "size.max\\_growth" in body
    assert "What changed against the baseline" in body
    old_size = json.loads((results / "old.json").read_text())["binaries"][0]["facts"]["file_size"]
    new_size = new_doc["binaries"][0]["facts"]["file_size"]
    assert f"{(new_size - old_size) / old_size * 100:+.1f}%" in body
    assert 'href="https://github.example/acme/svc/actions/runs/4242"' in body
    for request in forge.requests:
        assert request.headers["authorization"] == f"Bearer {SECRET}"
    no_secret(second, forge)


def test_github_ids_keep_comments_apart(forge: FakeForge, results: Path, tmp_path: Path) -> None:
    forge.add_github_pr("acme/svc", 5)
    env = github_env(forge, tmp_path)
    for comment_id in ("amd64", "arm64", "amd64"):
        proc = gate("comment", str(results / "new.json"), "--github", "--id", comment_id, env=env)
        assert proc.returncode == 0, proc.stderr
    bodies = [c["body"].splitlines()[0] for c in forge.github_comments[("acme/svc", 5)]]
    assert bodies == ["<!-- gate:amd64 -->", "<!-- gate:arm64 -->"]
    bad = gate("comment", str(results / "new.json"), "--github", "--id", "x -->", env=env)
    assert bad.returncode == 2
    assert bad.stderr.startswith("gate: error: --id 'x -->': use 1-64 letters")


def test_github_fork_token_skips_without_failing(
    forge: FakeForge, results: Path, tmp_path: Path
) -> None:
    forge.add_github_pr("acme/svc", 5)
    forge.read_only_repos.add("acme/svc")
    proc = gate("comment", str(results / "new.json"), "--github", env=github_env(forge, tmp_path))
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == [
        "gate: comment skipped: the token may not comment on acme/svc#5 (403 Resource not "
        "accessible by integration); a pull request from a fork gets a read-only token"
    ]
    assert forge.github_comments[("acme/svc", 5)] == []
    no_secret(proc, forge)


@pytest.mark.parametrize(
    ("setup", "number", "expected"),
    [
        ("none", 99, "gate: error: acme/svc#99: not found (404): wrong pull request number"),
        ("ratelimit", 5, "gate: error: GitHub API rate limit exceeded (403); it resets at "),
        ("badtoken", 5, "gate: error: GitHub rejected the token (401 Bad credentials)"),
        ("422", 5, "gate: error: GitHub refused the comment on acme/svc#5 (422 Validation"),
        ("502", 5, "gate: error: GitHub API: GET answered HTTP 502 Bad Gateway"),
    ],
)
def test_github_errors_are_one_line(
    forge: FakeForge, results: Path, tmp_path: Path, setup: str, number: int, expected: str
) -> None:
    forge.add_github_pr("acme/svc", 5)
    env = github_env(forge, tmp_path, number)
    if setup == "ratelimit":
        forge.rate_limited()
    elif setup == "badtoken":
        env["GITHUB_TOKEN"] = SECRET + "x"
    elif setup == "422":
        # The list answers; the create is refused.
        forge.fail_next += [
            (200, {}, "[]"),
            (422, {}, json.dumps({"message": "Validation Failed"})),
        ]
    elif setup == "502":
        forge.fail_next.append((502, {}, json.dumps({"message": "Bad Gateway"})))
    proc = gate("comment", str(results / "new.json"), "--github", env=env)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(expected), line
    assert SECRET not in proc.stdout + proc.stderr


def test_github_missing_token_api_down_and_no_pull_request(results: Path, tmp_path: Path) -> None:
    with FakeForge() as forge:
        forge.token = SECRET
        env = github_env(forge, tmp_path)
    # The server is gone now: connection refused.
    down = gate("comment", str(results / "new.json"), "--github", env=env)
    assert down.returncode == 2
    assert down.stderr.splitlines() == [
        f"gate: error: GitHub API ({forge.github_api}): cannot connect: Connection refused"
    ]
    env_without = {k: v for k, v in env.items() if k != "GITHUB_TOKEN"}
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "comment", str(results / "new.json"), "--github"],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in {**os.environ, **env_without}.items()
             if k not in ("GITHUB_TOKEN", "GH_TOKEN")},
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "gate: error: no token: set GITHUB_TOKEN (the action passes its github-token input)"
    ]
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}))
    skipped = gate("comment", str(results / "new.json"), "--github",
                   env={**env, "GITHUB_EVENT_PATH": str(push)})  # fmt: skip
    assert skipped.returncode == 0
    assert skipped.stderr.startswith("gate: comment skipped: this run is not for a pull request")


def test_gitlab_note_created_then_updated(forge: FakeForge, results: Path) -> None:
    forge.per_page_cap = 1
    forge.add_gitlab_mr("group/svc", 7, ["first", "second"])
    env = gitlab_env(forge)
    for action in ("created", "updated"):
        proc = gate("comment", str(results / "new.json"), "--gitlab", env=env)
        assert proc.returncode == 0, proc.stderr
        assert f"gate: {action} the comment {MARK} on group/svc!7" in proc.stderr
    notes = forge.gitlab_notes[("group/svc", 7)]
    assert [n["body"].startswith(MARK) for n in notes] == [False, False, True]
    assert sum(r.method == "PUT" for r in forge.requests) == 1
    # The project path is one encoded segment; oldest first so the first marker wins.
    listing = next(r for r in forge.requests if r.method == "GET")
    assert listing.path == "/api/v4/projects/group%2Fsvc/merge_requests/7/notes"
    assert listing.query["sort"] == "asc"
    assert all(r.headers["private-token"] == SECRET for r in forge.requests)
    assert 'href="https://gitlab.example/group/svc/-/jobs/99"' in notes[-1]["body"]
    no_secret(proc, forge)


def test_gitlab_read_only_and_unknown_mr(forge: FakeForge, results: Path) -> None:
    forge.add_gitlab_mr("group/svc", 7)
    forge.read_only_projects.add("group/svc")
    skipped = gate("comment", str(results / "new.json"), "--gitlab", env=gitlab_env(forge))
    assert skipped.returncode == 0
    assert skipped.stderr.startswith(
        "gate: comment skipped: the token may not write notes on group/svc!7 (403 403 Forbidden)"
    )
    wrong = gate("comment", str(results / "new.json"), "--gitlab", env=gitlab_env(forge, 8))
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines() == [
        "gate: error: group/svc!8: not found (404): wrong merge request, "
        "or the token cannot see the project"
    ]
    no_token = {**gitlab_env(forge), "GATE_GITLAB_TOKEN": ""}
    proc = gate("comment", str(results / "new.json"), "--gitlab", env=no_token)
    assert proc.returncode == 2
    assert "no token: set GATE_GITLAB_TOKEN" in proc.stderr


def test_comment_body_fits_github_limit(tmp_path: Path) -> None:
    """Hundreds of binaries: the body is cut to fit, marker and verdict line first."""
    from results_docs import check, document

    from gate.report.comment import MAX_BODY, render_comment

    binaries = [
        {"path": f"bin/svc-{i}", "name": f"svc-{i}", "verdict": "fail", "error": None,
         "facts": None, "startup": None, "attribution": None,
         "checks": [check("size.max_file", "fail", message="x" * 200)]}
        for i in range(400)
    ]  # fmt: skip
    body = render_comment(document("fail", binaries), "default")
    assert len(body) <= MAX_BODY
    assert body.startswith(MARK + "\n## ❌ gate: 400 checks failed — merge blocked\n")
    assert body.count("<details") == body.count("</details>")
    assert body.rstrip().endswith("… cut to fit a comment: the job summary has all of it.")


def test_the_comment_names_a_new_toolchain(
    forge: FakeForge, fixtures: Mapping[str, Fixture], go_toolchains: Any, tmp_path: Path
) -> None:
    """deps built by Go 1.19 on main and by Go 1.27 in the pull request: the comment says
    so, as `go version -m` reads them, beside the failed growth check and in what changed."""
    from reference import go_version_m

    (tmp_path / "p.toml").write_text('[size]\nmax_growth = "5%"\n')
    for side, fixture in (("old", "go1.19-deps"), ("new", "go1.27-deps")):
        (tmp_path / side).mkdir()
        (tmp_path / side / "svc").write_bytes(fixtures[fixture].path.read_bytes())
        base = ["--baseline", str(tmp_path / "old.json")] if side == "new" else []
        gate("check", str(tmp_path / side / "svc"), "--policy", str(tmp_path / "p.toml"),
             "--no-startup", "--json", str(tmp_path / f"{side}.json"), *base)  # fmt: skip
    go, env = go_toolchains["go1.27"]
    old, new = (go_version_m(go, env, fixtures[f].path)["go_version"]
                for f in ("go1.19-deps", "go1.27-deps"))  # fmt: skip
    assert old.startswith("go1.19") and new.startswith("go1.27")
    forge.add_github_pr("acme/svc", 5, [])
    proc = gate("comment", str(tmp_path / "new.json"), "--github", "--baseline",
                str(tmp_path / "old.json"), env=github_env(forge, tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (body,) = [c["body"] for c in forge.github_comments[("acme/svc", 5)]]
    import html
    import re

    from markdown_it import MarkdownIt

    text = html.unescape(
        re.sub(r"<[^>]+>", "", MarkdownIt("commonmark").enable("table").render(body))
    )
    note = f"{old} -> {new} (a likely cause)"
    assert f"toolchain {note}" in text  # the size.max_growth message
    assert f"Toolchain {note}" in text  # what changed against the baseline


def test_github_a_strangers_marker_is_not_taken_for_gates_comment(
    forge: FakeForge, results: Path, tmp_path: Path
) -> None:
    """A fork's author posts a comment that starts with gate's marker before gate runs: gate
    creates its own comment (it could not edit theirs, and theirs would stay unchanged), and
    on the next push updates its own, never theirs; a maintainer's marker comment is taken."""
    forge.add_github_pr("acme/svc", 5, [MARK + "\nall checks passed, honest"], "CONTRIBUTOR")
    env = github_env(forge, tmp_path)
    args = ("comment", str(results / "new.json"), "--github")
    for _ in range(2):
        proc = gate(*args, env=env)
        assert proc.returncode == 0, proc.stderr
    planted, ours = forge.github_comments[("acme/svc", 5)]
    assert planted["body"] == MARK + "\nall checks passed, honest"
    assert ours["body"].startswith(MARK + "\n") and ours["user"]["type"] == "Bot"
    patches = [r.path for r in forge.requests if r.method == "PATCH"]
    assert patches == [f"/api/v3/repos/acme/svc/issues/comments/{ours['id']}"]

    forge.add_github_pr("acme/svc", 6, [MARK + "\nby a maintainer's token"], "MEMBER")
    proc = gate(*args, "--pr", "6", env=env)
    assert proc.returncode == 0, proc.stderr
    (kept,) = forge.github_comments[("acme/svc", 6)]
    assert kept["body"] != MARK + "\nby a maintainer's token"  # updated in place


def test_a_link_or_project_that_climbs_out_of_the_api_never_gets_the_token(
    forge: FakeForge, results: Path, tmp_path: Path
) -> None:
    """`..` in a next-page link or in the project would take the token to a path outside the
    API on the same host: refused before that request."""
    forge.add_github_pr("acme/svc", 5)
    nxt = f"{forge.github_api}/%2e%2e/%2E%2E/outside?page=2"
    forge.fail_next.append((200, {"link": f'<{nxt}>; rel="next"'}, "[]"))
    proc = gate("comment", str(results / "new.json"), "--github", env=github_env(forge, tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        f"gate: error: {nxt} is not under the GitHub API: no token goes there"
    ]
    assert [r.path for r in forge.requests] == ["/api/v3/repos/acme/svc/issues/5/comments"]
    forge.requests.clear()
    gitlab = {**gitlab_env(forge), "CI_PROJECT_ID": "../../.."}  # sent as ..%2F..%2F..
    proc = gate("comment", str(results / "new.json"), "--gitlab", env=gitlab)
    assert proc.returncode == 2, proc.stderr
    notes = f"{forge.gitlab_api}/projects/..%2F..%2F../merge_requests/7/notes"
    assert proc.stderr.splitlines() == [
        f"gate: error: {notes}?per_page=100&sort=asc&order_by=created_at is not under the "
        "GitLab API: no token goes there"
    ]
    assert forge.requests == []
