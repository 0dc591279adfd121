"""The searches the search page sends (words with a filter) never scan a whole table for their filter:
SQLite's query plan for each uses an index (or the full-text index) to find its rows; a per-process table
(a rule's name, the tactic names) is read once per catalog file, shared by every connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.store import Catalog
from ruleatlas.store.search import search


class PlanRecorder:
    """A connection that records the query plan of every statement it runs."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.plans: list[tuple[str, list[str]]] = []

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        plan = [row[3] for row in self.db.execute("EXPLAIN QUERY PLAN " + sql, params)]
        self.plans.append((sql, plan))
        return self.db.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


@pytest.fixture()
def catalog(store_catalog: Path) -> Iterator[Catalog]:
    catalog = Catalog(store_catalog)
    yield catalog
    catalog.close()


@pytest.mark.parametrize(
    "query",
    ["power tactic:execution", "power tactic:TA0002", "power technique:T1059", "tactic:execution"],
)
def test_technique_and_tactic_filters_use_an_index(catalog: Catalog, query: str) -> None:
    recorder = PlanRecorder(catalog.db)
    catalog.db = recorder  # type: ignore[assignment]
    answer = search(catalog, query)
    assert answer["total"] > 0
    steps = [step for sql, plan in recorder.plans if "rule_techniques" in sql for step in plan]
    assert steps, recorder.plans
    assert not [s for s in steps if s.startswith("SCAN rule_techniques")], steps
    assert any("rule_techniques_tactic" in s or "rule_techniques_tech" in s for s in steps), steps


def test_rule_names_are_read_once_per_file(store_catalog: Path) -> None:
    first, second = Catalog(store_catalog), Catalog(store_catalog)
    try:
        assert first.rule_identities() is second.rule_identities()
        uid = next(iter(first.rule_identities().vendor_of))
        assert first.identify(uid) == [(uid, "uid")] == second.identify(uid)
    finally:
        first.close()
        second.close()
