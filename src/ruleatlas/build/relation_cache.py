"""The relations pass's caches in one SQLite file (`DIR/cache/relations.sqlite`), one row per entry, so that a
rebuild after a one-rule change reads and writes the entries of that rule alone:

- conversions by (backend versions, conversion key): what pySigma's backends gave for a rule text;
- fires-on keys by body hash: the hash of what decides a Sigma rule's matches (its logsource and detection),
  so that an edit of its title or level is not a new rule to scan;
- sample hashes by (path, size, mtime_ns, inode): a sample file is hashed again only when its stat moved.

Every entry is keyed by content (or by a stat that changes with it): a killed build leaves valid entries,
and each build's writes are one transaction. A damaged file is set aside and started again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ruleatlas.engine.fires_on import file_hash
from ruleatlas.ingest import RACY_SECONDS

CACHE_FILE = "relations.sqlite"
OLD_CONVERSIONS = "conversions.json"  # the whole-file cache of earlier versions: imported once, then removed
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversions (
    versions TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (versions, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fires_keys (body_hash TEXT PRIMARY KEY, fires_key TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sample_hashes (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    hash TEXT NOT NULL
) WITHOUT ROWID;
"""
# What of a Sigma document decides which events it matches (the engine compiles these alone); the rest
# (title, level, status, tags, references...) is shown, never matched.
MATCHED_KEYS = ("logsource", "detection", "correlation", "filter")


def body_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogateescape")).hexdigest()


def logic_key(body: str) -> str:
    """The hash of what of a Sigma rule text decides its matches; the whole text's hash when it does not
    read as YAML mappings (the engine parses it then, whatever it holds)."""
    try:
        documents = list(yaml.load_all(body, Loader=yaml.CSafeLoader))
        if not documents or not all(isinstance(d, dict) for d in documents):
            return "body:" + body_hash(body)
        kept = [{k: d[k] for k in MATCHED_KEYS if k in d} for d in documents]
        return "logic:" + hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()
    except (yaml.YAMLError, ValueError, TypeError, RecursionError):
        return "body:" + body_hash(body)


class RelationCache:
    """The cache file, open for one relations pass (`with RelationCache.open(cache_dir) as cache`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @classmethod
    @contextlib.contextmanager
    def open(cls, cache_dir: Path) -> Iterator[RelationCache]:
        cache_dir.mkdir(parents=True, exist_ok=True)
        path = cache_dir / CACHE_FILE
        db = cls._connect(path)
        try:
            cache = cls(db)
            cache._import_old_conversions(cache_dir / OLD_CONVERSIONS)
            yield cache
            db.commit()
        finally:
            db.close()

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(path)
            db.executescript(SCHEMA)
            return db
        except sqlite3.DatabaseError:  # not a database (damaged): set aside, start again
            with contextlib.suppress(OSError):
                os.replace(path, path.with_name(path.name + ".damaged"))
            db = sqlite3.connect(path)
            db.executescript(SCHEMA)
            return db

    # -- conversions ---------------------------------------------------------------------------------

    def conversions(self, versions: str, keys: Iterable[str]) -> dict[str, Any]:
        wanted = sorted(set(keys))
        out: dict[str, Any] = {}
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            for key, value in self.db.execute(
                "SELECT key, value FROM conversions WHERE versions = ? AND key IN (SELECT value FROM "
                "json_each(?))",
                (versions, json.dumps(part)),
            ):
                out[key] = json.loads(value)
        return out

    def _import_old_conversions(self, path: Path) -> None:
        """The conversions an earlier version cached as one JSON file: kept (converting is minutes of CPU)."""
        if not path.is_file():
            return
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            data = json.loads(path.read_text(encoding="utf-8"))
            self.put_conversions(str(data["versions"]), dict(data["items"]))
            self.db.commit()
        with contextlib.suppress(OSError):
            path.unlink()

    def put_conversions(self, versions: str, items: Mapping[str, Any]) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO conversions VALUES (?, ?, ?)",
            ((versions, key, json.dumps(value)) for key, value in items.items()),
        )

    def prune_conversions(self, versions: str, live: set[str]) -> None:
        """Keep the conversions of `live` keys only (a full pass): the cache does not grow with every edit."""
        stored = {
            key for (key,) in self.db.execute("SELECT key FROM conversions WHERE versions = ?", (versions,))
        }
        gone = stored - live
        self.db.execute("DELETE FROM conversions WHERE versions != ?", (versions,))
        self.db.executemany(
            "DELETE FROM conversions WHERE versions = ? AND key = ?", ((versions, k) for k in gone)
        )

    # -- fires-on keys -------------------------------------------------------------------------------

    def fires_keys(self, bodies: Mapping[str, str]) -> dict[str, str]:
        """The fires-on key of each body (by uid): from the cache, else computed and stored."""
        hashes = {uid: body_hash(body) for uid, body in bodies.items()}
        known: dict[str, str] = {}
        values = sorted(set(hashes.values()))
        for i in range(0, len(values), 500):
            known.update(
                self.db.execute(
                    "SELECT body_hash, fires_key FROM fires_keys WHERE body_hash IN "
                    "(SELECT value FROM json_each(?))",
                    (json.dumps(values[i : i + 500]),),
                )
            )
        fresh = {h: logic_key(bodies[uid]) for uid, h in hashes.items() if h not in known}
        self.db.executemany("INSERT OR REPLACE INTO fires_keys VALUES (?, ?)", fresh.items())
        known.update(fresh)
        return {uid: known[h] for uid, h in hashes.items()}

    # -- sample hashes -------------------------------------------------------------------------------

    def hasher(self) -> Callable[[Path], str]:
        """A file's content hash, read again only when its (size, mtime_ns, inode) moved since recorded."""
        recorded: dict[str, tuple[tuple[int, int, int], str]] = {
            path: ((size, mtime, inode), hash_)
            for path, size, mtime, inode, hash_ in self.db.execute("SELECT * FROM sample_hashes")
        }

        racy_from = time.time_ns() - int(RACY_SECONDS * 1e9)

        def content_hash(path: Path) -> str:
            st = path.stat()
            stat = (st.st_size, st.st_mtime_ns, st.st_ino)
            key = str(path.resolve())
            known = recorded.get(key)
            if known is not None and known[0] == stat:
                return known[1]
            value = file_hash(path)
            if st.st_mtime_ns >= racy_from:  # may change again within the clock's step: not recorded
                return value
            self.db.execute(
                "INSERT OR REPLACE INTO sample_hashes VALUES (?, ?, ?, ?, ?)", (key, *stat, value)
            )
            recorded[key] = (stat, value)
            return value

        return content_hash
