"""The telemetry API over the real catalog: the JSON twins of the pages, 404s in the one error shape, and the
routes in the OpenAPI document."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from site_support import serving

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def api(corpus_catalog: Path) -> Iterator[str]:
    with serving(corpus_catalog) as base:
        yield base.rstrip("/")


def get(base: str, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(base + path, timeout=60) as response:
            assert response.headers["Content-Type"].startswith("application/json")
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_providers(api: str) -> None:
    status, body = get(api, "/api/telemetry/providers")
    assert status == 200
    groups = {g["id"]: g["providers"] for g in body["groups"]}
    sysmon = groups["windows"][0]
    assert (sysmon["name"], sysmon["label"], sysmon["path"]) == (
        "Microsoft-Windows-Sysmon",
        "Sysmon",
        "telemetry/microsoft-windows-sysmon/",
    )
    assert body["providers"] == sum(len(g) for g in groups.values())


def test_one_provider_by_slug_or_name(api: str) -> None:
    status, by_slug = get(api, "/api/telemetry/providers/microsoft-windows-sysmon")
    assert status == 200 and by_slug["summary"] == "30 events across 1 channel"
    _, by_name = get(api, "/api/telemetry/providers/Microsoft-Windows-Sysmon")
    assert by_name == by_slug
    assert [r["id"] for r in by_slug["event_rows"]][:3] == [1, 2, 3]


def test_one_event_is_the_event_pages_data(api: str) -> None:
    status, event = get(api, "/api/telemetry/events/microsoft-windows-sysmon/1")
    assert status == 200
    assert (event["id"], event["title"], event["level"]) == (1, "Process creation", "Informational")
    image = next(f for f in event["fields"] if f["name"] == "Image")
    assert image["rules"]["total"] == image["rules"]["by_vendor"]["sigma"] > 500
    assert event["sample"]["count"] > 0
    _, catch_all = get(api, "/api/telemetry/events/linux/process_creation")
    assert catch_all["catch_all"] is True
    # SigmaHQ's Linux process_creation rules are on Sysmon for Linux's process creation event
    _, linux = get(api, "/api/telemetry/events/sysmon-for-linux/1")
    assert linux["title"] == "Process creation" and linux["rules"]["total"] > 100


def test_an_event_without_a_page_is_still_served(api: str) -> None:
    status, event = get(api, "/api/telemetry/events/microsoft-windows-shell-core/9705")
    assert status == 200 and event["defined"] and event["rules"]["total"] == 0


def test_errors_are_json_404s(api: str) -> None:
    status, body = get(api, "/api/telemetry/events/microsoft-windows-sysmon/999")
    assert status == 404 and body["error"]["code"] == "not_found"
    assert "has no event '999'" in body["error"]["message"]
    status, body = get(api, "/api/telemetry/providers/no-such-provider")
    assert status == 404 and body["error"]["message"] == "no telemetry provider 'no-such-provider'"


def test_vendor_and_uncovered(api: str) -> None:
    status, vendor = get(api, "/api/telemetry/vendors/sigma")
    assert status == 200 and vendor["mappings"] >= vendor["events"] > 300
    status, uncovered = get(api, "/api/telemetry/uncovered")
    assert status == 200 and uncovered["rules"] == sum(len(g["rules"]) for g in uncovered["groups"])


def test_routes_are_in_the_openapi_document(api: str) -> None:
    _, document = get(api, "/openapi.json")
    for path in (
        "/api/telemetry/providers",
        "/api/telemetry/providers/{provider}",
        "/api/telemetry/events/{provider}/{event}",
        "/api/telemetry/vendors/{vendor}",
        "/api/telemetry/uncovered",
    ):
        assert document["paths"][path]["get"]["tags"] == ["telemetry"], path


def test_platforms_and_one_platform(api: str) -> None:
    status, body = get(api, "/api/telemetry/platforms")
    assert status == 200
    cards = {c["key"]: c for c in body["platforms"]}
    aws = cards["aws"]
    assert (aws["status"], aws["source"], aws["path"]) == (
        "defined",
        "botocore 1.44.18",
        "telemetry/platforms/aws/",
    )
    assert aws["events"] > 20000 and aws["events_with_rules"] > 50 and aws["rules"]["by_vendor"]["sigma"] > 50
    assert cards["okta"]["status"] == "seen"
    status, one = get(api, "/api/telemetry/platforms/aws")
    assert status == 200 and one["events_with_rules"] == aws["events_with_rules"]
    listed = {(e["provider_name"], e["id"]) for e in one["events_listed"]}
    assert ("iam.amazonaws.com", "CreateAccessKey") in listed
    status, event = get(api, "/api/telemetry/events/iam.amazonaws.com/CreateAccessKey")
    assert status == 200 and event["platform"] == "aws" and not event["catch_all"]
    assert event["id_label"] == "CreateAccessKey"
    status, missing = get(api, "/api/telemetry/platforms/nowhere")
    assert status == 404 and missing["error"]["code"] == "not_found"
