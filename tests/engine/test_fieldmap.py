"""Security audit events answer to Sigma's taxonomy names, as pySigma's windows-audit pipeline maps them."""

from __future__ import annotations

from ruleatlas.engine.fieldmap import AUDIT_ALIASES, with_audit_aliases


def test_tables_come_from_the_pipeline() -> None:
    assert AUDIT_ALIASES[4688] == {
        "Image": "NewProcessName",
        "ParentImage": "ParentProcessName",
        "LogonId": "SubjectLogonId",
    }
    assert AUDIT_ALIASES[4657] == {
        "Details": "NewValue",
        "Image": "ProcessName",
        "TargetObject": "ObjectName",
    }


def test_security_4688_gets_aliases_and_keeps_its_own_fields() -> None:
    event = {
        "Channel": "Security",
        "EventID": 4688,
        "NewProcessName": "C:\\Windows\\cmd.exe",
        "ParentProcessName": "C:\\x\\p.exe",
        "CommandLine": "cmd /c",
    }
    mapped = with_audit_aliases(event)
    assert mapped["Image"] == "C:\\Windows\\cmd.exe" and mapped["ParentImage"] == "C:\\x\\p.exe"
    assert mapped["NewProcessName"] == "C:\\Windows\\cmd.exe"
    assert "Image" not in event, "the event as read stays as read"


def test_other_events_are_untouched() -> None:
    sysmon = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "a"}
    assert with_audit_aliases(sysmon) is sysmon
    other = {"Channel": "Security", "EventID": 4624, "NewProcessName": "x"}
    assert with_audit_aliases(other) is other


def test_an_existing_taxonomy_field_is_not_overwritten() -> None:
    event = {"Channel": "Security", "EventID": 4657, "ProcessName": "p", "Image": "already"}
    assert with_audit_aliases(event)["Image"] == "already"


def test_a_process_creation_rule_fires_on_security_4688() -> None:
    from ruleatlas.engine.compile import compile_rules
    from ruleatlas.engine.scan import Scanner
    from ruleatlas.logs.event import Event
    from ruleatlas.sources.sigma import parse_sigma_file

    text = """title: Cmd
id: 7c6e3a4a-1f1e-4d4b-9a5e-5a1b2c3d4e5f
logsource: {category: process_creation, product: windows}
detection:
    selection:
        Image|endswith: '\\\\cmd.exe'
        ParentImage|endswith: '\\\\explorer.exe'
    condition: selection
"""
    rules, problems = parse_sigma_file(text, "r.yml", "rules")
    assert problems == []
    scanner = Scanner(compile_rules(rules))
    audit = {
        "Channel": "Security",
        "EventID": 4688,
        "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
        "ParentProcessName": "C:\\Windows\\explorer.exe",
    }
    sysmon = {
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "EventID": 1,
        "Image": "C:\\Windows\\System32\\cmd.exe",
        "ParentImage": "C:\\Windows\\explorer.exe",
    }
    for fields in (audit, sysmon):
        assert scanner.match_ids(Event(fields=fields, file="x", record=1, timestamp=None)) == [0]


def test_odd_event_ids_do_not_break_the_lookup() -> None:
    for event_id in (["4688"], {"a": 1}, None, "4688"):
        fields = {"Channel": "Security", "EventID": event_id, "NewProcessName": "x"}
        assert with_audit_aliases(fields) is fields
