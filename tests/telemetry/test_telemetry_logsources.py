"""The log source table agrees with the ecosystem's own tables it is built from, and with the Sigma spec."""

from __future__ import annotations

import re
from pathlib import Path

from sigma.pipelines.common import windows_logsource_mapping
from sigma.pipelines.sysmon.sysmon import sysmon_generic_logsource_eventid_mapping
from sigma.pipelines.windows.windows import windows_audit_registry_fieldmappings

from ruleatlas.model import Problem
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.logsources import CHANNEL_PROVIDERS, ETW_CATEGORY_PROVIDERS, build_logsource_table

SPEC = "corpus/sigma-specification/specification/sigma-appendix-taxonomy.md"


def test_pysigma_tables_without_a_sigma_checkout() -> None:
    problems: list[Problem] = []
    table = build_logsource_table(None, problems)
    assert problems == []
    for category, ids in sysmon_generic_logsource_eventid_mapping.items():
        expected = ids if isinstance(ids, list) else [ids]
        sysmon = [
            t.event_id
            for t in table.categories[category]
            if t.channel == "Microsoft-Windows-Sysmon/Operational"
        ]
        assert sysmon == expected, category
        assert table.categories[category][0].channel == "Microsoft-Windows-Sysmon/Operational", category
    for service, channels in windows_logsource_mapping.items():
        assert table.services[service] == (channels if isinstance(channels, list) else [channels])
    registry = next(t for t in table.categories["registry_set"] if t.channel == "Security")
    assert registry.event_id == 4657
    assert windows_audit_registry_fieldmappings.items() <= registry.field_map.items()
    assert registry.unsupported == ("EventType", "NewName", "User")
    assert registry.conditions == {"OperationType": ["Existing registry value modified"]}
    # the rename table pySigma keeps inside windows_audit_pipeline() applies to every Security rule
    assert table.channel_field_maps["Security"]["Image"] == "NewProcessName"


def test_thor_completes_pysigma(telemetry: TelemetryCatalog) -> None:
    table = telemetry.logsources
    security = next(t for t in table.categories["process_creation"] if t.event_id == 4688)
    assert security.field_map["Image"] == "NewProcessName"
    assert security.field_map["ParentImage"] == "ParentProcessName"
    assert security.origins == ("pySigma windows audit pipeline", "SigmaHQ tests/thor.yml")
    antivirus = table.categories["antivirus"]  # thor.yml only: Defender events with its renames
    assert [t.event_id for t in antivirus][:2] == [1006, 1007]
    assert antivirus[0].field_map == {"Signature": "ThreatName", "Filename": "Path"}
    assert table.services["hyper-v-worker"] == ["Microsoft-Windows-Hyper-V-Worker"]  # not in pySigma's table


def _spec_rows(shared_dir: Path, heading: str) -> dict[str, str]:
    """`| windows | product: windows<br>category: X | description |` rows under a '#### heading' of the
    appendix's Windows Folder section."""
    text = (shared_dir / SPEC).read_text(encoding="utf-8")
    section = text.split("### Windows Folder", 1)[1].split("## Network Events", 1)[0]
    part = section.split(f"#### {heading}", 1)[1].split("####", 1)[0]
    rows: dict[str, str] = {}
    for line in part.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] == "windows":
            match = re.search(r"(?:category|service): (\S+)", cells[1])
            if match:
                rows[match.group(1)] = cells[2]
    return rows


def _channels(description: str) -> list[str]:
    text = description.split("Channel:", 1)[1] if "Channel:" in description else ""
    parts = [p.strip().removeprefix("- ").removeprefix("WinEventLog:").strip() for p in text.split("<br>")]
    return [p for p in parts if p]


def test_services_agree_with_the_spec_appendix(telemetry: TelemetryCatalog, shared_dir: Path) -> None:
    rows = _spec_rows(shared_dir, "Service")
    assert len(rows) > 40
    for service, description in rows.items():
        expected = _channels(description)
        assert expected, service
        assert set(expected) <= set(telemetry.logsources.services[service]), service


def test_categories_agree_with_the_spec_appendix(telemetry: TelemetryCatalog, shared_dir: Path) -> None:
    rows = _spec_rows(shared_dir, "Category")
    assert len(rows) > 30
    table = telemetry.logsources
    for category, description in rows.items():
        if "ETW Provider:" in description:
            provider = description.split("ETW Provider:", 1)[1].strip()
            assert ETW_CATEGORY_PROVIDERS[category] == provider
            assert {t.provider for t in table.categories[category]} == {provider}
            continue
        ids = [int(x) for x in re.findall(r"\d+", description.split("Channel", 1)[0])]
        pairs = {(t.channel, t.event_id) for t in table.categories[category]}
        for channel in _channels(description):
            for event_id in ids:
                assert (channel, event_id) in pairs, (category, channel, event_id)
    assert set(ETW_CATEGORY_PROVIDERS) <= set(rows)


def test_kernel_file_categories_pick_events_by_logsource_json_fields(telemetry: TelemetryCatalog) -> None:
    categories = telemetry.logsources.categories
    assert [(t.provider, t.event_id) for t in categories["file_access"]] == [
        ("Microsoft-Windows-Kernel-File", 12),
        ("Microsoft-Windows-Kernel-File", 30),
    ]
    assert [t.event_id for t in categories["file_rename"]] == [27]


def test_channel_provider_table_entries_are_confirmed_by_fields(telemetry: TelemetryCatalog) -> None:
    """Entries marked "fields": the fields tests/logsource.json lists for the channel's service are the
    provider's own."""
    table = telemetry.logsources
    service_of = {c: s for s, channels in table.services.items() for c in channels}
    for channel in (
        "Microsoft-Windows-DNS Client Events/Operational",
        "Microsoft-Windows-AppxPackaging/Operational",
        "Microsoft-Windows-LSA/Operational",
        "Microsoft-Windows-BitLocker/BitLocker Management",
    ):
        provider = telemetry.provider(CHANNEL_PROVIDERS[channel][0])
        assert provider is not None, channel
        carried = set().union(*(e.field_keys() for e in provider.events.values()))
        wanted = {f.lower() for f in table.service_fields[service_of[channel]]}
        assert wanted & carried, channel
    iis = telemetry.event(CHANNEL_PROVIDERS["Microsoft-IIS-Configuration/Operational"][0], 29)
    assert iis is not None and iis.message.startswith("Changes to '%4' at '%2'")


def test_every_service_channel_has_a_provider_but_the_ones_the_data_lacks(
    telemetry: TelemetryCatalog,
) -> None:
    channels = {c for cs in telemetry.logsources.services.values() for c in cs}
    without = {c for c in channels if not telemetry.providers_for_channel(c)}
    # Application: many providers, none of which the data ties to it (rules name them with Provider_Name);
    # Service Bus and Hyper-V worker: no provider of that name in any data set.
    assert without == {
        "Application",
        "Microsoft-ServiceBus-Client",
        "Microsoft-ServiceBus-Client/Admin",
        "Microsoft-ServiceBus-Client/Operational",
        "Microsoft-Windows-Hyper-V-Worker",
    }
    undefined = {
        c
        for c in channels - without
        if not any(telemetry.provider(p) for p in telemetry.providers_for_channel(c))
    }
    assert undefined == {"MSExchange Management"}  # MSExchange CmdletLogs: seen in the samples, not defined
