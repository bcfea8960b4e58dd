"""`gate policy keys`: every policy key as a Markdown table (the README's "Every key" is
this output, held to it by tests/test_policy_keys.py), with what each built-in policy sets
it to, so a reader sees what applies without opening policies/."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gate.judge.policy import Key


def _toml(value: Any) -> str:
    """A value as a policy writes it: "8.5 MB", true, ["-s", "-w"], { ".text" = "4 MiB" }."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_keys(keys: Iterable[Key], builtins: Mapping[str, Mapping[str, Any]]) -> str:
    """One row a key: what it judges or sets, what its value looks like, and its value in
    each built-in policy that sets it (`builtins`: policy name -> key id -> as written)."""
    rows = []
    for key in keys:
        kind = "setting" if key.setting else "check"
        set_by = [
            f"{name}: `{_toml(rules[key.id])}`"
            for name, rules in builtins.items()
            if key.id in rules
        ]
        rows.append(
            [
                f"`{key.id}`",
                kind,
                _cell(key.what),
                _cell(key.value),
                _cell("; ".join(set_by)) or "—",
            ]
        )
    header = ["key", "kind", "judges, or sets", "value", "in the built-in policies"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
