"""A baseline from a GitHub Actions artifact: `--baseline github-artifact:NAME[@BRANCH]`.

A run uploaded its results.json as artifact NAME; gate finds and reads it through GitHub's
REST API with the job token, so a workflow needs no `gh` and no shell step. Which run's:

- On a pull request (the event payload at $GITHUB_EVENT_PATH names the head commit), the
  merge base of the head and the base branch (GET .../compare/BASE...HEAD): that commit is
  what the change grew from, while the base branch's newest run may already hold commits the
  change does not, and its growth would then be charged to the change. If the merge base has
  no artifact of a successful run (its run failed, or is still going), its nearest ancestor
  that has one, walking GET .../commits?sha=MERGE_BASE (at most ANCESTOR_PAGES pages).
- On a push: the newest artifact of a successful run on BRANCH, the branch's own previous
  state. The same on a pull request when GitHub will not compare (a token without
  `contents: read`, a head force-pushed away), with one warning that says so.

Requests, each bounded in size and time (gate.integrate.baseline's `_fetch`), at most about twenty:
the artifact list (newest first, at most ARTIFACT_PAGES pages; an expired one, or one made
for a fork's pull request, is never used: a fork's code could write anything into it), the
compare, the commits, one GET .../actions/runs?head_sha=&status=success for each candidate
commit (at most RUN_LOOKUPS: a run that failed or was cancelled is never the baseline), and
the zip: GitHub answers 302 to its storage, and the token is not sent there (another
origin). The zip is read in memory with bounds on its size, its member count and what it
unpacks to (a zip bomb stops at the bound), and its results.json taken.

No token, no network, HTTP 401/403/404, no artifact yet or an expired one is
SourceUnavailable (--baseline-optional skips the relative checks); a zip that is not one
or holds no single results.json is an error. BRANCH is everything after the first `@`;
without it, $GITHUB_BASE_REF (a pull request's base), else $GITHUB_REF_NAME (a push).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from gate.errors import SourceError, SourceMissing, SourceUnavailable
from gate.fetch import Origin, fetch_url, too_deep
from gate.urls import inside
from gate.values.wording import commits, short

PREFIX = "github-artifact:"
MAX_ZIP_BYTES = 32 * 1024 * 1024  # what is downloaded
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # what all members together may unpack to
MAX_MEMBERS = 1000
MAX_LIST_BYTES = 4 * 1024 * 1024  # one page of artifacts, runs or commits
MAX_COMPARE_BYTES = 16 * 1024 * 1024  # a compare carries the changed files' patches too
MAX_EVENT_BYTES = 16 * 1024 * 1024  # the event payload on the runner's disk
PER_PAGE = 100
ARTIFACT_PAGES = 5  # the newest 500 artifacts NAME
ANCESTOR_PAGES = 2  # the merge base and the 199 commits before it
RUN_LOOKUPS = 10  # candidate commits whose runs are asked about
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FORBIDDEN = ("HTTP 401", "HTTP 403", "HTTP 404")
_URL_FIRST = re.compile(r"^https?://\S*: ")


@dataclass(frozen=True)
class PullRequest:
    number: int | None
    base: str  # the commit or branch the head is compared with
    head: str  # the head commit


def parse(source: str, env: Mapping[str, str]) -> tuple[str, str]:
    """(artifact name, branch) from `github-artifact:NAME[@BRANCH]` and the CI's environment."""
    spec = source.removeprefix(PREFIX)
    name, _, branch = spec.partition("@")
    if not name:
        raise SourceError(f"{source}: no artifact name (github-artifact:NAME[@BRANCH])")
    branch = branch or env.get("GITHUB_BASE_REF", "") or env.get("GITHUB_REF_NAME", "")
    if not branch:
        raise SourceUnavailable(
            f"{source}: which branch? Not a pull request ($GITHUB_BASE_REF is empty) and "
            "$GITHUB_REF_NAME is not set: name it, github-artifact:NAME@BRANCH"
        )
    return name, branch


class _Api:
    """GitHub's REST API for one repository, with the job's token and nowhere else."""

    def __init__(self, api: str, repo: str, token: str, shown: str) -> None:
        self.api = api
        self.base = f"{api}/repos/{quote(repo, safe='/')}"
        self.shown = shown
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def get(
        self,
        path: str,
        query: Mapping[str, str | int],
        cap: int = MAX_LIST_BYTES,
        history: str = "",
    ) -> Any:
        """One answer of the API as JSON; a 401/403/404 says which permission it takes
        (a 404 too: GitHub answers 404 for a repository the token may not see). Asking
        about `history` ("the compare", "the commits"), a refusal is _Refused."""
        url = f"{self.base}{path}?{urlencode(query)}"
        try:
            raw = fetch_url(url, self.headers, cap, self.api + "/")
        except SourceError as exc:
            refused = _refused(exc, history) if history else None
            if refused is not None:
                raise refused from None
            if not isinstance(exc, SourceMissing):
                raise _restated(exc, f"{self.shown}: {path}") from None
            raise SourceUnavailable(
                f"{self.shown}: {path}: HTTP 404: no such repository, or the token may not "
                "read it (the job needs `permissions: actions: read`)"
            ) from None
        text = raw.decode("utf-8", "replace")
        try:
            if too_deep(text):
                raise ValueError("nested too deep")
            return json.loads(text)
        except ValueError:
            raise SourceError(f"{self.shown}: the API's answer is not JSON") from None

    def artifacts(self, name: str) -> list[dict[str, Any]]:
        """Artifacts NAME, newest first, at most ARTIFACT_PAGES pages of them."""
        found: list[dict[str, Any]] = []
        for page in range(1, ARTIFACT_PAGES + 1):
            query: dict[str, str | int] = {"name": name, "per_page": PER_PAGE}
            if page > 1:
                query["page"] = page
            listing = self.get("/actions/artifacts", query)
            items = listing.get("artifacts") if isinstance(listing, dict) else None
            if not isinstance(items, list):
                raise SourceError(f"{self.shown}: the API's artifact list has no `artifacts`")
            found += [a for a in items if isinstance(a, dict)]
            total = listing.get("total_count")
            if len(items) < PER_PAGE or (isinstance(total, int) and len(found) >= total):
                break
        return found

    def successful_runs(self, query: Mapping[str, str | int]) -> set[Any]:
        runs = self.get("/actions/runs", {**query, "status": "success", "per_page": PER_PAGE})
        listed = runs.get("workflow_runs") if isinstance(runs, dict) else None
        return {r.get("id") for r in listed or [] if isinstance(r, dict)}

    def merge_base(self, pr: PullRequest) -> str:
        """The merge base of the pull request's head and its base."""
        basehead = f"{quote(pr.base, safe='')}...{quote(pr.head, safe='')}"
        answer = self.get(f"/compare/{basehead}", {"per_page": 1}, MAX_COMPARE_BYTES, "the compare")
        commit = answer.get("merge_base_commit") if isinstance(answer, dict) else None
        sha = commit.get("sha") if isinstance(commit, dict) else None
        if not isinstance(sha, str) or not _SHA.fullmatch(sha):
            raise SourceError(f"{self.shown}: the compare names no merge base commit")
        return sha

    def ancestors(self, sha: str) -> Iterator[str]:
        """`sha`, then the commits before it, newest first (as `git log`), bounded."""
        for page in range(1, ANCESTOR_PAGES + 1):
            query: dict[str, str | int] = {"sha": sha, "per_page": PER_PAGE}
            if page > 1:
                query["page"] = page
            listed = self.get("/commits", query, history="the commits")
            if not isinstance(listed, list):
                raise SourceError(f"{self.shown}: the API's commit list is not a list")
            for commit in listed:
                if isinstance(commit, dict) and isinstance(commit.get("sha"), str):
                    yield commit["sha"]
            if len(listed) < PER_PAGE:
                return


class _Refused(SourceUnavailable):
    """GitHub would not compare or list commits: a token without `contents: read`, or a head
    it does not know (force-pushed away). The merge base is out of reach; the branch's
    newest artifact is not."""


def _refused(exc: SourceError, what: str) -> _Refused | None:
    """`exc` as a refusal to answer about `what`, if it is one (HTTP 401/403/404)."""
    text = _URL_FIRST.sub("", str(exc))
    if not any(code in text for code in _FORBIDDEN):
        return None
    if "HTTP 404" not in text:
        text += " (the job's token needs `permissions: contents: read`)"
    return _Refused(f"{what}: {text}")


def _restated(exc: SourceError, what: str) -> SourceError:
    """The same error (and kind) about `what` rather than a URL (the storage's, after a
    redirect, is signed: not for a log), saying which permission a refused token lacks."""
    text = _URL_FIRST.sub("", str(exc))
    if any(code in text for code in _FORBIDDEN):
        text += " (the job's token needs `permissions: actions: read`)"
    return type(exc)(f"{what}: {text}")


def pull_request(env: Mapping[str, str], warn: Callable[[str], None]) -> PullRequest | None:
    """The pull request this run is for, from the event payload; None for a push (or a
    payload without the head commit, as a local runner may write)."""
    path = env.get("GITHUB_EVENT_PATH", "")
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_EVENT_BYTES + 1)
        text = raw.decode("utf-8")
        if len(raw) > MAX_EVENT_BYTES or too_deep(text):
            raise ValueError("too large or nested too deep")
        payload = json.loads(text)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        warn(f"$GITHUB_EVENT_PATH {path}: cannot read the event ({reason[:200]})")
        return None
    pr = payload.get("pull_request") if isinstance(payload, dict) else None
    if not isinstance(pr, dict):
        return None
    head, base = pr.get("head"), pr.get("base")
    head_sha = head.get("sha") if isinstance(head, dict) else None
    if not isinstance(head_sha, str) or not _SHA.fullmatch(head_sha):
        return None
    base = base if isinstance(base, dict) else {}
    base_sha, base_ref = base.get("sha"), base.get("ref")
    number = payload.get("number", pr.get("number"))
    if isinstance(base_sha, str) and _SHA.fullmatch(base_sha):
        against = base_sha
    elif isinstance(base_ref, str) and base_ref:
        against = base_ref
    else:
        return None
    pr_number = number if isinstance(number, int) and not isinstance(number, bool) else None
    return PullRequest(pr_number, against, head_sha)


def results_from_zip(data: bytes, shown: str) -> bytes:
    """results.json from an artifact's zip, read with bounds: a hostile zip is one error line."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise SourceError(f"{shown}: not a zip file ({exc})") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise SourceError(f"{shown}: more than {MAX_MEMBERS} files; not gate's results")
        declared = sum(m.file_size for m in members)
        if declared > MAX_UNPACKED_BYTES:
            raise SourceError(
                f"{shown}: unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB; "
                "not gate's results"
            )
        files = [m for m in members if not m.is_dir()]
        named = [m for m in files if m.filename.rsplit("/", 1)[-1] == "results.json"]
        jsons = [m for m in files if m.filename.endswith(".json")]
        chosen = named if named else jsons
        if len(chosen) != 1:
            listed = ", ".join(m.filename for m in files[:10]) or "nothing"
            raise SourceError(f"{shown}: expected one results.json in the artifact, found {listed}")
        member = chosen[0]
        try:
            with archive.open(member) as f:
                # zipfile stops at the declared size; read one byte more to be sure.
                raw = f.read(MAX_UNPACKED_BYTES + 1)
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
            raise SourceError(f"{shown}: {member.filename}: cannot unpack ({exc})") from None
        if len(raw) > MAX_UNPACKED_BYTES:
            raise SourceError(f"{shown}: {member.filename} is too large; not gate's results")
        return raw


def _ours(artifact: Mapping[str, Any], name: str) -> bool:
    """Artifact NAME of a run of this repository's own code: a fork's pull request runs the
    fork's code, which could upload any results under the same name."""
    run = artifact.get("workflow_run")
    if artifact.get("name") != name or not isinstance(run, dict):
        return False
    own, head = run.get("repository_id"), run.get("head_repository_id")
    return own is None or head is None or own == head


def _branch_tip(
    api: _Api, name: str, branch: str, artifacts: list[dict[str, Any]], why: str
) -> tuple[dict[str, Any], Origin]:
    """The newest artifact NAME of a successful run on BRANCH."""
    on_branch = [
        a for a in artifacts if _ours(a, name) and a["workflow_run"].get("head_branch") == branch
    ]
    candidates = [a for a in on_branch if not a.get("expired")]
    if not candidates:
        if on_branch:
            raise SourceUnavailable(
                f"{api.shown}: artifact {name!r} from a run on {branch} has expired"
            )
        raise SourceMissing(f"{api.shown}: no artifact {name!r} from a run on {branch} yet")
    succeeded = api.successful_runs({"branch": branch})
    chosen = next((a for a in candidates if a["workflow_run"].get("id") in succeeded), None)
    if chosen is None:
        raise SourceMissing(
            f"{api.shown}: no artifact {name!r} from a successful run on {branch} yet"
        )
    run = chosen["workflow_run"]
    commit = run.get("head_sha") if isinstance(run.get("head_sha"), str) else None
    said = f"the latest successful run on {branch}{why}"
    return chosen, _origin(name, run, commit, "branch-tip", None, None, said)


def _merge_base(
    api: _Api, name: str, pr: PullRequest, merge_base: str, artifacts: list[dict[str, Any]]
) -> tuple[dict[str, Any], Origin]:
    """Artifact NAME of a successful run at the merge base, else at its nearest ancestor
    that has one."""
    by_commit: dict[str, list[dict[str, Any]]] = {}
    expired: set[str] = set()
    for a in artifacts:
        sha = a["workflow_run"].get("head_sha") if _ours(a, name) else None
        if isinstance(sha, str):
            if a.get("expired"):
                expired.add(sha)
            else:
                by_commit.setdefault(sha, []).append(a)
    looked = lookups = 0
    expired_at = None
    for distance, sha in enumerate(api.ancestors(merge_base)):
        looked = distance + 1
        if sha in expired and sha not in by_commit and expired_at is None:
            expired_at = sha
        found = by_commit.get(sha)
        if not found:
            continue
        if lookups == RUN_LOOKUPS:
            break
        lookups += 1
        succeeded = api.successful_runs({"head_sha": sha})
        chosen = next((a for a in found if a["workflow_run"].get("id") in succeeded), None)
        if chosen is not None:
            if distance == 0:
                of = f" of #{pr.number}" if pr.number is not None else ""
                said = f"the merge base{of}"
                return chosen, _origin(
                    name, chosen["workflow_run"], sha, "merge-base", merge_base, 0, said
                )
            said = (
                f"the nearest ancestor of the merge base {short(merge_base)} with an "
                f"artifact, {commits(distance)} back"
            )
            return chosen, _origin(
                name, chosen["workflow_run"], sha, "ancestor", merge_base, distance, said
            )
    where = f"at the merge base {short(merge_base)} or the {commits(looked - 1)} before it"
    if expired_at is not None:
        raise SourceUnavailable(
            f"{api.shown}: no artifact {name!r} of a successful run {where} (the one at "
            f"{short(expired_at)} has expired)"
        )
    raise SourceMissing(f"{api.shown}: no artifact {name!r} of a successful run {where}")


def _origin(
    name: str,
    run: Mapping[str, Any],
    commit: str | None,
    relation: str,
    merge_base: str | None,
    distance: int | None,
    which: str,
) -> Origin:
    run_id = run.get("id")
    run_id = run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else None
    at = f" at commit {short(commit)}" if commit else ""
    said = f"artifact {name} of run {run_id}{at} ({which})"
    return Origin(relation, commit, run_id, merge_base, distance, said)


def fetch(
    source: str,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> tuple[bytes, Origin]:
    """The bytes of results.json in the artifact NAME that is the baseline, and its origin."""
    if env is None:
        from gate.secrets import environ

        env = environ()
    if not source.removeprefix(PREFIX).partition("@")[0]:
        parse(source, env)  # raises: no artifact name, before any other complaint
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or ""
    if not token:
        raise SourceUnavailable(
            f"{source}: no token: set GITHUB_TOKEN (the action passes its github-token input)"
        )
    repo = env.get("GITHUB_REPOSITORY", "")
    if repo.count("/") != 1:
        raise SourceUnavailable(f"{source}: no repository: set GITHUB_REPOSITORY to owner/name")
    name, branch = parse(source, env)
    api = _Api(
        (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
        repo,
        token,
        f"{source} ({repo}, branch {branch})",
    )
    artifacts = api.artifacts(name)
    chosen, origin = _choose(api, name, branch, artifacts, env, warn)
    return _download(api, chosen), origin


def _choose(
    api: _Api,
    name: str,
    branch: str,
    artifacts: list[dict[str, Any]],
    env: Mapping[str, str],
    warn: Callable[[str], None],
) -> tuple[dict[str, Any], Origin]:
    """The merge base's artifact on a pull request into BRANCH, else BRANCH's newest."""
    pr = pull_request(env, warn)
    if pr is None:
        return _branch_tip(api, name, branch, artifacts, "")
    base_ref = env.get("GITHUB_BASE_REF", "")
    if base_ref and base_ref != branch:  # @BRANCH names another branch than the base
        pr = PullRequest(pr.number, branch, pr.head)
    if not any(_ours(a, name) for a in artifacts):
        raise SourceMissing(f"{api.shown}: no artifact {name!r} yet")
    try:
        return _merge_base(api, name, pr, api.merge_base(pr), artifacts)
    except _Refused as exc:
        base = short(pr.base) if _SHA.fullmatch(pr.base) else pr.base
        warn(
            f"{api.shown}: cannot find the merge base of {short(pr.head)} and {base} ({exc}):"
            f" comparing with the latest successful run on {branch}, which may hold commits "
            "this change does not"
        )
        return _branch_tip(api, name, branch, artifacts, ", not the merge base")


def _download(api: _Api, chosen: Mapping[str, Any]) -> bytes:
    url = str(chosen.get("archive_download_url") or "")
    if not url:
        url = f"{api.base}/actions/artifacts/{chosen.get('id')}/zip"
    if not inside(url, api.api + "/"):
        # The token goes to the API only (`..`, `%2e%2e` resolved): a URL elsewhere gets none.
        raise SourceError(f"{api.shown}: the artifact's download URL is not under {api.api}")
    what = f"{api.shown}: artifact {chosen.get('id')}"
    try:
        data = fetch_url(url, api.headers, MAX_ZIP_BYTES, api.api + "/")  # the API only
    except SourceMissing:
        raise SourceMissing(f"{what}: gone (HTTP 404)") from None
    except SourceError as exc:
        if "HTTP 410" in str(exc):
            raise SourceUnavailable(f"{what}: expired (HTTP 410)") from None
        raise _restated(exc, what) from None
    return results_from_zip(data, what)


def fetch_results(source: str, env: Mapping[str, str] | None = None) -> bytes:
    """The bytes of results.json in the artifact that is the baseline (see `fetch`)."""
    return fetch(source, env)[0]
