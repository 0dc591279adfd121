"""Which Windows event log records a Sigma log source names, read once from pySigma's pipelines (house rule
4: the ecosystem's own tables). The scan's routing (engine/routing.py) and the rule pages' event coverage
(telemetry/logsources.py) both take their pySigma facts from here, so a page never lists an event the
scanner would not route to the rule for a reason of these tables.

- `services`: service -> event log channels (pySigma's `windows_logsource_mapping`);
- `categories`: category -> events (channel, EventID), from the sysmon pipeline (category -> Sysmon
  EventIDs), the windows pipeline's `windows_generic_category_channel_mapping` (ps_* -> a service's channel
  and EventID) and the windows-audit pipeline (category -> Security EventIDs, with the extra conditions it
  adds, such as OperationType for 4657);
- the audit pipeline's field renames: for every rule on the Security channel, and for its registry
  categories (with the taxonomy fields 4657 has no counterpart for).

A pipeline that cannot be imported or read leaves its part empty and says so in `problems`: the routing
then leaves those rules unrouted (tested against every event), the telemetry build reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

PYSIGMA_SYSMON = "pySigma sysmon pipeline"
PYSIGMA_WINDOWS = "pySigma windows pipeline"
PYSIGMA_AUDIT = "pySigma windows audit pipeline"
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
SECURITY_CHANNEL = "Security"


@dataclass(slots=True, frozen=True)
class PipelineEvent:
    """One event a pipeline maps a category to; `conditions` are those it adds besides EventID."""

    channel: str
    event_id: int
    origin: str
    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(slots=True)
class WindowsTables:
    services: dict[str, tuple[str, ...]] = field(default_factory=dict)
    categories: dict[str, list[PipelineEvent]] = field(default_factory=dict)
    security_field_map: dict[str, str] = field(default_factory=dict)
    registry_categories: tuple[str, ...] = ()
    registry_field_map: dict[str, str] = field(default_factory=dict)
    registry_unsupported: tuple[str, ...] = ()
    problems: list[tuple[str, str]] = field(default_factory=list)  # (module, what went wrong)

    def channels(self, service: str) -> tuple[str, ...]:
        return self.services.get(service, ())

    def add(self, category: str, event: PipelineEvent) -> None:
        events = self.categories.setdefault(category, [])
        if event not in events:
            events.append(event)


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _services(tables: WindowsTables) -> None:
    try:
        from sigma.pipelines.common import windows_logsource_mapping
    except ImportError as exc:
        tables.problems.append(("sigma.pipelines.common", f"cannot import pySigma's service table: {exc}"))
        return
    for service, channels in windows_logsource_mapping.items():
        tables.services[str(service)] = tuple(str(c) for c in _as_list(channels))


def _sysmon(tables: WindowsTables) -> None:
    try:
        from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
    except ImportError as exc:
        tables.problems.append(("sigma.pipelines.sysmon", f"cannot import the Sysmon category table: {exc}"))
        return
    channels = tables.channels("sysmon") or (SYSMON_CHANNEL,)
    for category, ids in sysmon_generic_logsource_eventid_mapping.items():
        for event_id in _as_list(ids):
            for channel in channels:
                tables.add(category, PipelineEvent(channel, int(str(event_id)), PYSIGMA_SYSMON))


def _windows(tables: WindowsTables) -> None:
    try:
        from sigma.pipelines.windows import windows as pipeline
    except ImportError as exc:
        tables.problems.append(("sigma.pipelines.windows", f"cannot import the Windows pipeline: {exc}"))
        return
    mapping: dict[str, dict[str, object]] = getattr(pipeline, "windows_generic_category_channel_mapping", {})
    for category, info in mapping.items():
        for channel in tables.channels(str(info["service"])):
            tables.add(category, PipelineEvent(channel, int(str(info["EventID"])), PYSIGMA_WINDOWS))
    # The rename table for every rule on service security lives only inside the pipeline function
    # (ProcessingItem "windows_audit_fieldmappings").
    try:
        for item in pipeline.windows_audit_pipeline().items:
            if item.identifier == "windows_audit_fieldmappings":
                renames = getattr(item.transformation, "mapping", {})
                tables.security_field_map = {
                    str(k): v if isinstance(v, str) else str(v[0]) for k, v in renames.items()
                }
    except Exception as exc:  # a changed pipeline shape must not stop the catalog or the scan
        tables.problems.append(("sigma.pipelines.windows", f"cannot read windows_audit_pipeline(): {exc}"))
    tables.registry_categories = tuple(getattr(pipeline, "windows_audit_registry_categories", ()))
    tables.registry_field_map = dict(getattr(pipeline, "windows_audit_registry_fieldmappings", {}))
    tables.registry_unsupported = tuple(getattr(pipeline, "windows_audit_registry_unsupported_fields", ()))
    audit: dict[str, dict[str, object]] = getattr(
        pipeline, "generic_logsource_to_windows_audit_event_mapping", {}
    )
    for category, conditions in audit.items():
        extra = tuple(
            (str(k), tuple(str(x) for x in _as_list(v))) for k, v in conditions.items() if k != "EventID"
        )
        for event_id in _as_list(conditions.get("EventID")):
            for channel in tables.channels("security") or (SECURITY_CHANNEL,):
                tables.add(category, PipelineEvent(channel, int(str(event_id)), PYSIGMA_AUDIT, extra))


@cache
def windows_tables() -> WindowsTables:
    """pySigma's Windows log source tables, read once per process (treat the answer as read-only)."""
    tables = WindowsTables()
    _services(tables)
    _sysmon(tables)
    _windows(tables)
    return tables
