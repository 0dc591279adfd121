"""The telemetry API: the JSON twins of the telemetry pages, from the same views (web/telemetry_views.py).

- `/api/telemetry/providers`: every provider with its events and rule↔event mappings (the index page);
- `/api/telemetry/providers/{provider}`: one provider and its events (a provider page; `{provider}` is the
  slug of its page, `microsoft-windows-sysmon`, or its name);
- `/api/telemetry/events/{provider}/{event}`: one event with its fields, per-field rule counts, sample,
  indicators and rules (an event page; any event the definitions hold, with or without a page of its own);
- `/api/telemetry/vendors/{vendor}`, `/api/telemetry/uncovered`: the vendor reference and uncovered-rules
  pages;
- `/api/telemetry/platforms`: one card per platform (Windows, AWS, Google Cloud, Kubernetes, auditd, Okta...)
  with its events, events with rules and samples, and rules (the home's cards);
- `/api/telemetry/platforms/{platform}`: one platform's services and the events with rules or samples.

The definitions (the catalog's `telemetry` blob, 8 MB of JSON) are parsed once per catalog file and kept
while the file stays the same; the rule counts are read per request.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ruleatlas.store.telemetry import TelemetryQueries
from ruleatlas.telemetry.catalog import EventKey, TelemetryCatalog, parse_event_key
from ruleatlas.telemetry.observed import SampleRecord, observed_json, sample_index
from ruleatlas.web import api_schemas as schemas
from ruleatlas.web.collection_views import EventCollection, event_collection_view
from ruleatlas.web.routes import ApiError, Request, RouteTable
from ruleatlas.web.telemetry_platforms import PlatformsView, PlatformView, platform_view, platforms_view
from ruleatlas.web.telemetry_views import (
    EventView,
    ProviderEntry,
    ProvidersView,
    ProviderView,
    TelemetryAtlas,
    UncoveredView,
    VendorView,
    event_view,
    provider_view,
    providers_view,
    uncovered_view,
    vendor_view,
)

TAG = "telemetry"
_cache: dict[tuple[str, int, int], tuple[TelemetryCatalog, dict[tuple[str, EventKey], SampleRecord]]] = {}
# what views compute once over a whole catalog (TelemetryAtlas.extras: collection priority...), per catalog
_extras: dict[tuple[str, int, int], dict[str, object]] = {}
_lock = threading.Lock()


def register(routes: RouteTable) -> None:
    routes.api(
        "/api/telemetry/providers",
        providers_json,
        response=PROVIDERS,
        summary="Every telemetry provider with its events and rule↔event mappings",
        tag=TAG,
    )
    routes.api(
        "/api/telemetry/providers/{provider}",
        provider_json,
        response=PROVIDER,
        summary="One provider: its channels and events, each with its title, whether a sample exists, and "
        "the rules covering it",
        description="`provider` is the slug of its page (`microsoft-windows-sysmon`) or its name.",
        tag=TAG,
    )
    routes.api(
        "/api/telemetry/events/{provider}/{event}",
        event_json,
        response=EVENT,
        summary="One event: definition, fields with the distinct rules testing each (by vendor), a real "
        "example, enum-like values seen, most used indicators, and the rules covering it",
        description="`event` is the EventID, or a catch-all event's name (`process_creation`).",
        tag=TAG,
    )
    routes.api(
        "/api/telemetry/vendors/{vendor}",
        vendor_json,
        response=VENDOR,
        summary="Events x providers that have rules of one vendor, with the rule↔event mappings",
        tag=TAG,
    )
    routes.api(
        "/api/telemetry/platforms",
        platforms_json,
        response=PLATFORMS,
        summary="Every platform with its event count, events with rules, events with samples, and rules",
        tag=TAG,
    )
    routes.api(
        "/api/telemetry/platforms/{platform}",
        platform_json,
        response=PLATFORM,
        summary="One platform: where its events come from, its services with their figures, and the events "
        "rules or samples name",
        description="`platform` is its key: `windows`, `aws`, `gcp`, `kubernetes`, `auditd`, `okta`, ...",
        tag=TAG,
    )
    routes.api(
        "/api/telemetry/uncovered",
        uncovered_json,
        response=UNCOVERED,
        summary="Rules that cover no telemetry event, grouped by the reason",
        tag=TAG,
    )


def _catalog_key(catalog: Any) -> tuple[str, int, int]:
    path = Path(catalog.path)
    try:
        st = path.stat()
        return (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        return (str(path), 0, 0)


def _definitions(catalog: Any) -> tuple[TelemetryCatalog, dict[tuple[str, EventKey], SampleRecord]]:
    path = Path(catalog.path)
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError:
        key = (str(path), 0, 0)
    with _lock:
        found = _cache.get(key)
    if found is not None:
        return found
    blob = catalog.blob("telemetry")
    if not isinstance(blob, dict):
        raise ApiError(
            404, "no_telemetry", "this catalog was built without telemetry definitions (--telemetry)"
        )
    samples = catalog.blob("telemetry_samples")
    found = (TelemetryCatalog.from_json(blob), sample_index(observed_json(samples)))
    with _lock:
        _cache.clear()  # one catalog is served at a time: keep only the current one
        _cache[key] = found
    return found


def atlas_of(req: Request) -> TelemetryAtlas:
    """The request's atlas, sharing with every request on the same catalog file what views compute once over
    the whole catalog (`TelemetryAtlas.extras`)."""
    catalog = req.catalog()
    telemetry, samples = _definitions(catalog)
    atlas = TelemetryAtlas(telemetry, TelemetryQueries(catalog.db), samples)
    key = _catalog_key(catalog)
    with _lock:
        extras = _extras.get(key)
        if extras is None:
            _extras.clear()  # one catalog is served at a time
            extras = _extras[key] = {}
    atlas.extras = extras
    return atlas


_atlas = atlas_of


def _entry(atlas: TelemetryAtlas, text: str) -> ProviderEntry:
    name = atlas.by_slug.get(text)
    if name is None:
        known = atlas.telemetry.provider(text)
        name = known.name if known is not None else text
    entry = atlas.entries.get(name)
    if entry is None:
        raise ApiError(404, "not_found", f"no telemetry provider {text!r}")
    return entry


def providers_json(req: Request) -> ProvidersView:
    return providers_view(_atlas(req))


def provider_json(req: Request) -> ProviderView:
    atlas = _atlas(req)
    return provider_view(atlas, _entry(atlas, req.args["provider"]))


class EventAnswer(EventView, EventCollection):
    """An event's API answer: its page's view and its collection sections."""


def event_json(req: Request) -> EventAnswer:
    atlas = _atlas(req)
    entry = _entry(atlas, req.args["provider"])
    key = parse_event_key(req.args["event"])
    if key not in entry.event_keys():
        raise ApiError(404, "not_found", f"provider {entry.name!r} has no event {req.args['event']!r}")
    # its collection priority and the events bridged to it (web/collection_views.py)
    return {**event_view(atlas, entry, key), **event_collection_view(atlas, entry, key)}


def vendor_json(req: Request) -> VendorView:
    atlas = _atlas(req)
    view = vendor_view(atlas, req.args["vendor"])
    if not view["groups"]:
        raise ApiError(404, "not_found", f"no rule of vendor {req.args['vendor']!r} covers an event")
    return view


def platforms_json(req: Request) -> PlatformsView:
    return platforms_view(_atlas(req))


def platform_json(req: Request) -> PlatformView:
    view = platform_view(_atlas(req), req.args["platform"])
    if view is None:
        raise ApiError(404, "not_found", f"no telemetry platform {req.args['platform']!r}")
    return view


def uncovered_json(req: Request) -> UncoveredView:
    return uncovered_view(_atlas(req))


# The answers' schemas, derived from the views' types (after EventAnswer; `register` reads them when called).
PROVIDERS = schemas.typed(ProvidersView, "telemetry providers grouped, with event and mapping counts")
PROVIDER = schemas.typed(ProviderView, "one provider with its events")
EVENT = schemas.typed(
    EventAnswer,
    "one event: definition, fields with the rules testing each, sample, indicators, rules, collection "
    "priority and the events bridged to it",
)
VENDOR = schemas.typed(VendorView, "events with rules of one vendor, by provider")
PLATFORMS = schemas.typed(
    PlatformsView, "one card per platform: events, events with rules and with samples, distinct rules"
)
PLATFORM = schemas.typed(
    PlatformView,
    "one platform: its source, its services with their figures, the events rules or samples name",
)
UNCOVERED = schemas.typed(UncoveredView, "rules that cover no telemetry event, grouped by reason")
