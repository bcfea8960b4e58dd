"""Benchmark the GitHub Action's own overhead under act: zipapp vs release asset vs venv install.

Why: the action used to pip-install gate into a fresh venv on every job (~19 s) for a gate
run of about a second. Issue 13's target: with a pre-provisioned zipapp or the release's
zipapp (fetched from 127.0.0.1 here, sha256 verified), the action's overhead is <= 2 s.

What is measured, per job under act (host mode, offline, the sample repository of
tests/act_harness.py with a small Go service), medians:
- job: act's wall time for the whole job (act's own start, the checkout copy, every step);
- action: the `uses:` step, all of the action's own steps together;
- gate: its `gate check` step (gate's start and its measuring), as act reports it;
- overhead = action - gate: what the action adds around gate's measuring (setup: the
  zipapp, the download and checksum, or the venv install; report; verdict). The target.
- job - gate: the same plus what any workflow pays without gate (act's start, checkout).

Run:  python benchmarks/bench_action.py [--repeat N] [--venv-repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchlib import BenchError, need_tool, run, verdict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from act_harness import ActRun, copy_action, git_commit, run_act, write_workflow  # noqa: E402
from fake_forge import FakeForge  # noqa: E402

TARGET_S = 2.0


def build_service(out: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_"))}
    env.update(GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local", CGO_ENABLED="0",
               GOCACHE=str(out.parent / "gocache"), GOPATH=str(out.parent / "gopath"))  # fmt: skip
    run([need_tool("go"), "build", "-trimpath", "-ldflags=-s -w", "-o", str(out), "."],
        cwd=ROOT / "tests" / "fixtures" / "go" / "hello", env=env)  # fmt: skip


def step_seconds(result: ActRun, step: tuple[str, ...]) -> float:
    for e in result.events:
        if e.get("stepID") == list(step) and e.get("stepResult") and e.get("stage") == "Main":
            return float(e.get("executionTime", 0)) / 1e9
    raise BenchError(f"step {step} not in act's log")


Row = tuple[float, float, float]  # one job: job s, action s, gate s


def publish_zipapp(tmp: Path, forge: FakeForge) -> tuple[Path, str]:
    """Build the zipapp and serve it as the release asset; (zipapp, its sha256)."""
    dist = tmp / "dist"
    run([sys.executable, str(ROOT / "scripts" / "build-zipapp"), "--out-dir", str(dist)])
    (pyz,) = dist.glob("gate-*.pyz")
    sha = (dist / f"{pyz.name}.sha256").read_text().split()[0]
    version = pyz.stem.removeprefix("gate-")
    forge.files[f"releases/v{version}/{pyz.name}"] = pyz.read_bytes()
    return pyz, sha


def sample_repo(tmp: Path, pyz: Path, sha: str) -> Path:
    """The sample repository: a Go service and one workflow per way of getting gate."""
    repo = tmp / "repo"
    (repo / "bin").mkdir(parents=True)
    build_service(repo / "bin" / "svc")
    copy_action(repo / "gate-action")
    copy_action(repo / "gate-release", f"{sha}  {pyz.name}")
    inputs = {"binaries": "bin/svc", "runs": "2"}
    write_workflow(repo, "zipapp", {**inputs, "gate-zipapp": str(pyz)})
    write_workflow(repo, "release", inputs, action="gate-release")
    write_workflow(repo, "venv", inputs)
    git_commit(repo)
    return repo


def run_jobs(
    act: str, repo: Path, tmp: Path, env: dict[str, str], repeats: dict[str, int]
) -> dict[str, list[Row]]:
    """Each workflow `repeats[name]` times under act; checks the action went that way."""
    rows: dict[str, list[Row]] = {}
    for name, repeat in repeats.items():
        for i in range(repeat):
            cache = tmp / f"act-{name}-{i}"
            result = run_act(act, repo, f".github/workflows/{name}.yml", cache, env=env)
            if result.returncode != 0:
                raise BenchError(f"{name}: act exited {result.returncode}\n{result.text[-3000:]}")
            how = result.outputs(("gate", "setup")).get("how")
            if how != name:
                raise BenchError(f"{name}: the action went the {how!r} way")
            action = step_seconds(result, ("gate",))
            gate = step_seconds(result, ("gate", "check"))
            rows.setdefault(name, []).append((result.seconds, action, gate))
    return rows


def print_report(rows: dict[str, list[Row]]) -> bool:
    """Medians per way, then the target for the two zipapp ways; True when both hold."""
    print(f"{'way':8} {'jobs':>4} {'job s':>6} {'action s':>8} {'gate s':>6} {'overhead s':>10} "
          f"{'job-gate s':>10}   (medians)")  # fmt: skip
    overhead: dict[str, float] = {}
    job_overhead: dict[str, float] = {}
    for name, values in rows.items():
        job, action, gate = (statistics.median(v[k] for v in values) for k in range(3))
        overhead[name] = statistics.median(v[1] - v[2] for v in values)
        job_overhead[name] = statistics.median(v[0] - v[2] for v in values)
        print(f"{name:8} {len(values):>4} {job:>6.2f} {action:>8.2f} {gate:>6.2f} "
              f"{overhead[name]:>10.2f} {job_overhead[name]:>10.2f}")  # fmt: skip
    ok = True
    for name in ("zipapp", "release"):
        good = overhead[name] <= TARGET_S
        ok &= good
        print(f"{verdict(good)} {name}: the action's overhead {overhead[name]:.2f} s "
              f"(target <= {TARGET_S:g} s) vs {overhead['venv']:.2f} s with the venv install: "
              f"{overhead['venv'] / max(overhead[name], 1e-3):.1f}x less; job - gate "
              f"{job_overhead[name]:.2f} s vs {job_overhead['venv']:.2f} s "
              f"({job_overhead['venv'] / max(job_overhead[name], 1e-3):.1f}x)")  # fmt: skip
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="jobs per zipapp/release scenario")
    ap.add_argument("--venv-repeat", type=int, default=2, help="jobs for the venv fallback")
    args = ap.parse_args()
    act = need_tool("act")
    repeats = {"zipapp": args.repeat, "release": args.repeat, "venv": args.venv_repeat}
    with tempfile.TemporaryDirectory(prefix="bench-action-") as tmp_s, FakeForge() as forge:
        tmp = Path(tmp_s)
        pyz, sha = publish_zipapp(tmp, forge)
        repo = sample_repo(tmp, pyz, sha)
        env = {"GATE_RELEASE_URL": forge.url + "/plain/releases"}
        rows = run_jobs(act, repo, tmp, env, repeats)
    return 0 if print_report(rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, subprocess.SubprocessError) as exc:
        print(f"bench_action: {exc}", file=sys.stderr)
        sys.exit(2)
