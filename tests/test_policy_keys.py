"""A policy key is declared once (gate/judge/policy.py KEYS), and everything else follows
it or fails here with the key named: a check's function in gate/judge/checks.py, the
README's table of keys (`gate policy keys`), the README's example policy, and the
built-in policies.

Before KEYS, policy.SCHEMA and judge.CHECKS were parallel: a key added to the schema only
passed validation, then raised KeyError when judged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from gate.judge.checks import CHECKS, Context, judge
from gate.judge.policy import KEYS, SCHEMA, SETTINGS, builtin_names, builtin_values, load_policy
from gate.report.keys import render_keys

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BEGIN, END = "<!-- gate policy keys -->\n", "<!-- end gate policy keys -->"


def test_every_judged_key_has_a_check_and_every_check_a_key() -> None:
    judged = {k.id for k in KEYS if not k.setting}
    assert sorted(judged - CHECKS.keys()) == [], "judged keys without a function in CHECKS"
    assert sorted(CHECKS.keys() - judged) == [], "functions in CHECKS without a judged key"


def test_the_schema_and_the_settings_are_made_from_the_keys() -> None:
    ids = [k.id for k in KEYS]
    assert len(ids) == len(set(ids)), "a key declared twice"
    assert {f"{area}.{name}" for area, names in SCHEMA.items() for name in names} == set(ids)
    assert {k.id for k in KEYS if k.setting} == SETTINGS
    assert all(k.what and k.value for k in KEYS)


def test_a_policy_of_every_check_is_judged_without_a_missing_function() -> None:
    """Every judged key's rule reaches its function: judge() on a policy that sets them all
    (values from the README's example) returns one result per check or a reason it skips,
    never a KeyError."""
    from gate.read.facts import inspect_binary
    from gate.results.build import facts_to_dict

    path = _readme_policy()
    try:
        rules = load_policy(str(path)).rules
    finally:
        path.unlink()
    facts = facts_to_dict(inspect_binary(sys.executable))
    results = judge(
        {k: r for k, r in rules.items() if k not in SETTINGS}, Context(facts, None, None)
    )
    judged = {k.id for k in KEYS if not k.setting}
    reached = {r.id.split(":", 1)[0] for r in results}  # size.max_section:.text
    assert judged <= reached, sorted(judged - reached)


def _readme_policy() -> Path:
    """The README's example policy, as a file (its `extends` is a built-in name)."""
    text = README.read_text(encoding="utf-8")
    start = text.index("## Policies")
    block = re.search(r"```toml\n(.*?)```", text[start:], re.S)
    assert block is not None
    path = Path(tempfile.gettempdir()) / f"gate-readme-policy-{os.getpid()}.toml"
    path.write_text(block.group(1))
    return path


def test_the_readme_example_sets_every_key() -> None:
    path = _readme_policy()
    try:
        doc = tomllib.loads(path.read_text())
        written = {
            f"{area}.{key}"
            for area, body in doc.items()
            if area in SCHEMA
            for key in body
            if key != "severity"
        }
        load_policy(str(path))  # and every value in it is valid
    finally:
        path.unlink()
    assert sorted({k.id for k in KEYS} - written) == [], "keys the README's example leaves out"


def test_the_readme_table_is_gate_policy_keys() -> None:
    text = README.read_text(encoding="utf-8")
    shown = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    made = render_keys(KEYS, builtin_values())
    assert shown == made, "README's table of keys differs: paste the output of `gate policy keys`"
    out = subprocess.run(
        [sys.executable, "-m", "gate", "policy", "keys"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert out == made


def test_the_table_shows_what_each_builtin_policy_sets() -> None:
    """The last column is each built-in policy's own value, read independently here from
    its TOML (after `extends`, as gate policy show resolves it)."""
    table = render_keys(KEYS, builtin_values())
    row = next(line for line in table.splitlines() if line.startswith("| `startup.timeout`"))
    for name in builtin_names():
        chain: list[dict[str, object]] = []
        current: str | None = name
        while current:
            doc = tomllib.loads((ROOT / "policies" / f"{current}.toml").read_text())
            chain.append(doc)
            current = str(doc.get("policy", {}).get("extends", "")) or None
        timeout = next(
            (d["startup"]["timeout"] for d in chain if "timeout" in d.get("startup", {})), None
        )
        assert (f'{name}: `"{timeout}"`' in row) == (timeout is not None), (name, row)
