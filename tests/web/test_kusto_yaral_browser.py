"""A Kusto and a YARA-L rule page in headless Chromium, from a build of real rules read from ../shared/corpus
at test time (two Sentinel rules, two Chronicle rules, and the SigmaHQ rule they meet in the counts): stages
with their native text and lines, predicates, exclusions, indicators with corpus counts split by vendor,
header facts (time window, group-by), event coverage and output fields."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_support import corpus_subset
from site_support import serving

from ruleatlas.build import build
from ruleatlas.config import BuildConfig, SourceSpec

DATA = Path(__file__).resolve().parents[1] / "data"
# SecurityEvent 4688 with exclusions; a list `let` and CloudTrail `StopLogging`
SENTINEL_RULES = [
    "Detections/SecurityEvent/Potentialre-namedsdeleteusage.yaml",
    "Detections/AWSCloudTrail/AWS_ClearStopChangeTrailLogs.yaml",
]
# a nocase regex exclusion, match window and outcome; CloudTrail `StopLogging`
CHRONICLE_RULES = [
    "rules/community/microsoft/windows/renamed_createdump_utility_execution.yaral",
    "rules/community/aws/cloudtrail/aws_cloudtrail_logging_tampered.yaral",
]
SIGMA_RULES = ["rules/cloud/aws/cloudtrail/aws_cloudtrail_disable_logging.yml"]  # eventName: StopLogging


@pytest.fixture(scope="module")
def server(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    def subset(corpus_folder: str, rel_paths: list[str]) -> Path:
        return corpus_subset(shared_dir, corpus_folder, rel_paths, tmp_path_factory.mktemp(corpus_folder))

    out = tmp_path_factory.mktemp("kusto-yaral-catalog")
    sources = [
        SourceSpec("sigma", subset("sigma", SIGMA_RULES)),
        SourceSpec("kusto", subset("sentinel", SENTINEL_RULES)),
        SourceSpec("yaral", subset("chronicle", CHRONICLE_RULES)),
    ]
    build(
        BuildConfig(
            out=out,
            sources=sources,
            attack=DATA / "attack",
            telemetry=DATA / "telemetry" / "providers",
            jobs=1,
        )
    )
    with serving(out) as base:
        yield base


def section(page: Any, heading: str) -> str:
    """The text of the page's section under the `h2` that starts with `heading`."""
    text: str = page.locator(
        "main section", has=page.locator(f"h2:text-matches('^{heading}')")
    ).first.inner_text()
    return text


def test_kusto_rule_page(page_factory: Any, server: str) -> None:
    page, watch = page_factory()
    page.goto(server + "rules/kusto/Potentialre-namedsdeleteusage/")
    assert page.title().startswith("Potential re-named sdelete usage")
    main = page.locator("main").inner_text().lower()  # header labels are shown in capitals
    assert "time window" in main and "1h" in main
    stages = section(page, "Stages and predicates")
    for text in (
        "Stage 0: SecurityEvent",
        "source",
        "line 22",
        'where CommandLine has_all ("accepteula", "-r", "-s", "-q", "c:/")',
        "line 25",
    ):
        assert text in stages
    indicators = section(page, "Indicators")
    assert "EventID" in indicators and "4688" in indicators and "accepteula" in indicators
    assert "corpus 1 (kusto 1)" in indicators
    exclusions = section(page, "Exclusions")
    assert "sdelete.exe" in exclusions and 'Process !~ "sdelete.exe"' in exclusions
    coverage = section(page, "Event coverage")
    assert "4688" in coverage and "A new process has been created." in coverage
    assert page.locator(".output-fields").inner_text().split() == ["Output", "fields:", "Account", "Computer"]
    assert watch.problems() == []


def test_kusto_rule_meets_sigma_and_yaral_in_the_counts(page_factory: Any, server: str) -> None:
    page, watch = page_factory()
    page.goto(server + "rules/kusto/AWS_ClearStopChangeTrailLogs/")
    indicators = section(page, "Indicators")
    assert "eventName" in indicators
    row = page.locator("#indicators .ind-values li", has_text="StopLogging").inner_text()
    assert "corpus 3 (kusto 1, sigma 1, yaral 1)" in row and "EventName in~ (EventNameList)" in row
    stages = section(page, "Stages and predicates")
    assert "let EventNameList" in stages and "summarize" in stages
    main = page.locator("main").inner_text().lower()
    assert "group by" in main and "useridentityaccountid" in main
    assert "StopLogging (AWS CloudTrail)" in section(page, "Event coverage")
    assert watch.problems() == []


def test_yaral_rule_page(page_factory: Any, server: str) -> None:
    page, watch = page_factory()
    page.goto(server + "rules/yaral/renamed_createdump_utility_execution/")
    stages = section(page, "Stages and predicates")
    for text in (
        "Stage 0: condition",
        "line 81",
        "Stage 1: $process",
        "line 38",
        "$hostname over 5m",
        "line 61",
    ):
        assert text in stages, text
    assert 'strings.contains($process.target.process.command_line, " -u ")' in stages
    exclusions = section(page, "Exclusions")
    assert "Image" in exclusions and "\\createdump.exe" in exclusions  # the regex literal, reduced
    main = page.locator("main").inner_text().lower()
    for fact in ("group by", "$hostname", "time window", "5m", "risk score"):
        assert fact in main, fact
    assert "Sysmon" in section(page, "Event coverage")
    fields = page.locator(".output-fields").inner_text()
    assert "risk_score" in fields and "target_process_command_line" in fields
    assert watch.problems() == []
    page.goto(server + "rules/yaral/aws_cloudtrail_logging_tampered/")
    row = page.locator("#indicators .ind-values li", has_text="StopLogging").inner_text()
    assert "corpus 3 (kusto 1, sigma 1, yaral 1)" in row
    assert "StopLogging (AWS CloudTrail)" in section(page, "Event coverage")
    assert watch.problems() == []
