"""Bad input is normal input: every bad file ends as a Problem with message, line and hint, never a crash."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ruleatlas.model import Kind, Pred, Problem, Rule
from ruleatlas.sources.sigma import read_sigma_tree
from ruleatlas.sources.yaml_load import MAX_EXPANDED_NODES, MAX_FILE_BYTES

Parse = Callable[..., tuple[list[Rule], list[Problem]]]


def only_problem(parse: Parse, text: str) -> Problem:
    rules, problems = parse(text)
    assert rules == []
    assert len(problems) == 1, problems
    assert problems[0].file == "rules/windows/sample_rule.yml"
    return problems[0]


@pytest.mark.parametrize(
    ("text", "message", "line", "hint"),
    [
        (
            "title: x\ndetection:\n    sel:\n        Image: 'a\n    condition: sel\n",
            "malformed YAML: found unexpected end of stream (while scanning a quoted scalar)",
            6,
            "check indentation and quoting",
        ),
        (
            "title: a\n  b: [\n",
            "malformed YAML: mapping values are not allowed in this context",
            2,
            "quote the value",
        ),
        (
            "title: tab\n\tdetection: x\n",
            "malformed YAML: found a tab character that violates indentation",
            2,
            "tabs",
        ),
        ("title: [a, b\nlevel: high\n", "malformed YAML: did not find expected ',' or ']'", 2, ""),
        ("a: *nothing\n", "malformed YAML: found undefined alias", 1, "define the anchor"),
        ("", "empty file: no YAML document", 1, "title, logsource and detection"),
        ("# only a comment\n---\n", "empty file: no YAML document", 1, ""),
        ("just a string\n", "document is a single value, not a mapping: not a Sigma rule", 1, "a mapping"),
        ("- a\n- b\n", "document is a list, not a mapping: not a Sigma rule", 1, ""),
        (
            "foo: bar\n",
            "document is not a Sigma rule (no title, logsource or detection)",
            1,
            "correlation / filter",
        ),
        ("title: bad \udcff byte\n", "file is not valid UTF-8", 1, "save the file as UTF-8"),
        ("a: &x [*x]\n", "recursive YAML alias", 1, "may not refer to its own parent"),
        (
            "a: " + "[" * 2000 + "]" * 2000 + "\n",
            "malformed YAML: exceeded maximum nesting depth",
            1,
            "nested too deeply",
        ),
    ],
)
def test_file_level_problems(parse: Parse, text: str, message: str, line: int, hint: str) -> None:
    problem = only_problem(parse, text)
    assert problem.message.startswith(message), problem.message
    assert problem.line == line
    assert hint in problem.hint
    assert problem.severity == "error"


def test_alias_bomb_is_refused_quickly(parse: Parse, test_data: Path) -> None:
    text = (test_data / "sigma" / "alias_bomb.yml").read_text()
    start = time.perf_counter()
    problem = only_problem(parse, text)
    elapsed = time.perf_counter() - start
    assert (
        problem.message
        == f"YAML document too large once aliases are expanded (over {MAX_EXPANDED_NODES} nodes)"
    )
    assert problem.line == 7  # the first node whose expansion passes the budget
    assert "alias bomb" in problem.hint
    assert elapsed < 60  # a guard against hanging, not a speed test


def test_small_legitimate_aliases_are_allowed(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(
        """
        title: Aliases
        logsource: {product: windows}
        detection:
            selection:
                Image|endswith: &images ['\\a.exe', '\\b.exe']
            filter:
                ParentImage|endswith: *images
            condition: selection and not filter
        """
    )
    assert rule.problems == []
    assert len(rule.stages) == 3


def test_deep_nesting_without_aliases(parse: Parse) -> None:
    text = (
        "title: x\nlogsource: {product: w}\ndetection:\n  sel: "
        + "[" * 600
        + "a"
        + "]" * 600
        + "\n  condition: sel\n"
    )
    problem = only_problem(parse, text)
    assert (problem.message, problem.line) == ("YAML document nested too deeply", 1)


def test_file_too_large_is_refused_without_parsing(parse: Parse) -> None:
    text = "title: big\n" + "# padding\n" * (1024 * 1024)
    problem = only_problem(parse, text)
    assert problem.message == f"file too large ({len(text)} bytes > {MAX_FILE_BYTES})"
    assert problem.line is None
    assert MAX_FILE_BYTES == 2 * 1024 * 1024


def test_a_10_mb_file_in_a_tree_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "huge.yml").write_bytes(b"title: x\n" + b"#" * (10 * 1024 * 1024))
    result = read_sigma_tree(tmp_path)
    assert result.files == 1
    assert result.rules == []
    [problem] = result.errors
    assert problem.file == "huge.yml"
    assert problem.message == f"file too large ({10 * 1024 * 1024 + 9} bytes > {MAX_FILE_BYTES})"


def test_missing_detection_and_logsource_are_rule_problems(parse: Parse) -> None:
    rules, problems = parse("title: No detection\nstatus: test\n")
    assert problems == []
    [rule] = rules
    assert rule.title == "No detection"
    assert rule.stages == []
    assert [(p.message, p.line, p.rule_uid) for p in rule.problems] == [
        ("rule has no 'detection'", 1, "sigma/sample_rule"),
        ("rule has no 'logsource'", 1, "sigma/sample_rule"),
    ]


@pytest.mark.parametrize(
    ("detection", "message", "line"),
    [
        ("detection: [a, b]\n", "'detection' must be a mapping of search identifiers and a condition", 3),
        ("detection:\n    selection: {A: 1}\n", "detection has no 'condition'", 3),
        ("detection:\n    condition: selection\n", "'detection' has no search identifiers", 3),
        (
            "detection:\n    selection:\n    condition: selection\n",
            "search identifier 'selection' is empty",
            4,
        ),
        (
            "detection:\n    selection: []\n    condition: selection\n",
            "search identifier 'selection' has an empty list",
            4,
        ),
        (
            "detection:\n    selection: {}\n    condition: selection\n",
            "search identifier 'selection' has an empty map",
            4,
        ),
        (
            "detection:\n    selection: {A: []}\n    condition: selection\n",
            "'A' has an empty list of values",
            4,
        ),
        (
            "detection:\n    selection:\n        - null\n    condition: selection\n",
            "a keyword cannot be null",
            5,
        ),
        (
            "detection:\n    selection: {A: [[1]]}\n    condition: selection\n",
            "'A' holds a nested list or map",
            4,
        ),
        (
            "detection:\n    sel: {A: 1}\n    condition: {x: 1}\n",
            "'condition' must be a string or a list of strings",
            5,
        ),
        (
            "detection:\n    sel: {A: 1}\n    condition: sel\nlogsource: [a]\n",
            "'logsource' must be a mapping",
            5,
        ),
    ],
)
def test_detection_problems(parse: Parse, detection: str, message: str, line: int) -> None:
    logsource = "" if "logsource" in detection else "logsource: {product: w}\n"
    rules, problems = parse("title: t\n" + logsource + detection)
    assert problems == []
    matching = [p for p in rules[0].problems if p.message.startswith(message)]
    assert [p.line for p in matching] == [line], rules[0].problems


def test_bad_predicate_is_left_out_and_the_rule_kept(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(
        """
        title: Mixed
        logsource: {product: windows}
        detection:
            selection:
                Image|endswith: '\\good.exe'
                CommandLine|contians: 'oops'
                DestinationIp|cidr:
                    - 10.0.0.0/8
                    - 300.1.2.3/8
            condition: selection
        """
    )
    assert rule.stages[1].expr is not None
    assert rule.stages[1].expr.items == (  # type: ignore[union-attr]
        Pred("Image", Kind.ENDS_WITH, "\\good.exe", native="Image|endswith"),
        Pred("DestinationIp", Kind.CIDR, "10.0.0.0/8", native="DestinationIp|cidr"),
    )
    assert [(p.message, p.line, p.hint) for p in rule.problems] == [
        ("unknown modifier 'contians' in 'CommandLine|contians'", 6, "did you mean 'contains'?"),
        (
            "invalid CIDR network '300.1.2.3/8': '300.1.2.3/8' does not appear to be an IPv4 or IPv6 network",
            9,
            "write a network address with a prefix length, e.g. 10.0.0.0/8 or fe80::/10",
        ),
    ]


def test_spec_violations_are_warnings(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(
        """
        title: Warnings
        logsource: {product: windows}
        detection:
            selection:
                A|all|contains: 'single'
                B: ['', null]
            timeframe: 5m
            condition: selection
        """
    )
    assert [(p.severity, p.line, p.message) for p in rule.problems] == [
        ("warning", 5, "'A|all|contains' uses 'all' on a single value"),
        ("warning", 6, "'B' has null in a list of values"),
        ("warning", 7, "'timeframe' in detection is Sigma 1.x aggregation syntax and is ignored"),
    ]
    assert len(rule.stages) == 2  # timeframe is not a search identifier


def test_metadata_warnings(one_rule: Callable[..., Rule]) -> None:
    rule = one_rule(
        f"""
        title: '{"x" * 300}'
        id: not-a-uuid
        status: beta
        level: severe
        tags: attack.t1059
        logsource: {{product: windows}}
        detection:
            sel: {{A: 1}}
            condition: sel
        """
    )
    assert [(p.severity, p.line, p.message) for p in rule.problems] == [
        ("warning", 1, "title is 300 characters long (at most 256)"),
        ("warning", 2, "id 'not-a-uuid' is not a UUID"),
        ("warning", 3, "unknown status 'beta'"),
        ("warning", 4, "unknown level 'severe'"),
        ("warning", 5, "'tags' must be a list"),
    ]
    assert rule.tags == ("attack.t1059",)
