"""JUnit XML: the report every CI system already reads (Jenkins, GitLab, GitHub actions).

One ``testsuite`` per binary, one ``testcase`` per check, rendered
from a ``gate/results/v1`` document so that a saved result re-renders identically.
The output validates against Jenkins' JUnit schema (tests/data/junit.xsd).

What viewers show first is kept short and readable: a handful of suite properties (the
full measurements are in the results JSON), numbers rounded (sizes in bytes, times in
ms to 0.1, durations in seconds to the millisecond), and each test case's ``time`` is
the time gate spent measuring what it judges (the entry's ``timings``): the ELF
inspection for elf/go checks, inspection and attribution for size and baseline checks,
the start-up runs (and the breakdown run) for startup checks. A suite's time is the
binary's total measuring time, each measurement counted once.

A failed or warned case's body ends with what to try for that check (the entry's
``remedies``, gate/judge/remedies.py): only the remedies that answer it, each with its evidence
and expected saving, as markup.remedy_lines writes them for the text log too.

A binary gate could not judge (exit 2: it could not be read or started) is one case,
``gate.error``, holding an ``<error>`` with the reason; with the policy's
``[report] not_judged = "failure"`` (the entry's ``not_judged``) it holds a ``<failure>``
of type ``gate.not_judged`` instead ("not judged: <reason>"), for consumers that are set
to ignore errors.

A ``warn`` check stays a passing test case (it does not block, and consumers that key
on the check id see the same case whether it passes or warns) whose only child is a
``system-out`` reading ``WARNING: <message>``. JUnit has no warning status (the schema
has no such element); of what it has, ``skipped`` would hide a measured problem as "not
run" and ``failure`` would fail a build that gate passed. Run for real
(tests/test_junit_viewers.py), xunit-viewer's page draws only cases whose status is one
of passed, failure, error, skipped, unknown, and takes a case's status from its first
child: ``system-out`` is passed, while ``system-err`` becomes a status of its own that
the page never draws (only counted under "?"). So the warning is ``system-out``: the
page draws the case as a pass that opens on its WARNING text (a plain pass is an empty
card), junit2html shows it as the case's Stdout block (its outcome stays Passed; it has
no other status for it), and junitparser reads it as ``system_out``. GitLab's test
report shows no output for passing cases at all; warnings reach GitLab users through
the job log, the Markdown summary and the code-quality report.

Anything that came from the binary (paths, Go settings, output tails, error text) is
untrusted and may hold bytes XML 1.0 cannot carry; every string goes through
``xml_safe`` before it reaches junit_xml, because junit_xml's own cleaning runs after
serialisation and lets lone surrogates and U+FFFF through as character references
(``&#55296;``) that no XML parser accepts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from gate.report.markup import (
    TAILS_SHOWN,
    breakdown_text,
    output_tail,
    remedy_lines,
)
from gate.values.wording import is_number

if TYPE_CHECKING:
    from gate.results.types import Check, Document, Entry, Startup

    Timing = Literal["inspect_s", "attribution_s", "startup_s", "breakdown_s"]

_REPLACEMENT = "\ufffd"
_TAIL_KEYS = ("stdout_tail", "stderr_tail")
MAX_FAILED_RUNS = 10  # failed start-up runs listed, in the suite's output and the failure
MAX_PROPERTIES = 10  # per suite; what is not here is in the results JSON


@cache
def _not_xml_safe() -> re.Pattern[str]:
    """What XML 1.0 cannot carry (C0 controls but tab, LF and CR; surrogates; U+FFFE and
    U+FFFF), plus DEL, the C1 controls and the bidirectional controls.

    DEL and C1 are legal XML but are terminal control codes (\\x9b is a CSI) that no
    report viewer shows sensibly, and junit_xml drops some of them silently. Compiled on
    first use: the surrogate range costs a millisecond that `gate` start-up should not pay.
    """
    from gate.values.escape import BIDI  # reorder what a viewer shows: Trojan Source

    return re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff{BIDI}]")


def xml_safe(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry replaced by U+FFFD.

    Replaced rather than dropped so a reader sees that something was there. Tabs,
    newlines, carriage returns and all of non-BMP Unicode (emoji) are kept.
    """
    return _not_xml_safe().sub(_REPLACEMENT, text)


def render_junit(doc: Document) -> str:
    """JUnit XML for a gate/results/v1 document, as text to be written as UTF-8."""
    import xml.etree.ElementTree as ET

    from junit_xml import TestSuite, to_xml_report_string

    binaries = doc["binaries"]
    labels = _labels(binaries)
    suites = []
    for binary, label in zip(binaries, labels, strict=True):
        suite_name = xml_safe(f"gate.{label}")
        suites.append(
            TestSuite(
                suite_name,
                test_cases=_cases(binary, suite_name),
                timestamp=xml_safe(doc["created"] or "") or None,
                properties=_properties(doc, binary),
                stdout=xml_safe(_summary(binary, label)),
            )
        )
    # prettyprint=False: junit_xml's pretty printer round-trips through minidom, which
    # writes newlines inside attribute values raw (a parser turns them into spaces).
    # encoding=None serialises to ASCII with character references, so its after-the-fact
    # cleaning regex cannot strip characters that are legal XML (it drops U+FDD0-U+FDDF).
    root = ET.fromstring(to_xml_report_string(suites, prettyprint=False))
    _fix_output(root, [_measuring_time(b) for b in binaries])
    ET.indent(root)  # only whitespace-only text of elements with children is touched
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _fix_output(root: Any, suite_times: list[float]) -> None:
    """Minimal fixes where junit_xml's output breaks Jenkins' JUnit schema or its readers,
    and the times gate means.

    - junit_xml always writes ``disabled="0"`` on testsuites and testsuite; the schema
      declares no ``disabled`` attribute (nothing in gate is ever disabled).
    - It writes times with ``str(float)``, which becomes "1e-05" for small values; the
      schema's SUREFIRE_TIME takes fixed-point only.
    - It sums a suite's case times; cases share measurements (every elf check was judged
      from one inspection), so a suite's time is the binary's measuring time instead.
    - It leaves ``time`` out of a test case whose time is 0. The schema allows that, but
      a reader that parses the attribute as a number gets nothing instead of 0.
    """
    root.attrib.pop("disabled", None)
    suites = root.findall("testsuite")
    for suite, seconds in zip(suites, suite_times, strict=True):
        suite.attrib.pop("disabled", None)
        suite.set("time", _seconds(seconds))
    root.set("time", _seconds(sum(suite_times)))
    for case in root.iter("testcase"):
        case.set("time", _seconds(float(case.get("time") or 0.0)))


def _seconds(seconds: float) -> str:
    """Seconds to the millisecond, fixed-point; a time under half a millisecond that is
    not 0 is shown as 0.001, so a measured case never reads as unmeasured."""
    if 0 < seconds < 0.0005:
        seconds = 0.001
    return f"{seconds:.3f}"


def _labels(binaries: list[Entry]) -> list[str]:
    """Display name of each binary; the path where two binaries share a name.

    Suites (and their classnames) must be distinct, or CI viewers merge the two
    binaries' checks into one suite.
    """
    names = [b["name"] or b["path"] or "?" for b in binaries]
    return [
        b["path"] or name if names.count(name) > 1 else name
        for b, name in zip(binaries, names, strict=True)
    ]


def _cases(binary: Entry, classname: str) -> list[Any]:
    from junit_xml import TestCase

    cases = []
    if binary["verdict"] == "error":
        cases.append(_not_judged(binary, classname))
    why = breakdown_text(binary["startup"])
    for check in binary["checks"]:
        check_id = xml_safe(check["id"] or "?")
        message = xml_safe(check["message"])
        case = TestCase(check_id, classname=classname, elapsed_sec=_elapsed(check, binary))
        status = check["status"]
        if status == "fail":
            # As for errors: an empty message and output would make a failure pass.
            detail = _detail(check)
            if check_id == "startup.runs":  # why the starts failed: errors, output tails
                detail += "\n" + "\n".join(_failed_runs(binary.get("startup")))
            if why and check_id.startswith("startup."):
                detail += "\n\n" + why
            detail += _remedies(binary, check["id"])
            case.add_failure_info(
                message=message or f"{check_id} failed",
                output=xml_safe(detail),
                failure_type=f"gate.{check_id}",
            )
        elif status == "skip":
            case.add_skipped_info(message=message or "skipped")
        elif status == "warn":  # see the module's docstring
            detail = _detail(check) + _remedies(binary, check["id"])
            case.stdout = xml_safe(f"WARNING: {message or check_id}\n{detail}")
        cases.append(case)
    return cases


def _not_judged(binary: Entry, classname: str) -> Any:
    """The one case of a binary gate could not judge: an <error>, or, where the policy's
    `report.not_judged` says "failure", a <failure> (a consumer set to ignore errors
    would otherwise show a build gate could not judge as green). Same case name either
    way, so a test history follows it across the switch."""
    from junit_xml import TestCase

    # The time spent until gate gave up on the binary.
    case = TestCase("gate.error", classname=classname, elapsed_sec=_measuring_time(binary))
    # junit_xml drops an error or failure whose message is empty: the case would pass.
    why = xml_safe(binary["error"] or "") or "the binary could not be judged"
    if binary.get("not_judged") == "failure":
        case.add_failure_info(message=f"not judged: {why}", failure_type="gate.not_judged")
    else:
        case.add_error_info(message=why)
    return case


def _remedies(binary: Entry, check_id: str) -> str:
    """What to try for one check (gate/judge/remedies.py), under its measured and limit."""
    lines = remedy_lines(binary.get("remedies"), check_id)
    return "\n\n" + "\n".join(lines) if lines else ""


# Which measurements each area of checks is judged from (keys of the entry's `timings`).
_MEASURED_BY: dict[str, tuple[Timing, ...]] = {
    "startup": ("startup_s", "breakdown_s"),
    "size": ("inspect_s", "attribution_s"),
    "baseline": ("inspect_s", "attribution_s"),
}
_INSPECTION: tuple[Timing, ...] = ("inspect_s",)  # elf, go and any other area: the ELF facts


def _elapsed(check: Check, binary: Entry) -> float:
    """Seconds shown as the test's duration: the time spent measuring what it judges
    (0 for a document written before gate recorded timings)."""
    area = check["id"].partition(".")[0]
    timings = binary.get("timings")
    if not timings:
        return 0.0
    return sum(timings.get(key) or 0.0 for key in _MEASURED_BY.get(area, _INSPECTION))


def _measuring_time(binary: Entry) -> float:
    """All the time spent measuring the binary, each measurement once: the timings a later
    gate adds too (a document keeps keys it does not know), the numbers among them."""
    timings = binary.get("timings")
    return sum(v for v in timings.values() if is_number(v)) if timings else 0.0


def _detail(check: Check) -> str:
    """Measured against limit, one per line: the body of a failure."""
    unit = check["unit"]
    return (
        f"measured: {_with_unit(check['measured'], unit)}\n"
        f"limit:    {_with_unit(check['limit'], unit)}\n"
        f"severity: {check['severity']}"
    )


def _with_unit(value: Any, unit: Any) -> str:
    text = _text(value, unit)
    if value is None or not unit or not is_number(value):
        return text
    if unit == "%":
        return f"{text}%"
    if unit == "bytes" and isinstance(value, int):
        from gate.values.units import format_size

        return f"{value:,} bytes ({format_size(value)})"
    return f"{text} {unit}"


def _text(value: Any, unit: Any = None) -> str:
    """A JSON value as a property or table shows it (true/false, not True/False), numbers
    rounded: milliseconds to 0.1 (as gate prints durations), other fractions to at most
    3 decimals, integers (sizes, counts) exactly."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v, unit) for v in value)
    if isinstance(value, float):
        if unit == "ms":
            return f"{value:.1f}"
        return f"{value:.3f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _properties(doc: Document, binary: Entry) -> dict[str, str]:
    """A handful of facts a viewer shows above the cases (at most MAX_PROPERTIES): who
    judged what, with which policy, the verdict and the headline numbers. Everything
    else gate measured is in the results JSON."""
    props: dict[str, Any] = {
        "gate.version": doc["gate_version"],
        "gate.policy": doc["policy"],
        "gate.path": binary["path"],
        "gate.verdict": binary["verdict"],
        "gate.error": binary["error"],
    }
    facts = binary["facts"]
    if facts is not None:
        props["gate.file_size"] = facts["file_size"]
    startup = binary["startup"]
    if startup is not None:
        props["gate.startup.runs"] = len(startup["runs"])
        stats = startup["stats"]
        if stats is not None:
            props["gate.startup.p50_ms"] = f"{stats['p50_ms']:.1f}"
            props["gate.startup.p95_ms"] = f"{stats['p95_ms']:.1f}"
    return {xml_safe(k): xml_safe(_text(v)) for k, v in props.items() if v is not None}


def _summary(binary: Entry, label: str) -> str:
    """The suite's system-out: what a person reads first in the CI test view."""
    lines = [f"gate {label} ({binary['path']}): {binary['verdict'].upper()}"]
    if binary["error"]:
        lines.append(f"error: {binary['error']}")
    checks = binary["checks"]
    if checks:
        lines += ["", _checks_table(checks)]
    lines += _failed_runs(binary.get("startup"))
    return "\n".join(lines) + "\n"


def _checks_table(checks: Iterable[Check]) -> str:
    """Fixed-width table of id, status and message, one check a line."""
    rows = [("check", "status", "message")]
    rows += [(c["id"], c["status"], " ".join(c["message"].split())) for c in checks]
    id_width = max(len(r[0]) for r in rows)
    status_width = max(len(r[1]) for r in rows)
    return "\n".join(f"{i:<{id_width}}  {s:<{status_width}}  {m}".rstrip() for i, s, m in rows)


def _failed_runs(startup: Startup | None) -> list[str]:
    """Errors and output tails of the start-ups that failed: why the binary did not start.

    Bounded however many failed: the first MAX_FAILED_RUNS errors, and the last lines of
    the output of the first TAILS_SHOWN starts (each distinct output once).
    """
    runs = (startup.get("runs") if startup else None) or []
    failed = [(n, r) for n, r in enumerate(runs, 1) if not r.get("ok")]
    if not failed:
        return []
    lines = ["", f"failed start-up runs: {len(failed)} of {len(runs)}"]
    shown: list[tuple[str, str]] = []
    for number, run in failed[:MAX_FAILED_RUNS]:
        exit_code = run.get("exit_code")
        status = f"exit code {exit_code}" if exit_code is not None else "no exit code"
        lines.append(f"run {number}: {status}: {run.get('error') or 'failed'}")
        output = (str(run.get("stdout_tail") or ""), str(run.get("stderr_tail") or ""))
        if len(shown) == TAILS_SHOWN or output in shown or not "".join(output).strip():
            continue
        shown.append(output)
        for key, text in zip(_TAIL_KEYS, output, strict=True):
            tail = output_tail(text)
            if tail:
                lines.append(f"  {key.replace('_', ' ')}:")
                lines += [f"    | {line}" for line in tail]
    if len(failed) > MAX_FAILED_RUNS:
        lines.append(f"... and {len(failed) - MAX_FAILED_RUNS} more failed runs")
    return lines
