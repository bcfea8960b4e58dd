"""Benchmark the zipapp's start: `python3 gate.pyz --version` against an installed `gate --version`.

Why: CI runs gate from the single-file zipapp (scripts/build-zipapp) instead of installing it
per job; that must not make every invocation slower. Target (issue 13): the zipapp's
`--version` within 20% of the installed `gate --version`.

What is compared, in ONE `hyperfine -N` run so the machine's state is shared:
- `python -c pass`: the interpreter alone, the floor under everything else;
- installed: `gate --version` of a regular (not editable) install of this checkout's wheel,
  in a temporary venv that takes gate's dependencies from this interpreter's site-packages
  (`--gate PATH` times another console script instead);
- zipapp: `python gate-<version>.pyz --version`, as built by scripts/build-zipapp;
- zipapp without bytecode (`--no-bytecode`): what a Python other than the builder's pays.

All run with this interpreter (`sys.executable`), never a pyenv shim (+50 ms).

Run:  python benchmarks/bench_zipapp.py [--runs N] [--pyz PATH] [--gate PATH]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import benchlib
from benchlib import BenchError, Timing

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.20  # zipapp / installed, mean --version time


def build_zipapp(out: Path, *extra: str) -> Path:
    proc = benchlib.run(
        [sys.executable, ROOT / "scripts" / "build-zipapp", "--out-dir", out, *extra]
    )
    return Path(proc.stdout.strip().splitlines()[-1].split("  ", 1)[1])


def installed_gate(tmp: Path) -> Path:
    """`gate` of a wheel install in a venv; dependencies from this interpreter's site."""
    wheels = tmp / "wheel"
    benchlib.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", ROOT, "-w", wheels])
    venv = tmp / "venv"
    benchlib.run([sys.executable, "-m", "venv", "--system-site-packages", venv])
    benchlib.run(
        [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
         *sorted(wheels.glob("*.whl"))]
    )  # fmt: skip
    return venv / "bin" / "gate"


def check_version(argv: list[str | Path]) -> None:
    proc = benchlib.run(argv)
    if not proc.stdout.startswith("gate "):
        raise BenchError(f"{argv}: printed {proc.stdout!r}, expected 'gate <version>'")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=50, help="hyperfine runs per command")
    parser.add_argument("--pyz", type=Path, help="time this zipapp instead of building one")
    parser.add_argument("--gate", type=Path, help="time this console script as 'installed'")
    args = parser.parse_args()
    try:
        benchlib.need_tool("hyperfine")
        with tempfile.TemporaryDirectory(prefix="gate-bench-zipapp-") as tmp_name:
            tmp = Path(tmp_name)
            pyz = args.pyz or build_zipapp(tmp / "pyz")
            plain = build_zipapp(tmp / "plain", "--no-bytecode")
            gate = args.gate or installed_gate(tmp)
            py = sys.executable
            commands: list[tuple[str, list[str | Path]]] = [
                ("python -c pass", [py, "-c", "pass"]),
                ("installed gate --version", [gate, "--version"]),
                ("zipapp --version", [py, pyz, "--version"]),
                ("zipapp (no bytecode) --version", [py, plain, "--version"]),
            ]
            for _, argv in commands[1:]:
                check_version(argv)
            timings = benchlib.hyperfine_timings(
                commands, tmp / "hyperfine.json", runs=args.runs, warmup=5
            )
            report(timings, pyz, gate)  # while the files still exist
    except BenchError as exc:
        print(f"bench_zipapp: {exc}", file=sys.stderr)
        return 1
    return 0


def report(timings: list[Timing], pyz: Path, gate: Path) -> None:
    by = {t.name: t for t in timings}
    print(f"python {sys.version.split()[0]}, load {benchlib.load()}")
    print(f"zipapp: {pyz} ({pyz.stat().st_size:,} bytes); installed: {gate}")
    print(f"{'command':<32} {'mean':>9} {'stddev':>8} {'min':>9} {'median':>9} {'runs':>5}")
    for t in timings:
        print(
            f"{t.name:<32} {t.mean:7.1f}ms {t.stddev:6.1f}ms {t.min:7.1f}ms {t.median:7.1f}ms "
            f"{t.runs:>5}"
        )
    installed, zipapp = by["installed gate --version"], by["zipapp --version"]
    ratio = zipapp.mean / installed.mean
    ratio_median = zipapp.median / installed.median
    plain = by["zipapp (no bytecode) --version"].mean / installed.mean
    print(
        f"zipapp / installed: {ratio:.2f} (mean), {ratio_median:.2f} (median); "
        f"target <= {TARGET:.2f}: {benchlib.verdict(ratio <= TARGET)}"
    )
    print(f"zipapp without bytecode / installed: {plain:.2f} (mean)")


if __name__ == "__main__":
    sys.exit(main())
