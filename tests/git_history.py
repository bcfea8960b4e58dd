"""A real git repository for the merge-base tests, and baseline documents made at its commits.

    m1 - m2 - m3 - m4 - m5 - m6      main
                \\
                 f1 - f2             feature (a pull/merge request into main)

The merge base of feature and main is m3. FakeForge answers GitHub's compare and commits and
GitLab's repository/commits from this repository with git itself (merge-base, rev-list), so
what is tested is gate's walk over a real history, not over a list the test wrote.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ci import unavailable

MAIN = ("m1", "m2", "m3", "m4", "m5", "m6")
FEATURE = ("f1", "f2")
FORK_POINT = "m3"


def make_history(root: Path) -> dict[str, str]:
    """{commit name: sha} of the history above, built in `root` with fixed dates."""
    if shutil.which("git") is None:
        unavailable("git not on PATH (the merge-base tests build a real repository)")
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "gate tests",
        "GIT_AUTHOR_EMAIL": "tests@example.invalid",
        "GIT_COMMITTER_NAME": "gate tests",
        "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    }

    def git(*args: str, when: int = 0) -> str:
        stamp = {"GIT_AUTHOR_DATE": f"@{1_700_000_000 + when * 60} +0000"}
        stamp["GIT_COMMITTER_DATE"] = stamp["GIT_AUTHOR_DATE"]
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            env={**env, **stamp},
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout.strip()

    git("init", "-q", "-b", "main")
    shas: dict[str, str] = {}
    order = [*MAIN[:3], *FEATURE, *MAIN[3:]]
    for when, name in enumerate(order):
        if name == FEATURE[0]:
            git("checkout", "-q", "-b", "feature")
        if name == MAIN[3]:
            git("checkout", "-q", "main")
        git("commit", "-q", "--allow-empty", "-m", name, when=when)
        shas[name] = git("rev-parse", "HEAD")
    assert git("merge-base", shas["f2"], shas["m6"]) == shas[FORK_POINT]
    return shas


def results_at(doc: dict[str, Any], commit: str, file_size: int) -> bytes:
    """`doc` (a real gate/results/v1) as if measured at `commit` on a binary of `file_size`
    bytes: which baseline was used shows in the size.max_growth it gives."""
    copied = copy.deepcopy(doc)
    copied["commit"] = commit
    copied["binaries"][0]["facts"]["file_size"] = file_size
    return json.dumps(copied).encode()


def growth(old: int, new: int) -> float:
    """size.max_growth's measured value, computed here from the two sizes."""
    return round((new - old) / old * 100, 3)
