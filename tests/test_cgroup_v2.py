"""The envelope on a real cgroup v2 kernel: one boot per test run, the envelope's tests in it.

This machine's cpu and memory controllers are bound to cgroup v1, so the suite's own run of
tests/test_envelope.py tests the v1 path only. Here a cgroup v2 kernel boots once
(tests/vm.py: virtme-ng, qemu, Debian's kernel, the host's file system) and runs, as root,
with GATE_EXPECT_CGROUP=v2 (so a fall back to v1 fails instead of passing):

- INNER: tests of the envelope that hold on either version (`--cpus` and the `cpu.stat`
  throttling, `--memory` and the OOM message, `memory.peak`, the `memory.events` of a
  starved start, no cgroup left after gate is killed), from tests/test_envelope.py, and
  tests/vm_cgroupns.py: a container's cgroup namespace whose root holds processes, and
  one mounted read-only (written for v2 only); and the trace attacks on gate
  (tests/test_hostile_programs.py), which need a root holding CAP_SYS_PTRACE: in the
  whole suite an earlier in-process start has dropped it (and a container host has none),
  so on the host they skip;
- one `gate startup --cpus --memory --json` whose results are read here.

The guest writes a JUnit XML, its facts and that JSON to a shared directory; the tests
below hold them to the names expected, each passed.

Time, measured on this 2-core machine without KVM: the guest reaches its script 15 s after
the kernel starts when the host is quiet (50 s while other tests ran beside it), and the
whole module took 205 s with 7 inner tests on a quiet host, 320 s with the 8 of INNER on a
busy one (the inner tests alone 140-205 s); qemu's RSS is about 1.7 GB. The host's timing-ratio
tests (a throttled start against an unconstrained one, a short start left unthrottled) are
not in INNER: under emulation the CPU is ~20x slower and shared with qemu's own threads, so
two starts' wall times do not compare there. The quota is held instead to the kernel's
account (cpu.stat) and to one start's own clocks: its CPU time at most half its wall time.
CI has the tools (.ci/run installs them), so a missing one fails there (tests/ci.py).
"""

from __future__ import annotations

import json
import os
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import vm
from ci import in_ci, unavailable
from reference import Fixture

# The inner selection: (file, test name) run in the guest; every one must pass there.
INNER: tuple[tuple[str, str], ...] = (
    # First, as given: root with CAP_SYS_PTRACE, which the first start run inside pytest
    # drops for good (gate drops it from its bounding set), as a container host never had.
    ("tests/test_hostile_programs.py",
     "test_root_may_trace_a_non_dumpable_process_that_keeps_cap_sys_ptrace"),
    ("tests/test_hostile_programs.py", "test_the_program_cannot_freeze_gate[trace]"),
    ("tests/test_hostile_programs.py", "test_the_program_cannot_freeze_gate[trace-both]"),
    ("tests/test_envelope.py", "test_the_envelope_runs_on_the_expected_cgroup_version"),
    ("tests/test_envelope.py", "test_a_heavy_init_is_killed_by_the_memory_limit"),
    ("tests/test_envelope.py", "test_peak_memory_comes_from_the_cgroup"),
    ("tests/test_envelope.py", "test_a_start_starved_at_its_memory_limit_says_so"),
    ("tests/test_envelope.py", "test_no_cgroup_is_left_after_gate_is_killed"),
    ("tests/vm_cgroupns.py", "test_the_envelope_works_in_a_container_root_that_holds_processes"),
    ("tests/vm_cgroupns.py", "test_a_read_only_cgroup_names_what_fixes_it"),
    ("tests/vm_cgroupns.py", "test_under_a_slice_gate_makes_its_cgroup_beside_its_own"),
    ("tests/test_hostile_programs.py", "test_a_program_that_leaves_the_envelope_fails_the_start"),
)  # fmt: skip
BOOT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Guest:
    boot: vm.Boot
    shared: Path

    def read(self, name: str) -> str:
        path = self.shared / name
        assert path.exists(), f"the guest wrote no {name}:\n{self.boot.console[-4000:]}"
        return path.read_text()


@pytest.fixture(scope="module")
def guest(fixtures: Mapping[str, Fixture], tmp_path_factory: pytest.TempPathFactory) -> Guest:
    """The one boot: the fixtures are built (and cached) here first, since the guest sees
    the host's file system read-only and cannot build them."""
    why = vm.missing()
    if why:
        unavailable(why)
    shared = tmp_path_factory.mktemp("cgroup-v2-vm")
    py = shlex.quote(vm.python())
    selection = " ".join(shlex.quote(f"{f}::{name}") for f, name in INNER)
    busy = shlex.quote(str(fixtures["go1.27-busy-400ms"].path))
    alloc = shlex.quote(str(fixtures["go1.27-alloc"].path))
    out = shlex.quote(str(shared))
    script = f"""
cut -d' ' -f1 /proc/uptime > {out}/booted
# The guest's disk is 9p under emulation: a 200 MiB init at a 64 MB limit reclaims and
# reads back its own text until the timeout before the OOM killer acts. From memory
# (tmpfs: not reclaimable without swap) it is killed at once, as on a real disk.
mkdir -p /tmp/fx && cp {alloc} /tmp/fx/alloc && mount --bind /tmp/fx/alloc {alloc} || exit 95
uname -r > {out}/uname
stat -f -c %T /sys/fs/cgroup > {out}/fstype
cat /proc/self/cgroup > {out}/cgroup
cat /sys/fs/cgroup/cgroup.controllers > {out}/controllers
{py} -m gate startup {busy} --warm --runs 2 --warmup 0 --cpus 0.5 --memory 64MB \\
    --json {out}/startup.json > {out}/startup.log 2>&1
{py} -m pytest -q -p no:cacheprovider -o addopts= {selection} \\
    --junitxml={out}/inner.xml > {out}/pytest.log 2>&1
"""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "GATE_EXPECT_CGROUP": "v2",
        "GATE_TEST_SLOWDOWN": "5",  # TCG: gate's own steps take several times as long
        "CI": "true" if in_ci() else "",
        "PYTHONDONTWRITEBYTECODE": "1",
        # Every installed distribution's entry points read through 9p: seconds per pytest.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    for name in ("GATE_FIXTURE_CACHE", "XDG_CACHE_HOME"):
        if name in os.environ:
            env[name] = os.environ[name]
    boot = vm.run(script, shared, env=env, timeout_s=BOOT_TIMEOUT_S)
    assert boot.status is not None, f"the guest never finished:\n{boot.console[-4000:]}"
    return Guest(boot, shared)


def test_the_guest_runs_cgroup_v2_only(guest: Guest) -> None:
    """The kernel booted is Debian's image, with cgroup2 alone at /sys/fs/cgroup offering
    cpu and memory (on this machine both are bound to v1)."""
    image = vm.kernel()
    assert image is not None
    assert guest.read("uname").strip() == Path(image).name.removeprefix("vmlinuz-")
    assert guest.read("fstype").strip() == "cgroup2fs"
    assert guest.read("cgroup").strip() == "0::/"
    assert {"cpu", "memory"} <= set(guest.read("controllers").split())


def test_gate_reports_cgroup_v2_and_its_numbers(guest: Guest) -> None:
    """`gate startup --cpus 0.5 --memory 64MB` in the guest: the results say v2, and each
    run carries the quota's throttling (cpu.stat throttled_usec: 400 ms of work at 0.5 CPU
    waits about as long), the start's CPU time at most half its wall time, and memory.peak
    (the Go runtime's few MB, under the limit)."""
    doc: dict[str, Any] = json.loads(guest.read("startup.json"))
    log = guest.read("startup.log")
    assert doc["environment"]["cgroup"] == "v2", log
    assert doc["envelope"] == {"cpus": 0.5, "cpu_period_us": 100_000, "memory": 64_000_000,
                               "cpu": None}  # fmt: skip
    assert [r["ok"] for r in doc["runs"]] == [True, True], log
    for run in doc["runs"]:
        assert run["throttled_ms"] > 100, run
        # The quota's 2x on v2, by the guest's own clocks (emulation slows the CPU, not the
        # ratio): 0.5 CPU lets a start use at most half its wall time (measured 1.95-1.97).
        assert run["wall_ms"] >= 1.7 * (run["user_ms"] + run["sys_ms"]), run
        assert 1_000_000 < run["peak_memory_bytes"] < 64_000_000, run
    assert "(cgroup v2)" in log, log


def _cases(guest: Guest) -> dict[str, str]:
    """Each test case the guest ran, by file::name: its outcome (passed, failed, skipped)."""
    root = ET.fromstring(guest.read("inner.xml"))
    out = {}
    for case in root.iter("testcase"):
        module = case.get("classname", "").replace(".", "/")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = child.tag
        out[f"{module}.py::{case.get('name')}"] = outcome
    return out


def test_the_envelope_tests_pass_on_cgroup_v2(guest: Guest) -> None:
    """Every test of INNER ran in the guest and passed; none was skipped, none is extra."""
    cases = _cases(guest)
    expected = {f"{f}::{name}": "passed" for f, name in INNER}
    assert cases == expected, guest.read("pytest.log")[-6000:]
    assert guest.boot.status == 0, guest.read("pytest.log")[-6000:]
