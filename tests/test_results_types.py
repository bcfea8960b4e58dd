"""gate/results/v1 is declared twice, for two readers: gate/results/schema.py checks JSON
(bounds, defaults), gate/results/types.py lets mypy check every consumer. Both are held
here to the same keys and kinds, object by object; FACTS also to gate/read/facts.py's
BinaryFacts (facts_to_dict writes its fields as the keys), and the schema's docstring
names every key of the objects it describes. A key added to one and not the others fails
with its JSON path."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import pytest

from gate.read import facts as read_facts
from gate.results import schema, spec
from gate.results import types as doc_types


def _is_typeddict(t: Any) -> bool:
    return isinstance(t, type) and typing.is_typeddict(t)


def _without_none(t: Any) -> tuple[Any, bool]:
    """(t without None, whether None was in it)."""
    if get_origin(t) in (Union, types.UnionType):
        args = [a for a in get_args(t) if a is not type(None)]
        nullable = len(args) < len(get_args(t))
        return (args[0] if len(args) == 1 else Union[tuple(args)]), nullable  # noqa: UP007
    return t, False


def mismatches(check: spec.Spec, t: Any, path: str) -> list[str]:
    """Where the spec `check` and the type `t` disagree, by JSON path."""
    if isinstance(check, spec.Null):
        inner, nullable = _without_none(t)
        if not nullable:
            return [f"{path}: the schema allows null, the type does not"]
        return mismatches(check.inner, inner, path)
    t, nullable = _without_none(t)
    if nullable:
        return [f"{path}: the type allows None, the schema does not"]
    if isinstance(check, spec.AnyJSON):
        return [] if t is Any else [f"{path}: any JSON value in the schema, {t} in the type"]
    if isinstance(check, spec.Bool):
        return [] if t is bool else [f"{path}: a boolean in the schema, {t} in the type"]
    if isinstance(check, spec.Int):
        return [] if t is int else [f"{path}: an integer in the schema, {t} in the type"]
    if isinstance(check, spec.Num):
        return [] if t is float else [f"{path}: a number in the schema, {t} in the type"]
    if isinstance(check, spec.Str):
        return [] if t is str else [f"{path}: a string in the schema, {t} in the type"]
    if isinstance(check, spec.OneOf):
        if get_origin(t) is not Literal or set(get_args(t)) != set(check.choices):
            return [f"{path}: one of {check.choices} in the schema, {t} in the type"]
        return []
    if isinstance(check, spec.List | spec.Pair):
        if get_origin(t) is not list:
            return [f"{path}: a list in the schema, {t} in the type"]
        return mismatches(check.item, get_args(t)[0], f"{path}[]")
    if isinstance(check, spec.Map):
        if get_origin(t) is not dict or get_args(t)[0] is not str:
            return [f"{path}: an object of any keys in the schema, {t} in the type"]
        return mismatches(check.value, get_args(t)[1], f"{path}{{}}")
    if isinstance(check, spec.Obj):
        if not _is_typeddict(t):
            return [f"{path}: an object in the schema, {t} in the type"]
        hints = get_type_hints(t)
        problems = [
            f"{path}.{k}: in the schema, not in the type"
            for k in check.fields.keys() - hints.keys()
        ]
        problems += [
            f"{path}.{k}: in the type, not in the schema"
            for k in hints.keys() - check.fields.keys()
        ]
        for key in check.fields.keys() & hints.keys():
            if path.count(".") > 12:  # Module.replace is a Module: once is enough
                break
            problems += mismatches(check.fields[key].spec, hints[key], f"{path}.{key}")
        return problems
    return [f"{path}: {type(check).__name__} has no rule here"]


def test_the_schema_and_the_types_agree_on_every_key() -> None:
    assert mismatches(schema.DOCUMENT, doc_types.Document, "") == []


@pytest.mark.parametrize(
    ("check", "t", "found"),
    [
        (spec.Null(spec.Int()), int, "the schema allows null"),
        (spec.Int(), int | None, "the type allows None"),
        (spec.Num(), int, "a number in the schema"),
        (spec.OneOf("a", "b"), Literal["a"], "one of"),
        (spec.List(spec.Str(), "strings"), list[int], "a string in the schema"),
        (spec.Obj("x", {"a": spec.req(spec.Int())}), doc_types.Shard, "in the schema, not"),
    ],
)
def test_the_comparison_finds_a_disagreement(check: spec.Spec, t: Any, found: str) -> None:
    problems = mismatches(check, t, "x")
    assert problems and found in problems[0], problems


def test_facts_are_binaryfacts_fields() -> None:
    """facts_to_dict is dataclasses.asdict: the FACTS keys are BinaryFacts' fields (with
    `elf_class` written as `class`), nested dataclasses included."""

    def fields(cls: Any, t: Any, path: str, seen: frozenset[Any]) -> list[str]:
        names = {f.name: f for f in dataclasses.fields(cls)}
        hints = get_type_hints(t)
        wanted = {("class" if n == "elf_class" else n) for n in names}
        problems = [f"{path}.{k}: a field, not a FACTS key" for k in wanted - hints.keys()]
        problems += [f"{path}.{k}: a FACTS key, not a field" for k in hints.keys() - wanted]
        cls_hints = get_type_hints(cls)
        for name in names:
            inner, _ = _without_none(cls_hints[name])
            if get_origin(inner) in (list, tuple):
                inner = get_args(inner)[0]
            key = "class" if name == "elf_class" else name
            if dataclasses.is_dataclass(inner) and key in hints and inner not in seen:
                sub, _ = _without_none(hints[key])
                if get_origin(sub) is list:
                    sub = get_args(sub)[0]
                problems += fields(inner, sub, f"{path}.{key}", seen | {inner})
        return problems

    assert fields(read_facts.BinaryFacts, doc_types.Facts, "facts", frozenset()) == []


# The schema docstring's sections and the objects they describe (FACTS: the fields of
# BinaryFacts, checked above).
DESCRIBED = {
    "BASELINE": ("baseline",),
    "ENTRY": ("binaries",),
    "REMEDY": ("binaries", "remedies"),
    "TIMINGS": ("binaries", "timings"),
    "CHECK": ("binaries", "checks"),
    "STARTUP": ("binaries", "startup"),
    "ENVELOPE": ("binaries", "startup", "envelope"),
    "RUN": ("binaries", "startup", "runs"),
    "STATS": ("binaries", "startup", "stats"),
    "AGAINST": ("binaries", "startup", "against"),
    "BREAKDOWN": ("binaries", "startup", "breakdown"),
    "ATTRIBUTION": ("binaries", "attribution"),
}


def _object_at(path: tuple[str, ...]) -> spec.Obj:
    node: spec.Spec = schema.DOCUMENT
    for key in path:
        assert isinstance(node, spec.Obj)
        node = node.fields[key].spec
        while isinstance(node, spec.Null | spec.List):
            node = node.inner if isinstance(node, spec.Null) else node.item
    assert isinstance(node, spec.Obj)
    return node


def _sections(doc: str) -> dict[str, str]:
    """The docstring's `NAME: ...` paragraphs (the document's own is `schema ...`)."""
    out: dict[str, str] = {}
    name = "DOCUMENT"
    for line in doc.splitlines():
        m = re.match(r"\s{2}([A-Z]+): ", line)
        if m:
            name = m.group(1)
        elif not line.startswith("    ") and not line.startswith("  "):
            continue
        out[name] = out.get(name, "") + " " + line
    return out


def test_the_docstring_names_every_key() -> None:
    sections = _sections(schema.__doc__ or "")
    missing = []
    for name, path in {**DESCRIBED, "DOCUMENT": ()}.items():
        obj = schema.DOCUMENT if not path else _object_at(path)
        words = set(re.findall(r"[a-z_0-9]+", sections.get(name, "")))
        missing += [f"{name}.{key}" for key in obj.fields if key not in words]
    assert missing == [], "keys the schema's docstring does not name: " + ", ".join(missing)
