"""What a file that is not ELF is, named for the person who passed it.

People hand gate the wrong file: a wrapper script instead of the binary it starts, the
wheel or tarball the binary ships in, a WebAssembly build, the macOS or Windows build.
`starts with 00 61 73 6d` helps nobody; "a WebAssembly module" says which file to pass
instead. Magic numbers first, then a script's interpreter from its `#!` line, then the
file name's suffix for formats with no magic (Python source), then text as text.
"""

from __future__ import annotations

import re

# (magic at offset 0, what the file is)
_MAGIC = (
    (b"\0asm", "a WebAssembly module"),
    (b"!<arch>\n", "an ar archive (a static library)"),
    (b"MZ", "a Windows PE executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O binary (macOS)"),
    (b"\xce\xfa\xed\xfe", "a Mach-O binary (macOS)"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O binary (macOS)"),
    (b"\xfe\xed\xfa\xce", "a Mach-O binary (macOS)"),
    (b"\xca\xfe\xba\xbe", "a Mach-O universal binary or Java class"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\0", "an xz-compressed file"),
    (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"BC\xc0\xde", "LLVM bitcode"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
)
# A zip is named by what people ship in one.
_ZIPS = {
    ".whl": "a Python wheel (a zip archive)",
    ".jar": "a Java archive (zip)",
    ".apk": "an Android package (zip)",
    ".pyz": "a Python zipapp",
}
_TARBALLS = re.compile(r"\.(tar\.\w+|tgz|tbz2?|txz|tzst)$")
_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish"}
_INTERPRETERS = (
    (re.compile(r"python(\d(\.\d+)?)?$|pypy\d?$"), "a Python script"),
    (re.compile(r"node(js)?$|deno$|bun$"), "a JavaScript script"),
    (re.compile(r"perl\d?$"), "a Perl script"),
    (re.compile(r"ruby\d?(\.\d+)?$"), "a Ruby script"),
)
_TEXT = re.compile(rb"[\t\n\r\x20-\x7e\x80-\xff]*")


def describe_not_elf(head: bytes, name: str) -> str:
    """One line for a file whose first bytes (`head`, a few hundred) are not ELF's."""
    kind = _kind(head, name.lower())
    if kind is None:
        return f"not an ELF binary (starts with {head[:4].hex(' ')})"
    return f"{kind}, not an ELF binary"


def what_it_is(head: bytes, name: str) -> str:
    """What a file that is not ELF is, for a list of files passed over: "a PNG image", or
    its first bytes when it is nothing gate can name."""
    return _kind(head, name.lower()) or f"starts with {head[:4].hex(' ')}"


def not_elf(path: str) -> str | None:
    """What the file at `path` is, when it is a readable file that is not ELF at all
    (gate check --skip-unsupported passes it over); None for an ELF, even a truncated one,
    and for whatever cannot be read: judging it says what is wrong, as without the option.
    An empty file is a build that wrote nothing, not some other kind of file."""
    import os
    import stat

    from gate.read.elf import ELF_MAGIC

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the open
            return None
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    if not head or ELF_MAGIC.startswith(head[:4]):
        return None
    return what_it_is(head, os.path.basename(path))


def _kind(head: bytes, name: str) -> str | None:
    if head.startswith(b"#!"):
        return _script(head)
    if head.startswith(b"PK\x03\x04"):
        return next((what for end, what in _ZIPS.items() if name.endswith(end)), "a zip archive")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            if what.endswith("-compressed file") and _TARBALLS.search(name):
                return what.replace("file", "tar archive")
            return what
    if head[257:262] == b"ustar":
        return "a tar archive"
    if name.endswith(".pyc") and head[2:4] == b"\r\n":
        return "compiled Python bytecode (.pyc)"
    if _is_text(head):
        if name.endswith(".py"):
            return "Python source"
        first = head.decode("utf-8", "replace").strip().split("\n", 1)[0][:24].strip()
        return f'a text file (starts with "{first}")' if first else "a text file"
    return None


def _script(head: bytes) -> str:
    """A `#!` file by its interpreter: `#!/usr/bin/env python3` is a Python script."""
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    words = line.split()
    program = words[0].rsplit("/", 1)[-1] if words else ""
    if program == "env":  # env [-S] [VAR=value...] PROGRAM
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        program = rest[0].rsplit("/", 1)[-1] if rest else ""
    shown = f"#!{line[:60]}"
    if program in _SHELLS:
        return f"a shell script ({shown})"
    for pattern, what in _INTERPRETERS:
        if pattern.match(program):
            return f"{what} ({shown})"
    return f"a script ({shown})"


def _is_text(head: bytes) -> bool:
    """Printable ASCII or UTF-8 with line breaks, no control bytes (a cut last character
    is fine: `head` is a prefix)."""
    if not head or _TEXT.fullmatch(head) is None:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut at the end
    return True
