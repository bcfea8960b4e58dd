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
    assert doc["baseline"] == {"source": str(sides / "old.json"), "found": True}

    forge.files["main.json"] = (sides / "old.json").read_bytes()
    url = f"{forge.url}/plain/main.json"
    over_http, doc = check_new(sides, "--baseline", url)
    assert over_http.returncode == 1, over_http.stderr
    assert doc is not None
    assert_relative_checks(doc, sides, base_p50)
    assert doc["baseline"] == {"source": url, "found": True}


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
        assert doc["baseline"] == {"source": shown_source, "found": False}
        by_id = checks(doc)
        assert by_id["size.max_growth"]["status"] == "skip"
        assert by_id["startup.max_regression"]["status"] == "skip"
        assert SECRET not in proc.stdout + proc.stderr + json.dumps(doc)
        strict, _ = check_new(sides, "--baseline", source)
        assert strict.returncode == 2
        assert messages(strict) == [f"gate: error: {shown_source}: {what}"]
    forge.fail_next.append((500, {}, "boom"))
    broken, _ = check_new(sides, "--baseline", f"{forge.url}/plain/x.json", "--baseline-optional")
    assert broken.returncode == 2  # optional covers "not there yet", not a broken server
    assert messages(broken) == [
        f"gate: error: {forge.url}/plain/x.json: HTTP 500 Internal Server Error"
    ]


def test_baseline_binary_is_measured_in_the_same_job(sides: Path) -> None:
    proc, doc = check_new(sides, "--baseline-binary", str(sides / "old/svc"))
    assert proc.returncode == 1, proc.stderr
    assert doc is not None
    assert doc["baseline"] == {"source": f"binary {sides / 'old/svc'}", "found": True}
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
    from gate.units import format_size

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
