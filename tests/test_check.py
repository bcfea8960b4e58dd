"""`gate check` end to end on real binaries, read back by the real consumers of its reports."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from promtool import assert_promtool_accepts
from reference import Fixture

DATA = Path(__file__).parent / "data"
SERVER_ARGS = ("--ready", "http://127.0.0.1:{port}/healthz")


def gate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "gate", *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "CI": "true"},
    )


def reports(tmp_path: Path) -> tuple[list[str], dict[str, Path]]:
    paths = {
        fmt: tmp_path / f"out/r.{ext}"
        for fmt, ext in (
            ("junit", "xml"),
            ("json", "json"),
            ("markdown", "md"),
            ("metrics", "prom"),
        )
    }
    args = [a for fmt, p in paths.items() for a in (f"--{fmt}", str(p))]
    return args, paths


def checks_of(doc: dict[str, Any], binary: int = 0) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in doc["binaries"][binary]["checks"]}


def test_a_go_service_that_fits_serverless_passes(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    svc = fixtures["go1.27-httpserver-static-sw"].path
    args, out = reports(tmp_path)
    proc = gate(
        "check",
        str(svc),
        "--policy",
        "serverless",
        "--runs",
        "8",
        *SERVER_ARGS,
        *args,
        "--",
        "-addr",
        "127.0.0.1:{port}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out["json"].read_text())
    assert doc["schema"] == "gate/results/v1" and doc["verdict"] == "pass"
    assert doc["policy"] == "serverless"
    assert doc["policy_sources"] == ["builtin:serverless", "builtin:default"]
    checks = checks_of(doc)
    regression = checks.pop("startup.max_regression")  # serverless has one; no OLD here
    assert (regression["status"], regression["message"]) == (
        "skip",
        "no baseline start-up to compare with (--baseline)",
    )
    assert all(c["status"] == "pass" for c in checks.values()), checks
    assert set(checks) >= {"size.max_file", "elf.stripped", "go.ldflags_contain", "startup.p95"}
    assert doc["binaries"][0]["startup"]["ready"] == "http://127.0.0.1:{port}/healthz"
    assert proc.stdout.splitlines()[-1].startswith("gate: pass (policy serverless; ")
    assert out["markdown"].read_text().startswith("## ✅ gate: all ")
    assert_promtool_accepts(out["metrics"].read_text())


def test_unstripped_go_fails_with_exact_messages(fixtures, tmp_path: Path) -> None:
    hello = fixtures["go1.19-hello-nocgo"].path
    args, out = reports(tmp_path)
    proc = gate("check", str(hello), "--policy", "serverless", "--runs", "5", *args)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(out["json"].read_text())
    checks = checks_of(doc)
    n = doc["binaries"][0]["facts"]["symbols"]["symtab_entries"]
    assert checks["elf.stripped"]["status"] == "fail"
    assert checks["elf.stripped"]["message"] == (
        f"not stripped: .symtab with {n:,} entries (link with -ldflags=-s)"
    )
    assert checks["go.ldflags_contain"]["message"] == "built without -ldflags (lacks -s -w)"
    assert f"  FAIL  elf.stripped             {checks['elf.stripped']['message']}" in proc.stdout
    assert out["markdown"].read_text().splitlines()[0].startswith("## ❌ gate: ")
    assert_promtool_accepts(out["metrics"].read_text())


def test_slow_server_fails_p95(fixtures, tmp_path: Path) -> None:
    svc = fixtures["go1.27-httpserver-static-sw"].path
    args, out = reports(tmp_path)
    proc = gate(
        "check",
        str(svc),
        "--policy",
        "serverless",
        "--runs",
        "6",
        "--warm",
        *SERVER_ARGS,
        *args,
        "--",
        "-addr",
        "127.0.0.1:{port}",
        "-delay",
        "400ms",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    p95 = checks_of(json.loads(out["json"].read_text()))["startup.p95"]
    assert p95["status"] == "fail" and p95["measured"] > 400
    assert p95["message"].startswith(f"warm-start p95 {p95['measured']:.1f} ms > 320 ms by ")
    assert "(6 runs, p50 " in p95["message"]
    assert_promtool_accepts(out["metrics"].read_text())


def test_reports_load_in_real_consumers(fixtures, tmp_path: Path) -> None:
    """Several binaries, one of them missing: each its own suite; counts agree everywhere."""
    import junitparser
    import xmlschema
    from prometheus_client.parser import text_string_to_metric_families

    names = ["go1.27-hello-sw", "c-pie", "c-execstack"]
    paths = [str(fixtures[n].path) for n in names] + [str(tmp_path / "missing-svc")]
    args, out = reports(tmp_path)
    proc = gate("check", *paths, "--policy", "default", "--no-startup", *args)
    assert proc.returncode == 2  # one binary could not be judged
    assert proc.stderr.splitlines()[-1] == f"gate: error: {paths[-1]}: no such file"
    doc = json.loads(out["json"].read_text())
    assert [b["verdict"] for b in doc["binaries"]] == ["pass", "pass", "fail", "error"]

    xmlschema.XMLSchema(str(DATA / "junit.xsd")).validate(str(out["junit"]))
    xml = junitparser.JUnitXml.fromfile(str(out["junit"]))
    suites = list(xml)
    assert [s.name for s in suites] == [f"gate.{Path(p).name}" for p in paths]
    for suite, b in zip(suites, doc["binaries"], strict=True):
        statuses = [c["status"] for c in b["checks"]]
        assert suite.tests == len(statuses) + (b["verdict"] == "error")
        assert suite.failures == statuses.count("fail")
        assert suite.skipped == statuses.count("skip")
        assert suite.errors == (b["verdict"] == "error")

    families = {f.name: f for f in text_string_to_metric_families(out["metrics"].read_text())}
    sizes = {s.labels["binary"]: s.value for s in families["gate_file_bytes"].samples}
    for b in doc["binaries"][:3]:
        assert sizes[b["name"]] == b["facts"]["file_size"]
    verdicts = {s.labels["binary"]: s.value for s in families["gate_verdict"].samples}
    assert verdicts == {"go1.27-hello-sw": 0, "c-pie": 0, "c-execstack": 1, "missing-svc": 2}
    assert_promtool_accepts(out["metrics"].read_text())


def test_report_re_renders_a_saved_result(fixtures, tmp_path: Path) -> None:
    args, out = reports(tmp_path)
    proc = gate("check", str(fixtures["c-pie"].path), "--no-startup", *args)
    assert proc.returncode == 0, proc.stderr
    for fmt, path in out.items():
        again = gate("report", str(out["json"]), "--format", fmt)
        assert again.returncode == 0, again.stderr
        assert again.stdout == path.read_text(), fmt
    text = gate("report", str(out["json"]))
    assert text.stdout.splitlines()[0] == f"{fixtures['c-pie'].path}: PASS"


def test_baseline_growth_from_a_previous_result(fixtures, tmp_path: Path) -> None:
    """main's result is the next run's baseline: growth is judged against it."""
    policy = tmp_path / "p.toml"
    policy.write_text('[size]\nmax_growth = "5%"\n')
    small, big = fixtures["go1.27-hello-sw"].path, fixtures["go1.27-httpserver-static-sw"].path
    # Same file name in both runs, as a service is on main and on the branch.
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    (tmp_path / "old" / "svc").write_bytes(small.read_bytes())
    (tmp_path / "new" / "svc").write_bytes(big.read_bytes())
    base = tmp_path / "main.json"
    assert (
        gate(
            "check",
            str(tmp_path / "old" / "svc"),
            "--policy",
            str(policy),
            "--no-startup",
            "--json",
            str(base),
        ).returncode
        == 0
    )
    proc = gate(
        "check",
        str(tmp_path / "new" / "svc"),
        "--policy",
        str(policy),
        "--no-startup",
        "--baseline",
        str(base),
    )
    assert proc.returncode == 1
    assert "FAIL  size.max_growth          file grew " in proc.stdout


# ---------------------------------------------------------------- bad input: exit 2, no report


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes, float]]] = {}

    def do_GET(self) -> None:
        status, body, delay = self.routes.get(self.path, (404, b"not found", 0.0))
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def baseline_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving good and bad baselines."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_bad_baselines(fixtures, tmp_path: Path, baseline_server: str) -> None:
    good = json.dumps({"schema": "gate/results/v1", "binaries": []}).encode()
    _Handler.routes = {
        "/ok.json": (200, good, 0.0),
        "/500.json": (500, b"oops", 0.0),
        "/other.json": (200, b'{"schema": "gate/startup/v1"}', 0.0),
        "/huge.json": (200, b" " * (40 * 2**20), 0.0),
    }
    (tmp_path / "notjson.json").write_text("{nope")
    cases = {
        str(tmp_path / "missing.json"): "no such file",
        str(tmp_path / "notjson.json"): "not JSON",
        f"{baseline_server}/other.json": "not a gate results file (schema 'gate/startup/v1'",
        f"{baseline_server}/404.json": "HTTP 404",
        f"{baseline_server}/500.json": "HTTP 500",
        f"{baseline_server}/huge.json": "larger than 32 MiB",
    }
    binary = str(fixtures["c-pie"].path)
    for source, fragment in cases.items():
        args, _ = reports(tmp_path / "r")
        proc = gate("check", binary, "--no-startup", "--baseline", source, *args)
        assert proc.returncode == 2, (source, proc.stdout, proc.stderr)
        (line,) = proc.stderr.splitlines()
        assert line.startswith(f"gate: error: {source}: ") and fragment in line, line
        assert not (tmp_path / "r").exists()  # no report, not even a partial one
    ok = gate("check", binary, "--no-startup", "--baseline", f"{baseline_server}/ok.json")
    assert ok.returncode == 0, ok.stderr


def test_bad_policy_writes_no_report(fixtures, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[startup]\np95 = "fast"\n')
    args, _ = reports(tmp_path)
    proc = gate("check", str(fixtures["c-pie"].path), "--policy", str(policy), *args)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f'gate: error: {policy}: startup.p95: expected a duration like "320ms" or "1.5s", '
        "got 'fast'"
    ]
    assert not (tmp_path / "out").exists()
    missing = gate("check", str(fixtures["c-pie"].path), "--policy", "nosuch")
    assert missing.returncode == 2
    assert "nosuch: no such policy file or built-in policy" in missing.stderr


def test_baseline_url_that_does_not_answer(baseline_server: str, monkeypatch) -> None:
    from gate import fetch
    from gate.errors import SourceError
    from gate.integrate.sources import load_document

    _Handler.routes = {"/slow.json": (200, b"{}", 3.0)}
    monkeypatch.setattr(fetch, "TIMEOUT_S", 0.5)
    with pytest.raises(SourceError) as exc:
        load_document(f"{baseline_server}/slow.json")
    assert str(exc.value) == f"{baseline_server}/slow.json: no answer within 0.5 s"


def test_quoted_globs_expand_to_one_suite_each(fixtures, tmp_path: Path) -> None:
    for name in ("svc-a", "svc-b"):
        (tmp_path / name).write_bytes(fixtures["c-pie"].path.read_bytes())
    out = tmp_path / "r.json"
    proc = gate("check", str(tmp_path / "svc-*"), "--no-startup", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert [b["name"] for b in json.loads(out.read_text())["binaries"]] == ["svc-a", "svc-b"]
    none = gate("check", str(tmp_path / "nothing-*"), "--no-startup")
    assert none.returncode == 2
    assert none.stderr.splitlines() == [f"gate: error: {tmp_path}/nothing-*: no file matches"]


def test_a_glob_matching_non_elf_files_names_each(fixtures, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi\n")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "svc").write_bytes(fixtures["c-pie"].path.read_bytes())
    args, out = reports(tmp_path / "r")
    proc = gate("check", f"{tmp_path}/*", "--no-startup", *args)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f'gate: error: {tmp_path}/notes.txt: a text file (starts with "hi"), not an ELF binary',
        f"gate: error: {tmp_path}/run.sh: a shell script (#!/bin/sh), not an ELF binary",
    ]
    doc = json.loads(out["json"].read_text())  # the judged one is still reported
    assert [(b["name"], b["verdict"]) for b in doc["binaries"]] == [
        ("notes.txt", "error"),
        ("run.sh", "error"),
        ("svc", "pass"),
    ]


# ---------------------------------------------------------------- --skip-unsupported
# The pre-commit hook hands gate every binary file under bin/ or dist/: a logo, a tarball,
# the macOS build. With --skip-unsupported what is not ELF at all is passed over and named;
# an ELF that is broken, or a path that is not there, is still an error.

_MACHO = b"\xcf\xfa\xed\xfe\x07\0\0\x01\x03\0\0\0\x02\0\0\0" + b"\0" * 16  # x86-64 MH_EXECUTE


def _not_elf_files(where: Path) -> dict[str, tuple[str, str]]:
    """Real files that are not ELF under `where`: relative path -> (what gate calls it,
    what file(1) calls it)."""
    import gzip
    import io
    import tarfile

    from images import png

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("svc")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    files = {
        "bin/logo.png": (png(), "a PNG image", "PNG image"),
        "dist/app.tar.gz": (gzip.compress(buf.getvalue()), "a gzip-compressed tar archive", "gzip"),
        "dist/svc-darwin": (_MACHO, "a Mach-O binary (macOS)", "Mach-O"),
        "bin/blob": (b"\0\xff\x10\x20" + bytes(60), "starts with 00 ff 10 20", "data"),
    }
    for name, (data, _, _) in files.items():
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_bytes(data)
    return {name: (what, file_says) for name, (_, what, file_says) in files.items()}


def _file_says(path: Path) -> str:
    import shutil

    from ci import unavailable

    if shutil.which("file") is None:
        unavailable("file(1) is not installed")
    return subprocess.run(["file", "-b", path], capture_output=True, text=True).stdout


def test_skip_unsupported_passes_over_what_is_not_elf_and_judges_the_rest(
    fixtures, tmp_path: Path
) -> None:
    names = _not_elf_files(tmp_path)
    for name, (_, file_says) in names.items():  # each sample is what it claims to be
        assert file_says in _file_says(tmp_path / name), name
    (tmp_path / "bin" / "svc").write_bytes(fixtures["c-pie"].path.read_bytes())
    inputs = ["bin/svc", *names]
    proc = gate("check", *inputs, "--no-startup", "--skip-unsupported", "--json", "r.json",
                "--markdown", "r.md", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    named = ", ".join(f"{name} ({what})" for name, (what, _) in names.items())
    line = f"gate: passed over 4 files that are not ELF binaries: {named}"
    assert proc.stderr.splitlines() == [line]
    out = proc.stdout.splitlines()
    assert out[0] == "bin/svc: PASS"
    assert out[-2:] == [line, "gate: pass (policy default; 2 pass)"]
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(b["path"], b["verdict"]) for b in doc["binaries"]] == [("bin/svc", "pass")]
    assert doc["skipped"] == [{"path": n, "reason": what} for n, (what, _) in names.items()]
    markdown = (tmp_path / "r.md").read_text()
    assert "⏭️ passed over 4 files that are not ELF binaries: bin/logo.png (a PNG image), " in (
        markdown
    )
    # The saved document says it again: `gate report` re-renders the same line.
    again = gate("report", "r.json", cwd=tmp_path)
    assert again.returncode == 0 and line in again.stdout.splitlines()
    # Without the option the same inputs are errors, each named for what it is.
    strict = gate("check", *inputs, "--no-startup", cwd=tmp_path)
    assert strict.returncode == 2
    assert strict.stderr.splitlines() == [
        f"gate: error: {n}: {what}, not an ELF binary"
        if not what.startswith("starts with")
        else f"gate: error: {n}: not an ELF binary ({what})"
        for n, (what, _) in names.items()
    ]


def test_skip_unsupported_with_nothing_left_to_judge_passes(tmp_path: Path) -> None:
    names = _not_elf_files(tmp_path)
    proc = gate("check", "bin/*", "dist/*", "--no-startup", "--skip-unsupported", "--json",
                "r.json", "--markdown", "r.md", "--junit", "r.xml", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        "gate: nothing to judge: no input is an ELF binary (policy default)"
    )
    doc = json.loads((tmp_path / "r.json").read_text())
    assert (doc["verdict"], doc["binaries"]) == ("pass", [])
    assert sorted(s["path"] for s in doc["skipped"]) == sorted(names)
    assert (tmp_path / "r.md").read_text().splitlines()[0] == (
        "## ✅ gate: nothing to judge (no input is an ELF binary)"
    )
    import xml.etree.ElementTree as ET

    assert ET.parse(tmp_path / "r.xml").getroot().findall(".//testcase") == []


@pytest.mark.parametrize(
    ("make", "error"),
    [
        ("truncated", "truncated or corrupt ELF"),
        ("empty", "empty file, not an ELF binary"),
        ("missing", "no such file"),
        ("directory", "is a directory, not a binary"),
        ("fifo", "is not a regular file"),  # never opened: reading it would wait forever
    ],
)
def test_skip_unsupported_still_judges_a_broken_elf_or_a_missing_path(
    fixtures, tmp_path: Path, make: str, error: str
) -> None:
    """Only a file that is not ELF at all is passed over: a cut-off build, a build that
    wrote nothing, a path that is not there are what a gate must stop."""
    from images import png

    (tmp_path / "logo.png").write_bytes(png())
    target = tmp_path / "svc"
    if make == "truncated":
        target.write_bytes(fixtures["c-pie"].path.read_bytes()[:300])
    elif make == "empty":
        target.write_bytes(b"")
    elif make == "directory":
        target.mkdir()
    elif make == "fifo":
        os.mkfifo(target)
    proc = gate("check", "svc", "logo.png", "--no-startup", "--skip-unsupported", "--json",
                "r.json", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("gate: error: ")]
    assert len(errors) == 1 and errors[0].startswith("gate: error: svc: ")
    assert error in errors[0]
    assert "Traceback" not in proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(b["path"], b["verdict"]) for b in doc["binaries"]] == [("svc", "error")]
    assert doc["skipped"] == [{"path": "logo.png", "reason": "a PNG image"}]


def test_skip_unsupported_still_refuses_a_glob_matching_nothing(tmp_path: Path) -> None:
    proc = gate("check", "bin/*", "--no-startup", "--skip-unsupported", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["gate: error: bin/*: no file matches"]
