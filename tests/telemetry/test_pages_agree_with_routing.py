"""One answer to "which events does this rule see" (#17 §2): every Windows event a SigmaHQ rule's page lists
is one the scanner routes that rule to. Both read pySigma's tables through logs/sigma_windows.py; this
walks the whole corpus catalog and names, for any event that disagrees, the rule, its log source, the event
and the pairs the scanner routes it to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ruleatlas.engine.routing import narrow, required_event_ids, route_applies, route_for
from ruleatlas.model import Rule
from ruleatlas.sources.sigma import read_sigma_tree
from ruleatlas.store import open_catalog


@pytest.fixture(scope="module")
def corpus_rules(shared_dir: Path) -> dict[str, Rule]:
    return {rule.uid: rule for rule in read_sigma_tree(shared_dir / "corpus" / "sigma").rules}


def test_every_page_event_is_routed_to_its_rule(corpus_catalog: Path, corpus_rules: dict[str, Rule]) -> None:
    checked = 0
    disagreements = []
    with open_catalog(corpus_catalog) as catalog:
        rows = catalog.db.execute("SELECT uid, doc FROM rules WHERE vendor = 'sigma'").fetchall()
    for uid, doc in rows:
        rule = corpus_rules.get(uid)
        assert rule is not None, f"{uid}: in the catalog, not among the corpus's parsed rules"
        route = narrow(route_for(rule.logsource), required_event_ids(rule))
        for event in json.loads(doc).get("events") or []:
            channel, event_id = event.get("channel") or "", event.get("event_id")
            if not channel or not isinstance(event_id, int):
                continue  # catch-all and platform events: no Windows event log record to route
            checked += 1
            if not route_applies(route, (channel.casefold(), event_id)):
                routed = sorted(route.pairs, key=str) if route is not None else "every event"
                disagreements.append(
                    f"{uid} (log source {rule.logsource}): page lists {channel} {event_id}, "
                    f"the scanner routes it to {routed}"
                )
    assert checked > 2000, checked  # the corpus's Windows rules list thousands of events
    assert disagreements == []


def test_bridged_events_say_what_the_scanner_routes(
    corpus_catalog: Path, corpus_rules: dict[str, Rule]
) -> None:
    """A rule page's bridged event is "also served" only where the scanner routes it to the rule, and "once
    your pipeline maps it" where it does not: the same routing answer, event by event."""
    checked = {True: 0, False: 0}
    disagreements = []
    with open_catalog(corpus_catalog) as catalog:
        rows = catalog.db.execute(
            "SELECT uid, json_extract(doc, '$.bridged_events') FROM rules "
            "WHERE vendor = 'sigma' AND json_extract(doc, '$.bridged_events') IS NOT NULL"
        ).fetchall()
    for uid, text in rows:
        rule = corpus_rules[uid]
        route = narrow(route_for(rule.logsource), required_event_ids(rule))
        for bridged in json.loads(text):
            key = int(bridged["event_key"]) if bridged["event_key"].isdigit() else None
            channel = bridged["channel"]
            routed = route_applies(route, (channel.casefold(), key) if channel else None)
            if bridged["scanned"] is True and not routed:
                disagreements.append(f"{uid}: says the scanner feeds it {bridged['label']}")
            if bridged["scanned"] is True or not routed:
                checked[bool(bridged["scanned"])] += 1
            assert ("once your pipeline maps it" in bridged["text"]) is (bridged["scanned"] is False)
    assert disagreements == []
    assert checked[True] > 100 and checked[False] > 10, checked  # Sysmon 1 -> 4688; Sysmon 3 -> 5156
