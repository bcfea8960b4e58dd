"""A file that is not ELF is named (gate/read/filekind.py), not shown as hex bytes: each
made by the tool that makes such files where there is one, and file(1) agreeing."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from ci import unavailable
from images import png

_WASM = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\x02\x01\0\x0a\x04\x01\x02\0\x0b"  # () -> ()


def _tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("svc")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    return buf.getvalue()


def _wheel() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as whl:
        whl.writestr("svc-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return buf.getvalue()


# name -> (its bytes, what gate calls it, what file(1) says of it)
CASES = {
    "app.wasm": (_WASM, "a WebAssembly module", "WebAssembly"),
    "tool.py": (
        b"import os\n\n\ndef main() -> None:\n    print(os.getpid())\n\n\n"
        b'if __name__ == "__main__":\n    main()\n',
        "Python source",
        "Python script",
    ),
    "tool": (
        b"#!/usr/bin/env python3\nprint(1)\n",
        "a Python script (#!/usr/bin/env python3)",
        "Python script",
    ),
    "run.sh": (b"#!/bin/sh\nexec ./svc\n", "a shell script (#!/bin/sh)", "shell script"),
    "svc-1.0-py3-none-any.whl": (_wheel(), "a Python wheel (a zip archive)", "Zip archive"),
    "svc.tar.gz": (gzip.compress(_tarball()), "a gzip-compressed tar archive", "gzip"),
    "svc.tar": (_tarball(), "a tar archive", "tar archive"),
    "svc.exe": (b"MZ\x90\0" + b"\0" * 60, "a Windows PE executable", "MS-DOS"),
    "svc-darwin": (
        b"\xcf\xfa\xed\xfe\x07\0\0\x01\x03\0\0\0\x02\0\0\0" + b"\0" * 16,
        "a Mach-O binary (macOS)",
        "Mach-O 64-bit",
    ),
    # Beside the binaries under bin/ or dist/, and binary files to pre-commit's hook.
    "logo.png": (png(), "a PNG image", "PNG image"),
    "photo.jpg": (
        b"\xff\xd8\xff\xe0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0\xff\xd9",
        "a JPEG image",
        "JPEG image",
    ),
    "spinner.gif": (b"GIF89a\x01\0\x01\0\0\0\0;", "a GIF image", "GIF image"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_file_that_is_not_elf_is_named(tmp_path: Path, name: str) -> None:
    data, what, file_says = CASES[name]
    path = tmp_path / name
    path.write_bytes(data)
    if shutil.which("file") is None:
        unavailable("file(1) is not installed")
    seen = subprocess.run(["file", "-b", path], capture_output=True, text=True, check=True)
    assert file_says in seen.stdout, seen.stdout  # the sample is what it claims to be
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "inspect", path], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"gate: error: {path}: {what}, not an ELF binary"]


def test_real_scripts_are_named_by_their_interpreter(tmp_path: Path) -> None:
    """This repository's own scripts, as they are on disk."""
    root = Path(__file__).parent.parent
    zipapp = root / "scripts" / "build-zipapp"
    first = zipapp.read_text().splitlines()[0]
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "check", zipapp, "--no-startup"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"gate: error: {zipapp}: a Python script ({first}), not an ELF binary" in proc.stderr
