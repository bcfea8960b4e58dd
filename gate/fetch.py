"""Bounded reads of what gate is handed to read: a file, a pipe or an http(s) URL, and
the JSON in it. Every document gate reads back (a baseline, a results file, an
artifact's, a shard's) comes through here, so one set of bounds holds for all.

Bounds, whatever the source: at most MAX_BYTES (32 MiB) read from a URL or a pipe,
MAX_FILE_BYTES (256 MiB) from a regular file (its size is known before it is read, and
what its values cost is bounded by gate.values.textlimits), counted after any
Content-Encoding is undone (gate decodes gzip and deflate itself, in bounded steps, so
a compression bomb stops at the cap); and a total deadline of GATE_FETCH_TIMEOUT seconds
(default 30) for each fetch, redirects and all, and for reading a pipe, on top of the
15 s allowed for each network read. A file is a regular file or a pipe (a FIFO,
`<(...)`, /dev/stdin from a pipe), read in chunks either way; a device or socket is
refused. GitLab's job token goes only to URLs under $CI_API_V4_URL, checked again for
every redirect.

Failures are gate.errors.SourceError: SourceUnavailable (no network, HTTP 401/403/5xx,
a deadline) and SourceMissing (no file, HTTP 404) for a source that cannot be had, which
a caller may forgive; SourceError itself for one that was had but is wrong (too large,
not a file, not JSON), which no flag forgives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gate.errors import SourceError, SourceMissing, SourceUnavailable
from gate.values import textlimits
from gate.values.textlimits import OutOfRange

MAX_BYTES = 32 * 1024 * 1024  # from a URL or a pipe, after decompression
# A regular file's size is known before it is read and nothing inflates it, so it may be as
# large as the documents gate writes: `gate size --by symbol --json` of a binary of four
# million symbols. What it costs to parse is bounded by gate.values.textlimits, not by bytes.
MAX_FILE_BYTES = 256 * 1024 * 1024
TIMEOUT_S = 15.0
# Depth and values are checked before parsing (gate.values.textlimits), so a hostile file can
# neither drive json's recursion to its limit nor cost more memory than its bytes do.
MAX_DEPTH = textlimits.MAX_DEPTH
MAX_DIGITS = 20  # an integer with more digits is beyond 64 bits: kept as OutOfRange


# Answers that say "not here, not for you, not now", never "what you asked for is broken".
UNAVAILABLE_STATUSES = frozenset({401, 403, 408, 410, 425, 429})


@dataclass(frozen=True)
class Origin:
    """Where a baseline came from, so a reviewer can tell which commit the change was
    measured against (the merge base, an ancestor of it, or a branch tip that may hold
    commits the change does not)."""

    relation: str  # file | url | merge-base | ancestor | branch-tip
    commit: str | None = None
    run_id: int | None = None  # the CI run (GitHub) or pipeline (GitLab) that measured it
    merge_base: str | None = None
    distance: int | None = None  # commits from the merge base back to `commit`
    said: str | None = None  # the log line naming it, for a baseline found through an API


MAX_REDIRECTS = 5
DEADLINE_S = 30.0
DEADLINE_ENV = "GATE_FETCH_TIMEOUT"
CHUNK = 64 * 1024


def deadline_s(env: Mapping[str, str] | None = None) -> float:
    """The total time a fetch or a pipe read may take: $GATE_FETCH_TIMEOUT seconds, or 30."""
    import os

    text = (os.environ if env is None else env).get(DEADLINE_ENV, "").strip()
    if not text:
        return DEADLINE_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value < math.inf):
        raise SourceError(f"{DEADLINE_ENV}={text!r}: expected a number of seconds above 0")
    return value


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
    from gate.urls import inside

    api, token = env.get("CI_API_V4_URL", ""), env.get("CI_JOB_TOKEN", "")
    if api and token and inside(url, api.rstrip("/") + "/"):  # normalized: no `..` out of it
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


def fetch_url(
    url: str,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BYTES,
    scope: str | None = None,
) -> bytes:
    """The body of a GET: bounded in size (decoded bytes) and in total time (deadline_s).

    `headers` default to GitLab's job token for its own API, checked against
    $CI_API_V4_URL for the URL and for every redirect; explicit headers go to the URL's
    origin and, given `scope`, only to URLs under that prefix; never on through a
    redirect elsewhere. Runs in a daemon thread so that nothing (a server dripping one
    byte at a time, slow headers, DNS) outlasts the deadline; the socket is shut down then.
    """
    import threading

    limit = deadline_s()
    shown = redact_url(url)
    box: dict[str, Any] = {}
    cancelled = threading.Event()

    def run() -> None:
        try:
            box["data"] = _fetch_now(url, headers, max_bytes, scope, box, cancelled)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="gate-fetch", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        cancelled.set()
        _shut(box.get("response"))
        raise SourceUnavailable(f"{shown}: not fetched within {limit:g} s ({DEADLINE_ENV})")
    if "error" in box:
        raise box["error"]
    data: bytes = box["data"]
    return data


def _shut(resp: Any) -> None:
    """Wake a read blocked on this response's socket (from another thread)."""
    import contextlib
    import socket

    sock = getattr(getattr(getattr(resp, "raw", None), "_connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _decoder(encoding: str, shown: str) -> Any:
    """A zlib decompressor for the body's Content-Encoding, None for none."""
    import zlib

    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return zlib.decompressobj()
    raise SourceError(f"{shown}: unsupported Content-Encoding {encoding[:40]!r}")


def _fetch_now(
    url: str,
    headers: Mapping[str, str] | None,
    max_bytes: int,
    scope: str | None,
    box: dict[str, Any],
    cancelled: Any,
) -> bytes:
    import zlib
    from urllib.parse import urljoin

    import requests  # only when a URL is given: ~100 ms to import

    from gate.urls import inside

    shown = redact_url(url)
    origin = _origin(url)

    def allowed(hop: str) -> dict[str, str]:
        if headers is None:
            from gate.secrets import environ

            return auth_headers(hop, environ())  # under $CI_API_V4_URL, or nothing
        if _origin(hop) != origin or (scope is not None and not inside(hop, scope)):
            return {}
        return dict(headers)

    too_big = f"{shown}: larger than {max_bytes // 2**20} MiB; not a results file"
    try:
        with requests.Session() as session:
            for _ in range(MAX_REDIRECTS + 1):
                # Redirects are followed here, not by requests: the token goes under its
                # own prefix only (GitLab sends artifacts on to object storage).
                resp = session.get(
                    url,
                    timeout=TIMEOUT_S,
                    stream=True,
                    allow_redirects=False,
                    headers={**allowed(url), "Accept-Encoding": "gzip, deflate"},
                )
                box["response"] = resp
                if cancelled.is_set():
                    raise SourceError(f"{shown}: cancelled")
                if resp.is_redirect and resp.headers.get("location"):
                    url = urljoin(url, resp.headers["location"])
                    resp.close()
                    continue
                break
            else:
                raise SourceError(f"{shown}: more than {MAX_REDIRECTS} redirects")
            with resp:
                status = f"{shown}: HTTP {resp.status_code} {resp.reason or ''}".rstrip()
                if resp.status_code == 404:
                    raise SourceMissing(status)
                if resp.status_code in UNAVAILABLE_STATUSES or resp.status_code >= 500:
                    raise SourceUnavailable(status)
                if resp.status_code != 200:
                    raise SourceError(status)
                # Decoded here in bounded steps, not by urllib3: the cap counts what the
                # body inflates to, and no step inflates more than the room left.
                decoder = _decoder(resp.headers.get("content-encoding", ""), shown)
                chunks: list[bytes] = []
                total = 0
                for raw in resp.raw.stream(CHUNK, decode_content=False):
                    if cancelled.is_set():
                        raise SourceError(f"{shown}: cancelled")
                    pending = raw
                    while pending:
                        if decoder is None:
                            out, pending = pending, b""
                        else:
                            out = decoder.decompress(pending, min(CHUNK, max_bytes + 1 - total))
                            pending = decoder.unconsumed_tail
                        total += len(out)
                        if total > max_bytes:
                            raise SourceError(too_big)
                        chunks.append(out)
                if cancelled.is_set():  # the socket was shut: what came is not the body
                    raise SourceError(f"{shown}: cancelled")
                return b"".join(chunks)
    except requests.Timeout:
        raise SourceUnavailable(f"{shown}: no answer within {TIMEOUT_S:g} s") from None
    except zlib.error as exc:
        raise SourceError(f"{shown}: body not decodable ({exc})") from None
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        # DNS, refused, reset, TLS, a body cut off: the network, not the baseline.
        raise SourceUnavailable(f"{shown}: cannot fetch: {os_reason(exc)}") from None
    except requests.RequestException as exc:  # a URL requests cannot use: the caller's
        raise SourceError(f"{shown}: cannot fetch: {os_reason(exc)}") from None
    except Exception as exc:
        if cancelled.is_set() and not isinstance(exc, SourceError):
            raise SourceError(f"{shown}: cancelled") from None
        if type(exc).__module__.startswith("urllib3"):  # raw.stream's own errors
            raise SourceUnavailable(f"{shown}: cannot fetch: {os_reason(exc)}") from None
        raise


def read_path(path: str) -> bytes:
    """A file's bytes in chunks up to MAX_BYTES: a regular file, or a pipe read within
    the deadline (O_NONBLOCK and poll: a FIFO nobody writes to cannot hold gate)."""
    import io
    import os
    import select
    import stat
    import time

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SourceMissing(f"{path}: no such file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    too_big = f"{path}: larger than {MAX_BYTES // 2**20} MiB; not a results file"
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SourceError(f"{path}: is a directory, not a results file")
        pipe = stat.S_ISFIFO(mode)
        if not (pipe or stat.S_ISREG(mode)):
            raise SourceError(f"{path}: not a regular file or a pipe; not a results file")
        if not pipe:
            size = os.fstat(fd).st_size
            if size > MAX_FILE_BYTES:
                raise SourceError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; not JSON")
            return _read_file(fd, size, path)
        limit = deadline_s()
        end = time.monotonic() + limit
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        buffer = io.BytesIO()  # grows in place: joining a list of chunks would hold two copies
        total = 0
        while True:
            if pipe:
                left = end - time.monotonic()
                if left <= 0 or not poller.poll(max(1, int(left * 1000))):
                    raise SourceError(
                        f"{path}: nothing more to read within {limit:g} s ({DEADLINE_ENV})"
                    )
            try:
                chunk = os.read(fd, CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                return buffer.getvalue()
            total += len(chunk)
            if total > MAX_BYTES:
                raise SourceError(too_big)
            buffer.write(chunk)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _read_file(fd: int, size: int, path: str) -> bytes:
    """A regular file of `size` bytes, in one piece: read whole, it is one copy of its
    bytes (a buffer grown by chunks would be two at its end)."""
    import os

    pieces: list[bytes] = []
    total = 0
    while True:
        piece = os.read(fd, max(size + 1 - total, CHUNK))
        if not piece:
            return b"".join(pieces)  # one piece is returned as it is, not copied
        total += len(piece)
        if total > MAX_FILE_BYTES:  # grew while read
            raise SourceError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB; not JSON")
        pieces.append(piece)


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def shown_source(source: str) -> str:
    """A path as given, a URL with its credentials and tokens redacted: for messages."""
    return redact_url(source) if is_url(source) else source


def _parse_int(text: str) -> int | float:
    # int() refuses over 4,300 digits with a ValueError json does not turn into an error.
    return OutOfRange(text) if len(text.lstrip("-")) > MAX_DIGITS else int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    return OutOfRange(text) if math.isinf(value) else value


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects more than `limit` deep, or holds more
    keys and values than any document gate reads (gate.values.textlimits): either way it is
    refused before json could spend recursion or memory on it."""
    return textlimits.json_excess(text, max_depth=limit) is not None


def parse_json(raw: bytes, shown: str) -> Any:
    """JSON from untrusted bytes: nesting and what its values cost bounded
    (gate.values.textlimits), every number a Python int or float (OutOfRange for ones too
    large), every failure a SourceError naming `shown`."""
    return parse_owned([raw], shown)


def parse_owned(box: list[bytes], shown: str) -> Any:
    """parse_json of the bytes in `box`, taken out of it: once they are decoded nothing
    holds them, so the parse has the text and its values, never the bytes as well."""
    raw = box.pop()
    try:
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise SourceError(f"{shown}: not JSON (not UTF-8 text: {exc.reason})") from None
    del raw
    rows = _size_rows(text)
    if rows is not None:
        return rows
    excess, cost = textlimits.json_verdict(text)
    if excess is not None:
        raise SourceError(f"{shown}: {excess}; not a gate document")
    try:
        return _loads(text, cost)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{shown}: not JSON ({exc})") from None


def _loads(text: str, cost: textlimits.Cost) -> Any:
    if not cost.huge:  # json's own numbers (C, 2-4 times faster) are the same ones
        return json.loads(text)
    return json.loads(text, parse_int=_parse_int, parse_float=_parse_float)


def _size_rows(text: str) -> dict[str, Any] | None:
    """A size document whose entries are one row a line as gate writes them, read with
    those rows as columns (gate.values.sizerows: a third of the memory, four times faster); None
    for any other text, or when anything about it is not what gate writes: json reads it
    then, and says what is wrong. Its cost is bounded as json's would be, counted for what
    is built: the rows' columns, and json's values for the rest."""
    from gate.values import sizerows

    found = sizerows.cut(text)
    if found is None:
        return None
    rest, marker, start, end = found
    spent = sizerows.cost(text, start, end, textlimits.width(text))
    excess, cost = textlimits.json_verdict(rest, spent=spent, length=len(text))
    if excess is not None:
        return None  # json's verdict on the whole text says so, as for any other text
    try:
        doc = _loads(rest, cost)
    except json.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("entries") != marker:
        return None
    doc["entries"] = sizerows.read(text, start, end)
    return doc


def json_object(box: list[bytes], shown: str) -> dict[str, Any]:
    doc = parse_owned(box, shown)
    if not isinstance(doc, dict):
        kind = "list" if isinstance(doc, list) else "string" if isinstance(doc, str) else "value"
        raise SourceError(f"{shown}: not a gate document (a JSON {kind})")
    return doc
