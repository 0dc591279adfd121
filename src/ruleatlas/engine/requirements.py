"""Sound prefilter requirements: literals at least one of which occurs in any event a rule matches.

`required_literals(condition, searches)` works on the IR. A result R means: if the rule matches an event,
some literal of R occurs in the case-folded concatenation of the event's value texts (`values.scalar_text`
of every scalar, recursing into lists and objects). None means there is no such guarantee.

- a positive string comparison (eq, contains, startswith, endswith, wildcard; field or keyword) requires
  its (longest literal) text, case-folded; folding is per character, so a value found in the event,
  cased or not, is found folded in the folded event text;
- with value transformations (windash, base64, base64offset, utf16le/be, utf16, wide) it requires one of
  the longest literal runs of its transformed values (the same values the matcher compares, from
  `values.apply_transforms`): a matching value holds one of them;
- a regular expression requires the longest literal run its top-level sequence must match
  (`regex_runs`); under the `i` flag only ASCII runs count, split at i/I, the one ASCII letter that `re`
  also matches with characters whose case folding differs (U+0130, U+0131);
- eq values that read as numbers compare numerically with event numbers ("42.0" equals 42), so they give
  None; so do ASCII texts shorter than MIN_LITERAL characters (they would hit nearly every event; a short
  non-ASCII text such as an emoji is kept: it is rare in logs);
- cidr, numeric comparisons, exists, null, fieldref, booleans and numbers, `expand` and time parts give
  None;
- All: the most selective child requirement; Any: the union, or None if any child has None; Not: None.

`literal_groups` gives every such requirement of an And, best first (a conjunction: each group must be
met); the prefilter checks the first with its automaton and the others on the literals it found.
Which And child is "most selective" does not affect soundness, only how many rules the prefilter lets
through. compile_rules ranks by how many rules of the set share a literal (`frequency_selectivity`).
"""

from __future__ import annotations

import re
import re._parser as P
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TypeAlias

from ruleatlas.engine.regex_guard import RegexError, literal_runs, python_flags
from ruleatlas.engine.values import (
    TransformError,
    apply_transforms,
    literal,
    longest_literal,
    parse_number,
    parse_wildcard,
)
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Ref, walk_preds

Requirement: TypeAlias = frozenset[str] | None

MIN_LITERAL = 3
MAX_GROUPS = 4  # requirements kept per rule (the best first)
_STRING_KINDS = frozenset({Kind.EQ, Kind.CONTAINS, Kind.STARTS_WITH, Kind.ENDS_WITH, Kind.WILDCARD})
# value transformations whose output values are literal patterns the matcher compares as they are
_LITERAL_TRANSFORMS = frozenset({"windash", "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide"})
# the one ASCII letter `re` matches case-insensitively with characters whose casefold differs
_UNSAFE_CASELESS = re.compile(r"[^\x00-\x7f]|[iI]")


def usable(folded: str) -> bool:
    """Whether a folded literal is worth searching for (and non-empty)."""
    return len(folded) >= MIN_LITERAL or (bool(folded) and not folded.isascii())


def pred_requirement(pred: Pred) -> Requirement:
    if pred.kind is Kind.REGEX:
        return _regex_requirement(pred)
    if pred.kind not in _STRING_KINDS or not isinstance(pred.value, str) or isinstance(pred.value, bool):
        return None
    transforms = [t for t in pred.transforms if t != "cased"]
    if transforms:
        return _transformed_requirement(pred, pred.value, transforms)
    if pred.kind is Kind.WILDCARD:
        text = longest_literal(parse_wildcard(pred.value))
    else:
        text = pred.value
        if pred.kind is Kind.EQ and parse_number(text.strip()) is not None:
            return None
    folded = text.casefold()
    return frozenset({folded}) if usable(folded) else None


def _transformed_requirement(pred: Pred, value: str, transforms: list[str]) -> Requirement:
    """One literal per transformed value (compile.py's `strings` builds the same values)."""
    if not set(transforms) <= _LITERAL_TRANSFORMS:
        return None
    base = parse_wildcard(value) if pred.kind is Kind.WILDCARD else literal(value)
    try:
        patterns = apply_transforms(base, transforms, {})
    except TransformError:
        return None
    found: set[str] = set()
    for pattern in patterns:
        folded = longest_literal(pattern).casefold()
        if not usable(folded):
            return None
        found.add(folded)
    return frozenset(found) or None


def _regex_requirement(pred: Pred) -> Requirement:
    if not isinstance(pred.value, str) or pred.transforms:
        return None
    runs = regex_runs(pred.value, pred.regex_flags)
    best = max((run.casefold() for run in runs), key=len, default="")
    return frozenset({best}) if usable(best) else None


def regex_runs(pattern: str, flags: str = "") -> list[str]:
    """Literal texts every match of `pattern` contains (regex_guard's analysis of the top-level sequence),
    made safe for case-insensitive patterns; [] when the pattern cannot be read."""
    try:
        parsed = P.parse(pattern, python_flags(flags))
    except (re.error, RegexError, RecursionError, OverflowError):
        return []
    caseless = bool(parsed.state.flags & re.IGNORECASE)
    runs = literal_runs(list(parsed), parsed.state.flags & ~re.IGNORECASE)
    if not caseless:
        return runs
    return [piece for run in runs for piece in _UNSAFE_CASELESS.split(run) if piece]


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
    groups = literal_groups(condition, searches, score)
    return groups[0] if groups else None


def literal_groups(
    condition: Expr,
    searches: Mapping[str, Expr | None],
    score: Callable[[frozenset[str]], tuple[int, ...]] = selectivity,
) -> list[frozenset[str]]:
    """Requirements that all hold for any event the condition matches, best first (at most MAX_GROUPS).

    An And holds every requirement of its children; an Or one, the union of its children's best ones
    (none if a child has none); a Not none. The first is what `required_literals` returns.
    """
    memo: dict[str, list[frozenset[str]]] = {}

    def best_first(groups: Iterable[frozenset[str]]) -> list[frozenset[str]]:
        return sorted(set(groups), key=lambda g: (score(g), sorted(g)), reverse=True)[:MAX_GROUPS]

    def walk(expr: Expr, active: frozenset[str]) -> list[frozenset[str]]:
        if isinstance(expr, Pred):
            requirement = pred_requirement(expr)
            return [] if requirement is None else [requirement]
        if isinstance(expr, Not):
            return []
        if isinstance(expr, Ref):
            if expr.name in memo:
                return memo[expr.name]
            target = searches.get(expr.name)
            if target is None or expr.name in active:
                return []
            memo[expr.name] = result = walk(target, active | {expr.name})
            return result
        if isinstance(expr, All):
            return best_first(group for item in expr.items for group in walk(item, active))
        if isinstance(expr, Any):
            union: set[str] = set()
            for item in expr.items:
                groups = walk(item, active)
                if not groups:
                    return []
                union |= groups[0]
            return [frozenset(union)] if union else []
        return []

    return walk(condition, frozenset())
