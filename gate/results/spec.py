"""How a JSON document read back is checked: one Spec per kind of value, each returning
the value in the validated form or raising Invalid with the JSON path and what was
expected. gate/results/schema.py declares gate/results/v1 with these; nothing here knows
that format.

Messages name the path the way jq would (`binaries[0].facts.file_size`), show the bad
value short and in JSON's spelling, and say what was expected: "expected a non-negative
integer, got NaN".
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from gate.values.textlimits import OutOfRange

MAX_UNSIGNED = 2**64 - 1  # every ELF field (sizes, addresses, counts) fits
MIN_SIGNED, MAX_SIGNED = -(2**63), 2**63 - 1
MAX_MAGNITUDE = 2.0**64  # any other number: sums and ratios of a few stay finite


class Invalid(Exception):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path or "(the document)"
        self.problem = problem


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _key_path(path: str, key: str) -> str:
    """`binaries[0].facts`, or `settings["-ldflags"]` for a key that is not a plain name."""
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{_quoted(key)}]"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quoted(text: str) -> str:
    """A string in JSON's quotes, cut, with anything unprintable escaped: one safe line."""
    import json

    quoted = json.dumps(clip(text, 40), ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)


def json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else type(value).__name__


def describe(value: Any) -> str:
    """A value as an error message shows it: short, on one line, in JSON's spelling."""
    if isinstance(value, OutOfRange):
        digits = value.text.lstrip("+-")
        if digits.isdigit():
            return f"a {len(digits)}-digit integer"
        return clip(value.text, 30)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 96:
            return f"an integer of {value.bit_length()} bits"
        return str(value)
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Spec:
    """What one value must be; `check` returns the value in the validated form."""

    expected = "a value"

    def check(self, value: Any, path: str) -> Any:
        raise NotImplementedError

    def fail(self, value: Any, path: str, bound: str = "") -> NoReturn:
        raise Invalid(path, f"expected {self.expected}{bound}, got {describe(value)}")


class Int(Spec):
    def __init__(self, minimum: int = 0, maximum: int = MAX_UNSIGNED) -> None:
        self.minimum, self.maximum = minimum, maximum
        self.expected = "a non-negative integer" if minimum == 0 else "an integer"

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(value, path)
        if value < self.minimum:
            self.fail(value, path)
        if value > self.maximum:
            self.fail(value, path, f" (at most {_power(self.maximum)})")
        return value


def _power(n: int) -> str:
    return {MAX_UNSIGNED: "2**64 - 1", MAX_SIGNED: "2**63 - 1"}.get(n, str(n))


class Num(Spec):
    def __init__(self, minimum: float = 0.0, maximum: float = MAX_MAGNITUDE) -> None:
        self.minimum, self.maximum = minimum, maximum
        if maximum == 1.0:
            self.expected = "a number from 0 to 1"
        elif minimum == 0.0:
            self.expected = "a non-negative number"
        else:
            self.expected = "a number"

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(value, path)
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(value, path)
        if value < self.minimum:
            self.fail(value, path)
        if value > self.maximum:
            self.fail(value, path, f" (at most {self.maximum:g})")
        return value


class Str(Spec):
    expected = "a string"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            self.fail(value, path)
        return _text(value)


def _text(value: str) -> str:
    """Text that can be written out as UTF-8: an unpaired surrogate (JSON can escape one,
    "\\udcff") becomes U+FFFD, the replacement character."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _text_keys(value: dict[str, Any]) -> None:
    """The object's keys as text (see _text); a key that changes moves to the end."""
    for key in [k for k in value if _text(k) != k]:
        value[_text(key)] = value.pop(key)


class Bool(Spec):
    expected = "true or false"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            self.fail(value, path)
        return value


class OneOf(Spec):
    def __init__(self, *choices: str | int) -> None:
        self.choices = choices
        self.expected = "one of " + ", ".join(
            f'"{c}"' if isinstance(c, str) else str(c) for c in choices
        )

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not any(
            type(value) is type(c) and value == c for c in self.choices
        ):
            self.fail(value, path)
        return value


class Null(Spec):
    """The inner value, or null."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner
        self.expected = f"{inner.expected} or null"

    def check(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        if isinstance(self.inner, Obj | Map | List | Pair):
            # A value of the right kind is checked inside (the error names the inner path).
            if not isinstance(value, dict if isinstance(self.inner, Obj | Map) else list):
                self.fail(value, path)
            return self.inner.check(value, path)
        try:
            return self.inner.check(value, path)
        except Invalid as exc:
            wrong = f"expected {self.inner.expected}"
            if exc.path != path or not exc.problem.startswith(wrong):
                raise
            problem = self.expected.join(exc.problem.split(self.inner.expected, 1))
            raise Invalid(path, problem) from None


class List(Spec):
    def __init__(self, item: Spec, what: str) -> None:
        self.item = item
        self.expected = what

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list):
            self.fail(value, path)
        for i, item in enumerate(value):
            value[i] = self.item.check(item, f"{path}[{i}]")
        return value


class Pair(Spec):
    """[low, high]: an interval."""

    def __init__(self, item: Spec) -> None:
        self.item = item
        self.expected = f"[low, high] ({item.expected})"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, list) or len(value) != 2:
            self.fail(value, path)
        for i, item in enumerate(value):
            value[i] = self.item.check(item, f"{path}[{i}]")
        return value


class Map(Spec):
    """An object with any keys and values of one kind (Go settings, CI bounds)."""

    def __init__(self, value: Spec, what: str, defaults: Mapping[str, Any] | None = None) -> None:
        self.value = value
        self.expected = what
        self.defaults = defaults or {}

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.fail(value, path)
        _text_keys(value)
        for key, item in value.items():
            value[key] = self.value.check(item, _key_path(path, key))
        for key, default in self.defaults.items():
            if key not in value:
                value[key] = _fresh(default)
        return value


def _fresh(default: Any) -> Any:
    return list(default) if isinstance(default, list | tuple) else default


Default = Callable[[dict[str, Any]], Any]


def required(obj: dict[str, Any]) -> Any:
    """The default of a key that must be there: a marker, never called."""
    raise AssertionError("a required key has no default")


@dataclasses.dataclass(frozen=True)
class Field:
    spec: Spec
    default: Default


def req(spec: Spec) -> Field:
    return Field(spec, required)


def opt(spec: Spec, default: Any) -> Field:
    """An optional key: a constant default (a list default is copied for each object)."""
    return Field(spec, lambda obj: _fresh(default))


def derived(spec: Spec, default: Default) -> Field:
    """An optional key whose default follows from the keys checked before it."""
    return Field(spec, default)


class Obj(Spec):
    """An object with known keys, checked in order; unknown keys are kept, as plain JSON."""

    def __init__(self, what: str, fields: dict[str, Field]) -> None:
        self.fields = fields
        self.expected = f"{what} (an object)"

    def check(self, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.fail(value, path)
        for key, field in self.fields.items():
            where = _key_path(path, key)
            if key in value:
                value[key] = field.spec.check(value[key], where)
            elif field.default is required:
                raise Invalid(where, f"missing; expected {field.spec.expected}")
            else:
                value[key] = field.default(value)
        _text_keys(value)
        for key, item in value.items():
            if key not in self.fields:
                value[key] = JSON.check(item, _key_path(path, key))
        return value


class AnyJSON(Spec):
    """Any JSON value with finite, 64-bit numbers: measured values, limits, unknown keys."""

    expected = "a JSON value"

    def check(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return _text(value)
        if isinstance(value, int):
            if not MIN_SIGNED <= value <= MAX_UNSIGNED:
                raise Invalid(path, f"expected a 64-bit integer, got {describe(value)}")
        elif isinstance(value, float):
            if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
                raise Invalid(path, f"expected a finite number, got {describe(value)}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = self.check(item, f"{path}[{i}]")
        elif isinstance(value, dict):
            _text_keys(value)
            for key, item in value.items():
                value[key] = self.check(item, _key_path(path, key))
        else:
            self.fail(value, path)
        return value


JSON = AnyJSON()
