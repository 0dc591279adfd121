"""The platform views: the telemetry home's one card per platform, and a platform's page.

A platform (telemetry/platforms/) groups providers: Windows's event providers, AWS's services, Google
Cloud's APIs, Kubernetes's API groups, the auditd record types, Okta's System Log... Its card counts its
events, the events rules cover, the events the samples hold and the distinct rules; its page lists its
providers (services, namespaces) with the same figures, and the events that have rules or samples. As the
other telemetry views, each is the JSON the API returns and the page renders.
"""

from __future__ import annotations

from typing import TypedDict

from ruleatlas.telemetry.catalog import SEEN, EventKey, PlatformDef
from ruleatlas.web import urls
from ruleatlas.web.telemetry_views import ProviderEntry, TelemetryAtlas, VendorSplit, vendor_split

MAX_LISTED_EVENTS = 400  # a platform page lists the events with rules or samples, the busiest first


class Figures(TypedDict):
    events: int
    events_with_rules: int
    events_with_samples: int
    rules: VendorSplit  # distinct rules


class PlatformHead(TypedDict):
    key: str
    label: str
    status: str
    status_label: str
    source: str
    action: str
    description: str
    note: str
    path: str


class PlatformCard(PlatformHead, Figures):
    providers: int


class PlatformsView(TypedDict):
    platforms: list[PlatformCard]


class PlatformProvider(Figures):
    name: str
    label: str
    path: str
    kind: str


class PlatformEvent(TypedDict):
    provider: str  # its provider's label
    provider_name: str
    id: EventKey
    title: str
    defined: bool
    rules: VendorSplit
    sample: int
    path: str


class PlatformView(PlatformHead, Figures):
    providers: list[PlatformProvider]
    events_listed: list[PlatformEvent]
    events_more: int


def platform_path(key: str) -> str:
    return f"{urls.TELEMETRY_PATH}platforms/{key}/"


def platform_entries(atlas: TelemetryAtlas, key: str) -> list[ProviderEntry]:
    return [e for e in atlas.entries.values() if e.definition is not None and e.definition.platform == key]


def _provider_rules(atlas: TelemetryAtlas) -> dict[str, dict[str, str]]:
    """provider -> counted rule uid -> vendor, read once per atlas (the index and every platform page)."""
    found = atlas.extras.get("provider_rules")
    if not isinstance(found, dict):
        found = atlas.extras["provider_rules"] = (
            atlas.queries.provider_rules() if atlas.queries.has_tables() else {}
        )
    return found


def _figures(
    atlas: TelemetryAtlas, entries: list[ProviderEntry], rules_by_provider: dict[str, dict[str, str]]
) -> Figures:
    events = with_rules = with_samples = 0
    rules: dict[str, str] = {}
    found = atlas.extras.get("providers_with_rules")
    if isinstance(found, set):
        ruled: set[str] = found
    else:  # most providers' events (thousands of API calls) have no rule: their keys need no look-up
        ruled = atlas.extras["providers_with_rules"] = {p for (p, _), v in atlas.counts.items() if v}
    for entry in entries:
        keys = entry.event_keys()
        events += len(keys)
        if entry.name in ruled:
            with_rules += sum(1 for k in keys if atlas.rules_of(entry.name, k))
        with_samples += sum(1 for k in keys if atlas.sample(entry.name, k) is not None)
        for name in atlas.table_names(entry.name):
            rules.update(rules_by_provider.get(name, {}))
    by_vendor: dict[str, int] = {}
    for vendor in rules.values():
        by_vendor[vendor] = by_vendor.get(vendor, 0) + 1
    return {
        "events": events,
        "events_with_rules": with_rules,
        "events_with_samples": with_samples,
        "rules": vendor_split(by_vendor),
    }


def _platform_head(platform: PlatformDef) -> PlatformHead:
    return {
        "key": platform.key,
        "label": platform.label,
        "status": platform.status,
        "status_label": "seen in rules/samples" if platform.status == SEEN else "defined",
        "source": platform.source,
        "action": platform.action,
        "description": platform.description,
        "note": platform.note,
        "path": platform_path(platform.key),
    }


def platforms_view(atlas: TelemetryAtlas) -> PlatformsView:
    """One card per platform that has events or a definition, the busiest first."""
    rules_by_provider = _provider_rules(atlas)
    cards: list[PlatformCard] = []
    for platform in atlas.telemetry.platforms.values():
        entries = platform_entries(atlas, platform.key)
        figures = _figures(atlas, entries, rules_by_provider)
        if not figures["events"] and platform.status == SEEN:
            continue  # nothing named it yet: a card of zeros says nothing
        cards.append({**_platform_head(platform), **figures, "providers": len(entries)})
    cards.sort(key=lambda c: (-c["rules"]["total"], -c["events"], c["label"].lower()))
    return {"platforms": cards}


def platform_view(atlas: TelemetryAtlas, key: str) -> PlatformView | None:
    """A platform page: its providers (services, API groups, logs) with their figures, and the events with
    rules or samples. None when the catalog has no such platform."""
    platform = atlas.telemetry.platforms.get(key)
    if platform is None:
        return None
    rules_by_provider = _provider_rules(atlas)
    entries = platform_entries(atlas, key)
    providers: list[PlatformProvider] = []
    events: list[PlatformEvent] = []
    for entry in entries:
        figures = _figures(atlas, [entry], rules_by_provider)
        providers.append(
            {"name": entry.name, "label": entry.label, "path": entry.path, "kind": entry.kind, **figures}
        )
        for event_key in entry.event_keys():
            rules = atlas.rules_of(entry.name, event_key)
            sample = atlas.sample(entry.name, event_key)
            if not rules and sample is None:
                continue
            event = entry.event(event_key)
            events.append(
                {
                    "provider": entry.label,
                    "provider_name": entry.name,
                    "id": event_key,
                    "title": event.title if event is not None else "",
                    "defined": event is not None,
                    "rules": vendor_split(rules),
                    "sample": sample.count if sample is not None else 0,
                    "path": urls.telemetry_event_path(entry.name, event_key),
                }
            )
    providers.sort(key=lambda p: (-p["rules"]["total"], -p["events_with_rules"], p["label"].lower()))
    events.sort(key=lambda e: (-e["rules"]["total"], -e["sample"], e["provider"].lower(), str(e["id"])))
    figures = _figures(atlas, entries, rules_by_provider)
    return {
        **_platform_head(platform),
        **figures,
        "providers": providers,
        "events_listed": events[:MAX_LISTED_EVENTS],
        "events_more": max(0, len(events) - MAX_LISTED_EVENTS),
    }
