"""Whether this machine's hardware counts user-space instructions for gate (perf_event_open).

Asked directly through the system call (no `perf` binary): most VMs and GitHub's hosted
runners expose no hardware counters (ENOENT), and `kernel.perf_event_paranoid` > 2 refuses
even a process's own (EACCES). The answer decides which backend gate/run/count.py names.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

_SYSCALL = {"x86_64": 298, "aarch64": 241, "i686": 336, "i386": 336}
_PERF_TYPE_HARDWARE = 0
_PERF_COUNT_HW_INSTRUCTIONS = 1
_DISABLED, _EXCLUDE_KERNEL, _EXCLUDE_HV = 1 << 0, 1 << 5, 1 << 6
_ATTR_SIZE = 64  # PERF_ATTR_SIZE_VER0: every kernel since 2.6.31 takes it


def instructions_unavailable() -> str:
    """ "" when a user-space instruction counter opens for this process; else why not."""
    number = _SYSCALL.get(platform.machine())
    if number is None:
        return f"no perf_event_open number known for {platform.machine()}"
    attr = struct.pack(
        "=IIQQQQQII Q",
        _PERF_TYPE_HARDWARE, _ATTR_SIZE, _PERF_COUNT_HW_INSTRUCTIONS,
        0, 0, 0, _DISABLED | _EXCLUDE_KERNEL | _EXCLUDE_HV, 0, 0, 0,
    )  # fmt: skip
    buf = ctypes.create_string_buffer(attr, _ATTR_SIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(number), buf, ctypes.c_int(0), ctypes.c_int(-1),
                      ctypes.c_int(-1), ctypes.c_ulong(0))  # fmt: skip
    if fd >= 0:
        os.close(fd)
        return ""
    err = ctypes.get_errno()
    name = errno.errorcode.get(err, str(err))
    if err == errno.ENOENT or err == errno.EOPNOTSUPP:
        return f"no hardware instruction counter here (perf_event_open: {name})"
    if err in (errno.EACCES, errno.EPERM):
        return f"hardware counters refused (perf_event_open: {name}; kernel.perf_event_paranoid)"
    return f"perf_event_open: {name}"
