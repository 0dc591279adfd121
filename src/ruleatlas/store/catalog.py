"""The catalog: one SQLite file. This module owns the schema and every SQL statement.

The build writes a fresh file and renames it into place, so a server reading the old catalog never sees
a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import string
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from ruleatlas import fastjson
from ruleatlas.analysis.document import CorpusDoc, RuleDocument
from ruleatlas.analysis.rows import RuleRow
from ruleatlas.analysis.stats import ProblemFigures
from ruleatlas.store.deploy import attach as attach_links
from ruleatlas.store.relations import rule_relations

# 6: spellings and exclusion counts; 7: sources named apart from vendor labels; 8: relation tables;
# 9: relation forms with their coverage, source, role and actions (an incremental refresh reads those)
SCHEMA_VERSION = 9
CATALOG_FILE = "catalog.sqlite"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- A source is one repository (`sigma`, `hayabusa`, `elastic`...); several sources may share a vendor label.
CREATE TABLE sources (
    source TEXT PRIMARY KEY, vendor TEXT NOT NULL, path TEXT NOT NULL, repo TEXT NOT NULL,
    commit_id TEXT NOT NULL, files INTEGER NOT NULL, rules INTEGER NOT NULL, errors INTEGER NOT NULL
);
CREATE TABLE files (
    source TEXT NOT NULL, vendor TEXT NOT NULL, path TEXT NOT NULL, folder TEXT NOT NULL,
    content_hash TEXT NOT NULL, rules INTEGER NOT NULL, errors INTEGER NOT NULL, PRIMARY KEY (source, path)
);
-- `doc` is the page document without corpus counts: those change with other rules, so they live in
-- indicator_counts and are joined in when a document is read.
CREATE TABLE rules (
    uid TEXT PRIMARY KEY, base_uid TEXT NOT NULL, vendor TEXT NOT NULL, source TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    title TEXT NOT NULL, status TEXT NOT NULL, level TEXT NOT NULL, kind TEXT NOT NULL,
    folder TEXT NOT NULL, product TEXT NOT NULL, category TEXT NOT NULL, service TEXT NOT NULL,
    path TEXT NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE rule_techniques (uid TEXT NOT NULL, technique_id TEXT NOT NULL, tactic_id TEXT NOT NULL);
CREATE TABLE rule_events (
    uid TEXT NOT NULL, provider TEXT NOT NULL, channel TEXT NOT NULL, event_id INTEGER NOT NULL,
    title TEXT NOT NULL
);
-- field is canonical (analysis/canonical.py: what counts key on); native_field is the rule's own name for it.
CREATE TABLE indicators (
    uid TEXT NOT NULL, vendor TEXT NOT NULL, field TEXT NOT NULL, kind TEXT NOT NULL,
    value TEXT NOT NULL, transforms TEXT NOT NULL, exclusion INTEGER NOT NULL, counted INTEGER NOT NULL,
    shown TEXT NOT NULL,  -- the value as the rule spells it; `value` is the folded key counts group by
    native_field TEXT NOT NULL  -- the rule's own name for the field; `field` is canonical
);
CREATE TABLE indicator_counts (
    field TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, transforms TEXT NOT NULL,
    vendor TEXT NOT NULL, rules INTEGER NOT NULL
);
-- Per key, the spelling most of its rules use (`Service Control Manager`, not the folded key): what pages
-- listing keys show.
CREATE TABLE indicator_spellings (
    field TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, transforms TEXT NOT NULL,
    shown TEXT NOT NULL
);
-- The same count among rules that exclude the key (detection.wiki's "Rules excluding"): what an Exclusions
-- section shows, beside how many rules look for the value.
CREATE TABLE exclusion_counts (
    field TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, transforms TEXT NOT NULL,
    vendor TEXT NOT NULL, rules INTEGER NOT NULL
);
-- file '' is a problem of a whole source (its reader cannot be loaded): its message names the source.
CREATE TABLE problems (
    source TEXT NOT NULL, vendor TEXT NOT NULL, file TEXT NOT NULL, uid TEXT, line INTEGER,
    severity TEXT NOT NULL, message TEXT NOT NULL, hint TEXT NOT NULL
);
CREATE TABLE blobs (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Full-text search (store/search.py queries it): one row per rule, rowid = the rule's rowid in `rules`.
-- The rule's dates ride along unindexed: the browse list sorts by them, and reading them from here costs
-- nothing where reading them from 60 MB of documents costs a tenth of a second.
CREATE VIRTUAL TABLE rule_search USING fts5(
    title, description, tags, refs, authors, fields, vals, created UNINDEXED, modified UNINDEXED,
    tokenize = "unicode61 remove_diacritics 2"
);
"""

# Fills rule_search from what is already stored (the document's text, the indicators' fields and values),
# in SQLite's own JSON code: parsing 4,000 documents again in Python would cost twice as much.
SEARCH_FILL = """
INSERT INTO rule_search (rowid, title, description, tags, refs, authors, fields, vals, created, modified)
SELECT r.rowid, r.title, json_extract(r.doc, '$.description'),
    (SELECT group_concat(value, ' ') FROM json_each(r.doc, '$.tags')),
    (SELECT group_concat(value, ' ') FROM json_each(r.doc, '$.references')),
    (SELECT group_concat(value, ', ') FROM json_each(r.doc, '$.authors')),
    (SELECT group_concat(DISTINCT field) FROM indicators i WHERE i.uid = r.uid),
    (SELECT group_concat(value, char(10)) FROM indicators i WHERE i.uid = r.uid),
    json_extract(r.doc, '$.date'), json_extract(r.doc, '$.modified')
FROM rules r WHERE r.uid = ?
"""

INDEXES = """
CREATE INDEX rules_vendor ON rules (vendor, kind);
CREATE INDEX rule_techniques_tech ON rule_techniques (technique_id);
CREATE INDEX rule_events_event ON rule_events (provider, event_id);
CREATE INDEX indicators_key ON indicators (field, kind, value);
CREATE INDEX indicators_uid ON indicators (uid);
CREATE INDEX indicator_spellings_key ON indicator_spellings (field, kind, value, transforms);
CREATE INDEX rules_path ON rules (source, path);
CREATE INDEX problems_file ON problems (source, file);
"""

# For `tactic:` searches (store/search.py: rules with a technique under these tactics), which scanned every
# rule_techniques row twice per search without it. IF NOT EXISTS: also added to a catalog an incremental
# build copies from one built before it existed.
TACTIC_INDEX = "CREATE INDEX IF NOT EXISTS rule_techniques_tactic ON rule_techniques (tactic_id, uid)"

COUNT_INDEX = "CREATE INDEX indicator_counts_key ON indicator_counts (field, kind, value, transforms)"
EXCLUSION_COUNT_INDEX = (
    "CREATE INDEX exclusion_counts_key ON exclusion_counts (field, kind, value, transforms)"
)

IndicatorKey = tuple[str, str, str, str]


class RuleListing(TypedDict):
    """One rule as the all-rules list and the build's page plan see it."""

    uid: str
    vendor: str
    title: str
    status: str
    level: str
    kind: str
    folder: str
    product: str
    category: str
    service: str


class FolderFigures(TypedDict):
    files: int
    rules: int
    error_files: int  # files that gave no rule


class VendorFiles(TypedDict):
    files: int
    error_files: int


class CatalogStats(ProblemFigures):
    """`ruleatlas stats` and `/api/stats`: what the catalog holds, by vendor, kind, level, status, folder."""

    files: int
    files_with_rules: int
    rules: int
    errors: int
    problems: int
    kind_vs_status: dict[str, dict[str, int]]
    per_vendor: dict[str, int]
    per_kind: dict[str, int]
    per_level: dict[str, int]
    per_status: dict[str, int]
    per_vendor_kind: dict[str, dict[str, int]]  # rules per vendor and class
    per_vendor_files: dict[str, VendorFiles]  # files per vendor, and those that gave no rule
    per_folder: dict[str, FolderFigures]


@dataclass(slots=True)
class ProblemRow:
    source: str
    vendor: str
    file: str
    uid: str | None
    line: int | None
    severity: str
    message: str
    hint: str


@dataclass(slots=True)
class SourceRow:
    source: str
    vendor: str
    path: str
    repo: str
    commit: str
    files: int
    rules: int
    errors: int


class CatalogWriter:
    """Writes a catalog into a temporary file; `close()` moves it over the old one.

    With `base`, the writer starts from a copy of an existing catalog and the build deletes and re-adds only
    the rules of changed files.
    """

    def __init__(
        self, path: Path, base: Path | None = None, place_base: Callable[[Path], None] | None = None
    ) -> None:
        """`place_base`: puts a copy of `base` at the path it is given (a copy made ahead of time)."""
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.tmp.unlink(missing_ok=True)
        if base is not None:
            if place_base is not None:
                place_base(self.tmp)
            else:
                shutil.copyfile(base, self.tmp)
        # Indicator keys whose page may change: keys of rules deleted or added, keys whose counts changed.
        self.touched_keys: set[IndicatorKey] = set()
        self.deleted_uids: set[str] = set()  # rules `delete_files` removed (some come back re-analysed)
        self.db = sqlite3.connect(self.tmp)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
        # A fresh file gets its indexes after its rows (`_index`): building an index over rows already
        # there is cheaper than keeping it sorted through every insert.
        self._unindexed = base is None
        if base is None:
            self.db.executescript(SCHEMA)
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        self.db.execute(TACTIC_INDEX)

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def set_blob(self, name: str, value: Any) -> None:
        """Store a JSON value (already-encoded JSON text is stored as it is)."""
        text = value if isinstance(value, str) else json.dumps(value)
        self.db.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?)", (name, text))

    def refresh_sources(self, specs: Iterable[tuple[str, str, str, str, str]]) -> None:
        """One row per (source, vendor, path, repo, commit), with its totals counted from the files table."""
        self.db.execute("DELETE FROM sources")
        for source, vendor, path, repo, commit in specs:
            files, rules, errors = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(rules), 0), COALESCE(SUM(rules = 0), 0) FROM files "
                "WHERE source = ?",
                (source,),
            ).fetchone()
            self.db.execute(
                "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (source, vendor, path, repo, commit, files, rules, errors),
            )

    def replace_source_problems(self, rows: Iterable[ProblemRow]) -> None:
        """The problems of whole sources (file ''): they belong to no file, so every build replaces them."""
        self.db.execute("DELETE FROM problems WHERE file = ''")
        self.add_problems(rows)

    def folder_summary(self) -> dict[str, tuple[int, int, int]]:
        return folder_summary(self.db)

    def problem_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM problems").fetchone()[0])

    def delete_files(self, source: str, paths: Iterable[str]) -> None:
        """Remove files and everything that came from them: rules, their indicators, events, problems."""
        keys = [(source, p) for p in paths]
        uids = [
            (uid,)
            for key in keys
            for (uid,) in self.db.execute("SELECT uid FROM rules WHERE source = ? AND path = ?", key)
        ]
        self.deleted_uids.update(uid for (uid,) in uids)
        for (uid,) in uids:
            self.touched_keys.update(
                self.db.execute("SELECT field, kind, value, transforms FROM indicators WHERE uid = ?", (uid,))
            )
        self.db.executemany(
            "DELETE FROM rule_search WHERE rowid IN (SELECT rowid FROM rules WHERE uid = ?)", uids
        )
        for table in ("rule_techniques", "rule_events", "indicators"):
            self.db.executemany(f"DELETE FROM {table} WHERE uid = ?", uids)
        self.db.executemany("DELETE FROM rules WHERE uid = ?", uids)
        self.db.executemany("DELETE FROM problems WHERE source = ? AND file = ?", keys)
        self.db.executemany("DELETE FROM files WHERE source = ? AND path = ?", keys)

    def add_files(self, rows: Iterable[tuple[str, str, str, str, str, int, int]]) -> None:
        """(source, vendor, path, folder, content hash, rules, error problems) per file."""
        self.db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def add_rules(self, rows: Iterable[RuleRow]) -> None:
        rows = list(rows)
        self.db.executemany(
            "INSERT INTO rules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    r.uid,
                    r.base_uid,
                    r.vendor,
                    r.source,
                    r.rule_id,
                    r.title,
                    r.status,
                    r.level,
                    r.kind,
                    r.folder,
                    r.product,
                    r.category,
                    r.service,
                    r.path,
                    r.doc_json,
                )
                for r in rows
            ),
        )
        self.db.executemany(
            "INSERT INTO rule_techniques VALUES (?, ?, ?)", ((r.uid, *t) for r in rows for t in r.techniques)
        )
        self.db.executemany(
            "INSERT INTO rule_events VALUES (?, ?, ?, ?, ?)", ((r.uid, *e) for r in rows for e in r.events)
        )
        self.db.executemany(
            "INSERT INTO indicators VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (r.uid, r.vendor, f, k, v, t, exclusion, int(r.counted), shown, native)
                for r in rows
                for f, k, v, t, exclusion, shown, native in r.indicators
            ),
        )
        self._index()
        self._fill_search(rows)
        self.touched_keys.update((f, k, v, t) for r in rows for f, k, v, t, *_ in r.indicators)

    def _index(self) -> None:
        """Create a fresh file's indexes (once: after its first rules, or at the latest before reading)."""
        if self._unindexed:
            self.db.executescript(INDEXES)
            self._unindexed = False

    def _fill_search(self, rows: list[RuleRow]) -> None:
        """The search rows of `rows`, as SEARCH_FILL makes them, worked out here from each document (orjson
        reads the 200 MB of a cold build's documents in a fraction of the time SQLite's JSON functions took,
        parsing each document six times); a document whose parts are not the plain texts that makes work
        out the same (a number where a text was expected) is filled by SEARCH_FILL itself."""
        uids = [r.uid for r in rows]
        rowids: dict[str, int] = {}
        for start in range(0, len(uids), _DOCUMENTS_PER_QUERY * 10):
            rowids.update(
                self.db.execute(
                    "SELECT uid, rowid FROM rules WHERE uid IN (SELECT value FROM json_each(?))",
                    (json.dumps(uids[start : start + _DOCUMENTS_PER_QUERY * 10]),),
                )
            )
        plain: list[tuple[object, ...]] = []
        odd: list[tuple[str]] = []
        for r in rows:
            found = search_row(fastjson.loads(r.doc_json), r.title, r.indicators)
            if found is None:
                odd.append((r.uid,))
            else:
                plain.append((rowids[r.uid], *found))
        self.db.executemany(
            "INSERT INTO rule_search (rowid, title, description, tags, refs, authors, fields, vals, "
            "created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            plain,
        )
        self.db.executemany(SEARCH_FILL, odd)

    def add_problems(self, rows: Iterable[ProblemRow]) -> None:
        self.db.executemany(
            "INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((p.source, p.vendor, p.file, p.uid, p.line, p.severity, p.message, p.hint) for p in rows),
        )

    def recount(self, *, patch: bool = False) -> set[str]:
        """Recompute corpus counts; return the rules showing an indicator whose count changed.

        `patch` (a copy of a catalog being patched): only the keys of the rules deleted and added
        (`touched_keys`) are counted again, the others' counts being those of the same rows as before."""
        self._index()
        if patch:
            return self._recount_touched()
        db = self.db
        db.execute("ALTER TABLE indicator_counts RENAME TO old_counts")
        db.execute("ALTER TABLE exclusion_counts RENAME TO old_exclusion_counts")
        db.execute("DROP INDEX IF EXISTS indicator_counts_key")
        db.execute("DROP INDEX IF EXISTS exclusion_counts_key")
        for table, flag in (("indicator_counts", 0), ("exclusion_counts", 1)):
            db.execute(
                f"CREATE TABLE {table} AS SELECT field, kind, value, transforms, vendor, "
                f"COUNT(DISTINCT uid) AS rules FROM indicators WHERE exclusion = {flag} AND counted = 1 "
                "GROUP BY field, kind, value, transforms, vendor"
            )
        db.execute(COUNT_INDEX)
        db.execute(EXCLUSION_COUNT_INDEX)
        db.execute("DELETE FROM indicator_spellings")
        db.execute(
            "INSERT INTO indicator_spellings SELECT field, kind, value, transforms, shown FROM ("
            "SELECT field, kind, value, transforms, shown, ROW_NUMBER() OVER (PARTITION BY field, kind, "
            "value, transforms ORDER BY COUNT(DISTINCT uid) DESC, shown) AS rank FROM indicators "
            "GROUP BY field, kind, value, transforms, shown) WHERE rank = 1"
        )
        db.execute(
            "CREATE TEMP TABLE changed_counts AS "
            "SELECT field, kind, value, transforms FROM "
            "(SELECT * FROM indicator_counts EXCEPT SELECT * FROM old_counts) "
            "UNION SELECT field, kind, value, transforms FROM "
            "(SELECT * FROM old_counts EXCEPT SELECT * FROM indicator_counts) "
            "UNION SELECT field, kind, value, transforms FROM "
            "(SELECT * FROM exclusion_counts EXCEPT SELECT * FROM old_exclusion_counts) "
            "UNION SELECT field, kind, value, transforms FROM "
            "(SELECT * FROM old_exclusion_counts EXCEPT SELECT * FROM exclusion_counts)"
        )
        self.touched_keys.update(db.execute("SELECT field, kind, value, transforms FROM changed_counts"))
        affected = {
            uid
            for (uid,) in db.execute(
                "SELECT DISTINCT i.uid FROM indicators i JOIN changed_counts c "
                "ON i.field = c.field AND i.kind = c.kind AND i.value = c.value "
                "AND i.transforms = c.transforms"
            )
        }
        db.execute("DROP TABLE old_counts")
        db.execute("DROP TABLE old_exclusion_counts")
        db.execute("DROP TABLE changed_counts")
        return affected

    def _recount_touched(self) -> set[str]:
        db = self.db
        db.execute("DROP TABLE IF EXISTS temp.touched")
        db.execute(
            "CREATE TEMP TABLE touched (field TEXT, kind TEXT, value TEXT, transforms TEXT, "
            "PRIMARY KEY (field, kind, value, transforms)) WITHOUT ROWID"
        )
        db.executemany("INSERT OR IGNORE INTO touched VALUES (?, ?, ?, ?)", self.touched_keys)
        # the touched keys' indicator rows, found through the (field, kind, value) index
        db.execute(
            "CREATE TEMP TABLE touched_rows AS SELECT i.* FROM touched t JOIN indicators i "
            "ON i.field = t.field AND i.kind = t.kind AND i.value = t.value AND i.transforms = t.transforms"
        )
        key = "(field, kind, value, transforms) IN (SELECT field, kind, value, transforms FROM touched)"
        changed: set[IndicatorKey] = set()
        for table, flag in (("indicator_counts", 0), ("exclusion_counts", 1)):
            before = set(db.execute(f"SELECT * FROM {table} WHERE {key}"))
            db.execute(f"DELETE FROM {table} WHERE {key}")
            db.execute(
                f"INSERT INTO {table} SELECT field, kind, value, transforms, vendor, COUNT(DISTINCT uid) "
                f"FROM touched_rows WHERE exclusion = {flag} AND counted = 1 "
                "GROUP BY field, kind, value, transforms, vendor"
            )
            after = set(db.execute(f"SELECT * FROM {table} WHERE {key}"))
            changed.update(row[:4] for row in before ^ after)
        db.execute(f"DELETE FROM indicator_spellings WHERE {key}")
        db.execute(
            "INSERT INTO indicator_spellings SELECT field, kind, value, transforms, shown FROM ("
            "SELECT field, kind, value, transforms, shown, ROW_NUMBER() OVER (PARTITION BY field, kind, "
            "value, transforms ORDER BY COUNT(DISTINCT uid) DESC, shown) AS rank FROM touched_rows "
            "GROUP BY field, kind, value, transforms, shown) WHERE rank = 1"
        )
        self.touched_keys.update(changed)
        db.execute("DELETE FROM touched")
        db.executemany("INSERT INTO touched VALUES (?, ?, ?, ?)", changed)
        affected = {
            uid
            for (uid,) in db.execute(
                "SELECT DISTINCT i.uid FROM touched t JOIN indicators i ON i.field = t.field "
                "AND i.kind = t.kind AND i.value = t.value AND i.transforms = t.transforms"
            )
        }
        db.execute("DROP TABLE temp.touched")
        db.execute("DROP TABLE temp.touched_rows")
        return affected

    def summaries(self) -> list[RuleListing]:
        return _summaries(self.db)

    def close(self) -> None:
        self._index()
        self.db.commit()
        if self._fragmented():  # incremental builds delete rows; keep the file from growing without end
            self.db.execute("VACUUM")
        self.db.close()
        os.replace(self.tmp, self.path)

    def _fragmented(self) -> bool:
        free, total = (
            self.db.execute("PRAGMA freelist_count").fetchone()[0],
            self.db.execute("PRAGMA page_count").fetchone()[0],
        )
        return bool(total) and free / total > 0.25


_DOCUMENTS_PER_QUERY = 200  # documents read per query by `raw_documents`

SearchText = str | None


def search_row(
    doc: dict[str, Any], title: str, indicators: Sequence[tuple[str, str, str, str, int, str, str]]
) -> tuple[SearchText, ...] | None:
    """(title, description, tags, refs, authors, fields, vals, created, modified): what SEARCH_FILL puts in
    `rule_search` for a rule with this document and these indicator rows (in the order they are stored), or
    None when a part of the document is not a text, a list of texts, null or missing, where SQLite's JSON
    functions would give what this does not (numbers, JSON text)."""
    scalars = [doc.get(key) for key in ("description", "date", "modified")]
    if not all(value is None or type(value) is str for value in scalars):
        return None
    joined: list[SearchText] = []
    for key, separator in (("tags", " "), ("references", " "), ("authors", ", ")):
        value = doc.get(key)
        if value is None or type(value) is str:  # json_each of a scalar is that one value
            joined.append(value)
            continue
        if type(value) is not list:
            return None
        texts = [item for item in value if item is not None]  # group_concat skips NULL
        if not all(type(item) is str for item in texts):
            return None
        joined.append(separator.join(texts) if texts else None)
    fields = ",".join(dict.fromkeys(row[0] for row in indicators)) if indicators else None
    values = "\n".join(row[2] for row in indicators) if indicators else None
    description, created, modified = scalars
    return (title, description, *joined, fields, values, created, modified)


@dataclass(slots=True)
class CorpusTable:
    """Corpus counts by indicator key, for filling documents in bulk: rules looking for each key, and rules
    excluding it."""

    by_key: dict[IndicatorKey, dict[str, int]]
    excluding: dict[IndicatorKey, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[tuple[str, str, str, str, str, int]],
        excluding: Iterable[tuple[str, str, str, str, str, int]] = (),
    ) -> CorpusTable:
        return cls(_by_key(rows), _by_key(excluding))

    def fill(self, doc: RuleDocument) -> RuleDocument:
        """Set `corpus` on every indicator (rules looking for it) and exclusion (rules excluding it, with
        `looked_for`: the rules looking for it) of a stored document, in place."""
        for group, table in ((doc["indicators"], self.by_key), (doc["exclusions"], self.excluding)):
            for ind in group:
                key = (ind["field"] or "", ind["kind"], ind["key"], "|".join(ind["transforms"]))
                ind["corpus"] = _corpus(table.get(key, {}))
                if table is self.excluding:
                    ind["looked_for"] = _corpus(self.by_key.get(key, {}))
        return doc


def _by_key(rows: Iterable[tuple[str, str, str, str, str, int]]) -> dict[IndicatorKey, dict[str, int]]:
    by_key: dict[IndicatorKey, dict[str, int]] = {}
    for fld, kind, value, transforms, vendor, n in rows:
        by_key.setdefault((fld, kind, value, transforms), {})[vendor] = n
    return by_key


def _corpus(per_vendor: dict[str, int]) -> CorpusDoc:
    return {"total": sum(per_vendor.values()), "by_vendor": dict(sorted(per_vendor.items()))}


def folder_summary(db: sqlite3.Connection) -> dict[str, tuple[int, int, int]]:
    """`source/folder` → (files, rules, files that gave no rule)."""
    return {
        f"{source}/{folder}": (n_files, n_rules, n_err)
        for source, folder, n_files, n_rules, n_err in db.execute(
            "SELECT source, folder, COUNT(*), SUM(rules), SUM(rules = 0) FROM files GROUP BY source, folder"
        )
    }


def _summaries(db: sqlite3.Connection) -> list[RuleListing]:
    return [
        {
            "uid": uid,
            "vendor": vendor,
            "title": title,
            "status": status,
            "level": level,
            "kind": kind,
            "folder": folder,
            "product": product,
            "category": category,
            "service": service,
        }
        for uid, vendor, title, status, level, kind, folder, product, category, service in db.execute(
            "SELECT uid, vendor, title, status, level, kind, folder, product, category, service "
            "FROM rules ORDER BY uid"
        )
    ]


# SQLite's lower() folds ASCII letters only: the identity table folds rule ids the same way.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


@dataclass(slots=True, frozen=True)
class RuleIdentities:
    """Every rule's uid, rule id and file stem, for naming a rule by any of them (`Catalog.identify`)."""

    vendor_of: dict[str, str]  # uid -> vendor
    by_rule_id: dict[str, list[str]]  # ASCII-lower-cased rule id -> uids
    by_stem: dict[str, list[str]]  # file stem (the uid after its first "/") -> uids

    @classmethod
    def read(cls, db: sqlite3.Connection) -> RuleIdentities:
        vendor_of: dict[str, str] = {}
        by_rule_id: dict[str, list[str]] = {}
        by_stem: dict[str, list[str]] = {}
        for uid, rule_id, vendor in db.execute("SELECT uid, rule_id, vendor FROM rules"):
            vendor_of[uid] = vendor
            if rule_id:
                by_rule_id.setdefault(rule_id.translate(_ASCII_LOWER), []).append(uid)
            by_stem.setdefault(uid.split("/", 1)[-1], []).append(uid)
        return cls(vendor_of, by_rule_id, by_stem)


# Identities read per catalog file, shared by every connection of the process: (path, inode, mtime, size)
# -> identities. A server opens several connections per process, and a server's parent reads them once
# before forking its workers (`web/serve.py`), so no worker pays the read (~35 ms) on its first searches.
_SHARED_IDENTITIES: dict[tuple[str, int, int, int], RuleIdentities] = {}


class Catalog:
    """Read-only access to a built catalog."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            path = path / CATALOG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no catalog at {path}; run `ruleatlas build --out {path.parent}` first")
        self.path = path
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        # Read on first use: a search by a single word looks for a rule of that name first, and asking
        # SQLite means a scan of every rule row (uid, rule id and stem have no index): ~35 ms of CPU a search
        # on the seven vendors' 13,700 rules, against microseconds here. A catalog file is never rewritten
        # in place (a build publishes a new one), so what is read stays true for this connection.
        self._identities: RuleIdentities | None = None
        st = os.stat(path)  # the file this connection reads (a build publishes a new file, never rewrites)
        self._file_key = (str(path), st.st_ino, st.st_mtime_ns, st.st_size)

    def close(self) -> None:
        self.db.close()

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def blob(self, name: str) -> Any:
        row = self.db.execute("SELECT value FROM blobs WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def rule_document(self, uid: str) -> RuleDocument | None:
        """The page document, corpus counts included (docs/page-document.md)."""
        row = self.db.execute("SELECT doc FROM rules WHERE uid = ?", (uid,)).fetchone()
        if row is None:
            return None
        doc: RuleDocument = json.loads(row[0])
        keys = {
            (i["field"] or "", i["kind"], i["key"], "|".join(i["transforms"]))
            for group in (doc["indicators"], doc["exclusions"])
            for i in group
        }
        tables = [
            [
                (*key, vendor, n)
                for key in keys
                for vendor, n in self.db.execute(
                    f"SELECT vendor, rules FROM {table} WHERE field = ? AND kind = ? AND value = ? "
                    "AND transforms = ?",
                    key,
                )
            ]
            for table in ("indicator_counts", "exclusion_counts")
        ]
        doc["relations"] = rule_relations(self.db, uid)  # neighbours, class, same action (store/relations.py)
        # related links, fires-on samples and deploy-as conversions (store/deploy.py)
        return attach_links(self.db, CorpusTable.from_rows(*tables).fill(doc))

    def find_uids(self, text: str, vendor: str = "") -> list[str]:
        """Rules whose uid, file stem or rule id equals `text` (so `show`, search and the API accept any of
        them); ids compare without case, as UUIDs are written either way. `vendor` restricts the match."""
        return [uid for uid, _ in self.identify(text, vendor)]

    def rule_identities(self) -> RuleIdentities:
        """Every rule's uid, rule id and stem: read once per catalog file and process."""
        table = self._identities
        if table is None:
            table = _SHARED_IDENTITIES.get(self._file_key)
            if table is None:
                table = RuleIdentities.read(self.db)
                _SHARED_IDENTITIES.clear()  # one catalog at a time is what a server reads
                _SHARED_IDENTITIES[self._file_key] = table
            self._identities = table
        return table

    def identify(self, text: str, vendor: str = "") -> list[tuple[str, str]]:
        """(uid, what matched: "uid", "rule id" or "file stem") of the rules `text` names exactly."""
        text = text.strip()
        if not text:
            return []
        table = self.rule_identities()
        found: dict[str, str] = {}
        if text in table.vendor_of:
            found[text] = "uid"
        for uid in table.by_rule_id.get(text.translate(_ASCII_LOWER), ()):
            found.setdefault(uid, "rule id")
        for uid in table.by_stem.get(text, ()):
            found.setdefault(uid, "file stem")
        return sorted(
            (uid, what) for uid, what in found.items() if not vendor or table.vendor_of[uid] == vendor
        )

    def raw_documents(self, uids: Iterable[str]) -> Iterator[tuple[str, RuleDocument]]:
        """Stored documents without corpus counts (fill them from `counts()` in bulk), in the order of `uids`;
        read a few hundred per query."""
        batch: list[str] = []
        for uid in uids:
            batch.append(uid)
            if len(batch) == _DOCUMENTS_PER_QUERY:
                yield from self._documents(batch)
                batch = []
        yield from self._documents(batch)

    def _documents(self, uids: list[str]) -> Iterator[tuple[str, RuleDocument]]:
        if not uids:
            return
        found = dict(
            self.db.execute(
                "SELECT uid, doc FROM rules WHERE uid IN (SELECT value FROM json_each(?))",
                (json.dumps(uids),),
            ).fetchall()
        )
        for uid in uids:
            text = found.get(uid)
            if text is not None:  # orjson: a page batch reads megabytes of documents
                yield uid, fastjson.loads(text)

    def counts(self) -> CorpusTable:
        return CorpusTable.from_rows(
            self.db.execute("SELECT * FROM indicator_counts"),
            self.db.execute("SELECT * FROM exclusion_counts"),
        )

    def files(self) -> dict[tuple[str, str], str]:
        """(source, path) → content hash of every file the catalog was built from."""
        return {(s, p): h for s, p, h in self.db.execute("SELECT source, path, content_hash FROM files")}

    def base_uids(self) -> dict[str, tuple[str, str, str, str, str]]:
        """uid → (vendor, base uid, path, folder, source): what uid assignment across files needs."""
        return {
            uid: (vendor, base, path, folder, source)
            for uid, vendor, base, path, folder, source in self.db.execute(
                "SELECT uid, vendor, base_uid, path, folder, source FROM rules"
            )
        }

    def summaries(self) -> list[RuleListing]:
        return _summaries(self.db)

    def sources(self) -> list[SourceRow]:
        return [SourceRow(*row) for row in self.db.execute("SELECT * FROM sources ORDER BY vendor, source")]

    def problems(self) -> list[ProblemRow]:
        rows = self.db.execute("SELECT * FROM problems ORDER BY vendor, source, file, line").fetchall()
        return [ProblemRow(*row) for row in rows]

    def stats(self) -> CatalogStats:
        one = self.db.execute
        files, files_with_rules = one("SELECT COUNT(*), SUM(rules > 0) FROM files").fetchone()

        def per(column: str) -> dict[str, int]:
            return dict(one(f"SELECT {column}, COUNT(*) FROM rules GROUP BY {column} ORDER BY {column}"))

        per_folder: dict[str, FolderFigures] = {
            name: {"files": n_files, "rules": n_rules, "error_files": n_err}
            for name, (n_files, n_rules, n_err) in folder_summary(self.db).items()
        }
        per_vendor_kind: dict[str, dict[str, int]] = {}
        for vendor, kind, n in one(
            "SELECT vendor, kind, COUNT(*) FROM rules GROUP BY vendor, kind ORDER BY 1, 2"
        ):
            per_vendor_kind.setdefault(vendor, {})[kind] = n
        per_vendor_files: dict[str, VendorFiles] = {
            vendor: {"files": n_files, "error_files": n_err}
            for vendor, n_files, n_err in one(
                "SELECT vendor, COUNT(*), SUM(rules = 0) FROM files GROUP BY vendor ORDER BY vendor"
            )
        }
        return {
            "files": files or 0,
            "files_with_rules": files_with_rules or 0,
            "rules": one("SELECT COUNT(*) FROM rules").fetchone()[0],
            "errors": one("SELECT COUNT(*) FROM files WHERE rules = 0").fetchone()[0],
            # Files that failed give no rule at all; problems are lines of `problems` (of files that did
            # give rules too), split by severity, so "0 files failed" and "59 errors" read together.
            "files_failed": one("SELECT COUNT(*) FROM files WHERE rules = 0").fetchone()[0],
            "problems": one("SELECT COUNT(*) FROM problems").fetchone()[0],
            "problem_errors": one("SELECT COUNT(*) FROM problems WHERE severity = 'error'").fetchone()[0],
            "problem_warnings": one("SELECT COUNT(*) FROM problems WHERE severity = 'warning'").fetchone()[0],
            "rules_with_problems": one(
                "SELECT COUNT(DISTINCT uid) FROM problems WHERE uid IS NOT NULL"
            ).fetchone()[0],
            "kind_vs_status": self.kind_vs_status(),
            "per_vendor": per("vendor"),
            "per_kind": per("kind"),
            "per_level": per("level"),
            "per_status": per("status"),
            "per_vendor_kind": per_vendor_kind,  # rules per vendor and class
            "per_vendor_files": per_vendor_files,  # files per vendor, and those that gave no rule
            "per_folder": per_folder,
        }

    def kind_vs_status(self) -> dict[str, dict[str, int]]:
        """For the kinds a status can also say (deprecated, unsupported): rules of that kind (Sigma: the
        folder), how many of them also carry the status, and rules elsewhere carrying it. A rule in
        deprecated/ whose own status still says `test` is why "per kind" and "per status" differ."""
        out = {}
        for name in ("deprecated", "unsupported"):
            kind, both, elsewhere = self.db.execute(
                "SELECT SUM(kind = ?1), SUM(kind = ?1 AND status = ?1), SUM(kind != ?1 AND status = ?1) "
                "FROM rules",
                (name,),
            ).fetchone()
            if kind or elsewhere:
                out[name] = {
                    "kind": kind or 0,
                    "kind_and_status": both or 0,
                    "status_elsewhere": elsewhere or 0,
                }
        return out

    def spellings(self, where: str = "", params: Sequence[Any] = ()) -> dict[IndicatorKey, str]:
        """Key -> the spelling pages show, where it differs from the folded key."""
        return {
            (f, k, v, t): shown
            for f, k, v, t, shown in self.db.execute(
                f"SELECT field, kind, value, transforms, shown FROM indicator_spellings {where}", params
            )
            if shown != v
        }

    def indicator_rule_count(self, field: str, kind: str, value: str, transforms: str = "") -> int:
        row = self.db.execute(
            "SELECT COALESCE(SUM(rules), 0) FROM indicator_counts WHERE field = ? AND kind = ? AND value = ? "
            "AND transforms = ?",
            (field, kind, value, transforms),
        ).fetchone()
        return int(row[0])


@contextmanager
def open_catalog(path: Path) -> Iterator[Catalog]:
    catalog = Catalog(path)
    try:
        yield catalog
    finally:
        catalog.close()
