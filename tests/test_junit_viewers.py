"""gate's JUnit as two real viewers show it: junit2html (PyPI) and xunit-viewer (npm).

A real `gate check --no-startup` on a C fixture, with a policy that gives one check of each
status (pass, fail, warn, skip), is re-rendered by `gate report --format junit`; each
viewer then renders that file for real:

- junit2html writes static HTML, read back here with html.parser;
- xunit-viewer prints the suites in its console mode and writes a page that is a React
  app with the XML embedded. The page is opened in jsdom (npm), which runs its scripts,
  and the test cards it draws are read back (tests/xunit_viewer_dom.cjs). Only the page
  shows what a reader of the page sees: it draws only cases whose status is one of its
  five (passed, failure, error, skipped, unknown); a case whose first child is
  `system-err` gets the status "system-err", is counted under "?" in the suite header
  and is never drawn.

A missing viewer (or jsdom) skips locally and fails when CI is set, as promtool does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from ci import unavailable
from reference import Fixture

from gate.report.junit import MAX_PROPERTIES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# One check of each status on c-pie (dynamic, not stripped, no baseline given).
POLICY = """\
[size]
max_file = "100 MB"
max_growth = "5%"

[elf]
stripped = { value = true, severity = "warn" }
linking = "static"
"""
STATUSES = {
    "size.max_file": "pass",
    "size.max_growth": "skip",
    "elf.stripped": "warn",
    "elf.linking": "fail",
}


def _missing(why: str) -> None:
    unavailable(why)


def _run(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Report:
    junit: Path
    checks: dict[str, dict[str, Any]]  # id -> the results JSON's check
    properties: int  # <property> elements in the XML


@pytest.fixture(scope="module")
def report(fixtures: Mapping[str, Fixture], tmp_path_factory: pytest.TempPathFactory) -> Report:
    work = tmp_path_factory.mktemp("junit-viewers")
    (work / "policy.toml").write_text(POLICY)
    results, junit = work / "results.json", work / "gate.xml"
    gate = [sys.executable, "-m", "gate"]
    # This checkout's gate, whichever one the environment has installed.
    path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path}
    check = subprocess.run(
        [*gate, "check", str(fixtures["c-pie"].path), "--policy", str(work / "policy.toml"),
         "--no-startup", "--json", str(results)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert check.returncode == 1, check.stdout + check.stderr  # the fail check fails it
    _run([*gate, "report", str(results), "--format", "junit", "-o", str(junit)], ROOT, env)
    (entry,) = json.loads(results.read_text())["binaries"]
    checks = {c["id"]: c for c in entry["checks"]}
    assert {i: c["status"] for i, c in checks.items()} == STATUSES
    properties = len(ET.parse(junit).getroot().findall("testsuite/properties/property"))
    return Report(junit, checks, properties)


# --------------------------------------------------------------------------- junit2html


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and (cls is None or cls in child.classes):
                    found.append(child)
                found.extend(child.iter(tag, cls))
        return found


class _Tree(HTMLParser):
    VOID = frozenset({"br", "meta", "link", "hr", "img", "input", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _html_tree(text: str) -> Node:
    parser = _Tree()
    parser.feed(text)
    parser.close()
    return parser.root


@dataclass(frozen=True)
class J2HCase:
    outcome: str  # from the card's outcome-* class
    rows: dict[str, str]  # the case's table: "Outcome:" -> "Failed", "Failed" -> message
    blocks: dict[str, str]  # "Stdout"/"Stderr" -> text, "pre" -> the failure's output


@dataclass(frozen=True)
class J2HPage:
    cases: dict[str, J2HCase]
    toc: dict[str, str]  # case -> outcome in the index at the top
    failure_index: list[str]  # the index of failed cases
    suite_properties: int


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def junit2html(report: Report, tmp_path_factory: pytest.TempPathFactory) -> J2HPage:
    work = tmp_path_factory.mktemp("junit2html")
    if importlib.util.find_spec("junit2htmlreport") is None:
        _missing("junit2html is missing (pip install -e '.[test]')")
    out = work / "junit2html.html"
    _run([sys.executable, "-m", "junit2htmlreport", str(report.junit), str(out)], work)
    root = _html_tree(out.read_text(encoding="utf-8"))
    cases = {}
    for card in root.iter("div", "test"):
        (outcome,) = [c.removeprefix("outcome-") for c in card.classes if c.startswith("outcome-")]
        rows = {}
        for row in card.iter("tr"):
            th, td = row.iter("th"), row.iter("td")
            if th and td:
                rows[_squash(th[0].text())] = _squash(td[0].text())
        blocks = {}
        in_blocks = []
        for div in card.iter("div", "stdout") + card.iter("div", "stderr"):
            pres = div.iter("pre")
            blocks[_squash(div.iter("i")[0].text())] = "".join(p.text() for p in pres)
            in_blocks.extend(pres)
        outside = [p for p in card.iter("pre") if all(p is not q for q in in_blocks)]
        if outside:
            blocks["pre"] = "".join(p.text() for p in outside)
        cases[rows["Test case:"]] = J2HCase(outcome, rows, blocks)
    toc = {}
    for item in root.iter("li", "outcome"):
        (outcome,) = [c.removeprefix("outcome-") for c in item.classes if c.startswith("outcome-")]
        toc[_squash(item.iter("a")[0].text())] = outcome
    (index,) = root.iter("td", "failure-index")
    # The suite's properties: the proplist table that is neither its Results nor a case.
    tables = root.iter("div", "testsuite")[0].iter("table", "proplist")
    (table,) = [t for t in tables if not _is_results(t)]
    return J2HPage(cases, toc, [_squash(a.text()) for a in index.iter("a")], len(table.iter("tr")))


def _is_results(table: Node) -> bool:
    heads = {_squash(th.text()) for th in table.iter("th")}
    return bool(heads & {"Duration", "Test case:"})


def test_junit2html_shows_each_check_with_its_status(report: Report, junit2html: J2HPage) -> None:
    page = junit2html
    assert set(page.cases) == set(report.checks) == set(page.toc)
    fail = report.checks["elf.linking"]
    assert page.cases["elf.linking"].outcome == page.toc["elf.linking"] == "failed"
    assert page.cases["elf.linking"].rows["Outcome:"] == "Failed"
    assert page.cases["elf.linking"].rows["Failed"] == _squash(fail["message"])
    assert "measured: dynamic" in page.cases["elf.linking"].blocks["pre"]
    assert page.failure_index == ["[F] gate.c-pie : elf.linking"]  # the warning is not here
    skip = report.checks["size.max_growth"]
    assert page.cases["size.max_growth"].outcome == page.toc["size.max_growth"] == "skipped"
    assert page.cases["size.max_growth"].rows["Skipped"] == _squash(skip["message"])
    plain = page.cases["size.max_file"]
    assert (plain.outcome, plain.rows["Outcome:"], plain.blocks) == ("passed", "Passed", {})


def test_junit2html_shows_the_warning_on_its_case(report: Report, junit2html: J2HPage) -> None:
    """junit2html knows passed, failed, skipped and error only: the warn case's outcome is
    Passed (as gate's verdict is), and the page shows its WARNING text on that case, where
    a plain pass shows nothing."""
    page = junit2html
    warned = page.cases["elf.stripped"]
    assert (warned.outcome, warned.rows["Outcome:"]) == ("passed", "Passed")
    ((kind, text),) = warned.blocks.items()
    assert kind in ("Stdout", "Stderr")
    message = report.checks["elf.stripped"]["message"]
    assert text.splitlines()[0] == f"WARNING: {message}"
    assert "severity: warn" in text.splitlines()


def test_junit2html_shows_a_few_properties(report: Report, junit2html: J2HPage) -> None:
    page = junit2html
    assert 0 < page.suite_properties == report.properties <= MAX_PROPERTIES


# --------------------------------------------------------------------------- xunit-viewer


@cache
def _node_path() -> str:
    npm = shutil.which("npm")
    return _run([npm, "root", "-g"], HERE).strip() if npm else ""


@dataclass(frozen=True)
class XunitViewer:
    console: str  # --console --no-color output
    page: dict[str, Any]  # what tests/xunit_viewer_dom.cjs read from the page


@pytest.fixture(scope="module")
def xunit_viewer(report: Report, tmp_path_factory: pytest.TempPathFactory) -> XunitViewer:
    work = tmp_path_factory.mktemp("xunit-viewer")
    viewer, node = shutil.which("xunit-viewer"), shutil.which("node")
    if viewer is None or node is None:
        _missing("xunit-viewer is missing (npm install -g xunit-viewer@10)")
    env = {**os.environ, "NODE_PATH": _node_path()}
    probe = subprocess.run([node, "-e", "require('jsdom')"], env=env, capture_output=True,
                           check=False, timeout=60)  # fmt: skip
    if probe.returncode != 0:
        _missing("jsdom is missing (npm install -g jsdom@26)")
    out = work / "xunit-viewer.html"
    console = _run(
        [viewer, "-r", str(report.junit), "-o", str(out), "--console", "--no-color",
         "--clear=false"],
        work,
    )  # fmt: skip
    page = json.loads(_run([node, str(HERE / "xunit_viewer_dom.cjs"), str(out)], work, env))
    assert page["errors"] == [], page["errors"]
    return XunitViewer(console, page)


def _console_cases(console: str) -> dict[str, tuple[str, str]]:
    """case -> (status icon, the lines the console printed under it)."""
    cases: dict[str, tuple[str, str]] = {}
    current = None
    for line in console.splitlines():
        found = re.fullmatch(r" {5}(\S) (\S+)(?: time=\S+)?", line)
        if found:
            current = found[2]
            cases[current] = (found[1], "")
        elif current and line.strip() and not line.startswith("Written to:"):
            if re.fullmatch(r"\d+ \w.*", line):  # the summary line ends the cases
                current = None
                continue
            icon, text = cases[current]
            cases[current] = (icon, text + line.removeprefix("       - ") + "\n")
    return cases


def test_xunit_viewer_page_draws_each_check_with_its_status(
    report: Report, xunit_viewer: XunitViewer
) -> None:
    (suite,) = xunit_viewer.page["suites"]
    assert suite["title"] == "gate.c-pie"
    cards = {t["name"]: t for t in suite["tests"]}
    assert set(cards) == set(report.checks), "every check is a card on the page"
    failed = cards["elf.linking"]
    assert failed["icon"] == "xmark" and "is-failure" in failed["classes"]
    assert report.checks["elf.linking"]["message"] in cards["elf.linking"]["text"]
    assert cards["size.max_growth"]["icon"] == "ban"
    assert "is-skipped" in cards["size.max_growth"]["classes"]
    assert report.checks["size.max_growth"]["message"] in cards["size.max_growth"]["text"]
    plain = cards["size.max_file"]
    assert plain["icon"] == "check" and {"is-passed", "is-empty"} <= set(plain["classes"])
    # The suite header counts each status once: nothing hidden, nothing counted twice.
    assert sum(c["count"] for c in suite["counts"]) == len(report.checks)


def test_xunit_viewer_page_shows_the_warning_on_its_case(
    report: Report, xunit_viewer: XunitViewer
) -> None:
    """The warn case is drawn (a case whose first child is system-err is not), and it is
    not a plain pass: it opens on its WARNING text, where a plain pass is an empty card."""
    (suite,) = xunit_viewer.page["suites"]
    cards = {t["name"]: t for t in suite["tests"]}
    assert "elf.stripped" in cards, f"the warning is not on the page: {suite}"
    warned = cards["elf.stripped"]
    assert "is-populated" in warned["classes"] and "is-empty" not in warned["classes"]
    message = report.checks["elf.stripped"]["message"]
    assert f"WARNING: {message}" in warned["text"]
    assert "severity: warn" in warned["text"]


def test_xunit_viewer_console_lists_each_check(report: Report, xunit_viewer: XunitViewer) -> None:
    cases = _console_cases(xunit_viewer.console)
    assert set(cases) == set(report.checks)
    icons = {name: icon for name, (icon, _) in cases.items()}
    assert (icons["elf.linking"], icons["size.max_growth"], icons["size.max_file"]) == (
        "✗", "⊘", "✓"
    )  # fmt: skip
    assert cases["size.max_file"][1] == ""
    message = report.checks["elf.stripped"]["message"]
    assert cases["elf.stripped"][1].startswith(f"WARNING: {message}\n")
