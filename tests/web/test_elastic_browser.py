"""An Elastic EQL sequence rule's page in headless Chromium, from a build of four real Elastic rules (read
from ../shared/corpus/elastic at test time) beside one Sigma rule of ours (tests/data/elastic_browse): header
facts, event coverage, each sequence member a stage with its native text and predicates, indicators counted
across vendors, exclusions, and the inline correlation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_support import ATTACK_FIXTURE, atlas_server, corpus_subset
from site_support import running

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec

DATA = Path(__file__).resolve().parents[1] / "data"
FIXTURE = DATA / "elastic_browse"
# an EQL sequence, an ES|QL rule, a kuery threshold rule and a kuery rule on PowerShell script blocks
ELASTIC_RULES = [
    "rules/windows/credential_access_suspicious_comsvcs_imageload.toml",
    "rules/windows/command_and_control_dns_rmm_domains_non_browser.toml",
    "rules/windows/impact_stop_process_service_threshold.toml",
    "rules/windows/collection_posh_audio_capture.toml",
]
SEQUENCE_PAGE = "rules/elastic/credential_access_suspicious_comsvcs_imageload/"


@pytest.fixture(scope="module")
def elastic_site(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    elastic = corpus_subset(shared_dir, "elastic", ELASTIC_RULES, tmp_path_factory.mktemp("elastic-rules"))
    out = tmp_path_factory.mktemp("elastic-catalog")
    sources = [SourceSpec("sigma", FIXTURE / "sigma"), SourceSpec("elastic", elastic)]
    build(
        BuildConfig(
            out=out,
            sources=sources,
            attack=ATTACK_FIXTURE,
            telemetry=DATA / "telemetry" / "providers",
            jobs=1,
        )
    )
    with running(atlas_server(out)) as url:
        yield url


def section(page: Any, name: str) -> str:
    return " ".join(page.locator(f'[data-section="{name}"]').first.inner_text().split())


def test_an_eql_sequence_page_shows_its_logic(page_factory: Any, elastic_site: str) -> None:
    page, watch = page_factory()
    response = page.goto(elastic_site + SEQUENCE_PAGE, wait_until="load")
    assert response is not None and response.status == 200
    assert page.locator("h1").inner_text() == "Potential Credential Access via Renamed COM+ Services DLL"
    facts = dict(
        zip(
            page.locator('[data-section="fact"] dt').all_text_contents(),
            page.locator('[data-section="fact"] dd').all_text_contents(),
            strict=True,
        )
    )
    assert (facts["Rule type"], facts["Max span"], facts["Group by"]) == ("eql", "1m", "process.entity_id")
    events = section(page, "events")  # the second member's event.code == "7": Sysmon's image load
    assert "Sysmon" in events and "Event ID 7" in events

    stages = page.locator('[data-section="stages"] .stage')
    assert stages.count() == 3
    header, first, second = (" ".join(stages.nth(i).inner_text().split()) for i in range(3))
    assert (
        header.startswith("Stage 0: sequence") and "sequence by process.entity_id with maxspan=1m" in header
    )
    assert "1: process where" in first and 'process.name : "rundll32.exe"' in first
    # the event category is a scope predicate (shown with a badge), not an indicator
    assert "event.category eq process scope" in first.lower()
    assert "2: process where" in second and 'not file.name : "COMSVCS.DLL"' in second

    indicators = section(page, "indicators")
    # the Sigma fixture rule looks for the same executable: one indicator, counted for both vendors
    assert "Image ends_with \\rundll32.exe corpus 2 (elastic 1, sigma 1)" in indicators
    assert 'from process.name : "rundll32.exe"' in indicators
    assert "EventID eq 7" in indicators and "event.category" not in indicators
    assert "TargetFilename ends_with \\COMSVCS.DLL excluded by 1 (elastic 1)" in section(page, "exclusions")
    correlation = section(page, "correlation")
    assert "Type sequence" in correlation and "Group by process.entity_id Timespan 1m" in correlation
    assert "Rules" not in correlation and "inline aggregation" in correlation
    assert watch.problems() == [] and watch.dialogs == []


def test_esql_and_threshold_pages_show_one_stage_per_command(page_factory: Any, elastic_site: str) -> None:
    page, watch = page_factory()
    page.goto(
        elastic_site + "rules/elastic/command_and_control_dns_rmm_domains_non_browser/", wait_until="load"
    )
    heads = [
        " ".join(t.split()) for t in page.locator('[data-section="stages"] .stage-head').all_inner_texts()
    ]
    assert heads[0].startswith("Stage 0: from") and any(h.startswith("Stage 3: grok") for h in heads)
    assert len(heads) == len(page.locator('[data-section="stages"] .stage').all()) >= 6
    page.goto(elastic_site + "rules/elastic/impact_stop_process_service_threshold/", wait_until="load")
    stages = section(page, "stages")
    assert "Stage 1: threshold" in stages and "count ≥ 10 by host.id" in stages
    indicators = section(page, "indicators")  # rows of one field and kind are grouped under its first
    assert "Image ends_with \\net.exe corpus 1 (elastic 1)" in indicators
    assert "\\taskkill.exe corpus 1 (elastic 1) from process.name:taskkill.exe" in indicators
    assert watch.problems() == [] and watch.dialogs == []
