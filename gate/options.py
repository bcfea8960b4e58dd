"""The command line's options that more than one command takes, and their values checked.

Declared once here, so `gate startup` and `gate check` (and `gate size`, `gate diff`)
spell, document and parse them the same way. None as a value means "the default, or the
policy's" (see each command).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gate.errors import UnitError, UsageError

if TYPE_CHECKING:
    from gate.run.runner import RunConfig

Runs = Annotated[
    int | None, typer.Option("--runs", min=1, help="Timed starts (10, or the policy's).")
]
Ready = Annotated[
    str | None,
    typer.Option(
        "--ready",
        help="exit | notify | line:REGEX | tcp:PORT | http://127.0.0.1:{port}/healthz "
        "(exit, or the policy's).",
    ),
]
Timeout = Annotated[
    str | None, typer.Option("--timeout", help="Per start, e.g. 10s (10s, or the policy's).")
]
Cold = Annotated[
    bool | None,
    typer.Option(
        "--cold/--warm",
        help="Evict the binary and its libraries from the page cache first (cold, or the "
        "policy's).",
    ),
]
Env = Annotated[
    list[str] | None, typer.Option("--env", help="KEY=VALUE for the program; repeatable.")
]
Breakdown = Annotated[
    bool,
    typer.Option(
        "--breakdown",
        help="Explain start-up (Go inits, loader work, page faults), even when it passes.",
    ),
]
Count = Annotated[
    str | None,
    typer.Option(
        "--count",
        metavar="instructions|none",
        help="Also count each start's instructions, in counted starts apart from the timed "
        "ones (under Valgrind; none, or the policy's).",
    ),
]
CountRuns = Annotated[
    int | None,
    typer.Option(
        "--count-runs", min=2, max=100, help="Counted starts of each binary (5, or the policy's)."
    ),
]


def count_choice(value: str | None) -> str | None:
    """--count's value checked: instructions or none (None: not given)."""
    if value is not None and value not in ("instructions", "none"):
        raise UsageError(f"--count {value!r}: expected instructions or none")
    return value


# The production envelope (gate/values/envelope.py): over the policy's [startup] values.
Cpus = Annotated[
    str | None,
    typer.Option("--cpus", metavar="N", help="CPU quota per start, e.g. 0.25 or 500m (a cgroup)."),
]
CpuPeriod = Annotated[
    str | None,
    typer.Option("--cpu-period", metavar="DURATION", help="The quota's period (100ms)."),
]
Memory = Annotated[
    str | None,
    typer.Option("--memory", metavar="SIZE", help="Hard memory limit per start, e.g. 128MB."),
]
Cpu = Annotated[str | None, typer.Option("--cpu", metavar="N", help="Pin the program to CPU N.")]
BaselineName = Annotated[
    list[str] | None,
    typer.Option(
        "--baseline-name",
        help="NAME or BINARY=NAME: which baseline binary to compare with when the names "
        "differ (default: same path, same file name, or the only one on each side).",
    ),
]


Output = Annotated[
    str | None, typer.Option("--output", "-o", metavar="PATH", help="Write here (- for stdout).")
]


def json_option(document: str) -> Any:
    """--json PATH (- for stdout); where it was a flag, a bare --json still means stdout."""
    return typer.Option(
        "--json", metavar="PATH", help=f"Write {document} here (- or a bare --json: stdout)."
    )


def resolve_program(binary: str) -> str:
    """A bare name that is not a file here is looked up on PATH, as a shell would."""
    if "/" not in binary and not os.path.exists(binary):
        import shutil

        return shutil.which(binary) or binary
    return binary


def duration_ms(option: str, text: str) -> float:
    """A duration option in milliseconds; a bad or absurd one names the option."""
    from gate.values.units import parse_duration

    try:
        return parse_duration(text)
    except UnitError as exc:
        raise UsageError(f"{option}: {exc}") from None


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def startup_config(
    binary: str,
    program_args: list[str],
    env: list[str] | None,
    ready: str | None,
    timeout_ms: float,
    grace: str,
    cold: bool | None,
    drop_caches: bool,
    envelope: dict[str, Any] | None = None,
) -> RunConfig:
    """`gate startup`'s options as one start's configuration, every value checked; a
    {port} the program is never told is refused here, before the first start waits out
    its timeout."""
    from gate.run.runner import RunConfig, port_problem, unpinnable
    from gate.values.envelope import build
    from gate.values.readiness import parse_ready

    cfg = RunConfig(
        binary=resolve_program(binary),
        args=tuple(program_args),
        env=parse_env(env or []),
        ready=parse_ready(ready or "exit"),
        timeout_s=timeout_ms / 1000,
        grace_s=duration_ms("--grace", grace) / 1000,
        cold=cold is not False,
        drop_caches=drop_caches,
        envelope=build({}, envelope or {}),
    )
    problem = port_problem(cfg.ready, cfg.args, cfg.env)
    if problem:
        raise UsageError(f"--ready {ready}: {problem}")
    pinned = cfg.envelope.cpu
    if pinned is not None and (problem := unpinnable(pinned)):
        raise UsageError(f"--cpu: {problem}")
    return cfg


_GLOB_CHARS = set("*?[")


def expand(patterns: list[str]) -> list[str]:
    """Paths as given; a quoted glob ('build/*') is expanded here, sorted."""
    out: list[str] = []
    for pattern in patterns:
        if _GLOB_CHARS & set(pattern) and not os.path.exists(pattern):
            import glob

            matches = sorted(glob.glob(pattern))
            if not matches:
                raise UsageError(f"{pattern}: no file matches")
            out.extend(matches)
        else:
            out.append(pattern)
    return out
