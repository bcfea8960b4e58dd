"""Plain-text tables for a person at a terminal or reading a CI log."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gate.report.markup import failed_output
from gate.values.escape import bidi_escaped, printable
from gate.values.stats import CI_SHORT, QUANTILE_METHOD, QUANTILES
from gate.values.units import format_size

if TYPE_CHECKING:
    from gate.read.facts import BinaryFacts
    from gate.results.types import Document, Entry, Skipped
    from gate.run.measure import StartupResult


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _list(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items) if items else "-"


def _size(n: int) -> str:
    return f"{format_size(n)} ({n:,} bytes)" if n >= 1024 else f"{n:,} bytes"


def render_facts(f: BinaryFacts) -> str:
    lines = [f"{printable(f.path)}  {_size(f.file_size)}"]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<10} {value}")

    e = f.elf
    row("elf", f"{e.elf_class}-bit {e.machine} {e.endian}-endian, {e.type}, entry 0x{e.entry:x}")
    ln = f.linking
    if ln.static:
        row("linking", "static")
    else:
        row("linking", f"dynamic, interpreter {ln.interpreter or '-'}")
        row("needed", _list(ln.needed))
    if ln.soname:
        row("soname", ln.soname)
    if ln.rpath:
        row("rpath", ":".join(ln.rpath))
    if ln.runpath:
        row("runpath", ":".join(ln.runpath))
    s = f.symbols
    symtab = "stripped (no .symtab)" if s.stripped else f".symtab with {s.symtab_entries:,} entries"
    row("symbols", f"{symtab}, {s.dynsym_entries:,} dynamic symbols")
    d = f.debug
    if d.present:
        kind = "compressed " if d.compressed else ""
        row("debug", f"{_size(d.bytes)} {kind}debug info in {len(d.sections)} sections")
    else:
        row("debug", "none")
    h = f.hardening
    fortify = f"yes ({len(h.fortified)} functions)" if h.fortify else "no"
    row(
        "hardening",
        f"NX {_yes(h.nx)}, RELRO {h.relro}, BIND_NOW {_yes(h.bind_now)}, "
        f"TEXTREL {_yes(h.textrel)}, canary {_yes(h.canary)}, FORTIFY {fortify}",
    )
    t = f.toolchain
    found = t.evidence if t.compiler is None or t.compiler not in t.evidence else "from .comment"
    row("toolchain", f"{t.language}, {t.compiler or 'compiler not recorded'} ({found})")
    if t.language in ("go", "rust"):
        row("", f"C objects: {_c_objects(t.c_code)} ({t.c_evidence})")
    if f.go is not None:
        g = f.go
        main = f", module {g.main_module.path} {g.main_module.version}" if g.main_module else ""
        row("go", f"{g.version}, {g.path or '(no module info)'}{main}, {len(g.deps)} dependencies")
        for key, value in g.settings.items():
            row("", f"{key}={value}")
    # The groups of `gate size --by section`: the same names, the same bytes.
    row("bytes", ", ".join(f"{g.name} {format_size(g.bytes)}" for g in f.groups))
    if f.totals.bss:
        row("bss", f"{format_size(f.totals.bss)} in memory, none in the file")
    if f.sections:
        width = max(len(sec.name) for sec in f.sections)
        lines.append(f"  {'section':<{width}}  {'type':<14} {'flags':<6} {'size':>14}")
        for sec in f.sections:
            lines.append(
                f"  {sec.name:<{width}}  {sec.type:<14} {sec.flags:<6} {sec.size:>14,}"
                + (f"  {format_size(sec.size)}" if sec.size >= 1024 else "")
            )
    else:
        lines.append("  (no section headers)")
    return "\n".join(lines)


def _c_objects(present: bool | None) -> str:
    return "unknown" if present is None else _yes(present)


_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """Control characters as escapes: the program's output cannot repaint a terminal,
    nor reorder what a viewer shows (bidirectional controls)."""
    return bidi_escaped(_CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def noise_warning(result: StartupResult) -> str | None:
    """hyperfine-style honesty: say when the numbers are too spread to trust at a glance."""
    s = result.stats
    if s is None or s.count < 3 or s.mean_ms <= 0:
        return None
    cv = s.stdev_ms / s.mean_ms
    if s.max_ms > 3 * s.p50_ms and s.max_ms - s.p50_ms > 1.0:
        return (
            f"warning: outliers: the slowest start ({s.max_ms:.1f} ms) took over 3x the median; "
            "another process may have competed for the CPU or the disk"
        )
    if cv > 0.25:
        return (
            f"warning: noisy: stdev is {cv:.0%} of the mean; use more --runs or a quieter "
            "machine before trusting a percentile"
        )
    return None


def render_startup(result: StartupResult, breakdown: Mapping[str, Any] | None = None) -> str:
    """`gate startup`'s report, with the breakdown (`--breakdown`) under it when given."""
    from gate.report.markup import found_breakdown_text

    text = _render_startup(result)
    lines = found_breakdown_text(breakdown, result.faults).splitlines() if breakdown else []
    return text + "".join(f"\n  {line}" for line in lines) + "\n"


def _envelope_lines(result: StartupResult) -> list[str]:
    """Where the starts ran: the envelope (next to every number), the cgroup's peak memory
    and how long the CPU quota held the starts back."""
    from gate.values.envelope import memory_text

    env = result.envelope
    if not env.constrained:
        return []
    cgroup = (result.environment or {}).get("cgroup")
    lines = [f"  envelope {env.describe()}" + (f" (cgroup {cgroup})" if cgroup else "")]
    peak = result.peak_memory_bytes
    if peak is not None:
        of = f" of {memory_text(env.memory)}" if env.memory is not None else ""
        lines.append(
            f"  memory   peak {memory_text(peak, env.memory)}{of} (cgroup, page cache included)"
        )
    ok = [r.throttled_ms for r in result.runs if r.ok and r.throttled_ms is not None]
    if ok:
        lines.append(f"  quota    held back {sum(ok) / len(ok):.2f} ms (mean per start)")
    return lines


def _render_startup(result: StartupResult) -> str:
    runs = len(result.runs)
    mode = f"cold ({result.eviction})" if result.cold else "warm"
    command = printable(shlex.join((result.binary, *result.args)))  # an empty argument: ''
    lines = [
        command,
        f"  {runs} runs after {result.warmup} warmup, {mode}, ready: {result.ready}",
    ]
    lines += _envelope_lines(result)
    s = result.stats
    if s is not None:
        conf = f"{s.confidence:.0%} CI"
        lines.append(f"  {'':<8} {'ms':>9}   {conf}")
        rows: list[tuple[str, float, str | None]] = [
            ("min", s.min_ms, None),
            *((key, getattr(s, f"{key}_ms"), key) for key in QUANTILES),
            ("max", s.max_ms, None),
        ]
        for name, value, key in rows:
            ci = ""
            if key is not None:
                lo, hi = s.ci[key]
                ci = f"   [{_ms(lo)}, {_ms(hi)}]"
                if lo is None or hi is None:
                    ci += f"  (needs >= {s.min_runs[key]} runs)"
            lines.append(f"  {name:<8} {value:>9.2f}{ci}")
        lines.append(f"  {'mean':<8} {s.mean_ms:>9.2f}   stdev {s.stdev_ms:.2f}")
        ok = [r for r in result.runs if r.ok]
        n = len(ok)
        lines.append(
            f"  cpu      user {sum(r.user_ms for r in ok) / n:.2f} ms, "
            f"sys {sum(r.sys_ms for r in ok) / n:.2f} ms (mean per start)"
        )
        lines.append(
            f"  max RSS  {format_size(result.max_rss_bytes)}"
            if result.max_rss_bytes is not None
            else "  max RSS  below gate's own footprint (not measurable from rusage)"
        )
        lines.append(
            f"  faults   major {sum(r.major_faults for r in ok) / n:.1f}, "
            f"minor {sum(r.minor_faults for r in ok) / n:.1f} (mean per start)"
        )
        if result.mapped_objects is not None:
            lines.append(
                f"  loaded   {result.mapped_objects} shared objects mapped, "
                f"{result.open_fds} descriptors open at readiness (most of a start)"
            )
        lines.append(f"  quantiles: {QUANTILE_METHOD}; CI: {CI_SHORT}")
    e = result.eviction_detail
    if e is not None and e.before:
        b, a = e.before[0], e.after[0]
        libraries = len(e.before) - 1 - len(e.beyond)
        lines.append(
            f"  cache    {b.resident}/{b.pages} pages of the binary resident before eviction, "
            f"{a.resident} after" + (f" ({libraries} libraries too)" if libraries > 0 else "")
        )
        if e.beyond:
            names = ", ".join(printable(path) for path in e.beyond[:8])
            more = f" and {len(e.beyond) - 8} more" if len(e.beyond) > 8 else ""
            lines.append(f"  evicted  beyond its libraries: {names}{more}")
        if e.note:
            lines.append(f"  note     {e.note}")
    lines.append(f"  failed   {result.failed} of {runs}")
    if runs < result.requested:
        lines.append(
            f"           the other {result.requested - runs} starts were skipped: "
            "the first ones all failed"
        )
    seen: dict[str, int] = {}
    for r in result.runs:
        if not r.ok and r.error:
            seen[r.error] = seen.get(r.error, 0) + 1
    for error, count in list(seen.items())[:5]:
        lines.append(f"           {count}x {error}")
    failed = [(n, r.stdout_tail, r.stderr_tail) for n, r in enumerate(result.runs, 1) if not r.ok]
    lines += [f"           {_printable(line)}" for line in failed_output(failed)]
    stopped = sum(r.stopped for r in result.runs)
    if stopped:
        what = "process" if stopped == 1 else "processes"
        lines.append(f"  stopped  {stopped} leftover {what} (daemons or children) after runs")
    if result.max_runs is not None:
        why = {"decided": "every verdict decided", "max_runs": "max_runs reached, undecided"}
        lines.append(
            f"  adaptive {runs} runs (min {result.requested}, max {result.max_runs}): "
            f"{why.get(result.stopped, result.stopped)}"
        )
    other = result.against
    if other is not None:
        lines.append(
            f"  against  {printable(other.binary)} ({len(other.runs)} runs, interleaved ABBA)"
        )
        cmp = other.comparison
        if cmp is None or other.stats is None:
            lines.append("           too few successful starts on one side to compare")
        else:
            lo, hi = cmp.ratio_ci
            lines.append(
                f"           p50 {other.stats.p50_ms:.2f} -> {s.p50_ms if s else 0:.2f} ms; "
                f"NEW/OLD {cmp.ratio_hl:.3f}x ({(cmp.ratio_hl - 1) * 100:+.1f}%), "
                f"{cmp.confidence:.0%} CI [{lo:.3f}, {hi:.3f}], p={cmp.p_value:.3g} "
                f"({cmp.n_new} pairs; Hodges-Lehmann, Wilcoxon signed-rank)"
            )
    lines += _count_lines(result)
    warning = noise_warning(result)
    if warning:
        lines.append(f"  {warning}")
    return "\n".join(lines)


def _count_lines(result: StartupResult) -> list[str]:
    """The counted starts: their median, range and spread, and NEW/OLD when interleaved."""
    from gate.values.counts import format_count

    c = result.counted
    if c is None:
        return []
    tool = f"{c.backend.version} {c.backend.name.split('-')[-1]}"
    lines = []
    m = c.summary
    if m is None:
        first = next((r.error for r in c.runs if r.error), "no counted start succeeded")
        lines.append(f"  counted  {len(c.runs)} starts under {tool}: none counted; {first}")
    else:
        lines.append(
            f"  instr    {format_count(m.median)} median of {m.count} counted starts "
            f"({format_count(m.min)}..{format_count(m.max)}, spread {m.spread_pct:.2f}%; {tool})"
        )
        lines.append(f"           {c.scope}")
        if c.hardware:
            lines.append(f"           not hardware counters: {c.hardware}")
    failed = sum(not r.ok for r in c.runs)
    if failed and m is not None:
        first = next((r.error for r in c.runs if r.error), "")
        lines.append(f"           {failed} of {len(c.runs)} counted starts failed: {first}")
    cmp, old = c.comparison, c.against_summary
    if c.against is not None:
        if cmp is None or old is None or m is None:
            lines.append("           A/B: too few successful counted starts on one side")
        else:
            lo, hi = cmp.ratio_ci
            lines.append(
                f"           A/B {format_count(old.median)} -> {format_count(m.median)}; "
                f"NEW/OLD {cmp.ratio_hl:.4f}x ({(cmp.ratio_hl - 1) * 100:+.2f}%), "
                f"{cmp.confidence:.0%} CI [{lo:.4f}, {hi:.4f}] ({cmp.n_new} pairs)"
            )
    return lines


_MARK = {"pass": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}


def _failed_output(binary: Entry) -> list[str]:
    """The output tails a results document keeps for a binary's failed starts."""
    startup = binary.get("startup")
    runs = (startup.get("runs") if startup else None) or []
    return failed_output(
        (n, str(r.get("stdout_tail") or ""), str(r.get("stderr_tail") or ""))
        for n, r in enumerate(runs, 1)
        if isinstance(r, dict) and not r.get("ok")
    )


def render_checks(doc: Document) -> str:
    """The verdict per binary, its size and start-up at a glance, and one line per check:
    what a CI log shows."""
    from gate.report.glance import glance
    from gate.report.markup import breakdown_text, remedy_lines

    lines = []
    for b in doc["binaries"]:
        lines.append(
            f"{printable(b['path'])}: {b['verdict'].upper()}"
            + (f": {printable(b['error'])}" if b["error"] else "")
        )
        seen = glance(b)
        if seen:
            lines.append(f"  {seen}")
        for c in b["checks"]:
            check_id = printable(c["id"])  # a policy's section name, a saved document's id
            lines.append(f"  {_MARK[c['status']]}  {check_id:<24} {printable(c['message'])}")
            if c["id"] == "startup.runs" and c["status"] == "fail":
                lines += [f"        {_printable(line)}" for line in _failed_output(b)]
        why = breakdown_text(b["startup"])
        if why:
            lines += ["  " + line for line in why.splitlines()]
        lines += ["  " + printable(line) for line in remedy_lines(b.get("remedies"))]
    counts = {
        s: sum(c["status"] == s for b in doc["binaries"] for c in b["checks"])
        for s in ("fail", "warn", "pass", "skip")
    }
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    skipped = doc.get("skipped") or []
    if skipped:
        lines.append(passed_over(skipped))
    if skipped and not doc["binaries"]:  # not a pass: nothing was judged
        lines.append(f"gate: nothing to judge: no input is an ELF binary (policy {doc['policy']})")
    else:
        lines.append(f"gate: {doc['verdict']} (policy {doc['policy']}; {summary or 'no checks'})")
    return "\n".join(lines)


def passed_over(skipped: list[Skipped]) -> str:
    """One line naming every input --skip-unsupported passed over, and what it is: a file
    gate saw and did not judge is said, not dropped in silence."""
    count = len(skipped)
    what = (
        "1 file that is not an ELF binary"
        if count == 1
        else f"{count} files that are not ELF binaries"
    )
    named = ", ".join(f"{printable(s['path'])} ({printable(s['reason'])})" for s in skipped)
    return f"gate: passed over {what}: {named}"
