"""One line per binary with the numbers gate exists for, whether or not a rule judges them:

    5.1 MiB (+2.9 MiB, +127.5% against svc), cold start p50 1.2 ms, p95 1.5 ms,
    max 2.0 ms (20 runs)

The text log and the Markdown summary both lead with it, so a passing gate still shows
size and start-up at a glance, and a red one shows how far it moved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gate.values.envelope import describe
from gate.values.units import format_signed_size, format_size

if TYPE_CHECKING:
    from gate.results.types import Entry


def size_part(entry: Entry) -> str | None:
    facts = entry.get("facts")
    if not facts:
        return None
    size = int(facts["file_size"])
    text = format_size(size)
    base = entry.get("compared_with")
    old = base.get("file_size") if base else None
    if base and old:
        pct = (size - old) / old * 100
        text += f" ({format_signed_size(size - old)}, {pct:+.1f}% against {base['name']})"
    return text


def startup_part(entry: Entry) -> str | None:
    startup = entry.get("startup")
    if not startup:
        return None
    stats = startup.get("stats")
    word = "cold start" if startup.get("cold") else "warm start"
    inside = describe(startup.get("envelope"))
    if inside:  # the envelope stands next to every start-up number
        word += f" ({inside})"
    runs = len(startup.get("runs") or ())
    failed = sum(not r["ok"] for r in startup.get("runs") or ())
    count = f"{runs} runs" + (f", {failed} failed" if failed else "")
    if not stats:
        return f"{word}: no successful start ({count})"
    text = (
        f"{word} p50 {stats['p50_ms']:.1f} ms, p95 {stats['p95_ms']:.1f} ms, "
        f"max {stats['max_ms']:.1f} ms ({count})"
    )
    base = entry.get("compared_with")
    old = base.get("p50_ms") if base else None
    if old:
        text += f", p50 {(stats['p50_ms'] / old - 1) * 100:+.1f}% against {old:.1f} ms"
    return text


def glance(entry: Entry) -> str:
    """Size and start-up of one binary in one line ("" when it could not be judged)."""
    return ", ".join(p for p in (size_part(entry), startup_part(entry)) if p)
