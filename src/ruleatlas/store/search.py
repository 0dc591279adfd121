"""Search: full text over the `rule_search` FTS5 table (catalog.py fills it), plus filters in the same box.

A query is words and filters: `mimikatz lsass level:high technique:T1003 field:CommandLine`.

- Words match titles, descriptions, tags, references, authors, field names and indicator values, all of
  them (AND); each word is an FTS5 phrase, so punctuation never becomes query syntax (`C:\\Windows`,
  `-enc`, `"`), and the last word also matches as a prefix unless the query ends with a space (results as
  you type). Ranking is bm25 with the title weighted most, then tags, fields and values, then the
  description; matched words come back highlighted (`<mark>`, the rest HTML-escaped).
- Filters: `field:` (a field the rule's predicates use, any case), `value:` (a substring of one of its
  indicator values, any case), `technique:` (the id or a sub-technique of it), `tactic:` (id, short name or
  name), `logsource:` (category, service or product), `vendor:`, `level:`, `status:`, `kind:`, `product:`.
  Values may be quoted (`field:"Some Field"`). The same filter given twice means either value (OR); different
  filters all apply (AND). An unknown `name:` is searched as text (`C:\\...`, `http://...`).
- Deprecated and unsupported rules only when asked for (`retired`, or `status:`/`kind:` naming them).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ruleatlas.store.browse import RETIRED, resolve_tactics
from ruleatlas.store.catalog import Catalog

FILTERS = (
    "field",
    "value",
    "technique",
    "tactic",
    "logsource",
    "vendor",
    "level",
    "status",
    "kind",
    "product",
)
# bm25 weights, in rule_search's column order: title, description, tags, refs, authors, fields, vals.
WEIGHTS = (10.0, 2.0, 4.0, 1.0, 1.0, 3.0, 3.0)
MAX_WORDS = 12
MAX_PER_PAGE = 100
MARK_START, MARK_END = "\x01", "\x02"
SNIPPET_TOKENS = 24

_TOKEN = re.compile(r'(\w+):"([^"]*)"?|(\w+):(\S*)|"([^"]*)"?|(\S+)')
_WORD_CHARS = re.compile(r"\w", re.UNICODE)


class SearchError(ValueError):
    """A query the index cannot run (the message says why, for a 400 answer)."""


@dataclass(slots=True)
class ParsedQuery:
    words: list[str] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    prefix: bool = True  # the last word is still being typed

    def to_json(self) -> dict[str, Any]:
        return {"words": self.words, "filters": self.filters}


def parse_query(text: str) -> ParsedQuery:
    query = ParsedQuery(prefix=bool(text) and not text[-1].isspace() and not text.endswith('"'))
    for m in _TOKEN.finditer(text):
        name = (m.group(1) or m.group(3) or "").lower()
        value = m.group(2) if m.group(1) else m.group(4)
        if name in FILTERS and value is not None:
            value = value.strip()
            if value:
                query.filters.setdefault(name, [])
                if value not in query.filters[name]:
                    query.filters[name].append(value)
            continue
        word = (
            m.group(0) if m.group(1) or m.group(3) else (m.group(5) if m.group(5) is not None else m.group(6))
        )
        if word and _WORD_CHARS.search(word):
            query.words.append(word)
    if len(query.words) > MAX_WORDS:
        raise SearchError(f"too many words: at most {MAX_WORDS}")
    return query


def fts_expression(words: list[str], prefix: bool) -> str:
    """Each word as an FTS5 phrase ("" inside doubled); the last one as a prefix when still being typed."""
    phrases = ['"' + w.replace('"', '""') + '"' for w in words]
    if prefix and phrases and _WORD_CHARS.search(words[-1][-1]):
        phrases[-1] += "*"
    return " ".join(phrases)


def _filter_sql(catalog: Catalog, filters: dict[str, list[str]], retired: bool) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []

    def any_of(template: str, values: list[str]) -> None:
        clauses.append("(" + " OR ".join([template] * len(values)) + ")")
        for v in values:
            params.extend([v] * template.count("?"))

    for name, values in filters.items():
        if name in ("vendor", "level", "status", "kind", "product"):
            any_of(f"lower(r.{name}) = lower(?)", values)
        elif name == "logsource":
            any_of(
                "(lower(r.category) = lower(?) OR lower(r.service) = lower(?) "
                "OR lower(r.product) = lower(?))",
                values,
            )
        elif name == "technique":
            # T1059 also selects T1059.001...: ids between "T1059." and "T1059/" ("/" follows "." in ASCII)
            any_of(
                "r.uid IN (SELECT uid FROM rule_techniques WHERE technique_id = ? "
                "OR (technique_id >= ? || '.' AND technique_id < ? || '/'))",
                [v.upper() for v in values],
            )
        elif name == "tactic":
            tactic_ids = list(resolve_tactics(catalog, values))
            clauses.append(
                "r.uid IN (SELECT uid FROM rule_techniques WHERE tactic_id IN ("
                + ", ".join("?" * len(tactic_ids))
                + "))"
            )
            params.extend(tactic_ids)
        elif name == "field":
            any_of("r.uid IN (SELECT uid FROM indicators WHERE field = ? COLLATE NOCASE)", values)
        elif name == "value":
            escaped = [v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in values]
            any_of(
                "r.uid IN (SELECT uid FROM indicators WHERE value LIKE '%' || ? || '%' ESCAPE '\\')", escaped
            )
    asks_retired = any(v.lower() in RETIRED for name in ("status", "kind") for v in filters.get(name, []))
    if not (retired or asks_retired):
        clauses.append(
            "r.kind NOT IN ('deprecated', 'unsupported') AND r.status NOT IN ('deprecated', 'unsupported')"
        )
    return (" AND ".join(clauses), params)


def marked_html(text: str | None) -> str:
    """FTS5 highlight output (matches between MARK_START and MARK_END) as escaped HTML with <mark>."""
    if not text:
        return ""
    out = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )
    return out.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def search(
    catalog: Catalog, text: str, page: int = 1, per_page: int = 20, retired: bool = False
) -> dict[str, Any]:
    """The `/api/search` answer: the parsed query, the total, and one page of ranked results."""
    query = parse_query(text)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    where, params = _filter_sql(catalog, query.filters, retired)
    offset = (page - 1) * per_page
    if not query.words and not query.filters:
        return _answer(query, text, 0, page, per_page, [])
    columns = "r.uid, r.title, r.vendor, r.level, r.status, r.kind, r.product, r.category, r.service"
    if query.words:
        match = fts_expression(query.words, query.prefix)
        weights = ", ".join(str(w) for w in WEIGHTS)
        base = "FROM rule_search JOIN rules r ON r.rowid = rule_search.rowid WHERE rule_search MATCH ?" + (
            f" AND {where}" if where else ""
        )
        select = (
            f"SELECT {columns}, highlight(rule_search, 0, ?, ?), "
            f"snippet(rule_search, 1, ?, ?, '…', {SNIPPET_TOKENS}), bm25(rule_search, {weights}) AS score "
            f"{base} ORDER BY score, r.title LIMIT ? OFFSET ?"
        )
        marks = [MARK_START, MARK_END, MARK_START, MARK_END]
        try:
            total = catalog.db.execute(f"SELECT COUNT(*) {base}", [match, *params]).fetchone()[0]
            rows = catalog.db.execute(select, [*marks, match, *params, per_page, offset]).fetchall()
        except sqlite3.OperationalError as exc:
            raise SearchError(f"cannot search for {text[:80]!r}: {exc}") from exc
    else:
        base = f"FROM rules r WHERE {where}"
        total = catalog.db.execute(f"SELECT COUNT(*) {base}", params).fetchone()[0]
        rows = [
            (*row, None, None, 0.0)
            for row in catalog.db.execute(
                f"SELECT {columns} {base} ORDER BY r.title, r.uid LIMIT ? OFFSET ?",
                [*params, per_page, offset],
            )
        ]
    results = [
        {
            "uid": uid,
            "title": title,
            "title_html": marked_html(hl_title) or marked_html(title),
            "snippet_html": marked_html(snippet),
            "vendor": vendor,
            "level": level,
            "status": status,
            "kind": kind,
            "logsource": category or service,
            "product": product,
            "score": round(-score, 3) if score else 0.0,
        }
        for (
            uid,
            title,
            vendor,
            level,
            status,
            kind,
            product,
            category,
            service,
            hl_title,
            snippet,
            score,
        ) in rows
    ]
    return _answer(query, text, total, page, per_page, results)


def _answer(
    query: ParsedQuery, text: str, total: int, page: int, per_page: int, results: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "query": text,
        "parsed": query.to_json(),
        "total": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-total // per_page)),
        "results": results,
    }


def search_texts(catalog: Catalog) -> dict[str, tuple[str, str, str, str, str, str]]:
    """uid -> (description, tags, references, authors, fields, values) as indexed for full-text search (for
    the static site's own index). Fields are comma-separated, values one per line."""
    return {
        uid: tuple(v or "" for v in rest)  # type: ignore[misc]
        for uid, *rest in catalog.db.execute(
            "SELECT r.uid, s.description, s.tags, s.refs, s.authors, s.fields, s.vals "
            "FROM rule_search s JOIN rules r ON r.rowid = s.rowid"
        )
    }
