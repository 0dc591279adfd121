"""Collection priority, bridges and a coverage matrix of the real (SigmaHQ) catalog in headless Chromium:
the priority page ranks Sysmon 1 first on Windows and links to its event page, whose Collection priority and
Also seen as sections show the formula's figures and the 4688 field renames; the Windows coverage matrix
lists events by vendor and the rules not attributed to one event; the API answers the same figures."""

from __future__ import annotations

from typing import Any

import pytest
from site_support import api_json
from test_telemetry_browser import PHONE, assert_fits, local_links_ok, open_page

pytestmark = [pytest.mark.browser, pytest.mark.corpus]


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_priority_page_ranks_windows_events(
    page_factory: Any, corpus_served: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, corpus_served + "telemetry/priority/", **viewport)
    assert page.locator("h1").inner_text() == "Collection priority"
    assert "w(level)" in page.locator("#formula").inner_text()
    windows = page.locator("#p-windows")
    rows = windows.locator("table.priority-table tbody tr")
    assert rows.count() > 20
    first = rows.nth(0).locator("td")
    assert first.nth(0).inner_text() == "1" and first.nth(1).inner_text() == "Sysmon 1"
    assert "ProcessCreate" in first.nth(6).inner_text()  # the Sysmon configuration element
    scores = [float(rows.nth(i).locator("td").nth(3).inner_text()) for i in range(rows.count())]
    assert scores == sorted(scores, reverse=True)
    # the same ranking as the API
    priority = api_json(corpus_served, "api/telemetry/priority?platform=windows&limit=5")
    ranked = priority["platforms"][0]["ranked"]
    assert [r["label"] for r in ranked][:1] == ["Sysmon 1"]
    assert ranked[0]["priority"] == scores[0]
    assert page.locator("#p-aws").count() == 1 and page.locator("#p-okta").count() == 1
    if not viewport:
        assert watch.problems() == []
        local_links_ok(page, corpus_served)
    else:
        assert_fits(page)
        assert watch.problems() == []
    rows.nth(0).locator("a").first.click()
    page.wait_for_load_state("load")
    assert "/telemetry/microsoft-windows-sysmon/1/" in page.url


def test_event_page_shows_priority_and_bridges(page_factory: Any, corpus_served: str) -> None:
    page, watch = open_page(page_factory, corpus_served + "telemetry/microsoft-windows-sysmon/1/")
    section = page.locator("#collection-priority")
    text = section.inner_text()
    answer = api_json(corpus_served, "api/telemetry/events/microsoft-windows-sysmon/1")
    collection = answer["collection"]
    assert f"{collection['rules']:,} detection rules" in text
    assert str(collection["priority"]) in text
    assert collection["alone"] + collection["shared"] + collection["required"] == collection["rules"]
    assert "ProcessCreate" in text
    bridges = page.locator("#also-seen-as tbody tr")
    security = bridges.filter(has_text="Security 4688")
    assert security.count() == 1
    security.locator("summary").click()
    assert "NewProcessName" in security.inner_text()
    assert bridges.filter(has_text="Defender XDR DeviceProcessEvents").count() == 1
    assert bridges.filter(has_text="auditd EXECVE").count() == 1
    assert any(o["label"] == "Security 4688" for o in answer["also_seen_as"])
    assert watch.problems() == []
    # the audit policy of Security 4688 (OSSEM-DM's subcategory)
    page, _ = open_page(page_factory, corpus_served + "telemetry/microsoft-windows-security-auditing/4688/")
    assert (
        'auditpol /set /subcategory:"Process Creation"' in page.locator("#collection-priority").inner_text()
    )


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_windows_coverage_matrix(page_factory: Any, corpus_served: str, viewport: dict[str, int]) -> None:
    page, watch = open_page(page_factory, corpus_served + "telemetry/platforms/windows/", **viewport)
    page.locator("a", has_text="Windows coverage matrix").first.click()
    page.wait_for_load_state("load")
    assert "/coverage/windows/" in page.url
    assert page.locator("h1").inner_text() == "Windows"
    heads = page.locator("table.coverage-matrix thead th").all_text_contents()  # text, not upper-cased
    assert "Sigma" in heads
    sysmon_1 = page.locator('table.coverage-matrix tbody tr:has(a[href*="microsoft-windows-sysmon/1/"])')
    assert sysmon_1.count() == 1
    matrix = api_json(corpus_served, "api/coverage/windows")
    listed = {(e["provider"], e["event_key"]): e for g in matrix["groups"] for e in g["events"]}
    expected = listed[("Microsoft-Windows-Sysmon", "1")]["rules"]["total"]
    assert sysmon_1.locator("td").last.inner_text() == str(expected)
    unattributed = page.locator("#unattributed")
    assert unattributed.locator("details").count() == len(matrix["unattributed"]) > 0
    assert f"{matrix['unattributed_rules']}" in unattributed.locator("h2").inner_text()
    if not viewport:
        local_links_ok(page, corpus_served)
    assert watch.problems() == []
