"""EVTX values as Sigma rules address them, on real records of ../shared/logs: empty elements (Sigma's
`null` and `''`), unnamed `<Data>` lists (`Data`, `Data[1]`), binary data, elements with attributes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from match_support import compile_detection

from ruleatlas.engine import compile_rules
from ruleatlas.engine.scan import Scanner
from ruleatlas.logs.event import Event, InputProblem
from ruleatlas.logs.readers import InputSource, read_source
from ruleatlas.sources.sigma import read_sigma_tree

SAMPLES = "logs/evtx-attack-samples"
CACTUSTORCH_FILE = "AutomatedTestingTools/Malware/sideloading_uacbypass_rundll32_injection_c2.evtx"
MSSQL_FILE = "Credential Access/MSSQL_multiple_failed_logon_EventID_18456.evtx"  # unnamed Data, Binary
NTDSUTIL_FILE = "Credential Access/dc_applog_ntdsutil_dfir_325_326_327.evtx"  # <Binary/>: rendered null
CLEARED_FILE = "Command and Control/DE_RDP_Tunnel_5156.evtx"  # UserData/LogFileCleared with attributes


def record(shared_dir: Path, name: str, number: int) -> Event:
    problems: list[InputProblem] = []
    for event in read_source(InputSource(shared_dir / SAMPLES / name), problems=problems):
        if event.record == number:
            assert problems == []
            return event
    raise AssertionError(f"{name} has no record {number}")


def matches(detection: str, event: Event) -> bool:
    (rule,) = compile_detection(detection).rules
    return rule.match(event.fields)


def test_an_empty_element_is_empty_text_and_matches_null(shared_dir: Path) -> None:
    event = record(shared_dir, CACTUSTORCH_FILE, 15)
    assert event.fields["StartModule"] == ""  # <Data Name="StartModule"/> as evtx renders it
    assert matches("sel:\n  StartModule: null\ncondition: sel", event)
    assert matches("sel:\n  StartModule: ''\ncondition: sel", event)
    assert not matches("sel:\n  StartModule|exists: false\ncondition: sel", event)  # present, empty
    assert event.fields["TargetImage"] and not matches("sel:\n  TargetImage: null\ncondition: sel", event)


def test_sigmahq_cactustorch_fires_on_the_events_it_was_written_for(shared_dir: Path) -> None:
    rules = read_sigma_tree(shared_dir / "corpus" / "sigma").rules
    (rule,) = [r for r in rules if r.uid == "sigma/create_remote_thread_win_hktl_cactustorch"]
    scanner = Scanner(compile_rules([rule]))
    problems: list[InputProblem] = []
    source = InputSource(shared_dir / SAMPLES / CACTUSTORCH_FILE)
    found = [match.event.record for match in scanner.scan(read_source(source, problems=problems))]
    assert problems == [] and found == [15]


def test_an_element_rendered_null_reads_as_empty_text(shared_dir: Path) -> None:
    event = record(shared_dir, NTDSUTIL_FILE, 1)
    assert event.fields["Binary"] == ""  # `<Binary/>`, which evtx renders as null
    assert matches("sel:\n  Binary: ''\ncondition: sel", event)
    assert matches("sel:\n  Binary: null\ncondition: sel", event)
    assert matches("sel:\n  Binary|exists: true\ncondition: sel", event)


def test_unnamed_data_is_a_list_addressed_whole_or_by_position(shared_dir: Path) -> None:
    event = record(shared_dir, MSSQL_FILE, 1)
    assert event.fields["Data"] == [
        "sa",
        " Reason: Password did not match that for the login provided.",
        " [CLIENT: 10.0.2.17]",
    ]
    assert matches("sel:\n  Data|contains: 'CLIENT: 10.0.2.17'\ncondition: sel", event)  # any item
    assert matches("sel:\n  Data: sa\ncondition: sel", event)
    assert matches("sel:\n  Data[1]: SA\ncondition: sel", event)  # XPath's 1-based position
    assert matches("sel:\n  Data[3]|endswith: '10.0.2.17]'\ncondition: sel", event)
    assert not matches("sel:\n  Data[2]: sa\ncondition: sel", event)
    assert matches("sel:\n  Data[4]: null\ncondition: sel", event)  # past the end: no value
    assert not matches("sel:\n  Data[4]|exists: true\ncondition: sel", event)
    # the unnamed items of an event with a second empty one (dc_applog_ntdsutil record 1)
    ntds = record(shared_dir, NTDSUTIL_FILE, 1)
    assert matches("sel:\n  Data[3]: ''\ncondition: sel", ntds)
    assert matches("sel:\n  Data[5]|endswith: '\\ntds.dit'\ncondition: sel", ntds)


def test_indexed_data_is_proven_by_the_prefilter_too(shared_dir: Path) -> None:
    """A rule on `Data[3]` reads the `Data` list: the prefilter searches its text, not a missing key."""
    event = record(shared_dir, MSSQL_FILE, 1)
    compiled = compile_detection("sel:\n  Data[3]|contains: 'CLIENT: 10.0.2.17'\ncondition: sel")
    full = Scanner(compiled, routing=False, prefilter=False).match_ids(event)
    assert Scanner(compiled, routing=False).match_ids(event) == full == [0]


def test_binary_data_is_its_hex_text(shared_dir: Path) -> None:
    event = record(shared_dir, MSSQL_FILE, 1)
    binary = event.fields["Binary"]
    assert isinstance(binary, str) and binary.startswith("184800000E000000")
    assert matches("sel:\n  Binary|startswith: '184800000e'\ncondition: sel", event)
    # the UTF-16LE text inside it ("MSEDGEWIN10") is in hex, as Sigma rules on Binary write it
    assert matches("sel:\n  Binary|contains: '4D0053004500440047004500'\ncondition: sel", event)


@pytest.mark.parametrize("attribute", ["xmlns", "xmlns:auto-ns3"])
def test_an_element_with_attributes_gives_its_children_not_its_attributes(
    shared_dir: Path, attribute: str
) -> None:
    event = record(shared_dir, CLEARED_FILE, 1)
    assert event.fields["EventID"] == 1102 and event.fields["SubjectUserName"] == "admin01"
    assert attribute not in event.fields
    assert matches("sel:\n  EventID: 1102\n  SubjectUserName: admin01\ncondition: sel", event)


def test_plain_eventdata_copied_at_once_gives_the_fields_item_by_item(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_data_fields` copies a plain EventData (named scalar items, none taken by System) in one update: on
    every record of ../shared/logs that gives the fields, and their order, of the item-by-item loop."""
    from evtx import PyEvtxParser

    import ruleatlas.logs.evtx_fields as module

    objects = [
        json.loads(record["data"])
        for path in sorted((shared_dir / "logs").rglob("*.evtx"))
        for record in PyEvtxParser(str(path), number_of_threads=1).records_json()
    ]
    fast = [module.evtx_fields(obj) for obj in objects]
    monkeypatch.setattr(module, "_PLAIN_VALUES", frozenset())  # no section qualifies: the loop for all
    slow = [module.evtx_fields(obj) for obj in objects]
    assert len(objects) > 7000
    assert [list(fields.items()) for fields in fast] == [list(fields.items()) for fields in slow]
