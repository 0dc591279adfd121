"""Which telemetry summary pages a rebuild after some rules changed must render again.

Each summary page (the telemetry index with its platform cards, the uncovered-rules page, a vendor's page, a
platform's page, a coverage matrix, the priority ranking, a provider's page) is a function of the telemetry
definitions and samples (a change of either renders every page: the build says so) and of what it reads of
each rule: the rule's rows in the telemetry tables, and some columns of its row in `rules`. Those reads are
per rule (counts, sets and sums over rules), so when every changed rule reads the same to a page before and
after the change, the page the last build wrote is the page a full build would write: it is kept. The
decision takes the changed rules' rows in the previous catalog and in this one (a few queries), never the
other rules' rows and never a render.

What each page reads of a rule (`RuleInputs`; web/telemetry_views.py, telemetry_platforms.py and
collection_views.py are the readers):
- index and platform pages: the events it covers or is bridged to, with their channel, vendor and whether the
  rule is counted (`tel_rule_events`, `tel_rule_bridged`): the event counts, mappings and platform cards;
- the uncovered page: whether it covers any event, its vendor and class, and for a rule that covers none its
  title, log source and coverage note;
- a vendor's page: the events the vendor's counted rules cover;
- a coverage matrix: the events it covers or serves through a bridge by vendor, its class, title and note;
- the priority page: what the rule needs (events, bridged events), its level, vendor and class, and the
  names a correlation finds it by (and, for a correlation, the rules it names);
- a provider's page: the figures of the index and the priorities of its events.
Event pages show rule titles, levels and indicators: the events the changed rules cover are always rendered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Row = tuple[Any, ...]


@dataclass(slots=True, frozen=True)
class RuleInputs:
    """What the telemetry summary pages read of one rule (None: the rule is not in the catalog)."""

    # vendor, title, level, status, kind, product, category, service, rule_id, coverage note, name,
    # correlation (JSON text or None)
    row: Row | None
    events: tuple[Row, ...]  # (provider, event_key, channel, vendor, counted), sorted
    bridged: tuple[Row, ...]  # (provider, event_key, channel, vendor, counted, scanned, via_provider,
    # via_key, bridge), sorted

    @property
    def vendor(self) -> str:
        return str(self.row[0]) if self.row is not None else ""

    def index(self) -> tuple[object, ...]:
        """What the index, platform and provider figures read: events covered (by vendor, counted) and the
        events rules name (their channel included)."""
        return (self.events, tuple(r[:3] for r in self.bridged))

    def uncovered(self) -> tuple[object, ...]:
        if self.row is None:
            return ()
        vendor, title, _level, _status, kind, product, category, service, *_ = self.row
        covered = bool(self.events)
        listed = () if covered else (title, product, category, service, self.row[9])
        return (vendor, kind, covered, listed)

    def vendor_events(self, vendor: str) -> frozenset[tuple[str, str]]:
        return frozenset((r[0], r[1]) for r in self.events if r[3] == vendor and r[4])

    def coverage(self) -> tuple[object, ...]:
        if self.row is None:
            return ()
        vendor, title, _level, _status, kind, *_ = self.row
        return (self.index(), self.bridged, vendor, kind, title, self.row[9])

    def priority(self) -> tuple[object, ...]:
        if self.row is None:
            return ()
        vendor, _title, level, _status, kind, _p, _c, _s, rule_id, _note, name, correlation = self.row
        return (self.events, self.bridged, vendor, level, kind, rule_id, name, correlation)

    def provider(self) -> tuple[object, ...]:
        return (self.index(), self.bridged, self.priority())


def rule_inputs(db: sqlite3.Connection, uids: Iterable[str]) -> dict[str, RuleInputs]:
    """What the summary pages read of each of `uids` in the catalog `db`."""
    out: dict[str, RuleInputs] = {}
    has_bridged = bool(
        db.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'tel_rule_bridged'"
        ).fetchone()[0]
    )
    for uid in sorted(set(uids)):
        row = db.execute(
            "SELECT vendor, title, level, status, kind, product, category, service, rule_id, "
            "COALESCE(json_extract(doc, '$.events_note'), ''), COALESCE(json_extract(doc, '$.name'), ''), "
            "json_extract(doc, '$.correlation') FROM rules WHERE uid = ?",
            (uid,),
        ).fetchone()
        events = db.execute(
            "SELECT DISTINCT provider, event_key, channel, vendor, counted FROM tel_rule_events "
            "WHERE uid = ?",
            (uid,),
        ).fetchall()
        bridged = (
            db.execute(
                "SELECT DISTINCT provider, event_key, channel, vendor, counted, scanned, via_provider, "
                "via_key, bridge FROM tel_rule_bridged WHERE uid = ?",
                (uid,),
            ).fetchall()
            if has_bridged
            else []
        )
        out[uid] = RuleInputs(
            tuple(row) if row is not None else None,
            tuple(sorted(events, key=repr)),
            tuple(sorted(bridged, key=repr)),
        )
    return out


@dataclass(slots=True, frozen=True)
class PageChanges:
    """Which summary pages differ after the change (True: render it again)."""

    index: bool  # the telemetry index and the platform pages of the changed events
    uncovered: bool
    vendors: frozenset[str]
    coverage: bool  # the coverage matrices of the changed events' platforms
    priority: bool
    providers: bool  # the provider pages of the changed events

    @classmethod
    def everything(cls, vendors: Iterable[str]) -> PageChanges:
        return cls(True, True, frozenset(vendors), True, True, True)


def page_changes(before: Mapping[str, RuleInputs], after: Mapping[str, RuleInputs]) -> PageChanges:
    """Compare each changed rule as the previous catalog had it and as this one has it."""
    absent = RuleInputs(None, (), ())
    pairs = [(before.get(uid, absent), after.get(uid, absent)) for uid in sorted({*before, *after})]
    vendors = {
        vendor
        for old, new in pairs
        for vendor in {old.vendor, new.vendor}
        if vendor and old.vendor_events(vendor) != new.vendor_events(vendor)
    }
    return PageChanges(
        index=any(old.index() != new.index() for old, new in pairs),
        uncovered=any(old.uncovered() != new.uncovered() for old, new in pairs),
        vendors=frozenset(vendors),
        coverage=any(old.coverage() != new.coverage() for old, new in pairs),
        priority=any(old.priority() != new.priority() for old, new in pairs),
        providers=any(old.provider() != new.provider() for old, new in pairs),
    )
