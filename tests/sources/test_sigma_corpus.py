"""The real corpus (../shared): every SigmaHQ file parses or is a reported problem; the seed page's stages;
and, on a sample, the same predicates as pySigma."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any as TypingAny

import pytest

from ruleatlas.model import All, Any, Kind, Pred, Ref, RuleKind, SourceResult, Wild, walk_preds
from ruleatlas.sources.sigma import list_sigma_files, parse_sigma_file, read_sigma_tree
from ruleatlas.sources.sigma_modifiers import classify

pytestmark = pytest.mark.corpus

SEED = "rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel.yml"


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> SourceResult:
    return read_sigma_tree(shared_dir / "corpus" / "sigma", repo_url="https://github.com/SigmaHQ/sigma")


def test_whole_corpus_parses_and_every_file_is_accounted_for(corpus: SourceResult, shared_dir: Path) -> None:
    listed = {rel for _p, rel, _f in list_sigma_files(shared_dir / "corpus" / "sigma")}
    assert corpus.files == len(listed) == 4039
    assert corpus.files_per_folder == {
        "deprecated": 172,
        "rules": 3141,
        "rules-compliance": 3,
        "rules-emerging-threats": 473,
        "rules-placeholder": 23,
        "rules-threat-hunting": 140,
        "unsupported": 87,
    }
    assert {r.source.path for r in corpus.rules} | {p.file for p in corpus.errors} == listed
    assert corpus.errors == []  # no SigmaHQ file is unusable as a whole
    assert len(corpus.rules) == 4041  # two Sigma 1.x collections in unsupported/ hold two rules each
    assert len({r.uid for r in corpus.rules}) == len(corpus.rules)

    problems = [p for r in corpus.rules for p in r.problems]
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    print(
        f"\nsigma corpus: {corpus.files} files, {len(corpus.rules)} rules, "
        f"{len(errors)} errors, {len(warnings)} warnings"
    )
    for kind, count in Counter(p.message.split("'")[0] for p in errors).most_common():
        print(f"  error x{count}: {kind}")
    # Every error is a Sigma 1.x construct the spec dropped (pipe aggregations, 'near', free-text
    # conditions), all in unsupported/ plus one deprecated rule: the same 59 files pySigma rejects.
    assert len(errors) == 59
    assert all(p.message.startswith("condition: ") for p in errors)
    assert {p.file.split("/")[0] for p in errors} == {"unsupported", "deprecated"}
    legacy = [p for p in errors if "legacy aggregation" in p.message]
    assert len(legacy) == 56  # 55 '| count() ...' / '| near ...' and one 'count(...) per ...'
    free_text = [p for p in errors if p not in legacy]
    assert [p.message.split(",")[0] for p in free_text] == ["condition: condition names 'write'"] * 3
    assert all(p.line is not None and p.hint for p in errors)
    # Warnings: the legacy detection key 'timeframe', next to those aggregations.
    assert len(warnings) == 49
    assert {p.message for p in warnings} == {
        "'timeframe' in detection is Sigma 1.x aggregation syntax and is ignored"
    }
    # Rules outside unsupported/ and deprecated/ are clean.
    assert not [p for r in corpus.rules if r.folder.startswith("rules") for p in r.problems]


def test_kinds_and_collisions_in_the_corpus(corpus: SourceResult) -> None:
    kinds = Counter(r.kind for r in corpus.rules)
    assert kinds[RuleKind.HUNTING] == 140
    assert kinds[RuleKind.UNSUPPORTED] == 89
    assert kinds[RuleKind.DEPRECATED] == 172
    by_path = {r.source.path: r.uid for r in corpus.rules}
    assert by_path["rules/windows/process_creation/proc_creation_win_renamed_paexec.yml"] == (
        "sigma/proc_creation_win_renamed_paexec"
    )
    assert by_path["deprecated/windows/proc_creation_win_renamed_paexec.yml"] == (
        "sigma/proc_creation_win_renamed_paexec-deprecated"
    )


def test_seed_page_stages(corpus: SourceResult, shared_dir: Path) -> None:
    [rule] = [r for r in corpus.rules if r.source.path == SEED]
    assert rule.uid == "sigma/net_connection_win_domain_localtonet_tunnel"
    assert rule.body == (shared_dir / "corpus" / "sigma" / SEED).read_text()
    assert rule.source.url == f"https://github.com/SigmaHQ/sigma/blob/master/{SEED}"
    assert (rule.title, rule.status, rule.level) == (
        "Communication To LocaltoNet Tunneling Service Initiated",
        "test",
        "high",
    )
    assert rule.logsource == {"category": "network_connection", "product": "windows"}
    assert rule.authors == ("Andreas Braathen (mnemonic.io)",)
    assert set(rule.attack_ids) == {"T1572", "T1090", "T1102"}

    # The seed page's "Stages and Predicates" section.
    seed_page = (shared_dir / "reference" / "seed-rule-page.txt").read_text()
    stage0, stage1 = rule.stages
    assert (stage0.label, stage0.text, stage0.line, stage0.expr) == (
        "condition",
        "selection",
        27,
        Ref("selection"),
    )
    assert (stage1.label, stage1.line) == ("selection", 22)
    assert (
        f"Stage 0: condition\n\n{stage0.text}\n\nStage 1: selection\n\n{stage1.text}\n\nIndicators"
        in seed_page
    )
    assert stage1.expr == All(
        (
            Any(
                (
                    Pred(
                        "DestinationHostname",
                        Kind.ENDS_WITH,
                        ".localto.net",
                        native="DestinationHostname|endswith",
                    ),
                    Pred(
                        "DestinationHostname",
                        Kind.ENDS_WITH,
                        ".localtonet.com",
                        native="DestinationHostname|endswith",
                    ),
                )
            ),
            Pred("Initiated", Kind.EQ, "true", native="Initiated"),
        )
    )


def test_specification_examples_parse_cleanly(shared_dir: Path) -> None:
    root = shared_dir / "corpus" / "sigma-specification" / "tests" / "schema"
    files = sorted(root.rglob("*.yml"))
    assert len(files) == 12
    kinds = Counter()
    for path in files:
        rules, problems = parse_sigma_file(path.read_text(), path.relative_to(root).as_posix(), "x")
        assert problems == []
        assert [r.problems for r in rules] == [[]]
        kinds[rules[0].kind] += 1
    assert kinds == {RuleKind.CORRELATION: 8, RuleKind.FILTER: 2, RuleKind.DETECTION: 2}


# --- the same predicates as pySigma, on a sample -------------------------------------------------------

_TRANSFORMING = {
    "SigmaWindowsDashModifier",
    "SigmaBase64OffsetModifier",
    "SigmaBase64Modifier",
    "SigmaWideModifier",
    "SigmaUTF16BEModifier",
    "SigmaUTF16Modifier",
    "SigmaExpandModifier",
}


def _pysigma_preds(detection: TypingAny, out: Counter[tuple[object, ...]]) -> None:
    from sigma.rule import SigmaDetection
    from sigma.types import (
        SigmaBool,
        SigmaCasedString,
        SigmaCIDRExpression,
        SigmaCompareExpression,
        SigmaExists,
        SigmaFieldReference,
        SigmaNull,
        SigmaNumber,
        SigmaRegularExpression,
        SigmaString,
        SpecialChars,
    )

    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            _pysigma_preds(item, out)
            continue
        if {m.__name__ for m in item.modifiers} & _TRANSFORMING:
            continue  # values rewritten by pySigma (encodings, windash): we keep them as written + transforms
        for value in item.value or [SigmaNull()]:
            if isinstance(value, SigmaString):
                parts: list[str | Wild] = []
                for part in value.s:
                    if part is SpecialChars.WILDCARD_MULTI:
                        if not (parts and parts[-1] is Wild.STAR):
                            parts.append(Wild.STAR)
                    elif part is SpecialChars.WILDCARD_SINGLE:
                        parts.append(Wild.ONE)
                    elif parts and isinstance(parts[-1], str):
                        parts[-1] += str(part)
                    else:
                        parts.append(str(part))
                kind, text = classify(parts)
                out[(item.field, kind.value, text, isinstance(value, SigmaCasedString))] += 1
            elif isinstance(value, SigmaRegularExpression):
                out[(item.field, "regex", str(value.regexp), False)] += 1
            elif isinstance(value, SigmaCIDRExpression):
                out[(item.field, "cidr", value.cidr, False)] += 1
            elif isinstance(value, SigmaCompareExpression):
                ops = {"LT": "lt", "LTE": "le", "GT": "gt", "GTE": "ge"}
                out[(item.field, ops[value.op.name], value.number.number, False)] += 1
            elif isinstance(value, SigmaNumber):
                out[(item.field, "eq", value.number, False)] += 1
            elif isinstance(value, SigmaBool):
                out[(item.field, "eq", value.boolean, False)] += 1
            elif isinstance(value, SigmaNull):
                out[(item.field, "eq", None, False)] += 1
            elif isinstance(value, SigmaExists):
                out[(item.field, "exists", value.exists, False)] += 1
            elif isinstance(value, SigmaFieldReference):
                out[(item.field, "fieldref", value.field, False)] += 1


def test_same_predicates_as_pysigma_on_a_sample(shared_dir: Path) -> None:
    from sigma.collection import SigmaCollection

    files = list_sigma_files(shared_dir / "corpus" / "sigma")
    sample = [f for f in files if f[2] not in ("unsupported", "deprecated")][::8]
    compared = 0
    for path, rel, folder in sample:
        text = path.read_text()
        theirs = SigmaCollection.from_yaml(text, collect_errors=True).rules
        ours, _ = parse_sigma_file(text, rel, folder)
        assert len(theirs) == len(ours), rel
        for their_rule, our_rule in zip(theirs, ours, strict=True):
            detections = getattr(getattr(their_rule, "detection", None), "detections", {})
            for name, detection in detections.items():
                expected: Counter[tuple[object, ...]] = Counter()
                _pysigma_preds(detection, expected)
                [stage] = [s for s in our_rule.stages if s.label == name]
                got: Counter[tuple[object, ...]] = Counter(
                    (p.field, p.kind.value, p.value, p.cased)
                    for p, _negated in walk_preds(stage.expr)
                    if not set(p.transforms)
                    & {"windash", "base64offset", "base64", "utf16le", "utf16be", "utf16", "expand"}
                )
                assert got == expected, (rel, name)
                compared += 1
    assert compared > 800
