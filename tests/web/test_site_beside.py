"""A full render with rule pages on forked workers beside the other pages (web/site.py) writes the site a
render in one process writes: the same files, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.store import CATALOG_FILE, open_catalog
from ruleatlas.web import site as web_site


def _files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def test_rule_pages_beside_the_other_pages_write_the_same_site(
    store_catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_path = store_catalog / CATALOG_FILE
    with open_catalog(catalog_path) as catalog:
        summaries = catalog.summaries()
    uids = [s["uid"] for s in summaries]
    web_site.write_site(tmp_path / "serial", catalog_path, uids, summaries, set(), jobs=1)
    monkeypatch.setattr(web_site, "_PARALLEL_FROM", 1)  # the 12 rules of the fixture take the forked path
    web_site.write_site(tmp_path / "beside", catalog_path, uids, summaries, set(), jobs=2)
    serial, beside = _files(tmp_path / "serial"), _files(tmp_path / "beside")
    assert any(name.startswith("rules/") for name in serial)
    assert serial.keys() == beside.keys()
    assert [name for name in serial if serial[name] != beside[name]] == []
