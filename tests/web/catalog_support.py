"""Helpers for the catalog tests (browse, search, API, crawl): a real build of tests/data/browse served by
`ruleatlas serve` and by a plain static file server, and a small link crawler.

The fixture corpus (tests/data/browse/sigma, 12 rules) is made to exercise every facet: three products,
six log sources, every status and level, hunting and deprecated rules, ATT&CK tags under six tactics with
sub-techniques, indicators shared by several rules, a keyword search, and hostile text in a title, a
description, a reference, an author, a field name and a value.
"""

from __future__ import annotations

import html
import http.client
import posixpath
import re
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.web.serve import make_server

TESTS = Path(__file__).resolve().parents[1]
BROWSE_CORPUS = TESTS / "data" / "browse" / "sigma"
ATTACK_FIXTURE = TESTS / "data" / "attack"
HOSTILE_TITLE = "<script>alert(1)</script> Hostile Title"
FIXTURE_RULES = 12
LISTED_BY_DEFAULT = 10  # the deprecated rule and the hunting query are listed only on request


def build_fixture_catalog(out: Path, corpus: Path = BROWSE_CORPUS) -> Path:
    build(BuildConfig(out=out, sources=[SourceSpec("sigma", corpus)], attack=ATTACK_FIXTURE, jobs=1))
    return out


def corpus_subset(shared_dir: Path, corpus_folder: str, rel_paths: Iterable[str], dest: Path) -> Path:
    """Copy the named files of ../shared/corpus/<corpus_folder> into `dest`, keeping their paths under the
    corpus root, and return `dest`: tests build from a few real rules without the project holding copies."""
    root = shared_dir / "corpus" / corpus_folder
    for rel in rel_paths:
        source = root / rel
        if not source.is_file():  # a corpus update moved or removed it: say which, not "no rules found"
            raise FileNotFoundError(f"{source} is not in the shared corpus")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return dest


class QuietStaticHandler(SimpleHTTPRequestHandler):
    """Python's plain static file server, as any static host would serve `site/`."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def static_server(site: Path) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietStaticHandler, directory=str(site)))


def atlas_server(catalog: Path) -> Any:
    return make_server(catalog, "127.0.0.1", 0, quiet=True)


def fetch(
    base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client (the path is sent as given: no normalisation, no quoting)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# The site's HTML is ours (Jinja templates and f-strings): attributes are always double-quoted, so two
# regular expressions find every link and id several times faster than an HTML parser (~130 MB of pages).
_LINK = re.compile(r'<(?:a|link|script|img)\b[^>]*?\s(?:href|src)="([^"]*)"')
_ID = re.compile(r'\sid="([^"]*)"')


def page_links(text: str) -> list[str]:
    """Every link and asset (href, src) of one of the site's HTML pages, as written (unescaped)."""
    return [html.unescape(m) for m in _LINK.findall(text)]


def page_ids(text: str) -> set[str]:
    """The ids of a page's elements: the anchors a link may name."""
    return {html.unescape(m) for m in _ID.findall(text)}


@dataclass(slots=True)
class CrawlReport:
    pages: dict[str, int] = field(default_factory=dict)  # url -> status
    broken: list[str] = field(default_factory=list)  # "from -> to: status"
    server_errors: list[str] = field(default_factory=list)
    missing_anchors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def crawl(
    base: str,
    start: list[str],
    *,
    follow: Callable[[str], bool] = lambda path: True,
    check_anchors: bool = True,
    limit: int = 100_000,
) -> CrawlReport:
    """Breadth-first over every same-origin link and asset from `start`; every target is fetched once.
    `follow(path)`: whether to read that page's links (every link found is still fetched and checked)."""
    report = CrawlReport()
    began = time.perf_counter()
    parts = urlsplit(base)
    queue = [urljoin(base, s) for s in start]
    referrer = {url: "(start)" for url in queue}
    ids: dict[str, set[str]] = {}
    anchors: list[tuple[str, str, str]] = []
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def get(target: str) -> http.client.HTTPResponse:
        nonlocal conn
        for attempt in (1, 2):
            try:
                conn.request("GET", target)
                return conn.getresponse()
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    try:
        while queue and len(report.pages) < limit:
            url = queue.pop(0)
            split = urlsplit(url)
            response = get(split.path + (f"?{split.query}" if split.query else ""))
            body = response.read()
            status = report.pages[url] = response.status
            if status >= 500:
                report.server_errors.append(f"{referrer[url]} -> {url}: {status}")
            elif status >= 400:
                report.broken.append(f"{referrer[url]} -> {url}: {status}")
            links: list[str] = []
            if status in (301, 302, 303, 307, 308):
                links = [response.getheader("Location") or ""]
            elif (
                status == 200 and "html" in (response.getheader("Content-Type") or "") and follow(split.path)
            ):
                text = body.decode("utf-8", "replace")
                ids[url] = page_ids(text)
                links = page_links(text)
            for link in links:
                absolute = urljoin(url, link)
                target = urlsplit(absolute)
                if target.scheme not in ("http", "https") or target.netloc != parts.netloc:
                    continue
                page_url = absolute.split("#")[0]
                if target.fragment and check_anchors:
                    anchors.append((url, page_url, target.fragment))
                if page_url not in referrer:
                    referrer[page_url] = url
                    queue.append(page_url)
    finally:
        conn.close()
    for source, page_url, fragment in anchors:
        if page_url in ids and fragment not in ids[page_url]:
            report.missing_anchors.append(f"{source} -> {page_url}#{fragment}")
    report.seconds = time.perf_counter() - began
    return report


# -- the same links checked on disk, without HTTP ---------------------------------------------------------


@dataclass(slots=True)
class SiteLinks:
    """Every link of every HTML page of a site folder, resolved as a static file server would serve it."""

    pages: int = 0
    links: int = 0
    broken: list[str] = field(default_factory=list)  # "page -> link: why"
    missing_anchors: list[str] = field(default_factory=list)


def _site_path(page: str, link: str) -> tuple[str, str] | None:
    """(URL path, fragment) a link of the page at URL path `page` leads to, resolved as a browser does
    (RFC 3986: relative to the page's folder, dot segments removed; the query is no part of a static file's
    name); None for a link off the site (another scheme, another host)."""
    link, _, fragment = link.partition("#")
    link = link.partition("?")[0]
    head = link.split("/", 1)[0]
    if ":" in head or link.startswith("//"):
        return None
    if not link:
        path = page
    elif link.startswith("/"):
        path = link
    else:
        path = page.rsplit("/", 1)[0] + "/" + link
    folder = path.endswith(("/", "/.", "/..")) or path in (".", "..")
    path = "/" + posixpath.normpath(path).lstrip("/")
    if folder and not path.endswith("/"):
        path += "/"
    return unquote(path), unquote(fragment)


def _served_file(site: Path, path: str) -> Path | None:
    """The file a static server answers `path` (URL path, unquoted) with: a folder's index.html (with or
    without the trailing slash, which a static server adds by a redirect), or the file itself."""
    target = site / path.lstrip("/")
    if path.endswith("/") or target.is_dir():
        index = target / "index.html"
        return index if index.is_file() else None
    return target if target.is_file() else None


def check_site_links(site: Path) -> SiteLinks:
    """Walk `site`, read the links of every HTML page (`page_links`, as the crawler does) and resolve each
    on disk: a link to this site must name a file it has, and its #fragment an id of that page."""
    report = SiteLinks()
    site = site.resolve()
    anchors: dict[Path, list[tuple[str, str, str]]] = {}
    files: dict[str, Path | None] = {}
    for page in sorted(site.rglob("*.html")):
        rel = page.relative_to(site).as_posix()
        url_path = "/" + (rel.removesuffix("index.html") if page.name == "index.html" else rel)
        report.pages += 1
        for link in page_links(page.read_text(encoding="utf-8", errors="replace")):
            resolved = _site_path(url_path, link)
            if resolved is None:
                continue
            report.links += 1
            path, fragment = resolved
            if path not in files:  # most links are shared (assets, navigation): each path is looked up once
                found = _served_file(site, path)
                files[path] = found if found is not None and found.resolve().is_relative_to(site) else None
            served = files[path]
            if served is None:
                report.broken.append(f"/{rel} -> {link}: no file {path}")
            elif fragment and served.suffix == ".html":
                anchors.setdefault(served, []).append((rel, link, fragment))
    for served, wanted in anchors.items():  # each page that a link names an anchor of is read once more
        ids = page_ids(served.read_text(encoding="utf-8", errors="replace"))
        missing = [f"/{rel} -> {link}: no id {f!r}" for rel, link, f in wanted if f not in ids]
        report.missing_anchors += missing
    return report
