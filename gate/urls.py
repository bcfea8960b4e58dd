"""Whether a URL lies under an API prefix, as a server would read the URL: the token test.

A token goes only to URLs under its API (`$CI_API_V4_URL`, the GitHub API), redirects
included. A plain string prefix test is not enough: `<api>/../../outside` and
`<api>/%2e%2e/%2e%2e/outside` start with the prefix, yet the HTTP client or the server
resolves them to a path outside the API on the same host, and the token would go there.

So both URLs are compared in RFC 3986 normal form (section 6.2.2: case of scheme and host,
unreserved characters percent-decoded, default port dropped; section 5.2.4: dot segments
removed), and the URL must also stay under the prefix when read the way lenient servers
read paths: `%2F` and `%5C` as slashes, `;params` cut from a segment (`..;`). A project
path such as `group%2Fproj` stays inside on both readings; `..%2F..%2Foutside` does not.
URLs no well-formed API link has (userinfo, a raw backslash, spaces, control or non-ASCII
characters, a bad port) are never inside: refusing the token costs an error message,
sending it elsewhere costs the token.
"""

from __future__ import annotations

import re
import string
from urllib.parse import SplitResult, urlsplit

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SLASHES = re.compile(r"%2F|%5C", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PLAIN = frozenset(chr(c) for c in range(0x21, 0x7F)) - {"\\"}


def inside(url: str, prefix: str) -> bool:
    """True if `url` is `prefix` or under it (prefix taken as a folder) on both readings."""
    here, root = _split(url), _split(prefix)
    if here is None or root is None or here[0] != root[0]:
        return False
    folder = root[1] if root[1].endswith("/") else root[1] + "/"
    path = here[1]
    lenient = remove_dot_segments(
        "/".join(seg.partition(";")[0] for seg in _SLASHES.sub("/", path).split("/"))
    )
    return all(p.startswith(folder) for p in (remove_dot_segments(path), lenient))


def _split(url: str) -> tuple[tuple[str, str, int], str] | None:
    """(scheme, host, port) and the path with unreserved characters decoded; None if refused."""
    if not url or not set(url) <= _PLAIN:
        return None
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:  # a port out of range or not a number
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or "@" in parts.netloc or not parts.hostname:
        return None
    return (scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]), _decode(
        parts.path or "/"
    )


def _decode(path: str) -> str:
    """Unreserved characters decoded (`%2e` is `.`); other escapes kept, hex upper-cased."""

    def one(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else "%" + m.group(1).upper()

    return _ESCAPE.sub(one, path)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: `.` and `..` segments resolved; `..` never climbs above root."""
    absolute = path.startswith("/")
    segments = path.split("/")[1:] if absolute else path.split("/")
    out: list[str] = []
    for i, seg in enumerate(segments):
        if seg in (".", ".."):
            if seg == ".." and out:
                out.pop()
            if i == len(segments) - 1:  # "a/.." names the folder: keep its trailing slash
                out.append("")
        else:
            out.append(seg)
    return ("/" if absolute else "") + "/".join(out)
