"""Event coverage walks every Windows rule of the SigmaHQ corpus in ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.model import RuleKind
from ruleatlas.sources.sigma import read_sigma_tree
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.coverage import event_coverage


@pytest.mark.corpus
def test_every_windows_rule_gets_events_or_a_reason(telemetry: TelemetryCatalog, shared_dir: Path) -> None:
    result = read_sigma_tree(shared_dir / "corpus" / "sigma")
    table = telemetry.logsources
    rules = [
        r
        for r in result.rules
        if r.folder.startswith("rules")
        and r.kind is not RuleKind.CORRELATION
        and (
            r.logsource.get("product") == "windows"
            or (
                not r.logsource.get("product")
                and (
                    r.logsource.get("category") in table.categories
                    or r.logsource.get("service") in table.services
                )
            )
        )
    ]
    assert len(rules) > 2500
    without = []
    for rule in rules:
        coverage = event_coverage(rule, telemetry)
        if not coverage.events:
            assert coverage.note, rule.uid
            without.append(rule.uid)
        for event in coverage.events:
            if not event.title:  # an event the data does not define is always named in the note
                assert (
                    f"{event.event_id}" in coverage.note
                    and "Not in the telemetry definitions" in coverage.note
                ), rule.uid
    assert len(without) <= len(rules) // 100, without
