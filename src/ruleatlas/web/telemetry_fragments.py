"""HTML for the rows the telemetry pages repeat: event rows, field rows, example values, indicators, rules.

Why not in the templates: a build writes thousands of telemetry pages, and Jinja loops and macros were most
of their cost (as for the rule pages' predicates, web/fragments.py). Each row here is one f-string, and
every value from the data goes through `esc()`, so the output is safe in element content and in quoted
attributes alike. The templates insert the result as Markup and keep the layout of everything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from ruleatlas.model import LEVELS
from ruleatlas.web.fragments import esc
from ruleatlas.web.render import STATUSES
from ruleatlas.web.telemetry_views import (
    EventField,
    EventIndicator,
    EventRow,
    FieldBrief,
    OtherField,
    SampleEnum,
    VendorSplit,
)

Link = Callable[[str], str]
_ZERO = Markup('<span class="tel-zero">0</span>')


def rules_html(split: VendorSplit) -> Markup:
    """A rule count with its split by vendor (shown unless it is all Sigma)."""
    total = split["total"]
    if not total:
        return _ZERO
    by_vendor = split["by_vendor"]
    html = f'<span class="tel-num">{total:,}</span>'
    if len(by_vendor) > 1 or (by_vendor and next(iter(by_vendor)) != "sigma"):
        parts = ", ".join(f"{esc(v)} {n}" for v, n in by_vendor.items())
        html += f' <span class="tel-split">({parts})</span>'
    return Markup(html)


def crumbs_html(trail: list[tuple[str, str]], link: Link, page: str) -> Markup:
    parts = []
    for label, path in trail:
        if path and path != page:
            parts.append(f'<a href="{esc(link(path))}">{esc(label)}</a>')
        else:
            parts.append(f"<span>{esc(label)}</span>")
    sep = '<span class="sep" aria-hidden="true">›</span>'
    return Markup(f'<nav class="breadcrumb" aria-label="Breadcrumb">{sep.join(parts)}</nav>')


def _code_link(name: str, path: str, link: Link, css: str = "field") -> str:
    if path:
        return f'<a class="{css}" href="{esc(link(path))}"><code>{esc(name)}</code></a>'
    return f"<code>{esc(name)}</code>"


def event_rows_html(rows: list[EventRow], link: Link) -> Markup:
    """A provider's event table (Shell-Core has 2,380 rows)."""
    out = []
    for e in rows:
        key = esc(str(e["id"]))
        if e["path"]:
            event = f'<a class="tel-id" href="{esc(link(e["path"]))}">{key}</a>'
        else:
            event = f'<span class="tel-id">{key}</span>'
        title = esc(e["title"]) if e["title"] else '<span class="muted">not in the definitions</span>'
        if e["message"] or e["fields"]:
            title += _definition_html(e["message"], e["fields"])
        if e["sample"]:
            sample = f'<span class="tel-yes">yes</span> <span class="tel-split">{e["sample"]:,}</span>'
        else:
            sample = '<span class="tel-zero">no</span>'
        out.append(
            f'<tr id="e-{key}"><td data-label="Event">{event}</td>'
            f'<td class="name" data-label="Title">{title}</td>'
            f'<td class="name" data-label="Channel">{esc(e["channel"])}</td>'
            f'<td data-label="Sample">{sample}</td>'
            f'<td class="num" data-label="Rules">{rules_html(e["rules"])}</td></tr>'
        )
    return Markup("\n".join(out))


def _definition_html(message: str, fields: list[FieldBrief]) -> str:
    """An event without a page of its own: its definition, folded into its provider's table row."""
    parts = []
    if fields:
        items = "".join(
            f"<li><code>{esc(f['name'])}</code>"
            + (f' <span class="tel-split">{esc(f["type"])}</span>' if f["type"] else "")
            + (f" {esc(f['description'])}" if f["description"] else "")
            + "</li>"
            for f in fields
        )
        parts.append(f'<ul class="tel-deflist">{items}</ul>')
    if message:
        parts.append(f'<pre class="tel-message">{esc(message)}</pre>')
    what = f"{len(fields)} fields" if fields else ""
    what = ", ".join(w for w in (what, "message template" if message else "") if w)
    return f'<details class="tel-more"><summary>Definition: {what}</summary>{"".join(parts)}</details>'


def field_rows_html(fields: list[EventField], link: Link) -> Markup:
    out = []
    for f in fields:
        names = ""
        if f["rule_name_paths"]:
            shown = ", ".join(
                f'<a href="{esc(link(p))}">{esc(n)}</a>' if p else esc(n) for n, p in f["rule_name_paths"]
            )
            names = f'<div class="tel-desc">rules call it {shown}</div>'
        example = f'<div class="tel-desc">e.g. <code>{esc(f["example"])}</code></div>' if f["example"] else ""
        out.append(
            f'<tr><td class="name" data-label="Field">{_code_link(f["name"], f["path"], link)}{names}</td>'
            f'<td data-label="Type">{esc(f["type"])}</td>'
            f'<td data-label="Description">{markdown_inline(f["description"])}{example}</td>'
            f'<td class="num" data-label="Rules">{rules_html(f["rules"])}</td></tr>'
        )
    return Markup("\n".join(out))


def other_field_rows_html(fields: list[OtherField], link: Link) -> Markup:
    out = []
    for f in fields:
        kind = "system" if f["system"] else "not in the definition"
        out.append(
            f'<tr><td class="name" data-label="Field">{_code_link(f["name"], f["path"], link)}</td>'
            f'<td data-label="Kind">{kind}</td>'
            f'<td class="num" data-label="Rules">{rules_html(f["rules"])}</td></tr>'
        )
    return Markup("\n".join(out))


def example_rows_html(example: Sequence[tuple[str, str]]) -> Markup:
    return Markup(
        "\n".join(
            f'<tr><td data-label="Field"><code>{esc(k)}</code></td>'
            f'<td class="value" data-label="Value"><code>{esc(v)}</code></td></tr>'
            for k, v in example
        )
    )


def enums_html(enums: list[SampleEnum]) -> Markup:
    out = []
    for e in enums:
        values = "".join(
            f'<span class="chip chip-sm"><code>{esc(v)}</code>&nbsp;{n:,}</span>' for v, n in e["values"]
        )
        out.append(f"<div><dt>{esc(e['field'])}</dt><dd>{values}</dd></div>")
    return Markup("\n".join(out))


def indicator_rows_html(indicators: list[EventIndicator], link: Link, linked: bool) -> Markup:
    out = []
    for i in indicators:
        joined = esc("|".join(i["transforms"]))
        transforms = f' <span class="tel-split">{joined}</span>' if joined else ""
        value = f"<code>{esc(i['value'])}</code>"
        if linked and i["path"]:
            value = f'<a href="{esc(link(i["path"]))}">{value}</a>'
        vendors = ", ".join(f"{esc(v)} {n:,}" for v, n in i["by_vendor"].items())
        out.append(
            f'<tr><td data-label="Field"><code>{esc(i["field"] or "(keyword)")}</code></td>'
            f'<td data-label="Kind">{esc(i["kind"])}{transforms}</td>'
            f'<td class="value" data-label="Value">{value}</td>'
            f'<td class="num" data-label="Rules"><span class="tel-num">{i["rules"]:,}</span></td>'
            f'<td data-label="Vendors"><span class="tel-split">{vendors}</span></td></tr>'
        )
    return Markup("\n".join(out))


def rule_list_html(rules: Sequence[Mapping[str, Any]], link: Link, shown: int = 0) -> Markup:
    """Rules as a list; with `shown`, the ones after the first `shown` are folded away.

    The items are any of the views' rule items (`RuleItem`, `UncoveredRuleItem`, the collection pages' rules):
    `uid` and `path` always, the badges and notes when the item has them."""
    if shown and len(rules) > shown + 10:
        rest = len(rules) - shown
        return Markup(
            rule_list_html(rules[:shown], link)
            + f'<details class="tel-more"><summary>Show {rest:,} more</summary>'
            + rule_list_html(rules[shown:], link)
            + "</details>"
        )
    out = []
    for r in rules:
        title = esc(r.get("title") or r["uid"])
        item = f'<a href="{esc(link(r["path"]))}">{title}</a>' if r.get("path") else title
        level, status, kind = r.get("level", ""), r.get("status", ""), r.get("kind", "")
        if level:
            css = f"level-{level}" if level in LEVELS else "level-other"
            item += f' <span class="badge badge-sm {css}">{esc(level)}</span>'
        if status:
            css = f"status-{status}" if status in STATUSES else "status-other"
            item += f' <span class="badge badge-sm {css}">{esc(status)}</span>'
        if kind and kind != "detection":
            item += f' <span class="chip chip-sm">{esc(kind)}</span>'
        if r.get("logsource"):
            item += f' <span class="rule-logsource">{esc(r["logsource"])}</span>'
        if r.get("reason"):
            item += f'<span class="tel-reason">{esc(r["reason"])}</span>'
        out.append(f"<li>{item}</li>")
    return Markup('<ul class="tel-rules">' + "\n".join(out) + "</ul>")


_MD_CODE = re.compile(r"`([^`\n]+)`")
_MD_STRONG = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_MD_EM = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")


def markdown_inline(text: str) -> Markup:
    """The inline Markdown of the definitions' descriptions (OSSEM writes `**Note:**`, `code`, links) as
    HTML: escaped first, so only these few constructs become tags; block syntax stays text."""
    out = str(esc(text))
    out = _MD_CODE.sub(r"<code>\1</code>", out)
    out = _MD_LINK.sub(r'<a href="\2" rel="noopener">\1</a>', out)
    out = _MD_STRONG.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", out)
    out = _MD_EM.sub(r"<em>\1</em>", out)
    return Markup(out)
