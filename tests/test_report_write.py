"""Atomic report writing with real files: all or nothing, no debris, one-line errors.

Tests run as root in CI containers, where permission bits do not stop a write; the
failures used here (a file where a directory should be, a directory where the report
should be, a failing syscall) fail the same way for every user.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from results_docs import check, document, facts

from gate.errors import GateError
from gate.report import write as write_mod
from gate.report.write import write_atomic, write_reports
from gate.values.escape import dump_json, json_chunks


def _tree(root: Path) -> dict[str, str | None]:
    """Every entry under root: file contents, None for directories."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_text())
        for p in sorted(root.rglob("*"))
    }


def _no_temps(root: Path) -> bool:
    return not [p for p in root.rglob(".gate-*")]


def test_write_atomic_creates_the_file(tmp_path: Path) -> None:
    target = tmp_path / "junit.xml"
    write_atomic(target, "<testsuites/>\n")
    assert target.read_text() == "<testsuites/>\n"
    assert _tree(tmp_path) == {"junit.xml": "<testsuites/>\n"}


def test_write_atomic_replaces_and_accepts_str_paths(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    target.write_text("old and much longer content\n")
    write_atomic(str(target), "new ✅\n")
    assert target.read_text(encoding="utf-8") == "new ✅\n"
    assert _no_temps(tmp_path)


def test_new_file_mode_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640


def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "ci" / "junit.xml"
    write_atomic(target, "x")
    assert target.read_text() == "x"


def test_relative_path_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_atomic("summary.md", "# hi\n")
    write_atomic("reports/junit.xml", "<x/>")
    assert _tree(tmp_path) == {
        "reports": None,
        "reports/junit.xml": "<x/>",
        "summary.md": "# hi\n",
    }


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "reports").write_text("not a dir")
    with pytest.raises(GateError) as info:
        write_atomic(tmp_path / "reports" / "junit.xml", "x")
    message = str(info.value)
    assert message == (
        f"{tmp_path}/reports/junit.xml: cannot write report: {tmp_path}/reports is not a directory"
    )
    assert "\n" not in message
    assert _tree(tmp_path) == {"reports": "not a dir"}


def test_ancestor_is_a_file_and_nothing_is_created(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("file")
    with pytest.raises(GateError, match=r"f is not a directory$"):
        write_atomic(tmp_path / "f" / "a" / "b" / "out.xml", "x")
    assert _tree(tmp_path) == {"f": "file"}


def test_target_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "out.xml").mkdir()
    with pytest.raises(GateError, match=r"out\.xml: cannot write report: is a directory$"):
        write_atomic(tmp_path / "out.xml", "x")
    assert _tree(tmp_path) == {"out.xml": None}


def test_rename_onto_a_directory_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real EISDIR from rename(2), past the early check (a directory that appears late)."""
    target = tmp_path / "out.xml"
    real_replace = os.replace

    def replace(src: str, dst: os.PathLike[str] | str) -> None:
        if Path(dst) == target and not target.exists():
            target.mkdir()
        real_replace(src, dst)

    monkeypatch.setattr(write_mod.os, "replace", replace)
    with pytest.raises(GateError, match=r"cannot write report: is a directory$"):
        write_atomic(target, "x")
    assert _tree(tmp_path) == {"out.xml": None}


def test_failed_write_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(write_mod.os, "fsync", fsync)
    (tmp_path / "junit.xml").write_text("previous")
    with pytest.raises(GateError) as info:
        write_atomic(tmp_path / "junit.xml", "x" * 100_000)
    assert str(info.value) == f"{tmp_path}/junit.xml: cannot write report: no space left on device"
    assert _tree(tmp_path) == {"junit.xml": "previous"}


def test_write_reports_writes_them_all(tmp_path: Path) -> None:
    write_reports(
        [
            (tmp_path / "junit.xml", "<j/>"),
            (tmp_path / "r" / "results.json", "{}"),
            (str(tmp_path / "summary.md"), "# ok"),
        ]
    )
    assert _tree(tmp_path) == {
        "junit.xml": "<j/>",
        "r": None,
        "r/results.json": "{}",
        "summary.md": "# ok",
    }


def test_batch_failing_midway_leaves_nothing_new(tmp_path: Path) -> None:
    (tmp_path / "results.json").mkdir()  # the second target cannot be written
    with pytest.raises(GateError, match=r"results\.json: cannot write report: is a directory$"):
        write_reports(
            [
                (tmp_path / "junit.xml", "<j/>"),
                (tmp_path / "results.json", "{}"),
                (tmp_path / "new" / "summary.md", "# no"),
            ]
        )
    assert _tree(tmp_path) == {"results.json": None}


def test_batch_failing_while_renaming_restores_old_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every temp file written, the second rename fails: the first target gets its old text."""
    (tmp_path / "junit.xml").write_text("old junit")
    (tmp_path / "summary.md").write_text("old summary")
    calls: list[str] = []
    real_replace = os.replace

    def replace(src: str, dst: os.PathLike[str] | str) -> None:
        if Path(src).name.startswith(".gate-") and not str(src).endswith(".old"):
            calls.append(Path(dst).name)
            if len(calls) == 3:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(src, dst)

    monkeypatch.setattr(write_mod.os, "replace", replace)
    with pytest.raises(GateError) as info:
        write_reports(
            [
                (tmp_path / "junit.xml", "new junit"),
                (tmp_path / "results.json", "new json"),
                (tmp_path / "summary.md", "new summary"),
            ]
        )
    assert str(info.value) == f"{tmp_path}/summary.md: cannot write report: input/output error"
    assert calls == ["junit.xml", "results.json", "summary.md"]
    assert _tree(tmp_path) == {"junit.xml": "old junit", "summary.md": "old summary"}


def test_batch_restore_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File systems without hard links: the old report is moved aside and moved back."""

    def link(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(write_mod.os, "link", link)
    (tmp_path / "junit.xml").write_text("old junit")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.json").write_text("keep")
    real_replace = os.replace

    def replace(src: str, dst: os.PathLike[str] | str) -> None:
        if Path(dst).name == "x.json" and str(src).endswith(".tmp"):
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        real_replace(src, dst)

    monkeypatch.setattr(write_mod.os, "replace", replace)
    with pytest.raises(GateError, match="invalid cross-device link"):
        write_reports([(tmp_path / "junit.xml", "new"), (tmp_path / "b" / "x.json", "new")])
    assert _tree(tmp_path) == {"b": None, "b/x.json": "keep", "junit.xml": "old junit"}


def test_batch_success_replaces_existing_reports_and_leaves_no_backup(tmp_path: Path) -> None:
    (tmp_path / "junit.xml").write_text("old")
    (tmp_path / "b.md").write_text("old summary")
    write_reports([(tmp_path / "junit.xml", "new"), (tmp_path / "b.md", "summary")])
    assert _tree(tmp_path) == {"junit.xml": "new", "b.md": "summary"}


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    target = tmp_path / "ci" / "junit.xml"
    target.write_text("old")
    link = tmp_path / "latest.xml"
    link.symlink_to(Path("ci") / "junit.xml")
    write_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == "ci/junit.xml"
    assert target.read_text() == "new"
    assert _tree(tmp_path) == {"ci": None, "ci/junit.xml": "new", "latest.xml": "new"}


def test_a_dangling_symlink_gets_its_target_created(tmp_path: Path) -> None:
    link = tmp_path / "latest.md"
    link.symlink_to(tmp_path / "out" / "summary.md")
    write_atomic(link, "summary")
    assert link.is_symlink()
    assert (tmp_path / "out" / "summary.md").read_text() == "summary"


def test_a_loop_of_symlinks_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(GateError) as info:
        write_atomic(tmp_path / "a", "x")
    assert (
        str(info.value)
        == f"{tmp_path / 'a'}: cannot write report: too many levels of symbolic links"
    )
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()
    assert _no_temps(tmp_path)


def _report_cli(tmp_path: Path, out: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """`gate report` of a minimal results document to `out`, with a 1 s fetch deadline."""
    doc = tmp_path / "r.json"
    doc.write_text(json.dumps({"schema": "gate/results/v1", "binaries": []}))
    return subprocess.run(
        [sys.executable, "-m", "gate", "report", str(doc), "--format", "json", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "GATE_FETCH_TIMEOUT": "1"},
    )


def test_a_fifo_report_nobody_reads_ends_at_the_deadline(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    start = time.monotonic()
    done = _report_cli(tmp_path, fifo, timeout=30)
    took = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"gate: error: {fifo}: cannot write report: no reader took it within 1 s "
        "(GATE_FETCH_TIMEOUT)\n"
    )
    assert 1 <= took < 10
    assert fifo.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == [
        "r.json",
        "report.fifo",
    ]


def test_a_fifo_report_reaches_a_reader_that_comes_late(tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def late_reader() -> None:
        time.sleep(0.3)  # after gate first found nobody there
        got.append(fifo.read_bytes())

    reader = threading.Thread(target=late_reader, daemon=True)
    reader.start()
    done = _report_cli(tmp_path, fifo, timeout=30)
    reader.join(10)
    assert done.returncode == 0, done.stderr
    doc = json.loads(got[0])
    assert (doc["schema"], doc["binaries"]) == ("gate/results/v1", [])


def test_same_target_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="named for two reports"):
        write_reports([(tmp_path / "a.xml", "1"), (tmp_path / "." / "a.xml", "2")])
    assert _tree(tmp_path) == {}


def test_unencodable_text_is_written_with_replacement(tmp_path: Path) -> None:
    write_atomic(tmp_path / "out.txt", "bad \udcff byte")
    assert (tmp_path / "out.txt").read_text() == "bad ? byte"


def test_empty_batch_is_a_no_op(tmp_path: Path) -> None:
    write_reports([])
    assert _tree(tmp_path) == {}


SAID = "ok \u202eLIAF\u202c caf\u00e9 \u2705"  # an override, and non-ASCII text


def _merged(count: int) -> dict[str, object]:
    """A results document of `count` binaries whose names and messages hold U+202E."""
    binaries = [
        {"path": f"s{i}/svc\u202egnp.exe", "name": f"svc{i}", "verdict": "fail", "error": None,
         "facts": facts(f"s{i}/svc"), "startup": None, "attribution": None,
         "checks": [check("size.max_file", "fail", 2.5, 1, "bytes", SAID * 3)]}
        for i in range(count)
    ]  # fmt: skip
    return document("fail", binaries)


def test_json_in_pieces_is_dump_json_byte_for_byte(tmp_path: Path) -> None:
    """The results document streamed (json_chunks) is the text dump_json builds whole, for
    any piece size: same indentation, escapes, trailing newline, and written bytes."""
    doc = _merged(40)
    whole = dump_json(doc)
    assert "\\u202e" in whole and "\u202e" not in whole and whole.endswith("}\n")
    for piece in (1, 7, 4096, 1 << 20):
        assert "".join(json_chunks(doc, piece)) == whole, piece
    pieces = list(json_chunks(doc, 4096))
    assert 2 < len(pieces) <= len(whole) // 4096 + 1  # pieces of 4096 characters at least
    assert all(len(piece) >= 4096 for piece in pieces[:-1])
    assert list(json_chunks([], 4096)) == ["[]\n"] == [dump_json([])]
    expected = whole.encode()

    r, w = os.pipe()  # a stream target (written in place) of more than a pipe holds
    got: list[bytes] = []

    def reader() -> None:
        with os.fdopen(r, "rb") as pipe:
            got.append(pipe.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        write_reports(
            [(tmp_path / "r.json", json_chunks(doc, 4096)), (f"/dev/fd/{w}", json_chunks(doc))]
        )
    finally:
        os.close(w)
    thread.join(10)
    assert len(expected) > 1 << 16
    assert (tmp_path / "r.json").read_bytes() == expected
    assert got == [expected]
    assert _no_temps(tmp_path)


def test_gate_report_and_check_write_the_json_dump_json_makes(tmp_path: Path) -> None:
    """`gate report --format json` (to a file, `-`, standard output) writes dump_json of the
    document it read; `gate check --json` writes dump_json of the document it reports."""
    source = tmp_path / "in.json"
    source.write_text(json.dumps(_merged(3)))
    expected = dump_json(json.loads(source.read_text())).encode()
    gate = [sys.executable, "-m", "gate"]
    out = tmp_path / "out.json"
    for where in (["-o", str(out)], ["-o", "-"], []):
        done = subprocess.run(
            [*gate, "report", str(source), "--format", "json", *where],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert (out.read_bytes() if str(out) in where else done.stdout) == expected, where
    program = shutil.which("true") or "/bin/true"
    done = subprocess.run(
        [*gate, "check", "--no-startup", program, "--json", str(tmp_path / "c.json")],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    written = (tmp_path / "c.json").read_bytes()
    assert written == dump_json(json.loads(written)).encode()


def test_a_report_failing_while_it_is_made_leaves_the_batch_unwritten(tmp_path: Path) -> None:
    """Text in pieces that stops halfway (a bug, not a write error) writes no report of the
    batch, and leaves no temporary file."""
    (tmp_path / "junit.xml").write_text("old junit")

    def pieces() -> Iterator[str]:
        yield "{"
        raise RuntimeError("half made")

    with pytest.raises(RuntimeError, match="half made"):
        write_reports([(tmp_path / "junit.xml", "new junit"), (tmp_path / "r.json", pieces())])
    assert _tree(tmp_path) == {"junit.xml": "old junit"}


def test_running_out_of_space_between_pieces_keeps_the_old_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "results.json").write_text("old results")
    (tmp_path / "junit.xml").write_text("old junit")
    real_write = os.write
    calls: list[int] = []

    def write(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(write_mod.os, "write", write)
    with pytest.raises(GateError) as info:
        write_reports(
            [
                (tmp_path / "junit.xml", "new"),
                (tmp_path / "results.json", json_chunks(_merged(9), 64)),
            ]
        )
    assert str(info.value) == (
        f"{tmp_path}/results.json: cannot write report: no space left on device"
    )
    assert calls[0] == 3 and len(calls) == 3  # junit, then two pieces of the results
    assert _tree(tmp_path) == {"junit.xml": "old junit", "results.json": "old results"}
