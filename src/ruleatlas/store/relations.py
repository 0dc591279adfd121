"""Tables and queries of rules in relation (issue 14 §1–§3): each rule's canonical form, and what the whole
catalog's forms give — broader and stricter neighbours, equivalence classes, rules on the same cloud action.

The build writes a form per analysed rule (`write_forms`, beside the rule's other rows) and recomputes the
relations over every form once the catalog holds all rules (`refresh`), returning the rules whose relation
sections changed so that an incremental build renders their pages again. A catalog built before these tables
existed answers as if no rule had relations.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypedDict

import orjson

from ruleatlas.analysis.document import RelatedRuleDoc, RelationsDoc
from ruleatlas.analysis.relations import RuleForm, relate
from ruleatlas.analysis.relations.neighbours import Neighbour, comparable, fed_within, may_be_broad, pair

TABLES = """
-- beside the form, what an incremental refresh sifts every rule by without reading its form: its log source,
-- its coverage (a JSON list) and its role (0: not compared, 1: compared, 2: may also be a broader rule)
CREATE TABLE IF NOT EXISTS rel_forms (
    uid TEXT PRIMARY KEY, class_key TEXT NOT NULL, form TEXT NOT NULL, source TEXT NOT NULL,
    coverage TEXT NOT NULL, role INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rel_forms_key ON rel_forms (class_key);
CREATE TABLE IF NOT EXISTS rel_form_actions (uid TEXT NOT NULL, provider TEXT NOT NULL, action TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rel_form_actions_uid ON rel_form_actions (uid);
CREATE INDEX IF NOT EXISTS rel_form_actions_action ON rel_form_actions (provider, action);
CREATE TABLE IF NOT EXISTS rel_neighbours (
    narrow TEXT NOT NULL, broad TEXT NOT NULL, broad_reason TEXT NOT NULL, narrow_reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rel_neighbours_narrow ON rel_neighbours (narrow);
CREATE INDEX IF NOT EXISTS rel_neighbours_broad ON rel_neighbours (broad);
-- classes of two rules or more; class_key is the hash of the members' canonical form
CREATE TABLE IF NOT EXISTS rel_classes (class_key TEXT NOT NULL, uid TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rel_classes_key ON rel_classes (class_key);
CREATE INDEX IF NOT EXISTS rel_classes_uid ON rel_classes (uid);
-- cloud and SaaS actions (provider, event) named by two rules or more
CREATE TABLE IF NOT EXISTS rel_actions (provider TEXT NOT NULL, action TEXT NOT NULL, uid TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rel_actions_uid ON rel_actions (uid);
CREATE INDEX IF NOT EXISTS rel_actions_action ON rel_actions (provider, action);
-- what each rule's relation sections showed at the last refresh: rules whose digest changes are re-rendered
CREATE TABLE IF NOT EXISTS rel_digests (uid TEXT PRIMARY KEY, digest TEXT NOT NULL);
"""

LIST_LIMIT = 50  # neighbours and same-action rules a rule page lists (the API says how many there are)
UNCOUNTED = ("deprecated", "unsupported")


def ensure_tables(db: sqlite3.Connection) -> None:
    db.executescript(TABLES)


def _has_tables(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rel_forms'").fetchone()
    return row is not None


def _role(data: dict[str, Any]) -> int:
    """`neighbours.comparable` (1) and `neighbours.may_be_broad` (2) of a form's JSON, without reading its
    terms into literals."""
    terms = data["terms"]
    if data["shape"] is not None or not terms:
        return 0
    return 2 if all(clauses for clauses, _exclusions in terms) else 1


def write_forms(db: sqlite3.Connection, forms: Iterable[tuple[str, str]]) -> None:
    """Store (uid, form JSON) of analysed rules; an empty form text removes the rule's form (no logic)."""
    ensure_tables(db)
    for uid, text in forms:
        db.execute("DELETE FROM rel_form_actions WHERE uid = ?", (uid,))
        if not text:
            db.execute("DELETE FROM rel_forms WHERE uid = ?", (uid,))
            continue
        data = json.loads(text)
        db.execute(
            "INSERT OR REPLACE INTO rel_forms VALUES (?, ?, ?, ?, ?, ?)",
            (uid, data["class_key"], text, data.get("source", ""), json.dumps(data["coverage"]), _role(data)),
        )
        db.executemany(
            "INSERT INTO rel_form_actions VALUES (?, ?, ?)", ((uid, a[0], a[1]) for a in data["actions"])
        )


@dataclass(slots=True)
class RefreshSummary:
    forms: int
    neighbours: int
    classes: int
    actions: int
    candidates: int
    changed: set[str]


def load_forms(db: sqlite3.Connection) -> list[RuleForm]:
    """The forms of the catalog's live rules (deprecated and unsupported ones left out), in uid order."""
    ensure_tables(db)
    rows = db.execute(
        "SELECT f.uid, f.form FROM rel_forms f JOIN rules r ON r.uid = f.uid "
        f"WHERE r.kind NOT IN {UNCOUNTED} AND r.status NOT IN {UNCOUNTED} ORDER BY f.uid"
    )
    out = []
    for uid, text in rows:
        form = RuleForm.from_json(text)
        form.uid = uid  # a uid made unique after analysis
        out.append(form)
    return out


_LIVE = f"r.kind NOT IN {UNCOUNTED} AND r.status NOT IN {UNCOUNTED}"


def refresh(db: sqlite3.Connection, changed: Iterable[str] | None = None) -> RefreshSummary:
    """Recompute the relations from the stored forms; the summary names the rules whose sections changed.

    `changed`: the rules written or removed since the last refresh (their forms already written): only the
    relations they take part in, before or after, are recomputed — the same tables a whole refresh gives,
    since a pair's relation depends on its two forms alone, a class on its key's members, a same-action
    group on its action's rules."""
    ensure_tables(db)
    if changed is not None:
        return _refresh_changed(db, set(changed))
    db.execute("DELETE FROM rel_forms WHERE uid NOT IN (SELECT uid FROM rules)")
    db.execute("DELETE FROM rel_form_actions WHERE uid NOT IN (SELECT uid FROM rules)")
    forms = load_forms(db)
    relations = relate(forms)
    db.execute("DELETE FROM rel_neighbours")
    db.execute("DELETE FROM rel_classes")
    db.execute("DELETE FROM rel_actions")
    db.executemany(
        "INSERT INTO rel_neighbours VALUES (?, ?, ?, ?)",
        ((n.narrow, n.broad, n.broad_reason, n.narrow_reason) for n in relations.neighbours),
    )
    db.executemany(
        "INSERT INTO rel_classes VALUES (?, ?)",
        ((key, uid) for key, uids in relations.classes.items() for uid in uids),
    )
    db.executemany(
        "INSERT INTO rel_actions VALUES (?, ?, ?)",
        ((provider, action, uid) for (provider, action), uids in relations.actions.items() for uid in uids),
    )
    changed = _update_digests(db, {form.uid: form for form in forms})
    return RefreshSummary(
        len(forms),
        len(relations.neighbours),
        len(relations.classes),
        len(relations.actions),
        relations.candidates,
        changed,
    )


def _in(column: str, values: Iterable[Any]) -> tuple[str, tuple[str]]:
    """`column IN (the values)` for any number of values: one JSON parameter."""
    return f"{column} IN (SELECT value FROM json_each(?))", (json.dumps(sorted(values)),)


def _refresh_changed(db: sqlite3.Connection, changed: set[str]) -> RefreshSummary:
    """`refresh` over the relations of `changed` rules only (its docstring)."""
    where_uid, todo = _in("uid", changed)
    # What the changed rules were related to before: those rules' sections may change too.
    before = {
        uid
        for row in db.execute(
            "SELECT narrow, broad FROM rel_neighbours WHERE narrow IN (SELECT value FROM json_each(?1)) "
            "OR broad IN (SELECT value FROM json_each(?1))",
            todo,
        )
        for uid in row
    }
    keys = {key for (key,) in db.execute(f"SELECT class_key FROM rel_classes WHERE {where_uid}", todo)}
    actions = set(db.execute(f"SELECT provider, action FROM rel_actions WHERE {where_uid}", todo))
    db.execute(f"DELETE FROM rel_forms WHERE {where_uid} AND uid NOT IN (SELECT uid FROM rules)", todo)
    db.execute(f"DELETE FROM rel_form_actions WHERE {where_uid} AND uid NOT IN (SELECT uid FROM rules)", todo)
    db.execute(
        "DELETE FROM rel_neighbours WHERE narrow IN (SELECT value FROM json_each(?1)) "
        "OR broad IN (SELECT value FROM json_each(?1))",
        todo,
    )
    mine = {
        uid: _form(uid, text)
        for uid, text in db.execute(
            f"SELECT f.uid, f.form FROM rel_forms f JOIN rules r ON r.uid = f.uid WHERE {_LIVE} "
            "AND f.uid IN (SELECT value FROM json_each(?))",
            todo,
        )
    }
    keys |= {form.class_key for form in mine.values()}
    actions |= {action for form in mine.values() for action in form.actions}
    found, candidates = _neighbours_of(db, mine)
    db.executemany(
        "INSERT INTO rel_neighbours VALUES (?, ?, ?, ?)",
        ((n.narrow, n.broad, n.broad_reason, n.narrow_reason) for n in found),
    )
    # Classes and same-action groups of the keys and actions the changed rules had or have.
    where_key, key_list = _in("class_key", keys)
    db.execute(f"DELETE FROM rel_classes WHERE {where_key}", key_list)
    members: dict[str, list[str]] = defaultdict(list)
    for key, uid in db.execute(
        f"SELECT f.class_key, f.uid FROM rel_forms f JOIN rules r ON r.uid = f.uid WHERE {_LIVE} "
        "AND f.class_key IN (SELECT value FROM json_each(?))",
        key_list,
    ):
        members[key].append(uid)
    db.executemany(
        "INSERT INTO rel_classes VALUES (?, ?)",
        ((key, uid) for key, uids in members.items() if len(uids) >= 2 for uid in sorted(uids)),
    )
    peers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for provider, action in actions:
        db.execute("DELETE FROM rel_actions WHERE provider = ? AND action = ?", (provider, action))
        peers[(provider, action)] = [
            uid
            for (uid,) in db.execute(
                "SELECT DISTINCT a.uid FROM rel_form_actions a JOIN rules r ON r.uid = a.uid "
                f"WHERE {_LIVE} AND a.provider = ? AND a.action = ? ORDER BY a.uid",
                (provider, action),
            )
        ]
    db.executemany(
        "INSERT INTO rel_actions VALUES (?, ?, ?)",
        ((p, a, uid) for (p, a), uids in peers.items() if len(uids) >= 2 for uid in uids),
    )
    # The sections to digest again: the changed rules, who they were and are related to.
    touched = changed | before | {uid for n in found for uid in (n.narrow, n.broad)}
    touched |= {uid for uids in members.values() for uid in uids}
    touched |= {uid for uids in peers.values() for uid in uids}
    where_touched, touched_list = _in("f.uid", touched)
    forms = {
        uid: _form(uid, text)
        for uid, text in db.execute(
            f"SELECT f.uid, f.form FROM rel_forms f JOIN rules r ON r.uid = f.uid WHERE {_LIVE} "
            f"AND {where_touched}",
            touched_list,
        )
    }
    changed_sections = _update_digests(db, forms, touched)
    count = db.execute
    return RefreshSummary(
        count(f"SELECT COUNT(*) FROM rel_forms f JOIN rules r ON r.uid = f.uid WHERE {_LIVE}").fetchone()[0],
        count("SELECT COUNT(*) FROM rel_neighbours").fetchone()[0],
        count("SELECT COUNT(DISTINCT class_key) FROM rel_classes").fetchone()[0],
        count("SELECT COUNT(*) FROM (SELECT DISTINCT provider, action FROM rel_actions)").fetchone()[0],
        candidates,
        changed_sections,
    )


def _form(uid: str, text: str) -> RuleForm:
    form = RuleForm.from_json(text)
    form.uid = uid  # a uid made unique after analysis
    return form


def _neighbours_of(db: sqlite3.Connection, mine: dict[str, RuleForm]) -> tuple[list[Neighbour], int]:
    """Every neighbour pair with a rule of `mine` on either side, over the catalog's live forms: only the
    rules whose coverage (or log source) a pair allows are read and compared."""
    forms = [form for form in mine.values() if comparable(form)]
    if not forms:
        return [], 0
    others: list[tuple[str, str, str, frozenset[str], int]] = [
        (uid, key, source, frozenset(orjson.loads(coverage)), role)  # orjson: ~13,000 rows a refresh
        for uid, key, source, coverage, role in db.execute(
            f"SELECT f.uid, f.class_key, f.source, f.coverage, f.role FROM rel_forms f JOIN rules r "
            f"ON r.uid = f.uid WHERE {_LIVE} AND f.role > 0"
        )
    ]
    wanted: dict[str, list[tuple[RuleForm, bool]]] = defaultdict(list)  # other uid -> (form, other is broad)
    for form in forms:
        broad = may_be_broad(form)
        for uid, key, source, coverage, role in others:
            if uid == form.uid or key == form.class_key:
                continue
            # a pair of two changed rules is found once, from its narrow side
            if broad and (coverage <= form.coverage or source == form.source) and uid not in mine:
                wanted[uid].append((form, False))
            if role == 2 and (form.coverage <= coverage or source == form.source):
                wanted[uid].append((form, True))
    found: dict[tuple[str, str], Neighbour] = {}
    candidates = 0
    where, uids = _in("uid", wanted)
    for uid, text in db.execute(f"SELECT uid, form FROM rel_forms WHERE {where}", uids):
        other = mine.get(uid) or _form(uid, text)
        for form, other_is_broad in wanted[uid]:
            narrow, wide = (form, other) if other_is_broad else (other, form)
            if not fed_within(narrow, wide):
                continue
            candidates += 1
            neighbour = pair(narrow, wide)
            if neighbour is not None:
                found[(neighbour.narrow, neighbour.broad)] = neighbour
    return list(found.values()), candidates


def _update_digests(
    db: sqlite3.Connection, forms: dict[str, RuleForm], only: set[str] | None = None
) -> set[str]:
    """Digest what each rule's sections show (related uids, reasons, titles, class size); return the rules
    whose digest changed, and those of rules that lost every relation. `only`: digest these rules alone
    (`forms` then holds theirs), the others' sections being unchanged."""
    params: tuple[str, ...] = ()
    if only is None:
        where = "1"
        titles = {
            uid: (title, vendor) for uid, title, vendor in db.execute("SELECT uid, title, vendor FROM rules")
        }
    else:
        where, params = _in("{column}", only)
        titles = {}
    shown: dict[str, list[Any]] = defaultdict(list)
    neighbour_rows = db.execute(
        "SELECT * FROM rel_neighbours WHERE "
        + (
            "1"
            if only is None
            else "narrow IN (SELECT value FROM json_each(?1)) OR broad IN (SELECT value FROM json_each(?1))"
        ),
        params,
    ).fetchall()
    class_rows = db.execute(
        "SELECT c.class_key, c.uid, (SELECT COUNT(*) FROM rel_classes s WHERE s.class_key = c.class_key) "
        f"FROM rel_classes c WHERE {where.format(column='c.uid')}",
        params,
    ).fetchall()
    action_rows = db.execute(
        "SELECT provider, action, uid FROM rel_actions WHERE (provider, action) IN "
        f"(SELECT provider, action FROM rel_actions WHERE {where.format(column='uid')}) ORDER BY rowid",
        params,
    ).fetchall()
    if only is not None:
        named = {u for row in neighbour_rows for u in row[:2]} | {row[2] for row in action_rows}
        where_named, named_list = _in("uid", named)
        titles = {
            uid: (title, vendor)
            for uid, title, vendor in db.execute(
                f"SELECT uid, title, vendor FROM rules WHERE {where_named}", named_list
            )
        }
    for narrow, broad, broad_reason, narrow_reason in neighbour_rows:
        shown[narrow].append(("broad", broad, broad_reason, titles.get(broad)))
        shown[broad].append(("narrow", narrow, narrow_reason, titles.get(narrow)))
    for key, uid, size in class_rows:
        shown[uid].append(("class", key, size))
    peers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for provider, action, uid in action_rows:
        peers[(provider, action)].append(uid)
    for (provider, action), uids in peers.items():
        for uid in uids:
            shown[uid].append(("action", provider, action))
            shown[uid].append(("peers", provider, action, [(u, titles.get(u)) for u in uids]))
    for form in forms.values():
        shown[form.uid].append(("form", form.undecidable, form.opaque))
    digests = {
        uid: hashlib.sha256(json.dumps(sorted(map(repr, items))).encode()).hexdigest()[:16]
        for uid, items in shown.items()
        if only is None or uid in only
    }
    if only is None:
        old = dict(db.execute("SELECT uid, digest FROM rel_digests").fetchall())
        gone = set(old) - set(digests)
        db.execute("DELETE FROM rel_digests")
        live = set(titles)
    else:
        old = dict(
            db.execute(f"SELECT uid, digest FROM rel_digests WHERE {where.format(column='uid')}", params)
        )
        gone = set(old) - set(digests)
        db.execute(f"DELETE FROM rel_digests WHERE {where.format(column='uid')}", params)
        where_only, only_list = _in("uid", only)
        live = {uid for (uid,) in db.execute(f"SELECT uid FROM rules WHERE {where_only}", only_list)}
    changed = {uid for uid, digest in digests.items() if old.get(uid) != digest} | gone
    db.executemany("INSERT INTO rel_digests VALUES (?, ?)", digests.items())
    return {uid for uid in changed if uid in live}


# --- reading -------------------------------------------------------------------------------------------


class ClassSummary(TypedDict):
    """One equivalence class in the class list (`/api/rules/eq`, `/rules/eq/`)."""

    id: str
    size: int
    vendors: list[str]
    title: str  # the alphabetically first member's title
    shape: str  # the correlation shape in words
    stage_count: int


class MemberStage(TypedDict):
    index: int
    label: str
    op: str
    text: str


class ClassMember(TypedDict):
    uid: str
    title: str
    vendor: str
    language: str
    stage_count: int
    stages: list[MemberStage]


class ClassDetail(TypedDict):
    """One equivalence class (`/api/rules/eq/{id}`, `/rules/eq/<id>/`)."""

    id: str
    size: int
    shape: str
    correlation: dict[str, Any] | None  # the aggregation shape as the canonical form holds it
    coverage: list[str]
    members: list[ClassMember]


def _rule_ref(db: sqlite3.Connection, uid: str) -> dict[str, str] | None:
    row = db.execute("SELECT uid, title, vendor FROM rules WHERE uid = ?", (uid,)).fetchone()
    return None if row is None else {"uid": row[0], "title": row[1], "vendor": row[2]}


def shape_text(shape: dict[str, Any] | None) -> str:
    """A correlation shape in words: "single event", "threshold by user over 300 s"..."""
    if shape is None:
        return "single event"
    kind = str(shape.get("type", "")).replace("_", " ")
    if kind == "pipeline":
        return "pipeline with aggregation or join"
    words = [kind]
    if shape.get("group_by"):
        words.append("by " + ", ".join(shape["group_by"]))
    if shape.get("timespan_seconds"):
        words.append(f"over {shape['timespan_seconds']} s")
    return " ".join(words)


def rule_relations(db: sqlite3.Connection, uid: str) -> RelationsDoc:
    """The `relations` part of a rule's document: its class, neighbours and same-action rules."""
    return rules_relations(db, [uid])[uid]


def _no_relations() -> RelationsDoc:
    return {
        "compared": False,
        "note": "",
        "class": None,
        "broader": [],
        "broader_total": 0,
        "stricter": [],
        "stricter_total": 0,
        "same_action": [],
    }


def rules_relations(db: sqlite3.Connection, uids: Iterable[str]) -> dict[str, RelationsDoc]:
    """`rule_relations` of each of `uids`, read with a few queries for all of them (the page workers read
    hundreds of rules at a time: per-rule queries were a sixth of a rule page's cost)."""
    wanted = list(dict.fromkeys(uids))
    out = {uid: _no_relations() for uid in wanted}
    if not wanted or not _has_tables(db):
        return out
    todo = json.dumps(wanted)
    among = "IN (SELECT value FROM json_each(?))"
    forms = dict(db.execute(f"SELECT uid, form FROM rel_forms WHERE uid {among}", (todo,)).fetchall())
    classes_of: dict[str, dict[str, Any]] = {}
    for uid, key, size in db.execute(
        "SELECT me.uid, c.class_key, COUNT(*) FROM rel_classes c JOIN rel_classes me "
        f"ON me.class_key = c.class_key WHERE me.uid {among} GROUP BY me.uid, c.class_key "
        "ORDER BY me.uid, c.class_key",
        (todo,),
    ):
        classes_of.setdefault(uid, {"id": key, "size": size})
    sides: dict[str, dict[str, list[tuple[str, str, str, str]]]] = {"broader": {}, "stricter": {}}
    for side, mine, theirs in (("broader", "narrow", "broad"), ("stricter", "broad", "narrow")):
        reason = "broad_reason" if side == "broader" else "narrow_reason"
        for me, u, why, title, vendor in db.execute(
            f"SELECT n.{mine}, n.{theirs}, n.{reason}, r.title, r.vendor FROM rel_neighbours n JOIN rules r "
            f"ON r.uid = n.{theirs} WHERE n.{mine} {among} "
            f"ORDER BY n.{mine}, length(n.{reason}), r.title, n.{theirs}",
            (todo,),
        ):
            sides[side].setdefault(me, []).append((u, why, title, vendor))
    actions_of: dict[str, list[tuple[str, str]]] = {}
    for uid, provider, action in db.execute(
        f"SELECT uid, provider, action FROM rel_actions WHERE uid {among} ORDER BY uid, provider, action",
        (todo,),
    ):
        actions_of.setdefault(uid, []).append((provider, action))
    members: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for uid in wanted:
        form_text = forms.get(uid)
        if form_text is None:
            out[uid]["note"] = (
                "Not compared with other rules: its logic is not parsed, or it has none of its own "
                "(a correlation of other rules)."
            )
            continue
        form = RuleForm.from_json(form_text)
        doc: RelationsDoc = {**out[uid], "compared": True}
        notes = []
        if form.undecidable:
            notes.append(f"Broader and stricter rules are undecidable for this rule: {form.undecidable}.")
        elif form.shape is not None:
            notes.append(
                f"Broader and stricter rules are compared for single-event rules only; this one is a "
                f"{shape_text(form.shape)}."
            )
        if form.opaque and not form.undecidable:
            notes.append(
                "Its "
                + ", ".join(form.opaque)
                + " comparisons are undecidable: they match another rule's only when identical."
            )
        doc["note"] = " ".join(notes)
        found = classes_of.get(uid)
        if found is not None:
            doc["class"] = {"id": found["id"], "size": found["size"]}
        for side in ("broader", "stricter"):
            rows = sides[side].get(uid, [])
            listed: list[RelatedRuleDoc] = [
                {"uid": u, "reason": why, "title": title, "vendor": vendor}
                for u, why, title, vendor in rows[:LIST_LIMIT]
            ]
            if side == "broader":
                doc["broader"], doc["broader_total"] = listed, len(rows)
            else:
                doc["stricter"], doc["stricter_total"] = listed, len(rows)
        for provider, action in actions_of.get(uid, []):
            group = members.get((provider, action))
            if group is None:
                group = members[(provider, action)] = db.execute(
                    "SELECT a.uid, r.title, r.vendor FROM rel_actions a JOIN rules r ON r.uid = a.uid "
                    "WHERE a.provider = ? AND a.action = ? ORDER BY r.vendor, r.title, a.uid",
                    (provider, action),
                ).fetchall()
            others = [row for row in group if row[0] != uid]
            doc["same_action"].append(
                {
                    "provider": provider,
                    "action": action,
                    "total": len(others),
                    "rules": [{"uid": u, "title": t, "vendor": v} for u, t, v in others[:LIST_LIMIT]],
                }
            )
        out[uid] = doc
    return out


def classes(db: sqlite3.Connection, limit: int | None = None, offset: int = 0) -> list[ClassSummary]:
    """Every class of two rules or more, largest first: id, size, vendors, a title, the shape."""
    if not _has_tables(db):
        return []
    rows = db.execute(
        "SELECT class_key, size, vendors, title, (SELECT f.form FROM rel_forms f WHERE f.uid = first_uid) "
        "FROM (SELECT c.class_key, COUNT(*) AS size, group_concat(DISTINCT r.vendor) AS vendors, "
        "MIN(r.title) AS title, MIN(c.uid) AS first_uid FROM rel_classes c JOIN rules r ON r.uid = c.uid "
        "GROUP BY c.class_key) ORDER BY size DESC, title, class_key LIMIT ? OFFSET ?",
        (-1 if limit is None else limit, offset),
    ).fetchall()
    out: list[ClassSummary] = []
    for key, size, vendors, title, form_text in rows:
        form = RuleForm.from_json(form_text) if form_text else None
        out.append(
            {
                "id": key,
                "size": size,
                "vendors": sorted(set((vendors or "").split(","))),
                "title": title,
                "shape": shape_text(form.shape if form else None),
                "stage_count": form.stage_count if form else 0,
            }
        )
    return out


def class_count(db: sqlite3.Connection) -> int:
    if not _has_tables(db):
        return 0
    return int(db.execute("SELECT COUNT(DISTINCT class_key) FROM rel_classes").fetchone()[0])


def class_detail(db: sqlite3.Connection, key: str) -> ClassDetail | None:
    """One class: its members across vendors with their stages in their own syntax."""
    if not _has_tables(db):
        return None
    rows = db.execute(
        "SELECT c.uid, r.title, r.vendor, r.doc, f.form FROM rel_classes c JOIN rules r ON r.uid = c.uid "
        "JOIN rel_forms f ON f.uid = c.uid WHERE c.class_key = ? ORDER BY r.vendor, r.title, c.uid",
        (key,),
    ).fetchall()
    if not rows:
        return None
    members: list[ClassMember] = []
    form = RuleForm.from_json(rows[0][4])
    for uid, title, vendor, doc_text, form_text in rows:
        doc = json.loads(doc_text)
        members.append(
            {
                "uid": uid,
                "title": title,
                "vendor": vendor,
                "language": doc.get("language", ""),
                "stage_count": RuleForm.from_json(form_text).stage_count,
                "stages": [
                    {"index": s["index"], "label": s["label"], "op": s["op"], "text": s["text"]}
                    for s in doc.get("stages", [])
                ],
            }
        )
    return {
        "id": key,
        "size": len(members),
        "shape": shape_text(form.shape),
        "correlation": form.shape,
        "coverage": sorted(form.coverage),
        "members": members,
    }
