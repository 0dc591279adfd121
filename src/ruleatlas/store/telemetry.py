"""The telemetry side of the catalog: which rules cover which events, with which fields. Its SQL is all here.

Two tables, written by the build next to the rule rows (`write_rule_events`), one row per (rule, covered
event) and one per (rule, covered event, field the rule tests):

- `tel_rule_events`: uid, vendor, counted (0 for deprecated/unsupported rules), provider (the provider name,
  or the channel when the provider is not known), channel, event_key (the EventID as text, or a catch-all
  event's name), needs (JSON: the alternatives of event fields the rule needs, see telemetry/fields.py).
- `tel_rule_fields`: uid, vendor, counted, provider, event_key, field (the event's name for it),
  rule_field (the rule's name).
- `tel_rule_bridged`: the events that serve a rule through an event bridge besides its own (never in
  `tel_rule_events`, so counts of either never add up twice): uid, vendor, counted, provider, channel,
  event_key, via_provider and via_key (the rule's own event it stands in for), bridge (the Sigma category),
  scanned (1 the scanner feeds it to the rule, 0 it does not, NULL a rule the scanner does not run), needs.

Everything the telemetry pages, the API and the readiness report show about rules is read from these tables,
`rules`, `indicators` and `rule_techniques`; the event definitions themselves are the `telemetry` blob.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from ruleatlas.telemetry.bridged import BridgedEvent
from ruleatlas.telemetry.fields import RuleEventFields
from ruleatlas.telemetry.readiness import BridgedCoveredEvent, CoveredEvent
from ruleatlas.telemetry.report import ReadinessInputs

if TYPE_CHECKING:
    from ruleatlas.store.catalog import Catalog

TABLES_VERSION = "2"  # part of the build's inputs key: a catalog with other tables is rebuilt, not patched

SCHEMA = """
CREATE TABLE IF NOT EXISTS tel_rule_events (
    uid TEXT NOT NULL, vendor TEXT NOT NULL, counted INTEGER NOT NULL, provider TEXT NOT NULL,
    channel TEXT NOT NULL, event_key TEXT NOT NULL, needs TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tel_rule_fields (
    uid TEXT NOT NULL, vendor TEXT NOT NULL, counted INTEGER NOT NULL, provider TEXT NOT NULL,
    event_key TEXT NOT NULL, field TEXT NOT NULL, rule_field TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tel_rule_bridged (
    uid TEXT NOT NULL, vendor TEXT NOT NULL, counted INTEGER NOT NULL, provider TEXT NOT NULL,
    channel TEXT NOT NULL, event_key TEXT NOT NULL, via_provider TEXT NOT NULL, via_key TEXT NOT NULL,
    bridge TEXT NOT NULL, scanned INTEGER, needs TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tel_rule_bridged_event ON tel_rule_bridged (provider, event_key);
CREATE INDEX IF NOT EXISTS tel_rule_bridged_uid ON tel_rule_bridged (uid);
CREATE INDEX IF NOT EXISTS tel_rule_events_event ON tel_rule_events (provider, event_key);
CREATE INDEX IF NOT EXISTS tel_rule_events_uid ON tel_rule_events (uid);
CREATE INDEX IF NOT EXISTS tel_rule_fields_event ON tel_rule_fields (provider, event_key);
CREATE INDEX IF NOT EXISTS tel_rule_fields_uid ON tel_rule_fields (uid);
"""

_INDEX_NAMES = re.findall(r"CREATE INDEX IF NOT EXISTS (\w+)", SCHEMA)

EventKeyRow = tuple[str, str]  # (provider, event_key)


@dataclass(slots=True)
class RuleTelemetry:
    """What the build hands over for one rule."""

    uid: str
    vendor: str
    counted: bool
    events: list[RuleEventFields]
    bridged: list[BridgedEvent] = dataclasses.field(default_factory=list)


# -- writing ----------------------------------------------------------------------------------------------


def ensure_schema(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def events_of_files(db: sqlite3.Connection, source: str, paths: Iterable[str]) -> set[EventKeyRow]:
    """The events covered by the rules of these files, as the catalog has them now (call before the
    writer deletes those rules: a rebuild must re-render what a changed rule covered before)."""
    ensure_schema(db)
    found: set[EventKeyRow] = set()
    for path in paths:
        for table in ("tel_rule_events", "tel_rule_bridged"):
            found.update(
                db.execute(
                    f"SELECT DISTINCT e.provider, e.event_key FROM {table} e "
                    "JOIN rules r ON r.uid = e.uid WHERE r.source = ? AND r.path = ?",
                    (source, path),
                )
            )
    return found


def write_rule_events(
    db: sqlite3.Connection, rules: Sequence[RuleTelemetry], *, full: bool
) -> set[EventKeyRow]:
    """Replace the rows of `rules` (all rows when `full`) and drop those of rules no longer in the catalog.
    Returns the events the written rules cover."""
    ensure_schema(db)
    if full:
        db.execute("DELETE FROM tel_rule_events")
        db.execute("DELETE FROM tel_rule_fields")
        db.execute("DELETE FROM tel_rule_bridged")
        # Every row again: the indexes are built after them (cheaper than kept sorted through each insert).
        for name in _INDEX_NAMES:
            db.execute(f"DROP INDEX {name}")
    else:
        uids = [(r.uid,) for r in rules]
        db.executemany("DELETE FROM tel_rule_events WHERE uid = ?", uids)
        db.executemany("DELETE FROM tel_rule_fields WHERE uid = ?", uids)
        db.executemany("DELETE FROM tel_rule_bridged WHERE uid = ?", uids)
        for table in ("tel_rule_events", "tel_rule_fields", "tel_rule_bridged"):
            db.execute(f"DELETE FROM {table} WHERE uid NOT IN (SELECT uid FROM rules)")
    db.executemany(
        "INSERT INTO tel_rule_events VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (r.uid, r.vendor, int(r.counted), e.provider, e.channel, e.event_key, json.dumps(e.needs))
            for r in rules
            for e in r.events
        ),
    )
    db.executemany(
        "INSERT INTO tel_rule_fields VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            (r.uid, r.vendor, int(r.counted), e.provider, e.event_key, field, rule_field)
            for r in rules
            for e in r.events
            for field, rule_field in e.fields
        ),
    )
    db.executemany(
        "INSERT INTO tel_rule_bridged VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                r.uid,
                r.vendor,
                int(r.counted),
                b.provider,
                b.channel,
                b.event_key,
                b.via_provider,
                b.via_key,
                b.category,
                None if b.scanned is None else int(b.scanned),
                json.dumps([list(alt) for alt in b.needs]),
            )
            for r in rules
            for b in r.bridged
        ),
    )
    if full:
        ensure_schema(db)
    return {(e.provider, e.event_key) for r in rules for e in r.events} | {
        b.event for r in rules for b in r.bridged
    }


# -- reading ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RuleRef:
    uid: str
    vendor: str
    title: str
    level: str
    status: str
    kind: str
    counted: bool


@dataclass(slots=True)
class BridgedRuleRef(RuleRef):
    """A rule an event serves through a bridge: the rule, the event it covers itself, the bridge."""

    via_provider: str
    via_key: str
    bridge: str
    scanned: bool | None


@dataclass(slots=True)
class BridgedNeeds:
    """One (rule, bridged event) for the readiness report: a `CoveredEvent` with where it comes from."""

    uid: str
    provider: str
    channel: str
    event_key: str
    via_provider: str
    via_key: str
    bridge: str
    scanned: bool | None
    needs: list[list[str]]


class UncoveredRule(TypedDict):
    """A rule that covers no event, and why (its events note); the web's answer adds the rule's path."""

    uid: str
    vendor: str
    title: str
    kind: str
    logsource: str
    reason: str


@dataclass(slots=True)
class EventIndicator:
    field: str
    kind: str
    value: str
    transforms: str
    rules: int
    by_vendor: dict[str, int]


@dataclass(slots=True)
class RuleNeeds:
    """One (rule, covered event) for the readiness report."""

    uid: str
    vendor: str
    title: str
    kind: str
    provider: str
    channel: str
    event_key: str
    needs: list[list[str]]


class TelemetryQueries:
    """Read queries over a built catalog's connection (`Catalog.db`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def has_tables(self) -> bool:
        return self._has_table("tel_rule_events")

    def has_bridged(self) -> bool:
        """A catalog built before bridged events were kept has no such table: none are shown then."""
        return self._has_table("tel_rule_bridged")

    def _has_table(self, name: str) -> bool:
        row = self.db.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return bool(row[0])

    def event_rule_counts(
        self, events: Iterable[EventKeyRow] | None = None
    ) -> dict[EventKeyRow, dict[str, int]]:
        """Distinct counted rules per event, by vendor (all events with rules, or just `events`)."""
        out: dict[EventKeyRow, dict[str, int]] = {}
        sql = (
            "SELECT provider, event_key, vendor, COUNT(DISTINCT uid) FROM tel_rule_events WHERE counted = 1 "
            "{where} GROUP BY provider, event_key, vendor"
        )
        if events is None:
            rows: Iterable[tuple[str, str, str, int]] = self.db.execute(sql.format(where=""))
        else:
            rows = (
                row
                for key in set(events)
                for row in self.db.execute(sql.format(where="AND provider = ? AND event_key = ?"), key)
            )
        for provider, key, vendor, n in rows:
            out.setdefault((provider, key), {})[vendor] = n
        return out

    def provider_rules(self) -> dict[str, dict[str, str]]:
        """The counted rules covering some event of each provider (as the tables name it): uid -> vendor,
        so that a platform's page counts each rule once however many of its events the rule covers."""
        out: dict[str, dict[str, str]] = {}
        for provider, uid, vendor in self.db.execute(
            "SELECT DISTINCT provider, uid, vendor FROM tel_rule_events WHERE counted = 1"
        ):
            out.setdefault(provider, {})[uid] = vendor
        return out

    def referenced_events(self) -> dict[EventKeyRow, str]:
        """Every event some rule covers (counted or not), with a channel rules name for it, and the events
        that serve rules through a bridge (they have pages listing those rules)."""
        found = (
            {
                (p, k): c
                for p, k, c in self.db.execute(
                    "SELECT provider, event_key, MAX(channel) FROM tel_rule_bridged "
                    "GROUP BY provider, event_key"
                )
            }
            if self.has_bridged()
            else {}
        )
        found.update(
            ((p, k), c)
            for p, k, c in self.db.execute(
                "SELECT provider, event_key, MAX(channel) FROM tel_rule_events GROUP BY provider, event_key"
            )
        )
        return found

    def bridged_rule_counts(self) -> dict[EventKeyRow, dict[str, int]]:
        """Distinct counted rules each event serves through a bridge only, by vendor (never a rule that
        covers the event itself: `tel_rule_bridged` holds no such row)."""
        out: dict[EventKeyRow, dict[str, int]] = {}
        if not self.has_bridged():
            return out
        for provider, key, vendor, n in self.db.execute(
            "SELECT provider, event_key, vendor, COUNT(DISTINCT uid) FROM tel_rule_bridged WHERE counted = 1 "
            "GROUP BY provider, event_key, vendor"
        ):
            out.setdefault((provider, key), {})[vendor] = n
        return out

    def event_bridged_rules(self, provider: str, event_key: str) -> list[BridgedRuleRef]:
        """The counted rules an event serves through a bridge, with the event they cover and the bridge."""
        if not self.has_bridged():
            return []
        rows = self.db.execute(
            "SELECT DISTINCT r.uid, r.vendor, r.title, r.level, r.status, r.kind, b.via_provider, b.via_key, "
            "b.bridge, b.scanned FROM tel_rule_bridged b JOIN rules r ON r.uid = b.uid "
            "WHERE b.provider = ? AND b.event_key = ? AND b.counted = 1 "
            "ORDER BY r.vendor, r.title COLLATE NOCASE, r.uid",
            (provider, event_key),
        )
        return [
            BridgedRuleRef(u, v, t, lv, st, k, True, vp, vk, br, None if sc is None else bool(sc))
            for u, v, t, lv, st, k, vp, vk, br, sc in rows
        ]

    def bridged_needs(self) -> list[BridgedNeeds]:
        """Every (counted rule, bridged event) with the fields the rule needs there, in the event's names."""
        if not self.has_bridged():
            return []
        rows = self.db.execute(
            "SELECT uid, provider, channel, event_key, via_provider, via_key, bridge, scanned, needs "
            "FROM tel_rule_bridged WHERE counted = 1 ORDER BY uid"
        )
        return [
            BridgedNeeds(u, p, c, k, vp, vk, b, None if sc is None else bool(sc), json.loads(n))
            for u, p, c, k, vp, vk, b, sc, n in rows
        ]

    def event_rules(self, provider: str, event_key: str) -> list[RuleRef]:
        rows = self.db.execute(
            "SELECT DISTINCT r.uid, r.vendor, r.title, r.level, r.status, r.kind, e.counted "
            "FROM tel_rule_events e JOIN rules r ON r.uid = e.uid WHERE e.provider = ? AND e.event_key = ? "
            "ORDER BY r.vendor, r.title COLLATE NOCASE, r.uid",
            (provider, event_key),
        )
        return [RuleRef(u, v, t, lv, st, k, bool(c)) for u, v, t, lv, st, k, c in rows]

    def event_field_counts(self, provider: str, event_key: str) -> dict[str, dict[str, int]]:
        """Per event field, the distinct counted rules testing it, by vendor."""
        out: dict[str, dict[str, int]] = {}
        for field, vendor, n in self.db.execute(
            "SELECT field, vendor, COUNT(DISTINCT uid) FROM tel_rule_fields "
            "WHERE provider = ? AND event_key = ? AND counted = 1 GROUP BY field, vendor",
            (provider, event_key),
        ):
            out.setdefault(field, {})[vendor] = n
        return out

    def event_field_aliases(self, provider: str, event_key: str) -> dict[str, list[str]]:
        """Event field -> the other names rules give it (Image for Security 4688's NewProcessName)."""
        out: dict[str, list[str]] = {}
        for field, rule_field in self.db.execute(
            "SELECT DISTINCT field, rule_field FROM tel_rule_fields WHERE provider = ? AND event_key = ? "
            "AND field != rule_field ORDER BY field, rule_field",
            (provider, event_key),
        ):
            out.setdefault(field, []).append(rule_field)
        return out

    def event_indicators(self, provider: str, event_key: str, limit: int = 25) -> list[EventIndicator]:
        """The indicators most used by the counted rules covering the event (distinct rules, by vendor)."""
        rows = self.db.execute(
            "SELECT i.field, i.kind, i.value, i.transforms, i.vendor, COUNT(DISTINCT i.uid) "
            "FROM indicators i JOIN (SELECT DISTINCT uid FROM tel_rule_events "
            "WHERE provider = ? AND event_key = ? AND counted = 1) e ON e.uid = i.uid "
            "WHERE i.exclusion = 0 AND i.counted = 1 "
            "GROUP BY i.field, i.kind, i.value, i.transforms, i.vendor",
            (provider, event_key),
        )
        merged: dict[tuple[str, str, str, str], dict[str, int]] = {}
        for field, kind, value, transforms, vendor, n in rows:
            merged.setdefault((field, kind, value, transforms), {})[vendor] = n
        ranked = sorted(merged.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        return [
            EventIndicator(f, k, v, t, sum(by.values()), dict(sorted(by.items())))
            for (f, k, v, t), by in ranked[:limit]
        ]

    def uncovered_rules(self) -> list[UncoveredRule]:
        rows = self.db.execute(
            "SELECT uid, vendor, title, kind, product, category, service, "
            "COALESCE(json_extract(doc, '$.events_note'), '') FROM rules "
            "WHERE uid NOT IN (SELECT uid FROM tel_rule_events) ORDER BY vendor, uid"
        )
        out: list[UncoveredRule] = []
        for uid, vendor, title, kind, product, category, service, note in rows:
            logsource = ", ".join(
                f"{k} {v}"
                for k, v in (("product", product), ("category", category), ("service", service))
                if v
            )
            out.append(
                {
                    "uid": uid,
                    "vendor": vendor,
                    "title": title,
                    "kind": kind,
                    "logsource": logsource,
                    "reason": note,
                }
            )
        return out

    def vendor_mappings(self) -> dict[str, dict[EventKeyRow, int]]:
        """vendor -> event -> distinct counted rules of that vendor covering it."""
        out: dict[str, dict[EventKeyRow, int]] = {}
        for vendor, provider, key, n in self.db.execute(
            "SELECT vendor, provider, event_key, COUNT(DISTINCT uid) FROM tel_rule_events WHERE counted = 1 "
            "GROUP BY vendor, provider, event_key"
        ):
            out.setdefault(vendor, {})[(provider, key)] = n
        return out

    def rule_counts(self) -> dict[str, tuple[int, int]]:
        """vendor -> (counted rules, counted rules with at least one event)."""
        out: dict[str, tuple[int, int]] = {}
        for vendor, total, covered in self.db.execute(
            "SELECT vendor, COUNT(*), SUM(uid IN (SELECT uid FROM tel_rule_events)) FROM rules "
            "WHERE kind NOT IN ('deprecated', 'unsupported') GROUP BY vendor"
        ):
            out[vendor] = (int(total), int(covered or 0))
        return out

    def rule_needs(self) -> list[RuleNeeds]:
        """Every (counted rule, covered event) with the fields the rule needs there."""
        rows = self.db.execute(
            "SELECT e.uid, e.vendor, r.title, r.kind, e.provider, e.channel, e.event_key, e.needs "
            "FROM tel_rule_events e JOIN rules r ON r.uid = e.uid WHERE e.counted = 1 ORDER BY e.uid"
        )
        return [
            RuleNeeds(uid, vendor, title, kind, provider, channel, key, json.loads(needs))
            for uid, vendor, title, kind, provider, channel, key, needs in rows
        ]

    def field_page_names(self) -> set[str]:
        """Fields that have a field page (those some rule uses in a positive predicate: web/catalog_site)."""
        return {
            f for (f,) in self.db.execute("SELECT DISTINCT field FROM indicators WHERE exclusion = 0") if f
        }

    def rule_techniques(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for uid, technique in self.db.execute(
            "SELECT DISTINCT uid, technique_id FROM rule_techniques ORDER BY uid, technique_id"
        ):
            out.setdefault(uid, []).append(technique)
        return out

    def rules_fingerprint(self) -> str:
        """A digest of the rule files the catalog was built from: it changes when a rule does, not when the
        catalog is merely rebuilt (the readiness page uses it to say whether its report is stale)."""
        digest = hashlib.sha256()
        for source, path, content_hash in self.db.execute(
            "SELECT source, path, content_hash FROM files ORDER BY source, path"
        ):
            digest.update(f"{source}\0{path}\0{content_hash}\n".encode())
        return digest.hexdigest()[:24]

    def counted_rules(self) -> list[tuple[str, str, str, str]]:
        """(uid, vendor, title, kind) of every counted rule."""
        return list(
            self.db.execute(
                "SELECT uid, vendor, title, kind FROM rules WHERE kind NOT IN ('deprecated', 'unsupported') "
                "ORDER BY uid"
            )
        )


def readiness_inputs(catalog: Catalog) -> ReadinessInputs:
    """What the readiness report needs from a built catalog: its counted rules, the events each covers with
    the fields it needs, why the others cover none, and their ATT&CK techniques with names."""
    queries = TelemetryQueries(catalog.db)
    covered: dict[str, list[CoveredEvent]] = {}
    bridged: dict[str, list[BridgedCoveredEvent]] = {}
    uncovered: dict[str, str] = {}
    if queries.has_tables():
        for row in queries.rule_needs():
            covered.setdefault(row.uid, []).append(row)
        for extra in queries.bridged_needs():
            bridged.setdefault(extra.uid, []).append(extra)
        uncovered = {u["uid"]: u["reason"] for u in queries.uncovered_rules()}
    attack = catalog.blob("attack")
    names = (
        {t["id"]: t["name"] for t in attack.get("techniques", ()) if isinstance(t, dict) and "id" in t}
        if isinstance(attack, dict)
        else {}
    )
    return ReadinessInputs(
        rules=queries.counted_rules(),
        covered=covered,
        uncovered_notes=uncovered,
        techniques=queries.rule_techniques(),
        technique_names=names,
        built_at=catalog.meta().get("built_at", ""),
        rules_fingerprint=queries.rules_fingerprint(),
        bridged=bridged,
    )
