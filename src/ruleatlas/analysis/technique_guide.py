"""One technique's report: ATT&CK facts, its rules, the events they read, and an authoring guide.

The guide answers "how do others detect this?" from the counted rules under the technique (a parent
technique: with its sub-techniques' rules), using the rules' positive predicates (indicators) and the
predicates under their top-level `not` (exclusions):

- fields: distinct rules filtering on each field, the mix of kinds, the most shared values;
- indicators: the most shared (field, kind, value) with the rules using each and the corpus reach (counted
  rules of the whole catalog with the same indicator);
- exclusions: the most shared exclusions with the number of rules excluding each.

The same dict is the JSON API's answer and the technique page's data (house rule 7: one query per page and
its JSON twin).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ruleatlas.analysis.coverage import CoverageIndex, FiltersJson, RuleInfo, tactic_ids
from ruleatlas.attack import AttackData, Tactic, Technique, retired_note, technique_sort_key

IndicatorKey = tuple[str, str, str, str]

TOP_FIELDS = 15
SAMPLES_PER_FIELD = 3
TOP_INDICATORS = 20
TOP_EXCLUSIONS = 15
LEVEL_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "informational": 4}


@dataclass(slots=True)
class IndicatorRow:
    uid: str
    field: str
    kind: str
    value: str  # normalised (case-folded where the predicate is case-insensitive)
    transforms: str
    exclusion: bool

    @property
    def key(self) -> IndicatorKey:
        return (self.field, self.kind, self.value, self.transforms)


@dataclass(slots=True)
class EventRow:
    uid: str
    provider: str
    channel: str
    event_id: int
    title: str
    provider_name: str = ""  # the provider's full name, where the telemetry tables know it


class CorpusJson(TypedDict):
    total: int
    by_vendor: dict[str, int]


class TechniqueRef(TypedDict):
    id: str
    name: str


class GuideRule(TypedDict):
    uid: str
    title: str
    vendor: str
    kind: str
    level: str
    status: str
    validated: bool
    techniques: list[str]  # which of the technique's ids (itself, sub-techniques, retired) the rule tags
    tactics: list[str]


class GuideTactic(TypedDict):
    id: str
    shortname: str
    name: str
    rules: int


class GuideSubtechnique(TypedDict):
    id: str
    name: str
    rules: int


class ViaRetired(TypedDict):
    id: str
    rules: list[str]


class GuideEvent(TypedDict):
    provider: str
    provider_name: str
    channel: str
    event_id: int
    title: str
    rules: int


class FieldSample(TypedDict):
    kind: str
    value: str
    key_value: str
    transforms: list[str]
    rules: int


class GuideField(TypedDict):
    field: str
    rules: int
    kinds: dict[str, int]
    samples: list[FieldSample]


class GuideExclusion(TypedDict):
    field: str
    kind: str
    value: str
    key_value: str
    transforms: list[str]
    rules: int
    uids: list[str]


class GuideIndicator(GuideExclusion):
    corpus: CorpusJson


class Guide(TypedDict):
    """How the technique's rules detect it: the fields, values and exclusions they use most."""

    fields: list[GuideField]
    fields_total: int
    indicators: list[GuideIndicator]
    indicators_total: int
    exclusions: list[GuideExclusion]
    exclusions_total: int


class TechniqueReport(Guide):
    """One technique's page and `/api/attack/techniques/{id}` answer."""

    id: str
    name: str
    url: str
    is_subtechnique: bool
    parent: TechniqueRef | None
    revoked: bool
    deprecated: bool
    moved: str  # how the id left the current matrix ("name", "judged", "none"), "" while in it
    move_note: str
    retired_note: str
    attack_version: str
    details_version: str
    replaced_by: TechniqueRef | None
    tactics: list[GuideTactic]
    platforms: list[str]
    description: str
    data_components: list[str]
    subtechniques: list[GuideSubtechnique]
    filters: FiltersJson
    rules_total: int
    rules_own: int
    rules_by_vendor: dict[str, int]
    rules: list[GuideRule]
    via_retired: list[ViaRetired]
    left_out: dict[str, list[str]]
    events: list[GuideEvent]


@dataclass(slots=True)
class CorpusReach:
    """Corpus counts by indicator key: per vendor, and their totals (summed once, sorted on often)."""

    by_vendor: Mapping[IndicatorKey, Mapping[str, int]]
    totals: dict[IndicatorKey, int] = field(default_factory=dict)
    # key -> the spelling most of its rules use, where it differs from the folded key: what the guide shows
    spellings: Mapping[IndicatorKey, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.totals:
            self.totals = {key: sum(per.values()) for key, per in self.by_vendor.items()}

    def corpus(self, key: IndicatorKey) -> CorpusJson:
        per_vendor = self.by_vendor.get(key, {})
        return {"total": self.totals.get(key, 0), "by_vendor": dict(sorted(per_vendor.items()))}

    def shown(self, key: IndicatorKey) -> str:
        """The value as rules spell it (`Service Control Manager`); counting uses the folded key."""
        return self.spellings.get(key, key[2])


def rule_sort_key(rule: RuleInfo) -> tuple[int, str, str]:
    return (LEVEL_ORDER.get(rule.level, 5), rule.title.casefold(), rule.uid)


def _technique_ref(tech: Technique | None, attack_id: str = "") -> TechniqueRef | None:
    if tech is None:
        return {"id": attack_id, "name": ""} if attack_id else None
    return {"id": tech.id, "name": tech.name}


def _rule_json(rule: RuleInfo, tagged: list[str], tactics: list[str]) -> GuideRule:
    return {
        "uid": rule.uid,
        "title": rule.title,
        "vendor": rule.vendor,
        "kind": rule.kind,
        "level": rule.level,
        "status": rule.status,
        "validated": rule.validated,
        "techniques": tagged,
        "tactics": tactics,
    }


def _tags_by_rule(index: CoverageIndex, ids: Iterable[str]) -> dict[str, list[str]]:
    """uid -> which of `ids` the rule tags itself (in id order)."""
    out: dict[str, list[str]] = {}
    for tid in sorted(set(ids), key=technique_sort_key):
        for uid in index.tagged.get(tid, ()):
            out.setdefault(uid, []).append(tid)
    return out


def technique_report(
    index: CoverageIndex,
    technique_id: str,
    indicators: Mapping[str, RuleKeys],
    events: Mapping[str, list[EventRow]],
    reach: CorpusReach,
) -> TechniqueReport | None:
    """The report of one technique (None when the ATT&CK data has no such id).

    `indicators` (`rule_keys()`) / `events`: by rule uid (they may hold other rules too); `reach`: corpus
    counts.
    """
    attack = index.attack
    tech = attack.technique(technique_id)
    if tech is None:
        return None
    active = tech.active
    subs = index.subtechniques(tech.id) if active else []
    covered_ids = [tech.id, *subs]
    # Retired ids counted under this technique (or its sub-techniques) are part of what it covers.
    retired_here = sorted(
        {old for target in covered_ids for old, _ in index.via.get(target, ())}, key=technique_sort_key
    )
    tags = _tags_by_rule(index, covered_ids + retired_here)
    if active:
        uids = index.technique_uids(tech.id)
        own = index.technique_uids(tech.id, with_subs=False)
    else:
        uids = set(index.tagged.get(tech.id, set())) - _left_out_uids(index) - index.filtered_out
        own = uids
    rules = [index.rules[u] for u in uids]
    rules.sort(key=rule_sort_key)
    tactic_of = _tactics_by_rule(index, covered_ids)
    by_vendor: dict[str, int] = {}
    for rule in rules:
        by_vendor[rule.vendor] = by_vendor.get(rule.vendor, 0) + 1
    tagged_uids = set(tags)
    left_out: dict[str, list[str]] = {}
    for reason, reason_uids in sorted(index.left_out.items()):
        hit = sorted(tagged_uids & reason_uids)
        if hit:
            left_out[reason] = hit
    report: TechniqueReport = {
        "id": tech.id,
        "name": tech.name,
        "url": tech.url,
        "is_subtechnique": tech.is_subtechnique,
        "parent": _technique_ref(attack.technique(tech.parent), tech.parent) if tech.parent else None,
        "revoked": tech.revoked,
        "deprecated": tech.deprecated,
        "moved": tech.moved,
        "move_note": tech.move_note,
        "retired_note": retired_note(tech, attack),
        "attack_version": attack.version,
        "details_version": tech.details_version,
        "replaced_by": _technique_ref(attack.technique(tech.replaced_by), tech.replaced_by)
        if tech.replaced_by
        else None,
        "tactics": [
            {
                "id": tid,
                "shortname": tactic.shortname,
                "name": tactic.name,
                "rules": len(index.technique_uids(tech.id, tid)) if active else 0,
            }
            for tid in tactic_ids(tech, attack)
            if (tactic := _tactic_by_id(attack, tid)) is not None
        ],
        "platforms": list(tech.platforms),
        "description": tech.description,
        "data_components": list(tech.data_components),
        "subtechniques": [
            {
                "id": sid,
                "name": attack.techniques[sid].name,
                "rules": len(index.technique_uids(sid, with_subs=False)),
            }
            for sid in subs
        ],
        "filters": index.filters.to_json(),
        "rules_total": len(rules),
        "rules_own": len(own),
        "rules_by_vendor": dict(sorted(by_vendor.items())),
        "rules": [_rule_json(r, tags.get(r.uid, []), tactic_of.get(r.uid, [])) for r in rules],
        "via_retired": [
            {"id": old, "rules": sorted(uid for o, uid in _via_pairs(index, covered_ids) if o == old)}
            for old in retired_here
        ],
        "left_out": left_out,
        "events": _events(rules, events),
        **_guide([r.uid for r in rules], indicators, reach),
    }
    return report


def _left_out_uids(index: CoverageIndex) -> set[str]:
    return {uid for uids in index.left_out.values() for uid in uids}


def _via_pairs(index: CoverageIndex, ids: Iterable[str]) -> list[tuple[str, str]]:
    return [pair for tid in ids for pair in index.via.get(tid, ())]


def _tactic_by_id(attack: AttackData, tactic_id: str) -> Tactic | None:
    return next((t for t in attack.tactics if t.id == tactic_id), None)


def _tactics_by_rule(index: CoverageIndex, ids: Iterable[str]) -> dict[str, list[str]]:
    """uid -> tactic ids it counts under for these techniques, in matrix order."""
    order = {t.id: i for i, t in enumerate(index.attack.tactics)}
    found: dict[str, set[str]] = {}
    for tid in ids:
        for tactic_id, uids in index.own.get(tid, {}).items():
            for uid in uids:
                found.setdefault(uid, set()).add(tactic_id)
    return {uid: sorted(t, key=lambda x: order.get(x, len(order))) for uid, t in found.items()}


def _events(rules: list[RuleInfo], events: Mapping[str, list[EventRow]]) -> list[GuideEvent]:
    per_event: dict[tuple[str, str, int, str, str], set[str]] = {}
    for rule in rules:
        for e in events.get(rule.uid, ()):
            key = (e.provider, e.channel, e.event_id, e.title, e.provider_name)
            per_event.setdefault(key, set()).add(rule.uid)
    ranked = sorted(per_event.items(), key=lambda kv: (-len(kv[1]), kv[0][0], kv[0][2]))
    return [
        {
            "provider": p,
            "provider_name": name,
            "channel": c,
            "event_id": eid,
            "title": title,
            "rules": len(uids),
        }
        for (p, c, eid, title, name), uids in ranked
    ]


@dataclass(slots=True)
class RuleKeys:
    """One rule's indicators, each counted once: what the guide adds up per technique."""

    positives: frozenset[IndicatorKey]
    fields: tuple[str, ...]
    field_kinds: tuple[tuple[str, str], ...]
    exclusions: frozenset[IndicatorKey]


def rule_keys(rows: Iterable[IndicatorRow]) -> dict[str, RuleKeys]:
    """Indicator rows -> uid -> RuleKeys (a rule repeating a comparison still counts once)."""
    positives: dict[str, set[IndicatorKey]] = {}
    exclusions: dict[str, set[IndicatorKey]] = {}
    for row in rows:
        (exclusions if row.exclusion else positives).setdefault(row.uid, set()).add(
            (row.field, row.kind, row.value, row.transforms)
        )
    out = {}
    for uid in positives.keys() | exclusions.keys():
        keys = positives.get(uid, set())
        out[uid] = RuleKeys(
            frozenset(keys),
            tuple({k[0] for k in keys}),
            tuple({(k[0], k[1]) for k in keys}),
            frozenset(exclusions.get(uid, ())),
        )
    return out


def _guide(uids: list[str], indicators: Mapping[str, RuleKeys], reach: CorpusReach) -> Guide:
    field_rules: Counter[str] = Counter()
    field_kinds: Counter[tuple[str, str]] = Counter()
    values: Counter[IndicatorKey] = Counter()
    exclusions: Counter[IndicatorKey] = Counter()
    present = [keys for uid in uids if (keys := indicators.get(uid)) is not None]
    for keys in present:
        field_rules.update(keys.fields)
        field_kinds.update(keys.field_kinds)
        values.update(keys.positives)
        exclusions.update(keys.exclusions)

    def users(key: IndicatorKey, exclusion: bool = False) -> list[str]:
        return sorted(
            uid
            for uid in uids
            if (keys := indicators.get(uid)) is not None
            and key in (keys.exclusions if exclusion else keys.positives)
        )

    top_fields = sorted(field_rules.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_FIELDS]
    shown = {name for name, _ in top_fields}
    samples: dict[str, list[tuple[IndicatorKey, int]]] = {}
    kinds: dict[str, list[tuple[str, int]]] = {}
    for key, n in values.items():
        if key[0] in shown:
            samples.setdefault(key[0], []).append((key, n))
    for (name, kind), n in field_kinds.items():
        if name in shown:
            kinds.setdefault(name, []).append((kind, n))
    fields: list[GuideField] = [
        {
            "field": name,
            "rules": n,
            "kinds": dict(sorted(kinds[name], key=lambda kv: (-kv[1], kv[0]))),
            "samples": [
                {
                    "kind": key[1],
                    "value": reach.shown(key),
                    "key_value": key[2],
                    "transforms": _transforms(key),
                    "rules": count,
                }
                for key, count in heapq.nsmallest(
                    SAMPLES_PER_FIELD, samples[name], key=lambda kv: (-kv[1], kv[0])
                )
            ],
        }
        for name, n in top_fields
    ]
    totals = reach.totals
    ranked = heapq.nsmallest(
        TOP_INDICATORS, values.items(), key=lambda kv: (-kv[1], -totals.get(kv[0], 0), kv[0])
    )
    top_indicators: list[GuideIndicator] = [
        {
            "field": key[0],
            "kind": key[1],
            "value": reach.shown(key),
            "key_value": key[2],
            "transforms": _transforms(key),
            "rules": n,
            "uids": users(key),
            "corpus": reach.corpus(key),
        }
        for key, n in ranked
    ]
    top_exclusions: list[GuideExclusion] = [
        {
            "field": key[0],
            "kind": key[1],
            "value": reach.shown(key),
            "key_value": key[2],
            "transforms": _transforms(key),
            "rules": n,
            "uids": users(key, exclusion=True),
        }
        for key, n in heapq.nsmallest(TOP_EXCLUSIONS, exclusions.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {
        "fields": fields,
        "fields_total": len(field_rules),
        "indicators": top_indicators,
        "indicators_total": len(values),
        "exclusions": top_exclusions,
        "exclusions_total": len(exclusions),
    }


def _transforms(key: IndicatorKey) -> list[str]:
    return [t for t in key[3].split("|") if t]


def group_rows(rows: Iterable[Any]) -> dict[str, list[Any]]:
    """Rows with a `uid` attribute, grouped by it."""
    out: dict[str, list[Any]] = {}
    for row in rows:
        out.setdefault(row.uid, []).append(row)
    return out
