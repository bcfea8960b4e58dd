"""Writing report files atomically, alone or as an all-or-nothing batch.

A CI system that reads a half-written JUnit file, or a JSON report from this run next
to a JUnit report from the previous one, reports something that never happened. So
every report goes to a temporary file in the target's directory (same file system,
so the rename is atomic), is flushed to disk, and only then renamed over the target.

Only regular files (and new paths) are replaced that way. A target that exists and is
something else (a character device such as /dev/null or /dev/full, a FIFO, a symlink to
one, /dev/stdout) is opened and written to as it is: never truncated, renamed over or
replaced, and a failed write (ENOSPC on /dev/full) is an error. `-` is standard output;
/dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N are gate's own descriptors,
written as they are even when a shell's `>` made them a regular file.
Such targets are written after every temporary file is ready and before any rename, so
a failure there still leaves the regular files as they were; what a device or a pipe
has already received cannot be taken back. A FIFO gets until the fetch deadline
($GATE_FETCH_TIMEOUT) to have a reader and to take the report: a report path nobody
reads cannot hold gate forever.

A symlink is written through: its target (resolved to the end) is replaced atomically
and the link stays a link, since a CI layout that points `latest.xml` somewhere meant
the place it points to. A dangling link's target is created, like any new path.

A report is text, or text in pieces (escape.json_chunks: a results document of tens of
MB), each encoded and written as it comes, so the whole is never held as text and bytes.

The files GitHub Actions names ($GITHUB_STEP_SUMMARY, $GITHUB_OUTPUT) are appended to
here too (`write_step_files`), so every file gate writes is written by this module.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gate.errors import GateError

if TYPE_CHECKING:
    from gate.results.types import Document

_PREFIX = ".gate-"

Content = str | Iterable[str]  # a report's text, whole or in pieces (read once)


class _Failure(Exception):
    """A report that cannot be written: which one, and why, in words."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _reason(exc: OSError) -> str:
    """ "permission denied", "is a directory": the errno text without Python's decoration."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def _umask() -> int:
    # There is no way to read the umask without setting it; gate is single-threaded here.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _make_parent(target: str | Path, parent: Path, created: list[Path]) -> None:
    """Create the missing directories above a report (CI users pass `reports/junit.xml`).

    A path component that exists as a file is named, rather than reported as errno text.
    """
    missing: list[Path] = []
    probe = parent
    while not probe.is_dir():
        if probe.exists() or probe.is_symlink():
            raise _Failure(target, f"{probe} is not a directory")
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise _Failure(target, f"{directory} is not a directory") from None
            continue
        except OSError as exc:
            raise _Failure(target, f"cannot create directory {directory}: {_reason(exc)}") from exc
        created.append(directory)


def _encoded(content: Content) -> Iterator[bytes]:
    """UTF-8, piece by piece; what cannot be encoded (a lone surrogate) as `?`."""
    for text in (content,) if isinstance(content, str) else content:
        yield text.encode("utf-8", "replace")


def _write_temp(target: str | Path, directory: Path, data: Iterable[bytes], mode: int) -> str:
    """A flushed temporary file next to the target; removed again if anything fails."""
    import tempfile  # ~5 ms (random, shutil): only paid when a report is written

    try:
        fd, tmp = tempfile.mkstemp(prefix=_PREFIX, suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _Failure(target, _reason(exc)) from exc
    try:
        try:
            for piece in data:
                view = memoryview(piece)
                while view:
                    view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, OSError):
            raise _Failure(target, _reason(exc)) from exc
        raise
    return tmp


def _remove(path: str | Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _sync_dir(directory: Path) -> None:
    """Make the renames durable; best effort (not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _backup(target: Path, tmp: str) -> str | None:
    """Keep an existing report reachable under a temporary name, to restore it on failure.

    A hard link keeps the target in place throughout; where links are not supported a
    rename is the fallback (the target is then briefly absent).
    """
    if not os.path.lexists(target):
        return None
    backup = tmp + ".old"
    try:
        os.link(target, backup, follow_symlinks=False)  # a symlink is kept as a symlink
    except OSError:
        try:
            os.replace(target, backup)
        except OSError:
            return None
    return backup


def _through_links(path: str | Path) -> Path:
    """The file a report path names: a symlink's target, resolved to the end (a dangling
    link's target, to be created); the path itself when it is no link."""
    if not os.path.islink(path):
        return Path(path)
    try:
        return Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:
        return Path(os.path.realpath(path))  # dangling: its target is a new path
    except OSError as exc:  # a loop of links
        raise _Failure(path, _reason(exc)) from exc


STDOUT = "-"


def _fd_of(path: str | Path) -> int | None:
    """The descriptor that `-`, /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N
    names: written to as it is, whatever it is (`> file` makes it a regular file)."""
    import re

    text = str(path)
    if text == STDOUT:
        return 1
    match = re.fullmatch(r"/dev/(?:std(out|err)|fd/(\d+))|/proc/self/fd/(\d+)", text)
    if match is None:
        return None
    std, number, proc = match.groups()
    return (1 if std == "out" else 2) if std else int(number or proc)


def _is_stream(path: str | Path) -> bool:
    """A descriptor (see _fd_of), or an existing target that is neither a regular file nor a
    directory (a device, a FIFO, a socket; after symlinks): written in place, never replaced."""
    if _fd_of(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False  # new, a dangling symlink, or unreadable: the atomic path decides
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_stream(path: str | Path, data: Iterable[bytes]) -> None:
    """Write to standard output, a device or a FIFO as it is (no O_TRUNC, no rename).

    A FIFO's open waits for its reader, as a shell's `>` does, but only until the fetch
    deadline: opened without blocking (ENXIO while nobody reads), and written as the
    reader takes it, so a FIFO nobody reads ends in one error line, not a hung job."""
    try:
        number = _fd_of(path)
        if number is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            for piece in data:
                _write_all(number, piece)
            return
        limit, end = _deadline(path)
        fd = _open_stream(path, limit, end)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):  # replaced by a file since the check
                raise _Failure(path, "changed into a regular file while writing")
            for piece in data:
                _write_all(fd, piece, path, limit, end)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _Failure(path, _reason(exc)) from exc


def _deadline(path: str | Path) -> tuple[float, float]:
    """(seconds allowed, when they are up): the fetch deadline bounds a FIFO's reader."""
    import time

    from gate.fetch import DEADLINE_ENV, deadline_s

    try:
        limit = deadline_s()
    except GateError:
        raise _Failure(path, f"{DEADLINE_ENV} is not a number of seconds above 0") from None
    return limit, time.monotonic() + limit


def _no_reader(path: str | Path, limit: float) -> _Failure:
    from gate.fetch import DEADLINE_ENV

    return _Failure(path, f"no reader took it within {limit:g} s ({DEADLINE_ENV})")


def _open_stream(path: str | Path, limit: float, end: float) -> int:
    """A non-blocking write descriptor; a FIFO without a reader is retried until `end`
    (there is nothing to poll before a FIFO is open)."""
    import time

    flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    while True:
        try:
            return os.open(path, flags)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
        left = end - time.monotonic()
        if left <= 0:
            raise _no_reader(path, limit)
        time.sleep(min(0.02, left))


def _write_all(
    fd: int, data: bytes, path: str | Path = "", limit: float = 0.0, end: float | None = None
) -> None:
    """All of `data`; a non-blocking descriptor (end given) waits for room until `end`."""
    import select
    import time

    view = memoryview(data)
    poller: select.poll | None = None
    while view:
        try:
            view = view[os.write(fd, view) :]
            continue
        except BlockingIOError:
            if end is None:
                raise
        if poller is None:
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
        left = end - time.monotonic()
        if left <= 0 or not poller.poll(max(1, int(left * 1000))):
            raise _no_reader(path, limit)


def write_reports(items: Sequence[tuple[str | Path, Content]]) -> None:
    """Write every report or none: a failure leaves the old files as they were.

    All temporary files are written first (the likely failures: no space, no permission,
    a bad path), then renamed over their targets one by one; if a rename still fails, the
    targets already replaced get their old content back, or are removed if they are new.
    Standard output (`-`), devices and FIFOs are written between the two steps (see the
    module's docstring). Text in pieces is encoded and written piece by piece.
    Raises GateError("PATH: cannot write report: REASON") naming the report that failed.
    """
    mode = 0o666 & ~_umask()
    seen: dict[str, str | Path] = {}
    for path, _ in items:
        number = _fd_of(path)
        key = f"fd {number}" if number is not None else os.path.realpath(path)
        if key in seen:
            raise GateError(f"{path}: cannot write report: named for two reports")
        seen[key] = path

    created: list[Path] = []
    temps: list[tuple[str | Path, Path, str]] = []  # (as given, target, temporary file)
    replaced: list[tuple[Path, str | None]] = []  # (target, backup of its old content)
    backups: list[str] = []
    streams: list[tuple[str | Path, Content]] = []  # stdout, devices, FIFOs: written in place
    done = False
    try:
        for path, text in items:
            if _is_stream(path):
                streams.append((path, text))
                continue
            target = _through_links(path)
            if target.is_dir():
                raise _Failure(path, "is a directory")
            parent = target.parent
            _make_parent(path, parent, created)
            temps.append((path, target, _write_temp(path, parent, _encoded(text), mode)))
        for path, text in streams:  # after the temporaries, before any rename
            _write_stream(path, _encoded(text))
        for path, target, tmp in temps:
            backup = _backup(target, tmp)
            if backup is not None:
                backups.append(backup)
            try:
                os.replace(tmp, target)
            except OSError as exc:
                if backup is not None and not target.exists():
                    os.replace(backup, target)  # the rename fallback moved it away
                raise _Failure(path, _reason(exc)) from exc
            replaced.append((target, backup))
        done = True
    except _Failure as failure:
        raise GateError(f"{failure.path}: cannot write report: {failure.reason}") from None
    finally:
        if not done:
            _roll_back(temps, replaced, created)
        for backup in backups:
            _remove(backup)
    for directory in {target.parent for _, target, _ in temps}:
        _sync_dir(directory)


def _roll_back(
    temps: list[tuple[str | Path, Path, str]],
    replaced: list[tuple[Path, str | None]],
    created: list[Path],
) -> None:
    """Undo a failed batch: old contents back, new files and temporaries gone."""
    for target, backup in reversed(replaced):
        try:
            if backup is not None:
                os.replace(backup, target)
            else:
                os.unlink(target)
        except OSError:
            pass
    for _, _, tmp in temps:
        _remove(tmp)
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()


def write_atomic(path: str | Path, text: Content) -> None:
    """Write one report atomically: readers see the old file or the new one, never a part."""
    write_reports([(path, text)])


def same_stream() -> bool:
    """stdout and stderr are one file (a terminal, or a CI log taking both)."""
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


def write_step_files(doc: Document) -> None:
    """Inside GitHub Actions: the Markdown into the job summary, the verdict into the
    step's outputs (the files GitHub names in $GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT)."""
    from gate.report.formats import render

    _append("GITHUB_STEP_SUMMARY", render(doc, "markdown"))
    _append("GITHUB_OUTPUT", f"verdict={doc['verdict']}\n")


def _append(variable: str, text: str) -> None:
    path = os.environ.get(variable)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise GateError(f"${variable} ({path}): cannot write: {exc.strerror or exc}") from None
