"""A site over several vendors (the browse fixture, a Hayabusa copy, and Panther through the fake reader of
tests/data/readers): no broken link served or static, every rule's page has its API twin, vendor facets. And
the site of every vendor of ../shared (the `all_vendors_catalog` fixture): every link of every page resolves
to a file of the site, checked on disk with the crawler's link extraction."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_support import (
    ATTACK_FIXTURE,
    BROWSE_CORPUS,
    atlas_server,
    check_site_links,
    crawl,
    fetch,
    static_server,
)
from site_support import running

from ruleatlas.build import build
from ruleatlas.build.summary import BuildSummary
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.model import VENDORS
from ruleatlas.sources import SOURCES
from ruleatlas.store import open_catalog

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def vendor_catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(DATA / "readers"))
        patch.setitem(SOURCES, "panther", ("panther", "fake_panther"))
        out = tmp_path_factory.mktemp("vendor-catalog")
        panther = tmp_path_factory.mktemp("vendor-sources") / "panther"
        shutil.copytree(DATA / "vendors" / "panther", panther)
        sources = [
            SourceSpec("sigma", BROWSE_CORPUS),
            SourceSpec("hayabusa", DATA / "vendors" / "hayabusa"),
            SourceSpec("panther", panther),
        ]
        build(BuildConfig(out=out, sources=sources, attack=ATTACK_FIXTURE, jobs=1))
        yield out


@pytest.mark.parametrize("how", ["served", "static"])
def test_a_site_of_several_vendors_has_no_broken_link(vendor_catalog: Path, how: str) -> None:
    server = atlas_server(vendor_catalog) if how == "served" else static_server(vendor_catalog / "site")
    with running(server) as base:
        report = crawl(base, [""])
    assert report.server_errors == [] and report.broken == [] and report.missing_anchors == []
    crawled = {
        url.split("/rules/", 1)[1].removesuffix("index.html")
        for url in report.pages
        if "/rules/panther/" in url
    }
    # The enrichment rule is left out of the browse but still linked (all-rules list, search index).
    assert {"panther/aws_console_root_login/", "panther/aws_ip_lookup/"} <= crawled


def test_every_rule_page_has_its_api_twin(vendor_catalog: Path) -> None:
    with open_catalog(vendor_catalog) as catalog:
        uids = [s["uid"] for s in catalog.summaries()]
    assert {u.split("/")[0] for u in uids} == {"sigma", "panther"}
    with running(atlas_server(vendor_catalog)) as base:
        for uid in uids:
            status, _, body = fetch(base, f"/api/rules/{uid}")
            assert status == 200, uid
            assert json.loads(body)["uid"] == uid
        status, _, body = fetch(base, "/api/rules?vendor=panther")
        assert status == 200
        listed = json.loads(body)
        assert [r["uid"] for r in listed["rules"]] == ["panther/aws_console_root_login"]
        vendors = {f["value"]: f["rules"] for f in listed["facets"]["vendor"]}
        assert vendors["panther"] == 1 and vendors["sigma"] > 1  # counts with each vendor selected instead


@pytest.mark.corpus
def test_no_page_of_any_vendor_has_a_broken_link(all_vendors_catalog: tuple[Path, BuildSummary]) -> None:
    out, summary = all_vendors_catalog
    report = check_site_links(out / "site")
    assert report.broken == []
    assert report.missing_anchors == []
    with open_catalog(out) as catalog:
        uids = [s["uid"] for s in catalog.summaries()]
    assert len(uids) == summary.rules and {u.split("/")[0] for u in uids} == set(VENDORS)
    missing = [u for u in uids if not (out / "site" / "rules" / u / "index.html").is_file()]
    assert missing == []  # every rule of every vendor has its page, and the walk read it
    assert report.pages > len(uids)
    print(f"{report.pages} pages, {report.links} links to the site checked")
