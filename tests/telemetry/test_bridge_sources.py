"""Event bridges checked field by field against their sources, read at test time: every member pySigma's
pipelines give (Security 4688/4657 by the windows audit pipeline, Defender XDR tables by pySigma-backend-
kusto, ECS by pySigma-backend-elasticsearch) in every bridge, and the hand-written `EXTRA_MEMBERS` against the
places they name (auditd records: linux/audit.h's record types, Splunk's auditd data sources and SigmaHQ's
auditd rules; Security 5156: the Security provider's manifest in ../shared/providers; Defender XDR
DeviceEvents: pySigma-backend-kusto's table schema)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.bridges import (
    EXTRA_MEMBERS,
    PYSIGMA_ECS,
    PYSIGMA_XDR,
    Bridge,
    Member,
    build_bridges,
)

SECURITY = "Microsoft-Windows-Security-Auditing"


@pytest.fixture(scope="module")
def bridges(telemetry: TelemetryCatalog) -> list[Bridge]:
    return build_bridges(telemetry)


def _first(target: Any) -> str:
    return target if isinstance(target, str) else str(target[0])


def _audit_renames() -> dict[int, dict[str, str]]:
    """Event id -> {Sigma field: audit field} as pySigma's windows audit pipeline renames them."""
    from sigma.pipelines.windows import windows as pipeline

    generic: dict[str, str] = {}
    for item in pipeline.windows_audit_pipeline().items:
        if item.identifier == "windows_audit_fieldmappings":
            generic = {str(k): _first(v) for k, v in item.transformation.mapping.items()}
    registry = {str(k): _first(v) for k, v in pipeline.windows_audit_registry_fieldmappings.items()}
    return {4688: generic, 4657: {**generic, **registry}}


def test_every_pipeline_member_renames_as_pysigma_does(
    bridges: list[Bridge], telemetry: TelemetryCatalog
) -> None:
    """Each Windows audit member: every rename pySigma applies to a field the event carries is the
    member's; Defender XDR and ECS members: every mapping of the pipeline for that category."""
    from sigma.pipelines.elasticsearch.windows import ecs_windows
    from sigma.pipelines.microsoftxdr import mappings as xdr
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.transformations import FieldMappingTransformation

    audit = _audit_renames()
    ecs: dict[str, dict[str, str]] = {}
    for item in ecs_windows().items:
        if isinstance(item.transformation, FieldMappingTransformation):
            scopes = [
                str(c.category)
                for c in item.rule_conditions
                if isinstance(c, LogsourceCondition) and c.category
            ] or [""]
            for sigma_field, target in item.transformation.mapping.items():
                for scope in scopes:
                    ecs.setdefault(scope, {})[str(sigma_field)] = _first(target).removesuffix(".caseless")
    checked: dict[str, int] = {}
    for bridge in bridges:
        for member in bridge.members:
            if member.provider == SECURITY and int(member.event_key) in audit:
                event = telemetry.event(SECURITY, int(member.event_key))
                assert event is not None
                carried = event.field_keys()
                for sigma_field, audit_field in audit[int(member.event_key)].items():
                    if audit_field.lower() in carried and sigma_field not in member.unsupported:
                        assert member.own_name(sigma_field) == audit_field, (member.label, sigma_field)
                        checked["audit"] = checked.get("audit", 0) + 1
            elif member.origin == PYSIGMA_XDR:
                table = xdr.CATEGORY_TO_TABLE_MAPPINGS[bridge.category]
                expected = dict(xdr.MICROSOFT_XDR_FIELD_MAPPINGS.generic_mappings)
                expected.update(xdr.MICROSOFT_XDR_FIELD_MAPPINGS.table_mappings.get(table, {}))
                assert member.event_key == table
                assert member.event is not None and member.defined_fields  # the catalog's table event
                for sigma_field, column in expected.items():
                    # a generic mapping to a column the table's schema lacks is not carried there
                    carried = _first(column).lower() in member.defined_fields
                    wanted = _first(column) if carried else None
                    assert member.own_name(sigma_field) == wanted, (member.label, sigma_field)
                    checked["xdr"] = checked.get("xdr", 0) + 1
                    checked["xdr_absent"] = checked.get("xdr_absent", 0) + (not carried)
            elif member.origin == PYSIGMA_ECS:
                expected = {**ecs.get("", {}), **ecs[bridge.category]}
                for sigma_field, name in expected.items():
                    assert member.own_name(sigma_field) == name, (member.label, sigma_field)
                    checked["ecs"] = checked.get("ecs", 0) + 1
    # 4688 and 4657 (three registry bridges), the XDR and ECS members of every bridged category
    assert checked.get("audit", 0) >= 10 and checked.get("xdr", 0) > 100 and checked.get("ecs", 0) > 50
    assert checked.get("xdr_absent", 0) < checked["xdr"] // 4  # most of pySigma's columns are in the schema


def _extra(category: str, key: str) -> Member:
    for os_name, provider, event_key, label, fields, origin in EXTRA_MEMBERS[category]:
        if event_key == key:
            return Member(os_name, label, provider, event_key, tuple(fields.items()), (), origin)
    raise AssertionError(f"no extra member {key} in {category}")


def _data_source(shared_dir: Path, name: str) -> dict[str, Any]:
    data = yaml.safe_load((shared_dir / "corpus" / "splunk" / "data_sources" / name).read_text())
    assert isinstance(data, dict)
    return data


def _auditd_rule_fields(shared_dir: Path, record: str) -> set[str]:
    """The fields SigmaHQ's auditd rules test beside `type: <record>`."""
    fields: set[str] = set()
    for path in (shared_dir / "corpus" / "sigma" / "rules" / "linux" / "auditd").rglob("*.yml"):
        rule = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name, search in (rule.get("detection") or {}).items():
            if name == "condition" or not isinstance(search, dict) or search.get("type") != record:
                continue
            fields.update(k.split("|")[0] for k in search if k != "type")
    return fields


def test_auditd_members_against_audit_h_splunk_and_sigmahq(
    shared_dir: Path, telemetry: TelemetryCatalog
) -> None:
    syscall, execve = _extra("process_creation", "SYSCALL"), _extra("process_creation", "EXECVE")
    # the record types are linux/audit.h's (AUDIT_SYSCALL 1300, AUDIT_EXECVE 1309)
    auditd = telemetry.provider("auditd")
    assert auditd is not None and {"SYSCALL", "EXECVE"} <= {str(k) for k in auditd.events}
    header = Path("/usr/include/linux/audit.h")
    if header.is_file():
        text = header.read_text(encoding="utf-8")
        assert re.search(r"#define\s+AUDIT_SYSCALL\s+1300\b", text)
        assert re.search(r"#define\s+AUDIT_EXECVE\s+1309\b", text)
    # SYSCALL: every field the member names is one Splunk's data source lists and its execve example holds
    source = _data_source(shared_dir, "linux_auditd_syscall.yml")
    example = str(source["example_log"])
    assert "syscall=59" in example  # the example is an execve call (x86_64)
    for sigma_field, own in syscall.fields:
        assert own in source["fields"], (sigma_field, own)
        assert re.search(rf"\b{own}=", example), own
    # and every field SigmaHQ's SYSCALL rules test that stands for a process creation field is mapped
    assert "exe" in _auditd_rule_fields(shared_dir, "SYSCALL")
    assert syscall.own_name("Image") == "exe"
    # EXECVE: the arguments a0...aN; SigmaHQ's EXECVE rules test exactly those
    tested = _auditd_rule_fields(shared_dir, "EXECVE")
    assert tested and all(re.fullmatch(r"a\d+", f) for f in tested), tested
    execve_source = _data_source(shared_dir, "linux_auditd_execve.yml")
    assert "argc" in execve_source["fields"]
    assert re.search(r"\ba0=.*\ba1=", str(execve_source["example_log"]))
    assert execve.own_name("CommandLine") == "a0…aN"


def test_5156_fields_are_the_security_manifests(telemetry: TelemetryCatalog) -> None:
    member = _extra("network_connection", "5156")
    event = telemetry.event(SECURITY, 5156)
    assert event is not None and event.fields
    carried = {f.name for f in event.fields}
    for sigma_field, own in member.fields:
        assert own in carried, (sigma_field, own, sorted(carried))
    assert member.own_name("DestinationIp") == "DestAddress"
    assert member.own_name("DestinationPort") == "DestPort"


def test_device_events_powershell_is_kustos_schema() -> None:
    from sigma.pipelines.microsoftxdr.tables import MICROSOFT_XDR_TABLES

    member = _extra("ps_script", "DeviceEvents:PowerShellCommand")
    table, action = member.event_key.split(":")
    columns = MICROSOFT_XDR_TABLES[table]
    # the record is DeviceEvents with ActionType PowerShellCommand, its command in AdditionalFields
    assert {"ActionType", "AdditionalFields", "InitiatingProcessCommandLine"} <= set(columns)
    assert action == "PowerShellCommand"
    # no column holds a script block: the member maps no field, so no ScriptBlockText rule is served by it
    assert not any("scriptblock" in c.lower() for c in columns)
    assert member.fields == () and member.own_name("ScriptBlockText") is None
