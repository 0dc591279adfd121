"""Sysmon for Linux: the Sysmon events the Linux port writes to syslog, with the Sysmon schema's fields.

Sysmon for Linux (Sysinternals/SysmonForLinux) shares its event manifest with Windows Sysmon
(Sysinternals/SysmonCommon, its ADR 0001 "Share config with Sysmon") and emits a subset of its events:
`LINUX_EVENTS`, as its manual and README list them. No PyPI or Debian package ships that manifest, so the
events' titles and fields are the Windows Sysmon schema's (../shared/providers: the `sysmon -s` schema
manifests the telemetry catalog reads for Microsoft-Windows-Sysmon), restricted to those event ids; the
platform's source says so. A Sigma rule with `product: linux` and a Sysmon category (process_creation...)
is written on these events' field names (SigmaHQ's Linux rules use Image, CommandLine, ParentImage), so its
category names one event here (`CATEGORY_EVENTS`); a rule of a vendor's own Linux agent (Elastic Defend,
auditd) is not a Sysmon rule and keeps its log source coverage.
"""

from __future__ import annotations

import copy

from ruleatlas.model import Problem
from ruleatlas.telemetry.catalog import (
    DEFINED,
    PLATFORM_KIND,
    SEEN,
    PlatformDef,
    ProviderDef,
    TelemetryCatalog,
)

KEY = "sysmon_linux"
PROVIDER = "Sysmon for Linux"
SYSMON = "Microsoft-Windows-Sysmon"
# ProcessCreate, NetworkConnect, service state change, ProcessTerminate, RawAccessRead, ProcessAccess,
# FileCreate, configuration change, FileDelete, error.
LINUX_EVENTS = (1, 3, 4, 5, 9, 10, 11, 16, 23, 255)
# Sigma category -> the Sysmon for Linux event it reads (the Sysmon pipeline's category -> EventID map,
# restricted to the events the Linux port emits).
CATEGORY_EVENTS = {
    "process_creation": 1,
    "network_connection": 3,
    "process_termination": 5,
    "raw_access_thread": 9,
    "process_access": 10,
    "file_event": 11,
    "file_delete": 23,
}


def add_sysmon_linux(catalog: TelemetryCatalog, problems: list[Problem]) -> None:
    """The Sysmon for Linux platform and provider, its events copied from the catalog's Sysmon schema."""
    sysmon = catalog.provider(SYSMON)
    platform = PlatformDef(
        key=KEY,
        label="Sysmon for Linux",
        status=DEFINED,
        source="Sysmon schema (../shared/providers, ossem-dd sysmon -s manifests), the events Sysmon for "
        "Linux emits (Sysinternals/SysmonForLinux)",
        action="EventID",
        description="Sysmon for Linux events (syslog), with the fields of the shared Sysmon schema.",
    )
    provider = ProviderDef(
        name=PROVIDER,
        label=PROVIDER,
        kind=PLATFORM_KIND,
        platform=KEY,
        sources=sysmon.sources if sysmon is not None else (),
        description="Sysinternals Sysmon for Linux: process, network and file events written to syslog.",
    )
    if sysmon is None:
        platform.status = SEEN
        platform.source = "seen in rules and samples"
        platform.note = "The Sysmon schema was not loaded (../shared/providers): no event is defined."
        problems.append(
            Problem(
                PROVIDER,
                "Sysmon for Linux events not defined: the Sysmon schema is not in the catalog",
                severity="warning",
                hint="build with the providers folder (../shared/providers)",
            )
        )
    else:
        for event_id in LINUX_EVENTS:
            event = sysmon.events.get(event_id)
            if event is not None:
                provider.events[event_id] = copy.deepcopy(event)
    catalog.platforms[KEY] = platform
    catalog.providers[PROVIDER] = provider


def category_event(telemetry: TelemetryCatalog, category: str) -> tuple[str, int] | None:
    """(provider, event id) of a Linux Sysmon category; None for another category or without the
    provider."""
    event_id = CATEGORY_EVENTS.get(category)
    if event_id is None or telemetry.provider(PROVIDER) is None:
        return None
    return PROVIDER, event_id
