"""action/provision.py, the action's first step, on the paths act's scenarios do not take.

The downloads go to FakeForge on 127.0.0.1 (a real HTTP server); the venv install is replaced
by a recording stand-in where a test only asks whether the fallback was chosen.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fake_forge import FakeForge

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("provision", ROOT / "action" / "provision.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["provision"] = module
    spec.loader.exec_module(module)
    return module


provision = _load()
ASSET = b"PK\x05\x06" + b"\0" * 18  # an empty zip: what is fetched only has to hash right
VERSION = "9.8.7"
NAME = f"gate-{VERSION}.pyz"


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    with FakeForge() as f:
        f.files[f"rel/v{VERSION}/{NAME}"] = ASSET
        yield f


@pytest.fixture
def action(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An action checkout at a release commit: version 9.8.7, its checksum committed."""
    root = tmp_path / "action"
    (root / "dist-checksums").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "binary-gate"\nversion = "{VERSION}"\n'
    )
    sha = hashlib.sha256(ASSET).hexdigest()
    (root / "dist-checksums" / f"{NAME}.sha256").write_text(f"{sha}  {NAME}\n")
    monkeypatch.setenv("GITHUB_ACTION_PATH", str(root))
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    monkeypatch.delenv("GATE_ZIPAPP", raising=False)
    monkeypatch.delenv("GATE_RELEASE_URL", raising=False)
    installs: list[str] = []
    monkeypatch.setattr(provision, "venv", lambda what, spec: installs.append(spec) or Path("/v"))
    return root


def test_the_release_asset_is_fetched_and_checked(
    action: Path, forge: FakeForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_RELEASE_URL", forge.url + "/plain/rel")
    argv, how = provision.provision()
    assert how == "release"
    assert argv[0] == sys.executable and Path(argv[1]).read_bytes() == ASSET


def test_a_changed_asset_is_refused_not_run(
    action: Path, forge: FakeForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    forge.files[f"rel/v{VERSION}/{NAME}"] = ASSET + b"evil"
    monkeypatch.setenv("GATE_RELEASE_URL", forge.url + "/plain/rel")
    with pytest.raises(provision.Failure, match=f"is not the .* committed with release v{VERSION}"):
        provision.provision()
    assert not list(Path(action.parent).glob(f"gate-app-*/{NAME}"))  # not left behind either


def test_no_asset_falls_back_to_the_venv(
    action: Path,
    forge: FakeForge,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GATE_RELEASE_URL", forge.url + "/plain/missing")
    argv, how = provision.provision()
    assert (argv, how) == (["/v"], "venv")
    said = capsys.readouterr().out
    assert "no release asset" in said and "HTTP 404" in said, said


def test_plain_http_only_to_this_machine(action: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_RELEASE_URL", "http://mirror.example/rel")
    with pytest.raises(provision.Failure, match="must be https://"):
        provision.provision()


def test_the_default_url_is_the_actions_own_release(
    action: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GATE_ACTION_REPOSITORY", "tools/gate")
    assert provision.release_url(NAME, f"v{VERSION}") == (
        f"https://github.example/tools/gate/releases/download/v{VERSION}/{NAME}"
    )


def test_an_oversized_asset_is_cut_off(
    action: Path, forge: FakeForge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provision, "MAX_ASSET_BYTES", 10)
    monkeypatch.setenv("GATE_RELEASE_URL", forge.url + "/plain/rel")
    with pytest.raises(provision.Failure, match="more than a gate zipapp can be"):
        provision.provision()


def test_a_branch_ref_installs_from_the_checkout(
    action: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for f in (action / "dist-checksums").iterdir():
        f.unlink()
    argv, how = provision.provision()
    assert (argv, how) == (["/v"], "venv")
    assert "this action ref is not a release" in capsys.readouterr().out


def test_a_given_zipapp_or_wheel(
    action: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyz = tmp_path / "gate.pyz"
    pyz.write_bytes(ASSET)
    monkeypatch.setenv("GATE_ZIPAPP", str(pyz))
    assert provision.provision() == ([sys.executable, str(pyz)], "zipapp")
    wheel = tmp_path / "binary_gate-9.8.7-py3-none-any.whl"
    wheel.write_bytes(ASSET)
    monkeypatch.setenv("GATE_ZIPAPP", str(wheel))
    assert provision.provision() == (["/v"], "wheel")
    monkeypatch.setenv("GATE_ZIPAPP", str(tmp_path / "nope.pyz"))
    with pytest.raises(provision.Failure, match="no such file"):
        provision.provision()


def test_the_launcher_passes_arguments_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    script = provision.launcher([sys.executable, "-c", "import sys; print(sys.argv[1:])"])
    out = subprocess.run(
        [str(script), "a b", "$(x)", ""], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['a b', '$(x)', '']"


def test_the_actions_repository_from_env_or_its_checkout_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("GATE_ACTION_REPOSITORY", "GITHUB_ACTION_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_ACTION_PATH", "/home/runner/work/_actions/tools/gate/v1.2.3")
    assert provision.action_repository() == "tools/gate"
    monkeypatch.setenv("GITHUB_ACTION_PATH", "/home/runner/work/_actions/tools/gate/v1/sub")
    assert provision.action_repository() == "tools/gate"
    monkeypatch.setenv("GATE_ACTION_REPOSITORY", "octo/gate")
    assert provision.action_repository() == "octo/gate"
    monkeypatch.delenv("GATE_ACTION_REPOSITORY")
    monkeypatch.setenv("GITHUB_ACTION_PATH", "/work/svc/./gate-action")
    assert provision.action_repository() is None
