"""Progress lines (gate/report/progress.py), as a CI log shows them: through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_adaptive_sampling_says_it_extended_and_why(tmp_path: Path) -> None:
    """A start that takes ~5 ms and ~85 ms in turn leaves a 40 ms p50 limit inside the
    interval at every checkpoint: 4 planned starts become 6. The log said `runs: 4 starts`
    and nothing more; it must say 6, and that the p50 interval still held the limit."""
    policy = tmp_path / "p.toml"
    policy.write_text('[startup]\nruns = 4\nmax_runs = 6\np50 = "40ms"\n')
    flag, out = tmp_path / "slow-next", tmp_path / "r.json"
    script = f"if [ -e {flag} ]; then rm {flag}; sleep 0.08; else : > {flag}; fi"
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "check", "/bin/sh", "--policy", str(policy), "--warm",
         f"--json={out}", "--", "-c", script],
        capture_output=True, text=True, timeout=120, env={**os.environ, "CI": "true"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr  # undecided at max_runs: the policy's warn
    walls = [r["wall_ms"] for r in json.loads(out.read_text())["binaries"][0]["startup"]["runs"]]
    assert len(walls) == 6
    # With 4 runs no pair of order statistics covers the median at 95% (1 - 2 * 0.5^4 is
    # 0.875): the interval runs from the fastest to the slowest start.
    first = walls[:4]
    why = f"the p50 interval [{min(first):.1f}, {max(first):.1f}] ms still contains the limit 40 ms"
    assert proc.stderr.splitlines() == [
        "gate: sh: warmup: 1 start",
        "gate: sh: runs: 4 starts",
        f"gate: sh: runs: extended to 6 starts ({why})",
        f"gate: sh: runs: 6 starts (4 planned, extended: {why})",
    ]
