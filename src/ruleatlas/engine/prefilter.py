"""Literal prefilter: one Aho-Corasick pass over an event's text picks the rules worth matching.

Each compiled rule brings `required_literals`: case-folded strings at least one of which occurs in the
case-folded text of every event the rule matches (None: no such guarantee, the rule is always a candidate).
The event text is the concatenation of all its values in the text form string matchers compare
(`values.scalar_text`: strings as they are, numbers as `str()`, booleans as true/false; lists and nested
objects walked), case-folded the same way (`fold`, str.casefold, as the matchers). A rule is a
candidate when one of its literals occurs in that text. The prefilter is sound by construction if the
literals are; tests compare prefiltered scans with full scans over real logs (house rule 8).
"""

from __future__ import annotations

from collections.abc import Sequence

import ahocorasick

from ruleatlas.engine.values import scalar_text

SEPARATOR = "\x00"  # between values: no literal contains it, so no match spans two values by accident


def fold(text: str) -> str:
    """The case folding shared with compile's `required_literals` (str.casefold)."""
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


class LiteralIndex:
    """The candidates among a set of rules (by index) for one event text."""

    __slots__ = ("_automaton", "_literal_rules", "always", "rule_ids")

    def __init__(self, rule_ids: Sequence[int], literals: Sequence[frozenset[str] | None]) -> None:
        self.rule_ids = tuple(rule_ids)
        always: list[int] = []
        by_literal: dict[str, list[int]] = {}
        for rule_id in self.rule_ids:
            required = literals[rule_id]
            if required is None or not required or "" in required:
                always.append(rule_id)
                continue
            for literal in required:
                by_literal.setdefault(literal, []).append(rule_id)
        self.always = tuple(always)
        self._literal_rules: list[tuple[int, ...]] = []
        self._automaton: ahocorasick.Automaton | None = None
        if by_literal:
            automaton = ahocorasick.Automaton()
            for literal, rules in by_literal.items():
                automaton.add_word(literal, len(self._literal_rules))
                self._literal_rules.append(tuple(rules))
            automaton.make_automaton()
            self._automaton = automaton

    def candidates(self, text: str) -> list[int]:
        """Rule indexes to test, in ascending order."""
        if self._automaton is None:
            return list(self.always)
        hits = {value for _, value in self._automaton.iter(text)}
        if not hits:
            return list(self.always)
        found = set(self.always)
        literal_rules = self._literal_rules
        for hit in hits:
            found.update(literal_rules[hit])
        return sorted(found)
