"""`gate startup` on real programs: exact values where the truth is known, and nothing
left behind after any run, however hostile the program.

Every run passes a unique marker in the child's environment; after each test /proc is
scanned for it, so a daemon that escaped its session or process group would be found.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from procscan import marked_processes
from reference import Fixture, fincore_resident_bytes

from gate.run.cache import residency
from gate.run.runner import RunConfig, run_once
from gate.run.tree import children
from gate.values.readiness import parse_ready


@pytest.fixture
def leak_check(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A marker for the child's env and a private TMPDIR; both must be clean afterwards."""
    marker = f"gate-leak-{uuid.uuid4().hex}"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    kids_before = children(os.getpid())
    yield {"marker": marker, "tmp": tmp}
    leaked = marked_processes(marker)
    for pid in leaked:  # clean up before failing, so one leak does not poison the session
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    assert leaked == [], f"processes left behind: {leaked}"
    assert list(tmp.iterdir()) == [], "temporary files left behind"
    assert children(os.getpid()) - kids_before == set(), "unreaped children (zombies)"


def gate_startup(
    leak: Mapping[str, Any],
    binary: Path | str,
    *args: str,
    program_args: tuple[str, ...] = (),
    measure_rss: bool = False,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None, int]:
    """Run the real CLI; returns (process, JSON document or None, gate's own peak RSS).

    The peak comes from GNU time, which forks gate from a small process: rusage of a
    child forked from pytest itself would carry pytest's footprint across exec.
    """
    argv = [
        sys.executable,
        "-m",
        "gate",
        "startup",
        str(binary),
        "--json",
        "--env",
        f"GATE_LEAK_MARK={leak['marker']}",
        *args,
    ]
    if program_args:
        argv += ["--", *program_args]
    if measure_rss:
        argv = ["/usr/bin/time", "-f", "gate-maxrss-kib=%M", *argv]
    env = {**os.environ, "TMPDIR": str(leak["tmp"]), "CI": "true"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    rss = 0
    if measure_rss:
        *rest, last = proc.stderr.splitlines()
        rss = int(last.removeprefix("gate-maxrss-kib=")) * 1024
        proc = subprocess.CompletedProcess(
            argv, proc.returncode, proc.stdout, "\n".join(rest) + "\n"
        )
    doc = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc, doc, rss


def failures(doc: dict[str, Any]) -> list[str]:
    return [r["error"] for r in doc["runs"] if not r["ok"]]


# ---------------------------------------------------------------- values against the truth


def test_noop_document(fixtures: Mapping[str, Fixture], leak_check) -> None:
    proc, doc, _ = gate_startup(leak_check, fixtures["rt-noop"].path, "--runs", "30")
    assert proc.returncode == 0, proc.stderr
    assert doc is not None and doc["schema"] == "gate/startup/v1"
    assert doc["ready"] == "exit" and doc["cold"] is True and doc["eviction"] == "fadvise"
    runs = doc["runs"]
    assert len(runs) == 30 and all(r["ok"] and r["exit_code"] == 0 for r in runs)
    walls = sorted(r["wall_ms"] for r in runs)
    s = doc["stats"]
    assert s["count"] == 30 and s["failed"] == 0
    assert s["min_ms"] == walls[0] and s["max_ms"] == walls[-1]
    assert s["p50_ms"] == pytest.approx((walls[14] + walls[15]) / 2)
    assert 0 < s["min_ms"] < 20  # a static no-op starts in well under a millisecond or two
    lo, hi = s["ci"]["p50"]
    assert lo <= s["p50_ms"] <= hi
    assert s["ci"]["p99"][1] is None  # 30 runs cannot bound p99 from above
    assert all(r["minor_faults"] > 0 for r in runs)
    # A static no-op is far smaller than gate, whose footprint the kernel carries into the
    # child's rusage across exec: the honest answer is "not measurable", not gate's size.
    assert all(r["max_rss_bytes"] is None for r in runs)
    # CI is set: one line per phase on stderr, no live bar
    assert proc.stderr.splitlines() == [
        "gate: rt-noop: warmup: 1 start",
        "gate: rt-noop: runs: 30 starts",
    ]


def hyperfine_median_ms(binary: Path, *, cold: bool, runs: int = 15) -> float:
    """The same machine's reference: hyperfine's median wall time (ms) of `binary`, now.

    `cold` evicts the file from the page cache before every run (an untimed --prepare), as
    `gate startup` does by default, so both measure the same thing.
    """
    evict = "import os,sys; fd = os.open(sys.argv[1], os.O_RDONLY); " + (
        "os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)"
    )
    prepare = ["--prepare", shlex.join([sys.executable, "-c", evict, str(binary)])] if cold else []
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "hf.json"
        subprocess.run(
            ["hyperfine", "-N", "--style", "none", "--warmup", "2", "--runs", str(runs),
             *prepare, "--export-json", str(export), str(binary)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return float(json.loads(export.read_text())["results"][0]["median"]) * 1e3


def test_sleeper_p50_is_50_ms(fixtures, leak_check) -> None:
    """A sleep can only get longer, so the lower bounds are exact whatever the load. The
    upper bound is 5 ms over the same machine's measurement of the same thing: hyperfine's
    median cold start of the same file (evicted before every run, as gate does), taken
    just before and just after gate's runs, the larger of the two. Idle, that is the old
    55 ms (50.2-50.5 + 5); under load both stretch alike (two busy loops on 2 cores: gate's
    p50 1-4 ms below the reference, where the fixed 55 failed at 58-64), so load slows the
    test but does not fail it, and a gate that adds 5 ms of its own still fails."""
    sleeper = fixtures["rt-sleep50"].path
    before = hyperfine_median_ms(sleeper, cold=True)
    proc, doc, _ = gate_startup(leak_check, sleeper, "--runs", "15")
    after = hyperfine_median_ms(sleeper, cold=True)
    assert proc.returncode == 0, proc.stderr
    stats = doc["stats"]
    assert 50.0 <= stats["min_ms"] <= stats["p50_ms"], stats
    assert stats["p50_ms"] <= max(before, after) + 5.0, (stats, before, after)


def test_notify_and_line_readiness_match_the_known_delay(fixtures, leak_check) -> None:
    """The program signals readiness 100 ms after it starts: the p50 can only be longer
    (exact lower bound). The upper bound is 100 ms + 2 ms (the old limit, idle) + twice what
    the machine adds to a sleep right now: hyperfine's median of rt-sleep50 (the same
    rt_sleep_ms, warm like these runs) minus its 50 ms, the larger of the values just before
    and just after. Twice, because gate's probe (Python) does more work once woken than
    hyperfine's wait for an exit does, and load stretches that work too; under two busy
    loops gate's overshoot was 0.7-1.6x the reference's (7-14 ms, where the fixed 102 ms
    failed). Idle the reference adds ~0.2-0.5 ms: the bound stays
    within a millisecond of 102."""
    sleeper = fixtures["rt-sleep50"].path
    for name, ready in (("rt-notify", "notify"), ("rt-readyline", "line:READY$")):
        before = hyperfine_median_ms(sleeper, cold=False)
        proc, doc, _ = gate_startup(
            leak_check,
            fixtures[name].path,
            "--runs",
            "10",
            "--warm",
            "--ready",
            ready,
            program_args=("100",),
        )
        after = hyperfine_median_ms(sleeper, cold=False)
        assert proc.returncode == 0, (name, proc.stderr)
        p50 = doc["stats"]["p50_ms"]
        overshoot = max(before, after, 50.0) - 50.0
        assert 100.0 <= doc["stats"]["min_ms"] <= p50 <= 102.0 + 2 * overshoot, (
            name,
            p50,
            before,
            after,
        )
        assert all(r["exit_code"] == -15 for r in doc["runs"])  # stopped by gate's SIGTERM


@pytest.mark.parametrize("toolchain", ["go1.19", "go1.27"])
def test_http_server_ready_after_its_delay(fixtures, leak_check, toolchain: str) -> None:
    server = fixtures[f"{toolchain}-httpserver-static-sw"].path
    proc, doc, _ = gate_startup(
        leak_check,
        server,
        "--runs",
        "8",
        "--warm",
        "--ready",
        "http://127.0.0.1:{port}/healthz",
        program_args=("-delay", "100ms", "-addr", "127.0.0.1:{port}"),
    )
    assert proc.returncode == 0, proc.stderr
    p50 = doc["stats"]["p50_ms"]
    # The delay on top of the same server's start without one, measured just after: a
    # loaded machine slows both starts alike, not the 100 ms sleep.
    _, bare, _ = gate_startup(
        leak_check, server, "--runs", "8", "--warm", "--ready", "http://127.0.0.1:{port}/healthz",
        program_args=("-delay", "0ms", "-addr", "127.0.0.1:{port}"),
    )  # fmt: skip
    assert doc["stats"]["min_ms"] >= 100.0, doc["stats"]
    assert p50 < 110.0 + bare["stats"]["p50_ms"], (doc["stats"], bare["stats"])
    ports = [r["port"] for r in doc["runs"]]
    assert all(ports) and len(set(ports)) > 1  # a fresh port per run
    assert all(r["exit_code"] == 0 for r in doc["runs"])  # the server shut down on SIGTERM


def test_max_rss_is_the_programs_own(leak_check) -> None:
    """A program that touches 200 MiB reports that much, in exit and in ready mode."""
    touch = "x = bytearray(200 << 20)"
    proc, doc, _ = gate_startup(
        leak_check, sys.executable, "--runs", "2", "--warm", program_args=("-c", touch)
    )
    assert proc.returncode == 0, proc.stderr
    for r in doc["runs"]:
        assert 200 << 20 < r["max_rss_bytes"] < 260 << 20
    serve = f"{touch}; print('READY', flush=True); import time; time.sleep(30)"
    proc, doc, _ = gate_startup(
        leak_check,
        sys.executable,
        "--runs",
        "2",
        "--warm",
        "--ready",
        "line:READY",
        program_args=("-c", serve),
    )
    assert proc.returncode == 0, proc.stderr
    for r in doc["runs"]:
        assert 200 << 20 < r["max_rss_bytes"] < 260 << 20


def test_cold_evicts_and_warm_keeps_the_file(fixtures, leak_check) -> None:
    big = fixtures["rt-bigtext"].path
    proc, doc, _ = gate_startup(leak_check, big, "--runs", "3", "--warmup", "0")
    assert proc.returncode == 0, proc.stderr
    files = doc["eviction_detail"]["files"]
    assert files[0]["path"] == str(big)
    assert files[0]["resident_after"] < files[0]["resident_before"] or all(
        r["major_faults"] > 0 for r in doc["runs"]
    )
    assert files[0]["resident_after"] == 0
    # Our mincore reading agrees with fincore's after a warm run: the file stays cached.
    proc, doc, _ = gate_startup(leak_check, big, "--runs", "3", "--warm")
    assert proc.returncode == 0, proc.stderr
    assert doc["eviction"] == "none" and doc["eviction_detail"] is None
    res = residency(str(big))
    assert res.resident * os.sysconf("SC_PAGE_SIZE") == fincore_resident_bytes(big)
    assert res.resident > 0


# ---------------------------------------------------------------- hostile programs


def test_nonzero_exit_is_reported_per_run(fixtures, leak_check) -> None:
    proc, doc, _ = gate_startup(leak_check, fixtures["rt-exit3"].path, "--runs", "3")
    assert proc.returncode == 2  # nothing could be measured
    # warmup + 2 runs fail: the third run is not tried (3 failures in a row from the start)
    assert failures(doc) == ["exited with status 3: config error: missing DATABASE_URL"] * 2
    assert doc["requested_runs"] == 3
    lines = proc.stderr.splitlines()
    assert sum("failed: exited with status 3" in ln for ln in lines) == 3
    assert lines[-1].startswith("gate: error: ")
    assert "all 2 runs failed (gave up early)" in lines[-1]
    assert "Traceback" not in proc.stderr


def test_segfault(fixtures, leak_check) -> None:
    proc, doc, _ = gate_startup(leak_check, fixtures["rt-segv"].path, "--runs", "2")
    assert proc.returncode == 2
    assert all(e.startswith("killed by SIGSEGV") for e in failures(doc))
    assert all(r["exit_code"] == -11 for r in doc["runs"])


def test_hang_times_out(fixtures, leak_check) -> None:
    proc, doc, _ = gate_startup(
        leak_check, fixtures["rt-hang"].path, "--runs", "2", "--warmup", "0", "--timeout", "300ms"
    )
    assert proc.returncode == 2
    assert all(
        e.startswith("still running after 0.3 s (timeout); stopped (a service?")
        for e in failures(doc)
    )
    assert len(failures(doc)) == 2
    assert all(300 <= r["wall_ms"] < 400 for r in doc["runs"])


def test_http_that_never_answers(fixtures, leak_check) -> None:
    proc, doc, _ = gate_startup(
        leak_check,
        fixtures["rt-hang"].path,
        "--runs",
        "1",
        "--warmup",
        "0",
        "--timeout",
        "250ms",
        "--ready",
        "http://127.0.0.1:{port}/healthz",
        "--env",
        "PORT={port}",  # told the port (else a usage error), it still never answers
    )
    assert proc.returncode == 2
    (error,) = failures(doc)
    assert error.startswith("not ready (http://127.0.0.1:") and "within 0.25 s" in error


def test_sigterm_ignored_gets_sigkill(fixtures, leak_check) -> None:
    proc, doc, _ = gate_startup(
        leak_check,
        fixtures["rt-ignore-term"].path,
        "--runs",
        "1",
        "--warmup",
        "0",
        "--timeout",
        "200ms",
        "--grace",
        "100ms",
    )
    assert proc.returncode == 2
    assert doc["runs"][0]["exit_code"] == -9


@pytest.mark.parametrize("name", ["rt-daemon", "rt-daemon-stubborn"])
def test_double_forked_daemon_is_found_and_stopped(fixtures, leak_check, name: str) -> None:
    proc, doc, _ = gate_startup(leak_check, fixtures[name].path, "--runs", "2", "--grace", "100ms")
    assert proc.returncode == 0, proc.stderr  # the program itself exited 0
    assert all(r["ok"] and r["stopped"] >= 1 for r in doc["runs"])


def test_two_hundred_children(fixtures, leak_check) -> None:
    proc, doc, _ = gate_startup(
        leak_check,
        fixtures["rt-fork200"].path,
        "--runs",
        "1",
        "--warmup",
        "0",
        "--timeout",
        "500ms",
    )
    assert proc.returncode == 2
    assert doc["runs"][0]["stopped"] >= 200


def test_flood_is_drained_with_bounded_memory(fixtures, leak_check) -> None:
    """1 GiB on stdout (and 64 MiB on stderr): no blocking, a bounded tail, small gate."""
    proc, doc, rss = gate_startup(
        leak_check,
        fixtures["rt-flood"].path,
        "--runs",
        "1",
        "--warmup",
        "0",
        "--warm",
        "--timeout",
        "60s",
        measure_rss=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert doc["runs"][0]["ok"]
    assert 0 < rss < 150 * 2**20, f"gate used {rss} bytes"


def test_closed_stdout_is_fine(fixtures, leak_check) -> None:
    proc, doc, _ = gate_startup(leak_check, fixtures["rt-close-stdout"].path, "--runs", "3")
    assert proc.returncode == 0, proc.stderr
    assert all(r["ok"] and r["wall_ms"] >= 20 for r in doc["runs"])


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda fx, tmp: fx["rt-noexec"].path, "not executable (mode 644)"),
        (
            lambda fx, tmp: fx["go1.27-hello-arm64"].path,
            "exec format error (a aarch64 binary; this machine is x86_64)",
        ),
        (lambda fx, tmp: tmp / "missing", "no such file"),
        (lambda fx, tmp: tmp, "is a directory"),
    ],
    ids=["not-executable", "other-architecture", "missing", "directory"],
)
def test_cannot_start(fixtures, leak_check, tmp_path: Path, make, fragment: str) -> None:
    path = make(fixtures, tmp_path / "x")
    if path.name == "x":
        path.mkdir()
    proc, doc, _ = gate_startup(leak_check, path, "--runs", "2")
    assert proc.returncode == 2 and doc is None
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"gate: error: {path}: ") and fragment in line, line


def test_bad_options(fixtures, leak_check) -> None:
    noop = fixtures["rt-noop"].path
    for args, fragment in (
        (("--ready", "line:("), "bad regular expression"),
        (("--timeout", "10"), "add a unit"),
        (("--env", "NOEQUALS"), "--env expects KEY=VALUE"),
        (("--ready", "tcp:99999"), "expected tcp:PORT"),
    ):
        proc, _, _ = gate_startup(leak_check, noop, *args)
        assert proc.returncode == 2, args
        assert fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# ---------------------------------------------------------------- the runner in process


def test_runner_in_process_leaves_no_child(fixtures, leak_check) -> None:
    cfg = RunConfig(
        str(fixtures["rt-daemon"].path),
        cold=False,
        grace_s=0.1,
        env={"GATE_LEAK_MARK": leak_check["marker"]},
    )
    sample, eviction = run_once(cfg)
    assert sample.ok and sample.stopped >= 1 and eviction is None
    cfg = RunConfig(
        str(fixtures["rt-readyline"].path),
        args=("30",),
        cold=False,
        ready=parse_ready("line:READY"),
        env={"GATE_LEAK_MARK": leak_check["marker"]},
    )
    sample, _ = run_once(cfg)
    assert sample.ok and 30 <= sample.wall_ms < 40


def test_gate_terminated_mid_run_stops_the_program(fixtures, leak_check) -> None:
    """A cancelled CI job sends SIGTERM to gate: the program under test must not outlive it."""
    argv = [
        sys.executable,
        "-m",
        "gate",
        "startup",
        str(fixtures["rt-hang"].path),
        "--timeout",
        "60s",
        "--env",
        f"GATE_LEAK_MARK={leak_check['marker']}",
    ]
    env = {**os.environ, "TMPDIR": str(leak_check["tmp"]), "CI": "true"}
    gate = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    for _ in range(500):  # wait until the program under test is running
        if marked_processes(leak_check["marker"]):
            break
        time.sleep(0.01)
    assert marked_processes(leak_check["marker"]), "the program never started"
    gate.send_signal(signal.SIGTERM)
    _, err = gate.communicate(timeout=30)
    assert gate.returncode == 2
    assert err.splitlines()[-1] == (
        "gate: error: terminated by SIGTERM; stopped the program under test"
    )


def test_ci_credentials_do_not_reach_the_program(tmp_path: Path) -> None:
    """The program under test is the change being judged: CI tokens are not its to read."""
    probe = ["-c", 'test -z "$GITHUB_TOKEN$CI_JOB_TOKEN$GATE_GITLAB_TOKEN" && test "$KEEP" = 1']
    env = {**os.environ, "GITHUB_TOKEN": "s1", "CI_JOB_TOKEN": "s2", "GATE_GITLAB_TOKEN": "s3",
           "KEEP": "1"}  # fmt: skip
    argv = [sys.executable, "-m", "gate", "startup", "/bin/sh", "--runs", "2", "--warmup", "0",
            "--json", "--", *probe]  # fmt: skip
    clean = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["stats"]["failed"] == 0
    # Passed on purpose with --env, it is there: the shell's test fails, so does every run.
    argv[argv.index("--json") : argv.index("--json")] = ["--env", "GITHUB_TOKEN=given"]
    given = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert given.returncode == 2
    assert "all 2 runs failed" in given.stderr
