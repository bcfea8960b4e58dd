"""How a measured number reads next to its limit, shared by the judge's messages and every
report, so "by 123.46 KB (+1.5%)" in a check and "+123.46 KB (+1.5%)" in a table say the
same: sizes in the unit the policy wrote (`size_unit`, `unit_written`, `size_as_written`),
numbers in their unit (`number`) and the signed excess (`over_by`); a commit as a log
line shows it (`short`, `commits`).

Below both the judge and the renderers, so neither imports the other.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from gate.values.units import format_duration, format_size

_DECIMAL_UNITS = (("GB", 10**9), ("MB", 10**6), ("KB", 10**3))
_BINARY_UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def size_unit(limit: Any) -> str | None:
    """The unit a size limit was most likely written in, so measured reads in the same.

    The unit that writes the limit exactly with the fewest digits ("8.5 MB", not
    "8500 KB"; at most two decimals), the larger unit on a tie; None when none does.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        return None
    units = (*_BINARY_UNITS, *_DECIMAL_UNITS)
    candidates = [
        (len(str(limit // factor)) + decimals, -factor, unit)
        for unit, factor in units
        if limit >= factor
        for decimals in range(3)
        if (limit * 10**decimals) % factor == 0
    ]
    return min(candidates)[2] if candidates else None


def unit_written(text: Any) -> str | None:
    """The unit a policy wrote a size in ("8.5 MB" -> "MB"); None for a bare number."""
    if isinstance(text, str):
        unit = text.strip().lstrip("0123456789.eE+- ").strip()
        return unit or None
    return None


def size_as_written(n: int, written: Any = None) -> str:
    """A size in the unit the policy wrote its limit in, with the exact bytes from 1000 up:
    "8123.46 KB (8,123,456 bytes)", "512 bytes"."""
    unit = unit_written(written)
    try:
        shown = format_size(n, unit) if unit else format_size(n)
    except ValueError:
        shown = format_size(n)
    return f"{shown} ({n:,} bytes)" if n >= 1000 else f"{n:,} bytes"


def number(value: float, unit: str | None, in_unit: str | None = None) -> str:
    """A measured or limit number in its unit ("bytes" in `in_unit` when given)."""
    if unit == "bytes":
        return format_size(int(value), in_unit)
    if unit == "ms":
        return format_duration(value)
    if unit == "%":
        return f"{value:.1f}%"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:g}"


def _size_difference(diff: int, limit: Any) -> tuple[str, bool]:
    """|diff| bytes in the limit's unit family, scaled to the difference itself; and
    whether that rounded it (a unit larger than a byte)."""
    family = _DECIMAL_UNITS if size_unit(limit) in ("GB", "MB", "KB") else _BINARY_UNITS
    n = abs(diff)
    unit = next((name for name, factor in family if n >= factor), None)
    return (format_size(n, unit), True) if unit else (f"{n:,} B", False)


def over_by(measured: Any, limit: Any, unit: str | None, *, exact: bool = False) -> str:
    """measured - limit, signed, then relative to the limit: "+123.46 KB (+1.5%)",
    "+9.5 ms (+9.5%)", "-3"; "—" when either is not a number.

    Sizes are shown in the unit family of the limit: decimal (KB, MB, GB) when the limit
    is a whole number of one of those (`size_unit`: 8,000,000 bytes, whether the policy
    wrote "8 MB" or "8000 KB"), else binary (KiB, MiB, GiB); within the family the unit
    fits the difference, not the limit, so a small overrun does not read as "+0.12 MB".
    `exact` adds the bytes where the unit rounded them ("+123.46 KB (123,456 bytes,
    +1.5%)"), as the judge's messages give every size. A percentage limit is over by
    percentage points ("+2.0 pp"): a percent of a percent would only confuse. The
    judge's messages and every report use this.
    """
    if not (is_number(measured) and is_number(limit)):
        return "—"
    diff = measured - limit
    if unit == "%":
        return f"{diff:+.1f} pp"
    bytes_ = ""
    if unit == "bytes":
        shown, rounded = _size_difference(int(diff), limit)
        absolute = ("-" if diff < 0 else "") + shown
        if exact and rounded:
            bytes_ = f"{int(abs(diff)):,} bytes, "
    else:
        absolute = number(diff, unit)
    if not absolute.startswith("-") and diff > 0:
        absolute = "+" + absolute
    if limit:
        return f"{absolute} ({bytes_}{diff / abs(limit) * 100:+.1f}%)"
    return f"{absolute} ({bytes_.removesuffix(', ')})" if bytes_ else absolute


def short(sha: str) -> str:
    """A commit as people read it in a log line."""
    return sha[:7]


def commits(n: int) -> str:
    """`1 commit`, `3 commits`: how far back a baseline was found."""
    return f"{n} commit{'' if n == 1 else 's'}"
