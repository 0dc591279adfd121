"""Views of what to collect: collection priority, event bridges ("also seen as") and per-platform coverage.

- `priority_view`: `telemetry/priority/`, the events of each platform ranked by collection priority
  (telemetry/priority.py has the formula); the catch-all events (a whole log source, no event named) are
  listed apart, since they cannot be switched on one by one.
- `event_collection_view`: the "Collection priority" and "Also seen as" sections of an event page (and the
  `collection` / `also_seen_as` fields of its API answer).
- `provider_priority_view`: a provider page's events ranked by priority.
- `coverage_matrix_view`: `coverage/<platform>/`, every event of a platform with its rules by vendor, grouped
  by provider (Windows provider, AWS service, Okta namespace...), and the rules no single event can be named
  for, grouped by the reason their event coverage gives.

Everything is computed once per atlas (one pass over the rule tables, ~1 s of CPU on the seven vendors) and
kept on it: the pages of one build and the API answers of one catalog share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from ruleatlas.model import LEVELS
from ruleatlas.store.collection import rule_needs, rule_vendors, rules_with_notes
from ruleatlas.telemetry.bridges import BridgeIndex, OtherMember, bridge_index
from ruleatlas.telemetry.catalog import LOGSOURCE_KIND, PLATFORM_KIND, EventKey, parse_event_key
from ruleatlas.telemetry.collect import CollectHint, collect_hint
from ruleatlas.telemetry.priority import (
    EventPriority,
    EventRow,
    PriorityDoc,
    RuleNeed,
    collection_priority,
    ranked,
)
from ruleatlas.telemetry.products import ANY_EVENT, WINDOWS_PRODUCT
from ruleatlas.web import urls
from ruleatlas.web.telemetry_views import ProviderEntry, TelemetryAtlas, VendorSplit, vendor_split

PRIORITY_PATH = urls.TELEMETRY_PATH + "priority/"
COVERAGE_PATH = urls.COVERAGE_PATH
OTHER_PLATFORM = "other"
OTHER_LABEL = "Other log sources"
RANKED_PER_PLATFORM = 50
MATRIX_RULES_SHOWN = 200  # rules listed per reason group on a coverage matrix (the count is always exact)
FORMULA = (
    "priority = Σ over the detection rules the event can serve of w(level) ÷ (parts the rule needs × events "
    "that can each serve that part); w = 1, 2, 4, 8, 16 for informational, low, medium, high, critical "
    "(no level: as medium). A rule that Sysmon 1 or Security 4688 can each serve gives each half its weight; "
    "a rule only one event serves gives it all. Events bridged to a rule's events that carry its fields "
    "serve it too."
)


class PriorityItem(PriorityDoc):
    label: str
    title: str
    path: str
    rules_split: VendorSplit
    collect: CollectHint | None


class RankedItem(PriorityItem):
    rank: int  # among its platform's named events (0: not ranked)


class PlatformPriority(TypedDict):
    key: str
    label: str
    events: int
    ranked: list[RankedItem]
    catch_alls: list[PriorityItem]
    coverage_path: str


class PriorityView(TypedDict):
    formula: str
    levels: list[str]
    rules: int
    platforms: list[PlatformPriority]


class EventPriorityDoc(PriorityDoc):
    platform: str
    platform_label: str
    rank: int
    catch_all: bool
    formula: str
    priority_path: str
    collect: CollectHint | None


class SeenAsView(OtherMember):
    path: str  # the other member's event page, "" when the site has none


class EventCollection(TypedDict):
    collection: EventPriorityDoc | None
    collect: CollectHint | None
    # telemetry/bridges.py's members as it writes them (`Member.to_json` and the field correspondences)
    also_seen_as: list[SeenAsView]


class MatrixEvent(TypedDict):
    provider: str
    event_key: str
    title: str
    path: str
    rules: VendorSplit
    bridged_rules: VendorSplit  # rules it serves through a bridge only: never in `rules` or totals


class MatrixGroup(TypedDict):
    label: str
    events: list[MatrixEvent]


class CatchAllEvent(TypedDict):
    label: str
    rules: int


class MatrixRule(TypedDict):
    uid: str
    vendor: str
    title: str
    path: str


class UnattributedGroup(TypedDict):
    reason: str
    count: int
    rules: list[MatrixRule]


class CoverageMatrixView(TypedDict):
    platform: str
    label: str
    path: str
    vendors: list[str]
    events: int
    rules: VendorSplit
    groups: list[MatrixGroup]
    catch_all_events: list[CatchAllEvent]
    unattributed: list[UnattributedGroup]
    unattributed_rules: int
    platform_path: str


def coverage_path(platform: str) -> str:
    """`coverage/<platform>/`: the platform's events with their rules by vendor."""
    return f"{COVERAGE_PATH}{platform}/"


@dataclass(slots=True)
class CollectionModel:
    needs: list[RuleNeed]
    priorities: dict[EventRow, EventPriority]  # keyed by the atlas's canonical provider names
    bridges: BridgeIndex
    ranks: dict[EventRow, tuple[str, int]]  # event -> (platform, rank among its platform's named events)
    by_provider: dict[str, list[EventPriority]]  # provider -> its events' priorities (for its page)


def collection_bridges(atlas: TelemetryAtlas) -> BridgeIndex:
    """The event bridges of the atlas's definitions, worked out once per atlas."""
    found = atlas.extras.get("bridges")
    if isinstance(found, BridgeIndex):
        return found
    bridges = bridge_index(atlas.telemetry)
    atlas.extras["bridges"] = bridges
    return bridges


def collection_model(atlas: TelemetryAtlas) -> CollectionModel:
    """Computed once per atlas and kept on it."""
    found = atlas.extras.get("collection")
    if isinstance(found, CollectionModel):
        return found
    bridges = collection_bridges(atlas)
    needs: list[RuleNeed] = []
    if atlas.queries.has_tables():
        raw, _ = rule_needs(atlas.queries.db, bridges, fields=False)  # the events, not their fields
        needs = [
            RuleNeed(
                n.uid,
                n.vendor,
                n.level,
                n.title,
                tuple(frozenset((atlas.canonical(p), k) for p, k in part) for part in n.parts),
            )
            for n in raw
        ]
    priorities = collection_priority(needs)
    ranks: dict[EventRow, tuple[str, int]] = {}
    for platform, entries in _by_platform(atlas, priorities).items():
        for rank, entry in enumerate((e for e in entries if not _catch_all(atlas, e.event)), 1):
            ranks[entry.event] = (platform, rank)
    by_provider: dict[str, list[EventPriority]] = {}
    for row, priority in priorities.items():
        by_provider.setdefault(row[0], []).append(priority)
    model = CollectionModel(needs, priorities, bridges, ranks, by_provider)
    atlas.extras["collection"] = model
    return model


def platform_of(atlas: TelemetryAtlas, provider: str) -> str:
    entry = atlas.entries.get(provider)
    platform = entry.platform if entry is not None else ""
    if not platform and entry is not None and entry.kind != LOGSOURCE_KIND:
        return "windows"  # a Windows channel or provider only rules name
    return platform or OTHER_PLATFORM


def platform_label(atlas: TelemetryAtlas, key: str) -> str:
    platform = atlas.telemetry.platforms.get(key)
    return platform.label if platform is not None else OTHER_LABEL


def _by_platform(
    atlas: TelemetryAtlas, priorities: dict[EventRow, EventPriority]
) -> dict[str, list[EventPriority]]:
    groups: dict[str, list[EventPriority]] = {}
    for row, entry in priorities.items():
        groups.setdefault(platform_of(atlas, row[0]), []).append(entry)
    return {k: ranked(v) for k, v in groups.items()}


def _catch_all(atlas: TelemetryAtlas, event: EventRow) -> bool:
    """An event that stands for a whole log source: a stand-in provider's `any` or a Windows channel's, or
    a product's log source where its platform names its events (AWS `cloudtrail` beside the CloudTrail
    eventNames); Linux's `process_creation` is an event in its own right."""
    entry = atlas.entries.get(event[0])
    if entry is None:
        return event[1] == ANY_EVENT
    if entry.kind == LOGSOURCE_KIND:
        named = atlas.extras.get("named_platforms")
        if not isinstance(named, frozenset):
            named = atlas.extras["named_platforms"] = frozenset(
                e.platform for e in atlas.entries.values() if e.kind == PLATFORM_KIND and e.has_events()
            )
        return event[1] == ANY_EVENT or entry.name == WINDOWS_PRODUCT or entry.platform in named
    defined = entry.event(parse_event_key(event[1]))
    return defined is not None and defined.catch_all


def _event_item(atlas: TelemetryAtlas, entry: EventPriority) -> PriorityItem:
    provider, key_text = entry.event
    known = atlas.entries.get(provider)
    key: EventKey = parse_event_key(key_text)
    event = known.event(key) if known is not None else None
    label = known.label if known is not None else provider
    path = (
        urls.telemetry_event_path(provider, key) if known is not None and atlas.has_page(known, key) else ""
    )
    return {
        **entry.to_json(),
        "label": f"{label} {key_text}",
        "title": event.title if event is not None else "",
        "path": path,
        "rules_split": vendor_split(entry.by_vendor),
        "collect": collect_hint(provider, event),
    }


def priority_view(atlas: TelemetryAtlas, per_platform: int = RANKED_PER_PLATFORM) -> PriorityView:
    """Per platform, its named events ranked by priority (the first `per_platform`), then its catch-alls."""
    model = collection_model(atlas)
    platforms: list[PlatformPriority] = []
    for key, entries in sorted(
        _by_platform(atlas, model.priorities).items(),
        key=lambda item: (item[0] != "windows", item[0] == OTHER_PLATFORM, platform_label(atlas, item[0])),
    ):
        named = [e for e in entries if not _catch_all(atlas, e.event)]
        catch_alls = [e for e in entries if _catch_all(atlas, e.event)]
        platforms.append(
            {
                "key": key,
                "label": platform_label(atlas, key),
                "events": len(named),
                "ranked": [
                    {**_event_item(atlas, e), "rank": i} for i, e in enumerate(named[:per_platform], 1)
                ],
                "catch_alls": [_event_item(atlas, e) for e in catch_alls],
                "coverage_path": coverage_path(key) if key in atlas.telemetry.platforms else "",
            }
        )
    return {
        "formula": FORMULA,
        "levels": list(reversed(LEVELS)),
        "rules": len(model.needs),
        "platforms": platforms,
    }


def event_collection_view(atlas: TelemetryAtlas, entry: ProviderEntry, key: EventKey) -> EventCollection:
    """`collection` (None when no detection rule needs the event) and `also_seen_as` of an event."""
    model = collection_model(atlas)
    row = (entry.name, str(key))
    found = model.priorities.get(row)
    hint = collect_hint(entry.name, entry.event(key))
    collection: EventPriorityDoc | None = None
    if found is not None:
        platform, rank = model.ranks.get(row, (platform_of(atlas, entry.name), 0))
        collection = {
            **found.to_json(),
            "platform": platform,
            "platform_label": platform_label(atlas, platform),
            "rank": rank,
            "catch_all": _catch_all(atlas, row),
            "formula": FORMULA,
            "priority_path": PRIORITY_PATH,
            "collect": hint,
        }
    also: list[SeenAsView] = []
    for other in model.bridges.also_seen_as(entry.name, str(key)):
        path = ""
        if other["provider"]:
            target = atlas.entries.get(other["provider"])
            other_key = parse_event_key(other["event_key"])
            if target is not None and atlas.has_page(target, other_key):
                path = urls.telemetry_event_path(target.name, other_key)
        also.append({**other, "path": path})
    return {"collection": collection, "collect": hint, "also_seen_as": also}


def provider_priority_view(atlas: TelemetryAtlas, entry: ProviderEntry, limit: int = 25) -> list[RankedItem]:
    """The provider's events that detection rules need, by priority."""
    model = collection_model(atlas)
    mine = ranked(model.by_provider.get(entry.name, ()))
    out: list[RankedItem] = []
    for item in mine[:limit]:
        rank = model.ranks.get(item.event, ("", 0))[1]
        out.append({**_event_item(atlas, item), "rank": rank})
    return out


def _group_of(atlas: TelemetryAtlas, entry: ProviderEntry, key_text: str) -> str:
    """The matrix group of an event: its provider (a Windows provider, an AWS service, a Kubernetes API
    group), or the namespace of a dotted event name on a single-provider platform (Okta `user.session`)."""
    platform = atlas.telemetry.platforms.get(entry.platform)
    found = atlas.extras.get("entries_per_platform")
    if isinstance(found, dict):
        per_platform: dict[str, int] = found
    else:  # counted once per atlas: this runs for every covered event
        per_platform = {}
        for e in atlas.entries.values():
            per_platform[e.platform] = per_platform.get(e.platform, 0) + 1
        atlas.extras["entries_per_platform"] = per_platform
    single = platform is not None and per_platform.get(entry.platform, 0) <= 2
    if single and "." in key_text and entry.kind != LOGSOURCE_KIND:
        return f"{entry.label} · {key_text.rsplit('.', 1)[0]}"
    return entry.label


def coverage_matrix_view(atlas: TelemetryAtlas, platform: str) -> CoverageMatrixView | None:
    """Every event of `platform` some rule covers, with its rules by vendor, grouped; then the rules that
    cover only catch-all events of the platform, grouped by the reason their coverage gives."""
    if platform not in atlas.telemetry.platforms:
        return None
    entries = [e for e in atlas.entries.values() if platform_of(atlas, e.name) == platform]
    vendors: set[str] = set()
    groups: dict[str, list[MatrixEvent]] = {}
    catch_uids: dict[str, set[str]] = {}
    named_uids: set[str] = set()
    by_provider = atlas.extras.get("rule_events")
    if not isinstance(by_provider, dict):
        from ruleatlas.store.collection import rule_events_by_provider

        by_provider = atlas.extras["rule_events"] = rule_events_by_provider(atlas.queries.db)
    for entry in sorted(entries, key=lambda e: e.label.lower()):
        for key in entry.event_keys():
            per_vendor = atlas.rules_of(entry.name, key)
            bridged = atlas.bridged_rules_of(entry.name, key)
            if not per_vendor and not bridged:
                continue
            vendors.update(per_vendor)
            uids = set().union(
                *(by_provider.get(n, {}).get(str(key), set()) for n in atlas.table_names(entry.name))
            )
            if _catch_all(atlas, (entry.name, str(key))):
                catch_uids.setdefault(f"{entry.label} {key}", set()).update(uids)
                continue
            named_uids |= uids
            event = entry.event(key)
            groups.setdefault(_group_of(atlas, entry, str(key)), []).append(
                {
                    "provider": entry.name,
                    "event_key": str(key),
                    "title": event.title if event is not None else "",
                    "path": urls.telemetry_event_path(entry.name, key) if atlas.has_page(entry, key) else "",
                    "rules": vendor_split(per_vendor),
                    # rules it serves through a bridge only: apart from `rules`, never in the totals
                    "bridged_rules": vendor_split(bridged),
                }
            )
    unattributed: dict[str, list[MatrixRule]] = {}
    vendor_of = atlas.extras.get("rule_vendors")
    if not isinstance(vendor_of, dict):
        vendor_of = atlas.extras["rule_vendors"] = rule_vendors(atlas.queries.db)
    only_catch_all = set().union(*catch_uids.values()) - named_uids if catch_uids else set()
    for rule in rules_with_notes(atlas.queries.db, only_catch_all):
        reason = _reason(rule.note)
        unattributed.setdefault(reason, []).append(
            {"uid": rule.uid, "vendor": rule.vendor, "title": rule.title, "path": _rule_path(rule.uid)}
        )
    by_vendor_total: dict[str, int] = {}
    for uid in only_catch_all | named_uids:
        vendor = vendor_of.get(uid, "")
        by_vendor_total[vendor] = by_vendor_total.get(vendor, 0) + 1
    return {
        "platform": platform,
        "label": platform_label(atlas, platform),
        "path": coverage_path(platform),
        "vendors": sorted(vendors),
        "events": sum(len(v) for v in groups.values()),
        "rules": vendor_split(by_vendor_total),
        "groups": [
            {
                "label": label,
                "events": sorted(
                    items,
                    key=lambda i: (-i["rules"]["total"], -i["bridged_rules"]["total"], i["event_key"]),
                ),
            }
            for label, items in sorted(groups.items(), key=lambda item: item[0].lower())
        ],
        "catch_all_events": [
            {"label": label, "rules": len(uids)} for label, uids in sorted(catch_uids.items()) if uids
        ],
        "unattributed": [
            {
                "reason": reason,
                "count": len(items),
                "rules": sorted(items, key=lambda r: (r["vendor"], r["uid"]))[:MATRIX_RULES_SHOWN],
            }
            for reason, items in sorted(unattributed.items(), key=lambda item: (-len(item[1]), item[0]))
        ],
        "unattributed_rules": len(only_catch_all),
        "platform_path": f"{urls.TELEMETRY_PATH}platforms/{platform}/",
    }


def _reason(note: str) -> str:
    """The first sentence of a coverage note, or what a catch-all with no note means."""
    first = note.split(". ", 1)[0].strip().rstrip(".")
    return (
        (first + ".")
        if first
        else "The rule's log source names no event (only a product, service or category)."
    )


def _rule_path(uid: str) -> str:
    try:
        return urls.rule_path(uid)
    except ValueError:
        return ""
