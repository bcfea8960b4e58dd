"""Benchmark `gate inspect` against readelf and checksec on one large ELF.

Why: gate promises that inspecting a binary is cheap enough to run on every
build.  A toy binary would hide costs that grow with the input, so this builds
(once, cached) a deliberately large PIE: ~150 MiB of .rodata, 60,000 functions
and full DWARF, and times gate next to the tools people would otherwise use.

Run:  python benchmarks/bench_inspect.py [--keep] [--runs N]
"""

import argparse
import hashlib
import importlib
import json
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from benchlib import (
    BenchError,
    CpuHog,
    cache_root,
    hyperfine_timings,
    need_tool,
    preflight,
    print_timings,
    run,
    scratch_dir,
    time_calls,
    verdict,
)
from benchlib import Timing as Stats

MIB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parent.parent

# Everything that shapes the generated binary.  It is hashed (together with
# `gcc --version`) into the cache key, so bump "generator" whenever the code
# generation below changes in a way these numbers do not capture.
PARAMS: dict[str, Any] = {
    "generator": 1,
    "rodata_blobs": 6,
    "blob_bytes": 25 * MIB,  # 6 x 25 MiB = 150 MiB of .rodata
    "functions": 60_000,
    "c_files": 12,
    "cflags": ["-O0", "-g", "-fPIE", "-fstack-protector-strong"],
    "ldflags": ["-pie", "-Wl,-z,relro", "-Wl,-z,now"],
}

# Sanity floors checked with readelf after every build (and on cache reuse).
MIN_RODATA = 140 * MIB
MIN_SYMBOLS = 60_000

# Targets from the design brief; informational only.
TARGET_INNER_MS = 20.0
TARGET_PROCESS_MS = 150.0

BINARY_NAME = "bigelf"


# --------------------------------------------------------------------------
# small helpers


def human(n: int) -> str:
    """Format a byte count the way the report shows sizes."""
    return f"{n / MIB:9.2f} MiB" if n >= MIB else f"{n / 1024:9.1f} KiB"


# --------------------------------------------------------------------------
# building the big binary


def cache_key() -> str:
    """Hash of the generator parameters and the compiler identity."""
    gcc = run(["gcc", "--version"]).stdout
    blob = json.dumps(PARAMS, sort_keys=True) + "\n" + gcc
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def gen_blobs_asm(blobs: int, size: int) -> str:
    """Assembler for the .rodata blobs.

    `.fill` with a non-zero byte gives real file bytes (unlike .bss or a zero
    initialiser), and gas emits 150 MiB in well under a second, whereas a C
    initialiser of that size would take minutes to compile.
    """
    out = ['\t.section .rodata, "a"']
    for i in range(blobs):
        out += [
            f"\t.globl gate_bench_blob{i}",
            f"\t.type gate_bench_blob{i}, @object",
            "\t.p2align 6",
            f"gate_bench_blob{i}:",
            f"\t.fill {size}, 1, {0x11 * (i % 15 + 1):#x}",  # never zero
            f"\t.size gate_bench_blob{i}, .-gate_bench_blob{i}",
        ]
    out.append('\t.section .note.GNU-stack, "", @progbits')
    return "\n".join(out) + "\n"


def func_name(file_no: int, i: int) -> str:
    """Stable symbol name for generated function i of file file_no."""
    return f"gate_bench_f{file_no:02d}_{i:05d}"


def gen_funcs_c(file_no: int, count: int) -> str:
    """One translation unit of small global functions.

    Each has a local char array (so -fstack-protector-strong emits a canary
    check, as in real code) and calls libc; every fourth one calls its
    predecessor so the call graph and DWARF are not entirely flat.
    """
    parts = ["#include <string.h>\n\n"]
    for i in range(count):
        name = func_name(file_no, i)
        call = f" + {func_name(file_no, i - 1)}(x)" if i % 4 == 0 and i else ""
        parts.append(
            f"int {name}(int x);\n"
            f"int {name}(int x)\n{{\n"
            f"    char buf[16];\n"
            f"    memset(buf, x, sizeof buf);\n"
            f"    return x * {i % 97 + 1} + buf[{i % 16}] + {i}{call};\n}}\n\n"
        )
    return "".join(parts)


def gen_main_c(files: int, blobs: int) -> str:
    """main(): touches one function per unit and every blob, so nothing is dead."""
    lines = ["#include <stdio.h>\n"]
    lines += [f"extern const unsigned char gate_bench_blob{b}[];" for b in range(blobs)]
    lines += [f"int {func_name(f, 1)}(int x);" for f in range(files)]
    lines.append("\nint main(int argc, char **argv)\n{\n    (void)argv;\n    long acc = 0;")
    lines += [f"    acc += gate_bench_blob{b}[argc];" for b in range(blobs)]
    lines += [f"    acc += {func_name(f, 1)}(argc);" for f in range(files)]
    lines.append('    printf("%ld\\n", acc);\n    return 0;\n}')
    return "\n".join(lines) + "\n"


def build(work: Path, jobs: int) -> tuple[Path, dict[str, float]]:
    """Generate sources in `work`, compile in parallel, link; return binary and timings."""
    p = PARAMS
    t0 = time.perf_counter()
    files, funcs = p["c_files"], p["functions"]
    per_file = [funcs // files + (1 if i < funcs % files else 0) for i in range(files)]
    sources: list[Path] = []
    for f, count in enumerate(per_file):
        src = work / f"funcs_{f:02d}.c"
        src.write_text(gen_funcs_c(f, count))
        sources.append(src)
    main_c = work / "main.c"
    main_c.write_text(gen_main_c(files, p["rodata_blobs"]))
    blobs_s = work / "blobs.s"
    blobs_s.write_text(gen_blobs_asm(p["rodata_blobs"], p["blob_bytes"]))
    t1 = time.perf_counter()

    def compile_one(src: Path) -> Path:
        obj = src.with_suffix(".o")
        run(["gcc", *p["cflags"], "-c", src, "-o", obj])
        return obj

    # Largest units first so the two workers finish together.
    order = sorted([*sources, main_c, blobs_s], key=lambda s: -s.stat().st_size)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        objects = list(pool.map(compile_one, order))
    t2 = time.perf_counter()

    binary = work / BINARY_NAME
    run(["gcc", *p["ldflags"], "-o", binary, *sorted(objects)])
    t3 = time.perf_counter()
    return binary, {"generate": t1 - t0, "compile": t2 - t1, "link": t3 - t2, "total": t3 - t0}


def readelf_sections(binary: Path) -> dict[str, tuple[str, int, int]]:
    """Section name -> (type, size, entsize), parsed from `readelf -S -W`."""
    out = run(["readelf", "-S", "-W", binary]).stdout
    rx = re.compile(
        r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)"
    )
    sections: dict[str, tuple[str, int, int]] = {}
    for line in out.splitlines():
        m = rx.match(line)
        if m and m.group(2) != "NULL":
            sections[m.group(1)] = (m.group(2), int(m.group(3), 16), int(m.group(4), 16))
    return sections


def verify(binary: Path) -> dict[str, tuple[str, int, int]]:
    """Check the binary really is as big and as shaped as the benchmark claims."""
    sections = readelf_sections(binary)
    rodata = sections.get(".rodata", ("", 0, 0))[1]
    _, symtab_size, symtab_es = sections.get(".symtab", ("", 0, 0))
    symbols = symtab_size // symtab_es if symtab_es else 0
    head = run(["readelf", "-h", "-l", "-d", "-W", binary]).stdout
    problems = []
    if rodata < MIN_RODATA:
        problems.append(f".rodata is {human(rodata).strip()}, want >= {MIN_RODATA // MIB} MiB")
    if symbols < MIN_SYMBOLS:
        problems.append(f".symtab has {symbols} entries, want >= {MIN_SYMBOLS}")
    if "DYN (Position-Independent Executable" not in head:
        problems.append("not a PIE (readelf -h type is not DYN/PIE)")
    if "Shared library: [libc.so.6]" not in head or "INTERP" not in head:
        problems.append("not dynamically linked against libc.so.6")
    if ".debug_info" not in sections:
        problems.append("no .debug_info (DWARF) section")
    if problems:
        raise BenchError(f"{binary} failed verification: " + "; ".join(problems))
    print(
        f"verified: .rodata {human(rodata).strip()}, {symbols} .symtab entries, PIE, "
        "dynamic libc, DWARF present"
    )
    return sections


def ensure_binary(rebuild: bool, keep: bool, jobs: int) -> Path:
    """Return the cached big binary, building it first if needed."""
    for tool in ("gcc", "readelf"):
        need_tool(tool)
    root = cache_root()
    key = cache_key()
    final_dir = root / key
    binary = final_dir / BINARY_NAME
    meta_path = final_dir / "meta.json"
    if binary.is_file() and meta_path.is_file() and not rebuild:
        meta = json.loads(meta_path.read_text())
        print(f"reusing cached binary {binary}")
        print(f"  (built in {meta['build_seconds']['total']:.1f} s on {meta['built']})")
        verify(binary)
        return binary

    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"build-{key}-", dir=root))
    print(f"building big ELF in {work} with {jobs} parallel compiles ...", flush=True)
    try:
        built, timings = build(work, jobs)
        verify(built)
        final_dir.mkdir(parents=True, exist_ok=True)
        os.replace(built, binary)
        meta = {
            "params": PARAMS,
            "gcc": run(["gcc", "--version"]).stdout.splitlines()[0],
            "built": time.strftime("%Y-%m-%d %H:%M:%S"),
            "build_seconds": timings,
            "size": binary.stat().st_size,
        }
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    finally:
        if keep:
            print(f"kept build directory {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("build time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    return binary


def print_sections(binary: Path) -> None:
    """Show file size and the sections that dominate it."""
    sections = readelf_sections(binary)
    print(
        f"\nbinary: {binary}\nsize:   {human(binary.stat().st_size).strip()} "
        f"({binary.stat().st_size} bytes), {len(sections)} sections"
    )
    biggest = sorted(sections.items(), key=lambda kv: -kv[1][1])[:12]
    for name, (kind, size, _) in biggest:
        print(f"  {name:<20} {kind:<10} {human(size)}")


# --------------------------------------------------------------------------
# locating gate


class Gate(NamedTuple):
    """How to reach gate: the CLI argv prefix and the env that makes it importable."""

    argv: list[str] | None
    env: dict[str, str]
    facts: Any  # the gate.read.facts module, or None
    cli_importable: bool


def find_gate() -> Gate:
    """Import gate in-process and work out how subprocesses can run it.

    Prefers an installed package; falls back to the repository checkout
    (src/ layout or flat) and exports it through PYTHONPATH for subprocesses.
    """
    env = dict(os.environ)
    try:
        importlib.import_module("gate")
    except ImportError:
        for cand in (REPO_ROOT / "src", REPO_ROOT):
            if (cand / "gate" / "__init__.py").is_file():
                sys.path.insert(0, str(cand))
                env["PYTHONPATH"] = os.pathsep.join(
                    filter(None, [str(cand), env.get("PYTHONPATH")])
                )
                break
    try:
        importlib.import_module("gate")
    except ImportError as exc:
        print(
            f"NOTE: the gate package is not importable ({exc}); "
            "gate measurements are skipped, readelf/checksec are still timed."
        )
        return Gate(None, env, None, False)

    facts = None
    try:
        facts = importlib.import_module("gate.read.facts")
        if not callable(getattr(facts, "inspect_binary", None)):
            print("NOTE: gate.read.facts has no inspect_binary(); inner timing skipped.")
            facts = None
    except Exception as exc:  # a half-written package can fail in many ways
        print(
            f"NOTE: cannot import gate.read.facts ({type(exc).__name__}: {exc}); "
            "inner timing skipped."
        )

    cli_ok = True
    try:
        importlib.import_module("gate.cli")
    except Exception as exc:
        print(
            f"NOTE: cannot import gate.cli ({type(exc).__name__}: {exc}); "
            "import-cost timing skipped."
        )
        cli_ok = False

    # The console script next to this interpreter, else one on PATH, else -m.
    script = Path(sys.executable).parent / "gate"
    if "PYTHONPATH" in env and env["PYTHONPATH"] != os.environ.get("PYTHONPATH"):
        argv = [sys.executable, "-m", "gate"]  # not installed: no console script
    elif script.is_file() and os.access(script, os.X_OK):
        argv = [str(script)]
    elif shutil.which("gate"):
        argv = [str(shutil.which("gate"))]
    else:
        argv = [sys.executable, "-m", "gate"]
    return Gate(argv, env, facts, cli_ok)


# --------------------------------------------------------------------------
# measuring


def hyperfine(
    commands: list[tuple[str, list[str]]],
    runs: int,
    warmup: int,
    tmp: Path,
    env: dict[str, str],
) -> list[Stats]:
    """Time commands in one hyperfine invocation (no shell), exported into `tmp`."""
    export = tmp / f"hyperfine-{len(list(tmp.iterdir()))}.json"
    print(
        f"hyperfine: {', '.join(n for n, _ in commands)} ({warmup} warm-ups, {runs} runs) ...",
        flush=True,
    )
    return hyperfine_timings(commands, export, runs=runs, warmup=warmup, env=env, cwd=tmp)


def time_inner(facts: Any, binary: Path, calls: int, warmup: int) -> list[float]:
    """Per-call wall time (ms) of inspect_binary() in this process."""
    fn = facts.inspect_binary
    clear = getattr(fn, "cache_clear", None)  # never time a memoised hit
    arg: Any = binary
    try:
        fn(arg)
    except (TypeError, AttributeError):
        arg = str(binary)  # in case the API takes str only
        fn(arg)
    return time_calls(lambda: fn(arg), calls, warmup=warmup, before=clear)


# What `gate inspect --json BINARY` imports: the console script answers it without the CLI.
INSPECT_IMPORTS = "import gate.entry, gate.inspect_command, gate.read.facts, gate.report.json"


def import_profile(
    env: dict[str, str], cwd: Path, code: str = "import gate.cli", top: int = 8
) -> tuple[int, int, list[tuple[int, int, str]]]:
    """Split `python -X importtime -c CODE` into start-up and gate's share.

    Returns (site us, the imports' us, slowest modules after site by self time), so a
    slow interpreter start-up (.pth files, site-packages) is not blamed on gate.
    """
    proc = run([sys.executable, "-X", "importtime", "-c", code], env=env, cwd=cwd)
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S.*)$", line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4).strip()))
    # Top-level rows sit at the smallest indent; site is the last start-up one.
    base = min((r[2] for r in rows), default=0)
    cut = next((i for i, r in enumerate(rows) if r[2] == base and r[3] == "site"), -1)
    site_us = rows[cut][1] if cut >= 0 else 0
    after = rows[cut + 1 :]
    gate_us = sum(r[1] for r in after if r[2] == base)
    slowest = sorted(((r[0], r[1], r[3]) for r in after), reverse=True)[:top]
    return site_us, gate_us, slowest


def print_table(stats: list[Stats]) -> None:
    """Fixed-width table of hyperfine results."""
    print_timings(stats, name_width=34, mean_width=9, width=8, decimals=2, runs_width=5)


# --------------------------------------------------------------------------
# the measurements, each adding what it could not measure to `failures`

GATE_INSPECT = "gate inspect --json"
PEERS = ("readelf -h -l -S -d -W", "checksec --file")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="hyperfine runs per command (10)")
    ap.add_argument("--warmup", type=int, default=3, help="hyperfine warm-up runs (3)")
    ap.add_argument("--calls", type=int, default=50, help="timed in-process calls (50)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel compiles when building (2)")
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the build directory (sources, objects) and hyperfine JSON",
    )
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached binary")
    ap.add_argument(
        "--load",
        action="store_true",
        help="time the whole processes again with a CPU hog pinned to the last CPU (the other "
        "core of a 2-core runner): does gate stay below checksec on a busy machine?",
    )
    ap.add_argument("--binary", type=Path, help="time this ELF instead of the generated one")
    return ap.parse_args(argv)


def prepare_binary(args: argparse.Namespace) -> Path:
    """The tools are there and the binary to time exists (built or reused); show it."""
    need_tool("hyperfine")
    need_tool("checksec")
    if args.binary:
        binary = args.binary.resolve()
    else:
        binary = ensure_binary(args.rebuild, args.keep, max(1, args.jobs))
    print_sections(binary)
    return binary


def measure_process(
    gate: Gate, binary: Path, args: argparse.Namespace, tmp: Path, failures: list[str]
) -> dict[str, Stats]:
    """1. Whole process: gate, readelf and checksec in one hyperfine run."""
    commands: list[tuple[str, list[str]]] = []
    if gate.argv is not None:
        gate_cmd = [*gate.argv, "inspect", "--json", str(binary)]
        if preflight(GATE_INSPECT, gate_cmd, gate.env, tmp, json.loads) is not None:
            commands.append((GATE_INSPECT, gate_cmd))
        else:
            failures.append("gate inspect")
    else:
        failures.append("gate not importable")
    commands.append((PEERS[0], ["readelf", "-h", "-l", "-S", "-d", "-W", str(binary)]))
    commands.append((PEERS[1], ["checksec", f"--file={binary}"]))
    try:
        stats = hyperfine(commands, args.runs, args.warmup, tmp, gate.env)
    except BenchError as exc:
        print(f"ERROR: hyperfine failed: {exc}", file=sys.stderr)
        failures.append("hyperfine (tools)")
        return {}
    process = {s.name: s for s in stats}
    print_table(stats)
    _ratios(process)
    if args.load:
        last = max(os.sched_getaffinity(0))
        with CpuHog(last) as hog:
            hog.start()
            try:
                loaded = hyperfine(commands, args.runs, args.warmup, tmp, gate.env)
            except BenchError as exc:
                print(f"ERROR: hyperfine under load failed: {exc}", file=sys.stderr)
                failures.append("hyperfine under load")
                return process
            hog.stop()
            busy = hog.cpu_seconds / hog.wall_seconds if hog.wall_seconds else 0.0
        print(f"\nunder load ({hog.what} on CPU {last}, busy {busy:.0%} of its time):")
        print_table(loaded)
        _ratios({s.name: s for s in loaded})
    return process


def _ratios(process: dict[str, Stats]) -> None:
    g = process.get(GATE_INSPECT)
    if g:
        for other in PEERS:
            print(f"ratio gate / {other.split()[0]:<8} {g.mean / process[other].mean:6.2f}x (mean)")


def measure_inner(gate: Gate, binary: Path, calls: int, failures: list[str]) -> list[float]:
    """2. inspect_binary() in this process."""
    if gate.facts is None:
        failures.append("gate.read.facts")
        return []
    try:
        inner = time_inner(gate.facts, binary, calls, 3)
    except Exception as exc:
        print(f"ERROR: inspect_binary() raised {type(exc).__name__}: {exc}", file=sys.stderr)
        failures.append("inspect_binary")
        return []
    print(
        f"\ninspect_binary() in-process, {len(inner)} calls after 3 warm-ups: "
        f"min {min(inner):.2f} ms, median {statistics.median(inner):.2f} ms, "
        f"max {max(inner):.2f} ms"
    )
    return inner


def measure_imports(gate: Gate, args: argparse.Namespace, tmp: Path, failures: list[str]) -> None:
    """3. Interpreter start-up against what `gate inspect` imports (it skips the CLI) and
    against `import gate.cli` (every other command), and where the imports go."""
    if not gate.cli_importable:
        failures.append("gate.cli")
        return
    bare = ("python -c pass", [sys.executable, "-c", "pass"])
    inspect = ("python -c '<gate inspect's imports>'", [sys.executable, "-c", INSPECT_IMPORTS])
    cli = ("python -c 'import gate.cli'", [sys.executable, "-c", "import gate.cli"])
    try:
        imp = hyperfine([bare, inspect, cli], args.runs, args.warmup, tmp, gate.env)
        print_table(imp)
        print(
            f"gate inspect's imports cost ~{imp[1].mean - imp[0].mean:.2f} ms, the CLI's "
            f"~{imp[2].mean - imp[0].mean:.2f} ms over bare interpreter start-up (mean)"
        )
        profiles = [
            (code, import_profile(gate.env, tmp, code))
            for code in (INSPECT_IMPORTS, "import gate.cli")
        ]
    except BenchError as exc:
        print(f"ERROR: import timing failed: {exc}", file=sys.stderr)
        failures.append("import timing")
        return
    for code, (site_us, gate_us, slowest) in profiles:
        print(
            f"\npython -X importtime -c '{code}': site (start-up, .pth files included) "
            f"{site_us / 1e3:.1f} ms, the imports {gate_us / 1e3:.1f} ms"
        )
        print(f"  {'self us':>8} {'cumul us':>9}  slowest modules after site")
        for self_us, cum_us, mod in slowest:
            print(f"  {self_us:8d} {cum_us:9d}  {mod}")


def print_targets(inner: list[float], process: dict[str, Stats]) -> None:
    """4. The targets, for information."""
    print("\ntargets (informational):")
    if inner:
        med = statistics.median(inner)
        print(
            f"  inner inspection  median {med:8.2f} ms  < {TARGET_INNER_MS:.0f} ms  "
            f"{verdict(med < TARGET_INNER_MS)}"
        )
    else:
        print(f"  inner inspection  {'n/a':>15}     < {TARGET_INNER_MS:.0f} ms  not measured")
    g = process.get(GATE_INSPECT)
    if g:
        print(
            f"  whole process     mean   {g.mean:8.2f} ms  < {TARGET_PROCESS_MS:.0f} ms "
            f"{verdict(g.mean < TARGET_PROCESS_MS)}"
        )
    else:
        print(f"  whole process     {'n/a':>15}     < {TARGET_PROCESS_MS:.0f} ms not measured")


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the binary, time everything, print the report."""
    args = parse_args(argv)
    try:
        binary = prepare_binary(args)
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1

    gate = find_gate()
    if gate.argv is not None:
        print(f"gate command: {shlex.join(gate.argv)}")
    failures: list[str] = []
    with scratch_dir(args.keep, "hyperfine exports", prefix="gate-bench-") as tmp:
        process = measure_process(gate, binary, args, tmp, failures)
        inner = measure_inner(gate, binary, args.calls, failures)
        measure_imports(gate, args, tmp, failures)
        print_targets(inner, process)

    if failures:
        print(f"\nincomplete: {', '.join(failures)} could not be measured", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
