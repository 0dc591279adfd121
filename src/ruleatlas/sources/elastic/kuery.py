"""Kibana kuery → one filter expression (grammar: `kuery.lark`).

`field:"phrase"` is an equality with the phrase as written; an unquoted value reads `*` as a wildcard
(`process.name:python*` starts_with) and a backslash as an escape; `field:*` is an existence check;
`field:(a or b)` applies the field to every value; `field:{ sub:x }` is the nested field `field.sub`; ranges
are lt/le/gt/ge. A quoted phrase on an analysed text field (`powershell.file.script_block_text`) is found
anywhere in it, case-insensitively: contains. Kibana compares keyword fields case-sensitively (ECS
`.caseless` sub-fields are not: the canonicaliser knows that suffix), so other kuery predicates are cased.
Words without a field are a free-text search (field None), several words one phrase.
"""

from __future__ import annotations

from lark import Token, Tree

from ruleatlas.model import All, Expr, Kind, Not, Pred
from ruleatlas.sources.elastic.values import (
    TEXT_FIELDS,
    is_scope,
    number,
    one_or_any,
    unescape,
    wildcard_pred,
)
from ruleatlas.sources.grammar import grammar_file, lark_parser

GRAMMAR = grammar_file(__file__, "kuery.lark")
_RANGE_KINDS = {"<": Kind.LT, "<=": Kind.LE, ">": Kind.GT, ">=": Kind.GE}


def parse_kuery(query: str) -> Expr | None:
    """The query's expression (None for an empty query). Raises Lark's `UnexpectedInput` when it does not
    parse."""
    tree = lark_parser(GRAMMAR).parse(query)
    if not tree.children:
        return None
    return _Builder(query).expr(tree.children[0], "")


class _Builder:
    def __init__(self, query: str) -> None:
        self.query = query

    def expr(self, node: Tree[Token] | Token, prefix: str) -> Expr:
        assert isinstance(node, Tree)
        data = node.data
        items = [c for c in node.children if isinstance(c, Tree)]
        if data == "or_query":
            return one_or_any([self.expr(c, prefix) for c in items])
        if data == "and_query":
            return _all([self.expr(c, prefix) for c in items])
        if data == "negation":
            return Not(self.expr(items[0], prefix))
        if data == "free_text":
            text = _words(items[0])
            return wildcard_pred(None, text, True, self._source(node), escapes=True)
        field = prefix + _words(items[0])
        if data == "nested":
            return self.expr(items[1], field + ".")
        if data == "range":
            op = str(node.children[1])
            value_node = items[1]
            raw = _value_text(value_node)
            value = number(raw) if value_node.data == "unquoted" else raw
            return Pred(field, _RANGE_KINDS[op], value, native=self._source(node), scope=is_scope(field))
        # field_match: one value or a parenthesised expression over values
        single = items[1].data in ("quoted", "unquoted")
        return self.values(items[1], field, self._source(node) if single else "")

    def values(self, node: Tree[Token], field: str, native: str) -> Expr:
        data = node.data
        items = [c for c in node.children if isinstance(c, Tree)]
        if data == "group":
            return self.values(items[0], field, native)
        if data == "value_or":
            return one_or_any([self.values(c, field, native) for c in items])
        if data == "value_and":
            return _all([self.values(c, field, native) for c in items])
        if data == "value_negation":
            return Not(self.values(items[0], field, native))
        text = native or f"{field}:{self._source(node)}"
        if data == "quoted" and field in TEXT_FIELDS:
            return Pred(field, Kind.CONTAINS, _value_text(node), native=text)
        if data == "quoted":
            return Pred(field, Kind.EQ, _value_text(node), cased=True, native=text, scope=is_scope(field))
        return wildcard_pred(field, _words(items[0]), True, text, escapes=True)

    def _source(self, node: Tree[Token]) -> str:
        if node.meta.empty:
            return ""
        return self.query[node.meta.start_pos : node.meta.end_pos].strip()


def _words(node: Tree[Token]) -> str:
    """Whitespace-joined words as one value (Kibana reads `a b` after a colon as the phrase `a b`)."""
    return " ".join(str(t) for t in node.children)


def _value_text(node: Tree[Token]) -> str:
    if node.data == "quoted":
        return unescape(str(node.children[0])[1:-1])
    words = node.children[0]
    assert isinstance(words, Tree)
    return _unescape_unquoted(_words(words))


def _unescape_unquoted(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def _all(items: list[Expr]) -> Expr:
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, All) else (item,))
    return flat[0] if len(flat) == 1 else All(tuple(flat))
