"""The catalog pages in headless Chromium, served by `ruleatlas serve` and by a plain static file server (and
from file://): navigation, each facet, sorting and paging, the ATT&CK matrix, search as you type, escaping,
no console errors, and a phone-sized viewport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from catalog_support import HOSTILE_TITLE, LISTED_BY_DEFAULT
from playwright.sync_api import expect
from site_support import PageWatch

pytestmark = pytest.mark.browser

FACET_VALUES = {
    "vendor": "sigma",
    "product": "linux",
    "logsource": "process_creation",
    "status": "stable",
    "level": "medium",
    "tactic": "TA0003",
    "technique": "T1059",
    "kind": "hunting",
}


@pytest.fixture(params=["served", "static"])
def site_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("browse_served" if request.param == "served" else "browse_static"))


def open_page(page_factory: Any, url: str, **viewport: int) -> tuple[Any, PageWatch]:
    page, watch = page_factory(**viewport)
    response = page.goto(url, wait_until="load")
    assert response is None or response.status == 200  # None: a file:// page
    return page, watch


def problems(watch: PageWatch) -> list[str]:
    """Console errors, page errors, failed requests and HTTP errors; a request cut short because the test
    moved on to another page (the favicon, fetched after "load") is not one."""
    return [p for p in watch.problems() if not p.endswith("net::ERR_ABORTED")]


def listed_count(page: Any) -> int:
    return int(page.locator("#result-count").get_attribute("data-total"))


def test_navigation_between_every_page_kind(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url)
    assert page.locator("h1").inner_text() == "Detection rules"
    for label, heading in (
        ("Rules", "Browse rules"),
        ("Search", "Search"),
        ("API", "JSON API"),
        ("Fields", "Fields"),
    ):
        page.locator("header.site-header nav").get_by_role("link", name=label, exact=True).click()
        page.wait_for_load_state("load")
        assert page.locator("h1").first.inner_text() == heading
    page.get_by_role("link", name="Image", exact=True).click()  # a field page
    assert page.locator("h1").inner_text() == "Image"
    page.locator("#values a").first.click()  # its most used value: a shared indicator's page
    assert page.locator("h1").inner_text().split() == ["Image", "ends_with", "\\powershell.exe"]
    page.get_by_role("link", name="Suspicious PowerShell Encoded Command").click()  # a rule using it
    assert page.locator("h1").inner_text() == "Suspicious PowerShell Encoded Command"
    page.locator("#indicators .ind-group").first.locator("a.corpus").first.click()  # back through its badge
    assert "powershell.exe" in page.locator("h1").inner_text()
    page.locator("a.brand").click()
    page.get_by_role("link", name="Browse and filter rules").click()
    assert page.locator("h1").first.inner_text() == "Browse rules"
    assert problems(watch) == [] and watch.dialogs == []


def test_each_facet_filters_the_list_to_its_count(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url + "rules/")
    for facet, value in FACET_VALUES.items():
        assert listed_count(page) == LISTED_BY_DEFAULT
        box = page.locator(f'input[data-facet="{facet}"][value="{value}"]')
        expected = int(box.locator("xpath=following-sibling::label//span[@class='count']").inner_text())
        box.check()
        assert listed_count(page) == expected > 0, facet
        assert page.locator("#rule-list li").count() == expected
        assert f"{facet}={value}" in page.url  # the selection is in the address, so it can be shared
        page.locator(".active-filters .chip-remove").click()
    assert listed_count(page) == LISTED_BY_DEFAULT
    assert problems(watch) == []


def test_facets_combine_and_deprecated_rules_show_on_request(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url + "rules/?level=high&product=windows")
    assert listed_count(page) == 2
    page.locator("#retired").check()
    assert listed_count(page) == 3
    assert "Old PowerShell Rule" in page.locator("#rule-list").inner_text()
    page.goto(site_url + "rules/?status=deprecated")
    assert page.locator("#rule-list a").all_inner_texts() == ["Old PowerShell Rule"]
    assert problems(watch) == []


def test_sorting_and_paging(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url + "rules/?sort=level")
    first = page.locator("#rule-list li").first
    assert first.locator(".badge").first.inner_text() == "critical"
    page.locator("#sort").select_option("title")
    titles = page.locator("#rule-list a").all_inner_texts()
    assert titles == sorted(titles, key=str.casefold) and titles[0] == HOSTILE_TITLE  # shown as text
    page.goto(site_url + "rules/?page=99999999")
    assert "past the end" in page.locator("#result-count").inner_text()
    assert page.locator("#rule-list li").count() == 0
    assert problems(watch) == [] and watch.dialogs == []


def test_matrix_click_filters_the_list(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url + "rules/")
    page.locator("#matrix summary").click()
    columns = page.locator(".matrix-column h3").all_inner_texts()
    assert [c.rsplit(" ", 1)[0] for c in columns][:2] == ["Execution", "Persistence"]
    cell = page.locator('.matrix-cell[data-technique="T1059"][data-tactic="TA0002"]')
    count = int(cell.locator(".count").inner_text())
    assert count == 3  # the hunting query tagging T1059 is not a detection: left out of the matrix
    cell.click()
    assert listed_count(page) == count
    assert "technique=T1059" in page.url and "tactic=TA0002" in page.url
    assert (
        page.locator('.matrix-cell[data-technique="T1059"][data-tactic="TA0002"]').get_attribute(
            "aria-pressed"
        )
        == "true"
    )
    # sub-techniques fold under their parent; unfolded, they filter too
    page.get_by_role("button", name="Show 1 sub-techniques of T1059").click()
    page.locator('.matrix-subs .matrix-cell[data-technique="T1059.001"]').click()
    assert listed_count(page) == 2
    assert problems(watch) == []


def test_search_as_you_type(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url + "search/")
    box = page.locator("#q")
    box.press_sequentially("mimi", delay=40)
    expect(page.locator("#search-status")).to_have_attribute("data-total", "3")
    titles = page.locator(".result-title").all_inner_texts()
    assert set(titles) == {
        "Mimikatz Command Line",
        "Auditd Keyword Mimikatz Port",
        "Suspicious PowerShell Encoded Command",
    }
    # served, FTS5 marks whole words; static, the script marks what was typed
    assert page.locator(".result-title mark").first.inner_text().lower() in ("mimi", "mimikatz")
    box.press_sequentially(" level:critical", delay=20)
    expect(page.locator("#search-status")).to_have_attribute("data-total", "1")
    page.locator(".result-title").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "Mimikatz Command Line"
    assert problems(watch) == []


def test_search_by_id_stem_and_one_indicator(page_factory: Any, site_url: str) -> None:
    """The same answers served (FTS5 and SQL) and static (the script over data/search.js)."""
    page, watch = open_page(page_factory, site_url + "search/?q=5B1A0001-0000-4000-8000-000000000002")
    expect(page.locator("#search-status")).to_have_attribute("data-total", "1")
    assert page.locator(".result-title").first.inner_text() == "Mimikatz Command Line"
    expect(page.locator(".result-why").first).to_have_text(
        "Its rule id: sigma/proc_creation_win_mimikatz_cli"
    )
    page.locator("#q").fill("proc_creation_win_mimikatz_cli")
    expect(page.locator(".result-why").first).to_have_text(
        "Its file stem: sigma/proc_creation_win_mimikatz_cli"
    )
    # field:X value:Y is one indicator: admin_tool is an Image value the rule excludes, not a CommandLine one
    page.locator("#q").fill("field:CommandLine value:admin_tool")
    expect(page.locator("#search-status")).to_have_attribute("data-total", "0")
    page.locator("#q").fill("field:Image exclusion:admin_tool")
    expect(page.locator("#search-status")).to_have_attribute("data-total", "1")
    expect(page.locator(".result-why")).to_have_text("Matched excluded Image ends_with \\admin_tool.exe")
    page.locator("#q").fill("field:commandline value:SEKURLSA")
    expect(page.locator("#search-status")).to_have_attribute("data-total", "1")
    expect(page.locator(".result-why")).to_have_text("Matched CommandLine contains sekurlsa::")
    assert problems(watch) == []


def test_search_from_the_address_and_hostile_results(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url + "search/?q=hostile")
    expect(page.locator("#search-status")).to_have_attribute("data-total", "1")
    assert page.locator(".result-title").inner_text() == HOSTILE_TITLE
    page.locator("#q").fill("onerror")
    expect(page.locator("#search-status")).to_have_attribute("data-total", "1")
    assert "<img src=x onerror=alert(2)>" in page.locator(".snippet").inner_text()
    assert page.locator(".result img, .result script").count() == 0
    assert watch.dialogs == [] and problems(watch) == []


def test_home_page_figures_link_into_the_list(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url)
    assert page.locator("#by-product li").first.inner_text().split() == ["windows", "9"]
    page.locator("#by-level").get_by_role("link", name="critical").click()
    page.wait_for_load_state("load")
    assert listed_count(page) == 1
    page.goto(site_url)
    page.locator("#top-indicators a").nth(1).click()  # the most used value
    assert page.locator("h1").inner_text().split()[:2] == ["Image", "ends_with"]
    page.goto(site_url)
    page.locator(".search-form input").fill("tunnel")
    page.locator(".search-form button").click()
    expect(page.locator("#search-status")).to_have_attribute("data-total", "1")
    assert problems(watch) == []


PHONE_PAGES = (
    "",
    "rules/",
    "search/?q=powershell",
    "fields/",
    "fields/CommandLine/",
    "api-docs/",
    "indicators/CommandLine/contains/",
    "indicators/Image/ends_with/",
    "all-rules/",
)


def test_phone_viewport_reads_well(page_factory: Any, site_url: str) -> None:
    page, watch = open_page(page_factory, site_url, width=375, height=812)
    for path in PHONE_PAGES:
        page.goto(site_url + path, wait_until="load")
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], (path, widths)
        assert page.locator("h1").first.is_visible()
        assert page.locator("body").evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 14
        if path == "rules/":  # the facets come before the list, in one column
            facets = page.locator("#facets").bounding_box()
            results = page.locator("#rule-list").bounding_box()
            assert facets["y"] < results["y"] and facets["width"] > 300
    page.screenshot(path="/tmp/ruleatlas-browse-phone.png", full_page=False)
    assert problems(watch) == []


def test_phone_navigation_shows_every_link(page_factory: Any, site_url: str) -> None:
    """At 390 px the site links wrap under the brand: none scrolls out of sight."""
    page, watch = open_page(page_factory, site_url, width=390, height=844)
    nav = page.locator("header.site-header nav")
    widths = nav.evaluate("n => [n.scrollWidth, n.clientWidth]")
    assert widths[0] <= widths[1], widths
    links = nav.locator("a")
    assert links.count() >= 5
    for i in range(links.count()):
        box = links.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (i, box)
        assert links.nth(i).is_visible()
    assert problems(watch) == []


def test_static_pages_work_from_file_urls(page_factory: Any, browse_catalog: Path) -> None:
    site = browse_catalog / "site"
    page, watch = open_page(page_factory, (site / "rules" / "index.html").as_uri() + "?level=low")
    assert listed_count(page) == 2
    page.locator('input[data-facet="product"][value="linux"]').check()
    assert page.locator("#rule-list a").all_inner_texts() == ["Auditd Keyword Mimikatz Port"]
    page.locator("#rule-list a").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/rules/sigma/auditd_lnx_keyword/index.html")
    page.goto((site / "search" / "index.html").as_uri() + "?q=schtask")
    expect(page.locator("#search-status")).to_have_attribute("data-total", "1")
    assert page.locator(".result-title").inner_text() == "Scheduled Task Created From Cmd"
    assert problems(watch) == []


RULE_WITH_SERVICE = """title: {title}
id: {id}
status: test
description: {title}
logsource:
    product: windows
{logsource}
detection:
    selection:
        Image|endswith: '\\\\{image}'
    condition: selection
level: medium
"""


def test_static_logsource_filter_matches_a_service_beside_a_category(
    page_factory: Any, tmp_path: Path
) -> None:
    """`logsource:` selects a rule by its category, service or product, in the static search as on the
    server; a rule with both a category and a service shows the category, and is found by either."""
    from catalog_support import build_fixture_catalog

    from ruleatlas.store import open_catalog
    from ruleatlas.store.search import search

    corpus = tmp_path / "corpus" / "rules"
    corpus.mkdir(parents=True)
    rules = {
        "both": ("Category And Service", "    category: process_creation\n    service: sysmon", "a.exe"),
        "service": ("Service Only", "    service: sysmon", "b.exe"),
        "category": ("Category Only", "    category: process_creation", "c.exe"),
    }
    for n, (stem, (title, logsource, image)) in enumerate(rules.items()):
        rule_id = f"00000000-0000-4000-8000-00000000000{n}"
        text = RULE_WITH_SERVICE.format(title=title, id=rule_id, logsource=logsource, image=image)
        (corpus / f"{stem}.yml").write_text(text, encoding="utf-8")
    out = build_fixture_catalog(tmp_path / "out", corpus.parent)
    with open_catalog(out) as catalog:
        served = {hit["title"] for hit in search(catalog, "logsource:sysmon")["results"]}
    assert served == {"Category And Service", "Service Only"}
    page, watch = open_page(
        page_factory, (out / "site" / "search" / "index.html").as_uri() + "?q=logsource:sysmon"
    )
    expect(page.locator("#search-status")).to_have_attribute("data-total", "2")
    assert set(page.locator(".result-title").all_inner_texts()) == served
    page.goto((out / "site" / "search" / "index.html").as_uri() + "?q=logsource:process_creation")
    expect(page.locator("#search-status")).to_have_attribute("data-total", "2")
    assert set(page.locator(".result-title").all_inner_texts()) == {"Category And Service", "Category Only"}
    assert problems(watch) == []
