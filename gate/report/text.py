"""Plain-text tables for a person at a terminal or reading a CI log."""

from __future__ import annotations

from gate.elf.facts import BinaryFacts
from gate.units import format_size


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _list(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(items) if items else "-"


def _size(n: int) -> str:
    return f"{format_size(n)} ({n:,} bytes)" if n >= 1024 else f"{n:,} bytes"


def render_facts(f: BinaryFacts) -> str:
    lines = [f"{f.path}  {_size(f.file_size)}"]

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
    if f.go is not None:
        g = f.go
        main = f", module {g.main_module.path} {g.main_module.version}" if g.main_module else ""
        row("go", f"{g.version}, {g.path or '(no module info)'}{main}, {len(g.deps)} dependencies")
        for key, value in g.settings.items():
            row("", f"{key}={value}")
    t = f.totals
    row(
        "totals",
        ", ".join(
            f"{name} {format_size(n)}"
            for name, n in (
                ("text", t.text),
                ("rodata", t.rodata),
                ("data", t.data),
                ("bss", t.bss),
                ("symbols", t.symbols),
                ("debug", t.debug),
            )
        ),
    )
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
