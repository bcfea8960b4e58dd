"""What a program holds at readiness: the shared objects it maps and its open descriptors.

Every shared object mapped at start was found, opened, mapped and relocated by the
dynamic loader (or by `dlopen`, as Go's plugin.Open does), and every descriptor held was
opened by the start; both grow with what a service loads, so a policy can limit them
(`startup.max_mapped_objects`, `startup.max_open_fds`). The files mapped are also what a
cold start must evict beyond the loader's DT_NEEDED list (gate/run/measure.py).

Read from /proc/PID/maps and /proc/PID/fd the moment readiness is seen (untimed: the
clock stopped at the event), while the service still runs: a program that exits to be
ready (`--ready exit`) has nothing left to read, so it records none.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import NamedTuple

_SO_NAME = re.compile(r"\.so(?:\.[0-9.]+)?$")  # libc.so.6, ld-linux-x86-64.so.2, p.so
_MAX_MAPS = 16 << 20  # a program with this much of a map listing is read this far


class Loaded(NamedTuple):
    files: tuple[str, ...]  # regular files mapped, in the order the maps list them first
    objects: tuple[str, ...]  # of those, the shared objects (not the executable itself)
    open_fds: int


def most(runs: Iterable[tuple[bool, int | None]]) -> int | None:
    """A start-up's one number of (ok, count) per run: the most of the successful runs (a
    limit on what a start holds holds for every start); None when none recorded one."""
    known = [count for ok, count in runs if ok and count is not None]
    return max(known) if known else None


def mapped_files(maps: str) -> list[str]:
    """The distinct regular files a /proc/PID/maps text maps, in first-seen order.

    The path is everything after the fifth field (it may hold spaces); pseudo-files
    ([heap], [vdso]), anonymous maps, deleted files and devices are not files to evict
    or count."""
    seen: dict[str, None] = {}
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 6 or not fields[5].startswith("/"):
            continue
        path = fields[5]
        if path.endswith(" (deleted)") or path.startswith(("/dev/", "/memfd:", "/proc/")):
            continue
        seen.setdefault(path, None)
    return list(seen)


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def shared_objects(files: list[str], executable: str | None) -> list[str]:
    """Of the mapped files, the shared objects: a `.so` name, or any ELF file other than
    the program itself (a plugin may be called anything)."""
    exe = os.path.realpath(executable) if executable else None
    return [
        f
        for f in files
        if os.path.realpath(f) != exe and (_SO_NAME.search(f) is not None or _is_elf(f))
    ]


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read(_MAX_MAPS).decode("utf-8", "surrogateescape")


def sample(pid: int) -> Loaded | None:
    """What `pid` holds now; None when it is gone (or not ours to read)."""
    try:
        maps = _read(f"/proc/{pid}/maps")
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        executable = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    files = mapped_files(maps)
    if not files:  # a zombie's maps are empty: it has exited, nothing is held
        return None
    return Loaded(tuple(files), tuple(shared_objects(files, executable)), fds)
