"""The helpers every query-language reader shares: pipes split outside quotes, parse errors located."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark.exceptions import UnexpectedInput

from ruleatlas.model import StageOp
from ruleatlas.sources.grammar import lark_parser, parse_problem, split_pipes, text_stages


def test_split_pipes_ignores_pipes_in_quotes_brackets_and_or() -> None:
    text = 'index=x "a|b" | where f IN ("|") or g || h\n| stats count by host'
    assert split_pipes(text) == [
        ('index=x "a|b"', 1),
        ('where f IN ("|") or g || h', 1),
        ("stats count by host", 2),
    ]


def test_split_pipes_keeps_triple_quoted_strings_whole() -> None:
    text = 'FROM logs | WHERE KQL("""a | b""") | KEEP x'
    assert [part for part, _ in split_pipes(text)] == ["FROM logs", 'WHERE KQL("""a | b""")', "KEEP x"]


def test_text_stages_number_lines_from_the_query_start() -> None:
    stages = text_stages("SecurityEvent\n| where EventID == 4688\n| project Account", 10, StageOp.SOURCE)
    assert [(s.op, s.label, s.line) for s in stages] == [
        (StageOp.SOURCE, "securityevent", 10),
        (StageOp.TRANSFORM, "where", 11),
        (StageOp.TRANSFORM, "project", 12),
    ]
    assert all(s.expr is None for s in stages)


def test_parse_problem_names_file_line_and_column(tmp_path: Path) -> None:
    grammar = tmp_path / "tiny.lark"
    grammar.write_text('start: NAME "=" NAME\n%import common.CNAME -> NAME\n%import common.WS\n%ignore WS\n')
    parser = lark_parser(str(grammar))
    with pytest.raises(UnexpectedInput) as caught:
        parser.parse("a = \n= b")
    problem = parse_problem("rules/x.toml", caught.value, language="EQL", first_line=20)
    assert problem.file == "rules/x.toml"
    assert problem.line == 21
    assert "EQL query does not parse" in problem.message
    assert "column 1" in problem.message and "NAME" in problem.message
    assert problem.hint


def test_affix_kind_reads_like_patterns_as_the_plainest_kind() -> None:
    from ruleatlas.model import Kind
    from ruleatlas.sources.grammar import affix_kind

    assert affix_kind("%cmd%", "%") == (Kind.CONTAINS, "cmd")
    assert affix_kind("%.exe", "%") == (Kind.ENDS_WITH, ".exe")
    assert affix_kind("C:\\*", "*") == (Kind.STARTS_WITH, "C:\\")
    assert affix_kind("exact", "*") == (Kind.EQ, "exact")
    assert affix_kind("a*b", "*") is None and affix_kind("**", "*") is None
