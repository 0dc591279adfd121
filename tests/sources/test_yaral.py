"""YARA-L reader on fixtures (tests/data/yaral): the meta section, classes, ATT&CK in its several spellings,
the derived log source, the `match` window, and malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import CorrelationType, Ref, Rule, RuleKind, SourceResult
from ruleatlas.sources import yaral
from ruleatlas.sources.common import read_tree
from ruleatlas.sources.yaral.rulefile import split_rules

REPO = "https://github.com/chronicle/detection-rules"


@pytest.fixture(scope="module")
def tree(test_data: Path) -> SourceResult:
    return read_tree(yaral, test_data / "yaral", repo_url=REPO, commit="1979")


@pytest.fixture(scope="module")
def rules(tree: SourceResult) -> dict[str, Rule]:
    return {rule.uid: rule for rule in tree.rules}


def test_lists_yaral_files_per_folder(tree: SourceResult) -> None:
    assert tree.files_per_folder == {"_deprecated": 1, "community": 5}  # reference lists are not rules
    assert len(tree.rules) == 5


def test_community_rule(rules: dict[str, Rule]) -> None:
    rule = rules["yaral/encoded_powershell"]
    assert (rule.name, rule.title, rule.id) == (
        "encoded_powershell",
        "Encoded PowerShell Command",
        "mr_11111111-0000-4000-8000-000000000001",
    )
    assert (rule.language, rule.kind, rule.level, rule.status) == (
        "yaral",
        RuleKind.DETECTION,
        "medium",
        "test",
    )
    assert rule.line == 6  # the `rule` header, after the licence comment
    assert rule.authors == ("Jane Analyst", "Example Corp")
    assert rule.references == ("https://example.org/a", "https://example.org/b")
    assert rule.falsepositives == ("Admin scripts",)
    assert rule.attack_ids == ("T1059.001",)  # from mitre_attack_url
    assert rule.related == ({"id": "5ae4fc9f-0000-4000-8000-000000000099", "type": "derived"},)
    assert rule.logsource == {
        "product": "windows",
        "category": "process_creation",
        # the category was read from this comparison alone (relations leave it to event coverage)
        "category_scope": "metadata.event_type=PROCESS_LAUNCH",
        # no service: `data_source = "Sysmon"` is what the author tested with; the rule reads every
        # PROCESS_LAUNCH event, whichever log it was parsed from
        "yaral.event_type": "PROCESS_LAUNCH",
        "yaral.platform": "Windows",
        "yaral.data_source": "Sysmon",
    }
    assert rule.correlation is not None
    assert rule.correlation.type is CorrelationType.WINDOW
    assert (rule.correlation.group_by, rule.correlation.timespan, rule.correlation.timespan_seconds) == (
        ("$host",),
        "5m",
        300,
    )
    assert rule.facts == (
        ("Severity", "Medium"),  # the trailing // comment is not part of the value
        ("Priority", "Medium"),
        ("Type", "Alert"),
        ("Group by", "$host"),
        ("Time window", "5m"),
        ("Platform", "Windows"),
        ("Data source", "Sysmon"),
        ("References", "https://example.org/a, https://example.org/b"),
        ("Condition", "$process"),
        ("Risk score", "50"),
    )
    assert rule.body.startswith("/*\n") and rule.logic_parsed
    assert [(s.op, s.label, s.line) for s in rule.stages] == [
        ("condition", "condition", 39),
        ("search", "$process", 27),
        ("aggregate", "match", 33),
        ("project", "outcome", 36),
    ]
    assert rule.stages[0].expr == Ref("$process")
    assert rule.output_fields == ("risk_score",)
    # the regexes are literals: the canonical keys meet Sigma's `Image|endswith`, `CommandLine|contains`; the
    # binding of the match placeholder `$hostname` is `exists` (YARA-L drops events where it is empty); a
    # process event's principal.hostname is the event's computer
    assert [i.key for i in rule_indicators(rule).positives] == [
        ("Image", "ends_with", "\\powershell.exe", ""),
        ("CommandLine", "contains", "-enc", ""),
        ("Computer", "exists", "true", ""),
    ]
    assert rule.problems == []


def test_classes_and_soc_prime_metadata(rules: dict[str, Rule]) -> None:
    hunt = rules["yaral/hunt_brace_next_line"]  # `{` on the next line, CRLF line ends
    assert (hunt.kind, hunt.level, hunt.logsource["category"]) == (RuleKind.HUNTING, "low", "dns_query")
    old = rules["yaral/socprime_whoami"]
    assert old.kind is RuleKind.DEPRECATED
    assert old.logsource == {
        "product": "windows",
        "category": "process_creation",
    }  # the Sigma log source it came from
    assert old.attack_ids == ("T1033", "T1087")  # `mitre = "discovery, t1033, attackt1087"`
    assert old.date == "2019-10-23"


def test_malformed_rules_keep_their_metadata_and_say_where(rules: dict[str, Rule]) -> None:
    broken = rules["yaral/broken_meta"]
    assert [(p.line, p.message, p.severity) for p in broken.problems] == [
        (1, "rule has no 'condition:' section", "error"),
        (4, 'meta line is not key = "value": this line is not meta', "warning"),
        (6, "meta key 'severity' written twice", "warning"),
        (9, "rule is not closed with '}'", "error"),
    ]
    assert broken.level == "critical"  # the last value wins, as the problem says
    assert [p.message for p in rules["yaral/no_events"].problems] == ["rule has no 'events:' section"]


def test_a_file_without_a_rule_is_a_problem(tree: SourceResult) -> None:
    assert [(p.file, p.line, p.message) for p in tree.errors] == [
        ("rules/community/windows/not_a_rule.yaral", 1, "no 'rule <name> {' in file: not a YARA-L rule")
    ]


def test_several_rules_in_one_file() -> None:
    text = (
        'rule a {\n meta:\n  x = "1"\n events:\n  $e\n condition:\n  $e\n}\n'
        "rule b {\n meta:\n  x = 2\n events:\n  $e\n condition:\n  $e\n}\n"
    )
    found = split_rules(text)
    assert [(r.name, r.line, r.meta, r.problems) for r in found] == [
        ("a", 1, {"x": "1"}, []),
        ("b", 9, {"x": "2"}, []),
    ]
    rules, problems = yaral.parse_file(
        text, "rules/community/two.yaral", "community", repo_url="", commit="", companions={}
    )
    assert problems == [] and [r.uid for r in rules] == ["yaral/two", "yaral/two-2"]
