"""Windows EventID → Sigma category, reversed from pySigma's own pipelines.

Several vendors name Windows events by channel and EventID (Splunk's "Sysmon EventID 1", Sentinel's
`SecurityEvent | where EventID == 4688`, YARA-L's `product_event_type`). Reversing the tables Sigma rules are
routed with keeps one answer for "which category is this event": pySigma's Sysmon pipeline (category →
Sysmon EventID), its Windows audit pipeline (process_creation → Security 4688, registry_* → 4657) and its
Windows channel map (ps_script → PowerShell 4104). The tables are built once, on first use.
"""

from __future__ import annotations

from functools import cache


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
