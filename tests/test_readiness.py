"""Readiness mistakes cost seconds, not minutes, and never crash gate (issue 12).

Real programs under the real CLI: daemons that fork before they are ready (C with
fork+setsid, Go by re-executing itself), `/bin/true` waited on as a service, a {port} the
program is never told, a service that crashes once ready, and the program's arguments and
environment from the policy. Every run carries a marker in its environment; afterwards
/proc is scanned for it, so a daemon left behind fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from procscan import marked_processes
from reference import Fixture

from gate.run.ready import ports_named
from gate.run.runner import RunConfig, port_problem, run_once
from gate.run.tree import children
from gate.values.readiness import parse_ready

READY = {
    "tcp": "tcp:{port}",
    "http": "http://127.0.0.1:{port}/healthz",
    "line": "line:READY$",
    "notify": "notify",
}
TIMEOUT_S = 10.0
DAEMON_DELAY_MS = 60  # the forked child gets ready (or dies) this long after the start


@pytest.fixture
def marker() -> Iterator[str]:
    """A marker for the program's environment; nothing carrying it may outlive the test."""
    mark = f"gate-leak-{uuid.uuid4().hex}"
    kids = children(os.getpid())
    yield mark
    leaked = marked_processes(mark)
    for pid in leaked:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    assert leaked == [], f"processes left behind: {leaked}"
    assert children(os.getpid()) - kids == set(), "unreaped children"


def gate(*args: str, cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    """The real CLI, as CI runs it; returns (process, seconds it took)."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "CI": "true"},
    )
    return proc, time.monotonic() - start


def startup(
    binary: Path | str, marker: str, *options: str, program: tuple[str, ...] = ()
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None, float]:
    argv = ["startup", str(binary), "--json", "--env", f"GATE_LEAK_MARK={marker}", *options]
    proc, took = gate(*argv, *(("--", *program) if program else ()))
    doc = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc, doc, took


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _forkd(
    fixtures: Mapping[str, Fixture], impl: str, shape: str, kind: str
) -> tuple[Path, tuple[str, ...]]:
    """The forking daemon in C (fork, setsid, fork) or Go (re-executes itself)."""
    if impl == "c":
        args = (shape, kind, str(DAEMON_DELAY_MS), "{port}")
        return fixtures["rt-forkd"].path, args
    args = ("-shape", shape, "-ready", kind, "-delay", f"{DAEMON_DELAY_MS}ms")
    return fixtures["go1.27-forkd"].path, (*args, "-addr", "127.0.0.1:{port}")


# ---------------------------------------------------------------- daemons that fork


@pytest.mark.parametrize("kind", list(READY))
@pytest.mark.parametrize("impl", ["c", "go"])
def test_a_forked_child_that_gets_ready_is_the_readiness_event(
    fixtures, marker: str, impl: str, kind: str
) -> None:
    """The first process exits 0 at once; its child opening the port, printing the line or
    sending READY=1 is the event, and the time covers it (from the first spawn)."""
    binary, args = _forkd(fixtures, impl, "serve", kind)
    proc, doc, _ = startup(
        binary, marker, "--runs", "3", "--warmup", "0", "--warm", "--ready", READY[kind],
        "--grace", "500ms", program=args,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert doc is not None
    runs = doc["runs"]
    assert [r["ok"] for r in runs] == [True] * 3, runs
    for r in runs:
        assert DAEMON_DELAY_MS <= r["wall_ms"] < DAEMON_DELAY_MS + 500, r
        assert r["exit_code"] == 0  # the first process's own exit, before readiness
    assert "internal error" not in proc.stderr


@pytest.mark.parametrize("kind", list(READY))
@pytest.mark.parametrize("impl", ["c", "go"])
def test_a_forked_child_that_dies_first_fails_at_once(
    fixtures, marker: str, impl: str, kind: str
) -> None:
    """Every process of the daemon is gone before it was ready: a failed start, reported
    as soon as the last one dies, not at the timeout."""
    binary, args = _forkd(fixtures, impl, "die", kind)
    proc, doc, took = startup(
        binary, marker, "--runs", "2", "--warmup", "0", "--warm", "--ready", READY[kind],
        "--timeout", f"{TIMEOUT_S:g}s", program=args,
    )  # fmt: skip
    assert took < TIMEOUT_S / 2, took
    assert proc.returncode == 2, proc.stderr  # every run failed: nothing measured
    assert doc is not None
    for run in doc["runs"]:
        assert not run["ok"]
        assert run["wall_ms"] < 1000, run
        error = run["error"]
        assert error.startswith("exited with status 0 before it was ready ("), error
        assert "a daemon that forks? its children were: " in error, error
        assert "exited with status 1" in error, error  # the child, adopted and reaped by gate
        assert "all of them exited before one was ready" in error, error
        assert "cannot load /etc/forkd.conf" in error, error  # its last words
    last = proc.stderr.splitlines()[-1]
    assert last.startswith(f"gate: error: {binary}: all 2 runs failed; first: exited with")
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_true_waited_on_as_a_service(marker: str) -> None:
    """`gate startup /bin/true --ready tcp:1` used to end in an internal error."""
    proc, doc, took = startup("/bin/true", marker, "--runs", "5", "--ready", "tcp:1")
    assert proc.returncode == 2
    assert took < 5
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("gate: error:")]
    message = (
        "exited with status 0 before it was ready (tcp:127.0.0.1:1); it left no process "
        "running (a program that does its work and exits? use --ready exit)"
    )
    assert errors == [
        f"gate: error: /bin/true: all 2 runs failed (gave up early); first: {message}"
    ]
    assert errors[0] == proc.stderr.splitlines()[-1]
    assert doc is not None and [r["error"] for r in doc["runs"]] == [message] * 2


# ---------------------------------------------------------------- {port} the program never gets


def test_port_in_ready_but_not_passed_is_a_usage_error(fixtures, tmp_path: Path) -> None:
    hang = str(fixtures["rt-hang"].path)  # would wait out the whole timeout if started
    ready = "http://127.0.0.1:{port}/healthz"
    problem = (
        "{port} is in the readiness target but in no argument or --env value; the program "
        "cannot know which port to listen on (pass it, e.g. -- --listen 127.0.0.1:{port})"
    )
    for command in ("startup", "check"):
        proc, took = gate(command, hang, "--ready", ready, "--timeout", "30s", "--", "-v")
        assert took < 1.0, (command, took)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [f"gate: error: --ready {ready}: {problem}"]
    policy = tmp_path / "p.toml"
    policy.write_text('[startup]\nready = "tcp:{port}"\ntimeout = "30s"\n')
    proc, took = gate("check", hang, "--policy", str(policy))
    assert took < 1.0 and proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"gate: error: {policy}: startup.ready 'tcp:{{port}}': {problem}; or set [startup] "
        "args in the policy"
    ]


def test_port_passed_through_env_or_fixed_is_fine(fixtures, marker: str) -> None:
    ready = parse_ready("tcp:{port}")
    assert port_problem(ready, (), {"LISTEN": "127.0.0.1:{port}"}) is None
    assert port_problem(ready, ("--addr=:{port}",), {}) is None
    assert port_problem(parse_ready("tcp:8080"), (), {}) is None
    assert port_problem(parse_ready("notify"), (), {}) is None
    fixed = _free_port()  # a fixed port in --ready and the program's own arguments
    proc, doc, _ = startup(
        fixtures["rt-listen"].path, marker, "--runs", "2", "--warmup", "0", "--warm",
        "--ready", f"tcp:{fixed}", program=("--listen", f"127.0.0.1:{fixed}"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert doc is not None and all(r["ok"] for r in doc["runs"])


def test_a_timeout_says_what_the_program_printed(fixtures, marker: str) -> None:
    elsewhere = _free_port()  # it listens here; gate waits on {port}
    proc, doc, _ = startup(
        fixtures["rt-listen"].path, marker, "--runs", "1", "--warmup", "0", "--warm",
        "--ready", "tcp:{port}", "--timeout", "300ms", "--env", "RT_MODE={port}",
        program=("--listen", f"127.0.0.1:{elsewhere}"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert doc is not None
    (run,) = doc["runs"]
    port = run["port"]
    assert run["error"] == (
        f"not ready (tcp:127.0.0.1:{port}) within 0.3 s (timeout); stopped; last output: "
        f'stdout "listening on 127.0.0.1:{elsewhere}"; it names port {elsewhere} but gate '
        f"waited on {port} (pass {{port}} to the program, e.g. -- --listen 127.0.0.1:{{port}})"
    )


def test_a_log_timestamp_is_not_a_port(marker: str) -> None:
    """`22:41:03.099` is a time and `main.go:42` a file and line: no port hint for them
    (it read "it names port 03, 41, 42"); a real HOST:PORT beside them is still named."""
    logged = "22:41:03.099 INFO server/main.go:42 starting up"
    proc, doc, _ = startup(
        "/bin/sh", marker, "--runs", "1", "--warmup", "0", "--warm", "--ready", "tcp:{port}",
        "--timeout", "300ms", program=("-c", f'echo "{logged}"; exec sleep 5', "sh", "{port}"),
    )  # fmt: skip
    assert proc.returncode == 2
    assert doc is not None
    (run,) = doc["runs"]
    assert run["error"] == (
        f"not ready (tcp:127.0.0.1:{run['port']}) within 0.3 s (timeout); stopped; last output: "
        f'stdout "{logged}"'
    )
    elsewhere = _free_port()
    said = f"2026/12/06 22:41:03 main.go:42: listening on [::]:{elsewhere}"
    proc, doc, _ = startup(
        "/bin/sh", marker, "--runs", "1", "--warmup", "0", "--warm", "--ready", "tcp:{port}",
        "--timeout", "300ms", program=("-c", f'echo "{said}"; exec sleep 5', "sh", "{port}"),
    )  # fmt: skip
    assert doc is not None
    (run,) = doc["runs"]
    assert run["error"].endswith(
        f"; it names port {elsewhere} but gate waited on {run['port']} (pass {{port}} to the "
        "program, e.g. -- --listen 127.0.0.1:{port})"
    ), run["error"]


@pytest.mark.parametrize(
    ("line", "ports"),
    [
        ("22:41:03.099 starting", []),
        ("2026-12-06T22:41:03.099Z\tINFO\tserver/main.go:42\tlistening on :8080", ["8080"]),
        ('time="2026-12-06T22:41:03Z" level=info msg="serving on 0.0.0.0:9090"', ["9090"]),
        ("[2026-12-06 22:41:03,099] Listening at: http://127.0.0.1:8000 (41)", ["8000"]),
        ("listening on port 5432, up 10:05", ["5432"]),
        ("caddy: serving https://localhost:2019/, db-1:5432", ["2019", "5432"]),
        ("version 1.22:3, main.c:120: warning", []),
        ("bad port: 99999, port 0080", []),
    ],
)
def test_ports_named_in_output(line: str, ports: list[str]) -> None:
    assert ports_named(line) == ports


def test_a_timed_out_program_is_not_a_leftover(fixtures, marker: str, tmp_path: Path) -> None:
    """The program itself, killed at the timeout, is no leftover (two starts of rt-hang
    read "stopped 2 leftover processes"); a process it forked is, exactly once per start."""
    out = tmp_path / "hang.json"
    proc, _ = gate(
        "startup", str(fixtures["rt-hang"].path), "--runs", "2", "--warmup", "0", "--warm",
        "--timeout", "200ms", "--grace", "100ms", "--env", f"GATE_LEAK_MARK={marker}",
        f"--json={out}",
    )  # fmt: skip
    assert proc.returncode == 2
    assert [r["stopped"] for r in json.loads(out.read_text())["runs"]] == [0, 0]
    assert "leftover" not in proc.stdout, proc.stdout
    out = tmp_path / "forks.json"
    proc, _ = gate(
        "startup", "/bin/sh", "--runs", "2", "--warmup", "0", "--warm", "--timeout", "300ms",
        "--grace", "100ms", "--env", f"GATE_LEAK_MARK={marker}", f"--json={out}",
        "--", "-c", "sleep 30 & exec sleep 30",
    )  # fmt: skip
    assert proc.returncode == 2
    assert [r["stopped"] for r in json.loads(out.read_text())["runs"]] == [1, 1]
    assert "  stopped  2 leftover processes (daemons or children) after runs" in proc.stdout
    out = tmp_path / "daemon.json"
    proc, _ = gate(
        "startup", str(fixtures["rt-daemon"].path), "--runs", "1", "--warmup", "0", "--warm",
        "--grace", "100ms", "--env", f"GATE_LEAK_MARK={marker}", f"--json={out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [r["stopped"] for r in json.loads(out.read_text())["runs"]] == [1]
    assert "  stopped  1 leftover process (daemons or children) after runs" in proc.stdout


# ---------------------------------------------------------------- crashes after readiness


def _after_ready_ms(error: str) -> float:
    m = re.search(r" ([\d.]+) ms after it was ready", error)
    assert m, error
    return float(m.group(1))


def test_a_crash_2ms_after_readiness_fails_the_run(fixtures, marker: str) -> None:
    proc, doc, _ = startup(
        fixtures["rt-ready-crash"].path, marker, "--runs", "3", "--warmup", "0", "--warm",
        "--ready", "tcp:{port}", program=("{port}", "2"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr  # no start succeeded
    assert doc is not None
    for run in doc["runs"]:
        assert not run["ok"] and run["exit_code"] == -11
        assert run["error"].startswith("crashed "), run["error"]
        assert "ms after it was ready: killed by SIGSEGV (segmentation fault)" in run["error"]
        # ~2 ms idle. Only the window bounds it whatever the load: gate may see readiness
        # late (its probe waits for the CPU too), which eats into the 2 ms (0.1 ms was seen
        # with two busy loops on 2 cores), and a crash after the 20 ms watch is not one.
        assert 0.0 <= _after_ready_ms(run["error"]) < 20.0, run["error"]
        assert run["wall_ms"] < 500  # spawn -> ready; the watch after it is not timed
        assert "rt-ready-crash: about to fail" in run["stderr_tail"]


def test_a_crash_on_gates_sigterm_fails_the_run(fixtures, marker: str) -> None:
    proc, doc, _ = startup(
        fixtures["rt-ready-crash"].path, marker, "--runs", "2", "--warmup", "0", "--warm",
        "--ready", "tcp:{port}", program=("{port}", "term"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert doc is not None
    for run in doc["runs"]:
        assert run["exit_code"] == -11
        assert run["error"].startswith("crashed when gate stopped it, "), run["error"]
        assert run["error"].endswith(
            "ms after it was ready: killed by SIGSEGV (segmentation fault): "
            "rt-ready-crash: about to fail"
        )


def test_the_watch_after_readiness_is_not_timed(fixtures, marker: str) -> None:
    """wall_ms ends at readiness however long gate watches after it."""
    cfg = RunConfig(
        str(fixtures["rt-readyline"].path),
        args=("30",),
        cold=False,
        ready=parse_ready("line:READY"),
        env={"GATE_LEAK_MARK": marker},
        post_ready_s=0.3,
    )
    start = time.monotonic()
    sample, _ = run_once(cfg)
    took = time.monotonic() - start
    assert sample.ok and sample.exit_code == -15, sample
    # A delay can only get longer, so 30 ms is exact. Not timing the watch is shown by what
    # load cannot change: the watch lasts 300 ms after readiness, so an untimed watch
    # leaves at least 300 ms between wall_ms and the whole call; a timed one would leave
    # none (a fixed "< 40 ms" failed at 40.1 under two busy loops on 2 cores).
    assert 30 <= sample.wall_ms <= took * 1e3 - 300, (sample.wall_ms, took)
    assert took >= 0.33


# ---------------------------------------------------------------- failed runs' output, everywhere


def test_failed_runs_show_the_programs_output_in_every_report(
    fixtures, marker: str, tmp_path: Path
) -> None:
    import junitparser
    from markdown_it import MarkdownIt

    binary, args = _forkd(fixtures, "c", "die", "tcp")
    junit, markdown = tmp_path / "r.xml", tmp_path / "r.md"
    proc, _ = gate(
        "check", str(binary), "--runs", "2", "--warm", "--ready", "tcp:{port}",
        "--env", f"GATE_LEAK_MARK={marker}", "--junit", str(junit), "--markdown", str(markdown),
        "--", *args,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    said = "rt-forkd: cannot load /etc/forkd.conf"
    # text: under the failed check, the last lines of the program's stderr
    lines = proc.stdout.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("  FAIL  startup.runs "))
    assert lines[at + 1 : at + 3] == ["        stderr of run 1, last lines:", f"          | {said}"]
    # JUnit: the failure of startup.runs carries the errors and the output
    xml = junitparser.JUnitXml.fromfile(str(junit))
    (suite,) = list(xml)
    case = next(c for c in suite if c.name == "startup.runs")
    (failure,) = case.result
    assert isinstance(failure, junitparser.Failure)
    assert "exited with status 0 before it was ready" in failure.message
    assert "failed start-up runs: 2 of 2" in failure.text
    assert f"    | {said}" in failure.text.splitlines()
    # Markdown: a fenced block with the stderr of the first failed run
    tokens = MarkdownIt("commonmark").parse(markdown.read_text())
    fences = [t.content for t in tokens if t.type == "fence" and t.info == "text"]
    assert any(said in f.splitlines() for f in fences), fences


def test_a_failed_runs_output_is_bounded_and_inert(marker: str) -> None:
    """Thousands of lines and terminal escapes: the log shows the last 10 lines, escaped."""
    script = (
        "import sys\n"
        "for i in range(5000): print(f'line {i}', file=sys.stderr)\n"
        "print('\\x1b[2Jgone', file=sys.stderr); sys.exit(3)"
    )
    proc, _ = gate(
        "startup", sys.executable, "--runs", "1", "--warmup", "0", "--warm",
        "--env", f"GATE_LEAK_MARK={marker}", "--", "-c", script,
    )  # fmt: skip
    assert proc.returncode == 2
    out = proc.stdout.splitlines()
    at = out.index("           stderr of run 1, last lines:")
    shown = out[at + 1 :]
    assert [ln.removeprefix("             | ") for ln in shown] == [
        *(f"line {i}" for i in range(4991, 5000)),
        "\\x1b[2Jgone",
    ]
    assert "\x1b" not in proc.stdout + proc.stderr


# ---------------------------------------------------------------- args and env from the policy


def _records(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    return [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", ln) for ln in text.splitlines()]


def test_gate_check_takes_args_and_env_from_the_policy(
    fixtures, marker: str, tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        "[startup]\n"
        "runs = 2\nwarmup = 0\ncold = false\n"
        'ready = "tcp:{port}"\n'
        'args = ["--listen", "127.0.0.1:{port}", "from-policy"]\n'
        'env = { GOMAXPROCS = "1", RT_MODE = "policy" }\n'
        '\n[binary."svc-*".startup]\n'
        'args = ["--listen", "127.0.0.1:{port}", "from-override"]\n'
    )
    listen = fixtures["rt-listen"].path
    svc = tmp_path / "svc-a"
    svc.write_bytes(listen.read_bytes())
    svc.chmod(0o755)
    record = tmp_path / "seen.txt"
    common = ("--policy", str(policy), "--env", f"GATE_LEAK_MARK={marker}",
              "--env", f"RT_RECORD={record}")  # fmt: skip

    proc, _ = gate("check", str(listen), *common)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        _records(record)
        == ["args=--listen 127.0.0.1:PORT from-policy GOMAXPROCS=1 RT_MODE=policy"] * 2
    )
    ports = re.findall(r"127\.0\.0\.1:(\d+)", record.read_text())
    assert len(set(ports)) == 2  # {port} filled, a fresh one per start

    record.unlink()  # the command line's arguments replace the policy's; --env merges over it
    proc, _ = gate(
        "check", str(listen), *common, "--env", "RT_MODE=cli",
        "--", "--listen", "127.0.0.1:{port}", "from-cli",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        _records(record) == ["args=--listen 127.0.0.1:PORT from-cli GOMAXPROCS=1 RT_MODE=cli"] * 2
    )

    record.unlink()  # a per-binary override
    proc, _ = gate("check", str(svc), *common)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        _records(record)
        == ["args=--listen 127.0.0.1:PORT from-override GOMAXPROCS=1 RT_MODE=policy"] * 2
    )


def test_policy_args_and_env_validate_and_show(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        '[startup]\nargs = ["--listen", "127.0.0.1:{port}", ""]\n'
        'env = { GOMAXPROCS = "1", value = "not a severity" }\n'
        '[binary."svc-*".startup]\nargs = ["-v"]\n'
    )
    proc, _ = gate("policy", "validate", str(good))
    assert proc.returncode == 0, proc.stderr
    proc, _ = gate("policy", "show", str(good))
    assert proc.returncode == 0, proc.stderr
    assert "#   startup.args = ['--listen', '127.0.0.1:{port}', '']" in proc.stdout
    assert "#   startup.env = {'GOMAXPROCS': '1', 'value': 'not a severity'}" in proc.stdout
    assert "#   binary 'svc-*': startup.args = ['-v']" in proc.stdout
    cases = {
        'args = "--listen"': 'startup.args: expected a list of strings like ["--listen", '
        "\"127.0.0.1:{port}\"], got '--listen'",
        'args = ["-p", 8080]': "startup.args: [1]: expected a string, got 8080 (quote it: '8080')",
        "env = { GOMAXPROCS = 1 }": "startup.env: GOMAXPROCS: expected a string, got 1 (quote "
        "it: '1')",
        'env = ["A=1"]': "startup.env: expected a table like { GOMAXPROCS = \"1\" }, got ['A=1']",
        'env = { "A=B" = "1" }': "startup.env: 'A=B': not an environment variable name",
        'args = { value = ["-v"], severity = "warn" }': "startup.args: a setting takes a plain "
        "value, not a severity",
    }
    for body, fragment in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(f"[startup]\n{body}\n")
        proc, _ = gate("policy", "validate", str(bad))
        assert proc.returncode == 2, body
        (line,) = proc.stderr.splitlines()
        assert line.startswith(f"gate: error: {bad}: startup.") and fragment in line, line


def _cpu_s(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run `argv`; its CPU time (user + system, its children included) and wall time."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def test_waiting_for_a_port_does_not_take_a_core(fixtures) -> None:
    """A tcp probe polls; waiting longer for a port that never opens may cost a few
    percent of a core, not the 22% (idle) to 80% (loaded) a fixed 0.1 ms interval cost.
    Per second of waiting, measured: a cold start with no warm-up waits twice (an untimed
    start learns what the program maps), and both waits poll."""
    hang = str(fixtures["rt-hang"].path)

    def wait(timeout: str) -> tuple[float, float]:
        proc, cpu, wall = _cpu_s([sys.executable, "-m", "gate", "startup", hang, "--runs", "1",
                                  "--warmup", "0", "--timeout", timeout, "--ready", "tcp:{port}",
                                  "--env", "PORT={port}"])  # fmt: skip
        assert proc.returncode == 2 and "not ready" in proc.stderr + proc.stdout, proc.stderr
        return cpu, wall

    # The least of two of each: CPU time only grows with other load on the machine.
    short = min(wait("0.3s") for _ in range(2))
    long = min(wait("6.3s") for _ in range(2))
    waited = long[1] - short[1]
    assert waited > 11.5, (short, long)  # two waits, 6 s longer each
    per_second = (long[0] - short[0]) / waited
    # Measured idle: 0.06-0.08 (tries 0.06, the guard's wake-ups 0.01); 0.22 with 0.1 ms tries.
    assert per_second < 0.12, (short, long)
