"""Policies: the built-ins, and every way a policy file can be wrong (one line, exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gate.judge.policy import PolicyError, builtin_names, load_policy


def run_gate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_builtins() -> None:
    assert builtin_names() == ["default", "hardened", "lambda-128mb", "serverless"]
    s = load_policy("serverless")
    assert s.name == "serverless"
    assert s.sources == ("builtin:serverless", "builtin:default")
    r = s.rules
    assert r["size.max_file"].value == 8_500_000 and r["size.max_file"].text == "8.5 MB"
    assert r["startup.p95"].value == 320.0
    assert r["elf.stripped"].value is True and r["elf.debug_info"].value is False
    assert r["go.ldflags_contain"].value == ["-s", "-w"]
    assert r["elf.nx"].value is True  # inherited from default
    assert r["startup.runs"].value == 20  # overrides default's 10
    h = load_policy("hardened")
    assert h.rules["elf.fortify"].severity == "warn"
    assert h.rules["elf.relro"].value == "full"


def test_every_builtin_validates_through_the_cli() -> None:
    for name in builtin_names():
        proc = run_gate("policy", "validate", name)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"{name}: ok: policy {name!r}")
    proc = run_gate("policy", "list")
    assert [line.split()[0] for line in proc.stdout.splitlines()] == builtin_names()


def test_show_prints_the_file_and_what_is_in_force() -> None:
    proc = run_gate("policy", "show", "serverless")
    assert proc.returncode == 0
    assert 'max_file = "8.5 MB"' in proc.stdout
    assert "#   elf.nx = True" in proc.stdout  # from default, through extends


def test_extends_overrides_and_severity(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text('[size]\nmax_file = "10 MB"\n[elf]\nnx = true\n')
    (tmp_path / "team.toml").write_text(
        '[policy]\nname = "team"\nextends = "base.toml"\n'
        '[size]\nmax_file = "8.5 MiB"\n'
        '[startup]\nseverity = "warn"\np95 = "320ms"\np99 = { value = "1s", severity = "error" }\n'
        '[binary."svc-*".size]\nmax_file = "20 MB"\n'
    )
    p = load_policy(str(tmp_path / "team.toml"))
    assert p.name == "team"
    assert p.rules["size.max_file"].value == 8_912_896
    assert p.rules["elf.nx"].value is True
    assert p.rules["startup.p95"].severity == "warn"
    assert p.rules["startup.p99"].severity == "error" and p.rules["startup.p99"].value == 1000.0
    assert p.for_binary("build/svc-api")["size.max_file"].value == 20_000_000
    assert p.for_binary("build/worker")["size.max_file"].value == 8_912_896


BAD = {
    "not-toml": ("[size\nmax_file = 1\n", "not valid TOML"),
    "unknown-key": (
        '[size]\nmax_flie = "1 MB"\n',
        "size.max_flie: unknown key; did you mean max_file?",
    ),
    "unknown-section": (
        '[sizes]\nmax_file = "1 MB"\n',
        "sizes: unknown section; did you mean size?",
    ),
    "wrong-type": (
        '[startup]\np95 = "fast"\n',
        'startup.p95: expected a duration like "320ms" or "1.5s", got \'fast\'',
    ),
    "bare-number": ("[startup]\np95 = 320\n", "startup.p95: expected a duration"),
    "negative-size": ('[size]\nmax_file = "-1 MB"\n', "size.max_file: a size cannot be negative"),
    "percent-over-100": (
        '[size]\nmax_growth = "150%"\n',
        "size.max_growth: expected a percentage between 0% and 100%",
    ),
    "bad-bool": ('[elf]\nstripped = "yes"\n', "elf.stripped: expected true or false, got 'yes'"),
    "bad-type": ('[elf]\ntypes = ["exe"]\n', "elf.types: expected a list of exec, pie"),
    "bad-severity": (
        '[startup]\np95 = { value = "1s", severity = "fatal" }\n',
        'startup.p95.severity: expected "error" or "warn", got \'fatal\'',
    ),
    "severity-on-setting": (
        '[startup]\nruns = { value = 5, severity = "warn" }\n',
        "startup.runs: a setting takes a plain value",
    ),
    "bad-runs": ("[startup]\nruns = 0\n", "startup.runs: expected a whole number >= 1, got 0"),
    "bad-ready": ('[startup]\nready = "smoke"\n', "startup.ready: expected exit, notify"),
    "missing-extends": (
        '[policy]\nextends = "nope.toml"\n',
        "policy.extends: nope.toml: no such policy file or built-in policy",
    ),
    "bad-override": (
        '[binary."svc-*".size]\nmax_file = "big"\n',
        'binary."svc-*".size.max_file: expected a size',
    ),
    "not-utf8": (b"\xff\xfe[size]\n", "not a text file"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_policies_one_line_exit_2(tmp_path: Path, case: str) -> None:
    content, expected = BAD[case]
    path = tmp_path / "policy.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(PolicyError) as exc:
        load_policy(str(path))
    assert expected in str(exc.value)
    assert str(exc.value).startswith(str(path))
    proc = run_gate("policy", "validate", str(path))
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line == f"gate: error: {exc.value}"


def test_extends_cycle_and_missing(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[policy]\nextends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('[policy]\nextends = "a.toml"\n')
    with pytest.raises(PolicyError, match=r"policy.extends: cycle: a.toml -> b.toml -> a.toml"):
        load_policy(str(tmp_path / "a.toml"))
    for spec, fragment in (
        (str(tmp_path / "missing.toml"), "no such policy file"),
        (str(tmp_path), "is a directory"),
    ):
        proc = run_gate("policy", "validate", spec)
        assert proc.returncode == 2 and fragment in proc.stderr
        assert len(proc.stderr.splitlines()) == 1


ABSURD = {
    "size-exponent": ('[size]\nmax_file = "1e5000"\n',
                      "size.max_file: '1e5000' is out of range: a size is a whole number of "
                      "bytes, at most 1 EiB"),
    "size-huge-exponent": ('[size]\nmax_file = "1e999999999 MB"\n',
                           "size.max_file: '1e999999999 MB' is out of range"),
    "section-huge": ('[size]\nmax_section = { ".text" = "1e999999999 MB" }\n',
                     "size.max_section: ['.text']: '1e999999999 MB' is out of range"),
    "size-float-inf": ("[size]\nmax_file = 1e5000\n",
                       'size.max_file: expected a size like "8.5 MB", got inf'),
    "p95-400-digit-string": (f'[startup]\np95 = "{"1" * 400} ms"\n',
                             "startup.p95: '11111111111111111111111111111… (405 characters) is "
                             "out of range: a duration is at most 1 h"),
    "p95-400-digit-number": (f"[startup]\np95 = {'1' * 400}\n",
                             'startup.p95: expected a duration like "320ms" or "1.5s", got '
                             "111111111111111111111111111111… (400 characters)"),
    "p95-5000-digit-number": (f"[startup]\np95 = {'1' * 5000}\n",
                              "not valid TOML: Exceeds the limit (4300 digits)"),
    "timeout-600h": ('[startup]\ntimeout = "600h"\n',
                     "startup.timeout: '600h' is longer than 1 h, the longest duration gate "
                     "accepts"),
    "runs-huge": ("[startup]\nruns = 100000000000000000000\n",
                  "startup.runs: 100000000000000000000 is more than 10000, the most gate allows"),
    "growth-400-digits": (f'[size]\nmax_growth = "{"9" * 400}%"\n',
                          "size.max_growth: '99999999999999999999999999999… (403 characters) "
                          "is out of range"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(ABSURD))
def test_absurd_values_are_one_line_within_100_ms(tmp_path: Path, case: str) -> None:
    import time

    content, expected = ABSURD[case]
    path = tmp_path / "policy.toml"
    path.write_text(content)
    start = time.perf_counter()
    with pytest.raises(PolicyError) as exc:
        load_policy(str(path))
    assert time.perf_counter() - start < 0.1
    message = str(exc.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message and len(message) < 300


def test_timeout_option_beyond_an_hour(tmp_path: Path) -> None:
    for args in (("check", "/bin/true", "--timeout", "600h"),
                 ("startup", "/bin/true", "--timeout", "600h"),
                 ("startup", "/bin/true", "--grace", "2h")):  # fmt: skip
        proc = run_gate(*args)
        assert proc.returncode == 2
        option, text = args[2:]
        assert proc.stderr == (
            f"gate: error: {option}: '{text}' is longer than 1 h, the longest duration gate "
            "accepts (for a timeout or a start-up limit)\n"
        )
