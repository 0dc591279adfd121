"""Writing the catalog pages of the static site (issue 3): home, all rules by folder, browse, search, fields,
field pages, indicator pages, API docs and `openapi.json`, and the browse/search indexes.

A full build writes everything. An incremental build (`changed_indicators` given: the keys of rules that
changed and the keys whose corpus counts changed) writes the small pages and indexes again (they depend on
every rule) and, of the ~35,000 indicator pages, only the changed keys' ones, plus the field pages of their
fields; pages of keys and fields no rule uses any more are removed.

Indicator pages are rendered on every core: the parent reads the rows once, and forked workers (which
inherit them) each render and write a slice.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ruleatlas import __version__
from ruleatlas.store import Catalog
from ruleatlas.store.browse import (
    IndicatorRules,
    all_indicator_rules,
    catalog_overview,
    field_list,
    indicator_rules_of_fields,
)
from ruleatlas.store.catalog import IndicatorKey
from ruleatlas.web import urls
from ruleatlas.web.browse_index import write_indexes
from ruleatlas.web.pages import CatalogPages
from ruleatlas.web.render import SiteRenderer
from ruleatlas.web.routes import default_routes, openapi_document

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

# Set in the parent before the pool forks: the workers read them without pickling.
_GROUPS: list[IndicatorRules] = []
_RULE_HREFS: dict[str, str] = {}


def _site_dir(site: Path, path: str) -> Path:
    return site.joinpath(*urls.page_file(path).parent.parts)


def _write_indicator_slice(site: Path, start: int, stop: int, index_file: str) -> int:
    """Render and write indicator pages `start:stop` of _GROUPS. Plain os calls: at ~35,000 pages the
    pathlib and io layers cost as much as the rendering."""
    pages = CatalogPages(SiteRenderer(indicator_pages=True, field_pages=True, index_file=index_file))
    made: set[str] = set()
    root = str(site)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for group in _GROUPS[start:stop]:
        path = urls.indicator_path(group.key[0], group.key[1], group.key[2], _transforms(group.key[3]))
        html = pages.render_indicator(
            group.key, group.corpus, group.using, group.excluding, _RULE_HREFS, path
        )
        # indicator paths are slugs ([A-Za-z0-9._~-]), so the URL path is the file path
        leaf = f"{root}/{path}"
        parent = leaf[: leaf.rindex("/", 0, -1)]
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(leaf)
        fd = os.open(leaf + "index.html", flags, 0o644)
        try:
            os.write(fd, html.encode("utf-8"))
        finally:
            os.close(fd)
    return stop - start


def _shared(group: IndicatorRules) -> bool:
    return sum(group.corpus.values()) >= urls.SHARED_INDICATOR_RULES


def _transforms(text: str) -> list[str]:
    return text.split("|") if text else []


def field_details(groups: Iterable[IndicatorRules], top_values: int = TOP_FIELD_VALUES) -> dict[str, Any]:
    """field -> the same object `store.browse.field_detail` gives, computed from indicator groups already
    read (one pass instead of five queries per field; a test holds the two to the same answer)."""
    by_field: dict[str, dict[str, Any]] = {}
    for g in groups:
        field, kind, value, transforms = g.key
        entry = by_field.setdefault(field, {"rules": set(), "excluding": set(), "kinds": {}, "values": []})
        using = {r["uid"] for r in g.using}
        entry["excluding"].update(r["uid"] for r in g.excluding)
        if not using:
            continue
        entry["rules"].update(using)
        kinds = entry["kinds"].setdefault(kind, [set(), 0])
        kinds[0].update(using)
        kinds[1] += 1
        entry["values"].append(
            {
                "kind": kind,
                "value": value,
                "transforms": _transforms(transforms),
                "rules": len(using),
                "corpus": sum(g.corpus.values()),
            }
        )
    out = {}
    for field, entry in by_field.items():
        values = sorted(entry["values"], key=lambda v: (-v["rules"], v["kind"], v["value"]))
        kinds = sorted(
            ({"kind": k, "rules": len(u), "values": n} for k, (u, n) in entry["kinds"].items()),
            key=lambda k: (-k["rules"], k["kind"]),
        )
        out[field] = {
            "field": field or None,
            "rules": len(entry["rules"]),
            "excluding_rules": len(entry["excluding"]),
            "distinct_values": len(values),
            "kinds": kinds,
            "values": values[:top_values],
        }
    return out


def write_catalog_pages(
    site: Path,
    catalog_path: Path,
    summaries: Sequence[dict[str, Any]],
    changed_indicators: set[IndicatorKey] | None = None,
    *,
    jobs: int = 1,
    index_file: str = "index.html",
) -> dict[str, int]:
    """Write the catalog pages (module docstring); returns how many of each kind were written."""
    global _GROUPS, _RULE_HREFS
    renderer = SiteRenderer(indicator_pages=True, field_pages=True, index_file=index_file)
    pages = CatalogPages(renderer)
    written: dict[str, int] = {}
    catalog = Catalog(catalog_path)
    try:
        overview = catalog_overview(catalog)
        fields = field_list(catalog)
        overview["fields"] = len(fields)
        renderer.write_page(site, urls.HOME_PATH, pages.render_home(overview))
        stats = {"rules": len(summaries), "per_vendor": dict(overview["per_vendor"])}
        renderer.write_page(
            site, urls.ALL_RULES_PATH, renderer.render_index(summaries, stats, page=urls.ALL_RULES_PATH)
        )
        renderer.write_page(site, urls.RULES_PATH, pages.render_browse())
        renderer.write_page(site, urls.SEARCH_PATH, pages.render_search())
        openapi = openapi_document(default_routes(), __version__)
        renderer.write_page(site, urls.API_DOCS_PATH, pages.render_api_docs(openapi, API_EXAMPLES))
        (site / urls.OPENAPI_PATH).write_text(json.dumps(openapi, indent=2), encoding="utf-8")
        sizes = write_indexes(site, catalog, index_file)
        written["index_bytes"] = sum(sizes.values())

        if changed_indicators is None:
            field_groups = list(all_indicator_rules(catalog))
            for stale in ("indicators/", urls.FIELDS_PATH):  # a full build starts these folders afresh
                stale_dir = _site_dir(site, stale)
                if stale_dir.is_dir():
                    shutil.rmtree(stale_dir)
            field_names = [f["field"] or "" for f in fields]
            todo = field_groups
            pairs = {(g.key[0], g.key[1]) for g in field_groups}
        else:
            # a changed key's field page and list page count every key of its field: read them all
            field_names = sorted({key[0] for key in changed_indicators})
            field_groups = list(indicator_rules_of_fields(catalog, field_names))
            todo = [g for g in field_groups if g.key in changed_indicators]
            pairs = {(key[0], key[1]) for key in changed_indicators}
            unshared = {g.key for g in todo if not _shared(g)} | (changed_indicators - {g.key for g in todo})
            for key in unshared:  # a key no rule shares (or uses) any more loses its own page
                page_dir = _site_dir(site, urls.indicator_path(key[0], key[1], key[2], _transforms(key[3])))
                if page_dir.is_dir():
                    shutil.rmtree(page_dir)
        renderer.write_page(site, urls.FIELDS_PATH, pages.render_fields(fields))
        details = field_details(field_groups)
        for name in field_names:
            detail = details.get(name)
            path = urls.field_path(name or None)
            if detail is None:
                stale_dir = _site_dir(site, path)
                if stale_dir.is_dir():
                    shutil.rmtree(stale_dir)
                continue
            renderer.write_page(site, path, pages.render_field(detail))
        written["fields"] = len(field_names)

        up = "../" * 4  # every indicator page is indicators/<field>/<kind>/<value>/
        _RULE_HREFS = {
            s["uid"]: up + urls.rule_path(s["uid"]) + index_file for s in summaries if "/" in s["uid"]
        }
        by_pair: dict[tuple[str, str], list[IndicatorRules]] = {}
        for g in field_groups:
            by_pair.setdefault((g.key[0], g.key[1]), []).append(g)
        for field, kind in sorted(pairs):
            path = urls.indicator_list_path(field or None, kind)
            if (field, kind) not in by_pair:
                stale_dir = _site_dir(site, path)
                if stale_dir.is_dir():
                    shutil.rmtree(stale_dir)
                continue
            html = pages.render_indicator_list(field, kind, by_pair[(field, kind)], _RULE_HREFS)
            renderer.write_page(site, path, html)
        written["indicator_lists"] = len(pairs)
        _GROUPS = [g for g in todo if _shared(g)]
        written["indicators"] = _write_indicators(site, len(_GROUPS), jobs, index_file)
    finally:
        _GROUPS, _RULE_HREFS = [], {}
        catalog.close()
    return written


def _write_indicators(site: Path, count: int, jobs: int, index_file: str) -> int:
    if jobs <= 1 or count < 2000:
        return _write_indicator_slice(site, 0, count, index_file)
    size = -(-count // (jobs * 4))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [
            pool.submit(_write_indicator_slice, site, start, min(start + size, count), index_file)
            for start in range(0, count, size)
        ]
        return sum(f.result() for f in futures)
