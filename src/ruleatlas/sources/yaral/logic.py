"""A YARA-L rule's `events`, `outcome` and `condition` sections → stages and predicates.

The sections are parsed with `yaral.lark` (Lark LALR). The stages take Sigma's shape:

- stage 0, `condition`: the condition over event variables (`$e and #e > 5` → `Ref("$e")`; `!$e2` →
  `Not(Ref("$e2"))`); comparisons of outcome variables and counts stay in its text;
- one `search` stage per event variable (label `$e`), in the order the events section first names them,
  holding the statements that read only that variable, ANDed;
- a `join` stage for statements across event variables: `$e1.principal.hostname = $e2.target.hostname` is a
  `fieldref` predicate. The condition does not reference it, so join keys are shown, never indicators;
- `match` (an aggregate stage: group-by and window, `Rule.correlation`) and `outcome` (a project stage: the
  outcome variables are the rule's output fields, `$risk_score` its risk score).

Predicates: `$e.f = "x"` is eq, cased unless `nocase`; `!=` is eq under `Not`; `= /re/`, `re.regex($e.f,
"re")` regex (flag `i` with `nocase`); `strings.contains`/`starts_with`/`ends_with` as named, looked through
`strings.to_lower` (then not cased); `net.ip_in_range_cidr` cidr; `in %list` (also `in regex`, `in cidr`)
membership of the reference list (`Pred(value="%list", transforms=(MEMBERSHIP,))`); `!= ""` exists, `= ""`
exists false; `<`, `>`... as written. The field is the path below the event variable (`$e.metadata.event_type`
→ `metadata.event_type`); `metadata.event_type`, `log_type`, `product_name` and `vendor_name` are scope
predicates. A binding of a placeholder (`$host = $e.principal.hostname`) is no predicate, and is shown in its
stage's text, except for a placeholder the match section groups by: YARA-L filters out the zero values of
those (unless `options: allow_zero_values = true`), so such a binding is the field's `exists` predicate
(`!= ""`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Token, Tree
from lark.exceptions import LarkError

from ruleatlas.model import MEMBERSHIP, Expr, Kind, Not, Pred, Ref, Scalar, Stage, StageOp
from ruleatlas.model import All as AllOf
from ruleatlas.model import Any as AnyOf
from ruleatlas.sources.grammar import grammar_file, lark_parser
from ruleatlas.sources.yaral.rulefile import RuleText, Section

GRAMMAR = grammar_file(__file__, "yaral.lark")
SCOPE_FIELDS = frozenset(
    {"metadata.event_type", "metadata.log_type", "metadata.product_name", "metadata.vendor_name"}
)
_ORDER = {"<": Kind.LT, "<=": Kind.LE, ">": Kind.GT, ">=": Kind.GE}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
_STRING_CALLS = {
    "strings.contains": Kind.CONTAINS,
    "strings.starts_with": Kind.STARTS_WITH,
    "strings.ends_with": Kind.ENDS_WITH,
    "re.regex": Kind.REGEX,
    "net.ip_in_range_cidr": Kind.CIDR,
}
_FOLDING = frozenset({"strings.to_lower", "strings.to_upper"})
_ESCAPE = {"n": "\n", "t": "\t", "r": "\r"}


class SectionError(Exception):
    """A section that does not parse: the Lark error and the section it happened in."""

    def __init__(self, section: Section, error: LarkError) -> None:
        super().__init__(str(error))
        self.section = section
        self.error = error


class TooDeep(Exception):
    """A section nested deeper than the converter reads (thousands of `or`s), placed at its first line."""

    line = 1
    column = 1

    def __init__(self) -> None:
        super().__init__("nested too deeply to read")


@dataclass(slots=True)
class YaralLogic:
    stages: list[Stage] = field(default_factory=list)
    output_fields: tuple[str, ...] = ()
    risk_score: str = ""
    condition: str = ""


def _parse(section: Section) -> list[Tree[Token] | Token]:
    try:
        tree = lark_parser(GRAMMAR).parse(section.text)
    except LarkError as exc:
        raise SectionError(section, exc) from exc
    return list(tree.children)


def _span(node: Tree[Token] | Token) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.start_pos or 0, node.end_pos or 0
    return node.meta.start_pos, node.meta.end_pos


def _line(node: Tree[Token] | Token) -> int:
    return (node.line if isinstance(node, Token) else node.meta.line) or 1


def _tokens(node: Tree[Token] | Token) -> list[Token]:
    if isinstance(node, Token):
        return [node]
    return [t for t in node.scan_values(lambda v: isinstance(v, Token))]


def _event_variable(token: Token) -> str:
    return str(token).split(".", 1)[0].split("[", 1)[0]


def _field_path(token: Token) -> str:
    """`$e.principal.hostname` → `principal.hostname`; `$e["k"]` → `["k"]`."""
    written = str(token)
    variable = _event_variable(token)
    return written[len(variable) :].removeprefix(".")


def _unquote(token: Token) -> str:
    written = str(token)
    if token.type == "RAWSTRING":
        return written[1:-1]
    out: list[str] = []
    i = 1
    while i < len(written) - 1:
        ch = written[i]
        if ch == "\\" and i + 1 < len(written) - 1:
            nxt = written[i + 1]
            out.append(_ESCAPE.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _slash_regex(token: Token) -> tuple[str, str]:
    written = str(token)
    close = written.rfind("/")
    return written[1:close].replace("\\/", "/"), written[close + 1 :]


@dataclass(slots=True)
class _Operand:
    """One side of a comparison: a field (with whether a case-folding function wraps it), a literal, a
    placeholder variable, or something else."""

    field: str | None = None
    variable: str = ""  # the event variable of a field
    folded: bool = False
    literal: Scalar = None
    is_literal: bool = False
    regex_flags: str | None = None  # set for a /regex/ literal
    placeholder: str = ""


class _Converter:
    def __init__(self, text: str, non_zero: frozenset[str] = frozenset()) -> None:
        self.text = text
        # match placeholders whose zero values the engine filters out: binding one is `field != ""`
        self.non_zero = non_zero

    def native(self, node: Tree[Token] | Token) -> str:
        start, end = _span(node)
        return " ".join(self.text[start:end].split())

    def operand(self, node: Tree[Token] | Token) -> _Operand:
        if isinstance(node, Tree) and node.data == "field":
            token = node.children[0]
            assert isinstance(token, Token)
            return _Operand(field=_field_path(token), variable=_event_variable(token))
        if isinstance(node, Tree) and node.data == "call":
            name = str(node.children[0]).lower()
            args = [c for c in node.children[1:] if c is not None]
            if name in _FOLDING and len(args) == 1:
                inner = self.operand(args[0])
                inner.folded = inner.field is not None or inner.folded
                return inner
            return _Operand()
        if isinstance(node, Tree) and node.data in ("string", "rawstring"):
            token = node.children[0]
            assert isinstance(token, Token)
            return _Operand(literal=_unquote(token), is_literal=True)
        if isinstance(node, Tree) and node.data == "regex":
            token = node.children[0]
            assert isinstance(token, Token)
            pattern, flags = _slash_regex(token)
            return _Operand(literal=pattern, is_literal=True, regex_flags=flags)
        if isinstance(node, Tree) and node.data == "number":
            written = str(node.children[0])
            return _Operand(literal=float(written) if "." in written else int(written), is_literal=True)
        if isinstance(node, Tree) and node.data == "negative":
            inner = self.operand(node.children[1])
            if isinstance(inner.literal, int | float) and not isinstance(inner.literal, bool):
                return _Operand(literal=-inner.literal, is_literal=True)
            return _Operand()
        if isinstance(node, Tree) and node.data == "bool":
            return _Operand(literal=str(node.children[0]).lower() == "true", is_literal=True)
        if isinstance(node, Tree) and node.data == "constant":
            return _Operand(literal=str(node.children[0]), is_literal=True)
        if isinstance(node, Tree) and node.data == "variable":
            return _Operand(placeholder=str(node.children[0]))
        return _Operand()

    def pred(self, target: _Operand, kind: Kind, value: Scalar, node: Tree[Token], **extra: object) -> Pred:
        assert target.field is not None
        return Pred(
            field=target.field,
            kind=kind,
            value=value,
            native=self.native(node),
            scope=target.field in SCOPE_FIELDS,
            **extra,  # type: ignore[arg-type]
        )

    def expr(self, node: Tree[Token] | Token, nocase: bool = False) -> Expr | None:
        if isinstance(node, Token):
            return None
        data = node.data
        if data in ("and_", "or_"):
            parts = [p for p in (self.expr(node.children[0]), self.expr(node.children[2])) if p is not None]
            if not parts:
                return None
            joined = AllOf if data == "and_" else AnyOf
            items: list[Expr] = []
            for part in parts:
                items.extend(part.items if isinstance(part, joined) else (part,))
            return items[0] if len(items) == 1 else joined(tuple(items))
        if data == "not_":
            inner = self.expr(node.children[-1])
            return None if inner is None else Not(inner)
        if data == "quantified":
            return self.expr(node.children[-1])
        if data == "compare":
            return self.compare(node)
        if data == "in_list":
            return self.in_list(node)
        if data == "nocase_call":
            return self.expr(node.children[0], nocase=True)
        if data == "call":
            return self.call(node, nocase)
        return None

    def compare(self, node: Tree[Token]) -> Expr | None:
        children = node.children
        left, op, right = self.operand(children[0]), str(children[1]), self.operand(children[2])
        nocase = len(children) > 3
        if left.field is None and right.field is not None:
            left, right, op = right, left, _FLIP[op]
        if left.field is None:
            return None
        if right.field is not None:
            if op not in ("=", "!="):
                return None
            ref = self.pred(left, Kind.FIELDREF, right.field, node)
            return Not(ref) if op == "!=" else ref
        if right.placeholder and right.placeholder in self.non_zero and op == "=":
            return self.pred(left, Kind.EXISTS, True, node)
        if not right.is_literal:
            return None  # a placeholder binding or a computed value
        cased = not (nocase or left.folded)
        value = right.literal
        if right.regex_flags is not None:
            flags = "i" if not cased or "i" in right.regex_flags else ""
            regex = self.pred(left, Kind.REGEX, value, node, regex_flags=flags, cased=not flags)
            return Not(regex) if op == "!=" else regex
        if op in _ORDER:
            return self.pred(left, _ORDER[op], value, node)
        if value == "":
            return self.pred(left, Kind.EXISTS, op == "!=", node)
        eq = self.pred(left, Kind.EQ, value, node, cased=cased and isinstance(value, str))
        return Not(eq) if op == "!=" else eq

    def in_list(self, node: Tree[Token]) -> Expr | None:
        target = self.operand(node.children[0])
        if target.field is None:
            return None
        words = [str(c).lower() for c in node.children[1:] if isinstance(c, Token)]
        reference = next(str(c) for c in node.children if isinstance(c, Token) and c.type == "REFLIST")
        kind = Kind.REGEX if "regex" in words else Kind.CIDR if "cidr" in words else Kind.EQ
        nocase = "nocase" in words
        cased = kind is Kind.EQ and not (nocase or target.folded)
        member = self.pred(target, kind, reference, node, transforms=(MEMBERSHIP,), cased=cased)
        return Not(member) if words and words[0] != "in" else member

    def call(self, node: Tree[Token], nocase: bool) -> Expr | None:
        name = str(node.children[0]).lower()
        args = [c for c in node.children[1:] if c is not None]
        kind = _STRING_CALLS.get(name)
        if kind is None or len(args) < 2:
            return None
        target, value = self.operand(args[0]), self.operand(args[1])
        if target.field is None or not value.is_literal:
            return None
        cased = not (nocase or target.folded)
        if kind is Kind.REGEX:
            flags = "" if cased else "i"
            return self.pred(target, kind, value.literal, node, regex_flags=flags, cased=cased)
        return self.pred(target, kind, value.literal, node, cased=cased and kind is not Kind.CIDR)

    def condition(self, node: Tree[Token] | Token, events: set[str]) -> Expr | None:
        """The condition over event variables: `$e` and `#e > n` are `Ref("$e")`."""
        if isinstance(node, Token):
            return None
        if node.data in ("and_", "or_"):
            parts = [
                p
                for p in (self.condition(node.children[0], events), self.condition(node.children[2], events))
                if p is not None
            ]
            if not parts:
                return None
            joined = AllOf if node.data == "and_" else AnyOf
            return parts[0] if len(parts) == 1 else joined(tuple(parts))
        if node.data == "not_":
            inner = self.condition(node.children[-1], events)
            return None if inner is None else Not(inner)
        if node.data == "variable" and str(node.children[0]) in events:
            return Ref(str(node.children[0]))
        if node.data == "compare":
            counted = [t for t in _tokens(node) if t.type == "COUNT" and "$" + str(t)[1:] in events]
            if counted:
                return Ref("$" + str(counted[0])[1:])
        return None


def _statement_variables(node: Tree[Token] | Token) -> list[str]:
    return list(dict.fromkeys(_event_variable(t) for t in _tokens(node) if t.type == "FIELD"))


_ALLOW_ZERO = re.compile(r"\ballow_zero_values\s*=\s*true\b", re.IGNORECASE)


def non_zero_placeholders(found: RuleText, match_variables: tuple[str, ...]) -> frozenset[str]:
    """The match section's placeholders whose zero values YARA-L filters out: all of them, unless the rule's
    options allow zero values."""
    options = found.sections.get("options")
    if options is not None and _ALLOW_ZERO.search(options.text):
        return frozenset()
    return frozenset(v for v in match_variables if v.startswith("$"))


def yaral_logic(found: RuleText, match_variables: tuple[str, ...] = ()) -> YaralLogic:
    """The stages of one parsed rule (`match_variables`: the placeholders the match section groups by);
    raises `SectionError` for a section that does not parse."""
    logic = YaralLogic()
    events_section = found.sections.get("events")
    statements = _parse(events_section) if events_section is not None else []
    converter = _Converter(
        events_section.text if events_section is not None else "",
        non_zero_placeholders(found, match_variables),
    )
    by_variable: dict[str, list[Tree[Token] | Token]] = {}
    across: list[Tree[Token] | Token] = []
    for statement in statements:
        variables = _statement_variables(statement)
        if len(variables) == 1:
            by_variable.setdefault(variables[0], []).append(statement)
        else:
            across.append(statement)
    first_line = events_section.text_line if events_section is not None else found.line
    searches = [
        _stage(converter, name, StageOp.SEARCH, items, first_line) for name, items in by_variable.items()
    ]
    if across:
        searches.append(_stage(converter, "join", StageOp.JOIN, across, first_line))
    condition_section = found.sections.get("condition")
    stages: list[Stage] = []
    if condition_section is not None:
        parts = _parse(condition_section)
        cond = _Converter(condition_section.text)
        exprs = [e for p in parts if (e := cond.condition(p, set(by_variable))) is not None]
        expr = None if not exprs else exprs[0] if len(exprs) == 1 else AllOf(tuple(exprs))
        text = condition_section.text.strip()
        logic.condition = " ".join(text.split())
        stages.append(Stage(0, "condition", StageOp.CONDITION, text, expr, condition_section.text_line))
    stages.extend(searches)
    match = found.sections.get("match")
    if match is not None:
        stages.append(Stage(0, "match", StageOp.AGGREGATE, match.text.strip(), None, match.text_line))
    outcome = found.sections.get("outcome")
    if outcome is not None:
        names: list[str] = []
        for item in _parse(outcome):
            if isinstance(item, Tree) and item.data == "compare" and isinstance(item.children[0], Tree):
                target = item.children[0]
                if target.data == "variable":
                    name = str(target.children[0])
                    names.append(name)
                    if name == "$risk_score":
                        logic.risk_score = _Converter(outcome.text).native(item.children[2])
        logic.output_fields = tuple(n.removeprefix("$") for n in dict.fromkeys(names))
        stages.append(
            Stage(0, "outcome", StageOp.PROJECT, outcome.text.strip(), None, outcome.text_line, tuple(names))
        )
    for index, stage in enumerate(stages):
        stage.index = index
    logic.stages = stages
    return logic


def _stage(
    converter: _Converter, label: str, op: StageOp, items: list[Tree[Token] | Token], first_line: int
) -> Stage:
    exprs = [e for item in items if (e := converter.expr(item)) is not None]
    expr: Expr | None = None if not exprs else exprs[0] if len(exprs) == 1 else AllOf(tuple(exprs))
    text = "\n".join(converter.text[_span(i)[0] : _span(i)[1]] for i in items)
    return Stage(0, label, op, text, expr, first_line + _line(items[0]) - 1)
