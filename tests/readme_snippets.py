"""The README's CI snippets, and the one list of what a test may change before running them.

A person pastes the README's workflows, pipelines and pre-commit configs as printed; tests
that ran their own copies of the YAML once stayed green while the printed ones failed. So
tests/test_readme_snippets.py runs the printed text, and this module is where every change it
makes on the way is declared:

- SUBSTITUTIONS: textual replacements per snippet, each of which must match exactly once (a
  snippet edited so that one no longer applies fails the test that declares it);
- STAND_INS: the remote actions a workflow `uses:`, each replaced through act's
  `--local-repository` by an offline stand-in that does the same to the job's files
  (tests/data/standin-actions), or, for gate's own action, by this checkout at a release
  commit;
- RUN_BY: which test runs which snippet; a snippet no test runs fails
  test_every_snippet_is_run.

Each snippet is named by its first line, a comment naming the file it goes into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
STAND_IN_DIR = Path(__file__).resolve().parent / "data" / "standin-actions"

# The configuration languages a CI snippet is written in (shell lines are run by the tests
# of the commands they call).
CONFIG_FENCES = ("yaml",)


@dataclass(frozen=True)
class Snippet:
    name: str  # its first line, without "# "
    text: str
    line: int  # 1-based line of the fence in README.md
    after: str  # the paragraph that follows the fence: where the README says what it needs


@dataclass(frozen=True)
class Substitution:
    old: str
    new: str
    why: str


def snippets(readme: str | None = None) -> dict[str, Snippet]:
    """Every YAML block of the README by name; a nameless or repeated name is an error."""
    text = README.read_text(encoding="utf-8") if readme is None else readme
    tokens = MarkdownIt("commonmark").parse(text)
    found: dict[str, Snippet] = {}
    for i, tok in enumerate(tokens):
        if tok.type != "fence" or tok.info.strip() not in CONFIG_FENCES or tok.map is None:
            continue
        first = tok.content.splitlines()[0] if tok.content else ""
        line = tok.map[0] + 1
        if not first.startswith("# "):
            raise ValueError(f"README.md:{line}: a YAML snippet starts with `# FILE: what`")
        name = first[2:].strip()
        if name in found:
            raise ValueError(f"README.md:{line}: a second snippet named {name!r}")
        after = ""
        for nxt in tokens[i + 1 :]:
            if nxt.type == "inline":
                after = nxt.content
                break
            if nxt.type == "fence":
                break
        found[name] = Snippet(name, tok.content, line, after)
    return found


def uses(text: str) -> list[str]:
    """The `uses:` references of a workflow, in order."""
    return re.findall(r"(?m)^\s*(?:-\s+)?uses:\s*(\S+)", text)


GATE_ACTION = "OWNER/gate@v0.1.0"
FORK_COMMENT_YML = ".github/workflows/gate-comment.yml: the comment on a pull request from a fork"
OFFLINE_YML = ".github/workflows/build.yml: offline, no remote actions"

# Remote action -> what runs in its place under act, offline.
STAND_INS: dict[str, str] = {
    GATE_ACTION: "this checkout's action at a release commit (its zipapp from a local server)",
    "actions/checkout@v4": "act's own checkout of the local repository (act never fetches it)",
    "actions/setup-go@v5": "standin-actions/setup-go: puts a local Go toolchain on PATH",
    "actions/upload-artifact@v4": "standin-actions/upload-artifact: copies into a directory",
    "actions/download-artifact@v4": "standin-actions/download-artifact: copies back out",
}
STAND_IN_FOLDERS = {
    "actions/setup-go@v5": STAND_IN_DIR / "setup-go",
    "actions/upload-artifact@v4": STAND_IN_DIR / "upload-artifact",
    "actions/download-artifact@v4": STAND_IN_DIR / "download-artifact",
}

_GITLAB_INCLUDE = Substitution(
    "  - project: tools/gate              # or: remote: https://…/gate/-/raw/v0.1.0/.gitlab-ci-template.yml\n"
    "    ref: v0.1.0\n"
    "    file: .gitlab-ci-template.yml\n",
    "  - local: .gitlab-ci-template.yml\n",
    "gate's project is this checkout: the template is included from the project's files",
)
_GITLAB_PIN = Substitution(
    'GATE_PACKAGE: "binary-gate==0.1.0"',
    'GATE_PACKAGE: "$GATE_TEST_WHEEL"',
    "the pinned release is this checkout's wheel (binary-gate is not on PyPI yet)",
)

SUBSTITUTIONS: dict[str, tuple[Substitution, ...]] = {
    OFFLINE_YML: (
        Substitution(
            "/opt/gate/gate-0.1.0.pyz",
            "$GATE_TEST_ZIPAPP",
            "the provisioned zipapp is this checkout's, built by scripts/build-zipapp",
        ),
        Substitution(
            '"$GITHUB_SERVER_URL/$GITHUB_REPOSITORY"',
            '"$GATE_TEST_ORIGIN"',
            "the repository is fetched from a bare clone on this machine, not from GitHub",
        ),
    ),
    ".gitlab-ci.yml": (_GITLAB_INCLUDE, _GITLAB_PIN),
    ".gitlab-ci.yml: the component": (
        Substitution(
            "component: $CI_SERVER_FQDN/tools/gate/gate@0.1.0",
            "component: $CI_SERVER_FQDN/group/sample/gate@$CI_COMMIT_SHA",
            "the component of this checkout, as GitLab documents testing a component in its "
            "own project (gitlab-ci-local reads it from templates/)",
        ),
        Substitution(
            "package: binary-gate==0.1.0",
            "package: $GATE_TEST_WHEEL",
            "the pinned release is this checkout's wheel",
        ),
    ),
    ".gitlab-ci.yml: a monorepo": (
        Substitution(
            "  - remote: https://gitlab.example.com/tools/gate/-/raw/v0.1.0/.gitlab-ci-template.yml\n",
            "  - local: .gitlab-ci-template.yml\n",
            "the template is this checkout's, included from the project's files",
        ),
    ),
    ".gitlab-ci.yml: pipeline-wide settings": (
        Substitution(
            "/opt/gate/gate-0.1.0.pyz",
            "$GATE_TEST_ZIPAPP",
            "the pre-provisioned zipapp is this checkout's, built by scripts/build-zipapp",
        ),
    ),
    ".pre-commit-config.yaml: gate's hook, on demand": (
        Substitution(
            "repo: https://github.com/OWNER/gate",
            "repo: $GATE_TEST_HOOK_REPO",
            "a clone of this checkout with the tag v0.1.0 on its HEAD",
        ),
    ),
}

# The snippets a GitLab test adds to another one's pipeline, as a reader would: the jobs it
# takes from there.
COMPOSED_WITH: dict[str, tuple[str, tuple[str, ...]]] = {
    ".gitlab-ci.yml: the component": (".gitlab-ci.yml", ("build",)),
    ".gitlab-ci.yml: the gate job, with a link on the merge request": (
        ".gitlab-ci.yml",
        ("include", "build", "gate"),
    ),
    ".gitlab-ci.yml: pipeline-wide settings": (".gitlab-ci.yml", ("include", "build", "gate")),
}


# snippet -> "test module::test function" that runs it.
RUN_BY: dict[str, str] = {
    ".github/workflows/build.yml": "test_action::test_github_build_workflow",
    OFFLINE_YML: "test_action::test_github_offline_workflow",
    FORK_COMMENT_YML: "test_action::test_github_build_workflow",
    ".github/workflows/gate.yml: a monorepo": "test_action::test_github_monorepo",
    ".gitlab-ci.yml": "test_gitlab_template::test_gitlab_pipeline",
    ".gitlab-ci.yml: the component": "test_gitlab_template::test_gitlab_component",
    ".gitlab-ci.yml: the gate job, with a link on the merge request": (
        "test_gitlab_template::test_gitlab_expose_as"
    ),
    ".gitlab-ci.yml: pipeline-wide settings": (
        "test_gitlab_template::test_gitlab_pipeline_wide_settings"
    ),
    ".gitlab-ci.yml: a monorepo": "test_gitlab_template::test_gitlab_monorepo",
    ".pre-commit-config.yaml: gate's hook, on demand": (
        "test_precommit::test_readme_hook_on_demand"
    ),
    ".pre-commit-config.yaml: a local hook before every push": (
        "test_precommit::test_readme_local_hook"
    ),
}


def as_run(snippet: Snippet, env: dict[str, str] | None = None) -> str:
    """The snippet with its declared substitutions, each applied exactly once.

    `env` fills the `$GATE_TEST_*` placeholders the substitutions introduce.
    """
    text = snippet.text
    for sub in SUBSTITUTIONS.get(snippet.name, ()):
        count = text.count(sub.old)
        if count != 1:
            raise AssertionError(
                f"README.md:{snippet.line} ({snippet.name}): the declared substitution of "
                f"{sub.old!r} matches {count} times; update tests/readme_snippets.py"
            )
        text = text.replace(sub.old, sub.new)
    for key, value in (env or {}).items():
        text = text.replace(f"${key}", value)
    leftover = re.findall(r"\$GATE_TEST_\w+", text)
    if leftover:
        raise AssertionError(f"{snippet.name}: no value for {sorted(set(leftover))}")
    return text
