"""Markdown job summary (GitHub step summary, GitLab, PR/MR comments).

Rendered from the gate/results/v1 document only. Written for a reviewer who has ten
seconds: the verdict in the first line, then only what failed, then details folded away;
each binary's details open on its checks and, under them, what to try for the red ones
(markup.remedy_lines).
Every piece of text that came from the binary, its output or the policy goes through
markup's `md` (Markdown context) or `html` (inside HTML tags), so it can neither break a table
nor inject HTML, links, images or mentions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gate.report.glance import glance
from gate.report.markup import (
    MAX_CELL,
    MAX_EVIDENCE,
    MAX_ROWS,
    breakdown_text,
    remedy_lines,
)
from gate.report.markup import clip as _clip
from gate.report.markup import code_block as _code_block
from gate.report.markup import html as _html
from gate.report.markup import md as _md
from gate.report.markup import table as _table
from gate.report.markup import visible as _visible
from gate.values.envelope import describe as describe_envelope
from gate.values.groups import NON_GO
from gate.values.units import format_duration, format_size
from gate.values.wording import is_number as _is_number
from gate.values.wording import number as _number
from gate.values.wording import over_by, size_unit

if TYPE_CHECKING:
    from gate.results.types import BaselineRecord, Check, Document, Entry, Facts, Skipped, Startup

MAX_NAMES = 10  # binaries named in the line under the verdict
MAX_FAILED_RUNS = 10  # failed start-up runs listed per binary
TAIL_LINES = 10  # output lines shown for the first failed run
TAIL_WIDTH = 200  # characters per output line shown
BINS = 10  # target number of histogram bins
SPARK = "▁▂▃▄▅▆▇█"

_STATUS: dict[Any, str] = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️"}
_VERDICT: dict[Any, str] = {"pass": "✅", "fail": "❌", "error": "⚠️"}
_RANK: dict[Any, int] = {"fail": 0, "warn": 1, "pass": 2, "skip": 3}


def _tail(text: str) -> str:
    """The last lines of a run's output, controls made visible, lines cut."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n").split("\n")
    shown = []
    for line in lines[-TAIL_LINES:]:
        chars = [ch if ch == "\t" else (_visible(ch) or ch) for ch in line]
        shown.append(_clip("".join(chars), TAIL_WIDTH))
    if len(lines) > TAIL_LINES:
        shown.insert(0, f"… {len(lines) - TAIL_LINES} earlier lines")
    return "\n".join(shown)


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


# ---------------------------------------------------------------- values and units


def _value(value: Any, unit: str | None, in_unit: str | None = None) -> str:
    """A measured or limit value as a person reads it (already escaped)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_number(value):
        return _number(value, unit, in_unit)
    if isinstance(value, list | tuple):
        if not value:
            return "(none)"
        shown = ", ".join(_md(v, 60) for v in value[:5])
        return shown + (f", … {len(value) - 5} more" if len(value) > 5 else "")
    return _md(value)


def _measured_limit(check: Check) -> tuple[str, str]:
    unit = check["unit"]
    in_unit = size_unit(check["limit"]) if unit == "bytes" else None
    return _value(check["measured"], unit, in_unit), _value(check["limit"], unit, in_unit)


# ---------------------------------------------------------------- tables


def _binaries(doc: Document) -> list[Entry]:
    return doc["binaries"]


def _checks(binary: Entry) -> list[Check]:
    return binary["checks"]


def _name(binary: Entry) -> str:
    return str(binary["name"] or binary["path"] or "?")


def _problems_table(binaries: list[Entry]) -> list[str]:
    """Failed checks of every binary, then warned ones: the whole reason for a red gate."""
    rows = []
    for status in ("fail", "warn"):
        for binary in binaries:
            for check in _checks(binary):
                if check["status"] != status:
                    continue
                measured, limit = _measured_limit(check)
                rows.append(
                    [
                        _md(_name(binary), 80),
                        f"{_STATUS[status]} {_md(check['id'], 120)}",
                        measured,
                        limit,
                        over_by(check["measured"], check["limit"], check["unit"]),
                    ]
                )
    if not rows:
        return []
    return _table(("binary", "check", "measured", "limit", "over by"), rows, "failed checks")


def _checks_table(checks: list[Check]) -> list[str]:
    """Every check of one binary in policy order; failures kept when the table is cut."""
    if len(checks) > MAX_ROWS:
        keep = sorted(range(len(checks)), key=lambda i: (_RANK[checks[i]["status"]], i))
        kept = sorted(keep[:MAX_ROWS])
        shown = [checks[i] for i in kept]
        hidden = len(checks) - MAX_ROWS
    else:
        shown, hidden = checks, 0
    rows = [
        [
            _STATUS[c["status"]],
            _md(c["id"], 120),
            _md(c["message"], MAX_CELL),
        ]
        for c in shown
    ]
    lines = _table(("", "check", "message"), rows, "checks")
    if hidden:
        lines += ["", f"… {hidden} more checks (passed or skipped)"]
    return lines


# ---------------------------------------------------------------- facts


_GO_KEYS = ("CGO_ENABLED", "-trimpath", "-buildmode", "-ldflags", "GOOS", "GOARCH")


def _facts_line(facts: Facts) -> str:
    """Size, ELF type, linking, stripped, Go: what a reviewer checks against the policy."""
    parts = []
    parts.append(format_size(facts["file_size"]))
    elf = facts["elf"]
    kind = " ".join(_md(v, 40) for v in (elf["machine"], elf["type"]) if v)
    if kind:
        parts.append(kind)
    linking = facts["linking"]
    if linking["static"]:
        parts.append("static")
    else:
        needed = linking["needed"]
        shown = ", ".join(_md(n, 60) for n in needed[:4])
        if len(needed) > 4:
            shown += f", … {len(needed) - 4} more"
        parts.append(f"dynamic ({shown})" if shown else "dynamic")
    parts.append("stripped" if facts["symbols"]["stripped"] else "not stripped")
    debug = facts["debug"]
    if debug["present"]:
        parts.append(f"debug info {format_size(debug['bytes'])}")
    go = facts["go"]
    if go is not None:
        settings = go["settings"]
        keys = [f"{_md(k, 20)}={_md(settings[k], 80)}" for k in _GO_KEYS if k in settings]
        parts.append(" ".join([_md(go["version"] or "Go", 40), *keys]))
    return " · ".join(parts)


# ---------------------------------------------------------------- start-up chart


def _histogram(values: list[float]) -> tuple[list[str], list[int]]:
    """About BINS bins of a "nice" width (1, 2 or 5 times 10^n ms), labels as ms ranges."""
    lo, hi = min(values), max(values)
    if not hi - lo >= 1e-6:  # below a nanosecond (or too small for log10): one bin
        return [f"{lo:.1f}"], [len(values)]
    raw = (hi - lo) / BINS
    exp = math.floor(math.log10(raw))
    step = next(n for n in (1, 2, 5, 10) if n * 10**exp >= raw)
    if step == 10:
        step, exp = 1, exp + 1
    width = step * 10.0**exp
    decimals = max(0, -exp)
    start = math.floor(lo / width) * width
    count = max(1, math.ceil((hi - start) / width - 1e-9))
    bars = [0] * count
    for v in values:
        bars[min(count - 1, max(0, int((v - start) // width)))] += 1
    labels = [
        f"{start + i * width:.{decimals}f}-{start + (i + 1) * width:.{decimals}f}"
        for i in range(count)
    ]
    return labels, bars


def _sparkline(bars: list[int]) -> str:
    top = max(bars) or 1
    return "".join(SPARK[0] if b == 0 else SPARK[1 + round(b / top * 6)] for b in bars)


def _ms(value: Any) -> str:
    return format_duration(value) if _is_number(value) else "—"


def _startup(startup: Startup, checks: list[Check]) -> list[str]:
    """Histogram (mermaid, plus a text sparkline where mermaid is not rendered), failed runs."""
    runs = startup["runs"]
    stats = startup["stats"]
    lines: list[str] = []
    ok = [float(r["wall_ms"]) for r in runs if r["ok"]]
    p95 = next((c for c in checks if c["id"] == "startup.p95"), None)
    p95_limit = p95["limit"] if p95 else None
    if stats is not None and ok:
        labels, bars = _histogram(ok)
        title = f"start-up wall time (ms), {_plural(len(ok), 'ok run')}"
        if _is_number(p95_limit):
            title += f", p95 limit {p95_limit:.1f} ms"
        lines += [
            "```mermaid",
            "xychart-beta",
            f'    title "{title}"',
            '    x-axis "ms" [' + ", ".join(f'"{label}"' for label in labels) + "]",
            f'    y-axis "runs" 0 --> {max(bars)}',
            "    bar [" + ", ".join(str(b) for b in bars) + "]",
            "```",
            "",
        ]
        limit = f" (limit {_ms(p95_limit)})" if _is_number(p95_limit) else ""
        failed = stats["failed"]
        inside = describe_envelope(startup.get("envelope"))
        where = f" ({inside})" if inside else ""  # the envelope next to every number
        lines.append(
            f"start-up{where}: `{_sparkline(bars)}` min {_ms(stats['min_ms'])}"
            f" · p50 {_ms(stats['p50_ms'])} · p95 {_ms(stats['p95_ms'])}{limit}"
            f" · max {_ms(stats['max_ms'])} · {_plural(len(ok), 'ok run')}"
            + (f", {failed} failed" if failed else "")
        )
    bad = [(i, r) for i, r in enumerate(runs, 1) if not r["ok"]]
    if bad:
        if lines:
            lines.append("")
        lines.append(f"{_plural(len(bad), 'failed start-up run')}:")
        lines.append("")
        for i, run in bad[:MAX_FAILED_RUNS]:
            exit_code = run["exit_code"]
            status = f" (exit code {exit_code})" if exit_code is not None else ""
            lines.append(f"- run {i}: {_md(run['error'] or 'failed', 200)}{status}")
        if len(bad) > MAX_FAILED_RUNS:
            lines.append(f"- … {len(bad) - MAX_FAILED_RUNS} more")
        first = bad[0][1]
        for tail, label in ((first["stderr_tail"], "stderr"), (first["stdout_tail"], "stdout")):
            if tail.strip():
                lines += ["", f"{label} of run {bad[0][0]} (last lines):", ""]
                lines += _code_block(_tail(tail))
    return lines


# ---------------------------------------------------------------- document


def _counts(binaries: list[Entry]) -> dict[str, int]:
    counts = {"pass": 0, "fail": 0, "warn": 0, "skip": 0}
    for binary in binaries:
        for check in _checks(binary):
            counts[check["status"]] += 1
    return counts


def _headline(verdict: str, binaries: list[Entry]) -> str:
    """The verdict in words: what a reviewer reads first and maybe only."""
    counts = _counts(binaries)
    errors = sum(1 for b in binaries if b["verdict"] == "error")
    failed = f"{_plural(counts['fail'], 'check')} failed"
    if verdict == "error" or (errors and verdict != "fail"):
        text = (
            f"could not judge {_plural(errors, 'binary', 'binaries')}"
            if errors
            else ("could not judge")
        )
        if counts["fail"]:
            text += f", {failed}"
        return f"## ⚠️ gate: {text} — merge blocked"
    if verdict == "fail":
        text = failed if counts["fail"] else "failed"
        return f"## ❌ gate: {text} — merge blocked"
    judged = counts["pass"] + counts["warn"]
    if not judged:
        text = "passed (no checks applied)"
    elif counts["warn"]:
        text = f"{_plural(counts['pass'], 'check')} passed, {_plural(counts['warn'], 'warning')}"
    else:
        text = f"all {_plural(counts['pass'], 'check')} passed"
    if counts["skip"]:
        text += f", {counts['skip']} skipped"
    return f"## ✅ gate: {text}"


def _subline(doc: Document, binaries: list[Entry]) -> str:
    names = [f"{_VERDICT[b['verdict']]} {_md(_name(b), 80)}" for b in binaries]
    shown = " · ".join(names[:MAX_NAMES])
    if len(names) > MAX_NAMES:
        shown += f" · … {len(names) - MAX_NAMES} more"
    policy = _md(doc["policy"] or "?", 80)
    count = _plural(len(binaries), "binary", "binaries")
    line = f"policy **{policy}** · {count}" + (f": {shown}" if shown else "")
    base = doc["baseline"]
    if base is not None and base["source"]:
        line += f"\n\nbaseline: {_md(base['source'], 200)}{_compared_with(base)}"
    return line


_SHA = frozenset("0123456789abcdef")


def _commit(sha: str) -> str:
    """A commit as GitHub and GitLab link it: seven hex digits, else the text escaped."""
    return sha[:7] if len(sha) >= 7 and set(sha) <= _SHA else _md(sha, 40)


def _compared_with(base: BaselineRecord) -> str:
    """Which commit the relative checks measured the change against: the merge base is
    fair; a branch tip may hold commits the change does not, and a reviewer should know."""
    if not base["found"]:
        why = f": {_md(base['reason'], 200)}" if base.get("reason") else ""
        return f" (none{why}; relative checks skipped)"
    commit, relation = base.get("commit"), base.get("relation")
    if not commit:
        return ""
    said = f" — compared with {_commit(commit)}"
    if relation == "merge-base":
        return said + ", the merge base"
    merge_base, distance = base.get("merge_base"), base.get("distance")
    if relation == "ancestor" and merge_base and distance:
        back = _plural(distance, "commit")
        return said + f", {back} before the merge base {_commit(merge_base)}"
    if relation == "branch-tip":
        return said + ", the base branch's latest (not the merge base)"
    return said


TOP_PACKAGES = 10
BAR_WIDTH = 24


def _bar(value: int, largest: int) -> str:
    """A text bar in eighths of a block: renders in GitHub, GitLab and a terminal alike."""
    eighths = round(value / largest * BAR_WIDTH * 8) if largest else 0
    full, part = divmod(max(eighths, 1), 8)
    return "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")


def _package_bars(binary: Entry, checks: list[Check]) -> list[str]:
    """The largest Go packages as bars, as shares of the file: the rows (packages, the rest
    of the Go code, everything outside Go code) add up to the file size. Open when a size
    check did not pass."""
    attribution, facts = binary.get("attribution"), binary.get("facts")
    if not isinstance(attribution, dict) or not isinstance(facts, dict):
        return []
    rows = [
        r
        for r in attribution.get("packages") or []
        if isinstance(r, dict)
        and _is_number(r.get("bytes"))
        and r["bytes"] > 0
        and r.get("name") != NON_GO
    ]
    size = facts.get("file_size")
    if not rows or not _is_number(size) or size <= 0:
        return []
    shown = rows[:TOP_PACKAGES]
    go_code = sum(r["bytes"] for r in rows)
    largest = max(r["bytes"] for r in shown)
    size_failed = any(
        str(c.get("id", "")).startswith("size.") and c.get("status") in ("fail", "warn")
        for c in checks
    )

    def row(name: str, n: int, bar: bool = True) -> list[str]:
        share = f"{n / size * 100:.1f}%"
        return [name, format_size(int(n)), share, _bar(int(n), int(largest)) if bar else ""]

    body = [row(_md(r["name"], 120), r["bytes"]) for r in shown]
    rest = go_code - sum(r["bytes"] for r in shown)
    if rest > 0:
        body.append(row(f"*{len(rows) - len(shown)} more Go packages*", rest, bar=False))
    body.append(row("*outside Go code* (data, tables, symbols, debug, C…)", size - go_code, False))
    table = _table(["package", "size", "share of the file", ""], body, "packages")
    opened = " open" if size_failed else ""
    share = go_code / size * 100
    return [
        f"<details{opened}><summary>where the bytes are: Go code is {share:.0f}% of the file "
        f"({format_size(int(go_code))} of {format_size(int(size))}); the {len(shown)} largest "
        "packages</summary>",
        "",
        *table,
        "",
        "</details>",
    ]


def _remedy_md(text: str) -> str:
    return _md(text, MAX_EVIDENCE)


def _binary_section(binary: Entry, remedies: bool = True) -> list[str]:
    verdict = binary["verdict"]
    checks = _checks(binary)
    counts = _counts([binary])
    if verdict == "error":
        summary = "could not judge"
    elif counts["fail"]:
        summary = f"{counts['fail']} of {_plural(len(checks), 'check')} failed"
    else:
        summary = f"{counts['pass']} of {_plural(len(checks), 'check')} passed"
        if counts["warn"]:
            summary += f", {_plural(counts['warn'], 'warning')}"
    opened = " open" if verdict in ("fail", "error") else ""
    lines = [
        f"<details{opened}><summary>{_VERDICT[verdict]} <b>{_html(_name(binary), 80)}"
        f"</b> — {summary}</summary>",
        "",
    ]
    if binary["error"]:
        lines += [f"**could not judge:** {_md(binary['error'])}", ""]
    if binary["facts"] is not None:
        lines += [_facts_line(binary["facts"]), ""]
    if checks:
        lines += [*_checks_table(checks), ""]
    tried = remedy_lines(binary.get("remedies"), None, _remedy_md, markdown=True)
    if tried and remedies:  # what to try for the red checks, right under them
        lines += [*tried, ""]
    bars = _package_bars(binary, checks)
    if bars:
        lines += [*bars, ""]
    startup = binary["startup"]
    if startup is not None:
        chart = _startup(startup, checks)
        if chart:
            lines += [*chart, ""]
        why = breakdown_text(startup)
        if why:
            lines += [*_code_block(why), ""]
    lines.append("</details>")
    return lines


MAX_REMEDY_SECTIONS = 10  # binaries whose "What to try" a monorepo's comment shows
MAX_GLANCES = 20  # binaries whose size and start-up line shows before any details


def _glances(binaries: list[Entry]) -> list[str]:
    """Size and start-up of each binary, in sight without expanding anything."""
    rows = [
        f"- {_VERDICT[b['verdict']]} **{_md(_name(b), 80)}**: {_md(line, 400)}"
        for b in binaries[:MAX_GLANCES]
        if (line := glance(b))
    ]
    if len(binaries) > MAX_GLANCES:
        rows.append(f"- … {len(binaries) - MAX_GLANCES} more binaries below")
    return [*rows, ""] if rows else []


_WORST_FIRST = {"error": 0, "fail": 1, "pass": 2}


def render_markdown(doc: Document, quiet: Callable[[Entry], bool] | None = None) -> str:
    """The job summary for a gate/results/v1 document: verdict, failures, then details.

    `quiet` (the PR/MR comment of a monorepo): binaries it picks (passing, unchanged) get
    one row each in a folded table instead of their own section, and the rest come worst
    first, so a cut to fit a comment drops the least interesting first.
    """
    binaries = _binaries(doc)
    lines = [_headline(doc["verdict"], binaries), _subline(doc, binaries), ""]
    skipped = doc.get("skipped") or []
    if skipped and not binaries:  # not "passed": nothing was judged
        lines[0] = "## ✅ gate: nothing to judge (no input is an ELF binary)"
    lines += _passed_over(skipped)
    folded: list[Entry] = []
    if quiet is not None:
        folded = [b for b in binaries if quiet(b)]
        loud = [b for b in binaries if not quiet(b)]
        binaries = sorted(loud, key=lambda b: (_WORST_FIRST[b["verdict"]], -_counts([b])["warn"]))
    lines += _glances(binaries)
    errors = [b for b in binaries if b["verdict"] == "error"]
    for binary in errors:
        reason = binary["error"] or "could not be judged"
        lines.append(f"- ⚠️ **{_md(_name(binary), 80)}**: {_md(reason)}")
    if errors:
        lines.append("")
    problems = _problems_table(binaries)
    if problems:
        lines += [*problems, ""]
    for n, binary in enumerate(binaries):
        # A monorepo's comment: what to try for the worst few, so that every binary
        # still gets its line within the comment's size (the job summary has them all).
        remedies = quiet is None or n < MAX_REMEDY_SECTIONS
        lines += [*_binary_section(binary, remedies), ""]
    lines += _folded(folded)
    return "\n".join(_join(lines)).rstrip("\n") + "\n"


def _passed_over(skipped: list[Skipped]) -> list[str]:
    """One line naming the inputs --skip-unsupported passed over: seen, not judged."""
    if not skipped:
        return []
    named = [f"{_md(s['path'], 80)} ({_md(s['reason'], 80)})" for s in skipped[:MAX_NAMES]]
    if len(skipped) > MAX_NAMES:
        named.append(f"… {len(skipped) - MAX_NAMES} more")
    what = _plural(
        len(skipped), "file that is not an ELF binary", "files that are not ELF binaries"
    )
    return [f"⏭️ passed over {what}: {', '.join(named)}", ""]


def _folded(binaries: list[Entry]) -> list[str]:
    """One row per quiet binary (size and start-up at a glance), folded away."""
    if not binaries:
        return []
    rows = [f"| {_VERDICT[b['verdict']]} {_md(_name(b), 80)} | {_md(glance(b), 200)} |"
            for b in binaries]  # fmt: skip
    return [
        f"<details><summary>{_plural(len(binaries), 'more binary', 'more binaries')} passed, "
        "unchanged</summary>",
        "",
        "| binary | size and start-up |",
        "|---|---|",
        *rows,  # every one: the table is the list of what was judged and is fine
        "",
        "</details>",
    ]


def _join(lines: Iterable[str]) -> Iterable[str]:
    """Drop repeated blank lines so the raw text stays as tidy as the rendered one."""
    blank = False
    for line in lines:
        if line == "" and blank:
            continue
        blank = line == ""
        yield line
