"""The literal prefilter: event text, and candidates from one Aho-Corasick pass."""

from __future__ import annotations

import pytest

from ruleatlas.engine import prefilter as prefilter_module
from ruleatlas.engine.prefilter import (
    SEPARATOR,
    LiteralSets,
    Prefilter,
    RuleFacts,
    Sources,
    event_text,
    fold,
    has_any_field,
    literal_sources,
    read_fields,
    required_fields,
)
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Ref, Rule, SourceRef, Stage


def test_event_text_holds_every_value_as_matchers_see_it() -> None:
    fields: dict[str, object] = {
        "Image": "C:\\Windows\\System32\\CMD.EXE",
        "EventID": 4688,
        "Flag": True,
        "Ratio": 1.5,
        "Data": ["First", {"Inner": "Deep"}],
        "Nothing": None,
        "Straße": "STRASSE Groß",
    }
    text = event_text(fields)
    for part in ("c:\\windows\\system32\\cmd.exe", "4688", "true", "1.5", "first", "deep", "strasse gross"):
        assert part in text, part
    assert text == fold(text)
    assert "none" not in text
    assert text.count(SEPARATOR) == 6  # 7 values (None left out), no field names


def _prefilter(
    rule_ids: range | list[int],
    literals: list[frozenset[str] | None],
    fields: list[frozenset[str] | None],
    reads: list[frozenset[str] | None] | None = None,
) -> Prefilter:
    facts = RuleFacts(literals, fields, reads if reads is not None else [None] * len(literals))
    return Prefilter(rule_ids, facts, LiteralSets(literals))


def test_literal_candidates() -> None:
    literals: list[frozenset[str] | None] = [
        frozenset({"cmd.exe"}),
        None,
        frozenset({"mimikatz", "sekurlsa"}),
        frozenset({"cmd.exe", "powershell"}),
        frozenset(),  # no literal: cannot be filtered, always a candidate
        frozenset({"never-there"}),
    ]
    no_fields: list[frozenset[str] | None] = [None] * 6
    prefilter = _prefilter(range(6), literals, no_fields)
    assert prefilter.always == (1, 4)
    assert prefilter.candidates({"a": "C:\\Windows\\cmd.exe /c whoami"}) == [0, 1, 3, 4]
    assert prefilter.candidates({"a": "sekurlsa::logonpasswords"}) == [1, 2, 4]
    assert prefilter.candidates({"a": "nothing here"}) == [1, 4]
    assert _prefilter([2, 3], literals, no_fields).candidates({"a": "PowerShell mimikatz"}) == [2, 3]
    assert _prefilter([1], literals, no_fields).candidates({"a": "anything"}) == [1]
    assert prefilter.without_prefilter() == [0, 1, 2, 3, 4, 5]


def test_field_candidates() -> None:
    literals: list[frozenset[str] | None] = [None, frozenset({"cmd"}), None, None]
    fields: list[frozenset[str] | None] = [
        frozenset({"logtype"}),
        frozenset({"CommandLine"}),
        None,
        frozenset({"a.b", "Other"}),
    ]
    prefilter = _prefilter(range(4), literals, fields)
    assert prefilter.candidates({"CommandLine": "cmd"}) == [1, 2]
    assert prefilter.candidates({"Image": "cmd"}) == [2]  # literal there, field not
    assert prefilter.candidates({"logtype": 1001}) == [0, 2]
    assert prefilter.candidates({"a": {"b": 1}}) == [2, 3]  # nested object reached by the dotted name
    assert prefilter.candidates({"Other": None}) == [2, 3]


def test_text_holds_only_the_fields_the_rules_read() -> None:
    literals: list[frozenset[str] | None] = [frozenset({"cmd"}), frozenset({"evil"})]
    no_fields: list[frozenset[str] | None] = [None, None]
    reads: list[frozenset[str] | None] = [frozenset({"CommandLine"}), frozenset({"Image"})]
    prefilter = _prefilter(range(2), literals, no_fields, reads)
    event: dict[str, object] = {"Image": "x.exe", "CommandLine": "y", "Other": "cmd evil"}
    assert prefilter.candidates(event) == []  # the literals are only in a field no rule reads
    assert prefilter.candidates({"Image": "evil.exe", "CommandLine": "cmd"}) == [0, 1]
    keyword = _prefilter(range(2), literals, no_fields, [None, frozenset({"Image"})])  # rule 0 reads anything
    # one pass over the whole text for both: the Image rule becomes a candidate (more text only adds
    # candidates, never loses a match), the keyword rule sees "Other"
    assert keyword.candidates(event) == [0, 1]
    assert keyword.candidates({"Image": "x.exe", "CommandLine": "y"}) == []


def test_further_literal_requirements_must_hold_too() -> None:
    literals: list[frozenset[str] | None] = [frozenset({"service control manager"}), frozenset({"other"})]
    facts = RuleFacts(literals, [None, None], [None, None], [(frozenset({"powershell", "mshta"}),), ()])
    prefilter = Prefilter(range(2), facts, LiteralSets(facts))
    assert prefilter.candidates({"P": "Service Control Manager", "I": "x.exe"}) == []
    assert prefilter.candidates({"P": "Service Control Manager", "I": "MSHTA.exe"}) == [0]
    assert prefilter.candidates({"P": "x", "I": "mshta other"}) == [1]


def test_read_fields() -> None:
    from ruleatlas.engine.compile import compile_rules
    from ruleatlas.engine.matchers import AllOf, Keyword, NotOf

    sel = All((Pred("Image", Kind.ENDS_WITH, "\\cmd.exe"), Pred("a.b", Kind.CONTAINS, "x")))
    compiled = compile_rules(
        [_rule(All((Ref("sel"), Not(Ref("f")))), sel=sel, f=Pred("User", Kind.EQ, "SYSTEM"))]
    )
    assert compiled.problems == []
    assert read_fields(compiled.rules[0].matcher) == {"Image", "a.b", "a", "User"}
    assert read_fields(NotOf(AllOf([Keyword(True, lambda s: True)]))) is None
    assert read_fields(None) is None


def _rule(condition: Expr, **searches: Expr) -> Rule:
    stages = [Stage(0, "condition", "condition", "", condition)]
    stages += [Stage(i + 1, name, "search", "", expr) for i, (name, expr) in enumerate(searches.items())]
    return Rule(
        uid="sigma/x",
        vendor="sigma",
        language="sigma",
        source=SourceRef("", "x.yml"),
        folder="rules",
        stages=stages,
    )


def test_required_fields() -> None:
    image = Pred("Image", Kind.ENDS_WITH, "\\cmd.exe")
    cmd = Pred("CommandLine", Kind.CONTAINS, "whoami")
    parent = Pred("ParentImage", Kind.ENDS_WITH, "\\explorer.exe")
    sel = All((image, cmd))
    assert required_fields(_rule(Ref("sel"), sel=sel)) in ({"Image"}, {"CommandLine"})
    either = Any((image, parent))
    assert required_fields(_rule(Ref("sel"), sel=either)) == {"Image", "ParentImage"}
    with_filter = All((Ref("sel"), Not(Ref("filter"))))
    assert required_fields(_rule(with_filter, sel=either, filter=cmd)) == {"Image", "ParentImage"}
    # what holds without the field gives no requirement
    for pred in (
        Pred("X", Kind.EXISTS, False),
        Pred("X", Kind.EQ, None),
        Pred("X", Kind.NEQ, "a"),
        Pred("X", Kind.EQ, "a", transforms=("neq",)),
        Pred(None, Kind.CONTAINS, "keyword"),
    ):
        assert required_fields(_rule(Ref("sel"), sel=pred)) is None, pred
        assert required_fields(_rule(Ref("sel"), sel=Any((image, pred)))) is None, pred
    assert required_fields(_rule(Not(Ref("sel")), sel=image)) is None
    assert required_fields(_rule(Ref("missing"), sel=image)) is None


def test_numbers_and_booleans_count_when_a_literal_could_be_in_them() -> None:
    literals: list[frozenset[str] | None] = [frozenset({"4688"}), frozenset({"true"}), frozenset({"cmd.exe"})]
    none: list[frozenset[str] | None] = [None, None, None]
    prefilter = Prefilter(range(3), RuleFacts(literals, none, none), LiteralSets(literals))
    assert prefilter.candidates({"EventID": 4688, "Flag": True, "Image": "x"}) == [0, 1]
    words = Prefilter([2], RuleFacts(literals, none, none), LiteralSets(literals))  # no numeric literal
    assert words.candidates({"EventID": 4688, "Image": "C:\\cmd.exe"}) == [2]
    # the same field names with other types than when the plan was made: the exact text is built
    assert words.candidates({"EventID": "cmd.exe", "Image": 5}) == [2]
    assert words.candidates({"EventID": ["cmd.exe"], "Image": None}) == [2]
    assert words.candidates({"EventID": 1, "Image": None}) == []


def test_non_ascii_values_are_folded_like_the_whole_text() -> None:
    literals: list[frozenset[str] | None] = [
        frozenset({"microsoft® windows®"}),
        frozenset({"ὀδυσσεύσ"}),
        frozenset({"strasse gross"}),
        frozenset({"4242"}),  # numeric: numbers are added to the text
    ]
    none: list[frozenset[str] | None] = [None] * 4
    prefilter = Prefilter(range(4), RuleFacts(literals, none, none), LiteralSets(literals))
    event: dict[str, object] = {
        "Product": "Microsoft® WINDOWS®",
        "Name": "ὈΔΥΣΣΕΎΣ",
        "Street": "STRASSE Groß",
        "Port": 4242,
    }
    assert prefilter.candidates(event) == [0, 1, 2, 3]
    assert prefilter.candidates({**event, "Port": 1}) == [0, 1, 2]
    ascii_only = {"Product": "microsoft", "Street": "x", "Name": "y", "Port": 4242}
    assert prefilter.candidates(ascii_only) == [3]


def test_field_index_agrees_with_the_plain_definition() -> None:
    """`Prefilter` finds the rules an event's field names let through by an index; `has_any_field` is the
    definition (a dotted name also by its top object)."""
    names = ["Image", "CommandLine", "a.b", "a", "User", "x.y.z"]
    fields_of: list[frozenset[str] | None] = [
        None,
        frozenset({"Image"}),
        frozenset({"Image", "CommandLine"}),
        frozenset({"a.b"}),
        frozenset({"x.y.z", "User"}),
        frozenset({"Other"}),
    ]
    with_literals: list[frozenset[str] | None] = [frozenset({"lit"})] * len(fields_of)
    without: list[frozenset[str] | None] = [None] * len(fields_of)
    for literals in (with_literals, without):  # selected by the automaton, or always candidates
        facts = RuleFacts(literals, fields_of, [None] * len(fields_of))
        prefilter = Prefilter(range(len(fields_of)), facts, LiteralSets(facts))
        for mask in range(1, 1 << len(names)):
            event = {name: "lit" for bit, name in enumerate(names) if mask >> bit & 1}
            expected = [
                i for i, needs in enumerate(fields_of) if needs is None or has_any_field(event, needs)
            ]
            assert prefilter.candidates(event) == expected, event


def test_literal_sources_name_the_fields_a_literal_is_read_from() -> None:
    image = Pred("Image", Kind.ENDS_WITH, "\\cmd.exe")
    both = Pred("CommandLine", Kind.CONTAINS, "cmd.exe")
    dotted = Pred("Event.Data", Kind.CONTAINS, "secret")
    keyword = Pred(None, Kind.CONTAINS, "mimikatz")
    negated = Pred("User", Kind.CONTAINS, "system")
    rule = _rule(
        All((Ref("sel"), Not(Ref("filter")))),
        sel=Any((All((image, both)), dotted, keyword)),
        filter=negated,
    )
    sources = literal_sources(rule)
    assert sources["\\cmd.exe"] == {"Image"}
    assert sources["cmd.exe"] == {"CommandLine"}
    assert sources["secret"] == {"Event.Data", "Event"}  # by its name, or from its top key
    assert sources["mimikatz"] is None  # a keyword: any field
    assert sources["system"] == {"User"}  # every predicate counts (more places only add candidates)
    # a literal a keyword also requires may be anywhere
    assert (
        literal_sources(_rule(Ref("sel"), sel=Any((both, Pred(None, Kind.CONTAINS, "cmd.exe")))))["cmd.exe"]
        is None
    )


def test_field_split_search_finds_literals_in_their_own_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """A big automaton's literals are searched in the fields their predicates read (FieldGroup); small
    fields' literals share one automaton; keyword literals are searched in every field."""
    monkeypatch.setattr(prefilter_module, "SMALL_AUTOMATON", 2)
    literals: list[frozenset[str] | None] = [
        frozenset({"whoami"}),  # CommandLine
        frozenset({"\\cmd.exe"}),  # Image
        frozenset({"mimikatz"}),  # a keyword
        frozenset({"alpha", "beta"}),  # CommandLine, with a further requirement on Image
    ]
    sources: list[Sources] = [
        {"whoami": frozenset({"CommandLine"})},
        {"\\cmd.exe": frozenset({"Image"})},
        {"mimikatz": None},
        {
            "alpha": frozenset({"CommandLine"}),
            "beta": frozenset({"CommandLine"}),
            "gamma": frozenset({"Image"}),
        },
    ]
    reads: list[frozenset[str] | None] = [
        frozenset({"CommandLine"}),
        frozenset({"Image"}),
        None,
        frozenset({"CommandLine", "Image"}),
    ]
    facts = RuleFacts(literals, [None] * 4, reads, [(), (), (), (frozenset({"gamma"}),)], sources)
    prefilter = Prefilter(range(4), facts, LiteralSets(facts))
    event: dict[str, object] = {"Image": "C:\\CMD.EXE", "CommandLine": "whoami /all", "User": "x"}
    plan = prefilter.plan(event)
    assert plan.groups is not None and len(plan.groups) >= 2
    assert prefilter.candidates(event) == [0, 1]
    # a literal in another field than its predicates read is no hit
    assert prefilter.candidates({"Image": "whoami.exe", "CommandLine": "x \\cmd.exe", "User": "x"}) == []
    # a keyword's literal counts in any field, also one no field rule reads
    assert prefilter.candidates({"Image": "a", "CommandLine": "b", "User": "MIMIKATZ"}) == [2]
    # the further requirement is searched in its own field too
    assert prefilter.candidates({"Image": "gamma", "CommandLine": "alpha", "User": "x"}) == [3]
    assert prefilter.candidates({"Image": "x", "CommandLine": "alpha gamma", "User": "x"}) == []
    # values of another type than when the plan was made: the exact text of the group
    assert prefilter.candidates({"Image": ["C:\\cmd.exe"], "CommandLine": 5, "User": "x"}) == [1]
