"""Every byte of the file in exactly one section group (gate/values/groups.py names
them): what `gate inspect` sums up, and the first view of gate/read/attribution.py. Apart
from the rest of the attribution so that reading the facts does not import the function
table and symbol readers.

A section's group is one rule (`section_group`): Go's own tables, debug info, the symbol
table and its strings, code, data and read-only data by the section's flags, the rest
"other"; headers and the padding between sections are rows of their own, so the groups
add up to the file size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from gate.read.elf import (
    PF_W,
    PF_X,
    PT_LOAD,
    SHF_ALLOC,
    SHF_EXECINSTR,
    SHF_WRITE,
    ElfImage,
    SectionHeader,
    is_debug_section,
)
from gate.values.groups import (
    CODE,
    DATA,
    DEBUG,
    GO_META,
    HEADERS,
    OTHER,
    PADDING,
    RODATA,
    SYMBOLS,
)

# Go's tables about the program, not of it: the function table, type and itab links, build
# info and id. Data the program uses (.noptrdata, .data, .go.type, .go.func) is data.
# A PIE linked externally prefixes them with .data.rel.ro.
GO_METADATA = frozenset(
    {
        ".gopclntab",
        ".go.buildinfo",
        ".go.fipsinfo",
        ".gosymtab",
        ".typelink",
        ".itablink",
        ".note.go.buildid",
    }
)


class Entry(NamedTuple):  # a tuple, not a frozen dataclass: there are tens of thousands
    name: str
    bytes: int


def sorted_entries(totals: Mapping[str, int]) -> tuple[Entry, ...]:
    return tuple(map(Entry._make, sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))))


def section_group(sec: SectionHeader, symtab_strtabs: set[int]) -> str:
    """The group a section's file bytes belong to; `symtab_strtabs` are the indexes of the
    string tables .symtab links to (the symbols' names count as symbols)."""
    name = sec.name.removeprefix(".data.rel.ro")
    if name in GO_METADATA or sec.name in GO_METADATA:
        return GO_META
    if is_debug_section(sec):
        return DEBUG
    if sec.type == "SYMTAB" or (sec.number in symtab_strtabs and not sec.flags & SHF_ALLOC):
        return SYMBOLS
    if sec.flags & SHF_ALLOC:
        if sec.flags & SHF_EXECINSTR:
            return CODE
        return DATA if sec.flags & SHF_WRITE else RODATA
    return OTHER


def symtab_strtabs(img: ElfImage) -> set[int]:
    return {s.link for s in img.sections if s.type == "SYMTAB"}


def _segment_group(flags: int) -> str:
    if flags & PF_X:
        return CODE
    return DATA if flags & PF_W else RODATA


def section_groups(img: ElfImage) -> tuple[tuple[Entry, ...], int]:
    """(groups, bss bytes): every byte of the file in exactly one group.

    The headers are claimed first, then sections (or segments) in file order, each byte
    once, so an overlap (a corrupt or unusual layout) is not counted twice; what nothing
    covers is padding. A binary without section headers is
    attributed by its loadable segments instead.
    """
    ranges: list[tuple[int, int, str]] = [
        (off, off + size, HEADERS) for _, off, size in img.header_tables if size > 0
    ]
    bss = 0
    if img.sections:
        strtabs = symtab_strtabs(img)
        for sec in img.sections[1:]:
            if sec.type == "NOBITS":
                bss += sec.size if sec.flags & SHF_ALLOC else 0
            elif sec.size:
                ranges.append((sec.offset, sec.offset + sec.size, section_group(sec, strtabs)))
    else:
        for seg in img.segments:
            if seg.type == PT_LOAD and seg.filesz:
                ranges.append((seg.offset, seg.offset + seg.filesz, _segment_group(seg.flags)))
            if seg.type == PT_LOAD and seg.memsz > seg.filesz:
                bss += seg.memsz - seg.filesz
    # Headers first: a PT_LOAD segment starting at offset 0 also spans them. The headers
    # are claimed before everything else, then the rest in file order: one sweep with the
    # position covered so far (sorted once, so 100,000 sections stay fast).
    heads = sorted((max(0, s), min(e, img.size)) for s, e, g in ranges if g == HEADERS)
    rest = sorted(
        ((max(0, s), min(e, img.size), g) for s, e, g in ranges if g != HEADERS),
        key=lambda r: r[0],
    )
    totals: dict[str, int] = {}
    claimed = 0
    covered = 0  # the headers, merged: sorted and disjoint
    head_spans: list[tuple[int, int]] = []
    for lo, hi in heads:
        lo = max(lo, covered)
        if lo < hi:
            totals[HEADERS] = totals.get(HEADERS, 0) + hi - lo
            claimed += hi - lo
            head_spans.append((lo, hi))
            covered = hi
    k, pos = 0, 0  # the next header span that may matter; the end of the sections so far
    for start, end, group in rest:
        start = max(start, pos)
        if start < end:
            pos = end
        while k < len(head_spans) and head_spans[k][1] <= start:
            k += 1
        j = k
        while start < end:  # [start, end) less the header spans inside it
            if j < len(head_spans) and head_spans[j][0] < end:
                lo, hi = head_spans[j]
                part = max(0, min(lo, end) - start)
                start = max(start, hi)
                j += 1
            else:
                part, start = end - start, end
            if part:
                totals[group] = totals.get(group, 0) + part
                claimed += part
    padding = img.size - claimed
    if padding:
        totals[PADDING] = padding
    return sorted_entries(totals), bss
