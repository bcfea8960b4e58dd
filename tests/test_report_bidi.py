"""No report gate writes carries a raw bidirectional control (U+202E and its kin).

A program's output, a file name, an argument or a message quoting them can hold U+202E
(right-to-left override), which makes a viewer show text in another order than it is
("Trojan Source"). Every format of the registry (gate/report/formats.py) is written here
from one document that carries them everywhere a string can come from outside; a format
added to the registry is covered without touching this file, and a JSON writer added
anywhere in gate/report/ that does not go through the one dump function fails the last
test. The JSON files must still read back as exactly what the program said.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from results_docs import check, document, facts

from gate.report.benchmark_action import benchmark_action_entries
from gate.report.bmf import bmf_document
from gate.report.formats import FORMATS, render
from gate.report.write import write_reports
from gate.values.escape import BIDI
from gate.values.stats import QUANTILE_METHOD

RAW = re.compile(f"[{BIDI}]")
EVERY = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
SAID = "ok \u202eLIAF\u202c " + EVERY  # "LIAF" shown reversed reads FAIL
NAME = "svc\u202egnp.exe"  # a file name that a viewer would show ending in .png
JSON_FORMATS = ("json", "gitlab", "bmf", "benchmark-action")


def _run(ok: bool) -> dict[str, Any]:
    run: dict[str, Any] = {
        "wall_ms": 12.5 if ok else 3.0, "user_ms": 1.0, "sys_ms": 1.0,
        "max_rss_bytes": 4_000_000, "major_faults": 0, "minor_faults": 100,
        "exit_code": 0 if ok else 3, "ok": ok, "stopped": 0, "port": None,
        "error": None if ok else f"exited with status 3: {SAID}",
    }  # fmt: skip
    if not ok:
        run["stderr_tail"] = SAID + "\n"
        run["stdout_tail"] = SAID + "\n"
    return run


def _document() -> dict[str, Any]:
    runs = [_run(True) for _ in range(9)] + [_run(False)]
    startup = {
        "binary": f"build/{NAME}", "args": ["--say", SAID], "ready": "exit", "cold": True,
        "eviction": "fadvise", "warmup": 1, "timeout_s": 10.0, "runs": runs,
        "stats": {
            "count": 9, "failed": 1, "min_ms": 12.5, "p50_ms": 12.5, "p90_ms": 12.5,
            "p95_ms": 12.5, "p99_ms": 12.5, "max_ms": 12.5, "mean_ms": 12.5, "stdev_ms": 0.0,
            "ci": {"p50": [12.5, 12.5], "p90": [None, None], "p95": [None, None]},
            "confidence": 0.95, "min_runs": {"p50": 6},
            "quantile_method": QUANTILE_METHOD,
            "ci_method": "order statistics (binomial), distribution-free",
        },
        "eviction_detail": None, "against": None,
    }  # fmt: skip
    svc = {
        "path": f"build/{NAME}",
        "name": NAME,
        "verdict": "fail",
        "error": None,
        "facts": facts(f"build/{NAME}"),
        "startup": startup,
        "attribution": {"packages": [{"name": f"example.com/{NAME}", "bytes": 900}]},
        "checks": [
            check("startup.runs", "fail", 9, 10, None, f"1 of 10 starts failed; first: {SAID}"),
            check("size.max_file", "warn", 1, 0, "bytes", f"{NAME} {SAID}", severity="warn"),
            check("size.max_section:.te\u202ext", "fail", 5, 4, "bytes", SAID),
        ],
    }
    broken = {
        "path": f"build/{NAME}.2", "name": f"{NAME}.2", "verdict": "error",
        "error": f"build/{NAME}.2: {SAID}", "facts": None, "startup": None,
        "attribution": None, "checks": [],
    }  # fmt: skip
    return document("error", [svc, broken])


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every format of the registry, written to a file as `gate check` and `gate report`
    write them (write_reports: atomically, UTF-8)."""
    out = tmp_path_factory.mktemp("bidi")
    doc = _document()
    assert RAW.search(json.dumps(doc, ensure_ascii=False))  # the input does carry them
    paths = {fmt: out / f"report.{fmt}" for fmt in FORMATS}
    write_reports([(paths[fmt], render(doc, fmt)) for fmt in FORMATS])
    return paths


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_format_writes_a_raw_bidi_control(written: dict[str, Path], fmt: str) -> None:
    text = written[fmt].read_bytes().decode("utf-8")
    found = sorted({f"U+{ord(c):04X}" for c in RAW.findall(text)})
    assert not found, f"{fmt} writes {', '.join(found)} raw"


def test_every_json_export_reads_back_as_the_program_said(written: dict[str, Path]) -> None:
    """Escaped as JSON's own `\\uNNNN`: the parsed data is what the document holds."""
    doc = _document()
    loaded = {fmt: json.loads(written[fmt].read_text(encoding="utf-8")) for fmt in JSON_FORMATS}
    assert loaded["bmf"] == bmf_document(doc)
    assert NAME in loaded["bmf"] and f"{NAME} startup p95" in loaded["bmf"]
    assert loaded["benchmark-action"] == json.loads(json.dumps(benchmark_action_entries(doc)))
    assert loaded["benchmark-action"][0]["name"] == f"{NAME} - file-size"
    assert loaded["json"]["binaries"][0]["startup"]["runs"][-1]["stderr_tail"] == SAID + "\n"
    descriptions = [issue["description"] for issue in loaded["gitlab"]]
    assert f"{NAME}: size.max_file: {NAME} {SAID}" in descriptions
    assert f"{NAME}.2: build/{NAME}.2: {SAID}" in descriptions
    for fmt in JSON_FORMATS:  # the file shows the escape where the data has the control
        assert "\\u202e" in written[fmt].read_text(encoding="utf-8"), fmt


def test_hyperfine_export_escapes_the_command(tmp_path: Path) -> None:
    """`gate startup --export-hyperfine`: the command (binary and arguments) as hyperfine
    writes it, with the arguments' controls escaped; it reads back unchanged."""
    export = tmp_path / "h.json"
    program = f"import sys  # {SAID}"
    done = subprocess.run(
        [sys.executable, "-m", "gate", "startup", sys.executable, "--runs", "2", "--warm",
         "--export-hyperfine", str(export), "--", "-c", program],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = export.read_text(encoding="utf-8")
    assert not RAW.search(text)
    (result,) = json.loads(text)["results"]
    assert result["command"].endswith(program + "'") and len(result["times"]) == 2


def test_every_json_writer_in_gate_report_goes_through_escape() -> None:
    """A JSON exporter added to gate/report/ with its own json.dumps would write the
    controls raw: a module that encodes JSON must take its escaping from gate/values/escape.py
    (dump_json, or json_bidi_escaped for a writer that streams rows, as `gate size
    --json` does), and only escape.py may call json.dumps on a whole document."""
    gate = Path(__file__).resolve().parent.parent / "gate"
    report = gate / "report"
    encodes = re.compile(r"\bjson\.(dumps?|encoder)\b|\bJSONEncoder\b|\bfrom json import\b")
    escapes = re.compile(r"\b(dump_json|json_bidi_escaped)\b|from gate\.report\.json import dumps")
    assert encodes.search((gate / "values" / "escape.py").read_text(encoding="utf-8"))  # the dump
    writers = {p.name: p.read_text(encoding="utf-8") for p in sorted(report.glob("*.py"))}
    writers = {name: text for name, text in writers.items() if encodes.search(text)}
    assert writers, "the scan finds the report modules that write JSON"
    unescaped = [name for name, text in writers.items() if not escapes.search(text)]
    assert unescaped == []
    # Which exporters reach JSON only through the one dump: none may leave it unnoticed.
    for name in ("json.py", "bmf.py", "hyperfine.py", "gitlab.py", "benchmark_action.py"):
        text = (report / name).read_text(encoding="utf-8")
        assert "dump_json(" in text and not encodes.search(text), name
