"""A Splunk tstats rule's page in headless Chromium, from a build of real rules read from ../shared/corpus at
test time (four security_content detections with their macros, and one SigmaHQ rule that shares an indicator):
each pipe command its own stage with its native text, predicates, exclusions, indicators counted across
vendors, the group-by fact and event coverage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_support import ATTACK_FIXTURE, atlas_server, corpus_subset
from site_support import running

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec

pytestmark = pytest.mark.browser

DATA = Path(__file__).resolve().parents[1] / "data"
# a tstats rule (the page under test), a tstats + lookup rule and an implicit search with stats and renames,
# with the macros they call
SPLUNK_RULES = [
    "detections/endpoint/windows_cmdline_tool_execution_from_non_shell_process.yml",
    "detections/endpoint/certutil_download_with_urlcache_and_split_arguments.yml",
    "detections/endpoint/3cx_supply_chain_attack_network_indicators.yml",
    "detections/endpoint/delete_shadowcopy_with_powershell.yml",
    "macros/fillnull_config.yml",
    "macros/oldsummaries_config.yml",
    "macros/powershell.yml",
    "macros/process_certutil.yml",
    "macros/security_content_ctime.yml",
    "macros/security_content_summariesonly.yml",
    "macros/summariesonly_config.yml",
]
SIGMA_RULES = ["rules/windows/process_creation/proc_creation_win_whoami_output.yml"]  # whoami.exe too
RULE = "rules/splunk/windows_cmdline_tool_execution_from_non_shell_process/"


@pytest.fixture(scope="module")
def splunk_site(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    sigma = corpus_subset(shared_dir, "sigma", SIGMA_RULES, tmp_path_factory.mktemp("splunk-sigma"))
    splunk = corpus_subset(shared_dir, "splunk", SPLUNK_RULES, tmp_path_factory.mktemp("splunk-rules"))
    out = tmp_path_factory.mktemp("splunk-catalog")
    sources = [SourceSpec("sigma", sigma), SourceSpec("splunk", splunk)]
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


def test_a_tstats_rule_page(page_factory: Any, splunk_site: str) -> None:
    page, watch = page_factory()
    response = page.goto(splunk_site + RULE, wait_until="load")
    assert response is not None and response.status == 200
    heads = page.locator("#stages .stage-head")
    labels = [heads.nth(i).locator("h3").inner_text() for i in range(heads.count())]
    assert labels == [
        "Stage 0: tstats",
        "Stage 1: tstats",
        "Stage 2: tstats",
        "Stage 3: drop_dm_object_name",
        "Stage 4: convert",
        "Stage 5: convert",
        "Stage 6: filter macro",
    ]
    ops = [heads.nth(i).locator(".chip").inner_text() for i in range(3)]
    assert ops == ["source", "filter", "aggregate"]
    stages = page.locator("#stages .stage")
    assert stages.nth(0).locator("pre").inner_text() == "from datamodel=Endpoint.Processes"
    where = stages.nth(1).locator("pre").inner_text()
    assert where.startswith('where Processes.process_name IN ("ipconfig.exe",')
    assert "Processes.parent_process_name" in stages.nth(1).inner_text()
    assert stages.nth(2).locator("pre").inner_text().startswith("tstats count min(_time) as firstTime")
    assert stages.nth(6).locator("pre").inner_text() == (
        "`windows_cmdline_tool_execution_from_non_shell_process_filter`"
    )
    assert heads.nth(0).locator(".line-link").inner_text() == "line 21"  # `from datamodel` in the file

    indicators = page.locator("#indicators").inner_text()
    assert "\\whoami.exe" in indicators and "corpus 2 (sigma 1, splunk 1)" in indicators
    assert 'Processes.process_name IN ("whoami.exe")' in indicators
    exclusions = page.locator("#exclusions").inner_text()
    assert (
        "ParentImage" in exclusions and "\\cmd.exe" in exclusions and "excluded by 1 (splunk 1)" in exclusions
    )
    assert "datamodel" not in indicators + exclusions  # a scope predicate is never an indicator

    facts = page.locator(".meta-grid").inner_text().lower()
    assert "group by" in facts and "processes.parent_process_name" in facts
    assert "severity" in facts and "risk score" in facts
    # the rule's data sources are Sysmon 1 and Security 4688; the fixture telemetry's Sysmon 1 is a small
    # made-up schema without ParentImage: the coverage check reads the rule's fields in Sigma's names
    # (Processes.parent_process_name is ParentImage) and says so
    events = page.locator("#events table.events")
    assert "Event ID 4688" in events.inner_text()
    note = page.locator("#events .events-note").inner_text()
    assert note == "Sysmon 1 left out: it does not carry ParentImage, which the rule uses."
    assert watch.problems() == []
