"""The edge-case suite (tests/data/engine/match_cases.yml), parsed end to end by the Sigma source.

Every case is a Sigma detection with events that must match and events that must not. The suite also
proves the prefilter requirement sound (house rule 8): across every rule x every event of the suite,
whenever a rule matches, one of its required literals occurs in the folded event text.
"""

from __future__ import annotations

from typing import Any as AnyType

import pytest
from match_support import compile_detection, event_text, load_cases

from ruleatlas.engine.matchers import field_names

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, AnyType]) -> None:
    compiled = compile_detection(case["detection"], case.get("placeholders"))
    errors = [p for p in compiled.problems if p.severity == "error"]
    assert not errors, [p.message for p in errors]
    assert len(compiled.rules) == 1
    rule = compiled.rules[0]
    for event in (*case["match"], *case["nomatch"]):  # generated code agrees with the matcher tree
        assert rule.match(event) == rule.matcher(event, {}), f"{case['name']}: codegen differs on {event!r}"
    for event in case["match"]:
        assert rule.match(event), f"{case['name']}: should match {event!r}"
        shown = rule.matched_fields(event)
        assert shown and set(shown) <= set(event) | {name for name, _ in field_names(rule.matcher)}, (
            f"{case['name']}: shows {shown!r}"
        )
    for event in case["nomatch"]:
        assert not rule.match(event), f"{case['name']}: should not match {event!r}"
        assert rule.matched_fields(event) == {}


def test_cases_cover_every_semantics_the_issue_names() -> None:
    names = {c["name"].split("_")[0] for c in CASES}
    for topic in (
        "fold",
        "cased",
        "wildcard",
        "escaped",
        "number",
        "compare",
        "null",
        "empty",
        "exists",
        "event",
        "neq",
        "regex",
        "cidr",
        "fieldref",
        "base64",
        "base64offset",
        "wide",
        "utf16le",
        "utf16be",
        "utf16",
        "windash",
        "expand",
        "time",
        "keywords",
        "condition",
    ):
        assert topic in names, topic


def test_shared_cache_gives_the_same_answers() -> None:
    """One cache per event shared by all rules (as the scanner does) changes no answer."""
    compiled = [(c, compile_detection(c["detection"], c.get("placeholders")).rules[0]) for c in CASES]
    events = [e for c in CASES for e in (*c["match"], *c["nomatch"])]
    for event in events:
        cache: dict[object, object] = {}
        for _case, rule in compiled:
            assert rule.match(event, cache) == rule.match(event), (rule.uid, event)


def test_required_literals_are_sound_over_the_suite() -> None:
    compiled = [(c["name"], compile_detection(c["detection"], c.get("placeholders")).rules[0]) for c in CASES]
    events = [e for c in CASES for e in (*c["match"], *c["nomatch"])]
    checked = with_literals = 0
    for name, rule in compiled:
        literals = rule.required_literals
        if literals is None:
            continue
        with_literals += 1
        assert all(lit == lit.casefold() and (len(lit) >= 3 or not lit.isascii()) for lit in literals), (
            name,
            literals,
        )
        for event in events:
            if rule.match(event):
                checked += 1
                text = event_text(event)
                assert any(lit in text for lit in literals), f"{name}: {literals} not in {text!r}"
    assert with_literals >= 20 and checked >= 40, (with_literals, checked)
