"""Helpers for the matcher tests (test_match_*.py): rules from YAML or hand-built IR, the event text."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any as AnyType

import yaml

from ruleatlas.engine import CompiledSet, compile_rules
from ruleatlas.engine.values import scalar_text
from ruleatlas.model import Expr, Kind, Pred, Problem, Ref, Rule, SourceRef, Stage
from ruleatlas.sources.sigma import parse_sigma_file

CASES_FILE = Path(__file__).resolve().parents[1] / "data" / "engine" / "match_cases.yml"


def load_cases() -> list[dict[str, AnyType]]:
    return yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))


def rule_text(detection: str, *, title: str = "case", extra: str = "") -> str:
    body = "".join(f"    {line}\n" if line else "\n" for line in detection.splitlines())
    return (
        f"title: {title}\n{extra}logsource:\n    category: test\n    product: test\n"
        f"detection:\n{body}level: low\n"
    )


def parse_rules(text: str, path: str = "rules/case.yml") -> list[Rule]:
    rules, problems = parse_sigma_file(text, path, "rules")
    assert not problems, [p.message for p in problems]
    for rule in rules:
        assert not [p for p in rule.problems if p.severity == "error"], [p.message for p in rule.problems]
    return rules


def compile_detection(detection: str, placeholders: Mapping[str, AnyType] | None = None) -> CompiledSet:
    return compile_rules(parse_rules(rule_text(detection)), placeholders=placeholders)


def pred(field: str | None, kind: Kind | str, value: AnyType, **kw: AnyType) -> Pred:
    return Pred(field, Kind(kind), value, **kw)


def ir_rule(
    condition: Expr,
    searches: Mapping[str, Expr | None] | None = None,
    *,
    uid: str = "sigma/ir_rule",
    problems: list[Problem] | None = None,
) -> Rule:
    """A detection rule built by hand: stage 0 the condition, then one stage per search identifier."""
    stages = [Stage(0, "condition", "condition", "", condition, line=9)]
    for index, (name, expr) in enumerate((searches or {}).items(), start=1):
        stages.append(Stage(index, name, "search", "", expr, line=3 + index))
    return Rule(
        uid=uid,
        vendor="sigma",
        language="sigma",
        source=SourceRef(repo="test", path=f"rules/{uid.split('/')[-1]}.yml"),
        folder="rules",
        title=uid,
        logsource={"category": "test", "product": "test"},
        stages=stages,
        problems=problems or [],
    )


def one_pred_rule(p: Pred, uid: str = "sigma/one_pred") -> Rule:
    return ir_rule(Ref("sel"), {"sel": p}, uid=uid)


def event_text(fields: Mapping[str, object]) -> str:
    """The case-folded concatenation of every value text of an event (the prefilter's contract)."""
    parts: list[str] = []
    stack: list[object] = list(fields.values())
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
        else:
            text = scalar_text(value)
            if text is not None:
                parts.append(text)
    return "\x00".join(parts).casefold()
