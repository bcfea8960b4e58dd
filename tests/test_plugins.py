"""Go plugins and what a program loads at start (issue 21, section 7).

A Go plugin's function table is found as `go tool nm` reads it, for Go 1.19 (whose
linker puts it inside .data.rel.ro, no section of its own) and Go 1.27, stripped too. A
cold start of a service that loads a plugin evicts the plugin too (util-linux's fincore
says its pages are gone before every timed start), and files a policy names. The shared
objects mapped and descriptors open at readiness are what /proc says when the test runs
the same program itself, and the policy's limits on them reach every report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from html import escape as html_escape
from pathlib import Path
from typing import Any

import markdown_it
import pytest
from ci import unavailable
from conftest import GO_TOOLCHAIN_LABELS
from junitparser import Failure, JUnitXml
from procscan import marked_processes
from reference import fincore_resident_bytes, go_nm_text, go_package_name, readelf_sections
from results_docs import check, document, facts

from gate.errors import GateError
from gate.judge.checks import CHECKS, Context, judge
from gate.judge.policy import PolicyError, load_policy
from gate.read.attribution import attribute_binary
from gate.report.text import render_startup
from gate.results.build import startup_to_dict
from gate.run import runner
from gate.run.loaded import mapped_files, shared_objects
from gate.run.measure import measure
from gate.run.runner import RunConfig
from gate.values.readiness import parse_ready

READY = "line:READY"


# ---------------------------------------------------------------- the function table


def _nm_packages(go: Path, env: dict[str, str], path: Path) -> dict[str, int]:
    """Bytes per package from `go tool nm -size -sort address`: each text symbol runs to
    the next one's address (the last to the end of .text). A shared object's .symtab names
    each exported function twice, as `local.NAME` too, at the same address: one name."""
    (text,) = [s for s in readelf_sections(path) if s["name"] == ".text"]
    start, end = text["addr"], text["addr"] + text["size"]
    at: dict[int, tuple[int, str]] = {}
    for address, size, name in go_nm_text(go, env, path):
        name = name.removeprefix("local.")
        if start <= address < end and not name.endswith("(.text)"):
            kept = at.get(address)
            if kept is None or size > kept[0]:
                at[address] = (size, name)
    addresses = sorted(at)
    out: dict[str, int] = {}
    for address, following in zip(addresses, [*addresses[1:], end], strict=True):
        package = go_package_name(at[address][1])
        out[package] = out.get(package, 0) + following - address
    return out


@pytest.mark.parametrize("toolchain", GO_TOOLCHAIN_LABELS)
def test_plugin_packages_match_go_tool_nm(
    fixtures: Any, go_toolchains: Any, toolchain: str, tmp_path: Path
) -> None:
    plugin = fixtures[f"{toolchain}-plugin"].path
    go, env = go_toolchains[toolchain]
    sections = {s["name"] for s in readelf_sections(plugin)}
    if toolchain == "go1.19":  # the case that read "no Go function table"
        assert ".gopclntab" not in sections and ".data.rel.ro" in sections
    want = _nm_packages(go, env, plugin)
    stripped = tmp_path / "stripped.so"
    subprocess.run(["strip", "--strip-all", "-o", stripped, plugin], check=True)
    assert ".symtab" not in {s["name"] for s in readelf_sections(stripped)}
    for path in (plugin, stripped):
        attribution = attribute_binary(path)
        assert attribution.packages is not None, f"{path}: no Go function table found"
        got = dict(attribution.packages)
        largest = sorted(want.items(), key=lambda kv: -kv[1])[:30]
        assert ("example.com/plugin", want["example.com/plugin"]) in want.items()
        for package, size in [*largest, ("example.com/plugin", want["example.com/plugin"])]:
            assert abs(got.get(package, 0) - size) <= size / 100, (path, package, got.get(package))


def test_gate_size_by_package_on_a_go_1_19_plugin(fixtures: Any) -> None:
    plugin = fixtures["go1.19-plugin"].path
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "size", str(plugin), "--by", "package"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no Go function table" not in proc.stdout + proc.stderr
    assert "pclntab go1.18" in proc.stdout.splitlines()[0]
    rows = {line.split()[-1] for line in proc.stdout.splitlines()[2:] if line.strip()}
    assert {"runtime", "reflect", "text/template", "encoding/json"} <= rows


# ---------------------------------------------------------------- what a start holds


def _fincore(path: Path | str) -> int:
    """util-linux's fincore: bytes of the file in the page cache."""
    if shutil.which("fincore") is None:
        unavailable("fincore (util-linux) not installed")
    return fincore_resident_bytes(path)


def _held_by_hand(host: Path, plugin: Path, files: int) -> tuple[int, set[str]]:
    """(descriptors open, shared objects mapped) when the test runs the host itself as gate
    does (stdin /dev/null, output to pipes) and reads /proc the moment it says READY."""
    proc = subprocess.Popen(
        [str(host), str(plugin), str(files)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert b"READY" in proc.stdout.readline()
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        exe = os.path.realpath(f"/proc/{proc.pid}/exe")
        with open(f"/proc/{proc.pid}/maps") as f:
            paths = {line.split(maxsplit=5)[5].strip() for line in f if "/" in line}
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    objects = set()
    for path in paths:
        if os.path.isfile(path) and os.path.realpath(path) != exe:
            with open(path, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    objects.add(os.path.realpath(path))
    return fds, objects


@pytest.fixture
def marker() -> Any:
    mark = f"gate-plugin-{uuid.uuid4().hex}"
    yield mark
    left = marked_processes(mark)
    for pid in left:
        os.kill(pid, 9)
    assert left == [], f"processes left behind: {left}"


@pytest.mark.parametrize("warmup", [1, 0])
def test_cold_start_evicts_the_plugin_it_loads(
    fixtures: Any, marker: str, monkeypatch: pytest.MonkeyPatch, warmup: int
) -> None:
    host, plugin = fixtures["go1.27-pluginhost"].path, fixtures["go1.27-plugin"].path
    plugin.read_bytes()  # in the page cache now, as a previous start would leave it
    assert _fincore(plugin) > 0
    cached_before_start: list[int] = []
    evict = runner.evict

    def spy(*args: Any) -> Any:
        done = evict(*args)
        cached_before_start.append(_fincore(plugin))
        return done

    monkeypatch.setattr(runner, "evict", spy)
    cfg = RunConfig(
        binary=str(host), args=(str(plugin),), env={"MARK": marker}, ready=parse_ready(READY)
    )
    result = measure(cfg, 3, warmup)
    assert [r.ok for r in result.runs] == [True] * 3, [r.error for r in result.runs]
    # The warm-up start (or, without one, an untimed start first) finds the plugin; every
    # timed start then begins with none of its pages cached.
    assert cached_before_start[warmup:] == [0, 0, 0]
    detail = result.eviction_detail
    assert detail is not None and detail.beyond == (os.path.realpath(plugin),)
    assert (
        f"  evicted  beyond its libraries: {os.path.realpath(plugin)}"
        in render_startup(result).splitlines()
    )
    doc = startup_to_dict(result)
    assert doc["eviction_detail"]["beyond"] == [os.path.realpath(plugin)]
    files = {f["path"]: f for f in doc["eviction_detail"]["files"]}
    assert files[os.path.realpath(plugin)]["resident_after"] == 0


@pytest.mark.parametrize("toolchain", GO_TOOLCHAIN_LABELS)
def test_held_at_readiness_is_what_proc_says(fixtures: Any, marker: str, toolchain: str) -> None:
    host = fixtures[f"{toolchain}-pluginhost"].path
    plugin = fixtures[f"{toolchain}-plugin"].path
    few, objects = _held_by_hand(host, plugin, 2)
    many, again = _held_by_hand(host, plugin, 9)
    assert many - few == 7 and objects == again  # the reference holds what it was told
    assert os.path.realpath(plugin) in objects
    cfg = RunConfig(binary=str(host), args=(str(plugin), "9"), env={"MARK": marker},
                    ready=parse_ready(READY), cold=False)  # fmt: skip
    result = measure(cfg, 2, 0)
    assert [(r.ok, r.open_fds, r.mapped_objects) for r in result.runs] == [
        (True, many, len(objects))
    ] * 2
    assert {os.path.realpath(p) for p in result.shared_objects} == objects
    assert (result.open_fds, result.mapped_objects) == (many, len(objects))
    assert (
        f"  loaded   {len(objects)} shared objects mapped, {many} descriptors open at "
        "readiness (most of a start)"
    ) in render_startup(result).splitlines()


def test_a_program_that_exits_to_be_ready_records_nothing_held(fixtures: Any) -> None:
    result = measure(RunConfig(binary=str(fixtures["rt-noop-dyn"].path), cold=False), 2, 0)
    assert [(r.open_fds, r.mapped_objects) for r in result.runs] == [(None, None)] * 2
    doc = startup_to_dict(result)
    assert (doc["mapped_objects"], doc["open_fds"], doc["shared_objects"]) == (None, None, [])


def test_policy_limits_reach_every_report(fixtures: Any, marker: str, tmp_path: Path) -> None:
    """`gate check` end to end: the policy's evict list, its limits, and JSON, JUnit,
    Markdown and OpenMetrics all carrying the verdicts."""
    host, plugin = fixtures["go1.19-pluginhost"].path, fixtures["go1.19-plugin"].path
    fds, objects = _held_by_hand(host, plugin, 5)
    data = tmp_path / "data"
    data.mkdir()
    blob = data / "model.bin"
    blob.write_bytes(os.urandom(1 << 20))  # written: in the page cache, dirty
    policy = tmp_path / "gate.toml"
    policy.write_text(
        f"""[startup]
ready = "{READY}"
args = [{json.dumps(str(plugin))}, "5"]
env = {{ MARK = "{marker}" }}
runs = 2
evict = [{json.dumps(str(data / "*.bin"))}]
max_mapped_objects = {len(objects) - 1}
max_open_fds = {fds}
"""
    )
    out = {k: tmp_path / f"out.{k}" for k in ("json", "junit", "markdown", "metrics")}
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "check", str(host), "--policy", str(policy),
         *(a for k, p in out.items() for a in (f"--{k}", str(p)))],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert _fincore(blob) == 0  # evicted before every start, read by none
    (entry,) = json.loads(out["json"].read_text())["binaries"]
    startup = entry["startup"]
    assert set(startup["eviction_detail"]["beyond"]) == {str(blob), os.path.realpath(plugin)}
    checks = {c["id"]: c for c in entry["checks"]}
    mapped, open_fds = checks["startup.max_mapped_objects"], checks["startup.max_open_fds"]
    assert (mapped["status"], mapped["measured"], mapped["limit"]) == (
        "fail", len(objects), len(objects) - 1
    )  # fmt: skip
    assert mapped["message"].startswith(
        f"shared objects mapped at readiness {len(objects)} > {len(objects) - 1} by 1 ("
    )
    assert plugin.name in mapped["message"]
    assert (open_fds["status"], open_fds["measured"]) == ("pass", fds)
    assert open_fds["message"] == f"descriptors open at readiness {fds} <= {fds}"
    (suite,) = list(JUnitXml.fromfile(str(out["junit"])))
    cases = {case.name: case for case in suite}
    failed = [r for r in cases["startup.max_mapped_objects"].result if isinstance(r, Failure)]
    assert failed and mapped["message"] in (failed[0].message or "")
    assert not cases["startup.max_open_fds"].result
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(out["markdown"].read_text())
    assert f"startup.max_mapped_objects</td>\n<td>{html_escape(mapped['message'])}" in html
    assert "startup.max_open_fds" in html
    metrics = out["metrics"].read_text()
    assert 'gate_checks{binary="go1.19-pluginhost",status="fail"} 1' in metrics
    assert "startup.max_mapped_objects" in proc.stdout


# ---------------------------------------------------------------- pure parts


_MAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1 /srv/app/bin/svc
55d0c0a01000-55d0c0a02000 r-xp 00001000 08:01 1 /srv/app/bin/svc
7f0000000000-7f0000001000 r--p 00000000 08:01 2 /srv/app/plugins/auth plugin.so
7f0000001000-7f0000002000 r-xp 00001000 08:01 2 /srv/app/plugins/auth plugin.so
7f0000002000-7f0000003000 rw-p 00000000 00:00 0
7f0000003000-7f0000004000 r--p 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000004000-7f0000005000 r--s 00000000 08:01 4 /var/cache/old.db (deleted)
7f0000005000-7f0000006000 rw-s 00000000 00:05 5 /dev/zero
7f0000006000-7f0000007000 r--s 00000000 08:01 6 /srv/app/data/geo.mmdb
7ffd00000000-7ffd00001000 r-xp 00000000 00:00 0 [vdso]
"""


def test_mapped_files_are_the_regular_files_once_each() -> None:
    assert mapped_files(_MAPS) == [
        "/srv/app/bin/svc",
        "/srv/app/plugins/auth plugin.so",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/srv/app/data/geo.mmdb",
    ]
    # geo.mmdb does not exist here (so it is not ELF) and is no .so: not a shared object
    assert shared_objects(mapped_files(_MAPS), "/srv/app/bin/svc") == [
        "/srv/app/plugins/auth plugin.so",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    ]


def _startup(**over: Any) -> dict[str, Any]:
    run = {"wall_ms": 30.0, "user_ms": 1.0, "sys_ms": 1.0, "max_rss_bytes": 1 << 20,
           "major_faults": 0, "minor_faults": 100, "exit_code": None, "ok": True}  # fmt: skip
    runs = [{**run, "mapped_objects": 4, "open_fds": 9}, {**run, "mapped_objects": 5,
            "open_fds": 8}, {**run, "ok": False, "mapped_objects": 40, "open_fds": 90}]  # fmt: skip
    doc = {"binary": "svc", "args": [], "ready": READY, "cold": True, "eviction": "fadvise",
           "runs": runs, "stats": None,
           "shared_objects": ["/srv/p/auth.so", "/lib/libc.so.6", "/lib/ld.so.2",
                              "/lib/libm.so.6", "/lib/libz.so.1"]}  # fmt: skip
    doc.update(over)
    return doc


def _judged(startup: dict[str, Any], policy_text: str, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "p.toml"
    path.write_text(policy_text)
    rules = load_policy(str(path)).rules
    doc = document("pass", [{"path": "svc", "facts": facts("svc"), "startup": startup}])
    (entry,) = doc["binaries"]
    return {c.id: c for c in judge(rules, Context(entry["facts"], entry["startup"], None))}


def test_limits_judge_the_most_of_a_successful_start(tmp_path: Path) -> None:
    # The failed start's 40 and 90 are not the program's start-up: 5 and 9 are.
    entry = {"path": "svc", "facts": facts("svc"), "startup": _startup()}
    startup = document("pass", [entry])["binaries"][0]["startup"]  # validated, counts derived
    assert (startup["mapped_objects"], startup["open_fds"]) == (5, 9)
    checks = _judged(_startup(), "[startup]\nmax_mapped_objects = 4\nmax_open_fds = 9\n", tmp_path)
    mapped, fds = checks["startup.max_mapped_objects"], checks["startup.max_open_fds"]
    assert (mapped.status, mapped.measured, mapped.limit) == ("fail", 5, 4)
    assert mapped.message == (
        "shared objects mapped at readiness 5 > 4 by 1 (+25.0%): auth.so, libc.so.6, ld.so.2,"
        " libm.so.6, libz.so.1"
    )
    assert (fds.status, fds.measured, fds.message) == (
        "pass", 9, "descriptors open at readiness 9 <= 9"
    )  # fmt: skip
    warn = _judged(_startup(), '[startup]\nmax_open_fds = { value = 8, severity = "warn" }\n',
                   tmp_path)["startup.max_open_fds"]  # fmt: skip
    assert (warn.status, warn.message) == (
        "warn",
        "descriptors open at readiness 9 > 8 by 1 (+12.5%)",
    )


def test_limits_skip_with_the_reason_when_nothing_was_read(tmp_path: Path) -> None:
    policy = "[startup]\nmax_mapped_objects = 4\nmax_open_fds = 9\n"
    runs = [{**r, "mapped_objects": None, "open_fds": None} for r in _startup()["runs"]]
    exits = _judged(_startup(ready="exit", runs=runs, shared_objects=[]), policy, tmp_path)
    assert {c.status for c in exits.values() if c.id.startswith("startup.max_")} == {"skip"}
    assert exits["startup.max_open_fds"].message == (
        "descriptors open at readiness not measured: the program exits to be ready "
        "(--ready exit), nothing is left to read"
    )
    failed = [{**r, "ok": False} for r in _startup()["runs"]]
    none = _judged(_startup(runs=failed), policy, tmp_path)["startup.max_mapped_objects"]
    assert (none.status, none.message) == (
        "skip", "shared objects mapped at readiness not measured: no successful start"
    )  # fmt: skip
    assert {"startup.max_mapped_objects", "startup.max_open_fds"} <= set(CHECKS)


def test_an_older_document_loads_without_the_counts() -> None:
    startup = _startup()
    for run in startup["runs"]:
        del run["mapped_objects"], run["open_fds"]
    del startup["shared_objects"]
    doc = document("pass", [{"path": "svc", "facts": facts("svc"), "startup": startup,
                             "checks": [check("startup.max_rss", "pass")]}])  # fmt: skip
    loaded = doc["binaries"][0]["startup"]
    assert (loaded["mapped_objects"], loaded["open_fds"], loaded["shared_objects"]) == (
        None, None, []
    )  # fmt: skip
    bad = _startup()
    bad["runs"][0]["open_fds"] = -1
    with pytest.raises(GateError, match="open_fds"):
        document("pass", [{"path": "svc", "facts": facts("svc"), "startup": bad}])


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("max_open_fds = -1", "startup.max_open_fds: expected a whole number >= 0, got -1"),
        ('max_mapped_objects = "3"', "startup.max_mapped_objects: expected a whole number"),
        ('evict = "plugins/*.so"', 'startup.evict: expected a list of strings like ["-s"'),
        ('evict = { value = ["a"], severity = "warn" }', "a setting takes a plain value"),
    ],
)
def test_policy_keys_are_checked(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(f"[startup]\n{line}\n")
    with pytest.raises(PolicyError, match=None) as info:
        load_policy(str(path))
    assert says in str(info.value)
