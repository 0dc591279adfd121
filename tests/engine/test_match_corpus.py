"""The whole SigmaHQ corpus through the matcher compiler, and SigmaHQ's own regression samples.

SigmaHQ ships, for some rules, the event that rule must detect (regression_data/**/info.yml names the rule,
the .json beside it holds the event as evtx2json wrote it). Every such event must match its rule, and on
all of them, for every rule of the corpus, a match must come with one of the rule's required literals in
the folded event text (the prefilter's soundness on real data, house rule 8).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any as AnyType

import pytest
import yaml
from match_support import event_text

from ruleatlas.engine import CompiledSet, compile_rules
from ruleatlas.engine.comparisons import Regex
from ruleatlas.model import RuleKind
from ruleatlas.sources.sigma import read_sigma_tree

pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> CompiledSet:
    result = read_sigma_tree(shared_dir / "corpus" / "sigma")
    return compile_rules(result.rules, kinds=frozenset(RuleKind))


def test_every_sigmahq_rule_outside_unsupported_compiles(corpus: CompiledSet) -> None:
    assert len(corpus.rules) > 3500
    for problem in corpus.problems:
        assert problem.file and problem.rule_uid and problem.message
        if problem.severity == "error":
            # rules the parser already refused (legacy `| count() by` / `| near` aggregations, ...) are
            # all the engine refuses, and they sit in unsupported/ and deprecated/
            assert problem.file.startswith(("unsupported/", "deprecated/")), (problem.file, problem.message)
            assert "parse error(s)" in problem.message, problem.message
        else:
            assert "placeholder" in problem.message and "has no configured value" in problem.message, problem


def test_the_invoke_obfuscation_regex_runs_guarded(corpus: CompiledSet) -> None:
    rule = next(r for r in corpus.rules if r.uid.endswith("proc_creation_win_hktl_invoke_obfuscation_var"))
    assert isinstance(rule.matcher, Regex) and rule.matcher.guarded
    assert not rule.match({"CommandLine": 'cmd /c"set abc {0}\\" -f' + ")" * 40})


def _documents(path: Path) -> list[dict[str, AnyType]]:
    text = path.read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    docs: list[dict[str, AnyType]] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return docs
        obj, pos = decoder.raw_decode(text, pos)
        docs.extend(obj if isinstance(obj, list) else [obj])


def _flatten(doc: dict[str, AnyType]) -> dict[str, object]:
    """evtx2json's Event/System/EventData as Sigma field names (System attributes as Tag_Attribute)."""
    event = doc.get("Event", doc)
    fields: dict[str, object] = {}
    for key, value in event.get("System", {}).items():
        if isinstance(value, dict):
            for attr, attr_value in value.get("#attributes", {}).items():
                fields[f"{key}_{attr}"] = attr_value
        else:
            fields[key] = value
    for section in ("EventData", "UserData"):
        data = event.get(section)
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if key == "#attributes":
                continue
            if section == "UserData" and isinstance(value, dict):
                fields.update({k: v for k, v in value.items() if k != "#attributes"})
            else:
                fields[key.replace(" ", "")] = value  # spec: field names without spaces
    return fields


@pytest.fixture(scope="module")
def regression(shared_dir: Path) -> list[tuple[str, list[dict[str, object]]]]:
    root = shared_dir / "corpus" / "sigma" / "regression_data"
    out = []
    for info in sorted(root.rglob("info.yml")):
        meta = yaml.safe_load(info.read_text(encoding="utf-8"))
        events = [_flatten(d) for path in sorted(info.parent.glob("*.json")) for d in _documents(path)]
        if events:  # some samples are .evtx or raw logs only
            out.extend((str(rm["id"]).lower(), events) for rm in meta.get("rule_metadata", []))
    return out


def test_regression_samples_match_their_rules(
    corpus: CompiledSet, regression: list[tuple[str, list[dict[str, object]]]]
) -> None:
    by_id = {r.rule.id.lower(): r for r in corpus.rules}
    assert len(regression) > 100
    for rule_id, events in regression:
        rule = by_id[rule_id]
        assert any(rule.match(e) for e in events), f"{rule.uid} misses its regression sample"


def test_required_literals_sound_on_regression_events(
    corpus: CompiledSet, regression: list[tuple[str, list[dict[str, object]]]]
) -> None:
    events = [e for _, evs in regression for e in evs]
    texts = [event_text(e) for e in events]
    with_literals = [r for r in corpus.rules if r.required_literals is not None]
    assert len(with_literals) > 0.9 * len(corpus.rules)
    matches = 0
    for rule in corpus.rules:
        literals = rule.required_literals
        for event, text in zip(events, texts, strict=True):
            hit = rule.match(event)
            assert hit == rule.matcher(event, {}), (rule.uid, "generated code and matcher tree differ")
            if hit:
                matches += 1
                if literals is not None:
                    assert any(lit in text for lit in literals), (rule.uid, sorted(literals))
    assert matches >= len(regression)
