"""A previous results document (file or URL) for relative checks: growth, regression.

The baseline is untrusted input like the binary: bounded reads (a size cap, also for
URLs, read in chunks), a timeout on every request, and one clear line for each way
it can be wrong (missing, not JSON, another schema, HTTP errors).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gate.errors import GateError

RESULTS_SCHEMA = "gate/results/v1"
MAX_BYTES = 32 * 1024 * 1024
TIMEOUT_S = 15.0


class BaselineError(GateError):
    """The baseline cannot be used."""


class BaselineMissing(BaselineError):
    """The baseline does not exist (yet): no file, or HTTP 404. `--baseline-optional` allows it."""


MAX_REDIRECTS = 5


def redact_url(url: str) -> str:
    """The URL as it may be shown or recorded: credentials and token-like query values removed."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = [
        (k, "REDACTED" if any(w in k.lower() for w in ("token", "secret", "key", "auth")) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/:"), ""))


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def auth_headers(url: str, env: Mapping[str, str]) -> dict[str, str]:
    """GitLab's job token for its own API (a target branch's artifact), and for nothing else.

    Only a URL under $CI_API_V4_URL gets it, so a baseline URL pointing elsewhere never sees it.
    """
    api, token = env.get("CI_API_V4_URL", ""), env.get("CI_JOB_TOKEN", "")
    if api and token and url.startswith(api.rstrip("/") + "/"):
        return {"JOB-TOKEN": token}
    return {}


def os_reason(exc: BaseException) -> str:
    """The operating system's reason behind an HTTP client error ('Connection refused').

    Never the exception's own text: requests puts the whole URL, query and all, in it.
    """
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
        todo.extend([e.__cause__, e.__context__, getattr(e, "reason", None), *e.args])
    return type(exc).__name__


def _fetch(url: str) -> bytes:
    import os
    from urllib.parse import urljoin

    import requests  # only when a URL is given: ~100 ms to import

    shown = redact_url(url)
    headers = auth_headers(url, os.environ)
    origin = _origin(url)
    try:
        with requests.Session() as session:
            for _ in range(MAX_REDIRECTS + 1):
                # Redirects are followed here, not by requests: the token goes to its own
                # origin only (GitLab sends artifacts on to object storage).
                same = _origin(url) == origin
                resp = session.get(
                    url,
                    timeout=TIMEOUT_S,
                    stream=True,
                    allow_redirects=False,
                    headers=headers if same else {},
                )
                if resp.is_redirect and resp.headers.get("location"):
                    url = urljoin(url, resp.headers["location"])
                    resp.close()
                    continue
                break
            else:
                raise BaselineError(f"{shown}: more than {MAX_REDIRECTS} redirects")
            with resp:
                if resp.status_code == 404:
                    raise BaselineMissing(f"{shown}: HTTP 404 {resp.reason or ''}".rstrip())
                if resp.status_code != 200:
                    raise BaselineError(
                        f"{shown}: HTTP {resp.status_code} {resp.reason or ''}".rstrip()
                    )
                chunks = []
                total = 0
                for chunk in resp.iter_content(64 * 1024):
                    total += len(chunk)
                    if total > MAX_BYTES:
                        raise BaselineError(
                            f"{shown}: larger than {MAX_BYTES // 2**20} MiB; not a results file"
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
    except requests.Timeout:
        raise BaselineError(f"{shown}: no answer within {TIMEOUT_S:g} s") from None
    except requests.RequestException as exc:
        raise BaselineError(f"{shown}: cannot fetch: {os_reason(exc)}") from None


def _read(path: str) -> bytes:
    p = Path(path)
    try:
        if p.is_dir():
            raise BaselineError(f"{path}: is a directory, not a results file")
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise BaselineError(f"{path}: larger than {MAX_BYTES // 2**20} MiB; not a results file")
        return p.read_bytes()
    except FileNotFoundError:
        raise BaselineMissing(f"{path}: no such baseline file") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _shown(source: str) -> str:
    return redact_url(source) if _is_url(source) else source


def load_document(source: str) -> dict[str, Any]:
    """A JSON object from a path or an http(s) URL, read with the same bounds as a baseline."""
    raw = _fetch(source) if _is_url(source) else _read(source)
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{_shown(source)}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BaselineError(f"{_shown(source)}: not a gate document (a JSON {type(doc).__name__})")
    return doc


def load_results(source: str) -> dict[str, Any]:
    """A gate/results/v1 document from a path or an http(s) URL."""
    doc = load_document(source)
    schema = doc.get("schema")
    if schema != RESULTS_SCHEMA:
        raise BaselineError(
            f"{_shown(source)}: not a gate results file "
            f"(schema {schema!r}, expected {RESULTS_SCHEMA!r})"
        )
    if not isinstance(doc.get("binaries"), list):
        raise BaselineError(f"{_shown(source)}: results file without a binaries list")
    return doc


def entry_for(doc: dict[str, Any] | None, path: str) -> dict[str, Any] | None:
    """The baseline's entry for a binary: same path, else the same file name."""
    if doc is None:
        return None
    entries = [b for b in doc["binaries"] if isinstance(b, dict)]
    for b in entries:
        if b.get("path") == path:
            return b
    name = Path(path).name
    for b in entries:
        if b.get("name") == name or Path(str(b.get("path", ""))).name == name:
            return b
    return None
