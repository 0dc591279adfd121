"""The URL builder: rule, field and indicator paths, ATT&CK links, relative links, page files."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import urljoin

import pytest

from ruleatlas.web import urls

SAFE_PATH = re.compile(r"[A-Za-z0-9._~%/-]*")
HOSTILE_VALUES = [
    "C:\\Windows\\System32\\",
    "/bin/sh",
    "..",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "a\"b'c",
    "CON",
    "with space",
    "null\x00byte",
    "ünïcödé ✓ 日本",
    "*",
    "",
    "x" * 2000,
]


def test_rule_path_is_the_uid_under_rules() -> None:
    assert urls.rule_path("sigma/net_connection_win_domain_localtonet_tunnel") == (
        "rules/sigma/net_connection_win_domain_localtonet_tunnel/"
    )


def test_rule_path_percent_encodes_odd_stems() -> None:
    assert urls.rule_path("sentinel/Some Rule (v2)") == "rules/sentinel/Some%20Rule%20%28v2%29/"
    assert urls.rule_path("sigma/a:b?c#d") == "rules/sigma/a%3Ab%3Fc%23d/"


@pytest.mark.parametrize("uid", ["sigma", "sigma/", "/x", "sigma/..", "sigma/.", "../x", "a/b/c", ""])
def test_rule_path_rejects_uids_that_are_not_vendor_and_stem(uid: str) -> None:
    with pytest.raises(ValueError, match="rule uid"):
        urls.rule_path(uid)


def test_field_path_keeps_plain_names_and_slugs_the_rest() -> None:
    assert urls.field_path("CommandLine") == "fields/CommandLine/"
    assert urls.field_path("process.executable") == "fields/process.executable/"
    assert urls.field_path(None) == "fields/~keyword/"
    assert urls.field_path("") == "fields/~keyword/"
    odd = urls.field_path("Client Address")
    assert re.fullmatch(r"fields/Client_Address-[0-9a-f]{12}/", odd)


def test_field_paths_of_different_names_differ() -> None:
    names = ["a b", "a_b", "a/b", "a\\b", "A B", "..", ".", "~keyword", "a-b"]
    paths = [urls.field_path(n) for n in names]
    assert len(set(paths)) == len(names)
    for path in paths:
        assert SAFE_PATH.fullmatch(path), path
        assert "/../" not in path and "/./" not in path


def test_indicator_path_is_stable() -> None:
    # Pinned: pages and bookmarks depend on it. Change the scheme deliberately, never by accident.
    assert urls.indicator_path("DestinationHostname", "ends_with", ".localto.net") == (
        "indicators/DestinationHostname/ends_with/localto-net-0ac25b98104e/"
    )
    assert (
        urls.indicator_path(None, "contains", "<script>")
        == "indicators/~keyword/contains/script-69f00a097ddd/"
    )


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_indicator_path_is_path_safe_for_any_value(value: str) -> None:
    path = urls.indicator_path("Image", "ends_with", value)
    assert SAFE_PATH.fullmatch(path), path
    assert "%" not in path  # slugs never need decoding: the URL is the file name
    parts = path.rstrip("/").split("/")
    assert len(parts) == 4
    assert all(p not in ("", ".", "..") for p in parts)
    assert all(len(p) <= 80 for p in parts)


def test_indicator_paths_separate_case_kind_transforms_and_type() -> None:
    variants = {
        urls.indicator_path("Image", "ends_with", "\\cmd.exe"),
        urls.indicator_path("Image", "ends_with", "\\CMD.exe"),
        urls.indicator_path("Image", "contains", "\\cmd.exe"),
        urls.indicator_path("Image", "ends_with", "\\cmd.exe", ["base64offset"]),
        urls.indicator_path("Image", "ends_with", "\\cmd.exe", ["utf16le", "base64offset"]),
        urls.indicator_path("OriginalFileName", "ends_with", "\\cmd.exe"),
    }
    assert len(variants) == 6


def test_indicator_path_reads_scalars_as_the_analysis_keys_them() -> None:
    # The analysis writes None as "null", True as "true" and 3.0 as "3" in its keys.
    assert urls.indicator_path("F", "eq", None) == urls.indicator_path("F", "eq", "null")
    assert urls.indicator_path("F", "eq", True) == urls.indicator_path("F", "eq", "true")
    assert urls.indicator_path("EventID", "eq", 3.0) == urls.indicator_path("EventID", "eq", 3)


@pytest.mark.parametrize(
    ("technique", "url"),
    [
        ("T1059.001", "https://attack.mitre.org/techniques/T1059/001/"),
        ("T1090", "https://attack.mitre.org/techniques/T1090/"),
        ("t1572", "https://attack.mitre.org/techniques/T1572/"),
    ],
)
def test_technique_url(technique: str, url: str) -> None:
    assert urls.technique_url(technique) == url


@pytest.mark.parametrize("bad", ["T10", "TA0011", "javascript:alert(1)", "T1059.1", "", "T1059/001"])
def test_technique_url_rejects_other_shapes(bad: str) -> None:
    with pytest.raises(ValueError, match="not an ATT&CK technique id"):
        urls.technique_url(bad)


def test_tactic_url() -> None:
    assert urls.tactic_url("TA0011") == "https://attack.mitre.org/tactics/TA0011/"
    with pytest.raises(ValueError, match="not an ATT&CK tactic id"):
        urls.tactic_url('TA0002" onmouseover="x')


@pytest.mark.parametrize(
    ("from_path", "to_path", "link"),
    [
        ("rules/sigma/x/", "", "../../../index.html"),
        ("rules/sigma/x/", "static/style.css", "../../../static/style.css"),
        ("rules/sigma/x/", "rules/sigma/y/", "../y/index.html"),
        ("rules/sigma/x/", "rules/sigma/x/#L22", "index.html#L22"),
        ("rules/sigma/x/", "indicators/Image/eq/a-0123/", "../../../indicators/Image/eq/a-0123/index.html"),
        ("", "rules/sigma/x/", "rules/sigma/x/index.html"),
        ("", "static/style.css", "static/style.css"),
        ("", "", "index.html"),
        ("", "#sigma", "index.html#sigma"),
        ("static/style.css", "static/icon.svg", "icon.svg"),
    ],
)
def test_relative(from_path: str, to_path: str, link: str) -> None:
    assert urls.relative(from_path, to_path) == link


def test_relative_with_pretty_urls() -> None:
    assert urls.relative("rules/sigma/x/", "", index="") == "../../../"
    assert urls.relative("", "", index="") == "./"
    assert urls.relative("rules/sigma/x/", "rules/sigma/y/", index="") == "../y/"


def test_relative_links_resolve_to_their_target_from_any_prefix() -> None:
    pages = [
        "",
        "rules/sigma/a/",
        "rules/elastic/b/",
        "fields/Image/",
        "indicators/Image/eq/x-0123/",
        "static/style.css",
    ]
    for base in ("http://host/", "http://host/deep/prefix/", "file:///home/u/site/"):
        for source in pages:
            page_url = urljoin(base, source)
            for target in pages:
                expected = urljoin(
                    base, target + ("index.html" if target.endswith("/") or not target else "")
                )
                assert urljoin(page_url, urls.relative(source, target)) == expected, (base, source, target)


def _relative_by_common_folders(from_path: str, to_path: str, index: str) -> str:
    """`urls.relative` as first written (common folders counted on lists), which its shortcut must equal."""
    target, hash_mark, fragment = to_path.partition("#")
    from_dir = from_path.rsplit("/", 1)[0].split("/") if "/" in from_path else []
    target_parts = target.split("/")
    target_dir, leaf = target_parts[:-1], target_parts[-1]
    common = 0
    while common < min(len(from_dir), len(target_dir)) and from_dir[common] == target_dir[common]:
        common += 1
    parts = [".."] * (len(from_dir) - common) + target_dir[common:]
    link = "/".join(parts) + "/" if parts else ""
    link += leaf if leaf else index
    if not link:
        link = "./"
    return f"{link}#{fragment}" if hash_mark else link


def test_relative_shortcut_gives_the_same_links() -> None:
    paths = [
        "",
        "/",
        "rules",
        "rules/",
        "rules/sigma/a/",
        "rules/sigma/b/",
        "rules/elastic/a/",
        "rules/eq/0123abcd/",
        "rulesx/a/",
        "fields/Image/",
        "indicators/Image/eq/x-0123/",
        "indicators/Image/eq/",
        "static/style.css",
        "static/",
        "a//b/",
        "telemetry/x/1/",
    ]
    targets = [*paths, *(p + "#frag" for p in paths), "#top", "rules/sigma/a/#L3"]
    for index in ("index.html", ""):
        for source in paths:
            for target in targets:
                expected = _relative_by_common_folders(source, target, index)
                assert urls.relative(source, target, index) == expected, (source, target, index)


def test_page_file() -> None:
    assert urls.page_file("rules/sigma/x/") == PurePosixPath("rules/sigma/x/index.html")
    assert urls.page_file("") == PurePosixPath("index.html")
    assert urls.page_file("static/style.css") == PurePosixPath("static/style.css")
    assert urls.page_file("rules/sentinel/Some%20Rule/") == PurePosixPath(
        "rules/sentinel/Some Rule/index.html"
    )


@pytest.mark.parametrize("bad", ["rules/../x/", "rules/%2E%2E/x/", "rules/a%2Fb/", "rules/%00/"])
def test_page_file_rejects_paths_leaving_their_folder(bad: str) -> None:
    with pytest.raises(ValueError, match="does not name a file inside the site"):
        urls.page_file(bad)


def test_anchor_is_id_safe() -> None:
    assert urls.anchor("sigma") == "sigma"
    assert urls.anchor("sigma", "rules-threat-hunting") == "sigma--rules-threat-hunting"
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", urls.anchor("sig ma", '"><x'))
