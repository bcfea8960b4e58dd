"""`gate diff` and the PR comment's "what changed" part, as text or Markdown.

A reviewer wants the few numbers that moved: unchanged rows are left out and counted,
the largest changes come first, and each list is capped.
"""

from __future__ import annotations

from gate.diff import BinaryDiff, Delta
from gate.explain import describe
from gate.report.markup import md as _md
from gate.report.markup import table as _table
from gate.units import format_signed_size, format_size

TOP = 10  # rows per list (sections, packages)


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


def _rows(b: BinaryDiff) -> list[tuple[str, list[list[str]], int]]:
    """(title, rows, how many more) per part that has something to show."""
    parts: list[tuple[str, list[list[str]], int]] = []
    top = [b.file_size] if b.file_size and b.file_size.kind != "same" else []
    top += [d for d in b.startup if d.kind != "same"]
    if top:
        parts.append(("", [_cells(d) for d in top], 0))
    for title, deltas in (("packages", b.packages), ("sections", b.sections)):
        if deltas:
            parts.append((title, [_cells(d) for d in deltas[:TOP]], len(deltas) - TOP))
    return parts


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
        for title, rows, more in parts:
            pad = "    " if title else "  "
            if title:
                lines.append(f"  {title}:")
            width = max(len(r[0]) for r in rows)
            for r in rows:
                lines.append(f"{pad}{r[0]:<{width}}  {r[1]:>10} -> {r[2]:>10}  {r[3]:>11}  {r[4]}")
            if more > 0:
                lines.append(f"{pad}… {more} more changed {title}")
            if not title and b.grew:
                lines.append(f"  grew: {describe(b.grew)}")
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
        for title, rows, more in parts:
            header = [title or "", "before", "after", "change", "%"]
            escaped = [[_md(c, 120) for c in r] for r in rows]
            lines += _table(header, escaped, title)
            if more > 0:
                lines += ["", f"… {more} more changed {title}"]
            lines.append("")
            if not title and b.grew:
                lines += [f"Grew: {_md(describe(b.grew), 600)}", ""]
        if b.checks:
            items = [
                f"{_md(c.check, 80)} {c.old or 'absent'} → **{c.new or 'absent'}**"
                for c in b.checks
            ]
            lines += ["Checks: " + ", ".join(items), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
