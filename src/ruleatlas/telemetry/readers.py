"""Readers for the provider data files in ../shared/providers (see its SOURCE.md files).

Each reader takes a path and a problem list, returns plain data, and records a `Problem` naming the file (and
line, where the parser knows it) for anything it cannot read; a bad file never stops the others.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruleatlas.model import Problem

# Relative paths inside the providers folder.
EVENT_FIELDS_JSON = "windows-event-fields.json"
SYSMON_SCHEMAS_DIR = "ossem-dd/resources/schemas/sysmon"
SYSMON_DICTIONARY_DIR = "ossem-dd/windows/sysmon/events"
MESSAGES_JSON = "manifests/event-messages-scheatkode/event-messages.json"
WEP_MANIFESTS_DIR = "manifests/nasbench-evtx-etw-resources/ETW Providers Manifests"
OSSEM_DM_JSON = "ossem-dm/relationships/_all_ossem_relationships.json"

_SCHEMA_NAME = re.compile(r"sysmonv(?P<binary>[\d.]+)_(?P<schema>[\d.]+)\.xml$")
_YAML_NAME = re.compile(r"^name:\s*(?P<value>.+?)\s*$", re.MULTILINE)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def read_json(path: Path, problems: list[Problem]) -> Any:
    """The parsed file, or None (with a problem) when it is missing or invalid."""
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        problems.append(Problem(str(path), "not found"))
    except OSError as exc:
        problems.append(Problem(str(path), f"cannot read: {exc}"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        problems.append(Problem(str(path), f"invalid JSON: {getattr(exc, 'msg', exc)}", line=line))
    return None


def _xml_problem(path: Path, exc: ET.ParseError) -> Problem:
    line = exc.position[0] if getattr(exc, "position", None) else None
    return Problem(
        str(path), f"invalid XML: {exc}", line=line, hint="the file is skipped; the others still load"
    )


@dataclass(slots=True)
class SchemaEvent:
    """One event of a Sysmon schema manifest (`sysmon -s`)."""

    event_id: int
    symbol: str
    template: str
    rulename: str
    level: str
    version: int | None
    fields: list[tuple[str, str]]
    schema_file: str
    older_fields: list[tuple[str, str]] = field(default_factory=list)


def read_sysmon_schemas(schema_dir: Path, problems: list[Problem]) -> dict[int, SchemaEvent]:
    """Every event of the newest Sysmon schema that has it; fields only older schemas list are kept apart."""
    files = sorted(schema_dir.glob("*.xml")) if schema_dir.is_dir() else []
    if not files:
        problems.append(Problem(str(schema_dir), "no Sysmon schema (*.xml) found"))
        return {}

    def order(path: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
        match = _SCHEMA_NAME.search(path.name)
        if not match:
            return ((), ())
        return (_version_tuple(match["schema"]), _version_tuple(match["binary"]))

    events: dict[int, SchemaEvent] = {}
    for path in sorted(files, key=order, reverse=True):  # newest first: the first definition of an event wins
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            problems.append(_xml_problem(path, exc))
            continue
        except OSError as exc:
            problems.append(Problem(str(path), f"cannot read: {exc}"))
            continue
        found = root.findall("./events/event")
        if not found:
            problems.append(
                Problem(str(path), "no <events><event> elements", hint="expected `sysmon -s` output")
            )
            continue
        for node in found:
            try:
                event_id = int(node.get("value", ""))
            except ValueError:
                problems.append(Problem(str(path), f"event {node.get('name')!r} has no numeric value"))
                continue
            fields = [(d.get("name", ""), d.get("inType", "")) for d in node.findall("data") if d.get("name")]
            known = events.get(event_id)
            if known is not None:
                names = {n for n, _ in known.fields} | {n for n, _ in known.older_fields}
                known.older_fields.extend(f for f in fields if f[0] not in names)
                continue
            version = node.get("version")
            events[event_id] = SchemaEvent(
                event_id=event_id,
                symbol=node.get("name", ""),
                template=node.get("template", ""),
                rulename=node.get("rulename", ""),
                level=node.get("level", ""),
                version=int(version) if version and version.isdigit() else None,
                fields=fields,
                schema_file=path.name,
            )
    return events


def read_sysmon_dictionary_titles(events_dir: Path, problems: list[Problem]) -> dict[int, str]:
    """Sysmon event names as Microsoft's Sysmon documentation gives them ("Event ID 3: Network connection"),
    from OSSEM-DD's per-event dictionaries (`name:` line of events/event-<id>.yml)."""
    titles: dict[int, str] = {}
    if not events_dir.is_dir():
        problems.append(Problem(str(events_dir), "not found", severity="warning"))
        return titles
    for path in sorted(events_dir.glob("event-*.yml")):
        try:
            event_id = int(path.stem.split("-", 1)[1])
            text = path.read_text(encoding="utf-8")
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), f"cannot read: {exc}"))
            continue
        match = _YAML_NAME.search(text)
        if not match:
            problems.append(Problem(str(path), "no name: line"))
            continue
        titles[event_id] = match["value"].strip("'\"")
    return titles


@dataclass(slots=True)
class ManifestEvent:
    event_id: int
    version: int | None
    message: str
    fields: list[tuple[str, str]]
    message_id: int = 0  # the full <Id>: classic providers' ids carry severity bits (load.classic_level)


@dataclass(slots=True)
class ManifestProvider:
    name: str
    guid: str
    channels: list[str]
    events: list[ManifestEvent]
    source_file: str


def read_wep_manifests(manifests_dir: Path, problems: list[Problem]) -> list[ManifestProvider]:
    """WEPExplorer provider manifests (nasbench/EVTX-ETW-Resources): name, GUID, channels, and per event its
    message template and the <template> field list. EventID = Id & 0xFFFF (classic providers' ids carry
    severity and facility bits)."""
    out: list[ManifestProvider] = []
    files = sorted(manifests_dir.rglob("*.xml")) if manifests_dir.is_dir() else []
    for path in files:
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError as exc:
            problems.append(_xml_problem(path, exc))
            continue
        except OSError as exc:
            problems.append(Problem(str(path), f"cannot read: {exc}"))
            continue
        for node in root.iter("Provider"):
            name = (node.findtext("Name") or "").strip()
            if not name:
                problems.append(Problem(str(path), "a <Provider> has no <Name>"))
                continue
            guid = (node.findtext("Metadata/Guid") or "").strip()
            channels = [(c.findtext("Path") or "").strip() for c in node.findall("Metadata/Channels/Channel")]
            events: list[ManifestEvent] = []
            for event in node.findall("EventMetadata/Event"):
                try:
                    message_id = int(event.findtext("Id") or "")
                    event_id = message_id & 0xFFFF
                except ValueError:
                    problems.append(Problem(str(path), f"{name}: event without a numeric <Id>"))
                    continue
                version_text = (event.findtext("Version") or "").strip()
                fields: list[tuple[str, str]] = []
                template = (event.findtext("Template") or "").strip()
                if template:
                    try:
                        for data in ET.fromstring(template).iter():
                            if data.tag.endswith("data") and data.get("name"):
                                fields.append((data.get("name", ""), data.get("inType", "")))
                    except ET.ParseError as exc:
                        problems.append(
                            Problem(str(path), f"{name} event {event_id}: invalid <Template>: {exc}")
                        )
                events.append(
                    ManifestEvent(
                        event_id=event_id,
                        version=int(version_text) if version_text.isdigit() else None,
                        message=(event.findtext("Message") or "").strip("\r\n"),
                        fields=fields,
                        message_id=message_id,
                    )
                )
            out.append(ManifestProvider(name, guid, [c for c in channels if c], events, path.name))
    return out


@dataclass(slots=True, frozen=True)
class RelationshipEvent:
    provider: str
    channel: str
    event_id: int
    name: str
    audit: str = ""  # "<audit category> / <audit subcategory>" for Security events


def _audit_policy(event: dict[str, Any]) -> str:
    category, subcategory = event.get("audit_category"), event.get("audit_sub_category")
    if not isinstance(subcategory, str) or not subcategory:
        return ""
    return f"{category} / {subcategory}" if isinstance(category, str) and category else subcategory


def read_relationship_events(path: Path, problems: list[Problem]) -> list[RelationshipEvent]:
    """The Windows events OSSEM-DM's relationships name: provider, channel (may be empty), id, name."""
    data = read_json(path, problems)
    out: list[RelationshipEvent] = []
    if data is None:
        return out
    if not isinstance(data, list):
        problems.append(Problem(str(path), "expected a list of relationships"))
        return out
    for relationship in data:
        for event in (relationship or {}).get("security_events") or []:
            provider, event_id = event.get("log_source"), str(event.get("event_id", ""))
            if provider and event_id.isdigit() and event.get("platform") == "windows":
                out.append(
                    RelationshipEvent(
                        str(provider),
                        str(event.get("channel") or ""),
                        int(event_id),
                        str(event.get("name") or ""),
                        _audit_policy(event),
                    )
                )
    return list(dict.fromkeys(out))
