"""Indicators: the (field, kind, value) comparisons a rule makes, keyed so equal ones compare equal.

A predicate reached through an even number of `not`s is an indicator; one reached through an odd number
is an exclusion. The condition is followed through its references, so a search identifier that the
condition never uses contributes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ruleatlas.model import All as AllOf
from ruleatlas.model import Any as AnyOf
from ruleatlas.model import Expr, Kind, Not, Pred, Ref, Rule, Stage, scalar_text, walk_preds

IndicatorKey = tuple[str, str, str, str]
"""(field, kind, normalised value, transforms) — field "" for a keyword search."""


@dataclass(slots=True, frozen=True)
class Indicator:
    key: IndicatorKey
    pred: Pred

    @property
    def field(self) -> str | None:
        return self.pred.field

    @property
    def kind(self) -> str:
        return self.key[1]


@dataclass(slots=True)
class RuleIndicators:
    positives: list[Indicator] = field(default_factory=list)
    exclusions: list[Indicator] = field(default_factory=list)


def _is_case_insensitive(pred: Pred) -> bool:
    if pred.cased:
        return False
    if pred.kind is Kind.REGEX:
        return "i" in pred.regex_flags
    # Field references compare two fields; the referenced name is not a value to fold.
    return pred.kind is not Kind.FIELDREF


def indicator_key(pred: Pred) -> IndicatorKey:
    text = scalar_text(pred.value)
    if isinstance(pred.value, str) and _is_case_insensitive(pred):
        text = text.casefold()
    return (pred.field or "", pred.kind.value, text, "|".join(pred.transforms))


def _resolve(expr: Expr, searches: dict[str, Expr | None], seen: frozenset[str]) -> Expr | None:
    """Replace every `Ref` by the expression of the stage it names (cycles and dangling refs drop out)."""
    if isinstance(expr, Ref):
        target = searches.get(expr.name)
        if target is None or expr.name in seen:
            return None
        return _resolve(target, searches, seen | {expr.name})
    if isinstance(expr, Not):
        inner = _resolve(expr.item, searches, seen)
        return None if inner is None else Not(inner)
    if isinstance(expr, AllOf | AnyOf):
        items = tuple(x for x in (_resolve(i, searches, seen) for i in expr.items) if x is not None)
        return type(expr)(items) if items else None
    return expr


def rule_logic(stages: list[Stage]) -> Expr | None:
    """The rule's logic as one expression: the condition with its references resolved."""
    searches = {s.label: s.expr for s in stages if s.op == "search"}
    condition = next((s for s in stages if s.op == "condition"), None)
    if condition is not None and condition.expr is not None:
        return _resolve(condition.expr, searches, frozenset())
    # Without a usable condition every search counts, as if OR-ed: better than showing nothing.
    items = tuple(e for e in searches.values() if e is not None)
    return AnyOf(items) if items else None


def rule_indicators(rule: Rule) -> RuleIndicators:
    result = RuleIndicators()
    seen: set[tuple[IndicatorKey, bool]] = set()
    for pred, negated in walk_preds(rule_logic(rule.stages)):
        key = indicator_key(pred)
        if (key, negated) in seen:
            continue
        seen.add((key, negated))
        target = result.exclusions if negated else result.positives
        target.append(Indicator(key, pred))
    return result
