"""KQL expressions → predicates (`model.Expr`), with `let` constants inlined and sub-queries as membership.

Operators map onto the one kind vocabulary (research note vendors.md §1.1):

- `==`, `in` compare cased; `=~`, `in~` ignore case; `!=`, `!~`, `!in`, `!in~` are the same under `Not`;
- `contains`, `startswith`, `endswith` as named, `_cs` (and the older `containscs`) cased;
- `has` is a *term* match (the value must be a whole term of the field: `has "cmd"` does not match
  `cmd2.exe`), which the vocabulary has no kind for. It is mapped to `contains`, which every `has` match also
  satisfies, and the predicate's `native` keeps the `has` as written so pages show what the rule says;
  `has_any` is `Any` of those, `has_all` `All`. `hasprefix`/`hassuffix` (a term's start or end, anywhere in
  the value) are mapped to `contains` for the same reason. Each such predicate is `implies_only`: relations
  never take it for an exact `contains`;
- `matches regex` is `regex` (KQL regexes are case-sensitive unless they start with `(?i)`);
- `between (a .. b)` is `All(ge a, le b)`; `<`, `<=`, `>`, `>=` as written;
- `isnotempty(f)`/`isnotnull(f)` are `exists true`, `isempty`/`isnull` `exists false`;
- `ipv4_is_in_range(f, "10.0.0.0/8")` is `cidr`, `ipv4_is_in_any_range` `Any` of them;
- a comparison with another column is `fieldref`; with a tabular `let`, a sub-query or `_GetWatchlist('x')`
  it is membership (`Pred(kind=EQ, value=<name>, transforms=(MEMBERSHIP,))`: "member of x").

`tolower(f)`, `toupper(f)`, `tostring(f)`, `trim(...)` around the field are looked through. What is neither
(a boolean column, an arbitrary function) gives no predicate: the stage's text still shows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ruleatlas.model import MEMBERSHIP, Expr, Kind, Not, Pred, Scalar, scalar_text
from ruleatlas.model import All as AllOf
from ruleatlas.model import Any as AnyOf
from ruleatlas.sources.kusto.kql_ast import Between, Binary, Call, ListN, Lit, Name, Node, Pipe, Source

_STRING_KINDS: dict[str, Kind] = {
    "has": Kind.CONTAINS,
    "hasprefix": Kind.CONTAINS,
    "hassuffix": Kind.CONTAINS,
    "contains": Kind.CONTAINS,
    "containscs": Kind.CONTAINS,
    "startswith": Kind.STARTS_WITH,
    "endswith": Kind.ENDS_WITH,
}
# Term operators: narrower than the `contains` they are stored as (module docstring).
_TERM_OPERATORS = frozenset({"has", "hasprefix", "hassuffix"})
_ORDER_KINDS = {"<": Kind.LT, "<=": Kind.LE, ">": Kind.GT, ">=": Kind.GE}
_LOOK_THROUGH = frozenset({"tolower", "toupper", "tostring", "trim", "trim_start", "trim_end"})
_EXISTS = {"isnotempty": True, "isnotnull": True, "isempty": False, "isnull": False}
_PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


@dataclass(slots=True, frozen=True)
class Value:
    """One value a field is compared with: a literal, another column (`column`) or a list (`member_of`)."""

    value: Scalar
    column: bool = False
    member_of: bool = False


# How a name is resolved: a `let` constant's values, a tabular `let`'s membership name, or None (a column).
Resolver = Callable[[str], list[Value] | None]


class Predicates:
    """Turns the expressions of one query into predicates; `resolve` knows its `let` statements."""

    def __init__(self, query: str, resolve: Resolver, scope_fields: frozenset[str]) -> None:
        self.query = query
        self.resolve = resolve
        self.scope_fields = scope_fields

    def text(self, node: Node) -> str:
        return self.query[node.start : node.end]

    def expr(self, node: Node) -> Expr | None:
        if isinstance(node, Binary) and node.op in ("and", "or"):
            parts = [p for p in (self.expr(node.left), self.expr(node.right)) if p is not None]
            if not parts:
                return None
            if len(parts) == 1:
                return parts[0]
            joined = AllOf if node.op == "and" else AnyOf
            items: list[Expr] = []
            for part in parts:  # flatten `a and b and c` into one All
                items.extend(part.items if isinstance(part, joined) else (part,))
            return joined(tuple(items))
        if isinstance(node, ListN) and len(node.items) == 1:  # `(a or b)` read as a one-item list
            return self.expr(node.items[0])
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Binary):
            return self.comparison(node)
        if isinstance(node, Between):
            return self.between(node)
        return None

    def call(self, node: Call) -> Expr | None:
        name = node.name.lower()
        if name == "not" and len(node.args) == 1:
            inner = self.expr(node.args[0])
            return None if inner is None else Not(inner)
        if name in _EXISTS and len(node.args) == 1:
            field = self.field(node.args[0])
            if field is None:
                return None
            return self.pred(field[0], Kind.EXISTS, _EXISTS[name], node, cased=False)
        if name in ("ipv4_is_in_range", "ipv4_is_in_any_range") and len(node.args) >= 2:
            field = self.field(node.args[0])
            if field is None:
                return None
            ranges = [v for arg in node.args[1:] for v in self.values(arg)]
            preds = [self.pred(field[0], Kind.CIDR, v.value, node, member=v.member_of) for v in ranges]
            return _one_of(preds)
        if name == "ipv4_is_private" and len(node.args) == 1:
            field = self.field(node.args[0])
            if field is None:
                return None
            return _one_of([self.pred(field[0], Kind.CIDR, r, node) for r in _PRIVATE_RANGES])
        return None

    def between(self, node: Between) -> Expr | None:
        field = self.field(node.left)
        low, high = self.values(node.low), self.values(node.high)
        if field is None or len(low) != 1 or len(high) != 1:
            return None
        both: Expr = AllOf(
            (
                self.pred(field[0], Kind.GE, low[0].value, node),
                self.pred(field[0], Kind.LE, high[0].value, node),
            )
        )
        return Not(both) if node.negated else both

    def comparison(self, node: Binary) -> Expr | None:
        op = node.op
        left, right = node.left, node.right
        if op in ("==", "!=", "=~", "!~", "<", "<=", ">", ">=", "<>") and self.field(left) is None:
            left, right = right, left  # `"x" == Field`
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        field = self.field(left)
        if field is None:
            return None
        name, folded = field
        negated = op.startswith("!") or op == "<>"
        base = op.lstrip("!")
        values = self.values(right)
        if not values:
            return None
        if base in ("=", "==", "=~", "~", "<>"):
            cased = base == "==" or (base == "=" and op == "!=")
            return _negate(_one_of(self.each(name, Kind.EQ, values, node, cased and not folded)), negated)
        if op in _ORDER_KINDS:
            return _one_of(self.each(name, _ORDER_KINDS[op], values, node, False))
        if base in ("in", "in~"):
            cased = base == "in" and not folded
            return _negate(_one_of(self.each(name, Kind.EQ, values, node, cased)), negated)
        if base.startswith("has_any") or base.startswith("has_all"):
            cased = base.endswith("_cs") and not folded
            preds = self.each(name, Kind.CONTAINS, values, node, cased, implies_only=True)
            combined = _one_of(preds) if base.startswith("has_any") else _all_of(preds)
            return _negate(combined, negated)
        if base == "matches regex":
            return _one_of(self.each(name, Kind.REGEX, values, node, True))
        word = base.removesuffix("_cs")
        word = "contains" if word == "containscs" else word
        if word in _STRING_KINDS:
            cased = (base.endswith("_cs") or base == "containscs") and not folded
            term = word in _TERM_OPERATORS
            preds = self.each(name, _STRING_KINDS[word], values, node, cased, implies_only=term)
            return _negate(_one_of(preds), negated)
        return None

    def each(
        self,
        field: str,
        kind: Kind,
        values: list[Value],
        node: Node,
        cased: bool,
        *,
        implies_only: bool = False,
    ) -> list[Pred]:
        out: list[Pred] = []
        for value in values:
            if value.member_of:
                out.append(
                    self.pred(
                        field, Kind.EQ, value.value, node, cased=cased, member=True, implies_only=implies_only
                    )
                )
            elif value.column:  # another column: a field reference for equality, else not a literal test
                if kind is Kind.EQ:
                    out.append(self.pred(field, Kind.FIELDREF, value.value, node, cased=cased))
            else:
                out.append(self.pred(field, kind, value.value, node, cased=cased, implies_only=implies_only))
        return out

    def pred(
        self,
        field: str,
        kind: Kind,
        value: Scalar,
        node: Node,
        *,
        cased: bool = False,
        member: bool = False,
        implies_only: bool = False,
    ) -> Pred:
        return Pred(
            field=None if field == "*" else field,
            kind=kind,
            value=value,
            cased=cased and isinstance(value, str),
            transforms=(MEMBERSHIP,) if member else (),
            native=self.text(node),
            scope=field in self.scope_fields,
            implies_only=implies_only,
        )

    def field(self, node: Node) -> tuple[str, bool] | None:
        """The column a comparison tests, and whether a case-folding function wraps it."""
        if isinstance(node, Name):
            return (node.path, False) if self.resolve(node.path) is None else None
        if isinstance(node, Call) and node.name.lower() in _LOOK_THROUGH and node.args:
            inner = self.field(node.args[0])
            if inner is None:
                return None
            return inner[0], inner[1] or node.name.lower() in ("tolower", "toupper")
        return None

    def values(self, node: Node) -> list[Value]:
        if isinstance(node, Lit):
            return [Value(node.value)]
        if isinstance(node, ListN):
            return [v for item in node.items for v in self.values(item)]
        if isinstance(node, Name):
            resolved = self.resolve(node.path)
            return resolved if resolved is not None else [Value(node.path, column=True)]
        if isinstance(node, Call) and node.name == "_GetWatchlist" and node.args:
            return [Value(_watchlist(self.text(node.args[0])), member_of=True)]
        if isinstance(node, Pipe | Source):
            return [Value(membership_name(node, self.query), member_of=True)]
        if isinstance(node, Call) and node.name.lower() in ("toscalar", "materialize"):
            return [Value(self.text(node), member_of=True)]
        return [Value(self.render(node))]  # `ago(1d)`, `now() - 1h`: the expression, lets inlined

    def render(self, node: Node) -> str:
        """An expression's text on one line with the scalar `let`s it names replaced by their values
        (`ago(lookback)` → `ago(1h)`)."""
        if isinstance(node, Name):
            resolved = self.resolve(node.path)
            if resolved is not None and len(resolved) == 1 and not resolved[0].member_of:
                return scalar_text(resolved[0].value)
        if isinstance(node, Call):
            return f"{node.name}({', '.join(self.render(a) for a in node.args)})"
        if isinstance(node, Binary) and node.op not in ("and", "or"):
            return f"{self.render(node.left)} {node.op} {self.render(node.right)}"
        return " ".join(self.text(node).split())


def membership_name(node: Node, query: str) -> str:
    """What a sub-query is a list of: the watchlist it reads (`_GetWatchlist('x') | project k` → x), else
    the sub-query's text on one line."""
    source: Node = node
    while isinstance(source, Pipe):
        source = source.source
    if isinstance(source, Call) and source.name == "_GetWatchlist" and source.args:
        return _watchlist(query[source.args[0].start : source.args[0].end])
    return " ".join(query[node.start : node.end].split())


def _watchlist(written: str) -> str:
    return written.strip().strip("'\"")


def _one_of(preds: list[Pred]) -> Expr | None:
    if not preds:
        return None
    return preds[0] if len(preds) == 1 else AnyOf(tuple(preds))


def _all_of(preds: list[Pred]) -> Expr | None:
    if not preds:
        return None
    return preds[0] if len(preds) == 1 else AllOf(tuple(preds))


def _negate(expr: Expr | None, negated: bool) -> Expr | None:
    return Not(expr) if negated and expr is not None else expr
