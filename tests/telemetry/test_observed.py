"""telemetry.observed: event types seen in a stream, examples, enum-like values, bounded state."""

from __future__ import annotations

from collections import Counter

from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.observed import MAX_ENUM_VALUES, Observed, sample_index


def sysmon(event_id: int, **fields: object) -> dict[str, object]:
    return {"Channel": "Microsoft-Windows-Sysmon/Operational", "Provider_Name": "Microsoft-Windows-Sysmon",
            "EventID": event_id, **fields}  # fmt: skip


def test_events_are_grouped_by_provider_and_id_with_their_fields(telemetry: TelemetryCatalog) -> None:
    observed = Observed(telemetry, examples=True, values=True)
    for i in range(5):
        observed.add(sysmon(1, Image=f"C:\\x{i}.exe", IntegrityLevel="High" if i % 2 else "Medium"), "a.evtx")
    observed.add(sysmon(3, DestinationIp="10.0.0.1"), "b.evtx")
    # OTRF JSON names the provider SourceName; spelled otherwise, it is still the catalog's provider
    spelled = "microsoft windows security auditing"
    observed.add({"Channel": "security", "SourceName": spelled, "EventID": "4688", "NewProcessName": "x"})
    observed.add({"message": "no event id here"})
    assert observed.total == 8 and observed.unattributed == 1
    one = observed.events[("Microsoft-Windows-Sysmon", 1)]
    assert one.count == 5 and one.fields["Image"] == 5
    assert one.example["Image"] == "C:\\x0.exe" and one.example_source == "a.evtx"
    enums = one.enum_values()
    assert enums["IntegrityLevel"] == [("Medium", 3), ("High", 2)]
    assert "Image" not in enums  # every event a different value: not an enum
    security = observed.events[("Microsoft-Windows-Security-Auditing", 4688)]
    assert security.channels == {"security": 1}


def test_a_provider_less_event_gets_the_provider_defining_its_id_on_its_channel(
    telemetry: TelemetryCatalog,
) -> None:
    observed = Observed(telemetry)
    observed.add({"Channel": "System", "EventID": 7045, "ServiceName": "x"})
    assert list(observed.events) == [("Service Control Manager", 7045)]


def test_state_stays_bounded_by_event_types_and_fields_not_events() -> None:
    observed = Observed(None, examples=True, values=True)
    for i in range(20_000):
        observed.add({"Channel": "C", "Provider_Name": "P", "EventID": i % 3, "Id": i, "Kind": f"k{i % 4}"})
    assert len(observed.events) == 3
    sample = observed.events[("P", 0)]
    assert sample.values["Id"] is None  # more than MAX_ENUM_VALUES values: dropped, not kept growing
    expected = Counter(f"k{i % 4}" for i in range(20_000) if i % 3 == 0)
    assert sample.enum_values()["Kind"] == sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))
    assert len(expected) <= MAX_ENUM_VALUES


def test_the_stored_form_reads_back_by_provider_key(telemetry: TelemetryCatalog) -> None:
    observed = Observed(telemetry, examples=True, values=True)
    observed.add(sysmon(1, Image="a"), "f.evtx, record 1")
    index = sample_index(observed.to_json())
    record = index[("microsoftwindowssysmon", 1)]
    assert (record.count, record.example["Image"], record.example_source) == (1, "a", "f.evtx, record 1")
    assert sample_index(None) == {}
