"""YARA-L sections → stages and predicates: the comparison table (nocase, regexes, lists, cidr, strings
functions), event variables as search stages, joins as fieldref, placeholder bindings, the condition's
references, outcome fields, and sections that do not parse."""

from __future__ import annotations

import pytest

from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import MEMBERSHIP, All, Any, Expr, Kind, Not, Pred, Ref, Rule, StageOp, walk_preds
from ruleatlas.sources import yaral


def rule_of(events: str, condition: str = "$e", extra: str = "") -> Rule:
    text = (
        f'rule t {{\n  meta:\n    author = "x"\n  events:\n{events}\n{extra}'
        f"  condition:\n    {condition}\n}}\n"
    )
    rules, problems = yaral.parse_file(
        text, "rules/community/t.yaral", "community", repo_url="", commit="", companions={}
    )
    assert problems == []
    return rules[0]


def bare(expr: Expr | None) -> Expr | None:
    """The expression without `native` texts, to compare with a table row."""
    if isinstance(expr, Pred):
        return Pred(
            expr.field, expr.kind, expr.value, expr.cased, expr.transforms, expr.regex_flags, "", expr.scope
        )
    if isinstance(expr, Not):
        return Not(bare(expr.item))  # type: ignore[arg-type]
    if isinstance(expr, All | Any):
        return type(expr)(tuple(bare(i) for i in expr.items))  # type: ignore[misc]
    return expr


F = "principal.process.command_line"
COMPARISONS: list[tuple[str, Expr]] = [
    ('$e.principal.process.command_line = "a"', Pred(F, Kind.EQ, "a", cased=True)),
    ('$e.principal.process.command_line = "a" nocase', Pred(F, Kind.EQ, "a")),
    ('$e.principal.process.command_line != "a"', Not(Pred(F, Kind.EQ, "a", cased=True))),
    ("$e.principal.process.command_line = /a.b/ nocase", Pred(F, Kind.REGEX, "a.b", regex_flags="i")),
    ("$e.principal.process.command_line = /a.b/", Pred(F, Kind.REGEX, "a.b", cased=True)),
    (
        "re.regex($e.principal.process.command_line, `\\\\x\\.exe$`) nocase",
        Pred(F, Kind.REGEX, "\\\\x\\.exe$", regex_flags="i"),
    ),
    ('re.regex($e.principal.process.command_line, "\\\\.exe$")', Pred(F, Kind.REGEX, "\\.exe$", cased=True)),
    ('not re.regex($e.principal.process.command_line, "x")', Not(Pred(F, Kind.REGEX, "x", cased=True))),
    (
        'strings.contains(strings.to_lower($e.principal.process.command_line), "abc")',
        Pred(F, Kind.CONTAINS, "abc"),
    ),
    (
        'strings.starts_with($e.principal.process.command_line, "a")',
        Pred(F, Kind.STARTS_WITH, "a", cased=True),
    ),
    ('net.ip_in_range_cidr($e.principal.ip, "10.0.0.0/8")', Pred("principal.ip", Kind.CIDR, "10.0.0.0/8")),
    ("$e.principal.process.command_line in %bad_cmds", Pred(F, Kind.EQ, "%bad_cmds", True, (MEMBERSHIP,))),
    (
        "$e.principal.process.command_line not in regex %bad nocase",
        Not(Pred(F, Kind.REGEX, "%bad", transforms=(MEMBERSHIP,))),
    ),
    ("$e.principal.ip in cidr %nets", Pred("principal.ip", Kind.CIDR, "%nets", transforms=(MEMBERSHIP,))),
    ('$e.principal.process.command_line != ""', Pred(F, Kind.EXISTS, True)),
    ("$e.target.port > 1024", Pred("target.port", Kind.GT, 1024)),
    ("$e.target.port = -1", Pred("target.port", Kind.EQ, -1)),
    (
        '$e.metadata.event_type = "PROCESS_LAUNCH"',
        Pred("metadata.event_type", Kind.EQ, "PROCESS_LAUNCH", cased=True, scope=True),
    ),
    ('$e.target.labels["k"] = "v"', Pred('target.labels["k"]', Kind.EQ, "v", cased=True)),
    (
        '$e.a = "x" OR $e.b = "y"',
        Any((Pred("a", Kind.EQ, "x", cased=True), Pred("b", Kind.EQ, "y", cased=True))),
    ),
]


@pytest.mark.parametrize(("statement", "expected"), COMPARISONS)
def test_comparison_table(statement: str, expected: Expr) -> None:
    rule = rule_of(f"    {statement}")
    search = rule.stages[1]
    assert (search.op, search.label) == (StageOp.SEARCH, "$e")
    assert bare(search.expr) == expected


def test_event_variables_joins_bindings_and_the_condition() -> None:
    rule = rule_of(
        '    $a.metadata.event_type = "USER_LOGIN"\n'
        "    $a.target.user.userid = $user\n"
        '    $b.metadata.event_type = "PROCESS_LAUNCH"\n'
        "    $b.principal.hostname = $a.principal.hostname\n"
        "    $b.target.process.file.full_path = /\\\\whoami\\.exe$/ nocase",
        condition="$a and #b > 2 and !$c",
        extra=(
            "  match:\n    $user over 10m\n  outcome:\n"
            '    $risk_score = max(if($b.x = "y", 80, 10))\n'
            "    $hosts = array_distinct($b.principal.hostname)\n"
        ),
    )
    labels = [(s.op, s.label) for s in rule.stages]
    assert labels == [
        (StageOp.CONDITION, "condition"),
        (StageOp.SEARCH, "$a"),
        (StageOp.SEARCH, "$b"),
        (StageOp.JOIN, "join"),
        (StageOp.AGGREGATE, "match"),
        (StageOp.PROJECT, "outcome"),
    ]
    assert rule.stages[0].expr == All((Ref("$a"), Ref("$b")))  # `!$c` names no event variable
    # `$user` is a match placeholder: YARA-L drops events where it is empty, so its binding is `exists`
    bound = [(p.field, p.kind, p.value) for p, _ in walk_preds(rule.stages[1].expr)]
    assert bound == [
        ("metadata.event_type", Kind.EQ, "USER_LOGIN"),
        ("target.user.userid", Kind.EXISTS, True),
    ]
    join = rule.stages[3].expr
    assert isinstance(join, Pred) and (join.field, join.kind, join.value) == (
        "principal.hostname",
        Kind.FIELDREF,
        "principal.hostname",
    )
    assert rule.output_fields == ("risk_score", "hosts")
    assert ("Risk score", 'max(if($b.x = "y", 80, 10))') in rule.facts
    assert rule.correlation is not None and rule.correlation.group_by == ("$user",)
    assert rule.correlation.condition == {"condition": "$a and #b > 2 and !$c"}
    keys = [i.key for i in rule_indicators(rule).positives]
    assert keys == [
        ("TargetUserName", "exists", "true", ""),  # the match placeholder's binding
        ("yaral:target.process.file.full_path", "ends_with", "\\whoami.exe", ""),
    ]  # scope and join keys are not indicators


def test_a_section_that_does_not_parse_keeps_text_stages_and_a_problem() -> None:
    text = (
        'rule t {\n  meta:\n    a = "1"\n  events:\n    $e.x = "a"\n    $e.y = = "b"\n'
        "  condition:\n    $e\n}\n"
    )
    rules, _ = yaral.parse_file(
        text, "rules/community/t.yaral", "community", repo_url="", commit="", companions={}
    )
    rule = rules[0]
    assert not rule.logic_parsed
    assert [(s.op, s.label, s.line, s.expr) for s in rule.stages] == [
        (StageOp.CONDITION, "condition", 8, None),
        (StageOp.SEARCH, "events", 5, None),
    ]
    [problem] = rule.problems
    assert (problem.line, problem.severity) == (6, "warning")
    assert problem.message.startswith(
        "YARA-L events query does not parse: unexpected COMPARE '=' at column 12"
    )


def test_thousands_of_nested_ors_are_a_problem_not_a_crash() -> None:
    events = "    " + " or ".join(f'$e.a = "{n}"' for n in range(20_000))
    text = f'rule t {{\n  meta:\n    a = "1"\n  events:\n{events}\n  condition:\n    $e\n}}\n'
    rules, _ = yaral.parse_file(
        text, "rules/community/t.yaral", "community", repo_url="", commit="", companions={}
    )
    assert not rules[0].logic_parsed
    assert [(p.line, p.message) for p in rules[0].problems] == [
        (5, "YARA-L events query does not parse: nested too deeply to read at column 1")
    ]
