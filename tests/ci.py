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
