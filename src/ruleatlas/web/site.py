"""Writing the static site from a built catalog: rule pages (on every core), static assets, then each area's
pages (catalog pages: home, browse, search, fields, indicators; ATT&CK pages; ...).

Workers read documents from the catalog themselves rather than receive them: sending thousands of nested
documents between processes costs more than rendering them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from ruleatlas.output import atomic
from ruleatlas.progress import Progress
from ruleatlas.store import Catalog, CorpusTable
from ruleatlas.store.attack import has_attack_data
from ruleatlas.store.catalog import IndicatorKey, RuleListing
from ruleatlas.store.deploy import attach_from, relations_of
from ruleatlas.store.relations import rules_relations
from ruleatlas.web.attack_pages import write_attack_pages
from ruleatlas.web.catalog_site import write_catalog_pages
from ruleatlas.web.relations_pages import write_class_pages
from ruleatlas.web.render import STATIC_DIR, SiteRenderer
from ruleatlas.web.telemetry_pages import TelemetryPagesJob, write_telemetry_pages
from ruleatlas.web.urls import STATIC_PATH, page_file, rule_path
from ruleatlas.workers import map_batches

_worker: tuple[SiteRenderer, Catalog, CorpusTable] | None = None


def _render_batch(site: Path, catalog_path: Path, uids: list[str]) -> int:
    global _worker
    if _worker is None or _worker[1].path != catalog_path:
        catalog = Catalog(catalog_path)
        renderer = SiteRenderer(
            indicator_pages=True,
            field_pages=True,
            telemetry_pages=True,
            attack_pages=has_attack_data(catalog),
        )
        _worker = (renderer, catalog, catalog.counts())
    renderer, catalog, counts = _worker
    # relations of the whole batch in a few queries (per page they were a sixth of a page's cost)
    relations, links = rules_relations(catalog.db, uids), relations_of(catalog.db, uids)
    for uid, doc in catalog.raw_documents(uids):
        doc["relations"] = relations[uid]
        doc = attach_from(links[uid], counts.fill(doc))
        renderer.write_page(site, rule_path(uid), renderer.render_rule_page(doc))
    return len(uids)


def write_static(site: Path) -> int:
    """The stylesheets, scripts and icons, each copied only when its bytes differ from the site's copy (an
    incremental build then writes none, and the next generation has nothing to bring over); returns how many
    were written. `SiteRenderer.write_static` copies them all."""
    target = site / STATIC_PATH
    target.mkdir(parents=True, exist_ok=True)
    written = 0
    for source in sorted(STATIC_DIR.iterdir()):
        if not source.is_file() or source.name.startswith("."):
            continue
        data = source.read_bytes()
        with contextlib.suppress(OSError):
            if (target / source.name).read_bytes() == data:
                continue
        atomic.write_bytes(target / source.name, data)
        written += 1
    return written


def write_site(
    site: Path,
    catalog_path: Path,
    uids: Sequence[str],
    summaries: list[RuleListing],
    gone: set[str],
    *,
    jobs: int = 1,
    progress: Progress | None = None,
    changed_indicators: set[IndicatorKey] | None = None,
    telemetry_pages: TelemetryPagesJob | None = None,
    changed_rules: set[str] | None = None,
    previous_catalog: Path | None = None,
) -> None:
    """Render the pages of `uids`, remove those of `gone` rules, and rewrite the home page and assets.

    An incremental build passes `changed_rules` (the rules stored again or removed: their rows changed,
    no other rule's did) and `previous_catalog` (the catalog they were in before): the page families that
    read only rows of the rules they list are then rendered for those rules alone."""
    global _worker
    site.mkdir(parents=True, exist_ok=True)
    root = site.resolve()
    for uid in gone:
        page_dir = site.joinpath(*page_file(rule_path(uid)).parent.parts)
        if page_dir.is_dir() and page_dir.resolve().is_relative_to(root):
            atomic.remove(page_dir)
    uids = list(uids)
    _worker = None
    map_batches(
        partial(_render_batch, site, catalog_path),
        uids,
        jobs,
        parallel_from=200,
        least=25,
        per_job=8,
        serial_batch=100,
        done=None if progress is None else lambda _batch, n: progress.advance(n),
    )
    if _worker is not None:
        _worker[1].close()
        _worker = None
    write_static(site)
    # Home, browse, search, fields, indicators, API docs and the static indexes (web/catalog_site.py):
    # indicator and field pages only for `changed_indicators` when given (an incremental build).
    write_catalog_pages(site, catalog_path, summaries, changed_indicators, jobs=jobs)
    # ATT&CK pages: all of them in a full render, else those of the techniques the changed rules tag.
    # Their guides link indicator values and fields to the pages write_catalog_pages just wrote.
    write_attack_pages(
        site,
        catalog_path,
        changed=None if len(uids) >= len(summaries) else {*uids, *gone},
        # Link telemetry pages as rule pages do: every build with pages writes them. (Tying this to whether
        # this build re-renders telemetry pages made a no-op build with a lost page record rewrite every
        # technique page without its event links.)
        renderer=SiteRenderer(indicator_pages=True, field_pages=True, telemetry_pages=True),
        jobs=jobs,
    )
    # Equivalence classes (web/relations_pages.py): the list, and the pages of every class (a full render)
    # or of the classes the changed rules were or are in.
    write_class_pages(site, catalog_path, changed=changed_rules, previous_catalog=previous_catalog)
    # Telemetry and readiness pages: all, or those of the events the changed rules covered (the build says).
    if telemetry_pages is not None:
        write_telemetry_pages(
            site,
            catalog_path,
            telemetry_pages,
            jobs=jobs,
            renderer=SiteRenderer(indicator_pages=True, field_pages=True),
        )
