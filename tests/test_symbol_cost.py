"""A million symbols cost work only where they are shown (issue 23, section 2).

On tests/manysymbols.py's file (1M symbols, shape known by construction) `gate size
--by symbol` must agree with binutils' `nm -S --size-sort`, and each command's memory is
bounded: the views that show no symbol (`--by section`, `check` without a results JSON)
must not read the table at all, and those that show them stay far below the 470 bytes per
symbol issue 23 measured. Memory is each child's own VmHWM (tests/peak.py); timings live in
benchmarks/bench_symbols.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import manysymbols
import peak
import pytest
from ci import unavailable

# Bytes of peak RSS per symbol over `--by section`. Showing the top N decodes only the
# names shown (measured 117-120); `--json` writes every row, ranked in one sort of ints
# and then by name a run of equal sizes at a time (measured 121; 177 with all the names'
# sort keys at once).
PER_SYMBOL_SHOWN = 150
PER_SYMBOL_ALL = 150
NO_SYMBOLS_MARGIN = 16 << 20  # a view without symbols: within 16 MiB of `--by section`


@pytest.fixture(scope="module")
def many() -> Path:
    if shutil.which("as") is None or shutil.which("nm") is None:
        unavailable("binutils (as, ld, nm) are needed for the 1M-symbol file")
    return manysymbols.build()


def _gate(*args: str, out: Path) -> tuple[int, str, int]:
    """Run gate in a child, its stdout to `out`: (exit status, stderr, its own peak RSS in
    bytes: that child's alone, whatever other tests ran before)."""
    with out.open("w") as stdout, tempfile.TemporaryFile("w+") as stderr:
        measured = peak.run_gate(list(args), stdout, stderr)
        stderr.seek(0)
        said = stderr.read()
    assert measured.peak is not None, said
    return measured.returncode, said, measured.peak


def _nm_top(path: Path, n: int) -> list[tuple[str, int]]:
    """The n largest sized symbols per nm, largest first, ties by name."""
    out = subprocess.run(
        ["nm", "-S", "--size-sort", str(path)], capture_output=True, text=True, check=True
    ).stdout
    rows = [
        (p[3], int(p[1], 16)) for p in (line.split() for line in out.splitlines()) if len(p) == 4
    ]
    return sorted(rows, key=lambda r: (-r[1], r[0]))[:n]


def test_symbols_match_nm_and_stay_small(many: Path, tmp_path: Path) -> None:
    text_out, out = tmp_path / "size.txt", tmp_path / "size.json"
    status, err, section_peak = _gate("size", str(many), "--by", "section", out=text_out)
    assert status == 0, err
    policy = _policy(tmp_path)
    status, err, check_peak = _gate(
        "check", str(many), "--no-startup", "--policy", policy, out=text_out
    )
    assert status in (0, 1), err
    # check without a results JSON and without size checks does not read the symbols.
    assert check_peak <= section_peak + NO_SYMBOLS_MARGIN, (check_peak, section_peak)

    status, err, text_peak = _gate("size", str(many), "--by", "symbol", "--top", "20", out=text_out)
    assert status == 0, err
    text = text_out.read_text()
    status, err, json_peak = _gate("size", str(many), "--by", "symbol", "--json", out=out)
    assert status == 0, err

    expected = manysymbols.expected_top(manysymbols.TOP)
    assert _nm_top(many, manysymbols.TOP) == expected  # the fixture is what it claims
    shown = [line.split()[-1] for line in text.splitlines()[2:22]]
    assert shown == [name for name, _ in expected]
    assert f"… {manysymbols.COUNT - 20} more symbol entries" in text

    doc = json.loads(out.read_text())
    assert doc["entries_total"] == manysymbols.COUNT == len(doc["entries"])
    assert [(e["name"], e["bytes"]) for e in doc["entries"][: manysymbols.TOP]] == expected
    assert sum(e["bytes"] for e in doc["entries"]) == sum(
        manysymbols.size(i) for i in range(manysymbols.COUNT)
    )
    # Compact rows: well under 40 bytes a symbol of this file's 11-character names.
    assert out.stat().st_size < 40 * manysymbols.COUNT

    for shown_peak, limit in ((text_peak, PER_SYMBOL_SHOWN), (json_peak, PER_SYMBOL_ALL)):
        per_symbol = (shown_peak - section_peak) / manysymbols.COUNT
        assert per_symbol < limit, f"{per_symbol:.0f} bytes per symbol"
    # Within twice the file and 100 MiB, the top N and every row.
    for shown_peak in (text_peak, json_peak):
        assert shown_peak < 2 * many.stat().st_size + (100 << 20), shown_peak


def _policy(tmp_path: Path) -> str:
    policy = tmp_path / "elf-only.toml"
    policy.write_text(
        '[policy]\nname = "elf-only"\ndescription = "no size checks"\n[elf]\ntextrel = false\n'
    )
    return str(policy)
