"""`gate diff` and the PR comment's "what changed" part, as text or Markdown.

A reviewer wants the few numbers that moved: unchanged rows are left out and counted,
the largest changes come first, and each list is capped.
"""

from __future__ import annotations

from gate.judge.diff import BinaryDiff, Delta
from gate.judge.explain import describe, toolchain_note
from gate.report.markup import md as _md
from gate.report.markup import table as _table
from gate.values.units import format_signed_size, format_size

TOP = 10  # rows per list (sections, packages)
# NOBITS sections (.bss, .noptrbss) take memory when the program runs and no file bytes:
# listed apart, so the file's change is read from the sections that make it.
MEMORY = "in memory only (NOBITS, no file bytes)"


def _size(value: float | None) -> str:
    return "—" if value is None else format_size(int(value))


def _signed_size(value: float | None) -> str:
    if value is None:
        return "—"
    return format_signed_size(value)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def _signed_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f} ms"


def _percent(d: Delta) -> str:
    if d.kind in ("new", "removed"):
        return d.kind
    pct = d.percent
    return "—" if pct is None else f"{pct:+.1f}%"


def _cells(d: Delta) -> list[str]:
    """[name, old, new, change, %] with the units the row's name implies."""
    if d.name.endswith(" ms"):
        return [d.name[:-3], _ms(d.old), _ms(d.new), _signed_ms(d.change), _percent(d)]
    return [d.name, _size(d.old), _size(d.new), _signed_size(d.change), _percent(d)]


def _rows(b: BinaryDiff) -> list[tuple[str, list[list[str]], str]]:
    """(title, rows, the line saying how many more) per part that has something to show."""
    parts: list[tuple[str, list[list[str]], str]] = []
    top = [b.file_size] if b.file_size and b.file_size.kind != "same" else []
    top += [d for d in b.startup if d.kind != "same"]
    if top:
        parts.append(("", [_cells(d) for d in top], ""))
    lists = (("packages", "packages", b.packages), ("sections", "sections", b.sections),
             (f"sections {MEMORY}", "sections in memory only", b.memory))  # fmt: skip
    for title, noun, deltas in lists:
        if deltas:
            more = f"… {len(deltas) - TOP} more changed {noun}" if len(deltas) > TOP else ""
            parts.append((title, [_cells(d) for d in deltas[:TOP]], more))
    return parts


def _notes(b: BinaryDiff) -> list[str]:
    """What explains the change: what grew, a new toolchain, and a warning when start-up
    was measured in two envelopes (the numbers then moved with the envelope)."""
    notes = [f"grew: {describe(b.grew, go=b.go)}"] if b.grew else []
    notes += [toolchain_note(b.toolchain)] if b.toolchain else []
    return notes + ([f"warning: {b.envelope}"] if b.envelope else [])


def render_diff_text(diffs: list[BinaryDiff]) -> str:
    lines: list[str] = []
    for b in diffs:
        head = b.name if b.kind == "changed" else f"{b.name} ({b.kind})"
        if b.compared_with:
            head += f" (compared with {b.compared_with})"
        lines.append(head)
        parts = _rows(b)
        if not parts and not b.checks:
            lines.append("  no change")
        if not parts or parts[0][0]:  # no file size row to put them under
            lines += [f"  {note}" for note in _notes(b)]
        for title, rows, more in parts:
            pad = "    " if title else "  "
            if title:
                lines.append(f"  {title}:")
            width = max(len(r[0]) for r in rows)
            for r in rows:
                lines.append(f"{pad}{r[0]:<{width}}  {r[1]:>10} -> {r[2]:>10}  {r[3]:>11}  {r[4]}")
            if more:
                lines.append(f"{pad}{more}")
            if not title:
                lines += [f"  {note}" for note in _notes(b)]
        if b.checks:
            lines.append("  checks:")
            for c in b.checks:
                lines.append(f"    {c.check}: {c.old or 'absent'} -> {c.new or 'absent'}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n" if lines else "no binaries\n"


def render_diff_markdown(diffs: list[BinaryDiff]) -> str:
    lines: list[str] = []
    for b in diffs:
        suffix = "" if b.kind == "changed" else f" ({b.kind})"
        if b.compared_with:
            suffix += f" (compared with {_md(b.compared_with, 80)})"
        lines += [f"**{_md(b.name, 80)}**{suffix}", ""]
        parts = _rows(b)
        if not parts and not b.checks:
            lines += ["no change", ""]
        notes = [_md(n[0].upper() + n[1:], 600) for n in _notes(b)]
        if not parts or parts[0][0]:  # no file size row to put them under
            lines += [x for note in notes for x in (note, "")]
        for title, rows, more in parts:
            header = [title or "", "before", "after", "change", "%"]
            escaped = [[_md(c, 120) for c in r] for r in rows]
            lines += _table(header, escaped, title)
            if more:
                lines += ["", more]
            lines.append("")
            if not title:
                lines += [x for note in notes for x in (note, "")]
        if b.checks:
            items = [
                f"{_md(c.check, 80)} {c.old or 'absent'} → **{c.new or 'absent'}**"
                for c in b.checks
            ]
            lines += ["Checks: " + ", ".join(items), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
