"""The rule page's "Related rules" section: its equivalence class, broader and stricter alternatives with
the reason in words, and other rules on the same cloud action, from the document's `relations` part
(`store.relations.rule_relations`). Plain dicts of display-ready strings; the template escapes them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypedDict

from ruleatlas.analysis.document import RelationsDoc
from ruleatlas.model import VENDORS
from ruleatlas.web import urls

Link = Callable[[str, str], str]


class ReasonPart(TypedDict):
    text: str
    code: bool  # a quoted comparison, shown as code


class RelatedRuleItem(TypedDict):
    href: str
    uid: str
    title: str
    vendor: str  # the vendor's display name
    reason: list[ReasonPart]


class SameActionGroup(TypedDict):
    label: str
    rules: list[RelatedRuleItem]
    more: int


class ClassLink(TypedDict):
    href: str
    id: str
    others: int


# `class` is a keyword, hence the functional form.
RelationsView = TypedDict(
    "RelationsView",
    {
        "compared": bool,
        "note": str,
        "class": ClassLink | None,
        "broader": list[RelatedRuleItem],
        "broader_more": int,
        "stricter": list[RelatedRuleItem],
        "stricter_more": int,
        "same_action": list[SameActionGroup],
        "classes_href": str,
    },
)


def reason_parts(reason: str) -> list[ReasonPart]:
    """A reason split at backticks: the quoted parts are comparisons, shown as code."""
    return [{"text": part, "code": i % 2 == 1} for i, part in enumerate(reason.split("`")) if part]


def vendor_label(vendor: str) -> str:
    found = VENDORS.get(vendor)
    return found.name if found is not None else vendor


def _rule_item(item: Mapping[str, object], page: str, link: Link) -> RelatedRuleItem | None:
    uid = str(item.get("uid", ""))
    try:
        href = link(page, urls.rule_path(uid))
    except ValueError:
        return None
    return {
        "href": href,
        "uid": uid,
        "title": str(item.get("title") or uid),
        "vendor": vendor_label(str(item.get("vendor", ""))),
        "reason": reason_parts(str(item.get("reason", ""))),
    }


def _items(values: object, page: str, link: Link) -> list[RelatedRuleItem]:
    if not isinstance(values, list):
        return []
    return [x for v in values if isinstance(v, dict) and (x := _rule_item(v, page, link)) is not None]


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def relations_view(relations: RelationsDoc | None, page: str, link: Link) -> RelationsView | None:
    """The section's view, or None when there is nothing to say (a rule not compared, with no action).

    The document comes from a stored catalog, maybe one an older build wrote: each part is checked before
    it is read, so a missing or odd part shows as nothing rather than failing the page."""
    if not relations:
        return None
    same_action: list[SameActionGroup] = []
    for group in relations.get("same_action") or []:
        if not isinstance(group, dict):
            continue
        rules = _items(group.get("rules"), page, link)
        same_action.append(
            {
                "label": f"{group.get('provider', '')} · {group.get('action', '')}",
                "rules": rules,
                "more": max(0, _count(group.get("total")) - len(rules)),
            }
        )
    found: object = relations.get("class")
    klass: ClassLink | None = None
    if isinstance(found, dict):
        try:
            href = link(page, urls.rule_class_path(str(found.get("id", ""))))
        except ValueError:
            href = ""
        if href:
            klass = {"href": href, "id": str(found["id"]), "others": max(0, _count(found.get("size")) - 1)}
    if not relations.get("compared") and not same_action and klass is None:
        return None
    broader = _items(relations.get("broader"), page, link)
    stricter = _items(relations.get("stricter"), page, link)
    return {
        "compared": bool(relations.get("compared")),
        "note": str(relations.get("note") or ""),
        "class": klass,
        "broader": broader,
        "broader_more": max(0, _count(relations.get("broader_total")) - len(broader)),
        "stricter": stricter,
        "stricter_more": max(0, _count(relations.get("stricter_total")) - len(stricter)),
        "same_action": same_action,
        "classes_href": link(page, urls.RULE_CLASSES_PATH),
    }
