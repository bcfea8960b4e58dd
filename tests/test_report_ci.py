"""`gate report --format github|gitlab`: annotations and Code Quality, read back as CI would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from results_docs import check, document

from gate.report.markdown import render_markdown

HOSTILE = "evil\n::set-output name=verdict::pass\r\n%0A 100% :, done"


def gate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def binary(name: str, checks: list[dict[str, Any]], error: str | None = None) -> dict[str, Any]:
    status = "error" if error else "fail" if any(c["status"] == "fail" for c in checks) else "pass"
    return {"path": f"bin/{name}", "name": name, "verdict": status, "error": error,
            "facts": None, "startup": None, "attribution": None, "checks": checks}  # fmt: skip


def _unescape(text: str, prop: bool) -> str:
    """GitHub's runner decoding of workflow-command values."""
    pairs = [("%0D", "\r"), ("%0A", "\n")] + ([("%3A", ":"), ("%2C", ",")] if prop else [])
    for code, ch in pairs:
        text = text.replace(code, ch)
    return text.replace("%25", "%")


_COMMAND = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def parse_annotations(stdout: str) -> list[tuple[str, dict[str, str], str]]:
    """(level, properties, message) per line, as the runner parses them; other lines fail."""
    out = []
    for line in stdout.splitlines():
        m = _COMMAND.match(line)
        assert m, f"not one workflow command: {line!r}"
        props = dict(p.split("=", 1) for p in (m.group(2) or "").split(",") if p)
        out.append(
            (
                m.group(1),
                {k: _unescape(v, True) for k, v in props.items()},
                _unescape(m.group(3), False),
            )
        )
    return out


def test_github_annotations_summary_and_output(tmp_path: Path) -> None:
    doc = document("error", [
        binary("svc", [check("size.max_file", "fail", message=HOSTILE),
                       check("elf.pie", "warn", message="not PIE"),
                       check("elf.nx", "pass", message="ok"),
                       check("size.max_growth", "skip", message="no baseline")]),
        binary("broken", [], error="bin/broken: not an ELF file"),
    ])  # fmt: skip
    results = tmp_path / "results.json"
    results.write_text(json.dumps(doc))
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    summary.write_text("earlier step\n")
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    proc = gate("report", str(results), "--format", "github", env=env)
    assert proc.returncode == 0, proc.stderr
    assert parse_annotations(proc.stdout) == [
        ("error", {"title": "svc: size.max_file"}, HOSTILE),
        ("error", {"title": "broken: not judged"}, "bin/broken: not an ELF file"),
        ("warning", {"title": "svc: elf.pie"}, "not PIE"),
    ]  # fmt: skip
    assert summary.read_text() == "earlier step\n" + render_markdown(
        doc
    )  # appended, as GitHub wants
    assert output.read_text() == "verdict=error\n"


def test_github_caps_annotations_per_level(tmp_path: Path) -> None:
    checks = [check(f"size.max_section:.s{i}", "fail", message=f"m{i}") for i in range(13)]
    results = tmp_path / "r.json"
    results.write_text(json.dumps(document("fail", [binary("svc", checks)])))
    proc = gate("report", str(results), "--format", "github")
    parsed = parse_annotations(proc.stdout)
    assert [p[0] for p in parsed] == ["error"] * 10 + ["notice"]
    assert parsed[-1][2] == "3 more errors: see the job summary"


def test_gitlab_code_quality(tmp_path: Path) -> None:
    doc = document("fail", [
        binary("svc", [check("size.max_file", "fail", message="file size 9 MB > 8.5 MB"),
                       check("elf.pie", "warn", message="not PIE"),
                       check("elf.nx", "pass")]),
        binary("other", [check("size.max_file", "fail", message="other message")]),
    ])  # fmt: skip
    results = tmp_path / "r.json"
    results.write_text(json.dumps(doc))
    out = tmp_path / "cq.json"
    proc = gate("report", str(results), "--format", "gitlab", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    issues = json.loads(out.read_text())
    # The fields GitLab's Code Quality widget requires, with values from its closed sets.
    assert [(i["check_name"], i["severity"], i["location"]["path"]) for i in issues] == [
        ("size.max_file", "major", "bin/svc"),
        ("elf.pie", "minor", "bin/svc"),
        ("size.max_file", "major", "bin/other"),
    ]
    assert issues[0]["description"] == "svc: size.max_file: file size 9 MB > 8.5 MB"
    assert all(i["location"]["lines"]["begin"] == 1 and i["type"] == "issue" for i in issues)
    fingerprints = [i["fingerprint"] for i in issues]
    assert len(set(fingerprints)) == 3 and all(
        re.fullmatch(r"[0-9a-f]{64}", f) for f in fingerprints
    )
    # A different measurement of the same failing check is the same issue for GitLab.
    doc["binaries"][0]["checks"][0]["message"] = "file size 9.1 MB > 8.5 MB"
    results.write_text(json.dumps(doc))
    again = json.loads(gate("report", str(results), "--format", "gitlab").stdout)
    assert again[0]["fingerprint"] == fingerprints[0]
