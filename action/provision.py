"""Puts gate on the runner for action.yml, without installing it when it does not have to.

Run by action.yml with the runner's python3 (already checked to be >= 3.11). In order:

1. input `gate-zipapp` (env GATE_ZIPAPP): a pre-provisioned zipapp (.pyz) is run as it is;
   a wheel (.whl) is installed into a venv (pip resolves its dependencies as the runner's pip
   is configured, e.g. a mirror). For offline and Enterprise Server runners.
2. a release ref: the release commit holds dist-checksums/gate-<version>.pyz.sha256 (committed
   by .github/workflows/release.yml; no branch holds one). The zipapp is fetched from the
   release, one bounded GET ($GATE_RELEASE_URL/v<version>/gate-<version>.pyz, by default
   $GITHUB_SERVER_URL/<the action's repository>/releases/download), and its sha256 must match
   the committed one, else the job fails: a changed asset is never run. No asset (HTTP 404,
   or no network) falls back to 3.
3. otherwise (a branch ref, a local `uses: ./`): a venv install of the action's own checkout,
   saying so in the log, since it costs about 20 s.

Writes `gate=<path of a small launcher>` and `how=zipapp|release|wheel|venv` to $GITHUB_OUTPUT.
Every failure is one `::error` line.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

MAX_ASSET_BYTES = 64 * 1024 * 1024
TIMEOUT_S = 30.0


class Failure(Exception):
    """One line for the user; the step fails."""


def log(message: str) -> None:
    print(f"gate: {message}", flush=True)


def output(name: str, value: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{name}={value}\n")


def launcher(argv: list[str]) -> Path:
    """A `gate` script running `argv`: later steps call it by path; the job's PATH stays as is."""
    where = Path(tempfile.mkdtemp(prefix="gate-bin-", dir=os.environ.get("RUNNER_TEMP")))
    script = where / "gate"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(argv)} "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return script


def version(action: Path) -> str:
    with open(action / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def expected_sha256(action: Path, name: str) -> str | None:
    """The checksum committed with the release, or None on a commit that is not a release."""
    path = action / "dist-checksums" / f"{name}.sha256"
    if not path.is_file():
        return None
    fields = path.read_text(encoding="utf-8").split()
    if not fields or not re.fullmatch(r"[0-9a-f]{64}", fields[0]):
        raise Failure(f"{path}: not a sha256 line ('<64 hex digits>  {name}')")
    return fields[0]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def action_repository() -> str | None:
    """owner/name of this action. The runner leaves $GITHUB_ACTION_REPOSITORY empty in a
    composite action's `run:` (actions/runner#2473), so action.yml passes
    github.action_repository through `env:` as GATE_ACTION_REPOSITORY; else the checkout's
    path, which the runner lays out as .../_actions/OWNER/NAME/REF[/subdir]."""
    for name in ("GATE_ACTION_REPOSITORY", "GITHUB_ACTION_REPOSITORY"):
        repo = os.environ.get(name, "")
        if repo.count("/") == 1:
            return repo
    parts = Path(os.environ.get("GITHUB_ACTION_PATH", "")).parts
    if "_actions" in parts:
        i = len(parts) - 1 - parts[::-1].index("_actions")
        if len(parts) >= i + 4:
            return f"{parts[i + 1]}/{parts[i + 2]}"
    return None


def release_url(name: str, tag: str) -> str:
    base = os.environ.get("GATE_RELEASE_URL", "").rstrip("/")
    if not base:
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo = action_repository()
        if repo is None:
            raise LookupError("the action's repository is not known ($GITHUB_ACTION_REPOSITORY)")
        base = f"{server}/{repo}/releases/download"
    url = f"{base}/{tag}/{name}"
    parts = urlsplit(url)
    # HTTPS, or plain HTTP to this machine (a mirror or a test server on the runner).
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname or "")):
        raise Failure(f"{base}: the release URL must be https:// (or http:// to 127.0.0.1)")
    return url


def download(url: str, dest: Path) -> str:
    """One bounded GET into `dest`; the sha256 of what was written. LookupError: no asset."""
    digest = hashlib.sha256()
    total = 0
    request = urllib.request.Request(url, headers={"User-Agent": "gate-action"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp, dest.open("wb") as out:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_ASSET_BYTES:
                raise Failure(f"{url}: {int(declared):,} bytes, more than a gate zipapp can be")
            while chunk := resp.read(256 * 1024):
                total += len(chunk)
                if total > MAX_ASSET_BYTES:
                    raise Failure(f"{url}: more than {MAX_ASSET_BYTES // 2**20} MiB")
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise LookupError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise LookupError(f"{url}: cannot fetch: {reason}") from None
    return digest.hexdigest()


def venv(what: str, spec: str) -> Path:
    where = Path(tempfile.mkdtemp(prefix="gate-venv-", dir=os.environ.get("RUNNER_TEMP")))
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    result = subprocess.run([*pip, "--disable-pip-version-check", spec], check=False)
    if result.returncode != 0:
        raise Failure(f"pip could not install {what} (exit {result.returncode}); see above")
    log(f"installed {what} into {where} in {time.monotonic() - start:.1f} s")
    return where / "bin" / "gate"


def provision() -> tuple[list[str], str]:
    action = Path(os.environ.get("GITHUB_ACTION_PATH") or Path(__file__).parent.parent)
    given = os.environ.get("GATE_ZIPAPP", "").strip()
    if given:
        path = Path(given).expanduser().resolve()
        if not path.is_file():
            raise Failure(f"gate-zipapp: {given}: no such file")
        if path.suffix == ".whl":
            return [str(venv(path.name, str(path)))], "wheel"
        if path.suffix != ".pyz":
            raise Failure(f"gate-zipapp: {given}: expected a .pyz zipapp or a .whl wheel")
        log(f"running the pre-provisioned zipapp {path}")
        return [sys.executable, str(path)], "zipapp"

    ver = version(action)
    name = f"gate-{ver}.pyz"
    want = expected_sha256(action, name)
    if want is None:
        log(
            "this action ref is not a release (no dist-checksums/"
            f"{name}.sha256): installing gate from the action's checkout into a venv, "
            "about 20 s; use a release tag, or give gate-zipapp, to skip the install"
        )
        return [str(venv("gate from the action's checkout", str(action)))], "venv"
    try:
        url = release_url(name, f"v{ver}")
        dest = Path(tempfile.mkdtemp(prefix="gate-app-", dir=os.environ.get("RUNNER_TEMP")))
        dest = dest / name
        start = time.monotonic()
        got = download(url, dest)
    except LookupError as exc:
        log(
            f"no release asset ({exc}): installing gate from the action's checkout into a "
            "venv instead, about 20 s"
        )
        return [str(venv("gate from the action's checkout", str(action)))], "venv"
    if got != want:
        dest.unlink(missing_ok=True)
        raise Failure(
            f"{url}: sha256 {got} is not the {want} committed with release v{ver}; not running it"
        )
    log(f"fetched {url} ({dest.stat().st_size:,} bytes, {time.monotonic() - start:.1f} s), "
        "sha256 verified")  # fmt: skip
    return [sys.executable, str(dest)], "release"


def main() -> int:
    try:
        argv, how = provision()
    except Failure as exc:
        text = str(exc).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        print(f"::error title=gate::{text}", flush=True)
        return 1
    gate = launcher(argv)
    output("gate", str(gate))
    output("how", how)
    return 0


if __name__ == "__main__":
    sys.exit(main())
