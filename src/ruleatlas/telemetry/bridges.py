"""Event bridges: the same activity as different providers record it, with their field correspondences.

A bridge is keyed by the Sigma category that names the activity (process_creation, network_connection,
ps_script...), the pivot every pipeline already maps from. Its members, each with its map from Sigma taxonomy
fields to its own field names:

- Windows events: the category's targets in the telemetry catalog's log source table, i.e. pySigma's sysmon
  pipeline (Sysmon 1), its windows audit pipeline (Security 4688 with Image -> NewProcessName...) and
  SigmaHQ's thor.yml (telemetry/logsources.py);
- Microsoft Defender XDR tables: pySigma-backend-kusto's `CATEGORY_TO_TABLE_MAPPINGS` and the table's field
  mappings over the generic ones (sigma.pipelines.microsoftxdr.mappings);
- Elastic ECS for Windows: the field mappings of pySigma-backend-elasticsearch's `ecs_windows()` that hold for
  the category (or for any Windows log source);
- Linux and macOS (Sysmon for Linux, EDR agents): the category's Sigma taxonomy fields as SigmaHQ's
  tests/logsource.json lists them for the product (the catalog's stand-in event, `linux/process_creation`);
- what no pipeline carries (`EXTRA_MEMBERS`): auditd's EXECVE and SYSCALL records, Security 5156 (the
  Windows Filtering Platform), Defender XDR's DeviceEvents PowerShellCommand, each with the place its field
  names come from.

Members on the same operating system can stand in for each other: a rule that covers one member serves on
another when that member carries, under its own names, every field of one of the ways the rule can match
(`bridged_events`). Bridges never cross operating systems: a Linux process event does not serve a Windows
rule. A Defender XDR table is the catalog's event for it (its every-row event, `platforms/defender_xdr.py`)
when that platform is loaded; members without an event in the catalog (ECS) are shown, never counted.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypedDict

from ruleatlas.telemetry.catalog import TelemetryCatalog, provider_label
from ruleatlas.telemetry.platforms.defender_xdr import provider_name as xdr_provider

WINDOWS_OS, LINUX_OS, MACOS_OS = "windows", "linux", "macos"
PYSIGMA_XDR = "pySigma-backend-kusto: sigma.pipelines.microsoftxdr.mappings"
PYSIGMA_ECS = "pySigma-backend-elasticsearch: sigma.pipelines.elasticsearch.windows.ecs_windows()"
LOGSOURCE_JSON = "SigmaHQ tests/logsource.json (Sigma taxonomy fields)"

# Bridges shown even though a category has a single member in the pipelines, with the members no pipeline
# carries. Each: category -> (os, provider in the telemetry catalog ("" when none), event key, label,
# {Sigma field: member field}, where the names come from).
ExtraMember = tuple[str, str, str, str, dict[str, str], str]
EXTRA_MEMBERS: dict[str, tuple[ExtraMember, ...]] = {
    "process_creation": (
        (
            LINUX_OS,
            "auditd",
            "SYSCALL",
            "auditd SYSCALL (execve)",
            {"Image": "exe", "ProcessId": "pid", "ParentProcessId": "ppid", "User": "uid", "LogonId": "ses"},
            "Linux audit field dictionary (linux-audit/audit-documentation specs/fields): exe, pid, ppid, "
            "uid, ses of the execve SYSCALL record, as Splunk's data source linux_auditd_syscall.yml "
            "lists them",
        ),
        (
            LINUX_OS,
            "auditd",
            "EXECVE",
            "auditd EXECVE",
            {"CommandLine": "a0…aN"},
            "Linux audit field dictionary: the EXECVE record holds argc and the arguments a0…aN (Splunk's "
            "linux_auditd_execve.yml; SigmaHQ's EXECVE rules test a0, a1...)",
        ),
    ),
    "network_connection": (
        (
            WINDOWS_OS,
            "Microsoft-Windows-Security-Auditing",
            "5156",
            "Security 5156 (Windows Filtering Platform)",
            {
                "Image": "Application",
                "SourceIp": "SourceAddress",
                "SourcePort": "SourcePort",
                "DestinationIp": "DestAddress",
                "DestinationPort": "DestPort",
                "Protocol": "Protocol",
                "Initiated": "Direction",
            },
            "event 5156's fields in the provider manifest (OSSEM); Initiated ~ Direction (%%14593 outbound)",
        ),
    ),
    "ps_script": (
        (
            WINDOWS_OS,
            "",
            "DeviceEvents:PowerShellCommand",
            "Defender XDR DeviceEvents · PowerShellCommand",
            {},
            "Microsoft Defender XDR DeviceEvents schema: ActionType PowerShellCommand records the command "
            "(AdditionalFields.Command), not the script block, so no ScriptBlockText rule is served by it",
        ),
    ),
}
BRIDGED_CATEGORIES = (
    "process_creation",
    "network_connection",
    "ps_script",
    "image_load",
    "file_event",
    "file_delete",
    "registry_add",
    "registry_delete",
    "registry_set",
    "registry_event",
    "dns_query",
)


class BridgeMemberJson(TypedDict):
    os: str
    label: str
    provider: str
    event_key: str
    fields: list[list[str]]  # [Sigma field, this member's field]
    unsupported: list[str]
    origin: str


class BridgeJson(TypedDict):
    category: str
    members: list[BridgeMemberJson]


class Correspondence(TypedDict):
    field: str  # this event's field
    sigma: str
    other: str  # the other member's field


class OtherMember(BridgeMemberJson):
    """Another member of an event's bridge, for the event's page."""

    category: str
    same_os: bool
    correspondences: list[Correspondence]


@dataclass(slots=True, frozen=True)
class Member:
    """One way of recording a bridge's activity."""

    os: str
    label: str
    provider: str  # the telemetry catalog's provider name, "" when the catalog has no such event
    event_key: str
    fields: tuple[tuple[str, str], ...]  # (Sigma field, this member's field)
    unsupported: tuple[str, ...] = ()
    origin: str = ""
    defined_fields: frozenset[str] | None = None  # the event's defined field names (lower case), if known

    @property
    def event(self) -> tuple[str, str] | None:
        return (self.provider, self.event_key) if self.provider else None

    def field_map(self) -> dict[str, str]:
        return dict(self.fields)

    def own_name(self, sigma_field: str) -> str | None:
        """This member's name for a Sigma field, or None when it does not carry it."""
        if sigma_field in self.unsupported:
            return None
        mapped = dict(self.fields).get(sigma_field)
        if self.defined_fields is None:
            return mapped
        name = mapped or sigma_field
        return name if name.lower() in self.defined_fields else None

    def sigma_name(self, own: str) -> str:
        """The Sigma field this member's field stands for (itself when it is not renamed)."""
        for sigma, mine in self.fields:
            if mine.lower() == own.lower():
                return sigma
        return own

    def to_json(self) -> BridgeMemberJson:
        return {
            "os": self.os,
            "label": self.label,
            "provider": self.provider,
            "event_key": self.event_key,
            "fields": [list(pair) for pair in self.fields],
            "unsupported": list(self.unsupported),
            "origin": self.origin,
        }


@dataclass(slots=True)
class Bridge:
    category: str
    members: list[Member] = field(default_factory=list)

    def member(self, event: tuple[str, str]) -> Member | None:
        return next((m for m in self.members if m.event == event), None)

    def to_json(self) -> BridgeJson:
        return {"category": self.category, "members": [m.to_json() for m in self.members]}


@cache
def xdr_tables() -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, str]]:
    """(category -> Defender XDR table, table -> {Sigma field: column}, generic {Sigma field: column})."""
    from sigma.pipelines.microsoftxdr import mappings as xdr

    def flat(mapping: dict[str, Any]) -> dict[str, str]:
        return {k: v if isinstance(v, str) else str(v[0]) for k, v in mapping.items()}

    tables = xdr.MICROSOFT_XDR_FIELD_MAPPINGS
    return (
        dict(xdr.CATEGORY_TO_TABLE_MAPPINGS),
        {t: flat(m) for t, m in tables.table_mappings.items()},
        flat(tables.generic_mappings),
    )


@cache
def ecs_windows_fields() -> dict[str, dict[str, str]]:
    """Category -> {Sigma field: ECS field} from `ecs_windows()` ("" -> mappings for any Windows log source).
    The `.caseless` multi-field suffix only says how a field compares: it is dropped."""
    from sigma.pipelines.elasticsearch.windows import ecs_windows
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.transformations import FieldMappingTransformation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pipeline = ecs_windows()
    out: dict[str, dict[str, str]] = {}
    for item in pipeline.items:
        transformation = item.transformation
        if not isinstance(transformation, FieldMappingTransformation):
            continue
        scopes = [
            str(c.category) for c in item.rule_conditions if isinstance(c, LogsourceCondition) and c.category
        ] or [""]
        for sigma_field, targets in transformation.mapping.items():
            if sigma_field is None:
                continue
            target = targets if isinstance(targets, str) else str(targets[0])
            for scope in scopes:
                out.setdefault(scope, {})[str(sigma_field)] = target.removesuffix(".caseless")
    return out


def _windows_members(telemetry: TelemetryCatalog, category: str) -> list[Member]:
    members = []
    for target in telemetry.logsources.categories.get(category, ()):
        if not target.provider:
            continue
        event = telemetry.event(target.provider, target.event_id)
        defined = frozenset(event.field_keys()) if event is not None and event.fields else None
        known = dict(target.field_map)
        if defined is not None:  # list the Sigma fields this event carries, renamed or not
            fields = [(s, m) for s, m in known.items() if m.lower() in defined]
            fields += [(f.name, f.name) for f in event.fields if f.name not in known] if event else []
        else:
            fields = list(known.items())
        members.append(
            Member(
                WINDOWS_OS,
                f"{provider_label(target.provider, target.channel)} {target.event_id}",
                target.provider,
                str(target.event_id),
                tuple(fields),
                target.unsupported,
                ", ".join(target.origins),
                defined,
            )
        )
    return members


def _xdr_member(telemetry: TelemetryCatalog, category: str) -> Member | None:
    """The category's Defender XDR table: the catalog's event for it (the table's every-row event) when the
    Defender XDR platform is loaded, carrying only the columns its schema has (pySigma's generic mappings
    name some columns a table lacks, e.g. InitiatingProcessParentCommandLine in DeviceNetworkEvents)."""
    try:
        categories, tables, generic = xdr_tables()
    except ImportError:
        return None
    table = categories.get(category)
    if table is None:
        return None
    fields = {**generic, **tables.get(table, {})}
    provider = telemetry.provider(xdr_provider(table))
    event = provider.events.get(table) if provider is not None else None
    return Member(
        WINDOWS_OS,
        f"Defender XDR {table}",
        provider.name if provider is not None and event is not None else "",
        table,
        tuple(sorted(fields.items())),
        (),
        PYSIGMA_XDR,
        frozenset(f.name.lower() for f in event.fields) if event is not None and event.fields else None,
    )


def _ecs_member(category: str) -> Member | None:
    try:
        scoped = ecs_windows_fields()
    except ImportError:
        return None
    if category not in scoped:
        return None
    fields = {**scoped.get("", {}), **scoped[category]}
    return Member(
        WINDOWS_OS, f"ECS (Windows) {category}", "", category, tuple(sorted(fields.items())), (), PYSIGMA_ECS
    )


def _product_members(telemetry: TelemetryCatalog, category: str) -> list[Member]:
    members = []
    for os_name in (LINUX_OS, MACOS_OS):
        names = telemetry.logsources.products.get(os_name, {}).get("category", {}).get(category)
        provider = telemetry.provider(os_name)
        if names is None or provider is None or category not in provider.events:
            continue
        members.append(
            Member(
                os_name,
                f"{provider.label or os_name} {category}",
                provider.name,
                category,
                tuple((n, n) for n in names),
                (),
                LOGSOURCE_JSON,
                frozenset(n.lower() for n in names) if names else None,
            )
        )
    return members


def _extra_members(telemetry: TelemetryCatalog, category: str) -> list[Member]:
    members = []
    for os_name, provider_name, key, label, fields, origin in EXTRA_MEMBERS.get(category, ()):
        provider = telemetry.provider(provider_name) if provider_name else None
        known = provider is not None and (key in provider.events or _int_key(key) in provider.events)
        members.append(
            Member(
                os_name,
                label,
                provider.name if provider is not None and known else "",
                key,
                tuple(fields.items()),
                (),
                origin,
            )
        )
    return members


def _int_key(key: str) -> int | str:
    return int(key) if key.isdigit() else key


def bridge_index(telemetry: TelemetryCatalog) -> BridgeIndex:
    """The bridges of `telemetry`, indexed."""
    return BridgeIndex(build_bridges(telemetry), telemetry.logsources.common_fields)


def build_bridges(telemetry: TelemetryCatalog) -> list[Bridge]:
    """Every bridge with two members or more."""
    bridges = []
    for category in BRIDGED_CATEGORIES:
        members = _windows_members(telemetry, category)
        members += [m for m in (_xdr_member(telemetry, category), _ecs_member(category)) if m is not None]
        members += _product_members(telemetry, category)
        members += _extra_members(telemetry, category)
        if len(members) > 1:
            bridges.append(Bridge(category, members))
    return bridges


class BridgeIndex:
    """Bridges by the catalog events they hold."""

    def __init__(self, bridges: Sequence[Bridge], common_fields: Iterable[str] = ()) -> None:
        self.bridges = list(bridges)
        # fields every event of a Windows provider carries (EventID, Channel, Computer...): never a reason
        # for one Windows member not to serve a rule
        self.common = frozenset(f.lower() for f in common_fields)
        self.by_event: dict[tuple[str, str], list[tuple[Bridge, Member]]] = {}
        for bridge in self.bridges:
            for member in bridge.members:
                if member.event is not None:
                    self.by_event.setdefault(member.event, []).append((bridge, member))

    def partners(self, events: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """The catalog events on the same operating system that share a bridge with one of `events` (those a
        rule on one of them can be served by)."""
        out: set[tuple[str, str]] = set()
        for event in events:
            for bridge, mine in self.by_event.get(event, ()):
                out.update(m.event for m in bridge.members if m.event is not None and m.os == mine.os)
        return out

    def also_seen_as(self, provider: str, event_key: str) -> list[OtherMember]:
        """For an event page: the other members of its bridges, each with the field correspondences
        (this event's field, Sigma field, the other member's field) of the fields both carry."""
        out: list[OtherMember] = []
        for bridge, mine in self.by_event.get((provider, event_key), ()):
            for other in bridge.members:
                if other is mine:
                    continue
                pairs: list[Correspondence] = []
                for sigma, own in mine.fields:
                    theirs = other.own_name(sigma)
                    if theirs is not None and mine.own_name(sigma) is not None:
                        pairs.append({"field": own, "sigma": sigma, "other": theirs})
                out.append(
                    {
                        "category": bridge.category,
                        **other.to_json(),
                        "same_os": other.os == mine.os,
                        "correspondences": pairs,
                    }
                )
        return out

    def bridge_between(self, event: tuple[str, str], other: tuple[str, str]) -> Bridge | None:
        """The first bridge holding both events on one operating system (what `bridged_needs` went by)."""
        for bridge, mine in self.by_event.get(event, ()):
            found = bridge.member(other)
            if found is not None and found.os == mine.os:
                return bridge
        return None

    def bridged_needs(
        self, event: tuple[str, str], needs: Iterable[Iterable[str]]
    ) -> dict[tuple[str, str], list[list[str]]]:
        """`bridged_events` with, for each, the ways of matching in that event's own field names (those it
        carries whole)."""
        alternatives = [list(alt) for alt in needs]
        out: dict[tuple[str, str], list[list[str]]] = {}
        for target in self.bridged_events(event, alternatives):
            for bridge, mine in self.by_event.get(event, ()):
                other = bridge.member(target)
                if other is None:
                    continue
                common = self.common if mine.os == WINDOWS_OS else frozenset()
                for alt in alternatives:
                    names = [other.own_name(mine.sigma_name(f)) for f in alt if f.lower() not in common]
                    if alt and all(n is not None for n in names):
                        out.setdefault(target, []).append([n for n in names if n is not None])
                break
        return out

    def bridged_events(self, event: tuple[str, str], needs: Iterable[Iterable[str]]) -> list[tuple[str, str]]:
        """Catalog events of other providers on the same operating system that serve a rule covering `event`
        whose ways of matching need `needs` (each a set of `event`'s own field names): those carrying every
        field of one way. A rule with no known field (its logic not parsed) is bridged nowhere."""
        alternatives = [list(alt) for alt in needs]
        if not alternatives or all(not alt for alt in alternatives):
            return []
        found: list[tuple[str, str]] = []
        for bridge, mine in self.by_event.get(event, ()):
            common = self.common if mine.os == WINDOWS_OS else frozenset()
            sigma_alts = [
                [mine.sigma_name(f) for f in alt if f.lower() not in common] for alt in alternatives if alt
            ]
            for other in bridge.members:
                target = other.event
                if other is mine or target is None or other.os != mine.os or target in found:
                    continue
                if target[0] == event[0]:
                    # one provider's events under one category are different activities (Sysmon 12 creates
                    # a key, 13 sets a value): a bridge joins providers recording the same one
                    continue
                if any(all(other.own_name(f) is not None for f in alt) for alt in sigma_alts):
                    found.append(target)
        return found
