"""The catalog: one SQLite file. This module owns the schema and every SQL statement.

The build writes a fresh file and renames it into place, so a server reading the old catalog never sees
a half-written one.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
CATALOG_FILE = "catalog.sqlite"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    vendor TEXT PRIMARY KEY, path TEXT NOT NULL, repo TEXT NOT NULL, commit_id TEXT NOT NULL,
    files INTEGER NOT NULL, rules INTEGER NOT NULL, errors INTEGER NOT NULL
);
CREATE TABLE files (
    vendor TEXT NOT NULL, path TEXT NOT NULL, folder TEXT NOT NULL, rules INTEGER NOT NULL,
    errors INTEGER NOT NULL, PRIMARY KEY (vendor, path)
);
CREATE TABLE rules (
    uid TEXT PRIMARY KEY, vendor TEXT NOT NULL, rule_id TEXT NOT NULL, title TEXT NOT NULL,
    status TEXT NOT NULL, level TEXT NOT NULL, kind TEXT NOT NULL, folder TEXT NOT NULL,
    product TEXT NOT NULL, category TEXT NOT NULL, service TEXT NOT NULL, path TEXT NOT NULL,
    page_key TEXT NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE rule_techniques (uid TEXT NOT NULL, technique_id TEXT NOT NULL, tactic_id TEXT NOT NULL);
CREATE TABLE rule_events (
    uid TEXT NOT NULL, provider TEXT NOT NULL, channel TEXT NOT NULL, event_id INTEGER NOT NULL, title TEXT NOT NULL
);
CREATE TABLE indicators (
    uid TEXT NOT NULL, field TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL,
    transforms TEXT NOT NULL, exclusion INTEGER NOT NULL, counted INTEGER NOT NULL
);
CREATE TABLE problems (
    vendor TEXT NOT NULL, file TEXT NOT NULL, uid TEXT, line INTEGER, severity TEXT NOT NULL,
    message TEXT NOT NULL, hint TEXT NOT NULL
);
CREATE TABLE blobs (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

INDEXES = """
CREATE INDEX rules_vendor ON rules (vendor, kind);
CREATE INDEX rule_techniques_tech ON rule_techniques (technique_id);
CREATE INDEX rule_events_event ON rule_events (provider, event_id);
CREATE INDEX indicators_key ON indicators (field, kind, value);
CREATE INDEX indicators_uid ON indicators (uid);
"""


@dataclass(slots=True)
class RuleRow:
    uid: str
    vendor: str
    rule_id: str
    title: str
    status: str
    level: str
    kind: str
    folder: str
    product: str
    category: str
    service: str
    path: str
    page_key: str
    doc: dict[str, Any]


@dataclass(slots=True)
class ProblemRow:
    vendor: str
    file: str
    uid: str | None
    line: int | None
    severity: str
    message: str
    hint: str


@dataclass(slots=True)
class SourceRow:
    vendor: str
    path: str
    repo: str
    commit: str
    files: int
    rules: int
    errors: int


class CatalogWriter:
    """Writes a new catalog file; `close()` moves it over the old one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.tmp.unlink(missing_ok=True)
        self.db = sqlite3.connect(self.tmp)
        self.db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + SCHEMA)
        self.set_meta("schema_version", str(SCHEMA_VERSION))

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def set_blob(self, name: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?)", (name, json.dumps(value)))

    def add_source(self, row: SourceRow) -> None:
        self.db.execute(
            "INSERT INTO sources VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.vendor, row.path, row.repo, row.commit, row.files, row.rules, row.errors),
        )

    def add_files(self, rows: Iterable[tuple[str, str, str, int, int]]) -> None:
        self.db.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?)", rows)

    def add_rules(self, rows: Iterable[RuleRow]) -> None:
        rule_rows = []
        techniques = []
        events = []
        indicators = []
        for r in rows:
            rule_rows.append(
                (r.uid, r.vendor, r.rule_id, r.title, r.status, r.level, r.kind, r.folder, r.product,
                 r.category, r.service, r.path, r.page_key, json.dumps(r.doc, ensure_ascii=False))
            )
            for tactic in r.doc["attack"]:
                techniques.extend((r.uid, t["id"], tactic["tactic_id"]) for t in tactic["techniques"])
            events.extend(
                (r.uid, e["provider"], e["channel"], e["event_id"], e["title"]) for e in r.doc["events"]
            )
            counted = int(r.kind not in ("deprecated", "unsupported"))
            for flag, group in ((0, r.doc["indicators"]), (1, r.doc["exclusions"])):
                indicators.extend(
                    (r.uid, i["field"] or "", i["kind"], i["key"], "|".join(i["transforms"]), flag, counted)
                    for i in group
                )
        self.db.executemany("INSERT INTO rules VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rule_rows)
        self.db.executemany("INSERT INTO rule_techniques VALUES (?, ?, ?)", techniques)
        self.db.executemany("INSERT INTO rule_events VALUES (?, ?, ?, ?, ?)", events)
        self.db.executemany("INSERT INTO indicators VALUES (?, ?, ?, ?, ?, ?, ?)", indicators)

    def add_problems(self, rows: Iterable[ProblemRow]) -> None:
        self.db.executemany(
            "INSERT INTO problems VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((p.vendor, p.file, p.uid, p.line, p.severity, p.message, p.hint) for p in rows),
        )

    def close(self) -> None:
        self.db.executescript(INDEXES)
        self.db.commit()
        self.db.close()
        os.replace(self.tmp, self.path)


class Catalog:
    """Read-only access to a built catalog."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            path = path / CATALOG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no catalog at {path}; run `ruleatlas build --out {path.parent}` first")
        self.path = path
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def close(self) -> None:
        self.db.close()

    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def blob(self, name: str) -> Any:
        row = self.db.execute("SELECT value FROM blobs WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def rule_document(self, uid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT doc FROM rules WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else json.loads(row[0])

    def find_uids(self, text: str) -> list[str]:
        """Rules whose uid, file stem or Sigma id equals `text` (so `show` accepts any of them)."""
        rows = self.db.execute(
            "SELECT uid FROM rules WHERE uid = ? OR rule_id = ? OR uid LIKE ? ORDER BY uid",
            (text, text, f"%/{text}"),
        ).fetchall()
        return [r[0] for r in rows]

    def page_keys(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT uid, page_key FROM rules").fetchall())

    def summaries(self) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT uid, vendor, title, status, level, kind, folder, product, category, service FROM rules ORDER BY uid"
        ).fetchall()
        keys = ("uid", "vendor", "title", "status", "level", "kind", "folder", "product", "category", "service")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def sources(self) -> list[SourceRow]:
        return [SourceRow(*row) for row in self.db.execute("SELECT * FROM sources ORDER BY vendor")]

    def problems(self) -> list[ProblemRow]:
        rows = self.db.execute("SELECT * FROM problems ORDER BY vendor, file, line").fetchall()
        return [ProblemRow(*row) for row in rows]

    def stats(self) -> dict[str, Any]:
        one = self.db.execute
        files, files_with_rules = one("SELECT COUNT(*), SUM(rules > 0) FROM files").fetchone()
        by = {
            name: dict(one(f"SELECT {col}, COUNT(*) FROM rules GROUP BY {col} ORDER BY {col}").fetchall())
            for name, col in (("per_vendor", "vendor"), ("per_kind", "kind"), ("per_level", "level"),
                              ("per_status", "status"))
        }
        per_folder: dict[str, dict[str, int]] = {}
        for vendor, folder, n_files, n_rules, n_err in one(
            "SELECT vendor, folder, COUNT(*), SUM(rules), SUM(rules = 0) FROM files GROUP BY vendor, folder"
        ):
            per_folder[f"{vendor}/{folder}"] = {"files": n_files, "rules": n_rules, "error_files": n_err}
        return {
            "files": files or 0,
            "files_with_rules": files_with_rules or 0,
            "rules": one("SELECT COUNT(*) FROM rules").fetchone()[0],
            "errors": one("SELECT COUNT(*) FROM files WHERE rules = 0").fetchone()[0],
            "problems": one("SELECT COUNT(*) FROM problems").fetchone()[0],
            "rules_with_problems": one("SELECT COUNT(DISTINCT uid) FROM problems WHERE uid IS NOT NULL").fetchone()[0],
            **by,
            "per_folder": per_folder,
        }

    def indicator_rule_count(self, field: str, kind: str, value: str) -> int:
        row = self.db.execute(
            "SELECT COUNT(DISTINCT uid) FROM indicators WHERE field = ? AND kind = ? AND value = ? "
            "AND exclusion = 0 AND counted = 1",
            (field, kind, value),
        ).fetchone()
        return int(row[0])


@contextmanager
def open_catalog(path: Path) -> Iterator[Catalog]:
    catalog = Catalog(path)
    try:
        yield catalog
    finally:
        catalog.close()
