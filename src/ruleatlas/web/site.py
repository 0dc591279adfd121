"""Writing the static site from a built catalog: rule pages (on every core), static assets, then each area's
pages (catalog pages: home, browse, search, fields, indicators; ATT&CK pages; ...).

Workers read documents from the catalog themselves rather than receive them: sending thousands of nested
documents between processes costs more than rendering them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
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
from ruleatlas.web.catalog_changes import catalog_changes
from ruleatlas.web.catalog_site import write_catalog_pages
from ruleatlas.web.relations_pages import write_class_pages
from ruleatlas.web.render import STATIC_DIR, SiteRenderer
from ruleatlas.web.telemetry_pages import TelemetryPagesJob, write_telemetry_pages
from ruleatlas.web.urls import STATIC_PATH, page_file, rule_path
from ruleatlas.workers import batch_size, forked_pool, map_batches

_worker: tuple[SiteRenderer, Catalog, CorpusTable] | None = None
_PARALLEL_FROM = 200  # rule pages: fewer are rendered in this process


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
    others = partial(
        _write_other_pages,
        site,
        catalog_path,
        summaries,
        uids,
        gone,
        jobs=jobs,
        changed_indicators=changed_indicators,
        telemetry_pages=telemetry_pages,
        changed_rules=changed_rules,
        previous_catalog=previous_catalog,
    )
    if jobs > 1 and len(uids) >= _PARALLEL_FROM:
        _rule_pages_beside(site, catalog_path, uids, jobs, progress, others)
        return
    map_batches(
        partial(_render_batch, site, catalog_path),
        uids,
        jobs,
        parallel_from=_PARALLEL_FROM,
        least=25,
        per_job=8,
        serial_batch=100,
        done=None if progress is None else lambda _batch, n: progress.advance(n),
    )
    if _worker is not None:
        _worker[1].close()
        _worker = None
    others()


def _rule_pages_beside(
    site: Path,
    catalog_path: Path,
    uids: list[str],
    jobs: int,
    progress: Progress | None,
    others: Callable[[], None],
) -> None:
    """Rule pages on `jobs` forked workers while this process writes the other pages (`others`): those are
    partly written here alone (telemetry, catalog and ATT&CK indexes), which left a core idle for a third of
    a cold pages step when they came after the rule pages."""
    size = batch_size(len(uids), jobs, per_job=8, least=25)
    with forked_pool(jobs) as pool:
        futures = [
            pool.submit(_render_batch, site, catalog_path, uids[i : i + size])
            for i in range(0, len(uids), size)
        ]
        if progress is not None:  # advanced from the pool's result thread, the only one that does
            for future in futures:
                future.add_done_callback(partial(_advance, progress))
        others()
        for future in futures:
            future.result()


def _advance(progress: Progress, done: Future[int]) -> None:
    if not done.cancelled() and done.exception() is None:
        progress.advance(done.result())


def _write_other_pages(
    site: Path,
    catalog_path: Path,
    summaries: list[RuleListing],
    uids: list[str],
    gone: set[str],
    *,
    jobs: int,
    changed_indicators: set[IndicatorKey] | None,
    telemetry_pages: TelemetryPagesJob | None,
    changed_rules: set[str] | None,
    previous_catalog: Path | None,
) -> None:
    """Every page but the rule pages (`write_site`)."""
    write_static(site)
    # Home, browse, search, fields, indicators, API docs and the static indexes (web/catalog_site.py):
    # indicator and field pages only for `changed_indicators` when given (an incremental build).
    write_catalog_pages(
        site,
        catalog_path,
        summaries,
        changed_indicators,
        jobs=jobs,
        changed_rules=changed_rules or (),
        changes=None
        if changed_indicators is None or changed_rules is None
        else catalog_changes(previous_catalog, catalog_path, changed_rules),
    )
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
    # Telemetry and readiness pages: all, or those of the events the changed rules covered (the build says),
    # and the summary pages that read something of the changed rules that changed.
    if telemetry_pages is not None:
        write_telemetry_pages(
            site,
            catalog_path,
            telemetry_pages,
            jobs=jobs,
            renderer=SiteRenderer(indicator_pages=True, field_pages=True),
            changed_rules=changed_rules,
            previous_catalog=previous_catalog,
        )
