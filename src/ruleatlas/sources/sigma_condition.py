"""The Sigma condition grammar (spec v2.1 "Condition") parsed into an `Expr` over `Ref` leaves.

    or_expr  := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | atom
    atom     := "(" or_expr ")" | quantifier "of" pattern | identifier
    quantifier := "1" | "any" | "all"          pattern := "them" | identifier with * wildcards

Precedence (least to most binding) is or, and, not, `x of`, parentheses. Quantifiers are expanded at parse
time into `Any`/`All` of `Ref`s in detection order; `them`, and patterns that do not themselves start with
`_`, skip identifiers starting with `_` (spec; pySigma `ConditionSelector`). Operators are lower case, as in
pySigma. The legacy pipe syntax (`| count() by x > 5`, `| near`) of Sigma 1.x is refused with a hint
towards correlation rules. The same parser reads the extended (string) condition of temporal correlations,
where the leaves are rule names and quantifiers are not allowed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from ruleatlas.model import All, Any, Expr, Not, Ref

KEYWORDS = frozenset({"and", "or", "not", "of", "them"})
QUANTIFIERS = frozenset({"1", "any", "all"})
AGGREGATIONS = frozenset({"count", "sum", "min", "max", "avg"})
_TOKEN = re.compile(r"\s*(?:([()])|([^\s()]+))")


class ConditionError(Exception):
    """A condition that cannot be used; `column` is 1-based within the condition text when known."""

    def __init__(self, message: str, hint: str = "", column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.column = column


def parse_condition(text: str, identifiers: Sequence[str] | None, *, quantifiers: bool = True) -> Expr:
    """Parse `text`; `identifiers` are the search identifiers in detection order (None: accept any name)."""
    return _Parser(text, identifiers, quantifiers).parse()


def pattern_matches(pattern: str, identifiers: Sequence[str]) -> list[str]:
    """The identifiers a quantifier pattern selects (`them`: all), skipping `_` ones unless asked for."""
    if pattern == "them":
        return [name for name in identifiers if not name.startswith("_")]
    regex = re.compile(".*".join(re.escape(piece) for piece in pattern.split("*")))
    keep_underscore = pattern.startswith("_")
    return [
        name
        for name in identifiers
        if regex.fullmatch(name) and (keep_underscore or not name.startswith("_"))
    ]


class _Parser:
    def __init__(self, text: str, identifiers: Sequence[str] | None, quantifiers: bool) -> None:
        self.text = text
        self.identifiers = identifiers
        self.known = frozenset(identifiers) if identifiers is not None else None
        self.quantifiers = quantifiers
        self.tokens: list[tuple[str, int]] = []
        self.pos = 0

    def parse(self) -> Expr:
        if not self.text.strip():
            raise ConditionError("empty condition", "name the search identifiers to match, e.g. 'selection'")
        pipe = self.text.find("|")
        if pipe >= 0:
            tail = " ".join(self.text[pipe:].split())
            raise ConditionError(
                f"legacy aggregation '{tail}' in the condition (Sigma 1.x pipe syntax)",
                "aggregations and 'near' were replaced by correlation rules: move this to a correlation "
                "document (type event_count / value_count / temporal) that refers to this rule",
                column=pipe + 1,
            )
        for match in _TOKEN.finditer(self.text):
            token = match.group(1) or match.group(2)
            if token:
                self.tokens.append((token, match.start(match.lastindex or 0) + 1))
        expr = self._or()
        if self.pos < len(self.tokens):
            token, column = self.tokens[self.pos]
            if token == ")":
                raise ConditionError(
                    f"unbalanced parentheses: ')' at column {column} closes nothing", "remove it", column
                )
            raise ConditionError(
                f"unexpected '{token}' at column {column}",
                "join expressions with 'and' / 'or'" + self._case_hint(token),
                column,
            )
        return expr

    # --- grammar ---------------------------------------------------------------------------------

    def _or(self) -> Expr:
        items = [self._and()]
        while self._peek() == "or":
            self.pos += 1
            items.append(self._and())
        return _join(Any, items)

    def _and(self) -> Expr:
        items = [self._not()]
        while self._peek() == "and":
            self.pos += 1
            items.append(self._not())
        return _join(All, items)

    def _not(self) -> Expr:
        if self._peek() == "not":
            self.pos += 1
            return Not(self._not())
        return self._atom()

    def _atom(self) -> Expr:
        if self.pos >= len(self.tokens):
            what = f"after '{self.tokens[-1][0]}'" if self.tokens else ""
            raise ConditionError(f"condition ends unexpectedly {what}".rstrip(), "complete the expression")
        token, column = self.tokens[self.pos]
        self.pos += 1
        if token == "(":
            expr = self._or()
            if self._peek() != ")":
                raise ConditionError(
                    f"unbalanced parentheses: '(' at column {column} is not closed",
                    "add the missing ')'",
                    column,
                )
            self.pos += 1
            return expr
        if token == ")":
            raise ConditionError(
                f"expected an identifier at column {column}, found ')'", "check the parentheses", column
            )
        if self._peek() == "of":
            return self._quantified(token, column)
        if token in KEYWORDS:
            raise ConditionError(
                f"expected an identifier at column {column}, found the operator '{token}'",
                "check for a doubled or missing operand",
                column,
            )
        return self._ref(token, column)

    def _quantified(self, quantifier: str, column: int) -> Expr:
        self.pos += 1  # 'of'
        if not self.quantifiers:
            raise ConditionError(
                f"'{quantifier} of' is not allowed here", "name the rules with and / or", column
            )
        if quantifier not in QUANTIFIERS:
            raise ConditionError(
                f"invalid quantifier '{quantifier}' at column {column}",
                "use '1 of', 'any of' or 'all of'" + self._case_hint(quantifier),
                column,
            )
        if self.pos >= len(self.tokens) or self.tokens[self.pos][0] in ("(", ")"):
            raise ConditionError(
                f"'{quantifier} of' at column {column} needs a pattern",
                "e.g. '1 of selection_*' or '1 of them'",
                column,
            )
        pattern, pattern_column = self.tokens[self.pos]
        self.pos += 1
        names = self.identifiers or []
        matches = pattern_matches(pattern, names)
        if not matches:
            what = (
                "no search identifier without a leading '_'" if pattern == "them" else "no search identifier"
            )
            near = difflib.get_close_matches(pattern.replace("*", ""), list(names), n=3, cutoff=0.5)
            raise ConditionError(
                f"'{quantifier} of {pattern}' matches {what}",
                f"identifiers: {', '.join(names)}" + (f" (nearest: {', '.join(near)})" if near else ""),
                pattern_column,
            )
        refs: list[Expr] = [Ref(name) for name in matches]
        return _join(All if quantifier == "all" else Any, refs)

    def _ref(self, name: str, column: int) -> Expr:
        if "*" in name:
            raise ConditionError(
                f"wildcard '{name}' at column {column} needs a quantifier",
                f"write '1 of {name}' or 'all of {name}'",
                column,
            )
        if self.known is not None and name not in self.known:
            if name in AGGREGATIONS and self._peek() == "(":
                raise ConditionError(
                    f"legacy aggregation '{name}(...)' in the condition (Sigma 1.x)",
                    "aggregations were replaced by correlation rules (event_count, value_count, ...)",
                    column,
                )
            near = difflib.get_close_matches(name, list(self.known), n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(n) for n in near)}?" if near else ""
            hint = (
                hint or self._case_hint(name).lstrip("; ") or f"defined: {', '.join(self.identifiers or [])}"
            )
            raise ConditionError(f"condition names '{name}', which is not a search identifier", hint, column)
        return Ref(name)

    def _peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    @staticmethod
    def _case_hint(token: str) -> str:
        lower = token.lower()
        if lower != token and (lower in KEYWORDS or lower in QUANTIFIERS):
            return f"; operators are lower case: write '{lower}'"
        return ""


def _join(cls: type[All] | type[Any], items: list[Expr]) -> Expr:
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        if isinstance(item, cls):
            flat.extend(item.items)
        else:
            flat.append(item)
    return cls(tuple(flat))
