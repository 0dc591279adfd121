"""The platforms issue 15 lacked, in headless Chromium over the session's corpus catalog: the telemetry
home's Sysmon for Linux and Intune cards, the Sysmon for Linux platform page, its process creation event page
(the Sysmon schema's fields, SigmaHQ's Linux rules) and a rule page naming that event; the Intune platform
page with the events Panther's rule tests sample. Desktop and phone, no console error, no dead link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from site_support import serving
from test_telemetry_browser import PHONE, assert_fits, local_links_ok, open_page

pytestmark = [pytest.mark.browser, pytest.mark.corpus]


@pytest.fixture(scope="module")
def server(corpus_catalog: Path) -> Iterator[str]:
    with serving(corpus_catalog) as base:
        yield base


def test_home_has_the_new_platform_cards(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "telemetry/")
    sysmon = page.locator("li[data-platform=sysmon_linux]")
    assert "Sysmon for Linux" in sysmon.inner_text() and "defined" in sysmon.inner_text()
    assert "SysmonForLinux" in sysmon.inner_text()
    intune = page.locator("li[data-platform=intune]")
    assert "seen in rules/samples" in intune.inner_text()
    assert watch.problems() == []


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_sysmon_for_linux_platform_and_event_pages(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, server + "telemetry/platforms/sysmon_linux/", **viewport)
    assert page.locator("h1").inner_text().startswith("Sysmon for Linux")
    row = page.locator("#platform-events tbody tr", has_text="Process creation").first
    assert row.count() == 1
    assert_fits(page)
    assert watch.problems() == []
    row.locator("a").first.click()
    page.wait_for_load_state("load")
    assert "/telemetry/sysmon-for-linux/1/" in page.url
    assert "Process creation" in page.locator("h1").inner_text()
    fields = [f.strip() for f in page.locator("#fields table tbody tr td:first-child").all_text_contents()]
    assert {"Image", "CommandLine", "ParentImage"} <= set(fields)
    assert page.locator("#rules a", has_text="Decode Base64 Encoded Text").count() == 1
    assert_fits(page)
    assert watch.problems() == []
    local_links_ok(page, server)


def test_a_linux_rule_page_names_its_sysmon_for_linux_event(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "rules/sigma/proc_creation_lnx_base64_decode/")
    events = [" ".join(e.split()) for e in page.locator("#events tbody tr").all_inner_texts()]
    assert events == ["Sysmon for Linux Event ID 1 Process creation"]
    assert watch.problems() == []


def test_intune_platform_page_lists_sampled_events(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "telemetry/platforms/intune/")
    assert page.locator("h1").inner_text().startswith("Intune")
    row = page.locator("#platform-events tbody tr", has_text="Create MobileApp").first
    assert row.count() == 1
    row.locator("a").first.click()
    page.wait_for_load_state("load")
    assert "Seen in rules/samples" in page.locator("header.tel-hero").inner_text()
    assert "Panther rule test" in page.locator("#sample").inner_text()
    assert watch.problems() == []
    local_links_ok(page, server)
