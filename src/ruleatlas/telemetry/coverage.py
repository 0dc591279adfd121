"""Event coverage: which telemetry events a rule looks at.

Inputs are the rule's log source (product/category/service), every field its search stages test (negated
ones too), and its explicit EventID / Channel / Provider_Name predicates. A category maps to candidate events
through the log source table (process_creation -> Sysmon 1, Security 4688); the mapping is field-aware: a
candidate is listed only if it carries every field the rule uses, after the category's field renames. If
none does, the primary candidate stays and the note says why. Explicit EventIDs narrow a category, and pick
the events of a service-only rule (service: security + EventID 4624 -> Security 4624).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TypedDict

from ruleatlas.model import Kind, Rule, RuleKind, Stage, walk_preds, walk_refs
from ruleatlas.telemetry.catalog import (
    LOGSOURCE_KIND,
    EventDef,
    ProviderDef,
    TelemetryCatalog,
    event_sort_key,
    name_key,
    provider_label,
)
from ruleatlas.telemetry.logsources import UNNAMED_DATA_CHANNELS, Target
from ruleatlas.telemetry.platforms import sysmon_linux
from ruleatlas.telemetry.platforms.actions import Resolution, resolve_actions, resolve_native
from ruleatlas.telemetry.products import ANY_EVENT, WINDOWS_PRODUCT

# A service rule without EventID gets the channel's events that carry every field it tests, if there are at
# most this many.
MAX_INFERRED_EVENTS = 12


class EventDoc(TypedDict):
    """One entry of the rule page document's `events` (docs/page-document.md)."""

    provider: str
    provider_name: str
    channel: str
    event_id: int | str
    title: str


class CoverageDoc(TypedDict):
    events: list[EventDoc]
    events_note: str


@dataclass(slots=True, frozen=True)
class EventRef:
    """One event a rule covers, as the rule page lists it (`events` in docs/page-document.md)."""

    provider: str
    provider_name: str
    channel: str
    event_id: int | str
    title: str

    def to_json(self) -> EventDoc:
        return {
            "provider": self.provider,
            "provider_name": self.provider_name,
            "channel": self.channel,
            "event_id": self.event_id,
            "title": self.title,
        }


@dataclass(slots=True)
class Coverage:
    """`events` and `note` (why there are none, or what was assumed) are the page's `events`/`events_note`."""

    events: list[EventRef] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> CoverageDoc:
        return {"events": [e.to_json() for e in self.events], "events_note": self.note}


@dataclass(slots=True)
class RuleFacts:
    """What a rule's logic says about its events: the fields it tests and its explicit event predicates."""

    fields: list[str] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)
    excluded_ids: set[int] = field(default_factory=set)
    channels: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    # (providers named beside the EventID - alternative spellings of one provider, as a rule lists them -
    # or () when none is, event id), in rule order
    pairs: list[tuple[tuple[str, ...], int]] = field(default_factory=list)
    # positive predicates on text or numbers, by lower-cased field: the action fields of platform events
    # (eventName, eventType, verb...) are read from here
    values: dict[str, list[tuple[Kind, str]]] = field(default_factory=dict)


@dataclass(slots=True)
class _Candidate:
    provider_name: str
    channel: str
    event_id: int
    event: EventDef | None
    field_map: dict[str, str] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()

    def ref(self) -> EventRef:
        return EventRef(
            provider=provider_label(self.provider_name, self.channel),
            provider_name=self.provider_name,
            channel=self.channel,
            event_id=self.event_id,
            title=self.event.title if self.event else "",
        )

    def name(self) -> str:
        return f"{provider_label(self.provider_name, self.channel)} {self.event_id}"


def _negated_stages(stages: list[Stage]) -> set[str]:
    """Labels of the search stages the condition uses under an odd number of `not`."""
    condition = next((s for s in stages if s.op == "condition"), None)
    labels = [s.label for s in stages if s.op != "condition"]
    negated: set[str] = set()
    for ref, neg in walk_refs(condition.expr if condition else None):
        if neg:
            negated.update(fnmatch.filter(labels, ref.name) if "*" in ref.name else [ref.name])
    return negated


def _event_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def rule_facts(rule: Rule) -> RuleFacts:
    facts = RuleFacts()
    seen_fields: set[str] = set()
    negated_stages = _negated_stages(rule.stages)
    id_less_providers: list[str] = []

    def add_field(name: str) -> None:
        if name not in seen_fields:
            seen_fields.add(name)
            facts.fields.append(name)

    for stage in rule.stages:
        if stage.op == "condition" or stage.expr is None:
            continue
        stage_ids: list[int] = []
        stage_providers: list[str] = []
        for pred, neg in walk_preds(stage.expr, stage.label in negated_stages):
            if pred.field is None:
                continue
            add_field(pred.field)
            if pred.kind == Kind.FIELDREF and isinstance(pred.value, str):
                add_field(pred.value)
            if not neg and isinstance(pred.value, str | int) and not isinstance(pred.value, bool):
                facts.values.setdefault(pred.field.lower(), []).append((pred.kind, str(pred.value)))
            if pred.kind != Kind.EQ:
                continue
            key = pred.field.lower()
            if key == "eventid" and (event_id := _event_id(pred.value)) is not None:
                if neg:
                    facts.excluded_ids.add(event_id)
                elif event_id not in stage_ids:
                    stage_ids.append(event_id)
            elif neg:
                continue
            elif key == "channel" and isinstance(pred.value, str) and pred.value not in facts.channels:
                facts.channels.append(pred.value)
            elif key == "provider_name" and isinstance(pred.value, str) and pred.value not in stage_providers:
                stage_providers.append(pred.value)
        for event_id in stage_ids:
            if event_id not in facts.event_ids:
                facts.event_ids.append(event_id)
            if (tuple(stage_providers), event_id) not in facts.pairs:
                facts.pairs.append((tuple(stage_providers), event_id))
        if not stage_ids:
            id_less_providers.extend(p for p in stage_providers if p not in id_less_providers)
        facts.providers.extend(p for p in stage_providers if p not in facts.providers)
    if id_less_providers:  # "selection: EventID: 1", "provider: Provider_Name: X" -> ((X,), 1)
        facts.pairs = [(names or tuple(id_less_providers), i) for names, i in facts.pairs]
    facts.event_ids = [i for i in facts.event_ids if i not in facts.excluded_ids]
    facts.pairs = [(p, i) for p, i in facts.pairs if i not in facts.excluded_ids]
    return facts


class _Resolver:
    """Event coverage of one rule; collects the sentences of its note as it goes."""

    def __init__(self, rule: Rule, telemetry: TelemetryCatalog, facts: RuleFacts) -> None:
        self.rule = rule
        self.telemetry = telemetry
        self.table = telemetry.logsources
        self.facts = facts
        common = {f.lower() for f in self.table.common_fields}
        self.fields = [f for f in self.facts.fields if f.lower() not in common]
        self.notes: list[str] = []

    def done(self, candidates: list[_Candidate]) -> Coverage:
        refs = list(dict.fromkeys(c.ref() for c in candidates))
        undefined = [c for c in candidates if c.event is None]
        if undefined:
            self.notes.append(
                f"Not in the telemetry definitions (no title or fields known): {_names(undefined)}."
            )
        return Coverage(refs, " ".join(self.notes))

    # -- fields -------------------------------------------------------------------------------------------

    def missing(self, candidate: _Candidate) -> list[str] | None:
        """Fields the rule uses that the candidate does not carry; None when its field list is unknown."""
        if candidate.event is None or not candidate.event.fields:
            return None
        keys = candidate.event.field_keys()
        out: list[str] = []
        for name in self.fields:
            carried = candidate.field_map.get(name, name).lower() in keys or (
                name == "Data" and candidate.channel in UNNAMED_DATA_CHANNELS
            )
            if name in candidate.unsupported or not carried:
                out.append(name)
        return out

    def field_aware(self, candidates: list[_Candidate], category: str) -> list[_Candidate]:
        if not candidates:
            return candidates
        verdicts = [(c, self.missing(c)) for c in candidates]
        kept = [c for c, missing in verdicts if not missing]
        unknown = [c for c, missing in verdicts if missing is None and c.event is not None]
        if unknown:
            self.notes.append(f"Fields not checked for {_names(unknown)} (no field list).")
        lacking = [(c, m) for c, m in verdicts if m]
        if kept and lacking:
            if len(lacking) == 1:
                candidate, missing = lacking[0]
                self.notes.append(
                    f"{candidate.name()} left out: it does not carry {_list(missing)}, which the rule uses."
                )
            else:
                described = "; ".join(f"{c.name()} ({_list(m)})" for c, m in lacking)
                self.notes.append(f"Left out for not carrying fields the rule uses: {described}.")
            return kept
        if not kept:
            primary, primary_missing = verdicts[0]
            fields = primary_missing or []
            addon = [f for f in fields if f in self.table.addon_fields.get(category, ())]
            if len(candidates) > 1:
                text = (
                    "No candidate event carries every field the rule uses; kept the primary one, "
                    f"{primary.name()}, which does not carry {_list(fields)}."
                )
            else:
                text = f"{primary.name()} does not carry {_list(fields)}, which the rule uses."
            if addon:
                plural = len(addon) > 1
                which = (
                    ("they are" if plural else "it is")
                    if addon == fields
                    else f"{_list(addon)} {'are' if plural else 'is'}"
                )
                text += f" SigmaHQ's logsource.json says {which} added by log enrichment (EDR)."
            self.notes.append(text)
            return [primary]
        return kept

    # -- categories ---------------------------------------------------------------------------------------

    def candidate(self, target: Target) -> _Candidate:
        event = self.telemetry.event(target.provider, target.event_id) if target.provider else None
        provider = self.telemetry.provider(target.provider) if target.provider else None
        return _Candidate(
            provider_name=provider.name if provider else target.provider,
            channel=target.channel,
            event_id=target.event_id,
            event=event,
            field_map=target.field_map,
            unsupported=target.unsupported,
        )

    def category(self, category: str, targets: list[Target]) -> Coverage:
        """Coverage from the category's `targets` (all of them, or those on the rule's service)."""
        targets = list(targets)
        facts = self.facts
        explicit = False
        if facts.event_ids:
            chosen = [t for t in targets if t.event_id in facts.event_ids]
            if chosen:
                targets, explicit = chosen, True
            else:
                listed = ", ".join(self.candidate(t).name() for t in targets)
                self.notes.append(
                    f"The rule's EventID {_ids(facts.event_ids)} is not among {category}'s events ({listed})."
                )
                channels = list(dict.fromkeys(t.channel for t in targets if t.channel))
                if channels:
                    return self.channels(channels)
        if facts.excluded_ids:
            targets = [t for t in targets if t.event_id not in facts.excluded_ids] or targets
        if facts.channels:
            wanted = {name_key(c) for c in facts.channels}
            chosen = [t for t in targets if name_key(t.channel) in wanted]
            if chosen:
                targets, explicit = chosen, True
        if facts.providers:
            wanted = {name_key(p) for p in facts.providers}
            chosen = [t for t in targets if name_key(t.provider) in wanted]
            if chosen:
                targets, explicit = chosen, True
        candidates = [self.candidate(t) for t in targets]
        if not explicit:
            candidates = self.field_aware(candidates, category)
        return self.done(candidates)

    # -- services and channels ----------------------------------------------------------------------------

    def sources(self, channels: list[str]) -> list[tuple[str, str]]:
        """(channel, provider) pairs the rule's events come from: its Provider_Name values, else the
        channels' providers."""
        pairs: list[tuple[str, str]] = []
        if self.facts.providers:
            for name in self.facts.providers:
                provider = self.telemetry.provider(name)
                canonical = provider.name if provider else name
                on = [
                    c
                    for c in channels
                    if name_key(canonical) in map(name_key, self.telemetry.providers_for_channel(c))
                ]
                channel = (on or channels or (provider.channels if provider else []) or [""])[0]
                pairs.append((channel, canonical))
            return pairs
        for channel in channels:
            pairs.extend((channel, p) for p in self.telemetry.providers_for_channel(channel))
        return pairs

    def channels(self, channels: list[str]) -> Coverage:
        sources = self.sources(channels)
        if self.facts.event_ids:
            return self.done(self.by_event_ids(sources, channels))
        return self.done(self.by_fields(sources, channels))

    def by_event_ids(self, sources: list[tuple[str, str]], channels: list[str]) -> list[_Candidate]:
        out: list[_Candidate] = []
        for wanted, event_id in self.facts.pairs:
            keys = {name_key(p) for p in wanted}
            mine = [(c, p) for c, p in sources if not wanted or name_key(p) in keys]
            if wanted and not mine:
                mine = [((channels or [""])[0], wanted[0])]
            defined: dict[str, _Candidate] = {}
            for channel, provider in mine:
                event = self.telemetry.event(provider, event_id)
                if event is not None and provider not in defined:
                    known = self.telemetry.provider(provider)
                    defined[provider] = _Candidate(
                        known.name if known else provider,
                        channel or event.channel,
                        event_id,
                        event,
                        field_map=self.table.channel_field_maps.get(channel, {}),
                    )
            if defined:
                out.extend(defined.values())
                continue
            # undefined: name the provider only when the rule does or the channel has a single known one
            channel = mine[0][0] if mine else (channels or [""])[0]
            named = {p for c, p in mine if c == channel}
            provider = mine[0][1] if mine and (wanted or len(named) == 1) else ""
            out.append(_Candidate(provider, channel, event_id, None))
        return out

    def by_fields(self, sources: list[tuple[str, str]], channels: list[str]) -> list[_Candidate]:
        where = ", ".join(channels) or ", ".join(p for _, p in sources) or "its log source"
        if not self.fields:
            self.notes.append(
                f"The rule names no EventID and tests no event field, so its events on {where} are not known."
            )
            return []
        found: list[_Candidate] = []
        searched = False
        for channel, provider_name in sources:
            provider = self.telemetry.provider(provider_name)
            if provider is None:
                continue
            for event_id, event in sorted(provider.events.items(), key=lambda item: event_sort_key(item[0])):
                if not event.fields or not isinstance(event_id, int):  # a catch-all is never inferred
                    continue
                searched = True
                candidate = _Candidate(
                    provider.name,
                    channel or event.channel,
                    event_id,
                    event,
                    field_map=self.table.channel_field_maps.get(channel, {}),
                )
                if self.missing(candidate) == []:
                    found.append(candidate)
        if not searched:
            self.notes.append(f"The rule names no EventID and no event definitions are known for {where}.")
            return []
        if not found:
            self.notes.append(
                f"The rule names no EventID and no event on {where} carries every field it uses "
                f"({_list(self.fields)})."
            )
            return []
        if len(found) > MAX_INFERRED_EVENTS:
            self.notes.append(
                f"The rule names no EventID; {len(found)} events on {where} carry the fields it uses, "
                "too many to list."
            )
            return []
        self.notes.append(
            f"The rule names no EventID; listed the events on {where} that carry every field it uses."
        )
        return found


def _names(candidates: list[_Candidate]) -> str:
    """Ids grouped by label, with the provider where the label is a channel many providers share:
    "Windows Defender 1006, 1007; Application 1034 (MsiInstaller)"."""
    groups: dict[tuple[str, str], list[str]] = {}
    for c in candidates:
        label = provider_label(c.provider_name, c.channel)
        shown = c.provider_name if c.provider_name and label == c.channel != c.provider_name else ""
        ids = groups.setdefault((label, shown), [])
        if str(c.event_id) not in ids:
            ids.append(str(c.event_id))
    return "; ".join(
        f"{label} {', '.join(ids)}" + (f" ({shown})" if shown else "")
        for (label, shown), ids in groups.items()
    )


def _list(names: list[str]) -> str:
    return ", ".join(names)


def _ids(ids: list[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _logsource_text(logsource: dict[str, str]) -> str:
    return ", ".join(
        f"{k} {v}" for k, v in logsource.items() if k in ("product", "category", "service") and v
    )


def event_coverage(rule: Rule, telemetry: TelemetryCatalog, facts: RuleFacts | None = None) -> Coverage:
    """The telemetry events `rule` covers, with a note saying why there are none or what was assumed.
    `facts`: the rule's `rule_facts`, when the caller has them already."""
    # A correlation of other rules covers their events; an inline aggregation (an EQL sequence, a threshold:
    # `rules == ()`) reads events itself, so its log source is resolved like any rule's.
    if rule.kind is RuleKind.CORRELATION or (rule.correlation is not None and rule.correlation.rules):
        return Coverage([], "Correlation rule: its events are those of the rules it correlates.")
    facts = facts if facts is not None else rule_facts(rule)
    native = resolve_native(telemetry, rule.logsource, facts.values)
    if native is None or native.replaces:
        return (
            _resolved(telemetry, native) if native is not None else _product_coverage(rule, telemetry, facts)
        )
    # a query on Defender XDR tables and others (SecurityEvent, Syslog...): the others' events too
    other = _product_coverage(rule, telemetry, facts)
    events = list(dict.fromkeys([*other.events, *_resolved(telemetry, native).events]))
    note = " ".join(n for n in (other.note, *native.notes) if n)
    return Coverage(events, note)


def _product_coverage(rule: Rule, telemetry: TelemetryCatalog, facts: RuleFacts) -> Coverage:
    """Coverage from the rule's Sigma-style log source (product, category, service)."""
    logsource = {str(k).lower(): str(v) for k, v in rule.logsource.items() if v is not None}
    product = logsource.get("product", "").lower()
    category = logsource.get("category", "").lower()
    service = logsource.get("service", "").lower()
    table = telemetry.logsources
    windows_category = category in table.categories
    windows_service = service in table.services
    if (product and product != WINDOWS_PRODUCT) or (
        not product and not windows_category and not windows_service
    ):
        return _logsource_coverage(rule, telemetry, product, category, service, facts)

    resolver = _Resolver(rule, telemetry, facts if facts is not None else rule_facts(rule))
    # A service narrows its category to the service's channels, as the scan's routing does
    # (engine/routing.py); a category with no event there leaves the service's events.
    service_channels = {name_key(c) for c in table.services.get(service, [])} if windows_service else set()
    on_service = [
        t
        for t in table.categories.get(category, [])
        if not service_channels or name_key(t.channel) in service_channels
    ]
    if windows_category and on_service:
        coverage = resolver.category(category, on_service)
        return coverage if coverage.events else _windows_catch_all(resolver, coverage, service, [])
    if windows_category:
        resolver.notes.append(f"None of category {category}'s events is on service {service}'s channels.")
    elif category:
        resolver.notes.append(
            f"Category {category} has no Windows event mapping (pySigma pipelines, thor.yml)."
        )
    channels = list(table.services.get(service, []))
    if service and not windows_service:
        resolver.notes.append(f"Service {service} has no channel in pySigma's or thor.yml's tables.")
    if resolver.facts.channels:
        wanted = {name_key(c) for c in resolver.facts.channels}
        channels = [c for c in channels if name_key(c) in wanted] or list(resolver.facts.channels)
    if not channels and not resolver.facts.providers:
        if not service and not category:
            resolver.notes.append(
                "Log source product windows names no category or service, and the rule no Channel."
            )
        coverage = Coverage([], " ".join(resolver.notes))
    else:
        coverage = resolver.channels(channels)
    return coverage if coverage.events else _windows_catch_all(resolver, coverage, service, channels)


def _catch_all_ref(provider: ProviderDef, key: str, event: EventDef | None) -> EventRef:
    return EventRef(
        provider=provider.label or provider.name,
        provider_name=provider.name,
        channel=event.channel if event else "",
        event_id=key,
        title=event.title if event else "",
    )


def _windows_catch_all(
    resolver: _Resolver, coverage: Coverage, service: str, channels: list[str]
) -> Coverage:
    """A Windows rule whose events cannot be named still covers something: every event of its service's
    channel, or of Windows. The note already says why no event could be named."""
    provider = resolver.telemetry.provider(WINDOWS_PRODUCT)
    if provider is None or provider.kind != LOGSOURCE_KIND:
        return coverage
    key = service if service in provider.events else ""
    if not key:
        wanted = {name_key(c) for c in channels}
        key = next(
            (
                str(k)
                for k, e in provider.events.items()
                if isinstance(k, str) and e.channel and name_key(e.channel) in wanted
            ),
            ANY_EVENT,
        )
    event = provider.events.get(key)
    title = event.title if event else key
    listed = f"Listed as the catch-all event {provider.name}/{key}: {title[:1].lower()}{title[1:]}."
    return Coverage([_catch_all_ref(provider, key, event)], f"{coverage.note} {listed}".strip())


def _logsource_coverage(
    rule: Rule,
    telemetry: TelemetryCatalog,
    product: str,
    category: str,
    service: str,
    facts: RuleFacts | None,
) -> Coverage:
    """A log source without event ids: the catch-all event of its product's stand-in provider (products.py).
    The rule is listed under its service's event, else its category's, else the product's `any`; a log
    source the taxonomy does not name gives an event without a definition, said so in the note."""
    facts = facts if facts is not None else rule_facts(rule)
    sysmon = _sysmon_linux(rule, telemetry, product, category, service, facts)
    if sysmon is not None and sysmon.events:
        return sysmon
    platform = _platform_coverage(telemetry, product, service, facts, rule.logsource)
    if platform is not None and platform.events:
        return platform
    name = product or category or service
    provider = telemetry.provider(name) if name else None
    if provider is not None and provider.kind != LOGSOURCE_KIND:
        provider = telemetry.provider(f"{name} (log source)")
    logsource = {k: v for k, v in (("product", product), ("category", category), ("service", service)) if v}
    described = ", ".join(f"{k} {v}" for k, v in logsource.items()) or "(empty)"
    if provider is None:
        where = f"product {product}" if product else f"log source {described}"
        return Coverage(
            [],
            f"No telemetry definitions for {where}: SigmaHQ's tests/logsource.json does not list it.",
        )
    notes: list[str] = []
    if not product:
        key = ANY_EVENT
    else:
        key = next((k for k in (service, category) if k and k in provider.events), "")
        if not key:
            key = service or category or ANY_EVENT
    event = provider.events.get(key)
    if event is None:
        notes.append(
            f"Not in the telemetry definitions (no title or fields known): {provider.label} {key}; "
            f"SigmaHQ's tests/logsource.json does not list it for product {product}."
        )
    elif event.fields:
        known = {f.name.lower() for f in event.fields}
        unknown = [f for f in facts.fields if f.lower() not in known]
        if unknown:
            notes.append(f"SigmaHQ's tests/logsource.json does not list {_list(unknown)} for {described}.")
    if platform is not None:
        notes.insert(0, platform.note)
    if sysmon is not None:
        notes.append(sysmon.note)
    return Coverage([_catch_all_ref(provider, key, event)], " ".join(n for n in notes if n))


def _sysmon_linux(
    rule: Rule, telemetry: TelemetryCatalog, product: str, category: str, service: str, facts: RuleFacts
) -> Coverage | None:
    """A Linux rule on Sysmon for Linux: a Sigma rule of a Sysmon category (SigmaHQ's Linux rules are
    written on Sysmon's field names) that tests only fields the event carries, or any rule whose log source
    says service sysmon. A Sigma rule testing other fields gets no event, and a note saying which."""
    if product != "linux" or not (service == "sysmon" or (not service and rule.vendor == "sigma")):
        return None
    found = sysmon_linux.category_event(telemetry, category)
    if found is None:
        return None
    provider_name, event_id = found
    provider = telemetry.provider(provider_name)
    event = provider.events.get(event_id) if provider is not None else None
    if service != "sysmon" and event is not None and event.fields:
        carried = event.field_keys()
        missing = [f for f in facts.fields if f.lower() not in carried]
        if missing:
            return Coverage([], f"Sysmon for Linux {event_id} does not carry {_list(missing)}.")
    ref = EventRef(
        provider=provider.label if provider is not None else provider_name,
        provider_name=provider_name,
        channel="",
        event_id=event_id,
        title=event.title if event is not None else "",
    )
    note = "" if service == "sysmon" else f"Linux category {category}: the Sysmon for Linux event it reads."
    return Coverage([ref], note)


def _platform_coverage(
    telemetry: TelemetryCatalog,
    product: str,
    service: str,
    facts: RuleFacts,
    logsource: dict[str, str] | None = None,
) -> Coverage | None:
    """The named platform events of a rule whose log source has an action table (platforms/actions.py),
    with the note of what could not be named; None when it has none."""
    resolution = resolve_actions(telemetry, product, service, facts.values, logsource)
    return None if resolution is None else _resolved(telemetry, resolution)


def _resolved(telemetry: TelemetryCatalog, resolution: Resolution) -> Coverage:
    """The coverage of a platform resolution: its events, with titles where the catalog defines them."""
    refs = []
    for provider_name, key in resolution.events:
        provider = telemetry.provider(provider_name)
        event = provider.events.get(key) if provider is not None else None
        refs.append(
            EventRef(
                provider=provider.label if provider is not None else provider_name,
                provider_name=provider.name if provider is not None else provider_name,
                channel="",
                event_id=key,
                title=event.title if event is not None else "",
            )
        )
    undefined = [f"{p} {k}" for p, k in resolution.events if telemetry.event(p, k) is None]
    notes = list(resolution.notes)
    if undefined and refs:
        notes.append(f"Seen in rules, not in a definition: {_list(undefined)}.")
    return Coverage(refs, " ".join(notes))
