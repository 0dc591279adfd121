"""The Sentinel corpus through the KQL parser: parse rate, the one query that does not parse, CPU-cheap
invariants of the stages, watchlists, event coverage inputs, and a cloud indicator checked against a count of
the query text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.model import MEMBERSHIP, Rule, SourceResult, StageOp, walk_preds
from ruleatlas.sources import kusto
from ruleatlas.sources.common import load_mapping, read_tree, text

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> SourceResult:
    return read_tree(kusto, shared_dir / "corpus" / "sentinel", repo_url="", commit="")


@pytest.fixture(scope="module")
def queries(shared_dir: Path) -> dict[str, str]:
    """Each rule file's query text, comments removed, read without the parser."""
    out: dict[str, str] = {}
    for file in kusto.list_files(shared_dir / "corpus" / "sentinel"):
        doc, _ = load_mapping(file.path.read_text(encoding="utf-8", errors="replace"), file.rel_path, "")
        query = text(doc.get("query")) if doc is not None else ""
        out[file.rel_path] = "\n".join(line.split("//", 1)[0] for line in query.splitlines())
    return out


def test_every_query_but_one_parses(corpus: SourceResult) -> None:
    unparsed = [r for r in corpus.rules if not r.logic_parsed]
    assert len(corpus.rules) == 1040 and len(unparsed) == 1
    [rule] = unparsed
    assert rule.source.path == "Detections/ASimWebSession/PotentiallyHarmfulFileTypes.yaml"
    [problem] = [p for p in rule.problems if "does not parse" in p.message]
    # the malformed literal is the rule's own: `extract(@(\.\w+)$, ...)`
    assert (problem.line, problem.message) == (
        32,
        "KQL query does not parse: unexpected character '@' at column 35",
    )
    assert rule.stages and all(s.expr is None for s in rule.stages)


def test_stages_have_lines_and_a_source(corpus: SourceResult) -> None:
    for rule in corpus.rules:
        if rule.logic_parsed:
            main = [s for s in rule.stages if s.op != StageOp.LET]
            assert main and main[0].op == StageOp.SOURCE, rule.uid
            assert all(s.line is not None and s.line > rule.line for s in rule.stages), rule.uid


def test_watchlists_are_membership(corpus: SourceResult, queries: dict[str, str]) -> None:
    with_watchlist = {f for f, q in queries.items() if "_GetWatchlist(" in q}
    assert len(with_watchlist) == 6
    found = {r.source.path for r in corpus.rules if any(label == "Watchlists" for label, _ in r.facts)}
    # one names a watchlist only inside a string it searches for; one does not parse
    assert found == with_watchlist - {
        "Detections/ASimWebSession/PotentiallyHarmfulFileTypes.yaml",
        "Detections/LAQueryLogs/UserSearchingForVIPUserActivity.yaml",
    }
    members = [
        p for r in corpus.rules for s in r.stages for p, _ in walk_preds(s.expr) if MEMBERSHIP in p.transforms
    ]
    assert len(members) >= len(found)


def test_security_event_4688_rules_name_the_event(corpus: SourceResult, queries: dict[str, str]) -> None:
    filtered = {f for f, q in queries.items() if re.search(r"\bEventID\s*==\s*4688\b", q)}
    with_pred = {
        r.source.path
        for r in corpus.rules
        for s in r.stages
        for p, neg in walk_preds(s.expr)
        if p.field == "EventID" and p.value == 4688 and not neg
    }
    assert filtered and filtered <= with_pred


def test_stop_logging_counted_as_the_text_says(corpus: SourceResult, queries: dict[str, str]) -> None:
    by_text = {f for f, q in queries.items() if re.search(r"\bStopLogging\b", q)}
    key = ("eventName", "eq", "stoplogging", "")
    by_parser = {
        r.source.path for r in corpus.rules if any(i.key == key for i in rule_indicators(r).positives)
    }
    assert by_parser == by_text == {"Detections/AWSCloudTrail/AWS_ClearStopChangeTrailLogs.yaml"}


def test_custom_tables_are_said_not_guessed(corpus: SourceResult) -> None:
    custom = [r for r in corpus.rules if any(label == "Custom tables" for label, _ in r.facts)]
    assert len(custom) >= 60
    assert all("category" not in r.logsource for r in custom if _only_custom(r))


def _only_custom(rule: Rule) -> bool:
    return all(t.strip().endswith("_CL") for t in rule.logsource.get("kusto.table", "x_CL").split(","))
