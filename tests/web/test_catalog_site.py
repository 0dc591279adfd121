"""The catalog pages the build writes: which indicator pages exist, the list pages every other indicator
links to, the compact indexes, escaping, and incremental builds that end exactly where a full build does."""

from __future__ import annotations

import filecmp
import json
import re
import shutil
from pathlib import Path

from catalog_support import ATTACK_FIXTURE, BROWSE_CORPUS, FIXTURE_RULES, HOSTILE_TITLE, build_fixture_catalog

from ruleatlas.store import open_catalog
from ruleatlas.store.browse import all_indicator_rules
from ruleatlas.web import urls
from ruleatlas.web.catalog_site import field_details
from ruleatlas.web.pages import CatalogPages
from ruleatlas.web.render import SiteRenderer

MY_FOLDERS = ("indicators", "fields", "rules", "data", "all-rules", "search", "api-docs")


def page(site: Path, path: str) -> str:
    return (site / urls.page_file(path)).read_text(encoding="utf-8")


def test_shared_indicators_have_pages_and_every_indicator_a_row(browse_catalog: Path) -> None:
    site = browse_catalog / "site"
    with open_catalog(browse_catalog) as catalog:
        groups = list(all_indicator_rules(catalog))
    for g in groups:
        field, kind, value, transforms = g.key
        own = site / urls.page_file(
            urls.indicator_path(field or None, kind, value, transforms.split("|") if transforms else [])
        )
        shared = sum(g.corpus.values()) >= urls.SHARED_INDICATOR_RULES
        assert own.is_file() == shared, g.key
        anchor = urls.indicator_anchor(
            field or None, kind, value, transforms.split("|") if transforms else []
        )
        assert f'<tr id="{anchor}">' in page(site, urls.indicator_list_path(field or None, kind)), g.key
    shared_page = page(site, urls.indicator_path("Image", "ends_with", "\\powershell.exe"))
    assert "<h1" in shared_page and "Rules looking for it (any kind)</dt><dd>4</dd>" in shared_page
    assert shared_page.count('class="rule-list"') == 1  # one vendor group
    assert "Old PowerShell Rule" in shared_page  # a deprecated rule still shows, though it is not counted


def test_rule_pages_link_badges_to_pages_or_rows(browse_catalog: Path) -> None:
    html = page(browse_catalog / "site", urls.rule_path("sigma/proc_creation_win_powershell_encoded"))
    shared = urls.indicator_path("Image", "ends_with", "\\powershell.exe")
    assert f'href="../../../{shared}index.html"' in html
    single = urls.indicator_link_path("CommandLine", "contains", " -enc ", [], 1)
    assert "#" in single and f'href="../../../{single.replace("/#", "/index.html#")}"' in html


def test_field_pages_agree_with_the_api_query(browse_catalog: Path) -> None:
    from ruleatlas.store.browse import field_detail

    with open_catalog(browse_catalog) as catalog:
        details = field_details(all_indicator_rules(catalog))
        for name, detail in details.items():
            assert detail == field_detail(catalog, name), name


def test_corpus_field_pages_agree_with_the_api_query(shared_dir: Path, corpus_catalog: Path) -> None:
    from ruleatlas.store.browse import field_detail

    with open_catalog(corpus_catalog) as catalog:
        details = field_details(all_indicator_rules(catalog))
        for name in ("CommandLine", "Image", "", "TargetFilename", "Hashes"):
            expected = field_detail(catalog, name)
            # the most used values tie often; compare each value's counts rather than the order of ties
            assert {k: v for k, v in details[name].items() if k != "values"} == {
                k: v for k, v in expected.items() if k != "values"
            }  # type: ignore[union-attr]
            ours = {(v["kind"], v["value"]): v for v in details[name]["values"]}
            assert all(ours.get((v["kind"], v["value"]), v) == v for v in expected["values"])  # type: ignore[index]


def test_indexes_are_compact_and_complete(browse_catalog: Path) -> None:
    data = browse_catalog / "site" / "data"
    rules_js = (data / "rules.js").read_text(encoding="utf-8")
    assert rules_js.startswith("window.RuleAtlasIndex={") and rules_js.endswith("};\n")
    index = json.loads(rules_js.removeprefix("window.RuleAtlasIndex=").removesuffix(";\n"))
    assert len(index["rules"]) == FIXTURE_RULES
    assert [t[0] for t in index["facets"]["tactic"]] == [
        "TA0002",
        "TA0003",
        "TA0004",
        "TA0005",
        "TA0006",
        "TA0011",
    ]
    hostile = next(r for r in index["rules"] if r[2] == HOSTILE_TITLE)
    assert hostile[1] == "file_event_win_hostile"
    search_js = (data / "search.js").read_text(encoding="utf-8")
    search = json.loads(search_js.removeprefix("window.RuleAtlasSearch=").removesuffix(";\n"))
    texts = search["rules"]
    assert len(texts) == FIXTURE_RULES and all(len(t) == 8 for t in texts)
    mimikatz = texts[[r[1] for r in index["rules"]].index("proc_creation_win_mimikatz_cli")]
    assert mimikatz[4] == ["CommandLine", "Image"] and "sekurlsa::" in mimikatz[5]
    assert mimikatz[7] == "5b1a0001-0000-4000-8000-000000000002"
    # Each indicator as (field, kind, value, exclusion) indexes: field:/value: name one indicator offline too.
    flat = mimikatz[6]
    indicators = {
        (mimikatz[4][flat[i]], search["kinds"][flat[i + 1]], mimikatz[5][flat[i + 2]], flat[i + 3])
        for i in range(0, len(flat), 4)
    }
    assert ("Image", "ends_with", "\\admin_tool.exe", 1) in indicators
    assert ("CommandLine", "contains", "sekurlsa::", 0) in indicators


def test_hostile_text_is_escaped_on_every_catalog_page(browse_catalog: Path) -> None:
    site = browse_catalog / "site"
    for path in site.rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        assert 'href="javascript:' not in html, path
        assert "<b>Bold</b>" not in html, path
    listing = page(site, urls.ALL_RULES_PATH)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Hostile Title" in listing


def test_indicator_page_renders_without_a_build() -> None:
    pages = CatalogPages(SiteRenderer(indicator_pages=True, field_pages=True))
    html = pages.render_indicator(
        ("<x>", "eq", '"><script>', ""),
        {"sigma": 2},
        [
            {
                "uid": "sigma/a",
                "vendor": "sigma",
                "title": "<b>t</b>",
                "level": "high",
                "status": "test",
                "kind": "detection",
            }
        ],
        [],
    )
    assert "<script>" not in html and "&lt;b&gt;t&lt;/b&gt;" in html and "&lt;x&gt;" in html
    assert html.count("<html") == 1 and html.rstrip().endswith("</html>")


def _tree(site: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(site)): p
        for folder in MY_FOLDERS
        for p in (site / folder).rglob("*")
        if p.is_file()
    }


def test_incremental_builds_end_where_a_full_build_does(tmp_path: Path) -> None:
    corpus = tmp_path / "sigma"
    shutil.copytree(BROWSE_CORPUS, corpus)
    out = build_fixture_catalog(tmp_path / "inc", corpus)
    site = out / "site"
    key = ("CommandLine", "contains", "sekurlsa::", [])
    own = site / urls.page_file(urls.indicator_path(*key))
    assert not own.exists()  # one rule uses it
    rule = corpus / "rules" / "windows" / "proc_creation_win_cmd_schtasks.yml"
    original = rule.read_text(encoding="utf-8")

    # 1. A second rule looks for it: it gets a page, and the first rule's badge links there.
    rule.write_text(
        original.replace("CommandLine|contains: '/create'", "CommandLine|contains: 'sekurlsa::'"),
        encoding="utf-8",
    )
    from ruleatlas.build import build
    from ruleatlas.config import BuildConfig, SourceSpec

    config = BuildConfig(out=out, sources=[SourceSpec("sigma", corpus)], attack=ATTACK_FIXTURE, jobs=1)
    summary = build(config)
    assert summary.mode == "incremental" and summary.files_parsed == 1
    assert own.is_file() and "Rules looking for it (any kind)</dt><dd>2</dd>" in own.read_text()
    mimikatz = page(site, urls.rule_path("sigma/proc_creation_win_mimikatz_cli"))
    assert f'href="../../../{urls.indicator_path(*key)}index.html"' in mimikatz
    gone = site / urls.page_file(urls.indicator_list_path("CommandLine", "contains"))
    assert "/create" not in gone.read_text()  # the old value's row went with it
    fresh = build_fixture_catalog(tmp_path / "full1", corpus)
    _same_site(site, fresh / "site")

    # 2. Back again: the page goes, the badge links to the row.
    rule.write_text(original, encoding="utf-8")
    build(config)
    assert not own.exists()
    mimikatz = page(site, urls.rule_path("sigma/proc_creation_win_mimikatz_cli"))
    link = urls.indicator_link_path(*key, 1).replace("/#", "/index.html#")
    assert f'href="../../../{link}"' in mimikatz
    fresh = build_fixture_catalog(tmp_path / "full2", corpus)
    _same_site(site, fresh / "site")


def _same_site(incremental: Path, full: Path) -> None:
    ours, theirs = _tree(incremental), _tree(full)
    assert sorted(ours) == sorted(theirs)
    different = [name for name in ours if not filecmp.cmp(ours[name], theirs[name], shallow=False)]
    assert different == []
    strip = re.compile(r"Built [^<]*")  # the home page says when it was built
    assert strip.sub("", page(incremental, "")) == strip.sub("", page(full, ""))
