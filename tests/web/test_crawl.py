"""Crawlers over the whole site, served by `ruleatlas serve` and by a plain static file server: every link and
asset of every page, the real corpus included (~11,500 pages: every rule, shared indicator, indicator
list, field, ATT&CK and telemetry page), answers with no 4xx, no 5xx and no anchor that is not there.
And hostile requests against the served corpus: 4xx or an empty result, never a 5xx or a traceback."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from catalog_support import CrawlReport, crawl, fetch, static_server
from site_support import running


def kinds(report: CrawlReport) -> Counter[str]:
    """Pages by their first path segment (rules, indicators, fields, attack, ...)."""
    return Counter(urlsplit(url).path.strip("/").split("/")[0] or "home" for url in report.pages)


def check(report: CrawlReport) -> None:
    assert report.server_errors == []
    assert report.broken == []
    assert report.missing_anchors == []


@pytest.mark.parametrize("how", ["served", "static"])
def test_fixture_site_has_no_broken_link(request: pytest.FixtureRequest, how: str) -> None:
    base = request.getfixturevalue("browse_served" if how == "served" else "browse_static")
    report = crawl(base, [""])
    check(report)
    found = kinds(report)
    for kind in (
        "rules",
        "indicators",
        "fields",
        "search",
        "all-rules",
        "api-docs",
        "static",
        "data",
        "attack",
    ):
        assert found[kind] > 0, (kind, found)
    assert found["rules"] > 12  # every rule page, and the browse page


@pytest.fixture(scope="module")
def corpus_static(corpus_catalog: Path) -> Iterator[str]:
    with running(static_server(corpus_catalog / "site")) as url:
        yield url


@pytest.mark.parametrize("how", ["served", "static"])
def test_whole_corpus_site_has_no_broken_link(
    request: pytest.FixtureRequest, corpus_catalog: Path, how: str
) -> None:
    base = request.getfixturevalue("corpus_served" if how == "served" else "corpus_static")
    report = crawl(base, [""])
    check(report)
    found = kinds(report)
    rule_pages = sum(1 for url in report.pages if urlsplit(url).path.count("/") == 4 and "/rules/" in url)
    assert rule_pages == len(list((corpus_catalog / "site" / "rules").glob("*/*/index.html")))
    assert found["indicators"] > 4000 and found["fields"] > 300, found
    print(f"{how}: {len(report.pages)} pages crawled in {report.seconds:.1f} s: {dict(found.most_common())}")


HOSTILE_PATHS = [
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/rules/..%2f..%2f..%2fetc%2fpasswd",
    "/rules/%252e%252e/%252e%252e/etc/passwd",
    "/indicators/..%5c..%5cwin.ini",
    "/fields/%c0%ae%c0%ae/",
    "/api/rules/..%2f..%2fetc/passwd",
    "/api/fields/..%2f..",
    "/api/fields/%ff%fe",
    "/rules/%ff/",
    "/search/?q=%ff%fe%fd",
    "/api/search?q=%ff%fe%fd",
    "/api/search?q=" + "A" * 60_000,
    "/rules/?" + "x=1&" * 4000,
    "/api/rules?" + "&".join(f"p{i}=1" for i in range(500)),
    "/api/rules?page=" + "9" * 40,
    "/api/rules?page=99999999",
    "/api/rules?per_page=1000000",
    "/api/rules?level=<script>",
    "/api/search?q=%22%22%22*%20NEAR(%20OR",
    "/api/search?q=" + "%E2%80%AE" * 50,
    "/api/indicators?field=%00&value=%00",
    "/api/rules/sigma/" + "a" * 5000,
    "/" + "a/" * 2000,
    "/rules/sigma/net_connection_win_domain_localtonet_tunnel/index.html%00.json",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS, ids=range(len(HOSTILE_PATHS)))
def test_hostile_requests_are_4xx_or_empty(corpus_served: str, path: str) -> None:
    status, _, body = fetch(corpus_served, path)
    assert status < 500, (path[:80], status)
    assert b"Traceback" not in body and b'File "/' not in body
    assert b"root:" not in body  # /etc/passwd
    if status == 200:  # a page that ignores the query, an empty result, or the usual list
        assert path.startswith(("/api/rules?", "/api/search?", "/search/?", "/rules/?")), path[:80]
        if path.startswith("/api/search?"):
            assert b'"results":[]' in body
        elif path.startswith("/api/rules?"):
            assert b'"rules":[]' in body or b'"total":' in body


def test_request_line_too_long_is_414(corpus_served: str) -> None:
    status, _, body = fetch(corpus_served, "/api/search?q=" + "B" * 70_000)
    assert status == 414 and b"Traceback" not in body
