"""Hostile input for every vendor reader: megabyte-sized files built to make a backtracking regular
expression or a recursive reader blow up. Each must come back with rules or problems (the suite would stall,
not pass, if a pattern went quadratic again); nothing in them may run code."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from ruleatlas.sources import elastic, kusto, panther, splunk, sublime, yaral

SPACES = " " * 1_000_000


def parse(reader: ModuleType, text: str, rel_path: str) -> tuple[int, int]:
    rules, problems = reader.parse_file(
        text, rel_path, rel_path.split("/")[0], repo_url="", commit="", companions={}
    )
    assert all(p.file for p in problems) and all(p.file for r in rules for p in r.problems)
    return len(rules), len(problems)


def test_elastic_long_query_lines() -> None:
    query = "event.type == " * 60_000 + "\n" * 200_000 + "[process where x]" + "event.category:(" * 30_000
    text = f"[rule]\nname = 'x'\ntype = 'eql'\nlanguage = 'eql'\nquery = '''\n{query}\n'''\n"
    assert parse(elastic, text, "rules/x.toml") == (1, 0)


def test_kusto_unclosed_lists() -> None:
    query = "SecurityEvent | where EventID in (" * 30_000 + SPACES
    text = "name: x\nrequiredDataConnectors:\n  - dataTypes: [SecurityEvent]\nquery: |\n  " + query + "\n"
    assert parse(kusto, text, "Detections/x.yaml") == (1, 0)


def test_yaral_long_meta_values() -> None:
    text = (
        "rule x {\n meta:\n  a ="
        + SPACES
        + 'x\n  b = "'
        + '\\"' * 200_000
        + "\n events:\n  $e\n condition:\n  $e\n}\n"
    )
    rules, problems = parse(yaral, text, "rules/community/x.yaral")
    assert (rules, problems) == (1, 0)


def test_splunk_and_sublime_deep_and_wide_yaml() -> None:
    deep = "name: x\nsearch: a\ntags: " + "[" * 10_000 + "]" * 10_000 + "\n"
    assert parse(splunk, deep, "detections/endpoint/x.yml") == (0, 1)  # too deep: refused with its line
    wide = "name: x\nsource: |\n  " + "type.inbound and " * 60_000 + "x\n"
    assert parse(sublime, wide, "detection-rules/x.yml") == (1, 0)


@pytest.mark.parametrize(
    "python",
    [
        "import os\nos.system('touch /tmp/ruleatlas-pwned')\ndef rule(event):\n    return True\n",
        "x = " + "(" * 100_000 + ")" * 100_000 + "\n",
        "def rule(event):\n    return '" + "a" * 600_000 + "'\n",
    ],
)
def test_panther_python_is_only_parsed(python: str) -> None:
    text = "AnalysisType: rule\nRuleID: X\nDisplayName: X\nFilename: x.py\n"
    rules, problems = panther.parse_file(
        text, "rules/x.yml", "rules", repo_url="", commit="", companions={"rules/x.py": python}
    )
    assert problems == [] and len(rules) == 1
    assert all(p.file == "rules/x.py" and p.line is not None for p in rules[0].problems)
    assert not Path("/tmp/ruleatlas-pwned").exists()


@pytest.mark.parametrize(
    ("reader", "rel_path", "text"),
    [
        (elastic, "rules/x.toml", "[rule]\nname = 'x'\ndescription = '\udcff'\n"),
        (yaral, "rules/community/x.yaral", 'rule x {\n meta:\n  a = "\udcff"\n'),
        (splunk, "detections/endpoint/x.yml", "name: x\nsearch: '\udcff'\n"),
    ],
)
def test_bytes_that_are_not_utf8_are_a_problem_with_their_line(
    reader: ModuleType, rel_path: str, text: str
) -> None:
    # readers get undecodable bytes as surrogates (surrogateescape), never as text to store
    rules, problems = reader.parse_file(text, rel_path, "x", repo_url="", commit="", companions={})
    assert rules == []
    assert [(p.message, p.line) for p in problems] == [
        ("file is not valid UTF-8", 3 if reader is not splunk else 2)
    ]
