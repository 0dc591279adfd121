"""Sigma correlation documents: every type, the Correlation fields, stage 0, and invalid correlations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ruleatlas.model import All, Correlation, Not, Problem, Ref, Rule, RuleKind
from ruleatlas.sources.sigma_correlation import CORRELATION_TYPES, timespan_seconds

Parse = Callable[..., tuple[list[Rule], list[Problem]]]

CONDITIONS = {
    "event_count": ("condition:\n        gte: 100", {"gte": 100}),
    "value_count": ("condition:\n        field: User\n        gt: 10", {"field": "User", "gt": 10}),
    "temporal": ("", {}),
    "temporal_ordered": ("", {}),
    "value_sum": (
        "condition:\n        field: bytes_sent\n        gt: 1000000",
        {"field": "bytes_sent", "gt": 1000000},
    ),
    "value_avg": ("condition:\n        field: BytesOut\n        lte: 500", {"field": "BytesOut", "lte": 500}),
    "value_percentile": (
        "condition:\n        field: Image\n        percentile: 95\n        lt: 1",
        {"field": "Image", "percentile": 95, "lt": 1},
    ),
    "value_median": ("condition:\n        field: Size\n        eq: 3", {"field": "Size", "eq": 3}),
}


def correlation_text(ctype: str, condition: str) -> str:
    return (
        f"title: A {ctype} correlation\n"
        "id: 0e95725d-7320-415d-80f7-004da920fc11\n"
        "correlation:\n"
        f"    type: {ctype}\n"
        "    rules:\n"
        "        - rule_a\n"
        "        - 5638f7c0-ac70-491d-8465-2a65075e0d86\n"
        "    group-by:\n"
        "        - ComputerName\n"
        "    timespan: 90m\n" + (f"    {condition}\n" if condition else "") + "level: high\n"
    )


@pytest.mark.parametrize("ctype", CORRELATION_TYPES)
def test_every_correlation_type(ctype: str, parse: Parse) -> None:
    condition, expected = CONDITIONS[ctype]
    rules, problems = parse(correlation_text(ctype, condition), path="rules/mr_test.yml")
    assert problems == []
    [rule] = rules
    assert rule.problems == []
    assert rule.kind is RuleKind.CORRELATION
    assert rule.correlation == Correlation(
        type=ctype,
        rules=("rule_a", "5638f7c0-ac70-491d-8465-2a65075e0d86"),
        group_by=("ComputerName",),
        timespan="90m",
        timespan_seconds=5400,
        condition=expected,  # type: ignore[arg-type]
        aliases={},
        generate=False,
    )
    [stage] = rule.stages
    assert (stage.index, stage.label, stage.op) == (0, "condition", "condition")
    if condition:
        assert stage.line == 11
        assert stage.text == condition.split("\n", 1)[1].replace("        ", "")
    else:
        assert (stage.text, stage.line) == ("", 3)


def test_correlation_with_aliases_generate_and_extended_condition(parse: Parse) -> None:
    rules, _ = parse(
        """
        title: Aliased
        correlation:
            type: temporal
            rules: [internal_error, new_network_connection]
            group-by: [internal_ip]
            timespan: 10s
            generate: true
            aliases:
                internal_ip:
                    internal_error: destination.ip
                    new_network_connection: source.ip
            condition: internal_error and not new_network_connection
        """
    )
    correlation = rules[0].correlation
    assert correlation is not None
    assert correlation.aliases == {
        "internal_ip": {"internal_error": "destination.ip", "new_network_connection": "source.ip"}
    }
    assert correlation.generate is True
    assert correlation.timespan_seconds == 10
    assert correlation.condition == {"expression": "internal_error and not new_network_connection"}
    assert rules[0].stages[0].expr == All((Ref("internal_error"), Not(Ref("new_network_connection"))))
    assert rules[0].problems == []


def test_correlation_next_to_its_rules_in_one_file(parse: Parse) -> None:
    rules, problems = parse(
        """
        title: Brute force then success
        correlation:
            type: temporal_ordered
            rules: [many_failed, success]
            group-by: [User]
            timespan: 10m
        ---
        title: Success
        name: success
        logsource: {product: windows, service: security}
        detection:
            selection: {EventID: 4624}
            condition: selection
        """,
        path="rules/mr_brute.yml",
    )
    assert problems == []
    assert [(r.uid, r.kind, r.name) for r in rules] == [
        ("sigma/mr_brute", RuleKind.CORRELATION, ""),
        ("sigma/mr_brute-2", RuleKind.DETECTION, "success"),
    ]


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        (
            "    type: event_cnt\n    rules: [a]\n    timespan: 1h\n    condition: {gte: 1}\n",
            "unknown correlation type 'event_cnt'",
            3,
        ),
        ("    rules: [a]\n    timespan: 1h\n    condition: {gte: 1}\n", "correlation has no 'type'", 2),
        (
            "    type: event_count\n    timespan: 1h\n    condition: {gte: 1}\n",
            "correlation has no 'rules'",
            2,
        ),
        (
            "    type: event_count\n    rules: [a]\n    condition: {gte: 1}\n",
            "correlation has no 'timespan'",
            2,
        ),
        (
            "    type: event_count\n    rules: [a]\n    timespan: 1 hour\n    condition: {gte: 1}\n",
            "invalid timespan '1 hour'",
            5,
        ),
        (
            "    type: event_count\n    rules: [a]\n    timespan: 1h\n",
            "event_count correlation has no 'condition'",
            2,
        ),
        (
            "    type: event_count\n    rules: [a]\n    timespan: 1h\n    condition: {gte: 1, lt: 5}\n",
            "correlation condition must have exactly one of gt, gte, lt, lte, eq, neq (found 2)",
            6,
        ),
        (
            "    type: event_count\n    rules: [a]\n    timespan: 1h\n    condition: {gte: many}\n",
            "correlation condition 'gte: many' needs a whole number",
            6,
        ),
        (
            "    type: value_count\n    rules: [a]\n    timespan: 1h\n    condition: {gte: 3}\n",
            "value_count correlation needs 'field' in its condition",
            6,
        ),
        (
            "    type: event_count\n    rules: [a]\n    timespan: 1h\n    condition: a and b\n",
            "correlation condition must be a map such as {gte: 10}",
            6,
        ),
        (
            "    type: temporal\n    rules: [a]\n    timespan: 1h\n    condition: a and (b\n",
            "correlation condition: unbalanced parentheses: '(' at column 7 is not closed",
            6,
        ),
        (
            "    type: temporal\n    rules: [a]\n    timespan: 1h\n    generate: maybe\n",
            "'generate' must be true or false",
            6,
        ),
        (
            "    type: temporal\n    rules: [a]\n    timespan: 1h\n    aliases: [x]\n",
            "correlation 'aliases' must map",
            6,
        ),
    ],
)
def test_invalid_correlations_are_rule_problems(body: str, message: str, line: int, parse: Parse) -> None:
    rules, problems = parse("title: Bad correlation\ncorrelation:\n" + body)
    assert problems == []
    [rule] = rules
    assert rule.kind is RuleKind.CORRELATION
    matching = [p for p in rule.problems if p.message.startswith(message)]
    assert len(matching) == 1, rule.problems
    assert (matching[0].line, matching[0].severity, matching[0].file) == (
        line,
        "error",
        "rules/windows/sample_rule.yml",
    )


def test_timespans() -> None:
    assert timespan_seconds("30s") == 30
    assert timespan_seconds("90m") == 5400
    assert timespan_seconds("2h") == 7200
    assert timespan_seconds("1d") == 86400
    assert timespan_seconds("1w") == 604800
    assert timespan_seconds("0m") is None
    assert timespan_seconds("5 m") is None
