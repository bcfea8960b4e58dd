"""Run a composite GitHub Action's steps the way the Actions runner does, for tests.

A green `action.yml` on GitHub is the only other way to know the action works, and that
needs a push per try. This runner reproduces what the real one (actions/runner) does with
a composite action, closely enough that a test can trust outputs, summary and annotations:

- `if:` is evaluated as GitHub evaluates it (implicit `success() &&` unless the expression
  calls a status function; loose `==` with number coercion and case-insensitive strings;
  `&&`/`||` return operands). Only the subset `action.yml` needs is implemented, and anything
  else raises `UnsupportedExpression` instead of being guessed.
- `${{ }}` is substituted in `run`, `env`, `working-directory`, `with` and input defaults.
- `run:` steps run as `bash --noprofile --norc -eo pipefail FILE` (GitHub's `shell: bash`)
  with the script in a file under RUNNER_TEMP; `uses:` steps are recorded as "would run".
- File commands: a fresh GITHUB_OUTPUT/GITHUB_ENV/GITHUB_PATH/GITHUB_STEP_SUMMARY/GITHUB_STATE
  per step, parsed afterwards (`name=value` and `name<<DELIM` heredocs); GITHUB_ENV and
  GITHUB_PATH carry over to later steps and, through `Job`, to later actions of the job.
- Workflow commands (`::error title=...::msg`) are read from stdout and stderr lines, as the
  runner reads both, with GitHub's unescaping.

A `Job` is the state a real job keeps between actions (RUNNER_TEMP, the workspace, env and
PATH additions), so a test can run the action several times in one job as a workflow would.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shlex
import signal
import subprocess
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml

__all__ = [
    "ActionResult",
    "ActionRunnerError",
    "Annotation",
    "Job",
    "StepResult",
    "UnsupportedExpression",
    "evaluate",
    "interpolate",
    "parse_key_value_file",
    "parse_workflow_command",
    "run_action",
]

StepStatus = Literal["ran", "failed", "skipped", "would run"]


def _frozen() -> Mapping[str, str]:
    return MappingProxyType({})


class ActionRunnerError(Exception):
    """The action or the test's use of it is malformed (GitHub would fail the run too)."""


class UnsupportedExpression(ActionRunnerError):
    """An expression uses syntax or functions this runner does not implement."""


# --------------------------------------------------------------------------- expressions

_TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_]))
    | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    | (?P<op>==|!=|&&|\|\||!|\(|\)|\.|,)
    )""",
    re.VERBOSE,
)
_STATUS_FUNCTIONS = frozenset({"always", "success", "failure", "cancelled"})
# What a composite action's expressions may name (no secrets, matrix or needs there).
_CONTEXTS = frozenset({"github", "inputs", "steps", "env", "runner", "job"})
_KEYWORDS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": math.nan,
    "Infinity": math.inf,
}


@dataclass(frozen=True)
class _Tok:
    kind: str  # string | number | ident | op | end
    text: str
    pos: int


def _tokenize(expr: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN_RE.match(expr, pos)
        if m is None or m.lastgroup is None:
            rest = expr[pos:].lstrip()
            raise UnsupportedExpression(f"unsupported syntax at {rest[:20]!r} in {expr!r}")
        tokens.append(_Tok(m.lastgroup, m.group(m.lastgroup), m.start(m.lastgroup)))
        pos = m.end()
    tokens.append(_Tok("end", "", len(expr)))
    return tokens


# An AST node is a small tuple: ("lit", value) | ("ctx", name, (prop, ...)) |
# ("not", node) | ("and"/"or"/"eq"/"ne", left, right) | ("call", name).
_Node = tuple[Any, ...]


class _Parser:
    """Recursive descent with GitHub's precedence: `!` > `== !=` > `&&` > `||`."""

    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.i = 0
        self.calls: set[str] = set()

    def parse(self) -> _Node:
        node = self._or()
        if self._peek().kind != "end":
            self._fail(f"unexpected {self._peek().text!r}")
        return node

    def _peek(self) -> _Tok:
        return self.tokens[self.i]

    def _next(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _accept(self, op: str) -> bool:
        tok = self._peek()
        if tok.kind == "op" and tok.text == op:
            self.i += 1
            return True
        return False

    def _fail(self, what: str) -> None:
        raise UnsupportedExpression(f"{what} in {self.expr!r}")

    def _or(self) -> _Node:
        node = self._and()
        while self._accept("||"):
            node = ("or", node, self._and())
        return node

    def _and(self) -> _Node:
        node = self._equality()
        while self._accept("&&"):
            node = ("and", node, self._equality())
        return node

    def _equality(self) -> _Node:
        node = self._unary()
        while True:
            if self._accept("=="):
                node = ("eq", node, self._unary())
            elif self._accept("!="):
                node = ("ne", node, self._unary())
            else:
                return node

    def _unary(self) -> _Node:
        if self._accept("!"):
            return ("not", self._unary())
        return self._primary()

    def _primary(self) -> _Node:
        tok = self._next()
        if tok.kind == "string":
            return ("lit", tok.text[1:-1].replace("''", "'"))
        if tok.kind == "number":
            return ("lit", float(tok.text))
        if tok.kind == "op" and tok.text == "(":
            node = self._or()
            if not self._accept(")"):
                self._fail("missing ')'")
            return node
        if tok.kind != "ident":
            self._fail(f"unexpected {tok.text or 'end'!r}")
        if tok.text in _KEYWORDS:
            return ("lit", _KEYWORDS[tok.text])
        if self._accept("("):
            if tok.text not in _STATUS_FUNCTIONS:
                self._fail(f"unsupported function {tok.text}()")
            if not self._accept(")"):
                self._fail(f"{tok.text}() takes no arguments")
            self.calls.add(tok.text)
            return ("call", tok.text)
        if tok.text not in _CONTEXTS:
            self._fail(f"unrecognized named-value {tok.text!r}")
        props: list[str] = []
        while self._accept("."):
            prop = self._next()
            if prop.kind != "ident":
                self._fail(f"expected a property name after '.', got {prop.text!r}")
            props.append(prop.text)
        return ("ctx", tok.text, tuple(props))


def _lookup(obj: Any, key: str) -> Any:
    """Property access as GitHub does it: case-insensitive, null when absent."""
    if not isinstance(obj, Mapping):
        return None
    if key in obj:
        return obj[key]
    lower = key.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == lower:
            return v
    return None


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, float | int):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value != ""
    return True  # objects and arrays


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _to_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0.0
        return float(text) if _JSON_NUMBER.fullmatch(text) else math.nan
    return math.nan


def _equal(a: Any, b: Any) -> bool:
    """GitHub's loose equality: different types compare as numbers, strings ignore case."""
    a_num, b_num = isinstance(a, int | float), isinstance(b, int | float)
    a_obj, b_obj = isinstance(a, Mapping | list), isinstance(b, Mapping | list)
    if a_obj or b_obj:
        return a is b
    same_kind = (
        (a is None and b is None)
        or (isinstance(a, bool) and isinstance(b, bool))
        or (isinstance(a, str) and isinstance(b, str))
        or (a_num and b_num and not isinstance(a, bool) and not isinstance(b, bool))
    )
    if same_kind:
        if isinstance(a, str):
            return a.casefold() == b.casefold()
        return bool(a == b)
    return _to_number(a) == _to_number(b)  # NaN never equals anything


@dataclass(frozen=True)
class _Scope:
    contexts: Mapping[str, Any]
    status: Callable[[str], bool]


def _eval(node: _Node, scope: _Scope) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "ctx":
        name, props = node[1], node[2]
        if name not in scope.contexts:
            raise UnsupportedExpression(f"unrecognized named-value {name!r}")
        value = scope.contexts[name]
        for prop in props:
            value = _lookup(value, prop)
        return value
    if kind == "not":
        return not _truthy(_eval(node[1], scope))
    if kind == "and":
        left = _eval(node[1], scope)
        return _eval(node[2], scope) if _truthy(left) else left
    if kind == "or":
        left = _eval(node[1], scope)
        return left if _truthy(left) else _eval(node[2], scope)
    if kind == "eq":
        return _equal(_eval(node[1], scope), _eval(node[2], scope))
    if kind == "ne":
        return not _equal(_eval(node[1], scope), _eval(node[2], scope))
    if kind == "call":
        return scope.status(node[1])
    raise AssertionError(node)


def evaluate(
    expr: str, contexts: Mapping[str, Any], status: Callable[[str], bool] | None = None
) -> Any:
    """The value of one expression (without `${{ }}`) in the given contexts."""
    parser = _Parser(expr)
    node = parser.parse()
    if parser.calls and status is None:
        raise UnsupportedExpression(f"status functions are only allowed in `if:`: {expr!r}")
    return _eval(node, _Scope(contexts, status or (lambda _name: True)))


def _to_string(value: Any) -> str:
    """How GitHub turns an expression's value into text inside a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Mapping | list):
        return json.dumps(value, indent=2)
    return str(value)


def _find_close(text: str, start: int) -> int:
    """Index of the `}}` closing an expression that starts at `start`, skipping strings."""
    i, quoted = start, False
    while i < len(text):
        ch = text[i]
        if ch == "'":
            quoted = not quoted  # '' (an escaped quote) toggles twice
        elif not quoted and text.startswith("}}", i):
            return i
        i += 1
    raise ActionRunnerError(f"unclosed ${{{{ in {text!r}")


def interpolate(text: str, contexts: Mapping[str, Any]) -> str:
    """Replace every `${{ expr }}` in a string value with the expression's text."""
    out: list[str] = []
    pos = 0
    while (start := text.find("${{", pos)) >= 0:
        end = _find_close(text, start + 3)
        out.append(text[pos:start])
        out.append(_to_string(evaluate(text[start + 3 : end], contexts)))
        pos = end + 2
    out.append(text[pos:])
    return "".join(out)


def _condition(raw: Any) -> str:
    """The expression of an `if:`; GitHub accepts it with or without `${{ }}`."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    text = str(raw).strip()
    if text.startswith("${{") and text.endswith("}}") and _find_close(text, 3) == len(text) - 2:
        text = text[3:-2]
    return text


# --------------------------------------------------------------------------- file/workflow commands


def _lines_with_newlines(text: str) -> list[tuple[str, str]]:
    """(line, newline) pairs split on \\n and \\r\\n, as the runner's ReadLine does."""
    pairs: list[tuple[str, str]] = []
    for m in re.finditer(r"([^\n]*?)(\r\n|\n|$)", text):
        if m.start() == len(text) and m.group(0) == "":
            break
        pairs.append((m.group(1), m.group(2)))
    return pairs


def parse_key_value_file(text: str, what: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV / GITHUB_STATE: `name=value` lines and `name<<DELIM` blocks.

    Mirrors actions/runner's parser: whichever of `=` and `<<` comes first decides the form,
    the heredoc value is the text between the lines (newlines kept, the last one dropped),
    and a malformed file is an error (GitHub fails the step).
    """
    result: dict[str, str] = {}
    lines = _lines_with_newlines(text)
    i = 0
    while i < len(lines):
        line, _nl = lines[i]
        i += 1
        if line == "":
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            key, value = line.split("=", 1)
            if not key:
                raise ActionRunnerError(f"{what}: invalid format {line!r}: name must not be empty")
        elif heredoc >= 0:
            key, delimiter = line.split("<<", 1)
            if not key or not delimiter:
                raise ActionRunnerError(f"{what}: invalid format {line!r}")
            parts: list[str] = []
            while True:
                if i >= len(lines):
                    raise ActionRunnerError(
                        f"{what}: invalid value: matching delimiter not found {delimiter!r}"
                    )
                body, newline = lines[i]
                i += 1
                if body == delimiter:
                    break
                if newline == "":
                    raise ActionRunnerError(f"{what}: invalid value: EOF marker missing new line")
                parts.append(body + newline)
            value = "".join(parts)
            value = value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")
        else:
            raise ActionRunnerError(f"{what}: invalid format {line!r}")
        result[key] = value
    return result


def _unescape(text: str, mappings: tuple[tuple[str, str], ...]) -> str:
    for escaped, plain in mappings:
        text = text.replace(escaped, plain)
    return text


_DATA_ESCAPES = (("%0D", "\r"), ("%0A", "\n"), ("%25", "%"))
_PROPERTY_ESCAPES = (*_DATA_ESCAPES, ("%3A", ":"), ("%2C", ","))
_ANNOTATION_COMMANDS = frozenset({"error", "warning", "notice"})
_KNOWN_COMMANDS = _ANNOTATION_COMMANDS | {
    "debug",
    "group",
    "endgroup",
    "add-mask",
    "echo",
    "stop-commands",
    "add-matcher",
    "remove-matcher",
    "save-state",
    "set-output",
    "set-env",
    "add-path",
}


def parse_workflow_command(line: str) -> tuple[str, dict[str, str], str] | None:
    """(command, properties, data) for a `::command k=v,...::data` line, else None.

    As the runner's ActionCommand.TryParseV2: leading spaces ignored, properties split on
    `,` then on the first `=`, unknown commands are plain text.
    """
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    name, _, props_text = info.partition(" ")
    if name not in _KNOWN_COMMANDS:
        return None
    props: dict[str, str] = {}
    for prop in (p for p in props_text.strip().split(",") if p):
        key, sep, value = prop.partition("=")
        if sep and key and value:
            props[key] = _unescape(value, _PROPERTY_ESCAPES)
    return name, props, _unescape(message[end + 2 :], _DATA_ESCAPES)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Annotation:
    """One `::error`/`::warning`/`::notice` a step printed, unescaped."""

    level: Literal["error", "warning", "notice"]
    message: str
    properties: Mapping[str, str]
    step: str  # the step's id or name
    stream: Literal["stdout", "stderr"]

    @property
    def title(self) -> str | None:
        return self.properties.get("title")


@dataclass(frozen=True)
class StepResult:
    """What one step did; `files` holds the raw file-command files it wrote."""

    index: int
    id: str | None
    name: str
    status: StepStatus
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    outputs: Mapping[str, str] = field(default_factory=_frozen)
    summary: str = ""
    files: Mapping[str, str] = field(
        default_factory=_frozen
    )  # GITHUB_OUTPUT, GITHUB_ENV, ... -> contents
    uses: str | None = None
    with_: Mapping[str, str] = field(default_factory=_frozen)
    skipped_by: Literal["if", "caller", None] = None


@dataclass(frozen=True)
class ActionResult:
    """The whole action: outputs, exit code (0, or the first failing step's), steps."""

    outputs: Mapping[str, str]
    exit_code: int
    annotations: tuple[Annotation, ...]
    summary: str
    steps: tuple[StepResult, ...]

    def step(self, key: str) -> StepResult:
        """A step by id or name."""
        for step in self.steps:
            if key in (step.id, step.name):
                return step
        raise KeyError(key)

    def annotations_of(self, level: str) -> list[Annotation]:
        return [a for a in self.annotations if a.level == level]

    @property
    def stdout(self) -> str:
        return "".join(s.stdout for s in self.steps)

    @property
    def stderr(self) -> str:
        return "".join(s.stderr for s in self.steps)


# --------------------------------------------------------------------------- the job


_RUNNER_VARS = re.compile(r"^(GITHUB_|RUNNER_|ACTIONS_|INPUT_)")


@dataclass
class Job:
    """The state a GitHub job keeps across steps and actions.

    `root` holds RUNNER_TEMP (`root/_temp`) and the workspace (`root/workspace`). `env` and
    `path` accumulate what GITHUB_ENV and GITHUB_PATH add; they outlive one action, as on
    GitHub. `base_env` is the runner machine's environment (default: this process's, minus
    GitHub's own variables so an outer CI cannot leak in).
    """

    root: Path
    event: Mapping[str, Any] = field(default_factory=dict)
    event_name: str = "push"
    repository: str = "octo/gate-demo"
    api_url: str = "https://api.github.com"
    token: str = "ghs_runner-token-not-for-use"
    base_env: Mapping[str, str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)  # GITHUB_PATH entries, oldest first

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.runner_temp.mkdir(parents=True, exist_ok=True)
        self.workspace.mkdir(parents=True, exist_ok=True)
        (self.root / "_files").mkdir(parents=True, exist_ok=True)
        self.event_path.write_text(json.dumps(self.event))
        if self.base_env is None:
            self.base_env = {k: v for k, v in os.environ.items() if not _RUNNER_VARS.match(k)}

    @property
    def runner_temp(self) -> Path:
        return self.root / "_temp"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def event_path(self) -> Path:
        return self.root / "event.json"

    def github_context(self, action_path: Path) -> dict[str, Any]:
        owner = self.repository.split("/")[0]
        return {
            "token": self.token,
            "event": self.event,
            "event_name": self.event_name,
            "event_path": str(self.event_path),
            "repository": self.repository,
            "repository_owner": owner,
            "api_url": self.api_url,
            "server_url": "https://github.com",
            "workspace": str(self.workspace),
            "action_path": str(action_path),
            "sha": "0" * 40,
            "ref": "refs/heads/main",
            "run_id": "1",
            "run_number": "1",
            "run_attempt": "1",
            "job": "gate",
            "workflow": "ci",
            "actor": owner,
        }

    def runtime_env(self, action_path: Path) -> dict[str, str]:
        """Variables the runner sets for every step (not the per-step file paths)."""
        gh = self.github_context(action_path)
        return {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": str(action_path),
            "GITHUB_ACTION_REPOSITORY": "",
            "GITHUB_WORKSPACE": gh["workspace"],
            "GITHUB_EVENT_PATH": gh["event_path"],
            "GITHUB_EVENT_NAME": gh["event_name"],
            "GITHUB_REPOSITORY": gh["repository"],
            "GITHUB_REPOSITORY_OWNER": gh["repository_owner"],
            "GITHUB_API_URL": gh["api_url"],
            "GITHUB_SERVER_URL": gh["server_url"],
            "GITHUB_GRAPHQL_URL": gh["api_url"].rstrip("/") + "/graphql",
            "GITHUB_SHA": gh["sha"],
            "GITHUB_REF": gh["ref"],
            "GITHUB_RUN_ID": gh["run_id"],
            "GITHUB_RUN_NUMBER": gh["run_number"],
            "GITHUB_RUN_ATTEMPT": gh["run_attempt"],
            "GITHUB_JOB": gh["job"],
            "GITHUB_WORKFLOW": gh["workflow"],
            "GITHUB_ACTOR": gh["actor"],
            "RUNNER_TEMP": str(self.runner_temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
            "RUNNER_NAME": "action-runner-test",
            "RUNNER_TOOL_CACHE": str(self.root / "_tool"),
        }

    def add_path(self, entry: str) -> None:
        """GITHUB_PATH: the newest entry goes first; a repeated one moves to the front."""
        if entry in self.path:
            self.path.remove(entry)
        self.path.append(entry)


_FILE_VARS = {
    "GITHUB_OUTPUT": "set_output",
    "GITHUB_ENV": "set_env",
    "GITHUB_PATH": "add_path",
    "GITHUB_STATE": "save_state",
    "GITHUB_STEP_SUMMARY": "step_summary",
}
_SHELLS = {
    "bash": "bash --noprofile --norc -eo pipefail {0}",
    "sh": "sh -e {0}",
}


def _status_function(failed: bool) -> Callable[[str], bool]:
    def status(name: str) -> bool:
        return {"always": True, "success": not failed, "failure": failed, "cancelled": False}[name]

    return status


def _annotations(step: str, stream: Literal["stdout", "stderr"], text: str) -> list[Annotation]:
    found: list[Annotation] = []
    stop_token: str | None = None
    for line in re.split(r"\r\n|\r|\n", text):
        if stop_token is not None:
            if line.strip() == f"::{stop_token}::":
                stop_token = None
            continue
        cmd = parse_workflow_command(line)
        if cmd is None:
            continue
        name, props, data = cmd
        if name == "stop-commands":
            stop_token = data or None
        elif name in _ANNOTATION_COMMANDS:
            level: Any = name
            found.append(Annotation(level, data, MappingProxyType(props), step, stream))
    return found


def _run_script(
    shell: str, script: str, cwd: Path, env: Mapping[str, str], temp: Path, timeout: float
) -> tuple[int, str, str]:
    template = _SHELLS.get(shell, shell)
    if "{0}" not in template:
        raise ActionRunnerError(f"unsupported shell {shell!r}")
    script_path = temp / f"{uuid.uuid4()}.sh"
    script_path.write_text(script)
    argv = [a.replace("{0}", str(script_path)) for a in shlex.split(template)]
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # so a timeout can stop everything the step started
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise ActionRunnerError(
            f"step timed out after {timeout} s\nstdout:\n{out.decode(errors='replace')}\n"
            f"stderr:\n{err.decode(errors='replace')}"
        ) from None
    finally:
        script_path.unlink(missing_ok=True)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _step_label(step: Mapping[str, Any], index: int) -> str:
    if "name" in step:
        return str(step["name"])
    if "id" in step:
        return str(step["id"])
    if "uses" in step:
        return f"Run {step['uses']}"
    return f"step {index}"


def _resolve_inputs(
    spec: Mapping[str, Any], given: Mapping[str, str], contexts: Mapping[str, Any]
) -> dict[str, str]:
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise ActionRunnerError(f"unexpected input(s) {unknown}; valid inputs are {sorted(spec)}")
    inputs: dict[str, str] = {}
    for name, meta in spec.items():
        meta = meta or {}
        if name in given:
            inputs[name] = str(given[name])
        elif "default" in meta:
            inputs[name] = interpolate(str(meta["default"]), contexts)
        elif meta.get("required"):
            raise ActionRunnerError(f"input required and not supplied: {name}")
        else:
            inputs[name] = ""
    return inputs


def run_action(
    action_dir: Path,
    job: Job,
    with_: Mapping[str, str] | None = None,
    *,
    skip_steps: Collection[str] = (),
    timeout: float = 300.0,
) -> ActionResult:
    """Run `action_dir/action.yml` (composite) as one step of `job` with the inputs `with_`.

    `skip_steps` (ids or names) are left out as if their `if:` were false, recorded with
    `skipped_by="caller"`: for a step whose effect is already in the job (e.g. an install
    done by an earlier run of the action in the same job).
    """
    action_dir = Path(action_dir).resolve()
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    runs = action.get("runs") or {}
    if runs.get("using") != "composite":
        raise ActionRunnerError(f"not a composite action: using={runs.get('using')!r}")

    github = job.github_context(action_dir)
    runner = {"temp": str(job.runner_temp), "os": "Linux", "arch": "X64"}
    base = {"github": github, "runner": runner, "env": dict(job.env)}
    inputs = _resolve_inputs(action.get("inputs") or {}, dict(with_ or {}), base)
    steps_ctx: dict[str, dict[str, Any]] = {}
    results: list[StepResult] = []
    annotations: list[Annotation] = []
    failed_code: int | None = None

    for index, step in enumerate(runs.get("steps") or []):
        step_id = step.get("id")
        label = _step_label(step, index)
        contexts = {
            "github": github,
            "runner": runner,
            "env": dict(job.env),
            "inputs": inputs,
            "steps": steps_ctx,
            "job": {"status": "failure" if failed_code is not None else "success"},
        }
        if step_id in skip_steps or label in skip_steps:
            run = False
            skipped_by: Literal["if", "caller", None] = "caller"
        else:
            parser = _Parser(_condition(step.get("if", "success()")))
            node = parser.parse()
            if not parser.calls:  # GitHub: no status function means success() && (...)
                node = ("and", ("call", "success"), node)
            scope = _Scope(contexts, _status_function(failed_code is not None))
            run = _truthy(_eval(node, scope))
            skipped_by = None if run else "if"

        if not run:
            results.append(
                StepResult(index, step_id, label, "skipped", None, skipped_by=skipped_by)
            )
            if step_id:
                steps_ctx[step_id] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
            continue

        if "uses" in step:
            with_values = {
                str(k): interpolate(str(v), contexts) for k, v in (step.get("with") or {}).items()
            }
            results.append(
                StepResult(
                    index,
                    step_id,
                    label,
                    "would run",
                    None,
                    uses=str(step["uses"]),
                    with_=MappingProxyType(with_values),
                )
            )
            if step_id:
                steps_ctx[step_id] = {"outputs": {}, "outcome": "success", "conclusion": "success"}
            continue

        if "run" not in step:
            raise ActionRunnerError(f"{label}: neither run nor uses")
        if "shell" not in step:
            raise ActionRunnerError(f"{label}: composite run steps need a shell")
        script = interpolate(str(step["run"]), contexts)
        step_env = {
            str(k): interpolate(str(v), contexts) for k, v in (step.get("env") or {}).items()
        }
        cwd = job.workspace
        if "working-directory" in step:
            cwd = job.workspace / interpolate(str(step["working-directory"]), contexts)
        if not cwd.is_dir():
            raise ActionRunnerError(f"{label}: working directory {cwd} does not exist")

        files = {
            var: job.root / "_files" / f"{stem}_{uuid.uuid4()}" for var, stem in _FILE_VARS.items()
        }
        for path in files.values():
            path.touch()
        env = {**(job.base_env or {}), **job.env, **step_env, **job.runtime_env(action_dir)}
        env.update({var: str(path) for var, path in files.items()})
        if job.path:
            env["PATH"] = os.pathsep.join([*reversed(job.path), env.get("PATH", os.defpath)])

        code, out, err = _run_script(str(step["shell"]), script, cwd, env, job.runner_temp, timeout)
        contents = {var: path.read_text() for var, path in files.items()}
        outputs = parse_key_value_file(contents["GITHUB_OUTPUT"], f"{label}: GITHUB_OUTPUT")
        job.env.update(parse_key_value_file(contents["GITHUB_ENV"], f"{label}: GITHUB_ENV"))
        for line in re.split(r"\r\n|\r|\n", contents["GITHUB_PATH"]):
            if line:
                job.add_path(line)
        step_annotations = [
            *_annotations(step_id or label, "stdout", out),
            *_annotations(step_id or label, "stderr", err),
        ]
        annotations.extend(step_annotations)

        continue_on_error = _truthy(
            evaluate(_condition(step.get("continue-on-error", False)), contexts)
        )
        outcome = "success" if code == 0 else "failure"
        conclusion = "success" if code == 0 or continue_on_error else "failure"
        if conclusion == "failure" and failed_code is None:
            failed_code = code
        if step_id:
            steps_ctx[step_id] = {"outputs": outputs, "outcome": outcome, "conclusion": conclusion}
        results.append(
            StepResult(
                index,
                step_id,
                label,
                "ran" if code == 0 else "failed",
                code,
                out,
                err,
                MappingProxyType(outputs),
                contents["GITHUB_STEP_SUMMARY"],
                MappingProxyType(contents),
            )
        )

    final_contexts = {"github": github, "runner": runner, "inputs": inputs, "steps": steps_ctx}
    outputs = {
        str(name): interpolate(str((meta or {}).get("value", "")), final_contexts)
        for name, meta in (action.get("outputs") or {}).items()
    }
    return ActionResult(
        outputs=MappingProxyType(outputs),
        exit_code=failed_code or 0,
        annotations=tuple(annotations),
        summary="".join(r.summary for r in results),
        steps=tuple(results),
    )
