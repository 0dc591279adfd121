"""Panther's own unit tests as the oracle of the reduced Python logic.

A Panther item's YAML lists `Tests:` with an event (`Log:`, `Resource:` for policies) and `ExpectedResult`.
For the events on which the detection alerts (a rule's `ExpectedResult: true`, a policy's `false`), the
stage's expression must hold; this module evaluates it on the event, three-valued: a predicate it cannot
decide (a data-model name read through `event.udm`, a list's members) is unknown, and an unknown expression
does not count against the reduction. Nothing here runs the rule's Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any as AnyValue

from ruleatlas.model import MEMBERSHIP, All, Any, Expr, Kind, Not, Pred, Ref, Scalar

Truth = bool | None  # None: unknown
_MISSING = object()


@dataclass(slots=True)
class OracleCount:
    events: int = 0  # alerting test events of rules with a reduced expression
    satisfied: int = 0  # ... on which the expression holds or is unknown
    contradicted: int = 0  # ... on which it is false

    @property
    def share(self) -> float:
        return self.satisfied / self.events if self.events else 0.0


def alerting_events(tests: AnyValue, policy: bool) -> list[dict[str, AnyValue]]:
    """The test events on which the detection is expected to alert."""
    out: list[dict[str, AnyValue]] = []
    for test in tests if isinstance(tests, list) else []:
        if not isinstance(test, dict):
            continue
        expected = test.get("ExpectedResult")
        event = test.get("Resource" if policy else "Log", test.get("Log", test.get("Resource")))
        if isinstance(event, dict) and expected is (not policy):
            out.append(event)
    return out


def evaluate(expr: Expr, event: dict[str, AnyValue]) -> Truth:
    if isinstance(expr, Pred):
        return _pred(expr, event)
    if isinstance(expr, Not):
        inner = evaluate(expr.item, event)
        return None if inner is None else not inner
    if isinstance(expr, Ref):
        return None
    results = [evaluate(item, event) for item in expr.items]
    if isinstance(expr, All):
        return False if False in results else None if None in results else True
    assert isinstance(expr, Any)
    return True if True in results else None if None in results else False


def _values(event: AnyValue, path: str) -> list[AnyValue]:
    """The values at a dotted path; a list on the way is searched element by element."""
    current: list[AnyValue] = [event]
    for key in path.split("."):
        step: list[AnyValue] = []
        for item in current:
            for mapping in item if isinstance(item, list) else [item]:
                if isinstance(mapping, dict):
                    step += _get(mapping, key)
        current = step
    return current


def _get(mapping: dict[str, AnyValue], key: str) -> list[AnyValue]:
    """The key's value; else the value of the one key that differs only in case (some test events spell
    Okta's `eventType` as `eventtype`, and the rule still reads it there)."""
    if key in mapping:
        return [mapping[key]]
    folded = [v for k, v in mapping.items() if isinstance(k, str) and k.casefold() == key.casefold()]
    return folded[:1]


def _pred(pred: Pred, event: dict[str, AnyValue]) -> Truth:
    if pred.field is None or MEMBERSHIP in pred.transforms or ".udm(" in pred.native:
        return None
    values = [v for v in _values(event, pred.field) if v is not None]
    if pred.kind is Kind.EXISTS:
        # `is None` compares with None; any other field read is Python truthiness (False, 0, "" are false)
        none_test = " is None" in pred.native or " is not None" in pred.native
        present = bool(values) if none_test else any(bool(v) for v in values)
        return present if pred.value is not False else not present
    return any(_compare(pred, v) for v in values)


def _compare(pred: Pred, value: AnyValue) -> bool:
    want: Scalar = pred.value
    if isinstance(value, list):
        if pred.kind is Kind.CONTAINS and not isinstance(want, str | type(None)):
            return want in value
        return any(_compare(pred, v) for v in value) or (pred.kind is Kind.CONTAINS and want in value)
    if pred.kind in (Kind.LT, Kind.LE, Kind.GT, Kind.GE):
        try:
            left, right = float(value), float(want)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return {Kind.LT: left < right, Kind.LE: left <= right, Kind.GT: left > right, Kind.GE: left >= right}[
            pred.kind
        ]
    if isinstance(want, bool) or not isinstance(want, str):
        return bool(value == want)
    text = value if isinstance(value, str) else str(value)
    if not pred.cased:
        text, want = text.casefold(), want.casefold()
    if pred.kind is Kind.EQ:
        return text == want
    if pred.kind is Kind.CONTAINS:
        return want in text
    if pred.kind is Kind.STARTS_WITH:
        return text.startswith(want)
    if pred.kind is Kind.ENDS_WITH:
        return text.endswith(want)
    if pred.kind is Kind.REGEX:
        try:
            return re.search(want, text) is not None
        except re.error:
            return False
    return False
