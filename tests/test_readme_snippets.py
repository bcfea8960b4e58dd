"""Every CI snippet of the README is run as printed, and only declared changes are made.

The runs themselves are in the modules of the client that runs them (test_action: act,
test_gitlab_template: gitlab-ci-local, test_precommit: pre-commit); this module holds them to
the README: no snippet without a test, no substitution that no longer applies, no remote
action a workflow needs that the README does not name or the tests cannot stand in for.
"""

from __future__ import annotations

import importlib
import re

import pytest
import readme_snippets as rs

SNIPPETS = rs.snippets()
WORKFLOWS = [s for name, s in SNIPPETS.items() if name.startswith(".github/workflows/")]


def test_the_readme_has_the_snippets_people_paste() -> None:
    kinds = {name.split(":")[0] for name in SNIPPETS}
    assert kinds >= {".github/workflows/build.yml", ".gitlab-ci.yml", ".pre-commit-config.yaml"}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_every_snippet_is_run(name: str) -> None:
    assert name in rs.RUN_BY, f"README.md:{SNIPPETS[name].line}: no test runs {name!r}"
    module, function = rs.RUN_BY[name].split("::")
    assert callable(getattr(importlib.import_module(module), function, None)), rs.RUN_BY[name]


def test_no_test_runs_a_snippet_the_readme_no_longer_has() -> None:
    stale = set(rs.RUN_BY) | set(rs.SUBSTITUTIONS) | set(rs.COMPOSED_WITH)
    assert stale <= set(SNIPPETS), sorted(stale - set(SNIPPETS))


@pytest.mark.parametrize("name", sorted(rs.SUBSTITUTIONS))
def test_every_substitution_applies_exactly_once(name: str) -> None:
    fill = {k: "x" for k in re.findall(r"\$(GATE_TEST_\w+)", str(rs.SUBSTITUTIONS[name]))}
    before = SNIPPETS[name].text
    after = rs.as_run(SNIPPETS[name], fill)
    assert after != before
    assert all(sub.why for sub in rs.SUBSTITUTIONS[name])


def test_a_changed_snippet_fails_its_substitution() -> None:
    snippet = SNIPPETS[".gitlab-ci.yml"]
    edited = rs.Snippet(
        snippet.name,
        snippet.text.replace("ref: v0.1.0", "ref: v0.2.0"),
        snippet.line,
        snippet.after,
    )
    with pytest.raises(AssertionError, match="matches 0 times"):
        rs.as_run(edited, {"GATE_TEST_WHEEL": "x"})


@pytest.mark.parametrize("snippet", WORKFLOWS, ids=[s.name for s in WORKFLOWS])
def test_the_readme_names_each_workflows_remote_actions(snippet: rs.Snippet) -> None:
    """The paragraph after a workflow starts `Remote actions:` and names exactly the
    `uses:` of the workflow (or says none), so an offline runner's owner knows what to
    mirror."""
    assert snippet.after.startswith("Remote actions:"), snippet.after[:60]
    named = set(re.findall(r"`([\w.-]+/[\w.-]+@[\w.-]+)`", snippet.after))
    used = set(rs.uses(snippet.text))
    assert named == used, (snippet.name, sorted(named), sorted(used))
    if not used:
        assert snippet.after.startswith("Remote actions: none")


@pytest.mark.parametrize("snippet", WORKFLOWS, ids=[s.name for s in WORKFLOWS])
def test_every_remote_action_has_an_offline_stand_in(snippet: rs.Snippet) -> None:
    missing = set(rs.uses(snippet.text)) - set(rs.STAND_INS)
    assert not missing, f"README.md:{snippet.line}: no stand-in for {sorted(missing)}"
    for ref, folder in rs.STAND_IN_FOLDERS.items():
        assert (folder / "action.yml").is_file(), ref
