"""The whole Elastic corpus through the reader's grammars (read once per module), each figure checked against
a count made without the parser: TOML keys and regexes over the query text."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import tomli

from ruleatlas.analysis.indicators import IndicatorKey, defined_columns, rule_indicators
from ruleatlas.model import Rule, RuleKind, StageOp, walk_preds
from ruleatlas.sources import elastic
from ruleatlas.sources.common import read_tree
from ruleatlas.sources.elastic.values import SCOPE_FIELDS


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> tuple[list[Rule], dict[str, dict[str, object]]]:
    root = shared_dir / "corpus" / "elastic"
    result = read_tree(elastic, root, repo_url="https://github.com/elastic/detection-rules", commit="")
    tomls = {r.source.path: tomli.loads(r.body)["rule"] for r in result.rules}
    return result.rules, tomls


def live(rules: list[Rule]) -> list[Rule]:
    return [r for r in rules if r.kind is not RuleKind.DEPRECATED]


def test_every_live_query_parses_into_stages(corpus: tuple[list[Rule], dict[str, dict[str, object]]]) -> None:
    rules, tomls = corpus
    by_language = Counter(r.language for r in live(rules))
    parsed = Counter(r.language for r in live(rules) if r.logic_parsed and r.stages)
    # the language counts from the TOML keys alone
    assert by_language["eql"] == sum(1 for r in live(rules) if tomls[r.source.path].get("language") == "eql")
    assert (by_language["eql"], parsed["eql"]) == (1024, 1024)
    assert by_language["kuery"] == 729 and parsed["kuery"] >= 726
    assert (by_language["esql"], parsed["esql"]) == (209, 209)
    ml = [r for r in live(rules) if r.language == "ml"]
    assert len(ml) == 106 and all([s.op for s in r.stages] == [StageOp.ML] for r in ml)
    assert all(r.stages[0].expr is None and r.stages[0].text for r in ml)


def test_sequences_are_inline_correlations(corpus: tuple[list[Rule], dict[str, dict[str, object]]]) -> None:
    rules, tomls = corpus
    sequences = [r for r in live(rules) if r.language == "eql" and r.stages[0].op == StageOp.SEQUENCE]
    comments = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
    texts = [
        comments.sub("", str(tomls[r.source.path].get("query", "")))
        for r in live(rules)
        if r.language == "eql"
    ]
    assert len(sequences) == sum(1 for t in texts if re.match(r"\s*(sequence|sample)\b", t))
    with_maxspan = [r for r in sequences if r.correlation is not None and r.correlation.timespan]
    assert len(with_maxspan) == sum(1 for t in texts if re.search(r"with\s+maxspan\s*=", t))
    for rule in with_maxspan:
        assert rule.correlation is not None and rule.correlation.timespan_seconds
        assert ("Max span", rule.correlation.timespan) in rule.facts
    members = sum(1 for r in sequences for s in r.stages if s.op == StageOp.FILTER)
    assert members >= 2 * len(sequences)


def test_stage_lines_point_into_the_rule_file(
    corpus: tuple[list[Rule], dict[str, dict[str, object]]],
) -> None:
    rules, _ = corpus
    checked = 0
    for rule in live(rules):
        if rule.language not in ("eql", "esql") or not rule.logic_parsed:
            continue
        lines = rule.body.splitlines()
        for stage in rule.stages:
            if stage.op == StageOp.SEQUENCE or stage.line is None:
                continue
            first_word = stage.text.lstrip("[|! ").split(None, 1)[0]
            assert first_word in lines[stage.line - 1], (rule.uid, stage.line, stage.text[:40])
            checked += 1
    assert checked > 2000


def test_no_scope_field_is_an_indicator(corpus: tuple[list[Rule], dict[str, dict[str, object]]]) -> None:
    rules, _ = corpus
    fields = {i.native_field for r in live(rules) for i in (rule_indicators(r).positives)}
    assert fields and not fields & SCOPE_FIELDS
    fields |= {i.native_field for r in live(rules) for i in rule_indicators(r).exclusions}
    assert not fields & SCOPE_FIELDS


def _text_count(rules: list[Rule], tomls: dict[str, dict[str, object]], field: str, value: str) -> set[str]:
    """Rules whose query text compares `field` (or its `.caseless` form) with a list or string holding the
    quoted `value` — by `:`, `==`, `in`, `like`, kuery's `field:(... or ...)` — counted without the parser."""
    compare = re.compile(
        re.escape(field) + r'(?:\.caseless)?\)?\s*(?::|==|in~?|like~?)\s*(\([^)]*\)|"[^"]*")', re.IGNORECASE
    )
    quoted = re.compile(r'"' + re.escape(value) + '"', re.IGNORECASE)
    return {
        r.uid
        for r in live(rules)
        if not _unix_only(tomls[r.source.path])  # there a name is a `/` path's end: another indicator
        for m in compare.finditer(str(tomls[r.source.path].get("query", "")))
        if quoted.search(m.group(1))
    }


def _unix_only(rule_toml: dict[str, object]) -> bool:
    tags = rule_toml.get("tags")
    systems = (
        {t for t in tags if isinstance(t, str) and t.startswith("OS: ")} if isinstance(tags, list) else set()
    )
    query = str(rule_toml.get("query", ""))
    if re.search(r'host\.os\.type\s*(?::|==)\s*"?(linux|macos)', query) and "windows" not in query:
        return True
    return bool(systems) and "OS: Windows" not in systems


def _ir_count(rules: list[Rule], key: IndicatorKey) -> tuple[set[str], set[str]]:
    positive, exclusion_only = set(), set()
    for rule in live(rules):
        found = rule_indicators(rule)
        if key in {i.key for i in found.positives}:
            positive.add(rule.uid)
        elif key in {i.key for i in found.exclusions}:
            exclusion_only.add(rule.uid)
    return positive, exclusion_only


@pytest.mark.parametrize(
    ("field", "value", "key", "positives", "exclusions"),
    [
        ("process.name", "powershell.exe", ("Image", "ends_with", "\\powershell.exe", ""), 78, 10),
        ("process.name", "certutil.exe", ("Image", "ends_with", "\\certutil.exe", ""), 22, 0),
        (
            "process.pe.original_file_name",
            "powershell.exe",
            ("OriginalFileName", "eq", "powershell.exe", ""),
            21,
            1,
        ),
    ],
)
def test_cross_vendor_counts_agree_with_the_text(
    corpus: tuple[list[Rule], dict[str, dict[str, object]]],
    field: str,
    value: str,
    key: IndicatorKey,
    positives: int,
    exclusions: int,
) -> None:
    rules, tomls = corpus
    positive, exclusion_only = _ir_count(rules, key)
    assert (len(positive), len(exclusion_only)) == (positives, exclusions)
    assert positive | exclusion_only == _text_count(rules, tomls, field, value)


def test_share_of_predicates_with_a_sigma_name(
    corpus: tuple[list[Rule], dict[str, dict[str, object]]],
) -> None:
    from ruleatlas.analysis.canonical import canonical

    rules, _ = corpus
    hows: Counter[str] = Counter()
    for rule in live(rules):
        defined = defined_columns(rule.stages)
        for stage in rule.stages:
            for pred, _ in walk_preds(stage.expr):
                if pred.scope or pred.field in defined:
                    continue
                hows[canonical(pred, "elastic", rule.logsource).how.split(":")[0]] += 1
    named = sum(n for how, n in hows.items() if how != "native")
    # measured 80.4 % (31,148 of 38,739; 65.1 % before argument and registry parts were counted under the
    # Sigma comparison they imply and Kubernetes audit keys under Sigma's): event.outcome, endpoint
    # event.action and signer names of processes have no Sigma field, so stay native
    assert named / sum(hows.values()) >= 0.80
    assert hows["part"] >= 5000  # process.args and process.parent.args as CommandLine / ParentCommandLine


def test_windows_rules_have_event_coverage(
    shared_dir: Path, corpus: tuple[list[Rule], dict[str, dict[str, object]]]
) -> None:
    from ruleatlas.telemetry.coverage import event_coverage
    from ruleatlas.telemetry.load import load_telemetry

    rules, tomls = corpus
    telemetry = load_telemetry(shared_dir / "providers", shared_dir / "corpus" / "sigma")
    windows = [
        r
        for r in live(rules)
        if "OS: Windows" in r.tags
        or re.search(r'host\.os\.type\s*(?::|==)\s*"?windows', str(tomls[r.source.path].get("query", "")))
    ]
    covered = [r for r in windows if event_coverage(r, telemetry).events]
    assert len(windows) == 631 and len(covered) >= 627, len(covered)
    # a sequence (an inline correlation) covers the events of its members
    sequence = next(r for r in covered if r.correlation is not None and r.correlation.type == "sequence")
    assert event_coverage(sequence, telemetry).events
