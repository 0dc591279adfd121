"""Implied comparisons in relations: a literal whose canonical comparison is only implied by the native one
(Kusto `has`, ECS `process.args`) is counted under it, but never equals, implies or is implied by an exact
literal, nor one implied by another native comparison."""

from __future__ import annotations

from ruleatlas.analysis.relations import relate, rule_form
from ruleatlas.analysis.relations.form import RuleForm, is_implied, literal, literal_text
from ruleatlas.analysis.relations.implication import literal_implies
from ruleatlas.model import Kind, Pred, Rule, SourceRef, Stage, StageOp

WIN_PROC = {"product": "windows", "category": "process_creation"}
EVENTS = [("Sysmon", "Microsoft-Windows-Sysmon/Operational", 1, "Process creation")]


def _rule(uid: str, vendor: str, pred: Pred) -> Rule:
    return Rule(
        uid=uid,
        vendor=vendor,
        language="x",
        source=SourceRef("", uid),
        folder="rules",
        logsource=dict(WIN_PROC),
        stages=[Stage(0, "where", StageOp.FILTER, pred.native, pred)],
    )


def _form(rule: Rule) -> RuleForm:
    form = rule_form(rule, EVENTS)
    assert form is not None
    return form


SIGMA = Pred("CommandLine", Kind.CONTAINS, "-enc")
HAS = Pred("CommandLine", Kind.CONTAINS, "-enc", implies_only=True, native='CommandLine has "-enc"')
ARGS = Pred("process.args", Kind.EQ, "-enc", native='process.args : "-enc"')


def test_an_implied_literal_is_kept_apart_from_the_exact_one() -> None:
    exact = literal(SIGMA, "sigma", WIN_PROC)
    has = literal(HAS, "kusto", WIN_PROC)
    args = literal(ARGS, "elastic", WIN_PROC)
    # the same canonical comparison (so indicators count them together) ...
    assert exact[:4] == has[:4] == args[:4] == ("CommandLine", "contains", "-enc", False)
    # ... but marked, each by its own native comparison
    assert not is_implied(exact[4]) and is_implied(has[4]) and is_implied(args[4])
    assert len({exact, has, args}) == 3
    for a in (exact, has, args):
        for b in (exact, has, args):
            assert literal_implies(a, b) == (a == b)
    assert literal_text(has) == "CommandLine contains -enc (implied)"


def test_no_class_and_no_broader_rule_from_an_implied_comparison() -> None:
    forms = [
        _form(_rule("sigma/a", "sigma", SIGMA)),
        _form(_rule("kusto/b", "kusto", HAS)),
        _form(_rule("elastic/c", "elastic", ARGS)),
    ]
    assert len({f.class_key for f in forms}) == 3
    assert all("implied" in f.opaque for f in forms[1:])
    assert relate(forms).neighbours == []
    # an exact `contains "-enc -nop"` is stricter than Sigma's `contains "-enc"`; a `has "-enc -nop"` is not
    # shown to be (it implies only a `contains` of its own)
    exact = Pred("CommandLine", Kind.CONTAINS, "-enc -nop", native='CommandLine contains "-enc -nop"')
    has = Pred(
        "CommandLine", Kind.CONTAINS, "-enc -nop", implies_only=True, native='CommandLine has "-enc -nop"'
    )
    found = relate([forms[0], _form(_rule("kusto/e", "kusto", exact))]).neighbours
    assert [(n.narrow, n.broad) for n in found] == [("kusto/e", "sigma/a")]
    assert relate([forms[0], _form(_rule("kusto/f", "kusto", has))]).neighbours == []
    # two rules with the same native comparison are still one class
    again = _form(_rule("elastic/d", "elastic", ARGS))
    assert again.class_key == forms[2].class_key
