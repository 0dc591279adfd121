"""Sublime MQL over the real corpus (../shared/corpus/sublime), parsed once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruleatlas.model import MEMBERSHIP, SourceResult, walk_preds
from ruleatlas.sources import sublime
from ruleatlas.sources.common import read_tree


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> SourceResult:
    return read_tree(sublime, shared_dir / "corpus" / "sublime", repo_url="x", commit="y")


def test_at_least_1559_of_1571_parse(corpus: SourceResult) -> None:
    assert corpus.files == 1571
    parsed = [r for r in corpus.rules if r.logic_parsed and r.stages and r.stages[0].expr is not None]
    assert len(parsed) >= 1559
    # every file is a rule or a problem
    assert len(corpus.rules) + len({p.file for p in corpus.errors}) >= corpus.files


def test_lists_are_membership_and_quantifiers_flatten(corpus: SourceResult) -> None:
    preds = [p for r in corpus.rules for s in r.stages for p, _ in walk_preds(s.expr)]
    members = [p for p in preds if MEMBERSHIP in p.transforms]
    assert any(p.value == "$high_trust_sender_root_domains" for p in members)
    assert any(p.field == "attachments[].file_extension" for p in preds)
    assert not any(p.field and p.field.startswith(".") for p in preds if "any(" not in p.native)


def test_hostile_mql_is_a_problem_not_a_crash() -> None:
    from ruleatlas.sources.sublime.mql import parse_mql

    deep = "not (" * 2000 + "type.inbound" + ")" * 2000
    logic = parse_mql(deep, "x.yml", 5)
    assert logic.stage is not None or (logic.problems and logic.problems[0].line)
    broken = parse_mql('type.inbound and strings.icontains(subject.subject, "x"', "x.yml", 5)
    assert broken.stage is None and broken.problems[0].file == "x.yml" and broken.problems[0].line == 5
