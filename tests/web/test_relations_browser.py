"""Rules in relation in headless Chromium, over a real build of tests/data/relations (Sigma rules in pairs,
with telemetry so that cloud actions resolve): a rule page's Alternatives and equivalents section (its class,
broader and stricter alternatives with reasons, the same cloud action), the class page and the class list,
served with the API, on a desktop and a phone, with no console error and no dead link."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from catalog_support import fetch
from site_support import serving
from test_telemetry_browser import PHONE, assert_fits, local_links_ok, open_page

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def server(test_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("relations-site")
    build(
        BuildConfig(
            out=out,
            sources=[SourceSpec("sigma", test_data / "relations" / "sigma")],
            attack=test_data / "attack",
            telemetry=test_data / "telemetry" / "providers",
            jobs=1,
        )
    )
    with serving(out) as base:
        yield base


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_rule_page_shows_class_broader_and_stricter(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, server + "rules/sigma/proc_powershell_encoded/", **viewport)
    section = page.locator("#relations")
    assert section.locator("h2").inner_text() == "Alternatives and equivalents"
    assert page.locator(".toc a[href='#relations']").count() == 1
    klass = section.locator("[data-relation=class]")
    assert "The same logic as 2 other rules" in klass.inner_text()
    broader = section.locator("ul[data-relation=broader] li")
    assert broader.count() == 2
    first = broader.filter(has_text="PowerShell Process Started")
    assert "drops CommandLine contains -enc ; drops 1 filter this rule applies" in " ".join(
        first.inner_text().split()
    )
    assert first.locator("code").first.text_content() == "CommandLine contains  -enc "
    assert "Sigma" in first.locator(".vendor-chip").inner_text()
    assert (
        "No rule in the catalog is shown to match a subset"
        in section.locator("[data-relation=stricter]").inner_text()
    )
    assert_fits(page)
    local_links_ok(page, server)
    # The broader rule's page lists this one among its stricter alternatives, with what it adds.
    first.locator("a").click()
    page.wait_for_url("**/proc_powershell_any/**")
    stricter = page.locator(
        "#relations ul[data-relation=stricter] li", has_text="Encoded PowerShell Command Line"
    )
    assert "adds CommandLine contains -enc ; adds 1 filter" in " ".join(stricter.inner_text().split())
    assert page.locator("#relations [data-relation=class]").count() == 0
    assert watch.problems() == []


def test_regex_rule_says_what_is_undecidable(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "rules/sigma/proc_powershell_regex/")
    assert "regex comparisons are undecidable" in page.locator("#relations .relation-note").inner_text()
    assert watch.problems() == []


def test_cloud_rule_shows_the_same_action(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "rules/sigma/aws_iam_create_access_key/")
    section = page.locator("#relations")
    assert section.locator(".relation-action").inner_text() == "iam.amazonaws.com · CreateAccessKey"
    same = section.locator("ul[data-relation=same-action] li")
    assert same.count() == 1
    assert "AWS Root Creates an Access Key" in same.inner_text() and "Sigma" in same.inner_text()
    assert section.locator("ul[data-relation=stricter] li").count() == 1
    local_links_ok(page, server)
    assert watch.problems() == []


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_class_page_lists_members_with_their_stages(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, server + "rules/sigma/proc_powershell_encoded/", **viewport)
    page.locator("#relations [data-relation=class] a").first.click()
    page.wait_for_url("**/rules/eq/**")
    assert page.locator("h1").inner_text() == "3 rules with the same logic"
    assert page.locator("[data-fact=shape]").inner_text() == "single event"
    rows = page.locator("table[data-list=members] tbody tr")
    assert rows.count() == 3
    assert rows.nth(2).locator("td").nth(3).inner_text() == "3"  # the copy has three searches
    copy = page.locator("[data-member='sigma/proc_powershell_encoded_copy']")
    assert "all of sel_* and not 1 of filter_main_*" in copy.locator("pre").first.inner_text()
    assert_fits(page)
    local_links_ok(page, server)
    # The list of classes links back to it, largest first.
    page.locator(".breadcrumb a").click()
    page.wait_for_url("**/rules/eq/**")
    listed = page.locator("table[data-list=classes] tbody tr")
    assert listed.count() == 1 and listed.locator("td").nth(2).inner_text() == "3"
    assert watch.problems() == []


def test_api_serves_classes_and_a_rule_s_relations(server: str) -> None:
    status, _, body = fetch(server, "/api/rules/eq")
    assert status == 200
    listing = json.loads(body)
    assert listing["total"] == 1 and listing["classes"][0]["size"] == 3
    key = listing["classes"][0]["id"]
    status, _, body = fetch(server, f"/api/rules/eq/{key}")
    assert status == 200 and len(json.loads(body)["members"]) == 3
    # both answers match the OpenAPI document's schemas (the corpus has no class to check them on)
    _, _, spec = fetch(server, "/openapi.json")
    paths = json.loads(spec)["paths"]
    for pattern, answer in (("/api/rules/eq", listing), ("/api/rules/eq/{id}", json.loads(body))):
        schema = paths[pattern]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        jsonschema.validate(answer, schema, cls=jsonschema.Draft202012Validator)
    status, _, body = fetch(server, "/api/rules/eq/0000000000000000")
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
    status, _, body = fetch(server, "/api/rules/sigma/proc_powershell_any")
    relations = json.loads(body)["relations"]
    assert {s["uid"] for s in relations["stricter"]} >= {"sigma/proc_powershell_encoded"}
