"""One helper for text shown on a terminal or in a CI log that comes from outside:
binary paths and names, messages that quote them. A file name may hold any byte but
NUL and `/`, so ESC (a terminal's control sequences) or a newline (a forged log line,
a second workflow command) is shown as an escape instead."""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """`text` with every control character (C0, DEL, C1; tab and newline too) as `\\xNN`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
