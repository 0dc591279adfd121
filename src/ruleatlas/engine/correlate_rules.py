"""Sigma correlation rules made ready to run: references resolved, condition and timespan checked.

Follows sigma-correlation-rules-specification.md v2.1 and, where it is silent, pySigma 1.5.1
(`sigma/correlations.py` and the SQLite backend's correlation executor):

- `rules` refer to base rules or other correlations by `id` or `name`. A reference is looked up in the
  correlation's own file first (the spec's multi-document files), then in its repository, then everywhere.
  A reference that names no id or name but the `title` of a rule in the same file (Suzaku does this) is
  resolved with a warning. A reference matching several rules at the same level takes all of them (a rule
  copied between corpora keeps its id), with a warning.
- `condition` is a map of gt/gte/lt/lte/eq/neq, all of which must hold (the spec's "101 to 200" range), plus
  `field` (value_* types; a list for value_count counts distinct combinations) and `percentile`
  (value_percentile only: pySigma's key, a rank 0-100; the spec names no key). Temporal types without a
  condition require all their rules (pySigma: gte = number of rules).
- pySigma's extended temporal condition (a string over rule names, kept as {"expression": ...} with the
  parsed expression in stage 0) is run when it has no `not`: it holds when one of its and-terms has all its
  rules in the window. Negated references need windows that look forward past the event, which a streaming
  scan cannot close; such rules are reported and not run.
- `aliases` map an alias used in `group-by` (or `field`) to the field name per referenced rule; a rule
  without an entry uses the alias name itself (pySigma's SQL executor does the same).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ruleatlas.model import (
    FIELD_TYPES,
    SIGMA_CORRELATION_TYPES,
    TEMPORAL_TYPES,
    Any,
    Expr,
    Not,
    Pred,
    Problem,
    Ref,
    Rule,
    timespan_seconds,
    walk_refs,
)

CORRELATION_TYPES = frozenset(SIGMA_CORRELATION_TYPES)
NUMERIC_TYPES = FIELD_TYPES - {"value_count"}

CONDITION_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}
CONDITION_PARAMETERS = frozenset({"field", "percentile", "expression"})

parse_timespan = timespan_seconds  # the model's timespan vocabulary, under the engine's name


@dataclass(slots=True, frozen=True)
class Threshold:
    operator: str
    value: int | float

    def holds(self, metric: float) -> bool:
        return CONDITION_OPERATORS[self.operator](metric, self.value)


@dataclass(slots=True, frozen=True)
class Clause:
    """One and-term of an extended temporal condition: the slots that must all be in the window."""

    slots: frozenset[int]


@dataclass(slots=True)
class Slot:
    """One entry of a correlation's `rules`: the rules it names, the field names to read from their events."""

    reference: str
    rules: tuple[Rule, ...]
    group_fields: tuple[str, ...]
    value_fields: tuple[str, ...]


@dataclass(slots=True)
class CompiledCorrelation:
    rule: Rule
    type: str
    span_us: int
    group_by: tuple[str, ...]
    slots: tuple[Slot, ...]
    thresholds: tuple[Threshold, ...]
    percentile: float | None
    generate: bool
    clauses: tuple[Clause, ...] | None = None

    def holds(self, metric: float) -> bool:
        return all(threshold.holds(metric) for threshold in self.thresholds)


def compile_correlations(
    correlations: Sequence[Rule], base_rules: Sequence[Rule]
) -> tuple[list[CompiledCorrelation], list[Problem]]:
    """The correlations that can run, in input order, and a Problem for each thing wrong with any of them."""
    problems: list[Problem] = []
    index = _RuleIndex([*base_rules, *correlations])
    compiled: dict[str, CompiledCorrelation] = {}
    for rule in correlations:
        spec = _compile_one(rule, index, problems)
        if spec is not None:
            compiled[rule.uid] = spec
    _drop_cycles(compiled, problems)
    _drop_broken_dependencies(compiled, {rule.uid for rule in correlations}, problems)
    return [compiled[rule.uid] for rule in correlations if rule.uid in compiled], problems


def _problem(rule: Rule, message: str, hint: str = "", severity: str = "error") -> Problem:
    return Problem(rule.source.path, message, rule.line, hint, severity, rule.uid)


def _compile_one(rule: Rule, index: _RuleIndex, problems: list[Problem]) -> CompiledCorrelation | None:
    corr = rule.correlation
    if corr is None:
        problems.append(_problem(rule, "not a correlation rule (no 'correlation' section)"))
        return None
    before = len(problems)
    ctype = corr.type
    if ctype not in CORRELATION_TYPES:
        problems.append(
            _problem(
                rule, f"unknown correlation type '{ctype}'", "one of: " + ", ".join(sorted(CORRELATION_TYPES))
            )
        )
        return None

    seconds = corr.timespan_seconds if corr.timespan_seconds else parse_timespan(corr.timespan)
    if not seconds or seconds <= 0:
        problems.append(
            _problem(
                rule,
                f"invalid or missing timespan '{corr.timespan}'",
                "a number and a unit: s, m, h or d, e.g. 90m",
            )
        )

    condition = dict(corr.condition)
    unknown = sorted(
        key for key in condition if key not in CONDITION_OPERATORS and key not in CONDITION_PARAMETERS
    )
    if unknown:
        problems.append(
            _problem(
                rule,
                f"unknown condition key(s): {', '.join(unknown)}",
                "allowed: " + ", ".join([*CONDITION_OPERATORS, "field", "percentile"]),
            )
        )
    thresholds = _thresholds(rule, condition, problems)

    references = list(corr.rules)
    terms: list[frozenset[str]] | None = None
    expression = condition.get("expression")
    if expression is not None:
        terms, expr_names = _extended_terms(rule, str(expression), problems)
        for name in expr_names:
            if name not in references:
                references.append(name)
    if not references:
        problems.append(
            _problem(rule, "correlation refers to no rules", "list the ids or names under 'rules'")
        )

    if ctype in TEMPORAL_TYPES:
        if not thresholds and expression is None:
            # pySigma: a temporal correlation without condition needs every referenced rule.
            thresholds = (Threshold("gte", len(references)),)
    elif not thresholds:
        problems.append(
            _problem(rule, f"{ctype} correlation has no condition", "e.g. 'condition: {gte: 10}'")
        )

    value_fields = _value_fields(rule, ctype, condition.get("field"), problems)
    percentile = _percentile(rule, ctype, condition.get("percentile"), problems)

    if not corr.group_by:
        problems.append(
            _problem(
                rule,
                "correlation has no 'group-by': all matching events form one group",
                "the spec requires group-by; name the fields that scope the correlation, e.g. User",
                "warning",
            )
        )

    slots: list[Slot] = []
    used_alias_keys: set[tuple[str, str]] = set()
    for reference in references:
        targets = index.resolve(reference, rule, problems)
        if not targets:
            continue
        keys = {reference} | {t.name for t in targets if t.name} | {t.id for t in targets if t.id}
        group_fields = tuple(_alias(corr.aliases, name, keys, used_alias_keys) for name in corr.group_by)
        fields = tuple(_alias(corr.aliases, name, keys, used_alias_keys) for name in value_fields)
        slots.append(Slot(reference, targets, group_fields, fields))
    for alias, mapping in corr.aliases.items():
        for rule_key in mapping:
            if (alias, rule_key) not in used_alias_keys:
                problems.append(
                    _problem(
                        rule,
                        f"alias '{alias}' maps rule '{rule_key}', which this correlation does not refer to",
                        "alias keys are the names (or ids) listed under 'rules'",
                        "warning",
                    )
                )
    clauses: tuple[Clause, ...] | None = None
    if terms is not None:
        slot_of = {slot.reference: number for number, slot in enumerate(slots)}
        clauses = tuple(
            Clause(frozenset(slot_of[name] for name in term)) for term in terms if term <= slot_of.keys()
        )

    if any(p.severity == "error" for p in problems[before:]) or seconds is None:
        return None
    return CompiledCorrelation(
        rule=rule,
        type=ctype,
        span_us=seconds * 1_000_000,
        group_by=tuple(corr.group_by),
        slots=tuple(slots),
        thresholds=thresholds,
        percentile=percentile,
        generate=corr.generate,
        clauses=clauses,
    )


def _number(value: object) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        for convert in (int, float):
            try:
                return convert(value.strip())
            except ValueError:
                continue
    return None


def _thresholds(
    rule: Rule, condition: Mapping[str, object], problems: list[Problem]
) -> tuple[Threshold, ...]:
    out: list[Threshold] = []
    for name in CONDITION_OPERATORS:
        if name not in condition:
            continue
        value = _number(condition[name])
        if value is None:
            problems.append(_problem(rule, f"condition '{name}: {condition[name]}' is not a number"))
            continue
        out.append(Threshold(name, value))
    return tuple(out)


def _value_fields(rule: Rule, ctype: str, raw: object, problems: list[Problem]) -> tuple[str, ...]:
    if ctype not in FIELD_TYPES:
        if raw is not None:
            problems.append(
                _problem(rule, f"condition 'field' is ignored by {ctype} correlations", severity="warning")
            )
        return ()
    if raw is None or raw == "" or raw == []:
        problems.append(
            _problem(
                rule, f"{ctype} correlation needs 'field' in its condition", "name the field to aggregate"
            )
        )
        return ()
    fields = tuple(str(v) for v in raw) if isinstance(raw, list) else (str(raw),)
    if len(fields) > 1 and ctype in NUMERIC_TYPES:
        problems.append(
            _problem(rule, f"{ctype} aggregates one field, got {len(fields)}: {', '.join(fields)}")
        )
    return fields


def _percentile(rule: Rule, ctype: str, raw: object, problems: list[Problem]) -> float | None:
    if ctype == "value_median":
        return 50.0
    if ctype != "value_percentile":
        if raw is not None:
            problems.append(
                _problem(
                    rule, f"condition 'percentile' is ignored by {ctype} correlations", severity="warning"
                )
            )
        return None
    value = _number(raw)
    if raw is None:
        problems.append(
            _problem(
                rule,
                "value_percentile correlation needs 'percentile' in its condition",
                "the rank 0-100 to compare, e.g. 'percentile: 95' (pySigma's key; 50 is the median)",
            )
        )
        return None
    if value is None or not 0 <= value <= 100:
        problems.append(_problem(rule, f"percentile '{raw}' is not a number from 0 to 100"))
        return None
    return float(value)


def _alias(aliases: dict[str, dict[str, str]], name: str, keys: set[str], used: set[tuple[str, str]]) -> str:
    mapping = aliases.get(name)
    if not mapping:
        return name
    for key, field_name in mapping.items():
        if key in keys:
            used.add((name, key))
            return field_name
    return name


# --- extended (string) temporal conditions --------------------------------------------------------


def _extended_terms(
    rule: Rule, expression: str, problems: list[Problem]
) -> tuple[list[frozenset[str]] | None, list[str]]:
    expr = next((stage.expr for stage in rule.stages if stage.op == "condition"), None)
    if expr is None:
        problems.append(_problem(rule, f"extended condition '{expression}' could not be read"))
        return None, []
    names = _ref_names(expr)
    terms = _dnf(expr)
    if terms is None:
        problems.append(
            _problem(
                rule,
                f"extended condition '{expression}' negates a rule ('not')",
                "absence needs a window that looks past the event; this engine runs and/or of rule names",
            )
        )
        return None, names
    return terms, names


def _ref_names(expr: Expr) -> list[str]:
    return list(dict.fromkeys(ref.name for ref, _ in walk_refs(expr)))


def _dnf(expr: Expr) -> list[frozenset[str]] | None:
    """The and-terms of an and/or expression over rule names, or None when it contains `not`."""
    if isinstance(expr, Ref):
        return [frozenset({expr.name})]
    if isinstance(expr, Not | Pred):
        return None
    parts = [_dnf(item) for item in expr.items]
    if any(part is None for part in parts):
        return None
    if isinstance(expr, Any):
        return [term for part in parts if part is not None for term in part]
    terms: list[frozenset[str]] = [frozenset()]
    for part in parts:
        assert part is not None
        terms = [a | b for a in terms for b in part]
    return terms


# --- references -----------------------------------------------------------------------------------


class _RuleIndex:
    def __init__(self, rules: Sequence[Rule]) -> None:
        self.by_key: dict[str, list[Rule]] = {}
        self.by_file: dict[tuple[str, str], list[Rule]] = {}
        for rule in rules:
            for key in {rule.id, rule.name} - {""}:
                self.by_key.setdefault(key, []).append(rule)
            self.by_file.setdefault(_file(rule), []).append(rule)

    def resolve(self, reference: str, near: Rule, problems: list[Problem]) -> tuple[Rule, ...]:
        candidates = [r for r in self.by_key.get(reference, []) if r is not near]
        levels = (
            [r for r in candidates if _file(r) == _file(near)],
            [r for r in candidates if r.source.repo == near.source.repo],
            candidates,
        )
        for found in levels:
            if found:
                if len(found) > 1:
                    problems.append(
                        _problem(
                            near,
                            f"rule reference '{reference}' matches {len(found)} rules "
                            f"({', '.join(r.uid for r in found)}): matches of any of them count",
                            "give each rule a unique id or name",
                            "warning",
                        )
                    )
                return tuple(found)
        by_title = [r for r in self.by_file.get(_file(near), []) if r is not near and r.title == reference]
        if by_title:
            problems.append(
                _problem(
                    near,
                    f"rule reference '{reference}' is the title of {by_title[0].uid}, not its id or name",
                    f"refer to it by id ({by_title[0].id or 'none set'}) or give it a 'name'",
                    "warning",
                )
            )
            return tuple(by_title)
        problems.append(
            _problem(
                near,
                f"rule reference '{reference}' names no known rule (id or name)",
                "the referenced rule must be loaded with the correlation, e.g. in the same file",
            )
        )
        return ()


def _file(rule: Rule) -> tuple[str, str]:
    return rule.source.repo, rule.source.path


# --- chains ---------------------------------------------------------------------------------------


def _children(spec: CompiledCorrelation, compiled: dict[str, CompiledCorrelation]) -> set[str]:
    return {target.uid for slot in spec.slots for target in slot.rules if target.correlation is not None}


def _drop_cycles(compiled: dict[str, CompiledCorrelation], problems: list[Problem]) -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    in_cycle: set[str] = set()

    def visit(uid: str, path: list[str]) -> None:
        state[uid] = 1
        path.append(uid)
        spec = compiled.get(uid)
        for child in sorted(_children(spec, compiled)) if spec is not None else ():
            if state.get(child) == 1:
                in_cycle.update(path[path.index(child) :])
            elif child not in state:
                visit(child, path)
        path.pop()
        state[uid] = 2

    for uid in list(compiled):
        if uid not in state:
            visit(uid, [])
    for uid in sorted(in_cycle):
        spec = compiled.pop(uid, None)
        if spec is not None:
            problems.append(
                _problem(spec.rule, "correlation chain loops back to this rule", "remove the cycle")
            )


def _drop_broken_dependencies(
    compiled: dict[str, CompiledCorrelation], correlation_uids: set[str], problems: list[Problem]
) -> None:
    changed = True
    while changed:
        changed = False
        for uid, spec in list(compiled.items()):
            broken = sorted(
                child
                for child in _children(spec, compiled)
                if child in correlation_uids and child not in compiled
            )
            if broken:
                del compiled[uid]
                changed = True
                problems.append(
                    _problem(spec.rule, f"refers to correlation(s) that cannot run: {', '.join(broken)}")
                )
