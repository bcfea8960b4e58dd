"""A/B statistics against scipy, and the interval's coverage on simulated start-up times;
the warning when start-up is compared across envelopes, in every report that compares."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from gate.run.sampling import checkpoints
from gate.values.compare import (
    FAIL,
    PASS,
    UNDECIDED,
    across_envelopes,
    compare,
    interval_verdict,
    regression_verdict,
)


def lognormal(rng: random.Random, n: int, median: float, sigma: float) -> list[float]:
    return [median * math.exp(rng.gauss(0, sigma)) for _ in range(n)]


@pytest.mark.parametrize("seed", range(8))
def test_matches_scipy_wilcoxon_and_walsh_averages(seed: int) -> None:
    rng = random.Random(seed)
    n = 9 + 3 * seed
    load = [math.exp(rng.gauss(0, 0.3)) for _ in range(n)]  # bursts shared by a round
    new = [x * 10.0 * (1 + seed / 20) * math.exp(rng.gauss(0, 0.05)) for x in load]
    old = [x * 10.0 * math.exp(rng.gauss(0, 0.05)) for x in load]
    if seed % 2:  # ties, as a coarse clock makes them
        new, old = [round(x, 1) for x in new], [round(x, 1) for x in old]
    got = compare(new, old)
    d = np.log(new) - np.log(old)
    ref = sps.wilcoxon(d, alternative="two-sided", method="approx", correction=True,
                       zero_method="wilcox")  # fmt: skip
    assert got.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
    walsh = [(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)]
    assert got.ratio_hl == pytest.approx(math.exp(np.median(walsh)), rel=1e-12)
    assert got.ratio_p50 == pytest.approx(np.median(new) / np.median(old), rel=1e-12)
    lo, hi = got.ratio_ci
    assert lo <= got.ratio_hl <= hi


def test_pairing_cancels_shared_bursts() -> None:
    """Load that slows both starts of a round leaves the interval narrow; unpaired, it
    would not (the spread of the times themselves is 30%)."""
    rng = random.Random(11)
    load = [math.exp(rng.gauss(0, 0.3)) for _ in range(20)]
    new = [x * 23.0 * math.exp(rng.gauss(0, 0.02)) for x in load]
    old = [x * 20.0 * math.exp(rng.gauss(0, 0.02)) for x in load]
    lo, hi = compare(new, old).ratio_ci
    assert 1.10 < lo < 1.15 < hi < 1.20


def test_interval_covers_the_true_ratio() -> None:
    """On skewed, noisy samples with a known ratio the 95% interval covers it ~95% of the time."""
    rng = random.Random(7)
    true = 1.15
    hits = 0
    trials = 400
    for _ in range(trials):
        load = lognormal(rng, 20, 1.0, 0.2)
        old = [x * y for x, y in zip(load, lognormal(rng, 20, 20.0, 0.1), strict=True)]
        new = [x * y for x, y in zip(load, lognormal(rng, 20, 20.0 * true, 0.1), strict=True)]
        lo, hi = compare(new, old).ratio_ci
        hits += lo <= true <= hi
    assert 0.92 <= hits / trials <= 0.985


def test_verdicts_on_the_interval() -> None:
    rng = random.Random(3)
    base = lognormal(rng, 40, 20.0, 0.05)
    same = compare(lognormal(rng, 40, 20.0, 0.05), base)
    slower = compare(lognormal(rng, 40, 26.0, 0.05), base)
    near = compare(lognormal(rng, 6, 22.0, 0.1), lognormal(rng, 6, 20.0, 0.1))
    assert regression_verdict(same, 10) == PASS
    assert regression_verdict(slower, 10) == FAIL
    assert regression_verdict(near, 10) == UNDECIDED
    # Percentiles: an undefined bound runs to the sample's extreme.
    assert interval_verdict(None, None, 10.0, 30.0, 40.0) == PASS
    assert interval_verdict(None, None, 45.0, 60.0, 40.0) == FAIL
    assert interval_verdict(30.0, None, 10.0, 60.0, 40.0) == UNDECIDED
    assert interval_verdict(41.0, 50.0, 10.0, 60.0, 40.0) == FAIL


def test_bad_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="one OLD start for each NEW"):
        compare([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2 runs"):
        compare([1.0], [1.0])
    with pytest.raises(ValueError, match="positive finite"):
        compare([1.0, 0.0], [1.0, 2.0])


def test_checkpoints_grow_by_half_up_to_the_ceiling() -> None:
    assert checkpoints(20, 20) == [20]
    assert checkpoints(20, 100) == [20, 30, 45, 68, 100]
    assert checkpoints(1, 4) == [1, 2, 3, 4]


# --------------------------------------------------------------------------- envelopes

HALF = {"cpus": 0.5, "cpu_period_us": 100_000, "memory": 128_000_000, "cpu": None}


def test_across_envelopes_names_both() -> None:
    said = across_envelopes(HALF, None)
    assert (
        said == "startup compared across envelopes: baseline 0.5 CPU, 128 MB memory; this run none"
    )
    assert across_envelopes(None, {**HALF, "memory": None, "cpu": 1}, ("old", "new")) == (
        "startup compared across envelopes: old none; new 0.5 CPU, on CPU 1"
    )
    assert across_envelopes({**HALF, "cpu_period_us": 50_000}, HALF) == (
        "startup compared across envelopes: baseline 0.5 CPU (period 50 ms), 128 MB memory; "
        "this run 0.5 CPU, 128 MB memory"
    )


def test_the_same_envelope_says_nothing() -> None:
    assert across_envelopes(None, None) == ""
    assert across_envelopes({}, None) == ""  # a document from before envelopes
    assert across_envelopes(HALF, dict(HALF)) == ""
    # A CFS period without a quota limits nothing: the same (empty) envelope.
    no_quota = {"cpus": None, "memory": None, "cpu": None}
    assert across_envelopes({**no_quota, "cpu_period_us": 50_000}, None) == ""


def _startup(walls: list[float], envelope: dict[str, Any] | None) -> dict[str, Any]:
    """A start-up as the results hold it, with what the judge and gate diff read."""
    from gate.values.stats import summarize

    s = summarize(walls)
    runs = [{"wall_ms": w, "ok": True, "error": None, "max_rss_bytes": 5 << 20} for w in walls]
    stats = {"count": s.count, "p50_ms": s.p50_ms, "p90_ms": s.p90_ms, "p95_ms": s.p95_ms,
             "p99_ms": s.p99_ms, "ci": {k: list(v) for k, v in s.ci.items()},
             "confidence": s.confidence}  # fmt: skip
    return {"cold": True, "runs": runs, "stats": stats, "max_rss_bytes": 5 << 20,
            "envelope": envelope, "against": None}  # fmt: skip


def test_judge_warns_and_stays_pure(fixtures: Any) -> None:
    """A baseline measured in another envelope: `baseline.envelope` warns (the verdict is
    untouched); in the same envelope, or with nothing compared, there is no such check."""
    from gate.judge.checks import Context, judge, verdict
    from gate.judge.pairing import Pairing
    from gate.judge.policy import load_policy
    from gate.read.facts import inspect_binary
    from gate.results.build import facts_to_dict

    facts = facts_to_dict(inspect_binary(fixtures["rt-noop"].path))
    rules = load_policy("default").for_binary("rt-noop")
    base = {"path": "rt-noop", "name": "rt-noop", "facts": facts,
            "startup": _startup([10.0] * 10, HALF)}  # fmt: skip
    pairing = Pairing(base, "path", "compared with rt-noop in main.json")

    def envelope_checks(startup: Any, baseline: Any) -> list[Any]:
        found = judge(rules, Context(facts, startup, baseline, pairing=pairing))
        return [c for c in found if c.id == "baseline.envelope"]

    (warned,) = envelope_checks(_startup([10.0] * 10, None), base)
    assert (warned.status, warned.severity) == ("warn", "warn")
    assert warned.message == (
        "startup compared across envelopes: baseline 0.5 CPU, 128 MB memory; this run none"
    )
    assert verdict([warned]) == "pass"
    assert envelope_checks(_startup([10.0] * 10, dict(HALF)), base) == []
    assert envelope_checks(None, base) == []  # --no-startup: nothing compared
    a_b = {**base, "startup": None}  # --baseline-binary: its starts share this run's envelope
    assert envelope_checks(_startup([10.0] * 10, None), a_b) == []
    no_stats = {**base, "startup": {**base["startup"], "stats": None}}
    assert envelope_checks(_startup([10.0] * 10, None), no_stats) == []


def test_percentiles_of_two_methods_are_told_apart(fixtures: Any) -> None:
    """A baseline whose percentiles another method computed, or that does not say which (a
    document from before the method was recorded reads as NOT_RECORDED, never as today's):
    `baseline.quantiles` warns in gate check and gate diff notes it."""
    from gate.judge.checks import Context, judge
    from gate.judge.diff import diff_results
    from gate.judge.pairing import Pairing
    from gate.judge.policy import load_policy
    from gate.read.facts import inspect_binary
    from gate.results.build import facts_to_dict
    from gate.values.stats import NOT_RECORDED, QUANTILE_METHOD

    facts = facts_to_dict(inspect_binary(fixtures["rt-noop"].path))
    rules = load_policy("default").for_binary("rt-noop")
    now = _startup([10.0] * 10, None)
    now["stats"]["quantile_method"] = QUANTILE_METHOD

    def told(method: str | None) -> list[str]:
        old = _startup([10.0] * 10, None)
        old["stats"].pop("quantile_method", None)
        if method is not None:
            old["stats"]["quantile_method"] = method
        base = {"path": "rt-noop", "name": "rt-noop", "facts": facts, "startup": old}
        found = judge(rules, Context(facts, now, base, pairing=Pairing(base, "path", "")))
        return [c.message for c in found if c.id == "baseline.quantiles"]

    assert told(QUANTILE_METHOD) == []
    assert told("nearest rank") == [
        f"startup percentiles compared across methods: baseline nearest rank; this run "
        f"{QUANTILE_METHOD}"
    ]
    assert told(None) == [
        f"startup percentiles compared across methods: baseline {NOT_RECORDED}; this run "
        f"{QUANTILE_METHOD}"
    ]
    entry = {"path": "svc", "name": "svc", "facts": {"file_size": 1}, "checks": [],
             "attribution": None}  # fmt: skip
    old_doc = {"binaries": [{**entry, "startup": {**now, "stats": {**now["stats"],
               "quantile_method": "nearest rank"}}}]}  # fmt: skip
    (moved,) = diff_results(old_doc, {"binaries": [{**entry, "startup": now}]})
    assert moved.envelope == (
        f"startup percentiles compared across methods: old nearest rank; new {QUANTILE_METHOD}"
    )


def test_a_document_that_names_no_method_is_read_as_naming_none(
    fixtures: Any, tmp_path: Any
) -> None:
    """gate's own results, the methods taken out as a document from before they were
    recorded: read back, they say NOT_RECORDED, not today's words."""
    import subprocess
    import sys

    from gate.integrate.sources import load_results
    from gate.values.stats import CI_METHOD, NOT_RECORDED, QUANTILE_METHOD

    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "gate", "check", str(fixtures["rt-noop"].path),
                           "--runs", "3", "--json", str(out)], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    stats = doc["binaries"][0]["startup"]["stats"]
    assert (stats["quantile_method"], stats["ci_method"]) == (QUANTILE_METHOD, CI_METHOD)
    del stats["quantile_method"], stats["ci_method"]
    out.write_text(json.dumps(doc))
    read = load_results(str(out))["binaries"][0]["startup"]["stats"]
    assert (read["quantile_method"], read["ci_method"]) == (NOT_RECORDED, NOT_RECORDED)


def test_gate_diff_notes_the_envelopes() -> None:
    from gate.judge.diff import diff_results
    from gate.report.diff import render_diff_markdown, render_diff_text

    def doc(envelope: Any, wall: float) -> dict[str, Any]:
        entry = {"path": "svc", "name": "svc", "facts": {"file_size": 1000},
                 "startup": _startup([wall] * 10, envelope), "checks": [],
                 "attribution": None}  # fmt: skip
        return {"binaries": [entry]}

    (moved,) = diff_results(doc(HALF, 40.0), doc(None, 10.0))
    assert moved.envelope == (
        "startup compared across envelopes: old 0.5 CPU, 128 MB memory; new none"
    )
    text = render_diff_text([moved])
    assert f"  warning: {moved.envelope}" in text.splitlines()
    assert f"Warning: {moved.envelope}" in render_diff_markdown([moved]).splitlines()
    (same,) = diff_results(doc(HALF, 40.0), doc(HALF, 10.0))
    assert same.envelope == "" and "envelope" not in render_diff_text([same])


def test_a_real_check_warns_in_the_log_junit_markdown_and_diff(
    fixtures: Any, tmp_path: Any
) -> None:
    """gate check against a baseline measured on the bare machine, this run pinned to a
    CPU (an envelope that needs no cgroup): the warning in the log, as a JUnit warning,
    in the Markdown summary and in gate diff; the verdict is what it was."""
    import os
    import subprocess
    import sys

    from junitparser import JUnitXml

    binary = str(fixtures["rt-noop"].path)
    cpu = str(min(os.sched_getaffinity(0)))
    out = {name: tmp_path / name for name in ("base.json", "new.json", "j.xml", "m.md")}

    def gate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip

    base = gate("check", binary, "--runs", "3", "--json", str(out["base.json"]))
    assert base.returncode == 0, base.stderr
    new = gate(
        "check", binary, "--runs", "3", "--cpu", cpu, "--baseline", str(out["base.json"]),
        "--json", str(out["new.json"]), "--junit", str(out["j.xml"]),
        "--markdown", str(out["m.md"]),
    )  # fmt: skip
    assert new.returncode == 0, new.stderr
    said = f"startup compared across envelopes: baseline none; this run on CPU {cpu}"
    assert f"  warn  {'baseline.envelope':<24} {said}" in new.stdout.splitlines()
    case = next(c for s in JUnitXml.fromfile(str(out["j.xml"])) for c in s
                if c.name == "baseline.envelope")  # fmt: skip
    assert case.is_passed and case.system_out.startswith(f"WARNING: {said}\n")
    assert said in out["m.md"].read_text()
    diff = gate("diff", str(out["base.json"]), str(out["new.json"]))
    assert diff.returncode == 0, diff.stderr
    old_new = f"startup compared across envelopes: old none; new on CPU {cpu}"
    assert f"  warning: {old_new}" in diff.stdout.splitlines()
