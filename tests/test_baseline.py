"""Baselines for relative checks: from a file, over HTTP, from GitLab's jobs API, or a binary.

Both sides are real measurements: the old `svc` is the static no-op, the new one sleeps
50 ms before it exits, so the start-up regression is real and large.
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

SECRET = "glcbt-SECRET-job-token-0123456789"
POLICY = '[startup]\nruns = 3\nwarmup = 0\nmax_regression = "10%"\n[size]\nmax_growth = "50%"\n'


def gate(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CI": "true", **(env or {})},
    )


@pytest.fixture(scope="module")
def sides(fixtures: Mapping[str, Fixture], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """old/svc (no-op), new/svc (sleeps 50 ms), a policy, and main's results as old.json."""
    tmp = tmp_path_factory.mktemp("baseline")
    (tmp / "p.toml").write_text(POLICY)
    for side, name in (("old", "rt-noop"), ("new", "rt-sleep50")):
        (tmp / side).mkdir()
        (tmp / side / "svc").write_bytes(fixtures[name].path.read_bytes())
        (tmp / side / "svc").chmod(0o755)
    proc = gate("check", str(tmp / "old/svc"), "--policy", str(tmp / "p.toml"),
                "--json", str(tmp / "old.json"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return tmp


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as f:
        f.token = SECRET
        yield f


def messages(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """Warnings and errors, without the per-phase progress lines CI mode prints."""
    return [line for line in proc.stderr.splitlines() if line.startswith(("gate: warning:",
            "gate: error:"))]  # fmt: skip


def checks(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["binaries"][0]["checks"]}


def check_new(sides: Path, *args: str, env: Mapping[str, str] | None = None) -> tuple[
    subprocess.CompletedProcess[str], dict[str, Any] | None
]:  # fmt: skip
    out = sides / "new.json"
    out.unlink(missing_ok=True)
    proc = gate("check", str(sides / "new/svc"), "--policy", str(sides / "p.toml"),
                "--json", str(out), *args, env=env)  # fmt: skip
    return proc, json.loads(out.read_text()) if out.exists() else None


def record(source: str, reason: str | None = None, **known: Any) -> dict[str, Any]:
    """The results' `baseline` object: found unless there is a reason it was not."""
    empty = dict.fromkeys(("relation", "commit", "run_id", "merge_base", "distance"))
    return {"source": source, "found": reason is None, **empty, "reason": reason, **known}


def expected_growth(sides: Path) -> float:
    old, new = (os.path.getsize(sides / side / "svc") for side in ("old", "new"))
    return round((new - old) / old * 100, 3)


def assert_relative_checks(doc: dict[str, Any], sides: Path, base_p50: float) -> None:
    by_id = checks(doc)
    assert by_id["size.max_growth"]["measured"] == expected_growth(sides)
    regression = by_id["startup.max_regression"]
    assert regression["status"] == "fail"
    p50 = doc["binaries"][0]["startup"]["stats"]["p50_ms"]
    assert p50 > 50.0  # the sleep is real
    assert regression["measured"] == pytest.approx((p50 / base_p50 - 1) * 100, abs=1e-3)
    assert regression["message"].startswith(f"p50 {base_p50:.1f} ms -> {p50:.1f} ms (+")


def test_file_and_http_baselines_judge_alike(sides: Path, forge: FakeForge) -> None:
    base_doc = json.loads((sides / "old.json").read_text())
    base_p50 = base_doc["binaries"][0]["startup"]["stats"]["p50_ms"]
    from_file, doc = check_new(sides, "--baseline", str(sides / "old.json"))
    assert from_file.returncode == 1, from_file.stderr
    assert doc is not None
    assert_relative_checks(doc, sides, base_p50)
    assert doc["baseline"] == record(str(sides / "old.json"), relation="file")

    forge.files["main.json"] = (sides / "old.json").read_bytes()
    url = f"{forge.url}/plain/main.json"
    over_http, doc = check_new(sides, "--baseline", url)
    assert over_http.returncode == 1, over_http.stderr
    assert doc is not None
    assert_relative_checks(doc, sides, base_p50)
    assert doc["baseline"] == record(url, relation="url")


def test_gitlab_artifact_gets_the_job_token_and_nothing_else_does(
    sides: Path, forge: FakeForge
) -> None:
    forge.artifacts[("42", "feature/x", "gate", "gate-report/results.json")] = (
        sides / "old.json"
    ).read_bytes()
    with FakeForge() as elsewhere:
        elsewhere.files["main.json"] = (sides / "old.json").read_bytes()
        forge.redirects["/api/v4/moved"] = f"{elsewhere.url}/plain/main.json"
        env = {"CI_API_V4_URL": forge.gitlab_api, "CI_JOB_TOKEN": SECRET}
        artifact = (
            f"{forge.gitlab_api}/projects/42/jobs/artifacts/feature%2Fx/raw/"
            "gate-report/results.json?job=gate"
        )
        sources = {artifact: 1, f"{forge.gitlab_api}/moved": 1, f"{forge.url}/plain/none.json": 0}
        for source, code in sources.items():  # 0: not there, so the regression is not judged
            proc, _ = check_new(sides, "--baseline", source, "--baseline-optional", env=env)
            assert proc.returncode == code, proc.stderr
            assert SECRET not in proc.stdout + proc.stderr
        seen = [(r.path, r.headers.get("job-token")) for r in forge.requests]
        assert seen == [
            ("/api/v4/projects/42/jobs/artifacts/feature%2Fx/raw/gate-report/results.json", SECRET),
            ("/api/v4/moved", SECRET),
            ("/plain/none.json", None),  # same host, outside the API: no token
        ]
        # The redirect went to another origin: followed, without the token.
        assert [(r.path, r.headers.get("job-token")) for r in elsewhere.requests] == [
            ("/plain/main.json", None)
        ]


def test_a_baseline_that_is_not_there_yet(sides: Path, forge: FakeForge, tmp_path: Path) -> None:
    missing = str(tmp_path / "none.json")
    url = f"{forge.url}/plain/none.json?private_token={SECRET}"
    shown = f"{forge.url}/plain/none.json?private_token=REDACTED"
    for source, what in ((missing, "no such file"), (url, "HTTP 404 Not Found")):
        proc, doc = check_new(sides, "--baseline", source, "--baseline-optional")
        assert proc.returncode == 0, proc.stderr  # nothing else fails: the relative checks skip
        assert doc is not None
        shown_source = shown if source == url else source
        assert messages(proc) == [
            f"gate: warning: {shown_source}: {what}; no baseline yet, so growth and regression "
            "checks are skipped"
        ]
        assert doc["baseline"] == record(shown_source, f"{shown_source}: {what}")
        by_id = checks(doc)
        assert by_id["size.max_growth"]["status"] == "skip"
        assert by_id["startup.max_regression"]["status"] == "skip"
        assert SECRET not in proc.stdout + proc.stderr + json.dumps(doc)
        strict, _ = check_new(sides, "--baseline", source)
        assert strict.returncode == 2
        assert messages(strict) == [f"gate: error: {shown_source}: {what}"]


def test_baseline_binary_is_measured_in_the_same_job(sides: Path) -> None:
    proc, doc = check_new(sides, "--baseline-binary", str(sides / "old/svc"))
    assert proc.returncode == 1, proc.stderr
    assert doc is not None
    assert doc["baseline"] == record(f"binary {sides / 'old/svc'}", relation="binary")
    by_id = checks(doc)
    assert by_id["size.max_growth"]["measured"] == expected_growth(sides)
    regression = by_id["startup.max_regression"]
    # 0.x ms -> 50 ms: over 1000% on a quiet machine; load slows the short start most
    assert regression["status"] == "fail" and regression["measured"] > 100
    both, _ = check_new(sides, "--baseline-binary", "x", "--baseline", "y")
    assert both.returncode == 2
    assert messages(both) == ["gate: error: --baseline and --baseline-binary: give one of them"]
    missing, _ = check_new(sides, "--baseline-binary", str(sides / "nope"))
    assert missing.returncode == 2
    assert messages(missing)[-1].startswith(f"gate: error: --baseline-binary: {sides / 'nope'}: ")


def test_diff_names_what_moved(sides: Path) -> None:
    """`gate diff main.json pr.json`: sizes from the files, p50 from both documents."""
    _, doc = check_new(sides, "--baseline", str(sides / "old.json"))
    assert doc is not None
    old_doc = json.loads((sides / "old.json").read_text())
    diff = gate("diff", str(sides / "old.json"), str(sides / "new.json"))
    assert diff.returncode == 0, diff.stderr
    lines = diff.stdout.splitlines()
    assert lines[0] == "svc"
    old_size, new_size = (os.path.getsize(sides / side / "svc") for side in ("old", "new"))
    from gate.values.units import format_size

    change = new_size - old_size
    file_line = next(line for line in lines if line.strip().startswith("file "))
    assert format_size(old_size) in file_line and format_size(new_size) in file_line
    assert f"{'+' if change >= 0 else '-'}{format_size(abs(change))}" in file_line
    old_p50 = old_doc["binaries"][0]["startup"]["stats"]["p50_ms"]
    new_p50 = doc["binaries"][0]["startup"]["stats"]["p50_ms"]
    p50_line = next(line for line in lines if line.strip().startswith("p50 "))
    assert f"{old_p50:.1f} ms" in p50_line and f"{new_p50 - old_p50:+.1f} ms" in p50_line
    assert "    startup.max_regression: skip -> fail" in lines
    md = gate("diff", str(sides / "old.json"), str(sides / "new.json"), "--format", "markdown")
    assert md.stdout.startswith("**svc**\n\n|  | before | after | change | % |\n")
    bad = gate("diff", str(sides / "old.json"), str(sides / "missing.json"))
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [f"gate: error: {sides / 'missing.json'}: no such file"]


# --------------------------------------------------------------- a baseline that cannot be had

REPO = "octo/svc"
ARTIFACT = "github-artifact:gate-results"
NOT_HERE = ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_EVENT_PATH", "GITHUB_BASE_REF", "GITHUB_SHA")


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def github_env(forge: FakeForge, token: str) -> dict[str, str]:
    """A pull request's job into main, without the event (so: main's newest artifact);
    whatever the CI running these tests set is blanked."""
    env = dict.fromkeys(NOT_HERE, "")
    env.update(GITHUB_API_URL=forge.github_api, GITHUB_REPOSITORY=REPO, GITHUB_TOKEN=token)
    return {**env, "GITHUB_BASE_REF": "main"}


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: a connection there is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Case = tuple[str, dict[str, str], str, str]  # source, environment, shown source, reason


def _no_token(forge: FakeForge, tmp: Path) -> Case:
    reason = f"{ARTIFACT}: no token: set GITHUB_TOKEN (the action passes its github-token input)"
    return ARTIFACT, github_env(forge, ""), ARTIFACT, reason


def _refused(forge: FakeForge, tmp: Path) -> Case:
    url = f"http://127.0.0.1:{closed_port()}/main.json"
    return url, {}, url, f"{url}: cannot fetch: Connection refused"


def _not_found(forge: FakeForge, tmp: Path) -> Case:
    url = f"{forge.url}/plain/none.json"
    return url, {}, url, f"{url}: HTTP 404 Not Found"


def _expired(forge: FakeForge, tmp: Path) -> Case:
    forge.add_github_artifact(
        REPO, "gate-results", "main", _zip({"results.json": (tmp / "old.json").read_bytes()}),
        expired=True,
    )  # fmt: skip
    reason = (
        f"{ARTIFACT} ({REPO}, branch main): artifact 'gate-results' from a run on main has expired"
    )
    return ARTIFACT, github_env(forge, forge.token), ARTIFACT, reason


def _gone_from_storage(forge: FakeForge, tmp: Path) -> Case:
    """Listed as not expired, but the storage says 410 Gone by the time it is downloaded."""
    artifact = forge.add_github_artifact(
        REPO, "gate-results", "main", _zip({"results.json": (tmp / "old.json").read_bytes()})
    )
    assert forge.storage is not None
    forge.storage.fail_next.append((410, {}, "gone"))
    reason = f"{ARTIFACT} ({REPO}, branch main): artifact {artifact['id']}: expired (HTTP 410)"
    return ARTIFACT, github_env(forge, forge.token), ARTIFACT, reason


def _forbidden(forge: FakeForge, tmp: Path) -> Case:
    url = f"{forge.url}/plain/main.json?private_token={SECRET}"
    shown = f"{forge.url}/plain/main.json?private_token=REDACTED"
    forge.fail_next.append((403, {}, "forbidden"))
    return url, {}, shown, f"{shown}: HTTP 403 Forbidden"


def _bad_token(forge: FakeForge, tmp: Path) -> Case:
    reason = (
        f"{ARTIFACT} ({REPO}, branch main): /actions/artifacts: HTTP 401 Unauthorized (the "
        "job's token needs `permissions: actions: read`)"
    )
    return ARTIFACT, github_env(forge, "wrong-" + SECRET), ARTIFACT, reason


def _unavailable(forge: FakeForge, tmp: Path) -> Case:
    url = f"{forge.url}/plain/main.json"
    forge.fail_next.append((503, {}, "maintenance"))
    return url, {}, url, f"{url}: HTTP 503 Service Unavailable"


CASES = {
    "no-token": _no_token,
    "connection-refused": _refused,
    "http-404": _not_found,
    "expired": _expired,
    "http-410": _gone_from_storage,
    "http-403": _forbidden,
    "http-401": _bad_token,
    "http-503": _unavailable,
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_optional_baseline_that_cannot_be_had_is_one_warning(
    sides: Path, forge: FakeForge, case: str
) -> None:
    source, env, shown, reason = CASES[case](forge, sides)
    proc, doc = check_new(sides, "--baseline", source, "--baseline-optional", env=env)
    assert proc.returncode == 0, proc.stderr  # the verdict's: nothing else fails
    absent = "no baseline yet" if case == "http-404" else "no baseline"
    assert messages(proc) == [
        f"gate: warning: {reason}; {absent}, so growth and regression checks are skipped"
    ]
    assert doc is not None
    assert doc["baseline"] == record(shown, reason)
    by_id = checks(doc)
    for check in ("size.max_growth", "startup.max_regression", "baseline.match"):
        assert by_id[check]["status"] == "skip"
        assert by_id[check]["message"] == f"no baseline ({reason})"
    assert SECRET not in proc.stdout + proc.stderr + json.dumps(doc)


@pytest.mark.parametrize("case", list(CASES))
def test_a_required_baseline_that_cannot_be_had_is_an_error(
    sides: Path, forge: FakeForge, case: str
) -> None:
    required = sides / "required.toml"
    required.write_text(POLICY + "[baseline]\nrequired = true\n")
    for flags in (
        ("--baseline-optional", "--baseline-required"),  # the required one wins
        ("--baseline-optional", "--policy", str(required)),  # so does the policy
        (),
    ):
        source, env, _, reason = CASES[case](forge, sides)
        proc, doc = check_new(sides, "--baseline", source, *flags, env=env)
        assert proc.returncode == 2, (flags, proc.stderr)
        assert messages(proc) == [f"gate: error: {reason}"], flags
        assert doc is None  # stopped before anything ran or was written
        assert SECRET not in proc.stdout + proc.stderr


def test_a_baseline_that_was_had_but_is_malformed_is_an_error_even_if_optional(
    sides: Path, forge: FakeForge
) -> None:
    (sides / "garbage.json").write_text("{not json")
    (sides / "other.json").write_text('{"schema": "gate/size/v1"}')
    forge.files["main.json"] = b"[1, 2]"
    forge.add_github_artifact(REPO, "gate-results", "main", b"<html>sign in</html>")
    env = github_env(forge, forge.token)
    cases = {
        str(sides / "garbage.json"): "not JSON (Expecting property name enclosed in double "
        "quotes: line 1 column 2 (char 1))",
        str(sides / "other.json"): "not a gate results file (schema 'gate/size/v1', expected "
        "'gate/results/v1')",
        f"{forge.url}/plain/main.json": "not a gate document (a JSON list)",
        ARTIFACT: "not a zip file (File is not a zip file)",
    }
    for source, what in cases.items():
        proc, doc = check_new(sides, "--baseline", source, "--baseline-optional", env=env)
        assert proc.returncode == 2, proc.stderr
        (line,) = messages(proc)
        assert line.startswith(f"gate: error: {source}") and line.endswith(what), line
        assert doc is None


def test_baseline_required_needs_a_baseline_and_is_set_once_for_all_binaries(
    sides: Path, tmp_path: Path
) -> None:
    alone, _ = check_new(sides, "--baseline-required")
    assert alone.returncode == 2
    assert messages(alone) == [
        "gate: error: --baseline-required: which baseline? Give --baseline too"
    ]
    per_binary = tmp_path / "p.toml"
    per_binary.write_text('[binary."svc".baseline]\nrequired = true\n')
    bad = gate("check", str(sides / "new/svc"), "--policy", str(per_binary))
    assert bad.returncode == 2
    assert messages(bad) == [
        f'gate: error: {per_binary}: binary."svc".baseline.required: one baseline serves every '
        "binary: set it in [baseline]"
    ]
    not_bool = tmp_path / "q.toml"
    not_bool.write_text('[baseline]\nrequired = "yes"\n')
    worse = gate("check", str(sides / "new/svc"), "--policy", str(not_bool))
    assert worse.returncode == 2
    assert messages(worse) == [
        f"gate: error: {not_bool}: baseline.required: expected true or false, got 'yes'"
    ]


# ------------------------------------------------------------ the record, in results and Markdown

M_BASE, M_TIP = "3c1f0e2" + "a" * 33, "9d4b7c1" + "b" * 33


@pytest.mark.parametrize(
    ("known", "said"),
    [
        ({"relation": "merge-base", "commit": M_BASE, "merge_base": M_BASE, "distance": 0},
         " — compared with 3c1f0e2, the merge base"),
        ({"relation": "ancestor", "commit": M_TIP, "merge_base": M_BASE, "distance": 3},
         " — compared with 9d4b7c1, 3 commits before the merge base 3c1f0e2"),
        ({"relation": "branch-tip", "commit": M_TIP},
         " — compared with 9d4b7c1, the base branch's latest (not the merge base)"),
        ({"relation": "file", "commit": "v1.2 <b>"}, " — compared with v1.2 &lt;b>"),
        ({"relation": "file"}, ""),
        ({"found": False, "reason": "x.json: no such file"},
         " (none: x.json: no such file; relative checks skipped)"),
    ],
    ids=["merge-base", "ancestor", "branch-tip", "file-escaped", "no-commit", "not-found"],
)  # fmt: skip
def test_the_summary_says_which_commit_the_change_was_compared_with(
    sides: Path, known: dict[str, Any], said: str
) -> None:
    from gate.report.markdown import render_markdown
    from gate.results.validate import validate

    doc = json.loads((sides / "old.json").read_text())
    doc["baseline"] = record("github-artifact:gate-results", **known)
    md = render_markdown(validate(doc, "old.json"))
    (line,) = [x for x in md.splitlines() if x.startswith("baseline: ")]
    assert line == "baseline: github-artifact:gate-results" + said


def test_a_document_from_before_the_record_grew_still_loads(sides: Path, tmp_path: Path) -> None:
    """A baseline written by an older gate has only source and found: the rest reads as
    unknown; a record with a wrong type is one line, as any other invalid key."""
    from gate.integrate.sources import load_results
    from gate.results.validate import ResultsError

    doc = json.loads((sides / "old.json").read_text())
    doc["baseline"] = {"source": "main.json", "found": True}
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    assert load_results(str(old))["baseline"] == record("main.json")
    doc["baseline"]["run_id"] = "seven"
    old.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match=r"baseline\.run_id: expected"):
        load_results(str(old))


# The job token and `..`: a prefix test on the raw URL let `<api>/../../outside` and its
# encodings through; the server resolves them outside the API. `{api}`, `{host}` below are
# forge.gitlab_api and forge.url; `{alias}` is the same server by another host name.
ESCAPES = {
    "dots": "{api}/../../plain/x",  # absolute: urljoin leaves the dots for the server
    "dots-relative": "/api/v4/../../plain/x",
    "%2e%2e": "/api/v4/%2e%2e/%2e%2e/plain/x",
    "%2E%2E": "/api/v4/%2E%2E/%2E%2E/plain/x",
    ".%2e": "/api/v4/.%2e/.%2e/plain/x",
    "..%2f": "/api/v4/..%2f..%2fplain/x",
    "backslash": "/api/v4/..\\..\\plain/x",
    "other-host": "//{alias}/api/v4/projects/42/x",
}


@pytest.mark.parametrize("location", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_redirect_out_of_the_api_never_carries_the_job_token(
    forge: FakeForge, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    import gate.secrets
    from gate.errors import SourceError
    from gate.fetch import fetch_url

    monkeypatch.setattr(gate.secrets, "_held", {})
    monkeypatch.setenv("CI_API_V4_URL", forge.gitlab_api)
    monkeypatch.setenv("CI_JOB_TOKEN", SECRET)
    alias = forge.url.replace("127.0.0.1", "localhost").removeprefix("http://")
    forge.redirects["/api/v4/moved"] = location.format(api=forge.gitlab_api, alias=alias)
    with pytest.raises(SourceError, match="HTTP 404"):  # nothing there: what was sent counts
        fetch_url(f"{forge.gitlab_api}/moved")
    sent = [(r.path, r.headers.get("job-token")) for r in forge.requests]
    assert sent[0] == ("/api/v4/moved", SECRET)  # the API itself gets the token
    assert len(sent) == 2 and sent[1][1] is None, sent  # the redirect was followed, without it


def test_a_first_url_with_dots_never_carries_the_job_token(
    forge: FakeForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gate.secrets
    from gate.fetch import fetch_url

    monkeypatch.setattr(gate.secrets, "_held", {})
    monkeypatch.setenv("CI_API_V4_URL", forge.gitlab_api)
    monkeypatch.setenv("CI_JOB_TOKEN", SECRET)
    forge.files["main.json"] = b"{}"
    assert fetch_url(f"{forge.gitlab_api}/../../plain/main.json") == b"{}"
    assert [(r.path, r.headers.get("job-token")) for r in forge.requests] == [
        ("/plain/main.json", None)
    ]
