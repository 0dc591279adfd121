"""Browse queries: the rule list with facets, sorting and paging; catalog figures for the home page; the rows
behind indicator pages and field pages. Every SQL statement of those pages, their API twins and `export`.

The browse list is faceted over a few thousand small rows, so the rows are read once per catalog file
(`browse_rows`, cached by the file's identity) and filtered in Python; the static site does the same in
JavaScript over the same rows (`web/browse_index.py` writes them), with the same rules:

- facets combine with AND; values of one facet with OR; a facet's counts are what the list would hold with
  that value selected instead of the facet's current selection (the others kept);
- rules that are not detections (`model.DETECTION_KINDS`: hunting, filter, enrichment, alert-feed,
  deprecated and unsupported kinds) and deprecated or unsupported statuses are shown only on request:
  `retired`, or a status / kind filter that names one of those values;
- `technique` T1059 also selects its sub-techniques (T1059.001, ...).

`filter_rows` and `facet_counts` say these rules row by row; the `/api/rules` answer
(`facet_index.query_rules`) computes the same from bit sets, ~100 times faster.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NotRequired, TypedDict

from ruleatlas.model import DETECTION_KINDS, RuleKind
from ruleatlas.store.catalog import Catalog, IndicatorKey

# Left out of the detection browse unless asked for (`retired`, or a status / kind filter naming one): rules
# no longer maintained (by status), and every kind that is not a detection (`model.DETECTION_KINDS`:
# hunting queries, filters, lookups and saved queries, other products' alerts passed on, deprecated and
# unsupported rules). They stay searchable and have their pages. The static site's atlas.js reads this set
# from the browse and search indexes (web/browse_index.py).
RETIRED_STATUSES = frozenset({"deprecated", "unsupported"})
RETIRED = frozenset(k.value for k in RuleKind if k not in DETECTION_KINDS) | RETIRED_STATUSES
LEVEL_ORDER = ("critical", "high", "medium", "low", "informational")
FACETS = ("vendor", "product", "logsource", "status", "level", "tactic", "technique", "kind")
SORTS = ("title", "level", "modified", "created", "uid")
MAX_PER_PAGE = 200
NO_VALUE = ""  # a rule without a product or log source is counted under ""
NONE_TOKEN = "(none)"  # how "" is written in a query string (`?product=(none)`)


class RuleSummary(TypedDict):
    """One rule of the browse list (`/api/rules`)."""

    uid: str
    title: str
    vendor: str
    status: str
    level: str
    kind: str
    product: str
    logsource: str
    created: str
    modified: str
    techniques: list[str]
    tactics: list[str]


class FacetValue(TypedDict):
    value: str
    rules: int


class RulesPage(TypedDict):
    """The `/api/rules` answer: one page of the browse list with its facet counts."""

    total: int
    page: int
    per_page: int
    pages: int
    sort: str
    filters: dict[str, list[str] | bool]
    facets: dict[str, list[FacetValue]]
    rules: list[RuleSummary]


class SourceFigures(TypedDict):
    source: str
    vendor: str
    repo: str
    commit: str
    files: int
    rules: int


class TopIndicator(TypedDict):
    field: str
    kind: str
    value: str
    shown: str
    transforms: str
    rules: int


class CatalogOverview(TypedDict):
    """What the home page and `/api/stats` show."""

    rules: int
    files: int
    indicators: int
    per_vendor: list[tuple[str, int]]
    per_status: list[tuple[str, int]]
    per_level: list[tuple[str, int]]
    per_kind: list[tuple[str, int]]
    per_product: list[tuple[str, int]]
    per_logsource: list[tuple[str, int]]
    sources: list[SourceFigures]
    built_at: str
    attack_version: str
    top_indicators: list[TopIndicator]
    kind_vs_status: dict[str, dict[str, int]]
    fields: NotRequired[int]  # the home page adds how many fields rules use


class IndicatorRule(TypedDict):
    uid: str
    vendor: str
    title: str
    level: str
    status: str
    kind: str


class CorpusCount(TypedDict):
    total: int
    by_vendor: dict[str, int]


class IndicatorAnswer(TypedDict):
    """One indicator key with its rules (`/api/indicators`, indicator pages, `export`)."""

    field: str | None
    kind: str
    value: str
    shown: str
    transforms: list[str]
    corpus: CorpusCount
    rules: list[IndicatorRule]
    excluded_by: list[IndicatorRule]


class FieldSummary(TypedDict):
    field: str | None
    rules: int
    values: int


class FieldKind(TypedDict):
    kind: str
    rules: int
    values: int


class FieldValue(TypedDict):
    kind: str
    value: str
    transforms: list[str]
    rules: int
    corpus: int


class FieldDetail(TypedDict):
    """One field's page and `/api/fields/{field}` answer."""

    field: str | None
    rules: int
    excluding_rules: int
    distinct_values: int
    kinds: list[FieldKind]
    values: list[FieldValue]


@dataclass(slots=True, frozen=True)
class BrowseRow:
    uid: str
    vendor: str
    title: str
    status: str
    level: str
    kind: str
    product: str
    logsource: str  # the Sigma category, else the service
    created: str
    modified: str
    techniques: tuple[str, ...]
    tactics: tuple[str, ...]  # ATT&CK tactic ids
    placements: tuple[tuple[str, str], ...] = ()  # (technique id, tactic id or "") as the build placed them
    service: str = ""  # the Sigma service when the rule also has a category (`logsource` holds the category)

    @property
    def retired(self) -> bool:
        return self.kind in RETIRED or self.status in RETIRED

    def values(self, facet: str) -> tuple[str, ...]:
        """The facet values the rule counts under. A sub-technique also counts under its parent, since
        selecting the parent lists the rule."""
        if facet == "technique":
            parents = tuple(t.partition(".")[0] for t in self.techniques if "." in t)
            return tuple(dict.fromkeys(self.techniques + parents)) if parents else self.techniques
        if facet == "tactic":
            return self.tactics
        return (getattr(self, facet),)

    def summary(self) -> RuleSummary:
        return {
            "uid": self.uid,
            "title": self.title,
            "vendor": self.vendor,
            "status": self.status,
            "level": self.level,
            "kind": self.kind,
            "product": self.product,
            "logsource": self.logsource,
            "created": self.created,
            "modified": self.modified,
            "techniques": list(self.techniques),
            "tactics": list(self.tactics),
        }


@dataclass(slots=True, frozen=True)
class RuleFilter:
    """The browse list's selection (empty tuple = any), as the API, the CLI and the page take it."""

    vendor: tuple[str, ...] = ()
    product: tuple[str, ...] = ()
    logsource: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    tactic: tuple[str, ...] = ()
    technique: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    retired: bool = False

    def selection(self, facet: str) -> tuple[str, ...]:
        value: tuple[str, ...] = getattr(self, facet)
        return value

    def shows_retired(self) -> bool:
        return self.retired or any(v in RETIRED for v in (*self.status, *self.kind))

    def accepts(self, row: BrowseRow, skip: str = "") -> bool:
        """Whether `row` is listed; `skip` leaves one facet's selection out (for that facet's counts)."""
        for facet in FACETS:
            if facet == skip:
                continue
            wanted = self.selection(facet)
            if wanted and not _facet_match(facet, wanted, row):
                return False
        return not row.retired or self.shows_retired()

    def to_json(self) -> dict[str, list[str] | bool]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_lists(cls, retired: bool = False, **values: Iterable[str]) -> RuleFilter:
        """From lists of strings; a value may also be comma-separated (`level=high,critical`)."""
        cleaned: dict[str, Any] = {}
        for name, items in values.items():
            if name not in FACETS:
                raise ValueError(f"unknown facet {name!r}")
            parts = [p.strip() for item in items for p in item.split(",")]
            cleaned[name] = tuple(
                dict.fromkeys(NO_VALUE if p == NONE_TOKEN else _normal(name, p) for p in parts if p)
            )
        return cls(retired=retired, **cleaned)


def _normal(facet: str, value: str) -> str:
    if facet == "technique":
        return value.upper()
    if facet == "tactic":
        return value if value.upper().startswith("TA") and value[2:].isdigit() else value.lower()
    return value.lower() if facet in ("vendor", "status", "level", "kind") else value


def _facet_match(facet: str, wanted: tuple[str, ...], row: BrowseRow) -> bool:
    if facet == "technique":
        return any(t == w or t.startswith(w + ".") for t in row.techniques for w in wanted)
    have = row.values(facet)
    return any(v in wanted for v in have)


def resolve_tactics(catalog: Catalog, names: Iterable[str]) -> tuple[str, ...]:
    """Tactic ids for ids, short names (`persistence`) or names (`Privilege Escalation`), any case; a name
    no tactic has stays as given (so it matches no rule rather than being dropped)."""
    table = _tactic_table(catalog)
    out = [table.get(name.strip().lower().replace(" ", "-"), name) for name in names]
    return tuple(dict.fromkeys(out))


_TACTICS_CACHE: dict[str, tuple[object, dict[str, str]]] = {}


def _tactic_table(catalog: Catalog) -> dict[str, str]:
    """id, short name and name (lower case, dashes for spaces) -> tactic id; read once per catalog file
    (the ATT&CK blob is a megabyte of JSON)."""
    identity = _identity(catalog)
    cached = _TACTICS_CACHE.get(str(catalog.path))
    if cached is not None and identity is not None and cached[0] == identity:
        return cached[1]
    row = catalog.db.execute(
        "SELECT json_extract(value, '$.tactics') FROM blobs WHERE name = 'attack'"
    ).fetchone()
    table: dict[str, str] = {}
    for t in json.loads(row[0]) if row and row[0] else []:
        for key in (t["id"].lower(), t["shortname"], t["name"].lower().replace(" ", "-")):
            table[key] = t["id"]
    if identity is not None:
        _TACTICS_CACHE.clear()
        _TACTICS_CACHE[str(catalog.path)] = (identity, table)
    return table


# -- rows ---------------------------------------------------------------------------------------------------

_ROWS_CACHE: dict[str, tuple[object, list[BrowseRow]]] = {}


def _identity(catalog: Catalog) -> object:
    try:
        st = os.stat(catalog.path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def browse_rows_of(catalog: Catalog, uids: Iterable[str]) -> list[BrowseRow]:
    """The browse rows of `uids` (those the catalog has), in no particular order."""
    return _browse_rows(catalog, sorted(set(uids)))


def _browse_rows(catalog: Catalog, uids: list[str] | None) -> list[BrowseRow]:
    where, params = (
        ("", []) if uids is None else (" WHERE uid IN (SELECT value FROM json_each(?))", [json.dumps(uids)])
    )
    techniques: dict[str, list[str]] = {}
    tactics: dict[str, list[str]] = {}
    placed: dict[str, list[tuple[str, str]]] = {}
    for uid, tech, tactic in catalog.db.execute(
        f"SELECT DISTINCT uid, technique_id, tactic_id FROM rule_techniques{where} "
        "ORDER BY uid, technique_id",
        params,
    ):
        placed.setdefault(uid, []).append((tech, tactic))
        if tech not in techniques.setdefault(uid, []):
            techniques[uid].append(tech)
        if tactic and tactic not in tactics.setdefault(uid, []):
            tactics[uid].append(tactic)
    return [
        BrowseRow(
            uid,
            vendor,
            title,
            status,
            level,
            kind,
            product,
            category or service,
            created or "",
            modified or "",
            tuple(techniques.get(uid, ())),
            tuple(sorted(tactics.get(uid, ()))),
            tuple(placed.get(uid, ())),
            service if category and service else "",
        )
        for uid, vendor, title, status, level, kind, product, category, service, created, modified in (
            catalog.db.execute(
                "SELECT r.uid, r.vendor, r.title, r.status, r.level, r.kind, r.product, r.category, "
                "r.service, s.created, s.modified FROM rules r LEFT JOIN rule_search s ON s.rowid = r.rowid"
                + where.replace("uid", "r.uid"),
                params,
            )
        )
    ]


def browse_rows(catalog: Catalog) -> list[BrowseRow]:
    """Every rule as a browse row, sorted by title (cached while the catalog file stays the same)."""
    key = str(catalog.path)
    identity = _identity(catalog)
    cached = _ROWS_CACHE.get(key)
    if cached is not None and identity is not None and cached[0] == identity:
        return cached[1]
    rows = _browse_rows(catalog, None)
    rows.sort(key=lambda r: (r.title.casefold(), r.uid))
    if identity is not None:
        _ROWS_CACHE.clear()  # one catalog at a time is what a server reads
        _ROWS_CACHE[key] = (identity, rows)
    return rows


def filter_rows(rows: Iterable[BrowseRow], selection: RuleFilter) -> list[BrowseRow]:
    return [r for r in rows if selection.accepts(r)]


def facet_counts(rows: Sequence[BrowseRow], selection: RuleFilter) -> dict[str, list[tuple[str, int]]]:
    """Per facet: (value, rules) by count then value, as the module docstring says.

    One pass: for each row, which facets' selections it fails; a row counts for facet F when it fails no
    other facet, and is visible with F's value selected (a retired status or kind shows retired rules)."""
    active = [f for f in FACETS if selection.selection(f)]
    retired_selected = {f: any(v in RETIRED for v in selection.selection(f)) for f in ("status", "kind")}
    counts: dict[str, Counter[str]] = {f: Counter() for f in FACETS}
    for row in rows:
        failed = [f for f in active if not _facet_match(f, selection.selection(f), row)]
        if len(failed) > 1:
            continue
        for facet in failed if failed else FACETS:
            values = row.values(facet)
            if row.retired and not selection.retired:
                others = [f for f in ("status", "kind") if f != facet and retired_selected[f]]
                if not others:
                    if facet in ("status", "kind"):
                        values = tuple(v for v in values if v in RETIRED)
                    else:
                        continue
            for value in set(values) if len(values) > 1 else values:
                counts[facet][value] += 1
    return {f: sorted(c.items(), key=lambda kv: (-kv[1], kv[0])) for f, c in counts.items()}


def sort_rows(rows: list[BrowseRow], sort: str) -> list[BrowseRow]:
    """`title` (A-Z), `level` (critical first), `modified` / `created` (newest first), `uid`."""
    if sort == "level":
        rank = {level: i for i, level in enumerate(LEVEL_ORDER)}
        return sorted(rows, key=lambda r: rank.get(r.level, len(rank)))  # stable: by title within
    if sort in ("modified", "created"):

        def newest(r: BrowseRow) -> str:
            return (r.modified or r.created) if sort == "modified" else r.created

        return sorted(rows, key=newest, reverse=True)
    if sort == "uid":
        return sorted(rows, key=lambda r: r.uid)
    return rows


# -- home figures --------------------------------------------------------------------------------------------


class IndicatorFigures(TypedDict):
    """The home page's indicator figures (`indicator_figures`)."""

    indicators: int
    top_indicators: list[TopIndicator]


def indicator_figures(catalog: Catalog, top_indicators: int = 20) -> IndicatorFigures:
    """The home page's indicator figures: distinct indicator keys, and the most used keys (counted rules,
    all vendors). They change only with indicator rows and which rules are counted."""
    db = catalog.db
    top: list[TopIndicator] = [
        {"field": f, "kind": k, "value": v, "shown": shown or v, "transforms": t, "rules": n}
        for f, k, v, t, n, shown in db.execute(
            "SELECT c.field, c.kind, c.value, c.transforms, SUM(c.rules) AS n, s.shown "
            "FROM indicator_counts c LEFT JOIN indicator_spellings s USING (field, kind, value, transforms) "
            "GROUP BY c.field, c.kind, c.value, c.transforms ORDER BY n DESC, c.field, c.kind, c.value "
            "LIMIT ?",
            (top_indicators,),
        )
    ]
    indicators = db.execute(
        "SELECT COUNT(*) FROM (SELECT DISTINCT field, kind, value, transforms FROM indicators)"
    ).fetchone()[0]
    return {"indicators": indicators, "top_indicators": top}


def catalog_overview(
    catalog: Catalog, top_indicators: int = 20, figures: IndicatorFigures | None = None
) -> CatalogOverview:
    """What the home page shows: totals by vendor, status, level, kind, product and log source; the sources
    with their commits; the build time; the most used indicators (counted rules, all vendors: `figures`,
    `indicator_figures`' answer, when the caller has it)."""
    db = catalog.db

    def grouped(column: str) -> list[tuple[str, int]]:
        return [
            (value, n)
            for value, n in db.execute(
                f"SELECT {column}, COUNT(*) AS n FROM rules GROUP BY {column} ORDER BY n DESC, {column}"
            )
        ]

    logsources = [
        (value, n)
        for value, n in db.execute(
            "SELECT CASE WHEN category != '' THEN category ELSE service END AS ls, COUNT(*) AS n "
            "FROM rules GROUP BY ls ORDER BY n DESC, ls"
        )
    ]
    figures = indicator_figures(catalog, top_indicators) if figures is None else figures
    meta = catalog.meta()
    return {
        "rules": db.execute("SELECT COUNT(*) FROM rules").fetchone()[0],
        "files": db.execute("SELECT COUNT(*) FROM files").fetchone()[0],
        "indicators": figures["indicators"],
        "per_vendor": grouped("vendor"),
        "per_status": grouped("status"),
        "per_level": grouped("level"),
        "per_kind": grouped("kind"),
        "per_product": grouped("product"),
        "per_logsource": logsources,
        "sources": [
            {
                "source": s.source,
                "vendor": s.vendor,
                "repo": s.repo,
                "commit": s.commit,
                "files": s.files,
                "rules": s.rules,
            }
            for s in catalog.sources()
        ],
        "built_at": meta.get("built_at", ""),
        "attack_version": meta.get("attack_version", ""),
        "top_indicators": figures["top_indicators"],
        "kind_vs_status": catalog.kind_vs_status(),
    }


# -- indicators ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class IndicatorRules:
    """One indicator key with the rules that look for it and those that exclude it."""

    key: IndicatorKey
    corpus: dict[str, int] = field(default_factory=dict)  # counted rules per vendor
    using: list[IndicatorRule] = field(default_factory=list)
    excluding: list[IndicatorRule] = field(default_factory=list)
    shown: str = ""  # the value as most of its rules spell it (the folded key is key[2])

    @property
    def spelling(self) -> str:
        return self.shown or self.key[2]

    def to_json(self) -> IndicatorAnswer:
        f, k, v, t = self.key
        return {
            "field": f or None,
            "kind": k,
            "value": v,
            "shown": self.spelling,
            "transforms": t.split("|") if t else [],
            "corpus": {"total": sum(self.corpus.values()), "by_vendor": dict(sorted(self.corpus.items()))},
            "rules": self.using,
            "excluded_by": self.excluding,
        }


RULES_READ_WHOLE = 2000  # above this many rules, one scan of the table costs less than looking each up


def _indicator_groups(
    db: Any, where: str, params: Sequence[Any], counts: dict[IndicatorKey, dict[str, int]]
) -> Iterator[IndicatorRules]:
    """Rows grouped in Python: a join with `rules` sorted in SQL costs four times as much."""
    groups: dict[IndicatorKey, list[tuple[str, int]]] = {}
    for f, k, v, t, exclusion, uid in db.execute(
        f"SELECT field, kind, value, transforms, exclusion, uid FROM indicators {where}", params
    ):
        groups.setdefault((f, k, v, t), []).append((uid, exclusion))
    # Only the rules the groups name: an API answer about one indicator reads a few hundred rows, not
    # every rule of the catalog (reading and sorting all 13,733 cost ~150 ms per answer).
    needed = {uid for rows in groups.values() for uid, _ in rows}
    columns = "SELECT uid, vendor, title, level, status, kind FROM rules"
    if not where or len(needed) > RULES_READ_WHOLE:
        selected = db.execute(columns)
    else:
        selected = db.execute(
            f"{columns} WHERE uid IN (SELECT value FROM json_each(?))", (json.dumps(sorted(needed)),)
        )
    rules: list[IndicatorRule] = [
        {"uid": uid, "vendor": vendor, "title": title, "level": level, "status": status, "kind": kind}
        for uid, vendor, title, level, status, kind in selected
    ]
    # Each rule's place in the (vendor, title, uid) order, so groups sort by one integer.
    rules.sort(key=lambda r: (r["vendor"], r["title"].casefold(), r["uid"]))
    rank = {r["uid"]: i for i, r in enumerate(rules)}
    spellings = {
        (f, k, v, t): shown
        for f, k, v, t, shown in db.execute(
            f"SELECT field, kind, value, transforms, shown FROM indicator_spellings {where}", params
        )
        if shown != v
    }
    for key in sorted(groups):
        rows = groups[key]
        using = sorted({rank[u] for u, x in rows if not x and u in rank})
        excluding = sorted({rank[u] for u, x in rows if x and u in rank})
        yield IndicatorRules(
            key,
            counts.get(key, {}),
            [rules[i] for i in using],
            [rules[i] for i in excluding],
            spellings.get(key, ""),
        )


def _counts(db: Any, where: str = "", params: Sequence[Any] = ()) -> dict[IndicatorKey, dict[str, int]]:
    out: dict[IndicatorKey, dict[str, int]] = {}
    for f, k, v, t, vendor, n in db.execute(
        f"SELECT field, kind, value, transforms, vendor, rules FROM indicator_counts {where}", params
    ):
        out.setdefault((f, k, v, t), {})[vendor] = n
    return out


def all_indicator_rules(catalog: Catalog) -> Iterator[IndicatorRules]:
    """Every indicator key of the catalog (positive or exclusion, any rule kind) with its rules."""
    return _indicator_groups(catalog.db, "", (), _counts(catalog.db))


def indicator_rules_for(catalog: Catalog, keys: Iterable[IndicatorKey]) -> Iterator[IndicatorRules]:
    """The keys among `keys` that the catalog still has (a key no rule uses any more yields nothing)."""
    wanted = json.dumps(sorted(set(keys)))
    where = (
        "WHERE (field, kind, value, transforms) IN (SELECT json_extract(value, '$[0]'), "
        "json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]') "
        "FROM json_each(?))"
    )
    return _indicator_groups(catalog.db, where, (wanted,), _counts(catalog.db, where, (wanted,)))


def indicator_rules_of_fields(catalog: Catalog, fields: Iterable[str]) -> Iterator[IndicatorRules]:
    """Every indicator key of these fields ("" for keyword searches) with its rules."""
    wanted = json.dumps(sorted(set(fields)))
    where = "WHERE field IN (SELECT value FROM json_each(?))"
    return _indicator_groups(catalog.db, where, (wanted,), _counts(catalog.db, where, (wanted,)))


def find_indicators(
    catalog: Catalog, field_name: str | None, kind: str | None, value: str | None, limit: int = 50
) -> list[IndicatorRules]:
    """Indicators with this field / kind / value (each optional; `value` also matches case-folded, since
    case-insensitive values are stored folded); at most `limit` keys, most used first."""
    clauses, params = [], []
    if field_name is not None:
        clauses.append("field = ?")
        params.append(field_name)
    if kind is not None:
        clauses.append("kind = ?")
        params.append(kind)
    if value is not None:
        clauses.append("value IN (?, ?)")
        params += [value, value.casefold()]
    where = " AND ".join(clauses) or "1 = 1"
    keys: list[IndicatorKey] = [
        (f, k, v, t)
        for f, k, v, t in catalog.db.execute(
            f"SELECT field, kind, value, transforms FROM indicators WHERE {where} "
            "GROUP BY field, kind, value, transforms ORDER BY COUNT(DISTINCT uid) DESC, field, kind, value "
            "LIMIT ?",
            (*params, limit),
        )
    ]
    found = {g.key: g for g in indicator_rules_for(catalog, keys)}
    return [found[k] for k in keys if k in found]


def indicator_keys(catalog: Catalog) -> set[IndicatorKey]:
    return {
        (f, k, v, t)
        for f, k, v, t in catalog.db.execute("SELECT DISTINCT field, kind, value, transforms FROM indicators")
    }


# -- fields --------------------------------------------------------------------------------------------------


def field_list(catalog: Catalog) -> list[FieldSummary]:
    """Every field with the rules that use it (positive predicates of any rule) and its distinct values."""
    return [
        {"field": f or None, "rules": n, "values": v}
        for f, n, v in catalog.db.execute(
            "SELECT field, COUNT(DISTINCT uid) AS n, COUNT(DISTINCT kind || char(31) || value) "
            "FROM indicators WHERE exclusion = 0 GROUP BY field ORDER BY n DESC, field"
        )
    ]


def field_detail(catalog: Catalog, field_name: str, top_values: int = 100) -> FieldDetail | None:
    """One field: its kinds and its most used values, each with the rules that use it (any rule kind;
    `corpus` is the counted total the rule pages show). None when no rule uses the field."""
    db = catalog.db
    total = db.execute(
        "SELECT COUNT(DISTINCT uid) FROM indicators WHERE field = ? AND exclusion = 0", (field_name,)
    ).fetchone()[0]
    excluded = db.execute(
        "SELECT COUNT(DISTINCT uid) FROM indicators WHERE field = ? AND exclusion = 1", (field_name,)
    ).fetchone()[0]
    if not total and not excluded:
        return None
    kinds: list[FieldKind] = [
        {"kind": k, "rules": n, "values": v}
        for k, n, v in db.execute(
            "SELECT kind, COUNT(DISTINCT uid) AS n, COUNT(DISTINCT value || char(31) || transforms) "
            "FROM indicators WHERE field = ? AND exclusion = 0 GROUP BY kind ORDER BY n DESC, kind",
            (field_name,),
        )
    ]
    counted = _counts(db, "WHERE field = ?", (field_name,))
    values: list[FieldValue] = [
        {
            "kind": k,
            "value": v,
            "transforms": t.split("|") if t else [],
            "rules": n,
            "corpus": sum(counted.get((field_name, k, v, t), {}).values()),
        }
        for k, v, t, n in db.execute(
            "SELECT kind, value, transforms, COUNT(DISTINCT uid) AS n FROM indicators "
            "WHERE field = ? AND exclusion = 0 GROUP BY kind, value, transforms "
            "ORDER BY n DESC, kind, value LIMIT ?",
            (field_name, top_values),
        )
    ]
    distinct = db.execute(
        "SELECT COUNT(*) FROM (SELECT DISTINCT kind, value, transforms FROM indicators "
        "WHERE field = ? AND exclusion = 0)",
        (field_name,),
    ).fetchone()[0]
    return {
        "field": field_name or None,
        "rules": total,
        "excluding_rules": excluded,
        "distinct_values": distinct,
        "kinds": kinds,
        "values": values,
    }
