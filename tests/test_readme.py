"""README.md as GitHub renders it, and its test command in step with .ci/run.

The README's test command once lacked a package .ci/run installed (checksec), so on a new
machine it failed a test CI passed; and a stray code fence once turned a whole section into a
code block. Both are checked here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
TOKENS = MarkdownIt("commonmark").parse(README)


def commands(script: str) -> Iterator[list[str]]:
    """Each simple command of a shell text, as words (enough for install lines)."""
    for line in script.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#"):
            continue
        for part in re.split(r"&&|\|\||;|[{}]", line):
            words = shlex.split(part, comments=True)
            if words[:1] == ["sudo"]:
                words = words[1:]
            if words:
                yield words


def installs(script: str, tool: list[str]) -> set[str]:
    return {
        word
        for words in commands(script)
        if words[: len(tool)] == tool
        for word in words[len(tool) :]
        if not word.startswith(("-", ">"))
    }


def readme_test_command() -> str:
    blocks = [
        t.content
        for t in TOKENS
        if t.type == "fence" and t.info == "sh" and "scripts/test" in t.content
    ]
    assert len(blocks) == 1, "the README has one test command, and it runs scripts/test"
    return blocks[0]


def test_every_section_heading_renders_as_a_heading() -> None:
    headings = {TOKENS[i + 1].content for i, t in enumerate(TOKENS) if t.type == "heading_open"}
    for line in README.splitlines():
        if line.startswith("### `gate ") or line.startswith("## "):
            title = line.lstrip("#").strip()
            assert title in headings or _inside_fence(line), title
    assert "`gate diff OLD.json NEW.json [--format text|markdown]`" in headings
    assert "Locally" in headings


def _inside_fence(line: str) -> bool:
    """A heading-like line legitimately inside a Markdown sample (```` ```markdown ````)."""
    return any(
        t.type == "fence" and t.info.startswith("markdown") and line in t.content.splitlines()
        for t in TOKENS
    )


def test_no_code_block_swallows_the_document() -> None:
    for t in TOKENS:
        if t.type != "fence" or t.info.startswith("markdown"):
            continue
        lines = t.content.splitlines()
        assert "</details>" not in lines, f"README.md:{t.map}: a stray fence opens a code block"
        assert not [ln for ln in lines if ln.startswith("## ")], f"README.md:{t.map}"


def test_readme_test_command_installs_what_ci_installs_and_runs_scripts_test() -> None:
    readme = readme_test_command()
    apt_ci, apt_readme = (
        installs(CI_RUN, ["apt-get", "install"]),
        installs(readme, ["apt-get", "install"]),
    )
    assert apt_ci, "no apt-get install found in .ci/run"
    assert apt_ci <= apt_readme, f"README's test command lacks {sorted(apt_ci - apt_readme)}"
    assert installs(CI_RUN, ["npm", "install"]) == installs(readme, ["npm", "install"])
    assert "-e .[test]" in " ".join(w for c in commands(readme) for w in c)
    assert "-e .[test]" in " ".join(w for c in commands(CI_RUN) for w in c)
    assert list(commands(readme))[-1] == ["scripts/test"]


def test_ci_runs_the_tests_through_scripts_test_only() -> None:
    ran = list(commands(CI_RUN))
    assert ["scripts/test"] in ran
    direct = [
        c for c in ran if c[0] in ("ruff", "mypy", "pytest") or c[:3] == ["python3", "-m", "pytest"]
    ]
    assert direct == [], ".ci/run runs checks scripts/test already runs"
    script = (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    for step in ("ruff check .", "ruff format --check .", "mypy --strict gate/", "pytest -q"):
        assert step in script
