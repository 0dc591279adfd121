"""What every query-language reader shares: a Lark grammar loaded once, a parse error as a Problem with its
line, column and a hint, and the fallback that keeps an unparsed query readable as text stages split at pipes.

One grammar file per language lives next to its source module (`sources/elastic/eql.lark`...). LALR
parsers are built once per process and reused: building one costs milliseconds, parsing with it is linear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.parse_tree_builder import PropagatePositions

from ruleatlas.model import Kind, Problem, Stage, StageOp


@cache
def lark_parser(grammar_path: str, start: str = "start", parser: str = "lalr") -> Lark:
    """The parser for the grammar file at `grammar_path` (absolute), built once per process.

    Every tree node carries its line and its start and end offsets (`meta`), so a stage or predicate can
    point at its place in the rule file and quote its text; they are worked out as Lark's
    `propagate_positions` does, by `_Positions` (cheaper: see there).
    """
    text = Path(grammar_path).read_text(encoding="utf-8")
    built = Lark(
        text,
        start=start,
        parser=parser,
        propagate_positions=True,
        maybe_placeholders=False,
        cache=False,
    )
    callbacks: dict[Any, Any] | None = getattr(built, "_callbacks", None)
    if isinstance(callbacks, dict):  # a Lark without the attribute keeps its own propagation
        for rule, callback in callbacks.items():
            if type(callback) is PropagatePositions and callback.node_filter is None:
                callbacks[rule] = _Positions(callback.node_builder)
    return built


class _Positions:
    """Lark's `PropagatePositions` with the same results (a node starts where its first child's container
    starts and ends where its last one's ends; a `?rule` inlined into its parent leaves its container
    positions behind) at about half the cost: it was a third of the Lark parse of Sublime's and Elastic's
    corpora. Most reductions are a `?rule` handing its one child up unchanged, where Lark's version looks the
    child's positions up only to write them back: that is skipped; the rest reads each attribute once.
    Installed over Lark's callbacks by `lark_parser` (the tests compare every node's positions with
    Lark's)."""

    __slots__ = ("node_builder",)

    def __init__(self, node_builder: Callable[[list[Any]], Any]) -> None:
        self.node_builder = node_builder

    def __call__(self, children: list[Any]) -> Any:
        res = self.node_builder(children)
        if not isinstance(res, Tree) or (len(children) == 1 and res is children[0]):
            return res
        first = _first_meta(children)
        if first is None:
            return res  # no token below: Lark leaves the node's meta empty too
        last = _first_meta(reversed(children))
        meta: Any = res.meta  # Lark types only the positions it documents, not its container ones
        if hasattr(first, "container_line"):  # a subtree's meta; a token has only its own positions
            line, column, start = first.container_line, first.container_column, first.container_start_pos
        else:
            line, column, start = first.line, first.column, first.start_pos
        if not hasattr(meta, "line"):
            meta.line, meta.column, meta.start_pos, meta.empty = line, column, start, False
        meta.container_line, meta.container_column, meta.container_start_pos = line, column, start
        if hasattr(last, "container_end_line"):
            end_line, end_column = last.container_end_line, last.container_end_column
            end = last.container_end_pos
        else:
            end_line, end_column, end = last.end_line, last.end_column, last.end_pos
        if not hasattr(meta, "end_line"):
            meta.end_line, meta.end_column, meta.end_pos, meta.empty = end_line, end_column, end, False
        meta.container_end_line, meta.container_end_column, meta.container_end_pos = end_line, end_column, end
        return res


def _first_meta(children: Iterable[Any]) -> Any:
    """The positions of the first child that has any: a token, or a subtree that is not empty."""
    for child in children:
        if isinstance(child, Tree):
            if not child.meta.empty:
                return child.meta
        elif isinstance(child, Token):
            return child
    return None


# The grammar files the imported reader modules parse with, each with its start rules (`grammar_file`).
_DECLARED: dict[str, tuple[str, ...]] = {}


def grammar_file(module_file: str, name: str, starts: tuple[str, ...] = ("start",)) -> str:
    """The path of grammar `name` (e.g. `eql.lark`) beside the module whose `__file__` is `module_file`,
    declared with the start rules the module parses from, so `build_declared_parsers` can build them."""
    path = str(Path(module_file).with_name(name))
    _DECLARED[path] = tuple(dict.fromkeys(_DECLARED.get(path, ()) + starts))
    return path


def build_declared_parsers() -> None:
    """Build the parser of every grammar an imported module declared. The build calls this in the parent
    before a source's worker pool forks, so the workers share its parsers instead of each building its own
    (sql.lark takes ~0.4 s to build, the seven grammars ~0.9 s, per process)."""
    for path, starts in list(_DECLARED.items()):
        for start in starts:
            lark_parser(path, start)


def parse_problem(
    file: str,
    error: Exception,
    *,
    language: str,
    first_line: int = 1,
    hint: str = "",
    rule_uid: str | None = None,
) -> Problem:
    """A parse error as a Problem naming the file, the line in that file (`first_line` is the file line where
    the query text starts) and the column, with what the parser expected where it stopped."""
    line: int | None = None
    column: int | None = None
    expected = ""
    if isinstance(error, UnexpectedInput):
        line = getattr(error, "line", None)
        column = getattr(error, "column", None)
        if isinstance(error, UnexpectedToken):
            names = sorted(str(x) for x in (error.expected or ()))[:6]
            expected = f"; expected one of {', '.join(names)}" if names else ""
            found = f"unexpected {error.token.type} {str(error.token)!r}"
        elif isinstance(error, UnexpectedCharacters):
            found = f"unexpected character {error.char!r}"
        elif isinstance(error, UnexpectedEOF):
            found = "unexpected end of query"
        else:
            found = "does not parse"
    else:  # a hand-written parser's error (KQL's) carries the same line and column, when it has them
        found = str(error) or type(error).__name__
        line = _int_attr(error, "line")
        column = _int_attr(error, "column")
    file_line = None if line is None or line < 1 else first_line + line - 1
    where = f" at column {column}" if column and column > 0 else ""
    return Problem(
        file=file,
        message=f"{language} query does not parse: {found}{where}{expected}",
        line=file_line,
        hint=hint or f"the {language} text is kept as written; its stages are shown unparsed",
        severity="warning",
        rule_uid=rule_uid,
    )


def _int_attr(error: Exception, name: str) -> int | None:
    value = getattr(error, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def split_pipes(text: str) -> list[tuple[str, int]]:
    """`text` split at top-level pipes (outside quotes, brackets and triple-quoted strings), each part with
    the line (1-based, within `text`) where it starts. Blank parts are dropped."""
    parts: list[tuple[str, int]] = []
    depth = 0
    quote = ""
    start = 0
    line = 1
    start_line = 1
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        if quote:
            if text.startswith(quote, i) and (len(quote) == 3 or i == 0 or text[i - 1] != "\\"):
                i += len(quote)
                quote = ""
                continue
        elif text.startswith('"""', i):
            quote = '"""'
            i += 3
            continue
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "|" and depth == 0 and not text.startswith("||", i) and (i == 0 or text[i - 1] != "|"):
            piece = text[start:i]
            if piece.strip():
                parts.append((piece.strip(), start_line + _leading_newlines(piece)))
            start = i + 1
            start_line = line
        i += 1
    piece = text[start:]
    if piece.strip():
        parts.append((piece.strip(), start_line + _leading_newlines(piece)))
    return parts


def _leading_newlines(piece: str) -> int:
    stripped = piece.lstrip()
    return piece[: len(piece) - len(stripped)].count("\n")


def text_stages(text: str, first_line: int = 1, source_op: StageOp | None = None) -> list[Stage]:
    """The fallback for a query that does not parse: one stage per top-level pipe, its text as written, no
    expression. The first part is the `source_op` stage when given (an index, a table), else a filter."""
    stages: list[Stage] = []
    for index, (piece, line) in enumerate(split_pipes(text)):
        op = (source_op or StageOp.FILTER) if index == 0 else StageOp.TRANSFORM
        word = piece.split(None, 1)[0].lower() if piece.split() else ""
        stages.append(
            Stage(
                index=index,
                label=word or f"stage {index}",
                op=op,
                text=piece,
                expr=None,
                line=first_line + line - 1,
            )
        )
    return stages


def affix_kind(pattern: str, any_run: str) -> tuple[Kind, str] | None:
    """A `like` pattern whose only wildcard is `any_run` (`%` in SQL, `*` in MQL) at its ends, as the plainest
    kind: `%x%` contains, `x%` starts_with, `%x` ends_with, none eq; None when the wildcard is also inside it
    (or it is nothing but wildcards): the caller keeps it as a wildcard."""
    inner = pattern.strip(any_run)
    if not inner or any_run in inner:
        return None
    head, tail = pattern.startswith(any_run), pattern.endswith(any_run)
    if head and tail:
        return Kind.CONTAINS, inner
    if head:
        return Kind.ENDS_WITH, inner
    return (Kind.STARTS_WITH if tail else Kind.EQ), inner
