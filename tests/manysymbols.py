"""A static ELF with a million symbols, built once from generated assembler and cached.

Shared by tests/test_symbol_cost.py and benchmarks/bench_symbols.py, so the file both
measure is the same one. Issue 23 measured gate on such a file (36 MB, 1M symbols): it
paid for every symbol even in views that show none. Assembler labels (`as`, then `ld`)
build it in seconds, where a million C functions would take gcc minutes.

The shape is known by construction, so the tests can assert exact values:
- every 10th symbol is a global object in .data, the others global functions in .text;
- sizes cycle through 1..16 bytes, except the TOP symbols (every STEP-th), sized
  BIG + i // STEP, so the largest symbols (and their order) are unambiguous.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from gotool import cache_root

COUNT = 1_000_000
STEP = 50_000  # every STEP-th symbol is one of the large ones
BIG = 4_000
TOP = COUNT // STEP
GENERATOR = 1  # bump when the generated assembler changes


def name(i: int) -> str:
    return f"sym_{i:07d}"


def size(i: int) -> int:
    """Bytes of symbol i."""
    if i % STEP == 0:
        return BIG + i // STEP
    return 1 + (i * 7) % 16


def is_object(i: int) -> bool:
    return i % 10 == 5


def expected_top(n: int) -> list[tuple[str, int]]:
    """The n largest symbols, largest first (what `nm -S --size-sort` ends with)."""
    big = [(name(i), size(i)) for i in range(0, COUNT, STEP)]
    return sorted(big, key=lambda e: -e[1])[:n]


def _assembler(count: int) -> str:
    text, data = [".text"], [".data"]
    for i in range(count):
        n, s = name(i), size(i)
        out, kind = (data, "object") if is_object(i) else (text, "function")
        out.append(f".globl {n}\n.type {n},@{kind}\n{n}:\n.skip {s},0x90\n.size {n},{s}")
    return "\n".join(text + data) + "\n"


def key(count: int = COUNT) -> str:
    tools = subprocess.run(["as", "--version"], capture_output=True, text=True).stdout
    seed = f"{GENERATOR}:{count}:{STEP}:{BIG}:{tools.splitlines()[0] if tools else ''}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def build(count: int = COUNT) -> Path:
    """The binary (built on first use, about 15 s on 2 cores; then from the cache)."""
    for tool in ("as", "ld"):
        if shutil.which(tool) is None:
            raise FileNotFoundError(f"{tool} (binutils) is needed to build the symbol fixture")
    where = cache_root() / "manysymbols" / key(count)
    binary = where / "many"
    if binary.is_file():
        return binary
    where.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        src, obj, out = Path(tmp, "many.s"), Path(tmp, "many.o"), Path(tmp, "many")
        src.write_text(_assembler(count))
        subprocess.run(["as", "-o", obj, src], check=True)
        subprocess.run(["ld", "-o", out, "-e", name(0), obj], check=True)
        os.replace(out, binary)  # atomic: a concurrent builder sees all or nothing
    return binary


if __name__ == "__main__":
    print(build())
