"""The Markdown job summary: verdict first, failures as a table, nothing injectable."""

from __future__ import annotations

import copy
import itertools
import re
from typing import Any

import markdown_it
from results_docs import check, document

from gate.report.markdown import MAX_ROWS, render_markdown
from gate.values.stats import QUANTILE_METHOD

HOSTILE = "a|b<script>"
HOSTILE_MESSAGE = "pipe | in `code` and <img src=x onerror=alert(1)> [x](http://e.vil) @team\nnext"


def _facts(path: str, **over: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "path": path,
        "file_size": 8_600_000,
        "elf": {"class": 64, "machine": "x86-64", "type": "pie", "entry": 4096, "endian": "little"},
        "linking": {
            "static": False,
            "interpreter": "/lib64/ld-linux-x86-64.so.2",
            "needed": ["libc.so.6"],
            "rpath": [],
            "runpath": [],
            "soname": None,
        },
        "sections": [],
        "totals": {"text": 1, "rodata": 1, "data": 1, "bss": 1, "symbols": 0, "debug": 0},
        "symbols": {"stripped": True, "symtab_entries": 0, "dynsym_entries": 10},
        "debug": {"present": False, "compressed": False, "bytes": 0, "sections": []},
        "hardening": {
            "nx": True,
            "relro": "full",
            "bind_now": True,
            "textrel": False,
            "canary": True,
            "fortify": False,
            "fortified": [],
        },
        "go": None,
    }
    facts.update(over)
    return facts


def _run(wall_ms: float, ok: bool = True, error: str | None = None, **extra: Any) -> dict[str, Any]:
    run = {
        "wall_ms": wall_ms,
        "user_ms": 1.0,
        "sys_ms": 1.0,
        "max_rss_bytes": 4_000_000,
        "major_faults": 0,
        "minor_faults": 100,
        "exit_code": 0 if ok else None,
        "ok": ok,
        "error": error,
        "stopped": 0,
        "port": None,
        "resident_before": 0,
        "resident_after": 10,
    }
    run.update(extra)
    return run


# 18 ok runs spread over 280-450 ms, and 2 failed runs (one with output tails).
OK_WALLS = [280.1, 282.5, 285.0, 288.8, 290.3, 291.0, 295.5, 301.2, 305.0]
OK_WALLS += [310.7, 322.4, 340.9, 355.0, 380.2, 401.8, 412.3, 430.0, 450.0]


def _startup() -> dict[str, Any]:
    runs = [_run(w) for w in OK_WALLS[:9]]
    runs.append(
        _run(
            10000.0,
            ok=False,
            error="timed out after 10.0 s | not ready",
            stderr_tail="booting\n```\n</details><script>x</script>\npanic: boom",
            stdout_tail="",
        )
    )
    runs += [_run(w) for w in OK_WALLS[9:]]
    runs.append(_run(3.0, ok=False, error="exited with status 3", exit_code=3))
    return {
        "binary": "build/svc",
        "args": [],
        "ready": "exit",
        "cold": True,
        "eviction": "fadvise",
        "warmup": 1,
        "timeout_s": 10.0,
        "runs": runs,
        "stats": {
            "count": 18,
            "failed": 2,
            "min_ms": 280.1,
            "p50_ms": 308.0,
            "p90_ms": 412.0,
            "p95_ms": 412.3,
            "p99_ms": 446.0,
            "max_ms": 450.0,
            "mean_ms": 340.0,
            "stdev_ms": 55.0,
            "ci": {"p50": [290.0, 340.0], "p90": [None, None], "p95": [None, None]},
            "confidence": 0.95,
            "min_runs": {"p50": 6},
            "quantile_method": QUANTILE_METHOD,
            "ci_method": "order statistics (binomial), distribution-free",
        },
        "eviction_detail": None,
        "against": None,
    }


def _failing() -> dict[str, Any]:
    go = {
        "version": "go1.22.1",
        "path": "example.com/svc",
        "main_module": {"path": "example.com/svc", "version": "(devel)", "sum": None},
        "deps": [],
        "settings": {"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": "linux"},
        "format": "inline",
    }
    return {
        "path": "build/svc",
        "name": "svc",
        "verdict": "fail",
        "error": None,
        "facts": _facts("build/svc", go=go),
        "startup": _startup(),
        "attribution": None,
        "checks": [
            check(
                "size.max_file",
                "fail",
                8_600_000,
                8_000_000,
                "bytes",
                "file 8.60 MB > 8 MB",
            ),
            check("elf.types", "pass", "pie", ["pie", "static-pie"], None, "type pie allowed"),
            check(
                "startup.p95",
                "fail",
                412.3,
                320.0,
                "ms",
                "cold-start p95 412.3 ms > 320 ms by 92.3 ms (18 runs, p50 308.0 ms)",
            ),
            check(
                "size.max_growth",
                "warn",
                7.5,
                5.0,
                "%",
                "grew 7.5% > 5%",
                severity="warn",
            ),
            check("startup.runs", "fail", 2, 0, None, "2 of 20 starts failed"),
        ],
    }


def _passing(name: str = "worker") -> dict[str, Any]:
    return {
        "path": f"build/{name}",
        "name": name,
        "verdict": "pass",
        "error": None,
        "facts": _facts(f"build/{name}", file_size=1_048_576),
        "startup": None,
        "attribution": None,
        "checks": [
            check("size.max_file", "pass", 1_048_576, 2 * 2**20, "bytes", "1.0 MiB <= 2 MiB"),
            check("elf.stripped", "pass", True, True, None, "stripped"),
            check("go.cgo", "skip", None, None, None, "not a Go binary"),
        ],
    }


def _hostile() -> dict[str, Any]:
    return {
        "path": f"build/{HOSTILE}",
        "name": HOSTILE,
        "verdict": "fail",
        "error": None,
        "facts": _facts(f"build/{HOSTILE}"),
        "startup": None,
        "attribution": None,
        "checks": [
            check("size.max_section:.te|xt", "fail", 5000, 4096, "bytes", HOSTILE_MESSAGE),
        ],
    }


def _broken() -> dict[str, Any]:
    return {
        "path": "build/missing",
        "name": "missing",
        "verdict": "error",
        "error": "build/missing: no such file <b>",
        "facts": None,
        "startup": None,
        "attribution": None,
        "checks": [],
    }


def _doc(verdict: str, *binaries: dict[str, Any]) -> dict[str, Any]:
    return document(verdict, list(binaries))


def _split_row(line: str) -> list[str]:
    """Cells of a pipe-table row, splitting only on unescaped pipes."""
    assert line.startswith("|") and line.endswith("|"), line
    cells, cell, i = [], "", 1
    body = line[:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            cell += body[i : i + 2]
            i += 2
            continue
        if ch == "|":
            cells.append(cell.strip())
            cell = ""
        else:
            cell += ch
        i += 1
    cells.append(cell.strip())
    return cells


def _tables(text: str) -> list[list[list[str]]]:
    """Every pipe table in the raw text, as rows of cells (header first, no delimiter row)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in text.split("\n"):
        if line.startswith("|"):
            if current is None:
                current = []
                tables.append(current)
            if not re.fullmatch(r"\|(-+\|)+", line):
                current.append(_split_row(line))
        else:
            current = None
    return tables


def _parser() -> Any:
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _html_tables(text: str) -> list[list[list[str]]]:
    """Tables as a CommonMark+GFM parser sees them: rows of rendered cell texts."""
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    for token in _parser().parse(text):
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            assert row is not None
            tables[-1].append(row)
            row = None
        elif token.type == "inline" and row is not None:
            row.append("".join(_plain(child) for child in token.children or []))
    return tables


def _plain(token: Any) -> str:
    if token.type in ("text", "code_inline"):
        return token.content
    if token.type == "softbreak":
        return "\n"
    if token.type in ("html_inline",):
        return f"<<HTML {token.content}>>"
    return ""


def test_first_line_carries_a_failed_verdict() -> None:
    text = render_markdown(_doc("fail", _failing(), _passing()))
    lines = text.split("\n")
    assert lines[0] == "## ❌ gate: 3 checks failed — merge blocked"
    assert lines[1].startswith("policy **serverless** · 2 binaries: ❌ svc · ✅ worker")


def test_first_line_of_a_pass_counts_everycheck() -> None:
    a, b = _passing("a"), _passing("b")
    for binary in (a, b):
        binary["checks"] = [c for c in binary["checks"] if c["status"] == "pass"]
    text = render_markdown(_doc("pass", a, b))
    assert text.split("\n")[0] == "## ✅ gate: all 4 checks passed"
    assert "| binary |" not in text  # no failure table when nothing failed


def test_pass_with_warning_and_skip_says_so() -> None:
    warned = _passing()
    warned["checks"].append(check("size.max_growth", "warn", 6.0, 5.0, "%", "grew 6%", "warn"))
    text = render_markdown(_doc("pass", warned))
    assert text.split("\n")[0] == "## ✅ gate: 2 checks passed, 1 warning, 1 skipped"
    rows = _tables(text)[0]
    assert rows[0] == ["binary", "check", "measured", "limit", "over by"]
    assert rows[1] == ["worker", "⚠️ size.max\\_growth", "6.0%", "5.0%", "+1.0 pp"]


def test_first_line_when_a_binary_could_not_be_judged() -> None:
    text = render_markdown(_doc("error", _broken(), _passing()))
    lines = text.split("\n")
    assert lines[0] == "## ⚠️ gate: could not judge 1 binary — merge blocked"
    assert "- ⚠️ **missing**: build/missing: no such file &lt;b>" in lines
    assert "<details open><summary>⚠️ <b>missing</b> — could not judge</summary>" in lines


def test_failed_table_lists_failed_then_warned_checks_with_units() -> None:
    text = render_markdown(_doc("fail", _failing(), _passing()))
    table = _tables(text)[0]
    assert table[0] == ["binary", "check", "measured", "limit", "over by"]
    assert table[1:] == [
        # over by in the limit's unit family (decimal), scaled to the difference (markup.over_by)
        ["svc", "❌ size.max\\_file", "8.60 MB", "8.00 MB", "+600.00 KB (+7.5%)"],
        ["svc", "❌ startup.p95", "412.3 ms", "320.0 ms", "+92.3 ms (+28.8%)"],
        ["svc", "❌ startup.runs", "2", "0", "+2"],
        ["svc", "⚠️ size.max\\_growth", "7.5%", "5.0%", "+2.5 pp"],
    ]


def test_binary_size_limits_read_in_binary_units() -> None:
    binary = _passing()
    binary["verdict"] = "fail"
    binary["checks"][0].update(status="fail", measured=3 * 2**20, limit=2 * 2**20)
    table = _tables(render_markdown(_doc("fail", binary)))[0]
    assert table[1][2:] == ["3.00 MiB", "2.00 MiB", "+1.00 MiB (+50.0%)"]


def test_checks_table_per_binary_is_complete_and_in_policy_order() -> None:
    failing = _failing()
    text = render_markdown(_doc("fail", failing))
    table = _tables(text)[1]
    assert table[0] == ["", "check", "message"]
    ids = [row[1].replace("\\_", "_") for row in table[1:]]
    assert ids == [c["id"] for c in failing["checks"]]
    assert [row[0] for row in table[1:]] == ["❌", "✅", "❌", "⚠️", "❌"]


def test_facts_line_is_compact() -> None:
    text = render_markdown(_doc("fail", _failing()))
    expected = (
        "8.2 MiB · x86-64 pie · dynamic (libc.so.6) · stripped"
        " · go1.22.1 CGO\\_ENABLED=0 -trimpath=true GOOS=linux"
    )
    assert expected in text.split("\n")


def test_details_open_only_for_failed_binaries() -> None:
    text = render_markdown(_doc("fail", _failing(), _passing()))
    assert "<details open><summary>❌ <b>svc</b> — 3 of 5 checks failed</summary>" in text
    assert "<details><summary>✅ <b>worker</b> — 2 of 3 checks passed</summary>" in text
    lines = text.split("\n")
    assert sum(x.startswith("<details") for x in lines) == lines.count("</details>") == 2


def _mermaid(text: str) -> list[str]:
    lines = text.split("\n")
    start = lines.index("```mermaid")
    end = lines.index("```", start + 1)
    return lines[start + 1 : end]


def test_mermaid_histogram_is_well_formed() -> None:
    text = render_markdown(_doc("fail", _failing()))
    block = _mermaid(text)
    assert block[0] == "xychart-beta"
    body = {line.strip().split(" ", 1)[0]: line.strip() for line in block[1:]}
    assert set(body) == {"title", "x-axis", "y-axis", "bar"}
    assert "p95 limit 320.0 ms" in body["title"]
    bars = [int(n) for n in re.fullmatch(r"bar \[(.*)\]", body["bar"]).group(1).split(", ")]
    labels = re.findall(r'"([^"]*)"', body["x-axis"].split("[", 1)[1])
    assert sum(bars) == len(OK_WALLS) == 18
    assert len(labels) == len(bars)
    assert 5 <= len(bars) <= 12
    assert all(re.fullmatch(r"\d+-\d+", label) for label in labels)
    # Bins are contiguous ranges that cover every ok run.
    edges = [tuple(map(float, label.split("-"))) for label in labels]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))
    assert edges[0][0] <= min(OK_WALLS) and max(OK_WALLS) <= edges[-1][1]
    assert body["y-axis"] == f'y-axis "runs" 0 --> {max(bars)}'


def test_histogram_of_identical_runs_is_one_bar() -> None:
    failing = _failing()
    for run in failing["startup"]["runs"]:
        run.update(wall_ms=5.0, ok=True)
    block = _mermaid(render_markdown(_doc("fail", failing)))
    assert block[2].strip() == 'x-axis "ms" ["5.0"]'
    assert block[4].strip() == "bar [20]"


def test_sparkline_fallback_with_percentiles() -> None:
    text = render_markdown(_doc("fail", _failing()))
    line = next(x for x in text.split("\n") if x.startswith("start-up: `"))
    spark = line.split("`")[1]
    assert spark and set(spark) <= set("▁▂▃▄▅▆▇█")
    assert len(spark) == len(_mermaid(text)[4].split(","))
    for part in ("min 280.1 ms", "p50 308.0 ms", "p95 412.3 ms (limit 320.0 ms)", "max 450.0 ms"):
        assert part in line
    assert "18 ok runs, 2 failed" in line


def test_failed_runs_listed_with_errors_and_a_fenced_tail() -> None:
    text = render_markdown(_doc("fail", _failing()))
    lines = text.split("\n")
    assert "2 failed start-up runs:" in lines
    assert "- run 10: timed out after 10.0 s \\| not ready" in lines
    assert "- run 20: exited with status 3 (exit code 3)" in lines
    # The tail holds ``` so the fence is longer; </details> inside stays code.
    start = lines.index("````text")
    end = lines.index("````", start + 1)
    assert lines[start + 1 : end] == [
        "booting",
        "```",
        "</details><script>x</script>",
        "panic: boom",
    ]
    html = _parser().render(text)
    assert "<script>" not in html
    assert html.count("</details>") == 1


def test_hostile_names_and_messages_keep_tables_intact() -> None:
    text = render_markdown(_doc("fail", _hostile(), _passing()))
    for table in _tables(text):
        widths = {len(row) for row in table}
        assert len(widths) == 1, table
    failed = _tables(text)[0]
    assert len(failed) == 2 and len(failed[1]) == 5
    assert "\n" not in text.split("| a\\|b&lt;script>")[1].split("|\n")[0]


def test_commonmark_parser_sees_tables_with_the_original_text() -> None:
    text = render_markdown(_doc("fail", _hostile(), _passing()))
    tables = _html_tables(text)
    failed = tables[0]
    assert failed[0] == ["binary", "check", "measured", "limit", "over by"]
    assert failed[1][:2] == [HOSTILE, "❌ size.max_section:.te|xt"]
    checks = tables[1]
    assert checks[1][2] == HOSTILE_MESSAGE.replace("\n", " ").replace("@", "@\u2060")
    html = _parser().render(text)
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "&lt;script&gt;" in html


def test_summary_element_escapes_html() -> None:
    text = render_markdown(_doc("fail", _hostile()))
    assert "<summary>❌ <b>a|b&lt;script&gt;</b> — 1 of 1 check failed</summary>" in text


def test_control_and_bidi_characters_are_made_visible() -> None:
    binary = _hostile()
    binary["checks"][0]["message"] = "evil\x1b[31m red\u202egnp.exe\r\nline"
    text = render_markdown(_doc("fail", binary))
    row = _tables(text)[1][1]
    assert row[2] == "evil\\\\x1b\\[31m red\\\\u202egnp.exe line"
    assert "\x1b" not in text and "\u202e" not in text
    assert _html_tables(text)[1][1][2] == "evil\\x1b[31m red\\u202egnp.exe line"


def test_long_tables_are_capped() -> None:
    binary = _passing()
    binary["verdict"] = "fail"
    binary["checks"] = [
        check(f"size.max_section:.s{i}", "fail", 200, 100, "bytes", f"section {i}")
        for i in range(MAX_ROWS + 20)
    ] + [check("elf.nx", "pass", True, True, None, "NX on")]
    text = render_markdown(_doc("fail", binary))
    failed, checks = _tables(text)
    assert len(failed) == MAX_ROWS + 1
    assert "… 20 more failed checks" in text
    assert len(checks) == MAX_ROWS + 1
    assert "… 21 more checks (passed or skipped)" in text
    assert all(row[0] == "❌" for row in checks[1:])  # failures survive the cut
    assert len(text) < 20_000


def test_long_messages_are_cut() -> None:
    binary = _hostile()
    binary["checks"][0]["message"] = "x" * 5000
    text = render_markdown(_doc("fail", binary))
    assert max(len(line) for line in text.split("\n")) < 400
    assert "x…" in text


def test_rendering_does_not_mutate_and_is_deterministic() -> None:
    doc = _doc("fail", _failing(), _hostile(), _passing(), _broken())
    before = copy.deepcopy(doc)
    assert render_markdown(doc) == render_markdown(doc)
    assert doc == before


def test_startup_without_stats_lists_failures_only() -> None:
    failing = _failing()
    startup = failing["startup"]
    startup["stats"] = None
    for run in startup["runs"]:
        run.update(ok=False, error="never ready")
    text = render_markdown(_doc("fail", failing))
    assert "```mermaid" not in text
    assert "20 failed start-up runs:" in text
    assert "- … 10 more" in text


def test_empty_document() -> None:
    text = render_markdown(_doc("pass"))
    assert text.split("\n")[:2] == [
        "## ✅ gate: passed (no checks applied)",
        "policy **serverless** · 0 binaries",
    ]


def test_sizes_read_in_the_unit_the_limit_was_written_in() -> None:
    """8.5 MB reads as 8.50 MB, not 8500.00 KB; 8 MiB as MiB; an odd limit in plain units."""
    from results_docs import check, document

    from gate.report.markdown import render_markdown

    rows = {
        8_500_000: "| svc | ❌ size.max\\_file | 8.82 MB | 8.50 MB |",
        8 * 2**20: "| svc | ❌ size.max\\_file | 8.41 MiB | 8.00 MiB |",
        8_912_896: "| svc | ❌ size.max\\_file | 8.41 MiB | 8.50 MiB |",
    }
    for limit, row in rows.items():
        fail = check("size.max_file", "fail", 8_821_209, limit, "bytes", "file size over")
        binary = {"path": "svc", "name": "svc", "verdict": "fail", "error": None, "facts": None,
                  "startup": None, "attribution": None, "checks": [fail]}  # fmt: skip
        text = render_markdown(document("fail", [binary]))
        assert row in text, (limit, text)


def test_largest_packages_as_bars_open_when_size_failed() -> None:
    from results_docs import check, document, facts

    from gate.report.markdown import BAR_WIDTH, render_markdown

    packages = [{"name": "runtime", "bytes": 400_000}, {"name": "net/http", "bytes": 100_000},
                {"name": "github.com/a_b/c", "bytes": 50_000}]  # fmt: skip

    def rendered(status: str) -> str:
        binary = {"path": "svc", "name": "svc", "verdict": status, "error": None,
                  "facts": facts(file_size=1_000_000), "startup": None,
                  "attribution": {"packages": packages},
                  "checks": [check("size.max_file", status, 1, 2, "bytes", "m")]}  # fmt: skip
        return render_markdown(document(status, [binary]))

    failed = rendered("fail")
    assert (
        "<details open><summary>where the bytes are: Go code is 55% of the file (537.1 KiB of "
        "976.6 KiB); the 3 largest packages</summary>" in failed
    )
    start = failed.index("| package | size | share of the file |")
    rows = [line for line in failed[start:].splitlines()[2:] if line.startswith("| ")]
    # Shares of the file: the packages and what is outside Go code add up to 100%.
    assert rows == [
        f"| runtime | 390.6 KiB | 40.0% | {'█' * BAR_WIDTH} |",
        "| net/http | 97.7 KiB | 10.0% | ██████ |",
        "| github.com/a\\_b/c | 48.8 KiB | 5.0% | ███ |",
        "| *outside Go code* (data, tables, symbols, debug, C…) | 439.5 KiB | 45.0% |  |",
    ]
    assert "<details><summary>where the bytes are" in rendered("pass")
