"""A program under test cannot freeze gate, outlive it, or read its tokens (issue 14).

Real attacks by a real C program (tests/fixtures/c/startup/hostile.c), against the real
CLI: SIGSTOP and PTRACE_ATTACH on its parent; trees that ignore every stop signal, fork
500 children, or hop from session to session; a setuid-root program its user may no
longer signal; reading every ancestor's /proc/PID/environ; a PT_INTERP that is a script.
Each attack is shown to happen (the program says so, or gate without its keeper is
frozen), so a test cannot pass because the attack silently failed. Afterwards /proc is
scanned for the marker every started process carries: nothing may be left.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ci import slowdown
from procscan import marked_processes
from unprivileged import install_for_nobody, public_dir, remove

HOSTILE_SRC = Path(__file__).parent / "fixtures" / "c" / "startup" / "hostile.c"
GATE = [sys.executable, "-m", "gate"]
SECRET = f"ghs_{uuid.uuid4().hex}"  # what a GitHub token looks like to the program


@pytest.fixture(scope="module")
def public() -> Iterator[Path]:
    """A directory nobody can read: the hostile program, a setuid copy, gate for nobody."""
    root = public_dir()
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-o", str(root / "hostile"), str(HOSTILE_SRC)], check=True
    )
    suid = root / "hostile-suid"
    suid.write_bytes((root / "hostile").read_bytes())
    os.chown(suid, 0, 0)
    suid.chmod(0o4755)
    yield root
    remove(root)


@pytest.fixture(scope="module")
def gate_as_nobody(public: Path) -> list[str]:
    return install_for_nobody(public / "gate")


@pytest.fixture
def marker() -> Iterator[str]:
    """The marker for the program's environment; nothing carrying it may outlive the test
    (a short wait: the keeper's clean-up runs as gate exits, not before)."""
    mark = f"gate-hostile-{uuid.uuid4().hex}"
    yield mark
    deadline = time.monotonic() + 3
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert left == [], f"processes left behind: {left}"


def startup_argv(program: Path, marker: str, *options: str, mode: tuple[str, ...]) -> list[str]:
    return [
        "startup", str(program), "--env", f"GATE_HOSTILE_MARK={marker}", "--runs", "1",
        "--warmup", "0", "--warm", *options, "--", *mode,
    ]  # fmt: skip


def run(
    argv: list[str], timeout: float = 30, marker: str = "", **env: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    """gate to its end; on a timeout its program is killed first (a tracer would
    otherwise keep the killed gate from being reaped), then gate, and the test fails."""
    start = time.monotonic()
    gate = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "true", **env})  # fmt: skip
    try:
        out, err = gate.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in marked_processes(marker) if marker else ():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        gate.kill()
        gate.communicate()
        raise AssertionError(f"gate did not end within {timeout} s") from None
    took = time.monotonic() - start
    return subprocess.CompletedProcess(argv, gate.returncode, out, err), took


def wait_for(marker: str, count: int, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(found := marked_processes(marker)) < count:
        assert time.monotonic() < deadline, f"only {len(found)} of {count} processes started"
        time.sleep(0.02)
    return found


# ---------------------------------------------------------------- freezing gate


def may_ptrace_as_root() -> bool:
    """Whether a child of this process may trace another root process. Not when a container
    (Docker's default set) took CAP_SYS_PTRACE away, nor once an earlier test ran a start
    in this process: gate drops it from the bounding set, for good, as it must (guard.py).
    Yama's scope 3 forbids any attach."""
    with open("/proc/self/status") as f:
        caps = dict(line.split(":", 1) for line in f if line.startswith(("CapEff", "CapBnd")))
    held = all(int(caps[name], 16) >> 19 & 1 for name in ("CapEff", "CapBnd"))
    scope = Path("/proc/sys/kernel/yama/ptrace_scope")
    return held and not (scope.exists() and scope.read_text() == "3\n")


def needs_ptrace() -> None:
    """The trace attacks need a root that may trace, or they pass for the wrong reason; where
    it may not, they still run in CI: first in the VM tier (tests/test_cgroup_v2.py INNER)."""
    if not may_ptrace_as_root():
        pytest.skip("no CAP_SYS_PTRACE here (a container, or gate ran in this process first)")


STOPPED = "gate was stopped during the start (SIGSTOP or SIGTSTP: by the program under test?)"
NOT_PERMITTED = "Operation not permitted"


@pytest.mark.parametrize("attack", ["stop", "stop-both", "trace", "trace-both"])
def test_the_program_cannot_freeze_gate(public: Path, marker: str, attack: str) -> None:
    """As root: SIGSTOP to gate, or to the keeper and gate with a setsid child stopping
    both again every millisecond; PTRACE_ATTACH to gate, or PTRACE_SEIZE of both. gate
    resumes itself (guard.py), the start that was stopped fails saying so, and the
    program, though root, lacks CAP_SYS_PTRACE, so a non-dumpable gate refuses it."""
    if attack.startswith("trace"):
        needs_ptrace()
    argv = startup_argv(public / "hostile", marker, "--ready", "tcp:1", "--timeout", "1s",
                        "--grace", "0.5s", "--json", mode=(attack,))  # fmt: skip
    proc, took = run([*GATE, *argv], marker=marker)
    assert proc.returncode == 2, proc.stderr
    # one start: timeout 1 s + grace 0.5 s, and gate's own time (slower in the VM tier)
    assert took < 10 * slowdown(), took
    (start,) = json.loads(proc.stdout)["runs"]
    if attack.startswith("stop"):
        assert "hostile: sent SIGSTOP to" in start["stderr_tail"]  # the attack happened
        assert start["error"].startswith(STOPPED), start["error"]
    else:
        said = start["stderr_tail"].splitlines()
        assert len(said) == (2 if attack == "trace-both" else 1), said
        assert all(NOT_PERMITTED in line for line in said), said
        assert start["error"].startswith("not ready (tcp:127.0.0.1:1) within 1 s"), start
    assert "not ready (tcp:127.0.0.1:1) within 1 s (timeout)" in start["error"]


def test_as_a_normal_user_gate_resumes_itself(
    public: Path, gate_as_nobody: list[str], marker: str
) -> None:
    """The same user as gate may signal it: the keeper and gate stopped together, and
    stopped again every millisecond, still end in one failed start, in bounded time."""
    argv = startup_argv(public / "hostile", marker, "--ready", "tcp:1", "--timeout", "1s",
                        "--grace", "0.5s", "--json", mode=("stop-both",))  # fmt: skip
    proc, took = run([*gate_as_nobody, *argv], marker=marker)
    assert proc.returncode == 2, proc.stderr
    assert took < 10, took
    (start,) = json.loads(proc.stdout)["runs"]
    assert "hostile: sent SIGSTOP to" in start["stderr_tail"]
    assert start["error"].startswith(STOPPED), start["error"]


def test_without_the_keeper_gate_still_resumes_itself(public: Path, marker: str) -> None:
    """GATE_NO_KEEPER=1: the timers still resume gate, but nothing tells it that it was
    stopped (its parent is the one that hears of it), so the start fails on its timeout."""
    argv = startup_argv(public / "hostile", marker, "--ready", "tcp:1", "--timeout", "1s",
                        "--grace", "0.5s", "--json", mode=("stop",))  # fmt: skip
    proc, took = run([*GATE, *argv], marker=marker, GATE_NO_KEEPER="1")
    assert proc.returncode == 2, proc.stderr
    assert took < 10, took
    (start,) = json.loads(proc.stdout)["runs"]
    assert "hostile: sent SIGSTOP to" in start["stderr_tail"]
    assert start["error"].startswith("not ready (tcp:127.0.0.1:1) within 1 s (timeout)"), start


def test_root_may_trace_a_non_dumpable_process_that_keeps_cap_sys_ptrace(public: Path) -> None:
    """The premise of the trace attacks: only the capability gate drops stops root. The
    tracer (hostile) is killed first: a traced process's end is reported to its tracer."""
    needs_ptrace()
    code = (
        "import ctypes, os, sys, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n"
        "if os.fork() == 0: os.execv(sys.argv[1], [sys.argv[1], 'trace'])\n"
        "time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code, str(public / "hostile")],
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        ready, _, _ = select.select([parent.stderr], [], [], 20)
        said = parent.stderr.readline() if ready and parent.stderr else ""
    finally:
        with open(f"/proc/{parent.pid}/task/{parent.pid}/children") as f:
            for child in map(int, f.read().split()):
                os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait(timeout=20)
    assert "hostile: PTRACE_ATTACH" in said and "attached" in said, said


def test_a_program_that_leaves_the_envelope_fails_the_start(public: Path, marker: str) -> None:
    """As root, the program writes its pid into the root cgroup of every hierarchy and
    then touches 200 MB under a 64 MB limit: it was not limited (it says so), and the
    start fails naming where it went, not reporting the cgroup's numbers as if it held."""
    argv = startup_argv(public / "hostile", marker, "--ready", "line:^ready", "--timeout", "10s",
                        "--memory", "64MB", "--json", mode=("escape", "200"))  # fmt: skip
    proc, _ = run([*GATE, *argv], marker=marker)
    assert proc.returncode == 2, proc.stderr
    (start,) = json.loads(proc.stdout)["runs"]
    assert "hostile: touched 200 MB" in start["stderr_tail"], start  # the limit did not hold
    assert ": moved" in start["stderr_tail"], start
    assert start["error"].startswith("left the envelope when it was ready: hostile (pid "), start
    assert "not in the start's cgroup" in start["error"]


def test_as_a_normal_user_gate_cannot_be_traced(
    public: Path, gate_as_nobody: list[str], marker: str
) -> None:
    argv = startup_argv(public / "hostile", marker, "--ready", "tcp:1", "--timeout", "1s",
                        "--grace", "0.5s", "--json", mode=("trace",))  # fmt: skip
    proc, _ = run([*gate_as_nobody, *argv], marker=marker)
    assert proc.returncode == 2, proc.stderr
    (start,) = json.loads(proc.stdout)["runs"]
    assert "hostile: PTRACE_ATTACH" in start["stderr_tail"]
    assert "Operation not permitted" in start["stderr_tail"]  # gate is not dumpable
    assert "not ready (tcp:127.0.0.1:1) within 1 s (timeout)" in start["error"]


# ---------------------------------------------------------------- signals to gate

PROGRAMS = {
    "ignoring-tree": (("ignore", "20"), 21),
    "fork-500": (("ignore", "500"), 501),
    "session-hopper": (("hop",), 1),
}
EXIT = {
    signal.SIGINT: 130,
    signal.SIGTERM: 2,
    signal.SIGHUP: 2,
    signal.SIGQUIT: 2,
    signal.SIGKILL: -signal.SIGKILL,
}


def _signal_gate_mid_run(
    public: Path, marker: str, mode: tuple[str, ...], count: int, sig: int, whom: str
) -> tuple[int, str]:
    argv = startup_argv(public / "hostile", marker, "--ready", "tcp:1", "--timeout", "60s",
                        "--grace", "0.3s", mode=mode)  # fmt: skip
    gate = subprocess.Popen([*GATE, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "CI": "true"})  # fmt: skip
    try:
        wait_for(marker, count)
        target = gate.pid
        if whom == "worker":  # the process doing the work, under the keeper
            with open(f"/proc/{gate.pid}/task/{gate.pid}/children") as f:
                (target,) = map(int, f.read().split())
        os.kill(target, sig)
        _, err = gate.communicate(timeout=30)
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait()
    return gate.returncode, err


@pytest.mark.parametrize("sig", list(EXIT), ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("program", list(PROGRAMS))
def test_nothing_gate_started_outlives_a_signal_to_it(
    public: Path, marker: str, program: str, sig: int
) -> None:
    mode, count = PROGRAMS[program]
    code, err = _signal_gate_mid_run(public, marker, mode, count, sig, "gate")
    assert code == EXIT[sig], err
    if sig != signal.SIGKILL:
        name = signal.Signals(sig).name
        assert f"by {name}; stopped the program under test" in err.splitlines()[-1]
    # the marker fixture: no process left


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["KILL", "TERM"])
def test_the_worker_killed_outright_leaves_nothing(public: Path, marker: str, sig: int) -> None:
    """`pkill -9 gate` hits the worker too: the keeper adopts and kills what it started."""
    code, err = _signal_gate_mid_run(public, marker, ("ignore", "20"), 21, sig, "worker")
    assert code == EXIT[sig], err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_during_the_grace_period_still_kills(public: Path, marker: str, sig: int) -> None:
    """The timeout fired, gate sent SIGTERM and waits out --grace: a signal to gate now
    must not skip the SIGKILL that follows (the tree ignores SIGTERM)."""
    argv = startup_argv(public / "hostile", marker, "--ready", "tcp:1", "--timeout", "0.5s",
                        "--grace", "2s", mode=("ignore", "5"))  # fmt: skip
    gate = subprocess.Popen([*GATE, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "GATE_NO_KEEPER": "1"})  # fmt: skip
    try:
        wait_for(marker, 6)
        time.sleep(1.2)  # past the timeout, inside the grace period
        assert len(marked_processes(marker)) == 6  # still running: they ignore SIGTERM
        gate.send_signal(sig)
        _, err = gate.communicate(timeout=30)
    finally:
        if gate.poll() is None:
            gate.kill()
    assert gate.returncode == EXIT[sig], err
    assert marked_processes(marker) == []  # gone when gate ends, without the keeper's help


# ---------------------------------------------------------------- a process gate may not signal


def test_a_setuid_program_that_cannot_be_stopped_ends_the_run(
    public: Path, gate_as_nobody: list[str], marker: str
) -> None:
    argv = startup_argv(public / "hostile-suid", marker, "--ready", "tcp:1", "--timeout", "1s",
                        "--grace", "1s", mode=("become-root",))  # fmt: skip
    gate = subprocess.Popen([*gate_as_nobody, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        (pid,) = wait_for(marker, 1)
        start = time.monotonic()
        _, err = gate.communicate(timeout=30)
        took = time.monotonic() - start
        with open(f"/proc/{pid}/status") as f:
            uids = next(line.split()[1:] for line in f if line.startswith("Uid:"))
        assert uids == ["0", "0", "0", "0"]  # the premise: nobody may not signal it
    finally:
        if gate.poll() is None:
            gate.kill()
        for left in marked_processes(marker):
            os.kill(left, signal.SIGKILL)
    assert gate.returncode == 2, err
    assert took < 1 + 1 + 3, took  # timeout + grace, and gate's own time
    assert err.splitlines()[-1].startswith(
        f"gate: error: {public / 'hostile-suid'}: cannot stop hostile-suid (pid {pid}): not"
        " permitted to signal it"
    ), err


# ---------------------------------------------------------------- secrets


def _environ_report(doc: dict[str, Any]) -> dict[int, str]:
    (start,) = doc["runs"]
    lines = [ln.split(": ", 1) for ln in start["stdout_tail"].splitlines()]
    return {int(pid.split()[1]): what for pid, what in lines}


def test_the_environ_scanner_finds_a_token_where_there_is_one(public: Path) -> None:
    """The premise: a parent holding the token in its environment is caught."""
    parent = subprocess.run(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(sys.argv[1:])",
         str(public / "hostile"), "environ", SECRET],
        capture_output=True, text=True, timeout=30, env={**os.environ, "GITHUB_TOKEN": SECRET},
    )  # fmt: skip
    first = parent.stdout.splitlines()[0]
    assert first.endswith("SECRET FOUND"), parent.stdout


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_no_ancestor_environment_shows_the_token(
    public: Path, gate_as_nobody: list[str], user: str
) -> None:
    prefix = GATE if user == "root" else gate_as_nobody
    argv = ["startup", str(public / "hostile"), "--runs", "1", "--warmup", "0", "--warm",
            "--json", "--", "environ", SECRET]  # fmt: skip
    proc, _ = run([*prefix, *argv], GITHUB_TOKEN=SECRET, CI_JOB_TOKEN=SECRET)
    assert proc.returncode == 2, proc.stderr  # the scanner exits 3: its output is kept
    seen = _environ_report(json.loads(proc.stdout))
    assert seen and not any("SECRET FOUND" in what for what in seen.values()), seen
    gate_pids = list(seen)[:2]  # gate, then its keeper
    for pid in gate_pids:
        if user == "root":  # readable, and scrubbed
            assert seen[pid].startswith("read ") and seen[pid].endswith("secret absent")
        else:  # not dumpable: not even readable
            assert seen[pid] == "unreadable (Permission denied)", seen


def test_a_pt_interp_script_runs_contained_without_the_token(
    public: Path, marker: str, tmp_path: Path
) -> None:
    """Preparing a cold start asks the binary's interpreter for its libraries: that is
    code from the change too. A script as PT_INTERP records its environment and leaves a
    daemon behind; the daemon must not survive, the token must not be there."""
    record = public / f"interp-env-{uuid.uuid4().hex}"
    interp = public / f"interp-{uuid.uuid4().hex}.sh"
    interp.write_text(f'#!/bin/sh\nenv > {record}\nsleep 300 &\necho "libc.so.6 => /nowhere"\n')
    interp.chmod(0o755)
    binary = tmp_path / "fake-interp"
    source = tmp_path / "main.c"
    source.write_text("int main(void) { return 0; }\n")
    subprocess.run(["gcc", f"-Wl,--dynamic-linker={interp}", "-o", str(binary), str(source)],
                   check=True)  # fmt: skip
    argv = ["startup", str(binary), "--runs", "1", "--warmup", "0",
            "--env", f"GATE_HOSTILE_MARK={marker}"]  # fmt: skip
    proc, _ = run([*GATE, *argv], GITHUB_TOKEN=SECRET)
    try:
        seen = record.read_text()
    finally:
        record.unlink(missing_ok=True)
        interp.unlink()
    assert proc.returncode == 2, proc.stderr  # the kernel cannot run a script as PT_INTERP
    assert f"GATE_HOSTILE_MARK={marker}" in seen  # the script ran, as the program would
    assert SECRET not in seen and "GITHUB_TOKEN" not in seen
    # the marker fixture: its `sleep 300` is gone


# ---------------------------------------------------------------- a crash under load


def test_a_crash_right_after_readiness_fails_the_check_under_load(
    fixtures: Any, marker: str, tmp_path: Path
) -> None:
    """Two busy processes take both cores: the crash 2 ms after readiness is still seen
    (the program wakes at once on the probe's connection; the watch lasts 20 ms)."""
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[startup]\nruns = 10\nwarmup = 0\ncold = false\nready = "tcp:{port}"\n'
        'args = ["{port}", "2"]\n'
    )
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        binary = str(fixtures["rt-ready-crash"].path)
        mark = f"GATE_HOSTILE_MARK={marker}"
        proc, _ = run([*GATE, "check", binary, "--policy", str(policy), "--json", "-",
                       "--env", mark])  # fmt: skip
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    doc = json.loads(proc.stdout)
    (entry,) = doc["binaries"]
    runs = entry["startup"]["runs"]
    assert len(runs) >= 3 and all(not r["ok"] and r["exit_code"] == -11 for r in runs), runs
    assert doc["verdict"] != "pass" and proc.returncode != 0


BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# What a viewer would show reordered ("Trojan Source"): the override makes "LIAF" read FAIL.
BIDI_SAID = "ok \u202eLIAF\u202c \u2066x\u2069 \u061c\u200e\u200f\u202a\u202b\u202d\u2067\u2068"
BIDI_SHOWN = (
    "ok \\u202eLIAF\\u202c \\u2066x\\u2069 \\u061c\\u200e\\u200f\\u202a\\u202b\\u202d\\u2067\\u2068"
)


def test_bidi_controls_a_program_prints_reach_no_report_raw(tmp_path: Path) -> None:
    """Every bidirectional control in a failed run's output is escaped in the log, the
    Markdown and the JSON text (which still reads back as what the program said), and
    replaced in the JUnit XML like the other controls."""
    script = f"import sys; print({BIDI_SAID!r}, file=sys.stderr); sys.exit(3)"
    out = {name: tmp_path / name for name in ("r.json", "j.xml", "m.md")}
    done = subprocess.run(
        [
            *GATE, "check", sys.executable, "--runs", "1", "--warm",
            "--json", str(out["r.json"]), "--junit", str(out["j.xml"]),
            "--markdown", str(out["m.md"]), "--", "-c", script,
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    texts = {"stdout": done.stdout, "stderr": done.stderr}
    texts |= {name: path.read_text(encoding="utf-8") for name, path in out.items()}
    for name, text in texts.items():
        assert not set(text) & set(BIDI), name
    assert f"          | {BIDI_SHOWN}" in done.stdout.splitlines()
    assert f"runs 1/1 failed: exited with status 3: {BIDI_SHOWN}" in done.stderr
    assert BIDI_SHOWN in texts["r.json"]
    assert BIDI_SAID in json.dumps(json.loads(texts["r.json"]), ensure_ascii=False)
    assert "ok \ufffdLIAF\ufffd \ufffdx\ufffd " + "\ufffd" * 8 in texts["j.xml"]
    assert BIDI_SHOWN in texts["m.md"].replace("\\\\", "\\")
