"""A CI matrix of `gate check --shard I/N` jobs and one `gate merge` (issue 16, first part).

A small monorepo is laid out from real fixture binaries (Go 1.19 and current Go, stripped
and not, C builds), judged by the serverless policy so that some services fail. Four
shards merged must be the unsharded run: the same binaries, verdicts and checks, and the
same JUnit test cases read back by junitparser. A shard that never reported, a binary in
two documents, a document from another policy or another commit are each in the verdict.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_forge import FakeForge
from junitparser import JUnitXml

from gate.integrate.shard import parse_shard, select, shard_of

SERVICES = {  # name -> fixture
    **{f"svc-go19-{i}": "go1.19-hello-sw" for i in range(4)},
    **{f"svc-go27-{i}": "go1.27-hello-sw" for i in range(4)},
    **{f"svc-deps-{i}": "go1.27-deps" for i in range(3)},
    **{f"svc-c-{i}": "c-pie" for i in range(3)},
    "svc-static": "c-static",
    "svc-stripped": "c-stripped",
}
POLICY = "serverless"


@pytest.fixture(scope="module")
def monorepo(fixtures: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("monorepo")
    for name, fixture in SERVICES.items():
        bin_dir = root / "services" / name / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / name).write_bytes(fixtures[fixture].path.read_bytes())
        (bin_dir / name).chmod(0o755)
    return root


def gate(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=300,
        cwd=root, env={**os.environ, "CI": "true", **env},
    )  # fmt: skip


def check(root: Path, out: str, *args: str, **env: str) -> dict[str, Any]:
    proc = gate(root, "check", "services/*/bin/*", "--no-startup", "--policy", POLICY,
                "--json", out, "--junit", out + ".xml", *args, **env)  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    doc: dict[str, Any] = json.loads((root / out).read_text())
    return doc


def summary(doc: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    return sorted(
        (b["path"], b["verdict"], [(c["id"], c["status"], c["message"]) for c in b["checks"]])
        for b in doc["binaries"]
    )


def cases(junit: Path) -> list[tuple[str, str, str]]:
    """(suite, case, outcome) as junitparser reads them."""
    found = []
    for suite in JUnitXml.fromfile(str(junit)):
        for case in suite:
            outcome = type(case.result[0]).__name__ if case.result else "passed"
            found.append((suite.name, case.name, outcome))
    return sorted(found)


def test_four_shards_merged_are_the_unsharded_run(monorepo: Path) -> None:
    whole = check(monorepo, "all.json")
    assert whole["verdict"] == "fail"  # the unstripped services break the serverless budget
    shards = [check(monorepo, f"r{i}.json", "--shard", f"{i}/4") for i in range(1, 5)]
    judged = [b["path"] for doc in shards for b in doc["binaries"]]
    assert sorted(judged) == sorted(b["path"] for b in whole["binaries"])  # each exactly once
    assert all(doc["shard"] == {"index": i, "total": 4} for i, doc in enumerate(shards, 1))
    proc = gate(monorepo, "merge", *(f"r{i}.json" for i in range(1, 5)), "--json", "m.json",
                "--junit", "m.xml")  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the worst verdict: fail
    merged = json.loads((monorepo / "m.json").read_text())
    assert merged["verdict"] == whole["verdict"]
    assert summary(merged) == summary(whole)
    assert cases(monorepo / "m.xml") == cases(monorepo / "all.json.xml")
    assert [d["shard"] for d in merged["merged"]["documents"]] == ["1/4", "2/4", "3/4", "4/4"]


def test_sharding_is_stable_when_a_binary_is_added() -> None:
    paths = [f"services/svc-{i}/bin/svc-{i}" for i in range(200)]
    before = {p: shard_of(p, 8) for p in paths}
    after = {p: shard_of(p, 8) for p in [*paths, "services/new/bin/new"]}
    assert all(after[p] == before[p] for p in paths)
    sizes = [len(select(paths, parse_shard(f"{i}/8"))) for i in range(1, 9)]
    assert sum(sizes) == 200 and min(sizes) > 10  # every job gets a share


@pytest.mark.parametrize("text", ["0/4", "5/4", "4", "a/b", "1/0", "1/5000"])
def test_a_bad_shard_is_a_usage_error(monorepo: Path, text: str) -> None:
    proc = gate(monorepo, "check", "services/*/bin/*", "--no-startup", "--shard", text)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"gate: error: --shard {text}"), proc.stderr


def test_a_missing_shard_is_named_and_not_judged(monorepo: Path) -> None:
    for i in (1, 2, 4):
        check(monorepo, f"r{i}.json", "--shard", f"{i}/4")
    proc = gate(monorepo, "merge", "r1.json", "r2.json", "r4.json", "--shards", "4",
                "--json", "m.json")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    merged = json.loads((monorepo / "m.json").read_text())
    (missing,) = [b for b in merged["binaries"] if b["verdict"] == "error"]
    assert missing["path"] == "shard 3/4"
    assert missing["error"].startswith("no results from shard 3/4: its job failed")
    assert "shard 3/4: ERROR: no results from shard 3/4" in proc.stdout + proc.stderr


def test_a_binary_twice_another_policy_or_commit_is_in_the_verdict(monorepo: Path) -> None:
    check(monorepo, "a.json", "--shard", "1/2", GITHUB_SHA="1" * 40)
    check(monorepo, "b.json", "--shard", "2/2", GITHUB_SHA="1" * 40)
    twice = gate(monorepo, "merge", "a.json", "b.json", "a.json", "--json", "m.json")
    assert twice.returncode == 1
    entry = next(b for b in json.loads((monorepo / "m.json").read_text())["binaries"]
                 if b["path"] == "gate merge")  # fmt: skip
    (dup,) = entry["checks"]
    assert dup["id"] == "merge.duplicates" and dup["status"] == "fail"
    assert dup["message"].startswith("judged twice, kept the first: shard 1/2 in a.json and a.json")

    proc = gate(monorepo, "check", "services/*/bin/*", "--no-startup", "--policy", "default",
                "--shard", "2/2", "--json", "other.json", GITHUB_SHA="2" * 40)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    mixed = gate(monorepo, "merge", "a.json", "other.json", "--json", "m.json")
    assert mixed.returncode == 1
    entry = next(b for b in json.loads((monorepo / "m.json").read_text())["binaries"]
                 if b["path"] == "gate merge")  # fmt: skip
    by_id = {c["id"]: c for c in entry["checks"]}
    assert by_id["merge.policy"]["message"] == (
        "judged against different policies: serverless (a.json); default (other.json)"
    )
    assert by_id["merge.commit"]["status"] == "fail"
    assert "1111111111111111111111111111111111111111 (a.json)" in by_id["merge.commit"]["message"]


def _many(doc: dict[str, Any], count: int) -> dict[str, Any]:
    """`count` services from the real entries of `doc`, each under its own path."""
    out = copy.deepcopy(doc)
    entries = doc["binaries"]
    out["binaries"] = []
    for i in range(count):
        entry = copy.deepcopy(entries[i % len(entries)])
        entry["path"] = f"services/svc-{i:03}/bin/svc-{i:03}"
        entry["name"] = f"svc-{i:03}"
        out["binaries"].append(entry)
    return out


def test_the_comment_of_200_binaries_fits_and_shows_the_failures_first(monorepo: Path) -> None:
    """GitHub refuses comment bodies over 65,536 characters: failing services come first
    with their explanation, the passing ones fold into one table, and a merged comment is
    upserted (one per gate id) on a local server that speaks GitHub's API."""
    policy = monorepo / "budget.toml"
    policy.write_text('[size]\nmax_file = "2 MiB"\n')  # the Go builds with deps fail
    proc = gate(monorepo, "check", "services/*/bin/*", "--no-startup", "--policy", str(policy),
                "--json", "budget.json")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    big = _many(json.loads((monorepo / "budget.json").read_text()), 200)
    (monorepo / "big.json").write_text(json.dumps(big))
    failing = [b["name"] for b in big["binaries"] if b["verdict"] == "fail"]
    passing = [b["name"] for b in big["binaries"] if b["verdict"] == "pass"]
    assert failing and passing
    with FakeForge() as forge:
        forge.token = "ghp_token"
        forge.add_github_pr("acme/mono", 9, [])
        event = monorepo / "event.json"
        event.write_text(json.dumps({"pull_request": {"number": 9}}))
        env = {"GITHUB_TOKEN": forge.token, "GITHUB_REPOSITORY": "acme/mono",
               "GITHUB_EVENT_PATH": str(event), "GITHUB_API_URL": forge.github_api}  # fmt: skip
        for _ in range(2):
            proc = gate(monorepo, "comment", "big.json", "--github", "--id", "mono", **env)
            assert proc.returncode == 0, proc.stderr
        (comment,) = forge.github_comments[("acme/mono", 9)]  # updated, not added
    body = comment["body"]
    assert len(body) <= 65_536
    assert body.startswith("<!-- gate:mono -->\n")
    first_pass = body.index("more binaries passed, unchanged")
    for name in failing[:5]:  # the worst come first, each with its own section
        assert body.index(f"<b>{name}</b>") < first_pass
    assert f"{len(passing)} more binaries passed, unchanged" in body
    folded = body[first_pass:]
    assert all(f"| ✅ {name} |" in folded for name in passing)  # one row each


def test_one_gate_toml_carries_each_services_settings(fixtures: Any, tmp_path: Path) -> None:
    """Without --policy, gate check reads the repository's gate.toml: one matrix step, and
    each service's readiness, arguments and limits come from its [binary."PATTERN"]."""
    for name, fixture in (("api", "rt-listen"), ("job", "rt-noop")):
        (tmp_path / "services" / name / "bin").mkdir(parents=True)
        binary = tmp_path / "services" / name / "bin" / name
        binary.write_bytes(fixtures[fixture].path.read_bytes())
        binary.chmod(0o755)
    (tmp_path / "gate.toml").write_text(
        '[policy]\nname = "mono"\n'
        '[size]\nmax_file = "500 KB"\n'
        "[startup]\nruns = 2\nwarmup = 0\ncold = false\n"
        '[binary."services/api/bin/*".startup]\n'
        'ready = "tcp:{port}"\nargs = ["--listen", "127.0.0.1:{port}"]\n'
        '[binary."services/job/bin/*".size]\nmax_file = "1 MB"\n'
    )
    proc = gate(tmp_path, "check", "services/*/bin/*", "--json", "r.json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["policy"] == "mono" and doc["policy_sources"] == ["gate.toml"]
    by_name = {b["name"]: b for b in doc["binaries"]}
    assert by_name["api"]["startup"]["ready"].startswith("tcp:127.0.0.1:")
    assert by_name["api"]["startup"]["args"][0] == "--listen"
    assert by_name["job"]["startup"]["ready"] == "exit"
    job = {c["id"]: c for c in by_name["job"]["checks"]}  # static: over 500 KB, under 1 MB
    assert job["size.max_file"]["limit"] == 1_000_000 and job["size.max_file"]["status"] == "pass"
    elsewhere = gate(tmp_path / "services", "check", "api/bin/api", "--no-startup", "--json", "-")
    assert json.loads(elsewhere.stdout)["policy"] == "default"  # no gate.toml there


def test_files_passed_over_by_the_shards_are_in_the_merged_document(
    fixtures: Any, tmp_path: Path
) -> None:
    """--skip-unsupported in a matrix: each shard passes over the files of its share, and
    the merged document names every one, once, as the unsharded run does."""
    from images import png

    for i in range(6):
        (tmp_path / "bin").mkdir(exist_ok=True)
        (tmp_path / "bin" / f"svc-{i}").write_bytes(fixtures["c-pie"].path.read_bytes())
        (tmp_path / "bin" / f"logo-{i}.png").write_bytes(png(i + 1, 1))
    run = ("check", "bin/*", "--no-startup", "--skip-unsupported", "--json")
    whole = gate(tmp_path, *run, "whole.json")
    assert whole.returncode == 0, whole.stderr
    for i in (1, 2):
        shard = gate(tmp_path, *run, f"s{i}.json", "--shard", f"{i}/2")
        assert shard.returncode == 0, shard.stderr
    merged = gate(tmp_path, "merge", "s1.json", "s2.json", "--json", "m.json")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    docs = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in ("whole", "s1", "s2", "m")}
    assert docs["s1"]["skipped"] and docs["s2"]["skipped"]  # each shard passed over some
    expected = sorted((s["path"], s["reason"]) for s in docs["whole"]["skipped"])
    assert expected == [(f"bin/logo-{i}.png", "a PNG image") for i in range(6)]
    assert sorted((s["path"], s["reason"]) for s in docs["m"]["skipped"]) == expected
    assert summary(docs["m"]) == summary(docs["whole"])
