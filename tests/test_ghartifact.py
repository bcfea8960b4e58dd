"""`--baseline github-artifact:NAME`: the base branch's results from GitHub's REST API.

Against tests/fake_forge.py, a real HTTP server: the artifact list, the successful runs, and
the zip behind a 302 to another origin (another port) that refuses an Authorization header,
so a client that forwarded the job token there would fail these tests.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from fake_forge import FakeForge

from gate.baseline import BaselineError, BaselineMissing, load_document
from gate.ghartifact import MAX_MEMBERS, MAX_UNPACKED_BYTES, fetch_results, parse

REPO = "octo/svc"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _results(tag: str) -> bytes:
    return json.dumps({"format": "test", "tag": tag}).encode()


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as f:
        yield f


def _env(forge: FakeForge, **extra: str) -> dict[str, str]:
    env = {
        "GITHUB_API_URL": forge.github_api,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_TOKEN": forge.token,
        "GITHUB_BASE_REF": "main",
    }
    env.update(extra)
    return env


def test_the_newest_successful_runs_artifact_on_the_base_branch(forge: FakeForge) -> None:
    forge.add_github_artifact(REPO, "gate-results", "main", _zip({"results.json": _results("old")}))
    forge.add_github_artifact(REPO, "gate-results", "main", _zip({"results.json": _results("ok")}))
    # Newer, but not the baseline: a failed run, an expired artifact, another branch, a fork's
    # "main", another artifact name.
    forge.add_github_artifact(
        REPO, "gate-results", "main", _zip({"results.json": _results("x")}), conclusion="failure"
    )
    forge.add_github_artifact(
        REPO, "gate-results", "main", _zip({"results.json": _results("x")}), expired=True
    )
    forge.add_github_artifact(REPO, "gate-results", "topic", _zip({"results.json": _results("x")}))
    forge.add_github_artifact(
        REPO, "gate-results", "main", _zip({"results.json": _results("x")}), fork=True
    )
    forge.add_github_artifact(REPO, "other", "main", _zip({"results.json": _results("x")}))

    raw = fetch_results("github-artifact:gate-results", _env(forge))
    assert json.loads(raw)["tag"] == "ok"

    paths = [r.path for r in forge.requests]
    assert paths[0].endswith(f"/repos/{REPO}/actions/artifacts")
    assert forge.requests[0].query["name"] == "gate-results"
    assert paths[1].endswith(f"/repos/{REPO}/actions/runs")
    assert forge.requests[1].query == {"branch": "main", "status": "success", "per_page": "100"}
    assert paths[2].endswith("/zip")
    assert all(r.headers["authorization"] == f"Bearer {forge.token}" for r in forge.requests)
    # The 302 went to another origin, which got the download without the token.
    assert forge.storage is not None
    (download,) = forge.storage.requests
    assert download.path.startswith("/plain/artifacts/")
    assert "authorization" not in download.headers
    assert forge.token not in json.dumps(download.headers)


@pytest.fixture
def os_env(forge: FakeForge, monkeypatch: pytest.MonkeyPatch) -> FakeForge:
    for name, value in _env(forge).items():
        monkeypatch.setenv(name, value)
    return forge


def test_load_document_reads_the_artifact(os_env: FakeForge) -> None:
    data = _zip({"out/results.json": _results("deep"), "out/junit.xml": b"<x/>"})
    os_env.add_github_artifact(REPO, "gate-results", "main", data)
    assert load_document("github-artifact:gate-results")["tag"] == "deep"


def test_no_artifact_yet_is_missing_not_an_error(forge: FakeForge) -> None:
    with pytest.raises(BaselineMissing, match="no artifact 'gate-results' from a run on main yet"):
        fetch_results("github-artifact:gate-results", _env(forge))
    forge.add_github_artifact(
        REPO, "gate-results", "main", _zip({"results.json": b"{}"}), conclusion="failure"
    )
    with pytest.raises(BaselineMissing, match="from a successful run on main"):
        fetch_results("github-artifact:gate-results", _env(forge))


def test_a_bad_token_says_which_permission(forge: FakeForge) -> None:
    with pytest.raises(BaselineError, match=r"HTTP 401.*actions: read") as info:
        fetch_results("github-artifact:gate-results", _env(forge, GITHUB_TOKEN="wrong"))
    assert not isinstance(info.value, BaselineMissing)
    assert "wrong" not in str(info.value)


def test_the_branch_from_the_source_or_the_environment() -> None:
    assert parse("github-artifact:r@release/1.x", {"GITHUB_BASE_REF": "main"}) == (
        "r",
        "release/1.x",
    )
    assert parse("github-artifact:r", {"GITHUB_BASE_REF": "", "GITHUB_REF_NAME": "main"}) == (
        "r",
        "main",
    )
    with pytest.raises(BaselineError, match="which branch"):
        parse("github-artifact:r", {})
    with pytest.raises(BaselineError, match="no artifact name"):
        parse("github-artifact:", {"GITHUB_BASE_REF": "main"})


def test_a_download_url_off_the_api_never_gets_the_token(forge: FakeForge) -> None:
    artifact = forge.add_github_artifact(REPO, "gate-results", "main", _zip({"results.json": b""}))
    artifact["archive_download_url"] = "http://127.0.0.1:9/steal"
    with pytest.raises(BaselineError, match="not under"):
        fetch_results("github-artifact:gate-results", _env(forge))


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({f"f{i}": b"" for i in range(MAX_MEMBERS + 1)}, "more than 1000 files"),
        ({"results.json": b"0" * (MAX_UNPACKED_BYTES + 1)}, "unpacks to more than 64 MiB"),
        ({"a.txt": b"", "b.txt": b""}, "expected one results.json in the artifact, found a.txt"),
    ],
    ids=["too-many-members", "zip-bomb", "no-results"],
)
def test_a_hostile_or_wrong_zip_is_one_line(
    forge: FakeForge, members: dict[str, bytes], message: str
) -> None:
    forge.add_github_artifact(REPO, "gate-results", "main", _zip(members))
    with pytest.raises(BaselineError, match=message):
        fetch_results("github-artifact:gate-results", _env(forge))


def test_not_a_zip(forge: FakeForge) -> None:
    forge.add_github_artifact(REPO, "gate-results", "main", b"<html>sign in</html>")
    with pytest.raises(BaselineError, match="not a zip file"):
        fetch_results("github-artifact:gate-results", _env(forge))
