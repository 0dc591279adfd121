"""The literal prefilter: event text, and candidates from one Aho-Corasick pass."""

from __future__ import annotations

from ruleatlas.engine.prefilter import SEPARATOR, LiteralIndex, event_text, fold


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


def test_candidates() -> None:
    literals: list[frozenset[str] | None] = [
        frozenset({"cmd.exe"}),
        None,
        frozenset({"mimikatz", "sekurlsa"}),
        frozenset({"cmd.exe", "powershell"}),
        frozenset(),  # no literal: cannot be filtered, always a candidate
        frozenset({"never-there"}),
    ]
    index = LiteralIndex(range(6), literals)
    assert index.always == (1, 4)
    assert index.candidates("c:\\windows\\cmd.exe /c whoami") == [0, 1, 3, 4]
    assert index.candidates("sekurlsa::logonpasswords") == [1, 2, 4]
    assert index.candidates("nothing here") == [1, 4]
    subset = LiteralIndex([2, 3], literals)
    assert subset.candidates("powershell mimikatz") == [2, 3]
    assert LiteralIndex([1], literals).candidates("anything") == [1]
