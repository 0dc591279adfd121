"""A rule's Kibana `filters` (Elasticsearch query DSL in the TOML) as extra filter stages, ANDed with the
query.

Each filter is one stage: `exists`, `wildcard` (backslash escapes, `case_insensitive`), `prefix`,
`match_phrase`/`match`/`term` (equality), `terms` (any of), `range`, and `bool` (`must`/`filter` all,
`should` any, `must_not` none); `meta.negate` wraps the stage in `Not`. A clause this reader does not know
keeps its JSON as the stage text, without an expression.
"""

from __future__ import annotations

import json
from typing import Any

from ruleatlas.model import All, Expr, Kind, Not, Pred, Scalar, Stage, StageOp
from ruleatlas.sources.elastic.values import is_scope, one_or_any, wildcard_pred

_RANGE_KINDS = {"lt": Kind.LT, "lte": Kind.LE, "gt": Kind.GT, "gte": Kind.GE}


def filter_stages(filters: Any, line: int, start: int) -> list[Stage]:
    stages: list[Stage] = []
    for item in filters if isinstance(filters, list) else []:
        if not isinstance(item, dict):
            continue
        query = item.get("query")
        meta = item.get("meta")
        negate = isinstance(meta, dict) and meta.get("negate") is True
        expr = dsl_expr(query)
        if expr is not None and negate:
            expr = Not(expr)
        words = json.dumps(query, ensure_ascii=False, sort_keys=True)
        stages.append(
            Stage(
                start + len(stages),
                "filter (negated)" if negate else "filter",
                StageOp.FILTER,
                f"NOT {words}" if negate else words,
                expr,
                line,
            )
        )
    return stages


def dsl_expr(query: Any) -> Expr | None:
    """One query DSL clause as an expression, or None when it is not one this reader knows."""
    if not isinstance(query, dict) or len(query) != 1:
        return None
    ((name, spec),) = query.items()
    if name == "bool" and isinstance(spec, dict):
        return _bool(spec)
    if not isinstance(spec, dict):
        return None
    if name == "exists":
        field = spec.get("field")
        return Pred(field, Kind.EXISTS, True, native=f"exists {field}") if isinstance(field, str) else None
    if len(spec) != 1:
        return None
    ((field, body),) = spec.items()
    native = json.dumps(query, ensure_ascii=False)
    if name == "terms" and isinstance(body, list):
        items: list[Expr] = [_eq(field, v, native) for v in body if _scalar(v)]
        return one_or_any(items) if items else None
    if name == "range" and isinstance(body, dict):
        bounds: list[Expr] = [
            Pred(field, _RANGE_KINDS[k], v, native=native) for k, v in body.items() if k in _RANGE_KINDS
        ]
        return (bounds[0] if len(bounds) == 1 else All(tuple(bounds))) if bounds else None
    value, insensitive = body, False
    if isinstance(body, dict):
        value = body.get("value", body.get("query"))
        insensitive = body.get("case_insensitive") is True
    if not _scalar(value):
        return None
    if name == "wildcard" and isinstance(value, str):
        return wildcard_pred(field, value, not insensitive, native, escapes=True)
    if name == "prefix" and isinstance(value, str):
        return Pred(field, Kind.STARTS_WITH, value, not insensitive, native=native, scope=is_scope(field))
    if name in ("match_phrase", "match", "term"):
        return _eq(field, value, native)
    return None


def _bool(spec: dict[str, Any]) -> Expr | None:
    parts: list[Expr] = []
    for key in ("must", "filter"):
        parts += [e for e in (dsl_expr(q) for q in _clauses(spec.get(key))) if e is not None]
    should = [e for e in (dsl_expr(q) for q in _clauses(spec.get("should"))) if e is not None]
    if should:
        parts.append(one_or_any(should))
    parts += [Not(e) for e in (dsl_expr(q) for q in _clauses(spec.get("must_not"))) if e is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _clauses(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, dict) else []


def _eq(field: str, value: Scalar, native: str) -> Pred:
    return Pred(field, Kind.EQ, value, cased=isinstance(value, str), native=native, scope=is_scope(field))


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
