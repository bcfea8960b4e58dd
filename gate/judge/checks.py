"""Judging: (facts, start-up, baseline, rules) -> check results. Pure: no files, no processes.

Every input is the JSON form of the results document (gate/results/v1), so a saved
result, a baseline from another pipeline and a fresh measurement are judged alike.
Each message is one line a reviewer can act on: what was measured, the limit as the
policy wrote it, and by how much it is over.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gate.judge import explain
from gate.judge.pairing import Pairing
from gate.judge.policy import SETTINGS, Rule, go_version_tuple
from gate.values.compare import (
    PASS,
    UNDECIDED,
    across_envelopes,
    across_methods,
    interval_verdict,
    regression_verdict_of,
)
from gate.values.stats import QUANTILES
from gate.values.units import format_signed_size, format_size
from gate.values.wording import over_by, size_as_written, unit_written

if TYPE_CHECKING:
    from gate.results.types import Attribution, Counts, Facts, GoBuild, Startup

_RELRO_ORDER = {"none": 0, "partial": 1, "full": 2}


@dataclass(frozen=True)
class CheckResult:
    id: str  # "size.max_file", "size.max_section:.text"
    status: str  # pass | fail | warn | skip
    measured: Any
    limit: Any
    unit: str | None  # bytes | ms | % | None
    message: str
    severity: str = "error"


@dataclass(frozen=True)
class Context:
    facts: Facts
    startup: Startup | None  # gate/startup/v1 body; None when not measured
    baseline: Mapping[str, Any] | None  # the same binary's entry in a baseline results doc
    startup_skipped: str = "start-up not measured"  # why startup is None
    attribution: Attribution | None = None  # where the bytes are (results' attribution)
    undecided: str = "warn"  # what a verdict still undecided at max_runs becomes
    pairing: Pairing | None = None  # how `baseline` was found; None: no baseline was given
    unmatched: str = "warn"  # what a binary the baseline has no counterpart for becomes


_Check = Callable[[Rule, Context], Iterable[CheckResult]]
_Inner = Callable[[Rule, Context, Any], Iterable[CheckResult]]


def _result(
    rule: Rule,
    ok: bool,
    measured: Any,
    unit: str | None,
    message: str,
    check_id: str | None = None,
    limit: Any = None,
) -> CheckResult:
    status = "pass" if ok else ("warn" if rule.severity == "warn" else "fail")
    return CheckResult(
        check_id or rule.id,
        status,
        measured,
        rule.value if limit is None else limit,
        unit,
        message,
        rule.severity,
    )


def _skip(rule: Rule, why: str, check_id: str | None = None) -> CheckResult:
    value = rule.value if not isinstance(rule.value, tuple) else rule.text
    return CheckResult(check_id or rule.id, "skip", None, value, None, why, rule.severity)


def _over(measured: float, limit: float, unit: str | None) -> str:
    """The over-by every report shows (markup.over_by), with the exact bytes as every
    size in a message has them: "by 123.46 KB (123,456 bytes, +1.5%)"."""
    return "by " + over_by(measured, limit, unit, exact=True).removeprefix("+")


def _max_bytes(
    rule: Rule, what: str, measured: int, limit: int, written: Any, check_id: str | None = None
) -> CheckResult:
    ok = measured <= limit
    shown = written if isinstance(written, str) else size_as_written(limit)
    size = size_as_written(measured, written)
    if ok:
        message = f"{what} {size} <= {shown}"
    else:
        message = f"{what} {size} > {shown} {_over(measured, limit, 'bytes')}"
    return _result(rule, ok, measured, "bytes", message, check_id, limit)


# ---------------------------------------------------------------- size


def _describe(ctx: Context, found: Sequence[explain.Contributor], signed: bool = True) -> str:
    """explain.describe, its hints in the binary's toolchain's terms."""
    return explain.describe(found, signed=signed, language=_language(ctx.facts))


def _explained(result: CheckResult, why: str) -> CheckResult:
    """A size check that did not pass, with what explains it (gate/judge/explain.py)."""
    if result.status not in ("fail", "warn") or not why:
        return result
    return dataclasses.replace(result, message=f"{result.message}: {why}")


def _no_baseline(ctx: Context, what: str = "") -> str:
    """Why a relative check has nothing to compare with; the flag only when none was given."""
    if ctx.pairing is None:
        return f"no baseline{' ' + what if what else ''} to compare with (--baseline)"
    if ctx.pairing.entry is None:
        return ctx.pairing.note
    paired = ctx.pairing.note.removeprefix("compared with ")
    return f"the baseline ({paired}) has no {what or 'facts'}"


def _base_attribution(ctx: Context) -> Attribution | None:
    base = ctx.baseline.get("attribution") if ctx.baseline else None
    return base if base and base.get("sections") else None


def _toolchain_note(ctx: Context) -> str:
    """`toolchain go1.22.3 -> go1.26.8 (a likely cause)` when another toolchain built the
    baseline; else ""."""
    base = ctx.baseline.get("facts") if ctx.baseline else None
    if not base:
        return ""
    change = explain.toolchain_change(explain.toolchain_of(ctx.facts), explain.toolchain_of(base))
    return explain.toolchain_note(change)


def _file_explanation(ctx: Context, size: int, limit: int, written: Any = None) -> str:
    """A new toolchain first (a summary cuts long messages); what grew since the baseline;
    the largest groups and names behind the excess over the limit when nothing grew, or
    when the baseline was over the limit already (the growth then explains only part of
    the excess). Sizes in the unit the policy wrote the limit in."""
    old = _base_attribution(ctx)
    grown: tuple[explain.Contributor, ...] = ()
    if old is not None and ctx.attribution is not None:
        grown = explain.growth(ctx.attribution, old)
    old_size = ((ctx.baseline or {}).get("facts") or {}).get("file_size")
    before = isinstance(old_size, int) and old_size > limit
    parts = []
    if isinstance(old_size, int) and before:
        unit = unit_written(written)
        parts.append(f"over before too ({format_size(old_size, unit)} in the baseline, "
                     f"{format_size(old_size - limit, unit)} over)")  # fmt: skip
    if before or not grown:
        largest = explain.largest(ctx.attribution, size - limit)
        if largest:
            parts.append(f"largest: {_describe(ctx, largest, signed=False)}")
    if grown:
        parts.append("grew since the baseline: " + _describe(ctx, grown))
    return "; ".join(p for p in (_toolchain_note(ctx), *parts) if p)


def _size_max_file(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    size = ctx.facts["file_size"]
    result = _max_bytes(rule, "file size", size, rule.value, rule.text)
    if result.status in ("fail", "warn"):
        result = _explained(result, _file_explanation(ctx, size, rule.value, rule.text))
    yield result


def _section_sizes(facts: Facts | None) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for sec in (facts.get("sections") if facts else None) or ():
        sizes[sec["name"]] = sizes.get(sec["name"], 0) + sec["size"]
    return sizes


def _section_explanation(ctx: Context, name: str, size: int, excess: int) -> str:
    """The symbols (or, for .text, packages) that grew in the section, else its largest."""
    new = explain.section_parts(ctx.attribution, name)
    old_size = _section_sizes(ctx.baseline.get("facts") if ctx.baseline else None).get(name)
    if old_size is not None and size > old_size:
        grown = explain.names_growth(
            new, explain.section_parts(_base_attribution(ctx), name), size - old_size
        )
        since = f"grew {format_signed_size(size - old_size)} since the baseline"
        return f"{since}: {_describe(ctx, grown)}" if grown else since
    largest = explain.largest_names(new, excess)
    return f"largest: {_describe(ctx, largest, signed=False)}" if largest else ""


def _size_max_section(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    sizes = _section_sizes(ctx.facts)
    for name, limit in rule.value.items():
        check_id = f"size.max_section:{name}"
        if name not in sizes:
            yield _skip(rule, f"no section {name}", check_id)
            continue
        written = rule.text.get(name) if isinstance(rule.text, dict) else None
        result = _max_bytes(rule, f"section {name}", sizes[name], limit, written, check_id)
        if result.status in ("fail", "warn"):
            why = _section_explanation(ctx, name, sizes[name], sizes[name] - limit)
            result = _explained(result, why)
        yield result


def _size_max_growth(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    base = ctx.baseline and ctx.baseline.get("facts")
    if not base:
        yield _skip(rule, _no_baseline(ctx))
        return
    old, new = base["file_size"], ctx.facts["file_size"]
    grew = (new - old) / old * 100 if old else 0.0
    change = format_signed_size(new - old)
    ok = grew <= rule.value
    sign = ">" if not ok else "<="
    message = (
        f"file grew {grew:.1f}% ({change}, {format_size(old)} -> {format_size(new)}) "
        f"{sign} {rule.text}"
    )
    if grew < 0:
        message = f"file shrank {-grew:.1f}% ({change}, {format_size(old)} -> {format_size(new)})"
    result = _result(rule, ok, round(grew, 3), "%", message)
    old_attr = _base_attribution(ctx)
    grown = ""
    if old_attr is not None and ctx.attribution is not None:
        grown = _describe(ctx, explain.growth(ctx.attribution, old_attr))
    yield _explained(result, "; ".join(p for p in (_toolchain_note(ctx), grown) if p))


def _package_bytes(packages: Mapping[str, int], name: str) -> int:
    """A package's bytes; `path/...` (as in go list) sums the package and all below it."""
    if name.endswith("/..."):
        root = name[:-4]
        return sum(b for p, b in packages.items() if p == root or p.startswith(root + "/"))
    return packages.get(name, 0)


def _in_tree(packages: Mapping[str, int], name: str) -> dict[str, int]:
    """The packages `name` covers: itself, or with `path/...` the whole tree."""
    if name.endswith("/..."):
        root = name[:-4]
        return {p: b for p, b in packages.items() if p == root or p.startswith(root + "/")}
    return {name: packages[name]} if name in packages else {}


def _package_explanation(ctx: Context, name: str, measured: int, excess: int) -> str:
    """Since the baseline: how much it grew (a tree: which of its packages); else a tree's
    largest packages."""
    base = _base_attribution(ctx)
    old_packages = explain.parts(base, "code") if base else None
    tree = _in_tree(explain.parts(ctx.attribution, "code") or {}, name)
    if old_packages is not None:
        old_tree = _in_tree(old_packages, name)
        old = sum(old_tree.values())
        if measured > old:
            since = f"grew {format_signed_size(measured - old)} since the baseline"
            if not name.endswith("/..."):
                return f"{since} ({format_size(old)} -> {format_size(measured)})"
            grown = explain.names_growth(tree, old_tree, measured - old)
            return f"{since}: {_describe(ctx, grown)}" if grown else since
    if name.endswith("/...") and len(tree) > 1:
        largest = explain.largest_names(tree, excess)
        return f"largest: {_describe(ctx, largest, signed=False)}"
    return ""


def _size_max_package(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    packages = explain.named(ctx.attribution.get("packages") if ctx.attribution else None)
    for name, limit in rule.value.items():
        check_id = f"size.max_package:{name}"
        if not packages:
            yield _skip(rule, "no Go function table (not a Go binary?)", check_id)
            continue
        written = rule.text.get(name) if isinstance(rule.text, dict) else None
        measured = _package_bytes(packages, name)
        what = f"package {name}" if measured else f"package {name} (not linked)"
        result = _max_bytes(rule, what, measured, limit, written, check_id)
        if result.status in ("fail", "warn"):
            result = _explained(result, _package_explanation(ctx, name, measured, measured - limit))
        yield result


# ---------------------------------------------------------------- elf


def _elf_types(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    kind = ctx.facts["elf"]["type"]
    ok = kind in rule.value
    allowed = ", ".join(rule.value)
    yield _result(
        rule,
        ok,
        kind,
        None,
        f"ELF type {kind}"
        + (f" (allowed: {allowed})" if ok else f", not allowed (allowed: {allowed})"),
    )


# ---------------------------------------------------------------- hints, per toolchain
# What to change is said in the terms of the toolchain that built the binary (the facts'
# toolchain, gate/read/toolchain.py): a Go binary gets go build flags (its C parts, with
# cgo, through CGO_CFLAGS and -extldflags), a Rust binary Cargo profile settings and
# RUSTFLAGS (the C its build scripts compile, through CFLAGS), a C++ binary C++ compiler
# flags (CXXFLAGS), a C binary C compiler and linker flags. Never another's.


def _language(facts: Facts) -> str:
    from gate.read.toolchain import language_of

    return language_of(facts)


def _hint(ctx: Context, c: str, go: str, rust: str, cxx: str | None = None) -> str:
    """The hint in the binary's toolchain's terms; C++ shares C's where they are the
    compiler driver's or the linker's flags."""
    language = _language(ctx.facts)
    if language == "go":
        return go
    if language == "rust":
        return rust
    return cxx if language == "c++" and cxx is not None else c


def _go_bindnow(ctx: Context) -> str:
    """How a Go binary gets BIND_NOW: the linker's -bindnow (Go 1.22 and later), or the
    external linker's -z now before that."""
    go = ctx.facts.get("go")
    version = go_version_tuple(str((go.get("version") if go else None) or ""))
    if version is not None and version >= (1, 22, 0):
        return "-ldflags=-bindnow"
    return "-ldflags='-linkmode=external -extldflags=-Wl,-z,now'"


_CGO = "the cgo C code"
# The C a Rust crate's build scripts compile (the cc crate) takes the usual CFLAGS.
_RUST_C = "the C the build scripts compile (cc crate)"
_PROFILE = "in Cargo.toml's [profile.release]"


def _rustflags(flags: str) -> str:
    return f'build with RUSTFLAGS="{flags}"'


def _elf_stripped(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    sym = ctx.facts["symbols"]
    stripped = sym["stripped"]
    if stripped:
        text = "stripped (no .symtab)"
    else:
        text = f"not stripped: .symtab with {sym['symtab_entries']:,} entries"
        if rule.value:
            hint = _hint(
                ctx,
                "link with -s, or run strip",
                "link with -ldflags=-s",
                f"set strip = true {_PROFILE}",
            )
            text += f" ({hint})"
    yield _result(rule, stripped == rule.value, stripped, None, text)


def _elf_debug_info(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    d = ctx.facts["debug"]
    if d["present"]:
        kind = "compressed " if d["compressed"] else ""
        size = size_as_written(d["bytes"])
        text = f"{kind}debug info present: {size} in {len(d['sections'])} sections"
        if not rule.value:
            hint = _hint(
                ctx,
                "build without -g, or strip --strip-debug",
                "link with -ldflags=-w",
                f'set debug = false (or strip = "debuginfo") {_PROFILE}',
            )
            text += f" ({hint})"
    else:
        text = "no debug info"
    yield _result(rule, d["present"] == rule.value, d["present"], None, text)


def _elf_linking(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    ln = ctx.facts["linking"]
    kind = "static" if ln["static"] else "dynamic"
    text = f"{kind} linking"
    if not ln["static"]:
        needs = ", ".join(ln["needed"]) or "no libraries"
        text += f" (interpreter {ln['interpreter'] or '-'}, needs {needs})"
    if kind != rule.value:
        text += f"; policy wants {rule.value}"
        if rule.value == "static":
            hint = _hint(
                ctx,
                "link with -static",
                "build with CGO_ENABLED=0",
                _rustflags("-C target-feature=+crt-static") + ", or for a *-linux-musl target",
            )
            text += f" ({hint})"
    yield _result(rule, kind == rule.value, kind, None, text)


def _elf_relro(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    relro = ctx.facts["hardening"]["relro"]
    ok = _RELRO_ORDER[relro] >= _RELRO_ORDER[rule.value]
    # Go's linker writes PT_GNU_RELRO for PIE; full needs BIND_NOW.
    go = f"build with -buildmode=pie {_go_bindnow(ctx)}" if rule.value == "full" else ""
    hint = _hint(
        ctx,
        "-Wl,-z,relro,-z,now" if rule.value == "full" else "-Wl,-z,relro",
        go or "build with -buildmode=pie",
        _rustflags(f"-C relro-level={rule.value}"),
    )
    text = f"RELRO {relro}" + ("" if ok else f", policy wants {rule.value} ({hint})")
    yield _result(rule, ok, relro, None, text)


def _flag(
    key: str, yes: str, no: str, hint: str = "", go_hint: str = "", rust_hint: str = "",
    cxx_hint: str | None = None,
) -> _Check:  # fmt: skip
    """A hardening flag; `hint` is the C toolchain's way to fix it, the others Go's, Rust's
    and C++'s (C++ takes C's when it has none)."""

    def check(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
        hardening: Mapping[str, object] = ctx.facts["hardening"]
        value = bool(hardening[key])
        text = yes if value else no
        shown = _hint(ctx, hint, go_hint, rust_hint, cxx_hint)
        if value != rule.value and shown:
            text += f" ({shown})"
        yield _result(rule, value == rule.value, value, None, text)

    return check


def _is_pure_go(facts: Facts) -> bool:
    """A document from before the toolchain fact: Go that records CGO_ENABLED=0."""
    go = facts.get("go")
    return bool(go) and go is not None and go["settings"].get("CGO_ENABLED") == "0"


def _no_c(facts: Facts, what: str) -> str:
    """Why a check of C code does not apply ("" when it does): Go without cgo, or Rust with
    no C objects found. `what` is what the C would have needed."""
    found = facts.get("toolchain")
    language = _language(facts)
    if not isinstance(found, Mapping):
        return f"pure Go (CGO_ENABLED=0): {what}" if _is_pure_go(facts) else ""
    why = str(found.get("c_evidence") or "")
    if language == "go" and found.get("c_code") is False:
        return f"pure Go ({why}): {what}"
    if language == "rust" and found.get("c_code") is not True:
        return f"Rust, no C objects found ({why}; no __stack_chk_fail or *_chk reference): {what}"
    return ""


def _elf_canary(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    why = _no_c(ctx.facts, "its own code checks its stack and bounds; no C to protect")
    if why:
        yield _skip(rule, why)
        return
    yield from _flag(
        "canary",
        "stack protector in use (__stack_chk_fail)",
        "no stack protector (__stack_chk_fail not referenced)",
        "build C with -fstack-protector-strong",
        f"build {_CGO} with CGO_CFLAGS=-fstack-protector-strong",
        f"build {_RUST_C} with CFLAGS=-fstack-protector-strong",
        "build C++ with CXXFLAGS=-fstack-protector-strong",
    )(rule, ctx)


def _elf_bind_now(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    yield from _flag(
        "bind_now",
        "BIND_NOW: symbols resolved at load",
        "lazy binding (no BIND_NOW)",
        "link with -z now",
        f"build with {_go_bindnow(ctx)}",
        _rustflags("-C link-arg=-Wl,-z,now"),
    )(rule, ctx)


def _elf_fortify(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
    why = _no_c(ctx.facts, "no C calling libc to fortify")
    if why:
        yield _skip(rule, why)
        return
    h = ctx.facts["hardening"]
    fns = h.get("fortified") or []
    yes = f"FORTIFY_SOURCE in use ({len(fns)} checked functions: {', '.join(fns[:4])}"
    yes += ", ...)" if len(fns) > 4 else ")"
    yield from _flag(
        "fortify",
        yes,
        "no fortified libc calls (*_chk)",
        "build C with -O2 -D_FORTIFY_SOURCE=2",
        f"build {_CGO} with CGO_CFLAGS='-O2 -D_FORTIFY_SOURCE=2'",
        f"build {_RUST_C} with CFLAGS='-O2 -D_FORTIFY_SOURCE=2'",
        "build C++ with CXXFLAGS='-O2 -D_FORTIFY_SOURCE=2'",
    )(rule, ctx)


# ---------------------------------------------------------------- go


def _go(check: _Inner) -> _Check:
    def wrapped(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
        go = ctx.facts.get("go")
        if not go:
            yield _skip(rule, "not a Go binary (no .go.buildinfo)")
            return
        yield from check(rule, ctx, go)

    return wrapped


def _unrecorded(go: GoBuild) -> str:
    """Why the build info holds no build settings ("" when it holds some): Go writes them
    from 1.18 on, so an older binary says nothing of -ldflags, CGO_ENABLED or -trimpath."""
    if go["settings"]:
        return ""
    version = go_version_tuple(str(go.get("version") or ""))
    if version is not None and version < (1, 18, 0):
        return f"Go {go['version'].removeprefix('go')} records no build settings (Go 1.18+ does)"
    return "the build info records no build settings"


@_go
def _go_cgo(rule: Rule, ctx: Context, go: GoBuild) -> Iterable[CheckResult]:
    setting = go["settings"].get("CGO_ENABLED")
    if setting is None:
        # Unrecorded: whether cgo linked C in is in the ELF (gate/read/toolchain.py).
        found = ctx.facts.get("toolchain")
        why = _unrecorded(go) or "CGO_ENABLED not recorded in the build info"
        if found is None or found.get("c_code") is None:
            yield _skip(rule, why)
            return
        on = bool(found["c_code"])
        text = f"{why}; from the ELF: {'cgo' if on else 'no cgo'} ({found['c_evidence']})"
        yield _result(rule, on == rule.value, on, None, text)
        return
    on = setting == "1"
    text = f"CGO_ENABLED={setting}"
    if on != rule.value:
        text += f"; policy wants CGO_ENABLED={'1' if rule.value else '0'}"
    yield _result(rule, on == rule.value, on, None, text)


@_go
def _go_ldflags(rule: Rule, ctx: Context, go: GoBuild) -> Iterable[CheckResult]:
    wanted = list(rule.value)
    ldflags = go["settings"].get("-ldflags")
    unrecorded = _unrecorded(go)
    if ldflags is None and (unrecorded or go["settings"].get("-trimpath") == "true"):
        # Go omits -ldflags under -trimpath, and before 1.18 records no settings at all;
        # -s and -w still show in the ELF itself.
        why = unrecorded or "-ldflags not recorded (-trimpath)"
        inferable = {
            "-s": ctx.facts["symbols"]["stripped"],
            "-w": not ctx.facts["debug"]["present"],
        }
        if set(wanted) <= set(inferable):
            missing = [f for f in wanted if not inferable[f]]
            text = f"{why}; from the ELF: " + (
                f"lacks {' '.join(missing)}" if missing else "stripped, no DWARF"
            )
            yield _result(rule, not missing, None, None, text)
            return
        yield _skip(
            rule, unrecorded or "-ldflags not recorded in the build info (-trimpath hides it)"
        )
        return
    try:
        tokens = shlex.split(ldflags or "")
    except ValueError:
        tokens = (ldflags or "").split()
    missing = [f for f in wanted if f not in tokens]
    if not ldflags:
        text = f"built without -ldflags (lacks {' '.join(missing)})"
    elif missing:
        text = f'-ldflags "{ldflags}" lacks {" ".join(missing)}'
    else:
        text = f'-ldflags "{ldflags}" has {" ".join(wanted)}'
    yield _result(rule, not missing, ldflags or "", None, text)


@_go
def _go_min_version(rule: Rule, ctx: Context, go: GoBuild) -> Iterable[CheckResult]:
    have = go_version_tuple(go["version"])
    if have is None:
        yield _skip(rule, f"Go version {go['version']!r} cannot be compared")
        return
    ok = have >= rule.value
    text = f"built with {go['version']}" + ("" if ok else f", older than {rule.text}")
    yield _result(rule, ok, go["version"], None, text, limit=rule.text)


@_go
def _go_trimpath(rule: Rule, ctx: Context, go: GoBuild) -> Iterable[CheckResult]:
    unrecorded = _unrecorded(go)
    if unrecorded:
        yield _skip(rule, f"{unrecorded}: whether -trimpath was used is not known")
        return
    on = go["settings"].get("-trimpath") == "true"
    text = "built with -trimpath" if on else "built without -trimpath (file paths embedded)"
    yield _result(rule, on == rule.value, on, None, text)


# ---------------------------------------------------------------- startup


def _startup(check: _Inner) -> _Check:
    def wrapped(rule: Rule, ctx: Context) -> Iterable[CheckResult]:
        if ctx.startup is None:
            yield _skip(rule, ctx.startup_skipped)
            return
        yield from check(rule, ctx, ctx.startup)

    return wrapped


def _word(startup: Startup) -> str:
    """The kind of start, with the envelope it ran in: a number is only read right next to
    it ("cold-start (0.25 CPU, 128 MB memory) p95 ...")."""
    from gate.values.envelope import describe

    word = "cold-start" if startup.get("cold") else "warm-start"
    inside = describe(startup.get("envelope"))
    return f"{word} ({inside})" if inside else word


@_startup
def _percentile(rule: Rule, ctx: Context, startup: Startup) -> Iterable[CheckResult]:
    key = rule.id.split(".", 1)[1]
    stats = startup.get("stats")
    if not stats:
        yield _result(
            rule, False, None, "ms", f"{_word(startup)} {key}: no successful start to measure"
        )
        return
    by_key: Mapping[str, Any] = stats
    value = by_key[f"{key}_ms"]
    lo, hi = stats["ci"][key]
    ci = f"{stats['confidence']:.0%} CI [{_ci(lo)}, {_ci(hi)}]"
    context = f"({stats['count']} runs, p50 {stats['p50_ms']:.1f} ms, {ci})"
    ok = value <= rule.value
    limit = rule.text if isinstance(rule.text, str) else f"{rule.value:g} ms"
    adaptive = startup.get("adaptive")
    if adaptive:  # sampled until decided: judged on the interval, not on the point
        found = interval_verdict(lo, hi, stats["min_ms"], stats["max_ms"], rule.value)
        if found == UNDECIDED:
            yield _undecided(
                rule, ctx, round(value, 3), "ms",
                f"{_word(startup)} {key} {value:.1f} ms, limit {limit}: undecided after "
                f"{stats['count']} runs (max_runs {adaptive['max_runs']}; {ci} contains the "
                "limit)",
            )  # fmt: skip
            return
        ok = found == PASS
    if ok:
        text = f"{_word(startup)} {key} {value:.1f} ms <= {limit} {context}"
    else:
        text = f"{_word(startup)} {key} {value:.1f} ms > {limit} {_over(value, rule.value, 'ms')} "
        text += context
    yield _result(rule, ok, round(value, 3), "ms", text)


def _ci(bound: float | None) -> str:
    return "-" if bound is None else f"{bound:.1f}"


@_startup
def _max_rss(rule: Rule, ctx: Context, startup: Startup) -> Iterable[CheckResult]:
    peak = startup["max_rss_bytes"]  # the results' one number (stats.peak_rss)
    if peak is None:
        yield _skip(
            rule, "max RSS not measurable (smaller than gate itself, or no successful start)"
        )
        return
    yield _max_bytes(rule, "max RSS", peak, rule.value, rule.text)


def _at_readiness(what: str, key: str) -> _Check:
    """A limit on what the program holds at readiness: the results' one number (the most
    of any successful start, gate/run/loaded.py), judged as it is; counts do not vary
    from start to start the way times do, so there is no interval to wait on."""

    @_startup
    def check(rule: Rule, ctx: Context, startup: Startup) -> Iterable[CheckResult]:
        held: Mapping[str, Any] = startup
        measured = held.get(key)
        if measured is None:
            why = (
                "the program exits to be ready (--ready exit), nothing is left to read"
                if startup.get("ready") == "exit"
                else "no successful start"
            )
            yield _skip(rule, f"{what} at readiness not measured: {why}")
            return
        ok = measured <= rule.value
        sign = "<=" if ok else ">"
        text = f"{what} at readiness {measured} {sign} {rule.value}"
        if not ok:
            text += f" {_over(measured, rule.value, None)}"
            objects = startup.get("shared_objects") or []
            if key == "mapped_objects" and objects:
                names = ", ".join(o.rsplit("/", 1)[-1] for o in objects[:8])
                more = f" and {len(objects) - 8} more" if len(objects) > 8 else ""
                text += f": {names}{more}"
        yield _result(rule, ok, measured, None, text)

    return check


def _undecided(rule: Rule, ctx: Context, measured: Any, unit: str, message: str) -> CheckResult:
    """A verdict the runs could not settle: the policy's `undecided` says what it becomes."""
    status = {"fail": "fail", "pass": "pass"}.get(ctx.undecided, "warn")
    if status == "fail" and rule.severity == "warn":
        status = "warn"
    return CheckResult(
        rule.id, status, measured, rule.value, unit,
        f"{message}; policy undecided = {ctx.undecided!r}", rule.severity,
    )  # fmt: skip


def _ab_regression(rule: Rule, ctx: Context, startup: Startup) -> CheckResult:
    """NEW against OLD started in the same job, interleaved: judged on the ratio's interval."""
    ab = startup["against"]
    # An interval is only computed from pairs of successful starts, so with it come the
    # ratio and both sides' statistics; a document that says otherwise has too few.
    ratio_ci = ab.get("ratio_ci") if ab else None
    ratio = ab.get("ratio_hl") if ab else None
    old, new = (ab.get("stats") if ab else None), startup.get("stats")
    if not ab or not ratio_ci or ratio is None or not old or not new:
        return _result(rule, False, None, "%", "A/B: too few successful starts to compare")
    lo, hi = ratio_ci
    change = (ratio - 1) * 100
    detail = (
        f"A/B {ratio:.3f}x ({change:+.1f}%), {ab['confidence']:.0%} CI "
        f"[{lo:.3f}, {hi:.3f}], p={ab['p_value']:.3g}, p50 {old['p50_ms']:.1f} ms -> "
        f"{new['p50_ms']:.1f} ms ({ab.get('pairs', 0)} interleaved pairs)"
    )
    adaptive = startup.get("adaptive")
    more = f" after max_runs {adaptive['max_runs']}" if adaptive else ""
    return _ab_verdict(rule, ctx, (lo, hi), round(change, 3), detail, more)


def _ab_verdict(
    rule: Rule, ctx: Context, ci: tuple[float, float], change: float, detail: str, more: str
) -> CheckResult:
    """An A/B regression judged on its interval (wall time or counts alike): fail above
    the limit, pass below it, the policy's `undecided` when the limit lies inside."""
    found = regression_verdict_of(*ci, rule.value)
    if found == UNDECIDED:
        return _undecided(
            rule, ctx, change, "%",
            f"{detail}: undecided{more}, the interval contains +{rule.value:g}%",
        )  # fmt: skip
    sign = "<=" if found == PASS else ">"
    return _result(rule, found == PASS, change, "%", f"{detail} {sign} {rule.text}")


@_startup
def _max_regression(rule: Rule, ctx: Context, startup: Startup) -> Iterable[CheckResult]:
    if startup.get("against"):
        yield _ab_regression(rule, ctx, startup)
        return
    base = ctx.baseline["startup"] if ctx.baseline else None
    old = base["stats"] if base else None
    new = startup.get("stats")
    if not old:
        yield _skip(rule, _no_baseline(ctx, "start-up"))
        return
    if not new:
        yield _result(rule, False, None, "%", "no successful start to compare")
        return
    ratio = new["p50_ms"] / old["p50_ms"] if old["p50_ms"] else 1.0
    change = (ratio - 1) * 100
    ok = change <= rule.value
    text = (
        f"p50 {old['p50_ms']:.1f} ms -> {new['p50_ms']:.1f} ms ({change:+.1f}%) "
        f"{'<=' if ok else '>'} {rule.text} (against a recorded baseline, not A/B)"
    )
    yield _result(rule, ok, round(change, 3), "%", text)


def _not_counted(startup: Startup) -> str:
    if startup.get("stats") is None:
        return "instructions not counted: no timed start succeeded"
    return (
        'instructions not counted (set [startup] count = "instructions", or pass --count '
        "instructions)"
    )


def _count_context(counts: Counts) -> str:
    """`median of 5 counted starts, 121.5M..121.6M, spread 0.03%; valgrind-3.19.0 cachegrind`"""
    from gate.values.counts import format_count

    parts = [f"median of {counts['count']} counted starts"]
    if counts["count"] > 1 and counts["min"] is not None and counts["max"] is not None:
        parts.append(f"{format_count(counts['min'])}..{format_count(counts['max'])}")
    if counts["spread_pct"] is not None:
        parts.append(f"spread {counts['spread_pct']:.2f}%")
    return f"{', '.join(parts)}; {counts['version']} {counts['backend'].split('-')[-1]}"


def _no_count(counts: Counts) -> str:
    """No successful counted start: the first counted start's reason."""
    why = next((r["error"] for r in counts["runs"] if r["error"]), None)
    return f"no successful counted start: {why}" if why else "no successful counted start"


@_startup
def _max_instructions(rule: Rule, ctx: Context, startup: Startup) -> Iterable[CheckResult]:
    from gate.values.counts import format_count

    counts = startup.get("counts")
    if counts is None:
        yield _skip(rule, _not_counted(startup))
        return
    median = counts["median"]
    if median is None:
        yield _result(rule, False, None, "instructions", _no_count(counts))
        return
    ok = median <= rule.value
    limit = format_count(rule.value)
    text = f"instructions {format_count(median)} {'<=' if ok else '>'} {limit}"
    if not ok:
        text += f" {_over(median, rule.value, None)}"
    yield _result(rule, ok, median, "instructions", f"{text} ({_count_context(counts)})")


@_startup
def _instructions_regression(rule: Rule, ctx: Context, startup: Startup) -> Iterable[CheckResult]:
    """A/B on counted starts (interleaved, judged on the paired interval as wall time is);
    else against the baseline document's median count, judged as it is: a count does not
    move with the machine the way time does, but the backend must be the same one."""
    from gate.values.counts import format_count

    counts = startup.get("counts")
    if counts is None:
        yield _skip(rule, _not_counted(startup))
        return
    if counts["median"] is None:
        yield _result(rule, False, None, "%", _no_count(counts))
        return
    ab = counts.get("against")
    if ab is not None:
        ratio, ratio_ci, old = ab["ratio_hl"], ab["ratio_ci"], ab["median"]
        if ratio is None or not ratio_ci or old is None:
            yield _result(rule, False, None, "%", "A/B: too few successful counted starts")
            return
        lo, hi = ratio_ci
        change = (ratio - 1) * 100
        detail = (
            f"A/B instructions {ratio:.4f}x ({change:+.2f}%), {ab['confidence'] or 0:.0%} CI "
            f"[{lo:.4f}, {hi:.4f}], median {format_count(old)} -> "
            f"{format_count(counts['median'])} ({ab['pairs']} interleaved pairs)"
        )
        more = f" after {len(counts['runs'])} counted starts"
        yield _ab_verdict(rule, ctx, (lo, hi), round(change, 4), detail, more)
        return
    base = ctx.baseline["startup"] if ctx.baseline else None
    old_counts = base.get("counts") if base else None
    if not old_counts or old_counts.get("median") is None:
        yield _skip(rule, _no_baseline(ctx, "instruction count"))
        return
    if (old_counts["backend"], old_counts["metric"]) != (counts["backend"], counts["metric"]):
        yield _skip(
            rule,
            f"the baseline counted {old_counts['metric']} with {old_counts['backend']}, this "
            f"run with {counts['backend']}: not comparable",
        )
        return
    old_median = float(old_counts["median"] or 0)
    change = (counts["median"] / old_median - 1) * 100 if old_median else 0.0
    ok = change <= rule.value
    text = (
        f"instructions {format_count(old_median)} -> {format_count(counts['median'])} "
        f"({change:+.2f}%) {'<=' if ok else '>'} {rule.text} (medians, against a recorded "
        "baseline, not A/B)"
    )
    yield _result(rule, ok, round(change, 4), "%", text)


def _runs_check(ctx: Context) -> list[CheckResult]:
    """Implicit whenever start-up ran: a failed start is never dropped silently."""
    startup = ctx.startup
    if startup is None:
        return []
    runs = startup["runs"]
    failed = [r for r in runs if not r["ok"]]
    if not failed:
        return [
            CheckResult(
                "startup.runs",
                "pass",
                len(runs),
                len(runs),
                None,
                f"all {len(runs)} starts succeeded",
            )
        ]
    first = failed[0]["error"] or "failed"
    return [
        CheckResult(
            "startup.runs",
            "fail",
            len(runs) - len(failed),
            len(runs),
            None,
            f"{len(failed)} of {len(runs)} starts failed; first: {first}",
        )
    ]


CHECKS: dict[str, _Check] = {
    "size.max_file": _size_max_file,
    "size.max_section": _size_max_section,
    "size.max_growth": _size_max_growth,
    "size.max_package": _size_max_package,
    "elf.types": _elf_types,
    "elf.stripped": _elf_stripped,
    "elf.debug_info": _elf_debug_info,
    "elf.linking": _elf_linking,
    "elf.relro": _elf_relro,
    "elf.nx": _flag(
        "nx",
        "non-executable stack (NX)",
        "executable stack: PT_GNU_STACK has PF_X or is missing",
        "link with -z noexecstack",
        "link with -ldflags=-extldflags=-Wl,-z,noexecstack (an object cgo linked asks for it)",
        _rustflags("-C link-arg=-Wl,-z,noexecstack") + " (an object linked in asks for it)",
    ),
    "elf.canary": _elf_canary,
    "elf.bind_now": _elf_bind_now,
    "elf.textrel": _flag(
        "textrel",
        "text relocations present (DT_TEXTREL)",
        "no text relocations",
        "compile every object with -fPIC",
        f"build {_CGO} with CGO_CFLAGS=-fPIC",
        f"build {_RUST_C} with CFLAGS=-fPIC",
        "build C++ with CXXFLAGS=-fPIC",
    ),
    "elf.fortify": _elf_fortify,
    "go.cgo": _go_cgo,
    "go.ldflags_contain": _go_ldflags,
    "go.min_version": _go_min_version,
    "go.trimpath": _go_trimpath,
    **{f"startup.{key}": _percentile for key in QUANTILES},
    "startup.max_rss": _max_rss,
    "startup.max_mapped_objects": _at_readiness("shared objects mapped", "mapped_objects"),
    "startup.max_open_fds": _at_readiness("descriptors open", "open_fds"),
    "startup.max_regression": _max_regression,
    "startup.max_instructions": _max_instructions,
    "startup.max_instructions_regression": _instructions_regression,
}


def _baseline_check(ctx: Context) -> list[CheckResult]:
    """Implicit whenever a baseline was given: what this binary was compared with, or that
    nothing was (a renamed binary must not switch the relative checks off unseen)."""
    p = ctx.pairing
    if p is None:
        return []
    if p.how == "missing":  # --baseline-optional, and there is none yet
        return [CheckResult("baseline.match", "skip", p.how, None, None, p.note)]
    if p.entry is not None:
        return [CheckResult("baseline.match", "pass", p.how, None, None, p.note)]
    status = "fail" if ctx.unmatched == "fail" else "warn"
    severity = "error" if status == "fail" else "warn"
    message = f"{p.note}; growth and regression checks skipped"
    return [CheckResult("baseline.match", status, p.how, None, None, message, severity)]


def _envelope_check(ctx: Context) -> list[CheckResult]:
    """Implicit whenever start-up numbers are compared with a recorded baseline's: a warning
    when the two were measured in different envelopes (compare.across_envelopes), which
    move start-up by design, and one when their percentiles were computed by different
    methods (compare.across_methods). A/B starts (--baseline-binary) share this run's
    envelope and method."""
    base = (ctx.baseline or {}).get("startup")
    if not ctx.startup or not base or not ctx.startup.get("stats") or not base.get("stats"):
        return []
    found = []
    message = across_envelopes(base.get("envelope"), ctx.startup.get("envelope"))
    if message:
        found.append(CheckResult("baseline.envelope", "warn", None, None, None, message, "warn"))
    message = across_methods(base["stats"], ctx.startup["stats"])
    if message:
        found.append(CheckResult("baseline.quantiles", "warn", None, None, None, message, "warn"))
    return found


def judge(rules: Mapping[str, Rule], ctx: Context) -> list[CheckResult]:
    """Every check the rules ask for, in policy order, after the implicit ones: how the
    baseline was matched (and in which envelope it was measured), and whether every start
    succeeded."""
    results: list[CheckResult] = []
    for rule_id, rule in rules.items():
        if rule_id in SETTINGS:
            continue
        results.extend(CHECKS[rule_id](rule, ctx))
    implicit = _baseline_check(ctx) + _envelope_check(ctx)
    implicit += _runs_check(ctx) if ctx.startup is not None else []
    return implicit + results


def verdict(checks: Iterable[CheckResult]) -> Literal["pass", "fail"]:
    return "fail" if any(c.status == "fail" for c in checks) else "pass"
