"""Hostile inputs of issue 14 ("Files"): report targets that are not regular files, baselines
and policies that never end or never arrive, servers that drip, redirect or inflate, and
binary paths holding control characters.

Device targets are only ever written inside a private mount namespace with a throwaway
/dev (`unshare -m`): a gate that still replaced them would replace a copy, never the
real /dev/null. The HTTP servers are real ones on 127.0.0.1, as in fake_forge.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import io
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from ci import unavailable

from gate.errors import GateError, SourceError
from gate.integrate.sources import load_document
from gate.judge.policy import load_policy
from gate.report.github import render_github
from gate.report.progress import RunProgress
from gate.report.write import write_reports

ESC_NAME = "svc\x1b[31mRED\ngate: pass"


def gate(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    memory: int | None = None,
) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # a gate that reads /dev/zero to the end dies here, not the host
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "CI": "true", **(env or {})},
        preexec_fn=limit,
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small results document of a real binary (a copy of `true`), judged without starts."""
    tmp = tmp_path_factory.mktemp("hostile")
    binary = tmp / "svc"
    shutil.copy(shutil.which("true") or "/bin/true", binary)
    done = gate("check", "--no-startup", str(binary), "--json", str(tmp / "r.json"))
    assert done.returncode == 0, done.stderr
    return tmp / "r.json"


# --- reports on special paths -------------------------------------------------------------


def _in_namespace(script: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`script` with a throwaway /dev (null, full, stdout) in a private mount namespace."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        unavailable("needs root and unshare(1) for a private mount namespace")
    setup = (
        "set -u; mount --make-rprivate / && mount -t tmpfs tmpfs /dev && "
        "mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/full c 1 7 && "
        "ln -s /proc/self/fd/1 /dev/stdout && ln -s /dev/null /dev/to-null || exit 99\n"
    )
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", setup + script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp,
        env={**os.environ, "CI": "true"},
    )
    if done.returncode == 99 or "unshare failed" in done.stderr:
        unavailable(f"no private mount namespace here: {done.stderr.strip()}")
    return done


def test_device_targets_are_written_in_place_never_replaced(results: Path, tmp_path: Path) -> None:
    g = f"{shlex.quote(sys.executable)} -m gate"
    r = shlex.quote(str(results))
    binary = shlex.quote(str(results.parent / "svc"))
    script = f"""
{g} report {r} --format json -o /dev/null; echo "null rc=$?"; stat -c 'null %F' /dev/null
{g} report {r} --format json -o /dev/to-null; echo "link rc=$?"; stat -c 'link %F' /dev/to-null
{g} check --no-startup {binary} --json new.json --junit /dev/full 2>full.err
echo "full rc=$?"; stat -c 'full %F' /dev/full; test -e new.json && echo "new.json left"
{g} report {r} --format json -o /dev/stdout > stdout.json; echo "stdout rc=$?"
stat -c 'stdout %F' /dev/stdout
"""
    done = _in_namespace(script, tmp_path)
    out = done.stdout
    assert "null rc=0" in out and "null character special file" in out, out + done.stderr
    assert "link rc=0" in out and "link symbolic link" in out, out
    assert "full rc=2" in out and "full character special file" in out, out
    assert "new.json left" not in out  # the regular report is all-or-nothing with the device
    err = (tmp_path / "full.err").read_text()
    assert err.count("\n") == 1 and "/dev/full: cannot write report: no space left" in err, err
    assert "stdout rc=0" in out and "stdout symbolic link" in out, out
    assert json.loads((tmp_path / "stdout.json").read_text())["schema"] == "gate/results/v1"


def test_a_fifo_target_is_written_to_its_reader(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    write_reports([(fifo, "<testsuites/>\n"), (tmp_path / "r.md", "# gate\n")])
    reader.join(10)
    assert got == [b"<testsuites/>\n"]
    assert fifo.is_fifo()  # still the FIFO, not a file renamed over it
    assert (tmp_path / "r.md").read_text() == "# gate\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.md", "report.fifo"]  # no temps


def test_dash_is_standard_output(results: Path, tmp_path: Path) -> None:
    done = gate("report", str(results), "--format", "json", "-o", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["schema"] == "gate/results/v1"
    assert not (tmp_path / "-").exists()
    done = gate("check", "--no-startup", str(results.parent / "svc"), "--json", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdict"] == "pass"  # the text summary went to stderr
    assert "gate: pass" in done.stderr
    assert not (tmp_path / "-").exists()


# --- baselines and policies -----------------------------------------------------------------


def test_baseline_dev_zero_is_refused_at_once(results: Path) -> None:
    start = time.monotonic()
    binary = str(results.parent / "svc")
    done = gate(
        "check", "--no-startup", binary, "--baseline", "/dev/zero", timeout=30, memory=2 << 30
    )
    assert done.returncode == 2
    assert (
        done.stderr == "gate: error: /dev/zero: not a regular file or a pipe; not a results file\n"
    )
    assert time.monotonic() - start < 10


def test_a_fifo_baseline_nobody_writes_ends_at_the_deadline(results: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "base.fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    binary = str(results.parent / "svc")
    done = gate(
        "check", "--no-startup", binary, "--baseline", str(fifo),
        env={"GATE_FETCH_TIMEOUT": "1"}, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert "nothing more to read within 1 s (GATE_FETCH_TIMEOUT)" in done.stderr
    assert time.monotonic() - start < 10


def test_a_fifo_baseline_is_read_when_written(results: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "base.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(results.read_bytes()), daemon=True)
    writer.start()
    assert load_document(str(fifo))["schema"] == "gate/results/v1"
    writer.join(10)


def test_a_huge_policy_file_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("# padding\n" * 200_000 + '[policy]\nname = "p"\n')
    with pytest.raises(GateError, match="larger than 1024 KiB; not a policy"):
        load_policy(str(policy))


class _Hostile(http.server.BaseHTTPRequestHandler):
    """drip: a byte every 0.3 s (in the body, or in the headers); redirect: same host,
    outside the API prefix; bomb: 100 MiB of zeros gzipped; every request's headers kept."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []
    body: ClassVar[bytes] = b"{}"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        with contextlib.suppress(OSError):
            self._answer()

    def _answer(self) -> None:
        if self.path.startswith("/drip-headers"):
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.3)
            return
        if self.path.startswith("/drip"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.3)
            return
        if self.path.startswith("/api/v4/"):
            self.send_response(302)
            self.send_header("Location", "/elsewhere/r.json")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/bomb"):
            body = _bomb()
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    if not _BOMB:
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(100):
                f.write(chunk)
        _BOMB.append(out.getvalue())
    return _BOMB[0]


@pytest.fixture
def hostile(results: Path) -> Iterator[str]:
    _Hostile.seen = []
    _Hostile.body = results.read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("where", ["drip", "drip-headers"])
def test_a_dripping_server_ends_at_the_total_deadline(
    hostile: str, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_FETCH_TIMEOUT", "2")
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"not fetched within 2 s \(GATE_FETCH_TIMEOUT\)"):
        load_document(f"{hostile}/{where}/r.json")
    assert time.monotonic() - start < 5


def test_a_same_host_redirect_outside_the_api_gets_no_job_token(
    hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "glcbt-SECRET-0123456789"
    monkeypatch.setenv("CI_API_V4_URL", f"{hostile}/api/v4")
    monkeypatch.setenv("CI_JOB_TOKEN", token)
    url = f"{hostile}/api/v4/projects/1/jobs/artifacts/main/raw/r.json?job=gate"
    assert load_document(url)["schema"] == "gate/results/v1"
    (first, first_headers), (second, second_headers) = _Hostile.seen
    assert first.startswith("/api/v4/") and first_headers.get("job-token") == token
    assert second == "/elsewhere/r.json" and "job-token" not in second_headers


def test_a_gzip_bomb_stops_at_the_cap_in_decoded_bytes(hostile: str) -> None:
    assert len(_bomb()) < 1 << 20  # 100 MiB inflated from well under 1 MiB on the wire
    tracemalloc.start()
    try:
        with pytest.raises(SourceError, match="larger than 32 MiB; not a results file"):
            load_document(f"{hostile}/bomb/r.json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20  # the cap and a step, never the whole 100 MiB


def test_unsupported_content_encoding_is_refused(
    hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Brotli(_Hostile):
        def _answer(self) -> None:
            self.send_response(200)
            self.send_header("Content-Encoding", "br")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Brotli)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(SourceError, match="unsupported Content-Encoding 'br'"):
            load_document(f"http://127.0.0.1:{server.server_address[1]}/r.json")
    finally:
        server.shutdown()
        server.server_close()


# --- binary paths with control characters ---------------------------------------------------


def test_control_characters_in_a_binary_path_are_escaped(results: Path, tmp_path: Path) -> None:
    binary = tmp_path / ESC_NAME
    shutil.copy(results.parent / "svc", binary)
    policy = tmp_path / "p.toml"
    policy.write_text('[policy]\nname = "tiny"\n[size]\nmax_file = "1 kB"\n')
    done = gate(
        "check", "--no-startup", "--policy", str(policy), str(binary),
        "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    for stream in (done.stdout, done.stderr):
        assert "\x1b" not in stream
        assert "\ngate: pass" not in stream
    assert "svc\\x1b[31mRED\\x0agate: pass" in done.stdout
    annotations = gate("report", str(tmp_path / "r.json"), "--format", "github").stdout
    assert "\x1b" not in annotations
    assert all(line.startswith("::") for line in annotations.splitlines()), annotations


def test_progress_lines_escape_the_label_and_the_error() -> None:
    stream = io.StringIO()
    progress = RunProgress(ESC_NAME, stream)
    sample: Any = SimpleNamespace(ok=False, error="no \x1b[2Jexec\nhere", wall_ms=1.0)
    progress("timed", 1, 3, sample)
    text = stream.getvalue()
    assert "\x1b" not in text
    assert text.count("\n") == 2, text  # the phase line and the failure line, nothing forged


def test_annotation_titles_escape_the_name() -> None:
    doc = {
        "binaries": [
            {
                "name": ESC_NAME,
                "path": ESC_NAME,
                "error": None,
                "checks": [{"id": "size.max_file", "status": "fail", "message": "too big"}],
            }
        ]
    }
    out = render_github(doc)
    assert "\x1b" not in out and out.count("\n") == 1, out


def test_a_same_host_redirect_outside_the_github_api_gets_no_token() -> None:
    import zipfile

    from fake_forge import FakeForge

    from gate.integrate.ghartifact import fetch_results

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("results.json", "{}")
    with FakeForge() as forge:
        artifact = forge.add_github_artifact("octo/svc", "gate-results", "main", buf.getvalue())
        zip_url = str(artifact["archive_download_url"])
        host = forge.github_api.split("/api/")[0]
        forge.redirects[zip_url[len(host) :]] = f"{host}/elsewhere/zip"
        env = {
            "GITHUB_API_URL": forge.github_api,
            "GITHUB_REPOSITORY": "octo/svc",
            "GITHUB_TOKEN": forge.token,
            "GITHUB_BASE_REF": "main",
        }
        with contextlib.suppress(SourceError):
            fetch_results("github-artifact:gate-results", env)
        seen = {r.path: r.headers for r in forge.requests}
    assert "authorization" in seen[zip_url[len(host) :]]
    assert "/elsewhere/zip" in seen and "authorization" not in seen["/elsewhere/zip"]
