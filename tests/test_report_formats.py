"""gate/report/formats.py: each format declared once, and everything that writes report
files follows the declaration: gate check's and gate merge's options, the GitHub Action's
bash and outputs, and both GitLab templates (the include and the component). A format
added to REPORT_FILES and left out anywhere fails here, naming the place."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
import yaml

from gate.cli import app
from gate.report.formats import FORMATS, REPORT_FILES

REPO = Path(__file__).resolve().parent.parent


def _options(command: str) -> set[str]:
    group = typer.main.get_command(app)
    return {opt for p in group.commands[command].params for opt in p.opts}  # type: ignore[attr-defined]


def test_every_report_file_is_a_format() -> None:
    """(Each format renders: tests/test_report_bidi.py renders every one of FORMATS.)"""
    assert set(REPORT_FILES) <= set(FORMATS), set(REPORT_FILES) - set(FORMATS)


def test_check_and_merge_take_every_report_file() -> None:
    for command in ("check", "merge"):
        missing = {spec.option for spec in REPORT_FILES.values()} - _options(command)
        assert not missing, f"gate {command} lacks {sorted(missing)}"


def _pairs(text: str, directory: str) -> set[tuple[str, str]]:
    """(option, file name) of every `--opt "DIR/name"` in a shell line."""
    pattern = rf'(--[a-z-]+) "{re.escape(directory)}/([^"]+)"'
    return set(re.findall(pattern, text))


def test_the_action_writes_and_outputs_every_report_file_it_should() -> None:
    action = (REPO / "action.yml").read_text()
    wanted = {(s.option, s.ci_name) for s in REPORT_FILES.values() if s.action_output}
    (reports,) = re.findall(r"\n\s*reports=\(([^)]*)\)", action)
    assert _pairs(reports, "$out") == wanted, reports
    # check and merge both take the one list
    assert '"${reports[@]}"' in action and 'merge=("${reports[@]}"' in action
    (loop,) = re.findall(r"for kv in ([^;]*); do", action)
    outputs = {kv.split("=")[0]: kv.split("=")[1] for kv in loop.split()}
    assert outputs == {s.action_output: s.ci_name for s in REPORT_FILES.values() if s.action_output}
    declared = yaml.safe_load(action)["outputs"]
    for name in outputs:
        assert declared[name]["value"] == f"${{{{ steps.check.outputs.{name} }}}}", name


def test_both_gitlab_templates_write_every_report_file() -> None:
    wanted = {(s.option, s.ci_name) for s in REPORT_FILES.values()}
    for template in (".gitlab-ci-template.yml", "templates/gate.yml"):
        lines = [
            line for line in (REPO / template).read_text().splitlines() if "set -- $GATE_" in line
        ]
        assert len(lines) == 2, (template, lines)  # check, and merge
        for line in lines:
            assert _pairs(line, "$GATE_OUT") == wanted, (template, line)
