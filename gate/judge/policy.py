"""Policies: TOML files that say what may ship, validated before anything runs.

A policy is a set of rules (`size.max_file = "8.5 MB"`), each optionally a warning
instead of a failure (`p95 = { value = "320ms", severity = "warn" }`, or
`severity = "warn"` for a whole section), built on another policy (`extends`, a
built-in name or a path relative to the file), with per-binary overrides
(`[binary."svc-*".size]`). Every mistake is reported with the file, the key path
and what was expected; an unknown key names the nearest known one.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.errors import GateError, UnitError
from gate.values import envelope
from gate.values.stats import QUANTILES
from gate.values.textlimits import toml_excess
from gate.values.units import parse_duration, parse_percent, parse_size

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

ELF_TYPES = ("exec", "pie", "static-pie", "shared-object")
MAX_RUNS = 10_000  # timed (or warm-up) starts of one binary: hours of a slow service already
SEVERITIES = ("error", "warn")
MAX_COUNT = 2**31  # shared objects or descriptors of one process: far beyond any kernel's


class PolicyError(GateError):
    """A policy file that cannot be used; the message names file, key and expectation."""


@dataclass(frozen=True)
class Rule:
    id: str  # "size.max_file"
    value: Any  # parsed: bytes (int), ms (float), percent (float), bool, list, str, dict
    text: Any  # as written, for messages ("8.5 MB")
    severity: str  # error | warn
    source: str  # the file it came from


@dataclass(frozen=True)
class Policy:
    name: str
    sources: tuple[str, ...]
    rules: Mapping[str, Rule]
    overrides: tuple[tuple[str, Mapping[str, Rule]], ...] = ()

    def for_binary(self, path: str) -> dict[str, Rule]:
        """The rules for one binary: the base, then every override whose glob matches."""
        rules = dict(self.rules)
        name = Path(path).name
        for pattern, extra in self.overrides:
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(path, pattern):
                rules.update(extra)
        return rules


# ---------------------------------------------------------------- value kinds

Parser = Callable[[Any], tuple[Any, Any]]  # raw -> (value, text as written)


class _Bad(Exception):
    """A value of the wrong kind: the text says what was expected."""


def _size(raw: Any) -> tuple[Any, Any]:
    try:
        return parse_size(raw), raw
    except UnitError as exc:
        raise _Bad(str(exc)) from None


def _duration(raw: Any) -> tuple[Any, Any]:
    try:
        return parse_duration(raw), raw
    except UnitError as exc:
        raise _Bad(str(exc)) from None


def _envelope(parse: Callable[[Any], Any]) -> Parser:
    """A setting of the start-up envelope (gate/values/envelope.py parses it)."""

    def parser(raw: Any) -> tuple[Any, Any]:
        try:
            return parse(raw), raw
        except ValueError as exc:
            raise _Bad(str(exc)) from None

    return parser


def _percent(raw: Any) -> tuple[Any, Any]:
    try:
        value = parse_percent(raw)
    except UnitError as exc:
        raise _Bad(str(exc)) from None
    if not 0 <= value <= 100:
        raise _Bad(f"expected a percentage between 0% and 100%, got {raw!r}")
    return value, raw


def _instructions(raw: Any) -> tuple[Any, Any]:
    from gate.values.counts import parse_count

    try:
        return parse_count(raw), raw
    except UnitError as exc:
        raise _Bad(str(exc)) from None


def _bool(raw: Any) -> tuple[Any, Any]:
    if not isinstance(raw, bool):
        raise _Bad(f"expected true or false, got {raw!r}")
    return raw, raw


def _int(minimum: int, maximum: int) -> Parser:
    def parse(raw: Any) -> tuple[Any, Any]:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
            raise _Bad(f"expected a whole number >= {minimum}, got {raw!r}")
        if raw > maximum:
            raise _Bad(f"{raw} is more than {maximum}, the most gate allows (each is one start)")
        return raw, raw

    return parse


def _choice(choices: tuple[str, ...]) -> Parser:
    def parse(raw: Any) -> tuple[Any, Any]:
        if raw not in choices:
            raise _Bad(f"expected one of {', '.join(choices)}; got {raw!r}")
        return raw, raw

    return parse


def _choices(choices: tuple[str, ...]) -> Parser:
    """A list of names, in any case (readelf says "PIE", the policy may too)."""

    def parse(raw: Any) -> tuple[Any, Any]:
        if not isinstance(raw, list) or not raw:
            raise _Bad(f"expected a list of {', '.join(choices)}; got {raw!r}")
        bad = [x for x in raw if not isinstance(x, str) or x.lower() not in choices]
        if bad:
            raise _Bad(f"expected a list of {', '.join(choices)}; {bad[0]!r} is not one")
        return [x.lower() for x in raw], list(raw)

    return parse


def _strings(raw: Any) -> tuple[Any, Any]:
    if not isinstance(raw, list) or not all(isinstance(x, str) and x for x in raw):
        raise _Bad(f'expected a list of strings like ["-s", "-w"], got {raw!r}')
    return list(raw), list(raw)


def _string(raw: Any) -> tuple[Any, Any]:
    if not isinstance(raw, str):
        raise _Bad(f"expected a string, got {raw!r}")
    return raw, raw


_GO_VERSION = re.compile(r"(?:go)?(\d+)\.(\d+)(?:\.(\d+))?")


def go_version_tuple(text: str) -> tuple[int, int, int] | None:
    m = _GO_VERSION.match(text.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _go_version(raw: Any) -> tuple[Any, Any]:
    if not isinstance(raw, str) or go_version_tuple(raw) is None:
        raise _Bad(f'expected a Go version like "1.21" or "go1.21.3", got {raw!r}')
    return go_version_tuple(raw), raw


def _size_map(raw: Any) -> tuple[Any, Any]:
    if not isinstance(raw, dict) or not raw:
        raise _Bad(f'expected a table like {{ ".text" = "4 MiB" }}, got {raw!r}')
    values = {}
    for key, item in raw.items():
        try:
            values[key] = parse_size(item)
        except UnitError as exc:
            raise _Bad(f"[{key!r}]: {exc}") from None
    return values, dict(raw)


def _args(raw: Any) -> tuple[Any, Any]:
    """The program's arguments: a list of strings, passed as they are ({port} filled)."""
    example = '["--listen", "127.0.0.1:{port}"]'
    if not isinstance(raw, list):
        raise _Bad(f"expected a list of strings like {example}, got {raw!r}")
    for i, item in enumerate(raw):
        if not isinstance(item, str):
            raise _Bad(f"[{i}]: expected a string, got {item!r} (quote it: {str(item)!r})")
        if "\0" in item:
            raise _Bad(f"[{i}]: an argument cannot hold a NUL character")
    return list(raw), list(raw)


def _env(raw: Any) -> tuple[Any, Any]:
    """Environment for the program: a table of NAME = "value" (strings only)."""
    if not isinstance(raw, dict):
        raise _Bad(f'expected a table like {{ GOMAXPROCS = "1" }}, got {raw!r}')
    for key, item in raw.items():
        if not key or "=" in key or "\0" in key:
            raise _Bad(f"{key!r}: not an environment variable name (no '=', not empty)")
        if not isinstance(item, str):
            raise _Bad(f"{key}: expected a string, got {item!r} (quote it: {str(item)!r})")
        if "\0" in item:
            raise _Bad(f"{key}: a value cannot hold a NUL character")
    return dict(raw), dict(raw)


def _ready(raw: Any) -> tuple[Any, Any]:
    from gate.values.readiness import parse_ready

    if not isinstance(raw, str):
        raise _Bad(f'expected a readiness spec like "notify", got {raw!r}')
    try:
        parse_ready(raw)
    except GateError as exc:
        raise _Bad(str(exc).removeprefix(f"--ready {raw!r}: ")) from None
    return raw, raw


@dataclass(frozen=True)
class Key:
    """One policy key, declared once: the TOML key, how its value is read, what it judges
    (or, for a setting, how a start is made). The schema, the settings, `gate policy keys`
    and the README's table of keys are all made from KEYS; a check's function in
    gate/judge/checks.py is registered under the same id (tests/test_policy_keys.py
    fails when a judged key has none, or a function has no key)."""

    id: str  # "size.max_file"
    parse: Parser
    value: str  # what the value looks like, for people
    what: str  # what it judges, or what it sets
    setting: bool = False  # how a run is made, not what is judged: no severity

    @property
    def area(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]


_SIZE = '"8.5 MB", "4 MiB"'
_DURATION = '"320ms", "1.5s"'
_PERCENT = '"5%"'
_BOOL = "true or false"
_RUNS = f"1 to {MAX_RUNS:,}"

KEYS: tuple[Key, ...] = (
    Key("size.max_file", _size, _SIZE, "the file's size at most this"),
    Key(
        "size.max_section",
        _size_map,
        '{ ".text" = "4 MiB" }',
        "each named section at most its size",
    ),
    Key("size.max_growth", _percent, _PERCENT, "the file grew at most this against the baseline"),
    Key(
        "size.max_package",
        _size_map,
        '{ "net/http" = "600 KiB", "go.opentelemetry.io/..." = "2 MiB" }',
        "each Go package's code (`path/...`: with everything below it) at most its size",
    ),
    Key(
        "elf.types",
        _choices(ELF_TYPES),
        " | ".join(ELF_TYPES) + " (a list)",
        "the ELF type is one of these",
    ),
    Key("elf.stripped", _bool, _BOOL, "no .symtab (true), or a symbol table kept (false)"),
    Key("elf.debug_info", _bool, _BOOL, "DWARF debug info present (true) or not (false)"),
    Key(
        "elf.linking",
        _choice(("static", "dynamic")),
        "static | dynamic",
        "how the binary is linked",
    ),
    Key(
        "elf.relro",
        _choice(("none", "partial", "full")),
        "none | partial | full",
        "RELRO at least this",
    ),
    Key("elf.nx", _bool, _BOOL, "a non-executable stack (PT_GNU_STACK without PF_X)"),
    Key("elf.canary", _bool, _BOOL, "C objects built with a stack protector (skipped without C)"),
    Key("elf.bind_now", _bool, _BOOL, "every symbol bound at load (BIND_NOW)"),
    Key("elf.textrel", _bool, _BOOL, "text relocations present (true) or none (false)"),
    Key("elf.fortify", _bool, _BOOL, "_FORTIFY_SOURCE's checked functions linked in"),
    Key("go.cgo", _bool, _BOOL, "built with cgo (true) or CGO_ENABLED=0 (false)"),
    Key("go.ldflags_contain", _strings, '["-s", "-w"]', "-ldflags holds each of these"),
    Key(
        "go.min_version",
        _go_version,
        '"1.21", "go1.21.3"',
        "built by this Go release or a later one",
    ),
    Key("go.trimpath", _bool, _BOOL, "built with -trimpath (true) or without (false)"),
    Key("startup.runs", _int(1, MAX_RUNS), _RUNS, "timed starts of each binary", setting=True),
    Key(
        "startup.max_runs",
        _int(1, MAX_RUNS),
        _RUNS,
        "adaptive: keep starting, up to this many, while a start-up verdict is undecided",
        setting=True,
    ),
    Key(
        "startup.warmup",
        _int(0, MAX_RUNS),
        f"0 to {MAX_RUNS:,}",
        "untimed starts before the timed ones",
        setting=True,
    ),
    Key(
        "startup.cold",
        _bool,
        _BOOL,
        "evict the binary and what it loads from the page cache before each start",
        setting=True,
    ),
    Key("startup.timeout", _duration, _DURATION, "a start not ready by then fails", setting=True),
    Key(
        "startup.ready",
        _ready,
        'exit, notify, "line:REGEX", "tcp:{port}", "http://127.0.0.1:{port}/healthz"',
        "the event that ends a timed start",
        setting=True,
    ),
    Key(
        "startup.args",
        _args,
        '["--listen", "127.0.0.1:{port}"]',
        "the program's arguments ({port} is filled)",
        setting=True,
    ),
    Key("startup.env", _env, '{ GOMAXPROCS = "1" }', "the program's environment", setting=True),
    # The production envelope every start runs inside (a cgroup per start).
    Key(
        "startup.cpus",
        _envelope(envelope.parse_cpus),
        '0.25, "250m"',
        "the CPU quota every start runs inside",
        setting=True,
    ),
    Key(
        "startup.cpu_period",
        _envelope(envelope.parse_period),
        '"100ms"',
        "the CPU quota's period",
        setting=True,
    ),
    Key(
        "startup.memory",
        _envelope(envelope.parse_memory),
        '"128 MB"',
        "the memory limit every start runs inside",
        setting=True,
    ),
    Key(
        "startup.cpu",
        _envelope(envelope.parse_cpu),
        "0, 1, ...",
        "the CPU the program is pinned to",
        setting=True,
    ),
    *(
        Key(f"startup.{q}", _duration, _DURATION, f"the {q} of the start-up times at most this")
        for q in QUANTILES  # p50, p90, p95, p99: stats.QUANTILES
    ),
    Key("startup.max_rss", _size, _SIZE, "the peak resident memory of any start at most this"),
    # At readiness, the most of any successful start (gate/run/loaded.py).
    Key(
        "startup.max_mapped_objects",
        _int(0, MAX_COUNT),
        "0, 1, ...",
        "shared objects mapped at readiness at most this",
    ),
    Key(
        "startup.max_open_fds",
        _int(0, MAX_COUNT),
        "0, 1, ...",
        "descriptors open at readiness at most this",
    ),
    # Files to evict before each cold start besides the loader's list and what the
    # program mapped at start (which gate finds itself): paths or globs.
    Key(
        "startup.evict",
        _strings,
        '["plugins/*.so"]',
        "files to evict before a cold start too (paths or globs)",
        setting=True,
    ),
    Key(
        "startup.max_regression",
        _percent,
        _PERCENT,
        "p50 slower than the baseline's by at most this",
    ),
    # Counted starts (gate/run/count.py): the instructions a start executes, apart from
    # the timed starts; an instructions check below turns counting on by itself.
    Key(
        "startup.count",
        _choice(("instructions", "none")),
        "instructions | none",
        "count each start's instructions too (counted starts, apart from the timed ones)",
        setting=True,
    ),
    Key(
        "startup.count_runs",
        _int(2, 100),
        "2 to 100",
        "counted starts of each binary (up to twice as many while an A/B is undecided)",
        setting=True,
    ),
    Key(
        "startup.max_instructions",
        _instructions,
        '30000000, "30M", "1.5G"',
        "the median instructions of a counted start at most this",
    ),
    Key(
        "startup.max_instructions_regression",
        _percent,
        '"1%"',
        "counted instructions more than the baseline's by at most this",
    ),
    Key(
        "startup.undecided",
        _choice(("fail", "warn", "pass")),
        "fail | warn | pass",
        "adaptive: a verdict still undecided at max_runs",
        setting=True,
    ),
    # A binary the given baseline has no counterpart for: what its baseline.match check
    # becomes (its relative checks are skipped either way). `required`: a baseline that
    # cannot be had is an error even with --baseline-optional.
    Key(
        "baseline.unmatched",
        _choice(("warn", "fail")),
        "warn | fail",
        "what a binary the baseline lacks gets",
        setting=True,
    ),
    Key(
        "baseline.required",
        _bool,
        _BOOL,
        "a baseline that cannot be had stops the gate (exit 2)",
        setting=True,
    ),
    # What the reports make of a binary gate could not judge (exit 2): a JUnit <error>
    # (some consumers hide errors and show the build green) or a <failure>.
    Key(
        "report.not_judged",
        _choice(("error", "failure")),
        "error | failure",
        "how JUnit shows a binary gate could not judge",
        setting=True,
    ),
)
SCHEMA: dict[str, dict[str, Parser]] = {}
for _key in KEYS:
    SCHEMA.setdefault(_key.area, {})[_key.name] = _key.parse
# How a run is made, not what is judged: no severity for these.
SETTINGS = frozenset(k.id for k in KEYS if k.setting)
_META = {"name": _string, "extends": _string, "description": _string}


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else f"; known keys: {', '.join(known)}"


# ---------------------------------------------------------------- loading


def builtin_dir() -> Traversable:
    """policies/ inside the package (installed, or inside the zipapp), else a checkout's."""
    from importlib.resources import files

    installed = files("gate") / "policies"  # a zipfile.Path when gate runs from a zipapp
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "policies"


def builtin_names() -> list[str]:
    return sorted(Path(p.name).stem for p in builtin_dir().iterdir() if p.name.endswith(".toml"))


def _resolve(spec: str, relative_to: Path | None) -> tuple[str, Path | Traversable]:
    """(display name, file) for a built-in name or a path."""
    path = Path(spec)
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if spec in builtin_names() and not path.exists():
        return f"builtin:{spec}", builtin_dir() / f"{spec}.toml"
    if path.is_file():
        return str(Path(spec) if relative_to is None else path), path
    if path.is_dir():
        raise PolicyError(f"{spec}: is a directory, not a policy file")
    names = ", ".join(builtin_names())
    raise PolicyError(f"{spec}: no such policy file or built-in policy (built-ins: {names})")


MAX_POLICY_BYTES = 1024 * 1024  # a policy is a few hundred bytes; a bigger file is not one


def _read(label: str, path: Path | Traversable) -> dict[str, Any]:
    try:
        with path.open("rb") as f:  # bounded: the file may be anything an attacker shaped
            raw = f.read(MAX_POLICY_BYTES + 1)
        if len(raw) > MAX_POLICY_BYTES:
            raise PolicyError(f"{label}: larger than {MAX_POLICY_BYTES // 1024} KiB; not a policy")
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{label}: not a text file (UTF-8 expected)") from None
    except OSError as exc:
        raise PolicyError(f"{label}: cannot read: {exc.strerror or exc}") from None
    excess = toml_excess(text)  # bytes do not bound tomllib's recursion or its time
    if excess is not None:
        raise PolicyError(f"{label}: {excess}; not a policy")
    try:
        return tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer of over 4,300 digits
        raise PolicyError(f"{label}: not valid TOML: {exc}") from None


def _parse_rule(label: str, where: str, rule_id: str, raw: Any, default_severity: str) -> Rule:
    area, key = rule_id.split(".", 1)
    parse = SCHEMA[area][key]
    severity = default_severity
    # startup.env is a table itself: a variable named `value` is not the severity form.
    table = rule_id == "startup.env"
    if not table and isinstance(raw, dict) and "value" in raw and set(raw) <= {"value", "severity"}:
        if rule_id in SETTINGS:
            raise PolicyError(f"{label}: {where}: a setting takes a plain value, not a severity")
        severity = raw.get("severity", default_severity)
        if severity not in SEVERITIES:
            raise PolicyError(
                f'{label}: {where}.severity: expected "error" or "warn", got {severity!r}'
            )
        raw = raw["value"]
    try:
        value, text = parse(raw)
    except _Bad as exc:
        raise PolicyError(f"{label}: {where}: {exc}") from None
    return Rule(rule_id, value, text, severity, label)


def _parse_areas(label: str, table: Mapping[str, Any], prefix: str) -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for area, body in table.items():
        where = f"{prefix}{area}"
        if area not in SCHEMA:
            raise PolicyError(f"{label}: {where}: unknown section{_suggest(area, list(SCHEMA))}")
        if not isinstance(body, dict):
            raise PolicyError(f"{label}: {where}: expected a table [{area}], got {body!r}")
        default = body.get("severity", "error")
        if default not in SEVERITIES:
            raise PolicyError(
                f'{label}: {where}.severity: expected "error" or "warn", got {default!r}'
            )
        for key, raw in body.items():
            if key == "severity":
                continue
            if key not in SCHEMA[area]:
                known = list(SCHEMA[area])
                raise PolicyError(f"{label}: {where}.{key}: unknown key{_suggest(key, known)}")
            rule_id = f"{area}.{key}"
            sev = "error" if rule_id in SETTINGS else default
            rules[rule_id] = _parse_rule(label, f"{where}.{key}", rule_id, raw, sev)
    return rules


def _load(spec: str, relative_to: Path | None, stack: tuple[str, ...]) -> Policy:
    label, path = _resolve(spec, relative_to)
    identity = str(path.resolve()) if isinstance(path, Path) else label
    if identity in stack:
        chain = " -> ".join([*(Path(s).name for s in stack), path.name])
        raise PolicyError(f"{label}: policy.extends: cycle: {chain}")
    data = _read(label, path)
    meta = data.pop("policy", {})
    if not isinstance(meta, dict):
        raise PolicyError(f"{label}: policy: expected a table [policy], got {meta!r}")
    for key, raw in meta.items():
        if key not in _META:
            raise PolicyError(f"{label}: policy.{key}: unknown key{_suggest(key, list(_META))}")
        try:
            _META[key](raw)
        except _Bad as exc:
            raise PolicyError(f"{label}: policy.{key}: {exc}") from None
    binary = data.pop("binary", {})
    rules = _parse_areas(label, data, "")
    overrides: list[tuple[str, dict[str, Rule]]] = []
    if not isinstance(binary, dict):
        raise PolicyError(f'{label}: binary: expected tables like [binary."svc-*".size]')
    for pattern, body in binary.items():
        if not isinstance(body, dict):
            raise PolicyError(f"{label}: binary.{pattern!r}: expected a table of sections")
        overrides.append((pattern, _parse_areas(label, body, f'binary."{pattern}".')))
        if "baseline.required" in overrides[-1][1]:  # one baseline serves every binary
            raise PolicyError(
                f'{label}: binary."{pattern}".baseline.required: one baseline serves every '
                "binary: set it in [baseline]"
            )

    name = meta.get("name", Path(path.name).stem)
    parent = meta.get("extends")
    if parent is None:
        return Policy(name, (label,), rules, tuple(overrides))
    base_dir = None  # a built-in extends built-ins only
    if isinstance(path, Path) and not label.startswith("builtin:"):
        base_dir = path.parent
    try:
        base = _load(parent, base_dir, (*stack, identity))
    except PolicyError as exc:
        if "cycle" in str(exc) or str(exc).startswith(label):
            raise
        raise PolicyError(f"{label}: policy.extends: {exc}") from None
    return Policy(
        name,
        (label, *base.sources),
        {**base.rules, **rules},
        (*base.overrides, *overrides),
    )


def load_policy(spec: str) -> Policy:
    """A built-in name ("serverless") or a path to a TOML file."""
    return _load(spec, None, ())


DEFAULT_POLICY = "default"


def startup_default(key: str) -> Any:
    """A [startup] setting's value in the built-in default policy (policies/default.toml),
    what applies where a policy or the command line says nothing: `gate startup` and a
    policy without the key take it from there, never from a copy in the code."""
    return _builtin_startup().get(key)


@functools.cache
def _builtin_startup() -> dict[str, Any]:
    rules = load_policy(DEFAULT_POLICY).rules
    return {
        k.removeprefix("startup."): r.value for k, r in rules.items() if k.startswith("startup.")
    }


# ---------------------------------------------------------------- `gate policy ...`


def describe_builtins() -> list[tuple[str, str]]:
    """(name, description) of each built-in policy, for `gate policy list`."""
    found = []
    for name in builtin_names():
        meta = tomllib.loads((builtin_dir() / f"{name}.toml").read_text()).get("policy", {})
        found.append((name, str(meta.get("description", ""))))
    return found


def builtin_values() -> dict[str, dict[str, Any]]:
    """Each built-in policy's keys, as written, once `extends` is resolved: what `gate
    policy keys` shows beside each key."""
    return {
        name: {rule.id: rule.text for rule in load_policy(name).rules.values()}
        for name in builtin_names()
    }


def show_policy(spec: str) -> str:
    """A policy's file, then the rules in force once `extends` is resolved (as comments)."""
    pol = load_policy(spec)
    path = builtin_dir() / f"{spec}.toml" if spec in builtin_names() else Path(spec)
    lines = [path.read_text().rstrip(), "", f"# in force ({' -> '.join(pol.sources)}):"]
    for rule in pol.rules.values():
        sev = "  # warn" if rule.severity == "warn" else ""
        lines.append(f"#   {rule.id} = {rule.text!r}{sev}")
    for pattern, rules in pol.overrides:
        lines += [f"#   binary {pattern!r}: {r.id} = {r.text!r}" for r in rules.values()]
    return "\n".join(lines)


def validate_policy(spec: str) -> str:
    """Load a policy as `gate check` would (PolicyError on the first problem); a summary."""
    pol = load_policy(spec)
    checks = sum(rule_id not in SETTINGS for rule_id in pol.rules)
    overrides = len(pol.overrides)
    return (
        f"{spec}: ok: policy {pol.name!r}, {checks} check{'' if checks == 1 else 's'}, "
        f"{overrides} per-binary override{'' if overrides == 1 else 's'} "
        f"({' -> '.join(pol.sources)})"
    )


REPOSITORY_POLICY = "gate.toml"


def repository_policy() -> str:
    """The policy `gate check` uses without --policy: the repository's own gate.toml (in
    the working directory: where a CI job runs), else the built-in default. One file
    carries every service's settings in its [binary."PATTERN"] sections."""
    return REPOSITORY_POLICY if Path(REPOSITORY_POLICY).is_file() else "default"
