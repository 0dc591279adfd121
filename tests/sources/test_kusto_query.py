"""KQL queries → stages and predicates: the operator table, lets (scalar, list, tabular, functions), joins,
unions, watchlists, summarize/having, output columns, and parse errors with their place."""

from __future__ import annotations

import pytest

from ruleatlas.analysis.indicators import rule_logic
from ruleatlas.model import MEMBERSHIP, All, Any, Expr, Kind, Not, Pred, Ref, StageOp, walk_preds
from ruleatlas.sources import kusto
from ruleatlas.sources.kusto.kql_lexer import KqlSyntaxError
from ruleatlas.sources.kusto.kql_stages import QueryLogic, query_logic


def only_pred(logic: QueryLogic, stage: int = 1) -> Expr | None:
    return logic.stages[stage].expr


# (where clause, expected expression) — the operator table of the module docstring, row by row
OPERATORS: list[tuple[str, Expr]] = [
    ('F == "a"', Pred("F", Kind.EQ, "a", cased=True)),
    ('F =~ "a"', Pred("F", Kind.EQ, "a")),
    ('F != "a"', Not(Pred("F", Kind.EQ, "a", cased=True))),
    ('F !~ "a"', Not(Pred("F", Kind.EQ, "a"))),
    ('F has "a"', Pred("F", Kind.CONTAINS, "a", implies_only=True)),
    ('F has_cs "a"', Pred("F", Kind.CONTAINS, "a", cased=True, implies_only=True)),
    ('F !has "a"', Not(Pred("F", Kind.CONTAINS, "a", implies_only=True))),
    ('F contains "a"', Pred("F", Kind.CONTAINS, "a")),
    ('F contains_cs "a"', Pred("F", Kind.CONTAINS, "a", cased=True)),
    ('F !contains "a"', Not(Pred("F", Kind.CONTAINS, "a"))),
    ('F startswith "a"', Pred("F", Kind.STARTS_WITH, "a")),
    ('F endswith_cs "a"', Pred("F", Kind.ENDS_WITH, "a", cased=True)),
    ('F !endswith "a"', Not(Pred("F", Kind.ENDS_WITH, "a"))),
    ('F hasprefix "a"', Pred("F", Kind.CONTAINS, "a", implies_only=True)),
    ('F hassuffix "a"', Pred("F", Kind.CONTAINS, "a", implies_only=True)),
    ('F matches regex "a.*b"', Pred("F", Kind.REGEX, "a.*b", cased=True)),
    ('F in ("a", "b")', Any((Pred("F", Kind.EQ, "a", cased=True), Pred("F", Kind.EQ, "b", cased=True)))),
    ('F in~ ("a", "b")', Any((Pred("F", Kind.EQ, "a"), Pred("F", Kind.EQ, "b")))),
    ('F !in~ ("a")', Not(Pred("F", Kind.EQ, "a"))),
    (
        'F has_any ("a", "b")',
        Any(
            (
                Pred("F", Kind.CONTAINS, "a", implies_only=True),
                Pred("F", Kind.CONTAINS, "b", implies_only=True),
            )
        ),
    ),
    (
        'F has_all ("a", "b")',
        All(
            (
                Pred("F", Kind.CONTAINS, "a", implies_only=True),
                Pred("F", Kind.CONTAINS, "b", implies_only=True),
            )
        ),
    ),
    ("F between (1 .. 5)", All((Pred("F", Kind.GE, 1), Pred("F", Kind.LE, 5)))),
    ("F > 3", Pred("F", Kind.GT, 3)),
    ("3 < F", Pred("F", Kind.GT, 3)),
    ("isnotempty(F)", Pred("F", Kind.EXISTS, True)),
    ("isempty(F)", Pred("F", Kind.EXISTS, False)),
    ('ipv4_is_in_range(F, "10.0.0.0/8")', Pred("F", Kind.CIDR, "10.0.0.0/8")),
    ('tolower(F) == "a"', Pred("F", Kind.EQ, "a")),
    ("F == G", Pred("F", Kind.FIELDREF, "G", cased=True)),
    ('not(F has "a")', Not(Pred("F", Kind.CONTAINS, "a", implies_only=True))),
    ('* has "a"', Pred(None, Kind.CONTAINS, "a", implies_only=True)),
]


@pytest.mark.parametrize(("where", "expected"), OPERATORS)
def test_operator_table(where: str, expected: Expr) -> None:
    expr = only_pred(query_logic(f"T | where {where}"))
    assert _without_native(expr) == expected
    assert all(p.native and p.native in where for p, _ in walk_preds(expr))  # the rule's own words


def _without_native(expr: Expr | None) -> Expr | None:
    if isinstance(expr, Pred):
        return Pred(
            expr.field,
            expr.kind,
            expr.value,
            expr.cased,
            expr.transforms,
            expr.regex_flags,
            implies_only=expr.implies_only,
        )
    if isinstance(expr, Not):
        return Not(_without_native(expr.item))  # type: ignore[arg-type]
    if isinstance(expr, All | Any):
        return type(expr)(tuple(_without_native(i) for i in expr.items))  # type: ignore[misc]
    return expr


def test_boolean_structure_is_kept() -> None:
    expr = only_pred(query_logic('T | where A == 1 and (B has "x" or C has "y") and not(D == 2)'))
    assert isinstance(expr, All) and len(expr.items) == 3
    assert isinstance(expr.items[1], Any) and isinstance(expr.items[2], Not)


def test_scalar_and_list_lets_are_inlined_and_tabular_lets_referenced() -> None:
    query = (
        'let procs = dynamic(["a.exe", "b.exe"]);\n'
        "let threshold = 5;\n"
        'let admins = _GetWatchlist("Admins") | project SearchKey;\n'
        "let base = DeviceProcessEvents | where FileName in~ (procs);\n"
        "base\n"
        "| where AccountName !in (admins)\n"
        "| summarize n = count() by DeviceName\n"
        "| where n > threshold"
    )
    logic = query_logic(query, first_line=10)
    assert [(s.op, s.label, s.line) for s in logic.stages] == [
        (StageOp.LET, "procs", 10),
        (StageOp.LET, "threshold", 11),
        (StageOp.LET, "admins", 12),
        (StageOp.LET, "base", 13),
        (StageOp.SOURCE, "base", 14),
        (StageOp.FILTER, "where", 15),
        (StageOp.AGGREGATE, "summarize", 16),
        (StageOp.HAVING, "where", 17),
    ]
    base = logic.stages[3].expr
    assert isinstance(base, Any) and [p.value for p, _ in walk_preds(base)] == ["a.exe", "b.exe"]
    assert all(p.native == "FileName in~ (procs)" for p, _ in walk_preds(base))  # the let's name kept
    assert logic.stages[4].expr == Ref("base")
    watch = logic.stages[5].expr
    assert isinstance(watch, Not) and isinstance(watch.item, Pred)
    assert (watch.item.value, watch.item.transforms) == ("Admins", (MEMBERSHIP,))  # "member of Admins"
    assert logic.watchlists == ["Admins"]
    having = logic.stages[7].expr
    assert isinstance(having, Pred) and (having.field, having.value) == ("n", 5)
    assert logic.stages[6].defines == ("n",)
    assert (logic.group_by, logic.having, logic.output_fields) == (
        ("DeviceName",),
        "where n > threshold",
        ("DeviceName", "n"),
    )
    logic_expr = rule_logic(logic.stages)  # the source's reference followed into the let
    assert [p.field for p, _ in walk_preds(logic_expr)] == ["FileName", "FileName", "AccountName"]
    assert logic.tables == ["DeviceProcessEvents"]


def test_joins_anti_joins_and_unions() -> None:
    query = (
        "SecurityEvent | where EventID == 4688\n"
        "| join kind=leftanti (SecurityEvent | where EventID == 4624) on Computer\n"
        "| join (Syslog | where Facility == 'auth') on $left.Computer == $right.HostName\n"
        "| lookup kind=leftouter (Heartbeat | where Category == 'x') on Computer"
    )
    logic = query_logic(query)
    labels = [(s.op, s.label) for s in logic.stages]
    assert (StageOp.LET, "join 1") in labels and (StageOp.LET, "join 2") in labels
    joins = [s for s in logic.stages if s.op == StageOp.JOIN]
    assert [s.expr for s in joins] == [Not(Ref("join 1")), Ref("join 2"), None]  # a lookup filters nothing
    positives = {p.value: neg for p, neg in walk_preds(rule_logic(logic.stages))}
    assert positives == {4688: False, 4624: True, "auth": False}  # the anti join's side is an exclusion
    union = query_logic("union SigninLogs, (AuditLogs | where OperationName == 'x') | where A == 1")
    assert union.stages[1].op == StageOp.SOURCE and union.stages[1].expr == Ref("union 1")
    assert union.tables == ["SigninLogs", "AuditLogs"]


def test_extend_parse_and_project_columns() -> None:
    logic = query_logic(
        "T | extend X = tostring(X), Y = strlen(A)\n"
        '| parse Msg with * "user=" User:string " " *\n'
        "| project-rename Account = User\n"
        "| project-away A"
    )
    assert logic.stages[1].defines == ("Y",)  # X = tostring(X) keeps X's meaning: predicates on it count
    assert logic.stages[2].defines == ("User",)
    assert logic.stages[3].op == StageOp.PROJECT and logic.stages[3].defines == ("Account",)
    assert logic.output_fields == ("X", "Y", "User", "Account")


def test_function_lets_and_odd_syntax_parse() -> None:
    query = (
        "let f = (name:string) { SigninLogs | where UserPrincipalName =~ name };\n"
        "let t = datatable(a:string)['x'];\n"
        "f('bob') | extend d = datetime(2021-01-01T00:00:00Z), g = parse_json(P).a.['b c']\n"
        "| mv-expand bagexpansion=array g | evaluate bag_unpack(g) | where x containscs 'Q'\n"
        "| top 10 by d desc | render timechart"
    )
    logic = query_logic(query)
    assert [s.op for s in logic.stages][-4:] == [
        StageOp.TRANSFORM,
        StageOp.FILTER,
        StageOp.TRANSFORM,
        StageOp.TRANSFORM,
    ]
    assert logic.stages[2].expr == Ref("f")


@pytest.mark.parametrize(
    ("query", "line", "column"),
    [
        ("T\n| where X == @(abc)", 2, 14),
        ("T | where (A == 1", 1, 18),
        ('T | where A == "open', 1, 16),
        ("let x = 1;", 1, 1),
    ],
)
def test_syntax_errors_say_where(query: str, line: int, column: int) -> None:
    with pytest.raises(KqlSyntaxError) as caught:
        query_logic(query)
    assert (caught.value.line, caught.value.column) == (line, column)


def test_a_query_that_does_not_parse_keeps_text_stages_and_a_problem() -> None:
    text = (
        "id: 1\nname: Broken\nseverity: Low\nquery: |\n  SecurityEvent\n"
        "  | where X == @(bad)\n  | project X\n"
    )
    rules, errors = kusto.parse_file(
        text, "Detections/x/Broken.yaml", "Detections", repo_url="", commit="", companions={}
    )
    assert errors == []
    rule = rules[0]
    assert not rule.logic_parsed
    assert [(s.op, s.text, s.line, s.expr) for s in rule.stages] == [
        (StageOp.SOURCE, "SecurityEvent", 5, None),
        (StageOp.TRANSFORM, "where X == @(bad)", 6, None),
        (StageOp.TRANSFORM, "project X", 7, None),
    ]
    [problem] = rule.problems
    assert (problem.file, problem.line, problem.severity) == ("Detections/x/Broken.yaml", 6, "warning")
    assert problem.message == "KQL query does not parse: unexpected character '@' at column 14"
    assert "text stages" in problem.hint


def test_thousands_of_nested_ors_are_a_problem_not_a_crash() -> None:
    deep = "T | where " + " or ".join(f"A == {n}" for n in range(20_000))  # read, but too deep to convert
    unclosed = "T | where " + "(" * 5000  # too deep to read
    for query in (deep, unclosed):
        text = "name: x\nquery: |\n  " + query + "\n"
        rules, _ = kusto.parse_file(
            text, "Detections/x.yaml", "Detections", repo_url="", commit="", companions={}
        )
        assert not rules[0].logic_parsed
        assert [(p.line, p.severity) for p in rules[0].problems] == [(3, "warning")]
