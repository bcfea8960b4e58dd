"""The toolchain that built a binary (gate/read/toolchain.py), and every hint and remedy
in that toolchain's terms (gate/judge/checks.py, gate/judge/remedies.py), on binaries
nobody here wrote.

References are not gate: `readelf -p .comment` for the compiler, `readelf -d` for
DT_NEEDED, `readelf -s`/`--dyn-syms` for mangled names, FILE symbols and
__stack_chk_fail, `go version -m` for Go's version and build settings, `grep -a` for
std's panic paths. The corpus (tests/corpus.py): Rust's just, Debian's memcached (C),
Caddy and etcd (Go; etcd built by Go 1.16, which records no build settings); the C++
ones are the rt-multilib fixture (needs libstdc++) and programs g++ builds here, the
Rust variants programs rustc builds here (with and without .symtab and .comment, with a
C object linked in).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from ci import unavailable
from reference import (
    Fixture,
    go_version_m,
    readelf_dynamic_info,
    readelf_dynsym_names,
    readelf_sections,
    readelf_segments,
)
from test_check import gate

from gate.read.facts import inspect_binary
from gate.read.toolchain import rust_names

Corpus = Callable[[str], Path]

# Words only one toolchain's advice may use. C's are flags of the C compiler and linker as
# they are written alone (`+crt-static` in RUSTFLAGS is Rust's, hence the lookbehind).
GO_WORDS = re.compile(r"-ldflags|CGO_|-buildmode|GOMAXPROCS|go build|\bcgo\b")
C_WORDS = re.compile(
    r"-f(?:no-)?pie|-no-pie|(?<![\w+-])-static\b|-fstack-protector|build C with|"
    r"strip --strip-debug|run strip|strip the binary|-Wl,-z,relro"
)
RUST_WORDS = re.compile(r"RUSTFLAGS|Cargo|\[profile\.release\]|\bcc crate\b")

# hardened, and everything else that has a hint or a remedy: size, stripping, static
# linking, BIND_NOW, and a cold start-up no program meets (so every start-up remedy its
# measurements support is offered).
POLICY = """
[policy]
name = "everything"
extends = "hardened"
[size]
max_file = "10 KB"
[elf]
stripped = true
debug_info = false
linking = "static"
bind_now = true
[go]
ldflags_contain = ["-s", "-w"]
cgo = false
trimpath = true
[startup]
runs = 3
warmup = 1
cold = true
p50 = "0.01 ms"
"""


def readelf_comment(path: Path) -> list[str]:
    """`.comment`'s entries as `readelf -p .comment` prints them; [] without the section."""
    proc = subprocess.run(
        ["readelf", "-p", ".comment", str(path)], capture_output=True, text=True, check=True
    )
    return [m[1] for m in re.finditer(r"^\s*\[\s*[0-9a-f]+\]\s+(.*?)\s*$", proc.stdout, re.M)]


def readelf_symbols(path: Path) -> list[tuple[str, str]]:
    """(type, name) of every `.symtab` and `.dynsym` entry, as `readelf -sW` lists them."""
    text = subprocess.run(
        ["readelf", "-sW", str(path)], capture_output=True, text=True, check=True
    ).stdout
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 8 and fields[0].endswith(":") and fields[0][:-1].isdigit():
            out.append((fields[3], fields[7]))
    return out


def section_names(path: Path) -> set[str]:
    return {s["name"] for s in readelf_sections(path)}


def run(*argv: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True, cwd=cwd, timeout=300)


# ---------------------------------------------------------------- programs built here


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Rust and C++ programs built here: name -> path (a missing compiler: unavailable)."""
    for tool in ("rustc", "g++", "gcc", "objcopy"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is missing: the Rust and C++ programs cannot be built")
    out = tmp_path_factory.mktemp("toolchain")
    (out / "hello.rs").write_text(
        "fn main() {\n"
        "    let v: Vec<usize> = std::env::args().map(|a| a.len()).collect();\n"
        '    println!("{}", v.len());\n'
        "}\n"
    )
    (out / "withc.rs").write_text(
        'extern "C" { fn cpart(n: i32) -> i32; }\n'
        'fn main() { println!("{}", unsafe { cpart(std::env::args().count() as i32) }); }\n'
    )
    (out / "cpart.c").write_text(
        "#include <string.h>\n"
        "int cpart(int n) { char buf[64]; memset(buf, n, sizeof buf); return buf[n & 63]; }\n"
    )
    (out / "hello.cpp").write_text(
        "#include <iostream>\n#include <vector>\n"
        "int main(int argc, char **) {\n"
        '    std::vector<int> v(argc); std::cout << v.size() << "\\n";\n'
        "}\n"
    )
    names = ("rust", "rust-v0", "rust-nocomment", "rust-bare", "rust-c", "rust-lazy")
    paths = {n: out / n for n in names}
    run("rustc", "-O", "-o", paths["rust"], "hello.rs", cwd=out)
    run("rustc", "-O", "-C", "symbol-mangling-version=v0", "-o", paths["rust-v0"], "hello.rs",
        cwd=out)  # fmt: skip
    run("rustc", "-O", "-C", "relro-level=partial", "-o", paths["rust-lazy"], "hello.rs",
        cwd=out)  # fmt: skip
    run("objcopy", "--remove-section", ".comment", paths["rust"], paths["rust-nocomment"])
    run("objcopy", "--strip-all", "--remove-section", ".comment", paths["rust"], paths["rust-bare"])
    run("gcc", "-O2", "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-c", "cpart.c", cwd=out)
    run("rustc", "-O", "-C", f"link-arg={out / 'cpart.o'}", "-o", paths["rust-c"], "withc.rs",
        cwd=out)  # fmt: skip
    for name, flags in (
        ("c++", ()),
        ("c++-static", ("-static",)),
        ("c++-static-s", ("-static", "-s")),
    ):
        paths[name] = out / name
        run("g++", "-O2", *flags, "-o", paths[name], "hello.cpp", cwd=out)
    return paths


# ---------------------------------------------------------------- the language and compiler


def test_rust_is_told_by_rustc_s_comment_entry(corpus: Corpus) -> None:
    path = corpus("just")
    found = inspect_binary(path).toolchain
    rustc = [e for e in readelf_comment(path) if e.startswith("rustc version ")]
    assert len(rustc) == 1, readelf_comment(path)
    assert found.language == "rust"
    assert found.compiler == rustc[0]  # "rustc version 1.99.1 (58cf8f9c3 2026-10-13)"
    assert found.version == rustc[0].split()[2]
    # Stripped, nothing references __stack_chk_fail: no C is known to be in it.
    assert ".symtab" not in section_names(path)
    assert "__stack_chk_fail" not in {n for n, _ in readelf_dynsym_names(path)}
    assert found.c_code is None


def test_c_from_debian_has_no_compiler_on_record(corpus: Corpus) -> None:
    path = corpus("memcached")
    found = inspect_binary(path).toolchain
    assert readelf_comment(path) == []  # dh_strip removes .comment
    needed = readelf_dynamic_info(path)["needed"]
    assert not [n for n in needed if n.startswith(("libstdc++", "libc++"))]
    assert not [n for n, _ in readelf_dynsym_names(path) if n.startswith("_Z")]
    assert (found.language, found.compiler, found.version) == ("c", None, None)
    assert found.c_code is True


@pytest.mark.parametrize("name", ["caddy", "etcd"])
def test_go_is_told_by_its_build_info(
    corpus: Corpus, go_toolchains: Mapping[str, tuple[Path, dict[str, str]]], name: str
) -> None:
    path = corpus(name)
    go, env = go_toolchains["go1.27"]
    version = go_version_m(go, env, path)["go_version"]
    found = inspect_binary(path).toolchain
    assert (found.language, found.compiler) == ("go", version)
    assert found.version == version.removeprefix("go")
    # Neither links a C library nor was linked by the C linker (no crti.o .init).
    assert readelf_dynamic_info(path)["needed"] == []
    assert ".init" not in section_names(path)
    assert found.c_code is False


def test_cxx_by_its_library_or_its_mangled_names(
    fixtures: Mapping[str, Fixture], built: dict[str, Path]
) -> None:
    multilib = fixtures["rt-multilib"].path
    assert "libstdc++.so.6" in readelf_dynamic_info(multilib)["needed"]
    found = inspect_binary(multilib).toolchain
    gcc = [e for e in readelf_comment(multilib) if e.startswith("GCC: ")]
    assert (found.language, found.compiler) == ("c++", gcc[0])
    assert found.version == gcc[0].rsplit(" ", 1)[1]
    static = built["c++-static"]
    assert readelf_dynamic_info(static)["needed"] == []
    assert [n for t, n in readelf_symbols(static) if n.startswith("_Z")]
    assert inspect_binary(static).toolchain.language == "c++"
    # Static and stripped, nothing in the file says C++ (documented: it reads as C).
    bare = built["c++-static-s"]
    assert not [n for t, n in readelf_symbols(bare) if n.startswith("_Z")]
    assert inspect_binary(bare).toolchain.language == "c"


def test_rust_without_its_comment_by_symbols_then_by_std_s_panic_paths(
    built: dict[str, Path],
) -> None:
    nocomment = built["rust-nocomment"]
    assert readelf_comment(nocomment) == []
    runtime = {"rust_begin_unwind", "rust_eh_personality"}
    assert [n for _, n in readelf_symbols(nocomment) if n in runtime or n.startswith("__rust_")]
    found = inspect_binary(nocomment).toolchain
    assert (found.language, found.compiler) == ("rust", None)
    assert found.evidence.startswith("Rust symbols")
    bare = built["rust-bare"]
    assert readelf_symbols(bare) == [] or ".symtab" not in section_names(bare)
    grep = subprocess.run(
        ["grep", "-c", "-a", "-E", "/rustc/[0-9a-f]{40}/library/", str(bare)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert int(grep.stdout or 0) > 0
    found = inspect_binary(bare).toolchain
    assert found.language == "rust" and found.evidence.startswith("std's panic locations")


@pytest.mark.parametrize("name", ["rust", "rust-v0"])
def test_every_rust_function_name_readelf_lists_is_told_rust(
    built: dict[str, Path], name: str
) -> None:
    """Legacy (`_ZN...17h<hash>E`) and v0 (`_R...`) mangling, as rustc writes them."""
    prefix = "_R" if name == "rust-v0" else "_ZN"
    mangled = [n for t, n in readelf_symbols(built[name]) if t == "FUNC" and n.startswith(prefix)]
    # std is prebuilt with legacy names, so a v0 build holds both kinds.
    own = [n for n in mangled if "5hello" in n]
    assert own, mangled[:5]
    for symbol in own:
        assert rust_names(b"\0" + symbol.encode() + b"\0"), symbol
    cxx = [n for t, n in readelf_symbols(built["c++-static"]) if n]
    assert [n for n in cxx if n.startswith("_Z")]
    assert not rust_names(b"\0" + "\0".join(cxx).encode() + b"\0")


def test_c_objects_in_rust_are_found_by_their_file_symbols(built: dict[str, Path]) -> None:
    plain, withc = built["rust"], built["rust-c"]
    sources = [n for t, n in readelf_symbols(withc) if t == "FILE" and n.endswith(".c")]
    assert "cpart.c" in sources
    assert {n for t, n in readelf_symbols(plain) if t == "FILE" and n.endswith(".c")} <= {
        "crtstuff.c"  # the C runtime's, in every executable
    }
    assert inspect_binary(plain).toolchain.c_code is False
    found = inspect_binary(withc).toolchain
    assert found.c_code is True and "cpart.c" in found.c_evidence
    assert "__stack_chk_fail" not in {n for _, n in readelf_symbols(withc)}


# ---------------------------------------------------------------- Go before 1.18


def test_go_1_16_records_no_build_settings_so_the_elf_decides(
    corpus: Corpus, go_toolchains: Mapping[str, tuple[Path, dict[str, str]]], tmp_path: Path
) -> None:
    path = corpus("etcd")
    go, env = go_toolchains["go1.27"]
    reference = go_version_m(go, env, path)
    assert reference["go_version"] == "go1.16.3" and reference["settings"] == []
    sections = section_names(path)
    assert ".symtab" not in sections and not [s for s in sections if s.startswith(".debug")]
    doc = _check(path, tmp_path, ("--no-startup",))
    checks = {c["id"]: c for c in doc["checks"]}
    why = "Go 1.16.3 records no build settings (Go 1.18+ does)"
    assert checks["go.ldflags_contain"]["status"] == "pass"
    assert checks["go.ldflags_contain"]["message"] == f"{why}; from the ELF: stripped, no DWARF"
    assert checks["go.cgo"]["status"] == "pass"
    assert checks["go.cgo"]["message"] == (
        f"{why}; from the ELF: no cgo (Go's own linker, no C libraries)"
    )
    assert checks["go.trimpath"]["status"] == "skip"
    assert checks["go.trimpath"]["message"].startswith(why)
    for key in ("elf.canary", "elf.fortify"):  # no C: nothing to protect
        assert checks[key]["status"] == "skip", checks[key]
        assert checks[key]["message"].startswith("pure Go (Go's own linker, no C libraries)")


# ---------------------------------------------------------------- advice in the right terms


def _check(path: Path, tmp_path: Path, extra: tuple[str, ...], *args: str) -> dict[str, Any]:
    policy = tmp_path / "everything.toml"
    policy.write_text(POLICY)
    out = tmp_path / f"{path.name}.json"
    argv = ["check", str(path), "--policy", str(policy), "--json", str(out), *extra]
    proc = gate(*argv, *(("--ready", "exit", "--", *args) if "--no-startup" not in extra else ()))
    assert proc.returncode == 1, proc.stderr  # the policy fails everything
    entry: dict[str, Any] = json.loads(out.read_text())["binaries"][0]
    return entry


def _advice(entry: Mapping[str, Any]) -> str:
    """Every check message and every remedy's title and evidence of one binary."""
    checks = [c["message"] for c in entry["checks"]]
    remedies = [f"{r['title']} {r['evidence']}" for r in entry["remedies"]]
    return "\n".join(checks + remedies)


# (binary, language, arguments for a start that exits)
_TERMS = [
    ("just", "rust", ("--version",)),
    ("memcached", "c", ("--version",)),
    ("caddy", "go", ("version",)),
    ("rt-multilib", "c++", ()),
    ("c++", "c++", ()),
    ("rust-c", "rust", ()),
    ("rust-lazy", "rust", ()),
]


@pytest.mark.parametrize(("name", "language", "args"), _TERMS, ids=[t[0] for t in _TERMS])
def test_hints_and_remedies_in_the_toolchain_s_terms(
    corpus: Corpus,
    fixtures: Mapping[str, Fixture],
    built: dict[str, Path],
    tmp_path: Path,
    name: str,
    language: str,
    args: tuple[str, ...],
) -> None:
    if name in ("just", "memcached", "caddy"):
        path = corpus(name)
    elif name == "rt-multilib":
        path = fixtures[name].path
    else:
        path = built[name]
    entry = _check(path, tmp_path, (), *args)
    assert entry["facts"]["toolchain"]["language"] == language
    assert entry["startup"]["stats"] is not None, entry["startup"]["runs"][:1]
    text = _advice(entry)
    checks = {c["id"]: c for c in entry["checks"]}
    remedies = {r["id"]: r for r in entry["remedies"]}
    if language != "go":
        assert not GO_WORDS.findall(text), text
    if language != "rust":
        assert not RUST_WORDS.findall(text), text
    if language in ("go", "rust"):
        found = C_WORDS.findall(text)
        if name == "rust-c":  # its C object, told through CFLAGS for the cc crate
            found = [w for w in found if w != "-fstack-protector"]
        assert not found, text
    if language == "rust":
        _rust_terms(path, entry, checks, remedies)
    if language == "c++" and not inspect_binary(path).hardening.canary:
        assert checks["elf.canary"]["message"].endswith(
            "(build C++ with CXXFLAGS=-fstack-protector-strong)"
        )
    if language == "c":
        assert remedies["pie"]["title"].startswith("link with -no-pie (compile with -fno-pie)")
        assert remedies["dynamic"]["title"].startswith("link statically (-static)")


def _rust_terms(
    path: Path,
    entry: Mapping[str, Any],
    checks: Mapping[str, Mapping[str, Any]],
    remedies: Mapping[str, Mapping[str, Any]],
) -> None:
    assert checks["elf.linking"]["message"].endswith(
        '(build with RUSTFLAGS="-C target-feature=+crt-static", or for a *-linux-musl target)'
    )
    assert remedies["pie"]["title"].startswith(
        'build with RUSTFLAGS="-C relocation-model=static" instead of PIE'
    )
    assert 'RUSTFLAGS="-C target-feature=+crt-static"' in remedies["dynamic"]["title"]
    if "faults" in remedies:  # cold starts that read 4 pages or more
        assert 'opt-level = "z", lto = true' in remedies["faults"]["title"]
    sections = {s["name"]: s["size"] for s in readelf_sections(path)}
    profile = remedies["cargo-profile"]
    assert profile["title"].startswith('set panic = "abort", lto = true, codegen-units = 1')
    assert profile["checks"] == ["size.max_file"]
    from gate.values.units import format_size

    assert (
        f".gcc_except_table {format_size(sections['.gcc_except_table'])}" in (profile["evidence"])
    )
    if path.name == "rust-lazy":  # -C relro-level=partial: lazy binding, partial RELRO
        assert "GNU_RELRO" in {seg["type"] for seg in readelf_segments(path)}
        assert not readelf_dynamic_info(path)["has_bind_now"]
        assert checks["elf.relro"]["message"] == (
            'RELRO partial, policy wants full (build with RUSTFLAGS="-C relro-level=full")'
        )
        assert checks["elf.bind_now"]["message"] == (
            'lazy binding (no BIND_NOW) (build with RUSTFLAGS="-C link-arg=-Wl,-z,now")'
        )
    canary = checks["elf.canary"]
    if path.name == "rust-c":  # cpart.c, built without a stack protector
        assert canary["status"] == "fail"
        assert canary["message"].endswith(
            "(build the C the build scripts compile (cc crate) with "
            "CFLAGS=-fstack-protector-strong)"
        )
        assert checks["elf.stripped"]["message"].endswith(
            "(set strip = true in Cargo.toml's [profile.release])"
        )
    else:
        assert canary["status"] == "skip"
        assert canary["message"].startswith("Rust, no C objects found")
