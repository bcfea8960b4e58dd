"""A baseline is matched or the gate says why not (issue: "Right where users look", part 2).

Renaming a binary or a CI matrix suffix must never switch the growth and regression
checks off without a word: real binaries, real `gate check`/`size`/`diff` runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from reference import Fixture

from gate.errors import UsageError
from gate.judge.pairing import pair, parse_choices

Fixtures = dict[str, Fixture]
POLICY = '[size]\nmax_file = "100 MB"\nmax_growth = "5%"\n'


def gate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", *map(str, args)], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    return proc


def place(tmp_path: Path, side: str, binaries: dict[str, Fixture]) -> list[Path]:
    (tmp_path / side).mkdir(exist_ok=True)
    out = []
    for name, fx in binaries.items():
        (tmp_path / side / name).write_bytes(fx.path.read_bytes())
        (tmp_path / side / name).chmod(0o755)
        out.append(tmp_path / side / name)
    return out


def check(tmp_path: Path, paths: list[Path], *extra: str | Path, policy: str = POLICY
          ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:  # fmt: skip
    (tmp_path / "p.toml").write_text(policy)
    out = tmp_path / "results.json"
    out.unlink(missing_ok=True)
    proc = gate("check", *paths, "--no-startup", "--policy", tmp_path / "p.toml", "--json", out,
                *extra)  # fmt: skip
    return proc, json.loads(out.read_text()) if out.exists() else {}


def checks_of(doc: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    (entry,) = [b for b in doc["binaries"] if b["name"] == name]
    return {c["id"]: c for c in entry["checks"]}


@pytest.fixture
def base(fixtures: Fixtures, tmp_path: Path) -> Path:
    """main's results: two services, svc (hello -s -w) and api (httpserver -s -w)."""
    paths = place(tmp_path, "main", {"svc": fixtures["go1.27-hello-sw"],
                                     "api": fixtures["go1.27-httpserver-static-sw"]})  # fmt: skip
    proc, _ = check(tmp_path, paths)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "results.json").rename(tmp_path / "base.json")
    one = place(tmp_path, "main1", {"svc": fixtures["go1.27-hello-sw"]})
    proc, _ = check(tmp_path, one)
    (tmp_path / "results.json").rename(tmp_path / "base1.json")
    return tmp_path / "base.json"


@pytest.mark.parametrize("new_name", ["svc-renamed", "svc-linux-amd64"])
def test_single_binary_renamed_or_suffixed_is_still_compared(
    fixtures: Fixtures, tmp_path: Path, base: Path, new_name: str
) -> None:
    """One binary on each side: paired whatever the names, and the message says so; the
    growth check runs (hello -> hello unstripped grew > 5%)."""
    new = place(tmp_path, "pr", {new_name: fixtures["go1.27-hello-default"]})
    proc, doc = check(tmp_path, new, "--baseline", tmp_path / "base1.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    c = checks_of(doc, new_name)
    assert c["baseline.match"]["status"] == "pass"
    assert c["baseline.match"]["message"] == (
        f"compared with svc in {tmp_path / 'base1.json'}: the only binary on each side, "
        "though the names differ"
    )
    growth = c["size.max_growth"]
    old_size = fixtures["go1.27-hello-sw"].path.stat().st_size
    new_size = fixtures["go1.27-hello-default"].path.stat().st_size
    assert growth["status"] == "fail"
    assert growth["measured"] == round((new_size - old_size) / old_size * 100, 3)
    assert "baseline.match" in proc.stdout and "the only binary on each side" in proc.stdout


def test_two_binaries_one_renamed_warns_with_the_baseline_names(
    fixtures: Fixtures, tmp_path: Path, base: Path
) -> None:
    new = place(tmp_path, "pr", {"svc": fixtures["go1.27-hello-sw"],
                                 "api-v2": fixtures["go1.27-httpserver-static-sw"]})  # fmt: skip
    proc, doc = check(tmp_path, new, "--baseline", base)
    assert proc.returncode == 0, proc.stdout  # a warning does not block
    assert checks_of(doc, "svc")["baseline.match"]["message"] == f"compared with svc in {base}"
    assert checks_of(doc, "svc")["size.max_growth"]["status"] == "pass"
    api = checks_of(doc, "api-v2")
    assert api["baseline.match"]["status"] == "warn"
    assert api["baseline.match"]["message"] == (
        f"no binary named api-v2 in {base} (it has: svc, api); --baseline-name api-v2=NAME "
        "chooses one; growth and regression checks skipped"
    )
    assert api["size.max_growth"]["status"] == "skip"
    assert "--baseline)" not in api["size.max_growth"]["message"]  # the flag was given
    # The policy may make it block.
    strict = POLICY + '[baseline]\nunmatched = "fail"\n'
    proc, doc = check(tmp_path, new, "--baseline", base, policy=strict)
    assert proc.returncode == 1
    assert checks_of(doc, "api-v2")["baseline.match"]["status"] == "fail"
    # --baseline-name chooses.
    proc, doc = check(tmp_path, new, "--baseline", base, "--baseline-name", "api-v2=api")
    assert proc.returncode == 0
    api = checks_of(doc, "api-v2")
    assert api["baseline.match"]["message"] == f"compared with api in {base}"
    assert api["size.max_growth"]["status"] == "pass" and api["size.max_growth"]["measured"] == 0
    # A name the baseline lacks is a usage error naming what it has.
    proc, _ = check(tmp_path, new, "--baseline", base, "--baseline-name", "api-v2=nope")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"gate: error: --baseline-name nope: {base} has no binary of that name (it has: svc, api)"
    ]


def test_size_against_results_pairs_the_same_way(
    fixtures: Fixtures, tmp_path: Path, base: Path
) -> None:
    binary = place(tmp_path, "pr", {"api-v2": fixtures["go1.27-httpserver-static-sw"]})[0]
    proc = gate("size", binary, "--against", base, "--json")
    assert proc.returncode == 2
    assert "no binary named api-v2" in proc.stderr and "(it has: svc, api)" in proc.stderr
    proc = gate("size", binary, "--against", base, "--baseline-name", "api", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["against"]["file_size"] == fixtures["go1.27-httpserver-static-sw"].path.stat(
    ).st_size  # fmt: skip
    assert doc["against"]["changed_total"] == 0
    # One binary on each side: paired without being told.
    proc = gate("size", binary, "--against", tmp_path / "base1.json")
    assert proc.returncode == 0, proc.stderr


def test_diff_pairs_a_renamed_binary_and_says_so(
    fixtures: Fixtures, tmp_path: Path, base: Path
) -> None:
    new = place(tmp_path, "pr", {"svc-amd64": fixtures["go1.27-hello-default"]})
    check(tmp_path, new)
    text = gate("diff", tmp_path / "base1.json", tmp_path / "results.json").stdout
    assert text.splitlines()[0] == "svc-amd64 (compared with svc)"
    assert "grew: debug +" in text
    two = place(tmp_path, "pr2", {"svc": fixtures["go1.27-hello-sw"],
                                  "api-v2": fixtures["go1.27-httpserver-static-sw"]})  # fmt: skip
    check(tmp_path, two)
    text = gate("diff", base, tmp_path / "results.json").stdout
    assert "api-v2 (new)" in text and "api (removed)" in text
    text = gate("diff", base, tmp_path / "results.json", "--baseline-name", "api-v2=api").stdout
    assert "api-v2 (compared with api)" in text and "(removed)" not in text


def test_baseline_binary_with_several_binaries(fixtures: Fixtures, tmp_path: Path) -> None:
    olds = place(tmp_path, "main", {"svc": fixtures["go1.27-hello-sw"],
                                    "api": fixtures["go1.27-httpserver-static-sw"]})  # fmt: skip
    news = place(tmp_path, "pr", {"svc": fixtures["go1.27-hello-default"],
                                  "api": fixtures["go1.27-httpserver-static-sw"]})  # fmt: skip
    args = [a for old in olds for a in ("--baseline-binary", old)]
    proc, doc = check(tmp_path, news, *args)
    assert proc.returncode == 1, proc.stderr
    svc, api = checks_of(doc, "svc"), checks_of(doc, "api")
    assert svc["baseline.match"]["message"] == "compared with svc in --baseline-binary"
    assert svc["size.max_growth"]["status"] == "fail"
    assert (api["size.max_growth"]["status"], api["size.max_growth"]["measured"]) == ("pass", 0)


def test_pair_rules_in_order() -> None:
    entries = [{"path": "build/a/svc", "name": "svc"}, {"path": "build/b/svc", "name": "svc"},
               {"path": "x/api", "name": "api"}]  # fmt: skip
    got = pair(entries, ["build/b/svc", "other/svc", "cli"])
    assert [(p.how, p.entry) for p in got] == [
        ("path", entries[1]),  # the same path first, though an earlier entry has the name
        ("name", entries[0]),
        ("none", None),
    ]
    assert got[2].note.startswith("no binary named cli in the baseline (it has: svc, svc, api)")
    assert pair(entries[2:], ["whatever"])[0].how == "only"
    assert pair(entries[2:], ["a", "b"])[1].how == "none"  # one side has two: no guessing
    chosen = parse_choices(["cli=api"], ["bin/cli", "bin/x"])
    assert pair(entries, ["bin/cli"], chosen)[0].entry == entries[2]
    with pytest.raises(UsageError, match="2 binaries; say which one"):
        parse_choices(["api"], ["a", "b"])
    with pytest.raises(UsageError, match="expected NAME or BINARY=NAME"):
        parse_choices(["a="], ["a"])
