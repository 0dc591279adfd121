"""HTML for the rows a rule page repeats dozens of times: predicates and indicator groups.

Why not in the templates: a Sigma rule page has about 12 predicates and 12 indicators, and as Jinja loops
they took half the page time (each `{{ }}` is an attribute lookup, a markupsafe call and a Markup object),
which put the build under its budget of 2,000 pages/s. Here each row is one f-string, and every value
from the document goes through `esc()` (the same five characters markupsafe escapes), so the output is safe
in element content and in quoted attributes alike. The templates insert the result as Markup and keep the
layout of everything else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from markupsafe import Markup

from ruleatlas.model import scalar_text

IndicatorLink = Callable[[str, str, Any, list[str], int], str]
FieldLink = Callable[[str], str]


def esc(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if '"' in text:
        text = text.replace('"', "&#34;")
    if "'" in text:
        text = text.replace("'", "&#39;")
    return text


def text_of(value: object) -> str:
    if type(value) is str:
        return value
    return "" if value is None else str(value)


def value_view(value: object) -> tuple[str, str]:
    """A predicate or indicator value for display: (text, CSS class saying what type it is)."""
    if value is None:
        return "null", "v-null"
    if isinstance(value, bool):
        return ("true" if value else "false"), "v-bool"
    if isinstance(value, int | float):
        return scalar_text(value), "v-num"
    text = str(value)
    return text, ("v-str" if text else "v-empty")


def corpus_view(corpus: object) -> tuple[int, str, str]:
    """(total, "(sigma 40, elastic 3)", tier class) for a corpus badge."""
    if not isinstance(corpus, dict):
        return 0, "", "c-1"
    total = corpus.get("total")
    total = total if isinstance(total, int) and not isinstance(total, bool) else 0
    by_vendor = corpus.get("by_vendor")
    split = ""
    if type(by_vendor) is dict and len(by_vendor) == 1:
        ((vendor, n),) = by_vendor.items()
        split = f"({vendor} {n})" if isinstance(n, int) else ""
    elif isinstance(by_vendor, dict) and by_vendor:
        pairs = [(str(v), n) for v, n in by_vendor.items() if isinstance(n, int)]
        if len(pairs) > 1:
            pairs.sort(key=lambda item: (-item[1], item[0]))
        split = "(" + ", ".join(f"{v} {n}" for v, n in pairs) + ")" if pairs else ""
    if total <= 1:
        tier = "c-1"
    elif total < 10:
        tier = "c-few"
    elif total < 50:
        tier = "c-some"
    else:
        tier = "c-many"
    return total, split, tier


def _strings(value: object) -> list[str]:
    if not value or not isinstance(value, list | tuple):
        return []
    return [text_of(v) for v in value]


def _field_code(field: str) -> str:
    return (
        f'<code class="field">{esc(field)}</code>' if field else '<code class="field"><em>keyword</em></code>'
    )


def _flags(pred: Mapping[str, object], negated: bool) -> str:
    flags = []
    if pred.get("cased"):
        flags.append('<span class="flag">cased</span>')
    flags.extend(
        f'<span class="flag flag-transform">{esc(t)}</span>' for t in _strings(pred.get("transforms"))
    )
    if pred.get("regex_flags"):
        flags.append(f'<span class="flag">flags {esc(text_of(pred.get("regex_flags")))}</span>')
    if negated:
        flags.append('<span class="flag flag-negated">negated</span>')
    if pred.get("scope"):
        flags.append('<span class="flag" title="selects the data source: not an indicator">scope</span>')
    return f'<span class="flags">{"".join(flags)}</span>' if flags else ""


def kind_text(item: Mapping[str, object]) -> str:
    """A comparison's name as pages show it: a list membership reads "member of" (the list is the value)."""
    return "member of" if item.get("membership") else text_of(item.get("kind"))


def predicate_list(predicates: Iterable[object]) -> Markup:
    """A stage's predicates: field, kind, value and flags (cased, transforms, regex flags, negated)."""
    rows = []
    for pred in predicates:
        if type(pred) is not dict:
            continue
        value = pred.get("value")
        text, cls = (value, "v-str" if value else "v-empty") if type(value) is str else value_view(value)
        negated = bool(pred.get("negated"))
        has_flags = (
            negated
            or pred.get("cased")
            or pred.get("transforms")
            or pred.get("regex_flags")
            or pred.get("scope")
        )
        native = text_of(pred.get("native"))
        field = text_of(pred.get("field"))
        field_text = esc(field) if field else "<em>keyword</em>"
        title = f' title="{esc(native)}"' if native else ""
        row_class = "pred pred-negated" if negated else "pred"
        rows.append(
            f'<li class="{row_class}"><code class="field"{title}>{field_text}</code>'
            f'<span class="kind">{esc(kind_text(pred))}</span>'
            f'<code class="value {cls}">{esc(text)}</code>{_flags(pred, negated) if has_flags else ""}</li>'
        )
    return Markup(f'<ul class="preds">{"".join(rows)}</ul>') if rows else Markup("")


def indicator_groups(
    items: Iterable[object],
    indicator_link: IndicatorLink | None = None,
    field_link: FieldLink | None = None,
    exclusions: bool = False,
) -> tuple[Markup, int]:
    """Indicators grouped by (field, kind), groups and values in document order (the seed page's layout),
    each value with its corpus badge; returns the HTML and the number of values shown.

    `indicator_link(field, kind, key, transforms, corpus_total)` / `field_link(field)` give hrefs when those
    pages exist. `exclusions`: the items are exclusions, whose `corpus` counts the rules excluding the same
    key (labelled so) and `looked_for` the rules looking for it.
    """
    label = "excluded by" if exclusions else "corpus"
    groups: dict[tuple[str, str], list[str]] = {}
    count = 0
    for item in items:
        if type(item) is not dict:
            continue
        field = text_of(item.get("field"))
        kind = text_of(item.get("kind"))
        shown_kind = kind_text(item)
        transforms = _strings(item.get("transforms"))
        value = item.get("value")
        text, cls = (value, "v-str" if value else "v-empty") if type(value) is str else value_view(value)
        total, split, tier = corpus_view(item.get("corpus"))
        badge_text = (
            f'{label} <strong>{total}</strong> <span class="split">{esc(split)}</span>'
            if split
            else (f"{label} <strong>{total}</strong>")
        )
        # An indicator has a page of its own by how many rules look for it: for an exclusion that is its
        # `looked_for` count, not the "excluded by" one shown.
        looked_for = corpus_view(item.get("looked_for"))[0] if "looked_for" in item else total
        if indicator_link is not None:
            href = indicator_link(field, kind, item.get("key", value), transforms, looked_for)
            badge = f'<a class="corpus {tier}" href="{esc(href)}">{badge_text}</a>'
        else:
            badge = f'<span class="corpus {tier}">{badge_text}</span>'
        chips = (
            "".join([f'<span class="flag flag-transform">{esc(t)}</span>' for t in transforms])
            if transforms
            else ""
        )
        if exclusions and "looked_for" in item:
            badge += f'<span class="looked-for muted">looked for by <strong>{looked_for}</strong></span>'
        row = f'<li><code class="value {cls}">{esc(text)}</code>{chips}{badge}{_native(item, field)}</li>'
        group = groups.get((field, shown_kind))
        if group is None:
            groups[(field, shown_kind)] = [row]
        else:
            group.append(row)
        count += 1
    out = []
    for (field, kind), rows in groups.items():
        if field_link is not None:
            shown = esc(field) if field else "<em>keyword</em>"
            field_html = f'<a class="field" href="{esc(field_link(field))}"><code>{shown}</code></a>'
        else:
            field_html = _field_code(field)
        out.append(
            f'<div class="ind-group"><div class="ind-head">{field_html}'
            f'<span class="kind">{esc(kind)}</span></div>'
            f'<ul class="ind-values">{"".join(rows)}</ul></div>'
        )
    return (Markup(f'<div class="ind-groups">{"".join(out)}</div>') if out else Markup("")), count


def _native(item: Mapping[str, object], field: str) -> str:
    """The rule's own comparison when the canonical one differs (another field name, a name field made a path,
    a regex made a plain comparison): pages show both."""
    native_field = text_of(item.get("native_field"))
    native_kind = text_of(item.get("native_kind"))
    implied = bool(item.get("implied"))
    if "native_field" not in item or (
        not implied
        and native_field == field
        and native_kind == text_of(item.get("kind"))
        and item.get("native_value") == item.get("value")
    ):
        return ""
    native = (
        text_of(item.get("native")) or f"{native_field} {native_kind} {text_of(item.get('native_value'))}"
    )
    how = text_of(item.get("mapping"))
    title = f' title="{esc(how)}"' if how else ""
    # A narrower native comparison counted under the one it implies says so: it is not the same comparison.
    said = "implied by" if implied else "from"
    return f'<span class="native"{title}>{said} <code>{esc(native)}</code></span>'


def toc(sections: Iterable[tuple[str, str, int | None]]) -> Markup:
    """The "On this page" list: (id, title, count) per section."""
    items = []
    for sid, title, count in sections:
        badge = f' <span class="count">{count}</span>' if count else ""
        items.append(f'<li><a href="#{esc(sid)}">{esc(title)}{badge}</a></li>')
    return Markup(f"<ol>{''.join(items)}</ol>")
