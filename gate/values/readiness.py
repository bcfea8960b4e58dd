"""What `--ready` (and a policy's `startup.ready`) asks for, as a value: parsed and
checked where options and policies are read, carried out by gate/run/ready.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from gate.errors import UsageError


@dataclass(frozen=True)
class ReadySpec:
    """What --ready asked for; templates may hold {port}, filled per run."""

    kind: str  # exit | notify | line | tcp | http
    target: str = ""  # URL, "host:port" or regex

    @property
    def text(self) -> str:
        if self.kind in ("exit", "notify"):
            return self.kind
        if self.kind == "http":
            return self.target
        return f"{self.kind}:{self.target}"

    @property
    def polls(self) -> bool:
        return self.kind in ("tcp", "http")


READY_EXIT = ReadySpec("exit")


def parse_ready(text: str) -> ReadySpec:
    """ReadySpec from the --ready value, with a one-line error for anything else."""
    value = text.strip()
    if value in ("exit", "notify"):
        return ReadySpec(value)
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value.replace("{port}", "1"))
        if not parts.hostname:
            raise UsageError(f"--ready {text!r}: the URL has no host")
        try:
            _ = parts.port
        except ValueError:
            raise UsageError(f"--ready {text!r}: bad port in the URL") from None
        return ReadySpec("http", value)
    if value.startswith("tcp:"):
        target = value[4:]
        host, _, port = target.rpartition(":")
        if port != "{port}" and not (port.isdigit() and 0 < int(port) < 65536):
            raise UsageError(f"--ready {text!r}: expected tcp:PORT or tcp:HOST:PORT")
        return ReadySpec("tcp", f"{host or '127.0.0.1'}:{port}")
    if value.startswith("line:"):
        pattern = value[5:]
        if not pattern:
            raise UsageError("--ready line: needs a regular expression, e.g. line:listening")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--ready {text!r}: bad regular expression: {exc}") from None
        return ReadySpec("line", pattern)
    raise UsageError(
        f"--ready {text!r}: expected exit, notify, line:REGEX, tcp:PORT or "
        "http://127.0.0.1:{port}/healthz"
    )
