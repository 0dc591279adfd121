"""Prefilter: pick, cheaply and soundly, the rules worth matching against an event.

Two tests, both necessary conditions for a rule to match (so skipping a rule that fails one never loses a
match; tests compare prefiltered scans with full scans over real logs, house rule 8):

1. Literals: each compiled rule brings `required_literals`, case-folded strings at least one of which occurs
   in the case-folded text of every event the rule matches (None: no such guarantee). The event text is the
   concatenation of all its values in the text form string matchers compare (`values.scalar_text`: strings
   as they are, numbers as `str()`, booleans as true/false; lists and nested objects walked), folded the
   same way (`fold`, str.casefold, as the matchers). One Aho-Corasick pass finds every literal present.
2. Fields: `required_fields(rule)` names fields at least one of which the event must have for the rule to
   match: a field that is absent fails every comparison except null, `exists` and negated ones (matchers.py),
   so a positive comparison requires its field. Events with the same field names (typically all events of
   one Channel/EventID) share the answer, cached by the tuple of names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

import ahocorasick

from ruleatlas.engine.values import scalar_text
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Ref, Rule

SEPARATOR = "\x00"  # between values: no literal contains it, so no match spans two values by accident
SIGNATURE_CACHE = 4096  # field-name signatures remembered per bucket (cleared when full)

Requirement = frozenset[str] | None
_second = itemgetter(1)


def fold(text: str) -> str:
    """The case folding shared with compile's `required_literals` and the matchers (str.casefold)."""
    return text.casefold()


def _walk(value: object, parts: list[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _walk(item, parts)
    elif isinstance(value, list | tuple):
        for item in value:
            _walk(item, parts)
    else:
        text = scalar_text(value)  # the very text string matchers compare
        if text is not None:
            parts.append(text)


def event_text(fields: dict[str, object]) -> str:
    """The case-folded text of every value of an event."""
    parts: list[str] = []
    append = parts.append
    for value in fields.values():
        kind = type(value)
        if kind is str:
            append(value)  # type: ignore[arg-type]
        elif kind is int:
            append(str(value))
        elif value is not None:
            _walk(value, parts)
    return fold(SEPARATOR.join(parts))


def fields_text(fields: dict[str, object], names: Sequence[str]) -> str:
    """The case-folded text of the values of `names` (present in `fields`), as `event_text` builds it."""
    parts: list[str] = []
    append = parts.append
    for name in names:
        value = fields[name]
        kind = type(value)
        if kind is str:
            append(value)  # type: ignore[arg-type]
        elif kind is int:
            append(str(value))
        elif value is not None:
            _walk(value, parts)
    return fold(SEPARATOR.join(parts))


# --- required fields ------------------------------------------------------------------------------------


def _pred_fields(pred: Pred) -> Requirement:
    if pred.field is None or pred.kind in (Kind.EXISTS, Kind.NEQ) or "neq" in pred.transforms:
        return None
    if pred.kind is Kind.EQ and pred.value is None:
        return None  # `field: null` holds when the field is absent
    return frozenset({pred.field})


def required_fields(rule: Rule) -> Requirement:
    """Fields at least one of which an event must have for `rule` to match; None when there is no such set.

    Walks the condition through its search identifiers: All takes the child with the fewest alternatives,
    Any the union of its children (None if one has none), Not gives None.
    """
    conditions = [stage for stage in rule.stages if stage.op == "condition"]
    if not conditions or conditions[0].expr is None:
        return None
    searches = {stage.label: stage.expr for stage in rule.stages if stage.op == "search"}
    memo: dict[str, Requirement] = {}

    def walk(expr: Expr, active: frozenset[str]) -> Requirement:
        if isinstance(expr, Pred):
            return _pred_fields(expr)
        if isinstance(expr, Not):
            return None
        if isinstance(expr, Ref):
            if expr.name in memo:
                return memo[expr.name]
            target = searches.get(expr.name)
            if target is None or expr.name in active:
                return None
            memo[expr.name] = found = walk(target, active | {expr.name})
            return found
        if isinstance(expr, All):
            options = [r for r in (walk(item, active) for item in expr.items) if r]
            return min(options, key=lambda r: (len(r), sorted(r))) if options else None
        if isinstance(expr, Any):
            union: set[str] = set()
            for item in expr.items:
                found = walk(item, active)
                if not found:
                    return None
                union |= found
            return frozenset(union) if union else None
        return None

    return walk(conditions[0].expr, frozenset())


def has_any_field(fields: Mapping[str, object], names: frozenset[str]) -> bool:
    """Whether the event has one of `names` (a dotted name counts when its top object is there)."""
    return any(name in fields or ("." in name and name.split(".", 1)[0] in fields) for name in names)


def read_fields(matcher: object) -> frozenset[str] | None:
    """The fields a compiled matcher reads (dotted names also by their top object); None: it may read any.

    A sound literal requirement holds within the values of the fields its rule reads (values the rule does
    not read cannot decide a match), so the event text for a set of rules may leave the other fields out.
    """
    from ruleatlas.engine.matchers import AllOf, AnyOf, Const, FieldMatcher, NotOf

    found: set[str] = set()
    stack = [matcher]
    while stack:
        node = stack.pop()
        if isinstance(node, AllOf | AnyOf):
            stack.extend(node.children)
        elif isinstance(node, NotOf):
            stack.append(node.child)
        elif isinstance(node, FieldMatcher):
            for name, _path in node.fields_read():  # every field it reads (fieldref: both)
                found.add(name)
                found.add(name.split(".", 1)[0])
        elif not isinstance(node, Const):  # a keyword search, or a matcher unknown here: may read anything
            return None
    return frozenset(found)


@dataclass(slots=True)
class RuleFacts:
    """Per rule (by index): required literals, required fields, and the fields its matcher reads."""

    literals: list[Requirement]
    fields: list[Requirement]
    reads: list[frozenset[str] | None]


class _LiteralSet:
    """One Aho-Corasick automaton over the literals of a set of rules, and the rules of each literal."""

    __slots__ = ("automaton", "rules_of")

    def __init__(self, rule_ids: Sequence[int], literals: Sequence[Requirement]) -> None:
        by_literal: dict[str, list[int]] = {}
        for rule_id in rule_ids:
            for literal in literals[rule_id] or ():
                by_literal.setdefault(literal, []).append(rule_id)
        self.automaton = ahocorasick.Automaton()
        self.rules_of: list[tuple[int, ...]] = []
        for literal, rules in by_literal.items():
            self.automaton.add_word(literal, len(self.rules_of))
            self.rules_of.append(tuple(rules))
        self.automaton.make_automaton()

    def hits(self, text: str) -> set[int]:
        found: set[int] = set()
        rules_of = self.rules_of
        for hit in set(map(_second, self.automaton.iter(text))):
            found.update(rules_of[hit])
        return found


class LiteralSets:
    """Automata shared between buckets, keyed by their rule set (least recently built dropped first)."""

    def __init__(self, literals: Sequence[Requirement], limit: int = 256) -> None:
        self.literals = literals
        self.limit = limit
        self._sets: dict[frozenset[int], _LiteralSet] = {}

    def get(self, rule_ids: frozenset[int]) -> _LiteralSet:
        found = self._sets.pop(rule_ids, None)
        if found is None:
            found = _LiteralSet(sorted(rule_ids), self.literals)
            if len(self._sets) >= self.limit:
                self._sets.pop(next(iter(self._sets)))
        self._sets[rule_ids] = found  # most recently used last
        return found


@dataclass(slots=True)
class _Plan:
    """What to do for events of one bucket with one field-name signature."""

    always: tuple[int, ...]  # candidates whatever the text (no literal requirement), fields present
    field_rules: frozenset[int]  # rules selected by literal hits in the values of `text_fields`
    text_fields: tuple[str, ...]  # the fields those rules read, in event order
    keyword_rules: frozenset[int]  # rules that may read any field (keyword searches): the whole text


class Prefilter:
    """The candidates among the rules of one route bucket (by index), per event."""

    __slots__ = ("_facts", "_plans", "_sets", "always", "rule_ids")

    def __init__(self, rule_ids: Sequence[int], facts: RuleFacts, sets: LiteralSets) -> None:
        self.rule_ids = tuple(rule_ids)
        self._facts = facts
        self._sets = sets
        literals = facts.literals
        self.always = tuple(i for i in self.rule_ids if not literals[i] or "" in literals[i])  # type: ignore[operator]
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def _plan(self, fields: Mapping[str, object]) -> _Plan:
        signature = tuple(fields)
        plan = self._plans.get(signature)
        if plan is None:
            required = self._facts.fields
            all_reads = self._facts.reads
            possible = [
                i
                for i in self.rule_ids
                if required[i] is None or has_any_field(fields, required[i])  # type: ignore[arg-type]
            ]
            always_set = set(self.always)
            by_fields: set[int] = set()
            by_text: set[int] = set()
            reads: set[str] = set()
            for i in possible:
                if i in always_set:
                    continue
                rule_reads = all_reads[i]
                if rule_reads is None:
                    by_text.add(i)
                else:
                    by_fields.add(i)
                    reads |= rule_reads
            plan = _Plan(
                always=tuple(i for i in possible if i in always_set),
                field_rules=frozenset(by_fields),
                text_fields=tuple(name for name in fields if name in reads),
                keyword_rules=frozenset(by_text),
            )
            if len(self._plans) >= SIGNATURE_CACHE:
                self._plans.clear()
            self._plans[signature] = plan
        return plan

    def candidates(self, fields: dict[str, object]) -> list[int]:
        """Rule indexes to test, ascending."""
        plan = self._plan(fields)
        hits: set[int] = set()
        if plan.field_rules:
            hits = self._sets.get(plan.field_rules).hits(fields_text(fields, plan.text_fields))
        if plan.keyword_rules:
            hits |= self._sets.get(plan.keyword_rules).hits(event_text(fields))
        if not hits:
            return list(plan.always)
        if plan.always:
            hits.update(plan.always)
        return sorted(hits)

    def without_prefilter(self) -> list[int]:
        return list(self.rule_ids)
