"""gate.urls.inside: the test that decides whether a token goes with a request.

Every spelling of "up and out of the API" a server may resolve (`..`, `%2e%2e`, `%2E%2E`,
`.%2e`, `..%2f`, `..%5c`, a backslash, `..;`) is outside; a project path with an encoded
slash (GitLab's `group%2Fproj`) and equivalent spellings of the API itself are inside.
"""

from __future__ import annotations

import pytest

from gate.urls import inside, remove_dot_segments

API = "https://gitlab.example/api/v4/"


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.example/api/v4/projects/42/jobs/7/artifacts/a.json",
        "HTTPS://GitLab.Example/api/v4/projects/42",  # scheme and host are case-insensitive
        "https://gitlab.example:443/api/v4/projects/42",  # the default port, spelt out
        "https://gitlab.example/api/%76%34/projects/42",  # unreserved characters, encoded
        "https://gitlab.example/api/v4/projects/group%2Fproj/jobs",  # GitLab's project path
        "https://gitlab.example/api/v4/projects/../user",  # `..` that stays inside
        "https://gitlab.example/api/v4/./projects?x=../..#../..",  # query and fragment: not path
    ],
)
def test_inside(url: str) -> None:
    assert inside(url, API)


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.example/api/v4/../../outside",
        "https://gitlab.example/api/v4/%2e%2e/%2e%2e/outside",
        "https://gitlab.example/api/v4/%2E%2E/%2E%2E/outside",
        "https://gitlab.example/api/v4/.%2e/.%2E/outside",
        "https://gitlab.example/api/v4/%2e./%2e./outside",
        "https://gitlab.example/api/v4/..%2f..%2foutside",  # a server decoding %2F first
        "https://gitlab.example/api/v4/..%5C..%5Coutside",  # ... or %5C as a slash
        "https://gitlab.example/api/v4/..\\..\\outside",  # a raw backslash
        "https://gitlab.example/api/v4/..;/..;/outside",  # `..;` as some servers read it
        "https://gitlab.example/api/v4",  # the prefix is a folder: its name alone is not in it
        "https://gitlab.example/api/v4x/projects",
        "https://gitlab.example.evil/api/v4/projects",
        "https://gitlab.example:8443/api/v4/projects",
        "http://gitlab.example/api/v4/projects",  # another scheme
        "https://user@gitlab.example/api/v4/projects",  # userinfo: never
        "https://gitlab.example:99999/api/v4/projects",  # a port out of range
        "https://gitlab.example:x/api/v4/projects",
        "https://gitlab.example/api/v4/pro jects",  # a space: no API link has one
        "https://gitlab.example/api/v4/\x00",
        "https://gitlab.example/api/v4/é",
        "ftp://gitlab.example/api/v4/projects",
        "//gitlab.example/api/v4/projects",  # no scheme
        "",
    ],
)
def test_outside(url: str) -> None:
    assert not inside(url, API)


def test_the_prefix_is_normalized_too() -> None:
    assert inside("https://api.github.com/repos/o/r", "HTTPS://API.GITHUB.COM:443")
    assert inside("http://127.0.0.1:80/api/v3/x", "http://127.0.0.1/api/v3")
    assert not inside("http://127.0.0.1/api/v3/x", "http://127.0.0.1/api/v4/../v3/../x/")


@pytest.mark.parametrize(
    ("path", "normal"),
    [  # RFC 3986 section 5.2.4's own examples, and the edges: `..` at the root, a trailing `..`
        ("/a/b/c/./../../g", "/a/g"),
        ("mid/content=5/../6", "mid/6"),
        ("/../../x", "/x"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/a//../b", "/a/b"),
        ("/", "/"),
    ],
)
def test_remove_dot_segments(path: str, normal: str) -> None:
    assert remove_dot_segments(path) == normal
