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

import ahocorasick

from ruleatlas.engine.values import scalar_text
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Ref, Rule

SEPARATOR = "\x00"  # between values: no literal contains it, so no match spans two values by accident
SIGNATURE_CACHE = 4096  # field-name signatures remembered per bucket (cleared when full)

Requirement = frozenset[str] | None


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


# --- per-bucket prefilter -------------------------------------------------------------------------------


class Prefilter:
    """The candidates among some rules (by index) for one event: literal hits and field presence."""

    __slots__ = ("_automaton", "_fields", "_literal_rules", "_signatures", "always", "rule_ids")

    def __init__(
        self, rule_ids: Sequence[int], literals: Sequence[Requirement], fields: Sequence[Requirement]
    ) -> None:
        self.rule_ids = tuple(rule_ids)
        self._fields = fields
        always: list[int] = []
        by_literal: dict[str, list[int]] = {}
        for rule_id in self.rule_ids:
            required = literals[rule_id]
            if required is None or not required or "" in required:
                always.append(rule_id)
                continue
            for literal in required:
                by_literal.setdefault(literal, []).append(rule_id)
        self.always = tuple(always)  # no literal requirement
        self._literal_rules: list[tuple[int, ...]] = []
        self._automaton: ahocorasick.Automaton | None = None
        if by_literal:
            automaton = ahocorasick.Automaton()
            for literal, rules in by_literal.items():
                automaton.add_word(literal, len(self._literal_rules))
                self._literal_rules.append(tuple(rules))
            automaton.make_automaton()
            self._automaton = automaton
        self._signatures: dict[tuple[str, ...], tuple[frozenset[int], tuple[int, ...]]] = {}

    def literal_hits(self, text: str) -> set[int]:
        """Rules with a literal requirement one of whose literals occurs in `text`."""
        found: set[int] = set()
        if self._automaton is None:
            return found
        literal_rules = self._literal_rules
        for hit in {value for _, value in self._automaton.iter(text)}:
            found.update(literal_rules[hit])
        return found

    def _possible(self, fields: Mapping[str, object]) -> tuple[frozenset[int], tuple[int, ...]]:
        """(rules whose required fields the event has, the same among `always`), cached per field names."""
        signature = tuple(fields)
        entry = self._signatures.get(signature)
        if entry is None:
            required = self._fields
            possible = frozenset(
                i
                for i in self.rule_ids
                if required[i] is None or has_any_field(fields, required[i])  # type: ignore[arg-type]
            )
            entry = (possible, tuple(i for i in self.always if i in possible))
            if len(self._signatures) >= SIGNATURE_CACHE:
                self._signatures.clear()
            self._signatures[signature] = entry
        return entry

    def candidates(self, fields: Mapping[str, object], text: str) -> list[int]:
        """Rule indexes to test, ascending."""
        possible, always = self._possible(fields)
        hits = self.literal_hits(text)
        if not hits:
            return list(always)
        hits &= possible
        if not always:
            return sorted(hits)
        hits.update(always)
        return sorted(hits)

    def without_prefilter(self) -> list[int]:
        return list(self.rule_ids)
