"""A real HTTP server on 127.0.0.1 speaking the few GitHub and GitLab REST endpoints gate uses.

`gate comment --github/--gitlab` and GitLab baseline download are tested against this server
instead of mocks, so the tests exercise gate's real HTTP stack: headers, pagination through
``Link``, status codes, redirects, keep-alive. Only behaviour gate relies on is modelled, but
that part follows the real services (header names, error bodies, pagination headers, GitLab's
newest-first note order) so a client that passes here has a fair chance against the real thing.

    with FakeForge() as forge:
        forge.add_github_pr("octo/svc", 7, comments=["hello"])
        env = {"GITHUB_API_URL": forge.github_api, "GITHUB_TOKEN": forge.token}
        ...
        assert forge.requests[-1].method == "PATCH"

State (``github_comments``, ``gitlab_notes``, ``artifacts``, ``files``, ``redirects``...) is
plain dicts and sets that tests may read and change directly.
"""

from __future__ import annotations

import contextlib
import json
import math
import mimetypes
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlencode

GITHUB_PREFIX = "/api/v3"
GITLAB_PREFIX = "/api/v4"
FIRST_ID = 1000
GITHUB_DOCS = "https://docs.github.com/rest"

Json = Any
Headers = dict[str, str]


@dataclass
class Request:
    """One request as the server saw it, kept so tests can assert what gate actually sent.

    ``path`` is the raw path without the query, percent-encoding intact (so a test can check
    that a GitLab project path was sent as ``group%2Fproj``); ``query`` keeps the last value
    of each parameter; header names are lower-cased; ``body`` is the parsed JSON or None.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class _Answer:
    """What a route handler wants sent: kept apart from the socket so routing stays pure."""

    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: Headers | None = None


def _json(status: int, payload: Json, headers: Headers | None = None) -> _Answer:
    return _Answer(status, json.dumps(payload).encode(), headers=headers)


def _update(item: dict[str, Any], body: Any, invalid: _Answer | None) -> _Answer:
    """PATCH (GitHub) or PUT (GitLab) of a comment's body: the refusal, or the new item."""
    if invalid is not None:
        return invalid
    item["body"] = body["body"]
    item["updated_at"] = _now()
    return _json(200, item)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    """Both forges ignore unusable numbers and fall back to the default instead of failing."""
    try:
        value = int(query.get(name, ""))
    except ValueError:
        return default
    return value if value >= 1 else default


class FakeForge:
    """Context manager: ``with FakeForge() as forge:``; ``forge.url`` is 'http://127.0.0.1:PORT'.

    ``github_api`` (forge.url + '/api/v3', the GitHub Enterprise layout) is what
    ``GITHUB_API_URL`` should point to and ``gitlab_api`` (forge.url + '/api/v4') what
    ``CI_API_V4_URL`` should point to.
    """

    url: str
    github_api: str
    gitlab_api: str

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.token: str = "test-token"
        self.per_page_cap: int = 100
        self.bot_name: str = "gate-bot"
        self.github_comments: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.gitlab_notes: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.artifacts: dict[tuple[str, str, str, str], bytes] = {}
        self.fail_next: list[tuple[int, dict[str, str], str]] = []
        self.read_only_repos: set[str] = set()
        self.read_only_projects: set[str] = set()
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        # GitHub Actions artifacts (see add_github_artifact); their zips are sent by a 302 to
        # `storage`, a second server on another port that refuses an Authorization header
        # (as GitHub's blob storage does), so a client forwarding the token fails there.
        self.github_artifacts: list[dict[str, Any]] = []
        self.github_runs: list[dict[str, Any]] = []
        self.storage: FakeForge | None = None
        self.refuse_authorization = False
        # Merge bases and ancestors (history block below): a real git repository answers
        # GitHub's compare and commits and GitLab's repository/commits; pipelines by commit.
        self.git_repo: Path | None = None
        self.gitlab_pipelines: list[dict[str, Any]] = []
        self.github_history_refused = False  # compare, commits: 403 (no `contents: read`)
        # Pull requests as GET pulls/{n} shows them (add_github_pull), for workflow_run comments.
        self.github_pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._reset_at = int(time.time()) + 3600

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.forge = self
        self._server = server
        port = server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self.github_api = self.url + GITHUB_PREFIX
        self.gitlab_api = self.url + GITLAB_PREFIX
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll: keep exit quick
            name=f"fake-forge-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def start_storage(self) -> FakeForge:
        """The artifact storage (another origin: 127.0.0.1 on another port), started once."""
        if self.storage is None:
            storage = FakeForge()
            storage.refuse_authorization = True
            self.storage = storage.__enter__()
        return self.storage

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop accepting, then cut idle keep-alive connections so no handler thread outlives us."""
        server, self._server = self._server, None
        if server is None:
            return
        if self.storage is not None:
            self.storage.__exit__(None, None, None)
            self.storage = None
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads (block_on_close)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- test helpers -------------------------------------------------------------------------

    def add_github_pr(
        self, repo: str, number: int, comments: Sequence[str] = (), association: str = "NONE"
    ) -> None:
        """Create PR ``number`` in ``repo`` ('owner/name') so its comments endpoint exists;
        ``comments`` by "someone", whose relation to the repository is ``association``."""
        with self._lock:
            existing = self.github_comments.setdefault((repo, number), [])
            for body in comments:
                comment = self._github_comment(repo, number, body, "someone")
                comment["author_association"] = association
                existing.append(comment)

    def add_gitlab_mr(self, project: str, iid: int, notes: Sequence[str] = ()) -> None:
        """Create MR ``iid`` in ``project`` (numeric id or 'group/proj', unencoded)."""
        with self._lock:
            existing = self.gitlab_notes.setdefault((project, iid), [])
            for body in notes:
                existing.append(self._gitlab_note(project, iid, body, "someone"))

    def add_github_artifact(
        self,
        repo: str,
        name: str,
        branch: str,
        data: bytes,
        *,
        conclusion: str = "success",
        expired: bool = False,
        fork: bool = False,
    ) -> dict[str, Any]:
        """A workflow run on ``branch`` of ``repo`` that uploaded artifact ``name`` (a zip's
        bytes); the newest is listed first, as GitHub does. ``fork``: the run was for a fork's
        branch of the same name. The zip is downloaded through a 302 to ``storage``."""
        with self._lock:
            run_id = FIRST_ID + len(self.github_runs) + 1
            artifact_id = FIRST_ID + len(self.github_artifacts) + 1
            repo_id = 42
            self.github_runs.insert(
                0,
                {
                    "id": run_id,
                    "head_branch": branch,
                    "status": "completed",
                    "conclusion": conclusion,
                    "repository": {"id": repo_id, "full_name": repo},
                    "head_repository": {"id": repo_id + 1 if fork else repo_id},
                    "_repo": repo,
                },
            )
            base = f"{self.github_api}/repos/{repo}/actions/artifacts/{artifact_id}"
            artifact = {
                "id": artifact_id,
                "name": name,
                "size_in_bytes": len(data),
                "url": base,
                "archive_download_url": base + "/zip",
                "expired": expired,
                "created_at": _now(),
                "workflow_run": {
                    "id": run_id,
                    "repository_id": repo_id,
                    "head_repository_id": repo_id + 1 if fork else repo_id,
                    "head_branch": branch,
                    "head_sha": f"{run_id:040x}",
                },
                "_repo": repo,
                "_data": data,
            }
            self.github_artifacts.insert(0, artifact)
        self.start_storage()
        return artifact

    def rate_limited(self) -> None:
        """Queue the 403 GitHub sends once the primary rate limit is spent."""
        headers = {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "5000",
            "x-ratelimit-reset": str(int(time.time()) + 600),
        }
        body = {
            "message": "API rate limit exceeded for installation ID 1.",
            "documentation_url": f"{GITHUB_DOCS}/overview/rate-limits-for-the-rest-api",
        }
        with self._lock:
            self.fail_next.append((403, headers, json.dumps(body)))

    # -- object factories (callers hold the lock) ---------------------------------------------

    def _github_comment(self, repo: str, number: int, body: str, login: str) -> dict[str, Any]:
        comment_id = self._new_id(self.github_comments.values())
        stamp = _now()
        return {
            "id": comment_id,
            "body": body,
            "user": {"login": login, "type": "Bot" if login == self.bot_name else "User"},
            "author_association": "NONE",  # GitHub's for a GitHub App's bot, as for strangers
            "created_at": stamp,
            "updated_at": stamp,
            "html_url": f"{self.url}/{repo}/pull/{number}#issuecomment-{comment_id}",
            "url": f"{self.github_api}/repos/{repo}/issues/comments/{comment_id}",
        }

    def _gitlab_note(self, project: str, iid: int, body: str, username: str) -> dict[str, Any]:
        stamp = _now()
        return {
            "id": self._new_id(self.gitlab_notes.values()),
            "body": body,
            "author": {"username": username},
            "system": False,
            "created_at": stamp,
            "updated_at": stamp,
            "noteable_type": "MergeRequest",
            "noteable_iid": iid,
        }

    @staticmethod
    def _new_id(groups: Any) -> int:
        """Above every id present, so tests that insert objects by hand cannot cause clashes."""
        ids = [item["id"] for group in groups for item in group]
        return max([FIRST_ID - 1, *ids]) + 1

    # -- request handling (called from handler threads) ---------------------------------------

    def _handle(
        self, method: str, raw_path: str, query: dict[str, str], headers: Headers, body: Json
    ) -> _Answer:
        with self._lock:
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure is not None:
            status, extra, text = failure
            try:
                json.loads(text)
                content_type = "application/json; charset=utf-8"
            except ValueError:
                content_type = "text/plain; charset=utf-8"
            answer = _Answer(status, text.encode(), content_type, dict(extra))
            if raw_path.startswith(GITHUB_PREFIX + "/"):
                answer.headers = {**self._github_rate_headers(), **dict(extra)}
            return answer
        if raw_path in self.redirects:
            return _Answer(
                302, content_type="text/plain", headers={"location": self.redirects[raw_path]}
            )
        segments = [unquote(part) for part in raw_path.split("/")[1:]]
        if raw_path.startswith(GITHUB_PREFIX + "/"):
            return self._github(method, raw_path, segments[2:], query, headers, body)
        if raw_path.startswith(GITLAB_PREFIX + "/"):
            return self._gitlab(method, raw_path, segments[2:], query, headers, body)
        if self.refuse_authorization and "authorization" in headers:
            return _json(400, {"message": "Authorization is not accepted here (storage)"})
        if method == "GET" and len(segments) >= 2 and segments[0] == "plain":
            name = "/".join(segments[1:])
            if name in self.files:
                content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
                return _Answer(200, self.files[name], content_type)
        return _json(404, {"message": "Not Found"})

    # GitHub ----------------------------------------------------------------------------------

    def _github(
        self,
        method: str,
        raw_path: str,
        seg: list[str],
        query: dict[str, str],
        headers: Headers,
        body: Json,
    ) -> _Answer:
        answer = self._github_route(method, raw_path, seg, query, headers, body)
        answer.headers = {**self._github_rate_headers(), **(answer.headers or {})}
        return answer

    def _github_rate_headers(self) -> Headers:
        """Sent on every GitHub answer, as GitHub does, so clients can read their budget."""
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-used": "1",
            "x-ratelimit-reset": str(self._reset_at),
            "x-ratelimit-resource": "core",
        }

    def _github_route(
        self,
        method: str,
        raw_path: str,
        seg: list[str],
        query: dict[str, str],
        headers: Headers,
        body: Json,
    ) -> _Answer:
        not_found = _json(404, {"message": "Not Found", "documentation_url": GITHUB_DOCS})
        if (history := self._github_history(method, seg, query, headers)) is not None:
            return history
        if len(seg) >= 5 and seg[0] == "repos" and seg[3] == "actions" and method == "GET":
            return self._github_actions(f"{seg[1]}/{seg[2]}", seg[4:], query, headers)
        if len(seg) == 5 and seg[0] == "repos" and seg[3] == "pulls" and method == "GET":
            return self._github_pull(f"{seg[1]}/{seg[2]}", seg[4], headers)
        # repos/{owner}/{repo}/issues/{number}/comments  or  .../issues/comments/{id}
        if len(seg) != 6 or seg[0] != "repos" or seg[3] != "issues":
            return not_found
        repo = f"{seg[1]}/{seg[2]}"
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self.token:
            return _json(401, {"message": "Bad credentials", "documentation_url": GITHUB_DOCS})
        read_only = _json(
            403,
            {
                "message": "Resource not accessible by integration",
                "documentation_url": f"{GITHUB_DOCS}/issues/comments#create-an-issue-comment",
            },
        )
        if seg[5] == "comments" and seg[4].isdigit():
            key = (repo, int(seg[4]))
            if method == "GET":
                with self._lock:
                    if key not in self.github_comments:
                        return not_found
                    comments = [dict(c) for c in self.github_comments[key]]
                return self._github_page(raw_path, query, comments)
            if method == "POST":
                with self._lock:
                    if key not in self.github_comments:
                        return not_found
                    if repo in self.read_only_repos:
                        return read_only
                    if (invalid := _github_invalid_body(body)) is not None:
                        return invalid
                    comment = self._github_comment(repo, key[1], body["body"], self.bot_name)
                    self.github_comments[key].append(comment)
                    return _json(201, comment, {"location": comment["url"]})
            return not_found
        if seg[4] == "comments" and seg[5].isdigit() and method == "PATCH":
            comment_id = int(seg[5])
            with self._lock:
                found = [
                    c
                    for (r, _), comments in self.github_comments.items()
                    if r == repo
                    for c in comments
                    if c["id"] == comment_id
                ]
                if not found:
                    return not_found
                if repo in self.read_only_repos:
                    return read_only
                return _update(found[0], body, _github_invalid_body(body))
        return not_found

    def _github_actions(
        self, repo: str, rest: list[str], query: dict[str, str], headers: Headers
    ) -> _Answer:
        """actions/artifacts?name=, actions/runs?branch=&status=, actions/artifacts/{id}/zip."""
        not_found = _json(404, {"message": "Not Found", "documentation_url": GITHUB_DOCS})
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self.token:
            return _json(401, {"message": "Bad credentials", "documentation_url": GITHUB_DOCS})
        per_page = min(_int_param(query, "per_page", 30), self.per_page_cap)
        public = lambda item: {k: v for k, v in item.items() if not k.startswith("_")}  # noqa: E731
        with self._lock:
            artifacts = [a for a in self.github_artifacts if a["_repo"] == repo]
            runs = [r for r in self.github_runs if r["_repo"] == repo]
        if rest == ["artifacts"]:
            if "name" in query:
                artifacts = [a for a in artifacts if a["name"] == query["name"]]
            page = [public(a) for a in artifacts[:per_page]]
            return _json(200, {"total_count": len(artifacts), "artifacts": page})
        if rest == ["runs"]:
            if "branch" in query:
                runs = [r for r in runs if r["head_branch"] == query["branch"]]
            if query.get("status") == "success":
                runs = [r for r in runs if r["conclusion"] == "success"]
            page = [public(r) for r in runs[:per_page]]
            return _json(200, {"total_count": len(runs), "workflow_runs": page})
        if len(rest) == 3 and rest[0] == "artifacts" and rest[2] == "zip" and rest[1].isdigit():
            found = [a for a in artifacts if a["id"] == int(rest[1])]
            if not found:
                return not_found
            if found[0]["expired"]:
                return _json(410, {"message": "Artifact has expired"})
            storage = self.start_storage()
            blob = f"artifacts/{found[0]['id']}.zip"
            with storage._lock:
                storage.files[blob] = found[0]["_data"]
            # GitHub's answer: a short-lived signed URL on another origin.
            location = f"{storage.url}/plain/{blob}?sig=signed&se=soon"
            return _Answer(302, content_type="text/plain", headers={"location": location})
        if len(rest) == 3 and rest[0] == "runs" and rest[2] == "artifacts":
            return self._github_run_artifacts(rest[1], runs, artifacts, query)
        return not_found

    # -- a fork's pull request: one run's artifact, and the pull request's record ---------------

    def add_github_pull(
        self, repo: str, number: int, head_sha: str, head_repo: str, head_ref: str = "feature"
    ) -> dict[str, Any]:
        """Pull request ``number`` into ``repo`` from branch ``head_ref`` of ``head_repo`` (a
        fork's 'owner/name', or ``repo``) at ``head_sha``; its comments endpoint exists too."""
        pull = {
            "number": number,
            "state": "open",
            "html_url": f"{self.url}/{repo}/pull/{number}",
            "head": {"sha": head_sha, "ref": head_ref, "repo": {"full_name": head_repo}},
            "base": {"ref": "main", "repo": {"full_name": repo}},
        }
        with self._lock:
            self.github_pulls[(repo, number)] = pull
            self.github_comments.setdefault((repo, number), [])
        return pull

    def add_github_run_artifact(
        self,
        repo: str,
        run: dict[str, Any],
        name: str | None = None,
        data: bytes = b"",
        *,
        expired: bool = False,
    ) -> None:
        """The workflow run ``run`` (a workflow_run event's object: id, head_sha, head_branch,
        event...) of ``repo``, having uploaded artifact ``name`` (a zip's bytes) unless None."""
        with self._lock:
            self.github_runs.insert(0, {**run, "_repo": repo, "conclusion": "success"})
            if name is None:
                return
            artifact_id = FIRST_ID + len(self.github_artifacts) + 1
            base = f"{self.github_api}/repos/{repo}/actions/artifacts/{artifact_id}"
            self.github_artifacts.insert(
                0,
                {
                    "id": artifact_id,
                    "name": name,
                    "size_in_bytes": len(data),
                    "url": base,
                    "archive_download_url": base + "/zip",
                    "expired": expired,
                    "created_at": _now(),
                    "workflow_run": {
                        "id": run["id"],
                        "head_branch": run.get("head_branch"),
                        "head_sha": run.get("head_sha"),
                    },
                    "_repo": repo,
                    "_data": data,
                },
            )
        self.start_storage()

    def _github_pull(self, repo: str, number: str, headers: Headers) -> _Answer:
        """GET repos/{repo}/pulls/{number}."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self.token:
            return _json(401, {"message": "Bad credentials", "documentation_url": GITHUB_DOCS})
        with self._lock:
            pull = self.github_pulls.get((repo, int(number))) if number.isdigit() else None
        if pull is None:
            return _json(404, {"message": "Not Found", "documentation_url": GITHUB_DOCS})
        return _json(200, pull)

    def _github_run_artifacts(
        self,
        run_id: str,
        runs: list[dict[str, Any]],
        artifacts: list[dict[str, Any]],
        query: dict[str, str],
    ) -> _Answer:
        """GET repos/{repo}/actions/runs/{run_id}/artifacts[?name=]: that run's artifacts."""
        if not run_id.isdigit() or not any(r["id"] == int(run_id) for r in runs):
            return _json(404, {"message": "Not Found", "documentation_url": GITHUB_DOCS})
        mine = [a for a in artifacts if a["workflow_run"]["id"] == int(run_id)]
        if "name" in query:
            mine = [a for a in mine if a["name"] == query["name"]]
        per_page = min(_int_param(query, "per_page", 30), self.per_page_cap)
        page = [{k: v for k, v in a.items() if not k.startswith("_")} for a in mine[:per_page]]
        return _json(200, {"total_count": len(mine), "artifacts": page})

    def _github_page(
        self, raw_path: str, query: dict[str, str], items: list[dict[str, Any]]
    ) -> _Answer:
        per_page = min(_int_param(query, "per_page", 30), self.per_page_cap)
        page = _int_param(query, "page", 1)
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(number: int) -> str:
            return f"<{self.url}{raw_path}?{urlencode({**query, 'page': str(number)})}>"

        # GitHub's order: prev, next, last, first; first/prev only past page 1, next/last
        # only before the last page.
        rels: list[str] = []
        if 1 < page <= last:
            rels.append(f'{link(page - 1)}; rel="prev"')
        if page < last:
            rels += [f'{link(page + 1)}; rel="next"', f'{link(last)}; rel="last"']
        if page > 1:
            rels.append(f'{link(1)}; rel="first"')
        return _json(200, chunk, {"link": ", ".join(rels)} if rels else None)

    # GitLab ----------------------------------------------------------------------------------

    def _gitlab(
        self,
        method: str,
        raw_path: str,
        seg: list[str],
        query: dict[str, str],
        headers: Headers,
        body: Json,
    ) -> _Answer:
        not_found = _json(404, {"message": "404 Not found"})
        unauthorized = _json(401, {"message": "401 Unauthorized"})
        if len(seg) < 2 or seg[0] != "projects":
            return _json(404, {"error": "404 Not Found"})
        project, rest = seg[1], seg[2:]
        history = self._gitlab_history(method, raw_path, project, rest, query, headers)
        if history is not None:
            return history
        # jobs/artifacts/{ref}/raw/{artifact_path...}?job=NAME
        if len(rest) >= 5 and rest[:2] == ["jobs", "artifacts"] and rest[3] == "raw":
            if method != "GET":
                return _json(404, {"error": "404 Not Found"})
            tokens = (headers.get("job-token"), headers.get("private-token"))
            if self.token not in tokens:
                return unauthorized
            if "job" not in query:
                return _json(400, {"error": "job is missing"})
            key = (project, rest[2], query["job"], "/".join(rest[4:]))
            with self._lock:
                content = self.artifacts.get(key)
            if content is None:
                return _json(404, {"message": "404 Not Found"})
            return _Answer(200, content, "application/octet-stream")
        # merge_requests/{iid}/notes[/{note_id}]
        if len(rest) not in (3, 4) or rest[0] != "merge_requests" or rest[2] != "notes":
            return _json(404, {"error": "404 Not Found"})
        if not rest[1].isdigit() or (len(rest) == 4 and not rest[3].isdigit()):
            return not_found
        if headers.get("private-token") != self.token:
            return unauthorized
        key = (project, int(rest[1]))
        forbidden = _json(403, {"message": "403 Forbidden"})
        with self._lock:
            if key not in self.gitlab_notes:
                return not_found
            notes = self.gitlab_notes[key]
            if len(rest) == 3 and method == "GET":
                snapshot = [dict(n) for n in notes]
            elif len(rest) == 3 and method == "POST":
                if project in self.read_only_projects:
                    return forbidden
                if (invalid := _gitlab_invalid_body(body)) is not None:
                    return invalid
                note = self._gitlab_note(project, key[1], body["body"], self.bot_name)
                notes.append(note)
                return _json(201, note)
            elif len(rest) == 4 and method == "PUT":
                found = [n for n in notes if n["id"] == int(rest[3])]
                if not found:
                    return not_found
                if project in self.read_only_projects:
                    return forbidden
                return _update(found[0], body, _gitlab_invalid_body(body))
            else:
                return _json(404, {"error": "404 Not Found"})
        # GitLab lists notes newest first unless sort=asc.
        order_by = "updated_at" if query.get("order_by") == "updated_at" else "created_at"
        snapshot.sort(key=lambda n: (n[order_by], n["id"]), reverse=query.get("sort") != "asc")
        return self._gitlab_page(raw_path, query, snapshot)

    def _gitlab_page(
        self, raw_path: str, query: dict[str, str], items: list[dict[str, Any]]
    ) -> _Answer:
        per_page = min(_int_param(query, "per_page", 20), self.per_page_cap)
        page = _int_param(query, "page", 1)
        total_pages = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(number: int) -> str:
            params = {**query, "page": str(number), "per_page": str(per_page)}
            return f"<{self.url}{raw_path}?{urlencode(params)}>"

        # GitLab's order: prev, next, first, last.
        rels: list[str] = []
        if 1 < page <= total_pages:
            rels.append(f'{link(page - 1)}; rel="prev"')
        if page < total_pages:
            rels.append(f'{link(page + 1)}; rel="next"')
        rels += [f'{link(1)}; rel="first"', f'{link(total_pages)}; rel="last"']
        headers = {
            "x-page": str(page),
            "x-per-page": str(per_page),
            "x-next-page": str(page + 1) if page < total_pages else "",
            "x-prev-page": str(page - 1) if 1 < page <= total_pages else "",
            "x-total": str(len(items)),
            "x-total-pages": str(total_pages),
            "link": ", ".join(rels),
        }
        return _json(200, chunk, headers)

    # -- history: merge bases, ancestors, runs and pipelines by commit -------------------------

    def add_github_artifact_at(
        self,
        repo: str,
        name: str,
        sha: str,
        data: bytes,
        *,
        branch: str = "main",
        conclusion: str = "success",
        expired: bool = False,
    ) -> dict[str, Any]:
        """add_github_artifact, made by a run at commit ``sha`` (its ``head_sha``)."""
        artifact = self.add_github_artifact(
            repo, name, branch, data, conclusion=conclusion, expired=expired
        )
        with self._lock:
            artifact["workflow_run"]["head_sha"] = sha
            for run in self.github_runs:
                if run["id"] == artifact["workflow_run"]["id"]:
                    run["head_sha"] = sha
        return artifact

    def add_gitlab_pipeline(
        self,
        project: str,
        sha: str,
        jobs: dict[str, dict[str, bytes]],
        *,
        ref: str = "main",
        status: str = "success",
        job_status: str = "success",
    ) -> dict[str, Any]:
        """A pipeline of ``project`` at commit ``sha`` whose jobs ({name: {artifact path:
        bytes}}) ended with ``job_status``; listed newest first, as GitLab does."""
        with self._lock:
            first = FIRST_ID + sum(1 + len(p["jobs"]) for p in self.gitlab_pipelines)
            pipeline = {
                "id": first,
                "iid": len(self.gitlab_pipelines) + 1,
                "project_id": project,
                "sha": sha,
                "ref": ref,
                "status": status,
                "source": "merge_request_event" if ref.startswith("refs/") else "push",
                "web_url": f"{self.url}/project/-/pipelines/{first}",
                "jobs": [
                    {"id": first + i, "name": name, "status": job_status, "_files": files}
                    for i, (name, files) in enumerate(jobs.items(), 1)
                ],
            }
            self.gitlab_pipelines.insert(0, pipeline)
        return pipeline

    def _git(self, *args: str) -> str | None:
        """git's output in ``git_repo``, or None when git refuses (an unknown commit)."""
        if self.git_repo is None:
            return None
        proc = subprocess.run(
            ["git", "-C", str(self.git_repo), *args], capture_output=True, text=True, check=False
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    def _github_history(
        self, method: str, seg: list[str], query: dict[str, str], headers: Headers
    ) -> _Answer | None:
        """repos/{repo}/compare/{base}...{head}, repos/{repo}/commits?sha=, and
        actions/runs?head_sha= (the runs at one commit); None for any other route."""
        if method != "GET" or len(seg) < 4 or seg[0] != "repos":
            return None
        by_sha = seg[3:] == ["actions", "runs"] and "head_sha" in query
        if not (by_sha or seg[3] in ("compare", "commits")):
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self.token:
            return _json(401, {"message": "Bad credentials", "documentation_url": GITHUB_DOCS})
        not_found = _json(404, {"message": "Not Found", "documentation_url": GITHUB_DOCS})
        if self.github_history_refused and not by_sha:
            message = "Resource not accessible by integration"
            return _json(403, {"message": message, "documentation_url": GITHUB_DOCS})
        repo = f"{seg[1]}/{seg[2]}"
        if by_sha:
            with self._lock:
                runs = [
                    {k: v for k, v in r.items() if not k.startswith("_")}
                    for r in self.github_runs
                    if r["_repo"] == repo and r.get("head_sha") == query["head_sha"]
                    and (query.get("status") != "success" or r["conclusion"] == "success")
                ]  # fmt: skip
            return _json(200, {"total_count": len(runs), "workflow_runs": runs})
        if seg[3] == "compare" and len(seg) == 5 and "..." in seg[4]:
            base, head = seg[4].split("...", 1)
            merge_base = self._git("merge-base", base, head)
            if not merge_base:
                return not_found
            ahead = self._git("rev-list", "--count", f"{merge_base}..{head}") or "0"
            behind = self._git("rev-list", "--count", f"{merge_base}..{base}") or "0"
            return _json(200, {
                "merge_base_commit": {"sha": merge_base},
                "status": "diverged" if int(behind) else "ahead",
                "ahead_by": int(ahead), "behind_by": int(behind), "total_commits": int(ahead),
                "commits": [], "files": [],
            })  # fmt: skip
        if seg[3] == "commits" and len(seg) == 4 and query.get("sha"):
            listed = self._git("rev-list", query["sha"])
            if listed is None:
                return _json(404, {"message": f"No commit found for SHA: {query['sha']}"})
            commits = [{"sha": sha, "commit": {"message": ""}} for sha in listed.split()]
            return self._github_page(f"{GITHUB_PREFIX}/repos/{repo}/commits", query, commits)
        return not_found

    def _gitlab_history(
        self,
        method: str,
        raw_path: str,
        project: str,
        rest: list[str],
        query: dict[str, str],
        headers: Headers,
    ) -> _Answer | None:
        """pipelines?sha=&status=, pipelines/{id}/jobs?scope[]=, jobs/{id}/artifacts/{path},
        repository/commits?ref_name=; None for any other route. As on GitLab, the job token
        may download a job's artifact but not list pipelines, jobs or commits."""
        listing = rest == ["pipelines"] or rest == ["repository", "commits"]
        listing = listing or (len(rest) == 3 and rest[0] == "pipelines" and rest[2] == "jobs")
        download = len(rest) >= 4 and rest[0] == "jobs" and rest[2] == "artifacts"
        if method != "GET" or not (listing or download):
            return None
        if headers.get("private-token") != self.token:
            if headers.get("job-token") != self.token:
                return _json(401, {"message": "401 Unauthorized"})
            if listing:
                return _json(403, {"message": "403 Forbidden"})
        with self._lock:
            pipelines = [dict(p) for p in self.gitlab_pipelines if p["project_id"] == project]
        public = lambda item: {k: v for k, v in item.items() if not k.startswith("_")}  # noqa: E731
        if rest == ["pipelines"]:
            found = [
                {k: v for k, v in p.items() if k != "jobs"}
                for p in pipelines
                if query.get("sha", p["sha"]) == p["sha"]
                and query.get("status", p["status"]) == p["status"]
            ]
            return self._gitlab_page(raw_path, query, found)
        if rest == ["repository", "commits"]:
            listed = self._git("rev-list", query.get("ref_name", "HEAD"))
            if listed is None:
                return _json(404, {"message": "404 Commit Not Found"})
            commits = [{"id": sha, "short_id": sha[:8]} for sha in listed.split()]
            return self._gitlab_page(raw_path, query, commits)
        jobs = [j for p in pipelines for j in p["jobs"]]
        if listing:
            pipeline = [p for p in pipelines if str(p["id"]) == rest[1]]
            if not pipeline:
                return _json(404, {"message": "404 Not found"})
            scope = query.get("scope[]")
            found = [public(j) for j in pipeline[0]["jobs"] if scope in (None, j["status"])]
            return self._gitlab_page(raw_path, query, found)
        job = [j for j in jobs if str(j["id"]) == rest[1]]
        content = job[0]["_files"].get("/".join(rest[3:])) if job else None
        if content is None:
            return _json(404, {"message": "404 Not found"})
        return _Answer(200, content, "application/octet-stream")


def _github_invalid_body(body: Json) -> _Answer | None:
    """GitHub's 422 for a comment without a usable body."""
    if isinstance(body, dict) and isinstance(body.get("body"), str) and body["body"]:
        return None
    code = "missing_field" if not isinstance(body, dict) or not body.get("body") else "invalid"
    return _json(
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": "IssueComment", "code": code, "field": "body"}],
            "documentation_url": f"{GITHUB_DOCS}/issues/comments",
        },
    )


def _gitlab_invalid_body(body: Json) -> _Answer | None:
    """GitLab's 400 for a note without a body."""
    if isinstance(body, dict) and isinstance(body.get("body"), str) and body["body"]:
        return None
    return _json(400, {"error": "body is missing"})


class _Server(ThreadingHTTPServer):
    """Carries the forge to the handlers and tracks open connections for a clean shutdown.

    Handler threads are not daemons, so ``server_close`` joins them; connections are
    registered here, in the serving thread, so none can be missed once ``shutdown`` returns.
    """

    forge: FakeForge
    daemon_threads = False
    block_on_close = True

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.forge._lock:
            self.forge._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.forge._lock:
            self.forge._connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    """Parses one request, records it, lets the forge answer; HTTP/1.1 so keep-alive is real."""

    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30  # backstop: an idle connection never keeps a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the default writes every request to stderr and clutters test output."""

    def _dispatch(self) -> None:
        forge = self.server.forge
        raw_path, _, raw_query = self.path.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            self._send(_json(411, {"message": "Length Required"}))
            return
        try:
            length = int(headers.get("content-length", "0") or "0")
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(_json(400, {"message": "Bad Content-Length"}))
            return
        raw_body = self.rfile.read(length) if length else b""
        body: Json = None
        bad_json = False
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                bad_json = True
        with forge._lock:
            forge.requests.append(Request(self.command, raw_path, query, headers, body))
        if bad_json:
            self._send(_json(400, {"message": "Problems parsing JSON"}))
            return
        self._send(forge._handle(self.command, raw_path, query, headers, body))

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("content-type", answer.content_type)
        self.send_header("content-length", str(len(answer.body)))
        for name, value in (answer.headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = _dispatch
    do_HEAD = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_DELETE = _dispatch
