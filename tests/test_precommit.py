"""The .pre-commit-hooks.yaml hook under the real pre-commit (`pre-commit try-repo`).

A sample git repository in tmp holds built binaries; pre-commit installs this checkout into its
own virtualenv with pip, offline: PIP_NO_INDEX and a wheel directory prepared once (this
checkout's dependencies and its build backend, from pip's configured index or cache). Slowish:
three hook environments are installed (about 7 s each).

The hook is handed every binary file `files:` matches, images and tarballs beside the builds
too: what is not ELF is passed over and named (`entry:` has --skip-unsupported), also when a
user's config replaces `args:`, which `pre-commit run` with a real config file shows.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import readme_snippets
from ci import in_ci
from images import png
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("pre-commit") is None and not in_ci(), reason="pre-commit (test extras)"
    ),
    pytest.mark.skipif(shutil.which("git") is None and not in_ci(), reason="git is not installed"),
]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--error-unmatch", ".pre-commit-hooks.yaml"],
        capture_output=True,
        text=True,
    )
    assert tracked.returncode == 0, (
        "try-repo sees tracked files only: git add .pre-commit-hooks.yaml"
    )
    where = tmp_path_factory.mktemp("wheelhouse")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "-d",
            str(where),
            str(ROOT),
            "setuptools>=77",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return where


@pytest.fixture
def sample(fixtures, tmp_path: Path) -> Path:
    repo = tmp_path / "sample"
    (repo / "bin").mkdir(parents=True)
    shutil.copy(fixtures["c-pie"].path, repo / "bin" / "svc")
    shutil.copy(fixtures["c-execstack"].path, repo / "bin" / "bad")  # built, not tracked
    (repo / "bin" / "README.txt").write_text("not a binary: types: [binary] skips it\n")
    (repo / "bin" / "logo.png").write_bytes(png())  # a binary file, not ELF: passed over
    (repo / "main.c").write_text("int main(void) { return 0; }\n")
    commit(repo, "bin/svc", "bin/README.txt", "bin/logo.png", "main.c")
    return repo


def commit(repo: Path, *paths: str) -> None:
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for cmd in (["init", "-q"], ["add", "--", *paths], ["commit", "-q", "-m", "sample"]):
        subprocess.run([*git, *cmd], check=True, capture_output=True)


def offline(home: Path, wheelhouse: Path) -> dict[str, str]:
    """pre-commit's environment: its own home, and pip with only the wheel directory, none of
    this machine's pip configuration."""
    return {
        **os.environ,
        "PRE_COMMIT_HOME": str(home / "pre-commit"),
        "VIRTUALENV_OVERRIDE_APP_DATA": str(home / "virtualenv"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_CONSTRAINT": "",
    }


def try_repo(repo: Path, wheelhouse: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pre-commit", "try-repo", str(ROOT), "gate", "--color", "never", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo,
        env=offline(repo.parent, wheelhouse),
    )


def test_hook_passes_a_good_binary(sample: Path, wheelhouse: Path) -> None:
    proc = try_repo(sample, wheelhouse, "--all-files", "--verbose")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate (ELF merge gate)" in proc.stdout and "Passed" in proc.stdout
    assert "bin/svc: PASS" in proc.stdout  # the files: glob picked it, the README was skipped
    assert "README" not in proc.stdout.split("Passed", 1)[1]
    passed_over = "gate: passed over 1 file that is not an ELF binary: bin/logo.png (a PNG image)"
    assert proc.stdout.count(passed_over) == 1  # named once: the hook's streams are one log


def test_hook_blocks_a_binary_the_policy_fails(sample: Path, wheelhouse: Path) -> None:
    proc = try_repo(sample, wheelhouse, "--files", "bin/bad")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Failed" in proc.stdout
    assert "bin/bad: FAIL" in proc.stdout and "elf.nx" in proc.stdout


# ---------------------------------------------------------------- a user's own args:


@pytest.fixture(scope="module")
def this_checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(a repository, its commit) holding this checkout's files as they are on disk: a
    .pre-commit-config.yaml names a repository and a rev, and the hook under test is this
    working tree's, as try-repo's is."""
    where = tmp_path_factory.mktemp("checkout") / "gate"
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    names = [os.fsdecode(n) for n in listed.split(b"\0") if n]
    present = [n for n in names if (ROOT / n).is_file() or (ROOT / n).is_symlink()]
    for name in present:
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, where / name, follow_symlinks=False)
    commit(where, *present)
    rev = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return where, rev


@pytest.fixture(scope="module")
def hook_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pre-commit home for the configured tests: the hook environment is built once."""
    return tmp_path_factory.mktemp("hook-home")


USER_ARGS = "[--policy, serverless, --no-startup]"  # the README's example


@pytest.fixture
def configured(fixtures, tmp_path: Path, this_checkout: tuple[Path, str]) -> Path:
    """A repository whose own config uses the hook with its own `args:`, tracking a Go
    service that fits the serverless policy and a PNG beside it."""
    where, rev = this_checkout
    repo = tmp_path / "configured"
    (repo / "bin").mkdir(parents=True)
    shutil.copy(fixtures["go1.27-httpserver-static-sw"].path, repo / "bin" / "svc")
    shutil.copy(fixtures["go1.27-hello-sw"].path, repo / "bin" / "bad")  # dynamic: not serverless
    (repo / "bin" / "logo.png").write_bytes(png())
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {where}\n    rev: {rev}\n    hooks:\n      - id: gate\n"
        f"        args: {USER_ARGS}\n"
    )
    commit(repo, "bin/svc", "bin/logo.png", ".pre-commit-config.yaml")
    return repo


def run_hook(
    repo: Path, home: Path, wheelhouse: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pre-commit", "run", "gate", "--color", "never", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo,
        env=offline(home, wheelhouse),
    )


PNG_PASSED_OVER = "gate: passed over 1 file that is not an ELF binary: bin/logo.png (a PNG image)"


def test_hook_with_users_args_passes_over_a_png_and_judges_the_elf(
    configured: Path, hook_home: Path, wheelhouse: Path
) -> None:
    proc = run_hook(configured, hook_home, wheelhouse, "--all-files", "--verbose")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate (ELF merge gate)" in proc.stdout and "Passed" in proc.stdout
    assert "bin/svc: PASS" in proc.stdout
    assert "gate: pass (policy serverless; " in proc.stdout  # the user's args, not ours
    assert proc.stdout.count(PNG_PASSED_OVER) == 1


def test_hook_with_users_args_blocks_an_elf_their_policy_fails(
    configured: Path, hook_home: Path, wheelhouse: Path
) -> None:
    proc = run_hook(configured, hook_home, wheelhouse, "--files", "bin/bad", "bin/logo.png")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Failed" in proc.stdout
    assert "bin/bad: FAIL" in proc.stdout and "gate: fail (policy serverless; " in proc.stdout
    assert proc.stdout.count(PNG_PASSED_OVER) == 1


# ---------------------------------------------------------------- the README's configs, as printed

README_PROJECT = ROOT / "tests" / "data" / "readme-project"


def _readme_command(containing: str) -> str:
    """The README's shell line that runs a hook (the block after the config)."""
    tokens = MarkdownIt("commonmark").parse((ROOT / "README.md").read_text(encoding="utf-8"))
    (line,) = [
        t.content.strip()
        for t in tokens
        if t.type == "fence" and t.info == "sh" and containing in t.content
    ]
    return line


def _readme_repo(tmp_path: Path, config: str) -> Path:
    repo = tmp_path / "svc"
    shutil.copytree(README_PROJECT, repo)
    (repo / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    commit(repo, ".")
    return repo


def _with_go(env: dict[str, str], go_toolchains: Any) -> dict[str, str]:
    go, go_env = go_toolchains["go1.19"]
    return {
        **env,
        **{k: v for k, v in go_env.items() if k.startswith("GO")},
        "PATH": os.pathsep.join([str(Path(go).parent), env["PATH"]]),
    }


def test_readme_hook_on_demand(
    tmp_path: Path,
    this_checkout: tuple[Path, str],
    hook_home: Path,
    wheelhouse: Path,
    go_toolchains: Any,
) -> None:
    """README's config for gate's hook (`stages: [manual]`) and its command line, as printed:
    make builds bin/svc, the hook judges it against the serverless policy without starting it."""
    where, _ = this_checkout
    subprocess.run(
        ["git", "-C", str(where), "tag", "-f", "v0.1.0"], check=True, capture_output=True
    )
    snippet = readme_snippets.snippets()[".pre-commit-config.yaml: gate's hook, on demand"]
    repo = _readme_repo(
        tmp_path, readme_snippets.as_run(snippet, {"GATE_TEST_HOOK_REPO": str(where)})
    )
    command = _readme_command("--hook-stage manual")
    assert command == "make build && pre-commit run gate --hook-stage manual --files bin/svc"
    env = _with_go(offline(hook_home, wheelhouse), go_toolchains)
    proc = subprocess.run(
        ["sh", "-c", command], cwd=repo, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate (ELF merge gate)" in proc.stdout and "Passed" in proc.stdout
    assert "Skipped" not in proc.stdout  # the hook ran on bin/svc
    # The same, with pre-commit showing what the hook printed.
    proc = subprocess.run(
        ["sh", "-c", command + " --verbose"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert "bin/svc: PASS" in proc.stdout, proc.stdout
    assert "gate: pass (policy serverless; " in proc.stdout


def test_readme_local_hook(tmp_path: Path, go_toolchains: Any, wheelhouse: Path) -> None:
    """README's local pre-push hook: builds, then gate with start-ups to readiness."""
    snippet = readme_snippets.snippets()[".pre-commit-config.yaml: a local hook before every push"]
    repo = _readme_repo(tmp_path, readme_snippets.as_run(snippet))
    gate = Path(sys.executable).parent
    env = _with_go(offline(tmp_path, wheelhouse), go_toolchains)
    env["PATH"] = os.pathsep.join([env["PATH"], str(gate)])  # gate as installed here
    proc = subprocess.run(
        ["pre-commit", "run", "gate", "--hook-stage", "pre-push", "--color", "never", "--verbose"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "bin/svc: PASS" in proc.stdout
    assert "startup.p95" in proc.stdout and "(20 runs" in proc.stdout
