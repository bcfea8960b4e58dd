"""`gate history` rendered: Markdown (a table, a sparkline and a chart per binary) or CSV.

The chart is a Mermaid `xychart-beta` block: GitHub and GitLab draw it in a comment, a
job summary or a wiki page, and elsewhere it stays readable text. Where a budget would
be crossed at the current slope, the line under the binary's heading says after how
many more runs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from gate.judge.history import Forecast, Series
from gate.report.markup import md, table
from gate.values.units import format_signed_size, format_size

_SPARK = "▁▂▃▄▅▆▇█"
CSV_COLUMNS = ("binary", "created", "commit", "file_size", "p50_ms", "p95_ms", "top_packages")


def render_history_csv(series: Sequence[Series]) -> str:
    """One row per binary and run: what a spreadsheet or a plotting script reads."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in series:
        for p in s.points:
            packages = " ".join(f"{name}={size}" for name, size in p.packages)
            writer.writerow([s.binary, p.created, p.commit or "", _cell(p.file_size),
                             _cell(p.p50_ms), _cell(p.p95_ms), packages])  # fmt: skip
    return out.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def render_history_markdown(series: Sequence[Series]) -> str:
    if not series:
        return "## gate history\n\nNo binary was judged in these results.\n"
    runs = max(len(s.points) for s in series)
    what = "1 binary" if len(series) == 1 else f"{len(series)} binaries"
    lines = [f"## gate history: {what} over {runs} runs", ""]
    for s in series:
        lines += _binary(s)
    return "\n".join(lines).rstrip("\n") + "\n"


def _binary(s: Series) -> list[str]:
    sizes = [p.file_size for p in s.points]
    first, last = sizes[0], sizes[-1]
    lines = [f"### {md(s.binary, 120)}", ""]
    if first is not None and last is not None:
        lines.append(
            f"file size {format_size(last)} ({format_signed_size(last - first)} over "
            f"{len(sizes)} runs) {_sparkline([v for v in sizes if v is not None])}"
        )
    lines += [f"- {_forecast(f)}" for f in s.forecasts]
    lines.append("")
    rows = [
        [md(p.created), md((p.commit or "")[:12]), _size(p.file_size), _ms(p.p50_ms),
         _ms(p.p95_ms), md(", ".join(f"{n} {format_size(b)}" for n, b in p.packages), 200)]
        for p in s.points
    ]  # fmt: skip
    lines += table(("run", "commit", "file size", "p50", "p95", "largest packages"), rows, "runs")
    known = [(i, v) for i, v in enumerate(sizes, 1) if v is not None]
    if len(known) > 1:
        lines += ["", *_chart(s.binary, known)]
    return [*lines, ""]


def _forecast(f: Forecast) -> str:
    what = "file size" if f.measure == "file_size" else "start-up p95"
    limit = format_size(int(f.limit)) if f.measure == "file_size" else f"{f.limit:g} ms"
    step = format_signed_size(round(f.slope)) if f.measure == "file_size" else f"{f.slope:+.2f} ms"
    over = f.over
    if over is not None:
        now = format_size(int(f.latest)) if f.measure == "file_size" else f"{f.latest:.1f} ms"
        by = format_size(round(over)) if f.measure == "file_size" else f"{over:.1f} ms"
        times = f", {f.latest / f.limit:.1f} times its limit" if f.latest >= 2 * f.limit > 0 else ""
        return f"❌ {what}: {now}, over its limit of {limit} by {by}{times} ({step} per run)"
    if f.runs_left is None:
        return f"{what}: {step} per run, not heading for its limit of {limit}"
    return f"⚠️ {what}: {step} per run, crosses its limit of {limit} in about {f.runs_left} runs"


def _chart(binary: str, points: list[tuple[int, int]]) -> list[str]:
    values = ", ".join(f"{v / 2**20:.3f}" for _, v in points)
    runs = ", ".join(str(i) for i, _ in points)
    title = binary.replace('"', "'")[-60:]
    return ["```mermaid", "xychart-beta", f'    title "{title}: file size (MiB)"',
            f"    x-axis [{runs}]", f"    line [{values}]", "```"]  # fmt: skip


def _sparkline(values: list[int]) -> str:
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1
    return "".join(_SPARK[round((v - low) / span * (len(_SPARK) - 1))] for v in values)


def _size(value: int | None) -> str:
    return "" if value is None else format_size(value)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} ms"
