"""House rule 8: routing and prefilter change no match. A full scan (every rule on every event, only the
log-source definition `route_applies` deciding) and the fast scan (route index, EventID narrowing, field and
literal prefilter) give the same matches over the shared logs and SigmaHQ's regression samples."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ruleatlas.engine.compile import compile_rules
from ruleatlas.engine.fieldmap import with_audit_aliases
from ruleatlas.engine.routing import event_key, route_applies, route_for
from ruleatlas.engine.scan import Scanner
from ruleatlas.logs.event import Event, InputProblem
from ruleatlas.logs.readers import read_events
from ruleatlas.sources.sigma import read_sigma_tree

RULE_FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


@pytest.mark.corpus
def test_prefiltered_scan_equals_full_scan(shared_dir: Path) -> None:
    source = read_sigma_tree(shared_dir / "corpus" / "sigma")
    compiled = compile_rules([rule for rule in source.rules if rule.folder in RULE_FOLDERS])
    assert len(compiled.rules) > 3000
    problems: list[InputProblem] = []
    events: list[Event] = list(
        read_events([shared_dir / "logs", shared_dir / "corpus/sigma/regression_data"], problems=problems)
    )
    assert problems == []
    assert len(events) > 11000

    fast = Scanner(compiled)
    fast_matches = {(n, i) for n, event in enumerate(events) for i in fast.match_ids(event)}

    routes = [route_for(rule.logsource) for rule in compiled.rules]
    # route_applies depends on the event's key only: the rules it lets through, once per key (a few hundred
    # keys for 11,000 events), are every rule it would let through event by event
    routed: dict[object, list[int]] = {}
    full_matches: set[tuple[int, int]] = set()
    tested = 0
    for n, event in enumerate(events):
        fields = with_audit_aliases(event.fields)  # the scanner's own view of a Security audit event
        key = event_key(fields)
        if key not in routed:
            routed[key] = [i for i, route in enumerate(routes) if route_applies(route, key)]
        cache: dict[object, object] = {}
        for i in routed[key]:
            tested += 1
            if compiled.rules[i].match(fields, cache):
                full_matches.add((n, i))

    missing = full_matches - fast_matches
    extra = fast_matches - full_matches
    lost = Counter(compiled.rules[i].uid for _, i in missing)
    assert not missing, f"the prefilter lost {len(missing)} matches: {lost.most_common(10)}"
    assert not extra
    assert len(full_matches) > 1000  # the comparison is about something
    assert len({i for _, i in full_matches}) > 100
    assert fast.candidates_tested < tested / 20  # and the fast scan skipped most of the work
