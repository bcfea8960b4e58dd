"""The names of a binary's size groups: what the reader measures (gate/read/attribution.py)
and what every check, explanation and report calls them. Renaming one here renames it
everywhere; results written before a rename read back through `group_name`.
"""

from __future__ import annotations

CODE, RODATA, DATA = "code", "read-only data", "data"
GO_META, SYMBOLS, DEBUG = "go metadata", "symbols", "debug"
HEADERS, PADDING, OTHER = "headers", "padding", "other"
GROUPS = (CODE, RODATA, DATA, GO_META, SYMBOLS, DEBUG, HEADERS, PADDING, OTHER)
# Code the Go function table does not cover: C (cgo), or the linker's stubs. A row of the
# package view so that it adds up to .text; never a package.
NON_GO = "<non-Go code>"
# Group names of results written before the groups were renamed.
_LEGACY = {"text": "code", "rodata": "read-only data"}


def group_name(name: str) -> str:
    """Today's name of a group (results written before the groups were renamed)."""
    return _LEGACY.get(name, name)
