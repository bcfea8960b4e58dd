"""Whether the tests run in CI, and the one way a missing tool or privilege is handled there.

Locally a test whose tool is missing skips with the reason; in CI (`CI` set, as `.ci/run`
and every CI system set it) it fails, so CI can never go green by silently testing less.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(why: str) -> NoReturn:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"{why} (in CI every test must run)", pytrace=False)
    pytest.skip(why)


def slowdown() -> float:
    """How much slower than this machine the tests run: GATE_TEST_SLOWDOWN, set by the VM
    tier (tests/test_cgroup_v2.py) for its emulated guest, where a start takes 5-20x its
    time here. Time bounds that hold a test to gate's speed scale by it; 1 elsewhere."""
    try:
        return max(1.0, float(os.environ.get("GATE_TEST_SLOWDOWN", "1")))
    except ValueError:
        return 1.0
