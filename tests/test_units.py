"""Sizes and durations: the numbers a policy's budget is made of."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gate.errors import UnitError
from gate.values.units import (
    format_duration,
    format_size,
    parse_duration,
    parse_percent,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8.5 MB", 8_500_000),
        ("8.5MB", 8_500_000),
        ("8.5 mb", 8_500_000),
        ("8.5 MiB", 8_912_896),
        ("8.5MiB", 8_912_896),
        ("8500000", 8_500_000),
        ("512k", 524_288),
        ("512K", 524_288),
        ("512 kB", 512_000),
        ("4 KiB", 4096),
        ("1G", 2**30),
        ("1 GB", 10**9),
        ("2 TiB", 2 * 2**40),
        ("10 B", 10),
        ("10 bytes", 10),
        (" 7 ", 7),
        ("1.5e3", 1500),
        (".5 KiB", 512),
        (0, 0),
        (123, 123),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "expected a size"),
        ("fast", "expected a size"),
        ("8.5 XB", "unknown size unit"),
        ("-1 MB", "negative"),
        ("0.5 B", "whole number of bytes"),
        ("1.0000001 KB", "whole number of bytes"),
        ("MB", "expected a size"),
        ("1 2 MB", "expected a size"),
        ("nan", "expected a size"),
        (True, "expected a size"),
        (-5, "negative"),
        (1.5, "expected a size"),
    ],
)
def test_parse_size_garbage(text: object, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        parse_size(text)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**40))
def test_plain_byte_counts_round_trip(n: int) -> None:
    assert parse_size(str(n)) == n
    assert parse_size(f"{n} KiB") == n * 1024
    assert parse_size(f"{n}MB") == n * 1_000_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("320ms", 320.0),
        ("320 ms", 320.0),
        ("0.32s", 320.0),
        ("1m", 60_000.0),
        ("1m30s", 90_000.0),
        ("1.5s", 1500.0),
        ("250us", 0.25),
        ("250µs", 0.25),
        ("100ns", 0.0001),
        ("1h", 3_600_000.0),
        ("2min", 120_000.0),
    ],
)
def test_parse_duration(text: str, ms: float) -> None:
    assert parse_duration(text) == pytest.approx(ms)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("320", "add a unit"),
        ("fast", "expected a duration"),
        ("", "empty"),
        ("-5ms", "negative"),
        ("5 parsecs", "expected a duration"),
        ("ms", "expected a duration"),
        (320, "expected a duration"),
    ],
)
def test_parse_duration_garbage(text: object, fragment: str) -> None:
    with pytest.raises(UnitError, match=fragment):
        parse_duration(text)  # type: ignore[arg-type]


def test_percent() -> None:
    assert parse_percent("5%") == 5.0
    assert parse_percent("12.5 %") == 12.5
    with pytest.raises(UnitError, match="percentage"):
        parse_percent("5")


def test_format() -> None:
    assert format_size(512) == "512 B"
    assert format_size(8_912_896) == "8.5 MiB"
    assert format_size(8_500_000, "MB") == "8.50 MB"
    assert format_size(8_912_896, "MiB") == "8.50 MiB"
    assert format_size(1234, "B") == "1,234 B"
    assert format_duration(412.345) == "412.3 ms"
    with pytest.raises(UnitError):
        format_size(1, "furlongs")


# Absurd values: refused at once with a message that says the bound, never a hang on
# Fraction(10) ** 999999999, an int() over 4,300 digits, or an overflow later on.
HUGE = "1" * 400


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (parse_size, "1e5000", "'1e5000' is out of range: a size is a whole number of bytes, "
                               "at most 1 EiB"),
        (parse_size, "1e999999999 MB", "'1e999999999 MB' is out of range"),
        (parse_size, "1e-999999999", "'1e-999999999' is out of range"),
        (parse_size, "2 EiB", "unknown size unit 'EiB'"),
        (parse_size, "2048 PB", "'2048 PB'"),
        (parse_size, "2000000 TB", "'2000000 TB' is more than 1 EiB (2**60 bytes), the largest "
                                   "size gate accepts"),
        (parse_size, 2**61, "2305843009213693952 is more than 1 EiB"),
        (parse_size, HUGE + " MB", "'11111111111111111111111111111… (405 characters) is out "
                                   "of range"),
        (parse_size, "1" * 100_000, "is out of range"),
        (parse_duration, "600h", "'600h' is longer than 1 h, the longest duration gate accepts"),
        (parse_duration, "61m", "'61m' is longer than 1 h"),
        (parse_duration, "59m61s", "'59m61s' is longer than 1 h"),
        (parse_duration, HUGE + "ms", "'11111111111111111111111111111… (404 characters) is out "
                                      "of range: a duration is at most 1 h"),
        (parse_duration, "1" * 100_000 + "ns", "is out of range"),
        (parse_duration, int(HUGE), "expected a duration like \"320ms\" or \"1.5s\", got "
                                    "111111111111111111111111111111… (400 characters)"),
        (parse_percent, "9" * 400 + "%", "is out of range: too many digits for a percentage"),
    ],
    ids=lambda v: repr(v)[:24] if isinstance(v, str | int) else None,
)  # fmt: skip
def test_absurd_values_are_refused_fast(parse: Any, value: Any, message: str) -> None:
    import time

    start = time.perf_counter()
    with pytest.raises(UnitError) as exc:
        parse(value)
    assert time.perf_counter() - start < 0.1
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_the_bounds_themselves_are_accepted() -> None:
    assert parse_size("1 EiB".replace("EiB", "TiB")) == 2**40
    assert parse_size(str(2**60)) == 2**60
    assert parse_size("1048576 TiB") == 2**60
    assert parse_duration("1h") == 3_600_000.0
    assert parse_duration("59m59.999s") == pytest.approx(3_599_999.0)
    assert parse_size("1.5e3") == 1500 and parse_size("0e-999") == 0
