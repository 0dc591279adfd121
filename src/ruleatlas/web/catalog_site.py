"""Writing the catalog pages of the static site (issue 3): home, all rules by folder, browse, search, fields,
field pages, indicator pages, API docs and `openapi.json`, and the browse/search indexes.

Indicator pages: the catalog has ~35,000 indicator keys, 84% of them used by one rule only. Every key is a
row (with an anchor) on the list page of its field and comparison (`indicators/<field>/<kind>/`, ~700
pages); keys shared by several counted rules (`urls.SHARED_INDICATOR_RULES`, ~4,000) also have a page of
their own, which is where their corpus badges link (`urls.indicator_link_path`). A page per key would be
35,000 directories: on this 2-core machine that alone costs more than building the rest of the site.

A full build writes everything. An incremental build (`changed_indicators`: the keys of rules that changed
and the keys whose corpus counts changed) writes only the changed keys' pages, their list pages and their
fields' pages; pages of keys no longer shared or used, and of fields and lists no longer used, are removed.
What else it writes follows from the changed rules' old and new rows (`web/catalog_changes.py`): the home
page always (it says when it was built; its indicator figures come from the last build's record,
`cache/catalog-pages.json`, unless indicators or counted rules changed), the all-rules page and the key and
list pages when a column they list changed, the field pages and the list of fields when indicators or counts
changed, data/rules.js from the site's own copy with the changed rules' rows replaced, data/search.js when
what it holds or the title order changed.

Indicator pages and list pages are rendered by forked workers (which inherit the rows the parent read)
while the parent writes the other pages.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruleatlas import __version__
from ruleatlas.output import atomic
from ruleatlas.store import Catalog
from ruleatlas.store.browse import (
    FieldDetail,
    FieldKind,
    FieldValue,
    IndicatorFigures,
    IndicatorRules,
    TopIndicator,
    all_indicator_rules,
    catalog_overview,
    field_list,
    indicator_figures,
    indicator_rules_of_fields,
)
from ruleatlas.store.catalog import IndicatorKey, RuleListing
from ruleatlas.web import urls
from ruleatlas.web.browse_index import update_indexes, write_indexes
from ruleatlas.web.catalog_changes import CatalogChanges
from ruleatlas.web.pages import CatalogPages
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.routes import default_routes, openapi_document
from ruleatlas.workers import kill, new_pool

TOP_FIELD_VALUES = 100
API_EXAMPLES = {
    "/api/rules": "/api/rules?level=high&technique=T1059&sort=modified&page=1",
    "/api/rules/{vendor}/{stem}": "/api/rules/sigma/net_connection_win_domain_localtonet_tunnel",
    "/api/search": "/api/search?q=mimikatz%20level:high",
    "/api/indicators": "/api/indicators?field=Image&kind=ends_with&value=%5Cpowershell.exe",
    "/api/fields": "/api/fields",
    "/api/fields/{field}": "/api/fields/CommandLine",
    "/api/attack/matrix": "/api/attack/matrix?platform=windows",
    "/api/stats": "/api/stats",
}
PARALLEL_FROM = 1500  # fewer indicator pages than this are written by the parent itself
RECORD_FILE = "catalog-pages.json"
RECORD_FORMAT = "ruleatlas-catalog-pages/1"

# Set in the parent before the pool forks: the workers read them without pickling.
_GROUPS: list[IndicatorRules] = []
_LISTS: list[tuple[str, str, list[IndicatorRules]]] = []
_RULE_HREFS: dict[str, str] = {}
_PAGES: CatalogPages | None = None
_SUMMARIES: list[RuleListing] = []


def _site_dir(site: Path, path: str) -> Path:
    return site.joinpath(*urls.page_file(path).parent.parts)


def _remove(site: Path, path: str) -> None:
    target = _site_dir(site, path)
    if target.is_dir():
        atomic.remove(target)


def _write_file(path: str, html: str) -> None:
    atomic.write_bytes(path, html.encode("utf-8"))


def _write_slice(site: Path, kind: str, start: int, stop: int, index_file: str) -> int:
    """Render and write `_GROUPS[start:stop]` (kind "pages") or `_LISTS[start:stop]` (kind "lists").
    Plain os calls: at thousands of pages the pathlib and io layers cost as much as the rendering."""
    global _PAGES
    if _PAGES is None or _PAGES.renderer.index_file != index_file:  # templates compile once per process
        _PAGES = CatalogPages(SiteRenderer(indicator_pages=True, field_pages=True, index_file=index_file))
    pages = _PAGES
    root = str(site)
    if kind == "lists":
        for field, kind_name, groups in _LISTS[start:stop]:
            folder = f"{root}/{urls.indicator_list_path(field or None, kind_name)}"
            os.makedirs(folder, exist_ok=True)
            _write_file(
                folder + "index.html", pages.render_indicator_list(field, kind_name, groups, _RULE_HREFS)
            )
        return stop - start
    made: set[str] = set()
    for group in _GROUPS[start:stop]:
        path = urls.indicator_path(
            group.key[0] or None, group.key[1], group.key[2], _transforms(group.key[3])
        )
        html = pages.render_indicator(
            group.key, group.corpus, group.using, group.excluding, _RULE_HREFS, path, group.shown
        )
        leaf = f"{root}/{path}"  # indicator paths are slugs ([A-Za-z0-9._~-]): the URL path is the file path
        parent = leaf[: leaf.rindex("/", 0, -1)]
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(leaf)
        _write_file(leaf + "index.html", html)
    return stop - start


def _write_other(
    site: Path,
    catalog_path: Path,
    what: str,
    index_file: str,
    home: HomeFigures | None = None,
    update: tuple[Collection[str], bool] | None = None,
) -> Any:
    """`indexes`: data/*.js (returns their size in bytes; `update`: an incremental build's changed rules and
    whether search text changed, see `browse_index.update_indexes`); `home`: the home page, and the list of
    fields unless `home` (the figures of the last build, still true) is given (returns the figures);
    `all-rules`: the list of every rule by folder."""
    if what in ("indexes", "home"):
        catalog = Catalog(catalog_path)
        try:
            if what == "indexes":
                sizes = None
                if update is not None:
                    sizes = update_indexes(site, catalog, update[0], update[1], index_file)
                if sizes is None:
                    sizes = write_indexes(site, catalog, index_file)
                return sum(sizes.values())
            pages = _PAGES or CatalogPages(SiteRenderer(index_file=index_file))
            if home is None:
                fields = field_list(catalog)
                home = HomeFigures(len(fields), indicator_figures(catalog))
                pages.renderer.write_page(site, urls.FIELDS_PATH, pages.render_fields(fields))
            overview = catalog_overview(catalog, figures=home.indicators)
            overview["fields"] = home.fields
            pages.renderer.write_page(site, urls.HOME_PATH, pages.render_home(overview))
            return home
        finally:
            catalog.close()
    renderer = _PAGES.renderer if _PAGES is not None else SiteRenderer(index_file=index_file)
    per_vendor: dict[str, int] = {}
    for summary in _SUMMARIES:
        per_vendor[summary["vendor"]] = per_vendor.get(summary["vendor"], 0) + 1
    stats = {"rules": len(_SUMMARIES), "per_vendor": dict(sorted(per_vendor.items(), key=lambda kv: -kv[1]))}
    html = renderer.render_index(_SUMMARIES, stats, page=urls.ALL_RULES_PATH)
    renderer.write_page(site, urls.ALL_RULES_PATH, html)
    return 1


@dataclass(slots=True)
class HomeFigures:
    """The home page's figures that only indicator rows and counted rules move: how many fields, and
    `store.browse.indicator_figures`. Kept beside the catalog (`RECORD_FILE`) for the next build."""

    fields: int
    indicators: IndicatorFigures

    @classmethod
    def read(cls, catalog_path: Path, built_at: str) -> HomeFigures | None:
        """The record of the catalog built at `built_at` (None if missing, damaged or of another one)."""
        try:
            data = json.loads((catalog_path.parent / "cache" / RECORD_FILE).read_text(encoding="utf-8"))
            if data.get("format") != RECORD_FORMAT or data.get("built_at") != built_at or not built_at:
                return None
            figures = data["indicators"]
            top: list[TopIndicator] = [
                {
                    "field": str(t["field"]),
                    "kind": str(t["kind"]),
                    "value": str(t["value"]),
                    "shown": str(t["shown"]),
                    "transforms": str(t["transforms"]),
                    "rules": int(t["rules"]),
                }
                for t in figures["top_indicators"]
            ]
            return cls(int(data["fields"]), {"indicators": int(figures["indicators"]), "top_indicators": top})
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, catalog_path: Path, built_at: str) -> None:
        path = catalog_path.parent / "cache" / RECORD_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "format": RECORD_FORMAT,
            "built_at": built_at,
            "fields": self.fields,
            "indicators": self.indicators,
        }
        atomic.write_text(path, json.dumps(body, sort_keys=True))


def _shared(group: IndicatorRules) -> bool:
    return sum(group.corpus.values()) >= urls.SHARED_INDICATOR_RULES


def _transforms(text: str) -> list[str]:
    return text.split("|") if text else []


@dataclass(slots=True)
class _FieldTally:
    """One field's rules, excluding rules, rules per comparison kind, and values, as the groups are read."""

    rules: set[str]
    excluding: set[str]
    kinds: dict[str, set[str]]
    kind_values: dict[str, int]
    values: list[FieldValue]


def field_details(
    groups: Iterable[IndicatorRules], top_values: int = TOP_FIELD_VALUES
) -> dict[str, FieldDetail]:
    """field -> the same object `store.browse.field_detail` gives, computed from indicator groups already
    read (one pass instead of five queries per field; a test holds the two to the same answer)."""
    by_field: dict[str, _FieldTally] = {}
    for g in groups:
        name, kind, value, transforms = g.key
        tally = by_field.get(name)
        if tally is None:
            tally = by_field[name] = _FieldTally(set(), set(), {}, {}, [])
        using = {r["uid"] for r in g.using}
        tally.excluding.update(r["uid"] for r in g.excluding)
        if not using:
            continue
        tally.rules.update(using)
        tally.kinds.setdefault(kind, set()).update(using)
        tally.kind_values[kind] = tally.kind_values.get(kind, 0) + 1
        tally.values.append(
            {
                "kind": kind,
                "value": value,
                "transforms": _transforms(transforms),
                "rules": len(using),
                "corpus": sum(g.corpus.values()),
            }
        )
    out: dict[str, FieldDetail] = {}
    for name, tally in by_field.items():
        values = sorted(tally.values, key=lambda v: (-v["rules"], v["kind"], v["value"]))
        kinds: list[FieldKind] = sorted(
            (
                {"kind": k, "rules": len(uids), "values": tally.kind_values[k]}
                for k, uids in tally.kinds.items()
            ),
            key=lambda k: (-k["rules"], k["kind"]),
        )
        out[name] = {
            "field": name or None,
            "rules": len(tally.rules),
            "excluding_rules": len(tally.excluding),
            "distinct_values": len(values),
            "kinds": kinds,
            "values": values[:top_values],
        }
    return out


def write_catalog_pages(
    site: Path,
    catalog_path: Path,
    summaries: Sequence[RuleListing],
    changed_indicators: set[IndicatorKey] | None = None,
    *,
    jobs: int = 1,
    index_file: str = "index.html",
    changed_rules: Collection[str] = (),
    changes: CatalogChanges | None = None,
) -> dict[str, int]:
    """Write the catalog pages (module docstring); returns how many of each kind were written.
    `changed_rules` and `changes` (an incremental build): the rules written again or removed, and what their
    rows changed (`catalog_changes.catalog_changes`; everything when not given)."""
    global _GROUPS, _LISTS, _RULE_HREFS, _PAGES, _SUMMARIES
    full = changed_indicators is None
    if changes is None:
        changes = CatalogChanges.everything()
    renderer = SiteRenderer(indicator_pages=True, field_pages=True, index_file=index_file)
    pages = _PAGES = CatalogPages(renderer)  # forked workers inherit it, compiled
    written: dict[str, int] = {}
    catalog = Catalog(catalog_path)
    built_at = catalog.meta().get("built_at", "")
    home = None if full or changes.counted else HomeFigures.read(catalog_path, changes.previous_built_at)
    if home is not None and not (site / urls.FIELDS_PATH).is_dir():
        home = None  # the list of fields is missing: write it again
    pool: ProcessPoolExecutor | None = None
    try:
        # 1. The indicator rows, and what to write of them.
        if changed_indicators is None:
            field_groups = list(all_indicator_rules(catalog))
            for stale in ("indicators/", urls.FIELDS_PATH):  # a full build starts these folders afresh
                _remove(site, stale)
            todo = field_groups
            pairs = {(g.key[0], g.key[1]) for g in field_groups}
        elif not (changes.listed or changes.counted):
            # the key and list pages show the rules' listed columns and counts, neither of which changed
            field_groups, todo, pairs = [], [], set()
        else:
            # a changed key's list page and field page show every key of its field: read them all
            field_groups = list(indicator_rules_of_fields(catalog, {key[0] for key in changed_indicators}))
            todo = [g for g in field_groups if g.key in changed_indicators]
            pairs = {(key[0], key[1]) for key in changed_indicators}
            unshared = {g.key for g in todo if not _shared(g)} | (changed_indicators - {g.key for g in todo})
            for key in unshared:  # no longer shared (or used): the key loses its own page
                _remove(site, urls.indicator_path(key[0] or None, key[1], key[2], _transforms(key[3])))
        by_pair: dict[tuple[str, str], list[IndicatorRules]] = {}
        for g in field_groups:
            by_pair.setdefault((g.key[0], g.key[1]), []).append(g)
        for field, kind in pairs - set(by_pair):
            _remove(site, urls.indicator_list_path(field or None, kind))
        _GROUPS = [g for g in todo if _shared(g)]
        _LISTS = sorted(
            ((f, k, by_pair[(f, k)]) for f, k in pairs if (f, k) in by_pair), key=lambda item: -len(item[2])
        )
        up = "../" * 4  # every indicator page is indicators/<field>/<kind>/<value>/
        linked = {
            r["uid"]
            for groups in (_GROUPS, *(groups for _, _, groups in _LISTS))
            for g in groups
            for r in (*g.using, *g.excluding)
        }
        _RULE_HREFS = {uid: up + urls.rule_path(uid) + index_file for uid in linked if "/" in uid}
        written["indicators"], written["indicator_lists"] = len(_GROUPS), len(_LISTS)

        # 2. The indexes, the home page and the list of all rules (on workers when there is much to do;
        # this process writes the rest meanwhile), and the indicator and list pages.
        others = ["home"]
        if full or changes.browse or changes.search:
            others.append("indexes")
        if full or changes.listed or not (site / urls.ALL_RULES_PATH).is_dir():
            others.append("all-rules")
        update = None if full else (changed_rules, changes.search)
        many = len(_GROUPS) + len(_LISTS) >= PARALLEL_FROM
        futures: dict[str, Future[Any]] = {}
        slices: list[Future[Any]] = []
        _SUMMARIES = list(summaries)
        if jobs > 1 and (full or many):
            pool = new_pool(jobs)
            futures = {
                what: pool.submit(_write_other, site, catalog_path, what, index_file, home, update)
                for what in others
            }
        else:
            results = {
                what: _write_other(site, catalog_path, what, index_file, home, update) for what in others
            }
        if pool is not None and many:
            size = -(-len(_GROUPS) // (jobs * 2)) or 1
            slices += [
                pool.submit(_write_slice, site, "pages", i, min(i + size, len(_GROUPS)), index_file)
                for i in range(0, len(_GROUPS), size)
            ]
            # the biggest list pages first, each alone; the small ones in a few batches
            big = min(len(_LISTS), jobs * 2)
            slices += [pool.submit(_write_slice, site, "lists", i, i + 1, index_file) for i in range(big)]
            rest = -(-(len(_LISTS) - big) // jobs) or 1
            slices += [
                pool.submit(_write_slice, site, "lists", i, min(i + rest, len(_LISTS)), index_file)
                for i in range(big, len(_LISTS), rest)
            ]
        else:
            _write_slice(site, "pages", 0, len(_GROUPS), index_file)
            _write_slice(site, "lists", 0, len(_LISTS), index_file)

        # Pages that depend on the code only: an incremental build (same templates and code) keeps them.
        if full or not (site / urls.OPENAPI_PATH).is_file():
            renderer.write_page(site, urls.RULES_PATH, pages.render_browse())
            renderer.write_page(site, urls.SEARCH_PATH, pages.render_search())
            openapi = openapi_document(default_routes(), __version__)
            renderer.write_page(site, urls.API_DOCS_PATH, pages.render_api_docs(openapi, API_EXAMPLES))
            atomic.write_text(site / urls.OPENAPI_PATH, json.dumps(openapi, indent=2))

        # 3. The pages of the fields read above (their figures move only with indicators and counts).
        names: set[str] = set()
        if full or changes.counted:
            details = field_details(field_groups)
            names = {g.key[0] for g in field_groups} | {k[0] for k in changed_indicators or ()}
            for name in sorted(names):
                detail = details.get(name)
                if detail is None:
                    _remove(site, urls.field_path(name or None))
                else:
                    renderer.write_page(site, urls.field_path(name or None), pages.render_field(detail))
        written["fields"] = len(names)
        if futures:
            results = {what: future.result() for what, future in futures.items()}
        for future in slices:
            future.result()
        if "indexes" in results:
            written["index_bytes"] = results["indexes"]
        figures = results["home"]
        if isinstance(figures, HomeFigures):
            figures.write(catalog_path, built_at)
    except BaseException:
        if pool is not None:
            kill(pool)
        raise
    finally:
        if pool is not None:
            pool.shutdown()
        _GROUPS, _LISTS, _RULE_HREFS, _SUMMARIES = [], [], {}, []
        catalog.close()
    return written
