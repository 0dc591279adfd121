"""Elastic queries into stages and predicates, one language feature per test: EQL operators and their case,
sequences, pipes; kuery values, wildcards and nesting; ES|QL commands as stages with the columns they define;
query DSL filters; ML, threshold and indicator-match steps; and a query that does not parse."""

from __future__ import annotations

import pytest

from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import All, Any, CorrelationType, Expr, Kind, Not, Pred, Rule, StageOp, walk_preds
from ruleatlas.sources import elastic
from ruleatlas.sources.elastic.eql import parse_eql
from ruleatlas.sources.elastic.esql import parse_esql
from ruleatlas.sources.elastic.kuery import parse_kuery


def preds(expr: Expr | None) -> list[tuple[str | None, Kind, object, bool]]:
    return [(p.field, p.kind, p.value, p.cased) for p, _ in walk_preds(expr)]


def rule_of(rule_table: str, header: str = "") -> Rule:
    text = (
        f"[metadata]\nmaturity = 'production'\n{header}\n[rule]\nname = 'x'\nseverity = 'low'\n{rule_table}"
    )
    rules, problems = elastic.parse_file(
        text, "rules/windows/x.toml", "rules", repo_url="", commit="", companions={}
    )
    assert problems == [] and len(rules) == 1
    return rules[0]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('process.name == "a.exe"', [("process.name", Kind.EQ, "a.exe", True)]),
        ('process.name : "A.exe"', [("process.name", Kind.EQ, "A.exe", False)]),
        ('process.name : "*.exe"', [("process.name", Kind.ENDS_WITH, ".exe", False)]),
        ('process.args like "-enc*"', [("process.args", Kind.STARTS_WITH, "-enc", True)]),
        ('process.args like~ "*iex*"', [("process.args", Kind.CONTAINS, "iex", False)]),
        (
            r'file.path : "?:\\Users\\*\\x.dll"',
            [("file.path", Kind.WILDCARD, "?:\\Users\\\\*\\x.dll", False)],
        ),
        ('process.name regex~ "a.*"', [("process.name", Kind.REGEX, "a.*", False)]),
        ('stringContains(process.command_line, "x")', [("process.command_line", Kind.CONTAINS, "x", True)]),
        (
            'startsWith~(?file.name, "a", "b")',
            [("file.name", Kind.STARTS_WITH, "a", False)] * 1 + [("file.name", Kind.STARTS_WITH, "b", False)],
        ),
        ('cidrMatch(destination.ip, "10.0.0.0/8")', [("destination.ip", Kind.CIDR, "10.0.0.0/8", False)]),
        ("process.pid > 4", [("process.pid", Kind.GT, 4, False)]),
        ("process.parent.name != null", [("process.parent.name", Kind.EXISTS, True, False)]),
        ('x in~ ("A", "B")', [("x", Kind.EQ, "A", False), ("x", Kind.EQ, "B", False)]),
        ('process.name : """a\\b.exe"""', [("process.name", Kind.EQ, "a\\b.exe", False)]),
        ('process.name : ?"a\\b.exe"', [("process.name", Kind.EQ, "a\\b.exe", False)]),
        ("length(process.args) > 3", [("length(process.args)", Kind.GT, 3, False)]),
    ],
)
def test_eql_operators_and_case(condition: str, expected: list[tuple[object, ...]]) -> None:
    logic = parse_eql(f"process where {condition}")
    (stage,) = logic.stages
    assert (stage.op, stage.label) == (StageOp.FILTER, "process where")
    scope, *rest = walk_preds(stage.expr)
    assert scope[0] == Pred("event.category", Kind.EQ, "process", native="process where", scope=True)
    assert [(p.field, p.kind, p.value, p.cased) for p, _ in rest] == expected


def test_eql_negations_are_exclusions() -> None:
    stage = parse_eql('any where a : "x" and not b in ("y", "z") and c != "w"').stages[0]
    assert isinstance(stage.expr, All)
    assert [(p.field, neg) for p, neg in walk_preds(stage.expr)] == [
        ("a", False),
        ("b", True),
        ("b", True),
        ("c", True),
    ]


def test_eql_sequence_is_a_header_and_one_stage_per_member() -> None:
    query = (
        "sequence by host.id with maxspan=5m\n"
        '  [process where process.name : "a.exe"] by process.entity_id\n'
        '  ![file where file.name : "b"]\n'
        "  [network where destination.port == 443] with runs=2\n"
        'until [process where event.type == "end"]\n'
        "| head 5"
    )
    logic = parse_eql(query, first_line=20)
    assert logic.correlation is not None
    assert (logic.correlation.type, logic.correlation.rules, logic.correlation.group_by) == (
        CorrelationType.SEQUENCE,
        (),
        ("host.id",),
    )
    assert (logic.correlation.timespan, logic.correlation.timespan_seconds) == ("5m", 300)
    assert [(s.op, s.label, s.line) for s in logic.stages] == [
        (StageOp.SEQUENCE, "sequence", 20),
        (StageOp.FILTER, "1: process where", 21),
        (StageOp.FILTER, "missing 2: file where", 22),
        (StageOp.FILTER, "3: network where", 23),
        (StageOp.FILTER, "until", 24),
        (StageOp.TRANSFORM, "head", 25),
    ]
    assert logic.stages[0].text == "sequence by host.id with maxspan=5m"
    assert logic.stages[1].text == '[process where process.name : "a.exe"] by process.entity_id'
    assert isinstance(logic.stages[2].expr, Not) and isinstance(logic.stages[4].expr, Not)


def test_eql_sample_joins_without_order() -> None:
    logic = parse_eql('sample by host.id [process where a == "1"] [file where b == "2"]')
    assert logic.correlation is not None and logic.correlation.type == CorrelationType.TEMPORAL
    assert logic.correlation.group_by == ("host.id",)


def test_kuery_values() -> None:
    expr = parse_kuery(
        'event.category:process and process.name:(pwsh.exe or "power shell.exe") and '
        "process.args:*enc* and not user.name:SYSTEM and file:{ name:x\\*y } and port >= 8080 and "
        "tls.version:* and free text"
    )
    assert preds(expr) == [
        ("event.category", Kind.EQ, "process", True),
        ("process.name", Kind.EQ, "pwsh.exe", True),
        ("process.name", Kind.EQ, "power shell.exe", True),
        ("process.args", Kind.CONTAINS, "enc", True),
        ("user.name", Kind.EQ, "SYSTEM", True),
        ("file.name", Kind.EQ, "x*y", True),
        ("port", Kind.GE, 8080, False),
        ("tls.version", Kind.EXISTS, True, False),
        (None, Kind.EQ, "free text", True),
    ]
    assert isinstance(expr, All) and isinstance(expr.items[1], Any) and isinstance(expr.items[3], Not)
    assert next(p for p, _ in walk_preds(expr)).scope  # event.category selects data


def test_esql_commands_are_stages_with_their_columns() -> None:
    query = (
        "FROM logs-endpoint.events.process-* METADATA _id\n"
        '| WHERE TO_LOWER(process.name) == "cmd.exe" AND KQL("""process.args:/c""")\n'
        "| EVAL Esql.len = LENGTH(process.command_line)\n"
        "| STATS Esql.count = COUNT(*) BY host.id\n"
        "| WHERE Esql.count >= 5\n"
        '| GROK message "%{IP:Esql.ip}"\n'
        "| KEEP Esql.*, host.id\n"
        "| SORT Esql.count DESC\n"
        "| LIMIT 10"
    )
    logic = parse_esql(query, first_line=3)
    stages = logic.stages
    assert logic.correlation is not None and logic.correlation.type == CorrelationType.THRESHOLD
    assert (logic.correlation.rules, logic.correlation.group_by) == ((), ("host.id",))
    assert [(s.label, s.op, s.line, s.defines) for s in stages] == [
        ("from", StageOp.SOURCE, 3, ()),
        ("where", StageOp.FILTER, 4, ()),
        ("eval", StageOp.EXTEND, 5, ("Esql.len",)),
        ("stats", StageOp.AGGREGATE, 6, ("Esql.count",)),
        ("where", StageOp.HAVING, 7, ()),
        ("grok", StageOp.EXTEND, 8, ("Esql.ip",)),
        ("keep", StageOp.PROJECT, 9, ()),
        ("sort", StageOp.TRANSFORM, 10, ()),
        ("limit", StageOp.TRANSFORM, 11, ()),
    ]
    assert preds(stages[1].expr) == [
        ("process.name", Kind.EQ, "cmd.exe", False),
        ("process.args", Kind.EQ, "/c", True),
    ]
    assert stages[4].text == "WHERE Esql.count >= 5"


def test_esql_type_conversions_compare_the_field() -> None:
    stages = parse_esql(
        'FROM x | WHERE CIDR_MATCH(TO_IP(source.ip), "10.0.0.0/8") AND TO_STRING(x) LIKE "a*"'
    ).stages
    assert preds(stages[1].expr) == [
        ("source.ip", Kind.CIDR, "10.0.0.0/8", False),
        ("x", Kind.STARTS_WITH, "a", True),
    ]


def test_esql_threshold_after_stats_is_not_an_indicator() -> None:
    rule = rule_of(
        "type = 'esql'\nlanguage = 'esql'\nquery = '''\nFROM logs-*\n"
        "| WHERE process.name == \"x.exe\"\n| STATS Esql.n = COUNT(*) BY host.id\n| WHERE Esql.n > 5\n'''\n"
    )
    found = rule_indicators(rule)
    assert [i.native_field for i in found.positives] == ["process.name"]
    assert rule.logic_parsed and [s.line for s in rule.stages] == [10, 11, 12, 13]


def test_filters_ml_threshold_and_indicator_match_stages() -> None:
    kuery = rule_of(
        "type = 'query'\nlanguage = 'kuery'\nquery = 'event.code:4688'\n"
        "[[rule.filters]]\n[rule.filters.meta]\nnegate = true\n[rule.filters.query.wildcard.'file.path']\n"
        "case_insensitive = true\nvalue = 'C:\\\\Temp\\\\*'\n"
    )
    assert [s.op for s in kuery.stages] == [StageOp.FILTER, StageOp.FILTER]
    assert kuery.stages[1].label == "filter (negated)"
    assert isinstance(kuery.stages[1].expr, Not)
    assert preds(kuery.stages[1].expr) == [("file.path", Kind.STARTS_WITH, "C:\\Temp\\", False)]
    ml = rule_of(
        "type = 'machine_learning'\nmachine_learning_job_id = 'rare_process'\nanomaly_threshold = 50\n"
    )
    assert [(s.op, s.text, s.expr) for s in ml.stages] == [
        (StageOp.ML, "machine learning job rare_process ≥ 50", None)
    ]
    threshold = rule_of(
        "type = 'threshold'\nlanguage = 'kuery'\nquery = 'event.action:login'\n"
        "[rule.threshold]\nfield = ['source.ip']\nvalue = 25\n"
    )
    assert [s.op for s in threshold.stages] == [StageOp.FILTER, StageOp.AGGREGATE]
    assert threshold.stages[1].text == "count ≥ 25 by source.ip"
    assert threshold.correlation is not None and threshold.correlation.group_by == ("source.ip",)
    match = rule_of(
        "type = 'threat_match'\nlanguage = 'kuery'\nquery = 'file.hash.sha256:*'\n"
        "threat_index = ['logs-ti_*']\n"
        "[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = 'file.hash.sha256'\n"
        "type = 'mapping'\nvalue = 'threat.indicator.file.hash.sha256'\n"
    )
    assert match.stages[-1].op == StageOp.JOIN
    assert (
        match.stages[-1].text
        == "indicator match with logs-ti_*: file.hash.sha256 = threat.indicator.file.hash.sha256"
    )


def test_a_query_that_does_not_parse_keeps_text_stages_and_a_located_problem() -> None:
    text = (
        "[metadata]\nmaturity = 'production'\n\n[rule]\nname = 'x'\nseverity = 'low'\ntype = 'eql'\n"
        "language = 'eql'\nquery = '''\nprocess where\n  process.name == \n| head 1\n'''\n"
    )
    (rule,), problems = elastic.parse_file(
        text, "rules/windows/x.toml", "rules", repo_url="", commit="", companions={}
    )
    assert problems == [] and not rule.logic_parsed
    assert [(s.text, s.line, s.expr) for s in rule.stages] == [
        ("process where\n  process.name ==", 10, None),
        ("head 1", 12, None),
    ]
    (problem,) = rule.problems
    assert problem.file == "rules/windows/x.toml" and problem.line == 12 and problem.rule_uid == rule.uid
    assert problem.message.startswith("eql query does not parse: unexpected") and "column" in problem.message
    assert problem.hint


@pytest.mark.parametrize(
    ("language", "query"),
    [
        ("esql", "FROM x | WHERE " + "NOT " * 20_000 + "a == 1"),
        ("eql", "process where " + "(" * 20_000 + "a == 1" + ")" * 20_000),
        ("kuery", "a:(" * 20_000),
    ],
)
def test_hostile_queries_are_problems_or_stages_never_crashes(language: str, query: str) -> None:
    text = f"[rule]\nname = 'x'\ntype = '{language}'\nlanguage = '{language}'\nquery = '''\n{query}\n'''\n"
    (rule,), problems = elastic.parse_file(
        text, "rules/x.toml", "rules", repo_url="", commit="", companions={}
    )
    assert problems == []
    assert rule.logic_parsed or (rule.stages and [p.line for p in rule.problems] == [6])


@pytest.mark.parametrize(
    ("rule_table", "field", "value", "scope"),
    [
        # an endpoint event kind chooses the data, as Sigma's process_creation / file_rename category does
        (
            "type = 'eql'\nlanguage = 'eql'\n"
            'query = \'process where host.os.type == "linux" and event.action == "exec"\'\n',
            "event.action",
            "exec",
            True,
        ),
        (
            "type = 'eql'\nlanguage = 'eql'\n"
            'query = \'file where host.os.type == "windows" and event.action : ("rename", "creation")\'\n',
            "event.action",
            "creation",
            True,
        ),
        (
            "type = 'query'\nlanguage = 'kuery'\n"
            "query = 'event.action:ProcessRollup2 and host.os.type:linux'\n",
            "event.action",
            "ProcessRollup2",
            True,
        ),
        # a Windows Security event Sigma writes as an EventID stays an indicator, as EventID does
        (
            "type = 'query'\nlanguage = 'kuery'\n"
            "query = 'event.action:\"logged-in\" and host.os.type:windows'\n",
            "event.action",
            "logged-in",
            False,
        ),
        # a Kubernetes API verb is the operation, not the kind of record
        (
            "type = 'query'\nlanguage = 'kuery'\nindex = ['logs-kubernetes.audit_logs-*']\n"
            "query = 'event.action:exec'\n",
            "event.action",
            "exec",
            False,
        ),
        # a cloud API operation (CloudTrail eventName) stays an indicator
        (
            "type = 'query'\nlanguage = 'kuery'\nindex = ['logs-aws.cloudtrail-*']\n"
            "query = 'event.action:StopLogging'\n",
            "event.action",
            "StopLogging",
            False,
        ),
        # the host's operating system is scope under any of ECS's names for it
        (
            "type = 'query'\nlanguage = 'kuery'\nquery = 'host.os.name:Windows and process.name:x.exe'\n",
            "host.os.name",
            "Windows",
            True,
        ),
    ],
)
def test_event_kinds_are_scope_operations_are_indicators(
    rule_table: str, field: str, value: str, scope: bool
) -> None:
    rule = rule_of(rule_table)
    found = [p for s in rule.stages for p, _ in walk_preds(s.expr) if p.field == field and p.value == value]
    assert found and all(p.scope is scope for p in found)
    keys = {i.native_field for i in rule_indicators(rule).positives}
    assert (field in keys) is not scope
