"""The catalog's JSON API: rules (the browse list with facets), one rule, search, indicators, fields, the
ATT&CK matrix, statistics, and the OpenAPI document of every registered route. Handlers are thin: the
queries live in `ruleatlas.store` (house rule 6), and each page of the site has its twin here from the same
query (house rule 7): home -> /api/stats, rules/ -> /api/rules, a rule -> /api/rules/{vendor}/{stem},
search/ -> /api/search, an indicator -> /api/indicators, fields/ and a field -> /api/fields[/{field}].

Also `data/mode.js`: the static site's file says there is no API; the server answers it with `api: true`,
so the same search page asks /api/search (FTS5) when served and searches its own index when not.
"""

from __future__ import annotations

import sqlite3
from typing import Any, TypedDict

from ruleatlas import __version__
from ruleatlas.analysis.coverage_matrix import MatrixJson
from ruleatlas.analysis.document import RuleDocument
from ruleatlas.store import browse, facet_index
from ruleatlas.store.catalog import CatalogStats
from ruleatlas.store.search import SearchAnswer, SearchError, search
from ruleatlas.web import api_schemas as schemas
from ruleatlas.web import attack_answers, urls
from ruleatlas.web.attack_api import COUNTING, FILTER_PARAMS
from ruleatlas.web.attack_api import _filters as attack_filters
from ruleatlas.web.browse_index import mode_script
from ruleatlas.web.budget import QueryBudget
from ruleatlas.web.routes import ApiError, Param, Request, Response, RouteTable, openapi_document

MAX_INDICATORS = 200
# CPU seconds one search may use: typed searches take 1-20 ms, while a 1,000-character query of `value:`
# filters takes over a second (an attacker varies it, so caching does not help).
SEARCH_BUDGET = 0.3
FACET_PARAMS = tuple(
    Param(
        facet,
        f"only rules with this {label} (repeat, or separate with commas; `(none)` for rules without one)",
        repeated=True,
    )
    for facet, label in (
        ("vendor", "vendor"),
        ("product", "log source product"),
        ("logsource", "log source category or service"),
        ("status", "status"),
        ("level", "level"),
        ("tactic", "ATT&CK tactic (id, short name or name)"),
        ("technique", "ATT&CK technique (a technique also selects its sub-techniques)"),
        ("kind", "rule kind (detection, hunting, deprecated, unsupported, correlation, ...)"),
    )
)
RETIRED_PARAM = Param(
    "retired",
    "also list rules that are not detections (hunting, filter, enrichment, alert feed) and deprecated or "
    "unsupported ones",
    type="boolean",
)
PAGE_PARAMS = (
    Param("page", "page number, from 1 (a page past the end is empty)", type="integer"),
    Param("per_page", "results per page", type="integer"),
)


def register(routes: RouteTable) -> None:
    routes.api(
        "/api/rules",
        rules_json,
        response=schemas.RULE_LIST,
        summary="The browse list: rules with facet counts, filtered, sorted and paged",
        description="Facets combine with AND, values of one facet with OR. Each facet value's count is the "
        "number of rules the list would hold with that value selected instead. Deprecated and unsupported "
        "rules are listed only with `retired=true` or a status/kind filter naming them.",
        params=(
            *FACET_PARAMS,
            RETIRED_PARAM,
            Param("sort", "order of the list", enum=browse.SORTS),
            *PAGE_PARAMS,
        ),
        tag="rules",
    )
    routes.api(
        "/api/rules/{vendor}/{stem}",
        rule_document,
        response=schemas.RULE_DOCUMENT,
        summary="One rule's page document",
        description="The same object as `ruleatlas show --json` (docs/page-document.md), corpus counts "
        "included. `{stem}` is the rule's file stem or its rule id (a Sigma UUID).",
        tag="rules",
    )
    routes.api(
        "/api/search",
        search_json,
        response=schemas.SEARCH,
        summary="Full-text search with filters, ranked, matched words highlighted",
        description="Words match titles, descriptions, tags, references, authors, field names and values "
        "(all words, the last one also as a prefix). Filters in the same text: field:, value:, technique:, "
        "tactic:, logsource:, vendor:, level:, status:, kind:, product:. `title_html` and `snippet_html` are "
        "escaped HTML with <mark> around matches.",
        params=(Param("q", "the query"), RETIRED_PARAM, *PAGE_PARAMS),
        tag="search",
        heavy=True,
    )
    routes.api(
        "/api/indicators",
        indicators_json,
        response=schemas.INDICATORS,
        summary="Indicators (field, kind, value) with the rules that use or exclude them, by vendor",
        description="Give a field, a value, or both (and optionally a kind). Values match exactly, or "
        "case-folded (case-insensitive values are stored folded). Use field= with an empty value for "
        "keyword searches.",
        params=(
            Param("field", "the field (empty: keyword searches)"),
            Param("kind", "the comparison: eq, contains, starts_with, ends_with, regex, ..."),
            Param("value", "the value"),
            Param("limit", f"at most this many indicators (default 50, at most {MAX_INDICATORS})", "integer"),
        ),
        tag="indicators",
    )
    routes.api(
        "/api/fields",
        fields_json,
        response=schemas.FIELDS,
        summary="Every field rules use, with rule counts",
        tag="fields",
    )
    routes.api(
        "/api/fields/{field}",
        field_json,
        response=schemas.FIELD,
        summary="One field: its comparisons and most used values, with rule counts",
        description="`field` is the field name, or its page's path segment (`~keyword` for keyword "
        "searches).",
        params=(Param("limit", "at most this many values (default 100, at most 1000)", type="integer"),),
        tag="fields",
    )
    routes.api(
        "/api/attack/matrix",
        attack_matrix_json,
        response=schemas.ATTACK_MATRIX,
        summary="The ATT&CK matrix: tactics × techniques (sub-techniques under their parent), rules per cell",
        description=COUNTING,
        params=FILTER_PARAMS,
        tag="attack",
    )
    routes.api(
        "/api/stats",
        stats_json,
        response=schemas.STATS,
        summary="What the catalog holds (the home page's figures)",
        tag="meta",
    )

    def openapi(req: Request) -> dict[str, Any]:
        return openapi_document(routes, __version__)

    routes.api("/openapi.json", openapi, response=schemas.OPENAPI, summary="This document", tag="meta")
    routes.page("/" + urls.DATA_PATH + "mode.js", mode_js)


class PagedIndicator(browse.IndicatorAnswer):
    page: str  # the site page showing it: its own page when shared, else its row on its list page


class IndicatorsAnswer(TypedDict):
    field: str | None
    kind: str | None
    value: str | None
    indicators: list[PagedIndicator]


class PagedField(browse.FieldSummary):
    page: str


class FieldsAnswer(TypedDict):
    fields: list[PagedField]


class FieldAnswer(browse.FieldDetail):
    page: str


class StatsAnswer(CatalogStats):
    """`/api/stats`: the catalog's figures with the home page's (products, log sources, indicators)."""

    per_product: dict[str, int]
    per_logsource: dict[str, int]
    indicators: int
    top_indicators: list[browse.TopIndicator]
    sources: list[browse.SourceFigures]
    built_at: str
    attack_version: str


def mode_js(req: Request) -> Response:
    return Response(200, mode_script(api=True).encode("utf-8"), "text/javascript; charset=utf-8")


def _selection(req: Request) -> browse.RuleFilter:
    values = {facet: req.params(facet) for facet in browse.FACETS}
    if values["tactic"]:
        values["tactic"] = list(browse.resolve_tactics(req.catalog(), values["tactic"]))
    return browse.RuleFilter.from_lists(retired=req.bool_param("retired"), **values)


def rules_json(req: Request) -> browse.RulesPage:
    sort = req.param("sort", "title")
    if sort not in browse.SORTS:
        raise ApiError(400, "bad_parameter", f"sort must be one of {', '.join(browse.SORTS)}")
    page = req.int_param("page", 1, minimum=1)
    per_page = req.int_param("per_page", 50, minimum=1, maximum=browse.MAX_PER_PAGE)
    return facet_index.query_rules(req.catalog(), _selection(req), sort, page, per_page)


def rule_document(req: Request) -> RuleDocument:
    """By file stem, or by rule id (as `ruleatlas show` accepts): the id of exactly one rule of the vendor."""
    vendor, key = req.args["vendor"], req.args["stem"]
    catalog = req.catalog()
    doc: RuleDocument | None = catalog.rule_document(f"{vendor}/{key}")
    if doc is None:
        found = catalog.find_uids(key, vendor)
        if len(found) > 1:
            raise ApiError(409, "ambiguous", f"{key!r} names {len(found)} {vendor} rules: {', '.join(found)}")
        doc = catalog.rule_document(found[0]) if found else None
    if doc is None:
        raise ApiError(404, "not_found", f"no {vendor} rule with stem or id {key!r} in the catalog")
    return doc


def search_json(req: Request) -> SearchAnswer:
    page = req.int_param("page", 1, minimum=1)
    per_page = req.int_param("per_page", 20, minimum=1, maximum=100)
    catalog = req.catalog()
    budget = QueryBudget(SEARCH_BUDGET)
    try:
        with budget.applied(catalog.db):
            return search(catalog, req.param("q"), page, per_page, retired=req.bool_param("retired"))
    except (SearchError, sqlite3.OperationalError) as exc:
        if budget.exceeded:
            raise ApiError(
                400,
                "query_too_expensive",
                f"this search needs more than {SEARCH_BUDGET} s of work: use fewer or longer filter values",
                lasting=False,
            ) from None
        if isinstance(exc, SearchError):
            raise ApiError(400, "bad_query", str(exc)) from None
        raise


def indicators_json(req: Request) -> IndicatorsAnswer:
    field = req.query.get("field", [None])[-1]
    kind = req.param("kind") or None
    value = req.query.get("value", [None])[-1]
    if field is None and value is None:
        raise ApiError(400, "missing_parameter", "give a field, a value, or both")
    limit = req.int_param("limit", 50, minimum=1, maximum=MAX_INDICATORS)
    found = browse.find_indicators(req.catalog(), field, kind, value, limit)
    return {
        "field": field,
        "kind": kind,
        "value": value,
        "indicators": [{**g.to_json(), "page": _indicator_page(g)} for g in found],
    }


def _indicator_page(group: browse.IndicatorRules) -> str:
    """The site page showing the indicator: its own when shared, else its row on its list page."""
    field, kind, value, transforms = group.key
    total = sum(group.corpus.values())
    return urls.indicator_link_path(
        field or None, kind, value, transforms.split("|") if transforms else [], total
    )


def fields_json(req: Request) -> FieldsAnswer:
    fields = browse.field_list(req.catalog())
    return {"fields": [{**f, "page": urls.field_path(f["field"])} for f in fields]}


def field_json(req: Request) -> FieldAnswer:
    catalog = req.catalog()
    name = req.args["field"]
    limit = req.int_param("limit", 100, minimum=1, maximum=1000)
    if name == urls.KEYWORD_FIELD_SEGMENT:
        name = ""
    detail = browse.field_detail(catalog, name, limit)
    if detail is None:  # maybe a page's slug (`Some_Field-1a2b3c...`) rather than the name itself
        by_slug = {urls.field_segment(f["field"]): f["field"] or "" for f in browse.field_list(catalog)}
        if name in by_slug:
            detail = browse.field_detail(catalog, by_slug[name], limit)
    if detail is None:
        raise ApiError(404, "not_found", f"no rule uses the field {req.args['field'][:80]!r}")
    return {**detail, "page": urls.field_path(detail["field"])}


def attack_matrix_json(req: Request) -> MatrixJson:
    matrix = attack_answers.attack_matrix(req.catalog(), attack_filters(req))
    if matrix is None:
        raise ApiError(
            404, "no_attack_data", "the catalog was built without ATT&CK data (build with --attack)"
        )
    return matrix.to_json()


def stats_json(req: Request) -> StatsAnswer:
    catalog = req.catalog()
    overview = browse.catalog_overview(catalog)
    stats = catalog.stats()
    answer: StatsAnswer = {
        **stats,
        "per_product": dict(overview["per_product"]),
        "per_logsource": dict(overview["per_logsource"]),
        "indicators": overview["indicators"],
        "top_indicators": overview["top_indicators"],
        "sources": overview["sources"],
        "built_at": overview["built_at"],
        "attack_version": overview["attack_version"],
    }
    return answer
