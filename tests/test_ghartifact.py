"""`--baseline github-artifact:NAME`: the base branch's results from GitHub's REST API.

Against tests/fake_forge.py, a real HTTP server: the artifact list, the successful runs, and
the zip behind a 302 to another origin (another port) that refuses an Authorization header,
so a client that forwarded the job token there would fail these tests.
"""

from __future__ import annotations

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
from git_history import FORK_POINT, growth, make_history, results_at
from reference import Fixture

from gate.errors import SourceError, SourceMissing, SourceUnavailable
from gate.fetch import Origin
from gate.integrate.ghartifact import MAX_MEMBERS, MAX_UNPACKED_BYTES, fetch, fetch_results, parse
from gate.integrate.sources import load_document

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
    with pytest.raises(SourceMissing, match="no artifact 'gate-results' from a run on main yet"):
        fetch_results("github-artifact:gate-results", _env(forge))
    forge.add_github_artifact(
        REPO, "gate-results", "main", _zip({"results.json": b"{}"}), conclusion="failure"
    )
    with pytest.raises(SourceMissing, match="from a successful run on main"):
        fetch_results("github-artifact:gate-results", _env(forge))


def test_a_bad_token_says_which_permission(forge: FakeForge) -> None:
    with pytest.raises(SourceUnavailable, match=r"HTTP 401.*actions: read") as info:
        fetch_results("github-artifact:gate-results", _env(forge, GITHUB_TOKEN="wrong"))
    assert not isinstance(info.value, SourceMissing)  # a refusal, not "none yet"
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
    with pytest.raises(SourceError, match="which branch"):
        parse("github-artifact:r", {})
    with pytest.raises(SourceError, match="no artifact name"):
        parse("github-artifact:", {"GITHUB_BASE_REF": "main"})


def test_a_download_url_off_the_api_never_gets_the_token(forge: FakeForge) -> None:
    artifact = forge.add_github_artifact(REPO, "gate-results", "main", _zip({"results.json": b""}))
    artifact["archive_download_url"] = "http://127.0.0.1:9/steal"
    with pytest.raises(SourceError, match="not under"):
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
    with pytest.raises(SourceError, match=message):
        fetch_results("github-artifact:gate-results", _env(forge))


def test_not_a_zip(forge: FakeForge) -> None:
    forge.add_github_artifact(REPO, "gate-results", "main", b"<html>sign in</html>")
    with pytest.raises(SourceError, match="not a zip file"):
        fetch_results("github-artifact:gate-results", _env(forge))


# ------------------------------------------------------------------- the merge base, on a PR

POLICY = '[size]\nmax_growth = "50%"\n'


def _zipped(tag: str) -> bytes:
    return _zip({"results.json": _results(tag)})


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("history")
    return root, make_history(root)


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


def _event(tmp: Path, base: str, head: str, number: int = 7) -> str:
    """The parts of a pull_request event payload GitHub writes that gate reads."""
    path = tmp / "event.json"
    pr = {"number": number, "base": {"ref": "main", "sha": base}, "head": {"ref": "feature",
          "sha": head}}  # fmt: skip
    path.write_text(json.dumps({"action": "synchronize", "number": number, "pull_request": pr}))
    return str(path)


def _size_results(doc: dict[str, Any], shas: dict[str, str], sizes: dict[str, int]) -> dict[
    str, bytes
]:  # fmt: skip
    return {name: _zip({"results.json": results_at(doc, shas[name], size)})
            for name, size in sizes.items()}  # fmt: skip


def test_on_a_pull_request_the_nearest_ancestor_of_the_merge_base_with_an_artifact(
    forge: FakeForge, history: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, shas = history
    forge.git_repo = root
    m2 = forge.add_github_artifact_at(REPO, "gate-results", shas["m2"], _zipped("m2"))
    # The merge base m3 has no usable artifact: its run failed, and an older one expired.
    forge.add_github_artifact_at(REPO, "gate-results", shas["m3"], _zipped("x"), expired=True)
    forge.add_github_artifact_at(
        REPO, "gate-results", shas["m3"], _zipped("x"), conclusion="failure"
    )
    # main's newest, which holds commits the pull request does not: not its baseline.
    forge.add_github_artifact_at(REPO, "gate-results", shas["m6"], _zipped("m6"))
    warnings: list[str] = []
    env = _env(forge, GITHUB_EVENT_PATH=_event(tmp_path, shas["m6"], shas["f2"]))

    raw, origin = fetch("github-artifact:gate-results", env, warnings.append)

    assert json.loads(raw)["tag"] == "m2"
    run = m2["workflow_run"]["id"]
    assert origin == Origin(
        "ancestor", shas["m2"], run, shas[FORK_POINT], 1,
        f"artifact gate-results of run {run} at commit {shas['m2'][:7]} (the nearest ancestor "
        f"of the merge base {shas['m3'][:7]} with an artifact, 1 commit back)",
    )  # fmt: skip
    assert warnings == []
    api = f"/api/v3/repos/{REPO}"
    asked = [(r.path, r.query) for r in forge.requests]
    assert asked[:3] == [
        (f"{api}/actions/artifacts", {"name": "gate-results", "per_page": "100"}),
        (f"{api}/compare/{shas['m6']}...{shas['f2']}", {"per_page": "1"}),
        (f"{api}/commits", {"sha": shas["m3"], "per_page": "100"}),
    ]
    # m3's runs are asked about (one failed), then m2's, whose run succeeded.
    assert asked[3:5] == [
        (f"{api}/actions/runs", {"head_sha": shas["m3"], "status": "success", "per_page": "100"}),
        (f"{api}/actions/runs", {"head_sha": shas["m2"], "status": "success", "per_page": "100"}),
    ]
    assert asked[5][0] == f"{api}/actions/artifacts/{m2['id']}/zip"
    assert len(asked) == 6


def test_on_a_pull_request_the_merge_base_itself_when_it_has_one(
    forge: FakeForge, history: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, shas = history
    forge.git_repo = root
    for name in ("m2", "m3", "m6"):
        forge.add_github_artifact_at(REPO, "gate-results", shas[name], _zipped(name))
    env = _env(forge, GITHUB_EVENT_PATH=_event(tmp_path, shas["m6"], shas["f2"], number=12))
    raw, origin = fetch("github-artifact:gate-results", env)
    assert json.loads(raw)["tag"] == "m3"
    assert (origin.relation, origin.commit, origin.merge_base, origin.distance) == (
        "merge-base", shas["m3"], shas["m3"], 0,
    )  # fmt: skip
    assert origin.said is not None and origin.said.endswith(
        f"at commit {shas['m3'][:7]} (the merge base of #12)"
    )


def test_on_a_push_the_branchs_newest_successful_run(
    forge: FakeForge, history: tuple[Path, dict[str, str]]
) -> None:
    root, shas = history
    forge.git_repo = root
    for name in ("m2", "m3", "m6"):
        forge.add_github_artifact_at(REPO, "gate-results", shas[name], _zipped(name))
    push = _env(forge, GITHUB_BASE_REF="", GITHUB_REF_NAME="main")
    raw, origin = fetch("github-artifact:gate-results", push)
    assert json.loads(raw)["tag"] == "m6"
    assert (origin.relation, origin.commit, origin.merge_base) == ("branch-tip", shas["m6"], None)
    assert origin.said is not None and origin.said.endswith("(the latest successful run on main)")
    assert not [r for r in forge.requests if "/compare/" in r.path or r.path.endswith("/commits")]


def test_a_merge_base_github_does_not_know_falls_back_to_the_branch_with_a_warning(
    forge: FakeForge, history: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, shas = history
    forge.git_repo = root
    forge.add_github_artifact_at(REPO, "gate-results", shas["m6"], _zipped("m6"))
    gone = "0" * 40  # a head force-pushed away since the event
    warnings: list[str] = []
    env = _env(forge, GITHUB_EVENT_PATH=_event(tmp_path, shas["m6"], gone))
    raw, origin = fetch("github-artifact:gate-results", env, warnings.append)
    assert json.loads(raw)["tag"] == "m6"
    assert origin.relation == "branch-tip"
    assert warnings == [
        f"github-artifact:gate-results ({REPO}, branch main): cannot find the merge base of "
        f"0000000 and {shas['m6'][:7]} (the compare: HTTP 404 Not Found): comparing with the "
        "latest successful run on main, which may hold commits this change does not"
    ]


def test_a_token_that_may_not_read_the_history_falls_back_to_the_branch_with_a_warning(
    forge: FakeForge, history: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """`permissions:` without `contents: read`: the compare is refused (403), the artifacts
    are not; a baseline is still had, and the warning says what the token lacks."""
    root, shas = history
    forge.git_repo = root
    forge.github_history_refused = True
    for name in ("m3", "m6"):
        forge.add_github_artifact_at(REPO, "gate-results", shas[name], _zipped(name))
    warnings: list[str] = []
    env = _env(forge, GITHUB_EVENT_PATH=_event(tmp_path, shas["m6"], shas["f2"]))
    raw, origin = fetch("github-artifact:gate-results", env, warnings.append)
    assert json.loads(raw)["tag"] == "m6"
    assert (origin.relation, origin.commit) == ("branch-tip", shas["m6"])
    assert origin.said is not None and origin.said.endswith(
        "(the latest successful run on main, not the merge base)"
    )
    assert warnings == [
        f"github-artifact:gate-results ({REPO}, branch main): cannot find the merge base of "
        f"{shas['f2'][:7]} and {shas['m6'][:7]} (the compare: HTTP 403 Forbidden (the job's "
        "token needs `permissions: contents: read`)): comparing with the latest successful "
        "run on main, which may hold commits this change does not"
    ]


def test_no_artifact_near_the_merge_base_is_missing(
    forge: FakeForge, history: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, shas = history
    forge.git_repo = root
    forge.add_github_artifact_at(REPO, "gate-results", shas["m6"], _zipped("m6"))  # after m3
    env = _env(forge, GITHUB_EVENT_PATH=_event(tmp_path, shas["m6"], shas["f2"]))
    with pytest.raises(SourceMissing) as info:
        fetch("github-artifact:gate-results", env)
    assert str(info.value) == (
        f"github-artifact:gate-results ({REPO}, branch main): no artifact 'gate-results' of a "
        f"successful run at the merge base {shas['m3'][:7]} or the 2 commits before it"
    )


def test_gate_check_compares_with_the_merge_base_and_says_so(
    forge: FakeForge,
    history: tuple[Path, dict[str, str]],
    measured: tuple[Path, dict[str, Any]],
    tmp_path: Path,
) -> None:
    """End to end: the size growth is measured against m2's size, not main's newest (m6's);
    the log, the results and the Markdown name the commit; the token is nowhere."""
    root, shas = history
    binary, doc = measured
    forge.git_repo = root
    size = os.path.getsize(binary)
    sizes = {"m2": size - 1000, "m6": size * 3}
    zips = _size_results(doc, shas, sizes)
    m2 = forge.add_github_artifact_at(REPO, "gate-results", shas["m2"], zips["m2"])
    forge.add_github_artifact_at(REPO, "gate-results", shas["m6"], zips["m6"])
    env = {**_env(forge, GITHUB_EVENT_PATH=_event(tmp_path, shas["m6"], shas["f2"])),
           "GITHUB_EVENT_NAME": "pull_request", "GH_TOKEN": ""}  # fmt: skip
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    proc = gate_check(binary, "--baseline", "github-artifact:gate-results", "--baseline-optional",
                      "--json", str(out), "--markdown", str(md), env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    run = m2["workflow_run"]["id"]
    assert result["baseline"] == {
        "source": "github-artifact:gate-results", "found": True, "relation": "ancestor",
        "commit": shas["m2"], "run_id": run, "merge_base": shas["m3"], "distance": 1,
        "reason": None,
    }  # fmt: skip
    (growth_check,) = [c for c in result["binaries"][0]["checks"] if c["id"] == "size.max_growth"]
    assert growth_check["measured"] == growth(sizes["m2"], size)
    assert f"gate: baseline: artifact gate-results of run {run} at commit {shas['m2'][:7]} (the " \
        f"nearest ancestor of the merge base {shas['m3'][:7]} with an artifact, 1 commit back)" \
        in proc.stderr.splitlines()  # fmt: skip
    assert not [line for line in proc.stderr.splitlines() if "warning" in line]
    assert (
        f"baseline: github-artifact:gate-results — compared with {shas['m2'][:7]}, 1 commit "
        f"before the merge base {shas['m3'][:7]}"
    ) in md.read_text()
    seen = [r.path + json.dumps(r.query) for r in forge.requests]
    assert forge.token not in "".join(seen) + proc.stdout + proc.stderr + out.read_text()
    assert forge.token not in md.read_text()


@pytest.mark.parametrize(
    "tail", ["/../../../plain/steal", "/%2e%2e/%2e%2e/plain/steal", "/.%2E/.%2E/plain/steal"]
)
def test_a_download_url_that_climbs_out_of_the_api_never_gets_the_token(
    forge: FakeForge, tail: str
) -> None:
    artifact = forge.add_github_artifact(REPO, "gate-results", "main", _zip({"results.json": b""}))
    artifact["archive_download_url"] = forge.github_api + tail
    with pytest.raises(SourceError, match="the artifact's download URL is not under"):
        fetch_results("github-artifact:gate-results", _env(forge))
    assert not [r for r in forge.requests if "steal" in r.path]  # not even asked for


@pytest.mark.parametrize(
    "location",
    [
        "{api}/../../plain/steal",
        "/api/v3/%2e%2e/%2e%2e/plain/steal",
        "/api/v3/%2E%2E/%2E%2E/plain/steal",
        "/api/v3/.%2e/.%2e/plain/steal",
        "/api/v3/..\\..\\plain/steal",
    ],
    ids=["dots", "%2e%2e", "%2E%2E", ".%2e", "backslash"],
)
def test_a_zip_redirected_out_of_the_api_on_the_same_host_gets_no_token(
    forge: FakeForge, location: str
) -> None:
    artifact = forge.add_github_artifact(REPO, "gate-results", "main", _zip({"results.json": b""}))
    zip_path = artifact["archive_download_url"].removeprefix(forge.url)
    forge.redirects[zip_path] = location.format(api=forge.github_api)
    with pytest.raises(SourceError):  # the fake has nothing there: 404
        fetch_results("github-artifact:gate-results", _env(forge))
    sent = [(r.path, "authorization" in r.headers) for r in forge.requests]
    assert sent[-2] == (zip_path, True) and not sent[-1][1], sent
