"""Every message names its subject (issue: "Right where users look", part 5): the small
ones a new user trips over, each run through the real command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reference import Fixture

Fixtures = dict[str, Fixture]


def gate(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", *map(str, args)], capture_output=True, text=True,
        timeout=60, **kw,  # type: ignore[call-overload]
    )  # fmt: skip
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    return proc


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gate: error: "), proc.stderr
    return lines[0].removeprefix("gate: error: ")


def test_a_bad_timeout_names_the_option(fixtures: Fixtures) -> None:
    proc = gate("startup", fixtures["rt-noop"].path, "--timeout", "5")
    assert proc.returncode == 2
    assert one_error(proc).startswith("--timeout: ")


def test_report_of_a_missing_file_does_not_call_it_a_baseline(tmp_path: Path) -> None:
    proc = gate("report", tmp_path / "nope.json")
    assert proc.returncode == 2
    assert one_error(proc) == f"{tmp_path / 'nope.json'}: no such file"


def test_an_unjudgeable_binary_is_said_once_where_both_streams_meet(tmp_path: Path) -> None:
    """stdout and stderr into one log (a terminal, a CI job): the error line once; split
    apart, the report on stdout and the one line on stderr."""
    missing = tmp_path / "missing"
    log = tmp_path / "log"
    with log.open("w") as out:
        proc = subprocess.run([sys.executable, "-m", "gate", "check", str(missing), "--no-startup"],
                              stdout=out, stderr=out, timeout=60)  # fmt: skip
    assert proc.returncode == 2
    assert log.read_text().count("no such file") == 1, log.read_text()
    proc = gate("check", missing, "--no-startup")
    assert one_error(proc) == f"{missing}: no such file"
    assert f"{missing}: ERROR: {missing}: no such file" in proc.stdout


def test_policy_validate_counts_in_words(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[size]\nmax_file = "8 MB"\n[startup]\nruns = 5\n')
    proc = gate("policy", "validate", policy)
    assert proc.returncode == 0
    assert f"{policy}: ok: policy 'p', 1 check, 0 per-binary overrides" in proc.stdout


def test_elf_types_in_any_case(fixtures: Fixtures, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[elf]\ntypes = ["PIE", "Static-PIE"]\n')
    ok = gate("check", fixtures["c-pie"].path, "--no-startup", "--policy", policy)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ELF type pie (allowed: pie, static-pie)" in ok.stdout
    bad = gate("check", fixtures["c-nopie"].path, "--no-startup", "--policy", policy)
    assert bad.returncode == 1
    policy.write_text('[elf]\ntypes = ["PIEE"]\n')
    wrong = gate("policy", "validate", policy)
    assert wrong.returncode == 2 and "'PIEE' is not one" in one_error(wrong)


def test_program_arguments_need_the_double_dash(fixtures: Fixtures) -> None:
    noop = fixtures["rt-noop"].path
    proc = gate("startup", noop, "extra")
    assert proc.returncode == 2
    assert one_error(proc) == (
        f"extra: arguments for the program go after --: gate startup {noop} -- extra"
    )
    assert gate("startup", noop, "--runs", "2", "--", "extra").returncode == 0


def test_help_lists_every_command_uncut() -> None:
    proc = gate("--help")
    commands = proc.stdout.split("Commands:")[1]
    assert "..." not in commands, commands
    assert "size     Where the bytes are; with --against, what grew." in commands


def test_ctrl_c_during_runs_says_so_and_stops_the_program(fixtures: Fixtures) -> None:
    """SIGINT while a program runs: one line that says what happened, exit 130 (not
    click's "Aborted!" and exit 1, which a CI would read as a failed check), nothing left."""
    hang = fixtures["rt-hang"].path
    proc = subprocess.Popen(
        [sys.executable, "-m", "gate", "startup", str(hang), "--timeout", "30s", "--runs", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not _running(hang):
        time.sleep(0.05)
    assert _running(hang)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == (
        "gate: error: interrupted by SIGINT; stopped the program under test"
    )
    assert not _running(hang)


def _running(path: Path) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/exe") == str(path):
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in "ZX":
                        return True
        except OSError:
            continue
    return False
