"""The telemetry atlas as views: plain JSON-ready dicts for the provider, event, index, vendor and uncovered
pages. The pages render them (web/telemetry_pages.py) and the API returns them as they are
(web/telemetry_api.py): every page has its JSON twin from the same code (house rule 7).

Links are site paths (`path`, no leading slash); pages turn them into relative links, the API into absolute
ones. Rule counts are distinct rules, deprecated and unsupported ones left out, split by vendor label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypedDict

from ruleatlas.store.telemetry import EventKeyRow, TelemetryQueries, UncoveredRule
from ruleatlas.telemetry.catalog import (
    LOGSOURCE_KIND,
    PLATFORM_KIND,
    EventDef,
    EventKey,
    FieldDef,
    ProviderDef,
    TelemetryCatalog,
    event_sort_key,
    name_key,
    parse_event_key,
)
from ruleatlas.telemetry.observed import SampleRecord
from ruleatlas.telemetry.platforms.common import COMMON_FIELDS
from ruleatlas.web import urls
from ruleatlas.web.render import vendor_name

# services only rules or samples name belong to the platform their name says
PLATFORM_SUFFIXES = ((".amazonaws.com", "aws"), (".googleapis.com", "gcp"))


class VendorSplit(TypedDict):
    """Distinct rules and their split by vendor label."""

    total: int
    by_vendor: dict[str, int]


class ProviderSummary(TypedDict):
    name: str
    label: str
    kind: str
    path: str
    events: int
    channels: list[str]
    events_with_rules: int
    mappings: VendorSplit
    description: str


class ProviderGroup(TypedDict):
    id: str
    title: str
    providers: list[ProviderSummary]


class VendorLink(TypedDict):
    vendor: str
    label: str
    path: str


class ProvidersView(TypedDict):
    providers: int
    events: int
    events_with_rules: int
    mappings: int
    summary: str
    groups: list[ProviderGroup]
    vendors: list[VendorLink]
    uncovered_path: str
    samples: int


class FieldBrief(TypedDict):
    name: str
    type: str
    description: str


class EventRow(TypedDict):
    """An event on its provider's page; an event without a page of its own shows its message and fields."""

    id: EventKey
    title: str
    defined: bool
    channel: str
    sample: int
    rules: VendorSplit
    bridged_rules: VendorSplit  # rules it serves through a bridge only: never among `rules`
    path: str
    message: str
    fields: list[FieldBrief]


class ProviderView(ProviderSummary):
    guid: str
    aliases: list[str]
    sources: list[str]
    summary: str
    event_rows: list[EventRow]


class SampleEnum(TypedDict):
    field: str
    values: list[tuple[str, int]]  # (value, times seen)


class SampleView(TypedDict):
    count: int
    channels: dict[str, int]
    source: str
    example: list[tuple[str, str]]  # (field, value) of one real record
    fields: list[str]
    enums: list[SampleEnum]


class EventField(TypedDict):
    name: str
    type: str
    description: str
    example: str
    rules: VendorSplit
    rule_names: list[str]
    in_samples: bool
    path: str
    rule_name_paths: list[tuple[str, str]]  # (name a rule gives the field, its page or "")


class OtherField(TypedDict):
    """A field rules test that the event's definition lacks."""

    name: str
    rules: VendorSplit
    rule_names: list[str]
    system: bool
    path: str


class RuleItem(TypedDict):
    uid: str
    title: str
    level: str
    status: str
    kind: str
    path: str


class VendorRules(TypedDict):
    vendor: str
    rules: list[RuleItem]


class BridgedRuleItem(RuleItem):
    """A rule an event serves through a bridge: why (the event it covers, the bridge), and whether the
    scanner feeds this event to it (None: a rule the scanner does not run)."""

    reason: str
    scanned: bool | None


class BridgedVendorRules(TypedDict):
    vendor: str
    rules: list[BridgedRuleItem]


class EventIndicator(TypedDict):
    field: str
    kind: str
    value: str
    transforms: list[str]
    rules: int
    by_vendor: dict[str, int]
    path: str


class ProviderRef(TypedDict):
    name: str
    label: str
    kind: str
    path: str


class EventView(TypedDict):
    provider: ProviderRef
    id: EventKey
    path: str
    defined: bool
    catch_all: bool
    platform: str
    id_label: str
    title: str
    description: str
    message: str
    channel: str
    provider_channels: list[str]
    level: str
    task: str
    opcode: str
    version: int | None
    notes: list[str]
    sources: list[str]
    fields: list[EventField]
    other_fields: list[OtherField]
    sample: SampleView | None
    indicators: list[EventIndicator]
    rules: VendorSplit
    rules_by_vendor: list[VendorRules]
    bridged_rules: VendorSplit
    bridged_rules_by_vendor: list[BridgedVendorRules]
    uncounted_rules: list[RuleItem]


class VendorEvent(TypedDict):
    id: EventKey
    title: str
    rules: int
    path: str


class VendorProviderGroup(TypedDict):
    name: str
    label: str
    path: str
    events: list[VendorEvent]
    mappings: int


class VendorView(TypedDict):
    vendor: str
    path: str
    events: int
    providers: int
    mappings: int
    groups: list[VendorProviderGroup]


class UncoveredRuleItem(UncoveredRule):
    path: str


class UncoveredGroup(TypedDict):
    reason: str
    rules: list[UncoveredRuleItem]


class UncoveredView(TypedDict):
    rules: int
    counted_rules: int
    covered_rules: int
    groups: list[UncoveredGroup]


def vendor_split(by_vendor: dict[str, int]) -> VendorSplit:
    if not by_vendor:
        return {"total": 0, "by_vendor": {}}
    return {"total": sum(by_vendor.values()), "by_vendor": dict(sorted(by_vendor.items()))}


def _plural(n: int, word: str, plural: str = "") -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


@dataclass(slots=True)
class ProviderEntry:
    """A provider of the atlas: one the definitions hold, or one only rules name (`definition` None)."""

    name: str
    definition: ProviderDef | None
    referenced: dict[str, str] = field(default_factory=dict)  # event key text -> a channel rules name
    sampled: set[EventKey] = field(default_factory=set)  # EventIDs (or platform event keys) samples hold
    _keys: list[EventKey] | None = None

    @property
    def label(self) -> str:
        if self.definition is not None:
            return self.definition.label or self.definition.name
        # a channel or provider only rules or samples name ("Security", "Ntfs") would otherwise read like
        # the defined provider of the same label on the index: say which row is which
        return f"{self.name} (seen only in rules/samples)"

    @property
    def kind(self) -> str:
        return self.definition.kind if self.definition is not None else "undefined"

    @property
    def platform(self) -> str:
        """The platform of the provider, or of a service only rules and samples name
        (`billingconsole.amazonaws.com` is AWS's); "" for Windows channels and providers."""
        if self.definition is not None:
            return self.definition.platform
        return next((p for suffix, p in PLATFORM_SUFFIXES if self.name.endswith(suffix)), "")

    @property
    def path(self) -> str:
        return urls.telemetry_provider_path(self.name)

    def event_keys(self) -> list[EventKey]:
        if self._keys is None:
            keys: set[EventKey] = set(self.definition.events) if self.definition is not None else set()
            keys |= {parse_event_key(k) for k in self.referenced}
            keys |= self.sampled
            self._keys = sorted(keys, key=event_sort_key)
        return self._keys

    def has_events(self) -> bool:
        """Whether it has any event (`event_keys()` without sorting them)."""
        if self._keys is not None:
            return bool(self._keys)
        defined = self.definition is not None and bool(self.definition.events)
        return bool(self.referenced or self.sampled or defined)

    def event(self, key: EventKey) -> EventDef | None:
        return self.definition.events.get(key) if self.definition is not None else None

    def channels(self) -> list[str]:
        known = list(self.definition.channels) if self.definition is not None else []
        return list(dict.fromkeys([*known, *(c for c in self.referenced.values() if c)]))


class TelemetryAtlas:
    """Everything the telemetry views read: the definitions, the samples, and the catalog's rule tables."""

    def __init__(
        self,
        telemetry: TelemetryCatalog,
        queries: TelemetryQueries,
        samples: dict[tuple[str, EventKey], SampleRecord] | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.queries = queries
        self.samples = samples or {}
        self.counts = queries.event_rule_counts() if queries.has_tables() else {}
        referenced = queries.referenced_events() if queries.has_tables() else {}
        self.entries: dict[str, ProviderEntry] = {
            name: ProviderEntry(name, p) for name, p in telemetry.providers.items()
        }
        self._alias: dict[str, str] = {}  # table provider name -> entry name
        self._names_of: tuple[int, dict[str, list[str]]] = (0, {})  # entry name -> table names, indexed
        for (provider, key), channel in referenced.items():
            entry = self.entry_for(provider)
            entry.referenced[key] = channel
        self.counts = {(self.canonical(p), k): v for (p, k), v in self.counts.items()}
        # rules an event serves through a bridge only: kept apart from `counts`, never added to them
        bridged = queries.bridged_rule_counts() if queries.has_tables() else {}
        self.bridged_counts: dict[tuple[str, str], dict[str, int]] = {}
        for (p, k), per_vendor in bridged.items():
            merged = self.bridged_counts.setdefault((self.canonical(p), k), {})
            for vendor, n in per_vendor.items():
                merged[vendor] = merged.get(vendor, 0) + n
        self._field_pages: set[str] | None = None
        self._keys: dict[str, str] = {}
        for record in self.samples.values():  # events seen in the logs belong on their provider's page
            self.entry_for(record.provider).sampled.add(record.event_id)
        sampled = {p for p, _ in self.samples}
        self._sampled = {name for name in self.entries if name_key(name) in sampled}
        self.by_slug = {urls.telemetry_provider_slug(name): name for name in self.entries}
        # what other views compute once per atlas over the whole catalog (web/collection_views.py)
        # (keyed by what each is; each user checks the type it put there)
        self.extras: dict[str, object] = {}

    def field_path(self, name: str) -> str:
        """The field's page when the site has one (fields some rule uses positively), else ""."""
        if self._field_pages is None:
            self._field_pages = self.queries.field_page_names() if self.queries.has_tables() else set()
        return urls.field_path(name) if name in self._field_pages else ""

    def canonical(self, provider: str) -> str:
        found = self._alias.get(provider)
        if found is None:
            known = self.telemetry.provider(provider)
            found = known.name if known is not None else provider
            self._alias[provider] = found
        return found

    def entry_for(self, provider: str) -> ProviderEntry:
        name = self.canonical(provider)
        entry = self.entries.get(name)
        if entry is None:
            entry = self.entries[name] = ProviderEntry(name, None)
        return entry

    def table_names(self, name: str) -> list[str]:
        """The spellings rules' rows use for a provider (the tables keep the name a rule gave)."""
        # indexed once per spelling added (`canonical` only adds): a scan of every spelling per call made
        # the platform and coverage pages quadratic (886 AWS/GCP services x thousands of spellings)
        if self._names_of[0] != len(self._alias):
            names: dict[str, list[str]] = {}
            for provider, entry_name in self._alias.items():
                names.setdefault(entry_name, []).append(provider)
            self._names_of = (len(self._alias), names)
        return list(self._names_of[1].get(name, ())) or [name]

    def vendor_mappings(self) -> dict[str, dict[EventKeyRow, int]]:
        """`TelemetryQueries.vendor_mappings`, read once per atlas (every vendor page reads it)."""
        found = self.extras.get("vendor_mappings")
        if not isinstance(found, dict):
            found = self.extras["vendor_mappings"] = (
                self.queries.vendor_mappings() if self.queries.has_tables() else {}
            )
        return found

    def sample(self, provider: str, key: EventKey) -> SampleRecord | None:
        if provider not in self._sampled:
            return None
        folded = self._keys.get(provider)
        if folded is None:
            folded = self._keys[provider] = name_key(provider)
        return self.samples.get((folded, key))

    def rules_of(self, provider: str, key: EventKey) -> dict[str, int]:
        return self.counts.get((provider, str(key)), {})

    def bridged_rules_of(self, provider: str, key: EventKey) -> dict[str, int]:
        """Rules the event serves through a bridge only (none of them among `rules_of`), by vendor."""
        return self.bridged_counts.get((provider, str(key)), {})

    def has_page(self, entry: ProviderEntry, key: EventKey) -> bool:
        """Which events get a page of their own: those some rule covers, those the samples hold, and the
        catch-alls. The other ~48,000 events the manifests name are shown in full (fields, message template)
        on their provider's page, anchored `#e-<id>`: a page each would cost more build time than they are
        read, and their per-field rule counts are all zero."""
        event = entry.event(key)
        return (
            event is None
            or event.catch_all
            or str(key) in entry.referenced
            or self.sample(entry.name, key) is not None
        )

    def pages(self) -> Iterable[tuple[ProviderEntry, EventKey]]:
        for entry in self.entries.values():
            for key in entry.event_keys():
                if self.has_page(entry, key):
                    yield entry, key

    def entries_of(self, events: Iterable[EventKeyRow]) -> set[tuple[str, str]]:
        """(entry name, key text) of events named as the tables name them."""
        return {(self.canonical(p), k) for p, k in events}


# -- providers ----------------------------------------------------------------------------------------------


def provider_summary(atlas: TelemetryAtlas, entry: ProviderEntry) -> ProviderSummary:
    keys = entry.event_keys()
    rules: dict[str, int] = {}
    mapped = 0
    for key in keys:
        per_vendor = atlas.rules_of(entry.name, key)
        if per_vendor:
            mapped += 1
        for vendor, n in per_vendor.items():
            rules[vendor] = rules.get(vendor, 0) + n
    definition = entry.definition
    return {
        "name": entry.name,
        "label": entry.label,
        "kind": entry.kind,
        "path": entry.path,
        "events": len(keys),
        "channels": entry.channels(),
        "events_with_rules": mapped,
        "mappings": vendor_split(rules),
        "description": definition.description if definition is not None else "",
    }


def providers_view(atlas: TelemetryAtlas) -> ProvidersView:
    """The telemetry index: every provider with its event count and rule↔event mappings."""
    # platform services (AWS, Google Cloud...) are listed on their platform's page, not here
    summaries = [
        provider_summary(atlas, e)
        for e in atlas.entries.values()
        if e.kind != PLATFORM_KIND and (e.definition is not None or not e.platform)
    ]
    # two providers on one classic channel both read as the channel ("System"): name each row's provider
    shared_labels = Counter(s["label"] for s in summaries)
    for summary in summaries:
        if shared_labels[summary["label"]] > 1 and summary["label"] != summary["name"]:
            summary["label"] = f"{summary['label']} · {summary['name']}"
    summaries.sort(key=lambda s: (-s["mappings"]["total"], s["label"].lower(), s["name"]))
    with_rules = [s for s in summaries if s["mappings"]["total"]]
    windows = [s for s in with_rules if s["kind"] != LOGSOURCE_KIND]
    logsource = [s for s in summaries if s["kind"] == LOGSOURCE_KIND]
    others = [s for s in summaries if not s["mappings"]["total"] and s["kind"] != LOGSOURCE_KIND]
    others.sort(key=lambda s: s["label"].lower())
    logsource.sort(key=lambda s: (-s["mappings"]["total"], s["label"].lower()))
    vendors = sorted({v for per in atlas.counts.values() for v in per})
    labels = {v: vendor_name(v) for v in vendors}
    events = sum(s["events"] for s in summaries)
    return {
        "providers": len(summaries),
        "events": events,
        "events_with_rules": sum(s["events_with_rules"] for s in summaries),
        "mappings": sum(s["mappings"]["total"] for s in summaries),
        "summary": f"{_plural(events, 'event')} across {_plural(len(summaries), 'provider')}",
        "groups": [
            {"id": "windows", "title": "Windows providers with rules", "providers": windows},
            {
                "id": "logsource",
                "title": "Log sources without event ids (catch-all events)",
                "providers": logsource,
            },
            {"id": "other", "title": "Other providers (no rule covers their events)", "providers": others},
        ],
        "vendors": [
            {"vendor": v, "label": labels[v], "path": urls.telemetry_vendor_path(v)} for v in vendors
        ],
        "uncovered_path": urls.TELEMETRY_UNCOVERED_PATH,
        "samples": sum(1 for _ in atlas.samples),
    }


def _event_channel(entry: ProviderEntry, key: EventKey, event: EventDef | None) -> str:
    if event is not None and event.channel:
        return event.channel
    channels = entry.definition.channels if entry.definition is not None else []
    return entry.referenced.get(str(key)) or (channels[0] if len(channels) == 1 else "")


def provider_view(atlas: TelemetryAtlas, entry: ProviderEntry) -> ProviderView:
    """A provider page: "N events across M channels", then each event: id, title, channel, whether a sample
    exists, and the rules covering it."""
    rows: list[EventRow] = []
    events = entry.definition.events if entry.definition is not None else {}
    referenced = entry.referenced
    for key in entry.event_keys():
        event = events.get(key)
        sample = atlas.sample(entry.name, key)
        has_page = event is None or event.catch_all or str(key) in referenced or sample is not None
        rows.append(
            {
                "id": key,
                "title": event.title if event is not None else "",
                "defined": event is not None,
                "channel": _event_channel(entry, key, event),
                "sample": sample.count if sample is not None else 0,
                "rules": vendor_split(atlas.rules_of(entry.name, key)),
                "bridged_rules": vendor_split(atlas.bridged_rules_of(entry.name, key)),
                "path": urls.telemetry_event_path(entry.name, key) if has_page else "",
                "message": "" if has_page or event is None else event.message,
                "fields": []
                if has_page or event is None
                else [{"name": f.name, "type": f.type, "description": f.description} for f in event.fields],
            }
        )
    channels = entry.channels()
    definition = entry.definition
    summary = provider_summary(atlas, entry)
    return {
        **summary,
        "guid": definition.guid if definition is not None else "",
        "aliases": list(definition.aliases) if definition is not None else [],
        "sources": list(definition.sources) if definition is not None else [],
        "summary": f"{_plural(len(rows), 'event')} across {_plural(len(channels), 'channel')}",
        "event_rows": rows,
    }


# -- events -------------------------------------------------------------------------------------------------


def _sample_view(sample: SampleRecord | None) -> SampleView | None:
    if sample is None:
        return None
    return {
        "count": sample.count,
        "channels": sample.channels,
        "source": sample.example_source,
        "example": list(sample.example.items()),
        "fields": sorted(sample.fields),
        "enums": [{"field": name, "values": list(values)} for name, values in sample.enums.items()],
    }


def event_view(atlas: TelemetryAtlas, entry: ProviderEntry, key: EventKey) -> EventView:
    """An event page: its definition, the fields with the distinct rules testing each (by vendor), a real
    example from the samples and the enum-like values seen, the most used indicators, and the rules."""
    event = entry.event(key)
    queries = atlas.queries
    # only events some rule covers have rows in the rule tables: the others need no query
    names = atlas.table_names(entry.name) if str(key) in entry.referenced else []
    counts: dict[str, dict[str, int]] = {}
    aliases: dict[str, list[str]] = {}
    rules = []
    indicators = []
    bridged_rules = []
    for name in names:
        bridged_rules.extend(queries.event_bridged_rules(name, str(key)))
        for fld, per_vendor in queries.event_field_counts(name, str(key)).items():
            merged = counts.setdefault(fld, {})
            for vendor, n in per_vendor.items():
                merged[vendor] = merged.get(vendor, 0) + n
        for fld, others in queries.event_field_aliases(name, str(key)).items():
            aliases.setdefault(fld, []).extend(o for o in others if o not in aliases.get(fld, []))
        rules.extend(queries.event_rules(name, str(key)))
        indicators.extend(queries.event_indicators(name, str(key)))
    sample = atlas.sample(entry.name, key)
    seen = {f.lower() for f in sample.fields} if sample is not None else set()
    if event is not None:
        defined = event.fields
    else:  # an event only rules and samples name: its fields are the ones the samples show
        defined = [FieldDef(n, "", "seen in samples") for n in sorted(sample.fields)] if sample else []
    defined_names = {f.name.lower() for f in defined}
    common = {f.lower() for f in atlas.telemetry.logsources.common_fields}
    platform = entry.definition.platform if entry.definition is not None else ""
    common |= {f.lower() for f in COMMON_FIELDS.get(platform, ())}
    fields: list[EventField] = [
        {
            "name": f.name,
            "type": f.type,
            "description": f.description,
            "example": f.sample,
            "rules": vendor_split(counts.get(f.name, {})),
            "rule_names": aliases.get(f.name, []),
            "in_samples": f.name.lower() in seen,
            "path": atlas.field_path(f.name),
            "rule_name_paths": [(n, atlas.field_path(n)) for n in aliases.get(f.name, [])],
        }
        for f in defined
    ]
    extra: list[OtherField] = [
        {
            "name": name,
            "rules": vendor_split(per_vendor),
            "rule_names": aliases.get(name, []),
            "system": name.lower() in common,
            "path": atlas.field_path(name),
        }
        for name, per_vendor in sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        if name.lower() not in defined_names
    ]
    by_vendor: dict[str, list[RuleItem]] = {}
    uncounted: list[RuleItem] = []
    seen_uids: set[str] = set()
    for rule in rules:
        if rule.uid in seen_uids:
            continue
        seen_uids.add(rule.uid)
        item: RuleItem = {
            "uid": rule.uid,
            "title": rule.title,
            "level": rule.level,
            "status": rule.status,
            "kind": rule.kind,
            "path": _rule_path(rule.uid),
        }
        if rule.counted:
            by_vendor.setdefault(rule.vendor, []).append(item)
        else:
            uncounted.append(item)
    bridged_by_vendor: dict[str, list[BridgedRuleItem]] = {}
    for bridged in bridged_rules:
        if bridged.uid in seen_uids:  # a rule covering the event itself is listed above, once
            continue
        seen_uids.add(bridged.uid)
        via = atlas.entry_for(bridged.via_provider)
        bridge = bridged.bridge.replace("_", " ")
        why = f"covers {via.label} {bridged.via_key}; bridge: {bridge}"
        if bridged.scanned is False:
            why += "; served here once your pipeline maps it (the scanner does not route this event to it)"
        bridged_by_vendor.setdefault(bridged.vendor, []).append(
            {
                "uid": bridged.uid,
                "title": bridged.title,
                "level": bridged.level,
                "status": bridged.status,
                "kind": bridged.kind,
                "path": _rule_path(bridged.uid),
                "reason": why,
                "scanned": bridged.scanned,
            }
        )
    provider_channels = entry.definition.channels if entry.definition is not None else []
    return {
        "provider": {"name": entry.name, "label": entry.label, "kind": entry.kind, "path": entry.path},
        "id": key,
        "path": urls.telemetry_event_path(entry.name, key),
        "defined": event is not None,
        "catch_all": event.catch_all if event is not None else entry.kind == LOGSOURCE_KIND,
        # a platform event (AWS · iam · CreateAccessKey) has no channel and no numeric id
        "platform": platform if entry.kind == PLATFORM_KIND else "",
        "id_label": f"Event ID {key}" if isinstance(key, int) else str(key),
        "title": (event.title if event is not None else "") or f"Event {key}",
        "description": event.description if event is not None else "",
        "message": event.message if event is not None else "",
        "channel": _event_channel(entry, key, event),
        "provider_channels": list(provider_channels),
        "level": event.level if event is not None else "",
        "task": event.task if event is not None else "",
        "opcode": event.opcode if event is not None else "",
        "version": event.version if event is not None else None,
        "notes": list(event.notes) if event is not None else [],
        "sources": list(entry.definition.sources) if entry.definition is not None else [],
        "fields": fields,
        "other_fields": extra,
        "sample": _sample_view(sample),
        "indicators": [
            {
                "field": i.field,
                "kind": i.kind,
                "value": i.value,
                "transforms": [t for t in i.transforms.split("|") if t],
                "rules": i.rules,
                "by_vendor": i.by_vendor,
                # only indicators shared by several rules have a page of their own
                "path": urls.indicator_link_path(
                    i.field or None, i.kind, i.value, [t for t in i.transforms.split("|") if t], i.rules
                ),
            }
            for i in sorted(indicators, key=lambda i: (-i.rules, i.field, i.kind, i.value))[:25]
        ],
        "rules": vendor_split({v: len(items) for v, items in by_vendor.items()}),
        "rules_by_vendor": [{"vendor": v, "rules": by_vendor[v]} for v in sorted(by_vendor)],
        # rules that cover another event this one stands in for (telemetry/bridged.py), apart from `rules`
        "bridged_rules": vendor_split({v: len(items) for v, items in bridged_by_vendor.items()}),
        "bridged_rules_by_vendor": [
            {"vendor": v, "rules": bridged_by_vendor[v]} for v in sorted(bridged_by_vendor)
        ],
        "uncounted_rules": uncounted,
    }


def _rule_path(uid: str) -> str:
    try:
        return urls.rule_path(uid)
    except ValueError:
        return ""


# -- vendors and uncovered rules ----------------------------------------------------------------------------


def vendor_view(atlas: TelemetryAtlas, vendor: str) -> VendorView:
    """Events x providers that have rules of `vendor`: "N events across M providers with <vendor> rules,
    K mappings" (a mapping: one rule covering one event)."""
    per_event = atlas.vendor_mappings().get(vendor, {})
    providers: dict[str, list[VendorEvent]] = {}
    for (provider, key_text), n in per_event.items():
        entry = atlas.entry_for(provider)
        key = parse_event_key(key_text)
        event = entry.event(key)
        providers.setdefault(entry.name, []).append(
            {
                "id": key,
                "title": event.title if event is not None else "",
                "rules": n,
                "path": urls.telemetry_event_path(entry.name, key),
            }
        )
    groups: list[VendorProviderGroup] = []
    for name, events in providers.items():
        entry = atlas.entries[name]
        events.sort(key=lambda e: event_sort_key(e["id"]))
        groups.append(
            {
                "name": name,
                "label": entry.label,
                "path": entry.path,
                "events": events,
                "mappings": sum(e["rules"] for e in events),
            }
        )
    groups.sort(key=lambda g: (-g["mappings"], g["label"].lower()))
    n_events = sum(len(g["events"]) for g in groups)
    mappings = sum(g["mappings"] for g in groups)
    return {
        "vendor": vendor,
        "path": urls.telemetry_vendor_path(vendor),
        "events": n_events,
        "providers": len(groups),
        "mappings": mappings,
        "groups": groups,
    }


def uncovered_view(atlas: TelemetryAtlas) -> UncoveredView:
    """Rules with no event, grouped by why."""
    rules = atlas.queries.uncovered_rules() if atlas.queries.has_tables() else []
    groups: dict[str, list[UncoveredRuleItem]] = {}
    for rule in rules:
        reason = rule["reason"] or "No reason recorded."
        item: UncoveredRuleItem = {**rule, "reason": reason, "path": _rule_path(rule["uid"])}
        groups.setdefault(_reason_group(reason), []).append(item)
    totals = atlas.queries.rule_counts() if atlas.queries.has_tables() else {}
    return {
        "rules": len(rules),
        "counted_rules": sum(t for t, _ in totals.values()),
        "covered_rules": sum(c for _, c in totals.values()),
        "groups": [
            {"reason": reason, "rules": items}
            for reason, items in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
        ],
    }


def _reason_group(reason: str) -> str:
    """The first sentence of a note, without the rule's own names in it: rules alike land together."""
    first = reason.split(". ", 1)[0].rstrip(".")
    if first.startswith("No telemetry definitions for"):
        return first.split(":", 1)[0] + "."
    return first + "."
