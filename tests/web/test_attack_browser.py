"""The ATT&CK pages of the real corpus in headless Chromium: the matrix and its filters (recounted in the
browser, checked against the server-side count), a technique page, a tactic page, on desktop and a phone,
served and from file://."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from site_support import serving

from ruleatlas.analysis.coverage import AttackFilters
from ruleatlas.store import open_catalog
from ruleatlas.web import attack_answers, urls

pytestmark = [pytest.mark.browser, pytest.mark.corpus]
SEED = "net_connection_win_domain_localtonet_tunnel"
CELLS_JS = """els => els.map(e => [
    e.closest('.tactic-col').querySelector('h2').id.slice(4),
    e.querySelector('.tid').textContent,
    Number(e.querySelector(':scope > .n').textContent),
    e.hidden,
])"""


@pytest.fixture(scope="module")
def attack_server(corpus_catalog: Path) -> Iterator[str]:
    with serving(corpus_catalog) as base:
        yield base


def server_cells(catalog_dir: Path, filters: AttackFilters | None = None) -> dict[tuple[str, str], int]:
    with open_catalog(catalog_dir) as catalog:
        matrix = attack_answers.attack_matrix(catalog, filters)
    assert matrix is not None
    out = {}
    for column in matrix.columns:
        for cell in column.cells:
            out[(column.tactic_id, cell.technique_id)] = cell.rules
            for sub in cell.subtechniques:
                out[(column.tactic_id, sub.technique_id)] = sub.rules
    return out


def shown_cells(page: Any) -> dict[tuple[str, str], int]:
    return {
        (t, tid): n for t, tid, n, hidden in page.eval_on_selector_all("[data-c]", CELLS_JS) if not hidden
    }


def no_overflow(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def test_matrix_counts_and_filters(page_factory: Any, attack_server: str, corpus_catalog: Path) -> None:
    page, watch = page_factory()
    page.goto(attack_server + urls.ATTACK_PATH, wait_until="load")
    assert page.locator("h1").inner_text() == "ATT&CK coverage"
    assert page.locator(".site-nav a[aria-current=page]").inner_text() == "ATT&CK"
    assert shown_cells(page) == server_cells(corpus_catalog)
    # The browser recounts; the server counts the same filters in SQL and Python: they must agree.
    page.select_option("select[name=platform]", label="Windows")
    windows = server_cells(corpus_catalog, AttackFilters(platform="Windows"))
    assert shown_cells(page) == windows
    # v19's new techniques without platforms offline (T1682...) stay under the filter: unknown is not none
    assert any(tid == "T1682" for _, tid in windows)
    assert page.evaluate("location.hash") == "#platform=Windows"
    page.select_option("select[name=level]", label="high")
    assert shown_cells(page) == server_cells(
        corpus_catalog, AttackFilters(platform="Windows", levels=("high",))
    )
    shown = page.locator("#attack-shown").inner_text()
    page.locator("button[type=reset]").click()
    # Polled from Python: a string predicate would need eval, which the pages' CSP rightly forbids.
    expect(page.locator("#attack-shown")).not_to_have_text(shown)
    assert shown_cells(page) == server_cells(corpus_catalog)
    assert watch.problems() == []


def test_matrix_filters_from_the_url_and_on_a_phone(
    page_factory: Any, attack_server: str, corpus_catalog: Path
) -> None:
    page, watch = page_factory(width=375, height=812)
    page.goto(attack_server + urls.ATTACK_PATH + "#platform=Linux&status=stable", wait_until="load")
    assert page.locator("select[name=platform] option:checked").inner_text() == "Linux"
    assert shown_cells(page) == server_cells(
        corpus_catalog, AttackFilters(platform="Linux", statuses=("stable",))
    )
    assert no_overflow(page)
    assert page.locator(".matrix-scroll").evaluate("e => getComputedStyle(e).overflowX") == "auto"
    page.locator(".cell-link", has_text="T1572").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/attack/T1572/index.html")
    assert watch.problems() == []


def test_technique_page(page_factory: Any, attack_server: str, corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        report = attack_answers.technique_api(catalog, "T1572")
    assert report is not None
    total = report["rules_total"]
    for width, height in ((1280, 900), (375, 812)):
        page, watch = page_factory(width=width, height=height)
        page.goto(attack_server + urls.attack_technique_path("T1572"), wait_until="load")
        assert page.title() == "T1572 Protocol Tunneling · RuleAtlas"
        assert " ".join(page.locator("#rules h2").inner_text().split()) == f"Rules {total}"
        link = page.locator(f'#rules a[href$="/{SEED}/index.html"]')
        assert link.inner_text() == "Communication To LocaltoNet Tunneling Service Initiated"
        events = page.locator("#events tbody tr").first.locator("td").all_inner_texts()
        assert events[0] == "Sysmon" and events[1].startswith("Event ID")
        assert page.locator("#guide table.guide-indicators tbody tr").count() > 5
        assert no_overflow(page), width
        assert watch.problems() == []
    link.click()
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/rules/sigma/{SEED}/index.html")
    assert page.locator("h1").inner_text() == "Communication To LocaltoNet Tunneling Service Initiated"


def test_rule_page_leads_to_its_technique_and_tactic_pages(page_factory: Any, attack_server: str) -> None:
    page, watch = page_factory()
    page.goto(attack_server + urls.rule_path(f"sigma/{SEED}"), wait_until="load")
    page.locator("a.technique", has_text="T1572 Protocol Tunneling").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/attack/T1572/index.html")
    assert page.locator("h1").inner_text() == "T1572 Protocol Tunneling"
    page.go_back(wait_until="load")
    page.locator(".attack-row .tactic a").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "TA0011 Command and Control"
    assert watch.problems() == []


def test_tactic_page(page_factory: Any, attack_server: str, corpus_catalog: Path) -> None:
    cells = server_cells(corpus_catalog)
    for width, height in ((1280, 900), (375, 812)):
        page, watch = page_factory(width=width, height=height)
        page.goto(attack_server + urls.attack_tactic_path("TA0011"), wait_until="load")
        assert page.locator("h1").inner_text() == "TA0011 Command and Control"
        rows = page.eval_on_selector_all(
            ".tech-list > li",
            "els => els.map(e => [e.querySelector('.tid').textContent,"
            " Number(e.querySelector(':scope > .cov-badge').textContent)])",
        )
        assert len(rows) > 15
        assert all(cells[("TA0011", tid)] == n for tid, n in rows)
        assert no_overflow(page), width
        assert watch.problems() == []
    page.locator(".tech-list a", has_text="Protocol Tunneling").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "T1572 Protocol Tunneling"


def test_matrix_from_a_file_url(page_factory: Any, corpus_catalog: Path) -> None:
    """No server: the page's script still loads and filters (relative links, no fetch)."""
    page, watch = page_factory()
    page.goto((corpus_catalog / "site" / "attack" / "index.html").as_uri(), wait_until="load")
    page.select_option("select[name=platform]", label="macOS")
    assert shown_cells(page) == server_cells(corpus_catalog, AttackFilters(platform="macOS"))
    assert watch.page_errors == [] and watch.console_errors == []


def test_a_long_technique_page_filters_and_folds(
    page_factory: Any, attack_server: str, corpus_catalog: Path
) -> None:
    """T1059.001 has ~200 rules: 50 show, "Show all" shows the rest, typing filters by title, a level
    filters by level; served and from file://."""
    with open_catalog(corpus_catalog) as catalog:
        report = attack_answers.technique_api(catalog, "T1059.001")
    assert report is not None and report["rules_total"] > 150
    total = report["rules_total"]
    high = sum(1 for r in report["rules"] if r["level"] == "high")
    path = urls.attack_technique_path("T1059.001")
    for url in (attack_server + path, (corpus_catalog / "site" / urls.page_file(path)).as_uri()):
        page, watch = page_factory(width=390, height=844)
        page.goto(url, wait_until="load")
        items = page.locator("#rule-lists li")
        visible = page.locator("#rule-lists li:visible")
        count = page.locator("#rules .list-count")
        assert items.count() == total
        expect(visible).to_have_count(50)
        expect(count).to_have_text(f"{total} rules; 50 shown")
        page.locator("#rules .list-more").click()
        expect(visible).to_have_count(total)
        expect(page.locator("#rules .list-more")).to_be_hidden()
        page.locator("#rules input[type=search]").fill("encoded")
        titles = visible.locator("a").all_inner_texts()
        assert titles and all("encoded" in t.lower() for t in titles)
        expect(count).to_contain_text(f"{len(titles)} of {total} rules match")
        page.locator("#rules input[type=search]").fill("")
        page.select_option("#rules select[name=level]", "high")
        expect(visible).to_have_count(high)
        assert no_overflow(page)
        assert watch.problems() == []


def test_the_gaps_page_folds_per_platform_and_filters(page_factory: Any, attack_server: str) -> None:
    page, watch = page_factory(width=390, height=844)
    page.goto(attack_server + urls.ATTACK_GAPS_PATH, wait_until="load")
    sections = page.locator("details.gap-section")
    assert sections.count() > 5
    assert sections.first.get_attribute("open") is not None
    assert all(sections.nth(i).get_attribute("open") is None for i in range(1, sections.count()))
    first = sections.first.locator("ul[data-long] > li")
    expect(page.locator("#gap-sections details[open] li:visible")).to_have_count(
        sum(
            min(50, n)
            for n in sections.first.locator("ul[data-long]").evaluate_all(
                "uls => uls.map(u => u.children.length)"
            )
        )
    )
    assert first.count() > 50
    page.locator("header input[type=search]").fill("t1685")
    # v19's T1685 has rules (v18.1's T1562.001 is no gap either); only its sub-technique T1685.003 has none.
    open_items = page.locator("#gap-sections details[open] li:visible")
    expect(open_items).to_have_count(1)
    expect(open_items).to_contain_text("T1685.003")
    page.locator("header input[type=search]").fill("no such technique")
    expect(open_items).to_have_count(0)
    page.locator("header input[type=search]").fill("financial theft")
    expect(page.locator("#gap-sections details[open] li:visible")).to_have_count(1)
    expect(page.locator("#gap-sections details[open] [data-group]:visible h3")).to_contain_text("Impact")
    # A platform chip opens its folded section.
    windows = page.locator("details.gap-section", has=page.locator("summary h2", has_text="Windows"))
    assert windows.get_attribute("open") is None
    page.locator("header nav.chips a", has_text="Windows").click()
    expect(windows).to_have_attribute("open", "")
    assert no_overflow(page)
    assert watch.problems() == []
