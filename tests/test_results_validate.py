"""gate/results/validate.py and the format it checks (gate/results/schema.py): every
optional key filled once with its default, defaults that follow from other keys, unknown
keys kept but checked, and each bad value one line naming its JSON path. The real documents
and their mutants through every consumer are tests/test_results.py's."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from gate.errors import DocumentError
from gate.integrate.sources import load_results
from gate.results.schema import RESULTS_SCHEMA
from gate.results.validate import ResultsError, validate

# ---------------------------------------------------------------- the validator


def _minimal_entry() -> dict[str, Any]:
    return {"path": "build/svc", "facts": None}


def _minimal_startup() -> dict[str, Any]:
    run = {
        "wall_ms": 1.5,
        "user_ms": 0.5,
        "sys_ms": 0.5,
        "max_rss_bytes": None,
        "major_faults": 0,
        "minor_faults": 40,
        "exit_code": 0,
        "ok": True,
    }
    return {
        "binary": "build/svc",
        "args": [],
        "ready": "exit",
        "cold": True,
        "eviction": "fadvise",
        "runs": [run],
        "stats": None,
    }


def test_missing_optional_keys_are_filled_once_with_their_defaults() -> None:
    entry = _minimal_entry()
    entry["startup"] = _minimal_startup()
    entry["checks"] = [{"id": "elf.nx", "status": "fail"}]
    doc = validate({"schema": RESULTS_SCHEMA, "binaries": [entry]}, "doc.json")
    assert {
        k: doc[k]
        for k in ("gate_version", "created", "policy", "policy_sources", "baseline", "verdict")
    } == {
        "gate_version": None,
        "created": None,
        "policy": "unknown",
        "policy_sources": [],
        "baseline": None,
        "verdict": "fail",
    }
    (binary,) = doc["binaries"]
    assert binary["name"] == "svc" and binary["error"] is None
    assert binary["attribution"] is None and binary["verdict"] == "fail"
    assert binary["checks"] == [
        {
            "id": "elf.nx",
            "status": "fail",
            "measured": None,
            "limit": None,
            "unit": None,
            "message": "",
            "severity": "error",
        }
    ]
    startup = binary["startup"]
    for key in (
        "breakdown",
        "against",
        "environment",
        "adaptive",
        "eviction_detail",
        "warmup",
        "requested_runs",
        "timeout_s",
    ):
        assert startup[key] is None, key
    assert startup["stopped"] == "fixed"
    (run,) = startup["runs"]
    assert (run["stdout_tail"], run["stderr_tail"], run["error"], run["stopped"]) == (
        "",
        "",
        None,
        0,
    )
    # Once: validating the validated form changes nothing, and the defaults are not shared.
    again = validate(copy.deepcopy(doc), "doc.json")
    assert again == doc
    other = validate({"schema": RESULTS_SCHEMA, "binaries": [_minimal_entry()]}, "x.json")
    other["policy_sources"].append("mutated")
    assert doc["policy_sources"] == []


def test_defaults_that_follow_from_other_keys() -> None:
    doc = validate(
        {
            "schema": RESULTS_SCHEMA,
            "binaries": [
                {"path": "a/ok"},
                {"path": "b/broken", "error": "not an ELF binary"},
            ],
        },
        "doc.json",
    )
    assert [(b["name"], b["verdict"]) for b in doc["binaries"]] == [
        ("ok", "pass"),
        ("broken", "error"),
    ]
    assert doc["verdict"] == "error"
    stats = validate(
        {
            "schema": RESULTS_SCHEMA,
            "binaries": [
                {
                    "path": "s",
                    "startup": {
                        **_minimal_startup(),
                        "stats": {
                            "count": 1,
                            "failed": 0,
                            "min_ms": 1.5,
                            "p50_ms": 1.5,
                            "p90_ms": 1.5,
                            "p95_ms": 1.5,
                            "p99_ms": 1.5,
                            "max_ms": 1.5,
                            "mean_ms": 1.5,
                            "stdev_ms": 0.0,
                            "ci": {"p50": [None, 2.0]},
                            "confidence": 0.95,
                        },
                    },
                }
            ],
        },
        "doc.json",
    )["binaries"][0]["startup"]["stats"]
    assert stats["ci"] == {
        "p50": [None, 2.0],
        "p90": [None, None],
        "p95": [None, None],
        "p99": [None, None],
    }


def test_unknown_keys_are_kept_but_checked_as_json() -> None:
    doc = validate(
        {
            "schema": RESULTS_SCHEMA,
            "binaries": [],
            "x-future": {"a": [1, "b"]},
            "surrogate \ud800": "\udcff",
        },
        "doc.json",
    )
    assert doc["x-future"] == {"a": [1, "b"]}
    assert doc["surrogate \ufffd"] == "\ufffd"  # written out as UTF-8, never a crash
    with pytest.raises(
        ResultsError,
        match=r"^doc.json: x-future.a\[1\]: expected a finite "
        r"number, got NaN$",
    ):
        validate(
            {"schema": RESULTS_SCHEMA, "binaries": [], "x-future": {"a": [1, math.nan]}}, "doc.json"
        )


def _bad(path: str, value: Any) -> dict[str, Any]:
    """A valid document with `value` put at a dotted path (`binaries.0.facts.file_size`)."""
    entry = _minimal_entry()
    entry["facts"] = _facts()
    entry["startup"] = _minimal_startup()
    entry["checks"] = [{"id": "size.max_file", "status": "pass"}]
    doc: dict[str, Any] = {"schema": RESULTS_SCHEMA, "binaries": [entry]}
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DROP:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def _facts() -> dict[str, Any]:
    from results_docs import facts

    return facts("build/svc")


_DROP = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "binaries.0.facts.file_size",
            math.nan,
            "binaries[0].facts.file_size: expected a non-negative integer, got NaN",
        ),
        (
            "binaries.0.facts.file_size",
            math.inf,
            "binaries[0].facts.file_size: expected a non-negative integer, got Infinity",
        ),
        (
            "binaries.0.facts.file_size",
            2**64,
            "binaries[0].facts.file_size: expected a non-negative integer (at most 2**64 - 1), "
            "got 18446744073709551616",
        ),
        (
            "binaries.0.facts.file_size",
            -1,
            "binaries[0].facts.file_size: expected a non-negative integer, got -1",
        ),
        (
            "binaries.0.facts.file_size",
            "12 MB",
            'binaries[0].facts.file_size: expected a non-negative integer, got "12 MB"',
        ),
        (
            "binaries.0.facts.file_size",
            True,
            "binaries[0].facts.file_size: expected a non-negative integer, got true",
        ),
        (
            "binaries.0.facts.file_size",
            _DROP,
            "binaries[0].facts.file_size: missing; expected a non-negative integer",
        ),
        (
            "binaries.0.facts.elf",
            [],
            "binaries[0].facts.elf: expected ELF header facts (an object), got a list",
        ),
        (
            "binaries.0.facts.hardening.relro",
            "most",
            'binaries[0].facts.hardening.relro: expected one of "none", "partial", "full", '
            'got "most"',
        ),
        (
            "binaries.0.facts.go",
            3,
            "binaries[0].facts.go: expected Go build info (an object) or null, got 3",
        ),
        (
            "binaries.0.facts.sections",
            {"name": ".text"},
            "binaries[0].facts.sections: expected a list of sections, got an object",
        ),
        ("binaries.0.error", 7, "binaries[0].error: expected a string or null, got 7"),
        (
            "binaries.0.checks.0.status",
            "ok",
            'binaries[0].checks[0].status: expected one of "pass", "fail", "warn", "skip", '
            'got "ok"',
        ),
        (
            "binaries.0.checks.0.measured",
            math.inf,
            "binaries[0].checks[0].measured: expected a finite number, got Infinity",
        ),
        (
            "binaries.0.startup.runs.0.wall_ms",
            -0.5,
            "binaries[0].startup.runs[0].wall_ms: expected a non-negative number, got -0.5",
        ),
        (
            "binaries.0.startup.runs.0.ok",
            "yes",
            'binaries[0].startup.runs[0].ok: expected true or false, got "yes"',
        ),
        (
            "binaries.0.startup.runs",
            None,
            "binaries[0].startup.runs: expected a list of runs, got null",
        ),
        (
            "binaries.0.startup.stats",
            [],
            "binaries[0].startup.stats: expected start-up statistics (an object) or null, "
            "got a list",
        ),
        (
            "binaries.0.attribution",
            {"packages": [{"name": "runtime", "bytes": 1.5}]},
            "binaries[0].attribution.packages[0].bytes: expected a non-negative integer, got 1.5",
        ),
        (
            "binaries.0.attribution",
            {"pclntab": 1},
            "binaries[0].attribution.pclntab: expected a string or null, got 1",
        ),
        (
            "binaries.0.facts.go",
            {
                "version": "go1.22",
                "path": "x",
                "main_module": None,
                "settings": {"-ldflags": ["-s"]},
            },
            'binaries[0].facts.go.settings["-ldflags"]: expected a string, got a list',
        ),
        ("binaries", {}, "binaries: expected a list of binaries, got an object"),
        ("binaries.0", "svc", 'binaries[0]: expected a binary\'s entry (an object), got "svc"'),
        ("policy", None, "policy: expected a string, got null"),
        ("verdict", "maybe", 'verdict: expected one of "pass", "fail", "error", got "maybe"'),
    ],
)
def test_each_bad_value_names_its_json_path(path: str, value: Any, message: str) -> None:
    with pytest.raises(ResultsError) as exc:
        validate(_bad(path, value), "base.json")
    assert str(exc.value) == f"base.json: {message}"


def test_numbers_json_cannot_hold_are_named(tmp_path: Path) -> None:
    """A 400-digit integer and 1e5000 are read (not refused by Python's int limit) and named."""
    path = tmp_path / "huge.json"
    text = json.dumps(_bad("binaries.0.facts.file_size", 0))
    for raw, shown in (
        ("9" * 400, "a 400-digit integer"),
        ("1e5000", "1e5000"),
        ("-Infinity", "-Infinity"),
        ("9" * 5000, "a 5000-digit integer"),
    ):
        path.write_text(text.replace('"file_size": 0', f'"file_size": {raw}'))
        with pytest.raises(ResultsError) as exc:
            load_results(str(path))
        assert str(exc.value) == (
            f"{path}: binaries[0].facts.file_size: expected a non-negative integer, got {shown}"
        )


def test_not_a_results_document(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    for content, fragment in (
        (
            '{"schema": "gate/size/v1"}',
            "not a gate results file (schema 'gate/size/v1', expected 'gate/results/v1')",
        ),
        ("[1, 2]", "not a gate document (a JSON list)"),
        ('{"schema": 5}', "not a gate results file (schema 5, expected 'gate/results/v1')"),
        ('{"schema": "gate/results/v1"}', "binaries: missing; expected a list of binaries"),
        ("{nope", "not JSON"),
        (b"\xff\xfe\xfd", "not JSON"),
    ):
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        with pytest.raises(DocumentError) as exc:
            load_results(str(path))
        assert str(exc.value).startswith(f"{path}: ") and fragment in str(exc.value), exc.value


def test_timings_are_optional_non_negative_finite_seconds() -> None:
    """`timings` (what measuring took) defaults to null, each key to null; a negative,
    NaN or infinite time is refused with its path."""
    entry: dict[str, Any] = {"path": "bin/svc"}
    doc = validate({"schema": RESULTS_SCHEMA, "binaries": [entry]}, "r.json")
    assert doc["binaries"][0]["timings"] is None
    entry = {"path": "bin/svc", "timings": {"startup_s": 1.5}}
    doc = validate({"schema": RESULTS_SCHEMA, "binaries": [entry]}, "r.json")
    assert doc["binaries"][0]["timings"] == {
        "inspect_s": None, "attribution_s": None, "startup_s": 1.5, "breakdown_s": None,
    }  # fmt: skip
    for bad, shown in ((-0.1, "-0.1"), (math.nan, "NaN"), (math.inf, "Infinity"), ("1", '"1"')):
        entry = {"path": "bin/svc", "timings": {"inspect_s": bad}}
        with pytest.raises(ResultsError) as raised:
            validate({"schema": RESULTS_SCHEMA, "binaries": [entry]}, "r.json")
        assert str(raised.value) == (
            "r.json: binaries[0].timings.inspect_s: expected a non-negative number or null, "
            f"got {shown}"
        )


def test_skipped_is_optional_and_each_entry_is_checked() -> None:
    """`skipped` (what gate check --skip-unsupported passed over): a document from before
    it loads with none; each entry is a path and what the file is, or one line says why
    not."""
    old = validate({"schema": RESULTS_SCHEMA, "binaries": [_minimal_entry()]}, "old.json")
    assert old["skipped"] == []
    passed_over = [{"path": "bin/logo.png", "reason": "a PNG image"}]
    doc = validate({"schema": RESULTS_SCHEMA, "binaries": [], "skipped": passed_over}, "r.json")
    assert doc["skipped"] == [{"path": "bin/logo.png", "reason": "a PNG image"}]
    assert doc["verdict"] == "pass"
    for bad, problem in (
        ({}, "skipped: expected a list of files passed over, got an object"),
        ([{"path": "bin/logo.png"}], "skipped[0].reason: missing; expected a string"),
        ([{"path": 1, "reason": "x"}], "skipped[0].path: expected a string, got 1"),
        (
            ["bin/logo.png"],
            'skipped[0]: expected a file passed over (an object), got "bin/logo.png"',
        ),
    ):
        with pytest.raises(ResultsError) as raised:
            validate({"schema": RESULTS_SCHEMA, "binaries": [], "skipped": bad}, "r.json")
        assert str(raised.value) == f"r.json: {problem}"
