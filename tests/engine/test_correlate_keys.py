"""Partition keys: one Correlator per (family, key) gives the alerts of one Correlator over everything."""

from __future__ import annotations

import json
from pathlib import Path

from test_correlate_support import ev, feed_all

from ruleatlas.engine.correlate import CorrelationAlert, Correlator, correlation_alert_json
from ruleatlas.engine.correlate_keys import PartitionKeys
from ruleatlas.logs.event import Event
from ruleatlas.model import Rule, RuleKind
from ruleatlas.sources.sigma import parse_sigma_file

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "engine" / "correlation"

# a second family: grouped by Computer, so its keys differ from the chain's (User)
HOSTS = """title: Three failed logons on one computer
id: 9d0c1f5e-7b7e-4f3e-9a51-5c2f0e1d2a01
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - Computer
    timespan: 5m
    condition:
        gte: 3
    generate: true
"""


def _rules() -> tuple[list[Rule], list[Rule], dict[str, Rule]]:
    text = (FIXTURES / "failed_logins_then_success.yml").read_text(encoding="utf-8") + "---\n" + HOSTS
    rules, problems = parse_sigma_file(text, "correlation/keys.yml", "rules")
    assert problems == []
    correlations = [r for r in rules if r.kind == RuleKind.CORRELATION]
    base = [r for r in rules if r.kind != RuleKind.CORRELATION]
    return correlations, base, {r.name or r.id: r for r in rules}


def _matches(rules: dict[str, Rule]) -> list[tuple[Rule, Event]]:
    """Failed logons of three users (one spelled two ways) on two computers, then successes, in time order."""
    failed, success = rules["failed_login"], rules["successful_login"]
    out = []
    for i in range(36):
        user = ("bob", "Bob", "alice", "carol")[i % 4]
        out.append((failed, ev(i * 10, User=user, Computer=f"pc{i % 2}", EventID=4625)))
    out.append((success, ev(400, User="BOB", Computer="pc0", EventID=4624)))
    out.append((success, ev(410, User="alice", Computer="pc1", EventID=4624)))
    out.append((success, ev(420, Computer="pc1", EventID=4624)))  # no User: skipped, in its own key
    return out


def _shown(alerts: list[CorrelationAlert]) -> list[str]:
    return sorted(json.dumps(correlation_alert_json(a), sort_keys=True, default=str) for a in alerts)


def test_keyed_correlators_give_the_alerts_and_skips_of_one() -> None:
    correlations, base, rules = _rules()
    matches = _matches(rules)
    one = Correlator(correlations, base)
    expected = [a for a in feed_all(one, matches) if one.outputs(a.rule)]
    assert len(expected) >= 3

    keys = PartitionKeys(correlations, base)
    assert len(keys.families) == 2  # the chain (User) and the Computer correlation
    parts: dict[tuple[int, tuple[str | None, ...]], list[tuple[Rule, Event]]] = {}
    for rule, event in matches:
        for family, key in keys.keys(rule.uid, event.fields):
            parts.setdefault((family, key), []).append((rule, event))
    assert ("bob",) in {key for _family, key in parts}  # "bob", "Bob" and "BOB" are one group
    found: list[CorrelationAlert] = []
    skips: dict[tuple[str, str], int] = {}
    for (family, _key), part in parts.items():
        correlator = Correlator(keys.correlations(family), base)
        found.extend(a for a in feed_all(correlator, part) if correlator.outputs(a.rule))
        for skip in correlator.skips:
            skips[(skip.rule.uid, skip.reason)] = skips.get((skip.rule.uid, skip.reason), 0) + skip.count
    assert _shown(found) == _shown(expected)
    assert skips == {(s.rule.uid, s.reason): s.count for s in one.skips} != {}


def test_a_family_without_a_shared_group_by_runs_unsplit() -> None:
    correlations, base, rules = _rules()
    # the chain's outer correlation grouped by Computer instead: the chain shares no name
    changed = [
        c if c.id != "b180ead8-d58f-40b2-ae54-c8940995b9b6" else _regrouped(c, ("Computer",))
        for c in correlations
    ]
    keys = PartitionKeys(changed, base)
    chain = next(number for number, family in enumerate(keys.families) if len(family.correlations) == 2)
    event = ev(0, User="bob", Computer="pc0", EventID=4625)
    assert (chain, ()) in keys.keys(rules["failed_login"].uid, event.fields)


def _regrouped(rule: Rule, group_by: tuple[str, ...]) -> Rule:
    from dataclasses import replace

    assert rule.correlation is not None
    return replace(rule, correlation=replace(rule.correlation, group_by=group_by))
