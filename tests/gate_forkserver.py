"""Running gate's CLI on many inputs fast, and judging each run (issue 14, Hostile binaries).

A fork server (`python gate_forkserver.py --serve`) imports gate once and forks a child per
command, so each run costs what gate costs, not an interpreter start-up. Each child reports
its own peak RSS (VmHWM, read as it exits: the image the fork made, as tests/peak.py reads
it after exec) and its CPU time comes from wait4. `problems()` judges one run: exit code 0,
1 or 2, no traceback, no internal error, one error line naming the file, time and memory
bounded. The inputs are tests/elf_mutants.py's.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

MB = 1 << 20

COMMANDS: dict[str, tuple[str, ...]] = {
    "inspect": ("inspect", "--json"),
    "size-package": ("size", "--by", "package"),
    "size-symbol": ("size", "--by", "symbol"),
    "size-section": ("size", "--by", "section"),
    "check": ("check", "--no-startup"),
}
MAX_CPU_S = 2.0  # per command and input
TIMEOUT_S = 20  # wall clock: a run this long is killed (and counts as a hang)
BASE_RSS = 100 * MB


class Outcome(NamedTuple):
    command: str  # a key of COMMANDS
    path: str
    file_size: int
    returncode: int  # negative: killed by that signal
    stdout: str
    stderr: str
    cpu_s: float
    wall_s: float
    peak_rss: int | None  # bytes; None when the child did not report it (killed)
    # Whether stdout (whole, before it was cut for keeping) parsed as JSON; None: not checked
    json_ok: bool | None = None


def problems(run: Outcome) -> list[str]:
    """What is wrong with one run of gate on a (hostile) file; [] when nothing."""
    out: list[str] = []
    both = run.stdout + run.stderr
    if run.returncode not in (0, 1, 2):
        out.append(f"exit code {run.returncode}")
    if "Traceback (most recent call last)" in both:  # a symbol may be named ...Traceback
        out.append("traceback")
    if "internal error" in run.stderr:
        out.append("internal error")
    if "MemoryError" in both:
        out.append("MemoryError (an allocation the file asked for)")
    lines = run.stderr.splitlines()
    errors = [ln for ln in lines if not ln.startswith("gate: warning: ")]
    for line in lines:
        if line.startswith("gate: warning: ") and not line.startswith(
            f"gate: warning: {run.path}: "
        ):
            out.append(f"a warning that does not name the file: {line[:200]}")
    if run.returncode == 2:
        if len(errors) != 1:
            out.append(f"{len(errors)} error lines, not one")
        elif not errors[0].startswith(f"gate: error: {run.path}: "):
            out.append(f"an error that does not name the file: {errors[0][:200]}")
    elif errors:
        out.append(f"stderr besides warnings with exit {run.returncode}: {errors[0][:200]}")
    json_ok = run.json_ok if run.json_ok is not None else _is_json(run.stdout)
    if run.returncode == 0 and "--json" in COMMANDS.get(run.command, ()) and not json_ok:
        out.append("exit 0 with stdout that is not JSON")
    if len(run.stdout) > 4 * run.file_size + MB:
        out.append(f"{len(run.stdout):,} characters of output for a {run.file_size:,}-byte file")
    if run.cpu_s >= MAX_CPU_S:
        out.append(f"{run.cpu_s:.2f} s of CPU >= {MAX_CPU_S} s")
    limit = 2 * run.file_size + BASE_RSS
    if run.peak_rss is not None and run.peak_rss > limit:
        out.append(f"peak RSS {run.peak_rss / MB:.0f} MB > {limit / MB:.0f} MB")
    return out


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# The fork server: gate imported once, a child forked per command. The child gets its own
# stdout/stderr files, a CPU limit (RLIMIT_CPU), a wall-clock alarm and an address-space
# cap (so a runaway allocation fails instead of taking the machine; it is reported as a
# MemoryError); it writes its VmHWM to a pipe as it exits.
_AS_LIMIT = 8 << 30
_WARM_MODULES = (
    "json",
    "gate.check",
    "gate.integrate.baseline",
    "gate.results",
    "gate.read.attribution",
    "gate.read.gobuild",
    "gate.report.glance",
    "gate.report.json",
    "gate.report.junit",
    "gate.report.progress",
    "gate.report.size",
    "gate.report.text",
    "gate.report.write",
    "gate.run.environment",
    "gate.run.keeper",
    "gate.run.measure",
    "gate.values.stats",
    "typer._click.decorators",
)


def _serve() -> None:
    import contextlib
    import importlib
    import resource
    import signal
    import time
    import traceback

    import gate.cli
    import gate.read.facts
    from gate.read.elf import _section_type_names, _structs

    # What gate imports lazily, imported before the forks so that each child has it.
    for name in _WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for little in (True, False):
        for bits in (32, 64):
            _structs(little, bits)
    _section_type_names("EM_X86_64")
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(null, 2)
    peak_r, peak_w = os.pipe()
    os.set_blocking(peak_r, False)
    for line in os.fdopen(int(os.environ["GATE_FUZZ_JOBS_FD"]), "r"):
        job = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: one gate command
            code = 1
            try:
                for fd, path in ((1, job["out"]), (2, job["err"])):
                    os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
                signal.alarm(TIMEOUT_S)
                resource.setrlimit(resource.RLIMIT_CPU, (TIMEOUT_S, TIMEOUT_S + 1))
                resource.setrlimit(resource.RLIMIT_AS, (_AS_LIMIT, _AS_LIMIT))
                sys.argv = ["gate", *job["argv"]]
                if job.get("inject") == "traceback":  # the harness must see this
                    raise RuntimeError("injected failure")
                if job.get("inject") == "internal":
                    gate.read.facts.inspect_binary = _raise  # gate reports an internal error
                try:
                    gate.cli.main()
                    code = 0
                except SystemExit as exc:
                    if isinstance(exc.code, str):
                        print(exc.code, file=sys.stderr)
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                with open("/proc/self/status") as f:
                    peak = next((ln.split()[1] for ln in f if ln.startswith("VmHWM:")), "")
                sys.stdout.flush()
                sys.stderr.flush()
                os.write(peak_w, f"{peak}\n".encode())
                os._exit(code)
        _, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - start
        try:
            peak_kb = os.read(peak_r, 64).decode().split()
        except BlockingIOError:
            peak_kb = []
        code = os.waitstatus_to_exitcode(status)
        answer = {
            "code": code,
            "cpu": usage.ru_utime + usage.ru_stime,
            "wall": wall,
            "peak": int(peak_kb[0]) * 1024 if peak_kb and peak_kb[0].isdigit() else None,
        }
        proto.write(json.dumps(answer) + "\n")


def _raise(*args: object, **kw: object) -> object:
    raise RuntimeError("injected bug")


@dataclass
class Server:
    """One fork server (a child python with gate imported), serving one job at a time."""

    scratch: Path
    proc: subprocess.Popen[str] = field(init=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        jobs_r, self._jobs_w = os.pipe()
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")}
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            pass_fds=(jobs_r,),
            text=True,
            env={**env, "GATE_FUZZ_JOBS_FD": str(jobs_r)},
        )
        os.close(jobs_r)
        self._jobs = os.fdopen(self._jobs_w, "w", buffering=1)

    def run(self, command: str, path: str | Path, inject: str | None = None) -> Outcome:
        out, err = self.scratch / "out", self.scratch / "err"
        job = {"argv": [*COMMANDS[command], str(path)], "out": str(out), "err": str(err)}
        if inject:
            job["inject"] = inject
        with self.lock:
            self._jobs.write(json.dumps(job) + "\n")
            assert self.proc.stdout is not None
            ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT_S + 30)
            line = self.proc.stdout.readline() if ready else ""
            if not line:
                raise RuntimeError(f"the fork server stopped answering (exit {self.proc.poll()})")
            answer = json.loads(line)
            stdout = out.read_text(errors="replace")
            stderr = err.read_text(errors="replace")[:20_000]
        json_ok = _is_json(stdout) if answer["code"] == 0 and "--json" in job["argv"] else None
        size = Path(path).stat().st_size
        # Whether it was JSON is known: a head is enough to keep, unless it was too long
        # (then as much as problems() needs to see that).
        too_long = len(stdout) > 4 * size + MB
        stdout = stdout[: 4 * size + MB + 1] if too_long else stdout[:4000]
        return Outcome(
            command,
            str(path),
            size,
            answer["code"],
            stdout,
            stderr,
            answer["cpu"],
            answer["wall"],
            answer["peak"],
            json_ok,
        )

    def close(self) -> None:
        self._jobs.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
