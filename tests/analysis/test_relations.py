"""Relations between rules: sound implication for every pair of comparison kinds (hand-made pairs), forms
and class keys, and a property test that "broader" is never claimed when a counter-example event exists."""

from __future__ import annotations

import random
import re

import pytest

from ruleatlas.analysis.relations import relate, rule_form, terms_imply
from ruleatlas.analysis.relations.form import Lit, Term
from ruleatlas.analysis.relations.implication import clause_implies, literal_implies
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Rule, SourceRef, Stage, Wild, parse_wildcard
from ruleatlas.sources.sigma import parse_sigma_file

EVENTS = [("Sysmon", "Microsoft-Windows-Sysmon/Operational", 1, "Process creation")]


def lit(field: str, kind: str, value: object, cased: bool = False, extra: str = "") -> Lit:
    if isinstance(value, str) and not cased:
        value = value.casefold()
    return (field, kind, value, cased, extra)  # type: ignore[return-value]


# (narrow, broad, implied): one hand-made pair for every implication rule, and the near misses.
PAIRS = [
    # eq implies every text comparison its value satisfies
    (lit("Image", "eq", r"C:\x\cmd.exe"), lit("Image", "ends_with", r"\cmd.exe"), True),
    (lit("Image", "eq", r"C:\x\cmd.exe"), lit("Image", "starts_with", "c:\\"), True),
    (lit("Image", "eq", r"C:\x\cmd.exe"), lit("Image", "contains", "x\\cmd"), True),
    (lit("Image", "eq", r"C:\x\cmd.exe"), lit("Image", "eq", r"c:\x\cmd.exe"), True),  # folded
    (lit("Image", "eq", r"C:\x\cmd.exe"), lit("Image", "ends_with", r"\pwsh.exe"), False),
    (lit("Image", "eq", r"C:\x\cmd.exe"), lit("Image", "wildcard", r"c:\x*cmd.exe"), True),
    (lit("Image", "eq", r"C:\x\cmd.exe"), lit("Image", "wildcard", r"d:\*"), False),
    (lit("Image", "eq", "cmd.exe"), lit("Image", "exists", True), True),
    (lit("Image", "eq", ""), lit("Image", "exists", True), False),
    # starts_with / ends_with: the same kind of a shorter affix, or contains of a substring
    (lit("Image", "ends_with", r"\cmd.exe"), lit("Image", "ends_with", "cmd.exe"), True),
    (lit("Image", "ends_with", "cmd.exe"), lit("Image", "ends_with", r"\cmd.exe"), False),
    (lit("Image", "ends_with", r"\cmd.exe"), lit("Image", "contains", "cmd"), True),
    (lit("Image", "ends_with", r"\cmd.exe"), lit("Image", "starts_with", "\\"), False),
    (lit("Image", "starts_with", r"c:\windows\temp"), lit("Image", "starts_with", r"c:\windows"), True),
    (lit("Image", "starts_with", r"c:\windows"), lit("Image", "starts_with", r"c:\windows\temp"), False),
    (lit("Image", "starts_with", r"c:\windows"), lit("Image", "contains", "windows"), True),
    (lit("Image", "starts_with", r"c:\windows"), lit("Image", "eq", r"c:\windows"), False),
    # contains: a substring only
    (lit("CommandLine", "contains", " -enc "), lit("CommandLine", "contains", "-enc"), True),
    (lit("CommandLine", "contains", "-enc"), lit("CommandLine", "contains", " -enc "), False),
    (lit("CommandLine", "contains", "-enc"), lit("CommandLine", "ends_with", "-enc"), False),
    # wildcards imply what their literal parts say
    (lit("Image", "wildcard", r"c:\x*\cmd.exe"), lit("Image", "starts_with", "c:"), True),
    (lit("Image", "wildcard", r"c:\x*\cmd.exe"), lit("Image", "ends_with", ".exe"), True),
    (lit("Image", "wildcard", r"c:\x*\cmd.exe"), lit("Image", "contains", "cmd"), True),
    (lit("Image", "wildcard", r"*\cmd.exe"), lit("Image", "starts_with", "c:"), False),
    (lit("Image", "wildcard", r"c:\x*\cmd.exe"), lit("Image", "wildcard", r"c:\x*"), False),  # identical only
    # case: a case-insensitive comparison never implies a case-sensitive one; the reverse holds
    (lit("CommandLine", "contains", "-Enc"), lit("CommandLine", "contains", "-Enc", cased=True), False),
    (lit("CommandLine", "contains", "-Enc", cased=True), lit("CommandLine", "contains", "-enc"), True),
    (
        lit("CommandLine", "contains", "-Enc", cased=True),
        lit("CommandLine", "contains", "-enc", cased=True),
        False,
    ),
    # numbers: a tighter bound implies a looser one of the same direction
    (lit("Count", "eq", 5), lit("Count", "gt", 3), True),
    (lit("Count", "eq", 5), lit("Count", "lt", 5), False),
    (lit("Count", "eq", 5), lit("Count", "le", 5), True),
    (lit("Count", "gt", 10), lit("Count", "gt", 5), True),
    (lit("Count", "gt", 10), lit("Count", "ge", 10), True),
    (lit("Count", "ge", 10), lit("Count", "gt", 10), False),
    (lit("Count", "lt", 3), lit("Count", "le", 4), True),
    (lit("Count", "lt", 3), lit("Count", "gt", 1), False),
    (lit("Count", "eq", "5"), lit("Count", "gt", 3), False),  # text is not compared as a number
    # CIDR: a range inside another, an address inside a range
    (lit("DestinationIp", "cidr", "10.1.0.0/16"), lit("DestinationIp", "cidr", "10.0.0.0/8"), True),
    (lit("DestinationIp", "cidr", "10.0.0.0/8"), lit("DestinationIp", "cidr", "10.1.0.0/16"), False),
    (lit("DestinationIp", "eq", "10.1.2.3"), lit("DestinationIp", "cidr", "10.0.0.0/8"), True),
    (lit("DestinationIp", "eq", "11.1.2.3"), lit("DestinationIp", "cidr", "10.0.0.0/8"), False),
    (lit("DestinationIp", "cidr", "::1/128"), lit("DestinationIp", "cidr", "10.0.0.0/8"), False),
    # undecidable unless identical: regexes, field references, neq, keywords, transformed values
    (
        lit("CommandLine", "regex", "a.*b", True, "/re:"),
        lit("CommandLine", "regex", "a.*b", True, "/re:"),
        True,
    ),
    (
        lit("CommandLine", "regex", "a.*b", True, "/re:"),
        lit("CommandLine", "regex", "a.*", True, "/re:"),
        False,
    ),
    (lit("CommandLine", "eq", "ab"), lit("CommandLine", "regex", "a", True, "/re:"), False),
    (lit("", "contains", "mimikatz"), lit("", "contains", "mimi"), False),
    (lit("", "contains", "mimikatz"), lit("", "contains", "mimikatz"), True),
    (lit("User", "fieldref", "TargetUser", True), lit("User", "fieldref", "SubjectUser", True), False),
    (lit("User", "neq", "system"), lit("User", "neq", "system"), True),
    (lit("User", "eq", "admin"), lit("User", "neq", "system"), False),
    (
        lit("CommandLine", "contains", "-enc x", extra="base64offset"),
        lit("CommandLine", "contains", "-enc"),
        False,
    ),
    (
        lit("CommandLine", "contains", "-enc", extra="windash"),
        lit("CommandLine", "contains", "-enc", extra="windash"),
        True,
    ),
    (
        lit("CommandLine", "contains", "-encode", extra="windash"),
        lit("CommandLine", "contains", "-enc", extra="windash"),
        False,
    ),
    # other fields never
    (lit("Image", "eq", "cmd.exe"), lit("ParentImage", "eq", "cmd.exe"), False),
]


@pytest.mark.parametrize(("narrow", "broad", "implied"), PAIRS)
def test_literal_implication(narrow: Lit, broad: Lit, implied: bool) -> None:
    assert literal_implies(narrow, broad) is implied
    # The fast clause check gives the same answer as the definition, literal by literal.
    assert clause_implies(frozenset({narrow}), frozenset({broad})) is implied


def test_a_value_list_implies_a_longer_one_and_not_the_reverse() -> None:
    short = frozenset(lit("Image", "ends_with", v) for v in (r"\a.exe", r"\b.exe"))
    long = short | {lit("Image", "ends_with", r"\c.exe")}
    assert clause_implies(short, long)
    assert not clause_implies(long, short)
    # A list of full paths implies a list of names that covers each of them.
    paths = frozenset(lit("Image", "eq", v) for v in (r"c:\x\a.exe", r"c:\y\b.exe"))
    assert clause_implies(paths, long)


def test_fast_clause_check_agrees_with_the_definition() -> None:
    rng = random.Random(14)
    words = ["a", "ab", "abc", "b", "bc", "ca", "abca", ""]
    kinds = ["eq", "contains", "starts_with", "ends_with", "wildcard"]
    for _ in range(3000):

        def one() -> Lit:
            kind = rng.choice(kinds)
            value = rng.choice(words) + ("*" if kind == "wildcard" else "") + rng.choice(words)
            return lit("F", kind, value, cased=rng.random() < 0.3)

        narrow = frozenset(one() for _ in range(rng.randint(1, 3)))
        broad = frozenset(one() for _ in range(rng.randint(1, 15)))
        expected = all(any(literal_implies(q, p) for p in broad) for q in narrow)
        assert clause_implies(narrow, broad) is expected, (narrow, broad)


def term(*clauses: frozenset[Lit], exclusions: tuple[Term, ...] = ()) -> Term:
    return Term(frozenset(clauses), frozenset(exclusions))


def test_exclusions_stricter_may_add_them_broader_may_drop_them() -> None:
    ps = frozenset({lit("Image", "ends_with", r"\powershell.exe")})
    enc = frozenset({lit("CommandLine", "contains", "-enc")})
    explorer = term(frozenset({lit("ParentImage", "ends_with", r"\explorer.exe")}))
    plain = term(ps)
    filtered = term(ps, enc, exclusions=(explorer,))
    assert terms_imply((filtered,), (plain,))  # adds a condition and a filter: stricter
    assert not terms_imply((plain,), (filtered,))
    # The broader rule may exclude less than the narrow one: here a specific Explorer path only.
    narrower_filter = term(frozenset({lit("ParentImage", "eq", r"c:\windows\explorer.exe")}))
    assert terms_imply((term(ps, exclusions=(explorer,)),), (term(ps, exclusions=(narrower_filter,)),))
    # ...but never more than it.
    wider_filter = term(frozenset({lit("ParentImage", "contains", "explorer")}))
    assert not terms_imply((term(ps, exclusions=(explorer,)),), (term(ps, exclusions=(wider_filter,)),))


def sigma_rule(
    name: str, detection: str, logsource: str = "product: windows\n  category: process_creation"
) -> Rule:
    text = f"title: {name}\nlogsource:\n  {logsource}\ndetection:\n{detection}\nlevel: high\n"
    rules, problems = parse_sigma_file(text, f"{name}.yml", "rules")
    assert rules, problems
    rules[0].uid = f"sigma/{name}"
    return rules[0]


def test_class_key_ignores_names_order_and_case_but_not_logic_or_coverage() -> None:
    a = sigma_rule(
        "a", "  sel:\n    Image|endswith: '\\x.exe'\n    CommandLine|contains: ['b', 'a']\n  condition: sel"
    )
    b = sigma_rule(
        "b",
        "  s2:\n    CommandLine|contains: ['A', 'B']\n  s1:\n    Image|endswith: '\\X.EXE'\n"
        "  condition: s1 and s2",
    )
    c = sigma_rule(
        "c", "  sel:\n    Image|endswith: '\\x.exe'\n    CommandLine|contains: 'a'\n  condition: sel"
    )
    fa, fb, fc = (rule_form(r, EVENTS) for r in (a, b, c))
    assert fa is not None and fb is not None and fc is not None
    assert fa.class_key == fb.class_key != fc.class_key
    other_events = rule_form(a, [("Security", "Security", 4688, "")])
    assert other_events is not None and other_events.class_key != fa.class_key
    # The key is a hash of the form alone: the same on every build (and not the uid).
    again = rule_form(
        sigma_rule(
            "renamed",
            "  sel:\n    Image|endswith: '\\x.exe'\n    CommandLine|contains: ['a', 'b']\n  condition: sel",
        ),
        EVENTS,
    )
    assert again is not None and again.class_key == fa.class_key
    assert re.fullmatch(r"[0-9a-f]{16}", fa.class_key)


def test_too_many_alternatives_is_undecidable_but_still_classed() -> None:
    # Eight searches, each "(F and H) or G": 2^8 alternatives once ANDed out.
    lists = "\n".join(f"  s{i}:\n    - F{i}: a\n      H{i}: c\n    - G{i}: b" for i in range(8))
    rule = sigma_rule("big", lists + "\n  condition: all of s*")
    form = rule_form(rule, EVENTS)
    assert form is not None and form.terms is None
    assert "more than 64 alternatives" in form.undecidable
    assert form.class_key
    narrow = rule_form(sigma_rule("n", "  s:\n    F0: a\n    H0: c\n    G1: b\n  condition: s"), EVENTS)
    assert narrow is not None
    assert relate([narrow, form]).neighbours == []  # never claimed either way


def test_rules_without_own_logic_have_no_form() -> None:
    rule = sigma_rule("p", "  sel:\n    Image|endswith: '\\x.exe'\n  condition: sel")
    rule.logic_parsed = False
    assert rule_form(rule, EVENTS) is None


def test_reasons_in_words() -> None:
    narrow = rule_form(
        sigma_rule(
            "n",
            "  sel:\n    Image|endswith: '\\powershell.exe'\n    CommandLine|contains: ' -enc '\n"
            "  f1:\n    ParentImage|endswith: '\\explorer.exe'\n  f2:\n    User: SYSTEM\n"
            "  condition: sel and not f1 and not f2",
        ),
        EVENTS,
    )
    broad = rule_form(
        sigma_rule("b", "  sel:\n    Image|endswith: ['\\powershell.exe', '\\pwsh.exe']\n  condition: sel"),
        EVENTS,
    )
    assert narrow is not None and broad is not None
    (found,) = relate([narrow, broad]).neighbours
    assert (found.narrow, found.broad) == ("sigma/n", "sigma/b")
    assert found.broad_reason == (
        "drops `CommandLine contains  -enc `; drops 2 filters this rule applies; "
        "accepts 1 more value of `Image`"
    )
    assert (
        found.narrow_reason
        == "adds `CommandLine contains  -enc `; adds 2 filters; accepts 1 fewer value of `Image`"
    )


# --- property: "broader" is never claimed when a counter-example event exists -------------------------------

FIELDS = ("Image", "CommandLine")
ATOMS = ("a", "b", "ab", "ba", "A", "x")


def _matches(pred: Pred, event: dict[str, str]) -> bool:
    """A tiny evaluator of the model's comparisons (Sigma semantics: absent fields match nothing)."""
    assert pred.field is not None
    if pred.field not in event:
        return False
    value, wanted = event[pred.field], str(pred.value)
    if not pred.cased:
        value, wanted = value.casefold(), wanted.casefold()
    if pred.kind is Kind.EQ:
        return value == wanted
    if pred.kind is Kind.CONTAINS:
        return wanted in value
    if pred.kind is Kind.STARTS_WITH:
        return value.startswith(wanted)
    if pred.kind is Kind.ENDS_WITH:
        return value.endswith(wanted)
    if pred.kind is Kind.WILDCARD:
        body = "".join(
            re.escape(p) if isinstance(p, str) else ".*" if p is Wild.STAR else "."
            for p in parse_wildcard(wanted)
        )
        return re.fullmatch(body, value, re.DOTALL) is not None
    raise AssertionError(pred.kind)


def evaluate(expr: Expr, event: dict[str, str]) -> bool:
    if isinstance(expr, Pred):
        return _matches(expr, event)
    if isinstance(expr, Not):
        return not evaluate(expr.item, event)
    if isinstance(expr, All):
        return all(evaluate(i, event) for i in expr.items)
    if isinstance(expr, Any):
        return any(evaluate(i, event) for i in expr.items)
    raise AssertionError(expr)


KINDS = (Kind.EQ, Kind.CONTAINS, Kind.STARTS_WITH, Kind.ENDS_WITH, Kind.WILDCARD)


def random_expr(rng: random.Random, leaves: int = 5) -> Expr:
    """A random expression over two fields, small values, every text kind, either case rule, any nesting."""
    if leaves <= 1 or rng.random() < 0.3:
        value = "".join(rng.choice([*ATOMS, "*"]) for _ in range(rng.randint(0, 3)))
        return Pred(rng.choice(FIELDS), rng.choice(KINDS), value, rng.random() < 0.3)
    shape = rng.random()
    if shape < 0.2:
        return Not(random_expr(rng, leaves - 1))
    items = tuple(random_expr(rng, leaves // 2) for _ in range(rng.randint(1, 3)))
    return All(items) if shape < 0.6 else Any(items)


def _rule(uid: str, expr: Expr) -> Rule:
    stages = [Stage(0, "condition", "condition", "", expr)]
    return Rule(
        uid=uid, vendor="sigma", language="sigma", source=SourceRef("", uid), folder="rules", stages=stages
    )


def _events(exprs_: list[Expr], rng: random.Random) -> list[dict[str, str]]:
    """Events built from the predicates' own values, padded, re-cased and left out at random."""
    values = [
        str(p.value).replace("*", rng.choice(["", "x", "ab"])) for e in exprs_ for p in _walk(e)
    ] + list(ATOMS)
    out = []
    for _ in range(300):
        event = {}
        for field in FIELDS:
            if rng.random() < 0.15:
                continue
            value = rng.choice(["", *ATOMS]) + rng.choice(values) + rng.choice(["", *ATOMS])
            event[field] = value.upper() if rng.random() < 0.2 else value
        out.append(event)
    return out


def _walk(expr: Expr) -> list[Pred]:
    if isinstance(expr, Pred):
        return [expr]
    if isinstance(expr, Not):
        return _walk(expr.item)
    assert isinstance(expr, All | Any)
    return [p for i in expr.items for p in _walk(i)]


def test_broader_is_never_claimed_against_a_counter_example() -> None:
    rng = random.Random(20261207)
    claimed = 0
    for _ in range(2500):
        narrow, broad = random_expr(rng), random_expr(rng)
        if rng.random() < 0.3:  # a stricter variant of the broad rule: implication claimed more often
            narrow = All((broad, random_expr(rng, 2)))
        n_form = rule_form(_rule("sigma/n", narrow), EVENTS)
        b_form = rule_form(_rule("sigma/b", broad), EVENTS)
        if n_form is None or b_form is None or n_form.terms is None or b_form.terms is None:
            continue
        if not terms_imply(n_form.terms, b_form.terms):
            continue
        claimed += 1
        for event in _events([narrow, broad], random.Random(rng.random())):
            if evaluate(narrow, event):
                assert evaluate(broad, event), (event, narrow, broad)
    assert claimed > 300  # the test exercised the claim, not only refusals


def test_the_property_test_finds_counter_examples() -> None:
    """The evaluator and event generator do find events that tell two rules apart (the property has teeth)."""
    narrow = Pred("Image", Kind.CONTAINS, "ab")
    broad = Pred("Image", Kind.ENDS_WITH, "ab")
    events = _events([narrow, broad], random.Random(1))
    assert any(evaluate(narrow, e) and not evaluate(broad, e) for e in events)
    forms = [rule_form(_rule("sigma/n", narrow), EVENTS), rule_form(_rule("sigma/b", broad), EVENTS)]
    assert all(f is not None and f.terms is not None for f in forms)
    assert not terms_imply(forms[0].terms, forms[1].terms)  # type: ignore[union-attr,arg-type]


def test_one_vendor_s_rules_on_one_log_source_compare_whatever_their_field_aware_coverage() -> None:
    # `Image or OriginalFileName` loses Security 4688 (no OriginalFileName there): still fed the same events.
    broad = sigma_rule(
        "b",
        "  sel:\n    - Image|endswith: '\\whoami.exe'\n    - OriginalFileName: whoami.exe\n  condition: sel",
    )
    narrow = sigma_rule(
        "n", "  sel:\n    Image|endswith: '\\whoami.exe'\n    CommandLine|contains: /priv\n  condition: sel"
    )
    both = [*EVENTS, ("Security", "Security", 4688, "")]
    forms = [rule_form(narrow, both), rule_form(broad, EVENTS)]
    assert all(f is not None for f in forms)
    (found,) = relate(forms).neighbours  # type: ignore[arg-type]
    assert (found.narrow, found.broad) == ("sigma/n", "sigma/b")
    assert "covers" not in found.broad_reason
    # Another log source with fewer events is never assumed to see this rule's events.
    other = rule_form(
        sigma_rule(
            "o",
            "  sel:\n    Image|endswith: '\\whoami.exe'\n  condition: sel",
            "product: linux\n  category: process_creation",
        ),
        EVENTS,
    )
    assert other is not None
    assert relate([forms[0], other]).neighbours == []  # type: ignore[list-item]


def _pipeline(uid: str, *stages: tuple[str, str, Expr | None, tuple[str, ...]]) -> Rule:
    return Rule(
        uid=uid,
        vendor="elastic",
        language="esql",
        source=SourceRef("", uid),
        folder="rules",
        logsource={"product": "windows", "category": "process_creation", "elastic.index": "logs-*"},
        stages=[
            # "let:<name>": a let stage, labelled with the name it defines (as the parsers label them)
            Stage(i, op.split(":")[-1], op.split(":")[0], text, expr, defines=defines)
            for i, (op, text, expr, defines) in enumerate(stages)
        ],
    )


def test_predicates_on_defined_columns_stay_and_compare_only_under_the_same_definitions() -> None:
    source = ("source", "FROM logs-*", None, ())
    where = (
        "filter",
        'WHERE process.name == "a.exe"',
        Pred("process.name", Kind.EQ, "a.exe", cased=True),
        (),
    )
    define = ("extend", "EVAL c = TO_LOWER(process.command_line)", None, ("c",))
    other_define = ("extend", "EVAL c = TO_UPPER(process.command_line)", None, ("c",))

    def on_c(value: str) -> tuple[str, str, Expr | None, tuple[str, ...]]:
        return ("filter", f'WHERE c == "{value}"', Pred("c", Kind.EQ, value, cased=True), ())

    a = rule_form(_pipeline("elastic/a", source, where, define, on_c("y")), [])
    b = rule_form(_pipeline("elastic/b", source, where, define, on_c("z")), [])
    c = rule_form(_pipeline("elastic/c", source, where, other_define, on_c("y")), [])
    d = rule_form(_pipeline("elastic/d", source, where), [])
    assert a is not None and b is not None and c is not None and d is not None
    assert len({a.class_key, b.class_key, c.class_key, d.class_key}) == 4
    found = {(n.narrow, n.broad) for n in relate([a, b, c, d]).neighbours}
    # Each filtered rule is stricter than the plain one; none is claimed against another's definitions.
    assert found == {("elastic/a", "elastic/d"), ("elastic/b", "elastic/d"), ("elastic/c", "elastic/d")}


def test_stages_after_an_aggregate_are_part_of_the_shape() -> None:
    where = ("filter", "where EventID == 4625", Pred("EventID", Kind.EQ, 4625), ())
    rules = [
        _pipeline(f"elastic/{name}", where, ("aggregate", "stats count by user", None, ("count",)), tail)
        for name, tail in (
            ("x", ("join", "join kind=inner (A) on user", None, ())),
            ("y", ("join", "join kind=inner (B) on user", None, ())),
        )
    ]
    forms = [rule_form(r, []) for r in rules]
    assert all(f is not None and f.shape is not None for f in forms)
    assert forms[0].class_key != forms[1].class_key  # type: ignore[union-attr]
    assert relate(forms).neighbours == []  # type: ignore[arg-type]


def test_scope_predicates_and_rule_defined_lists_tell_rules_apart() -> None:
    def iam(uid: str, action: str) -> Rule:
        expr = All(
            (
                Pred("event.type", Kind.EQ, action, cased=True, scope=True),
                Pred("event.outcome", Kind.EQ, "success"),
            )
        )
        return _pipeline(uid, ("filter", f"iam where event.type == {action!r}", expr, ()))

    deletion, creation = (
        rule_form(iam("elastic/d", "deletion"), []),
        rule_form(iam("elastic/c", "creation"), []),
    )
    assert deletion is not None and creation is not None and deletion.class_key != creation.class_key

    def listed(uid: str, values: str) -> Rule:
        member = Pred("Codename", Kind.EQ, "codeNameList", transforms=("expand",))
        return _pipeline(
            uid,
            ("let:codeNameList", f"let codeNameList = datatable(Codename:string)[{values}]", None, ()),
            ("filter", "where Codename in~ (codeNameList)", member, ()),
        )

    one, other, same = (
        rule_form(listed(f"elastic/{n}", v), []) for n, v in (("a", '"A"'), ("b", '"B"'), ("s", '"A"'))
    )
    assert one is not None and other is not None and same is not None
    assert one.class_key != other.class_key and one.class_key == same.class_key
