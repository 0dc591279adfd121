"""Sublime MQL → the IR: one `filter` stage whose expression is the rule's boolean logic.

MQL reads the message data model. Array quantifiers (`any(attachments, .file_extension == "lnk")`, `all`,
`filter`, `map`) are flattened into field paths: inside `any(x, …)` the `.field` is relative to x's element,
so the predicate's field is `attachments[].file_extension`; `..field` is the enclosing element's field.
Function chains are paths too: `ml.nlu_classifier(body.current_thread.text).intents[].name`, as Sublime's
own "indicators" show them. The IR has no quantifier: `any` and `all` both keep their body's predicates (the
native text says which), and `length(filter(x, p)) > 0` is `p`, `== 0` is `not p`.

Comparisons (Kind, cased or not, as `research/vendors.md` §1.1 reads MQL):
- `==`, `!=`, `in (…)` are case-sensitive; `=~`, `!~`, `in~` are not;
- `strings.(i)contains/(i)starts_with/(i)ends_with` → contains/starts_with/ends_with, `strings.(i)like` the
  plainest kind its pattern allows (`*x*` contains, inner `*` wildcard); the
  `i` variants case-insensitive; several values are an `Any`;
- `regex.(i)contains` → regex, `regex.(i)match` → regex anchored at both ends, flag `i` for the `i` variants;
- `x in $list` → membership (`Pred(EQ, "$list", transforms=(MEMBERSHIP,))`);
- `is null` / `is not null` → exists false / true; a bare boolean attribute (`type.inbound`) → eq true.

Sensors and other functions used as a condition on their own (`profile.by_sender().solicited`,
`ml.link_analysis(.)...` compared are paths; a bare `beta.ocr(...)` call is not) become
`Pred(field=<the function name>, kind=EXISTS, value=True, native=<the call text>)`: "the rule needs this
function to hold". They are no comparison of an event field; the canonicaliser keeps every Sublime field
native (`sublime:<field>`), so they never meet another vendor's indicator.

`N of (a, b, c)` is the `Any` of every N-combination while there are at most `MAX_COMBINATIONS` of them;
above that it is the `Any` of the items (every item is a way the rule can match) with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from math import comb

from lark import Token, Tree
from lark.exceptions import LarkError

from ruleatlas.model import MEMBERSHIP, All, Any, Expr, Kind, Not, Pred, Problem, Scalar, Stage, StageOp
from ruleatlas.sources.grammar import affix_kind, grammar_file, lark_parser, parse_problem

GRAMMAR = grammar_file(__file__, "mql.lark")
MAX_COMBINATIONS = 64
MAX_MQL_BYTES = 512 * 1024  # the largest rule's MQL is 229 KB (a list of Spamhaus ASN-DROP addresses)
# Where MQL's `.field` paths of the message direction select the message kind, as a Sigma log source does.
SCOPE_PREFIX = "type."

# strings.<name> → (kind, case-insensitive)
STRING_FUNCTIONS: dict[str, tuple[Kind, bool]] = {
    "contains": (Kind.CONTAINS, False),
    "icontains": (Kind.CONTAINS, True),
    "starts_with": (Kind.STARTS_WITH, False),
    "istarts_with": (Kind.STARTS_WITH, True),
    "ends_with": (Kind.ENDS_WITH, False),
    "iends_with": (Kind.ENDS_WITH, True),
    "like": (Kind.WILDCARD, False),
    "ilike": (Kind.WILDCARD, True),
}
# regex.<name> → (anchored at both ends, case-insensitive)
REGEX_FUNCTIONS: dict[str, tuple[bool, bool]] = {
    "contains": (False, False),
    "icontains": (False, True),
    "match": (True, False),
    "imatch": (True, True),
}
COMPARISONS: dict[str, tuple[Kind, bool, bool]] = {  # operator → (kind, negated, case-insensitive)
    "==": (Kind.EQ, False, False),
    "!=": (Kind.EQ, True, False),
    "=~": (Kind.EQ, False, True),
    "!~": (Kind.EQ, True, True),
    "<": (Kind.LT, False, False),
    "<=": (Kind.LE, False, False),
    ">": (Kind.GT, False, False),
    ">=": (Kind.GE, False, False),
}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!=", "=~": "=~", "!~": "!~"}


# --- values: what a sub-expression stands for -------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class Path:
    """A field path of the message (`attachments[].file_extension`), a function chain included."""

    text: str
    mapped: bool = False  # `map(x, .f)`: already a list of element values


@dataclass(slots=True, frozen=True)
class Filtered:
    """`filter(x, p)`: the elements of x for which p holds."""

    path: Path
    cond: Expr | None


@dataclass(slots=True, frozen=True)
class Lit:
    value: Scalar


@dataclass(slots=True, frozen=True)
class Var:
    name: str  # `$org_domains`


@dataclass(slots=True, frozen=True)
class Items:
    values: tuple[Val, ...]  # `(…)` after `in`, `[…]`


@dataclass(slots=True, frozen=True)
class Length:
    of: Val


@dataclass(slots=True, frozen=True)
class Opaque:
    """Anything else (arithmetic, a boolean used as a value): kept as its text."""

    text: str


Val = Path | Filtered | Lit | Var | Items | Length | Opaque


@dataclass(slots=True)
class MqlLogic:
    stage: Stage | None
    problems: list[Problem] = field(default_factory=list)


def parse_mql(source: str, rel_path: str, first_line: int) -> MqlLogic:
    """The rule's stage, or None with a Problem when the MQL does not parse."""
    size = len(source.encode("utf-8", "surrogateescape"))
    if size > MAX_MQL_BYTES:
        return MqlLogic(
            None,
            [
                Problem(
                    rel_path,
                    f"MQL too large to parse ({size} bytes > {MAX_MQL_BYTES})",
                    first_line,
                    "the rule's MQL is kept as written, unparsed",
                    severity="warning",
                )
            ],
        )
    reader = _Reader(source)
    try:
        tree = lark_parser(GRAMMAR).parse(source)
        expr = reader.cond(tree.children[0], ())
    except (LarkError, RecursionError) as exc:  # RecursionError: nested deeper than the reader follows
        problem = parse_problem(rel_path, exc, language="MQL", first_line=first_line)
        problem.line = problem.line or first_line
        return MqlLogic(None, [problem])
    stage = Stage(0, "source", StageOp.FILTER, source.strip(), expr, line=first_line)
    problems = [
        Problem(rel_path, message, first_line + line - 1, hint, severity="warning")
        for message, line, hint in reader.notes
    ]
    return MqlLogic(stage, problems)


class _Reader:
    """Walks the parse tree; `ctx` is the stack of element paths of the enclosing quantifiers."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.notes: list[tuple[str, int, str]] = []

    def text(self, node: Tree[Token] | Token) -> str:
        """The node's MQL as written, whitespace runs folded."""
        if isinstance(node, Token):
            return str(node)
        start, end = node.meta.start_pos, node.meta.end_pos
        return " ".join(self.source[start:end].split()) if start is not None else ""

    # -- conditions

    def cond(self, node: Tree[Token] | Token, ctx: tuple[str, ...]) -> Expr | None:
        if isinstance(node, Token):
            return self._truthy(self.value(node, ctx), self.text(node))
        data = node.data
        kids = node.children
        if data in ("or_", "and_"):
            # a chain `a and b and c` is left-nested: walk it in a loop, so a long one needs no deep recursion
            operands: list[Tree[Token] | Token] = []
            chain: Tree[Token] | Token = node
            while isinstance(chain, Tree) and chain.data == data:
                operands.append(chain.children[1])
                chain = chain.children[0]
            operands.append(chain)
            parts = [e for e in (self.cond(k, ctx) for k in reversed(operands)) if e is not None]
            joiner = Any if data == "or_" else All
            flat: list[Expr] = []
            for part in parts:
                flat.extend(part.items if isinstance(part, joiner) else (part,))
            return None if not flat else flat[0] if len(flat) == 1 else joiner(tuple(flat))
        if data == "not_":
            inner = self.cond(kids[0], ctx)
            return None if inner is None else inner.item if isinstance(inner, Not) else Not(inner)
        if data == "group":
            return self.cond(kids[0], ctx)
        if data == "compare":
            return self.compare(kids[0], str(kids[1]), kids[2], ctx, self.text(node))
        if data == "compare_chain":
            low = self.compare(kids[0], str(kids[1]), kids[2], ctx, self.text(node))
            high = self.compare(kids[2], str(kids[3]), kids[4], ctx, self.text(node))
            return All(tuple(e for e in (low, high) if e is not None))
        if data in ("in_", "in_i", "not_in", "not_in_i"):
            pred = self.membership(kids[0], kids[1], ctx, data.endswith("_i"), self.text(node))
            return Not(pred) if data.startswith("not_") and pred is not None else pred
        if data in ("is_null", "is_not_null"):
            target = self.value(kids[0], ctx)
            return Pred(
                self.field_text(target, kids[0]), Kind.EXISTS, data == "is_not_null", native=self.text(node)
            )
        if data == "n_of":
            return self.n_of(node, ctx)
        if data == "call":
            return self.call_cond(node, ctx)
        return self._truthy(self.value(node, ctx), self.text(node))

    def _truthy(self, value: Val, native: str) -> Expr | None:
        """A value used as a condition on its own."""
        if isinstance(value, Lit):
            return None if value.value is True else Not(Pred(None, Kind.EXISTS, True, native=native))
        if isinstance(value, Path):
            scope = value.text.startswith(SCOPE_PREFIX)
            return Pred(value.text, Kind.EQ, True, cased=True, native=native, scope=scope)
        if isinstance(value, Filtered):
            return value.cond
        return Pred(_text_of(value), Kind.EXISTS, True, native=native)

    def n_of(self, node: Tree[Token], ctx: tuple[str, ...]) -> Expr | None:
        count = int(str(node.children[0]))
        items = [e for e in (self.cond(a, ctx) for a in _args(node.children[1])) if e is not None]
        if not items:
            return None
        if count <= 1:
            return Any(tuple(items)) if len(items) > 1 else items[0]
        if count >= len(items):
            return All(tuple(items))
        if comb(len(items), count) <= MAX_COMBINATIONS:
            return Any(tuple(All(group) for group in combinations(items, count)))
        self.notes.append(
            (
                f"'N of (…)' kept as 'any of them': {count} of {len(items)} conditions",
                node.meta.line,
                f"more than {MAX_COMBINATIONS} combinations; each item is still shown as a way to match",
            )
        )
        return Any(tuple(items))

    def compare(
        self,
        left_node: Tree[Token] | Token,
        op: str,
        right_node: Tree[Token] | Token,
        ctx: tuple[str, ...],
        native: str,
    ) -> Expr | None:
        left, right = self.value(left_node, ctx), self.value(right_node, ctx)
        if isinstance(left, Lit) and not isinstance(right, Lit):
            left, right, op = right, left, _MIRROR[op]
            left_node = right_node
        kind, negated, insensitive = COMPARISONS[op]
        if isinstance(left, Length) and isinstance(left.of, Filtered) and isinstance(right, Lit):
            cond = left.of.cond
            number = right.value
            if cond is not None and isinstance(number, int | float) and not isinstance(number, bool):
                if _at_least_one(kind, negated, number):
                    return cond
                if _none(kind, negated, number):
                    return Not(cond)
        field = self.field_text(left, left_node)
        pred: Pred
        if isinstance(right, Lit):
            if right.value is None and kind is Kind.EQ:
                pred = Pred(field, Kind.EXISTS, negated, native=native)
                return pred
            pred = Pred(field, kind, right.value, cased=not insensitive, native=native)
        elif isinstance(right, Path) and kind is Kind.EQ:
            pred = Pred(field, Kind.FIELDREF, right.text, cased=not insensitive, native=native)
        else:
            pred = Pred(field, kind, _text_of(right), cased=not insensitive, native=native)
        return Not(pred) if negated else pred

    def membership(
        self,
        left_node: Tree[Token] | Token,
        rhs: Tree[Token] | Token,
        ctx: tuple[str, ...],
        insensitive: bool,
        native: str,
    ) -> Expr | None:
        field = self.field_text(self.value(left_node, ctx), left_node)
        if isinstance(rhs, Tree) and rhs.data == "tuple":
            values = [self.value(a, ctx) for a in _args(rhs.children[0])]
        else:
            target = rhs.children[0] if isinstance(rhs, Tree) and rhs.data == "in_rhs" else rhs
            values = [self.value(target, ctx)]
        preds: list[Expr] = []
        for value in values:
            if isinstance(value, Lit):
                preds.append(Pred(field, Kind.EQ, value.value, cased=not insensitive, native=native))
            else:  # a list, or a field holding several values
                name = value.name if isinstance(value, Var) else _text_of(value)
                preds.append(
                    Pred(field, Kind.EQ, name, cased=not insensitive, transforms=(MEMBERSHIP,), native=native)
                )
        return None if not preds else preds[0] if len(preds) == 1 else Any(tuple(preds))

    def call_cond(self, node: Tree[Token], ctx: tuple[str, ...]) -> Expr | None:
        name = self.text(node.children[0])
        args = _args(node.children[1]) if len(node.children) > 1 and node.children[1] is not None else []
        native = self.text(node)
        module, _, function = name.rpartition(".")
        if name in ("any", "all") and len(args) == 2:
            collection = self.value(args[0], ctx)
            element = _element(collection)
            body = self.cond(args[1], (*ctx, element))
            cond = collection.cond if isinstance(collection, Filtered) else None
            parts = tuple(e for e in (cond, body) if e is not None)
            return None if not parts else parts[0] if len(parts) == 1 else All(parts)
        if name == "coalesce" and args:
            return self.cond(args[0], ctx)
        if module == "strings" and function in STRING_FUNCTIONS and len(args) >= 2:
            kind, insensitive = STRING_FUNCTIONS[function]
            return self.string_match(args, ctx, kind, insensitive, native)
        if module == "regex" and function in REGEX_FUNCTIONS and len(args) >= 2:
            anchored, insensitive = REGEX_FUNCTIONS[function]
            return self.regex_match(args, ctx, anchored, insensitive, native)
        return self._truthy(self.value(node, ctx), native)

    def string_match(
        self,
        args: list[Tree[Token] | Token],
        ctx: tuple[str, ...],
        kind: Kind,
        insensitive: bool,
        native: str,
    ) -> Expr | None:
        field = self.field_text(self.value(args[0], ctx), args[0])
        preds: list[Expr] = []
        for arg in args[1:]:
            value = self.value(arg, ctx)
            native = self.one_value_native(native, args, arg)
            if isinstance(value, Lit) and isinstance(value.value, str):
                like_kind, text = _like(value.value) if kind is Kind.WILDCARD else (kind, value.value)
                preds.append(Pred(field, like_kind, text, cased=not insensitive, native=native))
            elif isinstance(value, Var) or (isinstance(value, Path) and value.text.startswith("$")):
                name = value.name if isinstance(value, Var) else value.text.removesuffix("[]")
                preds.append(
                    Pred(field, kind, name, cased=not insensitive, transforms=(MEMBERSHIP,), native=native)
                )
            else:  # another field's value: no literal to compare with
                preds.append(Pred(field, kind, _text_of(value), cased=not insensitive, native=native))
        return None if not preds else preds[0] if len(preds) == 1 else Any(tuple(preds))

    def regex_match(
        self,
        args: list[Tree[Token] | Token],
        ctx: tuple[str, ...],
        anchored: bool,
        insensitive: bool,
        native: str,
    ) -> Expr | None:
        field = self.field_text(self.value(args[0], ctx), args[0])
        flags = "i" if insensitive else ""
        preds: list[Expr] = []
        for arg in args[1:]:
            value = self.value(arg, ctx)
            native = self.one_value_native(native, args, arg)
            pattern = value.value if isinstance(value, Lit) else _text_of(value)
            text = f"^(?:{pattern})$" if anchored else str(pattern)
            preds.append(
                Pred(field, Kind.REGEX, text, cased=not insensitive, regex_flags=flags, native=native)
            )
        return None if not preds else preds[0] if len(preds) == 1 else Any(tuple(preds))

    def one_value_native(self, call: str, args: list[Tree[Token] | Token], arg: Tree[Token] | Token) -> str:
        """`strings.ilike(subject.subject, "*a*", "*b*")` seen from its "*b*" comparison: the call with
        that one value (Sublime's own function is its match kind, shown beside ours)."""
        if len(args) <= 2:
            return call
        name = call.split("(", 1)[0]
        return f"{name}({self.text(args[0])}, {self.text(arg)})"

    # -- values

    def field_text(self, value: Val, node: Tree[Token] | Token) -> str:
        return value.text if isinstance(value, Path) else _text_of(value) or self.text(node)

    def value(self, node: Tree[Token] | Token, ctx: tuple[str, ...]) -> Val:
        if isinstance(node, Token):
            return Opaque(str(node))
        data, kids = node.data, node.children
        if data == "name":
            return Path(str(kids[0]))
        if data == "rel":
            return Path(f"{_at(ctx, 1)}.{kids[0]}")
        if data == "outer":
            return Path(f"{_at(ctx, 2)}.{kids[0]}")
        if data == "outer2":
            return Path(f"{_at(ctx, 3)}.{kids[0]}")
        if data in ("elem", "outer_elem", "outer2_elem"):
            depth = {"elem": 1, "outer_elem": 2, "outer2_elem": 3}[data]
            return Path(_at(ctx, depth))
        if data == "attr":
            base = self.value(kids[0], ctx)
            return Path(f"{_path_text(base)}.{kids[1]}")
        if data == "index":
            base = self.value(kids[0], ctx)
            return Path(f"{_path_text(base)}[{self.text(kids[1])}]")
        if data == "string":
            return Lit(_unquote(str(kids[0])))
        if data == "number":
            text = str(kids[0])
            return Lit(float(text) if "." in text else int(text))
        if data in ("true", "false", "null"):
            return Lit({"true": True, "false": False, "null": None}[data])
        if data == "neg":
            inner = self.value(kids[0], ctx)
            if isinstance(inner, Lit) and isinstance(inner.value, int | float):
                return Lit(-inner.value)
            return Opaque(self.text(node))
        if data == "variable":
            return Var(str(kids[0]))
        if data in ("array", "tuple"):
            args = _args(kids[0]) if kids and kids[0] is not None else []
            return Items(tuple(self.value(a, ctx) for a in args))
        if data == "group":
            return self.value(kids[0], ctx)
        if data == "call":
            return self.call_value(node, ctx)
        return Opaque(self.text(node))

    def call_value(self, node: Tree[Token], ctx: tuple[str, ...]) -> Val:
        name = self.text(node.children[0])
        args = _args(node.children[1]) if len(node.children) > 1 and node.children[1] is not None else []
        if name == "map" and len(args) == 2:
            collection = self.value(args[0], ctx)
            mapped = self.value(args[1], (*ctx, _element(collection)))
            if isinstance(mapped, Path):
                return Path(mapped.text, mapped=True)
            return Opaque(self.text(node))
        if name == "filter" and len(args) == 2:
            collection = self.value(args[0], ctx)
            cond = self.cond(args[1], (*ctx, _element(collection)))
            base = collection.path if isinstance(collection, Filtered) else collection
            outer = collection.cond if isinstance(collection, Filtered) else None
            both = tuple(e for e in (outer, cond) if e is not None)
            joined = None if not both else both[0] if len(both) == 1 else All(both)
            return Filtered(base if isinstance(base, Path) else Path(_text_of(base)), joined)
        if name == "length" and len(args) == 1:
            inner = self.value(args[0], ctx)
            if isinstance(inner, Filtered):
                return Length(inner)
            return Path(f"length({_path_text(inner)})")
        rendered = ", ".join(self.arg_text(a, ctx) for a in args)
        return Path(f"{name}({rendered})")

    def arg_text(self, arg: Tree[Token] | Token, ctx: tuple[str, ...]) -> str:
        if isinstance(arg, Tree) and arg.data == "kwarg":
            return f"{arg.children[0]}={self.arg_text(arg.children[1], ctx)}"
        value = self.value(arg, ctx)
        if isinstance(value, Lit):
            return self.text(arg)
        return _path_text(value)


def _args(node: Tree[Token] | Token | None) -> list[Tree[Token] | Token]:
    if node is None:
        return []
    if isinstance(node, Tree) and node.data == "args":
        return list(node.children)
    return [node]


def _at(ctx: tuple[str, ...], depth: int) -> str:
    """The element path `depth` quantifiers out (1: the innermost); `.` outside any quantifier."""
    return ctx[-depth] if len(ctx) >= depth else "."


def _element(collection: Val) -> str:
    if isinstance(collection, Filtered):
        collection = collection.path
    if isinstance(collection, Path):
        return collection.text if collection.mapped else f"{collection.text}[]"
    if isinstance(collection, Var):
        return f"{collection.name}[]"
    return f"{_text_of(collection)}[]"


def _path_text(value: Val) -> str:
    if isinstance(value, Filtered):
        return f"filter({value.path.text})"
    return value.text if isinstance(value, Path) else _text_of(value)


def _text_of(value: Val) -> str:
    if isinstance(value, Path | Opaque):
        return value.text
    if isinstance(value, Lit):
        return "null" if value.value is None else str(value.value)
    if isinstance(value, Var):
        return value.name
    if isinstance(value, Filtered):
        return f"filter({value.path.text})"
    if isinstance(value, Length):
        return f"length({_text_of(value.of)})"
    return "(" + ", ".join(_text_of(v) for v in value.values) + ")"


def _unquote(token: str) -> str:
    """A string literal's value: double-quoted strings unescape `\\"` and `\\\\`, single-quoted are raw
    apart from the doubled quote."""
    body = token[1:-1]
    if token.startswith("'"):
        return body.replace("''", "'")
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in '"\\':
            out.append(body[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _like(pattern: str) -> tuple[Kind, str]:
    """A `like` pattern (`*` any run) as the plainest kind: `*x*` contains, `x*` starts_with, `*x` ends_with,
    no `*` eq; a `*` inside stays a wildcard, in Sigma's syntax (`?` and `\\` escaped, MQL reads them as
    themselves)."""
    plain = affix_kind(pattern, "*")
    if plain is not None:
        return plain
    return Kind.WILDCARD, pattern.replace("\\", "\\\\").replace("?", "\\?")


def _at_least_one(kind: Kind, negated: bool, number: float) -> bool:
    """`length(filter(…)) <kind> number` can only hold with at least one element."""
    if negated:
        return kind is Kind.EQ and number == 0
    return (
        (kind is Kind.GT and number >= 0)
        or (kind is Kind.GE and number >= 1)
        or (kind is Kind.EQ and number >= 1)
    )


def _none(kind: Kind, negated: bool, number: float) -> bool:
    """`length(filter(…)) <kind> number` holds exactly when there is no element."""
    return not negated and (
        (kind is Kind.EQ and number == 0)
        or (kind is Kind.LT and number == 1)
        or (kind is Kind.LE and number == 0)
    )
