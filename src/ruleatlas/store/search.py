"""Search: full text over the `rule_search` FTS5 table (catalog.py fills it), plus filters in the same box.

A query is words and filters: `mimikatz lsass level:high technique:T1003 field:CommandLine`.

- Words match titles, descriptions, tags, references, authors, field names and indicator values, all of
  them (AND); each word is an FTS5 phrase, so punctuation never becomes query syntax (`C:\\Windows`,
  `-enc`, `"`), and the last word also matches as a prefix unless the query ends with a space (results as
  you type). Ranking is bm25 with the title weighted most, then tags, fields and values, then the
  description; matched words come back highlighted (`<mark>`, the rest HTML-escaped).
- Indicator filters name one indicator: `field:X value:Y` is a rule with an indicator of field X (any case)
  whose value holds Y (any case), not X in one place and Y in another. They search what the rule looks for,
  not its exclusions; `exclusion:Y` asks for an exclusion instead (`field:X exclusion:Y`: one exclusion of
  field X holding Y). Each result lists the indicators that matched (`matched`).
- Other filters: `technique:` (the id or a sub-technique of it), `tactic:` (id, short name or name),
  `logsource:` (category, service or product), `vendor:`, `level:`, `status:`, `kind:`, `product:`.
  Values may be quoted (`field:"Some Field"`). The same filter given twice means either value (OR); different
  filters all apply (AND). An unknown `name:` is searched as text (`C:\\...`, `http://...`).
- A query that is a rule's id (UUID), file stem or uid lists that rule first (`matched`: what it named).
- Deprecated and unsupported rules only when asked for (`retired`, or `status:`/`kind:` naming them).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ruleatlas.store.browse import RETIRED, resolve_tactics
from ruleatlas.store.catalog import Catalog

FILTERS = (
    "field",
    "value",
    "exclusion",
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


class ParsedQueryJson(TypedDict):
    words: list[str]
    filters: dict[str, list[str]]


class MatchedIndicator(TypedDict):
    field: str
    kind: str
    value: str
    exclusion: bool


class SearchResult(TypedDict):
    uid: str
    title: str
    title_html: str  # escaped, with <mark> around the matched words
    snippet_html: str
    vendor: str
    level: str
    status: str
    kind: str
    logsource: str
    product: str
    score: float
    named_by: str  # "id", "stem" or "uid" when the query names the rule, else ""
    matched: list[MatchedIndicator]


class SearchAnswer(TypedDict):
    """The `/api/search` answer."""

    query: str
    parsed: ParsedQueryJson
    total: int
    page: int
    per_page: int
    pages: int
    results: list[SearchResult]


class SearchError(ValueError):
    """A query the index cannot run (the message says why, for a 400 answer)."""


@dataclass(slots=True)
class ParsedQuery:
    words: list[str] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    prefix: bool = True  # the last word is still being typed

    def to_json(self) -> ParsedQueryJson:
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

    for condition, condition_params in indicator_conditions(filters):
        clauses.append(f"r.uid IN (SELECT uid FROM indicators i WHERE {condition})")
        params.extend(condition_params)
    asks_retired = any(v.lower() in RETIRED for name in ("status", "kind") for v in filters.get(name, []))
    if not (retired or asks_retired):
        clauses.append(
            "r.kind NOT IN ('deprecated', 'unsupported') AND r.status NOT IN ('deprecated', 'unsupported')"
        )
    return (" AND ".join(clauses), params)


def indicator_conditions(filters: dict[str, list[str]]) -> list[tuple[str, list[Any]]]:
    """SQL conditions on one `indicators i` row, one per indicator the query asks for: field and value
    together (module docstring). Empty when the query has no indicator filter."""
    fields = filters.get("field", [])
    # (exclusion flag, value); a None value asks for the field alone
    wanted: list[tuple[int, str | None]] = [(0, v) for v in filters.get("value", [])] or (
        [] if "exclusion" in filters else [(0, None)]
    )
    excluded: list[tuple[int, str | None]] = [(1, v) for v in filters.get("exclusion", [])]
    if not (fields or filters.get("value") or excluded):
        return []
    out = []
    for flag, group in ((0, wanted), (1, excluded)):
        values = [v for _, v in group if v is not None]
        if not group or (not values and not fields):
            continue
        parts = ["i.exclusion = ?"]
        params: list[Any] = [flag]
        if fields:
            parts.append("(" + " OR ".join(["i.field = ? COLLATE NOCASE"] * len(fields)) + ")")
            params.extend(fields)
        if values:
            like = "i.value LIKE '%' || ? || '%' ESCAPE '\\'"
            parts.append("(" + " OR ".join([like] * len(values)) + ")")
            params.extend(v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for v in values)
        out.append((" AND ".join(parts), params))
    return out


def matched_indicators(
    catalog: Catalog, uids: list[str], filters: dict[str, list[str]], limit: int = 3
) -> dict[str, list[MatchedIndicator]]:
    """uid -> the indicators (or exclusions) that met the query's indicator filters, at most `limit` each."""
    conditions = indicator_conditions(filters)
    if not conditions or not uids:
        return {}
    where = " OR ".join(f"({c})" for c, _ in conditions)
    params = [p for _, ps in conditions for p in ps]
    out: dict[str, list[MatchedIndicator]] = {}
    for uid, fld, kind, value, exclusion in catalog.db.execute(
        "SELECT DISTINCT i.uid, i.field, i.kind, i.value, i.exclusion FROM indicators i "
        f"WHERE i.uid IN (SELECT value FROM json_each(?)) AND ({where}) "
        "ORDER BY i.uid, i.exclusion, i.field, i.kind, i.value",
        [json.dumps(uids), *params],
    ):
        found = out.setdefault(uid, [])
        if len(found) < limit:
            found.append({"field": fld, "kind": kind, "value": value, "exclusion": bool(exclusion)})
    return out


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
) -> SearchAnswer:
    """The `/api/search` answer: the parsed query, the total, and one page of ranked results."""
    query = parse_query(text)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    offset = (page - 1) * per_page
    if not query.words and not query.filters:
        return _answer(query, text, 0, page, per_page, [])
    # A rule's id, file stem or uid names that rule: it comes first, whatever else the text matches.
    named = catalog.identify(text) if not query.filters and len(query.words) == 1 else []
    first = [uid for uid, _ in named]
    where, params = _filter_sql(catalog, query.filters, retired)  # named rules show even when retired
    if first:
        where = (f"{where} AND " if where else "") + "r.uid NOT IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(first))
    shown_first = first[offset : offset + per_page]
    limit, rest_offset = per_page - len(shown_first), max(0, offset - len(first))
    columns = "r.uid, r.title, r.vendor, r.level, r.status, r.kind, r.product, r.category, r.service"
    rows: list[Any] = [
        (*row, None, None, 0.0)
        for uid in shown_first
        for row in catalog.db.execute(f"SELECT {columns} FROM rules r WHERE r.uid = ?", (uid,))
    ]
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
            if limit:
                rows += catalog.db.execute(select, [*marks, match, *params, limit, rest_offset]).fetchall()
        except sqlite3.OperationalError as exc:
            raise SearchError(f"cannot search for {text[:80]!r}: {exc}") from exc
    else:
        base = f"FROM rules r WHERE {where}"
        total = catalog.db.execute(f"SELECT COUNT(*) {base}", params).fetchone()[0]
        if limit:
            rows += [
                (*row, None, None, 0.0)
                for row in catalog.db.execute(
                    f"SELECT {columns} {base} ORDER BY r.title, r.uid LIMIT ? OFFSET ?",
                    [*params, limit, rest_offset],
                )
            ]
    total += len(first)
    named_as = dict(named)
    matched = matched_indicators(catalog, [row[0] for row in rows], query.filters)
    results: list[SearchResult] = [
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
            # What made the rule a result besides its text: its id, stem or uid, or the indicators that met
            # the query's field/value/exclusion filters.
            "named_by": named_as.get(uid, ""),
            "matched": matched.get(uid, []),
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
    query: ParsedQuery, text: str, total: int, page: int, per_page: int, results: list[SearchResult]
) -> SearchAnswer:
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


def search_indicators(catalog: Catalog) -> dict[str, tuple[str, list[tuple[str, str, str, int]]]]:
    """uid -> (rule id, [(field, kind, value, exclusion 0/1)]) for the static site's search: identifying a
    rule by its id, and `field:`/`value:`/`exclusion:` naming one indicator, as `search()` does."""
    out: dict[str, tuple[str, list[tuple[str, str, str, int]]]] = {
        uid: (rule_id, []) for uid, rule_id in catalog.db.execute("SELECT uid, rule_id FROM rules")
    }
    for uid, fld, kind, value, exclusion in catalog.db.execute(
        "SELECT DISTINCT uid, field, kind, value, exclusion FROM indicators "
        "ORDER BY uid, exclusion, field, value"
    ):
        if uid in out:
            out[uid][1].append((fld, kind, value, exclusion))
    return out
