"""Catalog pages beyond the rule page: home, browse, search, fields, a field, an indicator, the API docs.

The same HTML is what `ruleatlas serve` serves and what the static export holds: pages are written at build
time and every link is relative (`urls.relative`). Browse and search are one page each whose script
(`static/atlas.js`) works over the build's indexes (`data/rules.js`, `data/search.js`, written by
`web/browse_index.py`); served, the search page asks `/api/search` instead (ranked by SQLite FTS5), which
`data/mode.js` tells it (the server answers that file itself).

Indicator pages are the many ones (~4,000 shared indicators and ~700 lists of every value of a field and
comparison, for 4,000 rules; see web/catalog_site.py), so they are not rendered through Jinja: the page
shell (header, navigation, footer, the same at one depth) is rendered once and each page is its escaped body
joined into it, which keeps them to tens of microseconds each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Template
from markupsafe import Markup

from ruleatlas.analysis.stats import kind_vs_status_text
from ruleatlas.model import DETECTION_KINDS
from ruleatlas.store.browse import (
    NONE_TOKEN,
    CatalogOverview,
    FieldDetail,
    FieldSummary,
    IndicatorRule,
    IndicatorRules,
)
from ruleatlas.web import urls
from ruleatlas.web.fragments import esc, value_view
from ruleatlas.web.render import Chrome, SiteRenderer, level_class, safe_href, status_class, vendor_name

CATALOG_CSS = urls.STATIC_PATH + "catalog.css"
ATLAS_JS = urls.STATIC_PATH + "atlas.js"
MODE_JS = urls.DATA_PATH + "mode.js"
RULES_JS = urls.DATA_PATH + "rules.js"
SEARCH_JS = urls.DATA_PATH + "search.js"
HOME_TABLE_ROWS = 12
SEARCH_SYNTAX = (
    ("field:CommandLine", "rules looking for something in this field (any case)"),
    ("value:mimikatz", "rules with an indicator value containing this text"),
    ("field:Image value:\\rundll32.exe", "one indicator with both: this field, a value containing this text"),
    ("exclusion:svchost", "rules excluding a value containing this text (with field: in that field)"),
    ("5b1a…-…, a file stem or sigma/stem", "the rule with this id, file stem or uid comes first"),
    ("technique:T1059.001", "rules tagged with this technique (T1059 includes its sub-techniques)"),
    ("tactic:persistence", "rules tagged with this tactic (id, short name or name)"),
    ("logsource:process_creation", "log source category, service or product"),
    ("vendor:sigma", "rule vendor"),
    ("level:high", "severity"),
    ("status:stable", "status (status:deprecated shows deprecated rules)"),
    ('field:"Some Field"', "quotes keep spaces in a value; the same filter twice means either value"),
)
_TITLE_MARK = "@@RULEATLAS-TITLE@@"
_BODY_MARK = "@@RULEATLAS-BODY@@"


def with_query(link: str, params: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    """A relative link with a query string (before any #fragment)."""
    query = urlencode(params)
    if not query:
        return link
    base, hash_mark, fragment = link.partition("#")
    return f"{base}?{query}{hash_mark}{fragment}"


def _count(n: int) -> str:
    return f"{n:,}"


class CatalogPages:
    """Renders the catalog pages with a SiteRenderer's templates, navigation and link style."""

    def __init__(self, renderer: SiteRenderer) -> None:
        self.renderer = renderer
        self._shells: dict[int, tuple[str, str, str]] = {}

    # Templates compile on first use (the environment keeps them): an incremental build renders a few.
    @property
    def _home(self) -> Template:
        return self.renderer.env.get_template("home.html")

    @property
    def _browse(self) -> Template:
        return self.renderer.env.get_template("browse.html")

    @property
    def _search(self) -> Template:
        return self.renderer.env.get_template("search.html")

    @property
    def _fields(self) -> Template:
        return self.renderer.env.get_template("fields.html")

    @property
    def _field(self) -> Template:
        return self.renderer.env.get_template("field.html")

    @property
    def _indicator(self) -> Template:
        return self.renderer.env.get_template("indicator.html")

    @property
    def _api_docs(self) -> Template:
        return self.renderer.env.get_template("api_docs.html")

    def link(self, page: str, to: str) -> str:
        return self.renderer.link(page, to)

    def _chrome(self, page: str, title: str, current: str | None = None) -> Chrome:
        chrome = self.renderer._chrome(page, title, current)
        chrome["catalog_css"] = self.link(page, CATALOG_CSS)
        return chrome

    def _scripts(self, page: str, *data: str) -> list[str]:
        return [self.link(page, p) for p in (MODE_JS, *data, ATLAS_JS)]

    # -- home ----------------------------------------------------------------------------------------------

    def render_home(self, overview: CatalogOverview) -> str:
        page = urls.HOME_PATH
        browse = self.link(page, urls.RULES_PATH)

        def table(
            tid: str, title: str, facet: str, rows: Sequence[tuple[str, int]], label: Any = None
        ) -> Any:
            shown = list(rows)[:HOME_TABLE_ROWS]
            return {
                "id": tid,
                "title": title,
                "max": max((n for _, n in shown), default=1),
                "rows": [
                    {
                        "label": (label(v) if label else v) or "none",
                        "href": with_query(browse, {facet: v or NONE_TOKEN}),
                        "count": n,
                        "count_text": _count(n),
                    }
                    for v, n in shown
                ],
                "more": f"{len(rows) - len(shown)} more in the browse list" if len(rows) > len(shown) else "",
                "notes": [],
            }

        # Kind (where a rule sits) and status (what it says of itself) differ for deprecated rules: both
        # tables say how, in the words `ruleatlas stats` uses.
        kind_notes = [kind_vs_status_text(k, n) for k, n in overview["kind_vs_status"].items()]
        tables = [
            table("by-vendor", "By vendor", "vendor", overview["per_vendor"], vendor_name),
            table("by-status", "By status", "status", overview["per_status"]) | {"notes": kind_notes},
            table("by-level", "By level", "level", overview["per_level"]),
            table("by-kind", "By kind", "kind", overview["per_kind"]) | {"notes": kind_notes},
            table("by-product", "By product / platform", "product", overview["per_product"]),
            table("by-logsource", "By log source", "logsource", overview["per_logsource"]),
        ]
        indicators = []
        for ind in overview["top_indicators"]:
            transforms = ind["transforms"].split("|") if ind["transforms"] else []
            indicators.append(
                {
                    "field": ind["field"] or "keyword",
                    "field_href": self.link(page, urls.field_path(ind["field"])),
                    "kind": ind["kind"],
                    "value": ind["shown"],  # the rules' spelling; the link goes to the folded key's page
                    "href": self.link(
                        page,
                        urls.indicator_link_path(
                            ind["field"], ind["kind"], ind["value"], transforms, ind["rules"]
                        ),
                    ),
                    "rules": _count(ind["rules"]),
                }
            )
        sources = [
            {
                "source": s["source"],
                "vendor": vendor_name(s["vendor"]),
                "repo": s["repo"] or "local folder",
                "href": safe_href(s["repo"]),
                "commit": (s["commit"] or "")[:12],
                "files": _count(s["files"]),
                "rules": _count(s["rules"]),
            }
            for s in overview["sources"]
        ]
        stats = [
            {"label": "Rules", "value": _count(overview["rules"]), "href": browse},
            {"label": "Source files", "value": _count(overview["files"]), "href": ""},
            {"label": "Indicators", "value": _count(overview["indicators"]), "href": ""},
            {
                "label": "Fields",
                "value": _count(overview.get("fields", 0)),
                "href": self.link(page, urls.FIELDS_PATH),
            },
        ]
        view = {
            **self._chrome(page, "Detection rules", current=urls.HOME_PATH),
            "total_text": _count(overview["rules"]),
            "vendor_count": len(overview["per_vendor"]),
            "search_href": self.link(page, urls.SEARCH_PATH),
            "browse_href": browse,
            "all_rules_href": self.link(page, urls.ALL_RULES_PATH),
            "stats": stats,
            "tables": tables,
            "indicators": indicators,
            "sources": sources,
            "built_at": overview["built_at"],
            "attack_version": overview["attack_version"],
        }
        return self._home.render(view)

    # -- browse and search ---------------------------------------------------------------------------------

    def render_browse(self) -> str:
        page = urls.RULES_PATH
        view = {
            **self._chrome(page, "Browse rules", current=urls.RULES_PATH),
            "all_rules_href": self.link(page, urls.ALL_RULES_PATH),
            "scripts": self._scripts(page, RULES_JS),
        }
        return self._browse.render(view)

    def render_search(self) -> str:
        page = urls.SEARCH_PATH
        view = {
            **self._chrome(page, "Search", current=urls.SEARCH_PATH),
            "self_href": self.link(page, urls.SEARCH_PATH),
            "syntax": SEARCH_SYNTAX,
            # the text index (data/search.js) is large: the script loads it only when there is no API
            "scripts": self._scripts(page, RULES_JS),
        }
        return self._search.render(view)

    # -- fields --------------------------------------------------------------------------------------------

    def render_fields(self, fields: Iterable[FieldSummary]) -> str:
        page = urls.FIELDS_PATH
        rows = [
            {
                "name": f["field"] or "(keyword search)",
                "href": self.link(page, urls.field_path(f["field"])),
                "rules": _count(f["rules"]),
                "values": _count(f["values"]),
            }
            for f in fields
        ]
        return self._fields.render({**self._chrome(page, "Fields", current=urls.FIELDS_PATH), "fields": rows})

    def render_field(self, detail: FieldDetail) -> str:
        name = detail["field"]
        page = urls.field_path(name)
        values = []
        for v in detail["values"]:
            text, _ = value_view(v["value"])
            values.append(
                {
                    "kind": v["kind"],
                    "value": text,
                    "transforms": v["transforms"],
                    "href": self.link(
                        page,
                        urls.indicator_link_path(name, v["kind"], v["value"], v["transforms"], v["corpus"]),
                    ),
                    "rules": _count(v["rules"]),
                    "corpus": _count(v["corpus"]),
                }
            )
        name_text = name or "keyword search"
        view = {
            **self._chrome(page, f"Field {name_text}", current=urls.FIELDS_PATH),
            "name": name_text,
            "name_text": name_text,
            "api_name": urls.field_segment(name),
            "fields_href": self.link(page, urls.FIELDS_PATH),
            "rules": detail["rules"],
            "excluding": detail["excluding_rules"],
            "distinct": detail["distinct_values"],
            "kinds": [
                {**k, "rules": _count(k["rules"]), "values": _count(k["values"])} for k in detail["kinds"]
            ],
            "values": values,
        }
        return self._field.render(view)

    # -- indicators ----------------------------------------------------------------------------------------

    def _shell(self, depth: int) -> tuple[str, str, str]:
        """The indicator page around its title and body, for pages `depth` directories deep."""
        shell = self._shells.get(depth)
        if shell is None:
            page = "x/" * depth
            html = self._indicator.render(
                {**self._chrome(page, _TITLE_MARK, current=None), "body": Markup(_BODY_MARK)}
            )
            head, _, rest = html.partition(_TITLE_MARK)
            middle, _, tail = rest.partition(_BODY_MARK)
            shell = self._shells[depth] = (head, middle, tail)
        return shell

    def render_indicator(
        self,
        key: tuple[str, str, str, str],
        corpus: Mapping[str, int],
        using: Sequence[IndicatorRule],
        excluding: Sequence[IndicatorRule],
        rule_href: Mapping[str, str] | None = None,
        page: str | None = None,
        shown: str = "",
    ) -> str:
        """One indicator's page. `rule_href`: uid -> link from an indicator page (computed once per build);
        missing ones are computed here. `page`: the key's `urls.indicator_path`, when already known.
        `shown`: the value as the rules spell it (the title shows it; the key is case-folded)."""
        field, kind, value, transforms = key
        transform_list = transforms.split("|") if transforms else []
        if page is None:
            page = urls.indicator_path(field, kind, value, transform_list)
        head, middle, tail = self._shell(page.count("/"))
        up = "../" * page.count("/")
        index = self.renderer.index_file
        field_html = esc(field) if field else "<em>keyword</em>"
        field_href = esc(up + urls.field_path(field) + index)
        text, cls = value_view(shown or value)
        total = sum(corpus.values())
        split = ", ".join(f"{esc(v)} {n}" for v, n in sorted(corpus.items(), key=lambda kv: (-kv[1], kv[0])))

        def rule_items(rules: Sequence[IndicatorRule]) -> str:
            groups: dict[str, list[str]] = {}
            for r in rules:
                uid = r["uid"]
                href = rule_href.get(uid) if rule_href else None
                if href is None:
                    try:
                        href = up + urls.rule_path(uid) + index
                    except ValueError:
                        continue
                note = r["kind"] if r["kind"] not in DETECTION_KINDS else ""
                badges = "".join(
                    f'<span class="badge badge-sm {c}">{esc(t)}</span>'
                    for t, c in (
                        (r["level"], level_class(r["level"])),
                        (r["status"], status_class(r["status"])),
                    )
                    if t
                )
                groups.setdefault(r["vendor"], []).append(
                    f'<li><a href="{esc(href)}">{esc(r["title"] or uid)}</a>'
                    f'<span class="rule-logsource">{esc(note)}</span>'
                    f'<span class="rule-badges">{badges}</span></li>'
                )
            out = []
            for vendor in sorted(groups, key=lambda v: (v != "sigma", v)):
                items = groups[vendor]
                out.append(
                    f'<h3 class="vendor-name">{esc(vendor_name(vendor))} '
                    f'<span class="count">{len(items)}</span></h3><ul class="rule-list">{"".join(items)}</ul>'
                )
            return "".join(out)

        chips = "".join(f' <span class="flag flag-transform">{esc(t)}</span>' for t in transform_list)
        parts = [
            '<header class="card indicator-hero"><nav class="breadcrumb" aria-label="Breadcrumb">'
            f'<a href="{esc(up + urls.FIELDS_PATH + index)}">Fields</a><span class="sep" aria-hidden="true">›'
            f'</span><a href="{field_href}">{field_html}</a><span class="sep" aria-hidden="true">›</span>'
            f'<a href="../{index or "./"}">{esc(kind)}</a></nav>'
            f'<h1 class="indicator-title"><code class="field">{field_html}</code> '
            f'<span class="kind">{esc(kind)}</span> <code class="value {cls}">{esc(text)}</code>{chips}</h1>'
            '<dl class="stats">'
            f'<div class="stat"><dt>Rules looking for it (any kind)</dt><dd>{len(using)}</dd></div>'
            f'<div class="stat"><dt>Corpus count</dt><dd>{total}</dd></div>'
            f'<div class="stat"><dt>Rules excluding it (any kind)</dt><dd>{len(excluding)}</dd></div>'
            "</dl>"
            '<p class="section-lead">The corpus count is the number on rule pages: catalog rules that look '
            "for this field, comparison and value, deprecated and unsupported ones left out"
            f"{' (' + split + ')' if split else ''}. The lists below hold every rule, those included; a rule "
            "page's \u201cexcluded by\u201d leaves them out too.</p></header>"
        ]
        if using:
            parts.append(
                '<section class="card" id="rules"><h2>Rules that look for it</h2>'
                f"{rule_items(using)}</section>"
            )
        if excluding:
            parts.append(
                '<section class="card" id="excluded"><h2>Rules that exclude it</h2>'
                '<p class="section-lead">They rule these events out (the comparison is under a top-level '
                f"<code>not</code>).</p>{rule_items(excluding)}</section>"
            )
        api = f"field={quote(field, safe='')}&kind={quote(kind, safe='')}&value={quote(value, safe='')}"
        parts.append(f'<p class="muted json-twin">JSON: <code>/api/indicators?{esc(api)}</code></p>')
        title = f"{field or 'keyword'} {kind} {text}"
        return f"{head}{esc(title)}{middle}{''.join(parts)}{tail}"

    def render_indicator_list(
        self,
        field: str,
        kind: str,
        groups: Sequence[IndicatorRules],
        rule_href: Mapping[str, str] | None = None,
    ) -> str:
        """Every value of one field and comparison (`urls.indicator_list_path`): shared ones link to their
        page, the others show their rules here (their corpus badges link to this row's anchor).
        `groups`: `store.browse.IndicatorRules` of this field and kind; `rule_href` as for indicator pages
        (they are one level deeper: the links are fixed up here)."""
        page = urls.indicator_list_path(field or None, kind)
        head, middle, tail = self._shell(page.count("/"))
        up = "../" * page.count("/")
        index = self.renderer.index_file
        field_html = esc(field) if field else "<em>keyword</em>"

        def href(uid: str) -> str:
            found = rule_href.get(uid) if rule_href else None
            return found[3:] if found is not None else up + urls.rule_path(uid) + index

        ordered = sorted(groups, key=lambda g: (-sum(g.corpus.values()), -len(g.using), g.key[2], g.key[3]))
        rows = []
        for g in ordered:
            _, _, value, transforms = g.key
            transform_list = transforms.split("|") if transforms else []
            leaf = urls.indicator_anchor(field or None, kind, value, transform_list)
            total = sum(g.corpus.values())
            text, cls = value_view(g.spelling)
            chips = "".join(f' <span class="flag flag-transform">{esc(t)}</span>' for t in transform_list)
            if total >= urls.SHARED_INDICATOR_RULES:
                rules_html = f'<a href="{esc(leaf)}/{index}">{len(g.using)} rules</a>'
            else:
                links = [
                    f'<a href="{esc(href(r["uid"]))}">{esc(r["title"] or r["uid"])}</a>'
                    for r in g.using
                    if "/" in r["uid"]
                ]
                links += [
                    f'<a href="{esc(href(r["uid"]))}">{esc(r["title"] or r["uid"])}</a> <span class="muted">'
                    "(excludes it)</span>"
                    for r in g.excluding
                    if "/" in r["uid"]
                ]
                rules_html = "<br>".join(links)
            rows.append(
                f'<tr id="{esc(leaf)}"><td><code class="value {cls}">{esc(text)}</code>{chips}</td>'
                f'<td>{rules_html}</td><td class="num">{total}</td></tr>'
            )
        n_rules = len({r["uid"] for g in groups for r in g.using})
        body = (
            '<header class="card indicator-hero"><nav class="breadcrumb" aria-label="Breadcrumb">'
            f'<a href="{esc(up + urls.FIELDS_PATH + index)}">Fields</a><span class="sep" aria-hidden="true">›'
            f'</span><a href="{esc(up + urls.field_path(field or None) + index)}">{field_html}</a></nav>'
            f'<h1 class="indicator-title"><code class="field">{field_html}</code> '
            f'<span class="kind">{esc(kind)}</span></h1>'
            f'<p class="section-lead">{len(groups)} value{"s" if len(groups) != 1 else ""} that {n_rules} '
            f"rule{'s' if n_rules != 1 else ''} compare this field against with this comparison, most "
            "shared first. Values several rules share have a page of their own; the corpus column counts "
            "rules as rule pages do (deprecated and unsupported left out).</p></header>"
            '<section class="card" id="values"><div class="data-wrap"><table class="data-table ind-table">'
            '<thead><tr><th scope="col">Value</th><th scope="col">Rules</th><th scope="col" class="num">'
            f"Corpus</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
        )
        title = f"{field or 'keyword'} {kind}"
        return f"{head}{esc(title)}{middle}{body}{tail}"

    # -- API docs ------------------------------------------------------------------------------------------

    def render_api_docs(self, openapi: Mapping[str, Any], examples: Mapping[str, str]) -> str:
        page = urls.API_DOCS_PATH
        routes = []
        for path, item in openapi["paths"].items():
            op = item["get"]
            params = [
                {
                    "name": p["name"],
                    "where": p["in"],
                    "type": p["schema"].get("type", "")
                    + (f" of {p['schema']['items']['type']}" if p["schema"].get("type") == "array" else ""),
                    "required": p.get("required", False),
                    "description": p.get("description", ""),
                }
                for p in op["parameters"]
            ]
            routes.append(
                {
                    "path": path,
                    "anchor": urls.anchor(op["operationId"]),
                    "summary": op["summary"],
                    "description": op.get("description", ""),
                    "params": params,
                    "example": examples.get(path, ""),
                }
            )
        view = {
            **self._chrome(page, "JSON API", current=urls.API_DOCS_PATH),
            "description": openapi["info"]["description"],
            "openapi_version": openapi["openapi"],
            "openapi_href": self.link(page, urls.OPENAPI_PATH),
            "routes": routes,
        }
        return self._api_docs.render(view)
