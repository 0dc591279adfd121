"""A Sublime rule page and a Panther Python rule page in headless Chromium, built from real rules read from
../shared/corpus at test time: stages and predicates, indicators with the native text beside ours, Sublime's
own threat classification, Panther's output fields and dedup window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_support import ATTACK_FIXTURE, atlas_server, corpus_subset
from site_support import running
from test_catalog_browser import open_page

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec

pytestmark = [pytest.mark.browser]
SUBLIME_RULES = ["detection-rules/abuse_behance_document_sharing_suspicious_language.yml"]
PANTHER_RULES = [
    "rules/aws_cloudtrail_rules/aws_cloudtrail_stopped.yml",
    "rules/aws_cloudtrail_rules/aws_cloudtrail_stopped.py",
]


@pytest.fixture(scope="module")
def server(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sublime = corpus_subset(shared_dir, "sublime", SUBLIME_RULES, tmp_path_factory.mktemp("sublime-rules"))
    panther = corpus_subset(shared_dir, "panther", PANTHER_RULES, tmp_path_factory.mktemp("panther-rules"))
    out = tmp_path_factory.mktemp("sublime-panther-catalog")
    sources = [SourceSpec("sublime", sublime), SourceSpec("panther", panther)]
    build(BuildConfig(out=out, sources=sources, attack=ATTACK_FIXTURE, jobs=1))
    with running(atlas_server(out)) as base:
        yield base


def test_sublime_rule_page(page_factory: Any, server: str) -> None:
    page, watch = open_page(
        page_factory, server + "rules/sublime/abuse_behance_document_sharing_suspicious_language/"
    )
    assert "Behance document sharing" in page.locator("h1").inner_text()
    stages = page.locator("#stages").inner_text()
    assert "Not parsed yet" not in stages
    assert "body.current_thread.links[].href_url.domain.root_domain" in stages
    indicators = page.locator("#indicators").inner_text()
    assert "behance.net" in indicators and "/gallery/" in indicators
    # the MQL that wrote the comparison, beside our kind
    assert "strings.icontains(.href_url.path, '/gallery/')" in indicators
    exclusions = page.locator("#exclusions").inner_text()
    assert "$high_trust_sender_root_domains" in exclusions
    facts = " ".join(page.locator("[data-section=fact]").all_text_contents())
    assert "Credential Phishing" in facts and "Free file host" in facts and "URL analysis" in facts
    assert watch.problems() == []


def test_panther_python_rule_page(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "rules/panther/aws_cloudtrail_stopped/")
    assert page.locator("h1").inner_text().startswith("CloudTrail Stopped")
    stages = page.locator("#stages")
    assert "rule()" in stages.inner_text() and "Not parsed yet" not in stages.inner_text()
    assert "&amp;quot;" not in page.content()  # the Python text escaped once, not twice
    output = stages.locator(".output-fields").inner_text()
    assert "eventName" in output and "aws_rule_context()" in output
    indicators = page.locator("#indicators").inner_text()
    assert "StopLogging" in indicators and "DeleteTrail" in indicators
    # eventName is Sigma's CloudTrail key itself, so the row needs no "from"; the stage keeps the Python
    titles = stages.locator("code.field").evaluate_all("nodes => nodes.map(n => n.title)")
    assert 'event.get("eventName") in CLOUDTRAIL_STOP_DELETE' in titles
    exclusions = page.locator("#exclusions").inner_text()
    assert "errorCode" in exclusions  # aws_cloudtrail_success(event), from global_helpers
    fact = page.locator("[data-section=fact]", has_text="Python logic")
    assert "reduced to predicates" in fact.text_content()
    assert watch.problems() == []
