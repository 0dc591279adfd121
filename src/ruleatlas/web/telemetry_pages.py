"""The telemetry pages of the static site, and the readiness page.

Pages: `telemetry/` (providers), `telemetry/<provider>/`, `telemetry/<provider>/<event>/`,
`telemetry/vendors/<vendor>/`, `telemetry/uncovered/`, `readiness/` (see urls.py). Views come from
web/telemetry_views.py, the same dicts the API returns.

What a build writes (the build decides, `TelemetryPagesJob.events`):
- a full build (or new templates, or new samples): every page; event pages of events that are neither
  covered by a rule, nor in the samples, nor described by a field list are not written (their message
  template is shown on their provider's page), which keeps the site at a few thousand event pages instead of
  the 49,000 events the manifests name;
- a rebuild after some rules changed: the pages of the events those rules covered before and after, their
  providers' pages, and the index, vendor and uncovered-rules pages (one each, cheap). Nothing else depends on
  which rules cover which events.

Event pages are rendered on every core, by forked workers that open their own catalog connection.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from jinja2 import Template
from markupsafe import Markup

from ruleatlas.output import atomic
from ruleatlas.store import open_catalog
from ruleatlas.store.telemetry import EventKeyRow, TelemetryQueries
from ruleatlas.telemetry.catalog import EventKey, TelemetryCatalog, parse_event_key
from ruleatlas.telemetry.observed import ObservedJson, sample_index
from ruleatlas.telemetry.report import ReadinessReport, SeenEvent, load_report
from ruleatlas.web import urls
from ruleatlas.web.collection_pages import coverage_index_page, write_collection_pages
from ruleatlas.web.collection_views import (
    COVERAGE_PATH,
    PRIORITY_PATH,
    collection_bridges,
    collection_model,
    coverage_path,
    event_collection_view,
    provider_priority_view,
)
from ruleatlas.web.render import VENDOR_NAMES, Chrome, SiteRenderer, _use_fast_escape, vendor_name
from ruleatlas.web.telemetry_changes import PageChanges, page_changes, rule_inputs
from ruleatlas.web.telemetry_fragments import (
    crumbs_html,
    enums_html,
    event_rows_html,
    example_rows_html,
    field_rows_html,
    indicator_rows_html,
    markdown_inline,
    other_field_rows_html,
    rule_list_html,
    rules_html,
)
from ruleatlas.web.telemetry_platforms import PlatformsView, platform_path, platform_view, platforms_view
from ruleatlas.web.telemetry_views import (
    ProviderEntry,
    ProvidersView,
    TelemetryAtlas,
    event_view,
    provider_view,
    providers_view,
    uncovered_view,
    vendor_view,
)
from ruleatlas.workers import map_batches

STYLESHEET = urls.STATIC_PATH + "telemetry.css"
PAGE_TEMPLATES = ("index", "provider", "event", "vendor", "uncovered", "platform")


class TelemetryIndexView(ProvidersView, PlatformsView):
    loaded: bool  # False when the build had no telemetry definitions


@dataclass(slots=True)
class TelemetryPagesJob:
    """What the build asks for: the definitions (None when built without --telemetry), the samples
    (`Observed.to_json()`), and the events whose pages changed (None: all)."""

    telemetry: TelemetryCatalog | None
    samples: ObservedJson | None = None
    events: set[EventKeyRow] | None = None
    catalog_dir: Path | None = None  # where readiness.json is kept


class TelemetryPageRenderer:
    """Renders telemetry views with the site's renderer (its templates, chrome and link style)."""

    def __init__(self, renderer: SiteRenderer | None = None, *, samples_loaded: bool = True) -> None:
        self.renderer = renderer or SiteRenderer()
        self.samples_loaded = samples_loaded
        self._templates: dict[str, Template] = {}
        self._chromes: dict[tuple[int, str], Chrome] = {}

    def chrome(self, page: str, title: str, current: str) -> Chrome:
        """base.html's links for `page`: they depend only on how deep the page is, so they are worked out
        once per depth (thousands of event pages share one)."""
        key = (page.count("/"), current)
        found = self._chromes.get(key)
        if found is None:
            found = self._chromes[key] = self.renderer._chrome(page, title, current=current)
        return {**found, "page_title": title}

    def template(self, name: str) -> Template:
        if name not in self._templates:
            template = self._templates[name] = self.renderer.env.get_template(f"{name}.html")
            _use_fast_escape(template)
        return self._templates[name]

    def render(
        self,
        template: str,
        page: str,
        title: str,
        view: Mapping[str, Any],
        current: str = urls.TELEMETRY_PATH,
        **extra: Any,
    ) -> str:
        link = self.linker(page)
        context = {
            **self.chrome(page, title, current),
            "v": view,
            "link": link,
            "telemetry_css": link(STYLESHEET),
            "readiness_path": urls.READINESS_PATH,
            "priority_path": PRIORITY_PATH,
            "coverage_index_path": COVERAGE_PATH,
            "vendor_names": VENDOR_NAMES,
            "rules_html": rules_html,
            "rule_list": rule_list_html,
            "samples_loaded": self.samples_loaded,
            "markdown": markdown_inline,
            **extra,
        }
        return self.template(template).render(context)

    def crumbs(self, page: str, *items: tuple[str, str]) -> Markup:
        return crumbs_html([("Telemetry", urls.TELEMETRY_PATH), *items], self.linker(page), page)

    def linker(self, page: str) -> Callable[[str], str]:
        renderer = self.renderer

        def link(path: str) -> str:
            return renderer.link(page, path)

        return link

    # -- pages ---------------------------------------------------------------------------------------------

    def index_page(self, atlas: TelemetryAtlas | None) -> str:
        if atlas is None:
            view: TelemetryIndexView = {
                "loaded": False,
                "providers": 0,
                "events": 0,
                "events_with_rules": 0,
                "mappings": 0,
                "samples": 0,
                "summary": "No providers",
                "groups": [],
                "vendors": [],
                "uncovered_path": urls.TELEMETRY_UNCOVERED_PATH,
                "platforms": [],
            }
        else:
            view = {**providers_view(atlas), **platforms_view(atlas), "loaded": True}
        return self.render("telemetry_index", urls.TELEMETRY_PATH, "Telemetry", view)

    def platform_page(self, atlas: TelemetryAtlas, key: str) -> str | None:
        view = platform_view(atlas, key)
        if view is None:
            return None
        page = view["path"]
        crumbs = self.crumbs(page, (view["label"], page))
        link = self.linker(page)
        return self.render(
            "telemetry_platform",
            page,
            f"{view['label']} telemetry",
            view,
            crumbs=crumbs,
            coverage_href=link(coverage_path(key)),
            priority_href=link(PRIORITY_PATH),
        )

    def provider_page(self, atlas: TelemetryAtlas, entry: ProviderEntry) -> str:
        page = entry.path
        view = provider_view(atlas, entry)
        index_file = self.renderer.index_file
        link = self.linker(page)

        def child_link(path: str) -> str:  # an event page is a folder inside its provider's
            return path[len(page) :] + index_file if path.startswith(page) else link(path)

        return self.render(
            "telemetry_provider",
            page,
            entry.label,
            view,
            rows_html=event_rows_html(view["event_rows"], child_link),
            crumbs=self.crumbs(page, (entry.label, page)),
            priority_rows=provider_priority_view(atlas, entry),
        )

    def event_page(self, atlas: TelemetryAtlas, entry: ProviderEntry, key: EventKey) -> str:
        page = urls.telemetry_event_path(entry.name, key)
        view = event_view(atlas, entry, key)
        link = self.linker(page)
        sample = view["sample"]
        html = {
            "rules": rules_html(view["rules"]),
            "fields": field_rows_html(view["fields"], link),
            "other_fields": other_field_rows_html(view["other_fields"], link),
            "example": example_rows_html(sample["example"]) if sample else Markup(""),
            "enums": enums_html(sample["enums"]) if sample else Markup(""),
            "indicators": indicator_rows_html(view["indicators"], link, self.renderer.indicator_pages),
            "rules_by_vendor": [
                (vendor_name(g["vendor"]), len(g["rules"]), rule_list_html(g["rules"], link, shown=50))
                for g in view["rules_by_vendor"]
            ],
            "uncounted": rule_list_html(view["uncounted_rules"], link),
            "bridged_by_vendor": [
                (vendor_name(g["vendor"]), len(g["rules"]), rule_list_html(g["rules"], link, shown=50))
                for g in view["bridged_rules_by_vendor"]
            ],
        }
        title = f"{entry.label} {key}: {view['title']}"
        crumbs = self.crumbs(page, (entry.label, entry.path), (str(key), page))
        collection = event_collection_view(atlas, entry, key)
        return self.render("telemetry_event", page, title, view, crumbs=crumbs, html=html, c=collection)

    def vendor_page(self, atlas: TelemetryAtlas, vendor: str) -> str:
        page = urls.telemetry_vendor_path(vendor)
        view = vendor_view(atlas, vendor)
        label = vendor_name(vendor)
        lead = (
            f"{view['events']:,} events across {view['providers']:,} providers with {label} rules, "
            f"{view['mappings']:,} mappings"
        )
        crumbs = self.crumbs(page, (f"{label} reference", page))
        return self.render(
            "telemetry_vendor",
            page,
            f"{label} rules by event",
            view,
            crumbs=crumbs,
            vendor_label=label,
            lead=lead,
        )

    def uncovered_page(self, atlas: TelemetryAtlas | None, queries: TelemetryQueries) -> str:
        page = urls.TELEMETRY_UNCOVERED_PATH
        if atlas is not None:
            view = uncovered_view(atlas)
        else:
            view = uncovered_view(TelemetryAtlas(TelemetryCatalog(), queries))
        crumbs = self.crumbs(page, ("Rules without event coverage", page))
        return self.render("telemetry_uncovered", page, "Rules without event coverage", view, crumbs=crumbs)

    def readiness_page(self, report: ReadinessReport | None, catalog_rules: str = "") -> str:
        """`catalog_rules`: the catalog's rules fingerprint, to tell whether the report is stale."""
        view = readiness_view(report, catalog_rules)
        return self.render("readiness", urls.READINESS_PATH, "Readiness", view, current=urls.READINESS_PATH)


class ReadinessRule(TypedDict):
    uid: str
    title: str
    kind: str
    path: str
    reason: str


class ReadinessGroup(TypedDict):
    id: str
    verdict: str
    title: str
    rules: list[ReadinessRule]


class SeenEventView(SeenEvent):
    path: str  # the event's page


class ReadinessView(TypedDict):
    present: bool
    # The rest when a report is kept. `report` is readiness.json as the last `ruleatlas readiness` wrote it,
    # read back from the file: it is read by key, each with a default, as a file of an older version may be.
    stale: NotRequired[bool]
    report: NotRequired[ReadinessReport]
    seen: NotRequired[list[SeenEventView]]  # the report's seen events, each with its page's path
    groups: NotRequired[list[ReadinessGroup]]


def readiness_view(report: ReadinessReport | None, catalog_rules: str = "") -> ReadinessView:
    """The readiness page's view from a kept report (None: the page explains how to make one)."""
    if report is None:
        return {"present": False}
    verdicts = report.get("rule_verdicts", [])
    groups: dict[tuple[str, str], list[ReadinessRule]] = {}
    for v in verdicts:
        path = ""
        with contextlib.suppress(ValueError):
            path = urls.rule_path(v["uid"])
        why = v.get("detail", "") if v["verdict"] != "fires" else "on " + ", ".join(v.get("events", [])[:6])
        groups.setdefault((v["verdict"], v.get("reason", "")), []).append(
            {
                "uid": v["uid"],
                "title": v.get("title", ""),
                "kind": v.get("kind", ""),
                "path": path,
                "reason": why,
            }
        )
    order = {"fires": 0, "partial": 1, "blocked": 2, "unknown": 3}
    titles = {
        ("fires", ""): "Rules that can fire",
        ("fires", "through an event bridge"): "Can fire through an event bridge",
        (
            "partial",
            "served once a pipeline maps it",
        ): "Partial: served once your pipeline maps a bridged event",
        ("blocked", "event never seen"): "Cannot fire: event never seen",
        ("blocked", "field never present"): "Cannot fire: field never present",
        ("unknown", "no event coverage"): "Not assessed: no event coverage",
    }
    seen: list[SeenEventView] = []
    for item in report.get("seen", []):
        seen.append({**item, "path": urls.telemetry_event_path(item["provider"], item["event_id"])})
    stale = bool(catalog_rules) and report.get("catalog_rules") != catalog_rules
    return {
        "present": True,
        "stale": stale,
        "report": report,
        "seen": seen,
        "groups": [
            {"id": f"g-{i}", "verdict": k[0], "title": titles.get(k, f"{k[0]}: {k[1]}"), "rules": groups[k]}
            for i, k in enumerate(sorted(groups, key=lambda k: (order.get(k[0], 9), k[1])), 1)
        ],
    }


# -- writing ------------------------------------------------------------------------------------------------

_worker: tuple[TelemetryPageRenderer, TelemetryAtlas] | None = None


def _write(site: Path, path: str, html: str) -> None:
    SiteRenderer.write_page(site, path, html)


PROVIDER_PAGE = ""  # the key text of a page item that is its provider's page, not an event's


def _render_items(site: Path, catalog_path: Path, items: list[tuple[str, str]]) -> int:
    """Worker: render the pages of (entry name, event key text, or PROVIDER_PAGE for the provider's own
    page) with its own catalog connection."""
    assert _worker is not None
    pages, atlas = _worker
    db = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    try:
        atlas.queries = TelemetryQueries(db)
        for name, key_text in items:
            entry = atlas.entries[name]
            if key_text == PROVIDER_PAGE:
                _write(site, entry.path, pages.provider_page(atlas, entry))
                continue
            key = parse_event_key(key_text)
            _write(site, urls.telemetry_event_path(name, key), pages.event_page(atlas, entry, key))
    finally:
        db.close()
    return len(items)


def _remove_page(site: Path, path: str) -> None:
    target = site.joinpath(*urls.page_file(path).parent.parts)
    if target.is_dir() and target.resolve().is_relative_to(site.resolve()):
        atomic.remove(target)


def _prune(site: Path, keep: set[str]) -> int:
    """Remove telemetry page folders a full build did not write (providers or events that are gone)."""
    root = site / urls.TELEMETRY_PATH
    removed = 0
    if not root.is_dir():
        return 0
    fixed = {"uncovered", "vendors", "platforms", "priority"}
    for provider_dir in list(root.iterdir()):
        if not provider_dir.is_dir() or provider_dir.name in fixed:
            continue
        provider_path = f"{urls.TELEMETRY_PATH}{provider_dir.name}/"
        if provider_path not in keep:
            atomic.remove(provider_dir)
            removed += 1
            continue
        for event_dir in list(provider_dir.iterdir()):
            if event_dir.is_dir() and f"{provider_path}{event_dir.name}/" not in keep:
                atomic.remove(event_dir)
                removed += 1
    return removed


def write_telemetry_pages(
    site: Path,
    catalog_path: Path,
    job: TelemetryPagesJob,
    *,
    jobs: int = 1,
    renderer: SiteRenderer | None = None,
    progress: Callable[[int], None] | None = None,
    changed_rules: set[str] | None = None,
    previous_catalog: Path | None = None,
) -> int:
    """Write the telemetry pages `job` asks for and the readiness page; returns the pages written.

    A rebuild (`job.events` given) that also names the rules it stored again or removed (`changed_rules`)
    and the catalog they were in before (`previous_catalog`) renders a summary page only when what it reads
    of those rules changed (web/telemetry_changes.py); the site keeps the last build's copy of the others."""
    global _worker
    pages = TelemetryPageRenderer(renderer, samples_loaded=job.samples is not None)
    written = 0
    with open_catalog(catalog_path) as catalog:
        queries = TelemetryQueries(catalog.db)
        rules_key = queries.rules_fingerprint()
        report = load_report(job.catalog_dir) if job.catalog_dir is not None else None
        # without a report the page only says how to make one: a rebuild need not write it again
        if (
            report is not None
            or job.events is None
            or not (site / urls.page_file(urls.READINESS_PATH)).is_file()
        ):
            _write(site, urls.READINESS_PATH, pages.readiness_page(report, rules_key))
            written += 1
        if job.telemetry is None or not queries.has_tables():
            _write(site, urls.TELEMETRY_PATH, pages.index_page(None))
            _write(site, urls.TELEMETRY_UNCOVERED_PATH, pages.uncovered_page(None, queries))
            _write(site, COVERAGE_PATH, coverage_index_page(pages, None))  # the ATT&CK pages link to it
            return written + 3
        mappings = queries.vendor_mappings()
        vendors = sorted(mappings)
        changes = _page_changes(catalog.db, job, changed_rules, previous_catalog, vendors)

        def wanted_page(path: str, changed: bool) -> bool:  # a page kept must be there to keep
            return changed or not (site / urls.page_file(path)).is_file()

        atlas = TelemetryAtlas(job.telemetry, queries, sample_index(job.samples))
        atlas.extras["vendor_mappings"] = mappings  # read once: every vendor page reads it
        if wanted_page(urls.TELEMETRY_PATH, changes.index):
            _write(site, urls.TELEMETRY_PATH, pages.index_page(atlas))
            written += 1
        if wanted_page(urls.TELEMETRY_UNCOVERED_PATH, changes.uncovered):
            _write(site, urls.TELEMETRY_UNCOVERED_PATH, pages.uncovered_page(atlas, queries))
            written += 1
        for vendor in vendors:
            if wanted_page(urls.telemetry_vendor_path(vendor), vendor in changes.vendors):
                _write(site, urls.telemetry_vendor_path(vendor), pages.vendor_page(atlas, vendor))
                written += 1
        # a platform's page moves with the rules of its events: all of them on a full build, else those of the
        # changed events (an event of no platform is a Windows channel's)
        platforms = (
            set(atlas.telemetry.platforms)
            if job.events is None
            else {
                (atlas.entries[n].platform if n in atlas.entries else "") or "windows"
                for n, _ in atlas.entries_of(job.events)
            }
        )
        for platform_key in sorted(platforms):
            if not wanted_page(platform_path(platform_key), changes.index):
                continue
            html = pages.platform_page(atlas, platform_key)
            if html is not None:
                _write(site, platform_path(platform_key), html)
                written += 1
        written += write_collection_pages(
            site,
            pages,
            atlas,
            None if job.events is None else platforms,
            priority=changes.priority,
            coverage=changes.coverage,
        )
        if job.events is None:
            todo = [(e.name, str(k)) for e, k in atlas.pages()]
            providers = list(atlas.entries.values())
        else:
            # an event's priority moves with the rules of the events bridged to it
            bridges = collection_bridges(atlas)
            job.events = set(job.events) | bridges.partners(atlas.entries_of(job.events))
            wanted = atlas.entries_of(job.events)
            todo = []
            for name, key_text in sorted(wanted):
                entry = atlas.entries.get(name)
                key = parse_event_key(key_text)
                if entry is not None and atlas.has_page(entry, key):
                    todo.append((name, key_text))
                else:
                    _remove_page(site, urls.telemetry_event_path(name, key))
            providers = [
                atlas.entries[n]
                for n in sorted({n for n, _ in wanted})
                if n in atlas.entries and wanted_page(atlas.entries[n].path, changes.providers)
            ]
        # the biggest provider pages first, so that no worker is left with a long one at the end
        providers.sort(key=lambda e: -len(e.event_keys()))
        items = [(e.name, PROVIDER_PAGE) for e in providers] + todo
        if items:
            # computed once here, before the workers fork, so that every page shares it
            collection_model(atlas)
        _worker = (pages, atlas)
        try:
            written += _render_all(site, catalog_path, items, jobs, progress)
        finally:
            _worker = None
            atlas.queries = queries
        if job.events is None:
            keep = {e.path for e in atlas.entries.values()}
            keep |= {urls.telemetry_event_path(n, parse_event_key(k)) for n, k in todo}
            _prune(site, keep)
    return written


def _page_changes(
    db: sqlite3.Connection,
    job: TelemetryPagesJob,
    changed_rules: set[str] | None,
    previous_catalog: Path | None,
    vendors: list[str],
) -> PageChanges:
    """Which summary pages to render: all of them on a full build, or when the rebuild does not say which
    rules changed or the previous catalog is gone; else those that read something of a changed rule that
    changed."""
    if job.events is None or changed_rules is None or previous_catalog is None:
        return PageChanges.everything(vendors)
    if not previous_catalog.is_file():
        return PageChanges.everything(vendors)
    before_db = sqlite3.connect(f"file:{previous_catalog}?mode=ro", uri=True)
    try:
        before = rule_inputs(before_db, changed_rules)
    except sqlite3.Error:  # a catalog of an older layout: render them all
        return PageChanges.everything(vendors)
    finally:
        before_db.close()
    return page_changes(before, rule_inputs(db, changed_rules))


def _render_all(
    site: Path,
    catalog_path: Path,
    todo: list[tuple[str, str]],
    jobs: int,
    progress: Callable[[int], None] | None,
) -> int:
    counts = map_batches(
        partial(_render_items, site, catalog_path),
        todo,
        jobs,
        parallel_from=400,
        least=50,
        per_job=6,
        serial_batch=len(todo),
        done=None if progress is None else lambda _batch, n: progress(n),
    )
    return sum(counts)
