"""The rule page's "Related rules", "Fires on samples" and "Deploy as" sections, from the document's
`related_links`, `fires_on` and `deploy` (store/deploy.py attaches them; docs/page-document.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from ruleatlas.analysis.document import DeployDoc
from ruleatlas.web import urls

SHOWN_RECORDS = 20  # record numbers listed per sample before "and N more"
DEPLOY_SCRIPT = urls.STATIC_PATH + "deploy.js"
DEPLOY_STYLESHEET = urls.STATIC_PATH + "deploy.css"

# (section id, heading): the sections this module adds to a rule page, in page order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("related", "Related rules"),
    ("fires", "Fires on samples"),
    ("deploy", "Deploy as"),
)
_GROUPS = (("out", "This rule"), ("in", "Rules that name this one"), ("sibling", "Other log sources"))


class RelatedItem(TypedDict):
    phrase: str
    title: str
    uid: str
    id: str
    type: str
    href: str
    dangling: bool  # an id no rule of the catalog carries
    incoming: bool


class RelatedGroup(TypedDict):
    direction: str
    heading: str
    items: list[RelatedItem]


class FiresSample(TypedDict):
    name: str
    records: str  # "records 3, 7 and 12 more"


class FiresView(TypedDict):
    samples: list[FiresSample]
    summary: str
    validated: bool


class SectionFlags(TypedDict):
    related: bool
    fires: bool
    deploy: bool


class SectionCounts(TypedDict):
    related: int
    fires: int
    deploy: int


class LinksView(TypedDict):
    related_groups: list[RelatedGroup]
    fires: FiresView | None
    deploy: list[DeployDoc]
    deploy_script: str
    deploy_stylesheet: str
    relations_has: SectionFlags
    relations_counts: SectionCounts


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _rule_href(page: str, uid: str, link: Callable[[str, str], str]) -> str:
    try:
        return link(page, urls.rule_path(uid))
    except ValueError:  # not a uid a page can have: shown unlinked
        return ""


# The document is read as stored JSON (render.py's rule view: each part checked before use).


def related_groups(doc: Mapping[str, Any], page: str, link: Callable[[str, str], str]) -> list[RelatedGroup]:
    """The links grouped as the page shows them: this rule's own, those naming it, siblings."""
    links = [x for x in doc.get("related_links") or [] if isinstance(x, Mapping)]
    groups: list[RelatedGroup] = []
    for direction, heading in _GROUPS:
        items: list[RelatedItem] = []
        for x in links:
            if x.get("direction") != direction:
                continue
            uid = _text(x.get("uid"))
            items.append(
                {
                    "phrase": _text(x.get("phrase")),
                    "title": _text(x.get("title")) or uid,
                    "uid": uid,
                    "id": _text(x.get("id")),
                    "type": _text(x.get("type")),
                    "href": _rule_href(page, uid, link) if uid else "",
                    "dangling": not uid,
                    "incoming": direction == "in",
                }
            )
        if items:
            groups.append({"direction": direction, "heading": heading, "items": items})
    return groups


def records_text(records: list[int]) -> str:
    shown = ", ".join(str(r) for r in records[:SHOWN_RECORDS])
    more = len(records) - SHOWN_RECORDS
    label = "record" if len(records) == 1 else "records"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def fires_view(doc: Mapping[str, Any]) -> FiresView | None:
    """None when the rule was not run over samples (not Sigma, a correlation, no samples in the build)."""
    fires = doc.get("fires_on")
    if not isinstance(fires, Mapping):
        return None
    samples: list[FiresSample] = [
        {"name": _text(s.get("name")), "records": records_text([int(r) for r in s.get("records") or []])}
        for s in fires.get("samples") or []
        if isinstance(s, Mapping)
    ]
    n = len(samples)
    checked = int(fires.get("samples_checked") or 0)
    summary = (
        f"Seen firing on {n} sample{'s' if n != 1 else ''}" if n else "No sample fires it"
    ) + f" (of {checked} sample files run through RuleAtlas's engine at build time)."
    return {"samples": samples, "summary": summary, "validated": n > 0}


def deploy_view(doc: Mapping[str, Any]) -> list[DeployDoc]:
    return [
        {
            "target": _text(c.get("target")),
            "label": _text(c.get("label")),
            "pipeline": _text(c.get("pipeline")),
            "query": _text(c.get("query")),
            "error": _text(c.get("error")),
        }
        for c in doc.get("deploy") or []
        if isinstance(c, Mapping)
    ]


def relations_view(doc: Mapping[str, Any], page: str, link: Callable[[str, str], str]) -> LinksView:
    """What rule.html's relation sections need; `counts` and `has` feed the page's table of contents."""
    related = related_groups(doc, page, link)
    fires = fires_view(doc)
    deploy = deploy_view(doc)
    return {
        "related_groups": related,
        "fires": fires,
        "deploy": deploy,
        "deploy_script": link(page, DEPLOY_SCRIPT) if deploy else "",
        "deploy_stylesheet": link(page, DEPLOY_STYLESHEET) if deploy else "",
        "relations_has": {"related": bool(related), "fires": fires is not None, "deploy": bool(deploy)},
        "relations_counts": {
            "related": sum(len(g["items"]) for g in related),
            "fires": len(fires["samples"]) if fires else 0,
            "deploy": len(deploy),
        },
    }
