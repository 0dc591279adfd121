"""The literal prefilter: event text, and candidates from one Aho-Corasick pass."""

from __future__ import annotations

from ruleatlas.engine.prefilter import SEPARATOR, Prefilter, event_text, fold, required_fields
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
    prefilter = Prefilter(range(6), literals, no_fields)
    assert prefilter.always == (1, 4)
    assert prefilter.candidates({}, "c:\\windows\\cmd.exe /c whoami") == [0, 1, 3, 4]
    assert prefilter.candidates({}, "sekurlsa::logonpasswords") == [1, 2, 4]
    assert prefilter.candidates({}, "nothing here") == [1, 4]
    assert Prefilter([2, 3], literals, no_fields).candidates({}, "powershell mimikatz") == [2, 3]
    assert Prefilter([1], literals, no_fields).candidates({}, "anything") == [1]
    assert prefilter.without_prefilter() == [0, 1, 2, 3, 4, 5]


def test_field_candidates() -> None:
    literals: list[frozenset[str] | None] = [None, frozenset({"cmd"}), None, None]
    fields: list[frozenset[str] | None] = [
        frozenset({"logtype"}),
        frozenset({"CommandLine"}),
        None,
        frozenset({"a.b", "Other"}),
    ]
    prefilter = Prefilter(range(4), literals, fields)
    assert prefilter.candidates({"CommandLine": "cmd"}, "cmd") == [1, 2]
    assert prefilter.candidates({"Image": "cmd"}, "cmd") == [2]  # literal there, field not
    assert prefilter.candidates({"logtype": 1001}, "1001") == [0, 2]
    assert prefilter.candidates({"a": {"b": 1}}, "1") == [2, 3]  # nested object reached by the dotted name
    assert prefilter.candidates({"Other": None}, "") == [2, 3]


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
