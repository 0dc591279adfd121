"""A Sigma correlation document's `correlation:` section → `Correlation` and its condition stage.

Follows sigma-correlation-rules-specification.md v2.1 and pySigma's `SigmaCorrelationRule.from_dict`
where the spec is silent: the 8 types (pySigma adds `value_median`), `rules` as a string or list, `group-by`
as a string or list, `timespan` as count + unit (s, m, h, d, and pySigma's w, M, y), a condition map with
exactly one of gt/gte/lt/lte/eq/neq plus `field` (required by the value_* types) and `percentile`, or, for
temporal types, pySigma's extended string condition over rule names (kept as {"expression": text}).
A temporal correlation without condition keeps condition {} (pySigma then requires all rules: gte = count).
"""

from __future__ import annotations

import difflib

from yaml.nodes import MappingNode, Node, ScalarNode

from ruleatlas.model import (
    FIELD_TYPES,
    SIGMA_CORRELATION_TYPES,
    TEMPORAL_TYPES,
    Correlation,
    Expr,
    Scalar,
    Stage,
    timespan_seconds,
)
from ruleatlas.sources.sigma_condition import ConditionError, parse_condition
from ruleatlas.sources.sigma_detection import Issues
from ruleatlas.sources.yaml_load import items, line_of, slice_text, to_python

CORRELATION_TYPES = SIGMA_CORRELATION_TYPES
OPERATORS = ("gt", "gte", "lt", "lte", "eq", "neq")


def build_correlation(
    key: Node, node: Node, text: str, issues: Issues
) -> tuple[Correlation | None, list[Stage]]:
    line = line_of(key)
    if not isinstance(node, MappingNode):
        issues.add("'correlation' must be a mapping (type, rules, group-by, timespan, condition)", line)
        return None, [Stage(0, "condition", "condition", "", None, line)]
    entries = items(node)
    for problem in entries.problems:
        issues.add(problem.message, problem.line, problem.hint)
    found = {name: (k, v) for name, k, v in entries.entries}

    def where(name: str) -> int:
        return line_of(found[name][0]) if name in found else line

    data = {name: to_python(v) for name, (_k, v) in found.items()}
    ctype = _type(data.get("type"), where("type"), issues)
    rules = _names(data.get("rules"), "rules", where("rules"), issues)
    group_by = _names(data.get("group-by"), "group-by", where("group-by"), issues)
    span = data.get("timespan")
    seconds = None
    if span is None:
        issues.add("correlation has no 'timespan'", line, "e.g. 'timespan: 10m' (s, m, h, d)")
    elif not isinstance(span, str) or (seconds := timespan_seconds(span)) is None:
        issues.add(
            f"invalid timespan '{span}'",
            where("timespan"),
            "a positive number and a unit: s, m, h or d (pySigma also takes w, M, y), e.g. '90m'",
        )
    aliases = _aliases(data.get("aliases"), where("aliases"), issues)
    generate = data.get("generate", False)
    if not isinstance(generate, bool):
        issues.add("'generate' must be true or false", where("generate"))
        generate = False

    condition: dict[str, Scalar | list[Scalar]] = {}
    expr: Expr | None = None
    stage_text = ""
    raw = data.get("condition")
    if "condition" in found:
        cond_key, cond_node = found["condition"]
        stage_text = _condition_text(text, cond_node)
        if isinstance(raw, dict):
            condition = _condition_map(raw, ctype, where("condition"), issues)
        elif isinstance(raw, str) and ctype in TEMPORAL_TYPES:
            condition = {"expression": raw}
            try:
                expr = parse_condition(raw, None, quantifiers=False)
            except ConditionError as exc:
                issues.add(f"correlation condition: {exc.message}", line_of(cond_key), exc.hint)
        else:
            issues.add(
                "correlation condition must be a map such as {gte: 10}"
                + (" or, for temporal types, a string over rule names" if ctype in TEMPORAL_TYPES else ""),
                line_of(cond_key),
            )
    elif ctype is not None and ctype not in TEMPORAL_TYPES:
        issues.add(f"{ctype} correlation has no 'condition'", line, "e.g. 'condition: {gte: 10}'")
    if ctype in FIELD_TYPES and "field" not in condition and isinstance(raw, dict):
        issues.add(
            f"{ctype} correlation needs 'field' in its condition",
            where("condition"),
            "name the field to aggregate",
        )
    if not rules and not (ctype in TEMPORAL_TYPES and expr is not None) and "rules" not in found:
        issues.add("correlation has no 'rules'", line, "list the ids or names of the rules to correlate")

    correlation = Correlation(
        type=ctype or _text(data.get("type")),
        rules=rules,
        group_by=group_by,
        timespan=_text(span),
        timespan_seconds=seconds,
        condition=condition,
        aliases=aliases,
        generate=generate,
    )
    stage_line = line_of(found["condition"][0]) if "condition" in found else line
    return correlation, [Stage(0, "condition", "condition", stage_text, expr, stage_line)]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _type(value: object, line: int, issues: Issues) -> str | None:
    if value is None:
        issues.add("correlation has no 'type'", line, "one of: " + ", ".join(CORRELATION_TYPES))
        return None
    if value not in CORRELATION_TYPES:
        near = difflib.get_close_matches(str(value), CORRELATION_TYPES, n=2, cutoff=0.5)
        hint = f"did you mean {' or '.join(near)}?" if near else "one of: " + ", ".join(CORRELATION_TYPES)
        issues.add(f"unknown correlation type '{value}'", line, hint)
        return None
    return str(value)


def _names(value: object, what: str, line: int, issues: Issues) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return tuple(str(v) for v in value)
    issues.add(f"correlation '{what}' must be a name or a list of names", line)
    return ()


def _aliases(value: object, line: int, issues: Issues) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
        return {
            str(alias): {str(r): _text(f) for r, f in mapping.items()} for alias, mapping in value.items()
        }
    issues.add("correlation 'aliases' must map each alias to {rule name: field}", line)
    return {}


def _condition_map(
    raw: dict[str, object], ctype: str | None, line: int, issues: Issues
) -> dict[str, Scalar | list[Scalar]]:
    ops = [op for op in OPERATORS if op in raw]
    unknown = [key for key in raw if key not in OPERATORS and key not in ("field", "percentile")]
    if unknown:
        issues.add(
            f"correlation condition has unknown key(s): {', '.join(unknown)}",
            line,
            "allowed: " + ", ".join((*OPERATORS, "field", "percentile")),
        )
    if len(ops) != 1:
        issues.add(
            f"correlation condition must have exactly one of {', '.join(OPERATORS)} (found {len(ops)})",
            line,
            "chain correlations for ranges, e.g. one rule with gt and another with lte",
        )
    out: dict[str, Scalar | list[Scalar]] = {}
    for key, value in raw.items():
        if key in OPERATORS:
            if isinstance(value, bool) or not isinstance(value, int | float | str) or not _is_int(value):
                issues.add(f"correlation condition '{key}: {value}' needs a whole number", line)
                continue
            out[key] = int(value)
        elif key == "field":
            if isinstance(value, list):
                out[key] = [_text(v) for v in value]
            else:
                out[key] = _text(value)
        elif key == "percentile":
            out[key] = (
                value if isinstance(value, int | float) and not isinstance(value, bool) else _text(value)
            )
    return out


def _is_int(value: int | float | str) -> bool:
    try:
        int(value)
    except ValueError:
        return False
    return True


def _condition_text(text: str, node: Node) -> str:
    if isinstance(node, ScalarNode):
        return str(node.value)
    if isinstance(node, MappingNode) and node.value and not node.flow_style:
        return slice_text(text, node.value[0][0], node.value[-1][1])
    start, end = int(node.start_mark.index), int(node.end_mark.index)
    return text[start:end].strip()
