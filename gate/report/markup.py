"""Formatting every renderer and the judge share, so a number reads the same everywhere.

- the start-up breakdown as lines for a person (`breakdown_lines`, `breakdown_text`) and
  the output failed starts left (`output_tail`, `failed_output`);
- the "What to try" section of a binary's remedies (`remedy_lines`, `saving_text`), the
  same in the text log, JUnit, Markdown and the PR comment;
- a percentile of the start-up statistics picked by name (`percentile_ms`);
- untrusted text made literal for Markdown (`md`) or inside HTML (`html`), Markdown tables
  (`table`) and fenced blocks (`code_block`).

Units themselves (parsing and the plain "8.5 MiB", "1.2 ms") are gate/values/units.py's, a
number next to its limit ("+123.46 KB (+1.5%)") gate/values/wording.py's, a terminal's
escapes gate/values/escape.py's. Nothing here measures or judges.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gate.values.units import format_duration, format_size
from gate.values.wording import is_number

if TYPE_CHECKING:
    from gate.results.types import Remedy, Startup, Stats
    from gate.run.breakdown import Breakdown, LoaderStats

MAX_ROWS = 50  # per Markdown table; the rest is counted in a "… N more" line
MAX_CELL = 300  # characters of one untrusted value before it is cut

# ---------------------------------------------------------------- the start-up breakdown


def breakdown_lines(b: Breakdown, top: int = 5) -> list[str]:
    """Short lines for a person: the slowest inits, the loader's share, faults, the note."""
    lines: list[str] = []
    if b.inits:
        how = [f"median of {b.runs} runs"] if b.runs > 1 else []
        if b.throttle is not None:
            how.append("without the CPU quota")
        said = f" ({', '.join(how)})" if how else ""
        lines.append(
            f"Go package inits: {b.init_count}, {format_duration(b.init_clock_ms)} in all{said};"
            " slowest:"
        )
        for i in b.inits[:top]:
            spread = f" (spread {format_duration(i.spread_ms)})" if b.runs > 1 else ""
            alloc = f", {format_size(i.bytes)} allocated" if i.bytes else ""
            lines.append(f"init {i.package} {format_duration(i.clock_ms)}{spread}{alloc}")
    held = b.throttle.throttled_ms if b.throttle is not None else None
    if b.throttle is not None and held is not None:
        from gate.values.envelope import quota_held

        said = quota_held(b.throttle.cpus, held, b.throttle.wall_ms, b.start_ms)
        lines.append(f"CPU quota: {said}")
    if b.loader:
        lines.append(_loader_line(b.loader))
    if b.gomaxprocs is not None:
        lines.append(f"GOMAXPROCS at start: {b.gomaxprocs} (GODEBUG=schedtrace)")
    if b.faults is not None:
        major, minor = b.faults["major"], b.faults["minor"]
        lines.append(f"page faults per run (median): {major:g} major, {minor:g} minor")
    if b.note:
        lines.append(f"note: {b.note}")
    return lines


def _loader_line(s: LoaderStats) -> str:
    counts = f"{s.relocations:,} relocations, {s.relative_relocations:,} relative"
    if s.total_cycles is None:
        return f"dynamic loader: {counts}"
    share = f"{s.relocation_percent:.1f}%" if s.relocation_percent is not None else "?"
    return f"dynamic loader: relocation {share} of {s.total_cycles:,} cycles, {counts}"


def breakdown_text(startup: Startup | None) -> str:
    """A STARTUP's breakdown (slowest inits, loader work, faults) as plain lines, "" without
    one. The page faults are the start-up's own (`faults`, the medians the results carry)
    when `startup` has them, so they read as every other report shows them."""
    found = startup["breakdown"] if startup else None
    if startup is None or found is None:
        return ""
    faults = startup["faults"] if "faults" in startup else found.get("faults")
    medians = None if faults is None else {"major": faults["major"], "minor": faults["minor"]}
    return found_breakdown_text(found, medians)


def found_breakdown_text(
    found: Mapping[str, Any] | None, faults: Mapping[str, float] | None
) -> str:
    """breakdown_text of a breakdown as breakdown_to_dict writes it (`gate startup
    --breakdown`, which has no results document), with the timed runs' median `faults`."""
    if found is None:
        return ""
    from gate.run.breakdown import breakdown_from_dict

    try:
        b = breakdown_from_dict(found)
    except TypeError:  # keys a later gate added, which these dataclasses do not take
        return ""
    lines = breakdown_lines(replace(b, faults=faults))
    return "\n".join(["start-up breakdown:", *lines]) if lines else ""


# ---------------------------------------------------------------- percentiles


def percentile_ms(stats: Stats, key: str) -> float:
    """STATS' `<key>_ms` for a percentile named as in QUANTILES (p50, p90, p95, p99): the
    keys spelt out, so that a renderer choosing one by name still has every read checked."""
    by_name = {
        "p50": stats["p50_ms"],
        "p90": stats["p90_ms"],
        "p95": stats["p95_ms"],
        "p99": stats["p99_ms"],
    }
    return by_name[key]


# ---------------------------------------------------------------- what to try (remedies)

WHAT_TO_TRY = "What to try"
MAX_REMEDIES = 8  # per binary (or per check); the results JSON has every one
MAX_EVIDENCE = 600  # characters of one remedy's evidence (package names come from the binary)


def saving_text(saving: float | None, unit: str | None) -> str:
    """A remedy's expected saving as every report shows it; "" when gate cannot say."""
    if not is_number(saving):
        return ""
    if unit == "bytes":
        return f"{format_size(int(saving))} ({int(saving):,} bytes)"
    if unit == "ms":  # below a millisecond (the dynamic loader's), two significant digits
        return format_duration(float(saving)) if saving >= 1 else f"{saving:.2g} ms"
    if unit == "cycles":
        return f"{int(saving):,} cycles of the dynamic loader"
    return f"{saving:g} {unit}" if unit else f"{saving:g}"


def remedy_lines(
    remedies: Iterable[Remedy] | None,
    check_id: str | None = None,
    escape: Callable[[str], str] | None = None,
    *,
    markdown: bool = False,
) -> list[str]:
    """The "What to try" section for a binary's remedies (the results' `remedies`), or only
    those answering `check_id`; [] when there are none.

    Each remedy: its title, the checks it answers, its evidence and its expected saving.
    `escape` makes the text safe for the format (titles and evidence name packages from
    the binary); plain text is cut to one line each. `markdown` gives a heading and one
    list item per remedy; otherwise a heading line and a few indented lines per remedy.
    """
    esc = escape or (lambda text: one_line(text, MAX_EVIDENCE))
    chosen = [
        r
        for r in remedies or ()
        if isinstance(r, Mapping) and (check_id is None or check_id in (r.get("checks") or ()))
    ]
    if not chosen:
        return []
    lines = [f"**{WHAT_TO_TRY}**", ""] if markdown else [f"{WHAT_TO_TRY}:"]
    for r in chosen[:MAX_REMEDIES]:
        title, evidence = esc(str(r.get("title", ""))), esc(str(r.get("evidence", "")))
        checks = ", ".join(esc(str(c)) for c in r.get("checks") or ())
        answers = f" ({checks})" if checks and check_id is None else ""
        saving = saving_text(r.get("saving"), r.get("unit"))
        if markdown:
            line = f"- **{title}**{answers}: {evidence}"
            lines.append(line + (f"; expected saving: **{saving}**" if saving else ""))
        else:
            lines += [f"- {title}{answers}", f"  {evidence}"]
            if saving:
                lines.append(f"  expected saving: {saving}")
    if len(chosen) > MAX_REMEDIES:
        lines.append(f"- … {len(chosen) - MAX_REMEDIES} more in the results JSON")
    return lines


# ---------------------------------------------------------------- failed starts' output

TAIL_LINES = 10  # output lines shown per stream of a failed start
TAIL_CHARS = 2048  # and at most this much of its end
TAILS_SHOWN = 3  # failed starts whose output is shown (each distinct output once)


def output_tail(text: str, lines: int = TAIL_LINES, limit: int = TAIL_CHARS) -> list[str]:
    """The last lines of a program's output, as it wrote them (each format makes them
    safe its own way); [] when it printed nothing but blanks."""
    end = text[-limit:].replace("\r\n", "\n").replace("\r", "\n").rstrip()
    return end.split("\n")[-lines:] if end.strip() else []


def failed_output(runs: Iterable[tuple[int, str, str]], most: int = TAILS_SHOWN) -> list[str]:
    """`stderr of run N, last lines:` and `  | line` rows for failed starts given as
    (number, stdout, stderr): each distinct output once, from at most `most` starts."""
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    for number, stdout, stderr in runs:
        if len(seen) == most:
            break
        if (stdout, stderr) in seen or not (stdout.strip() or stderr.strip()):
            continue
        seen.add((stdout, stderr))
        for name, text in (("stderr", stderr), ("stdout", stdout)):
            tail = output_tail(text)
            if tail:
                lines.append(f"{name} of run {number}, last lines:")
                lines += [f"  | {row}" for row in tail]
    return lines


# ---------------------------------------------------------------- untrusted text

# Markdown-active characters, backslash-escaped. `<` and `&` become entities (they also
# work inside HTML and cannot start a tag or an entity); `[` alone stops links and images;
# `$` stops GitHub math; `@` gets a word joiner so a name in a PR comment pings nobody.
_MD_ESCAPES = {
    "\\": "\\\\",
    "`": "\\`",
    "*": "\\*",
    "_": "\\_",
    "[": "\\[",
    "|": "\\|",
    "~": "\\~",
    "$": "\\$",
    "<": "&lt;",
    "&": "&amp;",
    "@": "@\u2060",
}
_HTML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
# Bidirectional overrides and zero-width characters can make text read differently
# from what it is ("Trojan Source"): shown as escapes instead.
_INVISIBLE = frozenset(
    "\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2066\u2067\u2068\u2069\ufeff"
)


def visible(ch: str) -> str | None:
    """An escape for a control or invisible character; None for ordinary text."""
    if ch in "\t\n\r":
        return " "
    code = ord(ch)
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02x}"
    if ch in _INVISIBLE:
        return f"\\u{code:04x}"
    return None


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(value: Any, limit: int) -> str:
    """str(value) on one line (controls shown as escapes), cut to `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    out = []
    for ch in text:
        esc = visible(ch)
        out.append(ch if esc is None else esc)
    return clip(" ".join("".join(out).split()), limit)


def md(value: Any, limit: int = MAX_CELL) -> str:
    """Untrusted text for a Markdown line or table cell: literal when rendered."""
    return "".join(_MD_ESCAPES.get(ch, ch) for ch in one_line(value, limit))


def html(value: Any, limit: int = MAX_CELL) -> str:
    """Untrusted text inside an HTML element (no Markdown is parsed there)."""
    return "".join(_HTML_ESCAPES.get(ch, ch) for ch in one_line(value, limit))


def code_block(text: str) -> list[str]:
    """Lines of a fenced block that no content can close early."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", *text.split("\n"), fence]


def table(header: Sequence[str], rows: list[list[str]], more: str) -> list[str]:
    """A Markdown pipe table capped at MAX_ROWS rows (cells must be escaped already)."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows[:MAX_ROWS]]
    if len(rows) > MAX_ROWS:
        lines += ["", f"… {len(rows) - MAX_ROWS} more {more}"]
    return lines
