"""The catalog store: corpus counts in SQL, documents with counts joined in, incremental patching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ruleatlas.analysis.rows import RuleRow, analyse_rule
from ruleatlas.model import All, Any, Kind, Not, Pred, Ref, Rule, RuleKind, SourceRef, Stage
from ruleatlas.store import Catalog, CatalogWriter

HOST = Pred("DestinationHostname", Kind.ENDS_WITH, ".localto.net")
HOST_UPPER = Pred("DestinationHostname", Kind.ENDS_WITH, ".LOCALTO.NET")
INITIATED = Pred("Initiated", Kind.EQ, "true")


def row(
    uid: str,
    condition: object,
    searches: dict[str, object],
    *,
    kind: RuleKind = RuleKind.DETECTION,
    vendor: str = "sigma",
) -> RuleRow:
    stages = [Stage(0, "condition", "condition", "", condition)]  # type: ignore[arg-type]
    stages += [Stage(i, n, "search", "", e) for i, (n, e) in enumerate(searches.items(), 1)]  # type: ignore[arg-type]
    rule = Rule(
        uid=uid,
        vendor=vendor,
        language="sigma",
        source=SourceRef("", f"{uid}.yml"),
        folder="rules",
        kind=kind,
        stages=stages,
    )
    return analyse_rule(rule, None, None)


def corpus(catalog: Catalog, uid: str) -> dict[str, object]:
    doc = catalog.rule_document(uid)
    assert doc is not None
    return {f"{i['field']} {i['value']}": i["corpus"] for i in doc["indicators"] + doc["exclusions"]}


def test_counts_distinct_rules_by_vendor_and_skip_deprecated_and_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    writer = CatalogWriter(path)
    writer.add_rules(
        [
            row("a", Ref("s"), {"s": All((HOST, INITIATED))}),
            # The same indicator twice in one rule (and in another case) counts the rule once.
            row("b", Any((Ref("s"), Ref("t"))), {"s": HOST_UPPER, "t": All((HOST, INITIATED))}),
            row("c", Ref("s"), {"s": HOST}, kind=RuleKind.DEPRECATED),
            row("d", Ref("s"), {"s": HOST}, kind=RuleKind.UNSUPPORTED),
            row("e", Ref("s"), {"s": HOST}, vendor="elastic"),
            # An exclusion is counted among the rules that exclude, never among those that look for it.
            row("f", Not(Ref("s")), {"s": INITIATED}),
        ]
    )
    affected = writer.recount()
    writer.close()
    assert affected == {"a", "b", "c", "d", "e", "f"}
    catalog = Catalog(path)
    assert corpus(catalog, "a") == {
        "DestinationHostname .localto.net": {"total": 3, "by_vendor": {"elastic": 1, "sigma": 2}},
        "Initiated true": {"total": 2, "by_vendor": {"sigma": 2}},
    }
    assert corpus(catalog, "c")["DestinationHostname .localto.net"]["total"] == 3  # type: ignore[index]
    # f's exclusion: 1 rule (f) excludes it, 2 (a, b) look for it; a rule page labels both.
    assert corpus(catalog, "f") == {"Initiated true": {"total": 1, "by_vendor": {"sigma": 1}}}
    [excluded] = catalog.rule_document("f")["exclusions"]  # type: ignore[index]
    assert excluded["looked_for"] == {"total": 2, "by_vendor": {"sigma": 2}}
    assert catalog.counts().fill(catalog.raw_documents(["f"]).__next__()[1])["exclusions"] == [excluded]
    assert catalog.indicator_rule_count("DestinationHostname", "ends_with", ".localto.net") == 3
    # b's ".LOCALTO.NET" counts under the folded key, and its own page keeps its spelling.
    assert {i["value"] for i in catalog.rule_document("b")["indicators"]} >= {".LOCALTO.NET"}  # type: ignore[index]
    catalog.close()


@pytest.mark.parametrize("patch_only_touched", [False, True])
def test_patching_a_copy_reports_the_rules_whose_counts_moved(
    tmp_path: Path, patch_only_touched: bool
) -> None:
    path = tmp_path / "catalog.sqlite"
    writer = CatalogWriter(path)
    writer.add_files(
        [
            ("sigma", "sigma", "a.yml", "rules", "h1", 1, 0),
            ("sigma", "sigma", "b.yml", "rules", "h2", 1, 0),
            ("sigma", "sigma", "c.yml", "rules", "h3", 1, 0),
        ]
    )
    writer.add_rules(
        [
            row("a", Ref("s"), {"s": HOST}),
            row("b", Ref("s"), {"s": HOST}),
            row("c", Ref("s"), {"s": INITIATED}),
        ]
    )
    writer.recount()
    writer.close()

    patch = CatalogWriter(path, base=path)
    patch.delete_files("sigma", ["b.yml"])
    patch.add_files([("sigma", "sigma", "b.yml", "rules", "h2b", 1, 0)])
    patch.add_rules([row("b", Ref("s"), {"s": INITIATED})])
    # b changed itself; a's host count fell from 2 to 1; c's Initiated count rose from 1 to 2.
    assert patch.recount(patch=patch_only_touched) == {"a", "b", "c"}
    patch.close()
    catalog = Catalog(path)
    assert catalog.files() == {("sigma", "a.yml"): "h1", ("sigma", "b.yml"): "h2b", ("sigma", "c.yml"): "h3"}
    assert corpus(catalog, "a")["DestinationHostname .localto.net"]["total"] == 1  # type: ignore[index]
    assert corpus(catalog, "c")["Initiated true"]["total"] == 2  # type: ignore[index]
    catalog.close()


def test_pages_listing_keys_show_the_spelling_most_rules_use(tmp_path: Path) -> None:
    scm = Pred("Provider_Name", Kind.EQ, "Service Control Manager")
    folded = Pred("Provider_Name", Kind.EQ, "service control manager")
    writer = CatalogWriter(tmp_path / "catalog.sqlite")
    writer.add_rules([row(u, Ref("s"), {"s": p}) for u, p in (("a", scm), ("b", scm), ("c", folded))])
    writer.recount()
    writer.close()
    catalog = Catalog(tmp_path / "catalog.sqlite")
    key = ("Provider_Name", "eq", "service control manager", "")
    assert catalog.spellings() == {key: "Service Control Manager"}
    assert catalog.indicator_rule_count(*key) == 3  # counted under the folded key
    catalog.close()


def test_search_rows_are_those_sqls_json_functions_give(tmp_path: Path) -> None:
    """The writer works out each search row from the document in Python; SEARCH_FILL (SQLite's JSON
    functions over the stored document) must give the same row, whatever shape the document's texts have."""
    import dataclasses
    import json

    from ruleatlas.store.catalog import SEARCH_FILL

    base = row("a", Ref("s"), {"s": All((HOST, INITIATED, HOST_UPPER))})
    shapes: list[dict[str, object]] = [
        {},
        {"description": None, "tags": [], "references": None, "authors": []},
        {"tags": ["attack.t1", None, ""], "references": "one text", "authors": ["x", "y"], "date": "2024"},
        {"description": 5, "tags": [1, "a"]},  # not texts: SEARCH_FILL fills these
        {"tags": {"a": "b"}, "modified": ["2024"]},
        {"description": "é \u2028 <b>", "authors": ["Ä"], "modified": "2025-01-02"},
    ]
    rows = []
    for i, shape in enumerate(shapes):
        doc = json.loads(base.doc_json)
        for key in ("description", "tags", "references", "authors", "date", "modified"):
            doc.pop(key, None)
        doc.update(shape, uid=f"r{i}")
        rows.append(dataclasses.replace(base, uid=f"r{i}", doc_json=json.dumps(doc, ensure_ascii=False)))
    rows.append(dataclasses.replace(base, uid="none", indicators=[]))
    path = tmp_path / "catalog.sqlite"
    writer = CatalogWriter(path)
    writer.add_rules(rows)
    db = writer.db
    by_python = db.execute("SELECT rowid, * FROM rule_search ORDER BY rowid").fetchall()
    db.execute("DELETE FROM rule_search")
    db.executemany(SEARCH_FILL, [(r.uid,) for r in rows])
    assert db.execute("SELECT rowid, * FROM rule_search ORDER BY rowid").fetchall() == by_python
    assert len(by_python) == len(rows)
    writer.close()


def test_a_fresh_catalog_has_every_index_once_closed(tmp_path: Path) -> None:
    """A fresh file gets its indexes after its rows (the writer's and the telemetry tables'): every one of
    them is there once the writer is closed, whether rules were added or not."""
    import sqlite3

    from ruleatlas.store.catalog import INDEXES
    from ruleatlas.store.telemetry import SCHEMA as TELEMETRY_SCHEMA
    from ruleatlas.store.telemetry import write_rule_events

    def index_names(path: Path) -> set[str]:
        db = sqlite3.connect(path)
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        db.close()
        return names

    expected = set(re.findall(r"CREATE INDEX (?:IF NOT EXISTS )?(\w+)", INDEXES + TELEMETRY_SCHEMA))
    for rows in ([], [row("a", Ref("s"), {"s": HOST})]):
        path = tmp_path / f"catalog-{len(rows)}.sqlite"
        writer = CatalogWriter(path)
        writer.add_rules(rows)
        write_rule_events(writer.db, [], full=True)
        writer.recount()
        writer.close()
        assert expected <= index_names(path)
