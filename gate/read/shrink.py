"""A mapped binary that shrinks while gate reads it: an error, not a dead process.

Reading a page of a file mapping past the file's end raises SIGBUS, which kills the
process at once: no message, exit 135, half-written state. A binary is untrusted and
may be rewritten or truncated by a build running beside gate, so the reader's mappings
are guarded: a SIGBUS inside one has the rest of that mapping replaced by zero pages
(a private anonymous mapping over it), the read goes on with zeros, and the fault is
counted; open_elf then reports the file as changed while being read, whatever the zeros
made of it. A SIGBUS anywhere else is no business of this module: the handler puts the
previous one back and returns, so the fault repeats and ends the process as before.

Python's own signal handlers run between bytecodes, too late for a fault that repeats
as soon as it returns, so the handler is a C callback (ctypes): it runs on the faulting
thread, which holds the GIL (a mapping is only read from Python). Pure Python is kept
out of the mapping's way: the work in the handler is two libc calls and a counter.
"""

from __future__ import annotations

import ctypes
import mmap
import signal
import threading
from typing import Any

_SA_SIGINFO = 4
_MAP_FIXED = 0x10
_FAILED = ctypes.c_void_p(-1).value
# siginfo_t: si_signo, si_errno, si_code (ints), then the union, pointer-aligned.
_SI_ADDR = 16 if ctypes.sizeof(ctypes.c_void_p) == 8 else 12
_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


class _Sigaction(ctypes.Structure):
    """glibc's struct sigaction (the C library converts it for the kernel)."""

    _fields_ = [
        ("sa_sigaction", ctypes.c_void_p),
        ("sa_mask", ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong)))),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
    ]


class _Buffer(ctypes.Structure):
    """Py_buffer: where a mapping lies in memory (mmap objects do not say)."""

    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_lock = threading.Lock()
_libc: Any = None
_callback: Any = None  # kept alive: the kernel calls it
_previous = _Sigaction()
_installed = False
# Guarded mappings: id -> [start, end, faults]. Read by the handler without locking: a
# list and a dict lookup under the GIL the faulting thread already holds.
_ranges: dict[int, list[int]] = {}


def _on_sigbus(signum: int, info: int | None, _context: int | None) -> None:
    try:
        if _cover(info):
            return
    except BaseException:  # an error here would repeat the fault forever
        pass
    # Not ours (or no way to paper over it): the previous action meets the repeated fault.
    _libc.sigaction(signal.SIGBUS, ctypes.byref(_previous), None)


def _cover(info: int | None) -> bool:
    """Zero pages from the faulting page to the end of its guarded mapping, if it is one."""
    addr = ctypes.c_void_p.from_address(info + _SI_ADDR).value if info else None
    if addr is None:
        return False
    for span in list(_ranges.values()):
        start, end = span[0], span[1]
        if start <= addr < end:
            page = addr - addr % mmap.PAGESIZE
            flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_FIXED
            if _libc.mmap(page, end - page, mmap.PROT_READ, flags, -1, 0) == _FAILED:
                return False
            span[2] += 1
            return True
    return False


def _install() -> None:
    global _libc, _callback, _installed
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    )
    libc.sigaction.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    _libc = libc
    _callback = _HANDLER(_on_sigbus)
    action = _Sigaction()
    action.sa_sigaction = ctypes.cast(_callback, ctypes.c_void_p).value
    action.sa_flags = _SA_SIGINFO
    if libc.sigaction(signal.SIGBUS, ctypes.byref(action), ctypes.byref(_previous)) == 0:
        _installed = True


def _address(data: mmap.mmap) -> tuple[int, int] | None:
    view = _Buffer()
    get = ctypes.pythonapi.PyObject_GetBuffer
    get.argtypes = (ctypes.py_object, ctypes.c_void_p, ctypes.c_int)
    if get(data, ctypes.byref(view), 0) != 0:
        return None
    try:
        return view.buf or 0, view.len
    finally:
        release = ctypes.pythonapi.PyBuffer_Release
        release.argtypes = (ctypes.c_void_p,)
        release(ctypes.byref(view))


def guard(data: mmap.mmap) -> int | None:
    """Guard a mapping: a key for faults() and unguard(); None when it cannot be."""
    try:
        with _lock:
            if not _installed:
                _install()
            where = _address(data) if _installed else None
            if where is None or not where[0]:
                return None
            key = id(data)
            _ranges[key] = [where[0], where[0] + where[1], 0]
            return key
    except (OSError, AttributeError, ValueError, TypeError, BufferError):  # no libc, no sigaction
        return None


def faults(key: int | None) -> int:
    """How many reads of this mapping fell past the end of its file so far."""
    span = _ranges.get(key) if key is not None else None
    return span[2] if span else 0


def unguard(key: int | None) -> None:
    if key is not None:
        with _lock:
            _ranges.pop(key, None)
