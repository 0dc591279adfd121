"""The email platform: a Sublime rule's event coverage names the message attributes it compares."""

from __future__ import annotations

from pathlib import Path

from ruleatlas.sources import sublime
from ruleatlas.sources.common import read_tree
from ruleatlas.telemetry.catalog import PLATFORM_KIND, SEEN, TelemetryCatalog
from ruleatlas.telemetry.coverage import event_coverage
from ruleatlas.telemetry.platforms.email import PROVIDER, load_email


def email_catalog() -> TelemetryCatalog:
    catalog = TelemetryCatalog()
    platform, providers = load_email(catalog.problems)
    catalog.platforms[platform.key] = platform
    for provider in providers:
        catalog.providers[provider.name] = provider
    catalog.reindex()
    return catalog


def test_the_platform_is_seen_and_starts_empty() -> None:
    catalog = email_catalog()
    assert catalog.platforms["email"].status == SEEN
    provider = catalog.provider(PROVIDER)
    assert provider is not None and (provider.kind, provider.platform, provider.events) == (
        PLATFORM_KIND,
        "email",
        {},
    )


def test_a_rule_covers_the_attributes_it_compares(test_data: Path) -> None:
    tree = read_tree(sublime, test_data / "sublime", repo_url="x", commit="y")
    rule = next(r for r in tree.rules if r.uid == "sublime/attachment_lnk")
    coverage = event_coverage(rule, email_catalog())
    # type.inbound is a scope-like boolean and profile.by_sender() is negated: only the extension is compared
    assert [(e.provider_name, e.event_id) for e in coverage.events] == [
        (PROVIDER, "attachments[].file_extension")
    ]
