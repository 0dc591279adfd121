"""Panther's YAML logic: correlation rules (`Detection: - Group/Sequence`) and simple YAML detections
(`Detection: - Key/Condition/Value`).

A correlation becomes the rule's `Correlation`: `Group` (the rules' alerts co-occur, any order) is Sigma's
temporal type, `Sequence` (ordered, with `Transitions`) is a sequence; `rules` are the RuleIDs, `group_by` the
fields `MatchCriteria`/`Transitions` join on, the window `LookbackWindowMinutes`. A simple YAML detection
becomes one `filter` stage of predicates; a condition this table does not know leaves the logic unparsed with
a Problem, rather than guessing.
"""

from __future__ import annotations

from typing import Any

from ruleatlas.model import All, Correlation, CorrelationType, Expr, Kind, Not, Pred, Stage, StageOp
from ruleatlas.model import Any as AnyOf
from ruleatlas.sources.common import text

# Panther condition → (kind, negated). Panther compares values exactly (case-sensitive).
CONDITIONS: dict[str, tuple[Kind, bool]] = {
    "Equals": (Kind.EQ, False),
    "DoesNotEqual": (Kind.EQ, True),
    "Contains": (Kind.CONTAINS, False),
    "DoesNotContain": (Kind.CONTAINS, True),
    "StartsWith": (Kind.STARTS_WITH, False),
    "DoesNotStartWith": (Kind.STARTS_WITH, True),
    "EndsWith": (Kind.ENDS_WITH, False),
    "DoesNotEndWith": (Kind.ENDS_WITH, True),
    "IsGreaterThan": (Kind.GT, False),
    "IsGreaterThanOrEquals": (Kind.GE, False),
    "IsLessThan": (Kind.LT, False),
    "IsLessThanOrEquals": (Kind.LE, False),
    "IsIn": (Kind.EQ, False),
    "IsNotIn": (Kind.EQ, True),
    "Exists": (Kind.EXISTS, False),
    "DoesNotExist": (Kind.EXISTS, False),  # Sigma's shape: `exists` with value False, not a negation
}


class UnknownCondition(ValueError):
    pass


def correlation(detection: Any) -> Correlation | None:
    """The correlation of a `Detection:` list whose entry has `Group` or `Sequence`, else None."""
    entry = detection[0] if isinstance(detection, list) and detection else detection
    if not isinstance(entry, dict) or not ("Group" in entry or "Sequence" in entry):
        return None
    ordered = "Sequence" in entry
    steps = entry.get("Sequence" if ordered else "Group")
    steps = [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
    group_by: list[str] = []
    criteria = entry.get("MatchCriteria")
    for matches in criteria.values() if isinstance(criteria, dict) else []:
        for match in matches if isinstance(matches, list) else []:
            field = text(match.get("Match")) if isinstance(match, dict) else ""
            if field and field not in group_by:
                group_by.append(field)
    for transition in entry.get("Transitions") or []:
        for match in transition.get("Match") or [] if isinstance(transition, dict) else []:
            for field in match.values() if isinstance(match, dict) else []:
                if text(field) and text(field) not in group_by:
                    group_by.append(text(field))
    condition: dict[str, Any] = {}
    absent = [text(s.get("ID")) for s in steps if s.get("Absence") is True]
    if absent:
        condition["absent"] = absent
    minimums = [f"{text(s.get('ID'))}: {s['MinMatchCount']}" for s in steps if s.get("MinMatchCount")]
    if minimums:
        condition["min_matches"] = minimums
    minutes = entry.get("LookbackWindowMinutes")
    minutes = minutes if isinstance(minutes, int) and not isinstance(minutes, bool) else None
    return Correlation(
        CorrelationType.SEQUENCE if ordered else CorrelationType.TEMPORAL,
        tuple(text(s.get("RuleID")) for s in steps if s.get("RuleID")),
        tuple(group_by),
        f"{minutes}m" if minutes is not None else "",
        minutes * 60 if minutes is not None else None,
        condition=condition,
    )


def simple_stage(detection: Any) -> Stage:
    """The filter stage of a Key/Condition/Value detection (a list of them is ANDed); UnknownCondition if a
    condition or combinator is not one this module knows."""
    items = detection if isinstance(detection, list) else [detection]
    expr = _all([_expr(item) for item in items])
    return Stage(0, "Detection", StageOp.FILTER, _native(detection), expr)


def _all(exprs: list[Expr]) -> Expr:
    return exprs[0] if len(exprs) == 1 else All(tuple(exprs))


def _expr(item: Any) -> Expr:
    if not isinstance(item, dict):
        raise UnknownCondition(f"detection item is not a mapping: {item!r}")
    for combinator in ("All", "Any"):
        if combinator in item:
            parts = [_expr(child) for child in item[combinator] or []]
            return _all(parts) if combinator == "All" else AnyOf(tuple(parts))
    condition = text(item.get("Condition"))
    if condition not in CONDITIONS:
        raise UnknownCondition(f"unknown condition '{condition}'")
    kind, negated = CONDITIONS[condition]
    key = text(item.get("Key"))
    value = item.get("Values") if condition in ("IsIn", "IsNotIn") else item.get("Value")
    if kind is Kind.EXISTS:
        return Pred(key, kind, condition == "Exists", native=f"{key} {condition}")
    native = f"{key} {condition} {value!r}"
    if isinstance(value, list):
        pred: Expr = AnyOf(tuple(Pred(key, kind, _scalar(v), cased=True, native=native) for v in value))
    else:
        pred = Pred(key, kind, _scalar(value), cased=True, native=native)
    return Not(pred) if negated else pred


def _scalar(value: Any) -> str | int | float | bool | None:
    return value if isinstance(value, str | int | float | bool) or value is None else text(value)


def _native(detection: Any) -> str:
    items = detection if isinstance(detection, list) else [detection]
    lines = []
    for item in items:
        if isinstance(item, dict) and "Key" in item:
            value = item.get("Values", item.get("Value", ""))
            lines.append(f"{item.get('Key')} {item.get('Condition')} {value}")
        else:
            lines.append(text(item))
    return "\n".join(lines)
