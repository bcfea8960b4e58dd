"""Benchmark gate on a file of a million symbols against `nm` and `readelf -s` (issue 23).

Why: a symbol table of 1M entries made `gate size --by symbol` take 8.5 s and 572 MB,
and views that show no symbol paid the same. This times, in one run on the same file
(tests/manysymbols.py's, built once and cached), each gate command that shows symbols
or none next to the binutils tools that list them, with each one's peak RSS (wait4), and
prints the ratios gate/nm and gate/readelf.

Run:  python benchmarks/bench_symbols.py [--reps N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import manysymbols  # tests/manysymbols.py: the generator, one source of truth


def _run(cmd: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS bytes) of one run, its output discarded."""
    started = time.perf_counter()
    with open(os.devnull, "w") as sink, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, stdout=sink, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)}: exit {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    binary = str(manysymbols.build())
    gate = [sys.executable, "-m", "gate"]
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as policy:
        policy.write('[policy]\nname = "elf-only"\ndescription = "x"\n[elf]\ntextrel = false\n')
    own = os.path.join(tempfile.gettempdir(), f"bench-symbols-{os.getpid()}.json")
    commands = {
        "gate size --by symbol": [*gate, "size", binary, "--by", "symbol"],
        "gate size --json": [*gate, "size", binary, "--json"],
        # Every row written, then read back: gate reads each document it writes.
        "gate size --json (symbols)": [*gate, "size", binary, "--by", "symbol", "--json", own],
        "gate size --against it": [*gate, "size", binary, "--by", "symbol", "--against", own],
        "gate check --no-startup": [
            *gate,
            "check",
            binary,
            "--no-startup",
            "--policy",
            policy.name,
        ],
        "gate size --by section": [*gate, "size", binary, "--by", "section"],
        "nm -S --size-sort": ["nm", "-S", "--size-sort", binary],
        "readelf -s --wide": ["readelf", "-s", "--wide", binary],
    }
    results: dict[str, tuple[float, float, int]] = {}
    print(f"{binary}: {os.path.getsize(binary):,} bytes, {manysymbols.COUNT:,} symbols")
    print(f"{'command':<28} {'wall s':>8} {'cpu s':>8} {'max RSS MB':>11} {'B/symbol':>9}")
    for name, cmd in commands.items():
        runs = [_run(cmd) for _ in range(args.reps)]
        results[name] = (
            statistics.median(r[0] for r in runs),
            statistics.median(r[1] for r in runs),
            max(r[2] for r in runs),
        )
    base = results["gate size --by section"][2]
    for name, (wall, cpu, rss) in results.items():
        per = (
            (rss - base) / manysymbols.COUNT if name.startswith("gate") else rss / manysymbols.COUNT
        )
        print(f"{name:<28} {wall:8.2f} {cpu:8.2f} {rss / 1e6:11.1f} {per:9.0f}")
    gate_wall = results["gate size --by symbol"][0]
    for peer in ("nm -S --size-sort", "readelf -s --wide"):
        print(f"gate size --by symbol / {peer}: {gate_wall / results[peer][0]:.2f}x wall")
    os.unlink(policy.name)
    os.unlink(own)
    return 0


if __name__ == "__main__":
    sys.exit(main())
