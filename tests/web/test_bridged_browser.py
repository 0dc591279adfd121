"""Bridged events in headless Chromium over the real (SigmaHQ) catalog: a rule page lists the events serving
it through a bridge apart from its own, saying when the scanner would not route one to it; the bridged
event's page lists the rule apart from the rules covering it; the Windows coverage matrix counts bridged
rules in a column of their own, never in its totals. The priority page and the coverage matrix themselves are
tested in test_priority_browser.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from site_support import api_json
from test_telemetry_browser import local_links_ok, open_page

from ruleatlas.web import urls

pytestmark = [pytest.mark.browser, pytest.mark.corpus]

SECURITY = "Microsoft-Windows-Security-Auditing"


def bridged_rule(catalog: Path, scanned: int, provider: str, key: str) -> tuple[str, str]:
    """(uid, title) of the first SigmaHQ rule (by uid) that `provider key` serves through a bridge."""
    with sqlite3.connect(catalog / "catalog.sqlite") as db:
        row = db.execute(
            "SELECT b.uid, r.title FROM tel_rule_bridged b JOIN rules r ON r.uid = b.uid "
            "WHERE b.scanned = ? AND b.provider = ? AND b.event_key = ? AND b.counted = 1 "
            "AND b.uid NOT LIKE '%-%' ORDER BY b.uid LIMIT 1",
            (scanned, provider, key),
        ).fetchone()
    assert row is not None, (scanned, provider, key)
    return row[0], row[1]


def test_rule_page_lists_bridged_events_apart_and_links_them(
    page_factory: Any, corpus_served: str, corpus_catalog: Path
) -> None:
    uid, title = bridged_rule(corpus_catalog, 1, SECURITY, "4688")
    page, watch = open_page(page_factory, corpus_served + urls.rule_path(uid))
    own = page.locator("#events table.events tbody tr").all_inner_texts()
    assert own and not any("4688" in row for row in own)  # not among its own events
    item = page.locator("#bridged-events li", has_text="Security 4688")
    assert item.count() == 1
    text = " ".join(item.inner_text().split())
    assert text.startswith("Also served by Security 4688 (bridge: process creation), in place of Sysmon 1")
    assert "Image → NewProcessName" in text
    assert item.get_attribute("data-scanned") == "yes"
    stem = uid.split("/", 1)[1]
    document = api_json(corpus_served, f"api/rules/sigma/{stem}")
    assert [b["label"] for b in document["bridged_events"]] == page.locator(
        "#bridged-events li a"
    ).all_inner_texts()
    assert all(
        b["event_key"] != str(e["event_id"]) for b in document["bridged_events"] for e in document["events"]
    )
    local_links_ok(page, corpus_served)
    assert watch.problems() == []
    item.locator("a").click()
    page.wait_for_load_state("load")
    assert "/telemetry/microsoft-windows-security-auditing/4688/" in page.url
    bridged = page.locator("#bridged-rules")
    assert bridged.locator("a", has_text=title).count() >= 1
    assert page.locator("#rules a", has_text=title).count() == 0  # listed once, apart


def test_a_bridged_event_the_scanner_does_not_route_says_a_pipeline_must_map_it(
    page_factory: Any, corpus_served: str, corpus_catalog: Path
) -> None:
    uid, title = bridged_rule(corpus_catalog, 0, SECURITY, "5156")
    page, watch = open_page(page_factory, corpus_served + urls.rule_path(uid))
    item = page.locator("#bridged-events li", has_text="5156")
    text = " ".join(item.inner_text().split())
    assert text.startswith("Served by Security 5156 once your pipeline maps it (bridge: network connection)")
    assert "the scanner does not route Security 5156 to this rule" in text
    assert item.get_attribute("data-scanned") == "no"
    assert watch.problems() == []
    # the Windows coverage matrix: 5156's bridged rules in their own column, not in its Rules total
    page, watch = open_page(page_factory, corpus_served + "coverage/windows/")
    row = page.locator(
        'table.coverage-matrix tbody tr:has(a[href*="microsoft-windows-security-auditing/5156/"])'
    )
    assert row.count() == 1
    matrix = api_json(corpus_served, "api/coverage/windows")
    listed = {(e["provider"], e["event_key"]): e for g in matrix["groups"] for e in g["events"]}
    entry = listed[(SECURITY, "5156")]
    cells = row.locator("td")
    assert cells.last.inner_text() == str(entry["rules"]["total"])
    assert cells.nth(cells.count() - 2).inner_text() == str(entry["bridged_rules"]["total"])
    assert entry["bridged_rules"]["total"] >= 1
    assert "Via a bridge" in page.locator("table.coverage-matrix thead th").all_text_contents()
    # the event's own answer agrees, and lists the rule as served once a pipeline maps it
    event = api_json(corpus_served, "api/telemetry/events/microsoft-windows-security-auditing/5156")
    assert event["bridged_rules"]["total"] == entry["bridged_rules"]["total"]
    reasons = [
        r["reason"] for g in event["bridged_rules_by_vendor"] for r in g["rules"] if r["title"] == title
    ]
    assert reasons and "once your pipeline maps it" in reasons[0]
    assert watch.problems() == []
