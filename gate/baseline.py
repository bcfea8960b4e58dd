"""A previous results document (file or URL) for relative checks: growth, regression.

The baseline is untrusted input like the binary: bounded reads (a size cap, also for
URLs, read in chunks), a timeout on every request, and one clear line for each way
it can be wrong (missing, not JSON, another schema, HTTP errors).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gate.errors import GateError

RESULTS_SCHEMA = "gate/results/v1"
MAX_BYTES = 32 * 1024 * 1024
TIMEOUT_S = 15.0


class BaselineError(GateError):
    """The baseline cannot be used."""


def _fetch(url: str) -> bytes:
    import requests  # only when a URL is given: ~100 ms to import

    try:
        with requests.get(url, timeout=TIMEOUT_S, stream=True) as resp:
            if resp.status_code != 200:
                raise BaselineError(f"{url}: HTTP {resp.status_code} {resp.reason or ''}".rstrip())
            chunks = []
            total = 0
            for chunk in resp.iter_content(64 * 1024):
                total += len(chunk)
                if total > MAX_BYTES:
                    raise BaselineError(
                        f"{url}: larger than {MAX_BYTES // 2**20} MiB; not a results file"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except requests.Timeout:
        raise BaselineError(f"{url}: no answer within {TIMEOUT_S:g} s") from None
    except requests.RequestException as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise BaselineError(f"{url}: cannot fetch: {reason}") from None


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
        raise BaselineError(f"{path}: no such baseline file") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read: {exc.strerror or exc}") from None


def load_results(source: str) -> dict[str, Any]:
    """A gate/results/v1 document from a path or an http(s) URL."""
    raw = _fetch(source) if source.startswith(("http://", "https://")) else _read(source)
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{source}: not JSON ({exc})") from None
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema != RESULTS_SCHEMA:
        raise BaselineError(
            f"{source}: not a gate results file (schema {schema!r}, expected {RESULTS_SCHEMA!r})"
        )
    if not isinstance(doc.get("binaries"), list):
        raise BaselineError(f"{source}: results file without a binaries list")
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
