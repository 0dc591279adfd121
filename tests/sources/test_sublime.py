"""Sublime reader on fixtures (tests/data/sublime): classes by folder, Sublime's own threat taxonomy kept as
facts (never as ATT&CK), the message direction, authors, and broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.model import All, Kind, Not, Pred, Rule, RuleKind, SourceResult
from ruleatlas.sources import sublime
from ruleatlas.sources.common import read_tree

REPO = "https://github.com/sublime-security/sublime-rules"


@pytest.fixture(scope="module")
def tree(test_data: Path) -> SourceResult:
    return read_tree(sublime, test_data / "sublime", repo_url=REPO, commit="4f7d")


@pytest.fixture(scope="module")
def rules(tree: SourceResult) -> dict[str, Rule]:
    return {rule.uid: rule for rule in tree.rules}


def test_lists_the_rule_folders_only(tree: SourceResult) -> None:
    assert tree.files_per_folder == {  # automations/ is not read
        "detection-rules": 4,
        "discovery-rules": 1,
        "dlp-discovery-rules": 1,
        "insights": 1,
        "exclusions": 1,
    }


def test_detection_rule(rules: dict[str, Rule]) -> None:
    rule = rules["sublime/attachment_lnk"]
    assert (rule.id, rule.title, rule.language) == (
        "1d7e1f1a-0000-4000-8000-000000000001",
        "Attachment: LNK file",
        "mql",
    )
    assert (rule.kind, rule.level) == (RuleKind.DETECTION, "high")
    assert rule.authors == ("@analyst", "Jane Analyst")
    assert rule.references == ("https://example.org/lnk",)
    assert rule.tags == ("Attack surface reduction",)
    assert rule.attack_ids == ()  # Sublime's taxonomy is not ATT&CK
    assert rule.facts == (
        ("Severity", "high"),
        ("Type", "rule"),
        ("Attack types", "Malware/Ransomware"),
        ("Tactics and techniques", "Evasion, LNK"),
        ("Detection methods", "File analysis"),
    )
    assert rule.logsource == {"product": "email", "sublime.message_type": "inbound"}
    assert rule.source.url == f"{REPO}/blob/4f7d/detection-rules/attachment_lnk.yml"
    assert rule.logic_parsed
    [stage] = rule.stages
    assert (stage.op, stage.line) == ("filter", 12)  # the line after `source: |`
    assert stage.expr == All(
        (
            Pred("type.inbound", Kind.EQ, True, cased=True, native="type.inbound", scope=True),
            Pred("attachments[].file_extension", Kind.EQ, "lnk", native='.file_extension in~ ("lnk")'),
            Not(
                Pred(
                    "profile.by_sender().solicited",
                    Kind.EQ,
                    True,
                    cased=True,
                    native="profile.by_sender().solicited",
                )
            ),
        )
    )


def test_classes_by_folder(rules: dict[str, Rule]) -> None:
    assert rules["sublime/new_sender_domain"].kind is RuleKind.HUNTING
    assert rules["sublime/new_sender_domain"].level == ""  # discovery rules often have no severity
    assert rules["sublime/outbound_card_numbers"].kind is RuleKind.HUNTING
    assert rules["sublime/outbound_card_numbers"].logsource == {
        "product": "email",
        "sublime.message_type": "outbound",
    }
    assert rules["sublime/archive_with_exe"].kind is RuleKind.ENRICHMENT
    assert rules["sublime/archive_with_exe"].logsource == {"product": "email"}  # no direction tested
    assert rules["sublime/simulation_vendor"].kind is RuleKind.FILTER


def test_problems(tree: SourceResult, rules: dict[str, Rule]) -> None:
    assert [(p.file, p.line, p.message.split(" (")[0]) for p in tree.errors] == [
        ("detection-rules/bad_quotes.yml", 2, "malformed YAML: did not find expected key"),
        ("detection-rules/no_source.yml", 1, "rule has no 'source'"),
    ]
    assert [(p.message, p.line, p.severity) for p in rules["sublime/odd_severity"].problems] == [
        ("rule has no 'name'", 1, "error"),
        ("unknown severity 'urgent'", 3, "warning"),
    ]
