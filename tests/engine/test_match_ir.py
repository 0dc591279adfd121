"""compile_rules on hand-built IR: each comparison kind, merging, problems, required_literals."""

from __future__ import annotations

import pytest
from match_support import ir_rule, one_pred_rule, pred

from ruleatlas.engine import compile_rules
from ruleatlas.engine.comparisons import Cidr, Compare, NumberEq, Regex, ip_value
from ruleatlas.engine.compile import _KIND_HANDLERS
from ruleatlas.engine.matchers import AllOf, AnyOf, ContainsAll, Exact, Mixed, NotOf, Suffix
from ruleatlas.model import All, Any, Correlation, FilterSpec, Kind, Not, Problem, Ref, RuleKind


def test_every_kind_has_a_handler() -> None:
    assert set(_KIND_HANDLERS) == set(Kind)


def compiled_one(p: object) -> object:
    result = compile_rules([one_pred_rule(p)])  # type: ignore[arg-type]
    assert not result.problems, [x.message for x in result.problems]
    return result.rules[0]


# --- kinds on hand-built predicates ----------------------------------------------------------------------


def test_wildcard_kind_from_ir() -> None:
    rule = compiled_one(pred("F", "wildcard", r"C:\\*\\x?.exe"))
    assert rule.match({"F": r"c:\tools\xy.exe"})
    assert not rule.match({"F": r"c:\tools\x.exe"})
    assert not rule.match({"F": r"d:\tools\xy.exe"})


def test_neq_kind_and_neq_transform() -> None:
    for p in (pred("F", "neq", "x"), pred("F", "eq", "x", transforms=("neq",))):
        rule = compiled_one(p)
        assert rule.match({"F": "y"}) and rule.match({}) and not rule.match({"F": "X"})


def test_neq_null_means_a_value_that_is_not_empty() -> None:
    rule = compiled_one(pred("F", "neq", None))
    assert rule.match({"F": "x"}) and rule.match({"F": 0})
    assert not rule.match({"F": ""}) and not rule.match({"F": None}) and not rule.match({})


def test_time_part_comparison_from_ir() -> None:
    rule = compiled_one(pred("T", "ge", 22, transforms=("hour",)))
    assert isinstance(rule.matcher, Compare)
    assert rule.match({"T": "2024-01-01T22:00:00Z"}) and rule.match({"T": 1704146400})
    assert not rule.match({"T": "2024-01-01T21:59:00Z"}) and not rule.match({"T": "garbage"})


def test_time_part_neq() -> None:
    rule = compiled_one(pred("T", "neq", 3, transforms=("hour",)))
    assert rule.match({"T": "2024-01-01T04:00:00"}) and not rule.match({"T": "2024-01-01T03:00:00"})


def test_keyword_regex() -> None:
    rule = compiled_one(pred(None, "regex", r"ev[i1]l\d"))
    assert rule.match({"a": {"b": ["x", "ev1l7"]}}) and not rule.match({"a": "EVIL7"})


def test_keyword_startswith_is_still_a_substring_search() -> None:
    rule = compiled_one(pred(None, "starts_with", "needle"))
    assert rule.match({"a": "haystack NEEDLE haystack"})


def test_cased_keyword() -> None:
    rule = compiled_one(pred(None, "contains", "Needle", cased=True))
    assert rule.match({"a": "xNeedlex"}) and not rule.match({"a": "xneedlex"})


def test_fieldref_cased_and_lists() -> None:
    rule = compiled_one(pred("A", "fieldref", "B", cased=True))
    assert rule.match({"A": "X", "B": "X"}) and not rule.match({"A": "X", "B": "x"})
    rule = compiled_one(pred("A", "fieldref", "B"))
    assert rule.match({"A": ["p", "q"], "B": ["Q", "r"]})


def test_fieldref_startswith_and_endswith_together_is_contains() -> None:
    rule = compiled_one(pred("A", "fieldref", "B", transforms=("startswith", "endswith")))
    assert rule.match({"A": "xxabcxx", "B": "abc"})


def test_exists_from_text_true_false() -> None:
    assert compiled_one(pred("F", "exists", "false")).match({})


def test_number_compare_from_numeric_text() -> None:
    rule = compiled_one(pred("F", "lt", "10"))
    assert rule.match({"F": 9}) and not rule.match({"F": 10})


def test_match_without_cache_and_with_shared_cache() -> None:
    rule = compiled_one(pred("F", "contains", "ABC"))
    cache: dict[object, object] = {}
    assert rule.match({"F": "xabcx"}, cache) and cache == {"F": "xabcx"}
    assert rule.match({"F": "xabcx"})


# --- merging and ordering ---------------------------------------------------------------------------------


def test_or_of_endswith_on_one_field_is_one_suffix_matcher() -> None:
    values = [r"\cmd.exe", r"\powershell.exe", r"\pwsh.exe"]
    rule = compile_rules([one_pred_rule(Any(tuple(pred("Image", "ends_with", v) for v in values)))]).rules[0]
    assert isinstance(rule.matcher, Suffix)
    assert rule.match({"Image": r"C:\X\PWSH.EXE"}) and not rule.match({"Image": r"C:\X\pwsh.exe.bak"})


def test_or_of_mixed_kinds_on_one_field_is_one_matcher() -> None:
    items = (pred("F", "eq", "a"), pred("F", "starts_with", "pre"), pred("F", "wildcard", "x*y"))
    rule = compile_rules([one_pred_rule(Any(items))]).rules[0]
    assert isinstance(rule.matcher, Mixed)
    assert rule.match({"F": "A"}) and rule.match({"F": "prefix"}) and rule.match({"F": "x1y"})
    assert not rule.match({"F": "x1yz"})


def test_or_of_eq_on_one_field_is_a_set_and_keeps_numbers() -> None:
    items = (pred("F", "eq", "4688"), pred("F", "eq", "abc"))
    rule = compile_rules([one_pred_rule(Any(items))]).rules[0]
    assert isinstance(rule.matcher, Exact)
    assert rule.match({"F": 4688}) and rule.match({"F": "ABC"})


def test_contains_all_is_one_matcher() -> None:
    items = (pred("C", "contains", "a1"), pred("C", "contains", "b2"), pred("D", "eq", "x"))
    rule = compile_rules([one_pred_rule(All(items))]).rules[0]
    assert isinstance(rule.matcher, AllOf)
    kinds = [type(c) for c in rule.matcher.children]
    assert kinds == [Exact, ContainsAll]  # cheapest first
    assert rule.match({"C": "B2 A1", "D": "X"}) and not rule.match({"C": "a1", "D": "x"})


def test_cased_and_folded_values_of_one_field_do_not_merge() -> None:
    items = (pred("F", "eq", "Ab", cased=True), pred("F", "eq", "cd"))
    rule = compile_rules([one_pred_rule(Any(items))]).rules[0]
    assert isinstance(rule.matcher, AnyOf) and len(rule.matcher.children) == 2
    assert rule.match({"F": "Ab"}) and rule.match({"F": "CD"}) and not rule.match({"F": "ab"})


def test_or_of_numbers_on_one_field_is_one_set() -> None:
    items = tuple(pred("EventID", "eq", n) for n in (4624, 4625, 4634.5))
    rule = compile_rules([one_pred_rule(Any(items))]).rules[0]
    assert isinstance(rule.matcher, NumberEq) and rule.matcher.numbers == {4624, 4625, 4634.5}
    for value in (4624, "4625", 4634.5, "4634.50", [1, 4625], 4624.0):
        assert rule.match({"EventID": value}) and rule.matcher({"EventID": value}, {}), value
    for value in (4626, "x", True, None, {"a": 4624}):
        assert not rule.match({"EventID": value}) and not rule.matcher({"EventID": value}, {}), value


def test_or_of_cidr_on_one_field_is_one_matcher() -> None:
    items = tuple(pred("Ip", "cidr", c) for c in ("10.0.0.0/8", "192.168.0.0/16", "fe80::/10"))
    rule = compile_rules([one_pred_rule(Any(items))]).rules[0]
    assert isinstance(rule.matcher, Cidr) and len(rule.matcher.networks) == 3
    assert (
        rule.match({"Ip": "192.168.1.1"}) and rule.match({"Ip": "fe80::1"}) and rule.match({"Ip": "10.0.0.1"})
    )
    assert not rule.match({"Ip": "172.16.0.1"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.1.2.3", (4, 0x0A010203)),
        ("255.255.255.255", (4, 0xFFFFFFFF)),
        ("256.1.1.1", None),
        ("010.1.1.1", None),  # leading zeros are refused, as ipaddress does
        ("1.2.3", None),
        ("1.2.3.4.5", None),
        ("1.2.3.x", None),
        ("１.2.3.4", None),  # non-ASCII digits
        ("::ffff:10.0.0.1", (4, 0x0A000001)),
        ("[::1]", (6, 1)),
        ("fe80::1%eth0", (6, 0xFE800000000000000000000000000001)),
        ("", None),
        ("host.example", None),
    ],
)
def test_ip_value(text: str, expected: tuple[int, int] | None) -> None:
    assert ip_value(text) == expected


def test_regex_runs_after_cheap_comparisons() -> None:
    items = (pred("F", "regex", "a+b"), pred("G", "eq", "x"))
    matcher = compile_rules([one_pred_rule(All(items))]).rules[0].matcher
    assert isinstance(matcher, AllOf) and isinstance(matcher.children[-1], Regex)


def test_double_negation_and_constants_simplify() -> None:
    rule = compile_rules([one_pred_rule(Not(Not(pred("F", "eq", "x"))))]).rules[0]
    assert isinstance(rule.matcher, Exact)
    rule = compile_rules([one_pred_rule(Not(pred("F", "eq", "%nothing%", transforms=("expand",))))]).rules[0]
    assert rule.match({}) and not isinstance(rule.matcher, NotOf)


def test_matched_fields_shows_what_matched() -> None:
    rule = ir_rule(
        All((Ref("sel"), Not(Ref("filter")))),
        {
            "sel": All(
                (
                    pred("Image", "ends_with", r"\a.exe"),
                    Any((pred("C", "contains", "x"), pred("D", "eq", "y"))),
                )
            ),
            "filter": pred("User", "eq", "SYSTEM"),
        },
    )
    compiled = compile_rules([rule]).rules[0]
    event = {"Image": r"c:\a.exe", "C": "xx", "D": "z", "User": "bob", "Other": 1}
    assert compiled.matched_fields(event) == {"Image": r"c:\a.exe", "C": "xx", "User": "bob"}
    assert compiled.matched_fields({"Image": "nope"}) == {}


# --- problems -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "words"),
    [
        (pred("F", "regex", "a(b"), "invalid regular expression"),
        (pred("F", "regex", r"(a+)+(?=x)"), "not supported in a pattern with nested quantifiers"),
        (pred("F", "cidr", "10.0.0.1/8"), "invalid CIDR"),
        (pred("F", "cidr", "nonsense"), "invalid CIDR"),
        (pred("F", "contains", "x", transforms=("rot13",)), "unknown value transformation 'rot13'"),
        (pred("F", "gt", "ten"), "needs a number"),
        (pred("F", "exists", "maybe"), "exists needs true or false"),
        (pred("F", "eq", 3, transforms=("hour", "windash")), "cannot be combined"),
        (pred("F", "eq", 3, transforms=("hour", "day")), "more than one time part"),
        (pred(None, "cidr", "10.0.0.0/8"), "keyword search"),
        (pred("F", "wildcard", "a*b", transforms=("base64",)), "wildcards"),
        (pred("F", "contains", "x", transforms=("contains",)), "only applies to fieldref"),
        (pred("F", "regex", "x", transforms=("base64",)), "cannot apply to a regular expression"),
        (pred("F", "fieldref", ""), "fieldref needs a field name"),
        (pred("F", "regex", "x", regex_flags="x"), "unknown regular expression flag"),
    ],
)
def test_rules_that_cannot_run_become_problems(p: object, words: str) -> None:
    bad = one_pred_rule(p, uid="sigma/bad")  # type: ignore[arg-type]
    good = one_pred_rule(pred("F", "eq", "ok"), uid="sigma/good")
    result = compile_rules([bad, good])
    assert [r.uid for r in result.rules] == ["sigma/good"]
    (problem,) = result.problems
    assert words in problem.message, problem.message
    assert problem.file == "rules/bad.yml" and problem.rule_uid == "sigma/bad"
    assert problem.severity == "error" and problem.line == 4  # the search identifier's line
    assert problem.message.startswith("rule sigma/bad cannot run: in 'sel': ")


def test_unknown_reference_in_condition() -> None:
    result = compile_rules([ir_rule(All((Ref("sel"), Ref("selection"))), {"sel": pred("F", "eq", "x")})])
    (problem,) = result.problems
    assert "names 'selection'" in problem.message and problem.line == 9 and problem.hint


def test_rule_with_parse_errors_is_not_compiled() -> None:
    parse_error = Problem(
        "rules/ir_rule.yml", "unknown modifier 'contans'", line=12, hint="did you mean 'contains'?"
    )
    result = compile_rules([ir_rule(Ref("sel"), {"sel": pred("F", "eq", "x")}, problems=[parse_error])])
    assert not result.rules
    (problem,) = result.problems
    assert "1 parse error(s); first: unknown modifier 'contans'" in problem.message
    assert problem.line == 12 and problem.hint == "did you mean 'contains'?"


def test_rule_warnings_do_not_stop_compilation() -> None:
    warning = Problem("rules/ir_rule.yml", "odd", severity="warning")
    result = compile_rules([ir_rule(Ref("sel"), {"sel": pred("F", "eq", "x")}, problems=[warning])])
    assert len(result.rules) == 1 and not result.problems


def test_missing_condition_and_empty_search() -> None:
    rule = ir_rule(Ref("sel"), {"sel": None})
    rule.stages[0].expr = None
    assert "no usable condition" in compile_rules([rule]).problems[0].message
    rule = ir_rule(Ref("sel"), {"sel": None})
    assert "'sel' has no usable definition" in compile_rules([rule]).problems[0].message


def test_missing_placeholder_reported_once_for_all_rules() -> None:
    rules = [
        one_pred_rule(pred("U", "eq", "%Admins%", transforms=("expand",)), uid=f"sigma/r{i}")
        for i in range(3)
    ]
    rules.append(one_pred_rule(pred("U", "regex", "^%Admins%$", transforms=("expand",)), uid="sigma/r3"))
    result = compile_rules(rules)
    assert len(result.rules) == 4 and not any(r.match({"U": "%Admins%"}) for r in result.rules)
    (problem,) = result.problems
    assert problem.severity == "warning" and problem.rule_uid == "sigma/r0"
    assert "%Admins% has no configured value" in problem.message and "3 more" in problem.message
    configured = compile_rules(rules, placeholders={"Admins": ["root", "adm_*"]})
    assert not configured.problems
    assert [r.match({"U": "ADM_x"}) for r in configured.rules] == [True, True, True, False]
    assert all(r.match({"U": "root"}) for r in configured.rules)


def test_kinds_skipped_and_correlations_passed_through() -> None:
    deprecated = one_pred_rule(pred("F", "eq", "x"), uid="sigma/old")
    deprecated.kind = RuleKind.DEPRECATED
    correlation = ir_rule(Ref("sel"), {}, uid="sigma/corr")
    correlation.kind = RuleKind.CORRELATION
    correlation.correlation = Correlation(type="event_count", rules=("x",))
    result = compile_rules([deprecated, correlation])
    assert result.skipped == [deprecated] and result.correlations == [correlation] and not result.rules
    result = compile_rules([deprecated], kinds=frozenset({RuleKind.DEPRECATED}))
    assert [r.uid for r in result.rules] == ["sigma/old"]


def test_filter_without_filter_section_is_a_problem() -> None:
    doc = ir_rule(Not(Ref("sel")), {"sel": pred("F", "eq", "x")}, uid="sigma/f")
    doc.kind = RuleKind.FILTER
    result = compile_rules([doc])
    assert "without a filter section" in result.problems[0].message
    doc.filter = FilterSpec(("some-name",))
    result = compile_rules([doc, one_pred_rule(pred("F", "eq", "y"), uid="sigma/other")])
    (problem,) = result.problems
    assert problem.severity == "warning" and "no compiled rule has this id or name" in problem.message


# --- required_literals ----------------------------------------------------------------------------------


def literals_of(expr: object, searches: dict[str, object] | None = None) -> frozenset[str] | None:
    rule = ir_rule(expr, searches) if searches else one_pred_rule(expr)  # type: ignore[arg-type]
    result = compile_rules([rule])
    assert not [p for p in result.problems if p.severity == "error"], [p.message for p in result.problems]
    return result.rules[0].required_literals


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (pred("F", "contains", "MiMiKaTz"), {"mimikatz"}),
        (pred("F", "eq", "STRASSE"), {"strasse"}),
        (pred("F", "starts_with", "ABC", cased=True), {"abc"}),
        (pred("F", "ends_with", r"\Cmd.exe"), {r"\cmd.exe"}),
        (pred("F", "wildcard", r"ab*longest*c?d"), {"longest"}),
        (pred(None, "contains", "Keyword"), {"keyword"}),
        (pred("F", "contains", "ab"), None),
        (pred("F", "eq", "4688"), None),
        (pred("F", "eq", "1.5"), None),
        (pred("F", "eq", 4688), None),
        (pred("F", "eq", True), None),
        (pred("F", "eq", None), None),
        (pred("F", "neq", "something"), None),
        (pred("F", "contains", "\U0001f600"), {"\U0001f600"}),  # short, but not ASCII: rare in logs
        (pred("F", "contains", "ß"), None),  # folds to "ss"
        (pred("F", "regex", "literalish"), {"literalish"}),
        (pred("F", "regex", "ping\\s+-n.{6,64}Echo EEEE"), {"echo eeee"}),
        # under i, runs split at i/I (re also matches U+0130 and U+0131 there, whose casefold differs)
        (pred("F", "regex", "(?i)Mimikatz"), {"katz"}),
        (pred("F", "regex", "Mimikatz", regex_flags="i"), {"katz"}),
        (pred("F", "regex", "a(b|c)d"), None),
        (pred("F", "cidr", "10.0.0.0/8"), None),
        (pred("F", "gt", 5), None),
        (pred("F", "exists", True), None),
        (pred("F", "fieldref", "G"), None),
        # transformations: one literal per transformed value, as the matcher compares them
        (
            pred("F", "contains", "encoded", transforms=("base64offset",)),
            {"zw5jb2rlz", "vuy29kzw", "lbmnvzgvk"},
        ),
        (pred("F", "contains", "wide", transforms=("utf16le",)), {"w\x00i\x00d\x00e\x00"}),
        (
            pred("F", "contains", " -enc ", transforms=("windash",)),
            {f" {d}enc " for d in "-/\u2013\u2014\u2015"},
        ),
        (pred("F", "contains", "-a", transforms=("windash",)), None),  # "/a" is too short to search for
        (pred("F", "eq", "%x%", transforms=("expand",)), None),
    ],
)
def test_required_literals_of_one_predicate(p: object, expected: set[str] | None) -> None:
    got = literals_of(p)
    assert got == (frozenset(expected) if expected is not None else None)


def test_required_literals_all_any_not() -> None:
    a, bb, short = pred("F", "contains", "alpha"), pred("G", "contains", "bravissimo"), pred("H", "eq", "xy")
    assert literals_of(All((a, bb, short))) == {"bravissimo"}
    assert literals_of(Any((a, bb))) == {"alpha", "bravissimo"}
    assert literals_of(Any((a, short))) is None
    assert literals_of(All((a, Not(bb)))) == {"alpha"}
    assert literals_of(Not(a)) is None
    # the most selective: a longer shortest literal wins over a set with a short one
    assert literals_of(All((Any((pred("F", "contains", "abc"), pred("F", "contains", "longer"))), a))) == {
        "alpha"
    }


def test_literal_groups_keep_every_and_requirement() -> None:
    provider = pred("Provider_Name", "eq", "Service Control Manager")
    path = Any((pred("ImagePath", "contains", "powershell"), pred("ImagePath", "contains", "mshta")))
    rule = compile_rules([one_pred_rule(All((provider, path, Not(pred("X", "contains", "ignored")))))]).rules[
        0
    ]
    assert set(rule.literal_groups) == {
        frozenset({"service control manager"}),
        frozenset({"powershell", "mshta"}),
    }
    assert rule.required_literals == rule.literal_groups[0]
    assert compile_rules([one_pred_rule(pred("F", "gt", 5))]).rules[0].literal_groups == ()


def test_required_literals_follow_references() -> None:
    searches = {"sel": pred("F", "contains", "needle"), "other": pred("G", "contains", "thread")}
    assert literals_of(All((Ref("sel"), Not(Ref("other")))), searches) == {"needle"}
    assert literals_of(Any((Ref("sel"), Ref("other"))), searches) == {"needle", "thread"}


def test_generated_code_is_safe_with_odd_field_names() -> None:
    odd = "we'ird\"\nname\\x"
    rule = compile_rules([one_pred_rule(All((pred(odd, "contains", "a'b"), pred("ok", "eq", 1))))]).rules[0]
    assert rule.match({odd: "xA'Bx", "ok": 1}) and not rule.match({odd: "ab", "ok": 1})


def test_deeply_nested_condition_falls_back_to_the_matcher_tree() -> None:
    expr: object = pred("F", "eq", "x")
    for depth in range(80):
        expr = Not(All((Any((expr, pred(f"G{depth}", "eq", "y"))), pred("H", "exists", True))))
    rule = compile_rules([one_pred_rule(expr)]).rules[0]  # type: ignore[arg-type]
    event = {"F": "x", "H": 1}
    assert rule.match(event) == rule.matcher(event, {})
    assert rule.match.__name__ == "match" and rule.match.__code__.co_filename.endswith("codegen.py")
