"""The Sigma log source -> Windows events table.

Most of the table comes from the ecosystem's own pipelines (pySigma's sysmon and windows pipelines, read by
logs/sigma_windows.py, which the scan's routing reads too) and is completed from SigmaHQ's `tests/thor.yml`
and `tests/logsource.json` when a SigmaHQ checkout is given. The few facts neither carries are small tables
below, each with the place it comes from; tests compare them with the Sigma specification's taxonomy
appendix and with the EVTX samples' provider/channel pairs.

The table is keyed by the specification's own words (category, service) and is stored inside the telemetry
catalog, so event coverage needs no pySigma import at build or serve time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ruleatlas.logs.sigma_windows import (
    PYSIGMA_AUDIT,
    PYSIGMA_WINDOWS,
    SECURITY_CHANNEL,
    windows_tables,
)
from ruleatlas.model import Problem

# The Windows event schema's <System> element: present in every event whatever its provider, so a rule testing
# one of these never rules an event out. SigmaHQ's tests/logsource.json ("common") names the first five.
SYSTEM_FIELDS: tuple[str, ...] = (
    "EventID",
    "Provider_Name",
    "Channel",
    "Computer",
    "Security_UserID",
    "Provider_Guid",
    "EventSourceName",
    "Version",
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "TimeCreated",
    "EventRecordID",
    "ExecutionProcessID",
    "ExecutionThreadID",
)
# Of those, the ones every Windows event log record has a value in: its event id, provider, channel and
# computer (a user id, a level or a version may be absent or zero).
ALWAYS_SET_FIELDS: tuple[str, ...] = ("EventID", "Provider_Name", "Channel", "Computer")

# Channels whose EventData is a list of unnamed <Data> strings, which Sigma rules address as the field `Data`
# (SigmaHQ's ps_classic_* and powershell-classic rules test `Data|contains: 'HostApplication=...'`).
UNNAMED_DATA_CHANNELS: tuple[str, ...] = ("Windows PowerShell",)

# Categories the Sigma specification maps to an ETW provider rather than an event log channel; neither
# pySigma nor thor.yml has them. Source: sigma-specification/specification/sigma-appendix-taxonomy.md,
# "Windows Folder / Category" ("ETW Provider: Microsoft-Windows-Kernel-File"). The events are chosen from
# the provider's definitions by the fields tests/logsource.json lists for the category (see load.py).
ETW_CATEGORY_PROVIDERS: dict[str, str] = {
    "file_access": "Microsoft-Windows-Kernel-File",
    "file_rename": "Microsoft-Windows-Kernel-File",
}

# Channels whose writing provider is not the part of the channel name before "/". Basis, per entry:
# "samples": the Channel/Provider pairs of the EVTX and OTRF samples in ../shared/logs; "fields": the fields
# tests/logsource.json lists for the channel's Sigma service are the provider's (checked by
# tests/telemetry/test_telemetry_logsources.py); "events": the provider defines the EventIDs SigmaHQ's rules
# for the service test (iis-configuration: 29 "Changes to '%4' at '%2' have successfully been committed.").
CHANNEL_PROVIDERS: dict[str, tuple[str, ...]] = {
    "Security": ("Microsoft-Windows-Security-Auditing", "Microsoft-Windows-Eventlog"),  # samples
    "System": ("Service Control Manager", "Microsoft-Windows-Eventlog"),  # samples
    "Windows PowerShell": ("PowerShell",),  # samples
    "DNS Server": ("Microsoft-Windows-DNS-Server-Service",),  # samples
    "MSExchange Management": ("MSExchange CmdletLogs",),  # samples
    "Microsoft-Windows-BitLocker/BitLocker Management": ("Microsoft-Windows-BitLocker-API",),  # samples
    "Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant": (
        "Microsoft-Windows-Program-Compatibility-Assistant",  # samples
    ),
    "Microsoft-Windows-DNS Client Events/Operational": ("Microsoft-Windows-DNS-Client",),  # fields
    "Microsoft-Windows-AppxPackaging/Operational": ("Microsoft-Windows-AppxPackagingOM",),  # fields
    "Microsoft-Windows-LSA/Operational": ("LsaSrv",),  # fields
    "Microsoft-IIS-Configuration/Operational": ("Microsoft-Windows-IIS-Configuration",),  # events
}

THOR = "SigmaHQ tests/thor.yml"
SPEC_ETW = "Sigma taxonomy appendix (ETW provider)"


@dataclass(slots=True)
class Target:
    """One event a Sigma log source category maps to.

    `provider` is empty until the loader resolves the channel to the provider that writes the event.
    `field_map` renames Sigma taxonomy fields to the event's own (Image -> NewProcessName for Security 4688);
    `unsupported` are taxonomy fields the event has no counterpart for; `conditions` are the extra conditions
    the pipeline adds besides EventID (e.g. OperationType for Security 4657).
    """

    channel: str
    event_id: int
    provider: str = ""
    field_map: dict[str, str] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()
    conditions: dict[str, list[str]] = field(default_factory=dict)
    origins: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"channel": self.channel, "event_id": self.event_id, "provider": self.provider}
        if self.field_map:
            out["field_map"] = self.field_map
        if self.unsupported:
            out["unsupported"] = list(self.unsupported)
        if self.conditions:
            out["conditions"] = self.conditions
        out["origins"] = list(self.origins)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(
            channel=data["channel"],
            event_id=int(data["event_id"]),
            provider=data.get("provider", ""),
            field_map=dict(data.get("field_map", {})),
            unsupported=tuple(data.get("unsupported", ())),
            conditions={k: list(v) for k, v in data.get("conditions", {}).items()},
            origins=tuple(data.get("origins", ())),
        )


@dataclass(slots=True)
class LogsourceTable:
    """Sigma's Windows log sources in terms of channels, providers and events.

    - `categories`: category -> targets, the primary (Sysmon where it has one) first.
    - `services`: service -> event log channels.
    - `channel_providers`: channel -> providers known to write to it (filled by the loader).
    - `channel_field_maps`: taxonomy -> event field renames pySigma applies to every rule on a channel.
    - `category_fields` / `service_fields`: the field names SigmaHQ's tests/logsource.json accepts ("legit");
      `addon_fields`: the ones it accepts as added by enrichment (EDR/Aurora), per category.
    - `common_fields`: fields every Windows event carries.
    """

    categories: dict[str, list[Target]] = field(default_factory=dict)
    services: dict[str, list[str]] = field(default_factory=dict)
    channel_providers: dict[str, list[str]] = field(default_factory=dict)
    channel_field_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    category_fields: dict[str, list[str]] = field(default_factory=dict)
    service_fields: dict[str, list[str]] = field(default_factory=dict)
    addon_fields: dict[str, list[str]] = field(default_factory=dict)
    common_fields: list[str] = field(default_factory=lambda: list(SYSTEM_FIELDS))
    origins: dict[str, list[str]] = field(default_factory=dict)
    # Every other product of tests/logsource.json ("" for log sources without a product, its "empty"):
    # product -> {"category": {name: fields}, "service": {name: fields}}.
    products: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "categories": {k: [t.to_json() for t in v] for k, v in self.categories.items()},
            "services": self.services,
            "channel_providers": self.channel_providers,
            "channel_field_maps": self.channel_field_maps,
            "category_fields": self.category_fields,
            "service_fields": self.service_fields,
            "addon_fields": self.addon_fields,
            "common_fields": self.common_fields,
            "origins": self.origins,
            "products": self.products,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogsourceTable:
        return cls(
            categories={k: [Target.from_json(t) for t in v] for k, v in data.get("categories", {}).items()},
            services={k: list(v) for k, v in data.get("services", {}).items()},
            channel_providers={k: list(v) for k, v in data.get("channel_providers", {}).items()},
            channel_field_maps={k: dict(v) for k, v in data.get("channel_field_maps", {}).items()},
            category_fields={k: list(v) for k, v in data.get("category_fields", {}).items()},
            service_fields={k: list(v) for k, v in data.get("service_fields", {}).items()},
            addon_fields={k: list(v) for k, v in data.get("addon_fields", {}).items()},
            common_fields=list(data.get("common_fields", SYSTEM_FIELDS)),
            origins={k: list(v) for k, v in data.get("origins", {}).items()},
            products={
                product: {kind: {k: list(v) for k, v in names.items()} for kind, names in kinds.items()}
                for product, kinds in data.get("products", {}).items()
            },
        )


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _add_service(table: LogsourceTable, service: str, channels: list[str], origin: str) -> None:
    known = table.services.setdefault(service, [])
    for channel in channels:
        if channel not in known:
            known.append(channel)
    if origin not in table.origins.setdefault(f"service:{service}", []):
        table.origins[f"service:{service}"].append(origin)


def _add_target(table: LogsourceTable, category: str, new: Target) -> None:
    targets = table.categories.setdefault(category, [])
    for old in targets:
        if old.channel == new.channel and old.event_id == new.event_id:
            # later sources complete earlier ones; on a conflicting rename the earlier (pySigma) one stays
            for key, value in new.field_map.items():
                old.field_map.setdefault(key, value)
            old.unsupported = tuple(dict.fromkeys(old.unsupported + new.unsupported))
            for key, values in new.conditions.items():
                old.conditions.setdefault(key, values)
            old.origins = tuple(dict.fromkeys(old.origins + new.origins))
            return
    targets.append(new)


def _pysigma(table: LogsourceTable, problems: list[Problem]) -> None:
    """pySigma's services, categories and Security field renames, as logs/sigma_windows.py reads them for
    the scan's routing too (one reading: a page lists no event the routing leaves out for these tables)."""
    pysigma = windows_tables()
    problems += [Problem(module, message) for module, message in pysigma.problems]
    for service, channels in pysigma.services.items():
        _add_service(table, service, list(channels), PYSIGMA_WINDOWS)
    if pysigma.security_field_map:
        for channel in pysigma.channels("security") or (SECURITY_CHANNEL,):
            table.channel_field_maps[channel] = dict(pysigma.security_field_map)
    for category, events in pysigma.categories.items():
        is_registry = category in pysigma.registry_categories
        for event in events:
            audit = event.origin == PYSIGMA_AUDIT
            field_map = {**pysigma.security_field_map, **(pysigma.registry_field_map if is_registry else {})}
            target = Target(
                event.channel,
                event.event_id,
                field_map=field_map if audit else {},
                unsupported=pysigma.registry_unsupported if audit and is_registry else (),
                conditions={k: list(v) for k, v in event.conditions},
                origins=(event.origin,),
            )
            _add_target(table, category, target)


def _read_thor(table: LogsourceTable, path: Path, problems: list[Problem]) -> None:
    """SigmaHQ tests/thor.yml: services -> channels ("WinEventLog:<channel>"), categories -> EventIDs."""
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        problems.append(Problem(str(path), f"cannot read: {exc}"))
        return
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problems.append(Problem(str(path), f"invalid YAML: {exc}", line=line))
        return
    logsources = data.get("logsources") if isinstance(data, dict) else None
    if not isinstance(logsources, dict):
        problems.append(
            Problem(str(path), "no 'logsources' mapping", hint="expected SigmaHQ's tests/thor.yml")
        )
        return
    # services first: a category's rewrite names a service whose channel must be known
    for entry in logsources.values():
        if not isinstance(entry, dict) or entry.get("product") != "windows" or not entry.get("service"):
            continue
        channels = [
            s.split(":", 1)[1] for s in _as_list(entry.get("sources")) if str(s).startswith("WinEventLog:")
        ]
        if channels and not entry.get("category"):
            _add_service(table, str(entry["service"]), channels, THOR)
    for name, entry in logsources.items():
        if not isinstance(entry, dict) or not entry.get("category"):
            continue
        rewrite = entry.get("rewrite") or {}
        service = rewrite.get("service") if isinstance(rewrite, dict) else None
        conditions = entry.get("conditions") or {}
        if not service or rewrite.get("product") != "windows" or not isinstance(conditions, dict):
            continue
        service_channels = table.services.get(str(service), [])
        if not service_channels:
            problems.append(
                Problem(str(path), f"{name}: service {service} has no channel", severity="warning")
            )
            continue
        field_map = {str(k): str(v) for k, v in (entry.get("fieldmappings") or {}).items()}
        extra = {str(k): [str(x) for x in _as_list(v)] for k, v in conditions.items() if k != "EventID"}
        for event_id in _as_list(conditions.get("EventID")):
            for channel in service_channels:
                target = Target(
                    channel, int(event_id), field_map=dict(field_map), conditions=extra, origins=(THOR,)
                )
                _add_target(table, str(entry["category"]), target)


def _read_logsource_json(table: LogsourceTable, path: Path, problems: list[Problem]) -> None:
    """SigmaHQ tests/logsource.json: the field names Sigma accepts per Windows category and service."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        windows = data["legit"]["windows"]
    except OSError as exc:
        problems.append(Problem(str(path), f"cannot read: {exc}"))
        return
    except json.JSONDecodeError as exc:
        problems.append(Problem(str(path), f"invalid JSON: {exc.msg}", line=exc.lineno))
        return
    except (KeyError, TypeError):
        problems.append(
            Problem(str(path), "no legit.windows section", hint="expected SigmaHQ's tests/logsource.json")
        )
        return
    for kind, target in (("category", table.category_fields), ("service", table.service_fields)):
        for name, names in (windows.get(kind) or {}).items():
            target[name] = [str(x) for x in names]
    addon = ((data.get("addon") or {}).get("windows") or {}).get("category") or {}
    for name, names in addon.items():
        table.addon_fields[name] = [str(x) for x in names]
    common: list[str] = [str(x) for x in windows.get("common") or []]
    table.common_fields = list(dict.fromkeys([*common, *SYSTEM_FIELDS]))
    for product, entry in data["legit"].items():
        if product == "windows" or not isinstance(entry, dict):
            continue
        kinds: dict[str, dict[str, list[str]]] = {}
        for kind in ("category", "service"):
            names = entry.get(kind) or {}
            if isinstance(names, dict):
                kinds[kind] = {str(k): [str(x) for x in v or []] for k, v in names.items()}
        table.products["" if product == "empty" else str(product)] = kinds


def build_logsource_table(sigma_dir: Path | None, problems: list[Problem]) -> LogsourceTable:
    """pySigma's tables, completed from a SigmaHQ checkout's tests/thor.yml and tests/logsource.json."""
    table = LogsourceTable()
    _pysigma(table, problems)
    if sigma_dir is not None:
        for name, reader in (("thor.yml", _read_thor), ("logsource.json", _read_logsource_json)):
            path = sigma_dir / "tests" / name
            if path.is_file():
                reader(table, path, problems)
            else:
                problems.append(
                    Problem(str(path), "not found", hint="sigma_dir should be a SigmaHQ/sigma checkout")
                )
    for category, provider in ETW_CATEGORY_PROVIDERS.items():
        table.origins.setdefault(f"category:{category}", []).append(f"{SPEC_ETW}: {provider}")
    for category, targets in table.categories.items():
        for target in targets:
            for origin in target.origins:
                if origin not in table.origins.setdefault(f"category:{category}", []):
                    table.origins[f"category:{category}"].append(origin)
    return table
