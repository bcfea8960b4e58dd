"""`gate comment --github --from-artifact NAME`: the comment for a pull request from a fork.

A fork's pull request runs with a read-only token, so its job cannot comment. It uploads
its results as artifact NAME instead, and a second workflow, started by `workflow_run`
when that run completes, runs in the base repository with a token that may write. That
workflow never checks out or runs the fork's code; what it reads of the fork is the
artifact, and the fork wrote it, so nothing in it is believed on its word:

- which run and which commit come from the workflow_run event, which GitHub wrote;
- which pull request the artifact claims (its results' `pull_request.number`) is believed
  only when GitHub's own record of that pull request is into this repository, has the
  run's head commit at its head and, when the event lists the run's pull requests (it
  does for a branch of this repository, never for a fork's), is one of them. Anything
  else is refused before a comment is read or written;
- the results must have been judged at the run's head commit: an artifact of another
  commit is refused, not shown as this one's;
- the body is rendered as every comment is (gate/report/comment.py): each string from the
  results (paths, names, messages) is escaped there, so it can neither add markup nor end
  the marker that tells one gate id's comment from another's.

A pull request that moved on while the run ran (its head is newer, on the same branch) is
skipped with exit 0: the run for the new head comments. So is an artifact that is not there
(the run stopped before uploading it, or it expired): there is nothing to show, and the
base repository's workflow should not go red because the fork's run could not judge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from gate.integrate.forge import Client, CommentSkipped, ForgeError, Target

if TYPE_CHECKING:
    from gate.judge.diff import BinaryDiff
    from gate.results.types import Document

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1, or SHA-256 repositories


@dataclass(frozen=True)
class Run:
    """The run that triggered this workflow, as the workflow_run event tells it."""

    id: int
    head_sha: str
    head_repo: str  # owner/name the commit was pushed to: a fork's, or this repository
    head_branch: str
    pulls: tuple[int, ...]  # the event's pull_requests: empty for a fork's


@dataclass(frozen=True)
class Pull:
    """GitHub's record of a pull request: the trusted side of every check here."""

    number: int
    base_repo: str
    head_sha: str
    head_repo: str
    head_branch: str


def _refuse(message: str) -> ForgeError:
    return ForgeError(f"{message}; no comment written")


def _read_event(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    name = env.get("GITHUB_EVENT_NAME")
    where = "in a workflow started by `on: workflow_run` (types: [completed])"
    if name and name != "workflow_run":
        raise ForgeError(f"--from-artifact: this is a {name} event; run it {where}")
    if not path:
        raise ForgeError(f"--from-artifact: $GITHUB_EVENT_PATH is not set; run it {where}")
    try:
        with open(path, encoding="utf-8") as f:
            event = json.load(f)
    except (OSError, ValueError) as exc:
        raise ForgeError(f"$GITHUB_EVENT_PATH ({path}): cannot read the event: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("workflow_run"), dict):
        raise ForgeError(f"--from-artifact: the event has no workflow_run; run it {where}")
    return event


def _text(obj: Any, *keys: str) -> str:
    """obj[k1][k2]... when it is a string, else ""."""
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, str) else ""


def _positive(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if ok else None


def triggering_run(env: Mapping[str, str]) -> Run:
    """The run a workflow_run event names; an event of anything else is refused (exit 2),
    one that is not finished yet is skipped (exit 0: `types: [completed]` was left out)."""
    event = _read_event(env)
    wr = event["workflow_run"]
    run_id = _positive(wr.get("id"))
    if run_id is None:
        raise ForgeError("--from-artifact: the workflow_run event has no run id")
    trigger = _text(wr, "event")
    if trigger != "pull_request":
        raise ForgeError(
            f"--from-artifact: run {run_id} was started by {trigger or 'an unknown event'!r}, "
            "not pull_request: there is no pull request to comment on (add `if: "
            "github.event.workflow_run.event == 'pull_request'` to the job)"
        )
    action = event.get("action")
    if isinstance(action, str) and action != "completed":
        raise CommentSkipped(
            f"run {run_id} is {action}, not completed: its artifact is not there yet "
            "(on: workflow_run: types: [completed])"
        )
    sha = _text(wr, "head_sha").lower()
    if not _SHA.fullmatch(sha):
        raise ForgeError(f"--from-artifact: run {run_id} has no head commit in the event")
    listed = wr.get("pull_requests")
    pulls = tuple(
        n
        for p in (listed if isinstance(listed, list) else [])
        if isinstance(p, dict) and (n := _positive(p.get("number"))) is not None
    )
    head_repo = _text(wr, "head_repository", "full_name")
    return Run(run_id, sha, head_repo, _text(wr, "head_branch"), pulls)


def claimed_pull(doc: Document, run: Run, shown: str) -> int:
    """The pull request the artifact's results say they are for, checked against the
    run's head commit; still to be checked against GitHub's record (verify_pull)."""
    pr = doc.get("pull_request")
    if isinstance(pr, dict):
        number, judged = pr["number"], str(pr["head_sha"])
    elif len(run.pulls) == 1:  # results from before gate recorded it: the event says
        number, judged = run.pulls[0], str(doc.get("commit") or "")
    else:
        raise _refuse(
            f"{shown}: the results do not say which pull request they judged (written by "
            "gate check outside a pull_request event, or by a gate that did not record it)"
        )
    if judged.lower() != run.head_sha:
        seen = json.dumps(judged[:80]) if judged else "no recorded commit"
        raise _refuse(
            f"{shown}: the results were judged at {seen}, not at run {run.id}'s head "
            f"{run.head_sha[:12]}"
        )
    if number < 1:
        raise _refuse(f"{shown}: pull request number {number} is not a pull request")
    return int(number)


def _pull(answer: Any, number: int) -> Pull:
    if not isinstance(answer, dict):
        raise ForgeError(f"GitHub API: pull request #{number}: the answer is not an object")
    return Pull(
        number,
        _text(answer, "base", "repo", "full_name"),
        _text(answer, "head", "sha").lower(),
        _text(answer, "head", "repo", "full_name"),
        _text(answer, "head", "ref"),
    )


def fetch_pull(client: Client, target: Target) -> Pull:
    """GET /repos/{repo}/pulls/{number}, with the comment client's errors (404: no such PR)."""
    url = f"{target.api}/repos/{target.place}/pulls/{target.number}"
    resp = client.request("GET", url)
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    return _pull(answer, target.number)


def verify_pull(pull: Pull, run: Run, repo: str, name: str) -> None:
    """Refuse (exit 2) a pull request the run was not for; skip (exit 0) one that moved on."""
    n, shown = pull.number, f"artifact {name!r} of run {run.id} names pull request #{pull.number}"
    if pull.base_repo.lower() != repo.lower():
        raise _refuse(f"{shown}, which is not into {repo}")
    if run.pulls and n not in run.pulls:
        listed = ", ".join(f"#{p}" for p in run.pulls)
        raise _refuse(f"{shown}, but the run was for {listed}")
    if pull.head_sha == run.head_sha:
        return
    same_branch = (
        bool(pull.head_repo)
        and pull.head_repo.lower() == run.head_repo.lower()
        and pull.head_branch == run.head_branch
    )
    if same_branch:
        raise CommentSkipped(
            f"pull request #{n} has moved on to {pull.head_sha[:7]} since run {run.id} "
            f"judged {run.head_sha[:7]}; the run for its new head comments"
        )
    raise _refuse(
        f"{shown}, whose head is {pull.head_sha[:12] or 'unknown'}, not the run's "
        f"{run.head_sha[:12]}: a forged or mixed-up artifact"
    )


def _api_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def fetch_run_results(api: str, repo: str, token: str, run_id: int, name: str) -> bytes:
    """results.json of artifact NAME uploaded by workflow run `run_id` of `repo`.

    The run is named by the event, so nothing here chooses between runs: the run uploaded
    NAME or it did not. SourceMissing when it did not, or the artifact expired (a warning
    for the caller); a refused token or a broken zip is an error. Each request is bounded
    as a baseline's is (gate.fetch.fetch_url); the token goes under the API's URL only,
    not on to the storage GitHub redirects the zip to.
    """
    from gate.errors import SourceError, SourceMissing
    from gate.fetch import fetch_url, parse_json
    from gate.integrate.ghartifact import MAX_LIST_BYTES, MAX_ZIP_BYTES, PER_PAGE, results_from_zip
    from gate.urls import inside

    headers, scope = _api_headers(token), api + "/"
    shown = f"artifact {name!r} of run {run_id}"
    query = urlencode({"name": name, "per_page": PER_PAGE})
    url = f"{api}/repos/{quote(repo, safe='/')}/actions/runs/{run_id}/artifacts?{query}"
    need = "the workflow needs `permissions: actions: read`"
    try:
        listing = parse_json(fetch_url(url, headers, MAX_LIST_BYTES, scope), shown)
    except SourceMissing:
        raise ForgeError(f"{shown}: HTTP 404: no such run, or {need}") from None
    except SourceError as exc:
        raise ForgeError(f"{exc} ({need})" if _refused(exc) else str(exc)) from None
    artifacts = listing.get("artifacts") if isinstance(listing, dict) else None
    if not isinstance(artifacts, list):
        raise ForgeError(f"{shown}: the API's artifact list has no `artifacts`")
    chosen = _newest_live(artifacts, name, shown)
    zip_url = str(chosen.get("archive_download_url") or "")
    if not inside(zip_url, scope):  # a listed URL elsewhere (or `..` out) gets no token
        raise ForgeError(f"{shown}: the artifact's download URL is not under {api}")
    try:
        data = fetch_url(zip_url, headers, MAX_ZIP_BYTES, scope)
    except SourceMissing:
        raise SourceMissing(f"{shown}: gone (HTTP 404)") from None
    except SourceError as exc:
        if "HTTP 410" in str(exc):
            raise SourceMissing(f"{shown}: expired (HTTP 410)") from None
        raise ForgeError(f"{exc} ({need})" if _refused(exc) else str(exc)) from None
    return results_from_zip(data, shown)


def _refused(exc: Exception) -> bool:
    return "HTTP 401" in str(exc) or "HTTP 403" in str(exc)


def _newest_live(artifacts: list[Any], name: str, shown: str) -> dict[str, Any]:
    """The artifact NAME that has not expired; the newest when a re-run uploaded it again."""
    from gate.errors import SourceMissing

    named = [a for a in artifacts if isinstance(a, dict) and a.get("name") == name]
    live = [a for a in named if not a.get("expired")]
    if not live:
        raise SourceMissing(
            f"{shown}: expired"
            if named
            else f"{shown}: none (the run stopped before uploading it, or uploaded it under "
            "another name)"
        )
    return max(live, key=lambda a: a["id"] if isinstance(a.get("id"), int) else 0)


def comment_from_artifact(
    name: str,
    comment_id: str,
    baseline: str | None,
    warn: Callable[[str], None],
) -> str | None:
    """`gate comment --github --from-artifact NAME`: the line that says what happened
    (None when a warning already said it)."""
    from gate.errors import SourceMissing
    from gate.fetch import parse_json
    from gate.integrate.forge import github_target
    from gate.report.comment import footer, marker, render_comment
    from gate.results.validate import validate
    from gate.secrets import environ

    mark = marker(comment_id)  # a bad --id is refused before any request
    env = environ()
    try:
        run = triggering_run(env)
        # Token, repository and API as every comment has them; the number is known later.
        where = github_target(env, run.id)
        try:
            raw = fetch_run_results(where.api, where.place, where.token, run.id, name)
        except SourceMissing as exc:
            warn(f"{exc}: nothing to comment")
            return None
        shown = f"artifact {name!r} of run {run.id}"
        doc = validate(parse_json(raw, shown), shown)
        target = replace(where, number=claimed_pull(doc, run, shown))
        diffs = _what_changed(doc, baseline, warn)
        body = render_comment(doc, comment_id, diffs, footer(doc, _linked(env, run)))
        done = _checked_upsert(target, run, name, mark, body)
    except CommentSkipped as exc:
        return f"gate: comment skipped: {exc}"
    return (
        f"gate: comment on #{target.number} {done} from artifact {name} of run {run.id} "
        f"(head {run.head_sha[:7]})"
    )


def _checked_upsert(target: Target, run: Run, name: str, mark: str, body: str) -> str:
    """Check the pull request against GitHub's record, then write: the action taken."""
    from gate.integrate.forge import upsert_comment

    need = "the workflow needs `permissions: pull-requests: write`"
    client = Client(target)
    try:
        pull = fetch_pull(client, target)
    except CommentSkipped as exc:  # 403: this token may not read pull requests
        raise ForgeError(f"{exc}; {need}") from None
    finally:
        client.close()
    verify_pull(pull, run, target.place, name)
    try:
        return upsert_comment(target, mark, body).action
    except CommentSkipped as exc:  # 403: this workflow's token should write
        raise ForgeError(f"{exc}; {need}") from None


def _linked(env: Mapping[str, str], run: Run) -> dict[str, str]:
    """The footer's job link goes to the run that judged, not to this one that comments."""
    return {**env, "GITHUB_RUN_ID": str(run.id)}


def _what_changed(
    doc: Document, baseline: str | None, warn: Callable[[str], None]
) -> list[BinaryDiff] | None:
    """Diffs against `baseline` for the 'what changed' table; a baseline that cannot be
    had costs only that table, as in every comment."""
    if not baseline:
        return None
    from gate.errors import DocumentError
    from gate.integrate.sources import load_results
    from gate.judge.diff import diff_results

    try:
        return diff_results(load_results(baseline), doc)
    except DocumentError as exc:
        warn(f"{exc}; the comment has no 'what changed' table")
        return None
