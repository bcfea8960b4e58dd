"""Cold starts: take the binary, its libraries and what it maps at start out of the page
cache, and prove it.

The loader's list (DT_NEEDED, what `ld.so --list` resolves) misses what a program loads
itself: a Go plugin or any `dlopen`ed object, a data file it maps. Left cached, that part
of every "cold" start is warm. So each start's files mapped at readiness (loaded.py) join
the files evicted before the next one (`also_evict`: the warm-up start finds them), and a
policy may name more (`[startup] evict`, paths or globs, resolved by measure.py).

`posix_fadvise(POSIX_FADV_DONTNEED)` drops a file's clean pages unless some process
maps them (libc is mapped by gate itself, so it partly stays). `drop_caches`
drops everything but needs root and a writable /proc/sys, which containers rarely
give. Either way we count resident pages with `mincore` on a fresh mapping before
and after, so a report says what "cold" really meant.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gate.run.runner import RunConfig, RunSample

_PAGE = mmap.PAGESIZE
_LOW_BIT = bytes(i & 1 for i in range(256))  # mincore: bit 0 of each byte = resident
_LIST_RE = re.compile(r"=>\s+(/\S+)\s+\(0x|^\s+(/\S+)\s+\(0x")


@dataclass(frozen=True)
class Residency:
    path: str
    pages: int
    resident: int


@dataclass(frozen=True)
class Eviction:
    method: str  # fadvise | drop_caches | none
    before: tuple[Residency, ...]
    after: tuple[Residency, ...]
    note: str | None = None  # why drop_caches was not used when asked
    beyond: tuple[str, ...] = ()  # evicted beyond the loader's list: mapped at start, policy


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    )
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p)
    return libc


_LIBC: ctypes.CDLL | None = None


def residency(path: str) -> Residency:
    """Resident pages of `path` in the page cache (mincore on a read-only mapping)."""
    global _LIBC
    if _LIBC is None:
        _LIBC = _libc()
    libc = _LIBC
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        pages = (size + _PAGE - 1) // _PAGE
        if size == 0:
            return Residency(path, 0, 0)
        addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), f"mmap {path}")
        try:
            vec = ctypes.create_string_buffer(pages)
            if libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore {path}")
            resident = vec.raw.translate(_LOW_BIT).count(1)
        finally:
            libc.munmap(addr, size)
    finally:
        os.close(fd)
    return Residency(path, pages, resident)


def evict_file(path: str) -> None:
    """Drop the file's pages; dirty ones (a binary fresh from the build) are written first,
    or DONTNEED would silently keep them."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def drop_caches() -> str | None:
    """Drop the whole page cache; returns why not when it is not permitted."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError as exc:
        return f"drop_caches not permitted ({exc.strerror}); used posix_fadvise"
    return None


def loader_files(binary: str, interpreter: str | None, listing: str) -> list[str]:
    """The binary and every library the dynamic loader resolves for it.

    `listing` is what the binary's own interpreter printed for `INTERP --list BINARY`
    (what ldd does: it maps the objects and prints where it found them without running
    the program's code). measure.py runs it as it runs the program: contained, with the
    CI's credentials withheld, under a timeout.
    """
    files = [binary]
    if interpreter is None:
        return files
    out = listing
    found = [m.group(1) or m.group(2) for m in map(_LIST_RE.search, out.splitlines()) if m]
    seen = {os.path.realpath(binary)}
    for path in [*found, interpreter]:
        real = os.path.realpath(path)
        if real not in seen and os.path.isfile(real):
            seen.add(real)
            files.append(real)
    return files


def evict(files: list[str], use_drop_caches: bool, beyond: tuple[str, ...] = ()) -> Eviction:
    """Make the next start cold; report residency before and after (of `files` and then
    `beyond`, the files evicted beyond the loader's list)."""
    beyond = tuple(f for f in beyond if os.path.isfile(f))  # a data file may come and go
    files = [*files, *beyond]
    before = tuple(residency(f) for f in files)
    note = None
    method = "fadvise"
    if use_drop_caches:
        note = drop_caches()
        if note is None:
            method = "drop_caches"
    if method == "fadvise":
        for f in files:
            evict_file(f)
    after = tuple(residency(f) for f in files)
    return Eviction(method, before, after, note, beyond)


def evictable(paths: list[str], known: tuple[str, ...]) -> tuple[str, ...]:
    """The regular files gate can read among `paths`, less those in `known` (by real path),
    each once: what to evict besides."""
    seen = {os.path.realpath(p) for p in known}
    out: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if real not in seen and os.path.isfile(real) and os.access(real, os.R_OK):
            seen.add(real)
            out.append(real)
    return tuple(out)


def also_evict(cfg: RunConfig, sample: RunSample) -> RunConfig:
    """`cfg`, evicting from now on what a start mapped at readiness that it does not yet."""
    if not cfg.cold or not sample.mapped_files:
        return cfg
    more = evictable(list(sample.mapped_files), (*cfg.evict_files, *cfg.evict_mapped))
    return replace(cfg, evict_mapped=(*cfg.evict_mapped, *more)) if more else cfg
