"""gate/startup_command.py: `gate startup` takes what its command line leaves out from the
built-in default policy (policy.startup_default), the one place such defaults live."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from gate.judge import policy
from gate.startup_command import StartupRequest, run_startup

DEFAULT_TOML = Path(__file__).resolve().parent.parent / "policies" / "default.toml"


def test_the_defaults_are_the_default_policy_s() -> None:
    startup = tomllib.loads(DEFAULT_TOML.read_text())["startup"]
    assert policy.startup_default("runs") == startup["runs"]
    assert policy.startup_default("warmup") == startup["warmup"]
    assert policy.startup_default("cold") == startup["cold"]
    assert policy.startup_default("timeout") == 1000 * float(startup["timeout"].removesuffix("s"))
    assert policy.startup_default("no such setting") is None


def test_gate_startup_follows_the_default_policy(
    fixtures: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another default policy, another run: nothing in the command's code decides."""
    changed = {"runs": 3, "warmup": 0, "timeout": 4_000.0, "cold": True}
    monkeypatch.setattr(policy, "_builtin_startup", lambda: changed)
    outcome = run_startup(StartupRequest(str(fixtures["rt-noop"].path)))
    result = outcome.result
    assert (result.requested, result.warmup, result.timeout_s) == (3, 0, 4.0)
    assert len(result.runs) == 3 and all(r.ok for r in result.runs)
    given = run_startup(StartupRequest(str(fixtures["rt-noop"].path), runs=2, warmup=1))
    assert (given.result.requested, given.result.warmup) == (2, 1)
