"""What an incremental build's changed rules change on the catalog pages (web/catalog_site.py), decided
from their rows in the previous catalog and in the new one.

A level edit changes the lists that show levels and the browse index, not the field pages, the search
index or the indicator figures of the home page; a title edit changes the lists and the browse index (and
the search index only when the rule moves in the title order, which the index writer checks); an edit of
a rule's logic changes its indicators, and with them the field pages and the counts. Only rows are
compared, so the answer is exact for what each page family reads.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# The rule columns the lists show (the all-rules page, the indicator and list pages' rule rows) and the
# browse index holds.
LISTED = ("vendor", "title", "status", "level", "kind", "folder", "product", "category", "service")


@dataclass(slots=True, frozen=True)
class CatalogChanges:
    """Which page families of the catalog pages the changed rules' rows move."""

    listed: bool  # a listed column, or a rule added or removed: the all-rules page, the browse index
    browse: bool  # anything the browse index holds (listed columns, dates, ATT&CK placements)
    search: bool  # the search index's text, rule id or indicators of a rule (or a rule added or removed)
    indicators: bool  # indicator rows: field pages, the fields list, the home page's indicator figures
    counted: bool  # indicators, kind or status: which rules corpus counts count (home's top indicators)
    previous_built_at: str = ""  # the previous catalog's build time: names the record of its pages

    @classmethod
    def everything(cls) -> CatalogChanges:
        return cls(True, True, True, True, True)


@dataclass(slots=True)
class _RuleRows:
    """What the catalog pages read of one rule, compared part by part between two catalogs."""

    listed: tuple[object, ...]  # the LISTED columns
    text: tuple[object, ...]  # rule id and the searched texts
    dates: tuple[object, ...]  # created, modified
    placements: list[tuple[str, str]]  # (technique, tactic)
    indicators: list[tuple[object, ...]]


def _rows(db: sqlite3.Connection, uids: list[str]) -> dict[str, _RuleRows]:
    wanted = json.dumps(uids)
    columns = ", ".join(f"r.{c}" for c in LISTED)
    out: dict[str, _RuleRows] = {}
    for uid, rule_id, *rest in db.execute(
        f"SELECT r.uid, r.rule_id, {columns}, s.description, s.tags, s.refs, s.authors, s.fields, s.vals, "
        "s.created, s.modified FROM rules r LEFT JOIN rule_search s ON s.rowid = r.rowid "
        "WHERE r.uid IN (SELECT value FROM json_each(?))",
        (wanted,),
    ):
        listed, text = rest[: len(LISTED)], rest[len(LISTED) :]
        out[uid] = _RuleRows(tuple(listed), (rule_id, *text[:6]), tuple(text[6:]), [], [])
    for uid, technique, tactic in db.execute(
        "SELECT uid, technique_id, tactic_id FROM rule_techniques "
        "WHERE uid IN (SELECT value FROM json_each(?)) ORDER BY 1, 2, 3",
        (wanted,),
    ):
        if uid in out:
            out[uid].placements.append((technique, tactic))
    for uid, *indicator in db.execute(
        "SELECT uid, field, kind, value, transforms, exclusion, counted, shown, native_field FROM indicators "
        "WHERE uid IN (SELECT value FROM json_each(?)) ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
        (wanted,),
    ):
        if uid in out:
            out[uid].indicators.append(tuple(indicator))
    return out


def catalog_changes(previous: Path | None, current: Path, uids: Iterable[str]) -> CatalogChanges:
    """What the rows of `uids` (rules written again or removed) changed between the `previous` catalog file
    and the `current` one; everything when there is no previous catalog to read."""
    if previous is None or not previous.is_file():
        return CatalogChanges.everything()
    wanted = sorted(set(uids))
    try:
        old_db = sqlite3.connect(f"{previous.resolve().as_uri()}?mode=ro", uri=True)
        try:
            old = _rows(old_db, wanted)
            stamp = old_db.execute("SELECT value FROM meta WHERE key = 'built_at'").fetchone()
        finally:
            old_db.close()
    except sqlite3.Error:
        return CatalogChanges.everything()  # an unreadable previous catalog only costs a full render
    new_db = sqlite3.connect(f"{current.resolve().as_uri()}?mode=ro", uri=True)
    try:
        new = _rows(new_db, wanted)
    finally:
        new_db.close()
    if set(old) != set(new):
        return CatalogChanges.everything()
    pairs = [(old[uid], new[uid]) for uid in wanted if uid in old]
    listed = any(o.listed != n.listed for o, n in pairs)
    indicators = any(o.indicators != n.indicators for o, n in pairs)
    kind_or_status = any((o.listed[2], o.listed[4]) != (n.listed[2], n.listed[4]) for o, n in pairs)
    return CatalogChanges(
        listed=listed,
        browse=listed or any(o.dates != n.dates or o.placements != n.placements for o, n in pairs),
        search=indicators or any(o.text != n.text for o, n in pairs),
        indicators=indicators,
        counted=indicators or kind_or_status,
        previous_built_at=str(stamp[0]) if stamp else "",
    )
