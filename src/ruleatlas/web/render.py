"""HTML pages from page documents (docs/page-document.md): the rule page, the home listing, the 404 page.

The renderer turns a document into a small view (plain dicts of display-ready strings and links) and hands
it to a Jinja2 template with autoescape on; the templates hold layout only. Links go through
`ruleatlas.web.urls` and are relative, so the same HTML is what `serve` serves and what a static host or a
file:// path shows. Nothing here reads the store or re-parses rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast
from urllib.parse import urlsplit

import markupsafe
from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from ruleatlas.analysis.document import RelationsDoc
from ruleatlas.model import LEVELS, VENDORS
from ruleatlas.output import atomic
from ruleatlas.web import urls
from ruleatlas.web.fragments import FieldLink, IndicatorLink, esc, indicator_groups, predicate_list, toc
from ruleatlas.web.highlight import highlight_yaml, line_count, plain_lines
from ruleatlas.web.relations_view import SECTIONS as LINK_SECTIONS
from ruleatlas.web.relations_view import LinksView
from ruleatlas.web.relations_view import relations_view as links_view
from ruleatlas.web.relations_views import RelationsView, relations_view

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
STYLESHEET = urls.STATIC_PATH + "style.css"
ICON = urls.STATIC_PATH + "icon.svg"

# Site-wide navigation: (label, site path). Later issues add Search and the browse pages here; only pages
# that exist are listed.
NAV_ITEMS: tuple[tuple[str, str], ...] = (
    ("Rules", urls.RULES_PATH),
    ("Search", urls.SEARCH_PATH),
    ("ATT&CK", urls.ATTACK_PATH),
    ("Fields", urls.FIELDS_PATH),
    ("API", urls.API_DOCS_PATH),
    ("Telemetry", urls.TELEMETRY_PATH),
    ("Readiness", urls.READINESS_PATH),
)

# How pages name each vendor label: the model's vendor table (one vocabulary for every layer).
VENDOR_NAMES = {label: vendor.name for label, vendor in VENDORS.items()}
# Documents are JSON objects: shape checks use `dict`, not `Mapping` (an ABC check costs 10x more, and
# there are hundreds per page). Values that become CSS classes come from these sets only; anything else is
# "other" (never raw text in an attribute).
STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
LEVEL_RANK = {level: rank for rank, level in enumerate(reversed(LEVELS))}

# Rule page sections after the header, in page order (the seed page's, then ours), with their label in the
# "On this page" list. Shown when `always` or when the document has something for them.
SECTIONS: tuple[tuple[str, str, bool], ...] = (
    ("description", "Description", True),
    ("references", "References", False),
    ("falsepositives", "False positives", False),
    ("attack", "ATT&CK coverage", True),
    ("events", "Event coverage", True),
    ("body", "Rule body", True),
    ("stages", "Stages and predicates", True),
    ("indicators", "Indicators", True),
    ("exclusions", "Exclusions", False),
    ("relations", "Alternatives and equivalents", False),
    ("correlation", "Correlation", False),
    ("filter", "Filter", False),
    *((sid, heading, False) for sid, heading in LINK_SECTIONS),
    ("problems", "Problems", False),
)
# The order the seed page (reference/seed-rule-page.txt) shows its parts in; tests compare with it.
SEED_ORDER = (
    "breadcrumb",
    "title",
    "status",
    "level",
    "logsource",
    "author",
    "source",
    "description",
    "attack",
    "events",
    "body",
    "stages",
    "indicators",
)

KIND_BANNERS = {
    "deprecated": (
        "warn",
        "Deprecated rule",
        "Kept for reference only: it is not maintained and its indicators are left out of corpus counts.",
    ),
    "unsupported": (
        "warn",
        "Unsupported rule",
        "It uses constructs current Sigma tooling does not support; its indicators are left out of "
        "corpus counts.",
    ),
    "hunting": (
        "info",
        "Threat-hunting query",
        "Meant as a starting point for hunting, not for alerting: it is searchable, but left out of the "
        "detection browse and the ATT&CK matrix.",
    ),
    "enrichment": (
        "info",
        "Enrichment or lookup",
        "It feeds other rules (a lookup, a saved query, a data model) and alerts on nothing itself: it is "
        "searchable, but left out of the detection browse and the ATT&CK matrix.",
    ),
    "alert_feed": (
        "info",
        "Third-party alert feed",
        "It passes on another product's alerts (an EDR's, a threat-intel match) rather than detecting "
        "anything itself: it is searchable, but left out of the detection browse and the ATT&CK matrix.",
    ),
    "building_block": (
        "info",
        "Building block",
        "Not an alert on its own: other rules build on its matches.",
    ),
    "correlation": (
        "info",
        "Correlation rule",
        "It matches on the results of other rules over time; see Correlation below.",
    ),
    "filter": (
        "info",
        "Filter",
        "It removes matches from other rules (see Filter below) and alerts on nothing itself: it is "
        "searchable, but left out of the detection browse and the ATT&CK matrix.",
    ),
}
CONDITION_OPERATORS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "=", "neq": "≠"}


class _ViewEnvironment(Environment):
    """Jinja looks `x.name` up as an attribute first and as a key only after an AttributeError; the views
    here are plain dicts, so try the key first (a third of the page time went to those exceptions)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _fast_escape(value: Any) -> str:
    """What markupsafe.escape does for template output (same five characters, same entities; Markup and
    `__html__` objects pass through), returning a plain str instead of building a Markup object."""
    if type(value) is not str:
        html = getattr(value, "__html__", None)
        if html is not None:
            return str(html())
        value = str(value)
    return esc(value)


def _use_fast_escape(template: Template) -> None:
    """Jinja's compiled templates call the module-level name `escape` (markupsafe's) for every `{{ }}`;
    its Markup objects were a fifth of the page time. The output is only joined into a string, so a plain
    escaped str does the same job. If a Jinja version names it differently, markupsafe's stays: slower,
    equally safe."""
    namespace = template.root_render_func.__globals__
    if namespace.get("escape") is markupsafe.escape:
        namespace["escape"] = _fast_escape


def templates_fingerprint() -> str:
    """A hash of everything that shapes a page besides its document: templates, static files and the web
    modules' code. The build stores it in each page key, so a change here re-renders every page."""
    digest = hashlib.sha256()
    files = [
        *sorted(TEMPLATES_DIR.glob("*.html")),
        *sorted(STATIC_DIR.iterdir()),
        *sorted(WEB_DIR.glob("*.py")),
    ]
    for path in files:
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# Languages whose bodies are YAML (the highlighter's language); any other body is shown as plain text.
YAML_LANGUAGES = frozenset({"sigma", "yaml", "panther-yaml", "mql"})


def _body_html(body: str, language: str) -> Markup:
    """The rule body verbatim, numbered (`L<n>` anchors), highlighted where it is YAML."""
    if not body:
        return Markup("")
    return highlight_yaml(body, "L") if language in YAML_LANGUAGES else plain_lines(body, "L")


def vendor_name(vendor: str) -> str:
    return VENDOR_NAMES.get(vendor, vendor.replace("_", " ").title() if vendor else "Unknown")


def safe_href(url: object) -> str:
    """The URL when it is an absolute http(s) URL, else "": `javascript:` and friends never become links."""
    if not isinstance(url, str):
        return ""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


def level_class(level: object) -> str:
    return f"level-{level}" if level in LEVELS else "level-other"


def status_class(status: object) -> str:
    return f"status-{status}" if status in STATUSES else "status-other"


class NavItem(TypedDict):
    label: str
    href: str
    current: bool


class Chrome(TypedDict):
    """What base.html needs of every page."""

    page_title: str
    home: str
    stylesheet: str
    icon: str
    nav: list[NavItem]
    catalog_css: NotRequired[str]  # the catalog pages' own stylesheet


class StatCard(TypedDict):
    label: str
    value: str
    parts: list[str]  # a mapping's breakdown ("Sigma 3,754"), else empty


class Banner(TypedDict):
    tone: str
    title: str
    text: str
    href: str


class TechniqueView(TypedDict):
    id: str
    name: str
    href: str
    external: bool  # a link to attack.mitre.org, not to our page
    note: str


class TacticView(TypedDict):
    name: str
    tagged_as: list[str]
    id: str
    href: str
    external: bool
    techniques: list[TechniqueView]


class AttackView(TypedDict):
    tactics: list[TacticView]
    unknown: list[str]


class EventView(TypedDict):
    provider: str
    provider_name: str
    channel: str
    event_id: str
    event_label: str
    title: str
    href: str


class BridgedView(TypedDict):
    label: str
    title: str
    href: str
    via: str
    bridge: str
    text: str
    scanned: str  # "yes", "no" or "" (not known)
    renames: list[str]


class LineRef(TypedDict):
    n: int
    href: str  # "" when the line is past the body shown


class StageView(TypedDict):
    index: str
    label: str
    op: str
    line: LineRef | None
    html: Markup
    predicates: Markup


class AliasView(TypedDict):
    alias: str
    fields: list[str]


class CorrelationView(TypedDict):
    type: str
    rules: list[str]
    group_by: list[str]
    timespan: str
    condition: str
    aliases: list[AliasView]
    generate: bool


class ProblemView(TypedDict):
    message: str
    line: LineRef | None
    hint: str
    severity: str
    severity_class: str


class FactView(TypedDict):
    label: str
    value: str


class LinkView(TypedDict):
    text: str
    href: str


class SourceView(TypedDict):
    label: str
    href: str
    path: str
    commit: str


class RuleView(Chrome, LinksView):
    """What rule.html renders: display-ready strings, links relative to the page, escaped HTML parts."""

    uid: str
    title: str
    vendor: str
    vendor_href: str
    folder: str
    folder_href: str
    kind: str
    banners: list[Banner]
    facts: list[FactView]
    logic_parsed: bool
    output_fields: list[str]
    status: str
    status_class: str
    level: str
    level_class: str
    logsource: str
    author: str
    source: SourceView
    date: str
    modified: str
    rule_id: str
    tags: list[str]
    description: str
    summary: str
    references: list[LinkView]
    falsepositives: list[str]
    attack: AttackView
    events: list[EventView]
    bridged_events: list[BridgedView]
    events_note: str
    body_html: Markup
    body_lines: int
    language: str
    stages: list[StageView]
    indicators: Markup
    exclusions: Markup
    correlation: CorrelationView | None
    filter_rules: list[str]
    filter_shown: bool
    problems: list[ProblemView]
    relations: RelationsView | None
    toc: Markup


class ListedRule(TypedDict):
    title: str
    html: Markup  # the whole <li>, escaped


class FolderView(TypedDict):
    name: str
    anchor: str
    rules: list[ListedRule]


class VendorListView(TypedDict):
    name: str
    anchor: str
    count: int
    folders: list[FolderView]


class IndexView(Chrome):
    """What index.html renders: every rule by vendor and folder."""

    vendors: list[VendorListView]
    stats: list[StatCard]
    total: int
    skipped: int


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _stat_figure(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else _text(value)


def _stat_card(label: object, value: object) -> StatCard:
    """One card of the home page's figures; a mapping (`per_vendor`) becomes a card with a breakdown."""
    name = str(label).replace("_", " ").strip().capitalize()
    if name.startswith("Per "):
        name = "By " + name[4:]
    if isinstance(value, dict):
        parts = [
            f"{vendor_name(str(k)) if 'vendor' in str(label) else k} {_stat_figure(v)}"
            for k, v in value.items()
        ]
        return {"label": name, "value": "", "parts": parts}
    return {"label": name, "value": _stat_figure(value), "parts": []}


def _repo_label(repo: str) -> str:
    parts = urlsplit(repo) if "://" in repo else None
    label = parts.netloc + parts.path if parts and parts.netloc else repo
    label = label.rstrip("/")
    return label.removesuffix(".git")


class SiteRenderer:
    """Renders the site's pages. Templates load once, at construction.

    `indicator_pages` / `field_pages`: link corpus badges and field names to their pages (the next issue
    writes them; until then the badges are not links, so the site has no dead links).
    `index_file`: the file a directory link names ("index.html" works from file://; "" gives pretty URLs).
    """

    def __init__(
        self,
        *,
        indicator_pages: bool = False,
        field_pages: bool = False,
        telemetry_pages: bool = False,
        attack_pages: bool = False,
        index_file: str = "index.html",
    ) -> None:
        self.indicator_pages = indicator_pages
        self.field_pages = field_pages
        self.telemetry_pages = telemetry_pages  # link events to their pages (web/telemetry_pages.py)
        self.attack_pages = attack_pages  # link techniques and tactics to their pages (web/attack_pages.py)
        self.index_file = index_file
        self._chromes: dict[tuple[int, str, str | None], Chrome] = {}
        self.env = _ViewEnvironment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            # Compiled templates kept on disk (Jinja's own private temp folder, keyed by each template's
            # source): a build makes several renderers, and an incremental build is short.
            bytecode_cache=FileSystemBytecodeCache(),
        )
        self._rule: Template = self.env.get_template("rule.html")
        self._index: Template = self.env.get_template("index.html")
        self._not_found: Template = self.env.get_template("not_found.html")
        for name in ("base.html", "rule.html", "index.html", "not_found.html"):
            _use_fast_escape(self.env.get_template(name))

    # -- links ---------------------------------------------------------------------------------------------

    def link(self, from_path: str, to_path: str) -> str:
        return urls.relative(from_path, to_path, self.index_file)

    def _chrome(self, page: str, title: str, current: str | None = None) -> Chrome:
        """What base.html needs: links to home, the stylesheet and the nav, relative to `page`.

        Every target is at most one folder deep, so a link to it depends only on how deep `page` is and on
        its first folder: worked out once per (depth, first folder, current) and shared (the nav list is
        never changed by a page)."""
        key = (page.count("/"), page.split("/", 1)[0], current)
        found = self._chromes.get(key)
        if found is None:
            found = self._chromes[key] = {
                "page_title": "",
                "home": self.link(page, urls.HOME_PATH),
                "stylesheet": self.link(page, STYLESHEET),
                "icon": self.link(page, ICON),
                "nav": [
                    {"label": label, "href": self.link(page, path), "current": path == current}
                    for label, path in NAV_ITEMS
                ],
            }
        chrome: Chrome = {**found, "page_title": title}
        return chrome

    # -- rule page -----------------------------------------------------------------------------------------

    def render_rule_page(self, doc: Mapping[str, Any]) -> str:
        uid = _text(doc.get("uid"))
        try:
            page = urls.rule_path(uid)
        except ValueError:
            page = "rules/_/_/"  # links still resolve from a page at the usual depth
        view = self._rule_view(doc, page)
        return self._rule.render(view)

    def _rule_view(self, doc: Mapping[str, Any], page: str) -> RuleView:
        # `doc` is a RuleDocument (analysis/document.py) as a stored catalog holds it, possibly one an older
        # build wrote: every part is read with a check, so an odd or missing part shows as nothing.
        title = _text(doc.get("title")) or _text(doc.get("name")) or _text(doc.get("uid")) or "Untitled rule"
        vendor = _text(doc.get("vendor"))
        folder = _text(doc.get("folder"))
        kind = _text(doc.get("kind"))
        status = _text(doc.get("status"))
        level = _text(doc.get("level"))
        body = _text(doc.get("body"))
        language = _text(doc.get("language")) or "yaml"
        body_lines = line_count(body)
        listing = self.link(page, urls.ALL_RULES_PATH)  # every rule by vendor and folder, with anchors
        problems = self._problems(doc, body_lines)
        stages = self._stages(doc, body_lines)
        indicator_link, field_link = self._row_links(page)
        indicators, n_indicators = indicator_groups(_list(doc.get("indicators")), indicator_link, field_link)
        exclusions, n_exclusions = indicator_groups(
            _list(doc.get("exclusions")), indicator_link, field_link, exclusions=True
        )
        attack = self._attack(doc, page)
        events = [self._event(e, page) for e in _list(doc.get("events")) if isinstance(e, dict)]
        bridged = [self._bridged(b, page) for b in _list(doc.get("bridged_events")) if isinstance(b, dict)]
        correlation = self._correlation(doc.get("correlation"))
        filter_rules = [_text(r) for r in _list(_dict(doc.get("filter")).get("rules"))]
        found = doc.get("relations")  # stored JSON: its shape is the document's once it is a dict
        shown = cast(RelationsDoc, found) if isinstance(found, dict) else None
        relations = relations_view(shown, page, self.link)
        links = links_view(doc, page, self.link)
        flags = links["relations_has"]
        has: dict[str, bool] = {
            "related": flags["related"],
            "fires": flags["fires"],
            "deploy": flags["deploy"],
            "references": bool(_list(doc.get("references"))),
            "falsepositives": bool(_list(doc.get("falsepositives"))),
            "exclusions": n_exclusions > 0,
            "correlation": correlation is not None,
            "filter": isinstance(doc.get("filter"), dict),
            "problems": bool(problems),
            "relations": relations is not None,
        }
        counts: dict[str, int] = {
            "references": len(_list(doc.get("references"))),
            "falsepositives": len(_list(doc.get("falsepositives"))),
            "attack": sum(len(t["techniques"]) for t in attack["tactics"]),
            "events": len(events),
            "stages": len(stages),
            "indicators": n_indicators,
            "exclusions": n_exclusions,
            "problems": len(problems),
        }
        link_counts = links["relations_counts"]
        counts |= {
            "related": link_counts["related"],
            "fires": link_counts["fires"],
            "deploy": link_counts["deploy"],
        }
        sections = [
            (sid, heading, counts.get(sid))
            for sid, heading, always in SECTIONS
            if always or has.get(sid, False)
        ]
        source = _dict(doc.get("source"))
        repo = _text(source.get("repo"))
        commit = _text(source.get("commit"))
        authors = _text(doc.get("author")) or ", ".join(_text(a) for a in _list(doc.get("authors")))
        return {
            **self._chrome(page, title),
            "uid": _text(doc.get("uid")),
            "title": title,
            "vendor": vendor_name(vendor),
            "vendor_href": f"{listing}#{urls.anchor(vendor)}",
            "folder": folder,
            "folder_href": f"{listing}#{urls.anchor(vendor, folder)}" if folder else "",
            "kind": kind,
            "banners": self._banners(kind, status, problems, language, doc.get("logic_parsed") is False),
            "facts": [
                {"label": _text(f[0]), "value": _text(f[1])}
                for f in _list(doc.get("facts"))
                if isinstance(f, list | tuple) and len(f) == 2 and _text(f[1])
            ],
            "logic_parsed": doc.get("logic_parsed") is not False,
            "output_fields": [_text(f) for f in _list(doc.get("output_fields"))],
            "status": status,
            "status_class": status_class(status),
            "level": level,
            "level_class": level_class(level),
            "logsource": _text(doc.get("logsource_text")),
            "author": authors,
            "source": {
                "label": _repo_label(repo) if repo else _text(source.get("path")),
                "href": safe_href(source.get("url")) or safe_href(repo),
                "path": _text(source.get("path")),
                "commit": commit[:10],
            },
            "date": _text(doc.get("date")),
            "modified": _text(doc.get("modified")),
            "rule_id": _text(doc.get("id")),
            "tags": [_text(t) for t in _list(doc.get("tags"))],
            "description": _text(doc.get("description")),
            "summary": " ".join(_text(doc.get("description")).split())[:200],
            "references": [{"text": _text(r), "href": safe_href(r)} for r in _list(doc.get("references"))],
            "falsepositives": [_text(f) for f in _list(doc.get("falsepositives"))],
            "attack": attack,
            "events": events,
            "bridged_events": bridged,
            "events_note": _text(doc.get("events_note")),
            "body_html": _body_html(body, language),
            "body_lines": body_lines,
            "language": language,
            "stages": stages,
            "indicators": indicators,
            "exclusions": exclusions,
            "correlation": correlation,
            "filter_rules": filter_rules,
            "filter_shown": has["filter"],
            "problems": problems,
            "relations": relations,
            "toc": toc(sections),
            **links,
        }

    @staticmethod
    def _banners(
        kind: str, status: str, problems: list[ProblemView], language: str, unparsed: bool
    ) -> list[Banner]:
        banners: list[Banner] = []
        shown = kind if kind in KIND_BANNERS else status if status in ("deprecated", "unsupported") else ""
        if shown:
            tone, title, text = KIND_BANNERS[shown]
            banners.append({"tone": tone, "title": title, "text": text, "href": ""})
        if unparsed:
            banners.append(
                {
                    "tone": "info",
                    "title": "Logic not parsed yet",
                    "text": f"RuleAtlas does not parse {language or 'this language'} into stages and "
                    "predicates yet: the rule body below is the whole logic, and it has no indicators or "
                    "corpus counts.",
                    "href": "",
                }
            )
        errors = sum(1 for p in problems if p["severity"] == "error")
        if errors:
            noun = "problem" if errors == 1 else "problems"
            banners.append(
                {
                    "tone": "danger",
                    "title": f"{errors} {noun} reading this rule",
                    "text": "Parts of this page may be incomplete.",
                    "href": "#problems",
                }
            )
        return banners

    def _attack(self, doc: Mapping[str, Any], page: str) -> AttackView:
        """Tactics and techniques, linked to our ATT&CK pages when the site has them and the ATT&CK data
        knows the technique (it then has a name), else to attack.mitre.org."""
        tactics: list[TacticView] = []
        for tactic in _list(doc.get("attack")):
            if not isinstance(tactic, dict):
                continue
            tactic_id = _text(tactic.get("tactic_id"))
            tactic_href = self._attack_href(page, tactic_id, True, urls.attack_tactic_path, urls.tactic_url)
            techniques: list[TechniqueView] = []
            for tech in _list(tactic.get("techniques")):
                if not isinstance(tech, dict):
                    continue
                tid = _text(tech.get("id"))
                name = _text(tech.get("name"))
                own, mitre = urls.attack_technique_path, urls.technique_url
                href = self._attack_href(page, tid, bool(name), own, mitre)
                external = href.startswith("https:")
                techniques.append(
                    {
                        "id": tid,
                        "name": name,
                        "href": href,
                        "external": external,
                        "note": _text(tech.get("note")),
                    }
                )
            tactics.append(
                {
                    "name": _text(tactic.get("tactic")) or "No tactic",
                    "tagged_as": [_text(t) for t in _list(tactic.get("tagged_as"))],
                    "id": tactic_id,
                    "href": tactic_href,
                    "external": tactic_href.startswith("https:"),
                    "techniques": techniques,
                }
            )
        return {"tactics": tactics, "unknown": [_text(t) for t in _list(doc.get("attack_unknown"))]}

    def _attack_href(
        self, page: str, attack_id: str, known: bool, own: Callable[[str], str], mitre: Callable[[str], str]
    ) -> str:
        try:
            if self.attack_pages and known:
                return self.link(page, own(attack_id))
            return mitre(attack_id)
        except ValueError:  # not an ATT&CK id
            return ""

    def _event(self, event: Mapping[str, Any], page: str) -> EventView:
        event_id = event.get("event_id")
        provider_name = _text(event.get("provider_name"))
        channel = _text(event.get("channel"))
        href = ""
        numeric = isinstance(event_id, int) and not isinstance(event_id, bool)
        key = event_id if isinstance(event_id, int | str) and not isinstance(event_id, bool) else None
        if self.telemetry_pages and key is not None and (provider_name or channel):
            href = self.link(page, urls.telemetry_event_path(provider_name or channel, key))
        return {
            "provider": _text(event.get("provider")) or provider_name,
            "provider_name": provider_name,
            "channel": channel,
            "event_id": "" if event_id is None else _text(event_id),
            "event_label": f"Event ID {event_id}" if numeric else _text(event_id),
            "title": _text(event.get("title")),
            "href": href,
        }

    def _bridged(self, bridged: Mapping[str, Any], page: str) -> BridgedView:
        """An event that serves the rule through an event bridge (telemetry/bridged.py), with the page's
        sentence for it and its link."""
        provider = _text(bridged.get("provider"))
        key = bridged.get("event_key")
        href = ""
        if self.telemetry_pages and provider and isinstance(key, str) and key:
            href = self.link(page, urls.telemetry_event_path(provider, int(key) if key.isdigit() else key))
        via = _dict(bridged.get("via"))
        scanned = bridged.get("scanned")
        return {
            "label": _text(bridged.get("label")),
            "title": _text(bridged.get("title")),
            "href": href,
            "via": _text(via.get("label")),
            "bridge": _text(bridged.get("bridge")).replace("_", " "),
            "text": _text(bridged.get("text")),
            "scanned": "yes" if scanned is True else "no" if scanned is False else "",
            "renames": [
                f"{_text(pair[0])} → {_text(pair[1])}"
                for pair in _list(bridged.get("renames"))
                if isinstance(pair, list | tuple) and len(pair) == 2
            ],
        }

    @staticmethod
    def _line_ref(line: object, body_lines: int) -> LineRef | None:
        if isinstance(line, int) and not isinstance(line, bool) and line > 0:
            return {"n": line, "href": f"#L{line}" if line <= body_lines else ""}
        return None

    def _row_links(self, page: str) -> tuple[IndicatorLink | None, FieldLink | None]:
        indicator_link: IndicatorLink | None = None
        field_link: FieldLink | None = None
        if self.indicator_pages:

            def indicator_link(field: str, kind: str, key: Any, transforms: list[str], total: int) -> str:
                return self.link(page, urls.indicator_link_path(field, kind, key, transforms, total))

        if self.field_pages:

            def field_link(field: str) -> str:
                return self.link(page, urls.field_path(field))

        return indicator_link, field_link

    def _stages(self, doc: Mapping[str, Any], body_lines: int) -> list[StageView]:
        stages: list[StageView] = []
        for stage in _list(doc.get("stages")):
            if not isinstance(stage, dict):
                continue
            text = _text(stage.get("text"))
            stages.append(
                {
                    "index": _text(stage.get("index")),
                    "label": _text(stage.get("label")),
                    "op": _text(stage.get("op")),
                    "line": self._line_ref(stage.get("line"), body_lines),
                    "html": highlight_yaml(text) if text else Markup(""),
                    "predicates": predicate_list(_list(stage.get("predicates"))),
                }
            )
        return stages

    @staticmethod
    def _correlation(corr: object) -> CorrelationView | None:
        if not isinstance(corr, dict):
            return None
        comparisons: list[str] = []
        others: list[str] = []
        for key, value in _dict(corr.get("condition")).items():
            shown = ", ".join(_text(v) for v in value) if isinstance(value, list) else _text(value)
            if key in CONDITION_OPERATORS:
                comparisons.append(f"{CONDITION_OPERATORS[key]} {shown}")
            else:
                others.append(f"{key}: {shown}")
        condition = " and ".join(comparisons)
        if others:
            condition = f"{condition} ({', '.join(others)})" if condition else ", ".join(others)
        aliases: list[AliasView] = []
        for alias, mapping in _dict(corr.get("aliases")).items():
            pairs = [f"{_text(rule)}: {_text(field)}" for rule, field in _dict(mapping).items()]
            aliases.append({"alias": _text(alias), "fields": pairs})
        return {
            "type": _text(corr.get("type")),
            "rules": [_text(r) for r in _list(corr.get("rules"))],
            "group_by": [_text(g) for g in _list(corr.get("group_by"))],
            "timespan": _text(corr.get("timespan")),
            "condition": condition,
            "aliases": aliases,
            "generate": bool(corr.get("generate")),
        }

    def _problems(self, doc: Mapping[str, Any], body_lines: int) -> list[ProblemView]:
        problems: list[ProblemView] = []
        for problem in _list(doc.get("problems")):
            if not isinstance(problem, dict):
                continue
            severity = _text(problem.get("severity")) or "error"
            problems.append(
                {
                    "message": _text(problem.get("message")),
                    "line": self._line_ref(problem.get("line"), body_lines),
                    "hint": _text(problem.get("hint")),
                    "severity": severity,
                    "severity_class": f"sev-{severity}"
                    if severity in ("error", "warning", "info")
                    else "sev-other",
                }
            )
        return problems

    # -- home ----------------------------------------------------------------------------------------------

    def render_index(
        self,
        summaries: Sequence[Mapping[str, object]],
        stats: Mapping[str, object],
        page: str = urls.HOME_PATH,
    ) -> str:
        """Every rule, grouped by vendor and folder, titles sorted (the site writes it at `page`:
        `urls.ALL_RULES_PATH`; the home page is `web.pages.CatalogPages.render_home`).

        `summaries`: one dict per rule with `uid`, `title`, `level`, `status`, `vendor`, `folder`; optional
        `product`, `category`, `service` (shown as the log source). `stats`: figures shown as cards, in the
        given order (label -> int, text, or a mapping such as `per_vendor`); empty is fine.
        """
        by_vendor: dict[str, dict[str, list[ListedRule]]] = {}
        skipped = 0
        for summary in summaries:
            uid = _text(summary.get("uid"))
            try:
                path = urls.rule_path(uid)
            except ValueError:
                skipped += 1  # no page can exist for it; counted on the page, not dropped silently
                continue
            vendor = _text(summary.get("vendor")) or uid.partition("/")[0]
            folder = _text(summary.get("folder")) or "(no folder)"
            status = _text(summary.get("status"))
            level = _text(summary.get("level"))
            title = _text(summary.get("title")) or uid
            logsource = " · ".join(
                t for t in (_text(summary.get(k)) for k in ("product", "category", "service")) if t
            )
            # One f-string per row (escaped as the template would): thousands of rows through Jinja's
            # loop cost a third of a second per build.
            badges = "".join(
                f'<span class="badge badge-sm {cls}">{esc(text)}</span>'
                for text, cls in ((level, level_class(level)), (status, status_class(status)))
                if text
            )
            html = (
                f'<li><a href="{esc(self.link(page, path))}">{esc(title)}</a><span class="rule-logsource">'
                f'{esc(logsource)}</span><span class="rule-badges">{badges}</span></li>'
            )
            by_vendor.setdefault(vendor, {}).setdefault(folder, []).append(
                {"title": title, "html": Markup(html)}
            )
        vendors: list[VendorListView] = []
        for vendor in sorted(by_vendor, key=lambda v: (v != "sigma", vendor_name(v).lower())):
            folders: list[FolderView] = []
            for folder in sorted(by_vendor[vendor]):
                rules = sorted(by_vendor[vendor][folder], key=lambda r: r["title"].casefold())
                folders.append({"name": folder, "anchor": urls.anchor(vendor, folder), "rules": rules})
            vendors.append(
                {
                    "name": vendor_name(vendor),
                    "anchor": urls.anchor(vendor),
                    "count": sum(len(f["rules"]) for f in folders),
                    "folders": folders,
                }
            )
        stat_cards = [_stat_card(label, value) for label, value in stats.items()]
        view: IndexView = {
            **self._chrome(page, "Detection rules", current=page),
            "vendors": vendors,
            "stats": stat_cards,
            "total": sum(v["count"] for v in vendors),
            "skipped": skipped,
        }
        return self._index.render(view)

    # -- 404 -----------------------------------------------------------------------------------------------

    def render_not_found(self, request_path: str = "/") -> str:
        """The 404 page for a request path as the browser sent it (its links are relative to that URL)."""
        depth = max(request_path.split("?", 1)[0].count("/") - 1, 0)
        prefix = "../" * depth
        view: Chrome = {
            "page_title": "Page not found",
            "home": prefix + (self.index_file or "./"),
            "stylesheet": prefix + STYLESHEET,
            "icon": prefix + ICON,
            "nav": [
                {"label": label, "href": prefix + (path or self.index_file or "./"), "current": False}
                for label, path in NAV_ITEMS
            ],
        }
        return self._not_found.render(view)

    # -- files ---------------------------------------------------------------------------------------------

    @staticmethod
    def write_static(site_dir: Path) -> list[Path]:
        """Copy the stylesheet and icons into `site_dir`/static/; returns the files written."""
        target = site_dir / urls.STATIC_PATH
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for source in sorted(STATIC_DIR.iterdir()):
            if source.is_file() and not source.name.startswith("."):
                atomic.copy_file(source, target / source.name)
                written.append(target / source.name)
        return written

    @staticmethod
    def write_page(site_dir: Path, path: str, html: str) -> Path:
        """Write `html` as the page of site path `path` (e.g. `rules/sigma/x/` -> .../index.html)."""
        target = site_dir.joinpath(*urls.page_file(path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(target, html)
        return target
