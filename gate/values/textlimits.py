"""What JSON and TOML text may cost before gate parses it.

JSON (documents, baselines, API answers). Bytes do not bound what parsing costs:
`[{},{},...]` is three bytes an object, and each object is some 70 bytes of Python, so
30 MB of it took 900 MB. What json.loads will build is counted here on the text itself,
before it runs, in passes that run in C a chunk at a time (strings are dropped first,
escapes included, so a brace or comma inside a string does not count): each object,
array, key, string (by its characters, at the text's width), number and pointer at what
CPython spends on it at most, each distinct key once (json shares it), and how deep
arrays and objects nest.

The cap on that cost is COST_FLOOR plus COST_PER_BYTE bytes for each character of text,
and never above COST_CEILING, whatever the text's size.
What the cap must let through is gate's own writing. The list of a size document by
symbol, `{"name":"main.f","bytes":120}` a line, would be its densest (35 bytes that json
makes a dict, a str and an int of some 250 bytes, counted 330: 11 bytes a byte), but
gate.fetch reads those rows as columns (gate.values.sizerows), counted here at what
they take: a name's str, 16 bytes of list and array, so 2.3 bytes a byte of text (the 1M-symbol
document of 34 MB counts 78 MB and takes 77 MB, where json took 252 MB). The densest left is a
results document: 4.2 bytes a byte as gate writes it (indented), 8.7 rewritten without
blanks (`jq -c`, 31 MB of merged results: counted 284 MB, taken 167 MB). The estimate is
an upper bound (what json builds measured 1.2 to 1.6 times less), so the cap lets through
three bytes of values a byte of text plus 100 MiB: gate's own documents as it writes them
up to some 50 MB of results (a merged one of a thousand services), every size document it
writes, and nothing that holds much more than twice its size plus 100 MB in memory (an
indented 31 MB results document peaks at 133 MB with its text). What a reader of Python
dicts cannot do is hold that bound for text denser than gate writes, so that is refused:
a results document rewritten by `jq -c` is read up to some 18 MB (8.7 bytes a byte).
Texts denser than that are refused before parsing: 30 MB of `{}` counts 2.2 GB against a
cap of 195 MB, and so is a size document rewritten by `jq -c` (its rows on one line are
json's again, 11 bytes a byte). Parsing itself then holds the text and its values, never
the bytes as well (gate.integrate.baseline frees them once decoded), and uses json's own numbers (in
C) unless a number has more than 20 digits or an exponent of 100 or more.

TOML (policies). tomllib recurses once for each array or inline table inside another, so
500 of them exhaust Python's stack, and it spends time and memory with the square of a
dotted key's parts: one key of 20,000 parts (40 KB) took 1.6 GB. Policies need a few of
each: nesting, parts and keys are counted before tomllib sees the text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

MAX_DEPTH = 20  # arrays and objects inside each other: a results document needs 8

# What CPython (3.11+, 64-bit) spends on each thing json.loads builds, at most, in bytes.
OBJECT = 144  # a dict: 184 with up to 5 keys (with KEY), then some 37 a key
KEY = 40  # each key's entry in its dict; the key itself is shared by every object using it
ARRAY = 72  # a list: 56, and what appending to it overallocates (with SLOT)
SLOT = 16  # each value's pointer in a list or dict, overallocation included
STRING = 49  # a str's header, and then its characters (1, 2 or 4 bytes each)
NUMBER = 36  # an int of up to 20 digits (a float is 24; true, false and null are shared)
HUGE = 256  # a number of more digits or a larger exponent: an OutOfRange keeping its text

COST_PER_BYTE = 3  # bytes of values (as counted) a byte of text may become
COST_FLOOR = 100 * 2**20  # and this much more, for any text
COST_CEILING = 640 * 2**20  # and never more than this: a 7.5M-symbol size document's rows


def cost_cap(length: int) -> int:
    """The most memory (bytes) the values of a JSON text of `length` characters may take:
    a 256 MiB file may not make gate take 2.6 GB, whatever its shape."""
    return min(COST_FLOOR + COST_PER_BYTE * length, COST_CEILING)


MAX_TOML_DEPTH = 10  # arrays and inline tables inside each other: a policy needs 2
MAX_KEY_PARTS = 10  # parts of one dotted key: binary."svc-*".startup.runs has 4
MAX_KEYS = 10_000  # a policy sets tens; one setting 5 for each of 2,000 services is far

_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_OPEN_CLOSE = str.maketrans("[{]}", "(())")
_CHUNK = 1 << 20  # characters of JSON stripped of strings at a time


def _pieces(text: str) -> Iterator[tuple[str, str]]:
    """(a chunk of the text, the chunk without its strings), a chunk at a time: dropping
    strings from all of it at once would hold a piece for each, some 50 bytes a value of a
    dense text.

    Escaped quotes go first (backslashes pair left to right, as JSON reads them), so that
    none can end a string. A chunk ends outside any string: one it would cut is taken
    whole, to its closing quote."""
    text = text.replace("\\\\", "").replace('\\"', "")
    start = 0
    while start < len(text):
        end = min(start + _CHUNK, len(text))
        if text.count('"', start, end) % 2:
            close = text.find('"', end)
            end = len(text) if close < 0 else close + 1
        chunk = text[start:end]
        yield chunk, _STRING.sub("", chunk)
        start = end


def _skeleton(text: str) -> Iterator[str]:
    """The text without its strings, a chunk at a time (see _pieces)."""
    for _, skeleton in _pieces(text):
        yield skeleton


def _values(skeleton: str) -> int:
    """Keys and values, all but at most one: every one but the last in its array or
    object is followed by a comma, every key by a colon, and each array or object is one."""
    return sum(skeleton.count(c) for c in ",:[{")


def _width(text: str) -> int:
    """Bytes a character of the text's strings may take in Python: 1 for ASCII text, else
    what the widest character in it takes (the text's own width: a str is one width)."""
    if text.isascii():
        return 1
    return 4 if any(ord(c) > 0xFFFF for c in set(text)) else 2


width = _width  # for what gate.integrate.baseline reads without json (gate.values.sizerows)


_KEY_OR_STRING = re.compile(r'"([^"]*)"[ \t\r\n]*:|"[^"]*"')
_HUGE_NUMBER = re.compile(r"\d{21}|[eE][+-]?0*[1-9]\d\d")


_DIGITS = str.maketrans("123456789", "000000000")
_EXPONENTS = ("e", "e+", "e-", "E", "E+", "E-")


def _maybe_huge(skeleton: str) -> bool:
    """Whether a number in the skeleton may have 21 digits or an exponent (cheap: found
    by substring search, not by a regular expression at every digit)."""
    digits = skeleton.translate(_DIGITS)
    return "0" * 21 in digits or any(e + "000" in digits for e in _EXPONENTS)


@dataclass
class Cost:
    """What json.loads of a text would build, counted on the text: `bytes` is an upper
    bound on the memory of its values (CPython, 64-bit), with each distinct key counted
    once (json shares a key among the objects that use it); `huge` numbers need gate's
    own parsing (OutOfRange), the others json's."""

    bytes: int = 0
    huge: int = 0


def json_cost(text: str, cap: int | None = None, brackets: list[str] | None = None) -> Cost:
    """The cost of parsing `text`; counting stops once it is above `cap`. The text's
    brackets, in order, are added to `brackets` as they are passed."""
    width = _width(text)
    cost = Cost()
    keys: set[str] = set()
    key_bytes = 0
    for chunk, skeleton in _pieces(text):
        objects, arrays = skeleton.count("{"), skeleton.count("[")
        colons, commas = skeleton.count(":"), skeleton.count(",")
        strings = chunk.count('"') // 2
        characters = len(chunk) - len(skeleton) - 2 * strings
        new = set(_KEY_OR_STRING.findall(chunk)) - keys  # keys' texts, "" for other strings
        key_bytes += sum(STRING + width * len(k) for k in new)
        keys |= new
        if brackets is not None:
            brackets.append(_NOT_BRACKET.sub("", skeleton))
        huge = len(_HUGE_NUMBER.findall(skeleton)) if _maybe_huge(skeleton) else 0
        scalars = max(0, commas + colons - strings + 1)  # values neither string nor container
        cost.huge += huge
        cost.bytes += (
            objects * OBJECT + colons * KEY + arrays * ARRAY
            + (commas + objects + arrays + 1) * SLOT
            + max(0, strings - colons) * STRING + width * characters
            + scalars * NUMBER + huge * HUGE
        )  # fmt: skip
        if cap is not None and cost.bytes + key_bytes > cap:
            break
    cost.bytes += key_bytes
    return cost


def _deeper(brackets: str, limit: int) -> bool:
    """Whether brackets nest more than `limit` deep: each pass removes the innermost
    pairs, so a well-formed text of depth d is gone after d passes. Brackets left
    unpaired mean the text is not JSON; it counts as too deep only when its parser
    could nest deeper than `limit` on its way to saying so."""
    brackets = brackets.translate(_OPEN_CLOSE)
    for _ in range(limit):
        inner = brackets.replace("()", "")
        if inner == brackets:
            return brackets.count("(") > limit
        brackets = inner
    return bool(brackets)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 10**7 else f"{n / 1e6:,.1f} MB"


def json_verdict(
    text: str,
    max_depth: int = MAX_DEPTH,
    max_cost: int | None = None,
    spent: int = 0,
    length: int | None = None,
) -> tuple[str | None, Cost]:
    """(why JSON text would cost more to parse than any document gate reads could, as a
    phrase for an error message, or None when it may be parsed; what it costs).

    `text` may be what is left of a document of `length` characters once a part of it was
    read otherwise (gate.values.sizerows), that part's values taking `spent` bytes."""
    length = len(text) if length is None else length
    cap = cost_cap(length) if max_cost is None else max_cost
    brackets: list[str] = []
    cost = json_cost(text, cap - spent, brackets)
    cost.bytes += spent
    if cost.bytes > cap:
        return (
            f"JSON values that would take more than {_megabytes(cap)} of memory "
            f"({_megabytes(length)} of text)"
        ), cost
    if _deeper("".join(brackets), max_depth):
        return f"arrays or objects nested deeper than {max_depth} levels", cost
    return None, cost


def json_excess(text: str, max_depth: int = MAX_DEPTH, max_cost: int | None = None) -> str | None:
    """Why JSON text would cost more to parse than any document gate reads could, as a
    phrase for an error message; None when it may be parsed."""
    return json_verdict(text, max_depth, max_cost)[0]


# Strings (each always matches once begun, unterminated or not, so the scan never retries
# from inside one: linear) and comments, left to right as TOML reads them.
_TOML_SKIP = re.compile(
    r'''"""(?:[^"\\]|\\[\s\S]?|"(?!""))*+(?:""")?'''
    r"|'''[\s\S]*?(?:'''|\Z)"
    r"""|"(?:[^"\\\n]|\\.?)*+"?"""
    r"|'[^'\n]*'?"
    r"|#[^\n]*"
)
_DOTS = re.compile(rf"(?:\.[ \t]*[\w-]*[ \t]*){{{MAX_KEY_PARTS}}}")


def _toml_skeleton(text: str) -> str:
    """The text with each string and comment one letter (a quoted key stays a key)."""
    return _TOML_SKIP.sub("s", text)


def toml_excess(text: str) -> str | None:
    """Why TOML text would cost more to parse than any policy could, as a phrase for an
    error message; None when tomllib may have it."""
    skeleton = _toml_skeleton(text)
    if skeleton.count("=") > MAX_KEYS:
        return f"more than {MAX_KEYS:,} keys"
    if _DOTS.search(skeleton):
        return f"a dotted key of more than {MAX_KEY_PARTS} parts"
    if _deeper(_NOT_BRACKET.sub("", skeleton), MAX_TOML_DEPTH):
        return f"arrays or tables nested deeper than {MAX_TOML_DEPTH} levels"
    return None


class OutOfRange(float):
    """A JSON number too large to compute with (more than gate.fetch.MAX_DIGITS digits, or
    beyond a float's range), read as an infinity that keeps its text for the error message."""

    text: str

    def __new__(cls, text: str) -> OutOfRange:
        number = super().__new__(cls, -math.inf if text.startswith("-") else math.inf)
        number.text = text
        return number
