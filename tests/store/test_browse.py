"""The browse list's queries: facets, their counts, retired rules, technique families, sorting, paging, and
the figures, indicator and field rows behind the home, indicator and field pages."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from ruleatlas.store import Catalog, browse, facet_index, open_catalog
from ruleatlas.store.browse import FACETS, BrowseRow, RuleFilter

POWERSHELL_ENCODED = "sigma/proc_creation_win_powershell_encoded"
OLD_POWERSHELL = "sigma/proc_creation_win_old_powershell"
HUNTING = "sigma/proc_creation_win_hunting_powershell"


@pytest.fixture(scope="module")
def catalog(store_catalog: Path) -> Catalog:
    return Catalog(store_catalog)


def listed(catalog: Catalog, **selection: object) -> list[str]:
    return [r.uid for r in browse.filter_rows(browse.browse_rows(catalog), RuleFilter(**selection))]  # type: ignore[arg-type]


def reference_counts(rows: list[BrowseRow], selection: RuleFilter) -> dict[str, list[tuple[str, int]]]:
    """The definition, computed the slow way: a value's count is the size of the list with the facet's
    selection replaced by that value."""
    out = {}
    for facet in FACETS:
        counts: Counter[str] = Counter()
        for row in rows:
            for value in set(row.values(facet)):
                if replace(selection, **{facet: (value,)}).accepts(row):
                    counts[value] += 1
        out[facet] = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return out


def test_rows_carry_every_facet(catalog: Catalog) -> None:
    rows = {r.uid: r for r in browse.browse_rows(catalog)}
    assert len(rows) == 12
    row = rows[POWERSHELL_ENCODED]
    assert (row.vendor, row.product, row.logsource, row.status, row.level, row.kind) == (
        "sigma", "windows", "process_creation", "stable", "high", "detection",
    )  # fmt: skip
    assert (row.created, row.modified) == ("2024-01-10", "2025-03-01")
    assert row.techniques == ("T1059.001",) and row.tactics == ("TA0002",)
    assert row.values("technique") == ("T1059.001", "T1059")  # counted under its parent too
    assert rows["sigma/aws_cloudtrail_disable_logging"].logsource == "cloudtrail"  # no category: the service
    assert rows[OLD_POWERSHELL].retired and rows[HUNTING].kind == "hunting"


def test_retired_rules_only_on_request(catalog: Catalog) -> None:
    assert OLD_POWERSHELL not in listed(catalog)
    assert HUNTING not in listed(catalog)  # not a detection (model.DETECTION_KINDS): left out of the browse
    assert len(listed(catalog)) == 10
    assert {OLD_POWERSHELL, HUNTING} <= set(listed(catalog, retired=True))
    assert listed(catalog, status=("deprecated",)) == [OLD_POWERSHELL]
    assert listed(catalog, kind=("deprecated",)) == [OLD_POWERSHELL]
    assert listed(catalog, kind=("hunting",)) == [HUNTING]


def test_a_technique_selects_its_sub_techniques(catalog: Catalog) -> None:
    family = listed(catalog, technique=("T1059",), retired=True)
    assert set(family) == {
        POWERSHELL_ENCODED,
        "sigma/proc_creation_win_powershell_download",
        HUNTING,
        OLD_POWERSHELL,
        "sigma/proc_creation_lnx_base64_decode",
    }
    assert set(listed(catalog, technique=("T1059.001",), retired=True)) == set(family) - {
        "sigma/proc_creation_lnx_base64_decode"
    }
    assert listed(catalog, technique=("T105",)) == []  # an id prefix is not a parent


def test_facets_and_and_values_or(catalog: Catalog) -> None:
    both = listed(catalog, level=("high", "critical"), product=("windows",))
    assert set(both) == {
        POWERSHELL_ENCODED,
        "sigma/proc_creation_win_mimikatz_cli",
        "sigma/net_connection_win_tunnel",
    }
    assert listed(catalog, level=("high",), product=("linux",)) == []


def test_facet_counts_match_their_definition(catalog: Catalog) -> None:
    rows = browse.browse_rows(catalog)
    values = {f: sorted({v for r in rows for v in r.values(f)}) for f in FACETS}
    rnd = random.Random(7)
    selections = [RuleFilter(), RuleFilter(retired=True), RuleFilter(status=("deprecated",))]
    for _ in range(60):
        chosen = rnd.sample(FACETS, rnd.randint(1, 3))
        picked = {f: tuple(rnd.sample(values[f], min(len(values[f]), rnd.randint(1, 2)))) for f in chosen}
        selections.append(RuleFilter(retired=rnd.random() < 0.3, **picked))
    for selection in selections:
        assert browse.facet_counts(rows, selection) == reference_counts(rows, selection), selection


def test_corpus_facet_counts_match_their_definition(shared_dir: Path, corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        rows = browse.browse_rows(catalog)
        for selection in (
            RuleFilter(),
            RuleFilter(level=("high",), product=("windows",)),
            RuleFilter(technique=("T1059",), status=("test", "deprecated")),
        ):
            assert browse.facet_counts(rows, selection) == reference_counts(rows, selection)


def test_query_sorts_and_pages(catalog: Catalog) -> None:
    first = facet_index.query_rules(catalog, RuleFilter(), "title", page=1, per_page=5)
    assert (first["total"], first["pages"], len(first["rules"])) == (10, 2, 5)
    titles = [r["title"] for r in facet_index.query_rules(catalog, RuleFilter(), "title", 1, 50)["rules"]]
    assert titles == sorted(titles, key=str.casefold)
    levels = [r["level"] for r in facet_index.query_rules(catalog, RuleFilter(), "level", 1, 50)["rules"]]
    assert levels[0] == "critical" and levels[-1] == "low"  # the informational rule is a hunting query
    newest = facet_index.query_rules(catalog, RuleFilter(), "modified")["rules"]
    modified = [r["modified"] or r["created"] for r in newest]
    assert modified == sorted(modified, reverse=True)
    past = facet_index.query_rules(catalog, RuleFilter(), "title", page=10**9, per_page=5)
    assert (past["total"], past["rules"]) == (10, [])  # an absurd page is an empty page
    counts = dict((f["value"], f["rules"]) for f in first["facets"]["status"])
    assert counts == {"test": 5, "stable": 3, "experimental": 2, "deprecated": 1}


def test_filters_from_query_lists(catalog: Catalog) -> None:
    selection = RuleFilter.from_lists(level=["HIGH,critical"], technique=["t1059"], product=["(none)"])
    assert selection.level == ("high", "critical")
    assert selection.technique == ("T1059",)
    assert selection.product == ("",)
    assert browse.resolve_tactics(catalog, ["persistence", "Privilege Escalation", "TA0002", "nope"]) == (
        "TA0003", "TA0004", "TA0002", "nope",
    )  # fmt: skip
    with pytest.raises(ValueError, match="unknown facet 'colour'"):
        RuleFilter.from_lists(colour=["red"])


def test_overview(catalog: Catalog) -> None:
    overview = browse.catalog_overview(catalog, top_indicators=3)
    assert overview["rules"] == 12
    assert dict(overview["per_product"]) == {"windows": 9, "linux": 2, "aws": 1}
    assert overview["top_indicators"][0] == {
        "field": "Image",
        "kind": "ends_with",
        "value": "\\powershell.exe",
        "shown": "\\powershell.exe",
        "transforms": "",
        "rules": 3,
    }  # fmt: skip  (the hunting rule counts; the deprecated one does not)
    assert overview["sources"][0]["vendor"] == "sigma"


def test_indicator_rows_group_rules_by_role(catalog: Catalog) -> None:
    groups = {g.key: g for g in browse.all_indicator_rules(catalog)}
    powershell = groups[("Image", "ends_with", "\\powershell.exe", "")]
    assert [r["uid"] for r in powershell.using] == [
        "sigma/proc_creation_win_hunting_powershell",
        OLD_POWERSHELL,
        "sigma/proc_creation_win_powershell_download",
        POWERSHELL_ENCODED,
    ]
    assert powershell.corpus == {"sigma": 3}
    excluded = groups[("Image", "ends_with", "\\admin_tool.exe", "")]
    assert excluded.using == [] and [r["uid"] for r in excluded.excluding] == [
        "sigma/proc_creation_win_mimikatz_cli"
    ]
    some = list(browse.indicator_rules_for(catalog, [powershell.key, ("no", "such", "key", "")]))
    assert [g.key for g in some] == [powershell.key] and some[0].using == powershell.using
    by_field = {g.key for g in browse.indicator_rules_of_fields(catalog, ["Image"])}
    assert by_field == {k for k in groups if k[0] == "Image"}
    found = browse.find_indicators(catalog, "Image", None, "\\POWERSHELL.EXE")
    assert [g.key for g in found] == [powershell.key]  # case-folded lookup


def test_fields(catalog: Catalog) -> None:
    fields = {f["field"]: f for f in browse.field_list(catalog)}
    assert fields["CommandLine"]["rules"] == 6
    assert None in fields  # the keyword search
    detail = browse.field_detail(catalog, "Image")
    assert detail is not None
    assert detail["kinds"] == [{"kind": "ends_with", "rules": 6, "values": 3}]
    assert detail["values"][0] == {
        "kind": "ends_with", "value": "\\powershell.exe", "transforms": [], "rules": 4, "corpus": 3,
    }  # fmt: skip
    assert detail["excluding_rules"] == 1
    assert browse.field_detail(catalog, "NoSuchField") is None


def test_dates_read_as_text_equal_the_parsed_documents(shared_dir: Path, corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        parsed = {
            uid: (d or "", m or "")
            for uid, d, m in catalog.db.execute(
                "SELECT uid, json_extract(doc, '$.date'), json_extract(doc, '$.modified') FROM rules"
            )
        }
        assert {r.uid: (r.created, r.modified) for r in browse.browse_rows(catalog)} == parsed
