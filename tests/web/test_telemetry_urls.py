"""The telemetry paths of the one URL builder: stable slugs, safe segments, no clash with the fixed pages."""

from __future__ import annotations

import re

from ruleatlas.web import urls


def test_provider_and_event_paths() -> None:
    assert urls.telemetry_provider_path("Microsoft-Windows-Sysmon") == "telemetry/microsoft-windows-sysmon/"
    assert urls.telemetry_event_path("Microsoft-Windows-Sysmon", 1) == "telemetry/microsoft-windows-sysmon/1/"
    assert urls.telemetry_event_path("linux", "process_creation") == "telemetry/linux/process_creation/"
    assert urls.telemetry_event_path("gcp", "gcp.audit") == "telemetry/gcp/gcp.audit/"
    assert urls.telemetry_vendor_path("sigma") == "telemetry/vendors/sigma/"
    spaced = "Microsoft-Windows-Windows Firewall With Advanced Security"
    assert urls.telemetry_provider_slug(spaced) == "microsoft-windows-windows-firewall-with-advanced-security"


def test_odd_names_get_a_hash_and_stay_one_safe_segment() -> None:
    for name in ("MSSQLSERVER$AUDIT", "MSSQL$SQLEXPRESS", "../etc", ".", "a/b", "x" * 200, "Ünïcode"):
        slug = urls.telemetry_provider_slug(name)
        assert re.fullmatch(r"[a-z0-9_.-]+", slug) and slug not in (".", ".."), (name, slug)
        assert re.search(r"-?[0-9a-f]{12}$", slug), (name, slug)
    assert urls.telemetry_provider_slug("MSSQLSERVER$AUDIT") != urls.telemetry_provider_slug(
        "MSSQLSERVER AUDIT"
    )
    assert urls.telemetry_event_segment("../x") == urls.telemetry_event_segment("../x")
    assert "/" not in urls.telemetry_event_segment("a/b")


def test_fixed_pages_are_never_a_provider_slug() -> None:
    assert urls.telemetry_provider_path("uncovered") == "telemetry/uncovered-provider/"
    assert urls.telemetry_provider_path("Vendors") == "telemetry/vendors-provider/"
    assert urls.TELEMETRY_UNCOVERED_PATH == "telemetry/uncovered/"


def test_relative_links_between_telemetry_pages() -> None:
    event = urls.telemetry_event_path("Microsoft-Windows-Sysmon", 3)
    assert urls.relative(event, urls.telemetry_provider_path("Microsoft-Windows-Sysmon")) == "../index.html"
    assert urls.relative(event, urls.rule_path("sigma/x")) == "../../../rules/sigma/x/index.html"
    assert urls.relative(urls.READINESS_PATH, urls.TELEMETRY_PATH) == "../telemetry/index.html"
