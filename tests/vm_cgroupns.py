"""The envelope inside a container's view of cgroup v2: run only in the cgroup v2 VM.

tests/test_cgroup_v2.py boots a cgroup v2 kernel and runs this module there by path (its
name is not test_*.py, so the suite on the host does not collect it: the host's cpu and
memory controllers are bound to cgroup v1, where no cgroup namespace root can be made
the way a container runtime makes it).

A container, as Docker (cgroupns=private) and GitHub container jobs make it, is played
with the kernel's own pieces: a cgroup `ctr.<pid>` below the root with cpu and memory
delegated to it, a process sitting in it (a shell loop that forks a `sleep` every 50 ms,
so the cgroup keeps gaining pids while gate empties it), and gate started in it under
`unshare --cgroup --mount` with cgroup2 mounted again, so /sys/fs/cgroup is the
namespace's root, holding processes: the "no internal processes" rule refuses to enable
a controller below it (EBUSY), which is what gate meets in a container.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from reference import Fixture

ROOT = Path("/sys/fs/cgroup")
GATE = [sys.executable, "-m", "gate"]
# Inside the new cgroup and mount namespaces: the namespace's own cgroup2 for the host's,
# then each gate command of the argument list (separated by ";"), each one's stdout and
# stderr and exit status into files, and this shell's cgroup as the namespace sees it.
_IN_NAMESPACE = r"""
umount -l /sys/fs/cgroup || exit 96  # the same file system twice on one mount point: EBUSY
mount -t cgroup2 -o "$MOUNT_OPTS" cgroup2 /sys/fs/cgroup || exit 97
n=0
cmd=
for word in "$@" ";"; do
    if [ "$word" = ";" ]; then
        n=$((n + 1))
        eval "$cmd" >"$OUT/$n.out" 2>"$OUT/$n.err"
        echo $? >"$OUT/$n.rc"
        cmd=
    else
        cmd="$cmd '$word'"
    fi
done
cat /proc/self/cgroup >"$OUT/cgroup.after"
"""


def _expect_v2() -> None:
    if os.environ.get("GATE_EXPECT_CGROUP") != "v2" or not (ROOT / "cgroup.controllers").exists():
        pytest.fail("vm_cgroupns.py runs inside the cgroup v2 VM only (tests/test_cgroup_v2.py)")


def _host_cgroup(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text().strip()


def _remove_tree(path: Path) -> None:
    for child in sorted(path.iterdir(), reverse=True):
        if child.is_dir():
            _remove_tree(child)
    for _ in range(200):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes], Path]]:
    """(the container's cgroup, the process sitting in it, the file it appends to)."""
    _expect_v2()
    root_control = ROOT / "cgroup.subtree_control"
    if not {"cpu", "memory"} <= set(root_control.read_text().split()):
        root_control.write_text("+cpu +memory")
    ctr = ROOT / f"ctr.{os.getpid()}.{len(list(tmp_path.parent.iterdir()))}"
    ctr.mkdir()
    ticks = tmp_path / "ticks"
    sitter = subprocess.Popen(
        ["sh", "-c", f'echo $$ > {ctr}/cgroup.procs; while :; do date +%s%N >> {ticks}; '
         "sleep 0.05; done"],
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not ticks.exists() or _host_cgroup(sitter.pid) != f"0::/{ctr.name}":
        assert time.monotonic() < deadline, "the sitting process never entered its cgroup"
        time.sleep(0.05)
    try:
        yield ctr, sitter, ticks
    finally:
        os.killpg(sitter.pid, signal.SIGKILL)
        sitter.wait()
        _remove_tree(ctr)


def _in_namespace(
    ctr: Path, out: Path, commands: list[list[str]], mount_opts: str = "rw"
) -> list[tuple[int, str, str]]:
    """Run each command in turn inside `ctr`'s cgroup namespace (one shell, one namespace):
    their (exit status, stdout, stderr)."""
    out.mkdir()
    words: list[str] = []
    for argv in commands:
        words += [*argv, ";"]
    inner = out / "namespace.sh"
    inner.write_text(_IN_NAMESPACE)
    script = (
        f"echo $$ > {ctr}/cgroup.procs && "
        'exec unshare --cgroup --mount --propagation private sh "$0" "$@"'
    )
    env: Mapping[str, str] = {**os.environ, "OUT": str(out), "MOUNT_OPTS": mount_opts}
    proc = subprocess.run(["sh", "-c", script, str(inner), *words[:-1]], env=env, timeout=1200,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    results = []
    for n in range(1, len(commands) + 1):
        results.append((int((out / f"{n}.rc").read_text()), (out / f"{n}.out").read_text(),
                        (out / f"{n}.err").read_text()))  # fmt: skip
    return results


def _tree(ctr: Path) -> str:
    """The container's cgroups as the host sees them: type, processes, controllers on."""
    lines = []
    for path in sorted({ctr, *ctr.rglob("*")}):
        if path.is_dir():
            got = {n: (path / n).read_text().split() for n in
                   ("cgroup.type", "cgroup.procs", "cgroup.subtree_control")}  # fmt: skip
            lines.append(f"{path}: {got}")
    return "\n".join(lines)


def _ticking(ticks: Path) -> None:
    """The sitting process still runs: its file grows within a second."""
    before = ticks.read_text().count("\n")
    deadline = time.monotonic() + 10
    while ticks.read_text().count("\n") <= before:
        assert time.monotonic() < deadline, "the process in the container's root stopped"
        time.sleep(0.05)


def test_the_envelope_works_in_a_container_root_that_holds_processes(
    fixtures: Mapping[str, Fixture],
    container: tuple[Path, subprocess.Popen[bytes], Path],
    tmp_path: Path,
) -> None:
    """gate empties the namespace's root into its leaf `init` (its own processes and the
    sitting one), enables the controllers there, and the quota and the limit hold: the
    quota throttles a 400 ms init, the limit kills a 200 MiB one, as on the host.

    The first gate asks for cpu alone: enabling it in a busy root is not refused (cpu is a
    threaded controller) but makes the root a thread root, below which gate.<pid> cannot
    enable it (EOPNOTSUPP), so gate empties the root before enabling anything. The second
    asks for memory alone, in the same container: it starts from the leaf, finds the root
    already holding no process, and enables memory beside cpu."""
    ctr, sitter, ticks = container
    busy, alloc = fixtures["go1.27-busy-400ms"].path, fixtures["go1.27-alloc"].path
    (cpus_rc, cpus_out, cpus_err), (mem_rc, _, mem_err) = _in_namespace(ctr, tmp_path / "ns", [
        [*GATE, "startup", str(busy), "--warm", "--runs", "2", "--warmup", "0", "--cpus", "0.5",
         "--json", "-"],
        [*GATE, "startup", str(alloc), "--runs", "1", "--warmup", "0", "--memory", "64MB"],
    ])  # fmt: skip
    assert cpus_rc == 0, (cpus_err, _tree(ctr))
    doc = json.loads(cpus_out)
    assert doc["environment"]["cgroup"] == "v2"
    assert doc["envelope"]["cpus"] == 0.5
    assert [r["ok"] for r in doc["runs"]] == [True, True]
    assert all(r["throttled_ms"] > 100 for r in doc["runs"]), doc["runs"]
    assert mem_rc == 2, mem_err
    assert "killed by the 64 MB memory limit at " in mem_err, mem_err
    # The sitting process was moved, not stopped: into the leaf, still running.
    assert sitter.poll() is None
    assert _host_cgroup(sitter.pid) == f"0::/{ctr.name}/init"
    _ticking(ticks)
    # gate's shell ended in the leaf too, as the namespace sees it; nothing of gate is left.
    assert (tmp_path / "ns" / "cgroup.after").read_text().strip() == "0::/init"
    assert sorted(p.name for p in ctr.iterdir() if p.is_dir()) == ["init"]
    assert {"cpu", "memory"} <= set((ctr / "cgroup.subtree_control").read_text().split())


def test_a_read_only_cgroup_names_what_fixes_it(
    fixtures: Mapping[str, Fixture],
    container: tuple[Path, subprocess.Popen[bytes], Path],
    tmp_path: Path,
) -> None:
    """A container without --privileged sees /sys/fs/cgroup read-only: gate moves nothing
    and says in one line which of --privileged, a delegated cgroup or running outside the
    container fixes it; the run never goes unconstrained."""
    ctr, sitter, ticks = container
    ((rc, out, err),) = _in_namespace(ctr, tmp_path / "ns", [
        [*GATE, "startup", str(fixtures["go1.27-busy-slow"].path), "--runs", "1", "--cpus", "0.5"],
    ], mount_opts="ro")  # fmt: skip
    assert rc == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "gate: error: cannot make a cgroup for the envelope: /sys/fs/cgroup/"
    )
    assert "read-only file system" in lines[0]
    for fix in ("--privileged", "delegate a cgroup", "outside the container"):
        assert fix in lines[0], lines[0]
    assert _host_cgroup(sitter.pid) == f"0::/{ctr.name}"
    assert not (ctr / "init").exists()
    _ticking(ticks)


def test_under_a_slice_gate_makes_its_cgroup_beside_its_own(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    """The shape of a systemd host with sudo (GitHub's hosted runners): gate runs in a
    leaf (`ci.slice/job.scope`) whose parent holds no process; gate.<pid> goes next to the
    leaf, the parent's controllers are enabled, nothing is moved, nothing is left."""
    _expect_v2()
    root_control = ROOT / "cgroup.subtree_control"
    if not {"cpu", "memory"} <= set(root_control.read_text().split()):
        root_control.write_text("+cpu +memory")
    sl = ROOT / f"ci.{os.getpid()}.slice"
    scope = sl / "job.scope"
    scope.mkdir(parents=True)
    try:
        busy = str(fixtures["go1.27-busy-400ms"].path)
        argv = [*GATE, "startup", busy, "--warm", "--runs", "1", "--warmup", "0",
                "--cpus", "0.5", "--memory", "64MB", "--json", "-"]  # fmt: skip
        proc = subprocess.run(["sh", "-c", f'echo $$ > {scope}/cgroup.procs && exec "$@"', "sh",
                               *argv], capture_output=True, text=True, timeout=600)  # fmt: skip
        assert proc.returncode == 0, (proc.stderr, _tree(sl))
        doc = json.loads(proc.stdout)
        assert doc["environment"]["cgroup"] == "v2"
        (run,) = doc["runs"]
        assert run["ok"] and run["throttled_ms"] > 100 and run["peak_memory_bytes"] > 0, run
        assert {"cpu", "memory"} <= set((sl / "cgroup.subtree_control").read_text().split())
        assert sorted(p.name for p in sl.iterdir() if p.is_dir()) == ["job.scope"]
        assert not (scope / "init").exists()
    finally:
        _remove_tree(sl)
