"""What JSON and TOML text may cost before gate parses it.

JSON (documents, baselines, API answers). Bytes do not bound what parsing costs:
`[{},{},...]` is three bytes an object, and each object is some 70 bytes of Python, so
30 MB of it took 900 MB. Two things do: how many values the text holds and how deep it
nests. Both are counted here on the text itself, before `json.loads`, in passes that
run in C a chunk at a time, so the count holds little beside the text (strings are
dropped first, escapes included, so a brace or comma inside a string does not count).

The cap on keys and values is MAX_VALUES plus one for every BYTES_PER_VALUE bytes of the
text. gate's own documents spend 7 bytes or more a value even rewritten without blanks
(`jq -c`; a results document of one Go service is 39 KB for 2,300 values as gate writes
it), so every document gate writes within the 32 MiB byte cap is read back, a merged one
of thousands of binaries included (tests/test_input_cost.py). What the cap refuses is
text denser than any of them: 30 MB of `{}` is ten million values, against a cap of 5.75
million. The costliest shape, objects of one key each, takes about 95 bytes a value, so a
small dense text parses into at most some 70 MB of objects. A valid text near the byte cap
as dense as gate's own may still take some ten times its size: bounding that needs a
reader that does not build every value at once, not a cap that would refuse gate's own
merged results.

TOML (policies). tomllib recurses once for each array or inline table inside another, so
500 of them exhaust Python's stack, and it spends time and memory with the square of a
dotted key's parts: one key of 20,000 parts (40 KB) took 1.6 GB. Policies need a few of
each: nesting, parts and keys are counted before tomllib sees the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

MAX_DEPTH = 20  # arrays and objects inside each other: a results document needs 8
MAX_VALUES = 750_000  # keys, values, arrays and objects together, in any text
BYTES_PER_VALUE = 6  # and one more for each this many bytes: gate's documents spend >= 7


def value_cap(length: int) -> int:
    """The most keys and values a JSON text of `length` characters may hold."""
    return MAX_VALUES + length // BYTES_PER_VALUE


MAX_TOML_DEPTH = 10  # arrays and inline tables inside each other: a policy needs 2
MAX_KEY_PARTS = 10  # parts of one dotted key: binary."svc-*".startup.runs has 4
MAX_KEYS = 10_000  # a policy sets tens; one setting 5 for each of 2,000 services is far

_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_OPEN_CLOSE = str.maketrans("[{]}", "(())")
_CHUNK = 1 << 20  # characters of JSON stripped of strings at a time


def _skeleton(text: str) -> Iterator[str]:
    """The text without its strings, a chunk at a time: dropping strings from all of it at
    once would hold a piece for each, some 50 bytes a value of a dense text.

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
        yield _STRING.sub("", text[start:end])
        start = end


def _values(skeleton: str) -> int:
    """Keys and values, all but at most one: every one but the last in its array or
    object is followed by a comma, every key by a colon, and each array or object is one."""
    return sum(skeleton.count(c) for c in ",:[{")


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


def json_excess(text: str, max_depth: int = MAX_DEPTH, max_values: int | None = None) -> str | None:
    """Why JSON text would cost more to parse than any document gate reads could, as a
    phrase for an error message; None when it may be parsed."""
    if max_values is None:
        max_values = value_cap(len(text))
    values = 1
    brackets = []
    for piece in _skeleton(text):
        values += _values(piece)
        if values > max_values:
            return f"more than {max_values:,} JSON keys and values"
        brackets.append(_NOT_BRACKET.sub("", piece))
    if _deeper("".join(brackets), max_depth):
        return f"arrays or objects nested deeper than {max_depth} levels"
    return None


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
