"""Panther SQL with Jinja macros (tests/data/panther_jinja): templates listed as companions of the queries
importing them, rendered in a sandbox with budgets, the rendered SQL parsed into stages; and what a hostile or
broken template gives (a Problem with file and line, never a crash or a run-away build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import Ref, Rule, SourceResult, StageOp
from ruleatlas.sources import panther
from ruleatlas.sources.common import read_tree
from ruleatlas.sources.panther.jinja import is_template, panther_to_jinja, render
from ruleatlas.sources.panther.sql import parse_sql

LIB = "queries/macros/lib.yml"


@pytest.fixture(scope="module")
def tree(test_data: Path) -> SourceResult:
    return read_tree(panther, test_data / "panther_jinja", repo_url="x", commit="y")


@pytest.fixture(scope="module")
def rules(tree: SourceResult) -> dict[str, Rule]:
    return {rule.source.path: rule for rule in tree.rules}


def test_a_template_is_a_companion_of_the_queries_importing_it(test_data: Path) -> None:
    files = {f.rel_path: f.companions for f in panther.list_files(test_data / "panther_jinja")}
    assert files["queries/aws_queries/new_access_keys.yml"] == (LIB,)
    assert files["queries/aws_queries/missing_template.yml"] == ()  # nothing to find: reported at parse
    assert files[LIB] == ()


def test_a_query_calling_a_macro_is_rendered_and_parsed(rules: dict[str, Rule]) -> None:
    rule = rules["queries/aws_queries/new_access_keys.yml"]
    assert (rule.logic_parsed, rule.problems) == (True, [])
    assert [(s.label, s.op) for s in rule.stages] == [
        ("subquery", StageOp.LET),
        ("old_values", StageOp.LET),
        ("new_values", StageOp.LET),
        ("FROM", StageOp.SOURCE),
        ("SELECT", StageOp.PROJECT),
        ("MINUS", StageOp.JOIN),
    ]
    facts = dict(rule.facts)
    assert facts["Jinja macros from"] == "lib"
    assert facts["Tables"] == "panther_logs.public.aws_cloudtrail"  # read inside the CTE, not the CTE names
    assert rule.logsource["service"] == "cloudtrail"
    # the rows come from new_values, which reads subquery: its filter is the query's logic
    assert rule.stages[3].expr == Ref("new_values")
    keys = {i.key for i in rule_indicators(rule).positives}
    assert ("eventName", "eq", "createaccesskey", "") in keys  # folded as Sigma's CloudTrail key is
    # the stages the macro wrote point at the line calling it (the YAML's line 15), the CTE at its own
    assert rule.stages[0].line == 9 and rule.stages[1].line == rule.stages[5].line == 15
    assert rule.body.startswith("-- pragma: template")  # the body is the query as written


def test_the_template_is_its_macros(rules: dict[str, Rule]) -> None:
    rule = rules[LIB]
    assert (rule.logic_parsed, rule.problems) == (True, [])
    [stage] = rule.stages
    assert (stage.label, stage.op, stage.line) == (
        "macro new_values_of(subquery, entity_field, agg_field, interval)",
        StageOp.LET,
        7,
    )
    assert stage.text.rstrip().endswith("{% endmacro %}")
    assert dict(rule.facts)["Jinja template"].startswith("macros for other queries")


def test_a_missing_template_or_a_hostile_one_is_a_problem(rules: dict[str, Rule]) -> None:
    missing = rules["queries/aws_queries/missing_template.yml"]
    assert not missing.logic_parsed and missing.stages  # kept as text stages
    [problem] = missing.problems
    assert "'nowhere'" in problem.message and problem.line == 7 and problem.hint
    hostile = rules["queries/aws_queries/hostile_template.yml"]
    assert not hostile.logic_parsed
    assert "does not render" in hostile.problems[0].message and "unsafe" in hostile.problems[0].message


def test_panther_spellings_read_as_jinja() -> None:
    assert panther_to_jinja("{% import 'anomalies' a, b %}") == "{% from 'anomalies' import a, b %}"
    assert panther_to_jinja("{% macro f(x, y) export %}") == "{% macro f(x, y) %}"
    assert is_template("-- pragma: template\n{% macro f() export %}x{% endmacro %}\n")
    assert not is_template("-- pragma: template\n{% macro f() %}x{% endmacro %}\nselect {{ f() }} from t")


@pytest.mark.parametrize(
    ("query", "cause"),
    [
        # a macro calling itself twice per call, 40 deep (2**40 calls), and one calling itself for ever
        (
            "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
            "calls",
        ),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion"),
        ("{% for a in range(10) %}{% for b in range(10) %}x{% endfor %}{% endfor %}", "nested"),
        ("{% for a in range(20000) %}{% endfor %}", "range()"),
        ("{{ 'x' * 10000000 }}", "repetition"),
        ("{{ 9 ** 99999999 }}", "exponent"),
        ("{{ undefined_macro() }}", "undefined"),
        ("{% if %}", "syntax"),
    ],
)
def test_hostile_jinja_stops_within_its_budget(query: str, cause: str) -> None:
    rendered = render(query, {}, "q.yml", 5)
    assert rendered.text is None
    [problem] = rendered.problems
    assert problem.file == "q.yml" and cause in problem.message and problem.hint
    # the query is still a rule, its text kept as stages
    logic = parse_sql(query, "q.yml", 5)
    assert logic.problems and logic.stages and all(s.expr is None for s in logic.stages)
