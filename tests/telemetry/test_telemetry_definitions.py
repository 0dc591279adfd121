"""What issue 4 adds to the definitions: level/task/opcode, notes where sources disagree, and the stand-in
providers of log sources without event ids (telemetry/products.py). Real data from ../shared."""

from __future__ import annotations

import json

from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.catalog import LOGSOURCE_KIND, parse_event_key
from ruleatlas.telemetry.load import classic_level


def test_sysmon_events_carry_level_task_and_say_where_the_title_comes_from(
    telemetry: TelemetryCatalog,
) -> None:
    event = telemetry.event("Microsoft-Windows-Sysmon", 1)
    assert event is not None
    assert (event.title, event.level, event.task, event.version) == (
        "Process creation",
        "Informational",
        "ProcessCreate",
        5,
    )
    assert event.notes == [
        "Title as the Sysmon documentation names it; the schema's template title is 'Process Create'."
    ]


def test_etw_events_carry_the_opcode_of_their_ossem_dictionary(telemetry: TelemetryCatalog) -> None:
    event = telemetry.event("Microsoft-Windows-CAPI2", 14)
    assert event is not None
    assert (event.level, event.opcode, event.task) == (
        "Informational",
        "Start",
        "RetrieveIssuerCertificatefromNetwork",
    )


def test_classic_providers_get_their_level_from_the_message_id(telemetry: TelemetryCatalog) -> None:
    assert classic_level(0x40001B85) == "Informational"  # Service Control Manager 7045
    assert classic_level(0xC0001B58) == "Error"  # 7000
    assert classic_level(7045) == ""  # a plain EventID says nothing
    scm = telemetry.event("Service Control Manager", 7045)
    assert scm is not None and scm.level == "Informational"
    assert [f.name for f in scm.fields] == [
        "ServiceName",
        "ImagePath",
        "ServiceType",
        "StartType",
        "AccountName",
    ]


def test_every_non_windows_product_of_the_taxonomy_has_a_provider_with_catch_all_events(
    telemetry: TelemetryCatalog,
) -> None:
    linux = telemetry.provider("linux")
    assert linux is not None and linux.kind == LOGSOURCE_KIND and linux.label == "Linux"
    assert {"process_creation", "file_event", "network_connection", "auditd", "any"} <= set(linux.events)
    creation = linux.events["process_creation"]
    assert creation.catch_all and creation.title == "Linux process_creation"
    assert {"Image", "CommandLine", "ParentImage"} <= {f.name for f in creation.fields}
    aws = telemetry.provider("aws")
    assert aws is not None and set(aws.events) == {"cloudtrail", "any"}
    proxy = telemetry.provider("proxy")  # no product: the category stands for it
    assert proxy is not None and set(proxy.events) == {"any"}
    assert "c-uri" in {f.name for f in proxy.events["any"].fields}
    products = set(telemetry.logsources.products) - {""}
    assert products <= {p.name for p in telemetry.providers.values() if p.kind == LOGSOURCE_KIND}


def test_windows_has_a_catch_all_per_service_channel(telemetry: TelemetryCatalog) -> None:
    windows = telemetry.provider("windows")
    assert windows is not None and windows.kind == LOGSOURCE_KIND
    exchange = windows.events["msexchange-management"]
    assert (exchange.channel, exchange.title) == (
        "MSExchange Management",
        "Any event on MSExchange Management",
    )
    assert set(telemetry.logsources.services) | {"any"} == set(windows.events)


def test_catch_all_events_survive_the_json_round_trip(telemetry: TelemetryCatalog) -> None:
    again = TelemetryCatalog.from_json(json.loads(json.dumps(telemetry.to_json())))
    linux = again.provider("linux")
    assert linux is not None and linux.kind == LOGSOURCE_KIND
    assert linux.events["process_creation"].event_id == "process_creation"
    assert again.event("Microsoft-Windows-CAPI2", 14).opcode == "Start"  # type: ignore[union-attr]
    assert again.event("Microsoft-Windows-Sysmon", 1).notes  # type: ignore[union-attr]
    assert [e.event_id for e in again.providers["Microsoft-Windows-Sysmon"].sorted_events()][:3] == [1, 2, 3]


def test_event_keys_in_urls_parse_back() -> None:
    assert parse_event_key("4688") == 4688
    assert parse_event_key("0") == 0
    assert parse_event_key("process_creation") == "process_creation"
    assert parse_event_key("04688") == "04688"  # not the canonical spelling of a number: a name
    assert parse_event_key("²") == "²"
