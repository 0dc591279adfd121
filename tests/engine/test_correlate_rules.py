"""Compiling correlation rules: references, conditions, timespans, chains, and the problems reported."""

from __future__ import annotations

import pytest
from test_correlate_support import base, corr, ev, feed_all

from ruleatlas.engine.correlate import Correlator
from ruleatlas.engine.correlate_rules import (
    CONDITION_OPERATORS,
    CORRELATION_TYPES,
    compile_correlations,
    parse_timespan,
)
from ruleatlas.engine.correlate_window import AGGREGATES
from ruleatlas.model import Any, Ref, Rule, Stage

FAILED = base("failed_login")


def only_problem(correlations: list[Rule], bases: list[Rule]) -> tuple[str, str, str, int | None, str | None]:
    _specs, problems = compile_correlations(correlations, bases)
    assert len(problems) == 1, [p.message for p in problems]
    problem = problems[0]
    return problem.message, problem.severity, problem.file, problem.line, problem.rule_uid


def test_tables_follow_the_spec_words() -> None:
    # Spec v2.1 "Condition": gt, gte, lt, lte, eq, neq; types: the JSON schema's plus pySigma's value_median.
    assert set(CONDITION_OPERATORS) == {"gt", "gte", "lt", "lte", "eq", "neq"}
    assert set(AGGREGATES) == CORRELATION_TYPES
    assert {
        "event_count",
        "value_count",
        "temporal",
        "temporal_ordered",
        "value_sum",
        "value_avg",
        "value_percentile",
        "value_median",
    } == CORRELATION_TYPES


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("90m", 5400), ("1h", 3600), ("2d", 172800), ("1w", 604800), ("0m", None)],
)
def test_parse_timespan(text: str, seconds: int | None) -> None:
    assert parse_timespan(text) == seconds


def test_timespan_text_is_used_when_seconds_are_absent() -> None:
    rule = corr("event_count", ["failed_login"], timespan="2h", condition={"gte": 2})
    assert rule.correlation is not None
    rule.correlation.timespan_seconds = None
    specs, problems = compile_correlations([rule], [FAILED])
    assert problems == []
    assert specs[0].span_us == 7200 * 1_000_000


def test_problems_name_file_line_and_rule() -> None:
    rule = corr("event_count", ["no_such_rule"], condition={"gte": 2}, path="rules/bad.yml", line=7)
    assert only_problem([rule], [FAILED]) == (
        "rule reference 'no_such_rule' names no known rule (id or name)",
        "error",
        "rules/bad.yml",
        7,
        rule.uid,
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            corr("event_total", ["failed_login"], condition={"gte": 2}),
            "unknown correlation type 'event_total'",
        ),
        (
            corr("event_count", ["failed_login"], timespan="5x", condition={"gte": 2}),
            "invalid or missing timespan '5x'",
        ),
        (
            corr("event_count", ["failed_login"], condition={"gte": 2, "max": 3}),
            "unknown condition key(s): max",
        ),
        (
            corr("event_count", ["failed_login"], condition={"gte": "many"}),
            "condition 'gte: many' is not a number",
        ),
        (corr("event_count", ["failed_login"]), "event_count correlation has no condition"),
        (
            corr("value_sum", ["failed_login"], condition={"gt": 5}),
            "value_sum correlation needs 'field' in its condition",
        ),
        (
            corr("value_avg", ["failed_login"], condition={"gt": 5, "field": ["a", "b"]}),
            "value_avg aggregates one field, got 2: a, b",
        ),
        (
            corr("value_percentile", ["failed_login"], condition={"lte": 1, "field": "Image"}),
            "value_percentile correlation needs 'percentile' in its condition",
        ),
        (
            corr("value_percentile", ["failed_login"], condition={"lte": 1, "field": "x", "percentile": 150}),
            "percentile '150' is not a number from 0 to 100",
        ),
        (corr("event_count", [], condition={"gte": 1}), "correlation refers to no rules"),
    ],
    ids=[
        "type",
        "timespan",
        "condition-key",
        "condition-value",
        "no-condition",
        "no-field",
        "two-fields",
        "no-percentile",
        "percentile-range",
        "no-rules",
    ],
)
def test_rules_that_cannot_run_are_reported_and_left_out(rule: Rule, message: str) -> None:
    correlator = Correlator([rule], [FAILED])
    assert message in [p.message for p in correlator.problems if p.severity == "error"]
    assert correlator.correlations == []
    assert correlator.feed(FAILED, ev(0, User="x", a=1, x=1)) == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            corr("event_count", ["failed_login"], condition={"gte": 2, "field": "User"}),
            "condition 'field' is ignored by event_count correlations",
        ),
        (
            corr("value_sum", ["failed_login"], condition={"gte": 2, "field": "n", "percentile": 5}),
            "condition 'percentile' is ignored by value_sum correlations",
        ),
        (
            corr("temporal", ["failed_login"], aliases={"ip": {"nobody": "source.ip"}}),
            "alias 'ip' maps rule 'nobody', which this correlation does not refer to",
        ),
        (
            corr("event_count", ["failed_login"], group_by=[], condition={"gte": 2}),
            "correlation has no 'group-by': all matching events form one group",
        ),
    ],
    ids=["field", "percentile", "alias", "group-by"],
)
def test_doubtful_rules_run_with_a_warning(rule: Rule, message: str) -> None:
    message_found, severity, *_ = only_problem([rule], [FAILED])
    assert (message_found, severity) == (message, "warning")
    assert Correlator([rule], [FAILED]).correlations == [rule]


def test_condition_field_and_percentile_may_be_text() -> None:
    rule = corr(
        "value_percentile", ["failed_login"], condition={"field": "n", "percentile": "95", "gte": "10"}
    )
    specs, problems = compile_correlations([rule], [FAILED])
    assert problems == []
    assert (specs[0].percentile, [(t.operator, t.value) for t in specs[0].thresholds]) == (
        95.0,
        [("gte", 10)],
    )


def test_temporal_without_condition_needs_every_rule() -> None:
    specs, _ = compile_correlations([corr("temporal", ["a", "b", "c"])], [base("a"), base("b"), base("c")])
    assert [(t.operator, t.value) for t in specs[0].thresholds] == [("gte", 3)]


def test_references_prefer_the_correlation_file_then_its_repository() -> None:
    near = base("failed_login", path="rules/corr.yml", repo="sigma")
    same_repo = base("successful_login", path="rules/other.yml", repo="sigma")
    other_repo = base("successful_login", path="rules/other.yml", repo="hayabusa")
    elsewhere = base("failed_login", path="rules/elsewhere.yml", repo="sigma")
    rule = corr("temporal", ["failed_login", "successful_login"])
    rule.source.repo = "sigma"
    specs, problems = compile_correlations([rule], [elsewhere, near, other_repo, same_repo])
    assert problems == []
    assert [slot.rules for slot in specs[0].slots] == [(near,), (same_repo,)]


def test_reference_by_id_and_by_name() -> None:
    by_id = base("", rule_id="5638f7c0-ac70-491d-8465-2a65075e0d86")
    by_name = base("firewall_block", rule_id="other-id")
    rule = corr(
        "event_count", ["5638f7c0-ac70-491d-8465-2a65075e0d86", "firewall_block"], condition={"gte": 2}
    )
    specs, problems = compile_correlations([rule], [by_id, by_name])
    assert problems == []
    assert [slot.rules for slot in specs[0].slots] == [(by_id,), (by_name,)]


def test_ambiguous_reference_takes_every_match_with_a_warning() -> None:
    first = base("dup", path="a.yml")
    second = base("dup", path="b.yml")
    rule = corr("event_count", ["dup"], condition={"gte": 2})
    message, severity, *_ = only_problem([rule], [first, second])
    assert severity == "warning"
    assert (
        message
        == f"rule reference 'dup' matches 2 rules ({first.uid}, {second.uid}): matches of any of them count"
    )
    correlator = Correlator([rule], [first, second])
    alerts = feed_all(correlator, [(first, ev(0, User="u")), (second, ev(1, User="u"))])
    assert [a.count for a in alerts] == [2]


def test_reference_by_title_in_the_same_file_resolves_with_a_warning() -> None:
    # Suzaku's correlations name their base rules by title.
    failed_console = base("", rule_id="978c15f1-3468-42b2-bf0f-bb29ae6168cc", title="Failed Console Login")
    rule = corr("event_count", ["Failed Console Login"], group_by=["sourceIPAddress"], condition={"gte": 3})
    message, severity, *_ = only_problem([rule], [failed_console])
    assert severity == "warning"
    assert (
        message
        == f"rule reference 'Failed Console Login' is the title of {failed_console.uid}, not its id or name"
    )


def test_cycles_are_refused() -> None:
    first = corr("event_count", ["second"], name="first", condition={"gte": 1})
    second = corr("event_count", ["first"], name="second", condition={"gte": 1})
    loner = corr("event_count", ["failed_login"], name="loner", condition={"gte": 1})
    correlator = Correlator([first, second, loner], [FAILED])
    assert sorted((p.rule_uid, p.message) for p in correlator.problems) == [
        (first.uid, "correlation chain loops back to this rule"),
        (second.uid, "correlation chain loops back to this rule"),
    ]
    assert correlator.correlations == [loner]


def test_a_correlation_over_a_broken_one_does_not_run() -> None:
    broken = corr("value_sum", ["failed_login"], name="broken", condition={"gt": 1})  # no field
    outer = corr("temporal", ["broken", "failed_login"], name="outer")
    correlator = Correlator([outer, broken], [FAILED])
    assert [(p.rule_uid, p.message) for p in correlator.problems] == [
        (broken.uid, "value_sum correlation needs 'field' in its condition"),
        (outer.uid, f"refers to correlation(s) that cannot run: {broken.uid}"),
    ]
    assert correlator.correlations == []


def test_not_a_correlation_is_reported() -> None:
    assert only_problem([FAILED], [])[0] == "not a correlation rule (no 'correlation' section)"


# --- pySigma's extended temporal condition --------------------------------------------------------


def _extended(expression: str, expr: Any | Ref, ctype: str = "temporal") -> Rule:
    rule = corr(ctype, [], condition={"expression": expression})
    rule.stages = [Stage(0, "condition", "condition", expression, expr)]
    return rule


def test_extended_condition_holds_when_one_and_term_is_complete() -> None:
    from ruleatlas.model import All

    a, b, c = base("a"), base("b"), base("c")
    rule = _extended("a and b or c", Any((All((Ref("a"), Ref("b"))), Ref("c"))))
    correlator = Correlator([rule], [a, b, c])
    assert correlator.problems == []
    assert feed_all(correlator, [(a, ev(0, User="u")), (a, ev(1, User="u"))]) == []
    correlator = Correlator([rule], [a, b, c])
    assert [x.count for x in feed_all(correlator, [(a, ev(0, User="u")), (b, ev(1, User="u"))])] == [2]
    correlator = Correlator([rule], [a, b, c])
    assert [x.count for x in feed_all(correlator, [(c, ev(0, User="u"))])] == [1]


def test_extended_ordered_condition_needs_its_rules_in_listed_order() -> None:
    from ruleatlas.model import All

    a, b = base("a"), base("b")
    rule = _extended("a and b", All((Ref("a"), Ref("b"))), "temporal_ordered")
    correlator = Correlator([rule], [a, b])
    assert feed_all(correlator, [(b, ev(0, User="u")), (a, ev(1, User="u"))]) == []
    correlator = Correlator([rule], [a, b])
    assert len(feed_all(correlator, [(a, ev(0, User="u")), (b, ev(1, User="u"))])) == 1


def test_extended_condition_with_not_is_refused() -> None:
    from ruleatlas.model import All, Not

    rule = _extended("a and not b", All((Ref("a"), Not(Ref("b")))))
    message, severity, *_ = only_problem([rule], [base("a"), base("b")])
    assert (message, severity) == ("extended condition 'a and not b' negates a rule ('not')", "error")
