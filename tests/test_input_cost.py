"""Inputs whose cost is out of proportion to their bytes (issue 23): JSON documents of
millions of tiny values, as a file and gzipped behind a URL, and policies whose nesting or
dotted keys drive tomllib's recursion or its quadratic time.

Each runs gate in a child process and measures that child alone (os.wait4): its peak
memory must stay under twice the input's size plus 100 MB, its time under a bound that
holds on a loaded two-core machine.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from gate.errors import GateError
from gate.judge.policy import load_policy
from gate.values import textlimits

MB = 1 << 20


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak: int  # bytes of resident memory at most
    seconds: float


# Measured from a small process of its own: a child forked from pytest would count pytest's
# own peak (Linux keeps the memory the forked copy had before exec in ru_maxrss).
_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def measured(tmp: Path, *args: str, timeout: float = 60) -> Run:
    """gate ARGS in a child whose own peak memory and time are measured."""
    peak = tmp / "peak"
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(peak), sys.executable, "-m", "gate", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    seconds = time.monotonic() - start
    kilobytes = int(peak.read_text())
    return Run(done.returncode, done.stdout, done.stderr, kilobytes * 1024, seconds)


def within(run: Run, size: int) -> None:
    allowed = 2 * size + 100 * MB
    assert run.peak < allowed, f"{run.peak / MB:.0f} MB for {size / MB:.1f} MB"
    assert run.seconds < 20, f"{run.seconds:.1f} s"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results document of a real binary (a copy of `true`), judged without starts."""
    tmp = tmp_path_factory.mktemp("cost")
    shutil.copy(shutil.which("true") or "/bin/true", tmp / "svc")
    done = subprocess.run(
        [sys.executable, "-m", "gate", "check", "--no-startup", str(tmp / "svc"),
         "--json", str(tmp / "r.json")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return tmp / "r.json"


EMPTY_OBJECTS = b"[" + b",".join([b"{}"] * (10 * MB)) + b"]"  # 30 MB, ten million objects


def _too_costly(text: bytes) -> str:
    """The refusal of a text whose values would cost more than the cap for its length."""
    cap = textlimits.COST_FLOOR + textlimits.COST_PER_BYTE * len(text)
    return (
        f"JSON values that would take more than {cap / 1e6:,.0f} MB of memory "
        f"({len(text) / 1e6:,.0f} MB of text)"
    )


# --- JSON documents ---------------------------------------------------------------------


def test_thirty_megabytes_of_empty_objects_are_refused_cheaply(tmp_path: Path) -> None:
    doc = tmp_path / "empty.json"
    doc.write_bytes(EMPTY_OBJECTS)
    run = measured(tmp_path, "report", str(doc))
    assert run.returncode == 2
    assert run.stderr == f"gate: error: {doc}: {_too_costly(EMPTY_OBJECTS)}; not a gate document\n"
    within(run, len(EMPTY_OBJECTS))


class _Gzipped(http.server.BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


@pytest.fixture
def gzipped() -> Iterator[str]:
    _Gzipped.body = gzip.compress(EMPTY_OBJECTS, 9)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gzipped)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/r.json"
    finally:
        server.shutdown()
        server.server_close()


def test_gzipped_empty_objects_as_a_baseline_url_are_refused_cheaply(
    gzipped: str, results: Path, tmp_path: Path
) -> None:
    assert len(_Gzipped.body) < 64 * 1024  # 30 MB of JSON in some 30 KB on the wire
    binary = str(results.parent / "svc")
    run = measured(tmp_path, "check", "--no-startup", binary, "--baseline", gzipped)
    assert run.returncode == 2
    assert run.stderr == (
        f"gate: error: {gzipped}: {_too_costly(EMPTY_OBJECTS)}; not a gate document\n"
    )
    within(run, len(EMPTY_OBJECTS))


def _padded(results: Path, entries: int, reason: str) -> bytes:
    """The results document with `entries` skipped inputs, each of five keys and values."""
    doc = json.loads(results.read_text())
    # Paths of one width: every entry the same bytes, so size and count grow linearly.
    doc["skipped"] = [{"path": f"{i:07d}", "reason": reason} for i in range(entries)]
    return json.dumps(doc, separators=(",", ":")).encode()


def test_a_valid_document_near_the_byte_cap_is_read_within_bounds(
    results: Path, tmp_path: Path
) -> None:
    body = _padded(results, 31 * MB // 1000, "x" * 950)
    doc = tmp_path / "r.json"
    doc.write_bytes(body)
    run = measured(tmp_path, "report", str(doc), "-o", os.devnull)
    assert run.returncode == 0, run.stderr
    within(run, len(body))


def test_brackets_commas_and_escapes_inside_strings_do_not_count() -> None:
    braces = json.dumps({"name": '\\"{[,:' * 400_000, "list": [[[1]]]})
    assert textlimits.json_excess(braces) is None
    assert textlimits.json_excess(json.dumps([[[1]]]), max_depth=2) == (
        "arrays or objects nested deeper than 2 levels"
    )
    # 11 numbers (36 bytes each, 16 for each pointer) and a list (72 bytes)
    assert textlimits.json_cost("[" + "1," * 10 + "1]").bytes == 11 * 36 + 11 * 16 + 72 + 16
    assert textlimits.json_excess("[" + "1," * 10 + "1]", max_cost=500) == (
        "JSON values that would take more than 0.0 MB of memory (0.0 MB of text)"
    )


# --- policies -----------------------------------------------------------------------------


def test_deeply_nested_arrays_in_a_policy_are_refused(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("x = " + "[" * 500 + "]" * 500 + "\n")  # 1 KB
    run = measured(tmp_path, "policy", "validate", str(policy))
    assert run.returncode == 2
    assert run.stderr == (
        f"gate: error: {policy}: arrays or tables nested deeper than 10 levels; not a policy\n"
    )
    within(run, 1024)


@pytest.mark.parametrize(
    "text",
    [
        ".".join(["a"] * 20_000) + " = 1\n",  # 40 KB, one key
        "[" + ".".join(["a"] * 20_000) + "]\n",
        "x = {" + " . ".join(["a"] * 8_000) + " = 1}\n",
    ],
    ids=["key", "table", "inline"],
)
def test_deep_dotted_keys_in_a_policy_are_refused_at_once(tmp_path: Path, text: str) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(text)
    run = measured(tmp_path, "policy", "validate", str(policy))
    assert run.returncode == 2
    assert run.stderr == (
        f"gate: error: {policy}: a dotted key of more than 10 parts; not a policy\n"
    )
    assert run.peak < 100 * MB and run.seconds < 10, (run.peak / MB, run.seconds)


def test_a_policy_of_too_many_keys_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("".join(f"k{i} = 1\n" for i in range(10_001)))
    with pytest.raises(GateError, match=r"p.toml: more than 10,000 keys; not a policy$"):
        load_policy(str(policy))


def test_strings_and_comments_in_a_policy_do_not_count(tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text(
        "# [[[[[[[[[[[ a.b.c.d.e.f.g.h.i.j.k.l = \n"
        '[policy]\nname = "p"\ndescription = """a.b.c.d.e.f.g.h.i.j.k.l \\""" [[[[[[[[[[[["""\n'
        "[size]\nmax_file_size = '[[[[[[[[[[[[ a.b.c.d.e.f.g.h.i.j.k.l = 1'\n"
        '[binary."a.b.c.d.e.f.g.h.i.j.k.l".startup]\nruns = 3\n'
    )
    assert textlimits.toml_excess(policy.read_text()) is None
    with pytest.raises(GateError, match="max_file_size"):  # judged as a policy, not refused
        load_policy(str(policy))


def test_gate_reads_back_the_biggest_results_document_it_may_write(
    results: Path, tmp_path: Path
) -> None:
    """A monorepo's merged results near the 32 MiB a URL may bring (a thousand binaries
    judged without starts), written as gate writes it, is read within twice its size plus
    100 MB, not taken for a flood; the same rewritten without blanks (`jq -c`) is denser
    than gate writes, and is refused before it is parsed."""
    from gate.values.escape import dump_json

    doc = json.loads(results.read_text())
    (one,) = doc["binaries"]
    doc["binaries"] = [{**one, "path": f"services/s{i}/bin/svc"} for i in range(2)]
    each = len(dump_json(doc)) - len(dump_json({**doc, "binaries": doc["binaries"][:1]}))
    copies = 31 * MB // each  # indented inside the list: more than dump_json(one)
    doc["binaries"] = [{**one, "path": f"services/s{i}/bin/svc"} for i in range(copies)]
    body = dump_json(doc).encode()
    assert 28 * MB < len(body) < 32 * MB
    big = tmp_path / "merged.json"
    big.write_bytes(body)
    run = measured(tmp_path, "report", str(big), "--format", "text", "-o", os.devnull)
    assert run.returncode == 0, run.stderr
    within(run, len(body))  # measured: 141 MB for 31 MB
    run = measured(tmp_path, "report", str(big), "--format", "json", "-o", os.devnull)
    assert run.returncode == 0, run.stderr
    within(run, len(body))  # measured: 141 MB (325 MB while the JSON was built whole)
    compact = len(json.dumps(one, separators=(",", ":"))) + 1
    doc["binaries"] = [{**one, "path": f"services/s{i}/bin/svc"} for i in range(31 * MB // compact)]
    dense = tmp_path / "dense.json"
    dense.write_bytes(json.dumps(doc, separators=(",", ":")).encode())
    assert 28 * MB < dense.stat().st_size < 32 * MB
    run = measured(tmp_path, "report", str(dense), "--format", "json", "-o", os.devnull)
    assert run.returncode == 2 and "JSON values that would take more than" in run.stderr
    assert run.peak < 100 * MB, run.peak / MB


def _symbol_rows(count: int) -> bytes:
    """A gate/size/v1 document by symbol as `gate size --by symbol --json` writes it
    (report/size.py: indented, its entries one compact row a line), of `count` symbols."""
    rows = ",\n".join(f'{{"name":"main.f{i:07d}","bytes":{300 + i % 5000}}}' for i in range(count))
    head = {"schema": "gate/size/v1", "binary": "svc", "file_size": 10**9, "by": "symbol",
            "pclntab": None, "bss": 0, "warnings": [], "entries": "\0", "entries_total": count,
            "groups": [{"name": "code", "bytes": 10**9}], "covered": None,
            "toolchain": {"compiler": None, "go": None}, "against": None}  # fmt: skip
    before, after = json.dumps(head, indent=2).split('"\\u0000"')
    return f"{before}[\n{rows}\n]{after}\n".encode()


_READ_BACK = """
import sys
from gate.integrate.sources import load_document
doc = load_document(sys.argv[1])
rows = doc["entries"]
assert len(rows) == doc["entries_total"] == int(sys.argv[2]), len(rows)
for i in (0, 1, len(rows) // 2, len(rows) - 1):
    assert rows[i] == {"name": f"main.f{i:07d}", "bytes": 300 + i % 5000}, rows[i]
print(sum(row["bytes"] for row in rows))
"""


def test_gate_reads_back_a_million_symbols_it_wrote(tmp_path: Path) -> None:
    """`gate size --by symbol --json` of a million symbols is larger than the 32 MiB a URL
    may bring: a file of it is read back, within the cost gate.values.textlimits allows."""
    count = 1_000_000
    body = _symbol_rows(count)
    assert len(body) > 32 * MB
    doc = tmp_path / "symbols.json"
    doc.write_bytes(body)
    peak = tmp_path / "peak"
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, str(peak), sys.executable, "-c", _READ_BACK,
         str(doc), str(count)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == sum(300 + i % 5000 for i in range(count))
    used = int(peak.read_text()) * 1024
    # The text, and its values within the cap (an upper bound on what json builds).
    assert used < len(body) + textlimits.cost_cap(len(body)), f"{used / MB:.0f} MB"
    assert seconds < 30, f"{seconds:.1f} s"
    print(f"{len(body) / MB:.1f} MB: {used / MB:.0f} MB, {seconds:.1f} s")


_MEASURE = """
import resource, subprocess, sys
with open(sys.argv[2], "w") as out:
    code = subprocess.run(sys.argv[3:], stdout=out).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(code)
"""


def _child(*args: str, out: Path) -> tuple[int, str, int, float]:
    """gate ARGS in a child, its stdout to `out`: (status, stderr, its own peak RSS in
    bytes, its CPU seconds), measured from a small process of its own (see _WRAPPER)."""
    usage = out.with_suffix(".usage")
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(usage), str(out), sys.executable, "-m", "gate",
         *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    kilobytes, cpu = usage.read_text().split()
    return done.returncode, done.stderr, int(kilobytes) * 1024, float(cpu)


def test_a_million_symbols_written_by_gate_are_compared_with_within_bounds(
    tmp_path: Path,
) -> None:
    """`gate size --by symbol --json` of tests/manysymbols.py's file, read back with
    `--against`: no symbol changed, in at most twice the time writing took, and in no more
    memory than the binary's own symbols (`--by symbol` alone) plus twice the document
    and 100 MB (measured: 34 MB written in 12 s; read in 10 s and 276 MB, of which the
    binary's symbols take 252 MB; before gate.values.sizerows, 48-74 s and 624 MB)."""
    import manysymbols
    from ci import unavailable

    if shutil.which("as") is None or shutil.which("ld") is None:
        unavailable("binutils (as, ld) are needed for the 1M-symbol file")
    many = str(manysymbols.build())
    doc, text = tmp_path / "symbols.json", tmp_path / "out.txt"
    status, err, own, _ = _child("size", many, "--by", "symbol", out=text)
    assert status == 0, err
    status, err, _, write_cpu = _child("size", many, "--by", "symbol", "--json", out=doc)
    assert status == 0, err
    size = doc.stat().st_size
    assert 30 * MB < size < 40 * MB
    status, err, peak, read_cpu = _child(
        "size", many, "--by", "symbol", "--against", str(doc), out=text
    )
    assert status == 0, err
    lines = text.read_text().splitlines()
    assert lines[1] == f"against {doc}: +0 B (+0.0%), 42.5 MiB -> 42.5 MiB"
    assert lines[-1] == "  no symbol changed"
    assert peak < own + 2 * size + 100 * MB, f"{peak / MB:.0f} MB; the symbols alone {own / MB:.0f}"
    assert read_cpu < 2 * write_cpu, f"{read_cpu:.1f} s of CPU; writing took {write_cpu:.1f}"
    print(f"{size / MB:.1f} MB: {peak / MB:.0f} MB ({own / MB:.0f} alone), {read_cpu:.1f} s")
