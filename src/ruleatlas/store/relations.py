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
from typing import Any

from ruleatlas.analysis.document import RelatedRuleDoc, RelationsDoc
from ruleatlas.analysis.relations import RuleForm, relate

TABLES = """
CREATE TABLE IF NOT EXISTS rel_forms (uid TEXT PRIMARY KEY, class_key TEXT NOT NULL, form TEXT NOT NULL);
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


def write_forms(db: sqlite3.Connection, forms: Iterable[tuple[str, str]]) -> None:
    """Store (uid, form JSON) of analysed rules; an empty form text removes the rule's form (no logic)."""
    ensure_tables(db)
    for uid, text in forms:
        if not text:
            db.execute("DELETE FROM rel_forms WHERE uid = ?", (uid,))
            continue
        key = json.loads(text)["class_key"]
        db.execute("INSERT OR REPLACE INTO rel_forms VALUES (?, ?, ?)", (uid, key, text))


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


def refresh(db: sqlite3.Connection) -> RefreshSummary:
    """Recompute every relation from the stored forms; the summary names the rules whose sections changed."""
    ensure_tables(db)
    db.execute("DELETE FROM rel_forms WHERE uid NOT IN (SELECT uid FROM rules)")
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
    changed = _update_digests(db, forms)
    return RefreshSummary(
        len(forms),
        len(relations.neighbours),
        len(relations.classes),
        len(relations.actions),
        relations.candidates,
        changed,
    )


def _update_digests(db: sqlite3.Connection, forms: list[RuleForm]) -> set[str]:
    """Digest what each rule's sections show (related uids, reasons, titles, class size); return the rules
    whose digest changed, and those of rules that lost every relation."""
    titles = {
        uid: (title, vendor) for uid, title, vendor in db.execute("SELECT uid, title, vendor FROM rules")
    }
    shown: dict[str, list[Any]] = defaultdict(list)
    for narrow, broad, broad_reason, narrow_reason in db.execute("SELECT * FROM rel_neighbours"):
        shown[narrow].append(("broad", broad, broad_reason, titles.get(broad)))
        shown[broad].append(("narrow", narrow, narrow_reason, titles.get(narrow)))
    for key, size in db.execute("SELECT class_key, COUNT(*) FROM rel_classes GROUP BY class_key").fetchall():
        for (uid,) in db.execute("SELECT uid FROM rel_classes WHERE class_key = ?", (key,)):
            shown[uid].append(("class", key, size))
    for provider, action, uid in db.execute("SELECT provider, action, uid FROM rel_actions"):
        shown[uid].append(("action", provider, action))
    peers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for provider, action, uid in db.execute("SELECT provider, action, uid FROM rel_actions"):
        peers[(provider, action)].append(uid)
    for (provider, action), uids in peers.items():
        for uid in uids:
            shown[uid].append(("peers", provider, action, [(u, titles.get(u)) for u in uids]))
    for form in forms:
        shown[form.uid].append(("form", form.undecidable, form.opaque))
    digests = {
        uid: hashlib.sha256(json.dumps(sorted(map(repr, items))).encode()).hexdigest()[:16]
        for uid, items in shown.items()
    }
    old = dict(db.execute("SELECT uid, digest FROM rel_digests").fetchall())
    changed = {uid for uid, digest in digests.items() if old.get(uid) != digest}
    changed |= set(old) - set(digests)
    db.execute("DELETE FROM rel_digests")
    db.executemany("INSERT INTO rel_digests VALUES (?, ?)", digests.items())
    return {uid for uid in changed if uid in titles}


# --- reading -------------------------------------------------------------------------------------------


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
    empty: RelationsDoc = {
        "compared": False,
        "note": "",
        "class": None,
        "broader": [],
        "broader_total": 0,
        "stricter": [],
        "stricter_total": 0,
        "same_action": [],
    }
    if not _has_tables(db):
        return empty
    row = db.execute("SELECT form FROM rel_forms WHERE uid = ?", (uid,)).fetchone()
    if row is None:
        empty["note"] = (
            "Not compared with other rules: its logic is not parsed, or it has none of its own "
            "(a correlation of other rules)."
        )
        return empty
    form = RuleForm.from_json(row[0])
    out: RelationsDoc = {**empty, "compared": True}
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
            "Its " + ", ".join(form.opaque) + " comparisons are undecidable: they match another rule's only "
            "when identical."
        )
    out["note"] = " ".join(notes)
    key_row = db.execute(
        "SELECT c.class_key, COUNT(*) FROM rel_classes c JOIN rel_classes me ON me.class_key = c.class_key "
        "WHERE me.uid = ? GROUP BY c.class_key",
        (uid,),
    ).fetchone()
    if key_row is not None:
        out["class"] = {"id": key_row[0], "size": key_row[1]}
    for side, mine, theirs in (("broader", "narrow", "broad"), ("stricter", "broad", "narrow")):
        reason = "broad_reason" if side == "broader" else "narrow_reason"
        rows = db.execute(
            f"SELECT n.{theirs}, n.{reason}, r.title, r.vendor FROM rel_neighbours n JOIN rules r "
            f"ON r.uid = n.{theirs} WHERE n.{mine} = ? ORDER BY length(n.{reason}), r.title, n.{theirs}",
            (uid,),
        ).fetchall()
        listed: list[RelatedRuleDoc] = [
            {"uid": u, "reason": why, "title": title, "vendor": vendor}
            for u, why, title, vendor in rows[:LIST_LIMIT]
        ]
        if side == "broader":
            out["broader"], out["broader_total"] = listed, len(rows)
        else:
            out["stricter"], out["stricter_total"] = listed, len(rows)
    actions = db.execute(
        "SELECT provider, action FROM rel_actions WHERE uid = ? ORDER BY 1, 2", (uid,)
    ).fetchall()
    for provider, action in actions:
        rows = db.execute(
            "SELECT a.uid, r.title, r.vendor FROM rel_actions a JOIN rules r ON r.uid = a.uid "
            "WHERE a.provider = ? AND a.action = ? AND a.uid != ? ORDER BY r.vendor, r.title, a.uid",
            (provider, action, uid),
        ).fetchall()
        out["same_action"].append(
            {
                "provider": provider,
                "action": action,
                "total": len(rows),
                "rules": [{"uid": u, "title": t, "vendor": v} for u, t, v in rows[:LIST_LIMIT]],
            }
        )
    return out


def classes(db: sqlite3.Connection, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
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
    out = []
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


def class_detail(db: sqlite3.Connection, key: str) -> dict[str, Any] | None:
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
    members = []
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
