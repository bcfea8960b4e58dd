"""A baseline from a GitLab CI job's artifact: `--baseline gitlab-artifact:JOB[:PATH]`.

Job JOB of an earlier pipeline kept its results.json as the artifact file PATH (a path
ending in .json, default gate-report/results.json); gate finds it through GitLab's REST API
($CI_API_V4_URL, project $CI_PROJECT_ID). Which pipeline's:

- In a merge request pipeline, the merge base ($CI_MERGE_REQUEST_DIFF_BASE_SHA): the commit
  the change grew from; the target branch's newest pipeline may hold commits the change does
  not, and their growth would be charged to it. GET .../pipelines?sha=SHA&status=success,
  then .../pipelines/ID/jobs?scope[]=success for job JOB, then .../jobs/ID/artifacts/PATH.
  If no pipeline there has it (GitLab runs one pipeline per push, not per commit), the
  commits before it (GET .../repository/commits?ref_name=SHA), nearest first, within a
  budget of MAX_REQUESTS requests. Merge request pipelines are never used: a fork's merge
  request runs the fork's code, which could write anything into the artifact.
- The job token may not list pipelines (GitLab allows it only a few endpoints): then the
  target branch's newest artifact (GET .../jobs/artifacts/BRANCH/raw/PATH?job=JOB), with one
  warning that this is the branch tip, not the merge base. A token in $GATE_GITLAB_TOKEN
  with read_api finds the merge base.
- In a branch pipeline, the default branch's newest artifact; on the default branch itself
  there is nothing to compare with, and no request is made.

The token ($GATE_GITLAB_TOKEN as PRIVATE-TOKEN, else $CI_JOB_TOKEN as JOB-TOKEN) is sent
only to URLs under $CI_API_V4_URL, redirects included (gate.integrate.baseline's `_fetch`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from gate.errors import BaselineNotApplicable, SourceError, SourceMissing, SourceUnavailable
from gate.fetch import Origin, fetch_url, too_deep
from gate.values.wording import commits, short

PREFIX = "gitlab-artifact:"
DEFAULT_PATH = "gate-report/results.json"
MAX_LIST_BYTES = 4 * 1024 * 1024  # one page of pipelines, jobs or commits
MAX_RESULTS_BYTES = 32 * 1024 * 1024
PER_PAGE = 100
PIPELINE_LISTS = 20  # commits asked about: the merge base and up to 19 before it
PIPELINES_PER_COMMIT = 3  # successful pipelines looked into at one commit
MAX_REQUESTS = 40  # every API request of one merge-base search together


class _Refused(SourceUnavailable):
    """The token may not list pipelines, jobs or commits (401/403/404): the merge base
    cannot be found with it, though the branch's artifact may still be had."""


def parse(source: str) -> tuple[str, str]:
    """(job name, artifact path) from `gitlab-artifact:JOB[:PATH]`. Job names hold colons
    (`gate: [amd64]`, a parallel:matrix job), so only a last part ending in .json is PATH."""
    spec = source.removeprefix(PREFIX)
    job, sep, path = spec.rpartition(":")
    if not sep or not path.endswith(".json"):
        job, path = spec, DEFAULT_PATH
    if not job:
        raise SourceError(f"{source}: no job name (gitlab-artifact:JOB[:PATH])")
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise SourceError(
            f"{source}: {path!r}: a path inside the job's artifacts, such as {DEFAULT_PATH}"
        )
    return job, path


class _Api:
    """GitLab's REST API for one project, with one token, counting its requests."""

    def __init__(self, api: str, project: str, headers: Mapping[str, str], shown: str) -> None:
        self.api = api
        self.base = f"{api}/projects/{quote(project, safe='')}"
        self.headers = dict(headers)
        self.shown = shown
        self.requests = 0

    def fetch(self, path: str, query: Mapping[str, str | int], cap: int) -> bytes:
        self.requests += 1
        url = f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")
        return fetch_url(url, self.headers, cap, self.api + "/")

    def list(self, path: str, query: Mapping[str, str | int]) -> list[dict[str, Any]]:
        """One page of a listing; a refusal is _Refused, so the caller can fall back."""
        try:
            raw = self.fetch(path, query, MAX_LIST_BYTES)
        except SourceError as exc:
            text = str(exc)
            if any(f"HTTP {code}" in text for code in (401, 403, 404)):
                raise _Refused(text) from None
            raise
        text = raw.decode("utf-8", "replace")
        try:
            if too_deep(text):
                raise ValueError("nested too deep")
            listed = json.loads(text)
        except ValueError:
            raise SourceError(f"{self.shown}: the API's answer to {path} is not JSON") from None
        if not isinstance(listed, list):
            raise SourceError(f"{self.shown}: the API's answer to {path} is not a list")
        return [item for item in listed if isinstance(item, dict)]


def _at(api: _Api, job: str, path: str, sha: str) -> tuple[bytes, int] | None:
    """(PATH's bytes, the pipeline's id) of job JOB in a successful branch pipeline at
    `sha`, or None when no such pipeline kept it (never ran there, or the artifact expired)."""
    pipelines = api.list("/pipelines", {"sha": sha, "status": "success", "per_page": 20})
    own = [
        p
        for p in pipelines
        if isinstance(p.get("id"), int)
        and not str(p.get("ref", "")).startswith("refs/merge-requests/")
    ]
    for pipeline in own[:PIPELINES_PER_COMMIT]:
        if api.requests >= MAX_REQUESTS:
            return None
        jobs = api.list(
            f"/pipelines/{pipeline['id']}/jobs", {"scope[]": "success", "per_page": PER_PAGE}
        )
        ids = [j["id"] for j in jobs if j.get("name") == job and isinstance(j.get("id"), int)]
        if not ids:
            continue
        try:  # the newest run of the job: a retried one replaces the first
            data = api.fetch(f"/jobs/{max(ids)}/artifacts/{quote(path)}", {}, MAX_RESULTS_BYTES)
        except SourceMissing:
            continue
        return data, int(pipeline["id"])
    return None


def _merge_base(api: _Api, job: str, path: str, merge_base: str, mr: str) -> tuple[bytes, Origin]:
    """JOB's PATH at the merge base, else at the nearest commit before it that has one."""
    found = _at(api, job, path, merge_base)
    if found is not None:
        of = f" of !{mr}" if mr else ""
        return found[0], _origin(job, path, found[1], merge_base, "merge-base", merge_base, 0,
                                 f"the merge base{of}")  # fmt: skip
    listed = api.list("/repository/commits", {"ref_name": merge_base, "per_page": PIPELINE_LISTS})
    shas = [str(c["id"]) for c in listed if isinstance(c.get("id"), str)]
    if shas and shas[0] == merge_base:
        shas = shas[1:]
    looked = 1
    for distance, sha in enumerate(shas, 1):
        if looked >= PIPELINE_LISTS or api.requests >= MAX_REQUESTS:
            break
        looked += 1
        found = _at(api, job, path, sha)
        if found is not None:
            said = (
                f"the nearest ancestor of the merge base {short(merge_base)} with an "
                f"artifact, {commits(distance)} back"
            )
            return found[0], _origin(
                job, path, found[1], sha, "ancestor", merge_base, distance, said
            )
    raise SourceMissing(
        f"{api.shown}: no successful pipeline kept job {job}'s {path} at the merge base "
        f"{short(merge_base)} or the {commits(looked - 1)} before it"
    )


def _origin(
    job: str,
    path: str,
    pipeline: int,
    commit: str,
    relation: str,
    merge_base: str,
    distance: int,
    which: str,
) -> Origin:
    said = f"job {job}'s {path} of pipeline {pipeline} at commit {short(commit)} ({which})"
    return Origin(relation, commit, pipeline, merge_base, distance, said)


def _branch_tip(api: _Api, job: str, path: str, ref: str, why: str) -> tuple[bytes, Origin]:
    """JOB's PATH in the newest successful pipeline on `ref` (GitLab's jobs/artifacts
    endpoint, which the job token may use)."""
    where = f"/jobs/artifacts/{quote(ref, safe='')}/raw/{quote(path)}"
    try:
        data = api.fetch(where, {"job": job}, MAX_RESULTS_BYTES)
    except SourceMissing:
        raise SourceMissing(
            f"{api.shown}: no artifact {path} of job {job} on {ref} yet (HTTP 404)"
        ) from None
    said = f"job {job}'s {path}, the latest successful one on {ref}{why}"
    return data, Origin("branch-tip", said=said)


def _token(env: Mapping[str, str], source: str) -> dict[str, str]:
    if env.get("GATE_GITLAB_TOKEN"):
        return {"PRIVATE-TOKEN": env["GATE_GITLAB_TOKEN"]}
    if env.get("CI_JOB_TOKEN"):
        return {"JOB-TOKEN": env["CI_JOB_TOKEN"]}
    raise SourceUnavailable(
        f"{source}: no token: not in a GitLab CI job ($CI_JOB_TOKEN is not set) and "
        "$GATE_GITLAB_TOKEN is not set"
    )


def fetch(
    source: str,
    env: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> tuple[bytes, Origin]:
    """The bytes of JOB's PATH that is the baseline, and where they came from."""
    if env is None:
        from gate.secrets import environ

        env = environ()
    job, path = parse(source)
    api_url = env.get("CI_API_V4_URL", "").rstrip("/")
    project = env.get("CI_PROJECT_ID", "")
    if not api_url or not project:
        raise SourceUnavailable(
            f"{source}: not in a GitLab CI job ($CI_API_V4_URL or $CI_PROJECT_ID is not set)"
        )
    api = _Api(api_url, project, _token(env, source), f"{source} (project {project})")
    merge_base = env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA", "")
    if merge_base:
        target = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "")
        try:
            return _merge_base(api, job, path, merge_base, env.get("CI_MERGE_REQUEST_IID", ""))
        except _Refused as exc:
            if not target:
                raise
            warn(
                f"{api.shown}: the token may not list pipelines ({_status(str(exc))}): "
                f"comparing with the latest {job} artifact on {target}, not the merge base "
                f"{short(merge_base)}; set GATE_GITLAB_TOKEN to a token with read_api to "
                "compare with the merge base"
            )
            return _branch_tip(api, job, path, target, ", not the merge base")
    target = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "")
    if target:  # a merge request pipeline that names no merge base (an older GitLab)
        return _branch_tip(api, job, path, target, ", not the merge base (GitLab named none)")
    default = env.get("CI_DEFAULT_BRANCH", "")
    branch = env.get("CI_COMMIT_BRANCH", "")
    if branch and branch == default:
        raise BaselineNotApplicable(
            f"{source}: a pipeline on the default branch {default}: nothing to compare with"
        )
    if not default:
        raise SourceUnavailable(
            f"{source}: which branch? Not a merge request and $CI_DEFAULT_BRANCH is not set"
        )
    return _branch_tip(api, job, path, default, "")


def _status(text: str) -> str:
    """'HTTP 403 Forbidden' out of an error line, for a warning that names the refusal."""
    at = text.rfind("HTTP ")
    return text[at:] if at >= 0 else text
