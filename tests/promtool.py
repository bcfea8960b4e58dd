"""`promtool check metrics` (Debian's `prometheus` package) as a reader of gate's metrics.

promtool parses the Prometheus text format and lints it the way Prometheus' maintainers
expect metrics to look (`_total` only on counters, `quantile` only on summaries, base
units). A file it has anything to say about fails the test. Without promtool the check
is skipped locally but fails when CI is set, as a missing toolchain does (conftest.py),
so CI never goes green by checking less.
"""

from __future__ import annotations

import shutil
import subprocess

from ci import unavailable


def assert_promtool_accepts(text: str) -> None:
    """promtool reads `text` without an error and without a lint problem."""
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool is missing (apt-get install prometheus)")
    proc = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not problems, f"promtool: exit {proc.returncode}\n{problems}"
