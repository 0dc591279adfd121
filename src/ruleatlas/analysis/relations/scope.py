"""Comparisons an event coverage implies: true of every event the catalog says a rule is fed, so that,
compared over that coverage, they tell no rule apart and a canonical form may leave them to coverage.

Only what holds of every covered event by the event's own definition or by the vendor's documented ingest
counts (never what merely usually holds):

- a Windows event log record's header fields (`ALWAYS_SET_FIELDS`: its event id, provider, channel, computer)
  are always set, so `exists` on one of them (a YARA-L match placeholder's zero-value filter on
  `principal.hostname`, the computer of a process, file or registry event) holds of every Windows event;
- the ECS scope an Elastic ingest pipeline writes on each covered event (`SYSMON_ECS_SCOPE`: Sysmon 1 and
  Security 4688 are `event.category: process` and `event.type: start`), the operating system of its host
  (`host.os.type: windows` on Windows event log records), and the one data set a service's whole log is filed
  under (`data_stream.dataset: okta.system` over Okta system log events: `SERVICE_DATASETS`).
"""

from __future__ import annotations

from collections.abc import Sequence

from ruleatlas.model import SERVICE_DATASETS, SYSMON_ECS_SCOPE, Kind, Pred
from ruleatlas.telemetry.logsources import ALWAYS_SET_FIELDS

Event = tuple[str, str, int | str, str]  # (provider, channel, event id, title), as the catalog gives them

# The providers of the catalog's Linux and macOS events (event coverage names them so).
_OS_PROVIDERS = {"linux": frozenset({"Linux", "auditd"}), "macos": frozenset({"macOS"})}
_ELASTIC_DATASET_FIELDS = frozenset({"data_stream.dataset", "event.dataset"})


def windows_events(events: Sequence[Event]) -> bool:
    """Every event is a Windows event log record (the catalog gives those, and only those, a channel)."""
    return bool(events) and all(channel for _provider, channel, _id, _title in events)


def exists_implied(sigma_field: str, events: Sequence[Event]) -> bool:
    """`<sigma_field> exists` holds of every covered event: a header field of Windows event log records."""
    return sigma_field in ALWAYS_SET_FIELDS and windows_events(events)


def elastic_scope_implied(pred: Pred, logsource: dict[str, str], events: Sequence[Event]) -> bool:
    """An Elastic comparison (`field == value`, as ECS writes it) holds of every covered event."""
    if pred.kind is not Kind.EQ or pred.transforms or not isinstance(pred.value, str) or not events:
        return False
    field, value = pred.field or "", pred.value
    if field == "host.os.type":
        if value == "windows":
            return windows_events(events)
        providers = _OS_PROVIDERS.get(value)
        return providers is not None and all(provider in providers for provider, *_ in events)
    if field in _ELASTIC_DATASET_FIELDS:
        service = SERVICE_DATASETS.get(value)
        return service is not None and service == (logsource.get("product"), logsource.get("service"))
    return all(
        (field, value) in SYSMON_ECS_SCOPE.get((provider, event_id), ())
        for provider, _c, event_id, _t in events
    )


def pred_implied(
    pred: Pred, vendor: str, sigma_field: str, logsource: dict[str, str], events: Sequence[Event]
) -> bool:
    """`pred` (of a rule of `vendor`, read as `sigma_field`) holds of every event of the coverage `events`."""
    if pred.transforms or not events:
        return False
    if pred.kind is Kind.EXISTS and pred.value is True and exists_implied(sigma_field, events):
        return True
    return vendor == "elastic" and elastic_scope_implied(pred, logsource, events)
