"""Display views of the ATT&CK pages: the matrix, technique, tactic and gaps pages.

A view is a plain dict of display-ready strings, numbers and relative links (no markup): the templates
escape everything, and `attack_pages` hashes views to decide which pages changed since the last build.
The data comes from `ruleatlas.analysis.coverage` / `technique_guide`, the same objects the JSON API returns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from markupsafe import Markup

from ruleatlas.analysis.coverage import (
    COVERAGE_TIERS,
    CoverageIndex,
    active,
    coverage_tier,
    data_platforms,
    tactic_ids,
    technique_counts,
)
from ruleatlas.analysis.coverage_matrix import Matrix, MatrixCell, RetiredTag, gaps
from ruleatlas.attack import AttackData
from ruleatlas.model import LEVELS
from ruleatlas.web import urls
from ruleatlas.web.render import level_class, safe_href, status_class, vendor_name

Link = Callable[[str], str]  # site path -> link relative to the page being built

_MD_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)|<code>(.*?)</code>", re.DOTALL)
_ATTACK_TECHNIQUE_URL = re.compile(r"https?://attack\.mitre\.org/techniques/(T\d{4})(?:/(\d{3}))?/?$")
RULES_PER_INDICATOR = 5
# Lists longer than this get static/lists.js: a filter, and this many items per list until "Show all" (the
# same number as in the script).
LIST_LIMIT = 50
LISTS_SCRIPT = "lists.js"


# `class` is a keyword, hence the functional form.
LegendEntry = TypedDict("LegendEntry", {"class": str, "label": str})


class Segment(TypedDict):
    """A piece of a description paragraph: text, a link (`href` with `text`) or code."""

    text: str
    href: str
    code: str


class Crumb(TypedDict):
    label: str
    href: str


class AttackRuleItem(TypedDict):
    uid: str
    title: str
    href: str
    level: str
    level_class: str
    status: str
    status_class: str
    tags: list[str]  # the rule's other techniques
    validated: bool


class VendorGroup(TypedDict):
    vendor: str
    anchor: str
    rules: list[AttackRuleItem]


class Banner(TypedDict):
    title: str
    text: str
    ref_id: str
    ref_name: str
    href: str
    after: str


class TechniqueLink(TypedDict):
    id: str
    name: str
    rules: int
    href: str
    tier: str


class TitledLink(TypedDict):
    title: str
    href: str


class LeftOutGroup(TypedDict):
    reason: str
    rules: list[TitledLink]


class KindCount(TypedDict):
    kind: str
    rules: int


class FieldRow(TypedDict):
    field: str
    href: str
    rules: int
    kinds: list[KindCount]
    samples: list[Any]  # technique_guide's sample values of the field, as it reports them


class IndicatorRow(TypedDict):
    field: str
    kind: str
    value: Any  # a predicate value (model.Scalar) as the guide reports it
    transforms: list[str]
    rules: int
    shown: list[TitledLink]
    more: int


class PositiveRow(IndicatorRow):
    corpus: int
    corpus_split: str
    href: str


class TacticLink(TypedDict):
    id: str
    name: str
    rules: int
    href: str


class RetiredVia(TypedDict):
    id: str
    href: str
    rules: int


class TechniqueEvent(TypedDict):
    provider: str
    provider_name: str
    channel: str
    event_id: int | str
    title: str
    rules: int
    href: str


class TechniqueView(TypedDict):
    id: str
    name: str
    active: bool
    is_subtechnique: bool
    crumbs: list[Crumb]
    banners: list[Banner]
    attack_href: str
    tactics: list[TacticLink]
    platforms: list[str]
    data_components: list[str]
    paragraphs: list[list[Segment]]
    details_version: str
    attack_version: str
    subtechniques: list[TechniqueLink]
    rules_total: int
    rules_own: int
    tier: str
    vendors: list[VendorGroup]
    list_limit: int
    levels: list[str]
    lists_script: str
    via_retired: list[RetiredVia]
    left_out: list[LeftOutGroup]
    left_out_total: int
    events: list[TechniqueEvent]
    fields: list[FieldRow]
    fields_total: int
    indicators: list[PositiveRow]
    indicators_total: int
    exclusions: list[IndicatorRow]
    exclusions_total: int


class CellView(TypedDict):
    id: str
    name: str
    rules: int
    own: int
    n: int  # the cell's number in the page's filter data
    tier: str
    platforms: str  # platform bits, space-separated ("*": any)
    href: str
    subs: list[CellView]


class ColumnView(TypedDict):
    id: str
    name: str
    href: str
    covered: int
    total: int
    cells: list[CellView]


class ReasonCount(TypedDict):
    reason: str
    rules: int


class RetiredView(RetiredTag):
    href: str
    replacement_href: str


class FilterOption(TypedDict):
    value: str
    label: str


class MatrixFilters(TypedDict):
    vendors: list[FilterOption]
    platforms: list[FilterOption]
    levels: list[FilterOption]
    statuses: list[FilterOption]


class _MatrixParts(TypedDict):
    """What the matrix page's kept frame and its view share."""

    attack_version: str
    columns: list[ColumnView]
    legend: list[LegendEntry]
    rules_counted: int
    left_out: list[ReasonCount]
    without_techniques: int
    no_platform: int
    techniques_total: int
    techniques_covered: int
    retired: list[RetiredView]
    gaps_href: str
    coverage_href: str


class MatrixFrame(_MatrixParts):
    """The matrix page's view but its rule filter data (`matrix_frame`): plain JSON values, kept by the
    build so a level or vendor change remakes the page without reading every rule."""

    platforms: list[str]  # the filter's platforms, in bit order
    cells: int  # how many cells the filter data numbers
    script: str


class MatrixView(_MatrixParts):
    filters: MatrixFilters
    data: Markup  # JSON for the page's script
    script: str


class TacticCell(TypedDict):
    id: str
    name: str
    rules: int
    own: int
    tier: str
    href: str
    subs: list[TechniqueLink]


class TacticView(TypedDict):
    id: str
    name: str
    shortname: str
    attack_href: str
    paragraphs: list[list[Segment]]
    techniques: int
    covered: int
    rules: int
    cells: list[TacticCell]
    legend: list[LegendEntry]
    matrix_href: str
    gaps_href: str


class GapItem(TypedDict):
    id: str
    name: str
    href: str
    subs: int  # its sub-techniques that are gaps too


class GapTactic(TypedDict):
    id: str
    name: str
    items: list[GapItem]


class GapSection(TypedDict):
    platform: str
    anchor: str
    gaps: int
    applicable: int
    rules: int
    tactics: list[GapTactic]


class GapsView(TypedDict):
    sections: list[GapSection]
    matrix_href: str
    lists_script: str


def tier_class(count: int) -> str:
    return f"cov-{coverage_tier(count)}"


def legend() -> list[LegendEntry]:
    """The colour legend: one entry per coverage tier."""
    bounds = [0, *COVERAGE_TIERS]
    out: list[LegendEntry] = [{"class": "cov-0", "label": "no rule"}]
    for i in range(1, len(bounds)):
        low = bounds[i]
        high = bounds[i + 1] - 1 if i + 1 < len(bounds) else None
        label = f"{low}+" if high is None else (f"{low}" if low == high else f"{low}–{high}")
        out.append({"class": f"cov-{i}", "label": f"{label} rules"})
    return out


def json_for_script(value: Any) -> Markup:
    """JSON to embed in `<script type="application/json">`: `<`, `>` and `&` escaped as \\u sequences, so
    no text inside can close the element."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def description_paragraphs(text: str, attack: AttackData, link: Link) -> list[list[Segment]]:
    """ATT&CK description text -> paragraphs of segments {"text", "href", "code"}.

    ATT&CK writes Markdown links (`[Proxy](https://attack.mitre.org/techniques/T1090)`) and `<code>` tags;
    links to techniques we have pages for point at those pages, other http(s) links stay external, and
    everything is text to the template (escaped there)."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        segments: list[Segment] = []
        pos = 0
        for m in _MD_LINK.finditer(block):
            if m.start() > pos:
                segments.append({"text": block[pos : m.start()], "href": "", "code": ""})
            if m.group(3) is not None:
                segments.append({"text": "", "href": "", "code": m.group(3)})
            else:
                segments.append(
                    {"text": m.group(1), "href": _description_href(m.group(2), attack, link), "code": ""}
                )
            pos = m.end()
        if pos < len(block):
            segments.append({"text": block[pos:], "href": "", "code": ""})
        if segments:
            paragraphs.append(segments)
    return paragraphs


def _description_href(url: str, attack: AttackData, link: Link) -> str:
    m = _ATTACK_TECHNIQUE_URL.match(url)
    if m:
        tid = m.group(1) + (f".{m.group(2)}" if m.group(2) else "")
        if attack.technique(tid) is not None:
            return link(urls.attack_technique_path(tid))
    return safe_href(url)


# The inputs below are analysis reports (technique_guide.technique_report, coverage_matrix.tactic_report):
# JSON-ready dicts the API returns as they are, read here by key.


def _rule_item(rule: Mapping[str, Any], rule_href: Link, own_ids: Sequence[str] = ()) -> AttackRuleItem:
    href = rule_href(rule["uid"])
    tags = [t for t in rule.get("techniques", ()) if t not in own_ids]
    return {
        "uid": rule["uid"],
        "title": rule["title"] or rule["uid"],
        "href": href,
        "level": rule["level"],
        "level_class": level_class(rule["level"]),
        "status": rule["status"],
        "status_class": status_class(rule["status"]),
        "tags": tags,
        "validated": bool(rule.get("validated")),
    }


def _vendor_groups(
    rules: Sequence[Mapping[str, Any]], link: Link, own_ids: Sequence[str]
) -> list[VendorGroup]:
    groups: dict[str, list[AttackRuleItem]] = {}
    for rule in rules:
        groups.setdefault(rule["vendor"], []).append(_rule_item(rule, link, own_ids))
    return [
        {"vendor": vendor_name(v), "anchor": urls.anchor("rules", v), "rules": items}
        for v, items in sorted(groups.items(), key=lambda kv: (kv[0] != "sigma", vendor_name(kv[0]).lower()))
    ]


def _indicator_href(renderer_flags: Mapping[str, bool], link: Link, item: Mapping[str, Any]) -> str:
    if not renderer_flags.get("indicator_pages"):
        return ""
    # only indicators shared by several rules have a page of their own (urls.indicator_link_path)
    total = item["corpus"]["total"] if isinstance(item.get("corpus"), dict) else 0
    field = item["field"] or None
    return link(
        urls.indicator_link_path(
            field, item["kind"], item.get("key_value", item["value"]), item["transforms"], total
        )
    )


def _field_href(renderer_flags: Mapping[str, bool], link: Link, field: str) -> str:
    return link(urls.field_path(field or None)) if renderer_flags.get("field_pages") else ""


# -- technique page ------------------------------------------------------------------------------------------


def technique_view(
    report: Mapping[str, Any],
    attack: AttackData,
    link: Link,
    titles: Mapping[str, str],
    flags: Mapping[str, bool],
    rule_link: Callable[[str], str] | None = None,
) -> TechniqueView:
    """`report`: technique_guide.technique_report(); `titles`: uid -> rule title for the indicator lists;
    `rule_link`: uid -> href of the rule page from this page (default: through `link`)."""
    tid = report["id"]
    rule_href = rule_link or (lambda uid: _rule_href(link, uid))
    active = not (report["revoked"] or report["deprecated"] or report["moved"])

    def tech_link(attack_id: str) -> str:
        return link(urls.attack_technique_path(attack_id)) if attack.technique(attack_id) else ""

    banners: list[Banner] = []
    replacement = report["replaced_by"]
    version = report["attack_version"]
    if report["moved"]:
        basis = {"name": "by name", "judged": "judged from both names"}.get(report["moved"], "")
        why = f" ({report['move_note']})" if report["move_note"] else ""
        banners.append(
            {
                "title": f"Not in ATT&CK v{version}",
                "text": f"Moved {basis} to"
                if replacement
                else f"No v{version} successor{why}; rules tagging it count under no technique.",
                "ref_id": replacement["id"] if replacement else "",
                "ref_name": replacement["name"] if replacement else "",
                "href": tech_link(replacement["id"]) if replacement else "",
                "after": f"{why}; rules tagging this id count there." if replacement else "",
            }
        )
    elif not active:
        state = "Revoked" if report["revoked"] else "Deprecated"
        if replacement:
            banners.append(
                {
                    "title": f"{state} by ATT&CK",
                    "text": "Replaced by",
                    "ref_id": replacement["id"],
                    "ref_name": replacement["name"],
                    "href": tech_link(replacement["id"]),
                    "after": "; rules tagging this id count there.",
                }
            )
        else:
            banners.append(
                {
                    "title": f"{state} by ATT&CK",
                    "text": "ATT&CK names no replacement; rules tagging it count under no technique.",
                    "ref_id": "",
                    "ref_name": "",
                    "href": "",
                    "after": "",
                }
            )
    parent = report["parent"]
    crumbs: list[Crumb] = [{"label": "ATT&CK", "href": link(urls.ATTACK_PATH)}]
    if report["tactics"]:
        first = report["tactics"][0]
        crumbs.append({"label": first["name"], "href": link(urls.attack_tactic_path(first["id"]))})
    if parent:
        crumbs.append({"label": f"{parent['id']} {parent['name']}".strip(), "href": tech_link(parent["id"])})
    own_ids = [tid]
    subs: list[TechniqueLink] = [
        {
            "id": s["id"],
            "name": s["name"],
            "rules": s["rules"],
            "href": tech_link(s["id"]),
            "tier": tier_class(s["rules"]),
        }
        for s in report["subtechniques"]
    ]
    left_out: list[LeftOutGroup] = [
        {
            "reason": reason,
            "rules": [{"title": titles.get(uid, uid), "href": rule_href(uid)} for uid in uids],
        }
        for reason, uids in report["left_out"].items()
    ]
    fields: list[FieldRow] = [
        {
            "field": f["field"],
            "href": _field_href(flags, link, f["field"]),
            "rules": f["rules"],
            "kinds": [{"kind": k, "rules": n} for k, n in f["kinds"].items()],
            "samples": f["samples"],
        }
        for f in report["fields"]
    ]
    indicators: list[PositiveRow] = [
        {
            "field": item["field"],
            "kind": item["kind"],
            "value": item["value"],
            "transforms": item["transforms"],
            "rules": item["rules"],
            "corpus": item["corpus"]["total"],
            "corpus_split": ", ".join(f"{v} {n}" for v, n in item["corpus"]["by_vendor"].items()),
            "href": _indicator_href(flags, link, item),
            "shown": [
                {"title": titles.get(uid, uid), "href": rule_href(uid)}
                for uid in item["uids"][:RULES_PER_INDICATOR]
            ],
            "more": max(len(item["uids"]) - RULES_PER_INDICATOR, 0),
        }
        for item in report["indicators"]
    ]
    exclusions: list[IndicatorRow] = [
        {
            "field": item["field"],
            "kind": item["kind"],
            "value": item["value"],
            "transforms": item["transforms"],
            "rules": item["rules"],
            "shown": [
                {"title": titles.get(uid, uid), "href": rule_href(uid)}
                for uid in item["uids"][:RULES_PER_INDICATOR]
            ],
            "more": max(len(item["uids"]) - RULES_PER_INDICATOR, 0),
        }
        for item in report["exclusions"]
    ]
    return {
        "id": tid,
        "name": report["name"],
        "active": active,
        "is_subtechnique": report["is_subtechnique"],
        "crumbs": crumbs,
        "banners": banners,
        "attack_href": safe_href(report["url"]) or urls.technique_url(tid),
        "tactics": [
            {
                "id": t["id"],
                "name": t["name"],
                "rules": t["rules"],
                "href": link(urls.attack_tactic_path(t["id"])),
            }
            for t in report["tactics"]
        ],
        "platforms": report["platforms"],
        "data_components": report["data_components"],
        "paragraphs": description_paragraphs(report["description"], attack, link),
        # Where the description comes from: "" when the offline data has none (an id new in `version`).
        "details_version": report["details_version"],
        "attack_version": version,
        "subtechniques": subs,
        "rules_total": report["rules_total"],
        "rules_own": report["rules_own"],
        "tier": tier_class(report["rules_total"]),
        "vendors": _vendor_groups(report["rules"], rule_href, own_ids),
        # Long rule lists (T1059.001: 209 rules) get a filter and show LIST_LIMIT per vendor at first.
        "list_limit": LIST_LIMIT,
        "levels": [lv for lv in LEVELS if any(r["level"] == lv for r in report["rules"])],
        "lists_script": link(urls.STATIC_PATH + LISTS_SCRIPT),
        "via_retired": [
            {"id": v["id"], "href": tech_link(v["id"]), "rules": len(v["rules"])}
            for v in report["via_retired"]
        ],
        "left_out": left_out,
        "left_out_total": sum(len(g["rules"]) for g in left_out),
        "events": [
            {
                "provider": e["provider"],
                "provider_name": e["provider_name"],
                "channel": e["channel"],
                "event_id": e["event_id"],
                "title": e["title"],
                "rules": e["rules"],
                "href": link(urls.telemetry_event_path(e["provider_name"], e["event_id"]))
                if flags.get("telemetry_pages") and e.get("provider_name")
                else "",
            }
            for e in report["events"]
        ],
        "fields": fields,
        "fields_total": report["fields_total"],
        "indicators": indicators,
        "indicators_total": report["indicators_total"],
        "exclusions": exclusions,
        "exclusions_total": report["exclusions_total"],
    }


def _rule_href(link: Link, uid: str) -> str:
    try:
        return link(urls.rule_path(uid))
    except ValueError:
        return ""


# -- matrix page ---------------------------------------------------------------------------------------------


# One counted rule as the matrix page's filters see it: vendor, level, status, platform mask, cell numbers.
MatrixRule = tuple[str, str, str, int, list[int]]


def matrix_view(
    matrix: Matrix,
    index: CoverageIndex,
    link: Link,
    without_techniques: int,
) -> MatrixView:
    """The matrix with its filter data: every counted rule as [vendor, level, status, platform mask, cells],
    so the page recounts every cell in the browser when a filter changes."""
    frame, rules = matrix_frame(matrix, index, link, without_techniques)
    return matrix_page_view(frame, rules)


def matrix_frame(
    matrix: Matrix,
    index: CoverageIndex,
    link: Link,
    without_techniques: int,
) -> tuple[MatrixFrame, dict[str, MatrixRule]]:
    """The matrix view but its rule filter data (plain JSON values: a build keeps it), and each counted
    rule's `MatrixRule`. A change of a rule's level or vendor changes only the second: an incremental build
    makes the page from the kept frame and the rules with that rule's entry replaced."""
    attack = index.attack
    platforms = data_platforms(attack)
    platform_bit = {p: i for i, p in enumerate(platforms)}
    cell_of: dict[tuple[str, str], int] = {}
    columns: list[ColumnView] = []
    for column in matrix.columns:
        cells: list[CellView] = []
        for cell in column.cells:
            number = cell_of[(column.tactic_id, cell.technique_id)] = len(cell_of)
            subs: list[CellView] = []
            for sub in cell.subtechniques:
                cell_of[(column.tactic_id, sub.technique_id)] = len(cell_of)
                subs.append(
                    _cell_view(sub, cell_of[(column.tactic_id, sub.technique_id)], platform_bit, link, [])
                )
            cells.append(_cell_view(cell, number, platform_bit, link, subs))
        columns.append(
            {
                "id": column.tactic_id,
                "name": column.name,
                "href": link(urls.attack_tactic_path(column.tactic_id)),
                "covered": column.covered,
                "total": len(column.cells),
                "cells": cells,
            }
        )
    rule_cells: dict[str, set[int]] = {}
    for tid, per_tactic in index.own.items():
        tech = attack.techniques.get(tid)
        parent = tech.parent if tech is not None and tech.is_subtechnique else ""
        for tactic_id, uids in per_tactic.items():
            targets = [
                c for key in ((tactic_id, tid), (tactic_id, parent)) if (c := cell_of.get(key)) is not None
            ]
            for uid in uids:
                rule_cells.setdefault(uid, set()).update(targets)
    rules: dict[str, MatrixRule] = {}
    for uid in sorted(rule_cells):
        rule = index.rules[uid]
        mask = sum(1 << platform_bit[p] for p in index.platforms.get(uid, ()) if p in platform_bit)
        rules[uid] = (rule.vendor, rule.level, rule.status, mask, sorted(rule_cells[uid]))
    no_platform = sum(1 for uid in rule_cells if not index.platforms.get(uid))
    parents = [t for t in attack.techniques.values() if active(t) and not t.is_subtechnique]
    counts = technique_counts(index)
    frame: MatrixFrame = {
        "attack_version": attack.version,
        "columns": columns,
        "legend": legend(),
        "rules_counted": matrix.rules_counted,
        "left_out": [{"reason": r, "rules": n} for r, n in matrix.left_out.items()],
        "without_techniques": without_techniques,
        "no_platform": no_platform,
        "techniques_total": len(parents),
        "techniques_covered": sum(1 for t in parents if counts.get(t.id)),
        "retired": [
            {
                "id": r["id"],
                "name": r["name"],
                "status": r["status"],
                "note": r["note"],
                "replaced_by": r["replaced_by"],
                "rules": r["rules"],
                "href": link(urls.attack_technique_path(r["id"])) if attack.technique(r["id"]) else "",
                "replacement_href": link(urls.attack_technique_path(r["replaced_by"]))
                if r["replaced_by"]
                else "",
            }
            for r in matrix.retired
        ],
        "gaps_href": link(urls.ATTACK_GAPS_PATH),
        "coverage_href": link(urls.COVERAGE_PATH),
        "platforms": platforms,
        "cells": len(cell_of),
        "script": link(urls.STATIC_PATH + "attack.js"),
    }
    return frame, rules


def matrix_page_view(frame: MatrixFrame, rules: Mapping[str, MatrixRule]) -> MatrixView:
    """The matrix view from `matrix_frame`'s two parts (`rules` in any order: written sorted by uid)."""
    uids = sorted(rules)
    vendors = sorted({rules[u][0] for u in uids})
    statuses = sorted({rules[u][2] for u in uids})
    used_levels = {rules[u][1] for u in uids}
    levels = [lv for lv in LEVELS if lv in used_levels]
    levels += sorted(used_levels - set(levels))
    vendor_at = {v: i for i, v in enumerate(vendors)}
    level_at = {v: i for i, v in enumerate(levels)}
    status_at = {v: i for i, v in enumerate(statuses)}
    rules_data = [
        [vendor_at[vendor], level_at[level], status_at[status], mask, list(cells)]
        for vendor, level, status, mask, cells in (rules[u] for u in uids)
    ]
    return {
        "attack_version": frame["attack_version"],
        "columns": frame["columns"],
        "legend": frame["legend"],
        "rules_counted": frame["rules_counted"],
        "left_out": frame["left_out"],
        "without_techniques": frame["without_techniques"],
        "no_platform": frame["no_platform"],
        "techniques_total": frame["techniques_total"],
        "techniques_covered": frame["techniques_covered"],
        "retired": frame["retired"],
        "gaps_href": frame["gaps_href"],
        "coverage_href": frame["coverage_href"],
        "script": frame["script"],
        "filters": {
            "vendors": [{"value": str(i), "label": vendor_name(v)} for i, v in enumerate(vendors)],
            "platforms": [{"value": str(i), "label": p} for i, p in enumerate(frame["platforms"])],
            "levels": [{"value": str(i), "label": lv or "(none)"} for i, lv in enumerate(levels)],
            "statuses": [{"value": str(i), "label": s or "(none)"} for i, s in enumerate(statuses)],
        },
        "data": json_for_script(
            {"cells": frame["cells"], "tiers": list(COVERAGE_TIERS), "rules": rules_data}
        ),
    }


def _cell_view(
    cell: MatrixCell, number: int, platform_bit: Mapping[str, int], link: Link, subs: list[CellView]
) -> CellView:
    return {
        "id": cell.technique_id,
        "name": cell.name,
        "rules": cell.rules,
        "own": cell.own,
        "n": number,
        "tier": tier_class(cell.rules),
        # "*": no platform in the offline data (new in v19): every platform filter keeps the cell
        "platforms": " ".join(str(platform_bit[p]) for p in cell.platforms if p in platform_bit)
        if cell.platforms
        else "*",
        "href": link(urls.attack_technique_path(cell.technique_id)),
        "subs": subs,
    }


# -- tactic page ---------------------------------------------------------------------------------------------


def tactic_view(report: Mapping[str, Any], attack: AttackData, link: Link) -> TacticView:
    """`report`: coverage.tactic_report()."""
    cells: list[TacticCell] = []
    for cell in report["cells"]:
        cells.append(
            {
                "id": cell["id"],
                "name": cell["name"],
                "rules": cell["rules"],
                "own": cell["own"],
                "tier": tier_class(cell["rules"]),
                "href": link(urls.attack_technique_path(cell["id"])),
                "subs": [
                    {
                        "id": s["id"],
                        "name": s["name"],
                        "rules": s["rules"],
                        "tier": tier_class(s["rules"]),
                        "href": link(urls.attack_technique_path(s["id"])),
                    }
                    for s in cell["subtechniques"]
                ],
            }
        )
    return {
        "id": report["id"],
        "name": report["name"],
        "shortname": report["shortname"],
        "attack_href": safe_href(report["url"]) or urls.tactic_url(report["id"]),
        "paragraphs": description_paragraphs(report["description"], attack, link),
        "techniques": report["techniques"],
        "covered": report["covered"],
        "rules": report["rules"],
        "cells": cells,
        "legend": legend(),
        "matrix_href": link(urls.ATTACK_PATH),
        "gaps_href": link(urls.ATTACK_GAPS_PATH),
    }


# -- gaps page -----------------------------------------------------------------------------------------------


def gaps_view(indexes: Mapping[str, CoverageIndex], link: Link) -> GapsView:
    """`indexes`: "" (all platforms) and each platform -> the coverage index filtered to it."""
    sections: list[GapSection] = []
    for platform, index in indexes.items():
        attack = index.attack
        found = gaps(index)
        gap_ids = {g.technique_id for g in found}
        by_tactic: list[GapTactic] = []
        for tactic in attack.tactics:
            items: list[GapItem] = []
            for g in found:
                tech = attack.techniques[g.technique_id]
                if tactic.id not in g.tactics:
                    continue
                if (
                    tech.is_subtechnique
                    and tech.parent in gap_ids
                    and tactic.id in tactic_ids(attack.techniques[tech.parent], attack)
                ):
                    continue  # shown with its parent
                subs = [s for s in index.subtechniques(g.technique_id) if s in gap_ids]
                items.append(
                    {
                        "id": g.technique_id,
                        "name": g.name,
                        "href": link(urls.attack_technique_path(g.technique_id)),
                        "subs": len(subs),
                    }
                )
            if items:
                by_tactic.append({"id": tactic.id, "name": tactic.name, "items": items})
        counts = technique_counts(index)
        applicable = [t for t in counts if attack.techniques[t].applies_to(platform)]
        sections.append(
            {
                "platform": platform or "All platforms",
                "anchor": urls.anchor("gaps", platform or "all"),
                "gaps": len(found),
                "applicable": len(applicable),
                "rules": len(index.counted_uids()),
                "tactics": by_tactic,
            }
        )
    return {
        "sections": sections,
        "matrix_href": link(urls.ATTACK_PATH),
        "lists_script": link(urls.STATIC_PATH + LISTS_SCRIPT),
    }
