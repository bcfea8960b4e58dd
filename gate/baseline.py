"""Reading a previous document (file or URL) for relative checks: growth, regression.

The baseline is untrusted input like the binary: bounded reads (a size cap, also for
URLs, read in chunks), a timeout on every request, bounded nesting, and one clear line
for each way it can be wrong (missing, not JSON, HTTP errors). What a results document
must hold is checked by gate.results, which loads it through `load_document`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gate.errors import GateError

MAX_BYTES = 32 * 1024 * 1024
TIMEOUT_S = 15.0
# Arrays and objects inside each other: a results document needs 8, a size document 3.
# Checked before parsing, so a hostile file cannot drive json's recursion to its limit.
MAX_DEPTH = 20
MAX_DIGITS = 20  # an integer with more digits is beyond 64 bits: kept as OutOfRange


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


def _fetch(url: str, headers: Mapping[str, str] | None = None, max_bytes: int = MAX_BYTES) -> bytes:
    """The body of a GET: bounded in size and time; `headers` (default: GitLab's job token
    for its own API) go to the URL's origin only, never on through a redirect elsewhere."""
    import os
    from urllib.parse import urljoin

    import requests  # only when a URL is given: ~100 ms to import

    shown = redact_url(url)
    headers = dict(auth_headers(url, os.environ) if headers is None else headers)
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
                    if total > max_bytes:
                        raise BaselineError(
                            f"{shown}: larger than {max_bytes // 2**20} MiB; not a results file"
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
        raise BaselineMissing(f"{path}: no such file") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def shown_source(source: str) -> str:
    """A path as given, a URL with its credentials and tokens redacted: for messages."""
    return redact_url(source) if _is_url(source) else source


class OutOfRange(float):
    """A JSON number too large to compute with (more than MAX_DIGITS digits, or beyond a
    float's range), read as an infinity that keeps its text for the error message."""

    text: str

    def __new__(cls, text: str) -> OutOfRange:
        number = super().__new__(cls, -math.inf if text.startswith("-") else math.inf)
        number.text = text
        return number


def _parse_int(text: str) -> int | float:
    # int() refuses over 4,300 digits with a ValueError json does not turn into an error.
    return OutOfRange(text) if len(text.lstrip("-")) > MAX_DIGITS else int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    return OutOfRange(text) if math.isinf(value) else value


_ESCAPE = re.compile(r"\\.", re.S)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_OPEN_CLOSE = str.maketrans("[{]}", "(())")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects more than `limit` deep.

    Linear and in C: escapes and strings are dropped, then only brackets are left, and
    each pass removes the innermost pairs: a well-formed text of depth d is gone after d
    passes. Brackets left unpaired mean the text is not JSON; it is refused here only
    when json's parser could nest deeper than `limit` on its way to saying so.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text)))
    brackets = brackets.translate(_OPEN_CLOSE)
    for _ in range(limit):
        inner = brackets.replace("()", "")
        if inner == brackets:
            return brackets.count("(") > limit
        brackets = inner
    return bool(brackets)


def parse_json(raw: bytes, shown: str) -> Any:
    """JSON from untrusted bytes: nesting bounded, every number a Python int or float
    (OutOfRange for ones too large), every failure a BaselineError naming `shown`."""
    try:
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise BaselineError(f"{shown}: not JSON (not UTF-8 text: {exc.reason})") from None
    if too_deep(text):
        raise BaselineError(
            f"{shown}: arrays or objects nested deeper than {MAX_DEPTH} levels; not a gate document"
        )
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{shown}: not JSON ({exc})") from None


def load_document(source: str) -> dict[str, Any]:
    """A JSON object from a path or an http(s) URL, read with the same bounds as a baseline.

    Numbers may still be NaN, infinite or OutOfRange: a reader checks them against the
    format it expects (gate.results does for results documents).
    """
    if source.startswith("github-artifact:"):
        from gate.ghartifact import fetch_results  # a GitHub Actions artifact, by name

        raw = fetch_results(source)
    else:
        raw = _fetch(source) if _is_url(source) else _read(source)
    doc = parse_json(raw, shown_source(source))
    if not isinstance(doc, dict):
        kind = "list" if isinstance(doc, list) else "string" if isinstance(doc, str) else "value"
        raise BaselineError(f"{shown_source(source)}: not a gate document (a JSON {kind})")
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
