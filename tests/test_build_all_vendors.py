"""End to end over every corpus of ../shared: nine sources, seven vendor labels, one catalog (built once by
the `all_vendors_catalog` fixture; tests/web/test_vendor_site.py checks every link of its pages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.build.summary import BuildSummary
from ruleatlas.config import shared_defaults
from ruleatlas.model import VENDORS
from ruleatlas.store import open_catalog

pytestmark = pytest.mark.corpus


def test_every_vendor_of_the_shared_corpus_is_in_one_catalog(
    shared_dir: Path, all_vendors_catalog: tuple[Path, BuildSummary]
) -> None:
    sources, _, _ = shared_defaults(shared_dir)
    assert [s.name for s in sources] == [
        "sigma",
        "hayabusa",
        "suzaku",
        "elastic",
        "splunk",
        "kusto",
        "yaral",
        "sublime",
        "panther",
    ]
    out, summary = all_vendors_catalog
    with open_catalog(out) as catalog:
        stats = catalog.stats()
        source_problems = [p.message for p in catalog.problems() if p.file == ""]
        rows = {s.source: (s.vendor, s.files, s.rules) for s in catalog.sources()}
    assert source_problems == []
    assert set(stats["per_vendor"]) == set(VENDORS)
    # Every file gives a rule or a problem; most give a rule.
    for source, (vendor, files, rules) in rows.items():
        assert files > 0 and rules >= 0.95 * files, (source, vendor, files, rules)
    assert stats["rules"] == summary.rules > 13_000
    assert sum(stats["per_vendor_kind"]["sigma"].values()) == stats["per_vendor"]["sigma"]
    print({v: stats["per_vendor_kind"][v] for v in sorted(stats["per_vendor_kind"])})
