"""The renderer: section order (the seed page's), escaping, banners, links, robustness to odd documents."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from markupsafe import Markup
from site_support import CORRELATION_UID, DEPRECATED_UID, HOSTILE_UID, LOCALTONET_UID, summary_of

from ruleatlas.web import urls
from ruleatlas.web.render import NAV_ITEMS, SEED_ORDER, SiteRenderer, _fast_escape, templates_fingerprint

ALLOWED_CLASS = re.compile(r"[a-z0-9 _-]*")


class Tree(HTMLParser):
    """Every start tag with its attributes, the data-section order, and the text of chosen elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.sections: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if attributes.get("data-section"):
            self.sections.append(str(attributes["data-section"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Tree:
    tree = Tree()
    tree.feed(page)
    tree.close()
    return tree


def text_of(page: str) -> str:
    return " ".join(" ".join(parse(page).text).split())


def element_text(page: str, pattern: str) -> str:
    match = re.search(pattern, page, re.S)
    assert match, pattern
    return text_of(match.group(1))


@pytest.fixture(scope="module")
def pages(renderer: SiteRenderer, web_docs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {uid: renderer.render_rule_page(doc) for uid, doc in web_docs.items()}


def test_sections_follow_the_seed_page(pages: dict[str, str]) -> None:
    sections = parse(pages[LOCALTONET_UID]).sections
    assert [s for s in sections if s in SEED_ORDER] == list(SEED_ORDER)
    assert sections == [
        "breadcrumb", "title", "status", "level", "logsource", "author", "source",
        "description", "references", "falsepositives", "attack", "events", "body", "stages", "indicators",
    ]  # fmt: skip


def test_techniques_and_tactics_link_to_our_attack_pages_when_the_site_has_them(
    web_docs: dict[str, dict[str, Any]],
) -> None:
    page = SiteRenderer(attack_pages=True).render_rule_page(web_docs[LOCALTONET_UID])
    up = urls.relative(urls.rule_path(LOCALTONET_UID), urls.HOME_PATH).removesuffix("index.html")
    techniques = re.findall(r'<a class="technique" href="([^"]+)"([^>]*)>', page)
    assert [href for href, _ in techniques] == [
        f"{up}attack/T1090/index.html",
        f"{up}attack/T1102/index.html",
        f"{up}attack/T1572/index.html",
    ]
    assert all("noopener" not in rest for _, rest in techniques)  # our own pages
    assert f'<div class="tactic"><a href="{up}attack/tactics/TA0011/index.html">' in page
    unknown = copy.deepcopy(web_docs[LOCALTONET_UID])  # a technique the ATT&CK data does not name
    unknown["attack"][0]["techniques"][0]["name"] = ""
    page = SiteRenderer(attack_pages=True).render_rule_page(unknown)
    assert 'href="https://attack.mitre.org/techniques/T1090/" rel="noopener noreferrer"' in page


def test_optional_sections_come_after_in_the_agreed_order(pages: dict[str, str]) -> None:
    assert parse(pages[DEPRECATED_UID]).sections[-3:] == ["indicators", "exclusions", "problems"]
    assert parse(pages[CORRELATION_UID]).sections[-2:] == ["indicators", "correlation"]


def test_localtonet_page_content(pages: dict[str, str], web_docs: dict[str, dict[str, Any]]) -> None:
    page = pages[LOCALTONET_UID]
    doc = web_docs[LOCALTONET_UID]
    assert (
        element_text(page, r'<nav class="breadcrumb"[^>]*>(.*?)</nav>') == "Detection rules › Sigma › rules"
    )
    assert element_text(page, r"<h1[^>]*>(.*?)</h1>") == doc["title"]
    assert '<span class="badge status-test">test</span>' in page
    assert 'class="badge level-high"' in page
    assert f'<a class="source-link" href="{doc["source"]["url"]}"' in page
    assert "github.com/SigmaHQ/sigma</a>" in page
    techniques = re.findall(r'<a class="technique" href="([^"]+)"[^>]*>(.*?)</a>', page)
    assert [(href, text_of(label)) for href, label in techniques] == [
        ("https://attack.mitre.org/techniques/T1090/", "T1090 Proxy"),
        ("https://attack.mitre.org/techniques/T1102/", "T1102 Web Service"),
        ("https://attack.mitre.org/techniques/T1572/", "T1572 Protocol Tunneling"),
    ]
    row = element_text(page, r'<table class="events">.*?<tbody>(.*?)</tbody>')
    assert row == "Sysmon Event ID 3 Network connection Microsoft-Windows-Sysmon/Operational"
    badges = [text_of(b) for b in re.findall(r'<span class="corpus [a-z0-9-]+">(.*?)</span></li>', page)]
    assert badges == ["corpus 2 (sigma 2)", "corpus 2 (sigma 2)", "corpus 50 (sigma 50)"]
    stage_titles = [text_of(h) for h in re.findall(r"<h3>(.*?)</h3>", page)]
    assert stage_titles == ["Stage 0: condition", "Stage 1: selection"]
    assert '<a class="line-link" href="#L22">line 22</a>' in page
    assert 'id="L22"' in page and 'id="L30"' in page and 'id="L31"' not in page


def test_predicates_show_field_kind_value_and_flags(
    renderer: SiteRenderer, web_docs: dict[str, dict[str, Any]]
) -> None:
    doc = copy.deepcopy(web_docs[LOCALTONET_UID])
    pred = doc["stages"][1]["predicates"][0]
    pred.update(cased=True, transforms=["utf16le", "base64offset"], regex_flags="im", negated=True)
    page = renderer.render_rule_page(doc)
    rows = re.findall(r'<li class="pred[^"]*">(.*?)</li>', page)
    assert (
        text_of(rows[0])
        == "DestinationHostname ends_with .localto.net cased utf16le base64offset flags im negated"
    )
    assert '<li class="pred pred-negated">' in page
    assert 'title="DestinationHostname|endswith"' in page


def test_hostile_document_renders_as_text(pages: dict[str, str]) -> None:
    page = pages[HOSTILE_UID]
    tree = parse(page)
    tags = {tag for tag, _ in tree.tags}
    assert not tags & {"script", "svg", "iframe", "object", "b", "i"}
    assert [attrs["src"] for tag, attrs in tree.tags if tag == "img"] == ["../../../static/icon.svg"]
    for tag, attrs in tree.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert ALLOWED_CLASS.fullmatch(attrs.get("class") or ""), (tag, attrs)
        for name in ("href", "src"):
            value = attrs.get(name)
            if value is not None:
                assert not value.lower().lstrip().startswith(("javascript:", "data:")), (tag, attrs)
    assert element_text(page, r"<h1[^>]*>(.*?)</h1>") == "<script>alert(1)</script>"
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; · RuleAtlas</title>" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # Values outside the known sets never reach a class attribute.
    assert 'class="badge level-other"' in page and 'class="badge status-other"' in page
    # Unsafe URLs are shown as text, not links.
    assert '<span class="unlinked">javascript:alert(1)</span>' in page
    assert 'href="https://example.com/search?q=&lt;b&gt;x&lt;/b&gt;&amp;a=&#34;1&#34;"' in page
    # Its file url is javascript:, so the source links to the repository instead.
    assert '<a class="source-link" href="https://github.com/example/&lt;rules&gt;"' in page


def test_pages_need_no_inline_script_or_style(pages: dict[str, str]) -> None:
    for page in pages.values():
        tree = parse(page)
        assert all(tag not in ("script", "style") for tag, _ in tree.tags)
        assert all("style" not in attrs for _, attrs in tree.tags)
        links = [attrs for tag, attrs in tree.tags if tag == "link"]
        assert {a["href"] for a in links} == {"../../../static/style.css", "../../../static/icon.svg"}


def test_banners(pages: dict[str, str]) -> None:
    assert element_text(
        pages[DEPRECATED_UID], r'<div class="banner banner-warn"[^>]*>(.*?)</div>'
    ).startswith("Deprecated rule")
    danger = element_text(pages[DEPRECATED_UID], r'<div class="banner banner-danger"[^>]*>(.*?)</div>')
    assert danger == "1 problem reading this rule Parts of this page may be incomplete. See the list."
    assert 'href="#problems"' in pages[DEPRECATED_UID]
    assert "Threat-hunting query" in pages[HOSTILE_UID]
    assert "Correlation rule" in pages[CORRELATION_UID]
    assert "banner" not in pages[LOCALTONET_UID]


def test_problems_link_to_their_line(pages: dict[str, str]) -> None:
    problems = re.findall(r'<li class="problem (sev-[a-z]+)">(.*?)</li>', pages[DEPRECATED_UID], re.S)
    assert [(cls, text_of(body)) for cls, body in problems] == [
        ("sev-warning", "warning date '2022/08/25' is not in YYYY-MM-DD form line 11 write it as 2022-08-25"),
        ("sev-info", "info status 'deprecated': the rule is kept for reference and left out of corpus counts "
                     "line 3"),
        ("sev-error", "error field 'StartFunction' is not in the create_remote_thread taxonomy "
                      "check the field name against the Sysmon event 8 schema"),
    ]  # fmt: skip
    assert '<a class="line-link" href="#L11">line 11</a>' in pages[DEPRECATED_UID]


def test_exclusions_and_multi_vendor_counts(pages: dict[str, str]) -> None:
    page = pages[DEPRECATED_UID]
    exclusions = element_text(page, r'<section class="card" id="exclusions"[^>]*>(.*?)</section>')
    # An exclusion counts the rules excluding the same key; those looking for it are labelled apart.
    assert "SourceImage ends_with \\csrss.exe excluded by 57 (sigma 57) looked for by 4 " in exclusions
    assert '"Excluded by" counts the catalog rules that exclude the same field' in exclusions
    indicators = element_text(page, r'<section class="card" id="indicators"[^>]*>(.*?)</section>')
    assert "\\spoolsv.exe corpus 14 (sigma 11, elastic 2, splunk 1)" in indicators


def test_correlation_details(pages: dict[str, str]) -> None:
    section = element_text(
        pages[CORRELATION_UID], r'<section class="card" id="correlation"[^>]*>(.*?)</section>'
    )
    assert section == (
        "Correlation Type value_count Rules 5638f7c0-ac70-491d-8465-2a65075e0d86 Group by ComputerName "
        "WorkstationName Timespan 1d Condition ≥ 100 (field: User) Generates matches of its rules no"
    )
    events = element_text(pages[CORRELATION_UID], r'<section class="card" id="events"[^>]*>(.*?)</section>')
    assert events.endswith("not events: see their pages.")


def test_filter_section(renderer: SiteRenderer) -> None:
    page = renderer.render_rule_page(
        {"uid": "sigma/f", "kind": "filter", "filter": {"rules": ["rule-a", "<x>"]}}
    )
    section = element_text(page, r'<section class="card" id="filter"[^>]*>(.*?)</section>')
    assert section == "Filter Applies to rule-a <x>"


def test_indicator_and_field_links_when_their_pages_exist(web_docs: dict[str, dict[str, Any]]) -> None:
    renderer = SiteRenderer(indicator_pages=True, field_pages=True)
    page = renderer.render_rule_page(web_docs[LOCALTONET_UID])
    target = urls.indicator_path("DestinationHostname", "ends_with", ".localto.net")
    assert f'<a class="corpus c-few" href="../../../{target}index.html">' in page
    assert '<a class="field" href="../../../fields/DestinationHostname/index.html">' in page


def test_no_dead_links_to_pages_not_built_yet(pages: dict[str, str]) -> None:
    """Without indicator and field pages, a rule page links only to pages every site has: home, the
    navigation's pages and the list of all rules (the crawler tests follow every link of a real build)."""
    site_pages = {urls.HOME_PATH, urls.ALL_RULES_PATH, *(path for _, path in NAV_ITEMS)}
    allowed = {urls.relative("rules/sigma/x/", path) for path in site_pages}
    for page in pages.values():
        hrefs = [attrs["href"] for tag, attrs in parse(page).tags if tag == "a" and attrs.get("href")]
        local = [h for h in hrefs if h and not h.startswith(("http://", "https://", "#"))]
        assert local and {h.split("#")[0] for h in local} <= allowed, local


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"uid": "sigma/x"},
        {"uid": "not a uid", "title": None, "stages": "oops", "attack": [1, None], "indicators": [None, "x"]},
        {
            "uid": "sigma/x",
            "events": [{"event_id": None}],
            "problems": [{"line": "7"}],
            "correlation": {"condition": 3},
        },
        {"uid": "sigma/x", "source": "https://x", "references": "https://x", "tags": None, "body": None},
    ],
)
def test_odd_documents_still_render(renderer: SiteRenderer, doc: dict[str, Any]) -> None:
    page = renderer.render_rule_page(doc)
    assert "<h1" in page and "</html>" in page


def test_index_groups_rules_by_vendor_and_folder(
    renderer: SiteRenderer, web_docs: dict[str, dict[str, Any]]
) -> None:
    summaries = [summary_of(d) for d in web_docs.values()]
    summaries.append({"uid": "broken", "title": "No page", "vendor": "sigma", "folder": "rules"})
    summaries.append({"uid": "elastic/r1", "title": "Elastic rule", "vendor": "elastic", "folder": "rules"})
    page = renderer.render_index(summaries, {"rules": 4041, "per_vendor": {"sigma": 4040, "elastic": 1}})
    assert [m for m in re.findall(r'<section class="vendor" id="([^"]+)"', page)] == ["sigma", "elastic"]
    assert re.findall(r'<details class="card folder" id="([^"]+)"', page) == [
        "sigma--deprecated", "sigma--rules", "sigma--rules-threat-hunting", "elastic--rules",
    ]  # fmt: skip
    links = dict((text_of(t), h) for h, t in re.findall(r'<li><a href="([^"]+)">(.*?)</a>', page))
    assert links["Communication To LocaltoNet Tunneling Service Initiated"] == (
        "rules/sigma/net_connection_win_domain_localtonet_tunnel/index.html"
    )
    assert links["<script>alert(1)</script>"] == "rules/sigma/proc_creation_win_hostile_markup/index.html"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "1 rules have no page" in text_of(page)
    stats = re.findall(r'<div class="stat[^"]*"><dt>(.*?)</dt><dd>(.*?)</dd></div>', page)
    assert [(label, text_of(value)) for label, value in stats] == [
        ("Rules", "4,041"),
        ("By vendor", "Sigma 4,040 Elastic 1"),
    ]


def test_index_without_rules(renderer: SiteRenderer) -> None:
    assert "The catalog has no rules yet" in renderer.render_index([], {})


def test_not_found_page_links_relative_to_the_request(renderer: SiteRenderer) -> None:
    page = renderer.render_not_found("/rules/sigma/missing/")
    assert 'href="../../../static/style.css"' in page
    assert 'href="../../../index.html"' in page
    assert 'href="static/style.css"' in renderer.render_not_found("/nothing")


def test_write_static_and_write_page(tmp_path: Path, renderer: SiteRenderer) -> None:
    written = renderer.write_static(tmp_path / "site")
    assert {"icon.svg", "style.css", "catalog.css", "atlas.js"} <= {p.name for p in written}
    css = (tmp_path / "site" / "static" / "style.css").read_text(encoding="utf-8")
    assert "prefers-color-scheme: dark" in css and "@import" not in css and "url(" not in css
    target = renderer.write_page(tmp_path / "site", urls.rule_path("sentinel/Some Rule"), "<p>x</p>")
    assert target == tmp_path / "site" / "rules" / "sentinel" / "Some Rule" / "index.html"
    assert target.read_text(encoding="utf-8") == "<p>x</p>"


def test_templates_fingerprint_is_stable() -> None:
    first = templates_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert templates_fingerprint() == first


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "<script>alert('x')</script>",
        'a "quoted" & <b>',
        "&amp; already",
        "日本 ✓",
        42,
        3.5,
        None,
        True,
    ],
)
def test_fast_escape_matches_markupsafe(value: object) -> None:
    assert _fast_escape(value) == str(markupsafe.escape(value))


def test_fast_escape_keeps_markup_and_is_in_use(renderer: SiteRenderer) -> None:
    assert _fast_escape(Markup("<b>ok</b>")) == "<b>ok</b>"
    assert renderer._rule.root_render_func.__globals__["escape"] is _fast_escape
