"""gate/read/symbols.py against the plain Python it replaces: the same ranking, the same
sums, on random string tables (repeated names, names cut from others' middles, many ties).

The reference is the obvious code: decode every name, sum by name in a dict, sort by
(-size, name). Each table is one seed of 300, so a failure names the table that broke.
"""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from gate.read.symbols import NO_NAME, Names, rank_keyed, rank_names

SEEDS = range(300)


def _table(rng: random.Random) -> tuple[bytes, list[int], list[int]]:
    """A string table, the name offsets of its symbols (some into a name's middle, some
    past the end) and their sizes (few distinct: ties are the rule, as in real binaries)."""
    alphabet = "ab" if rng.random() < 0.5 else "abcdefgh.é"
    words = ["".join(rng.choices(alphabet, k=rng.randint(0, 6))) for _ in range(rng.randint(1, 60))]
    words += rng.choices(words, k=rng.randint(0, 20))  # the same name at two offsets
    table = b"\0" + b"\0".join(w.encode() for w in words) + b"\0"
    starts = [i + 1 for i, byte in enumerate(table[:-1]) if byte == 0]
    offsets = []
    for _ in range(rng.randint(0, 200)):
        pick = rng.random()
        if pick < 0.8:
            offsets.append(rng.choice(starts))
        elif pick < 0.95:
            offsets.append(rng.randrange(len(table)))  # into a name's middle, or a NUL
        else:
            offsets.append(len(table) + rng.randint(0, 5))  # outside the table
    sizes = [rng.choice((1, 2, 8, 16, 16, 16, 300)) for _ in offsets]
    return table, offsets, sizes


def _name_at(table: bytes, offset: int) -> str | None:
    if offset >= len(table):
        return None
    return table[offset : table.index(b"\0", offset)].decode("utf-8", "replace")


@pytest.mark.parametrize("seed", SEEDS)
def test_ranked_names_are_the_plain_sum_and_sort(seed: int) -> None:
    rng = random.Random(seed)
    table, offsets, sizes = _table(rng)
    names = Names("t", table, max_string=1 << 20)
    ids = names.ids(offsets)
    ranked = rank_names(names.strings, ids, sizes, lambda name, total: (name, total))

    expected: dict[str, int] = defaultdict(int)
    for i, (offset, size) in enumerate(zip(offsets, sizes, strict=True)):
        name = _name_at(table, offset)
        assert (name is None) == (ids[i] == NO_NAME), (offset, name)
        if name is not None:
            expected[name] += size
    plain = sorted((e for e in expected.items() if e[1]), key=lambda e: (-e[1], e[0]))
    assert list(ranked) == plain
    assert len(ranked) == len(plain) and ranked.total() == sum(expected.values())
    for n in (0, 1, 3, len(plain) // 2, len(plain) + 1):
        assert ranked[:n] == plain[:n]  # the top N, found without the whole sort
    assert sorted(ranked.named()) == sorted(plain)


@pytest.mark.parametrize("seed", SEEDS[:100])
def test_keyed_ranking_keeps_equal_names_apart_by_detail(seed: int) -> None:
    rng = random.Random(seed)
    names = [rng.choice("abc") * rng.randint(1, 3) for _ in range(12)]
    keys = [(rng.randrange(len(names)), rng.randint(1, 3)) for _ in range(rng.randint(0, 80))]
    sizes = [rng.choice((4, 4, 8)) for _ in keys]
    ranked = rank_keyed(names, keys, sizes, lambda name, total, detail: (name, detail, total))

    expected: dict[tuple[str, int], int] = defaultdict(int)
    first: dict[tuple[str, int], int] = {}
    for (k, detail), size in zip(keys, sizes, strict=True):
        first.setdefault((names[k], detail), len(first))
        expected[names[k], detail] += size
    # Ties by name; one name in two sections keeps the order it was met in.
    plain = sorted(expected, key=lambda key: (-expected[key], key[0], first[key]))
    assert list(ranked) == [(name, detail, expected[name, detail]) for name, detail in plain]
