"""The Chronicle corpus through the YARA-L grammar: every file parses, regex literals reduce for the
canonicaliser, group-by and window, outcome fields, and a cloud indicator checked against the text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ruleatlas.analysis.canonical import reduce_regex
from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import MEMBERSHIP, Kind, RuleKind, SourceResult, StageOp, walk_preds
from ruleatlas.sources import yaral
from ruleatlas.sources.common import read_tree

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> SourceResult:
    return read_tree(yaral, shared_dir / "corpus" / "chronicle", repo_url="", commit="")


def test_every_file_parses(corpus: SourceResult) -> None:
    assert len(corpus.rules) == 886 and all(r.logic_parsed for r in corpus.rules)
    assert [p for r in corpus.rules for p in r.problems] == []
    for rule in corpus.rules:
        assert rule.stages[0].op == StageOp.CONDITION, rule.uid
        assert any(s.op == StageOp.SEARCH for s in rule.stages), rule.uid
    # a condition that only counts placeholders (`#user > 10`) names no event variable
    assert {r.uid for r in corpus.rules if r.stages[0].expr is None} == {
        "yaral/geoip_user_login_from_multiple_states_or_countries",
        "yaral/o365_persistent_login_activity_to_azure_ADPowerShell_app",
        "yaral/rw_windows_password_spray_T1110_003",
    }


def test_regex_literals_reduce(corpus: SourceResult) -> None:
    regexes = [
        p
        for r in corpus.rules
        for s in r.stages
        for p, _ in walk_preds(s.expr)
        if p.kind is Kind.REGEX and MEMBERSHIP not in p.transforms and isinstance(p.value, str)
    ]
    reduced = [p for p in regexes if reduce_regex(str(p.value), p.regex_flags) is not None]
    assert len(regexes) >= 2500 and len(reduced) >= 2100


def test_windows_and_outcomes(corpus: SourceResult) -> None:
    community = [r for r in corpus.rules if r.kind is not RuleKind.DEPRECATED]
    assert sum(1 for r in community if r.correlation is not None and r.correlation.timespan) == 280
    assert sum(1 for r in community if r.output_fields) == 348
    assert sum(1 for r in community if any(label == "Risk score" for label, _ in r.facts)) >= 300


def test_stop_logging_counted_as_the_text_says(corpus: SourceResult, shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "chronicle"
    by_text = {
        f.rel_path
        for f in yaral.list_files(root)
        if re.search(r"\bStopLogging\b", f.path.read_text(encoding="utf-8"))
    }
    key = ("eventName", "eq", "stoplogging", "")
    by_parser = {
        r.source.path for r in corpus.rules if any(i.key == key for i in rule_indicators(r).positives)
    }
    assert by_parser == by_text == {"rules/community/aws/cloudtrail/aws_cloudtrail_logging_tampered.yaral"}
