"""One living PR/MR comment per gate id: find the comment with the marker, update or create it.

The network edge of `gate comment`. GitHub (issue comments on the pull request) and
GitLab (merge request notes) differ in paths, auth header and pagination, and share the
rest: a paginated list, then one PATCH/PUT or POST. Every answer the user must act on
becomes one line; the token is only ever put in a request header, never in a URL or a
message, and a "next page" link to another origin is not followed with it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from gate.errors import GateError
from gate.urls import inside

TIMEOUT_S = 15.0
MAX_PAGES = 100  # 10,000 comments at 100 a page: far past any real pull request


class ForgeError(GateError):
    """The API cannot be used as asked: bad token, wrong PR number, API down, rate limit."""


class CommentSkipped(Exception):
    """Not an error for the job: the token may read but not write (a fork's pull request)."""


@dataclass(frozen=True)
class Target:
    """Where the comment goes and how to authenticate; built from the CI's environment."""

    forge: str  # "github" | "gitlab"
    api: str  # https://api.github.com, or GitLab's .../api/v4
    token: str
    place: str  # owner/repo (GitHub) or project id or path (GitLab)
    number: int  # pull request number or merge request iid

    @property
    def name(self) -> str:
        sep = "#" if self.forge == "github" else "!"
        return f"{self.place}{sep}{self.number}"

    def __repr__(self) -> str:  # never the token, not even in a traceback
        return f"Target({self.forge}, {self.api}, {self.name})"


def _number(value: Any, what: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ForgeError(f"{what} {value!r} is not a number") from None
    if number <= 0:
        raise ForgeError(f"{what} {number} is not a valid number")
    return number


def _pr_from_event(path: str | None) -> int | None:
    """The pull request number from the event GitHub stored for this run."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            event = json.load(f)
    except (OSError, ValueError) as exc:
        raise ForgeError(f"$GITHUB_EVENT_PATH ({path}): cannot read the event: {exc}") from None
    pr = event.get("pull_request") if isinstance(event, dict) else None
    if isinstance(pr, dict) and pr.get("number"):
        return _number(pr["number"], "pull request number")
    issue = event.get("issue") if isinstance(event, dict) else None
    if isinstance(issue, dict) and issue.get("pull_request") and issue.get("number"):
        return _number(issue["number"], "pull request number")
    return None


def github_target(env: Mapping[str, str], number: int | None = None) -> Target:
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    if not token:
        raise ForgeError("no token: set GITHUB_TOKEN (the action passes its github-token input)")
    repo = env.get("GITHUB_REPOSITORY", "")
    if repo.count("/") != 1:
        raise ForgeError("no repository: set GITHUB_REPOSITORY to owner/name")
    pr = number or _pr_from_event(env.get("GITHUB_EVENT_PATH"))
    if pr is None:
        raise CommentSkipped("this run is not for a pull request (give --pr N to name one)")
    api = (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")
    return Target("github", api, token, repo, pr)


def gitlab_target(env: Mapping[str, str], number: int | None = None) -> Target:
    token = env.get("GATE_GITLAB_TOKEN") or env.get("GITLAB_TOKEN")
    if not token:
        raise ForgeError(
            "no token: set GATE_GITLAB_TOKEN to a project access token with the api scope "
            "(CI_JOB_TOKEN cannot write notes)"
        )
    api = env.get("CI_API_V4_URL", "").rstrip("/")
    project = env.get("CI_PROJECT_ID", "")
    if not api or not project:
        raise ForgeError("no project: CI_API_V4_URL and CI_PROJECT_ID are not set")
    iid = number or (
        _number(env["CI_MERGE_REQUEST_IID"], "CI_MERGE_REQUEST_IID")
        if env.get("CI_MERGE_REQUEST_IID")
        else None
    )
    if iid is None:
        raise CommentSkipped("this pipeline is not for a merge request (give --mr N to name one)")
    return Target("gitlab", api, token, project, iid)


def _api_message(resp: Any) -> str:
    """The API's own one-line reason ('Bad credentials'), cut short; never the raw body."""
    try:
        body = resp.json()
    except ValueError:
        return resp.reason or ""
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, dict | list):
        message = json.dumps(message)
    if not isinstance(message, str):
        message = (body.get("error") if isinstance(body, dict) else None) or resp.reason or ""
    return " ".join(str(message).split())[:200]


class Client:
    """One forge's REST API for one pull request: errors as ForgeError lines, the token
    sent to the forge's API only. gate/integrate/forkcomment.py uses it too."""

    def __init__(self, target: Target) -> None:
        import requests  # only for comments: ~100 ms to import

        self._requests = requests
        self.target = target
        self.session = requests.Session()
        self.session.trust_env = False  # no ~/.netrc credentials mixed in
        if target.forge == "github":
            self.session.headers.update(
                {
                    "Authorization": f"Bearer {target.token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                }
            )
        else:
            self.session.headers["PRIVATE-TOKEN"] = target.token
        self.session.headers["User-Agent"] = "gate"

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        if not inside(url, self.target.api.rstrip("/") + "/"):  # the token goes to the API only
            raise ForgeError(f"{url} is not under the {self._forge} API: no token goes there")
        try:
            resp = self.session.request(
                method, url, json=body, timeout=TIMEOUT_S, allow_redirects=False
            )
        except self._requests.Timeout:
            raise ForgeError(
                f"{self._forge} API ({self.target.api}): no answer within {TIMEOUT_S:g} s"
            ) from None
        except self._requests.RequestException as exc:
            from gate.fetch import os_reason

            raise ForgeError(
                f"{self._forge} API ({self.target.api}): cannot connect: {os_reason(exc)}"
            ) from None
        if resp.status_code >= 300:
            self._fail(method, resp)
        return resp

    @property
    def _forge(self) -> str:
        return "GitHub" if self.target.forge == "github" else "GitLab"

    def _fail(self, method: str, resp: Any) -> None:
        code, message, h = resp.status_code, _api_message(resp), resp.headers
        where = self.target.name
        if code == 429 or (code == 403 and h.get("x-ratelimit-remaining") == "0"):
            reset = h.get("x-ratelimit-reset") or h.get("ratelimit-reset")
            when = ""
            if reset and reset.isdigit():
                when = "; it resets at " + time.strftime("%H:%M:%S UTC", time.gmtime(int(reset)))
            elif h.get("retry-after"):
                when = f"; retry after {h['retry-after']} s"
            raise ForgeError(f"{self._forge} API rate limit exceeded ({code}){when}")
        if code == 401:
            raise ForgeError(f"{self._forge} rejected the token (401 {message})")
        if code == 403:
            raise CommentSkipped(
                f"the token may not comment on {where} (403 {message}); a pull request from a "
                "fork gets a read-only token"
                if self.target.forge == "github"
                else f"the token may not write notes on {where} (403 {message}); it needs the "
                "api scope and at least the Reporter role"
            )
        if code == 404:
            raise ForgeError(
                f"{where}: not found (404): wrong "
                f"{'pull request number' if self.target.forge == 'github' else 'merge request'}"
                ", or the token cannot see the project"
            )
        if code == 422:
            raise ForgeError(f"{self._forge} refused the comment on {where} (422 {message})")
        raise ForgeError(f"{self._forge} API: {method} answered HTTP {code} {message}".rstrip())

    def pages(self, url: str) -> Iterator[list[dict[str, Any]]]:
        """Each page of a list, following rel="next" links (GitHub) or X-Next-Page (GitLab)."""
        for _ in range(MAX_PAGES):
            resp = self.request("GET", url)
            items = resp.json()
            if not isinstance(items, list):
                raise ForgeError(f"{self._forge} API: expected a list from {url}")
            yield [i for i in items if isinstance(i, dict)]
            nxt = resp.links.get("next", {}).get("url")
            if not nxt and resp.headers.get("x-next-page"):
                page = resp.headers["x-next-page"]
                nxt = _with_page(url, page)
            if not nxt:
                return
            url = nxt
        raise ForgeError(f"{self._forge} API: more than {MAX_PAGES} pages of comments")


def _with_page(url: str, page: str) -> str:
    from urllib.parse import parse_qsl, urlencode, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "page"] + [("page", page)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@dataclass(frozen=True)
class Upserted:
    action: str  # "created" | "updated"
    comment_id: int
    url: str | None


def _urls(target: Target) -> tuple[str, str]:
    """(list URL, item URL prefix)."""
    if target.forge == "github":
        base = f"{target.api}/repos/{target.place}/issues"
        return f"{base}/{target.number}/comments?per_page=100", f"{base}/comments/"
    project = quote(target.place, safe="")
    notes = f"{target.api}/projects/{project}/merge_requests/{target.number}/notes"
    return f"{notes}?per_page=100&sort=asc&order_by=created_at", f"{notes}/"


# Who may have written gate's comment on GitHub: the job token's GitHub App bot, or a
# person's token with write access to the repository. Anyone may post a comment that starts
# with the marker (a fork's author, first); taking theirs would leave gate's comment stale.
_GITHUB_WRITERS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


def _ours(comment: Mapping[str, Any], mark: str, forge: str) -> bool:
    """Whether `comment` is the one gate keeps for this id: it starts with the marker (gate
    puts it first) and, on GitHub, its author could have been gate."""
    if not str(comment.get("body", "")).startswith(mark):
        return False
    if forge != "github":
        return True
    user = comment.get("user")
    bot = isinstance(user, Mapping) and user.get("type") == "Bot"
    return bot or comment.get("author_association") in _GITHUB_WRITERS


def upsert_comment(target: Target, mark: str, body: str) -> Upserted:
    """Update the oldest comment of gate's carrying `mark`, or create one."""
    client = Client(target)
    try:
        list_url, item_url = _urls(target)
        found = None
        for page in client.pages(list_url):
            found = next((c for c in page if _ours(c, mark, target.forge)), None)
            if found:
                break
        if found:
            method = "PATCH" if target.forge == "github" else "PUT"
            resp = client.request(
                method, f"{item_url}{_number(found.get('id'), 'id')}", {"body": body}
            )
            action = "updated"
        else:
            resp = client.request("POST", list_url.split("?")[0], {"body": body})
            action = "created"
        try:
            answer = resp.json()
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        url = answer.get("html_url")
        new_id = answer.get("id")
        return Upserted(
            action, new_id if isinstance(new_id, int) else 0, url if isinstance(url, str) else None
        )
    finally:
        client.close()


def post_comment(
    results: str,
    forge: str,
    comment_id: str,
    baseline: str | None,
    number: int | None,
    warn: Callable[[str], None],
) -> str:
    """`gate comment`: render the results (and what changed since `baseline`) and create or
    update this gate id's comment; the one line that says what happened. A baseline that
    cannot be had costs only the 'what changed' table."""
    from gate.errors import DocumentError
    from gate.integrate.sources import load_results
    from gate.report.comment import footer, marker, render_comment
    from gate.secrets import environ

    mark = marker(comment_id)
    doc = load_results(results)
    diffs = None
    if baseline:
        from gate.judge.diff import diff_results

        try:
            diffs = diff_results(load_results(baseline), doc)
        except DocumentError as exc:
            warn(f"{exc}; the comment has no 'what changed' table")
    env = environ()
    try:
        target = github_target(env, number) if forge == "github" else gitlab_target(env, number)
        body = render_comment(doc, comment_id, diffs, footer(doc, env))
        done = upsert_comment(target, mark, body)
    except CommentSkipped as exc:
        return f"gate: comment skipped: {exc}"
    where = done.url or f"{target.name} (comment {done.comment_id})"
    return f"gate: {done.action} the comment {mark} on {where}"
