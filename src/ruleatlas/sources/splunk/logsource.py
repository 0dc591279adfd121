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
from functools import cache

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
    """product/category/service from the first data source that tells them, plus `splunk.data_source`."""
    out: dict[str, str] = {}
    for name in data_sources:
        found = _one(name.split(" AND ")[0].strip())
        if found:
            out.update(found)
            break
    if data_sources:
        out["splunk.data_source"] = ", ".join(data_sources)
    return out


def _one(name: str) -> dict[str, str]:
    match = _SYSMON.match(name)
    if match:
        linux, event_id = match.group(1), int(match.group(2))
        category = sysmon_categories().get(event_id, "")
        return _keys("linux" if linux else "windows", category, "sysmon", event_id)
    match = _POWERSHELL.match(name)
    if match:
        event_id = int(match.group(1))
        return _keys("windows", powershell_categories().get(event_id, ""), "powershell", event_id)
    match = _WINDOWS.match(name)
    if match:
        service = "-".join(match.group(1).lower().split()) or "security"
        event_id = int(match.group(2))
        category = security_categories().get(event_id, "") if service == "security" else ""
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


@cache
def sysmon_categories() -> dict[int, str]:
    """Sysmon EventID → the Sigma category whose events are exactly that id, from pySigma's Sysmon pipeline;
    an id shared by several categories (12: registry_add/delete) takes the category that lists it with
    others."""
    from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping as table

    single: dict[int, list[str]] = {}
    grouped: dict[int, str] = {}
    for category, ids in table.items():
        if isinstance(ids, int):
            single.setdefault(ids, []).append(category)
        else:
            for event_id in ids:
                grouped.setdefault(event_id, category)
    out = {event_id: names[0] for event_id, names in single.items() if len(names) == 1}
    for event_id, category in grouped.items():
        out.setdefault(event_id, category)
    return out


@cache
def security_categories() -> dict[int, str]:
    """Security EventID → Sigma category, from pySigma's Windows audit pipeline (4688 → process_creation);
    an id several categories share (4657: registry_add/set) takes the generic one (registry_event)."""
    from sigma.pipelines.windows.windows import generic_logsource_to_windows_audit_event_mapping as table

    out: dict[int, str] = {}
    for category, conditions in table.items():
        event_id = conditions.get("EventID")
        if isinstance(event_id, int) and (event_id not in out or category.endswith("_event")):
            out[event_id] = category
    return out


@cache
def powershell_categories() -> dict[int, str]:
    """PowerShell EventID → Sigma category (4104 → ps_script), from pySigma's Windows channel map."""
    from sigma.pipelines.windows.windows import windows_generic_category_channel_mapping as table

    return {
        conditions["EventID"]: category for category, conditions in table.items() if "EventID" in conditions
    }
