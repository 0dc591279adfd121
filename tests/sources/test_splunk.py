"""Splunk reader on fixtures (tests/data/splunk): detections only, classes from type and folder, severity from
the RBA score, derived log source, group-by, supporting data, and broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.model import Rule, RuleKind, SourceResult
from ruleatlas.sources import splunk
from ruleatlas.sources.common import read_tree
from ruleatlas.sources.splunk.logsource import derive
from ruleatlas.sources.splunk.spl import commands, group_by
from ruleatlas.sources.splunk.support import read_support

REPO = "https://github.com/splunk/security_content"


@pytest.fixture(scope="module")
def tree(test_data: Path) -> SourceResult:
    return read_tree(splunk, test_data / "splunk", repo_url=REPO, commit="c0ffee")


@pytest.fixture(scope="module")
def rules(tree: SourceResult) -> dict[str, Rule]:
    return {rule.uid: rule for rule in tree.rules}


def test_only_detections_are_listed_and_counted_per_domain(tree: SourceResult) -> None:
    assert tree.files == 6  # macros, data sources, stories and lookups are not rules
    assert tree.files_per_folder == {"cloud": 1, "deprecated": 1, "endpoint": 4}


def test_ttp_detection(rules: dict[str, Rule]) -> None:
    rule = rules["splunk/encoded_powershell_command"]
    assert (rule.id, rule.title, rule.language) == (
        "6f3e2a1b-0000-4000-8000-000000000001",
        "Encoded PowerShell Command",
        "spl",
    )
    assert (rule.kind, rule.status, rule.level) == (
        RuleKind.DETECTION,
        "production",
        "high",
    )  # highest score 56
    assert rule.authors == ("Jane Analyst", "Splunk")
    assert rule.attack_ids == ("T1059.001", "T1027")
    assert rule.falsepositives == ("Administrative scripts.",)
    assert rule.output_fields == ("dest", "user", "process")  # the RBA risk and threat objects
    assert "analytic_story:Malicious PowerShell" in rule.tags
    assert rule.source.url == f"{REPO}/blob/c0ffee/detections/endpoint/encoded_powershell_command.yml"
    assert rule.body.startswith("name: Encoded PowerShell Command\n")
    assert rule.logsource == {
        "product": "windows",
        "category": "process_creation",  # Sysmon 1 or Security 4688: no one service
        "splunk.event_id": "1",
        "splunk.data_source": "Sysmon EventID 1, Windows Event Log Security 4688",
    }
    assert rule.facts == (
        ("Status", "production"),
        ("Type", "TTP"),
        ("Severity", "high"),
        ("Risk score", "56"),
        ("Group by", "Processes.dest, Processes.user, Processes.process"),
        ("Data source", "Sysmon EventID 1, Windows Event Log Security 4688"),
        ("Analytic story", "Malicious PowerShell"),
    )
    assert rule.logic_parsed
    assert [(s.label, s.op) for s in rule.stages][:3] == [
        ("tstats", "source"),
        ("tstats", "filter"),
        ("tstats", "aggregate"),
    ]


def test_classes_and_severity(rules: dict[str, Rule]) -> None:
    hunt = rules["splunk/aws_console_login_hunt"]
    assert (hunt.kind, hunt.level) == (RuleKind.HUNTING, "")  # no RBA: no severity, none invented
    assert hunt.logsource["product"] == "aws" and hunt.logsource["service"] == "cloudtrail"
    assert rules["splunk/old_correlation"].kind is RuleKind.DEPRECATED  # the folder wins over the type
    odd = rules["splunk/odd_type"]
    assert (odd.kind, odd.level) == (RuleKind.DETECTION, "critical")
    assert [(p.message, p.line, p.severity) for p in odd.problems] == [
        ("unknown detection type 'Alarm'", 6, "warning")
    ]


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0, "low"), (24, "low"), (25, "medium"), (49, "medium"), (50, "high"), (79, "high"), (80, "critical")],
)
def test_risk_score_scale(score: int, expected: str) -> None:
    text = (
        "name: X\ntype: TTP\nsearch: index=a\n"
        f"rba:\n  risk_objects:\n  - field: dest\n    type: system\n    score: {score}\n"
    )
    rules, problems = splunk.parse_file(
        text, "detections/endpoint/x.yml", "endpoint", repo_url="", commit="", companions={}
    )
    assert problems == [] and rules[0].level == expected


def test_broken_files(tree: SourceResult) -> None:
    assert [(p.file, p.line) for p in tree.errors] == [
        ("detections/endpoint/broken_indent.yml", 5),
        ("detections/endpoint/no_search.yml", 1),
    ]
    assert tree.errors[0].message.startswith("malformed YAML")
    assert tree.errors[1].message == "detection has no 'search'"


def test_data_source_names_give_the_log_source() -> None:
    assert derive(("Windows Event Log Security 4688",))["category"] == "process_creation"
    assert derive(("Windows Security 5136",)) == {
        "product": "windows",
        "service": "security",
        "splunk.event_id": "5136",
        "splunk.data_source": "Windows Security 5136",
    }
    assert derive(("Powershell Script Block Logging 4104",))["category"] == "ps_script"
    assert derive(("Sysmon Event ID 12",))["category"] == "registry_event"
    assert derive(("Sysmon for Linux EventID 1",))["product"] == "linux"
    assert derive(("Sysmon EventID 1 AND Sysmon EventID 11",))["category"] == "process_creation"
    assert derive(("Palo Alto Network Threat",)) == {"splunk.data_source": "Palo Alto Network Threat"}
    assert derive(()) == {}
    # one event type from two services: the category, no service (a rule on the data model reads either)
    both = derive(("Sysmon EventID 1", "Windows Event Log Security 4688", "CrowdStrike ProcessRollup2"))
    assert (both["category"], "service" in both) == ("process_creation", False)
    assert derive(("Sysmon EventID 1", "Sysmon EventID 11"))["service"] == "sysmon"


def test_spl_commands_and_group_by() -> None:
    search = (
        '| tstats count from datamodel=X where a="x|y" [search b=1 | head 1] `m(a|b)` by A.b, A.c'
        " | where count > 1"
    )
    assert commands(search) == [
        'tstats count from datamodel=X where a="x|y" [search b=1 | head 1] `m(a|b)` by A.b, A.c',
        "where count > 1",
    ]
    assert group_by(search) == ("A.b", "A.c")
    assert group_by("`sysmon` EventCode=1 | bucket _time span=1h | stats count by _time host") == (
        "_time",
        "host",
    )
    assert group_by("`sysmon` EventCode=1 | table host user") == ()  # no aggregation, no group-by
    assert group_by("index=a | stats count by _time span=1h, host user") == ("_time span=1h", "host", "user")


def test_supporting_data(test_data: Path) -> None:
    support = read_support(test_data / "splunk")
    assert set(support.macros) == {"process_powershell", "security_content_ctime(1)"}
    assert support.macros["security_content_ctime(1)"].arguments == ("field",)
    assert support.data_sources["Sysmon EventID 1"].separator == "EventID"
    assert support.stories["Malicious PowerShell"].references == ("https://example.org/ps",)
    assert support.lookups["3cx_ioc_domains"].fields == ("domain", "Description")
    assert [(p.file, p.message) for p in support.problems] == [("macros/nameless.yml", "no 'name'")]
