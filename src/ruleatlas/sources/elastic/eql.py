"""EQL → stages and predicates (grammar: `eql.lark`).

An event query (`process where ...`) is one filter stage whose expression ANDs the event category (a scope
predicate, `event.category == process`) with the condition. A sequence is a `sequence` stage for its header
(`sequence by host.id with maxspan=1m`) and one filter stage per member, in order; a missing event (`![...]`)
and the `until` member are negated (they stop a match, as an exclusion does); the sequence's keys and
maxspan are the rule's inline `Correlation`. `sample by` is the same shape without order. Each pipe
(`| head 5`, `| unique ...`, `| filter ...`) is a stage of its own.

Case follows Elastic's EQL semantics: `==`, `in`, `like`, `regex` and the string functions are case-sensitive,
`:`, `in~`, `like~`, `regex~` and `fn~()` are not; `:` and `like` read `*`/`?` as wildcards.
"""

from __future__ import annotations

from lark import Token, Tree

from ruleatlas.model import (
    All,
    Correlation,
    CorrelationType,
    Expr,
    Kind,
    Not,
    Pred,
    Scalar,
    Stage,
    StageOp,
    timespan_seconds,
)
from ruleatlas.sources.elastic.values import Logic, is_scope, number, one_or_any, unescape, wildcard_pred
from ruleatlas.sources.grammar import grammar_file, lark_parser

GRAMMAR = grammar_file(__file__, "eql.lark")

_COMPARE_KINDS = {"<": Kind.LT, "<=": Kind.LE, ">": Kind.GT, ">=": Kind.GE}
# String functions whose first argument is the field and the rest values: name (lower case) → kind.
_FUNCTION_KINDS = {
    "stringcontains": Kind.CONTAINS,
    "startswith": Kind.STARTS_WITH,
    "endswith": Kind.ENDS_WITH,
    "cidrmatch": Kind.CIDR,
    "match": Kind.REGEX,
}
_AGGREGATING_PIPES = frozenset({"count", "unique_count"})
_FILTER_PIPES = frozenset({"filter", "where"})


def parse_eql(query: str, first_line: int = 1) -> Logic:
    """The stages of an EQL query whose text starts at `first_line` of the rule file. Raises Lark's
    `UnexpectedInput` when it does not parse."""
    tree = lark_parser(GRAMMAR).parse(query)
    return _Builder(query, first_line).build(tree)


class _Builder:
    def __init__(self, query: str, first_line: int) -> None:
        self.query = query
        self.first_line = first_line
        self.stages: list[Stage] = []

    def build(self, tree: Tree[Token]) -> Logic:
        body, *pipes = tree.children
        correlation = None
        assert isinstance(body, Tree)
        if body.data == "event_query":
            self._add(StageOp.FILTER, self._where_label(body), body, self._event_query(body))
        else:
            correlation = self._sequence(body)
        for pipe in pipes:
            assert isinstance(pipe, Tree)
            name = str(pipe.children[0]).lower()
            args = [c for c in pipe.children[1:] if isinstance(c, Tree | Token)]
            if name in _FILTER_PIPES and args:
                self._add(StageOp.FILTER, name, pipe, _all([self.expr(a) for a in args]))
            else:
                op = StageOp.AGGREGATE if name in _AGGREGATING_PIPES else StageOp.TRANSFORM
                self._add(op, name, pipe, None)
        return Logic(self.stages, correlation)

    # --- stages ---------------------------------------------------------------------------------------

    def _add(self, op: StageOp, label: str, node: Tree[Token], expr: Expr | None, text: str = "") -> None:
        line = node.meta.line if not node.meta.empty else 1
        self.stages.append(
            Stage(
                index=len(self.stages),
                label=label,
                op=op,
                text=text or self._text(node),
                expr=expr,
                line=self.first_line + line - 1,
            )
        )

    def _text(self, node: Tree[Token]) -> str:
        if node.meta.empty:
            return ""
        return self.query[node.meta.start_pos : node.meta.end_pos].strip()

    def _where_label(self, event_query: Tree[Token]) -> str:
        return f"{self._category(event_query)} where"

    def _category(self, event_query: Tree[Token]) -> str:
        kind = event_query.children[0]
        assert isinstance(kind, Tree)
        token = str(kind.children[0])
        return unescape(token[1:-1]) if token.startswith('"') else token

    def _event_query(self, event_query: Tree[Token]) -> Expr | None:
        category = self._category(event_query)
        condition = self.expr(event_query.children[1])
        if category.lower() == "any":
            return condition
        scope = Pred("event.category", Kind.EQ, category, native=f"{category} where", scope=True)
        return _all([scope, condition])

    def _sequence(self, node: Tree[Token]) -> Correlation:
        group_by: list[str] = []
        maxspan = ""
        members: list[Tree[Token]] = []
        until: Tree[Token] | None = None
        for child in node.children:
            if not isinstance(child, Tree):
                continue
            if child.data == "seq_options":
                for option in child.children:
                    assert isinstance(option, Tree)
                    if option.data == "by_clause":
                        group_by += self._by(option)
                    else:
                        maxspan = str(option.children[0])
            elif child.data == "by_clause":  # `sample by ...`
                group_by += self._by(child)
            elif child.data == "member":
                members.append(child)
            elif child.data == "until":
                until = child
        header_end = members[0].meta.start_pos if members and not members[0].meta.empty else len(self.query)
        header = self.query[node.meta.start_pos if not node.meta.empty else 0 : header_end].strip()
        self._add(StageOp.SEQUENCE, node.data, node, None, text=header)
        for number_, member in enumerate(members, 1):
            missing = isinstance(member.children[0], Token)
            event_query = next(c for c in member.children if isinstance(c, Tree) and c.data == "event_query")
            expr = self._event_query(event_query)
            if missing and expr is not None:
                expr = Not(expr)
            label = f"{'missing ' if missing else ''}{number_}: {self._where_label(event_query)}"
            self._add(StageOp.FILTER, label, member, expr)
            if not group_by:  # keys given per member (`[...] by x`): the join keys of the sequence
                for child in member.children:
                    if isinstance(child, Tree) and child.data == "by_clause":
                        group_by += self._by(child)
        if until is not None:
            event_query = next(c for c in until.children if isinstance(c, Tree) and c.data == "event_query")
            expr = self._event_query(event_query)
            self._add(StageOp.FILTER, "until", until, Not(expr) if expr is not None else None)
        kind = CorrelationType.SEQUENCE if node.data == "sequence" else CorrelationType.TEMPORAL
        return Correlation(
            kind,
            (),
            tuple(dict.fromkeys(group_by)),
            maxspan,
            timespan_seconds(maxspan) if maxspan else None,
        )

    def _by(self, node: Tree[Token]) -> list[str]:
        return [self._field_name(c) if _is(c, "field") else self._source(c) for c in node.children]

    # --- expressions ----------------------------------------------------------------------------------

    def expr(self, node: Tree[Token] | Token) -> Expr | None:
        if isinstance(node, Token):
            return None
        data = node.data
        if data == "or_expr":
            items = [e for e in (self.expr(c) for c in node.children) if e is not None]
            return one_or_any(items) if items else None
        if data == "and_expr":
            return _all([self.expr(c) for c in node.children])
        if data == "negation":
            inner = self.expr(node.children[-1])
            return Not(inner) if inner is not None else None
        if data == "compare":
            return self._compare(node)
        if data == "match":
            return self._match(node)
        if data == "membership":
            return self._membership(node)
        if data == "call":
            return self._call(node)
        if data == "field":
            name = self._field_name(node)
            return Pred(name, Kind.EQ, True, native=self._source(node), scope=is_scope(name))
        if data in ("true", "false", "null", "string", "raw_string", "triple_string", "number"):
            return None  # a constant condition (`any where true`) selects every event of its category
        # arithmetic or negation as a condition: kept whole as an opaque comparison
        return Pred(self._source(node), Kind.EQ, True, native=self._source(node))

    def _compare(self, node: Tree[Token]) -> Expr:
        left, op_token, right = node.children
        op = str(op_token)
        native = self._source(node)
        if not _is(left, "field") and _is(right, "field"):
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        field = self._operand(left)
        if _is(right, "field"):
            pred = Pred(field, Kind.FIELDREF, self._field_name(right), True, native=native)
            return Not(pred) if op == "!=" else pred
        value = self._literal(right) if _is_literal(right) else self._source(right)
        scope = is_scope(field)
        if value is None and op in ("==", "!="):
            return Pred(field, Kind.EXISTS, op == "!=", native=native, scope=scope)
        if op in _COMPARE_KINDS:
            return Pred(field, _COMPARE_KINDS[op], value, native=native, scope=scope)
        pred = Pred(field, Kind.EQ, value, cased=isinstance(value, str), native=native, scope=scope)
        return Not(pred) if op == "!=" else pred

    def _match(self, node: Tree[Token]) -> Expr:
        left, op_token, rhs = node.children
        op = str(op_token)
        field = self._operand(left)
        native = self._source(node)
        insensitive = op == ":" or op.endswith("~")
        values = _rhs_values(rhs)
        preds: list[Expr] = []
        for node_ in values:
            value = self._literal(node_)
            native = self._item_native(left, op, node_, node, len(values))
            if op.startswith("regex") and isinstance(value, str):
                preds.append(
                    Pred(field, Kind.REGEX, value, not insensitive, (), "i" if insensitive else "", native)
                )
            elif isinstance(value, str):
                preds.append(wildcard_pred(field, value, not insensitive, native))
            elif value is None:
                preds.append(Pred(field, Kind.EXISTS, False, native=native, scope=is_scope(field)))
            else:
                preds.append(Pred(field, Kind.EQ, value, native=native, scope=is_scope(field)))
        return one_or_any(preds)

    def _membership(self, node: Tree[Token]) -> Expr:
        children = list(node.children)
        negated = any(isinstance(c, Token) and c.type == "NOT" for c in children)
        left = children[0]
        in_token = next(c for c in children if isinstance(c, Token) and c.type == "IN")
        items = children[-1]
        assert isinstance(items, Tree)
        field = self._operand(left)
        native = self._source(node)
        cased = not str(in_token).endswith("~")
        preds: list[Expr] = []
        for item in items.children:
            native = self._item_native(left, str(in_token), item, node, len(items.children))
            if _is(item, "field"):
                preds.append(Pred(field, Kind.FIELDREF, self._field_name(item), True, native=native))
                continue
            value = self._literal(item) if _is_literal(item) else self._source(item)
            if value is None:
                preds.append(Pred(field, Kind.EXISTS, False, native=native, scope=is_scope(field)))
            else:
                preds.append(
                    Pred(
                        field,
                        Kind.EQ,
                        value,
                        cased=cased and isinstance(value, str),
                        native=native,
                        scope=is_scope(field),
                    )
                )
        expr = one_or_any(preds)
        return Not(expr) if negated else expr

    def _call(self, node: Tree[Token]) -> Expr:
        name_token, *args = node.children
        name = str(name_token)
        insensitive = name.endswith("~")
        base = name.removesuffix("~").lower()
        native = self._source(node)
        literal_args = len(args) >= 2 and _is(args[0], "field") and all(_is_literal(a) for a in args[1:])
        if literal_args and (base in _FUNCTION_KINDS or base == "wildcard"):
            field = self._field_name(args[0])
            preds: list[Expr] = []
            for arg in args[1:]:
                value = self._literal(arg)
                if not isinstance(value, str):
                    preds.append(Pred(field, Kind.EQ, value, native=native))
                elif base == "wildcard":
                    preds.append(wildcard_pred(field, value, not insensitive, native))
                else:
                    kind = _FUNCTION_KINDS[base]
                    cased = not insensitive and kind is not Kind.CIDR
                    flags = "i" if insensitive and kind is Kind.REGEX else ""
                    preds.append(Pred(field, kind, value, cased, (), flags, native, is_scope(field)))
            return one_or_any(preds)
        # any other function used as a condition: the call as written, compared with true
        return Pred(native, Kind.EQ, True, native=native)

    def _item_native(
        self, left: Tree[Token] | Token, op: str, item: Tree[Token] | Token, whole: Tree[Token], count: int
    ) -> str:
        """One value's comparison as written (`process.name : "a.exe"` of a list): what pages show."""
        if count == 1:
            return self._source(whole)
        return f"{self._source(left)} {op} {self._source(item)}"

    # --- operands -------------------------------------------------------------------------------------

    def _operand(self, node: Tree[Token] | Token) -> str:
        """The field a comparison reads: a field's name, or a computed operand's text (`length(x)`)."""
        return self._field_name(node) if _is(node, "field") else self._source(node)

    def _field_name(self, node: Tree[Token] | Token) -> str:
        assert isinstance(node, Tree)
        parts = [str(t).strip("`") for t in node.children if isinstance(t, Token) and t.type != "OPTIONAL"]
        return ".".join(parts)

    def _source(self, node: Tree[Token] | Token) -> str:
        if isinstance(node, Token):
            return str(node)
        return self._text(node)

    def _literal(self, node: Tree[Token] | Token) -> Scalar:
        if isinstance(node, Token):
            return str(node)
        data = node.data
        if data == "null":
            return None
        if data == "true":
            return True
        if data == "false":
            return False
        token = str(node.children[0])
        if data == "string":
            return unescape(token[1:-1])
        if data == "raw_string":
            return token[2:-1]
        if data == "triple_string":
            return token[3:-3]
        if data == "number":
            return number(token)
        if data == "neg":
            value = self._literal(node.children[0])
            return -value if isinstance(value, int | float) and not isinstance(value, bool) else f"-{value}"
        return self._source(node)


_LITERALS = frozenset({"string", "raw_string", "triple_string", "number", "null", "true", "false", "neg"})


def _is(node: Tree[Token] | Token, data: str) -> bool:
    return isinstance(node, Tree) and node.data == data


def _is_literal(node: Tree[Token] | Token) -> bool:
    return isinstance(node, Tree) and node.data in _LITERALS


def _rhs_values(rhs: Tree[Token] | Token) -> list[Tree[Token] | Token]:
    assert isinstance(rhs, Tree)
    only = rhs.children[0]
    if isinstance(only, Tree) and only.data == "items":
        return list(only.children)
    return [only]


def _all(items: list[Expr | None]) -> Expr | None:
    kept: list[Expr] = []
    for item in items:
        if isinstance(item, All):
            kept.extend(item.items)  # `a and (b and c)` is one conjunction
        elif item is not None:
            kept.append(item)
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else All(tuple(kept))
