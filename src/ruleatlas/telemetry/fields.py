"""Which fields of each covered event a rule tests, and which it needs to match at all.

Per event the rule covers (event coverage), the rule's field names are turned into the event's own: the
category's renames for that event (pySigma's Image -> NewProcessName for Security 4688), else the channel's,
and matched case-insensitively with the event's defined fields, whose spelling wins.

- `fields`: every field the rule's searches test, filters included: the event pages count distinct rules per
  field from these.
- `needs`: the ways the rule can match, each the set of fields that must be present for it: the condition
  with its references followed, in disjunctive form (a selection's map is an AND, a list an OR). A field under
  `not`, a `null` or `exists: false` comparison and a keyword search need nothing. Beyond MAX_ALTERNATIVES
  the alternatives are folded into the fields all of them share, which keeps "cannot fire" sound: a rule is
  only said to be unable to fire when every way it could match lacks a field.
"""

from __future__ import annotations

from dataclasses import dataclass

from ruleatlas.model import All, Any, Expr, Kind, Pred, Ref, Rule, Stage
from ruleatlas.telemetry.catalog import EventDef, TelemetryCatalog, name_key
from ruleatlas.telemetry.coverage import EventRef, event_coverage, rule_facts

MAX_ALTERNATIVES = 64

Alternatives = list[frozenset[str]]


@dataclass(slots=True, frozen=True)
class RuleEventFields:
    """One event a rule covers, with the rule's fields in the event's names."""

    provider: str  # provider name, or the channel when the provider is not known
    channel: str
    event_id: int | str
    fields: tuple[tuple[str, str], ...]  # (event field, the rule's name for it)
    needs: tuple[tuple[str, ...], ...]  # alternatives, each the event fields it needs

    @property
    def event_key(self) -> str:
        return str(self.event_id)


def _minimal(alternatives: Alternatives) -> Alternatives:
    """Drop alternatives that contain another (they can never be the easier way to match). Ties in size are
    ordered by their fields, not by set iteration (it follows the hash seed: documents differed per run)."""
    unique = sorted(set(alternatives), key=lambda alt: (len(alt), sorted(alt)))
    kept: Alternatives = []
    for alt in unique:
        if not any(k <= alt for k in kept):
            kept.append(alt)
    return kept


def _fold(alternatives: Alternatives) -> Alternatives:
    if len(alternatives) <= MAX_ALTERNATIVES:
        return alternatives
    shared = frozenset.intersection(*alternatives)
    return [shared]


def _pred_needs(pred: Pred) -> frozenset[str]:
    if pred.field is None:
        return frozenset()
    if pred.kind is Kind.EQ and pred.value is None:
        return frozenset()  # `field: null` matches when the field is absent
    if pred.kind is Kind.EXISTS and pred.value in (False, "false", "False", 0):
        return frozenset()
    if pred.kind is Kind.FIELDREF and isinstance(pred.value, str):
        return frozenset((pred.field, pred.value))
    return frozenset((pred.field,))


def condition_needs(stages: list[Stage]) -> Alternatives:
    """The ways a rule's condition can be true, each as the fields it needs. References are followed into
    the searches they name (each search worked out once); a rule without a usable condition counts every
    search, as if OR-ed (as analysis.indicators.rule_logic does)."""
    searches = {s.label: s.expr for s in stages if s.op == "search"}
    memo: dict[str, Alternatives] = {}

    def ref(name: str, active: frozenset[str]) -> Alternatives:
        if name in memo:
            return memo[name]
        target = searches.get(name)
        if target is None or name in active:
            return [frozenset()]
        memo[name] = result = walk(target, active | {name})
        return result

    def walk(expr: Expr, active: frozenset[str]) -> Alternatives:
        if isinstance(expr, Pred):
            return [_pred_needs(expr)]
        if isinstance(expr, Ref):
            return ref(expr.name, active)
        if isinstance(expr, Any):
            out: Alternatives = []
            for item in expr.items:
                out.extend(walk(item, active))
            return _fold(_minimal(out)) if len(out) > 1 else out or [frozenset()]
        if isinstance(expr, All):
            acc: Alternatives = [frozenset()]
            for item in expr.items:
                child = walk(item, active)
                if len(child) == 1:
                    only = child[0]
                    acc = [a | only for a in acc] if only else acc
                else:
                    acc = _fold(_minimal([a | c for a in acc for c in child]))
            return acc
        return [frozenset()]  # Not: a negated part needs nothing to be present

    condition = next((s for s in stages if s.op == "condition"), None)
    if condition is not None and condition.expr is not None:
        return walk(condition.expr, frozenset())
    out: Alternatives = []
    for name, expr in searches.items():
        if expr is not None:
            out.extend(ref(name, frozenset()))
    return _fold(_minimal(out)) if out else [frozenset()]


class _EventNames:
    """Maps a rule's field names to one event's (renames, then the event's own spelling)."""

    def __init__(self, renames: dict[str, str], event: EventDef | None) -> None:
        self.renames = renames
        self.spelling = {f.name.lower(): f.name for f in event.fields} if event is not None else {}

    def __call__(self, name: str) -> str:
        renamed = self.renames.get(name, name)
        return self.spelling.get(renamed.lower(), renamed)


def _renames(telemetry: TelemetryCatalog, category: str, ref: EventRef) -> dict[str, str]:
    table = telemetry.logsources
    for target in table.categories.get(category, ()):
        if target.event_id == ref.event_id and name_key(target.channel) == name_key(ref.channel):
            return {**table.channel_field_maps.get(ref.channel, {}), **target.field_map}
    return table.channel_field_maps.get(ref.channel, {})


def rule_event_fields(
    rule: Rule, telemetry: TelemetryCatalog, events: list[EventRef] | None = None
) -> list[RuleEventFields]:
    """Per covered event (`events`, else event_coverage(rule)), the fields the rule tests and needs."""
    facts = rule_facts(rule)
    refs = event_coverage(rule, telemetry, facts).events if events is None else events
    if not refs:
        return []
    tested = facts.fields
    needs = condition_needs(rule.stages)
    common = {f.lower() for f in telemetry.logsources.common_fields}
    category = str(rule.logsource.get("category") or "").lower()
    out: list[RuleEventFields] = []
    for ref in refs:
        provider = ref.provider_name or ref.channel
        event = telemetry.event(ref.provider_name, ref.event_id) if ref.provider_name else None
        names = _EventNames(_renames(telemetry, category, ref), event)
        fields = tuple(dict.fromkeys((names(f), f) for f in tested))
        event_needs = tuple(
            tuple(sorted({names(f) for f in alt if f.lower() not in common})) for alt in needs
        )
        out.append(
            RuleEventFields(provider, ref.channel, ref.event_id, fields, tuple(dict.fromkeys(event_needs)))
        )
    return out
