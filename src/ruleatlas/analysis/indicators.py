"""Indicators: the (field, kind, value) comparisons a rule makes, keyed so equal ones compare equal.

A predicate reached through an even number of `not`s is an indicator; one reached through an odd number
is an exclusion. The condition is followed through its references, so a search identifier that the
condition never uses contributes nothing. A pipeline's logic is its filter stages up to the first
aggregate, ANDed, with `let` stages followed through references.

Not every predicate is an indicator: a scope predicate (`Pred.scope`: index, sourcetype, event.category,
Channel...) selects the data source, as a Sigma logsource does, and a predicate on a column an earlier stage
`defines` (`count > 5` after `stats`) is that stage's logic. Keys are canonical (`canonical`): one indicator
written by three vendors counts once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ruleatlas.analysis.canonical import Canonical, canonical
from ruleatlas.model import All as AllOf
from ruleatlas.model import Any as AnyOf
from ruleatlas.model import (
    Expr,
    Kind,
    Not,
    Pred,
    Ref,
    Rule,
    Scalar,
    Stage,
    StageOp,
    scalar_text,
    walk_preds,
)

IndicatorKey = tuple[str, str, str, str]
"""(canonical field, kind, normalised value, transforms) — field "" for a keyword search."""


@dataclass(slots=True, frozen=True)
class Indicator:
    key: IndicatorKey
    pred: Pred  # the predicate as the rule wrote it (native field, kind and value)
    how: str = "sigma"  # how the canonical field was reached (`Canonical.how`)
    value: Scalar = None  # the canonical value as written (the key holds it folded)
    implied: bool = False  # the canonical comparison is implied by the native one, not equal to it

    @property
    def field(self) -> str:
        """The canonical field ("" for a keyword search)."""
        return self.key[0]

    @property
    def native_field(self) -> str | None:
        return self.pred.field

    @property
    def kind(self) -> str:
        return self.key[1]


@dataclass(slots=True)
class RuleIndicators:
    positives: list[Indicator] = field(default_factory=list)
    exclusions: list[Indicator] = field(default_factory=list)


def _is_case_insensitive(form: Canonical, pred: Pred) -> bool:
    if form.cased:
        return False
    if form.kind is Kind.REGEX:
        return "i" in pred.regex_flags
    # Field references compare two fields; the referenced name is not a value to fold.
    return form.kind is not Kind.FIELDREF


def indicator_key(pred: Pred, vendor: str = "sigma", logsource: dict[str, str] | None = None) -> IndicatorKey:
    return _key(canonical(pred, vendor, logsource or {}), pred)


def _key(form: Canonical, pred: Pred) -> IndicatorKey:
    text = scalar_text(form.value)
    if isinstance(form.value, str) and _is_case_insensitive(form, pred):
        text = text.casefold()
    return (form.field, form.kind.value, text, "|".join(pred.transforms))


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
    """The rule's logic as one expression: the condition with its references resolved (Sigma), or the
    filter stages up to the first aggregate, ANDed (pipelines), with the references of source and join
    stages, all references followed into `let` stages."""
    condition = next((s for s in stages if s.op == StageOp.CONDITION), None)
    named = {s.label: s.expr for s in stages if s.op in (StageOp.SEARCH, StageOp.LET)}
    if condition is not None and condition.expr is not None:
        return _resolve(condition.expr, named, frozenset())
    filters: list[Expr] = []
    for stage in stages:
        if stage.op == StageOp.AGGREGATE:
            break
        # a source or join stage's expression is logic too: the `let` or sub-query it reads (Kusto), the data
        # it selects (a Splunk data model: a scope predicate, never an indicator)
        if stage.op in (StageOp.FILTER, StageOp.SOURCE, StageOp.JOIN) and stage.expr is not None:
            resolved = _resolve(stage.expr, named, frozenset())
            if resolved is not None:
                filters.append(resolved)
    if filters:
        return filters[0] if len(filters) == 1 else AllOf(tuple(filters))
    # Without a usable condition every search counts, as if OR-ed: better than showing nothing.
    items = tuple(e for s in stages if s.op == StageOp.SEARCH and (e := s.expr) is not None)
    return AnyOf(items) if items else None


def defined_columns(stages: list[Stage]) -> frozenset[str]:
    """Columns some stage computes (`count` after `stats`): predicates on them are logic, not indicators."""
    return frozenset(column for stage in stages for column in stage.defines)


def rule_indicators(rule: Rule) -> RuleIndicators:
    result = RuleIndicators()
    seen: set[tuple[IndicatorKey, bool]] = set()
    defined = defined_columns(rule.stages)
    for pred, negated in walk_preds(rule_logic(rule.stages)):
        if pred.scope or (pred.field is not None and pred.field in defined):
            continue
        form = canonical(pred, rule.vendor, rule.logsource)
        key = _key(form, pred)
        if (key, negated) in seen:
            continue
        seen.add((key, negated))
        target = result.exclusions if negated else result.positives
        target.append(Indicator(key, pred, form.how, form.value, form.implied))
    return result
