"""Sound prefilter requirements: literals at least one of which occurs in any event a rule matches.

`required_literals(condition, searches)` works on the IR. A result R means: if the rule matches an event,
some literal of R occurs in the case-folded concatenation of the event's value texts (`values.scalar_text`
of every scalar, recursing into lists and objects). None means there is no such guarantee.

- a positive string comparison (eq, contains, startswith, endswith, wildcard; field or keyword) without
  transformations requires its (longest literal) text, case-folded; folding is per character, so a value
  found in the event, cased or not, is found folded in the folded event text;
- eq values that read as numbers compare numerically with event numbers ("42.0" equals 42), so they give
  None; so do values shorter than MIN_LITERAL characters;
- regex, cidr, numeric comparisons, exists, null, fieldref, booleans and numbers, and any transformation
  (base64*, utf16*, windash, expand, time parts) give None;
- All: the most selective child requirement; Any: the union, or None if any child has None; Not: None.

Which And child is "most selective" does not affect soundness, only how many rules the prefilter lets
through. compile_rules ranks by how many rules of the set share a literal (`frequency_selectivity`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from ruleatlas.engine.values import longest_literal, parse_number, parse_wildcard
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Ref, walk_preds

Requirement: TypeAlias = frozenset[str] | None

MIN_LITERAL = 3
_STRING_KINDS = frozenset({Kind.EQ, Kind.CONTAINS, Kind.STARTS_WITH, Kind.ENDS_WITH, Kind.WILDCARD})


def pred_requirement(pred: Pred) -> Requirement:
    if pred.kind not in _STRING_KINDS or not isinstance(pred.value, str) or isinstance(pred.value, bool):
        return None
    if any(t != "cased" for t in pred.transforms):
        return None
    if pred.kind is Kind.WILDCARD:
        text = longest_literal(parse_wildcard(pred.value))
    else:
        text = pred.value
        if pred.kind is Kind.EQ and parse_number(text.strip()) is not None:
            return None
    folded = text.casefold()
    if len(folded) < MIN_LITERAL:
        return None
    return frozenset({folded})


def selectivity(requirement: frozenset[str]) -> tuple[int, int]:
    """Higher is better: a longer shortest literal, then fewer literals."""
    return (min(len(lit) for lit in requirement), -len(requirement))


def literal_frequencies(conditions: Iterable[tuple[Expr, Mapping[str, Expr | None]]]) -> Counter[str]:
    """In how many rules each candidate literal occurs (positive predicates of the searches)."""
    counts: Counter[str] = Counter()
    for _condition, searches in conditions:
        found: set[str] = set()
        for expr in searches.values():
            for pred, negated in walk_preds(expr):
                if not negated and (requirement := pred_requirement(pred)) is not None:
                    found |= requirement
        counts.update(found)
    return counts


def frequency_selectivity(counts: Mapping[str, int]) -> Callable[[frozenset[str]], tuple[int, int, int]]:
    """Higher is better: literals few rules share (a literal many rules use, such as '\\powershell.exe'
    or '.exe', is common in events too), then a longer shortest literal, then fewer literals."""

    def score(requirement: frozenset[str]) -> tuple[int, int, int]:
        shared = sum(counts.get(lit, 1) for lit in requirement)
        return (-shared, min(len(lit) for lit in requirement), -len(requirement))

    return score


def required_literals(
    condition: Expr,
    searches: Mapping[str, Expr | None],
    score: Callable[[frozenset[str]], tuple[int, ...]] = selectivity,
) -> Requirement:
    """The requirement of a condition; `score` ranks the children of an And (higher = more selective)."""
    memo: dict[str, Requirement] = {}

    def walk(expr: Expr, active: frozenset[str]) -> Requirement:
        if isinstance(expr, Pred):
            return pred_requirement(expr)
        if isinstance(expr, Not):
            return None
        if isinstance(expr, Ref):
            if expr.name in memo:
                return memo[expr.name]
            target = searches.get(expr.name)
            if target is None or expr.name in active:
                return None
            memo[expr.name] = result = walk(target, active | {expr.name})
            return result
        if isinstance(expr, All):
            found = [r for r in (walk(item, active) for item in expr.items) if r is not None]
            return max(found, key=score) if found else None
        if isinstance(expr, Any):
            union: set[str] = set()
            for item in expr.items:
                requirement = walk(item, active)
                if requirement is None:
                    return None
                union |= requirement
            return frozenset(union) if union else None
        return None

    return walk(condition, frozenset())
