"""ES|QL → one stage per pipe command (grammar: `esql.lark`).

FROM is the `source` stage (its index patterns are scope predicates on `_index`); WHERE is a `filter` before
the first STATS and a `having` after it; EVAL, GROK, DISSECT and COMPLETION `extend` and define the columns
they compute; STATS (and INLINE STATS) `aggregate` and define their aggregates and named groups; KEEP, DROP
and RENAME `project`; SORT, LIMIT and MV_EXPAND `transform`. A predicate on a defined column
(`Esql.event_count >= 100`) is its stage's logic, never an indicator (`analysis.indicators`).

Comparisons follow ES|QL: `==`, `IN`, `LIKE`, `RLIKE` are case-sensitive, `TO_LOWER(f) == "x"` and
`TO_UPPER(...)` are not; `KQL("...")` (triple-quoted) inside WHERE is read with the kuery parser.
"""

from __future__ import annotations

import re

from lark import Token, Tree

from ruleatlas.model import All, Correlation, CorrelationType, Expr, Kind, Not, Pred, Scalar, Stage, StageOp
from ruleatlas.sources.elastic.kuery import parse_kuery
from ruleatlas.sources.elastic.values import Logic, is_scope, number, one_or_any, unescape, wildcard_pred
from ruleatlas.sources.grammar import grammar_file, lark_parser

GRAMMAR = grammar_file(__file__, "esql.lark")

_OPS = {
    "from_cmd": StageOp.SOURCE,
    "where_cmd": StageOp.FILTER,
    "eval_cmd": StageOp.EXTEND,
    "stats_cmd": StageOp.AGGREGATE,
    "keep_cmd": StageOp.PROJECT,
    "drop_cmd": StageOp.PROJECT,
    "rename_cmd": StageOp.PROJECT,
    "sort_cmd": StageOp.TRANSFORM,
    "limit_cmd": StageOp.TRANSFORM,
    "mv_expand_cmd": StageOp.TRANSFORM,
    "grok_cmd": StageOp.EXTEND,
    "dissect_cmd": StageOp.EXTEND,
    "completion_cmd": StageOp.EXTEND,
}
_COMPARE_KINDS = {"<": Kind.LT, "<=": Kind.LE, ">": Kind.GT, ">=": Kind.GE}
_FUNCTION_KINDS = {"starts_with": Kind.STARTS_WITH, "ends_with": Kind.ENDS_WITH, "cidr_match": Kind.CIDR}
_CASE_FOLDS = frozenset({"to_lower", "to_upper"})
_CONVERSIONS = frozenset(
    {"to_ip", "to_string", "to_str", "to_double", "to_dbl", "to_integer", "to_int", "to_long", "to_boolean"}
)
# GROK `%{PATTERN:name}` / `%{PATTERN:name:type}` and DISSECT `%{name}` / `%{+name}` / `%{?name}`
_GROK_NAME = re.compile(r"%\{[A-Za-z0-9_]+:([^:}]+)(?::[a-z]+)?\}")
_DISSECT_NAME = re.compile(r"%\{[+?&*]?([^}]+?)(?:->)?\}")


def parse_esql(query: str, first_line: int = 1) -> Logic:
    """One stage per command of an ES|QL query whose text starts at `first_line` of the rule file, and the
    threshold a WHERE after the first STATS ... BY makes of it (group-by: the BY columns). Raises Lark's
    `UnexpectedInput` when it does not parse."""
    tree = lark_parser(GRAMMAR).parse(query)
    builder = _Builder(query)
    stages: list[Stage] = []
    aggregated = False
    group_by: tuple[str, ...] = ()
    thresholded = False
    for command in tree.children:
        assert isinstance(command, Tree)
        op = _OPS[command.data]
        if op is StageOp.AGGREGATE and not aggregated:
            aggregated = True
            group_by = builder.groups(command)
        elif op is StageOp.FILTER and aggregated:
            op = StageOp.HAVING
            thresholded = True
        text = builder.source(command)
        label = " ".join(text.split(None, 2)[:2]).lower() if text.lower().startswith("inline") else ""
        stages.append(
            Stage(
                index=len(stages),
                label=label or (text.split(None, 1)[0].lower() if text else command.data),
                op=op,
                text=text,
                expr=builder.command_expr(command),
                line=first_line + (command.meta.line if not command.meta.empty else 1) - 1,
                defines=builder.defines(command),
            )
        )
    correlation = Correlation(CorrelationType.THRESHOLD, (), group_by) if thresholded and group_by else None
    return Logic(stages, correlation)


class _Builder:
    def __init__(self, query: str) -> None:
        self.query = query

    def source(self, node: Tree[Token] | Token) -> str:
        if isinstance(node, Token):
            return str(node)
        if node.meta.empty:
            return ""
        return self.query[node.meta.start_pos : node.meta.end_pos].strip()

    # --- commands -------------------------------------------------------------------------------------

    def command_expr(self, command: Tree[Token]) -> Expr | None:
        if command.data == "from_cmd":
            patterns = [
                str(t) for t in command.children if isinstance(t, Token) and t.type == "INDEX_PATTERN"
            ]
            preds: list[Expr] = [wildcard_pred("_index", p, True, f"FROM {p}") for p in patterns]
            return one_or_any(preds) if preds else None
        if command.data == "where_cmd":
            return self.expr(command.children[-1])
        return None

    def groups(self, stats: Tree[Token]) -> tuple[str, ...]:
        """The BY columns of a STATS command (`BY host.id, day = DATE_TRUNC(...)` → host.id, day)."""
        names: list[str] = []
        for by in (c for c in stats.children if isinstance(c, Tree) and c.data == "by_groups"):
            for group in by.children:
                if isinstance(group, Tree) and group.children:
                    first = group.children[0]
                    names.append(self.field_name(first) if group.data == "assign" else self.source(group))
        return tuple(names)

    def defines(self, command: Tree[Token]) -> tuple[str, ...]:
        names: list[str] = []
        if command.data in ("eval_cmd", "stats_cmd", "completion_cmd"):
            nodes = [c for c in command.children if isinstance(c, Tree)]
            nodes += [g for c in nodes if c.data == "by_groups" for g in c.children if isinstance(g, Tree)]
            for node in nodes:
                first = node.children[0] if node.children else None
                if node.data == "aggregate" and isinstance(first, Tree):
                    node, first = first, first.children[0] if first.children else None
                    if node.data == "assignment":  # an unnamed aggregate is a column named by its text
                        names.append(self.source(node))
                if node.data == "assign" and first is not None:
                    names.append(self.field_name(first))
        elif command.data == "rename_cmd":
            names += [
                self.field_name(r.children[1])
                for r in command.children
                if isinstance(r, Tree) and r.data == "rename"
            ]
        elif command.data in ("grok_cmd", "dissect_cmd"):
            pattern = next(c for c in command.children if _is(c, "string"))
            assert isinstance(pattern, Tree)
            text = str(self._literal(pattern))
            found = _GROK_NAME.findall(text) if command.data == "grok_cmd" else _DISSECT_NAME.findall(text)
            names += [n for n in found if n]
        return tuple(dict.fromkeys(names))

    # --- expressions ----------------------------------------------------------------------------------

    def expr(self, node: Tree[Token] | Token) -> Expr | None:
        if isinstance(node, Token):
            return None
        data = node.data
        subtrees = [c for c in node.children if isinstance(c, Tree)]
        if data == "or_expr":
            items = [e for e in (self.expr(c) for c in subtrees) if e is not None]
            return one_or_any(items) if items else None
        if data == "and_expr":
            return _all([self.expr(c) for c in subtrees])
        if data == "negation":
            inner = self.expr(node.children[-1])
            return Not(inner) if inner is not None else None
        if data == "compare":
            return self._compare(node)
        if data == "like":
            return self._like(node)
        if data == "membership":
            return self._membership(node)
        if data == "null_check":
            field, _ = self._operand(node.children[0])
            negated = any(isinstance(c, Token) and c.type == "NOT" for c in node.children)
            return Pred(field, Kind.EXISTS, negated, native=self.source(node), scope=is_scope(field))
        if data == "match_op":
            field, _ = self._operand(node.children[0])
            value = self._value(node.children[1])
            return Pred(field, Kind.EQ, value, native=self.source(node), scope=is_scope(field))
        if data == "call":
            return self._call(node)
        if data == "field":
            name = self.field_name(node)
            return Pred(name, Kind.EQ, True, native=name, scope=is_scope(name))
        if data in ("true", "false", "null", "string", "number", "time_span"):
            return None
        text = self.source(node)
        return Pred(text, Kind.EQ, True, native=text)

    def _compare(self, node: Tree[Token]) -> Expr:
        left, op_token, right = node.children
        op = str(op_token)
        if not _is(left, "field") and _is(right, "field") and _is_literal(left):
            left, right = right, left
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        field, folded = self._operand(left)
        native = self.source(node)
        if _is(right, "field"):
            pred = Pred(field, Kind.FIELDREF, self.field_name(right), True, native=native)
            return Not(pred) if op == "!=" else pred
        value = self._value(right)
        scope = is_scope(field)
        if value is None and op in ("==", "!="):
            return Pred(field, Kind.EXISTS, op == "!=", native=native, scope=scope)
        if op in _COMPARE_KINDS:
            return Pred(field, _COMPARE_KINDS[op], value, native=native, scope=scope)
        cased = isinstance(value, str) and not folded
        pred = Pred(field, Kind.EQ, value, cased=cased, native=native, scope=scope)
        return Not(pred) if op == "!=" else pred

    def _like(self, node: Tree[Token]) -> Expr:
        children = list(node.children)
        negated = any(isinstance(c, Token) and c.type == "NOT" for c in children)
        regex = any(isinstance(c, Token) and c.type == "RLIKE_KW" for c in children)
        field, folded = self._operand(children[0])
        rhs = children[-1]
        assert isinstance(rhs, Tree)
        only = rhs.children[0]
        values = only.children if _is(only, "items") and isinstance(only, Tree) else [only]
        native = self.source(node)
        preds: list[Expr] = []
        for item in values:
            value = self._value(item)
            if not isinstance(value, str):
                preds.append(Pred(field, Kind.EQ, value, native=native))
            elif regex:
                preds.append(Pred(field, Kind.REGEX, value, not folded, (), "i" if folded else "", native))
            else:
                preds.append(wildcard_pred(field, value, not folded, native))
        expr = one_or_any(preds)
        return Not(expr) if negated else expr

    def _membership(self, node: Tree[Token]) -> Expr:
        children = list(node.children)
        negated = any(isinstance(c, Token) and c.type == "NOT" for c in children)
        field, folded = self._operand(children[0])
        items = children[-1]
        assert isinstance(items, Tree)
        preds: list[Expr] = []
        for item in items.children:
            native = f"{self.source(children[0])} IN {self.source(item)}"
            if _is(item, "field"):
                preds.append(Pred(field, Kind.FIELDREF, self.field_name(item), True, native=native))
                continue
            value = self._value(item)
            cased = isinstance(value, str) and not folded
            preds.append(Pred(field, Kind.EQ, value, cased=cased, native=native, scope=is_scope(field)))
        expr = one_or_any(preds)
        return Not(expr) if negated else expr

    def _call(self, node: Tree[Token]) -> Expr | None:
        name = str(node.children[0]).lower()
        args = [c for c in node.children[1:] if isinstance(c, Tree)]
        native = self.source(node)
        if name == "kql" and len(args) == 1 and _is(args[0], "string"):
            inner = self._literal(args[0])
            return parse_kuery(inner) if isinstance(inner, str) else None
        if name == "match" and len(args) >= 2 and _is(args[0], "field") and _is_literal(args[1]):
            field = self.field_name(args[0])
            return Pred(field, Kind.EQ, self._value(args[1]), native=native, scope=is_scope(field))
        if name in _FUNCTION_KINDS and len(args) >= 2 and all(_is_literal(a) for a in args[1:]):
            field, folded = self._operand(args[0])
            kind = _FUNCTION_KINDS[name]
            preds: list[Expr] = [
                Pred(field, kind, self._value(a), not folded and kind is not Kind.CIDR, native=native)
                for a in args[1:]
            ]
            return one_or_any(preds)
        return Pred(native, Kind.EQ, True, native=native)

    # --- operands -------------------------------------------------------------------------------------

    def _operand(self, node: Tree[Token] | Token) -> tuple[str, bool]:
        """The field an operand reads and whether it is case-folded first (`TO_LOWER(f)`); a computed
        operand is named by its text."""
        if _is(node, "field"):
            return self.field_name(node), False
        if isinstance(node, Tree) and node.data == "call":
            name = str(node.children[0]).lower()
            args = [c for c in node.children[1:] if isinstance(c, Tree)]
            if name in _CASE_FOLDS and len(args) == 1 and _is(args[0], "field"):
                return self.field_name(args[0]), True
            if name in _CONVERSIONS and len(args) == 1:
                return self._operand(args[0])  # a type conversion compares the field's own value
        return self.source(node), False

    def field_name(self, node: Tree[Token] | Token) -> str:
        if isinstance(node, Token):
            return str(node)
        return ".".join(str(t).strip("`") for t in node.children if isinstance(t, Token))

    def _value(self, node: Tree[Token] | Token) -> Scalar:
        return self._literal(node) if _is_literal(node) else self.source(node)

    def _literal(self, node: Tree[Token] | Token) -> Scalar:
        if isinstance(node, Token):
            return str(node)
        data = node.data
        if data == "null":
            return None
        if data in ("true", "false"):
            return data == "true"
        if data == "string":
            token = str(node.children[0])
            return token[3:-3] if token.startswith('"""') else unescape(token[1:-1])
        if data == "number":
            return number(str(node.children[0]))
        if data == "neg":
            value = self._literal(node.children[0])
            return -value if isinstance(value, int | float) and not isinstance(value, bool) else f"-{value}"
        return self.source(node)


_LITERALS = frozenset({"string", "number", "null", "true", "false", "neg", "time_span"})


def _is(node: Tree[Token] | Token, data: str) -> bool:
    return isinstance(node, Tree) and node.data == data


def _is_literal(node: Tree[Token] | Token) -> bool:
    return isinstance(node, Tree) and node.data in _LITERALS


def _all(items: list[Expr | None]) -> Expr | None:
    kept: list[Expr] = []
    for item in items:
        if isinstance(item, All):
            kept.extend(item.items)
        elif item is not None:
            kept.append(item)
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else All(tuple(kept))
