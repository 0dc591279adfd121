"""The catalog's tables for a rule's relations beyond its own document: Sigma's `related:` links and
siblings, the samples it fires on, and its conversions by pySigma's backends ("deploy as").

They are computed after the rules are stored (they need every rule: a link's target, a correlation's
referenced rules); pages and the API read them beside the document (`attach`). An incremental build
rewrites the rows of the rules whose relations changed only: `rule_relation_inputs` keeps what the pass
read of each rule's document (and the keys it derived from the body), so a rebuild reads the documents of
the changed rules alone, and `relation_state` what the last pass was run with (backend versions, samples).
This module owns these tables' SQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ruleatlas.analysis.document import DeployDoc, FiresOnDoc, LinksDoc, RelatedLinkDoc, RuleDocument

SCHEMA = """
CREATE TABLE IF NOT EXISTS rule_links (
    uid TEXT NOT NULL, position INTEGER NOT NULL, direction TEXT NOT NULL, type TEXT NOT NULL,
    other_uid TEXT NOT NULL, other_id TEXT NOT NULL, title TEXT NOT NULL, phrase TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_links_uid ON rule_links (uid);
CREATE TABLE IF NOT EXISTS rule_conversions (
    uid TEXT NOT NULL, position INTEGER NOT NULL, target TEXT NOT NULL, label TEXT NOT NULL,
    pipeline TEXT NOT NULL, query TEXT NOT NULL, error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_conversions_uid ON rule_conversions (uid);
-- One row per rule the fires-on pass ran (`samples`: how many samples it was run over), and one per
-- (rule, sample) it fired on.
CREATE TABLE IF NOT EXISTS rule_fires_checked (uid TEXT PRIMARY KEY, samples INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rule_fires (
    uid TEXT NOT NULL, sample TEXT NOT NULL, records TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rule_fires_uid ON rule_fires (uid);
-- What the relations pass read of each rule's document, and the keys it derived from its body: the
-- conversion key (its text and the documents it refers to) and the fires-on key (its logic).
CREATE TABLE IF NOT EXISTS rule_relation_inputs (
    uid TEXT PRIMARY KEY, source TEXT NOT NULL, rule_id TEXT NOT NULL, title TEXT NOT NULL,
    kind TEXT NOT NULL, language TEXT NOT NULL, name TEXT NOT NULL, logsource TEXT NOT NULL,
    related TEXT NOT NULL, correlation_rules TEXT NOT NULL, is_filter INTEGER NOT NULL,
    conversion_key TEXT NOT NULL, fires_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS relation_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
TABLES = ("rule_links", "rule_conversions", "rule_fires_checked", "rule_fires")


@dataclass(slots=True, frozen=True)
class StoredRule:
    """What the relations pass reads of a stored rule."""

    uid: str
    source: str
    rule_id: str
    title: str
    kind: str
    language: str
    name: str
    logsource: dict[str, str]
    related: list[dict[str, str]]
    body: str
    correlation_rules: list[str]
    is_filter: bool


def ensure_tables(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def stored_rules(db: sqlite3.Connection, uids: Collection[str] | None = None) -> list[StoredRule]:
    """Every rule (or those of `uids`) with the parts of its document the relations pass needs, in uid
    order."""
    where, params = ("", ()) if uids is None else _in("uid", uids)
    rows = db.execute(
        "SELECT uid, source, rule_id, title, kind, json_extract(doc, '$.language'), "
        "json_extract(doc, '$.name'), json_extract(doc, '$.logsource'), "
        "json_extract(doc, '$.related'), json_extract(doc, '$.body'), "
        "json_extract(doc, '$.correlation.rules'), json_extract(doc, '$.filter') IS NOT NULL "
        f"FROM rules {where and 'WHERE ' + where} ORDER BY uid",
        params,
    )
    out = []
    for uid, source, rule_id, title, kind, language, name, ls, related, body, corr, is_filter in rows:
        out.append(
            StoredRule(
                uid,
                source,
                rule_id,
                title,
                kind,
                language or "",
                name or "",
                json.loads(ls) if ls else {},
                json.loads(related) if related else [],
                body or "",
                json.loads(corr) if corr else [],
                bool(is_filter),
            )
        )
    return out


def _in(column: str, values: Iterable[str]) -> tuple[str, tuple[str]]:
    """`column IN (the values)` for any number of values: one JSON parameter."""
    return f"{column} IN (SELECT value FROM json_each(?))", (json.dumps(sorted(values)),)


@dataclass(slots=True, frozen=True)
class RelationInput:
    """A rule as the relations pass last read it (`rule_relation_inputs`): its facts without the body, and
    the keys it derived from the body ("" where none: not Sigma, not converted or not runnable)."""

    rule: StoredRule  # with body "": bodies are read again only for the rules a pass converts or runs
    conversion_key: str
    fires_key: str


def _json(text: str) -> Any:
    """A stored JSON column: the common empty values without decoding (13,000 rules are read a build)."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return orjson.loads(text)


def relation_inputs(db: sqlite3.Connection) -> dict[str, RelationInput]:
    rows = db.execute("SELECT * FROM rule_relation_inputs ORDER BY uid")
    out = {}
    for uid, source, rule_id, title, kind, language, name, ls, related, corr, is_filter, ckey, fkey in rows:
        rule = StoredRule(
            uid,
            source,
            rule_id,
            title,
            kind,
            language,
            name,
            _json(ls),
            _json(related),
            "",
            _json(corr),
            bool(is_filter),
        )
        out[uid] = RelationInput(rule, ckey, fkey)
    return out


def replace_relation_inputs(
    db: sqlite3.Connection, removed: Iterable[str], inputs: Iterable[RelationInput]
) -> None:
    """Delete the rows of `removed` rules and write those of `inputs` (one row per rule)."""
    db.executemany("DELETE FROM rule_relation_inputs WHERE uid = ?", ((uid,) for uid in removed))
    db.executemany(
        "INSERT OR REPLACE INTO rule_relation_inputs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                i.rule.uid,
                i.rule.source,
                i.rule.rule_id,
                i.rule.title,
                i.rule.kind,
                i.rule.language,
                i.rule.name,
                json.dumps(i.rule.logsource, sort_keys=True),
                json.dumps(i.rule.related, sort_keys=True),
                json.dumps(i.rule.correlation_rules),
                int(i.rule.is_filter),
                i.conversion_key,
                i.fires_key,
            )
            for i in inputs
        ),
    )


def relation_state(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT name, value FROM relation_state").fetchall())


def set_relation_state(db: sqlite3.Connection, state: Mapping[str, str]) -> None:
    db.execute("DELETE FROM relation_state")
    db.executemany("INSERT INTO relation_state VALUES (?, ?)", state.items())


_ORDER = {
    "rule_links": "uid, position",
    "rule_conversions": "uid, position",
    "rule_fires_checked": "uid",
    "rule_fires": "uid, sample",
}
_INSERT = {
    "rule_links": "INSERT INTO rule_links VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "rule_conversions": "INSERT INTO rule_conversions VALUES (?, ?, ?, ?, ?, ?, ?)",
    "rule_fires_checked": "INSERT INTO rule_fires_checked VALUES (?, ?)",
    "rule_fires": "INSERT INTO rule_fires VALUES (?, ?, ?)",
}
Row = tuple[Any, ...]


def _snapshot(
    db: sqlite3.Connection, uids: Collection[str] | None, tables: Sequence[str] = TABLES
) -> dict[str, list[tuple[str, Row]]]:
    """Every stored row per rule (of `uids`, but every link: links are compared whole), in the tables'
    order (one ordered read per table)."""
    ensure_tables(db)
    out: dict[str, list[tuple[str, Row]]] = {}
    for table in tables:
        where, params = ("", ()) if uids is None or table == "rule_links" else _in("uid", uids)
        for row in db.execute(
            f"SELECT * FROM {table} {where and 'WHERE ' + where} ORDER BY {_ORDER[table]}", params
        ):
            out.setdefault(row[0], []).append((table, tuple(row)))
    return out


def _rows(
    links: Mapping[str, Iterable[Mapping[str, str]]] | None,
    conversions: Mapping[str, Iterable[Mapping[str, str]]],
    checked: Mapping[str, int],
    fired: Mapping[str, Mapping[str, list[int]]],
) -> dict[str, list[tuple[str, Row]]]:
    """The rows the tables should hold, per rule, in the same order `_snapshot` reads them."""
    out: dict[str, list[tuple[str, Row]]] = {}
    for uid, per_rule in (links or {}).items():
        for i, x in enumerate(per_rule):
            link: Row = (uid, i, x["direction"], x["type"], x["uid"], x["id"], x["title"], x["phrase"])
            out.setdefault(uid, []).append(("rule_links", link))
    for uid, per_rule in conversions.items():
        for i, c in enumerate(per_rule):
            conversion: Row = (uid, i, c["target"], c["label"], c["pipeline"], c["query"], c["error"])
            out.setdefault(uid, []).append(("rule_conversions", conversion))
    for uid, n in checked.items():
        out.setdefault(uid, []).append(("rule_fires_checked", (uid, n)))
    for uid, per_sample in fired.items():
        for sample, records in sorted(per_sample.items()):
            out.setdefault(uid, []).append(("rule_fires", (uid, sample, json.dumps(records))))
    return out


def replace(
    db: sqlite3.Connection,
    links: Mapping[str, Iterable[Mapping[str, str]]] | None,
    conversions: Mapping[str, Iterable[Mapping[str, str]]],
    checked: Mapping[str, int],
    fired: Mapping[str, Mapping[str, list[int]]],
    uids: Collection[str] | None = None,
) -> set[str]:
    """Make the four tables hold exactly these relations, rewriting only the rules whose rows differ from
    what is stored (a rebuild changes few); returns those rules: their pages are to be rendered again.

    `uids`: the rules whose conversions and fires-on rows are given (the others' stored rows are kept);
    `links` is always every rule's, or None when they are those stored (with `uids` only: the rules
    re-read have the facts links are made of that they had)."""
    if links is None and uids is None:
        raise ValueError("links may be kept only in a pass over some rules")
    tables = TABLES if links is not None else tuple(t for t in TABLES if t != "rule_links")
    before = _snapshot(db, uids, tables)
    after = _rows(links, conversions, checked, fired)
    # a rule outside `uids` has its links on both sides only, so only they are compared and rewritten
    changed = {uid for uid in before.keys() | after.keys() if before.get(uid) != after.get(uid)}
    scoped = changed if uids is None else changed & set(uids)
    for table in tables:
        todo = json.dumps(sorted(changed if table == "rule_links" else scoped))
        db.execute(f"DELETE FROM {table} WHERE uid IN (SELECT value FROM json_each(?))", (todo,))
    for table in tables:
        db.executemany(
            _INSERT[table], (row for uid in changed for t, row in after.get(uid, []) if t == table)
        )
    db.commit()
    return changed


def _has_tables(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rule_links'").fetchone()
    return row is not None


def relations(db: sqlite3.Connection, uid: str) -> LinksDoc:
    """A rule's `related_links`, `fires_on` and `deploy` (docs/page-document.md); empty ones for a catalog
    built before these tables existed."""
    return relations_of(db, [uid])[uid]


def relations_of(db: sqlite3.Connection, uids: Iterable[str]) -> dict[str, LinksDoc]:
    """`relations` of each of `uids`, one query per table for all of them (page workers read hundreds of
    rules at a time)."""
    wanted = list(dict.fromkeys(uids))
    out: dict[str, LinksDoc] = {uid: {"related_links": [], "fires_on": None, "deploy": []} for uid in wanted}
    if not wanted or not _has_tables(db):
        return out
    todo = json.dumps(wanted)
    among = "IN (SELECT value FROM json_each(?))"
    for uid, d, t, o, i, title, phrase in db.execute(
        "SELECT uid, direction, type, other_uid, other_id, title, phrase FROM rule_links "
        f"WHERE uid {among} ORDER BY uid, position",
        (todo,),
    ):
        link: RelatedLinkDoc = {
            "direction": d,
            "type": t,
            "uid": o,
            "id": i,
            "title": title,
            "phrase": phrase,
        }
        out[uid]["related_links"].append(link)
    for uid, t, label, p, q, e in db.execute(
        "SELECT uid, target, label, pipeline, query, error FROM rule_conversions "
        f"WHERE uid {among} ORDER BY uid, position",
        (todo,),
    ):
        conversion: DeployDoc = {"target": t, "label": label, "pipeline": p, "query": q, "error": e}
        out[uid]["deploy"].append(conversion)
    for uid, samples in db.execute(f"SELECT uid, samples FROM rule_fires_checked WHERE uid {among}", (todo,)):
        fires_on: FiresOnDoc = {"samples_checked": samples, "samples": []}
        out[uid]["fires_on"] = fires_on
    for uid, sample, records in db.execute(
        f"SELECT uid, sample, records FROM rule_fires WHERE uid {among} ORDER BY uid, sample", (todo,)
    ):
        checked = out[uid]["fires_on"]
        if checked is not None:  # a fired sample of a rule not checked is not shown, as before
            checked["samples"].append({"name": sample, "records": json.loads(records)})
    return out


def attach(db: sqlite3.Connection, doc: RuleDocument) -> RuleDocument:
    """`doc` with its rule's relations set, in place."""
    return attach_from(relations(db, doc["uid"]), doc)


def attach_from(links: LinksDoc, doc: RuleDocument) -> RuleDocument:
    """`doc` with `links` (its rule's `relations`, e.g. from `relations_of`) set, in place."""
    doc["related_links"] = links["related_links"]
    doc["fires_on"] = links["fires_on"]
    doc["deploy"] = links["deploy"]
    return doc


def validated_uids(db: sqlite3.Connection) -> set[str]:
    """Rules some sample fires (the "validated by a sample" filter of ATT&CK pages and coverage)."""
    if not _has_tables(db):
        return set()
    return {uid for (uid,) in db.execute("SELECT DISTINCT uid FROM rule_fires")}
