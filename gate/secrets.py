"""The CI's credentials: out of reach of the program under test.

gate runs code from the change under review in a job that holds tokens (GitHub's, a
GitLab job token). The program never gets them in its environment (child_environ),
but it could still read gate's: `/proc/$PPID/environ` is readable by any process of
the same user, and it shows the environment gate was *started* with, whatever
os.environ says later. So, when gate starts as a command (never on import, so a test
or a library caller keeps its own process as it was), withhold():

- takes the credential variables out of os.environ into a private table that only
  environ() hands out, to the code that talks to the forge APIs;
- overwrites their bytes in the process's original environment block, so
  /proc/<gate>/environ no longer holds them even for a reader allowed to look;
- marks gate not dumpable (PR_SET_DUMPABLE 0): a non-root child can then neither
  read gate's /proc files that need ptrace access (environ, mem) nor ptrace it.

A program running as root can still read gate's memory (CAP_SYS_PTRACE); only running
the job as a normal user protects the tokens from the code under test (the README says so).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Mapping

# Credentials gate itself may use (comments, baselines) but the program under test has no
# business with: it is the change being judged. `--env` can still pass one on purpose.
CI_SECRETS = frozenset(
    {
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "CI_JOB_TOKEN",
        "CI_JOB_JWT",
        "CI_JOB_JWT_V2",
        "CI_REGISTRY_PASSWORD",
        "CI_DEPLOY_PASSWORD",
        "CI_DEPENDENCY_PROXY_PASSWORD",
        "GATE_GITLAB_TOKEN",
        "GITLAB_TOKEN",
    }
)

_PR_SET_DUMPABLE = 4
_ENV_START_FIELD = 50  # /proc/<pid>/stat, 1-based (proc(5)): env_start, then env_end
_held: dict[str, str] = {}


def environ() -> dict[str, str]:
    """gate's environment with the credentials it withheld: for the forge API clients."""
    return {**os.environ, **_held}


def child_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """An environment less the CI's credentials: what a started program gets."""
    return {k: v for k, v in environ.items() if k not in CI_SECRETS}


def withhold() -> None:
    """Move the credentials out of the environment and out of /proc's view (see above)."""
    names = [name for name in CI_SECRETS if name in os.environ]
    for name in names:
        _held[name] = os.environ.pop(name)  # unsetenv: libc's environ forgets it too
    if names:
        _scrub_original_block(names)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _scrub_original_block(names: list[str]) -> None:
    """Zero `NAME=value` in the environment block the kernel shows as /proc/self/environ.

    The block lives on gate's own stack (env_start..env_end in /proc/self/stat); after
    unsetenv nothing points into those entries any more, so overwriting them is safe.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rfind(b")") + 2 :].split()
        start, end = (int(fields[_ENV_START_FIELD - 3 + i]) for i in (0, 1))
    except (OSError, ValueError, IndexError):
        return
    if not 0 < start < end or end - start > 1 << 24:
        return
    block = ctypes.string_at(start, end - start)
    wanted = tuple(name.encode() + b"=" for name in names)
    offset = 0
    for entry in block.split(b"\0"):
        if entry.startswith(wanted):
            ctypes.memset(start + offset, 0, len(entry))
        offset += len(entry) + 1
