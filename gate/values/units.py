"""Sizes, durations and percentages: text <-> numbers, in one place, both directions.

Sizes follow the GNU convention, so a value means what a platform engineer expects
from `du`, `dd` or `numfmt`: `KB`/`MB`/`GB` are powers of 1000, `KiB`/`MiB`/`GiB`
and the bare letters `K`/`M`/`G` are powers of 1024. "8.5 MB" is 8,500,000 bytes,
"8.5 MiB" is 8,912,896 bytes, "512k" is 524,288 bytes. Arithmetic is exact
(fractions), so a budget never drifts by a rounding byte.

Every value has a sane ceiling, checked before the arithmetic: a size is at most 1 EiB, a
duration at most 1 h, and a number has at most 30 digits (an exponent at most 3). A typo
like "1e999999999 MB" or a 400-digit p95 is one clear error, at once, never a hang or an
overflow later on.
"""

from __future__ import annotations

import re
from fractions import Fraction

from gate.errors import UnitError

_DECIMAL = {
    "": 1,
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
}
_BINARY = {
    "k": 2**10,
    "m": 2**20,
    "g": 2**30,
    "t": 2**40,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE_FACTORS = {**_DECIMAL, **_BINARY}

_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*([A-Za-z]*)\s*")

# Duration units as milliseconds (Go's time.ParseDuration names plus the long forms).
_DURATION_MS = {
    "ns": Fraction(1, 10**6),
    "us": Fraction(1, 10**3),
    "µs": Fraction(1, 10**3),
    "μs": Fraction(1, 10**3),
    "ms": Fraction(1),
    "s": Fraction(1000),
    "sec": Fraction(1000),
    "m": Fraction(60_000),
    "min": Fraction(60_000),
    "h": Fraction(3_600_000),
}
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|μs|ms|sec|min|s|m|h)")

_PERCENT_RE = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%\s*")

MAX_SIZE = 2**60  # 1 EiB: more than any binary, memory or budget gate will meet
MAX_DURATION_MS = 3_600_000.0  # 1 h: a longer timeout or start-up limit is a typo
_MAX_DIGITS = 30  # in one number, before it is turned into one
_MAX_EXPONENT_DIGITS = 3


def _shown(value: object) -> str:
    """A value for a message: as written, on one line, cut when long."""
    try:
        text = repr(value)
    except ValueError:  # an integer of over 4,300 digits
        return f"an integer of {value.bit_length()} bits" if isinstance(value, int) else "?"
    return text if len(text) <= 40 else f"{text[:30]}… ({len(text)} characters)"


def parse_size(text: str | int) -> int:
    """Bytes from "8.5 MB", "8.5MiB", "512k", "8500000" (an int passes through)."""
    if isinstance(text, bool):
        raise UnitError(f'expected a size like "8.5 MB", got {_shown(text)}')
    if isinstance(text, int):
        if text < 0:
            raise UnitError(f"a size cannot be negative, got {_shown(text)}")
        if text > MAX_SIZE:
            raise UnitError(_too_large(text))
        return text
    if not isinstance(text, str):
        raise UnitError(f'expected a size like "8.5 MB", got {_shown(text)}')
    m = _SIZE_RE.fullmatch(text)
    if not m:
        if text.strip().startswith("-"):
            raise UnitError(f"a size cannot be negative, got {_shown(text)}")
        raise UnitError(f'expected a size like "8.5 MB", "4 MiB" or "512k", got {_shown(text)}')
    number, exponent, unit = m.groups()
    factor = _SIZE_FACTORS.get(unit.lower())
    if factor is None:
        raise UnitError(
            f"unknown size unit {_shown(unit)} in {_shown(text)}: use B, kB/KB, MB, GB (powers "
            "of 1000) or K, M, G, KiB, MiB, GiB (powers of 1024)"
        )
    if len(number) > _MAX_DIGITS or len((exponent or "").lstrip("+-")) > _MAX_EXPONENT_DIGITS:
        raise UnitError(
            f"{_shown(text)} is out of range: a size is a whole number of bytes, at most 1 EiB"
        )
    value = Fraction(number) * (Fraction(10) ** int(exponent or 0)) * factor
    if value > MAX_SIZE:
        raise UnitError(_too_large(text))
    if value.denominator != 1:
        raise UnitError(f"{_shown(text)} is not a whole number of bytes ({float(value):.3f})")
    return int(value)


def _too_large(text: str | int) -> str:
    return f"{_shown(text)} is more than 1 EiB (2**60 bytes), the largest size gate accepts"


def parse_duration(text: str) -> float:
    """Milliseconds from "320ms", "0.32s", "1m", "1m30s", "250us".

    A bare number is refused: "320" could be ms or s, and a wrong guess moves an SLA
    by a factor of 1000.
    """
    if not isinstance(text, str):
        raise UnitError(f'expected a duration like "320ms" or "1.5s", got {_shown(text)}')
    compact = text.strip().replace(" ", "")
    if not compact:
        raise UnitError('expected a duration like "320ms" or "1.5s", got an empty string')
    if compact.startswith("-"):
        raise UnitError(f"a duration cannot be negative, got {_shown(text)}")
    total = Fraction(0)
    pos = 0
    while pos < len(compact):
        m = _DURATION_PART_RE.match(compact, pos)
        if not m:
            hint = ' (add a unit, e.g. "320ms")' if re.fullmatch(r"[\d.]+", compact) else ""
            raise UnitError(f'expected a duration like "320ms" or "1.5s", got {_shown(text)}{hint}')
        if len(m.group(1)) > _MAX_DIGITS:
            raise UnitError(f"{_shown(text)} is out of range: a duration is at most 1 h")
        total += Fraction(m.group(1)) * _DURATION_MS[m.group(2)]
        if total > MAX_DURATION_MS:
            raise UnitError(
                f"{_shown(text)} is longer than 1 h, the longest duration gate accepts "
                "(for a timeout or a start-up limit)"
            )
        pos = m.end()
    return float(total)


def parse_percent(text: str) -> float:
    """Percent as a number from "5%" or "12.5 %"."""
    m = _PERCENT_RE.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise UnitError(f'expected a percentage like "5%", got {_shown(text)}')
    if len(m.group(1)) > _MAX_DIGITS:
        raise UnitError(f"{_shown(text)} is out of range: too many digits for a percentage")
    return float(m.group(1))


def format_size(n: int, unit: str | None = None) -> str:
    """Human size. With `unit` ("MB", "MiB", ...), in that unit, as a policy wrote it."""
    if unit is not None:
        factor = _SIZE_FACTORS.get(unit.lower())
        if factor is None:
            raise UnitError(f"unknown size unit {unit!r}")
        if factor == 1:
            return f"{n:,} B"
        return f"{n / factor:.2f} {unit}"
    if abs(n) < 1024:
        return f"{n} B"
    value = float(n)
    for name in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if abs(value) < 1024 or name == "TiB":
            break
    return f"{value:.1f} {name}"


def format_signed_size(n: float) -> str:
    """A change in size, always with its sign: "+2.9 MiB", "-165 B"."""
    return ("+" if n >= 0 else "-") + format_size(int(abs(n)))


def format_duration(ms: float) -> str:
    """Milliseconds with one decimal: the unit every start-up number is shown in."""
    return f"{ms:.1f} ms"
