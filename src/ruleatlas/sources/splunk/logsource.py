"""A Splunk detection's Sigma-style log source, derived from its `data_source` names.

Splunk's data source names describe the event itself ("Sysmon EventID 1", "Windows Event Log Security 4688",
"Powershell Script Block Logging 4104", "AWS CloudTrail ConsoleLogin"), so the name alone gives product,
service and, for Windows events, the EventID. The EventID → category step reverses pySigma's own tables (the
Sysmon pipeline's category → EventID map, the Windows audit pipeline's 4688/4657, the PowerShell channel
map), so the derivation agrees with how Sigma rules are routed. Native names stay under
`splunk.data_source`.
"""

from __future__ import annotations

import re

from ruleatlas.sources.windows import POWERSHELL, SECURITY, SYSMON

_SYSMON = re.compile(r"^sysmon (for linux )?event ?id (\d+)$", re.IGNORECASE)
_WINDOWS = re.compile(
    r"^(?:windows event log|windows security event id|windows) ([a-z0-9 ]*?) ?(?:event ?id )?(\d+)$",
    re.IGNORECASE,
)
_POWERSHELL = re.compile(r"^powershell script block logging (\d+)$", re.IGNORECASE)
# Name prefix → (product, service) for the cloud and application sources (the most used ones of the corpus).
PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("asl aws cloudtrail", "aws", "cloudtrail"),
    ("aws cloudtrail", "aws", "cloudtrail"),
    ("aws cloudwatchlogs vpcflow", "aws", "vpcflowlogs"),
    ("azure active directory sign-in", "azure", "signinlogs"),
    ("azure active directory", "azure", "auditlogs"),
    ("azure monitor activity", "azure", "activitylogs"),
    ("azure audit", "azure", "activitylogs"),
    ("o365", "m365", "audit"),
    ("office 365", "m365", "audit"),
    ("okta", "okta", "okta"),
    ("github", "github", "audit"),
    ("google workspace", "google_workspace", "google_workspace.admin"),
    ("g suite", "google_workspace", ""),
    ("gsuite", "google_workspace", ""),
    ("kubernetes audit", "kubernetes", "audit"),
    ("linux auditd", "linux", "auditd"),
    ("linux secure", "linux", "auth"),
    ("crowdstrike processrollup2", "", ""),
)
_CATEGORY_BY_PREFIX = {"crowdstrike processrollup2": "process_creation"}


def derive(data_sources: tuple[str, ...]) -> dict[str, str]:
    """product/category/service from the first data source that tells them, plus `splunk.data_source`.

    A rule whose data sources are one event type from several services (Sysmon 1 and Security 4688 for a
    process rule on the Endpoint data model) keeps the category without a service: it reads either."""
    out: dict[str, str] = {}
    found_all = [f for f in (_one(name.split(" AND ")[0].strip()) for name in data_sources) if f]
    if found_all:
        out.update(found_all[0])
        first = found_all[0]
        if first.get("category") and any(
            f.get("product") == first.get("product")
            and f.get("category") == first.get("category")
            and f.get("service") != first.get("service")
            for f in found_all[1:]
        ):
            out.pop("service", None)
    if data_sources:
        out["splunk.data_source"] = ", ".join(data_sources)
    return out


def _one(name: str) -> dict[str, str]:
    match = _SYSMON.match(name)
    if match:
        linux, event_id = match.group(1), int(match.group(2))
        category = SYSMON.get(event_id, "")
        return _keys("linux" if linux else "windows", category, "sysmon", event_id)
    match = _POWERSHELL.match(name)
    if match:
        event_id = int(match.group(1))
        return _keys("windows", POWERSHELL.get(event_id, ""), "powershell", event_id)
    match = _WINDOWS.match(name)
    if match:
        service = "-".join(match.group(1).lower().split()) or "security"
        event_id = int(match.group(2))
        category = SECURITY.get(event_id, "") if service == "security" else ""
        return _keys("windows", category, service, event_id)
    lowered = name.lower()
    for prefix, product, service in PREFIXES:
        if lowered.startswith(prefix):
            return _keys(product, _CATEGORY_BY_PREFIX.get(prefix, ""), service, None)
    return {}


def _keys(product: str, category: str, service: str, event_id: int | None) -> dict[str, str]:
    out = {"product": product, "category": category, "service": service}
    if event_id is not None:
        out["splunk.event_id"] = str(event_id)
    return {key: value for key, value in out.items() if value}
