"""Kusto (Sentinel) reader on fixtures (tests/data/kusto): analytic rules of Detections/ and Solutions/, moved
stubs and broken files reported, alert feeds, derived log source and facts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import CorrelationType, Kind, Pred, Rule, RuleKind, SourceResult
from ruleatlas.sources import kusto
from ruleatlas.sources.common import read_tree
from ruleatlas.sources.kusto.logsource import derive

REPO = "https://github.com/Azure/Azure-Sentinel"


@pytest.fixture(scope="module")
def tree(test_data: Path) -> SourceResult:
    return read_tree(kusto, test_data / "kusto", repo_url=REPO, commit="b819")


@pytest.fixture(scope="module")
def rules(tree: SourceResult) -> dict[str, Rule]:
    return {rule.uid: rule for rule in tree.rules}


def test_lists_analytic_rules_only(test_data: Path, tree: SourceResult) -> None:
    listed = [f.rel_path for f in kusto.list_files(test_data / "kusto")]
    assert "Solutions/Contoso Solution/Hunting Queries/NotARule.yaml" not in listed
    assert tree.files_per_folder == {"Detections": 3, "Solutions": 3}
    assert sorted(rules.uid for rules in tree.rules) == [
        "kusto/BadSeverity",
        "kusto/ContosoSignins",
        "kusto/DefenderAlerts",
        "kusto/ProcessCreateEncoded",
    ]


def test_scheduled_rule(rules: dict[str, Rule]) -> None:
    rule = rules["kusto/ProcessCreateEncoded"]  # the file starts with a BOM
    assert (rule.id, rule.title, rule.language) == (
        "5b1d2a3c-0000-4000-8000-000000000001",
        "Encoded PowerShell via Security 4688",
        "kql",
    )
    assert rule.description == "Finds PowerShell started with an encoded command in Security event 4688."
    assert (rule.kind, rule.status, rule.level) == (RuleKind.DETECTION, "Available", "medium")
    assert rule.attack_ids == ("T1059.001",)
    assert rule.tags == ("tactic:Execution", "Demo", "Schema:ASIMProcessEvent", "SchemaVersion:0.1.0")
    # the columns the query's last extend adds (the input's own are unknown), then the entity mappings'
    assert rule.output_fields == ("HostCustomEntity", "AccountCustomEntity", "CommandLine")
    assert rule.body.startswith("id: 5b1d2a3c") and "\ufeff" not in rule.body
    assert rule.logsource == {
        "product": "windows",
        "category": "process_creation",  # SecurityEvent filtered on EventID 4688
        "service": "security",
        "kusto.event_id": "4688",
        "kusto.table": "SecurityEvent",
    }
    assert rule.facts == (
        ("Status", "Available"),
        ("Severity", "Medium"),
        ("Rule kind", "Scheduled"),
        ("Time window", "1h"),
        ("Query frequency", "1h"),
        ("Trigger", "results gt 0"),
        ("Data connectors", "SecurityEvents"),
        ("Tables", "SecurityEvent"),
        ("Version", "1.0.1"),
    )
    assert rule.logic_parsed
    assert [(s.op, s.label, s.line) for s in rule.stages] == [
        ("let", "lookback", 19),  # file lines: the query starts on line 19
        ("source", "SecurityEvent", 20),
        ("filter", "where", 21),
        ("filter", "where", 22),
        ("extend", "extend", 23),
    ]
    assert rule.stages[4].defines == ("HostCustomEntity", "AccountCustomEntity")
    found = rule_indicators(rule)
    assert [i.key for i in found.positives] == [
        ("EventID", "eq", "4688", ""),
        ("Image", "ends_with", "powershell.exe", ""),  # SecurityEvent NewProcessName, pySigma's table
        ("CommandLine", "contains", "-enc", ""),  # `has`: a term match, counted as contains
    ]
    time_range = rule.stages[2].expr
    assert isinstance(time_range, Pred) and time_range.scope  # the time range picks data, as a log source
    assert (time_range.kind, time_range.value, time_range.native) == (
        Kind.GT,
        "ago(1h)",  # the scalar let inlined
        "TimeGenerated > ago(lookback)",
    )


def test_classes_and_other_tables(rules: dict[str, Rule]) -> None:
    assert rules["kusto/DefenderAlerts"].kind is RuleKind.ALERT_FEED  # every table is SecurityAlert
    signins = rules["kusto/ContosoSignins"]
    assert (signins.level, signins.logsource["product"], signins.logsource["service"]) == (
        "informational",
        "azure",
        "signinlogs",
    )
    assert ("Time window", "14d") in signins.facts
    assert (
        signins.source.url
        == f"{REPO}/blob/b819/Solutions/Contoso%20Solution/Analytic%20Rules/ContosoSignins.yaml"
    )
    assert signins.correlation is not None  # `summarize ... by` and a threshold after it
    assert (signins.correlation.type, signins.correlation.group_by, signins.correlation.timespan) == (
        CorrelationType.THRESHOLD,
        ("Location",),
        "14d",
    )
    assert signins.correlation.condition == {"having": "where count_ == 1"}
    assert [s.op for s in signins.stages] == ["source", "aggregate", "having"]
    assert signins.stages[1].defines == ("count_",)
    assert signins.output_fields == ("Location", "count_")
    assert rule_indicators(signins).positives == []  # count_ is the aggregate's column: logic, no indicator
    custom = rules["kusto/BadSeverity"]
    assert custom.logsource == {"kusto.table": "Contoso_CL"}  # a custom table has no Sigma counterpart
    assert ("Custom tables", "Contoso_CL (custom log table: no telemetry definition)") in custom.facts
    assert [(p.message, p.line, p.severity) for p in custom.problems] == [
        ("rule has no 'name'", 1, "error"),
        ("unknown severity 'Severe'", 3, "warning"),
    ]


def test_moved_stub_and_broken_yaml_are_problems(tree: SourceResult) -> None:
    by_file = {p.file: p for p in tree.errors}
    moved = by_file["Detections/SecurityAlert/MovedRule.yaml"]
    assert moved.message.startswith("no 'query': not an analytic rule (As part of content migration")
    assert (moved.line, moved.severity) == (1, "warning")
    tabs = by_file["Solutions/Contoso Solution/Analytic Rules/Tabs.yaml"]
    assert (tabs.line, tabs.hint) == (4, "indent with spaces, not tabs")


def test_windows_event_tables() -> None:
    query = 'Event | where Source == "Microsoft-Windows-Sysmon" and EventID == 1'
    assert derive(("Event",), query) == {
        "product": "windows",
        "category": "process_creation",
        "service": "sysmon",
        "kusto.event_id": "1",
        "kusto.table": "Event",
    }
    two = derive(("SecurityEvent",), "SecurityEvent | where EventID in (4624, 4625)")
    assert "category" not in two and "kusto.event_id" not in two  # two events: no single category
    assert derive(("DeviceProcessEvents",), "DeviceProcessEvents")["category"] == "process_creation"
