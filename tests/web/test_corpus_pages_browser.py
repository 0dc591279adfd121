"""The real seed rule's page, built from ../shared, in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from site_support import serving

SEED_SECTIONS = [
    "Description",
    "References",
    "False positives",
    "MITRE ATT&CK coverage",
    "Event coverage",
    "Rule body",
    "Stages and predicates",
    "Indicators",
]


@pytest.fixture(scope="module")
def corpus_server(corpus_catalog: Path) -> Iterator[str]:
    with serving(corpus_catalog) as base:
        yield base


def test_seed_rule_page_in_chromium(page_factory: Any, corpus_server: str) -> None:
    page, watch = page_factory()
    page.goto(corpus_server + "rules/sigma/net_connection_win_domain_localtonet_tunnel/")
    assert page.title().startswith("Communication To LocaltoNet Tunneling Service Initiated")
    headings = [h.strip() for h in page.locator("main h2").all_inner_texts()]
    positions = [next(i for i, h in enumerate(headings) if h.startswith(s)) for s in SEED_SECTIONS]
    assert positions == sorted(positions)
    text = page.locator("main").inner_text()
    for expected in (
        "T1090",
        "Proxy",
        "T1102",
        "Web Service",
        "T1572",
        "Protocol Tunneling",
        "Sysmon",
        "Network connection",
        ".localto.net",
        ".localtonet.com",
    ):
        assert expected in text
    source = page.get_by_role("link", name="github.com/SigmaHQ/sigma")
    assert source.get_attribute("href").endswith("net_connection_win_domain_localtonet_tunnel.yml")
    assert watch.problems() == []


def test_json_twin_of_the_seed_rule(page_factory: Any, corpus_server: str) -> None:
    page, _watch = page_factory()
    response = page.goto(corpus_server + "api/rules/sigma/net_connection_win_domain_localtonet_tunnel")
    assert response.status == 200 and "json" in response.headers["content-type"]
    doc = response.json()
    assert doc["uid"] == "sigma/net_connection_win_domain_localtonet_tunnel"
    assert {i["value"]: i["corpus"]["total"] for i in doc["indicators"]}[".localto.net"] == 2
