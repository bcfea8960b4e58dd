"""A/B start-up verdicts and adaptive runs, on real binaries.

`busy-base` and `busy-slow` are one Go program whose init() spins 10M and 13M iterations
of the same loop: a known, deterministic 30% more start-up work. Verdicts are statistical
by design (a 95% interval is wrong 5% of the time), so where a test asks for an event the
procedure produces only with high probability, it says so and states the chance of a
spurious failure of the way it asks (each test's docstring; at most 0.26% per run, the
coverage check of the 30% test, on a loaded 2-core machine).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reference import Fixture

AB_POLICY = '[startup]\nruns = 10\nmax_runs = 40\nwarmup = 1\nmax_regression = "10%"\n'
INVOCATIONS = 20


def gate_check(binary: Path, policy: Path, out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "check", str(binary), "--policy", str(policy),
         "--json", str(out), *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, "CI": "true"},
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(out.read_text())


def check(doc: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in doc["binaries"][0]["checks"] if c["id"] == check_id)


def copies(fixtures: Mapping[str, Fixture], tmp: Path, **names: str) -> dict[str, Path]:
    """Own copies, so evicting one from the page cache never warms or cools the other."""
    out = {}
    for alias, name in names.items():
        out[alias] = tmp / alias
        shutil.copy2(fixtures[name].path, out[alias])
    return out


def hyperfine_ratio(new: Path, old: Path, tmp: Path) -> float:
    """The reference NEW/OLD: hyperfine's medians of warm starts, in both orders.

    hyperfine runs one series after the other, so a load that drifts during the call
    biases its ratio (a fresh 2-core CI machine once gave 1.31 then 1.21 within two
    minutes, while gate's interleaved pairs stayed at 1.28); the geometric mean of the
    two orders cancels a drift that is linear over the call.
    """
    export = tmp / "hf.json"
    ratio = 1.0
    for first, second in ((new, old), (old, new)):
        subprocess.run(
            ["hyperfine", "-N", "--warmup", "3", "--runs", "20", "--export-json",
             str(export), str(first), str(second)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        a, b = json.loads(export.read_text())["results"]
        ratio *= a["median"] / b["median"] if first == new else b["median"] / a["median"]
    return float(ratio**0.5)


def test_a_against_itself_never_fails(fixtures: Mapping[str, Fixture], tmp_path: Path) -> None:
    bins = copies(fixtures, tmp_path, a="go1.27-busy-base", b="go1.27-busy-base")
    policy = tmp_path / "p.toml"
    policy.write_text(AB_POLICY)
    statuses = []
    for i in range(INVOCATIONS):
        code, doc = gate_check(bins["a"], policy, tmp_path / f"r{i}.json",
                               "--baseline-binary", str(bins["b"]))  # fmt: skip
        result = check(doc, "startup.max_regression")
        statuses.append(result["status"])
        assert code == 0, result["message"]
        startup = doc["binaries"][0]["startup"]
        lo, _ = startup["against"]["ratio_ci"]
        assert lo <= 1.10  # the interval never puts the same binary beyond the limit
        assert startup["adaptive"]["runs"] <= 40
    assert statuses.count("fail") == 0


# Room to decide: a 30% slower build far from the 10% limit is decided in 10 pairs on an
# idle machine, but CPU contention dilutes the ratio (waiting time is added to both sides)
# and widens the interval. Over 299 invocations while other jobs loaded the 2 cores (load
# average 4-18, two busy loops in part of them) the ratio fell to 1.16-1.6 and sampling
# stopped at 10 (55), 15 (33), 22 (41), 33 (50), 50 (49), 75 (35), 112 (23), 168 (11) and
# 252 (2) pairs, every one decided: 40 would have left 71 of them undecided (1.156x
# [1.057, 1.283] was seen at 40), 200 two. 400 costs nothing when the first look
# decides, and lets a loaded machine take longer instead of flipping the verdict. The
# first look comes at 20 pairs, not 10: with two busy loops one invocation in ~320 was
# even judged a pass at 15 pairs (0.962x [0.871, 1.085]), a few load bursts on one side
# being enough to drag so short a series; serverless's own min runs is 20 too.
ROOMY_POLICY = '[startup]\nruns = 20\nmax_runs = 400\nwarmup = 1\nmax_regression = "10%"\n'
REFERENCE_EVERY = 5  # invocations between two hyperfine references
AGREE = 1.08  # gate's median ratio within 8% of hyperfine's (see the 30% test)


def test_a_30_percent_slower_build_is_caught(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    """Every invocation must fail the 10% limit (lo > 1.10) or, at most twice in 20, end
    undecided with an interval that still shows the slowdown (1.0 < lo <= 1.10 < hi); no
    invocation may pass. And the intervals must agree with hyperfine's ratio of the same
    two files, measured interleaved with them.

    False-failure rate, about 0.26% per run, from the coverage. The verdicts: with
    max_runs 400 (ROOMY_POLICY) the sampler keeps going until the interval clears 1.10;
    under load the share of invocations needing more pairs fell about 3-fold per
    checkpoint (36, 13, 2 and 0 of 299 went past 75, 112, 168 and 252 pairs), which puts
    "past 400" near 3e-4 per invocation and 3 undecided of 20 near 1e-8. A "pass" needs
    the interval wholly below 1.10 while the truth is above 1.15: seen once in ~320
    invocations under two busy loops, at 15 pairs, never at 20 or more, hence the first
    look at 20 (see ROOMY_POLICY). The agreement: hyperfine's ratio (both orders, so a
    drifting load cancels) is taken every REFERENCE_EVERY invocations; the median of gate's
    20 ratios must lie within AGREE (8%) of the median of those 5 references. Seen so far:
    0.999, 1.004 idle, and 0.95 on a fresh CI machine whose references drifted from 1.31 to
    1.21 when hyperfine ran one order only (the reason for both orders). The coverage: at
    least 11 of 20 intervals meet the span of the references; a 95% interval meets a
    truth inside that span with probability >= 0.8 even allowing for the references'
    own error, and fewer than 11 of 20 then happens with probability 0.0026 (binomial).
    """
    bins = copies(fixtures, tmp_path, new="go1.27-busy-slow", old="go1.27-busy-base")
    policy = tmp_path / "p.toml"
    policy.write_text(ROOMY_POLICY)
    references = [hyperfine_ratio(bins["new"], bins["old"], tmp_path)]
    intervals: list[tuple[float, float]] = []
    ratios: list[float] = []
    undecided = 0
    for i in range(INVOCATIONS):
        # Warm, like hyperfine's runs: a cold start adds the same fixed cost to both
        # (reading the binary back), which moves the ratio away from hyperfine's.
        code, doc = gate_check(bins["new"], policy, tmp_path / f"r{i}.json", "--warm",
                               "--baseline-binary", str(bins["old"]))  # fmt: skip
        result = check(doc, "startup.max_regression")
        ab = doc["binaries"][0]["startup"]["against"]
        lo, hi = ab["ratio_ci"]
        if result["status"] == "warn":  # undecided after 400 pairs: the interval says why
            assert code == 0 and 1.0 < lo <= 1.10 < hi, result["message"]
            undecided += 1
        else:
            assert (code, result["status"]) == (1, "fail"), result["message"]
            assert lo > 1.10
        assert result["message"].startswith(f"A/B {ab['ratio_hl']:.3f}x (+")
        intervals.append((lo, hi))
        ratios.append(ab["ratio_hl"])
        if (i + 1) % REFERENCE_EVERY == 0:
            references.append(hyperfine_ratio(bins["new"], bins["old"], tmp_path))
    # The loop is most of the start-up, so ~1.3 idle; load only dilutes it towards 1.
    reference = statistics.median(references)
    assert 1.15 < reference < 1.40, references
    # gate's typical ratio and hyperfine's agree: each is a median of several estimates
    # taken interleaved over the same minutes, so the load shifts both alike.
    assert abs(math.log(statistics.median(ratios) / reference)) < math.log(AGREE), (
        references, ratios, intervals)  # fmt: skip
    # And the intervals are not narrower than the truth allows: most meet the reference
    # widened by its own spread (the references' range).
    span = (min(references), max(references))
    covered = sum(lo <= span[1] and span[0] <= hi for lo, hi in intervals)
    assert covered >= 11, (covered, references, intervals, ratios)
    assert undecided <= 2, (undecided, intervals)


def test_adaptive_stops_at_runs_when_far_from_the_limit(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[startup]\nruns = 5\nmax_runs = 40\np95 = "2 s"\np50 = "1 s"\n')
    code, doc = gate_check(fixtures["rt-noop"].path, policy, tmp_path / "r.json")
    assert code == 0
    adaptive = doc["binaries"][0]["startup"]["adaptive"]
    assert adaptive == {"min_runs": 5, "max_runs": 40, "runs": 5, "stopped": "decided"}
    assert len(doc["binaries"][0]["startup"]["runs"]) == 5


def test_adaptive_samples_more_near_the_limit_and_gives_up_undecided(
    fixtures: Mapping[str, Fixture], tmp_path: Path
) -> None:
    """rt-jitter sleeps 1-60 ms at random: a p50 limit at its middle is near, and no number
    of runs settles it. Each invocation decides by chance with probability ~5-15% at the
    first look, so each property is asked of one of three invocations (spurious failure
    < 0.004)."""
    policy = tmp_path / "p.toml"
    policy.write_text('[startup]\nruns = 8\nmax_runs = 18\nwarmup = 0\np50 = "31 ms"\n')
    docs = [
        gate_check(fixtures["rt-jitter"].path, policy, tmp_path / f"r{i}.json")[1] for i in range(3)
    ]
    adaptive = [d["binaries"][0]["startup"]["adaptive"] for d in docs]
    assert any(a["runs"] > 8 for a in adaptive), adaptive
    undecided = [
        (a, check(d, "startup.p50"))
        for a, d in zip(adaptive, docs, strict=True)
        if a["stopped"] == "max_runs"
    ]
    assert undecided, adaptive
    a, result = undecided[0]
    assert a["runs"] == 18
    assert result["status"] == "warn"  # the policy's default for undecided
    assert "undecided after 18 runs (max_runs 18;" in result["message"]
    assert result["message"].endswith("; policy undecided = 'warn'")
