"""A rule page's Related rules, Fires on samples and Deploy as sections in headless Chromium, served by
`ruleatlas serve` (its CSP allows no inline script): links both ways, samples with records, a refusal, and a
Copy button that puts the query on the clipboard."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_support import atlas_server
from site_support import running

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.store import open_catalog
from ruleatlas.web import urls

pytestmark = pytest.mark.browser

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "deploy"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    out = tmp_path_factory.mktemp("deploy-browser")
    config = BuildConfig(
        out=out, sources=[SourceSpec("sigma", FIXTURE / "sigma")], samples=FIXTURE / "samples", jobs=1
    )
    build(config, log=io.StringIO())
    with running(atlas_server(out)) as base:
        yield base, out


def _open(page_factory: Any, base: str, uid: str) -> tuple[Any, Any]:
    page, watch = page_factory()
    response = page.goto(base + urls.rule_path(uid), wait_until="load")
    assert response is not None and response.status == 200
    return page, watch


def test_rule_page_shows_related_fires_on_and_deploy_as(page_factory: Any, served: tuple[str, Path]) -> None:
    base, _ = served
    page, watch = _open(page_factory, base, "sigma/base")
    sections = page.eval_on_selector_all("[data-section]", "els => els.map(e => e.dataset.section)")
    assert [s for s in sections if s in ("indicators", "related", "fires", "deploy")] == [
        "indicators",
        "related",
        "fires",
        "deploy",
    ]
    related = page.locator("#related li").all_inner_texts()
    assert [" ".join(t.split()) for t in related] == [
        "Whoami Execution With Privileges Flag derives from this rule"
    ]
    page.locator("#related a").click()
    page.wait_for_url(re.compile(r"/rules/sigma/derived/"))
    assert " ".join(page.locator("#related li").first.inner_text().split()) == (
        "Derived from Whoami Execution"
    )
    assert "no rule in this catalog has this id" in page.locator("#related").inner_text()
    assert page.locator("#fires .fires-summary").inner_text().startswith("No sample fires it")
    page.go_back()
    assert page.locator("#fires .fires-summary").inner_text().startswith("Seen firing on 1 sample")
    assert " ".join(page.locator("#fires li").inner_text().split()) == "samples/whoami.jsonl record 2"
    targets = page.locator("#deploy .deploy-target h3").all_inner_texts()
    assert len(targets) == 7 and targets[0] == "Splunk SPL"
    assert watch.problems() == []


def test_copy_button_puts_the_query_on_the_clipboard(page_factory: Any, served: tuple[str, Path]) -> None:
    base, out = served
    page, watch = _open(page_factory, base, "sigma/base")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base.rstrip("/"))
    button = page.locator('.deploy-target[data-target="splunk"] .copy-button')
    button.click()
    page.wait_for_function(
        "document.querySelector('.deploy-target[data-target=\"splunk\"] .copy-button').dataset.state"
    )
    assert button.get_attribute("data-state") == "copied" and button.inner_text() == "Copied"
    with open_catalog(out) as catalog:
        doc = catalog.rule_document("sigma/base")
    assert doc is not None
    splunk = next(c["query"] for c in doc["deploy"] if c["target"] == "splunk")
    assert page.evaluate("navigator.clipboard.readText()") == splunk
    assert watch.problems() == []


def test_a_refused_conversion_shows_the_message_and_no_copy_button(
    page_factory: Any, served: tuple[str, Path]
) -> None:
    base, _ = served
    page, watch = _open(page_factory, base, "sigma/refused")
    defender = page.locator('.deploy-target[data-target="defender"]')
    assert (
        defender.locator(".deploy-refused")
        .inner_text()
        .startswith("Refused by the backend: SigmaTransformationError: Invalid SigmaDetectionItem field name")
    )
    assert defender.locator(".copy-button").count() == 0
    assert page.locator('.deploy-target[data-target="splunk"] .copy-button').count() == 1
    assert watch.problems() == []
