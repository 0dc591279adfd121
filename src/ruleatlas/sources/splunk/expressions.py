"""SPL search and eval expressions (parsed by `spl.lark`) as the model's expressions.

Search (`search`, the implicit first search, `tstats ... where`): `f=v` compares case-insensitively, `*` in a
value is a wildcard (at the ends it becomes contains/starts_with/ends_with, `f=*` is an existence test),
`f!=v` and `NOT f=v` are both exclusions (`Not`; `native` keeps which one was written), a bare term is a
keyword predicate (field None), and `index`/`sourcetype`/`source`/`eventtype`... are scope predicates.

Eval (`where`): `=`/`==` compare case-sensitively and literally (`*` is no wildcard there) unless the field is
wrapped in `lower()`/`upper()`; `like()` patterns (`%`, `_`) become wildcards, `match()` a regex, `in()` an
`Any` of equalities, `isnull`/`isnotnull` existence tests, `cidrmatch` a CIDR, `searchmatch("...")` the
search expression inside it. A comparison of two fields is a field reference; a comparison whose left side is
a computation (`len(process) > 100`) keeps that computation, as written, as its field.

Field names go through the command context (`Names`): a renamed field stands for its original name, a field
that `drop_dm_object_name(X)` stripped stands for `X.<field>`, and an existence or true-ish test of a lookup's
output field (`isnotnull(is_ioc)`, `isIOC=true`) is membership of the lookup's input field in that lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Token, Tree

from ruleatlas.model import MEMBERSHIP, All, Any, Expr, Kind, Not, Pred, Scalar, Wild, WildPart
from ruleatlas.sources.sigma_modifiers import classify

# Fields that choose the data rather than describe the event: kept, shown, never counted as indicators.
SCOPE_FIELDS = frozenset(
    {
        "index",
        "source",
        "sourcetype",
        "eventtype",
        "tag",
        "nodename",
        "splunk_server",
        "earliest",
        "latest",
        "_index_earliest",
        "_index_latest",
    }
)
_CASE_FOLDERS = frozenset({"lower", "upper"})
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "==": "==", "!=": "!="}
_ORDER = {"<": Kind.LT, "<=": Kind.LE, ">": Kind.GT, ">=": Kind.GE}
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(slots=True)
class Names:
    """What earlier commands did to field names: renames, data-model prefixes dropped, lookup outputs."""

    aliases: dict[str, str] = field(default_factory=dict)  # name now → name in the events
    lookup_outputs: dict[str, tuple[str, str]] = field(default_factory=dict)  # field → (input field, lookup)

    def original(self, name: str) -> str:
        seen = 0
        while name in self.aliases and seen < 8:  # renames chain; a cycle stops
            name = self.aliases[name]
            seen += 1
        return name


def unquote(text: str) -> str:
    """A quoted SPL string's content: `\\\\` is one backslash, `\\"` a quote, other backslashes stay."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1]
    if "\\" not in text:
        return text
    return re.sub(r"\\([\\\"'])", r"\1", text)


def _star_parts(value: str) -> list[WildPart]:
    parts: list[WildPart] = []
    for index, piece in enumerate(value.split("*")):
        if index:
            parts.append(Wild.STAR)
        if piece:
            parts.append(piece)
    return parts


def _like_parts(pattern: str) -> list[WildPart]:
    parts: list[WildPart] = []
    literal: list[str] = []
    for char in pattern:
        if char in "%_":
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Wild.STAR if char == "%" else Wild.ONE)
        else:
            literal.append(char)
    if literal:
        parts.append("".join(literal))
    return parts


def _truthy(value: Scalar) -> bool:
    """A lookup output tested for a true-ish value (`isIOC=true`) filters on membership, as isnotnull does."""
    return value is True or value == 1 or (isinstance(value, str) and value.lower() in ("true", "1", "yes"))


def _number(text: str) -> Scalar:
    if _INTEGER.fullmatch(text) and str(int(text)) == text:
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    return text


class Builder:
    """Turns one expression's parse tree into an `Expr`; `text` is the string that was parsed."""

    def __init__(self, text: str, names: Names) -> None:
        self.text = text
        self.names = names

    def span(self, node: Tree[Token] | Token) -> str:
        if isinstance(node, Token):
            start, end = node.start_pos, node.end_pos
        else:
            start, end = node.meta.start_pos, node.meta.end_pos
        return self.text[start:end] if start is not None and end is not None else str(node)

    def field_name(self, name: str) -> str:
        return self.names.original(name)

    def pred(
        self,
        name: str | None,
        kind: Kind,
        value: Scalar,
        native: str,
        *,
        cased: bool = False,
        regex_flags: str = "",
    ) -> Expr:
        if name is None:
            return Pred(None, kind, value, cased, native=native)
        original = self.field_name(name)
        lookup = self.names.lookup_outputs.get(name)
        if lookup is not None and (kind is Kind.EXISTS or (kind is Kind.EQ and _truthy(value))):
            source_field, table = lookup
            return Pred(self.field_name(source_field), Kind.EQ, table, False, (MEMBERSHIP,), native=native)
        scope = original.lower() in SCOPE_FIELDS
        return Pred(original, kind, value, cased, regex_flags=regex_flags, native=native, scope=scope)

    # ---- search ----------------------------------------------------------------------------------------

    def search(self, tree: Tree[Token]) -> Expr | None:
        if not tree.children:
            return None
        child = tree.children[0]
        if isinstance(child, Token):  # a lone subsearch or macro
            return None
        return self.s_node(child)

    def s_node(self, node: Tree[Token]) -> Expr | None:
        rule = node.data
        if rule in ("s_or", "s_and"):
            items = [e for c in node.children if isinstance(c, Tree) and (e := self.s_node(c)) is not None]
            if len(items) <= 1:
                return items[0] if items else None
            return Any(self._flat(Any, items)) if rule == "s_or" else All(self._flat(All, items))
        if rule in ("s_subsearch", "s_macro"):
            return None  # a subsearch's conditions exist only at run time; an undefined macro is reported
        if rule == "s_negate":
            inner = node.children[-1]
            assert isinstance(inner, Tree)
            negated = self.s_node(inner)
            return None if negated is None else Not(negated)
        if rule == "s_compare":
            field_node, op, operand = node.children
            assert isinstance(field_node, Tree) and isinstance(op, Token) and isinstance(operand, Tree)
            return self.s_compare(self._token_text(field_node), str(op), operand, self.span(node))
        if rule == "s_in":
            field_node = node.children[0]
            assert isinstance(field_node, Tree)
            name = self._token_text(field_node)
            listed = node.children[2] if len(node.children) > 2 else None
            values = listed.children if isinstance(listed, Tree) else []
            written = self.span(field_node)
            # each value's own `field IN (value)`: the whole list repeated on every value says nothing more
            preds = [
                self.s_value(name, x, f"{written} IN ({self.span(x)})") for x in values if isinstance(x, Tree)
            ]
            return preds[0] if len(preds) == 1 else Any(tuple(preds))
        if rule == "s_term":
            value = node.children[0]
            assert isinstance(value, Tree)
            return self.s_value(None, value, self.span(node))
        raise ValueError(f"unexpected search node {rule}")

    def s_compare(self, name: str, op: str, operand: Tree[Token], native: str) -> Expr:
        if op in _ORDER:
            raw = self._token_text(operand)
            return self.pred(name, _ORDER[op], _number(raw), native)
        pred = self.s_value(name, operand, native)
        return Not(pred) if op == "!=" else pred

    def s_value(self, name: str | None, node: Tree[Token], native: str) -> Expr:
        token = node.children[0]
        assert isinstance(token, Token)
        quoted = token.type == "STRING"
        value = unquote(str(token)) if quoted else unquote(f'"{token}"')
        if name is not None and value == "*":
            return self.pred(name, Kind.EXISTS, True, native)
        if not quoted and "*" not in value:
            number = _number(value)
            if not isinstance(number, str):
                return self.pred(name, Kind.EQ, number, native)
        kind, text = classify(_star_parts(value))
        return self.pred(name, kind, text, native)

    def _token_text(self, node: Tree[Token]) -> str:
        token = node.children[0]
        assert isinstance(token, Token)
        return unquote(str(token)) if token.type == "STRING" else str(token)

    @staticmethod
    def _flat(kind: type[All] | type[Any], items: list[Expr]) -> tuple[Expr, ...]:
        out: list[Expr] = []
        for item in items:
            out.extend(item.items if isinstance(item, kind) else (item,))
        return tuple(out)

    # ---- eval ------------------------------------------------------------------------------------------

    def eval(self, tree: Tree[Token]) -> Expr:
        child = tree.children[0]
        return self.e_node(child)

    def e_node(self, node: Tree[Token] | Token) -> Expr:
        if isinstance(node, Token):
            return Pred(None, Kind.EQ, unquote(str(node)), native=str(node))
        rule = node.data
        trees = [c for c in node.children if isinstance(c, Tree | Token) and not self._is_keyword(c)]
        if rule == "e_or_":
            return Any(self._flat(Any, [self.e_node(c) for c in trees]))
        if rule == "e_and_":
            return All(self._flat(All, [self.e_node(c) for c in trees]))
        if rule == "e_negate":
            return Not(self.e_node(node.children[-1]))
        if rule == "e_compare":
            left, op, right = node.children
            return self.e_compare(left, str(op), right, self.span(node))
        if rule == "e_in":
            left = node.children[0]
            args = node.children[2] if len(node.children) > 2 else None
            values = self._args(args) if isinstance(args, Tree) else []
            return self.e_in(left, values, self.span(node))
        if rule == "e_like":
            return self.e_like(node.children[0], node.children[2], self.span(node))
        if rule == "e_call":
            return self.e_call(node)
        # a bare field or value used as a boolean
        return Pred(self.span(node), Kind.EQ, True, native=self.span(node))

    @staticmethod
    def _args(node: Tree[Token] | Token) -> list[Tree[Token] | Token]:
        if isinstance(node, Token):
            return []
        return [c for c in node.children if not (isinstance(c, Token) and c.type == "COMMA")]

    @staticmethod
    def _is_keyword(node: Tree[Token] | Token) -> bool:
        return isinstance(node, Token) and node.type in ("E_OR", "E_AND", "E_NOT", "E_IN", "E_LIKE")

    def operand(self, node: Tree[Token] | Token) -> tuple[str, str | None, Scalar, bool]:
        """(what, field, literal, case-folded): what is "field", "literal" or "other"."""
        if isinstance(node, Tree):
            if node.data == "e_field":
                return "field", unquote(str(node.children[0])), None, False
            if node.data == "e_string":
                return "literal", None, unquote(str(node.children[0])), False
            if node.data == "e_number":
                return "literal", None, _number(str(node.children[0])), False
            if node.data == "e_neg":
                inner = node.children[0]
                if isinstance(inner, Tree) and inner.data == "e_number":
                    return "literal", None, _number("-" + str(inner.children[0])), False
            if node.data == "e_call":
                name = str(node.children[0]).lower()
                args = self._args(node.children[1]) if len(node.children) > 1 else []
                if name in _CASE_FOLDERS and len(args) == 1:
                    what, field_name, _, _ = self.operand(args[0])
                    if what == "field":
                        return "field", field_name, None, True
        return "other", self.span(node), None, False

    def e_compare(self, left: Tree[Token] | Token, op: str, right: Tree[Token] | Token, native: str) -> Expr:
        lwhat, lfield, lvalue, lfold = self.operand(left)
        rwhat, rfield, rvalue, rfold = self.operand(right)
        if lwhat == "literal" and rwhat != "literal":
            lwhat, lfield, lvalue, lfold, rwhat, rfield, rvalue, rfold = (
                rwhat,
                rfield,
                rvalue,
                rfold,
                lwhat,
                lfield,
                lvalue,
                lfold,
            )
            op = _FLIP[op]
        name = lfield if lwhat != "literal" else self.span(left)
        if rwhat == "field" and lwhat == "field":
            pred = self.pred(name, Kind.FIELDREF, self.field_name(rfield or ""), native, cased=True)
        elif rwhat == "literal":
            kind = _ORDER.get(op, Kind.EQ)
            value = rvalue
            pred = self.pred(name, kind, value, native, cased=not lfold)
        else:
            pred = self.pred(name, _ORDER.get(op, Kind.EQ), self.span(right), native, cased=True)
        return Not(pred) if op == "!=" else pred

    def e_in(self, left: Tree[Token] | Token, values: list[Tree[Token] | Token], native: str) -> Expr:
        what, name, _, fold = self.operand(left)
        if what == "literal":
            name = self.span(left)
        preds: list[Expr] = []
        written = self.span(left)
        for value in values:
            vwhat, _, literal, _ = self.operand(value)
            shown = literal if vwhat == "literal" else self.span(value)
            one = f"{written} IN ({self.span(value)})" if len(values) > 1 else native
            preds.append(self.pred(name, Kind.EQ, shown, one, cased=not fold))
        return preds[0] if len(preds) == 1 else Any(tuple(preds))

    def e_like(self, target: Tree[Token] | Token, pattern: Tree[Token] | Token, native: str) -> Expr:
        what, name, _, fold = self.operand(target)
        pwhat, _, literal, _ = self.operand(pattern)
        if what == "literal":
            name = self.span(target)
        if pwhat != "literal" or not isinstance(literal, str):
            return self.pred(name, Kind.WILDCARD, self.span(pattern), native, cased=not fold)
        kind, text = classify(_like_parts(literal))
        return self.pred(name, kind, text, native, cased=not fold)

    def e_call(self, node: Tree[Token]) -> Expr:
        name = str(node.children[0]).lower()
        args = self._args(node.children[1]) if len(node.children) > 1 else []
        native = self.span(node)
        if name == "like" and len(args) == 2:
            return self.e_like(args[0], args[1], native)
        if name == "in" and args:
            return self.e_in(args[0], args[1:], native)
        if name in ("isnull", "isnotnull") and len(args) == 1:
            what, target, _, _ = self.operand(args[0])
            exists = self.pred(target if what == "field" else self.span(args[0]), Kind.EXISTS, True, native)
            return Not(exists) if name == "isnull" else exists
        if name == "match" and len(args) == 2:
            what, target, _, fold = self.operand(args[0])
            pwhat, _, literal, _ = self.operand(args[1])
            if pwhat == "literal" and isinstance(literal, str):
                flags = "i" if fold or literal.startswith("(?i)") else ""
                return self.pred(
                    target if what == "field" else self.span(args[0]),
                    Kind.REGEX,
                    literal,
                    native,
                    cased=not flags,
                    regex_flags=flags,
                )
        if name == "cidrmatch" and len(args) == 2:
            cwhat, _, cidr, _ = self.operand(args[0])
            what, target, _, _ = self.operand(args[1])
            if cwhat == "literal" and what == "field":
                return self.pred(target, Kind.CIDR, cidr, native)
        if name == "searchmatch" and len(args) == 1:
            what, _, literal, _ = self.operand(args[0])
            if what == "literal" and isinstance(literal, str):
                from ruleatlas.sources.splunk.parse import parse_search  # one grammar, no import cycle

                inner = parse_search(literal, self.names)
                if inner is not None:
                    return inner
        # any other function used as a test: kept as written
        return Pred(native, Kind.EQ, True, cased=True, native=native)
