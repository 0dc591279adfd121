"""The Sigma condition grammar: every form, precedence, quantifier expansion, and errors with a column."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ruleatlas.model import All, Any, Not, Ref, Rule
from ruleatlas.sources.sigma_condition import ConditionError, parse_condition

IDS = [
    "selection",
    "selection_img",
    "selection_cli",
    "filter_main_a",
    "filter_main_b",
    "filter_optional",
    "_hidden",
    "kw-1",
]


def parse(text: str, ids: list[str] = IDS) -> object:
    return parse_condition(text, ids)


a, b, c = Ref("selection_img"), Ref("selection_cli"), Ref("selection")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("selection", c),
        ("kw-1", Ref("kw-1")),
        ("selection_img and selection_cli", All((a, b))),
        ("selection_img or selection_cli", Any((a, b))),
        ("not selection", Not(c)),
        ("not not selection", Not(Not(c))),
        ("(selection)", c),
        # not binds tighter than and, and tighter than or
        ("selection_img or selection_cli and not selection", Any((a, All((b, Not(c)))))),
        ("selection_img and selection_cli or selection", Any((All((a, b)), c))),
        ("not selection_img and selection_cli", All((Not(a), b))),
        ("selection_img and (selection_cli or selection)", All((a, Any((b, c))))),
        ("not (selection_img or selection_cli)", Not(Any((a, b)))),
        # a chain is one flat All/Any
        ("selection and selection_img and selection_cli", All((c, a, b))),
        ("  selection\n  and\n  selection_img  ", All((c, a))),
    ],
)
def test_boolean_forms_and_precedence(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 of selection_*", Any((a, b))),
        ("any of selection_*", Any((a, b))),
        ("all of selection_*", All((a, b))),
        ("1 of selection*", Any((c, a, b))),
        ("all of filter_main_*", All((Ref("filter_main_a"), Ref("filter_main_b")))),
        ("1 of filter_opt*", Ref("filter_optional")),  # a single match is the Ref itself
        ("1 of *_a", Ref("filter_main_a")),
        ("1 of _hid*", Ref("_hidden")),  # a pattern that starts with '_' may match '_' identifiers
        ("1 of *hidden", None),  # ... other patterns skip them
    ],
)
def test_quantifiers_expand_in_detection_order(text: str, expected: object) -> None:
    if expected is None:
        with pytest.raises(ConditionError, match="matches no search identifier"):
            parse(text)
    else:
        assert parse(text) == expected


def test_them_skips_identifiers_starting_with_underscore() -> None:
    refs = tuple(Ref(name) for name in IDS if not name.startswith("_"))
    assert parse("1 of them") == Any(refs)
    assert parse("all of them") == All(refs)


def test_quantifier_binds_tighter_than_not_and_and() -> None:
    assert parse("all of selection_* and not 1 of filter_main_*") == All(
        (a, b, Not(Any((Ref("filter_main_a"), Ref("filter_main_b")))))
    )


@pytest.mark.parametrize(
    ("text", "message", "hint", "column"),
    [
        (
            "selection and missing",
            "condition names 'missing', which is not a search identifier",
            "defined: ",
            15,
        ),
        ("selecton", "condition names 'selecton'", "did you mean 'selection' or", 1),
        (
            "(selection and selection_img",
            "unbalanced parentheses: '(' at column 1 is not closed",
            "add the missing ')'",
            1,
        ),
        ("selection)", "unbalanced parentheses: ')' at column 10 closes nothing", "remove it", 10),
        ("selection selection_img", "unexpected 'selection_img' at column 11", "join expressions", 11),
        ("selection and", "condition ends unexpectedly after 'and'", "complete", None),
        ("and selection", "found the operator 'and'", "doubled or missing operand", 1),
        ("1 of nothing_*", "'1 of nothing_*' matches no search identifier", "identifiers: selection", 6),
        ("2 of selection_*", "invalid quantifier '2'", "use '1 of', 'any of' or 'all of'", 1),
        ("1 of", "'1 of' at column 1 needs a pattern", "1 of them", 1),
        ("selection_*", "wildcard 'selection_*' at column 1 needs a quantifier", "1 of selection_*", 1),
        (
            "selection AND selection_img",
            "unexpected 'AND' at column 11",
            "operators are lower case: write 'and'",
            11,
        ),
        ("", "empty condition", "name the search identifiers", None),
        (
            "selection | count() by IpAddress > 10",
            "legacy aggregation '| count() by IpAddress > 10' in the condition (Sigma 1.x pipe syntax)",
            "correlation",
            11,
        ),
        ("selection | near selection_img", "legacy aggregation '| near selection_img'", "correlation", 11),
        ("count(x) by y > 3", "legacy aggregation 'count(...)' in the condition", "correlation", 1),
    ],
)
def test_condition_errors_say_what_and_where(text: str, message: str, hint: str, column: int | None) -> None:
    with pytest.raises(ConditionError) as caught:
        parse(text)
    assert message in caught.value.message
    assert hint in caught.value.hint
    assert caught.value.column == column


def test_them_with_only_underscore_identifiers_is_an_error() -> None:
    with pytest.raises(ConditionError, match="no search identifier without a leading '_'"):
        parse_condition("1 of them", ["_a", "_b"])


def test_rule_reference_conditions_for_correlations() -> None:
    got = parse_condition("rule_a and not rule_b", None, quantifiers=False)
    assert got == All((Ref("rule_a"), Not(Ref("rule_b"))))
    with pytest.raises(ConditionError, match="not allowed here"):
        parse_condition("1 of rule_*", None, quantifiers=False)


# --- in a rule: stage 0 --------------------------------------------------------------------------------


def test_condition_stage_keeps_text_and_line(detect: Callable[..., Rule]) -> None:
    rule = detect("selection:\n    A: 1\nfilter_x:\n    B: 2", condition="selection and not 1 of filter_*")
    stage = rule.stages[0]
    assert (stage.index, stage.label, stage.op) == (0, "condition", "condition")
    assert stage.text == "selection and not 1 of filter_*"
    assert stage.expr == All((Ref("selection"), Not(Ref("filter_x"))))
    assert stage.line == 9


def test_condition_list_is_any_of_each_and_joined_text(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(
        """
        title: Two conditions
        logsource: {product: windows}
        detection:
            sel1: {A: 1}
            sel2: {B: 2}
            condition:
                - sel1
                - sel2 and not sel1
        """
    )
    stage = rule.stages[0]
    assert stage.text == "sel1\nsel2 and not sel1"
    assert stage.expr == Any((Ref("sel1"), All((Ref("sel2"), Not(Ref("sel1"))))))
    assert stage.line == 6


def test_bad_condition_is_a_rule_problem_with_line(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(
        """
        title: Bad condition
        logsource: {product: windows}
        detection:
            selection: {A: 1}
            condition: selection and filter
        """
    )
    assert rule.stages[0].expr is None
    assert rule.stages[0].text == "selection and filter"
    [problem] = rule.problems
    assert (
        problem.message == "condition: condition names 'filter', which is not a search identifier (column 15)"
    )
    assert (problem.line, problem.severity, problem.rule_uid) == (5, "error", "sigma/sample_rule")
    assert problem.hint == "defined: selection"
