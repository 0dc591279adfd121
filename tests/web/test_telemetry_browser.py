"""The telemetry pages of the real catalog in headless Chromium: provider, event, uncovered rules, vendor
reference and readiness, on a desktop and a phone, with no console error and no dead link."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from site_support import serving

from ruleatlas.cli import main

pytestmark = [pytest.mark.browser, pytest.mark.corpus]
PHONE = {"width": 390, "height": 844}
SYSMON = "telemetry/microsoft-windows-sysmon/"


@pytest.fixture(scope="module")
def server(corpus_catalog: Path, shared_dir: Path) -> Iterator[str]:
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["readiness", "--catalog", str(corpus_catalog), str(shared_dir / "logs")]) == 0
    with serving(corpus_catalog) as base:
        yield base


def open_page(page_factory: Any, url: str, **viewport: int) -> tuple[Any, Any]:
    page, watch = page_factory(**viewport)
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, url
    return page, watch


def assert_fits(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def local_links_ok(page: Any, base: str) -> None:
    """Every link inside the page's main content answers 200 (relative links resolved like a browser)."""
    hrefs = page.eval_on_selector_all("main a[href]", "els => els.map(e => e.getAttribute('href'))")
    targets = {urljoin(page.url, h).split("#")[0] for h in hrefs if not h.startswith(("http", "#"))}
    assert targets
    for target in sorted(targets)[:80]:
        response = page.request.get(target)
        assert response.status == 200, f"{page.url} links to {target}: {response.status}"


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_sysmon_provider_page_lists_every_event_with_its_title(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, server + SYSMON, **viewport)
    assert page.locator("h1").inner_text() == "Sysmon"
    assert page.locator(".lead").inner_text().startswith("30 events across 1 channel; 27 with rules")
    rows = page.locator("table.events-table tbody tr")
    assert rows.count() == 30
    first = rows.first.inner_text()
    assert "Process creation" in first and "yes" in first
    assert "Error" in page.locator("#e-255").inner_text()
    assert_fits(page)
    assert watch.problems() == []
    page.locator("#e-1 a.tel-id").click()
    page.wait_for_load_state("load")
    assert page.url.endswith(SYSMON + "1/index.html") or page.url.endswith(SYSMON + "1/")
    assert "Process creation" in page.locator("h1").inner_text()


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_event_page_shows_fields_counts_example_indicators_and_rules(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, server + SYSMON + "3/", **viewport)
    assert "Network connection" in page.locator("h1").inner_text()
    headings = [" ".join(h.split()) for h in page.locator("main h2").all_inner_texts()]
    # collection priority and the bridged events (web/collection_views.py) come first
    assert [h.split(" ")[0] for h in headings] == [
        "Collection",
        "Also",
        "Description",
        "Fields",
        "Example",
        "Most",
        "Rules",
        "Rules",  # the rules Sysmon 3 serves through a bridge (those on Security 5156), apart
    ]
    assert headings[-1].startswith("Rules it serves through an event bridge")
    assert page.locator("#bridged-rules a").count() >= 1  # each rule links to its page
    fields = page.locator("#fields table.fields-table tbody tr")
    texts = [fields.nth(i).inner_text() for i in range(fields.count())]
    hostname = next(t for t in texts if t.startswith("DestinationHostname"))
    assert int(hostname.split()[-1].replace(",", "")) > 10  # distinct rules testing it
    assert page.locator("#sample table tbody tr").count() > 10
    assert page.locator("#sample .tel-enums dt", has_text="Initiated").count() == 1
    assert (
        page.locator("#rules a", has_text="Communication To LocaltoNet Tunneling Service Initiated").count()
        == 1
    )
    assert_fits(page)
    assert watch.problems() == []
    local_links_ok(page, server)


def test_rule_page_links_its_events_to_their_pages(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "rules/sigma/net_connection_win_domain_localtonet_tunnel/")
    link = page.locator("#events a", has_text="Event ID 3")
    link.click()
    page.wait_for_load_state("load")
    assert "/telemetry/microsoft-windows-sysmon/3/" in page.url
    assert page.locator("#rules a", has_text="LocaltoNet").count() >= 1
    assert watch.problems() == []


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_uncovered_rules_page_gives_each_rule_its_reason(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, server + "telemetry/uncovered/", **viewport)
    assert page.locator("h1").inner_text() == "Rules without event coverage"
    items = page.locator("section.tel-group li")
    assert items.count() >= 1
    for i in range(items.count()):
        assert page.locator("section.tel-group li").nth(i).locator(".tel-reason").inner_text().strip()
    assert_fits(page)
    assert watch.problems() == []
    local_links_ok(page, server)


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_readiness_page_from_the_kept_report(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, server + "readiness/", **viewport)
    assert page.locator("h1").inner_text() == "Can these rules fire on your logs?"
    lead = page.locator(".lead").inner_text()
    assert (
        "rules can fire on the telemetry of" in lead and "ATT&CK techniques are effectively covered" in lead
    )
    assert page.locator("#seen tbody tr").count() > 100
    verdicts = page.locator("main h2 .verdict").all_inner_texts()
    assert verdicts[0] == "fires" and "blocked" in verdicts
    assert page.locator(".site-nav a[aria-current=page]").inner_text() == "Readiness"
    assert_fits(page)
    assert watch.problems() == []


def test_index_and_vendor_reference(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "telemetry/")
    assert page.locator("#windows tbody tr").first.inner_text().startswith("Sysmon")
    page.locator("a.chip", has_text="Sigma reference").click()
    page.wait_for_load_state("load")
    lead = page.locator(".lead").inner_text()
    assert " events across " in lead and " providers with Sigma rules, " in lead
    assert lead.endswith(" mappings.")
    assert watch.problems() == []
