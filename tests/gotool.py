"""How the tests and benchmarks run a Go toolchain, and where built fixtures are cached.

Shared by tests/conftest.py (the fixtures), tests/monorepo.py (the generated monorepo,
which benchmarks import without pytest's conftest) and so defined once.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Where built fixtures live: $GATE_FIXTURE_CACHE, else the user's cache directory."""
    explicit = os.environ.get("GATE_FIXTURE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(xdg).expanduser() / "gate-test-fixtures"


def go_env(root: Path, label: str, go: Path, goroot: Path | None) -> dict[str, str]:
    """Full environment for one Go toolchain: the user's env minus any GO*/CGO_*
    settings (so a developer's GOFLAGS etc. cannot leak in), offline, caches
    under the fixture root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_"))}
    env.update(
        GO111MODULE="on",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOSUMDB="off",
        GOTOOLCHAIN="local",
        GOENV="off",
        GOCACHE=str(root / "go-build" / label),
        GOPATH=str(root / "gopath"),
        # The toolchain's own bin first: PATH may hold a shim for another go.
        PATH=os.pathsep.join([str(go.parent), env.get("PATH", os.defpath)]),
        LC_ALL="C",
    )
    if goroot is not None:
        env["GOROOT"] = str(goroot)
    return env
