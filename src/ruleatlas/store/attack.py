"""The ATT&CK views' queries: rules with their technique placements, their indicators and events, corpus
reach, and the catalog's ATT&CK data. Every SQL statement of the ATT&CK pages, API and CLI is here, and
nothing else: the answers built from these rows are web/attack_answers.py.

Functions take a `Catalog` (read-only) and return plain rows; `ruleatlas.analysis.coverage` counts them.
`uids=None` means every rule; a list restricts the query (a technique's API route reads only its rules).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ruleatlas.analysis.coverage import (
    LEFT_OUT_KINDS,
    LEFT_OUT_STATUSES,
    Placement,
    RuleInfo,
)
from ruleatlas.analysis.technique_guide import (
    EventRow,
    IndicatorKey,
    IndicatorRow,
)
from ruleatlas.attack import AttackData, AttackDataError
from ruleatlas.store.catalog import Catalog
from ruleatlas.store.deploy import validated_uids
from ruleatlas.store.telemetry import TelemetryQueries

ATTACK_BLOB = "attack"


def _uid_filter(uids: Iterable[str] | None, column: str = "uid") -> tuple[str, list[str]]:
    """A WHERE fragment restricting `column` to `uids` (one JSON parameter, any number of uids)."""
    if uids is None:
        return "", []
    return f" AND {column} IN (SELECT value FROM json_each(?))", [json.dumps(sorted(set(uids)))]


# Parsed ATT&CK data per catalog file, while the file stays the same: the blob is megabytes of JSON and
# every ATT&CK API answer needs it. AttackData is never modified after loading.
_ATTACK_CACHE: dict[str, tuple[tuple[int, int], AttackData | None]] = {}


def has_attack_data(catalog: Catalog) -> bool:
    """Whether the catalog was built with ATT&CK data (then the site has ATT&CK pages), without reading it."""
    return catalog.db.execute("SELECT 1 FROM blobs WHERE name = ?", (ATTACK_BLOB,)).fetchone() is not None


def attack_data(catalog: Catalog) -> AttackData | None:
    """The ATT&CK data the catalog was built with; None when it was built without (`--attack`)."""
    try:
        stat = catalog.path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = (-1, -1)
    key = str(catalog.path)
    cached = _ATTACK_CACHE.get(key)
    if cached is not None and cached[0] == stamp and stamp != (-1, -1):
        return cached[1]
    row = catalog.db.execute("SELECT value FROM blobs WHERE name = ?", (ATTACK_BLOB,)).fetchone()
    data: AttackData | None = None
    if row is not None:
        try:
            data = AttackData.from_json(json.loads(row[0]), f"{catalog.path} (blob {ATTACK_BLOB!r})")
        except (ValueError, AttackDataError):
            data = None
    _ATTACK_CACHE.clear()  # one catalog at a time is the normal case; never grow without bound
    _ATTACK_CACHE[key] = (stamp, data)
    return data


def tagged_rules(catalog: Catalog, uids: Iterable[str] | None = None) -> dict[str, RuleInfo]:
    """Every rule that names at least one technique (any kind: the coverage decides what counts)."""
    where, params = _uid_filter(uids)
    rows = catalog.db.execute(
        "SELECT uid, title, vendor, kind, status, level, product, service FROM rules "
        f"WHERE uid IN (SELECT uid FROM rule_techniques){where}",
        params,
    )
    validated = validated_uids(catalog.db)
    return {
        uid: RuleInfo(uid, title, vendor, kind, status, level, product, service, uid in validated)
        for uid, title, vendor, kind, status, level, product, service in rows
    }


def placements(
    catalog: Catalog, technique_ids: Iterable[str] | None = None, uids: Iterable[str] | None = None
) -> list[Placement]:
    """rule_techniques rows, optionally only those of some techniques or some rules."""
    where, params = _uid_filter(technique_ids, "technique_id")
    where2, params2 = _uid_filter(uids)
    rows = catalog.db.execute(
        f"SELECT DISTINCT uid, technique_id, tactic_id FROM rule_techniques WHERE 1 = 1{where}{where2}",
        params + params2,
    )
    return [Placement(*row) for row in rows]


def counted_rules_without_techniques(catalog: Catalog) -> int:
    """Rules the coverage would count (see `coverage.LEFT_OUT_KINDS`) that name no technique at all."""
    kinds, statuses = sorted(LEFT_OUT_KINDS), sorted(LEFT_OUT_STATUSES)
    row = catalog.db.execute(
        "SELECT COUNT(*) FROM rules WHERE uid NOT IN (SELECT uid FROM rule_techniques) "
        "AND kind NOT IN (SELECT value FROM json_each(?)) AND status NOT IN (SELECT value FROM json_each(?))",
        (json.dumps(kinds), json.dumps(statuses)),
    ).fetchone()
    return int(row[0])


def indicator_rows(catalog: Catalog, uids: Iterable[str] | None = None) -> list[IndicatorRow]:
    """Indicators and exclusions of rules that name a technique (or of `uids`)."""
    where, params = _uid_filter(uids)
    if uids is None:
        where = " AND uid IN (SELECT uid FROM rule_techniques)"
    rows = catalog.db.execute(
        f"SELECT uid, field, kind, value, transforms, exclusion FROM indicators WHERE 1 = 1{where}", params
    )
    return [IndicatorRow(uid, f, k, v, t, bool(x)) for uid, f, k, v, t, x in rows]


def event_rows(catalog: Catalog, uids: Iterable[str] | None = None) -> list[EventRow]:
    """Catalog events of rules that name a technique (or of `uids`)."""
    where, params = _uid_filter(uids)
    if uids is None:
        where = " AND uid IN (SELECT uid FROM rule_techniques)"
    rows = catalog.db.execute(
        f"SELECT DISTINCT uid, provider, channel, event_id, title FROM rule_events WHERE 1 = 1{where}", params
    )
    names = event_providers(catalog)
    return [EventRow(u, p, c, e, t, names.get((c, str(e)), "")) for u, p, c, e, t in rows]


def event_providers(catalog: Catalog) -> dict[tuple[str, str], str]:
    """(channel, event id) -> the full provider name the telemetry pages use for that event ({} when the
    catalog was built without telemetry tables). Read through the telemetry area's own queries."""
    queries = TelemetryQueries(catalog.db)
    if not queries.has_tables():
        return {}
    return {(channel, key): provider for (provider, key), channel in queries.referenced_events().items()}


def corpus_reach(
    catalog: Catalog, keys: Iterable[IndicatorKey] | None = None
) -> dict[IndicatorKey, dict[str, int]]:
    """Corpus counts (counted rules per vendor) by indicator key, for `keys` or for every indicator."""
    if keys is None:
        rows = catalog.db.execute(
            "SELECT field, kind, value, transforms, vendor, rules FROM indicator_counts"
        ).fetchall()
    else:
        rows = [
            (*key, vendor, n)
            for key in set(keys)
            for vendor, n in catalog.db.execute(
                "SELECT vendor, rules FROM indicator_counts WHERE field = ? AND kind = ? AND value = ? "
                "AND transforms = ?",
                key,
            )
        ]
    out: dict[IndicatorKey, dict[str, int]] = {}
    for field, kind, value, transforms, vendor, n in rows:
        out.setdefault((field, kind, value, transforms), {})[vendor] = n
    return out


def vendors(catalog: Catalog) -> list[str]:
    return [v for (v,) in catalog.db.execute("SELECT DISTINCT vendor FROM rules ORDER BY vendor")]
