"""A Sigma `detection` (or a filter's `filter`) section → stages: the condition, then each search identifier.

Stage 0 is the condition (text as written, a list joined by newlines; expr over `Ref`s), stages 1..n the
search identifiers in file order with their YAML text as written (dedented) and their expression:

- a map → `All` over its keys; a key with a list of values → `Any` of one `Pred` per value (`All` for
  `|all`); `neq` negates the whole item (so the values are joined the other way, De Morgan);
- a list of maps → `Any` of `All`; a list of plain values → keyword `Pred`s (field None) under `Any`;
- a plain value → one keyword `Pred`.

Single-item `All`/`Any` are unwrapped. A key or value that cannot be used is left out of the expression
with a Problem (line and hint) on the rule, so the page still shows the rule and what is wrong with it.
"""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ruleatlas.model import All, Any, Expr, Kind, Pred, Problem, Scalar, Stage
from ruleatlas.sources.sigma_condition import ConditionError, parse_condition
from ruleatlas.sources.sigma_modifiers import (
    ItemSpec,
    ModifierError,
    build_pred,
    classify,
    negate,
    parse_key,
    parse_wildcards,
)
from ruleatlas.sources.yaml_load import TAG_NULL, items, line_of, scalar_value, slice_text

LEGACY_DETECTION_KEYS = ("timeframe",)


class Issues:
    """Problems of one rule, collected as it is built."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, message: str, line: int | None, hint: str = "", *, severity: str = "error") -> None:
        self.problems.append(Problem(self.file, message, line, hint, severity))


def build_detection_stages(
    key: Node, node: Node, text: str, issues: Issues, *, skip: tuple[str, ...] = ()
) -> list[Stage]:
    section = key.value if isinstance(key, ScalarNode) else "detection"
    if not isinstance(node, MappingNode):
        issues.add(f"'{section}' must be a mapping of search identifiers and a condition", line_of(key))
        return []
    entries = items(node)
    for problem in entries.problems:
        issues.add(problem.message, problem.line, problem.hint)
    last: dict[str, tuple[Node, Node]] = {}
    for name, key_node, value_node in entries.entries:
        last.pop(name, None)  # a duplicate: YAML keeps the last one (reported above)
        last[name] = (key_node, value_node)
    condition = last.pop("condition", None)
    for legacy in LEGACY_DETECTION_KEYS:
        entry = last.pop(legacy, None)
        if entry is not None:
            issues.add(
                f"'{legacy}' in {section} is Sigma 1.x aggregation syntax and is ignored",
                line_of(entry[0]),
                "use a correlation rule with 'timespan'",
                severity="warning",
            )
    for name in skip:
        last.pop(name, None)
    identifiers = sorted(last.items(), key=lambda item: int(item[1][0].start_mark.index))
    names = [name for name, _entry in identifiers]
    if not identifiers:
        issues.add(
            f"'{section}' has no search identifiers",
            line_of(key),
            "add a selection, e.g. 'selection: {Field: value}'",
        )

    stages = [_condition_stage(key, condition, names, issues)]
    for index, (name, (key_node, value_node)) in enumerate(identifiers, 1):
        expr = _Search(issues, name).expr(value_node, line_of(key_node))
        stages.append(
            Stage(
                index, name, "search", _clean(slice_text(text, key_node, value_node)), expr, line_of(key_node)
            )
        )
    return stages


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n") if "\r" in text else text


def _condition_stage(
    section_key: Node, entry: tuple[Node, Node] | None, names: list[str], issues: Issues
) -> Stage:
    if entry is None:
        issues.add("detection has no 'condition'", line_of(section_key), "add e.g. 'condition: selection'")
        return Stage(0, "condition", "condition", "", None, line_of(section_key))
    key_node, value_node = entry
    line = line_of(key_node)
    conditions: list[tuple[str, int]] = []
    if isinstance(value_node, ScalarNode) and value_node.tag != TAG_NULL:
        conditions.append((value_node.value, line))
    elif isinstance(value_node, SequenceNode) and value_node.value:
        for item in value_node.value:
            if isinstance(item, ScalarNode) and item.tag != TAG_NULL:
                conditions.append((item.value, line_of(item)))
            else:
                issues.add("a condition list may only hold condition strings", line_of(item))
    else:
        issues.add(
            "'condition' must be a string or a list of strings",
            line,
            "e.g. 'condition: selection and not filter'",
        )
    exprs: list[Expr] = []
    for condition, condition_line in conditions:
        try:
            exprs.append(parse_condition(condition, names))
        except ConditionError as exc:
            where = f" (column {exc.column})" if exc.column and "column" not in exc.message else ""
            issues.add(f"condition: {exc.message}{where}", condition_line, exc.hint)
    expr: Expr | None = None
    if conditions and len(exprs) == len(conditions):
        expr = exprs[0] if len(exprs) == 1 else Any(tuple(exprs))
    return Stage(0, "condition", "condition", "\n".join(text for text, _line in conditions), expr, line)


def _join(cls: type[All] | type[Any], exprs: list[Expr]) -> Expr | None:
    if not exprs:
        return None
    return exprs[0] if len(exprs) == 1 else cls(tuple(exprs))


class _Search:
    """The expression of one search identifier."""

    def __init__(self, issues: Issues, name: str) -> None:
        self.issues = issues
        self.name = name

    def expr(self, node: Node, line: int) -> Expr | None:
        if isinstance(node, MappingNode):
            return self._map(node, line)
        if isinstance(node, SequenceNode):
            return self._list(node, line)
        if isinstance(node, ScalarNode) and node.tag == TAG_NULL:
            self.issues.add(
                f"search identifier '{self.name}' is empty",
                line,
                "give it a map of fields or a list of keywords",
            )
            return None
        if isinstance(node, ScalarNode):
            return self._keyword(node)
        return None

    def _map(self, node: MappingNode, line: int) -> Expr | None:
        entries = items(node)
        for problem in entries.problems:
            self.issues.add(problem.message, problem.line, problem.hint)
        if not entries.entries:
            self.issues.add(
                f"search identifier '{self.name}' has an empty map", line, "add field: value pairs"
            )
            return None
        last: dict[str, tuple[Node, Node]] = {}
        for name, key_node, value_node in entries.entries:
            last.pop(name, None)
            last[name] = (key_node, value_node)
        exprs = [self._item(name, k, v) for name, (k, v) in last.items()]
        return _join(All, [e for e in exprs if e is not None])

    def _list(self, node: SequenceNode, line: int) -> Expr | None:
        if not node.value:
            self.issues.add(
                f"search identifier '{self.name}' has an empty list", line, "add keywords or maps"
            )
            return None
        exprs: list[Expr | None] = []
        for child in node.value:
            if isinstance(child, ScalarNode):
                exprs.append(self._keyword(child))
            else:
                exprs.append(self.expr(child, line_of(child)))
        return _join(Any, [e for e in exprs if e is not None])

    def _keyword(self, node: ScalarNode) -> Expr | None:
        value = scalar_value(node)
        if value is None:
            self.issues.add(
                "a keyword cannot be null",
                line_of(node),
                "null is only meaningful for a field: 'Field: null'",
            )
            return None
        if isinstance(value, str):
            kind, text = classify(parse_wildcards(value))
            return Pred(None, kind, text)
        return Pred(None, Kind.EQ, value)

    def _item(self, key: str, key_node: Node, value_node: Node) -> Expr | None:
        try:
            spec = parse_key(key)
        except ModifierError as exc:
            self.issues.add(exc.message, line_of(key_node), exc.hint)
            return None
        values = self._values(key, key_node, value_node, spec)
        preds: list[Pred] = []
        for value, node in values:
            try:
                preds.append(build_pred(spec, value, key))
            except ModifierError as exc:
                self.issues.add(exc.message, line_of(node), exc.hint)
        if not preds:
            return None
        if spec.negate:  # not (a or b) == (not a) and (not b)
            return _join(Any if spec.match_all else All, [negate(p) for p in preds])
        return _join(All if spec.match_all else Any, list(preds))

    def _values(
        self, key: str, key_node: Node, value_node: Node, spec: ItemSpec
    ) -> list[tuple[Scalar, Node]]:
        line = line_of(key_node)
        if isinstance(value_node, MappingNode):
            self.issues.add(
                f"'{key}' has a map as its value",
                line,
                "a field takes a value or a list of values; for OR over several maps, "
                "make the identifier a list of maps",
            )
            return []
        if isinstance(value_node, ScalarNode):
            values: list[tuple[Scalar, Node]] = [(scalar_value(value_node), value_node)]
        else:
            if not value_node.value:
                self.issues.add(
                    f"'{key}' has an empty list of values", line, "write 'null' to match a missing field"
                )
                return []
            values = []
            for child in value_node.value:
                if isinstance(child, ScalarNode):
                    values.append((scalar_value(child), child))
                else:
                    self.issues.add(
                        f"'{key}' holds a nested list or map; values must be plain", line_of(child)
                    )
        if spec.match_all and len(values) == 1:
            self.issues.add(
                f"'{key}' uses 'all' on a single value",
                line,
                "the spec does not allow it: drop '|all', or use another selection to repeat the field",
                severity="warning",
            )
        if len(values) > 1 and any(value is None for value, _node in values):
            self.issues.add(
                f"'{key}' has null in a list of values",
                line,
                "the spec does not allow it: put 'Field: null' in its own selection",
                severity="warning",
            )
        return values
