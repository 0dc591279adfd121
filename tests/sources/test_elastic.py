"""Elastic reader on fixtures written for it (tests/data/elastic): metadata, classes, facts, derived log
source, inline aggregations, and broken files reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.model import CorrelationType, Rule, RuleKind, SourceResult
from ruleatlas.sources import elastic
from ruleatlas.sources.common import read_tree

REPO = "https://github.com/elastic/detection-rules"


@pytest.fixture(scope="module")
def tree(test_data: Path) -> SourceResult:
    return read_tree(elastic, test_data / "elastic", repo_url=REPO, commit="abc123")


@pytest.fixture(scope="module")
def rules(tree: SourceResult) -> dict[str, Rule]:
    return {rule.uid: rule for rule in tree.rules}


def test_lists_every_toml_of_both_rule_folders(test_data: Path, tree: SourceResult) -> None:
    listed = [f.rel_path for f in elastic.list_files(test_data / "elastic")]
    assert listed == sorted(
        p.relative_to(test_data / "elastic").as_posix() for p in (test_data / "elastic").rglob("*.toml")
    )
    assert tree.files_per_folder == {"rules": 9, "rules_building_block": 1}
    assert len(tree.rules) == 8  # 10 files, 2 unusable


def test_eql_rule_metadata(rules: dict[str, Rule]) -> None:
    rule = rules["elastic/execution_encoded_powershell"]
    assert rule.id == "0f4a1e0c-0000-4000-8000-000000000001"
    assert rule.title == "Encoded PowerShell Command"
    assert rule.description == "Identifies PowerShell started with an encoded command."
    assert rule.language == "eql"
    assert (rule.status, rule.level, rule.kind) == ("production", "medium", RuleKind.DETECTION)
    assert rule.authors == ("Elastic", "Jane Analyst")
    assert (rule.date, rule.modified) == ("2024-03-05", "2026-01-20")
    assert rule.references == ("https://example.org/encoded-powershell",)
    assert rule.falsepositives == ("Administrative scripts that encode their payload.",)
    assert rule.attack_ids == ("T1059", "T1059.001")
    assert rule.output_fields == ("process.command_line", "user.name")
    assert rule.source.url == f"{REPO}/blob/abc123/rules/windows/execution_encoded_powershell.toml"
    assert rule.body.startswith("[metadata]\n") and 'process.args : ("-enc"' in rule.body
    assert rule.line == 7  # the [rule] table
    assert rule.logic_parsed and [s.op for s in rule.stages] == ["filter"]
    assert rule.facts == (
        ("Status", "production"),
        ("Rule type", "eql"),
        ("Severity", "medium"),
        ("Risk score", "47"),
        ("Time window", "9m"),
        ("Index", "logs-endpoint.events.process-*, logs-windows.sysmon_operational-*"),
    )


def test_derived_log_sources(rules: dict[str, Rule]) -> None:
    assert rules["elastic/execution_encoded_powershell"].logsource == {
        "product": "windows",
        "category": "process_creation",  # process events narrowed to event.type == "start"
        "service": "sysmon",  # the index names the Sysmon data set
        "elastic.index": "logs-endpoint.events.process-*, logs-windows.sysmon_operational-*",
        "elastic.event_category": "process",
        "elastic.integration": "endpoint, windows",
    }
    assert rules["elastic/bb_file_write"].logsource["category"] == "file_event"
    assert rules["elastic/aws_many_console_failures"].logsource["product"] == "aws"
    assert rules["elastic/aws_many_console_failures"].logsource["service"] == "cloudtrail"
    assert rules["elastic/ml_rare_process"].logsource == {"product": "windows"}  # from the OS: tag
    # kuery `event.category:network` with `host.os.type:windows`
    assert rules["elastic/odd_values"].logsource["category"] == "network_connection"


def test_classes(rules: dict[str, Rule]) -> None:
    assert rules["elastic/old_rule"].kind is RuleKind.DEPRECATED
    assert rules["elastic/endpoint_alert"].kind is RuleKind.ALERT_FEED
    assert rules["elastic/bb_file_write"].kind is RuleKind.BUILDING_BLOCK
    assert ("Building block", "yes") in rules["elastic/bb_file_write"].facts
    ml = rules["elastic/ml_rare_process"]
    assert (ml.kind, ml.language) == (RuleKind.DETECTION, "ml")
    assert ("ML job", "v3_windows_rare_process") in ml.facts and ("Anomaly threshold", "75") in ml.facts


def test_threshold_and_new_terms_are_inline_aggregations(rules: dict[str, Rule]) -> None:
    threshold = rules["elastic/aws_many_console_failures"]
    assert threshold.correlation is not None
    assert threshold.correlation.type is CorrelationType.THRESHOLD
    assert threshold.correlation.rules == ()
    assert threshold.correlation.group_by == ("source.ip",)
    assert (threshold.correlation.timespan, threshold.correlation.timespan_seconds) == ("30m", 1800)
    assert threshold.correlation.condition == {"gte": 25, "field": "user.name", "distinct_gte": 3}
    assert ("Group by", "source.ip") in threshold.facts
    new_terms = rules["elastic/okta_new_country"]
    assert new_terms.correlation is not None
    assert new_terms.correlation.type is CorrelationType.NEW_TERMS
    assert new_terms.correlation.group_by == ("okta.actor.alternate_id", "client.geo.country_name")
    assert (new_terms.correlation.timespan, new_terms.correlation.timespan_seconds) == ("14d", 14 * 86400)


def test_broken_files_are_problems_with_file_and_line(tree: SourceResult) -> None:
    by_file = {p.file: p for p in tree.errors}
    assert set(by_file) == {"rules/windows/broken_quote.toml", "rules/windows/metadata_only.toml"}
    syntax = by_file["rules/windows/broken_quote.toml"]
    assert syntax.message.startswith("malformed TOML: ") and syntax.line == 5 and syntax.hint
    assert "(at line" not in syntax.message  # the place is in `line`, not repeated in the text
    assert by_file["rules/windows/metadata_only.toml"].message == "no [rule] table: not an Elastic rule"


def test_odd_values_become_rule_problems(rules: dict[str, Rule]) -> None:
    rule = rules["elastic/odd_values"]
    assert [(p.message, p.line, p.severity) for p in rule.problems] == [
        ("rule has no 'name'", 4, "error"),
        ("unknown severity 'urgent'", 6, "warning"),
    ]
    assert all(p.rule_uid == "elastic/odd_values" for p in rule.problems)
    assert rule.level == "" and ("Severity", "urgent") in rule.facts  # native kept, not guessed
    assert rule.attack_ids == ("T1071",)  # the entries that are not tables are skipped


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 5000 + "]" * 5000,  # nesting past the recursion limit
        "[rule]\nname = 'x'\n" + "\x00",
        "",
    ],
)
def test_hostile_toml_is_a_problem_not_a_crash(text: str) -> None:
    rules, problems = elastic.parse_file(text, "rules/x.toml", "rules", repo_url="", commit="", companions={})
    assert rules == []
    assert len(problems) == 1 and problems[0].file == "rules/x.toml" and problems[0].line is not None
