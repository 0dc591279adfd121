"""Event bridges, field by field against pySigma's own mappings (read here from the packages directly)."""

from __future__ import annotations

import pytest

from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.bridges import Bridge, BridgeIndex, Member, bridge_index, build_bridges

SYSMON = "Microsoft-Windows-Sysmon"
SECURITY = "Microsoft-Windows-Security-Auditing"
XDR = "Defender XDR "


@pytest.fixture(scope="module")
def bridges(telemetry: TelemetryCatalog) -> dict[str, Bridge]:
    return {b.category: b for b in build_bridges(telemetry)}


@pytest.fixture(scope="module")
def index(telemetry: TelemetryCatalog) -> BridgeIndex:
    return bridge_index(telemetry)


def member(bridge: Bridge, label: str) -> Member:
    return next(m for m in bridge.members if m.label == label)


def _audit_field_mappings() -> dict[str, str]:
    from sigma.pipelines.windows.windows import windows_audit_pipeline

    for item in windows_audit_pipeline().items:
        if item.identifier == "windows_audit_fieldmappings":
            return {k: v if isinstance(v, str) else v[0] for k, v in item.transformation.mapping.items()}
    raise AssertionError("windows_audit_fieldmappings not found in pySigma's windows audit pipeline")


def test_process_creation_members(bridges: dict[str, Bridge]) -> None:
    labels = [m.label for m in bridges["process_creation"].members]
    for expected in (
        "Sysmon 1",
        "Security 4688",
        "Defender XDR DeviceProcessEvents",
        "ECS (Windows) process_creation",
        "Linux process_creation",
        "auditd SYSCALL (execve)",
        "auditd EXECVE",
    ):
        assert expected in labels
    network = [m.label for m in bridges["network_connection"].members]
    assert {
        "Sysmon 3",
        "Defender XDR DeviceNetworkEvents",
        "Security 5156 (Windows Filtering Platform)",
    } <= set(network)
    assert {"PowerShell 4104", "Defender XDR DeviceEvents · PowerShellCommand"} <= {
        m.label for m in bridges["ps_script"].members
    }


def test_4688_names_follow_the_windows_audit_pipeline(
    bridges: dict[str, Bridge], telemetry: TelemetryCatalog
) -> None:
    sec = member(bridges["process_creation"], "Security 4688")
    event = telemetry.event(SECURITY, 4688)
    assert event is not None
    carried = event.field_keys()
    checked = 0
    for sigma_field, audit_field in _audit_field_mappings().items():
        if audit_field.lower() in carried:
            assert sec.own_name(sigma_field) == audit_field, sigma_field
            assert sec.sigma_name(audit_field) == sigma_field
            checked += 1
    assert checked >= 3  # Image, ParentImage, LogonId at least
    assert sec.own_name("Image") == "NewProcessName"
    assert sec.own_name("CommandLine") == "CommandLine"
    assert sec.own_name("OriginalFileName") is None  # 4688 does not carry it


def test_sysmon_1_keeps_the_taxonomy_names(bridges: dict[str, Bridge], telemetry: TelemetryCatalog) -> None:
    sysmon = member(bridges["process_creation"], "Sysmon 1")
    event = telemetry.event(SYSMON, 1)
    assert event is not None
    for field in event.fields:
        assert sysmon.own_name(field.name) == field.name


def test_defender_xdr_fields_are_pysigma_kusto_mappings(bridges: dict[str, Bridge]) -> None:
    from sigma.pipelines.microsoftxdr import mappings as xdr

    table = xdr.CATEGORY_TO_TABLE_MAPPINGS["process_creation"]
    xdr_member = member(bridges["process_creation"], f"Defender XDR {table}")
    expected = dict(xdr.MICROSOFT_XDR_FIELD_MAPPINGS.generic_mappings)
    expected.update(xdr.MICROSOFT_XDR_FIELD_MAPPINGS.table_mappings[table])
    for sigma_field, column in expected.items():
        assert xdr_member.own_name(sigma_field) == (column if isinstance(column, str) else column[0])
    assert xdr_member.own_name("Image") == "FolderPath"
    assert xdr_member.own_name("ParentImage") == "InitiatingProcessFolderPath"


def test_ecs_fields_are_the_elasticsearch_pipeline(bridges: dict[str, Bridge]) -> None:
    from sigma.pipelines.elasticsearch.windows import ecs_windows
    from sigma.processing.conditions import LogsourceCondition
    from sigma.processing.transformations import FieldMappingTransformation

    ecs = member(bridges["process_creation"], "ECS (Windows) process_creation")
    checked = 0
    for item in ecs_windows().items:
        if not isinstance(item.transformation, FieldMappingTransformation):
            continue
        categories = {c.category for c in item.rule_conditions if isinstance(c, LogsourceCondition)}
        if categories - {None} and "process_creation" not in categories:
            continue
        for sigma_field, target in item.transformation.mapping.items():
            if "process_creation" in categories:
                name = target if isinstance(target, str) else target[0]
                assert ecs.own_name(sigma_field) == name.removesuffix(".caseless")
                checked += 1
    assert checked > 0
    assert ecs.own_name("Image") == "process.executable"
    assert ecs.own_name("CommandLine") == "process.command_line"


def test_also_seen_as_lists_correspondences(index: BridgeIndex) -> None:
    others = index.also_seen_as(SYSMON, "1")
    sec = next(o for o in others if o["label"] == "Security 4688")
    pairs = {p["sigma"]: (p["field"], p["other"]) for p in sec["correspondences"]}
    assert pairs["Image"] == ("Image", "NewProcessName")
    assert pairs["ParentImage"] == ("ParentImage", "ParentProcessName")
    assert pairs["CommandLine"] == ("CommandLine", "CommandLine")
    assert "OriginalFileName" not in pairs
    assert sec["same_os"] is True
    linux = next(o for o in others if o["label"].endswith("process_creation") and o["os"] == "linux")
    assert linux["same_os"] is False


def _event_logs(events: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The Windows event-log members (Defender XDR tables: `test_xdr_tables_are_catalog_events`)."""
    return [e for e in events if not e[0].startswith(XDR)]


def test_xdr_tables_are_catalog_events(index: BridgeIndex) -> None:
    table = ("Defender XDR DeviceProcessEvents", "DeviceProcessEvents")
    assert table in index.bridged_events((SYSMON, "1"), [["Image", "CommandLine"]])
    assert table in index.bridged_events((SECURITY, "4688"), [["NewProcessName"]])
    # a column the table lacks: not served there
    assert table not in index.bridged_events((SECURITY, "4688"), [["TokenElevationType"]])
    assert table in index.partners([(SYSMON, "1")])


def test_bridged_events_need_every_field_and_the_same_os(index: BridgeIndex) -> None:
    # a 4688 rule (Hayabusa style, the event's own names) testing the image and the command line
    assert _event_logs(index.bridged_events((SECURITY, "4688"), [["NewProcessName", "CommandLine"]])) == [
        (SYSMON, "1")
    ]
    # System fields never stop a bridge
    assert _event_logs(index.bridged_events((SECURITY, "4688"), [["EventID", "CommandLine"]])) == [
        (SYSMON, "1")
    ]
    # a field Sysmon 1 does not carry: not served there
    assert _event_logs(index.bridged_events((SECURITY, "4688"), [["TokenElevationType"]])) == []
    # one of two ways of matching is enough
    assert _event_logs(
        index.bridged_events((SECURITY, "4688"), [["TokenElevationType"], ["CommandLine"]])
    ) == [(SYSMON, "1")]
    # Sysmon 1 -> 4688 only for what 4688 carries
    assert (SECURITY, "4688") in index.bridged_events((SYSMON, "1"), [["Image", "CommandLine"]])
    assert _event_logs(index.bridged_events((SYSMON, "1"), [["OriginalFileName"]])) == []
    # a rule whose fields are unknown is bridged nowhere, and nothing crosses to Linux
    assert _event_logs(index.bridged_events((SYSMON, "1"), [[]])) == []
    assert all(p[0] == SECURITY for p in _event_logs(index.bridged_events((SYSMON, "1"), [["CommandLine"]])))
    assert ("auditd", "SYSCALL") in index.bridged_events(("linux", "process_creation"), [["Image"]])
    assert _event_logs(index.bridged_events(("linux", "process_creation"), [["Image", "CommandLine"]])) == []


def test_partners_stay_on_one_operating_system(index: BridgeIndex) -> None:
    partners = index.partners([(SYSMON, "1")])
    assert {(SYSMON, "1"), (SECURITY, "4688")} <= partners
    assert ("linux", "process_creation") not in partners and ("auditd", "EXECVE") not in partners
    assert ("auditd", "EXECVE") in index.partners([("linux", "process_creation")])
