"""docs/architecture.md is a map that follows the tree, and every document cited exists;
and its layer table is the rule every import of gate/ follows.

The README's old Layout left out 18 modules, and nine places cited a design document the
repository does not have: a map written once drifts as modules are added, moved and
removed. So the module table of docs/architecture.md is held to `gate/**/*.py` both ways,
every test file it names must exist, and every repository path the Markdown files give
(a relative link, or a path in backticks) and every Markdown document cited from gate/ or
a Markdown file must be there. Each failure names what is missing or stale.

What counts as a repository path, so that examples are not held to existing: a path whose
first directory is one of the repository's (gate/, tests/, docs/, ...), or a bare file
name, resolved against the repository's top and the citing file's directory. Output paths
(`gate-report/summary.md`), placeholders (`dist/gate-<version>.pyz`), globs and the few
names of files that live elsewhere (NOT_OURS) are not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
MODULE_TABLE = "## 5. Modules and their tests"  # the heading the module table sits under

# The repository's own top-level directories: a path starting with one is a repository path.
REPO_DIRS = frozenset(
    {"gate", "tests", "docs", "policies", "benchmarks", "scripts", "templates", "action"}
    | {".ci", ".github"}
)
SUFFIXES = (".md", ".py", ".toml", ".yml", ".yaml")
# Bare names the Markdown files give for files that are not in this repository, and why.
NOT_OURS = {
    "gate.toml": "a repository's own policy, read by gate (gate/judge/policy.py REPOSITORY_POLICY)",
    "plot_histogram.py": "hyperfine's scripts, which read gate's hyperfine export",
    "plot_whisker.py": "hyperfine's",
    "plot_progression.py": "hyperfine's",
    "advanced_statistics.py": "hyperfine's",
    "welch_ttest.py": "hyperfine's",
}
# Directories walked for Markdown files: not build output, caches or version control.
SKIP_DIRS = frozenset({".git", "build", "dist", "node_modules", "__pycache__"})

_MD = MarkdownIt("commonmark")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_NOT_A_PATH = set("<>*{}$[]?")
# A Markdown document cited by name: an upper-case one anywhere (README.md, CHANGELOG.md),
# or a lower-case one under a directory of the repository (docs/architecture.md).
_CITED_MD = re.compile(
    r"(?<![\w./-])((?:\.\.?/)*(?:[\w.-]+/)*[A-Z][A-Z0-9_-]*\.md"
    rf"|(?:{'|'.join(re.escape(d) for d in sorted(REPO_DIRS))})/(?:[\w.-]+/)*[\w.-]+\.md)"
    r"(?![\w-])"
)


# ---------------------------------------------------------------- what the files say


def table_rows(text: str) -> Iterator[list[str]]:
    """The cells of each Markdown table row (header and separator rows too)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            yield [cell.strip() for cell in stripped[1:-1].split("|")]


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def module_table(text: str) -> list[tuple[str, list[str]]]:
    """(module path, test files) for each row of the module table."""
    start = text.index(MODULE_TABLE)
    end = text.find("\n### ", start)
    rows = []
    for cells in table_rows(text[start : end if end != -1 else len(text)]):
        first = backticked(cells[0])
        if len(first) == 1 and first[0].startswith("gate/"):
            rows.append((first[0], backticked(cells[-1])))
    return rows


def tree_modules(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "gate").rglob("*.py")}


def code_spans(text: str) -> Iterator[str]:
    """The text of every `code span` (not fenced blocks: those hold commands and output)."""
    for token in _MD.parse(text):
        for child in token.children or ():
            if child.type == "code_inline":
                yield child.content


def links(text: str) -> Iterator[str]:
    for token in _MD.parse(text):
        for child in token.children or ():
            if child.type == "link_open":
                yield str(child.attrGet("href") or "")
            elif child.type == "image":
                yield str(child.attrGet("src") or "")


def path_words(span: str) -> Iterator[str]:
    """The words of a code span that look like file paths with one of SUFFIXES."""
    for word in span.split():
        word = word.strip("'\"(),;:")
        while word.startswith("./"):
            word = word[2:]
        if word in SUFFIXES or "://" in word or _NOT_A_PATH & set(word):
            continue  # a suffix alone, a URL, a placeholder or a glob
        if word.endswith(SUFFIXES):
            yield word


def _exists(path: str, where: Path, root: Path) -> bool:
    """Whether `path` is a file or directory of the repository, read from the top or from
    the citing file's directory, and inside the repository either way."""
    for base in (root, where.parent):
        target = (base / path).resolve()
        if target.is_relative_to(root) and target.exists():
            return True
    return False


def missing_paths(text: str, where: Path, root: Path = ROOT) -> list[str]:
    """Relative links and backticked repository paths in Markdown `text` that do not exist."""
    missing = []
    for href in links(text):
        target = href.split("#", 1)[0].split("?", 1)[0]
        if not target or _SCHEME.match(target):
            continue  # an anchor in the same page, or a URL
        resolved = (where.parent / target).resolve()
        if not (resolved.is_relative_to(root) and resolved.exists()):
            missing.append(f"link {href}")
    for span in code_spans(text):
        for word in path_words(span):
            first = word.split("/", 1)[0]
            if "/" in word and first not in REPO_DIRS and first != "..":
                continue  # an output path (gate-report/summary.md, out/r.json)
            if "/" not in word and word in NOT_OURS:
                continue
            if not _exists(word, where, root):
                missing.append(f"`{word}`")
    return missing


def cited_documents(text: str) -> set[str]:
    return set(_CITED_MD.findall(text))


def missing_documents(text: str, where: Path, root: Path = ROOT) -> list[str]:
    return sorted(doc for doc in cited_documents(text) if not _exists(doc, where, root))


def markdown_files(root: Path) -> Iterator[Path]:
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.endswith(".egg-info")
            and (not d.startswith(".") or d in REPO_DIRS)
        )
        yield from (Path(top) / f for f in sorted(files) if f.endswith(".md"))


def checked_markdown(root: Path) -> list[Path]:
    """The Markdown files whose paths are held to the tree."""
    named = [
        root / "README.md",
        root / "benchmarks" / "README.md",
        root / "tests" / "data" / "README.md",
    ]
    return [p for p in named if p.exists()] + sorted((root / "docs").glob("*.md"))


def _report(problems: Iterable[str]) -> str:
    return "\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------- the tree


def test_every_module_has_a_row_and_every_row_a_module() -> None:
    rows = module_table(DOC.read_text(encoding="utf-8"))
    named = [path for path, _ in rows]
    modules = tree_modules(ROOT)
    absent = sorted(modules - set(named))
    stale = sorted(set(named) - modules)
    doubled = sorted({p for p in named if named.count(p) > 1})
    problems = (
        [f"no row: {p}" for p in absent]
        + [f"a row, but no such module: {p}" for p in stale]
        + [f"two rows: {p}" for p in doubled]
    )
    assert not problems, f"{DOC.relative_to(ROOT)}'s module table:{_report(problems)}"
    assert len(rows) == len(modules) > 60  # the table was read, not skipped


def test_every_module_names_test_files_that_exist() -> None:
    rows = module_table(DOC.read_text(encoding="utf-8"))
    untested = [path for path, tests in rows if not tests]
    assert not untested, f"modules whose row names no test file:{_report(untested)}"
    wrong = [
        f"{path}: {test}"
        for path, tests in rows
        for test in tests
        if not (test.startswith("tests/") and (ROOT / test).is_file())
    ]
    assert not wrong, f"test files named that do not exist:{_report(wrong)}"


def test_the_readme_layout_points_to_the_map() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    assert "docs/architecture.md" in set(links(layout)), "README's Layout: link the map"


# ---------------------------------------------------------------- what the documents cite


def test_paths_in_the_markdown_files_exist() -> None:
    files = checked_markdown(ROOT)
    assert DOC in files
    problems = [
        f"{path.relative_to(ROOT)}: {item}"
        for path in files
        for item in dict.fromkeys(missing_paths(path.read_text(encoding="utf-8"), path))
    ]
    assert not problems, f"paths that do not exist:{_report(problems)}"


def test_no_document_cites_a_markdown_file_that_is_not_there() -> None:
    sources = [*markdown_files(ROOT), *sorted((ROOT / "gate").rglob("*.py"))]
    assert ROOT / "README.md" in sources and DOC in sources
    problems = [
        f"{path.relative_to(ROOT)}: {doc}"
        for path in sources
        for doc in missing_documents(path.read_text(encoding="utf-8"), path)
    ]
    assert not problems, f"documents cited that do not exist:{_report(problems)}"


# ---------------------------------------------------------------- the checks themselves


def test_the_path_checks_find_what_is_missing() -> None:
    where = ROOT / "docs" / "x.md"
    text = (
        "See [the map](architecture.md), [gone](gone.md#top), [site](https://x.org/a.md),"
        " [outside](../../../../../../etc/hostname)"
        " and [here](#layout).\n\n`gate/judge/checks.py` and `python benchmarks/nope.py`, "
        "`tests/test_gone.py`, `gate-report/summary.md`, `dist/gate-<version>.pyz`, "
        "`gate.toml`, `README.md`, `./action.yml`, every `.py`, `NOPE.toml`.\n"
    )
    assert missing_paths(text, where) == [
        "link gone.md#top",
        "link ../../../../../../etc/hostname",
        "`benchmarks/nope.py`",
        "`tests/test_gone.py`",
        "`NOPE.toml`",
    ]


def test_the_citation_check_finds_documents_that_are_not_there() -> None:
    text = 'see PLAN.md, ../elsewhere/PLAN.md and README.md; "docs/gone.md" and summary.md'
    assert cited_documents(text) == {
        "PLAN.md",
        "../elsewhere/PLAN.md",
        "README.md",
        "docs/gone.md",
    }
    where = ROOT / "gate" / "errors.py"
    assert missing_documents(text, where) == ["../elsewhere/PLAN.md", "PLAN.md", "docs/gone.md"]


def test_the_module_table_check_sees_a_new_module(tmp_path: Path) -> None:
    (tmp_path / "gate" / "results").mkdir(parents=True)
    (tmp_path / "gate" / "judge").mkdir()
    for name in ("gate/__init__.py", "gate/judge/checks.py", "gate/results/__init__.py"):
        (tmp_path / name).write_text("")
    text = (
        f"{MODULE_TABLE}\n\n| module | job | tests |\n|---|---|---|\n"
        "| `gate/__init__.py` | the package | `tests/test_cli.py` |\n"
        "| `gate/results.py` | moved | `tests/test_results.py` |\n"
        "| `gate/judge/checks.py` | judging | |\n\n### The rest\n\n| `gate/x.py` | | |\n"
    )
    rows = dict(module_table(text))
    assert rows == {
        "gate/__init__.py": ["tests/test_cli.py"],
        "gate/results.py": ["tests/test_results.py"],
        "gate/judge/checks.py": [],
    }
    assert tree_modules(tmp_path) - set(rows) == {"gate/results/__init__.py"}
    assert set(rows) - tree_modules(tmp_path) == {"gate/results.py"}


# ---------------------------------------------------------------- the layers

LAYER_TABLE = "## 1. The layers"


def layers(text: str) -> list[tuple[str, list[str]]]:
    """(layer, its folders and files) in the table's order, bottom first."""
    start = text.index(LAYER_TABLE)
    end = text.index("\n## ", start + 1)
    out = []
    for cells in table_rows(text[start:end]):
        where = [w for w in backticked(cells[1]) if w.startswith("gate/")]
        if where:
            out.append((cells[0], where))
    return out


def layer_of(module: str, table: list[tuple[str, list[str]]]) -> int | None:
    """The row of the table a module path (gate/x/y.py) belongs to, by its most specific
    entry; None when no row names it."""
    best: tuple[int, int] | None = None
    for rank, (_, where) in enumerate(table):
        for w in where:
            inside = module == w or (w.endswith("/") and module.startswith(w))
            if inside and (best is None or len(w) > best[1]):
                best = (rank, len(w))
    return None if best is None else best[0]


def _module_path(dotted: str, root: Path) -> str | None:
    """gate.x.y -> gate/x/y.py or gate/x/y/__init__.py, as it exists under root."""
    base = dotted.replace(".", "/")
    for candidate in (f"{base}.py", f"{base}/__init__.py"):
        if (root / candidate).is_file():
            return candidate
    return None


def run_time_imports(path: Path) -> Iterator[tuple[str, int]]:
    """(module imported from gate, line) for every import that runs: at module level or
    inside a function, not under `if TYPE_CHECKING:`."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gate":
                yield from ((f"gate.{a.name}", node.lineno) for a in node.names)
            elif node.module.startswith("gate."):
                yield from ((f"{node.module}.{a.name}", node.lineno) for a in node.names)
        elif isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names if a.name.startswith("gate"))


def layer_breaches(root: Path, text: str) -> list[str]:
    """Every import from a layer to one below it in the table, and every module no row
    names."""
    table = layers(text)
    problems = []
    for module in sorted(tree_modules(root)):
        mine = layer_of(module, table)
        if mine is None:
            problems.append(f"{module}: in no layer of the table")
            continue
        for dotted, line in run_time_imports(root / module):
            # `from gate.x import name`: the module gate.x.name, else gate.x itself.
            target = _module_path(dotted, root) or _module_path(dotted.rpartition(".")[0], root)
            theirs = None if target is None else layer_of(target, table)
            if theirs is not None and theirs > mine:
                problems.append(
                    f"{module}:{line}: {table[mine][0]} imports {target} ({table[theirs][0]})"
                )
    return problems


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert layer_breaches(ROOT, DOC.read_text(encoding="utf-8")) == []


def test_the_layer_check_finds_an_import_upwards(tmp_path: Path) -> None:
    for name, body in {
        "gate/__init__.py": "",
        "gate/values/__init__.py": "",
        "gate/values/units.py": "from gate.report import markup\n",
        "gate/values/stats.py": "if TYPE_CHECKING:\n    from gate.report.markup import x\n",
        "gate/report/__init__.py": "",
        "gate/report/markup.py": "def f():\n    from gate.values.units import y\n",
        "gate/stray.py": "",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    text = (
        f"{LAYER_TABLE}\n\n| layer | where | what |\n|---|---|---|\n"
        "| foundation | `gate/__init__.py` | |\n| values | `gate/values/` | |\n"
        "| report | `gate/report/` | |\n\n## 2. Next\n"
    )
    assert layer_breaches(tmp_path, text) == [
        "gate/stray.py: in no layer of the table",
        "gate/values/units.py:1: values imports gate/report/markup.py (report)",
    ]
