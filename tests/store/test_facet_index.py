"""The browse list's bit-set facets answer what `browse.filter_rows` and `browse.facet_counts` answer row by
row: the same rows in the same order, the same counts, on many selections (retired rules included)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ruleatlas.store import Catalog, browse, facet_index, open_catalog
from ruleatlas.store.browse import FACETS, RETIRED, BrowseRow, RuleFilter
from ruleatlas.store.facet_index import FacetIndex


def selections(rows: list[BrowseRow], seed: int, n: int) -> list[RuleFilter]:
    values = {f: sorted({v for r in rows for v in r.values(f)}) for f in FACETS}
    rnd = random.Random(seed)
    out = [
        RuleFilter(),
        RuleFilter(retired=True),
        RuleFilter(status=("deprecated",)),
        RuleFilter(kind=tuple(sorted(RETIRED))),
        RuleFilter(product=("no such product",)),
    ]
    for _ in range(n):
        chosen = rnd.sample(FACETS, rnd.randint(1, 3))
        picked = {f: tuple(rnd.sample(values[f], min(len(values[f]), rnd.randint(1, 2)))) for f in chosen}
        out.append(RuleFilter(retired=rnd.random() < 0.3, **picked))
    return out


def assert_same(rows: list[BrowseRow], selection: RuleFilter, index: FacetIndex) -> None:
    assert index.listed(selection) == browse.filter_rows(rows, selection), selection
    assert index.counts(selection) == browse.facet_counts(rows, selection), selection


@pytest.fixture(scope="module")
def catalog(store_catalog: Path) -> Catalog:
    return Catalog(store_catalog)


def test_bit_sets_answer_as_the_rows_do(catalog: Catalog) -> None:
    rows = browse.browse_rows(catalog)
    index = facet_index.facet_index(catalog)
    assert index is facet_index.facet_index(catalog)  # built once per rows read
    assert len(index.listed(RuleFilter(retired=True))) == len(rows) > 0
    for selection in selections(rows, seed=3, n=120):
        assert_same(rows, selection, index)


def test_corpus_bit_sets_answer_as_the_rows_do(shared_dir: Path, corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        rows = browse.browse_rows(catalog)
        index = FacetIndex.build(rows)
        for selection in selections(rows, seed=5, n=40):
            assert_same(rows, selection, index)
        answer = facet_index.query_rules(catalog, RuleFilter(level=("high",)), "title", page=2, per_page=7)
        high = browse.filter_rows(rows, RuleFilter(level=("high",)))
        assert [r["uid"] for r in answer["rules"]] == [r.uid for r in high[7:14]]
        assert answer["total"] == len(high) > 14
