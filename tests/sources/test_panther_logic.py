"""Panther logic readers on small inputs: Python reduced by ast (guards, polarity, helpers, policies),
the SQL subset, and the unit-test oracle."""

from __future__ import annotations

import ast

from ruleatlas.model import All, Any, Kind, Not, Pred, Ref, StageOp
from ruleatlas.sources.panther.oracle import alerting_events, evaluate
from ruleatlas.sources.panther.python_logic import PythonLogic, alert_context_keys, reduce_python
from ruleatlas.sources.panther.sql import parse_sql


def reduce(source: str) -> PythonLogic:
    logic = reduce_python(source, ast.parse(source))
    assert logic is not None
    return logic


def test_a_guard_then_a_return_is_an_and() -> None:
    logic = reduce(
        "def rule(event):\n"
        "    if not event.get('eventSource', '').endswith('.amazonaws.com'):\n"
        "        return False\n"
        "    return event.deep_get('requestParameters', 'name') == 'x'\n"
    )
    assert logic.complete
    assert logic.expr == All(
        (
            Pred(
                "eventSource",
                Kind.ENDS_WITH,
                ".amazonaws.com",
                cased=True,
                native="event.get('eventSource', '').endswith('.amazonaws.com')",
            ),
            Pred(
                "requestParameters.name",
                Kind.EQ,
                "x",
                cased=True,
                native="event.deep_get('requestParameters', 'name') == 'x'",
            ),
        )
    )


def test_an_unreadable_and_operand_is_dropped_only_where_that_is_sound() -> None:
    positive = reduce("def rule(event):\n    return event.get('a') == 1 and mystery(event)\n")
    assert not positive.complete and positive.expr == Pred(
        "a", Kind.EQ, 1, cased=True, native="event.get('a') == 1"
    )
    # under a guard the same `and` would rule out too much: nothing is kept of it
    guard = reduce(
        "def rule(event):\n"
        "    if event.get('a') == 1 and mystery(event):\n"
        "        return False\n"
        "    return event.get('b') == 2\n"
    )
    assert guard.expr == Pred("b", Kind.EQ, 2, cased=True, native="event.get('b') == 2")


def test_membership_helpers_and_lowercase() -> None:
    logic = reduce(
        "from panther_aws_helpers import aws_cloudtrail_success\n"
        "NAMES = {'StopLogging', 'DeleteTrail'}\n"
        "def rule(event):\n"
        "    return aws_cloudtrail_success(event) and event.get('eventName', '').lower() in NAMES\n"
    )
    assert logic.complete and isinstance(logic.expr, All)
    success, names = logic.expr.items[0], logic.expr.items[-1]
    assert success == Not(
        Pred("errorCode", Kind.EXISTS, True, cased=True, native="aws_cloudtrail_success(event)")
    )
    assert isinstance(names, Any) and {p.value for p in names.items if isinstance(p, Pred)} == {
        "StopLogging",
        "DeleteTrail",
    }
    assert all(isinstance(p, Pred) and not p.cased for p in names.items)


def test_a_policy_alerts_when_it_is_false() -> None:
    logic = reduce("def policy(resource):\n    return resource.get('Encrypted') is True\n")
    assert logic.function == "policy" and isinstance(logic.expr, Not)
    partial = reduce("def policy(resource):\n    return resource.get('A') and mystery(resource)\n")
    assert partial.expr is None  # the negation of a partial compliance condition is not necessary


def test_loops_that_only_reject_are_skipped() -> None:
    logic = reduce(
        "def rule(event):\n"
        "    for x in event.get('list', []):\n"
        "        if x == 'bad':\n"
        "            return False\n"
        "    return event.get('ok') == 'yes'\n"
    )
    assert logic.expr == Pred("ok", Kind.EQ, "yes", cased=True, native="event.get('ok') == 'yes'")
    assert not logic.complete and logic.unreduced[0].startswith("for x in")


def test_alert_context_keys() -> None:
    tree = ast.parse("def alert_context(event):\n    return {'user': 1, 'ip': 2}\n")
    assert alert_context_keys(tree) == ("user", "ip")


def test_sql_stages() -> None:
    query = (
        "SELECT userIdentity:arn AS arn, count(*) AS n\n"
        "FROM panther_logs.public.aws_cloudtrail\n"
        "WHERE eventName = 'StopLogging' AND userAgent ILIKE '%boto%' AND p_occurs_since(1d)\n"
        "GROUP BY userIdentity:arn\n"
        "HAVING count(*) > 2\n"
    )
    logic = parse_sql(query, "q.yml", 10)
    assert logic.problems == []
    assert [s.op for s in logic.stages] == [
        StageOp.SOURCE,
        StageOp.FILTER,
        StageOp.AGGREGATE,
        StageOp.HAVING,
        StageOp.PROJECT,
    ]
    assert logic.tables == ["panther_logs.public.aws_cloudtrail"]
    assert logic.output_fields == ("arn", "n")
    where = logic.stages[1].expr
    assert isinstance(where, All) and where.items[0] == Pred(
        "eventName", Kind.EQ, "StopLogging", cased=True, native="eventName = 'StopLogging'"
    )
    assert where.items[1] == Pred("userAgent", Kind.CONTAINS, "boto", native="userAgent ILIKE '%boto%'")
    assert isinstance(where.items[2], Pred) and where.items[2].scope
    assert logic.stages[1].line == 12


def test_sql_outside_the_subset_is_text_with_a_problem() -> None:
    # a JOIN after WHERE is not SQL (kubernetes_ioc_activity_query.yml writes one)
    logic = parse_sql("SELECT a FROM t WHERE x = 1\nINNER JOIN u ON a = b", "q.yml", 3)
    assert [p.file for p in logic.problems] == ["q.yml"] and logic.problems[0].line == 4
    assert logic.stages and all(s.expr is None for s in logic.stages)
    macro = parse_sql("{{ statistical_anomaly('x') }}", "q.yml", 3)  # no template defines it
    assert "'statistical_anomaly' is undefined" in macro.problems[0].message


def test_snowflake_sql_beyond_one_select() -> None:
    query = (
        "WITH recent AS (SELECT * FROM panther_logs.public.okta_systemlog WHERE eventType = 'x')\n"
        "SELECT * FROM recent r WHERE r.ip IS NOT NULL AND NOT EXISTS (SELECT 1 FROM h WHERE h.ip = r.ip)\n"
        "  AND p_event_time >= TIMESTAMP '2025-11-24 03:00:00' AND (a, b) IN (SELECT a, b FROM h)\n"
        "UNION ALL SELECT * FROM recent NATURAL JOIN h\n"
        "MINUS SELECT * FROM t MATCH_RECOGNIZE (PARTITION BY u PATTERN (s f+) DEFINE f AS e IS NULL)"
    )
    logic = parse_sql(query, "q.yml", 1)
    assert logic.problems == []
    assert [(s.label, s.op) for s in logic.stages] == [
        ("recent", StageOp.LET),
        ("FROM", StageOp.SOURCE),
        ("WHERE", StageOp.FILTER),
        ("SELECT", StageOp.PROJECT),
        ("UNION ALL", StageOp.JOIN),
        ("MINUS", StageOp.JOIN),
    ]
    assert logic.stages[0].expr == Pred("eventType", Kind.EQ, "x", cased=True, native="eventType = 'x'")
    assert logic.stages[1].expr == Ref("recent")
    assert logic.tables == ["panther_logs.public.okta_systemlog", "h", "t"]
    where = logic.stages[2].expr
    assert isinstance(where, All)
    assert Pred("r.ip", Kind.EXISTS, True, native="r.ip IS NOT NULL") in where.items
    typed = "p_event_time >= TIMESTAMP '2025-11-24 03:00:00'"
    assert Pred("p_event_time", Kind.GE, "2025-11-24 03:00:00", cased=True, native=typed) in where.items
    recognize = parse_sql(
        "SELECT * FROM t MATCH_RECOGNIZE (PATTERN (a b+) DEFINE a AS x = 'y)') HAVING n > 5", "q.yml", 1
    )
    assert recognize.problems == []
    assert [s.op for s in recognize.stages] == [
        StageOp.SOURCE,
        StageOp.SEQUENCE,
        StageOp.HAVING,
        StageOp.PROJECT,
    ]


def test_oracle_is_three_valued() -> None:
    tests = [
        {"ExpectedResult": True, "Log": {"eventtype": "user.session.start", "a": {"b": ["x", "y"]}}},
        {"ExpectedResult": False, "Log": {}},
    ]
    [event] = alerting_events(tests, policy=False)
    assert evaluate(Pred("eventType", Kind.EQ, "user.session.start", cased=True), event) is True
    assert evaluate(Pred("a.b", Kind.CONTAINS, "y", cased=True), event) is True
    assert evaluate(Not(Pred("a.b", Kind.CONTAINS, "y", cased=True)), event) is False
    unknown = Pred("user", Kind.EQ, "u", native='event.udm("user") == "u"')
    assert evaluate(All((unknown, Pred("a.b", Kind.EQ, "x"))), event) is None


def test_hostile_nesting_is_a_problem_not_a_crash() -> None:
    deep = "(" * 3000 + "a = 1" + ")" * 3000
    logic = parse_sql(f"SELECT x FROM t WHERE {deep}", "q.yml", 1)
    assert logic.problems and logic.stages  # kept as text
    from ruleatlas.sources.panther import parse_file

    condition = " and ".join(f"event.get('f{i}') == {i}" for i in range(3000))
    rules, errors = parse_file(
        "AnalysisType: rule\nRuleID: X\nFilename: x.py\nLogTypes: [AWS.CloudTrail]\n",
        "rules/x.yml",
        "rules",
        repo_url="r",
        commit="c",
        companions={"rules/x.py": f"def rule(event):\n    return {condition}\n"},
    )
    assert errors == [] and len(rules) == 1  # read (or a problem), never a crash
