"""gate.values.sizerows: a size document's rows, read as columns only when they are exactly what
gate writes, and then to the same values json reads; and `size --against` built on them
lists the same rows as gate.judge.diff ranking every name would."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace
from typing import Any

import pytest

from gate import fetch
from gate.errors import SourceError
from gate.judge.diff import Side, whole_growth
from gate.judge.explain import toolchain_of
from gate.read.sections import Entry
from gate.report.size import render_size_text, size_json
from gate.results import size as sizedoc
from gate.values.sizerows import SizeRows

NAMES = ["main.f", "", 'q"uote', "back\\slash", "\u202eevil", "caf\u00e9", "\U0001d11e", "a\nb"]


def _doc(rows: list[tuple[str, int]]) -> str:
    """A size document as gate writes it (gate/report/size.py size_json)."""
    doc: dict[str, Any] = {
        "schema": sizedoc.SIZE_SCHEMA, "binary": "svc", "file_size": 10**6, "by": "symbol",
        "pclntab": None, "bss": 0, "warnings": [],
        "entries": sizedoc.Rows([Entry(n, b) for n, b in rows]), "entries_total": len(rows),
        "groups": [], "covered": None, "toolchain": None, "against": None,
    }  # fmt: skip
    return size_json(doc)


def _read(text: str) -> Any:
    return fetch.parse_json(text.encode(), "doc.json")


def test_gate_rows_are_read_as_columns_with_json_values() -> None:
    rows = [(n, i * 7) for i, n in enumerate(NAMES)] + [("big", 10**19 - 1), ("zero", 0)]
    text = _doc(rows)
    doc = _read(text)
    assert isinstance(doc["entries"], SizeRows)
    assert list(doc["entries"]) == json.loads(text)["entries"]
    assert doc["entries"][2] == {"name": 'q"uote', "bytes": 14}
    big, zero = {"name": "big", "bytes": 10**19 - 1}, {"name": "zero", "bytes": 0}
    assert doc["entries"][-2:] == [big, zero]
    assert {**doc, "entries": None} == {**json.loads(text), "entries": None}


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace('"bytes":7}', '"bytes": 7}'),  # not gate's spacing
        lambda t: t.replace('"bytes":7}', '"bytes":07}'),  # not JSON at all
        lambda t: t.replace('"bytes":7}', '"bytes":12345678901234567890}'),  # 20 digits
        lambda t: t.replace('"bytes":7}', '"bytes":7.5}'),
        lambda t: t.replace('"bytes":7}', '"bytes":7}{"name":"x","bytes":1}'),
        lambda t: t.replace('"bytes":7},', '"bytes":7},,'),
        lambda t: t.replace('"against": null', '"against": null, "entries": 5'),  # last wins
        lambda t: t.replace('"name":"main.f"', '"name":"\\x"'),  # a bad escape
    ],
    ids=["spacing", "leading-zero", "20-digits", "float", "glued", "comma", "twice", "escape"],
)
def test_any_other_text_is_json_s_to_read(change: Any) -> None:
    text = change(_doc([(n, i * 7 + 7) for i, n in enumerate(NAMES)]))
    assert text != _doc([(n, i * 7 + 7) for i, n in enumerate(NAMES)])
    try:
        expected = json.loads(text)
    except json.JSONDecodeError:
        with pytest.raises(SourceError, match="not JSON"):
            _read(text)
        return
    doc = _read(text)
    assert not isinstance(doc.get("entries"), SizeRows)
    if isinstance(expected["entries"], list):  # 20 digits: OutOfRange, equal as infinity
        assert [r["name"] for r in doc["entries"]] == [r["name"] for r in expected["entries"]]
    else:
        assert doc == expected


def _attr(entries: dict[str, int], file_size: int) -> Any:
    ranked = tuple(Entry(n, b) for n, b in sorted(entries.items(), key=lambda kv: (-kv[1], kv[0])))
    return SimpleNamespace(
        symbols=ranked, sections=(Entry("code", file_size),), file_size=file_size,
        data_symbols=None, pclntab=None, bss=0, warnings=(),
    )  # fmt: skip


def _reference(new: Any, old: Side, top: int | None) -> list[dict[str, Any]]:
    """The rows as size_document listed them when gate.judge.diff ranked every name."""
    rows = whole_growth(sizedoc.side_of(new, "symbol"), old)
    names = [g for g in rows if g.group is None]
    shown = {id(g) for g in names[:top]} | {id(g) for g in rows if g.group is not None}
    return [sizedoc._row(g) for g in rows if id(g) in shown]


@pytest.mark.parametrize("top", [None, 1, 3, 20, 150, 1000])
def test_against_lists_the_rows_gate_diff_ranks(top: int | None) -> None:
    rng = random.Random(top)
    new: dict[str, int] = {}
    old: dict[str, int] = {}
    for _ in range(400):
        size = rng.choice([1, 2, 3, 50, rng.randrange(1, 10_000)])
        kind = rng.choice(["same"] * 5 + ["grown", "shrunk", "new", "removed"])
        name = f"f{rng.randrange(10**6):06d}"
        if kind != "removed":
            new[name] = size if kind != "grown" else size + rng.randrange(1, 9)
        if kind != "new":
            old[name] = size if kind != "shrunk" else size + rng.randrange(1, 9)
    attr = _attr(new, 10**6)
    old_side = Side(10**6 + 5, old, {"code": 10**6 + 5}, None)

    def fresh(*_: Any) -> tuple[str, Side, Any]:  # a dict of its own, as against_view's
        return "old", Side(10**6 + 5, dict(old), old_side.groups), toolchain_of(None)

    compared = sizedoc.compare("svc", attr, "symbol", fresh(), toolchain_of(None))
    assert len(compared.same) > 100
    doc = sizedoc.size_document("svc", attr, "symbol", top, compared)
    assert list(doc["against"]["entries"]) == _reference(attr, old_side, top)
    every = _reference(attr, old_side, None)
    hidden = [r for r in every if r not in doc["against"]["entries"]]
    assert doc["against"]["changed_total"] == sum(r["status"] != "same" for r in every)
    assert doc["against"]["unlisted"] == {
        "changed": sum(r["status"] != "same" for r in hidden),
        "delta": sum(r["delta"] for r in hidden),
    }
    assert render_size_text(doc, top).count("\n") > 3
