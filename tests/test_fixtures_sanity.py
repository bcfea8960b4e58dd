"""The fixtures are what their names claim, checked with reference tools only.

If these fail, gate's own tests are meaningless, so they deliberately avoid
importing gate.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import GO_TOOLCHAIN_LABELS, RECIPES, GoToolchains
from reference import (
    Fixture,
    go_buildinfo_json,
    go_version_m,
    readelf_dynamic_info,
    readelf_dynsym_names,
    readelf_header,
    readelf_interpreter,
    readelf_sections,
    readelf_segments,
)

Fixtures = dict[str, Fixture]


def _section_names(path: Path) -> set[str]:
    return {s["name"] for s in readelf_sections(path)}


def _segment_types(path: Path) -> list[str]:
    return [s["type"] for s in readelf_segments(path)]


def _gnu_stack_flags(path: Path) -> str:
    (stack,) = [s for s in readelf_segments(path) if s["type"] == "GNU_STACK"]
    return str(stack["flags"])


def _go_setting_map(go_toolchains: GoToolchains, fx: Fixture) -> dict[str, str]:
    go, env = go_toolchains[fx.toolchain]
    return dict(go_version_m(go, env, fx.path)["settings"])


def _unquote_go(text: str) -> str:
    """Undo `go version -m` quoting (strconv.Quote) for plain ASCII values."""
    return json.loads(text) if text.startswith('"') else text


# --------------------------------------------------------------------------- inventory


def test_every_recipe_is_built_or_explained(fixtures: Fixtures) -> None:
    unavailable = getattr(fixtures, "unavailable", {})
    for recipe in RECIPES:
        assert recipe.name in fixtures or recipe.name in unavailable, recipe.name
    for fx in fixtures.values():
        assert fx.path.is_file(), fx
        assert fx.path.read_bytes()[:4] == b"\x7fELF", fx


def test_reference_parsers_see_every_row(fixtures: Fixtures) -> None:
    """Guards reference.py itself: no program/section header line is dropped."""
    for fx in fixtures.values():
        text = subprocess.run(
            ["readelf", "-h", "-W", fx.path],
            capture_output=True,
            text=True,
            check=True,
            env={"LC_ALL": "C", "PATH": os.environ.get("PATH", os.defpath)},
        ).stdout
        counts = dict(re.findall(r"Number of (program|section) headers:\s+(\d+)", text))
        assert len(readelf_segments(fx.path)) == int(counts["program"]), fx.name
        assert len(readelf_sections(fx.path)) == int(counts["section"]), fx.name


def test_flags_are_recorded(fixtures: Fixtures) -> None:
    assert fixtures["c-pie"].flags == ("-O2", "-fPIE", "-pie", "-lm")
    assert fixtures["c-shared"].flags[-1] == "-Wl,-soname,libgatefix.so.1"
    assert "CGO_ENABLED=0" in fixtures["go1.27-hello-nocgo"].flags
    assert fixtures["go1.27-hello-stripped"].flags[-1] == "post:strip --strip-all"


# --------------------------------------------------------------------------- C


def test_c_pie(fixtures: Fixtures) -> None:
    path = fixtures["c-pie"].path
    header = readelf_header(path)
    assert (header["class"], header["type"]) == (64, "DYN")
    assert header["machine"] == "Advanced Micro Devices X86-64"
    dyn = readelf_dynamic_info(path)
    assert "PIE" in dyn["flags_1"]
    assert dyn["needed"] == ["libm.so.6", "libc.so.6"]
    assert readelf_interpreter(path) == "/lib64/ld-linux-x86-64.so.2"
    assert "LOAD" in _segment_types(path)


def test_c_nopie(fixtures: Fixtures) -> None:
    path = fixtures["c-nopie"].path
    assert readelf_header(path)["type"] == "EXEC"
    assert "PIE" not in readelf_dynamic_info(path)["flags_1"]


@pytest.mark.parametrize(("name", "elf_type"), [("c-static", "EXEC"), ("c-static-pie", "DYN")])
def test_c_static(fixtures: Fixtures, name: str, elf_type: str) -> None:
    path = fixtures[name].path
    assert readelf_header(path)["type"] == elf_type
    assert "INTERP" not in _segment_types(path)
    assert readelf_dynamic_info(path)["needed"] == []
    assert subprocess.run([path], capture_output=True, text=True, check=True).stdout.startswith(
        "buf=gate"
    )


def test_c_static_pie_has_pie_flag(fixtures: Fixtures) -> None:
    assert "PIE" in readelf_dynamic_info(fixtures["c-static-pie"].path)["flags_1"]


def test_c_shared(fixtures: Fixtures) -> None:
    path = fixtures["c-shared"].path
    assert readelf_header(path)["type"] == "DYN"
    dyn = readelf_dynamic_info(path)
    assert dyn["soname"] == "libgatefix.so.1"
    assert "PIE" not in dyn["flags_1"]
    assert not dyn["has_textrel"]
    assert readelf_interpreter(path) is None
    assert ("gatefix_add", "UND") not in readelf_dynsym_names(path)
    assert "gatefix_add" in dict(readelf_dynsym_names(path))
    assert readelf_dynamic_info(fixtures["c-shared-nosoname"].path)["soname"] is None


def test_c_symbols_and_debug_sections(fixtures: Fixtures) -> None:
    assert ".symtab" in _section_names(fixtures["c-pie"].path)
    assert ".symtab" not in _section_names(fixtures["c-stripped"].path)

    plain = {s["name"]: s for s in readelf_sections(fixtures["c-debug"].path)}
    assert "C" not in plain[".debug_info"]["flags"]
    zlib = {s["name"]: s for s in readelf_sections(fixtures["c-debug-zlib"].path)}
    assert "C" in zlib[".debug_info"]["flags"]
    assert zlib[".text"]["flags"] == "AX"
    assert zlib[".text"]["type"] == "PROGBITS"
    assert zlib[""]["type"] == "NULL"


def test_c_debug_zdebug(fixtures: Fixtures) -> None:
    names = _section_names(fixtures["c-debug-zdebug"].path)
    assert ".zdebug_info" in names
    assert ".debug_info" not in names


def test_c_canary_and_fortify(fixtures: Fixtures) -> None:
    hardened = dict(readelf_dynsym_names(fixtures["c-canary-fortify"].path))
    for sym in ("__stack_chk_fail", "__memcpy_chk", "__printf_chk", "cos"):
        assert hardened.get(sym) == "UND", sym
    plain = dict(readelf_dynsym_names(fixtures["c-nocanary"].path))
    assert not [s for s in plain if s == "__stack_chk_fail" or s.endswith("_chk")]
    assert "cos" in plain


def test_c_relro(fixtures: Fixtures) -> None:
    full = fixtures["c-relro-full"].path
    assert "GNU_RELRO" in _segment_types(full)
    assert readelf_dynamic_info(full)["has_bind_now"]
    none = fixtures["c-relro-none"].path
    assert "GNU_RELRO" not in _segment_types(none)
    assert not readelf_dynamic_info(none)["has_bind_now"]


def test_c_execstack(fixtures: Fixtures) -> None:
    assert _gnu_stack_flags(fixtures["c-execstack"].path) == "RWE"
    assert _gnu_stack_flags(fixtures["c-pie"].path) == "RW"


def test_c_rpath_runpath(fixtures: Fixtures) -> None:
    runpath = readelf_dynamic_info(fixtures["c-runpath"].path)
    assert (runpath["runpath"], runpath["rpath"]) == (["/opt/gate/lib"], [])
    rpath = readelf_dynamic_info(fixtures["c-rpath"].path)
    assert (rpath["rpath"], rpath["runpath"]) == (["/opt/gate/lib", "/opt/other"], [])


def test_c_textrel(fixtures: Fixtures) -> None:
    dyn = readelf_dynamic_info(fixtures["c-textrel"].path)
    assert dyn["has_textrel"]
    assert "TEXTREL" in dyn["flags"]


# --------------------------------------------------------------------------- Go


@pytest.fixture(params=GO_TOOLCHAIN_LABELS)
def tc(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_go_version_and_main_module(
    fixtures: Fixtures, go_toolchains: GoToolchains, tc: str
) -> None:
    fx = fixtures[f"{tc}-hello-default"]
    go, env = go_toolchains[tc]
    info = go_version_m(go, env, fx.path)
    assert info["go_version"].startswith(tc + ".")
    assert info["path"] == "example.com/hello"
    assert info["mod"] == ("example.com/hello", "(devel)", None)
    assert info["deps"] == []
    settings = dict(info["settings"])
    assert settings["CGO_ENABLED"] == "1"
    assert "vcs" not in settings
    assert readelf_header(fx.path)["type"] == "EXEC"
    assert ".symtab" in _section_names(fx.path)


def test_go_variants(fixtures: Fixtures, go_toolchains: GoToolchains, tc: str) -> None:
    def fx(variant: str) -> Fixture:
        return fixtures[f"{tc}-{variant}"]

    assert ".symtab" not in _section_names(fx("hello-sw").path)
    assert _go_setting_map(go_toolchains, fx("hello-sw"))["-ldflags"] == '"-s -w"'
    assert readelf_header(fx("hello-pie").path)["type"] == "DYN"
    # Go 1.19 does not record -buildmode; newer Go does.
    assert _go_setting_map(go_toolchains, fx("hello-pie")).get("-buildmode") == (
        None if tc == "go1.19" else "pie"
    )
    assert _go_setting_map(go_toolchains, fx("hello-nocgo"))["CGO_ENABLED"] == "0"

    trim = _go_setting_map(go_toolchains, fx("hello-trimpath"))
    assert trim["-trimpath"] == "true"
    # Go never records -ldflags under -trimpath (they may hold paths, go.dev/issue/52372).
    assert "-ldflags" not in trim

    dynamic = fx("httpserver").path
    assert readelf_interpreter(dynamic) is not None
    assert "libc.so.6" in readelf_dynamic_info(dynamic)["needed"]
    static = fx("httpserver-static-sw").path
    assert "INTERP" not in _segment_types(static)
    assert ".symtab" not in _section_names(static)

    stripped = fx("hello-stripped").path
    assert ".symtab" not in _section_names(stripped)
    assert _go_setting_map(go_toolchains, fx("hello-stripped")) == _go_setting_map(
        go_toolchains, fx("hello-default")
    )


def test_go_vcs(fixtures: Fixtures, go_toolchains: GoToolchains, tc: str) -> None:
    settings = _go_setting_map(go_toolchains, fixtures[f"{tc}-hello-vcs"])
    assert settings["vcs"] == "git"
    assert re.fullmatch(r"[0-9a-f]{40}", settings["vcs.revision"])
    assert settings["vcs.time"] == "2024-01-02T03:04:05Z"
    assert settings["vcs.modified"] == "false"


def test_go_trimpath_version_is_injected(fixtures: Fixtures) -> None:
    for variant, expected in (("hello-default", "dev"), ("hello-trimpath", "1.2.3")):
        path = fixtures[f"go1.27-{variant}"].path
        out = subprocess.run([path], capture_output=True, text=True, check=True).stdout
        assert out.split() == ["hello", "from", "gate", "fixture", expected]


def test_go_noshdr(fixtures: Fixtures) -> None:
    path = fixtures["go1.27-hello-noshdr"].path
    base = fixtures["go1.27-hello-sw"].path
    assert readelf_sections(path) == []
    assert readelf_header(path) == readelf_header(base)
    assert readelf_segments(path) == readelf_segments(base)
    out = subprocess.run([path], capture_output=True, text=True, check=True).stdout
    assert out.startswith("hello from gate fixture")


@pytest.mark.parametrize(
    "variant", ["hello-default", "hello-trimpath", "hello-vcs", "httpserver-static-sw"]
)
def test_buildinfodump_matches_go_version_m(
    fixtures: Fixtures, go_toolchains: GoToolchains, tc: str, variant: str
) -> None:
    fx = fixtures[f"{tc}-{variant}"]
    go, env = go_toolchains[fx.toolchain]
    text = go_version_m(go, env, fx.path)
    dump = go_buildinfo_json(fixtures, fx.path)
    assert dump["go_version"] == text["go_version"]
    assert dump["path"] == text["path"]
    main = dump["main"]
    assert (main["path"], main["version"], main["sum"] or None) == text["mod"]
    assert dump["deps"] == []
    assert [s["key"] for s in dump["settings"]] == [_unquote_go(k) for k, _ in text["settings"]]
    assert [s["value"] for s in dump["settings"]] == [_unquote_go(v) for _, v in text["settings"]]


# --------------------------------------------------------------------------- start-up programs

# Only run by gate's runner tests, which check for leaked processes; here they
# must merely exist (a daemon started here would outlive the test).
_NOT_RUN_HERE = (
    "rt-daemon",
    "rt-daemon-stubborn",
    "rt-fork200",
    "rt-hang",
    "rt-ignore-term",
    "rt-flood",
)


@contextlib.contextmanager
def _spawned(
    argv: Sequence[str | os.PathLike[str]], **kwargs: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """Popen that is always killed and reaped, whatever the test does."""
    proc = subprocess.Popen(list(argv), **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _run_fixture(fx: Fixture, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([fx.path, *args], capture_output=True, timeout=10, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("name", _NOT_RUN_HERE)
def test_rt_hostile_programs_exist(fixtures: Fixtures, name: str) -> None:
    path = fixtures[name].path
    assert os.access(path, os.X_OK), name


def test_rt_noop(fixtures: Fixtures) -> None:
    static = fixtures["rt-noop"].path
    assert "INTERP" not in _segment_types(static)
    dynamic = fixtures["rt-noop-dyn"].path
    assert readelf_interpreter(dynamic) is not None
    assert "PIE" in readelf_dynamic_info(dynamic)["flags_1"]
    for name in ("rt-noop", "rt-noop-dyn"):
        proc = _run_fixture(fixtures[name])
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b""), name


def test_rt_noexec(fixtures: Fixtures) -> None:
    fx = fixtures["rt-noexec"]
    assert fx.flags[-1] == "post:chmod 0644"
    assert fx.path.stat().st_mode & 0o777 == 0o644
    assert fx.path.read_bytes() == fixtures["rt-noop"].path.read_bytes()
    # Holds for root too: root still needs at least one x bit to execute.
    assert not os.access(fx.path, os.X_OK)
    with pytest.raises(PermissionError):
        _run_fixture(fx)


def test_rt_exit3(fixtures: Fixtures) -> None:
    proc = _run_fixture(fixtures["rt-exit3"])
    assert proc.returncode == 3
    assert proc.stdout == b""
    assert proc.stderr == b"config error: missing DATABASE_URL\n"


def test_rt_segv(fixtures: Fixtures) -> None:
    assert _run_fixture(fixtures["rt-segv"]).returncode == -signal.SIGSEGV


def test_rt_sleep50(fixtures: Fixtures) -> None:
    assert "INTERP" not in _segment_types(fixtures["rt-sleep50"].path)
    start = time.monotonic()
    proc = _run_fixture(fixtures["rt-sleep50"])
    elapsed = time.monotonic() - start
    assert proc.returncode == 0
    assert elapsed >= 0.050


def test_rt_close_stdout(fixtures: Fixtures) -> None:
    proc = _run_fixture(fixtures["rt-close-stdout"])
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")


def test_rt_notify_sends_ready(fixtures: Fixtures) -> None:
    name = f"@gate-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name[1:])  # Python wants the abstract NUL spelled out
        env = {**os.environ, "NOTIFY_SOCKET": name}
        with _spawned(
            [fixtures["rt-notify"].path, "20"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            sock.settimeout(5)
            assert sock.recv(64) == b"READY=1"
            assert proc.poll() is None  # still running after readiness
            proc.terminate()
            proc.wait(timeout=5)
            assert proc.returncode == -signal.SIGTERM
            assert proc.stdout is not None and proc.stderr is not None
            assert (proc.stdout.read(), proc.stderr.read()) == (b"", b"")


def test_rt_notify_without_socket(fixtures: Fixtures) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    proc = _run_fixture(fixtures["rt-notify"], "0", env=env)
    assert proc.returncode == 3
    assert b"NOTIFY_SOCKET" in proc.stderr


def test_rt_readyline(fixtures: Fixtures) -> None:
    with _spawned([fixtures["rt-readyline"].path, "20"], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 5)
        assert ready, "no ready line within 5 s"
        assert proc.stdout.readline() == b"listening on 127.0.0.1:0 READY\n"
        assert proc.poll() is None
        proc.terminate()
        assert proc.wait(timeout=5) == -signal.SIGTERM


def test_rt_bigtext(fixtures: Fixtures) -> None:
    path = fixtures["rt-bigtext"].path
    rodata = {s["name"]: s for s in readelf_sections(path)}[".rodata"]
    assert rodata["type"] == "PROGBITS"
    assert rodata["size"] >= 32 * 1024 * 1024
    assert "INTERP" not in _segment_types(path)
    assert _run_fixture(fixtures["rt-bigtext"]).returncode == 0


def _healthz(port: int) -> bytes | None:
    """Body of a 200 from /healthz, or None while nothing listens."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        return resp.read() if resp.status == 200 else None
    except ConnectionRefusedError:
        return None
    finally:
        conn.close()


@pytest.mark.parametrize("variant", ["httpserver", "httpserver-static-sw"])
def test_go_httpserver_delay_and_sigterm(fixtures: Fixtures, tc: str, variant: str) -> None:
    port = _free_port()
    argv = [fixtures[f"{tc}-{variant}"].path, "-delay", "200ms", "-addr", f"127.0.0.1:{port}"]
    start = time.monotonic()
    with _spawned(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        deadline = start + 10
        body = None
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            body = _healthz(port)
            if body is None:
                time.sleep(0.01)
        elapsed = time.monotonic() - start
        assert body == b"ok\n", proc.poll()
        assert elapsed >= 0.200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=2) == 0
