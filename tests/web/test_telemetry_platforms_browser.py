"""The platform pages of the real catalog in headless Chromium: the telemetry home's platform cards, a
platform page (AWS) and platform event pages (a defined CloudTrail event with a Panther sample, an Okta
event only rules name), on a desktop and a phone, with no console error and no dead link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from site_support import serving
from test_telemetry_browser import PHONE, assert_fits, local_links_ok, open_page

pytestmark = [pytest.mark.browser, pytest.mark.corpus]


@pytest.fixture(scope="module")
def server(corpus_catalog: Path) -> Iterator[str]:
    with serving(corpus_catalog) as base:
        yield base


def figures(card: Any) -> dict[str, int]:
    # text content, not the rendered text: the stylesheet upper-cases the labels
    names = card.locator(".tel-figures dt").all_text_contents()
    values = card.locator(".tel-figures dd").all_text_contents()
    return {n: int(v.replace(",", "")) for n, v in zip(names, values, strict=True)}


def test_home_has_one_card_per_platform(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "telemetry/")
    cards = page.locator("#platforms li.tel-platform")
    keys = [cards.nth(i).get_attribute("data-platform") for i in range(cards.count())]
    assert {"windows", "aws", "gcp", "kubernetes", "auditd", "okta", "github", "azure", "entra"} <= set(keys)
    aws = page.locator("li[data-platform=aws]")
    assert "botocore 1.44.18" in aws.inner_text() and "defined" in aws.inner_text()
    numbers = figures(aws)
    assert numbers["Events"] > 20000 and 0 < numbers["With rules"] < numbers["Events"]
    assert numbers["With samples"] > 100 and numbers["Rules"] > 50
    assert "seen in rules/samples" in page.locator("li[data-platform=okta]").inner_text()
    # each Windows provider once: a channel only rules or samples name says so beside the defined one
    labels = page.locator("#windows tbody td.name a").all_inner_texts()
    assert len(labels) == len(set(labels)) and "Security" in labels
    # the platforms' services are on their platform's page, not in the provider tables
    assert page.locator("main a", has_text="AWS · iam").count() == 0
    assert watch.problems() == []


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_aws_platform_page_groups_events_by_service(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(page_factory, server + "telemetry/platforms/aws/", **viewport)
    assert page.locator("h1").inner_text().startswith("AWS")
    assert "botocore 1.44.18" in page.locator(".tel-source").first.inner_text()
    access_key = page.locator("#platform-events tbody tr", has_text="CreateAccessKey").first
    assert access_key.locator("td").first.text_content() == "AWS · iam"
    services = page.locator("#platform-providers tbody tr")
    assert services.count() > 300
    assert_fits(page)
    assert watch.problems() == []
    page.locator("#platform-events a", has_text="StopLogging").first.click()
    page.wait_for_load_state("load")
    assert "/telemetry/cloudtrail.amazonaws.com/StopLogging/" in page.url
    local_links_ok(page, server)


@pytest.mark.parametrize("viewport", [{}, PHONE], ids=["desktop", "phone"])
def test_cloudtrail_event_page_has_fields_sample_and_rules(
    page_factory: Any, server: str, viewport: dict[str, int]
) -> None:
    page, watch = open_page(
        page_factory, server + "telemetry/cloudtrail.amazonaws.com/StopLogging/", **viewport
    )
    assert page.locator("h1").inner_text().startswith("StopLogging")
    header = page.locator("header.tel-hero").inner_text()
    assert "Catch-all" not in header and "Channel" not in header and "Event ID" not in header
    fields = page.locator("#fields table.fields-table tbody tr td:first-child").all_text_contents()
    assert [f.strip() for f in fields] == ["requestParameters.Name"]
    system = page.locator("#fields table").last.inner_text()  # fields rules test beyond the definition
    assert "system" in system
    example = page.locator("#sample table tbody tr").all_inner_texts()
    assert any(row.startswith("eventName") and "StopLogging" in row for row in example)
    assert "Panther rule test" in page.locator("#sample").inner_text()
    assert page.locator("#rules a", has_text="AWS CloudTrail Important Change").count() >= 1
    assert_fits(page)
    assert watch.problems() == []


def test_seen_event_and_rule_page_name_precise_events(page_factory: Any, server: str) -> None:
    page, watch = open_page(page_factory, server + "rules/sigma/okta_mfa_reset_or_deactivated/")
    events = page.locator("#events tbody tr").all_inner_texts()
    assert [" ".join(e.split()) for e in events] == [
        "Okta user.mfa.factor.deactivate",
        "Okta user.mfa.factor.reset_all",
    ]
    page.locator("#events a", has_text="user.mfa.factor.deactivate").click()
    page.wait_for_load_state("load")
    assert "Seen in rules/samples" in page.locator("header.tel-hero").inner_text()
    assert page.locator("#rules a", has_text="Okta MFA Reset or Deactivated").count() == 1
    assert watch.problems() == []
