"""Structural ELF fuzzing: gate on hundreds of mutated real binaries (issue 14, Hostile binaries).

Every named mutation of tests/elf_mutants.py is applied (with its own seed) to each source:
Go 1.19 and current Go builds (stripped, with symbols, PIE, without section headers, ELF32,
big-endian ELF32 and ELF64), C builds and system binaries (/bin/ls, libc). Each mutant goes
through `gate inspect --json`, `gate size --by package|symbol|section` and `gate check
--no-startup` in a fork server (gate imported once, a child per command). For every run:
exit code 0, 1 or 2; no traceback, no internal error; on exit 2, one error line naming the
file; CPU time under 2 s; peak RSS (the child's VmHWM) within 2 x the file + 100 MB. The
mutants are corrupt, so nothing is compared with readelf: the assertions are robustness.

GATE_FUZZ_SEED=N varies the mutants (default 14); a failure names the source, the mutation
and its seed, which `elf_mutants.mutant()` turns back into the same bytes.
"""

from __future__ import annotations

import os
import random
import sys
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import elf_mutants as em
import gate_forkserver as fs
import peak
import pytest

SEED = int(os.environ.get("GATE_FUZZ_SEED", "14"))
FIXTURE_SOURCES = (
    "go1.27-hello-sw",
    "go1.19-hello-sw",
    "go1.27-hello-default",
    "go1.19-hello-pie",
    "go1.27-hello-noshdr",
    "go1.27-hello-386",
    "go1.27-hello-s390x",
    "go1.19-hello-mips",
    "c-pie",
    "c-static",
)
SYSTEM_SOURCES = ("/bin/ls", "/usr/lib/x86_64-linux-gnu/libc.so.6")
WORKERS = 2


class Case(NamedTuple):
    source: str  # a fixture name or a system path
    mutant: em.Mutant  # its bytes are in `path`, not kept in memory
    path: Path
    ident: bytes  # the mutant's EI_CLASS and EI_DATA


def sources(fixtures) -> dict[str, Path]:
    out = {name: fixtures[name].path for name in FIXTURE_SOURCES}
    for path in SYSTEM_SOURCES:
        if Path(path).is_file():
            out[path] = Path(path).resolve()
    return out


def one_per_mutation(data: bytes, source: str, seed: int) -> Iterator[em.Mutant]:
    """Every mutation that applies to `data`, once, with a seed of (seed, source, name)."""
    lay = em.layout(data)
    for name in sorted(em.MUTATIONS):
        sub = random.Random(f"{seed}/{source}/{name}").getrandbits(32)
        got = em.mutant(data, name, sub, lay)
        if got is not None:
            yield got


@pytest.fixture(scope="module")
def cases(fixtures, tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    root = tmp_path_factory.mktemp("mutants")
    out = []
    for source, path in sources(fixtures).items():
        data = path.read_bytes()
        for k, m in enumerate(one_per_mutation(data, source, SEED)):
            file = root / f"{zlib.crc32(source.encode()):08x}-{k:03d}-{m.name}"
            file.write_bytes(m.data)
            out.append(Case(source, m._replace(data=b""), file, m.data[4:6]))
    return out


@pytest.fixture(scope="module")
def outcomes(cases: list[Case], tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    """(case, outcome) for every case and command, over WORKERS fork servers."""
    jobs = [(case, cmd) for case in cases for cmd in fs.COMMANDS]
    servers = [fs.Server(tmp_path_factory.mktemp(f"server{i}")) for i in range(WORKERS)]
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            chunks = [jobs[i::WORKERS] for i in range(WORKERS)]
            results = pool.map(
                lambda pair: [(c, pair[0].run(cmd, c.path)) for c, cmd in pair[1]],
                zip(servers, chunks, strict=True),
            )
            return [r for chunk in results for r in chunk]
    finally:
        for server in servers:
            server.close()


def describe(case: Case, run: fs.Outcome, found: list[str]) -> str:
    m = case.mutant
    return (
        f"{run.command} on {case.source} mutated by {m.name} seed {m.seed} ({m.detail}): "
        f"{'; '.join(found)}; exit {run.returncode}, stderr: {run.stderr[-600:]!r}"
    )


def test_enough_mutants_of_every_kind(cases: list[Case]) -> None:
    """A few hundred mutants, every mutation used, ELF32/64 in both byte orders."""
    assert len(cases) >= 300, len(cases)
    used = {c.mutant.name for c in cases}
    assert used == set(em.MUTATIONS), set(em.MUTATIONS) - used
    kinds = {c.ident for c in cases if c.mutant.name == "shdr.sh_size"}
    assert {b"\1\1", b"\1\2", b"\2\1", b"\2\2"} <= kinds, kinds


@pytest.mark.parametrize("command", list(fs.COMMANDS))
def test_mutants_are_judged_or_refused_in_one_line(outcomes, command: str) -> None:
    bad = [
        describe(case, run, found)
        for case, run in outcomes
        if run.command == command and (found := fs.problems(run))
    ]
    runs = sum(1 for _, run in outcomes if run.command == command)
    assert runs >= 300
    assert not bad, f"{len(bad)} of {runs} runs:\n" + "\n".join(bad[:15])


def test_every_command_meets_the_mutants_both_ways(outcomes) -> None:
    """The mutants reach the reading code: some still parse (exit 0) and some are refused
    (exit 2) by every command, so the runs above are not all turned away at the door."""
    for command in fs.COMMANDS:
        codes = {run.returncode for _, run in outcomes if run.command == command}
        assert {0, 2} <= codes, (command, codes)


# ---------------------------------------------------------------- the harness itself


def _outcome(**kw) -> fs.Outcome:
    base = dict(
        command="inspect",
        path="/x/bin",
        file_size=1 << 20,
        returncode=2,
        stdout="",
        stderr="gate: error: /x/bin: corrupt ELF: section name table index 77\n",
        cpu_s=0.01,
        wall_s=0.01,
        peak_rss=30 << 20,
    )
    return fs.Outcome(**{**base, **kw})


def test_the_checker_fails_what_it_must() -> None:
    """A harness that cannot fail proves nothing: each fault in a captured (fake) run is
    seen, and a clean one is not."""
    assert fs.problems(_outcome()) == []
    warned = _outcome(returncode=0, stdout="{}", stderr="gate: warning: /x/bin: odd\n")
    assert fs.problems(warned) == []
    tb = 'Traceback (most recent call last):\n  File "x.py"\nKeyError: 3\n'
    for fault, expected in (
        (dict(stderr=tb, returncode=1), "traceback"),
        (dict(stderr="gate: error: internal error: KeyError: 3\n"), "internal error"),
        (dict(returncode=-9), "exit code -9"),
        (dict(returncode=3), "exit code 3"),
        (dict(stderr="gate: error: /x/bin: a\ngate: error: /x/bin: b\n"), "2 error lines"),
        (dict(stderr=""), "0 error lines"),
        (dict(stderr="gate: error: something broke\n"), "does not name the file"),
        (dict(cpu_s=2.5), "s of CPU"),
        (dict(peak_rss=200 << 20), "peak RSS"),
        (dict(stderr="gate: error: /x/bin: corrupt ELF: MemoryError\n"), "MemoryError"),
        (dict(returncode=0, stdout="{", stderr=""), "not JSON"),
    ):
        found = fs.problems(_outcome(**fault))
        assert any(expected in p for p in found), (fault, found)


def test_the_fork_server_reports_a_real_traceback_and_internal_error(tmp_path: Path) -> None:
    """End to end through the fork server: a child that raises prints a traceback the
    checker sees; a gate whose inspection raises reports an internal error, also seen."""
    server = fs.Server(tmp_path)
    try:
        crashed = server.run("inspect", sys.executable, inject="traceback")
        internal = server.run("inspect", sys.executable, inject="internal")
        fine = server.run("inspect", sys.executable)
    finally:
        server.close()
    assert "traceback" in fs.problems(crashed), crashed
    assert "internal error" in fs.problems(internal), internal
    assert fs.problems(fine) == [], fine
    assert fine.peak_rss and fine.cpu_s > 0


# ---------------------------------------------------------------- peak RSS, in a fresh process


def fresh_run(command: str, path: Path, scratch: Path) -> fs.Outcome:
    out, err = scratch / "fresh.out", scratch / "fresh.err"
    with out.open("wb") as fo, err.open("wb") as fe:
        measured = peak.run_gate([*fs.COMMANDS[command], str(path)], fo, fe)
    return fs.Outcome(
        command,
        str(path),
        path.stat().st_size,
        measured.returncode,
        out.read_text(errors="replace"),
        err.read_text(errors="replace"),
        measured.cpu_s,
        0.0,
        measured.peak,
    )


def test_peak_rss_of_a_sample_in_fresh_processes(cases: list[Case], tmp_path: Path) -> None:
    """A sample of mutants (the largest sources first) through a fresh interpreter each."""
    rng = random.Random(SEED)
    big = sorted(cases, key=lambda c: -c.path.stat().st_size)[:40]
    sample = rng.sample(big, 4) + rng.sample(cases, 4)
    for i, case in enumerate(sample):
        command = list(fs.COMMANDS)[i % len(fs.COMMANDS)]
        run = fresh_run(command, case.path, tmp_path)
        assert run.peak_rss is not None, run.stderr
        assert not fs.problems(run), describe(case, run, fs.problems(run))


# ---------------------------------------------------------------- regressions

# (source, mutation, seed) of every bug the fuzzer found, once fixed.
REGRESSIONS: tuple[tuple[str, str, int], ...] = (
    # A build setting quoted "\x4w..." / "\xzz" / "\8...": int() raised ValueError out of
    # the Go build info reader; `gate size` reported an internal error (gobuild.py).
    ("go1.27-hello-sw", "binfo.setting", 18),
    ("go1.27-hello-sw", "binfo.setting", 8),
    ("go1.19-hello-sw", "binfo.setting", 42),
    # Thousands of DT_NEEDED/DT_RUNPATH entries into one NUL-less dynamic string table, at
    # distinct offsets or at one: every name was read (64 KiB each) and reported: 1.9 GB
    # peak and 2.5-20 s for a 1.5 MB file (facts.py).
    ("go1.27-hello-sw", "dyn.flood", 7),
    ("go1.27-hello-sw", "dyn.flood", 0),
    ("go1.27-hello-386", "dyn.flood", 1),
)


@pytest.mark.parametrize(("source", "name", "seed"), REGRESSIONS)
def test_regression(fixtures, tmp_path: Path, source: str, name: str, seed: int) -> None:
    path = fixtures[source].path if not source.startswith("/") else Path(source)
    got = em.mutant(path.read_bytes(), name, seed)
    assert got is not None
    file = tmp_path / "mutant"
    file.write_bytes(got.data)
    server = fs.Server(tmp_path)
    try:
        for command in fs.COMMANDS:
            run = server.run(command, file)
            case = Case(source, got, file, got.data[4:6])
            assert not fs.problems(run), describe(case, run, fs.problems(run))
    finally:
        server.close()
