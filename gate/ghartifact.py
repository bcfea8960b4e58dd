"""A baseline from a GitHub Actions artifact: `--baseline github-artifact:NAME[@BRANCH]`.

The base branch's last successful run uploaded its results.json as artifact NAME; gate finds
and reads it through GitHub's REST API with the job token, so a workflow needs no `gh` and no
shell step. Three requests, each bounded in size and time (gate.baseline's `_fetch`):

1. GET {api}/repos/{repo}/actions/artifacts?name=NAME: newest first; keep the ones that are not
   expired and were made by a run on BRANCH of this repository (not a fork's same-named branch);
2. GET {api}/repos/{repo}/actions/runs?branch=BRANCH&status=success: the runs that succeeded,
   so a run that failed or was cancelled on the base branch is never the baseline;
3. GET the artifact's zip: GitHub answers 302 to its storage, and the token is not sent there
   (another origin). The zip is read in memory with bounds on its size, its member count and
   the size of what it unpacks to (a zip bomb stops at the bound), and its results.json taken.

No matching artifact is BaselineMissing: with --baseline-optional, relative checks are skipped.
BRANCH is everything after the first `@`; without it, $GITHUB_BASE_REF (a pull request's
base), else $GITHUB_REF_NAME (a push: the branch's own previous run).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from gate.baseline import BaselineError, BaselineMissing, _fetch

PREFIX = "github-artifact:"
MAX_ZIP_BYTES = 32 * 1024 * 1024  # what is downloaded
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # what all members together may unpack to
MAX_MEMBERS = 1000
MAX_LIST_BYTES = 4 * 1024 * 1024  # one page of artifacts or runs
PER_PAGE = 100


def parse(source: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(artifact name, branch) from `github-artifact:NAME[@BRANCH]` and the CI's environment."""
    spec = source.removeprefix(PREFIX)
    name, _, branch = spec.partition("@")
    if not name:
        raise BaselineError(f"{source}: no artifact name (github-artifact:NAME[@BRANCH])")
    branch = branch or env.get("GITHUB_BASE_REF", "") or env.get("GITHUB_REF_NAME", "")
    if not branch:
        raise BaselineError(
            f"{source}: which branch? Not a pull request ($GITHUB_BASE_REF is empty) and "
            "$GITHUB_REF_NAME is not set: name it, github-artifact:NAME@BRANCH"
        )
    return name, branch


def _get_json(url: str, headers: Mapping[str, str], what: str, scope: str) -> Any:
    try:
        raw = _fetch(url, headers, MAX_LIST_BYTES, scope)
    except BaselineMissing:
        raise BaselineError(
            f"{what}: HTTP 404: no such repository, or the token may not read it "
            "(the job needs `permissions: actions: read`)"
        ) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise BaselineError(f"{what}: the API's answer is not JSON") from None


def _forbidden_hint(exc: BaselineError) -> BaselineError:
    text = str(exc)
    if "HTTP 401" in text or "HTTP 403" in text:
        text += " (the job's token needs `permissions: actions: read`)"
    return BaselineError(text)


def results_from_zip(data: bytes, shown: str) -> bytes:
    """results.json from an artifact's zip, read with bounds: a hostile zip is one error line."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise BaselineError(f"{shown}: not a zip file ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise BaselineError(f"{shown}: more than {MAX_MEMBERS} files; not gate's results")
        declared = sum(m.file_size for m in members)
        if declared > MAX_UNPACKED_BYTES:
            raise BaselineError(
                f"{shown}: unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB; "
                "not gate's results"
            )
        files = [m for m in members if not m.is_dir()]
        named = [m for m in files if m.filename.rsplit("/", 1)[-1] == "results.json"]
        jsons = [m for m in files if m.filename.endswith(".json")]
        chosen = named if named else jsons
        if len(chosen) != 1:
            listed = ", ".join(m.filename for m in files[:10]) or "nothing"
            raise BaselineError(
                f"{shown}: expected one results.json in the artifact, found {listed}"
            )
        member = chosen[0]
        try:
            with archive.open(member) as f:
                # zipfile stops at the declared size; read one byte more to be sure.
                raw = f.read(MAX_UNPACKED_BYTES + 1)
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
            raise BaselineError(f"{shown}: {member.filename}: cannot unpack ({exc})") from None
        if len(raw) > MAX_UNPACKED_BYTES:
            raise BaselineError(f"{shown}: {member.filename} is too large; not gate's results")
        return raw


def fetch_results(source: str, env: Mapping[str, str] | None = None) -> bytes:
    """The bytes of results.json in the newest artifact NAME of a successful run on the branch."""
    if env is None:
        from gate.secrets import environ

        env = environ()
    name, branch = parse(source, env)
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or ""
    repo = env.get("GITHUB_REPOSITORY", "")
    if repo.count("/") != 1:
        raise BaselineError(f"{source}: no repository: set GITHUB_REPOSITORY to owner/name")
    if not token:
        raise BaselineError(
            f"{source}: no token: set GITHUB_TOKEN (the action passes its github-token input)"
        )
    api = (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    base = f"{api}/repos/{quote(repo, safe='/')}/actions"
    shown = f"{source} ({repo}, branch {branch})"
    try:
        listing = _get_json(
            f"{base}/artifacts?{urlencode({'name': name, 'per_page': PER_PAGE})}",
            headers,
            shown,
            api + "/",
        )
    except BaselineError as exc:
        raise _forbidden_hint(exc) from None
    artifacts = listing.get("artifacts") if isinstance(listing, dict) else None
    if not isinstance(artifacts, list):
        raise BaselineError(f"{shown}: the API's artifact list has no `artifacts`")
    candidates = []
    for a in artifacts:
        if not isinstance(a, dict) or a.get("name") != name or a.get("expired"):
            continue
        run = a.get("workflow_run")
        if not isinstance(run, dict) or run.get("head_branch") != branch:
            continue
        # A fork's pull request can have a branch of the same name: not the base branch.
        own, head = run.get("repository_id"), run.get("head_repository_id")
        if own is not None and head is not None and own != head:
            continue
        candidates.append(a)
    if not candidates:
        raise BaselineMissing(f"{shown}: no artifact {name!r} from a run on {branch} yet")
    query = urlencode({"branch": branch, "status": "success", "per_page": PER_PAGE})
    try:
        runs = _get_json(f"{base}/runs?{query}", headers, shown, api + "/")
    except BaselineError as exc:
        raise _forbidden_hint(exc) from None
    listed = runs.get("workflow_runs") if isinstance(runs, dict) else None
    succeeded = {r.get("id") for r in listed or [] if isinstance(r, dict)}
    chosen = next((a for a in candidates if a["workflow_run"].get("id") in succeeded), None)
    if chosen is None:
        raise BaselineMissing(
            f"{shown}: no artifact {name!r} from a successful run on {branch} yet"
        )
    url = str(chosen.get("archive_download_url") or f"{base}/artifacts/{chosen.get('id')}/zip")
    if not url.startswith(api + "/"):
        # The token goes to the API only; a listed URL elsewhere is not trusted with it.
        raise BaselineError(f"{shown}: the artifact's download URL is not under {api}")
    what = f"{shown}: artifact {chosen.get('id')}"
    try:
        data = _fetch(url, headers, MAX_ZIP_BYTES, api + "/")  # the token: under the API only
    except BaselineMissing:
        raise BaselineMissing(f"{what}: gone (HTTP 404)") from None
    except BaselineError as exc:
        raise _forbidden_hint(exc) from None
    return results_from_zip(data, what)
