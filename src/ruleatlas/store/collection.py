"""Queries behind collection priority, `readiness --next` and the per-platform coverage matrices.

Read-only over a built catalog: `tel_rule_events` (which counted rule covers which event, with the fields it
needs there), `rules` (level, class, correlation references) and the telemetry blob's definitions. The
priority formula itself is telemetry/priority.py; the bridges telemetry/bridges.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from ruleatlas.telemetry.bridges import BridgeIndex
from ruleatlas.telemetry.priority import ALL_PARTS_TYPES, CORRELATION_KIND, COUNTED_KINDS, EventRow, RuleNeed

_PLACEHOLDERS = ", ".join("?" for _ in COUNTED_KINDS)


@dataclass(slots=True)
class CoveredRule:
    """One counted detection rule with the events it covers and the fields it needs on each."""

    uid: str
    vendor: str
    level: str
    title: str
    events: dict[EventRow, list[list[str]]] = field(default_factory=dict)
    channels: dict[EventRow, str] = field(default_factory=dict)


def covered_rules(db: sqlite3.Connection, *, fields: bool = True) -> dict[str, CoveredRule]:
    """Every counted detection-class rule (detection, correlation, building block) that covers an event.
    `fields=False` leaves each event's ways of matching empty: reading them (a JSON text per rule and event)
    is most of the cost, and collection priority needs only the events."""
    out: dict[str, CoveredRule] = {}
    rows = db.execute(
        "SELECT e.uid, e.vendor, r.level, r.title, e.provider, e.channel, e.event_key, "
        f"{'e.needs' if fields else 'NULL'} "
        "FROM tel_rule_events e JOIN rules r ON r.uid = e.uid "
        f"WHERE e.counted = 1 AND r.kind IN ({_PLACEHOLDERS}) ORDER BY e.uid",
        COUNTED_KINDS,
    )
    for uid, vendor, level, title, provider, channel, key, needs in rows:
        rule = out.get(uid)
        if rule is None:
            rule = out[uid] = CoveredRule(uid, vendor, level, title)
        rule.events[(provider, key)] = json.loads(needs) if fields else []
        rule.channels[(provider, key)] = channel
    return out


@dataclass(slots=True, frozen=True)
class CorrelationRow:
    uid: str
    vendor: str
    level: str
    title: str
    type: str
    refs: tuple[str, ...]


def correlation_rules(db: sqlite3.Connection) -> list[CorrelationRow]:
    """Counted correlation rules with the names of the rules they correlate."""
    out = []
    for uid, vendor, level, title, text in db.execute(
        "SELECT uid, vendor, level, title, json_extract(doc, '$.correlation') FROM rules WHERE kind = ? "
        "ORDER BY uid",
        (CORRELATION_KIND,),
    ):
        data = json.loads(text) if isinstance(text, str) else None
        if not isinstance(data, dict):
            continue
        refs = tuple(str(r) for r in data.get("rules") or () if isinstance(r, str | int))
        out.append(CorrelationRow(uid, vendor, level, title, str(data.get("type") or ""), refs))
    return out


def rule_names(db: sqlite3.Connection, vendors: Iterable[str] | None = None) -> dict[tuple[str, str], str]:
    """(vendor, a rule's name or id) -> uid, as a correlation names the rules it correlates; the counted rule
    wins over a deprecated copy. `vendors`: only the rules of these (a correlation names rules of its own
    vendor; reading every rule's name out of its document costs most of a second)."""
    out: dict[tuple[str, str], str] = {}
    only = sorted(set(vendors)) if vendors is not None else None
    if only is not None and not only:
        return out
    where = f"WHERE vendor IN ({', '.join('?' for _ in only)}) " if only is not None else ""
    for uid, vendor, rule_id, name, kind in db.execute(
        "SELECT uid, vendor, rule_id, COALESCE(json_extract(doc, '$.name'), ''), kind FROM rules "
        f"{where}ORDER BY kind IN ('deprecated', 'unsupported'), uid",
        only or (),
    ):
        del kind
        for key in (rule_id, name):
            if key:
                out.setdefault((vendor, str(key)), uid)
    return out


EventNeeds = dict[EventRow, tuple[str, list[list[str]]]]
"""Per event a rule can be served by: (a channel rules name for it, the ways of matching in its names)."""


def rule_needs(
    db: sqlite3.Connection, bridges: BridgeIndex | None = None, *, fields: bool = True
) -> tuple[list[RuleNeed], dict[str, EventNeeds]]:
    """What every counted detection rule needs (telemetry/priority.py's `RuleNeed`), and for each rule the
    fields it needs on each of its events. A single-event rule has one part: its covered events and the
    events bridged to them that carry its fields; a temporal correlation one part per rule it correlates
    (each must fire), other correlations one part (any of their rules' events). A correlation whose rules
    cannot all be found is left out. `fields=False`: the needs alone, every event's ways of matching left
    empty (a catalog without stored bridges reads them all the same: the bridges are worked out from them)."""
    needs: list[RuleNeed] = []
    event_needs: dict[str, EventNeeds] = {}
    parts_of: dict[str, frozenset[EventRow]] = {}
    stored = stored_bridged(db, fields=fields)
    for rule in covered_rules(db, fields=fields or stored is None).values():
        mine: EventNeeds = {e: (rule.channels.get(e, ""), alts) for e, alts in rule.events.items()}
        if stored is not None:  # the build's bridged events: the ones the rule page lists
            for event, (channel, alts, _scanned) in stored.get(rule.uid, {}).items():
                mine.setdefault(event, (channel, alts))
        elif bridges is not None:
            for event, alternatives in rule.events.items():
                for bridged, alts in bridges.bridged_needs(event, alternatives).items():
                    if bridged not in mine:
                        mine[bridged] = ("", alts)
        part = frozenset(mine)
        parts_of[rule.uid] = part
        event_needs[rule.uid] = mine
        needs.append(RuleNeed(rule.uid, rule.vendor, rule.level, rule.title, (part,)))
    correlations = correlation_rules(db)
    names = rule_names(db, {c.vendor for c in correlations})
    for corr in correlations:
        uids = [names.get((corr.vendor, ref), "") for ref in corr.refs]
        if not uids or any(u not in parts_of for u in uids):
            continue
        found = [parts_of[u] for u in uids]
        # a temporal correlation needs each of its rules to fire; a count over several rules needs any
        all_parts = corr.type in ALL_PARTS_TYPES
        parts = tuple(dict.fromkeys(found)) if all_parts else (frozenset().union(*found),)
        merged: EventNeeds = {}
        for uid in uids:
            for event, (channel, alts) in event_needs[uid].items():
                known = merged.setdefault(event, (channel, []))
                known[1].extend(a for a in alts if a not in known[1])
        event_needs[corr.uid] = merged
        needs.append(RuleNeed(corr.uid, corr.vendor, corr.level, corr.title, parts))
    return needs, event_needs


def stored_bridged(
    db: sqlite3.Connection, *, fields: bool = True
) -> dict[str, dict[EventRow, tuple[str, list[list[str]], bool | None]]] | None:
    """uid -> bridged event -> (channel, the ways of matching in its names, whether the scanner feeds it
    to the rule), as the build kept them (`tel_rule_bridged`); None for a catalog built without them.
    `fields=False` leaves the ways of matching empty (not read)."""
    known = db.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'tel_rule_bridged'"
    ).fetchone()
    if not known[0]:
        return None
    out: dict[str, dict[EventRow, tuple[str, list[list[str]], bool | None]]] = {}
    for uid, provider, channel, key, scanned, needs in db.execute(
        f"SELECT uid, provider, channel, event_key, scanned, {'needs' if fields else 'NULL'} "
        "FROM tel_rule_bridged WHERE counted = 1"
    ):
        out.setdefault(uid, {})[(provider, key)] = (
            channel,
            json.loads(needs) if fields else [],
            None if scanned is None else bool(scanned),
        )
    return out


def pipeline_only(db: sqlite3.Connection) -> dict[str, set[EventRow]]:
    """uid -> the bridged events the scanner does not feed to the rule (served once a pipeline maps them):
    readiness never counts the rule as firing on them."""
    out: dict[str, set[EventRow]] = {}
    for uid, events in (stored_bridged(db, fields=False) or {}).items():
        for event, (_channel, _alts, scanned) in events.items():
            if scanned is False:
                out.setdefault(uid, set()).add(event)
    return out


@dataclass(slots=True)
class MatrixRule:
    uid: str
    vendor: str
    title: str
    note: str


def rules_with_notes(db: sqlite3.Connection, uids: Iterable[str]) -> list[MatrixRule]:
    """Title and event-coverage note of the given rules."""
    out = []
    for uid in sorted(set(uids)):
        row = db.execute(
            "SELECT uid, vendor, title, COALESCE(json_extract(doc, '$.events_note'), '') FROM rules "
            "WHERE uid = ?",
            (uid,),
        ).fetchone()
        if row is not None:
            out.append(MatrixRule(*row))
    return out


def rule_events_by_provider(db: sqlite3.Connection) -> dict[str, dict[str, set[str]]]:
    """provider -> event key -> counted rule uids covering it."""
    out: dict[str, dict[str, set[str]]] = {}
    for provider, key, uid in db.execute(
        "SELECT DISTINCT provider, event_key, uid FROM tel_rule_events WHERE counted = 1"
    ):
        out.setdefault(provider, {}).setdefault(key, set()).add(uid)
    return out


def rule_vendors(db: sqlite3.Connection) -> dict[str, str]:
    """uid -> vendor of every counted rule."""
    return dict(
        db.execute("SELECT uid, vendor FROM rules WHERE kind NOT IN ('deprecated', 'unsupported')").fetchall()
    )
