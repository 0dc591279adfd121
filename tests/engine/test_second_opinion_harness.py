"""The second-opinion harness (second_opinion.py) on small events of our own: it sees a disagreement when
there is one, and names each cause it knows only when taking that difference away removes the disagreement.

None of these causes occurs on ../shared/logs (test_second_opinion.py); these cases show the harness could
tell if one did, so that "no disagreement" there means agreement, not a blind harness.
"""

from __future__ import annotations

from collections.abc import Sequence

from ruleatlas.engine import CompiledSet, compile_rules
from ruleatlas.logs.event import Event
from ruleatlas.model import Rule
from ruleatlas.sources.sigma import parse_sigma_file
from second_opinion import (
    CAUSE_KEYWORD_SPAN,
    CAUSE_LIST,
    CAUSE_NUMERIC,
    CAUSE_SCAN,
    CAUSE_UNEXPLAINED,
    CAUSE_UNICODE,
    Columns,
    Comparison,
    Conversion,
    build_table,
    cause_counts,
    compare,
    convert_text,
    explain,
    explain_all,
    one_row,
    sql_backend,
    sql_matches,
)

# name -> detection (logsource product "test": our routing tests it on events without a Channel, as here)
RULES = {
    "cmd_whoami": """
    selection:
        Image|endswith: '\\cmd.exe'
        CommandLine|contains: 'WHOAMI'
    filter:
        ParentImage: null
    condition: selection and not filter""",
    "regex_flags": """
    selection:
        CommandLine|re|i: 'who[a-z]+ /ALL$'
    condition: selection""",
    "keyword": """
    keywords:
        - 'mimikatz'
    condition: keywords""",
    "numeric_gt": """
    selection:
        Count|gt: 5
    condition: selection""",
    "unicode_user": """
    selection:
        User: 'ÄDMIN'
    condition: selection""",
    "list_data": """
    selection:
        Data: 'sa'
    condition: selection""",
    "keyword_span": """
    keywords:
        - 'foo*bar'
    condition: keywords""",
}

EVENTS: list[dict[str, object]] = [
    {"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c whoami /all", "ParentImage": "x.exe"},
    {"Image": "C:\\Windows\\System32\\CMD.EXE", "CommandLine": "cmd /c whoami", "ParentImage": None},
    {"Image": "C:\\tools\\m.exe", "CommandLine": "Invoke-Mimikatz", "Count": 10},
    {"User": "ädmin", "Count": 3},
    {"Data": ["sa", "Reason: bad password"]},
    {"First": "foo", "Second": "bar"},
]


def _rule_text(name: str, detection: str) -> str:
    return (
        f"title: {name}\nid: 00000000-0000-0000-0000-{len(name):012d}\n"
        f"logsource:\n    product: test\ndetection:{detection}\nlevel: low\n"
    )


def _setup(
    names: Sequence[str],
) -> tuple[list[Event], CompiledSet, list[Conversion], Columns, Comparison]:
    events = [Event(dict(fields), "events.jsonl", n + 1, None) for n, fields in enumerate(EVENTS)]
    columns = Columns.of(events)
    backend = sql_backend(columns)
    rules: list[Rule] = []
    conversions: list[Conversion] = []
    for name in names:
        text = _rule_text(name, RULES[name])
        path = f"rules/{name}.yml"
        parsed, problems = parse_sigma_file(text, path, "rules")
        assert problems == []
        rules.extend(parsed)
        conversions.extend(convert_text(text, path, backend))
    compiled = compile_rules(rules)
    assert compiled.problems == [] and len(compiled.rules) == len(names)
    comparison = compare(events, compiled, conversions, build_table(events, columns))
    return events, compiled, conversions, columns, comparison


def test_both_sides_agree_on_what_they_share() -> None:
    events, _, conversions, _, comparison = _setup(["cmd_whoami", "regex_flags", "keyword"])
    assert all(c.where for c in conversions)
    assert comparison.not_compared == {}
    assert comparison.disagreements() == []
    assert (
        comparison.engine
        == comparison.sql
        == {
            "sigma/cmd_whoami": {0},  # cmd.exe, whoami folded; the CMD.EXE one has a null parent: filtered
            "sigma/regex_flags": {0},  # `re|i`: case-insensitive search, anchored at the end
            "sigma/keyword": {2},  # the keyword in any value, folded
        }
    )
    assert comparison.pairs == 3 * len(events)
    assert comparison.agreement() == 1.0


def test_each_known_cause_is_seen_and_named() -> None:
    events, compiled, conversions, columns, comparison = _setup(
        ["numeric_gt", "unicode_user", "list_data", "keyword_span"]
    )
    explained = explain_all(comparison, events, compiled, conversions, columns)
    found = {(e.disagreement.uid, e.disagreement.event, e.disagreement.engine): e.cause for e in explained}
    assert found == {
        ("sigma/numeric_gt", 2, True): CAUSE_NUMERIC,  # 10 > 5; SQLite: '10' > '5' is false
        ("sigma/unicode_user", 3, True): CAUSE_UNICODE,  # 'ädmin' = 'ÄDMIN' folded; NOCASE folds ASCII only
        ("sigma/list_data", 4, True): CAUSE_LIST,  # one element is 'sa'; the cell holds both joined
        ("sigma/keyword_span", 5, False): CAUSE_KEYWORD_SPAN,  # 'foo' and 'bar' are two values
    }
    assert cause_counts(explained) == {
        CAUSE_NUMERIC: 1,
        CAUSE_UNICODE: 1,
        CAUSE_LIST: 1,
        CAUSE_KEYWORD_SPAN: 1,
    }
    assert "only our engine matches" in str(explained[0]) and "events.jsonl record 3" in str(explained[0])
    assert comparison.agreement() == 1 - 4 / comparison.pairs


def test_a_disagreement_no_cause_explains_stays_unexplained() -> None:
    events, compiled, _, columns, _ = _setup(["cmd_whoami"])
    rule = compiled.rules[0]
    assert rule.match(events[0].fields) and not rule.match(events[1].fields)
    # a backend that got the rule wrong: nothing known explains it
    assert explain(rule, "1 = 0", events[0].fields, True, columns) == CAUSE_UNEXPLAINED
    # our scan saying "match" where the compiled rule says no: the scan's own mistake
    assert explain(rule, "1 = 0", events[1].fields, True, columns) == CAUSE_SCAN


def test_field_names_differing_in_case_get_columns_of_their_own() -> None:
    events = [Event({"ProcessId": "1", "ProcessID": "2", "processid": "3"}, "e", 1, None)]
    columns = Columns.of(events)
    assert len({c.casefold() for c in columns.names.values()}) == 3
    table = one_row(events[0].fields, columns)
    for name, value in events[0].fields.items():
        assert sql_matches(table, f"\"{columns.column(name)}\" = '{value}'") == {0}
    assert columns.column("NoSuchField") == "__absent__"
