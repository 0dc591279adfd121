"""`sources.windows` is pySigma's own routing tables reversed, written out: rebuild them from pySigma and
compare (house rule 4: a table and the code it mirrors agree)."""

from __future__ import annotations

from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
from sigma.pipelines.windows.windows import (
    generic_logsource_to_windows_audit_event_mapping,
    windows_generic_category_channel_mapping,
)

from ruleatlas.sources.windows import POWERSHELL, SECURITY, SYSMON


def reverse(table: dict[str, int | list[int]]) -> dict[int, str]:
    """EventID → category; an id that several categories give alone takes the category listing it among
    others (Sysmon 12 → registry_event) or, for the audit table, the one named `*_event`."""
    alone: dict[int, list[str]] = {}
    grouped: dict[int, str] = {}
    for category, ids in table.items():
        if isinstance(ids, int):
            alone.setdefault(ids, []).append(category)
        else:
            for event_id in ids:
                grouped.setdefault(event_id, category)
    out = {event_id: names[0] for event_id, names in alone.items() if len(names) == 1}
    for event_id, names in alone.items():
        if len(names) > 1:
            generic = [n for n in names if n.endswith("_event")]
            out[event_id] = grouped.get(event_id) or (generic[0] if generic else "")
    for event_id, category in grouped.items():
        out.setdefault(event_id, category)
    return out


def test_sysmon_table_is_pysigmas_reversed() -> None:
    assert reverse(sysmon_generic_logsource_eventid_mapping) == SYSMON


def test_security_table_is_pysigmas_windows_audit_reversed() -> None:
    ids = {category: c["EventID"] for category, c in generic_logsource_to_windows_audit_event_mapping.items()}
    assert reverse(ids) == SECURITY


def test_powershell_table_is_pysigmas_channel_map_reversed() -> None:
    ids = {
        category: c["EventID"]
        for category, c in windows_generic_category_channel_mapping.items()
        if "EventID" in c
    }
    assert reverse(ids) == POWERSHELL
