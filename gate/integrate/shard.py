"""`--shard I/N`: which of the binaries a glob matched this job of a CI matrix judges.

gate does not schedule work: the CI's own job matrix (GitHub `strategy.matrix`, GitLab
`parallel:matrix`) is the distributed engine, and each of its N jobs runs the same
`gate check 'services/*/bin/*' --shard I/N`. A binary belongs to the shard its path
hashes to (SHA-256, not its position in the list), so adding or removing one binary
moves no other binary to another shard, and every job agrees without talking. I counts
from 1, as GitLab's CI_NODE_INDEX does (`--shard $CI_NODE_INDEX/$CI_NODE_TOTAL`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gate.errors import UsageError

MAX_SHARDS = 1024
_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    index: int  # 1..total
    total: int

    @property
    def text(self) -> str:
        return f"{self.index}/{self.total}"

    def owns(self, path: str) -> bool:
        return shard_of(path, self.total) == self.index


def parse_shard(text: str) -> Shard:
    """`I/N` with 1 <= I <= N <= MAX_SHARDS, or a UsageError that says what is wrong."""
    m = _SHARD_RE.match(text)
    if not m:
        raise UsageError(f"--shard {text}: expected I/N, e.g. 2/4 (the second of 4 jobs)")
    index, total = int(m.group(1)), int(m.group(2))
    if not 1 <= total <= MAX_SHARDS:
        raise UsageError(f"--shard {text}: N must be 1..{MAX_SHARDS}")
    if not 1 <= index <= total:
        raise UsageError(f"--shard {text}: I counts from 1 to N ({total})")
    return Shard(index, total)


def shard_of(path: str, total: int) -> int:
    """The shard (1..total) a binary belongs to: a hash of its path as given."""
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def select(paths: Sequence[str], shard: Shard) -> list[str]:
    """This shard's binaries, in their original order."""
    return [p for p in paths if shard.owns(p)]
