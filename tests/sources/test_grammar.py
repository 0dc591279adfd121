"""The helpers every query-language reader shares: pipes split outside quotes, parse errors located."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark import Lark, Token, Tree
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


_SOURCES = Path(__file__).resolve().parents[2] / "src" / "ruleatlas" / "sources"
# One query per grammar, with what moves positions around: `?rule`s inlined, parentheses dropped from the
# tree, nested calls, lists, comments and several lines.
_POSITION_SAMPLES = [
    (
        "elastic/eql.lark",
        "start",
        'sequence by host.id with maxspan=1m\n  [process where process.name : ("a.exe", "b.exe") and\n'
        '   not (process.args : "x" or endsWith(process.name, "y"))]\n'
        '  [network where destination.port == 443] until [process where event.type == "end"] | head 5',
    ),
    (
        "elastic/kuery.lark",
        "start",
        'event.category:process and (process.name:("cmd.exe" or "x") and not a:*b*)',
    ),
    (
        "elastic/esql.lark",
        "start",
        'FROM logs-*\n| WHERE process.name == "x" AND (user.name LIKE "adm*" OR n > 2)\n'
        "| STATS c = COUNT(*) BY host.name\n| KEEP host.name, c",
    ),
    (
        "splunk/spl.lark",
        "search_start",
        'index=main EventCode=4688 (New_Process_Name="*\\\\cmd.exe" OR x IN ("a", "b")) NOT user=system',
    ),
    ("splunk/spl.lark", "eval_start", 'if(match(process, "(?i)cmd") AND len(x) > 2, 1, 0)'),
    (
        "sublime/mql.lark",
        "start",
        'type.inbound\nand any(attachments, .file_extension in~ ("exe", "js")\n'
        '    and strings.ilike(.file_name, "*invoice*")) // a comment\n'
        "and not sender.email.domain.root_domain in $org_domains and length(body.links) > 3",
    ),
    (
        "panther/sql.lark",
        "start",
        "SELECT a, COUNT(*) AS n FROM t\nWHERE b = 'x' AND (c LIKE '%y%' OR d IN (1, 2))\n"
        "GROUP BY a HAVING COUNT(*) > 5",
    ),
    (
        "yaral/yaral.lark",
        "start",
        '$e.metadata.event_type = "PROCESS_LAUNCH"\n'
        "($e.principal.process.file.full_path = /cmd\\.exe/ nocase or $e.target.hostname = $host)\n"
        "not $e.principal.user.userid in %admins",
    ),
]
_META = ("line", "column", "start_pos", "end_line", "end_column", "end_pos", "empty")
_CONTAINER = tuple(f"container_{name}" for name in _META if name != "empty")


@pytest.mark.parametrize(("grammar", "start", "text"), _POSITION_SAMPLES)
def test_lark_parser_positions_are_larks(grammar: str, start: str, text: str) -> None:
    """`lark_parser` works positions out itself (cheaper); every node's equal Lark's own propagation's."""
    path = str(_SOURCES / grammar)
    mine = lark_parser(path, start)
    larks = Lark(
        Path(path).read_text(encoding="utf-8"),
        start=start,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
    )

    def positions(tree: Tree[Token]) -> list[tuple[object, ...]]:
        return [
            (node.data, *(getattr(node.meta, name, None) for name in _META + _CONTAINER))
            for node in tree.iter_subtrees()
        ]

    got, want = mine.parse(text), larks.parse(text)
    assert got == want
    assert positions(got) == positions(want)
    assert any(not node.meta.empty for node in got.iter_subtrees())
