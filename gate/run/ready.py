"""Readiness: the event that ends a timed start.

`exit` (the default) ends at process exit. A service is ready when it says so or
answers: `notify` (sd_notify `READY=1` on `$NOTIFY_SOCKET`, exact and free of
polling), `line:REGEX` (a line on stdout or stderr), `tcp:PORT` (the port accepts
a connection), `http://...` (the first 2xx answer).

Probes that must poll (tcp, http) try every 0.1 ms at first: 1 ms polling adds ~0.5 ms at
p50 and a busy loop steals the CPU from the server on a 2-core runner. Later the interval
grows with the time already waited (0.5% of it, at most 20 ms): a try costs 70-200 us of
CPU in Python, and a fixed 0.1 ms made a 10 s wait cost 2.2 s of a core, taken from the
very program being timed (now about 1,500 tries, a tenth of a second). What a start loses
is half an interval on average: at most 0.25% of its time, well inside run-to-run noise
and the same on both sides of an A/B ratio, and nothing in its first 20 ms. The
HTTP check is a raw HTTP/1.1 GET on a plain socket, not `requests`: requests costs
~1 ms per GET in Python, twice the 0.5 ms bias budget against `notify`.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from gate.values.readiness import ReadySpec

POLL_INTERVAL_S = 0.0001  # the first tries
POLL_SHARE = 0.005  # later: this share of the time waited so far
POLL_MAX_S = 0.02


def poll_interval_s(waited_s: float) -> float:
    """How long to wait before the next try, `waited_s` into a start."""
    return min(POLL_MAX_S, max(POLL_INTERVAL_S, waited_s * POLL_SHARE))


_MAX_LINE = 64 * 1024  # a longer "line" is scanned in pieces of this size
_STATUS_RE = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")


# "HOST:PORT" where HOST is a bracketed IPv6 address, a dotted IPv4 one, a name with a
# letter, or nothing (Go's ":8080"); or "port 8080", "port=8080", "PORT: 8080". The
# number may not run on into ":NN" or ".NN": "22:41:03.099" is a time, not port 41.
_PORT_RE = re.compile(
    r"""(?:
        (?P<host>\[[0-9A-Fa-f:.]*\]
          | \b\d{1,3}(?:\.\d{1,3}){3}
          | \b(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*
          | (?<![\w:.\]-])
        ):(?P<port>\d{2,5})
      | \bport\s*[:=]?\s*(?P<named>\d{2,5})
    )(?![\w:]|\.\d)""",
    re.IGNORECASE | re.VERBOSE,
)
# "main.go:42" is a file and line (a logger's caller field), not a host and port.
_SOURCE_FILE = re.compile(r"\.(?:go|c|cc|cpp|cxx|h|hpp|rs|py|java|kt|js|ts|rb|zig|swift)$", re.I)


def ports_named(text: str) -> list[str]:
    """The ports a program's output names ("listening on 127.0.0.1:8080", ":8080",
    "port 8080"), sorted; times, file:line and other numbers after a colon are not."""
    found = set()
    for m in _PORT_RE.finditer(text):
        host, port = m.group("host"), m.group("port") or m.group("named")
        if host and _SOURCE_FILE.search(host):
            continue
        if not port.startswith("0") and int(port) < 65536:
            found.add(port)
    return sorted(found, key=int)


class Probe:
    """One run's readiness check; the runner's poll loop drives it."""

    def env(self) -> dict[str, str]:
        return {}

    def fds(self) -> list[int]:
        """File descriptors whose readability this probe handles."""
        return []

    def on_readable(self, fd: int) -> bool:
        return False

    def on_output(self, data: bytes) -> bool:
        return False

    def attempt(self) -> bool:
        """One polling attempt (tcp/http); True when ready."""
        return False

    def close(self) -> None:
        pass


class NotifyProbe(Probe):
    """An abstract-namespace datagram socket: no file to clean up, no polling."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        name = f"gate-notify-{os.getpid()}-{time.monotonic_ns()}"
        self.sock.bind("\0" + name)
        self.sock.setblocking(False)
        self.address = "@" + name

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.address}

    def fds(self) -> list[int]:
        return [self.sock.fileno()]

    def on_readable(self, fd: int) -> bool:
        ready = False
        while True:
            try:
                msg = self.sock.recv(4096)
            except BlockingIOError:
                return ready
            if b"READY=1" in msg.split(b"\n"):
                ready = True

    def close(self) -> None:
        self.sock.close()


class LineProbe(Probe):
    def __init__(self, pattern: str) -> None:
        self.regex = re.compile(pattern)
        self.partial = b""

    def on_output(self, data: bytes) -> bool:
        buf = self.partial + data
        *lines, self.partial = buf.split(b"\n")
        if len(self.partial) > _MAX_LINE:
            lines.append(self.partial)
            self.partial = b""
        return any(self.regex.search(line.decode("utf-8", "replace")) for line in lines)


class TcpProbe(Probe):
    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)

    def attempt(self) -> bool:
        sock = _connect(self.address)
        if sock is None:
            return False
        sock.close()
        return True


@functools.lru_cache(maxsize=16)
def _resolved(host: str, port: int) -> tuple[tuple[int, int, int, tuple[Any, ...]], ...]:
    """The addresses to try, looked up once per probe target: a lookup per try was most
    of a try's CPU (socket.create_connection resolves and IDNA-encodes every time)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return tuple((fam, kind, proto, addr) for fam, kind, proto, _, addr in found)


def _connect(address: tuple[str, int]) -> socket.socket | None:
    """A connected socket, or None while nothing listens (refused on loopback at once)."""
    try:
        targets = _resolved(*address)
    except OSError:  # not resolvable (yet): not ready
        return None
    for family, kind, proto, addr in targets:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(0.05)
        try:
            sock.connect(addr)
        except OSError:
            sock.close()
            continue
        return sock
    return None


class HttpProbe(Probe):
    """Connect, send one GET, read the status line; 2xx means ready."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.tls else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host_header = f"[{self.host}]" if ":" in self.host else self.host
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host_header}:{self.port}\r\n"
            "User-Agent: gate\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        ).encode()
        self.sock: socket.socket | None = None
        self.response = b""
        self.last_status: int | None = None

    def fds(self) -> list[int]:
        return [self.sock.fileno()] if self.sock is not None else []

    def attempt(self) -> bool:
        if self.sock is not None:
            return False  # a request is in flight; its answer arrives through on_readable
        sock = _connect((self.host, self.port))
        if sock is None:
            return False
        try:
            if self.tls:
                sock = _wrap_tls(sock, self.host)
            sock.sendall(self.request)
            sock.setblocking(False)
        except OSError:
            sock.close()
            return False
        self.sock, self.response = sock, b""
        return False

    def on_readable(self, fd: int) -> bool:
        assert self.sock is not None
        try:
            chunk = self.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            chunk = b""
        self.response += chunk
        m = _STATUS_RE.match(self.response)
        if m or not chunk or len(self.response) > 4096:
            self.last_status = int(m.group(1)) if m else None
            self._drop()
            return self.last_status is not None and 200 <= self.last_status < 300
        return False

    def _drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def close(self) -> None:
        self._drop()


def _wrap_tls(sock: socket.socket, host: str) -> socket.socket:
    """Health endpoints on localhost often use self-signed certificates: do not verify."""
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx.wrap_socket(sock, server_hostname=host)


def make_probe(spec: ReadySpec) -> Probe:
    """A fresh probe for one run; templates must already be filled in."""
    if spec.kind == "notify":
        return NotifyProbe()
    if spec.kind == "line":
        return LineProbe(spec.target)
    if spec.kind == "tcp":
        host, _, port = spec.target.rpartition(":")
        return TcpProbe(host, int(port))
    if spec.kind == "http":
        return HttpProbe(spec.target)
    return Probe()
