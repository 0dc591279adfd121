"""The rule pages in headless Chromium: what a reader sees, on desktop and on a phone, served and from file://."""

from __future__ import annotations

from typing import Any

import pytest
from site_support import HOSTILE_UID, LOCALTONET_UID, PageWatch, ServedSite, load_docs

from ruleatlas.web import urls
from ruleatlas.web.render import SEED_ORDER

pytestmark = pytest.mark.browser

SCREENSHOT_DIR = "/tmp"


def open_rule(page_factory: Any, site: ServedSite, uid: str, **viewport: int) -> tuple[Any, PageWatch]:
    page, watch = page_factory(**viewport)
    response = page.goto(site.page_url(uid), wait_until="load")
    assert response is not None and response.status == 200
    return page, watch


def test_rule_page_shows_every_section_in_the_seed_order(page_factory: Any, served_site: ServedSite) -> None:
    page, watch = open_rule(page_factory, served_site, LOCALTONET_UID)
    shown = page.eval_on_selector_all(
        "[data-section]",
        "els => els.filter(e => e.offsetParent !== null && e.getBoundingClientRect().height > 0)"
        ".map(e => [e.dataset.section, e.getBoundingClientRect().top + window.scrollY])",
    )
    names = [name for name, _ in shown]
    assert [n for n in names if n in SEED_ORDER] == list(SEED_ORDER)
    tops = [top for _, top in shown]
    assert tops == sorted(tops)  # laid out top to bottom in that order, not just in the DOM
    headings = page.locator("main h2").all_inner_texts()
    assert [" ".join(h.split()) for h in headings] == [
        "Description", "References 2", "False positives", "MITRE ATT&CK coverage", "Event coverage",
        "Rule body sigma", "Stages and predicates", "Indicators",
    ]  # fmt: skip
    assert watch.problems() == []
    assert watch.dialogs == []


def test_header_title_and_metadata(page_factory: Any, served_site: ServedSite) -> None:
    page, watch = open_rule(page_factory, served_site, LOCALTONET_UID)
    assert page.title() == "Communication To LocaltoNet Tunneling Service Initiated · RuleAtlas"
    assert page.locator("nav.breadcrumb").inner_text().replace("\n", "") == "Detection rules›Sigma›rules"
    meta = {
        page.locator(f'[data-section="{name}"] dt').inner_text().strip().lower(): page.locator(
            f'[data-section="{name}"] dd'
        )
        .inner_text()
        .strip()
        for name in ("status", "level", "logsource", "author")
    }
    assert meta == {
        "status": "test",
        "severity": "high",
        "log source": "product windows, category network_connection",
        "author": "Andreas Braathen (mnemonic.io)",
    }
    source = page.locator("a.source-link")
    assert source.inner_text() == "github.com/SigmaHQ/sigma"
    assert source.get_attribute("href") == load_docs()[LOCALTONET_UID]["source"]["url"]
    assert source.get_attribute("href") == (
        "https://github.com/SigmaHQ/sigma/blob/8eaafff1f2845a696050e05e72ba1140ee190698/"
        "rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel.yml"
    )
    home = page.locator("header.site-header a.brand")
    assert home.get_attribute("href") == "../../../index.html"
    assert watch.problems() == []


def test_attack_techniques_with_names_and_links(page_factory: Any, served_site: ServedSite) -> None:
    page, _ = open_rule(page_factory, served_site, LOCALTONET_UID)
    assert page.locator(".attack-row .tactic").inner_text().strip() == "Command and Control TA0011"
    techniques = page.locator("a.technique")
    assert techniques.all_inner_texts() == ["T1090 Proxy", "T1102 Web Service", "T1572 Protocol Tunneling"]
    assert [techniques.nth(i).get_attribute("href") for i in range(3)] == [
        "https://attack.mitre.org/techniques/T1090/",
        "https://attack.mitre.org/techniques/T1102/",
        "https://attack.mitre.org/techniques/T1572/",
    ]


def test_event_row(page_factory: Any, served_site: ServedSite) -> None:
    page, _ = open_rule(page_factory, served_site, LOCALTONET_UID)
    cells = page.locator("table.events tbody tr").first.locator("td").all_inner_texts()
    assert [c.strip() for c in cells[:3]] == ["Sysmon", "Event ID 3", "Network connection"]
    assert (
        cells[0] + " " + cells[1].removeprefix("Event ID ") + " " + cells[2] == "Sysmon 3 Network connection"
    )


def test_indicator_badges(page_factory: Any, served_site: ServedSite) -> None:
    page, _ = open_rule(page_factory, served_site, LOCALTONET_UID)
    groups = page.locator("#indicators .ind-group")
    assert groups.count() == 2
    assert groups.nth(0).locator(".ind-head").inner_text().split() == ["DestinationHostname", "ends_with"]
    assert groups.nth(0).locator("code.value").all_inner_texts() == [".localto.net", ".localtonet.com"]
    assert groups.nth(0).locator(".corpus").all_inner_texts() == ["corpus 2 (sigma 2)", "corpus 2 (sigma 2)"]
    assert groups.nth(1).locator(".corpus").all_inner_texts() == ["corpus 50 (sigma 50)"]


def test_body_line_links_and_stages(page_factory: Any, served_site: ServedSite) -> None:
    page, watch = open_rule(page_factory, served_site, LOCALTONET_UID)
    assert page.locator("#stages h3").all_inner_texts() == ["Stage 0: condition", "Stage 1: selection"]
    page.locator('#stages a.line-link[href="#L22"]').click()
    assert page.evaluate("location.hash") == "#L22"
    assert page.locator("#L22").inner_text() == "    selection:"
    assert page.locator("#body pre").inner_text().startswith("title: Communication To LocaltoNet")
    preds = page.locator("#stages li.pred").all_inner_texts()
    assert [" ".join(p.split()) for p in preds] == [
        "DestinationHostname ends_with .localto.net",
        "DestinationHostname ends_with .localtonet.com",
        "Initiated eq true",
    ]
    assert watch.problems() == []


def test_hostile_page_shows_text_and_runs_nothing(page_factory: Any, served_site: ServedSite) -> None:
    page, watch = open_rule(page_factory, served_site, HOSTILE_UID)
    page.locator("h1").hover()
    page.locator(".meta-grid").hover()
    assert page.locator("h1").inner_text() == "<script>alert(1)</script>"
    assert page.locator("#description p").inner_text().startswith("<img src=x onerror=alert(1)>")
    assert page.locator("script").count() == 0
    assert page.locator("img").count() == 1  # the RuleAtlas logo
    assert (
        page.evaluate(
            "[...document.querySelectorAll('*')]"
            ".some(e => [...e.attributes].some(a => a.name.startsWith('on')))"
        )
        is False
    )
    assert watch.dialogs == []
    assert watch.problems() == []


def test_hostile_page_from_file_runs_nothing_either(page_factory: Any, served_site: ServedSite) -> None:
    """Without the server's Content-Security-Policy, escaping alone must keep scripts from running."""
    page, watch = page_factory()
    path = served_site.site / urls.page_file(urls.rule_path(HOSTILE_UID))
    page.goto(path.as_uri(), wait_until="load")
    page.locator("h1").hover()
    assert page.locator("h1").inner_text() == "<script>alert(1)</script>"
    assert watch.dialogs == []
    assert watch.page_errors == []


def test_site_works_from_file_urls(page_factory: Any, served_site: ServedSite) -> None:
    page, watch = page_factory()
    page.goto((served_site.site / "index.html").as_uri(), wait_until="load")
    page.get_by_role("link", name="Communication To LocaltoNet Tunneling Service Initiated").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/rules/sigma/net_connection_win_domain_localtonet_tunnel/index.html")
    # The stylesheet applied: the header is sticky and the code block scrolls on its own.
    assert page.locator("header.site-header").evaluate("e => getComputedStyle(e).position") == "sticky"
    assert page.locator("#body pre").evaluate("e => getComputedStyle(e).overflowX") == "auto"
    page.locator("nav.breadcrumb a").first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/index.html")
    assert watch.problems() == []


def test_no_horizontal_overflow_on_a_phone(page_factory: Any, served_site: ServedSite) -> None:
    for uid in load_docs():
        page, watch = open_rule(page_factory, served_site, uid, width=375, height=812)
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " document.body.scrollWidth]"
        )
        assert widths[0] <= widths[1] and widths[2] <= widths[1], (uid, widths)
        # Long lines scroll inside their code block instead of widening the page.
        body = page.locator("#body pre")
        assert body.count() == 1, uid  # every fixture rule has a body
        assert body.evaluate("e => getComputedStyle(e).overflowX") == "auto"
        assert watch.problems() == []


def test_home_page_lists_rules_and_links_work(page_factory: Any, served_site: ServedSite) -> None:
    page, watch = page_factory(width=375, height=812)
    page.goto(served_site.url("/"), wait_until="load")
    assert page.locator("h1").inner_text() == "Detection rules"
    links = page.locator(".rule-list a")
    assert links.count() == len(load_docs())
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.get_by_role("link", name="Failed login").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "Failed login"
    assert page.locator("#correlation").is_visible()
    assert watch.problems() == []


def test_not_found_page_is_styled(page_factory: Any, served_site: ServedSite) -> None:
    page, watch = page_factory()
    response = page.goto(served_site.url("/rules/sigma/missing/"), wait_until="load")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.locator("header.site-header").evaluate("e => getComputedStyle(e).position") == "sticky"
    page.get_by_role("link", name="Browse all rules").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "Detection rules"
    assert watch.failed_requests == [] and watch.console_errors == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]


@pytest.mark.parametrize(("label", "width", "height"), [("desktop", 1366, 900), ("phone", 375, 812)])
def test_screenshots_of_the_localtonet_page(
    page_factory: Any, served_site: ServedSite, label: str, width: int, height: int
) -> None:
    page, watch = open_rule(page_factory, served_site, LOCALTONET_UID, width=width, height=height)
    target = f"{SCREENSHOT_DIR}/ruleatlas-localtonet-{label}.png"
    image = page.screenshot(path=target, full_page=True)
    assert image[:8] == b"\x89PNG\r\n\x1a\n"
    assert watch.problems() == []
