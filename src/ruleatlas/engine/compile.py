"""Compile rules (IR) into matchers once: `compile_rules(rules) -> CompiledSet`.

Each Sigma rule's condition is resolved through its search identifiers into one matcher tree; or-ed
string comparisons of one field merge into one matcher (a set lookup, one startswith/endswith call with a
tuple), and-ed `|contains|all` values into one; children run cheapest first and stop at the first answer.
Filter documents are AND-ed onto the rules they name (pySigma 1.5.1 `sigma/filters.py`). A rule that
cannot run becomes a Problem with its file and the reason; the others still compile.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from ruleatlas.engine.codegen import MatchFunction, build_function
from ruleatlas.engine.comparisons import (
    BoolEq,
    Cidr,
    Compare,
    Exists,
    FieldRef,
    IsNull,
    Keyword,
    NumberEq,
    Regex,
)
from ruleatlas.engine.filters import apply_filter
from ruleatlas.engine.matchers import Cache, Const, Fields, Matcher, NotOf
from ruleatlas.engine.regex_guard import RegexError, compile_search
from ruleatlas.engine.requirements import (
    frequency_selectivity,
    literal_frequencies,
    literal_groups,
    selectivity,
)
from ruleatlas.engine.strings import all_of, any_of, string_matcher
from ruleatlas.engine.values import (
    TIME_PARTS,
    MissingPlaceholders,
    TransformError,
    apply_transforms,
    expand_text,
    fold_pattern,
    literal,
    parse_number,
    parse_wildcard,
    wrap,
)
from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Problem, Ref, Rule, RuleKind, Stage

RUNNABLE_KINDS = frozenset({RuleKind.DETECTION, RuleKind.HUNTING, RuleKind.BUILDING_BLOCK})

# Value transformations the engine applies to the rule value (spec modifier names; `wide` = utf16le).
VALUE_TRANSFORMS = frozenset(
    {"base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "windash", "expand"}
)
# How a fieldref compares, when the IR carries startswith/endswith/contains in its transforms.
FIELDREF_MODES = frozenset({"contains", "startswith", "endswith"})
# Transforms that change what the predicate means rather than the value.
FLAG_TRANSFORMS = frozenset({"neq", "cased"})

STRING_KINDS = frozenset({Kind.EQ, Kind.CONTAINS, Kind.STARTS_WITH, Kind.ENDS_WITH, Kind.WILDCARD})
_WRAP = {  # kind -> (* before, * after)
    Kind.EQ: (False, False),
    Kind.WILDCARD: (False, False),
    Kind.CONTAINS: (True, True),
    Kind.STARTS_WITH: (False, True),
    Kind.ENDS_WITH: (True, False),
}
_COMPARE_OPS = {Kind.LT: "lt", Kind.LE: "le", Kind.GT: "gt", Kind.GE: "ge"}

Placeholders = Mapping[str, Sequence[str | int | float] | str | int | float]


@dataclass(slots=True)
class CompiledRule:
    """A runnable rule.

    `match(fields, cache=None) -> bool` is a function generated from `matcher` (codegen.py): pass one
    cache dict per event, shared by every rule tested on that event (folded field values live there).
    `matcher` is the same logic as a tree of matcher objects; `matched_fields` walks it.
    """

    uid: str
    rule: Rule
    matcher: Matcher
    logsource: dict[str, str]
    required_literals: frozenset[str] | None
    filters: tuple[str, ...] = ()
    # every literal requirement of the condition, best first; the first is `required_literals`
    literal_groups: tuple[frozenset[str], ...] = ()
    match: MatchFunction = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.match = build_function(self.matcher, self.uid)

    def set_matcher(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.match = build_function(matcher, self.uid)

    def matched_fields(self, fields: Fields, cache: Cache | None = None) -> dict[str, object]:
        """The fields whose comparisons held, for display ({} when the rule does not match)."""
        out: dict[str, object] = {}
        return out if self.matcher.explain(fields, {} if cache is None else cache, out) else {}


@dataclass(slots=True)
class CompiledSet:
    rules: list[CompiledRule] = field(default_factory=list)
    correlations: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    filters: list[Rule] = field(default_factory=list)
    skipped: list[Rule] = field(default_factory=list)  # rules of kinds not asked for (deprecated, ...)


class CompileError(Exception):
    def __init__(self, message: str, hint: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line


def compile_rules(
    rules: Sequence[Rule],
    *,
    placeholders: Placeholders | None = None,
    kinds: frozenset[RuleKind] = RUNNABLE_KINDS,
) -> CompiledSet:
    """Compile detection rules, apply filter documents, hand correlation rules through.

    `placeholders` gives the values of `%name%` placeholders for the `expand` modifier (a name → a list
    of Sigma strings, wildcards allowed). A placeholder without a value makes its comparison match
    nothing and is reported once as a Problem (severity warning).
    """
    compiler = _Compiler(_placeholder_lists(placeholders or {}))
    compiler.score = frequency_selectivity(
        literal_frequencies(
            (stage.expr, {s.label: s.expr for s in rule.stages if s.op == "search"})
            for rule in rules
            if rule.kind in kinds
            for stage in rule.stages[:1]
            if stage.expr is not None
        )
    )
    out = CompiledSet()
    filters: list[Rule] = []
    for rule in rules:
        if rule.kind is RuleKind.CORRELATION or rule.correlation is not None:
            out.correlations.append(rule)
        elif rule.kind is RuleKind.FILTER or rule.filter is not None:
            filters.append(rule)
        elif rule.kind in kinds:
            compiled = compiler.compile_rule(rule, out.problems)
            if compiled is not None:
                out.rules.append(compiled)
        else:
            out.skipped.append(rule)
    for rule in filters:
        if rule.filter is None:
            out.problems.append(_problem(rule, CompileError("filter document without a filter section")))
            continue
        try:
            condition, _ = compiler.condition(rule)
        except CompileError as error:
            out.problems.append(_problem(rule, error))
            continue
        out.problems.extend(apply_filter(rule, condition, out.rules))
        out.filters.append(rule)
    out.problems.extend(compiler.placeholder_problems())
    return out


def _placeholder_lists(placeholders: Placeholders) -> dict[str, list[str | int | float]]:
    return {
        name: [values] if isinstance(values, str | int | float) else list(values)
        for name, values in placeholders.items()
    }


def _problem(rule: Rule, error: CompileError) -> Problem:
    return Problem(
        file=rule.source.path,
        message=f"rule {rule.uid} cannot run: {error.message}",
        line=error.line if error.line is not None else rule.line,
        hint=error.hint,
        severity="error",
        rule_uid=rule.uid,
    )


class _Compiler:
    def __init__(self, placeholders: dict[str, list[str | int | float]]) -> None:
        self.placeholders = placeholders
        self.missing: dict[str, list[Rule]] = {}
        self.score: Callable[[frozenset[str]], tuple[int, ...]] = selectivity
        # the rule being compiled, its search identifiers and their matchers (each compiled once)
        self.rule: Rule | None = None
        self.searches: dict[str, Stage] = {}
        self.stage_cache: dict[str, Matcher] = {}

    # -- rules ---------------------------------------------------------------------------------------------

    def compile_rule(self, rule: Rule, problems: list[Problem]) -> CompiledRule | None:
        try:
            matcher, groups = self.condition(rule)
        except CompileError as error:
            problems.append(_problem(rule, error))
            return None
        return CompiledRule(
            uid=rule.uid,
            rule=rule,
            matcher=matcher,
            logsource=dict(rule.logsource),
            required_literals=groups[0] if groups else None,
            literal_groups=tuple(groups),
        )

    def condition(self, rule: Rule) -> tuple[Matcher, list[frozenset[str]]]:
        errors = [p for p in rule.problems if p.severity == "error"]
        if errors:
            first = errors[0]
            raise CompileError(
                f"the rule has {len(errors)} parse error(s); first: {first.message}",
                hint=first.hint or "fix the rule file; the engine runs only rules that parse cleanly",
                line=first.line,
            )
        conditions = [stage for stage in rule.stages if stage.op == "condition"]
        if not conditions or conditions[0].expr is None:
            raise CompileError(
                "the rule has no usable condition", line=conditions[0].line if conditions else None
            )
        condition = conditions[0]
        searches = {stage.label: stage for stage in rule.stages if stage.op == "search"}
        self.rule = rule
        self.stage_cache = {}
        self.searches = searches
        assert condition.expr is not None
        try:
            matcher = self.expr(condition.expr)
        except CompileError as error:
            if error.line is None:
                error.line = condition.line
            raise
        exprs = {name: s.expr for name, s in searches.items()}
        return matcher, literal_groups(condition.expr, exprs, self.score)

    def stage(self, name: str) -> Matcher:
        cached = self.stage_cache.get(name)
        if cached is not None:
            return cached
        stage: Stage | None = self.searches.get(name)
        if stage is None:
            raise CompileError(
                f"the condition names '{name}' but the rule has no search identifier of that name",
                hint="check the spelling in the condition and under detection:",
            )
        if stage.expr is None:
            raise CompileError(f"search identifier '{name}' has no usable definition", line=stage.line)
        try:
            matcher = self.stage_cache[name] = self.expr(stage.expr)
        except CompileError as error:
            if error.line is None:
                error.line = stage.line
            error.message = f"in '{name}': {error.message}"
            raise
        return matcher

    # -- expressions -----------------------------------------------------------------------------------

    def expr(self, expr: Expr) -> Matcher:
        if isinstance(expr, Pred):
            return self.pred(expr)
        if isinstance(expr, Ref):
            return self.stage(expr.name)
        if isinstance(expr, Not):
            inner = self.expr(expr.item)
            if isinstance(inner, NotOf):
                return inner.child
            if isinstance(inner, Const):
                return Const(not inner.value)
            return NotOf(inner)
        if isinstance(expr, All):
            return all_of([self.expr(item) for item in expr.items])
        if isinstance(expr, Any):
            return any_of([self.expr(item) for item in expr.items])
        raise CompileError(f"unknown expression node {type(expr).__name__}")

    # -- predicates ------------------------------------------------------------------------------------

    def pred(self, pred: Pred) -> Matcher:
        handler = _KIND_HANDLERS.get(pred.kind)
        if handler is None:
            raise CompileError(f"unknown comparison kind '{pred.kind}' in {pred.native or pred.field}")
        parts = [t for t in pred.transforms if t in TIME_PARTS]
        modes = [t for t in pred.transforms if t in FIELDREF_MODES]
        values = [t for t in pred.transforms if t in VALUE_TRANSFORMS]
        unknown = [
            t
            for t in pred.transforms
            if t not in TIME_PARTS
            and t not in FIELDREF_MODES
            and t not in VALUE_TRANSFORMS
            and t not in FLAG_TRANSFORMS
        ]
        where = pred.native or pred.field or "keyword"
        if unknown:
            raise CompileError(f"unknown value transformation '{unknown[0]}' in {where}")
        if len(parts) > 1:
            raise CompileError(f"more than one time part ({', '.join(parts)}) in {where}")
        if modes and pred.kind is not Kind.FIELDREF:
            raise CompileError(f"'{modes[0]}' as a transformation only applies to fieldref, in {where}")
        if parts and values:
            raise CompileError(f"time part '{parts[0]}' cannot be combined with '{values[0]}' in {where}")
        if pred.field is None and pred.kind not in STRING_KINDS | {Kind.REGEX}:
            raise CompileError(f"a keyword search (no field) cannot use '{pred.kind}'", hint=where)
        spec = _Spec(
            pred=pred,
            cased=pred.cased or "cased" in pred.transforms,
            part=parts[0] if parts else None,
            modes=tuple(modes),
            values=tuple(values),
            where=where,
        )
        matcher = handler(self, spec)
        return NotOf(matcher) if "neq" in pred.transforms else matcher

    def eq(self, spec: _Spec) -> Matcher:
        pred = spec.pred
        value = pred.value
        field_name = pred.field
        if spec.part is not None:
            return self.compare(replace(spec, pred=replace(pred, kind=Kind.EQ)), "eq")
        if value is None:
            if spec.values:
                raise CompileError(f"null cannot be transformed ({', '.join(spec.values)}) in {spec.where}")
            assert field_name is not None
            return IsNull(field_name)
        if field_name is not None and not spec.values:
            if isinstance(value, bool):
                return BoolEq(field_name, value)
            if isinstance(value, int | float):
                return NumberEq(field_name, [value])
        return self.strings(spec)

    def neq(self, spec: _Spec) -> Matcher:
        return NotOf(self.eq(replace(spec, pred=replace(spec.pred, kind=Kind.EQ))))

    def strings(self, spec: _Spec) -> Matcher:
        pred = spec.pred
        if pred.kind is Kind.EQ and pred.value is None:
            return self.eq(spec)
        if spec.part is not None:
            raise CompileError(f"time part '{spec.part}' needs a number, not '{pred.kind}', in {spec.where}")
        text = _text(pred.value)
        base = parse_wildcard(text) if pred.kind is Kind.WILDCARD else literal(text)
        try:
            patterns = apply_transforms(base, spec.values, self.placeholders)
        except MissingPlaceholders as missing:
            self.note_missing(missing.names)
            return Const(False)
        except TransformError as exc:
            raise CompileError(f"{exc} in {spec.where}") from exc
        before, after = (True, True) if pred.field is None else _WRAP[pred.kind]
        fold = not spec.cased
        shaped = [wrap(p, before, after) for p in patterns]
        if fold:
            shaped = [fold_pattern(p) for p in shaped]
        numbers: frozenset[int | float] = frozenset()
        if pred.kind is Kind.EQ and not spec.values and isinstance(pred.value, str):
            number = parse_number(pred.value.strip())
            if number is not None:
                numbers = frozenset({number})
        return string_matcher(pred.field, fold, shaped, numbers)

    def compare(self, spec: _Spec, op: str | None = None) -> Matcher:
        pred = spec.pred
        op = op or _COMPARE_OPS[pred.kind]
        value = pred.value
        number = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            number = parse_number(value.strip())
        if number is None:
            raise CompileError(f"'{pred.kind}' needs a number, got {value!r}, in {spec.where}")
        if spec.values:
            raise CompileError(f"'{spec.values[0]}' cannot apply to a numeric comparison in {spec.where}")
        assert pred.field is not None
        return Compare(pred.field, op, number, spec.part)

    def exists(self, spec: _Spec) -> Matcher:
        value = spec.pred.value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise CompileError(f"exists needs true or false, got {value!r}, in {spec.where}")
        assert spec.pred.field is not None
        return Exists(spec.pred.field, value)

    def regex(self, spec: _Spec) -> Matcher:
        pred = spec.pred
        if not isinstance(pred.value, str):
            raise CompileError(f"a regular expression must be text, got {pred.value!r}, in {spec.where}")
        other = [t for t in spec.values if t != "expand"] + ([spec.part] if spec.part else [])
        if other:
            raise CompileError(f"'{other[0]}' cannot apply to a regular expression in {spec.where}")
        sources = [pred.value]
        if "expand" in spec.values:
            try:
                sources = expand_text(pred.value, self.placeholders)
            except MissingPlaceholders as missing:
                self.note_missing(missing.names)
                return Const(False)
        matchers: list[Matcher] = []
        for source in sources:
            try:
                search, guarded = compile_search(source, pred.regex_flags)
            except RegexError as exc:
                raise CompileError(f"{exc} in {spec.where}") from exc
            if pred.field is None:
                matchers.append(Keyword(False, search))
            else:
                matchers.append(Regex(pred.field, search, source, guarded))
        return any_of(matchers)

    def cidr(self, spec: _Spec) -> Matcher:
        pred = spec.pred
        if spec.values or spec.part:
            raise CompileError(f"cidr cannot be combined with value transformations in {spec.where}")
        try:
            network = ipaddress.ip_network(str(pred.value).strip())
        except ValueError as exc:
            raise CompileError(
                f"invalid CIDR {pred.value!r}: {exc}", hint="write the network address, e.g. 10.0.0.0/8"
            ) from exc
        assert pred.field is not None
        return Cidr(pred.field, [network])

    def fieldref(self, spec: _Spec) -> Matcher:
        pred = spec.pred
        if not isinstance(pred.value, str) or not pred.value:
            raise CompileError(f"fieldref needs a field name, got {pred.value!r}, in {spec.where}")
        if spec.values or spec.part:
            raise CompileError(f"fieldref cannot be combined with value transformations in {spec.where}")
        modes = set(spec.modes)
        mode = (
            "contains"
            if "contains" in modes or {"startswith", "endswith"} <= modes
            else (next(iter(modes)) if modes else "eq")
        )
        assert pred.field is not None
        return FieldRef(pred.field, pred.value, mode, fold=not spec.cased)

    # -- placeholders ----------------------------------------------------------------------------------

    def note_missing(self, names: Sequence[str]) -> None:
        assert self.rule is not None
        for name in names:
            users = self.missing.setdefault(name, [])
            if self.rule not in users:
                users.append(self.rule)

    def placeholder_problems(self) -> list[Problem]:
        problems = []
        for name, users in sorted(self.missing.items()):
            first = users[0]
            more = f" and {len(users) - 1} more" if len(users) > 1 else ""
            problems.append(
                Problem(
                    file=first.source.path,
                    message=(
                        f"placeholder %{name}% has no configured value: comparisons using it match nothing "
                        f"(rule {first.uid}{more})"
                    ),
                    line=first.line,
                    hint=f"give it values: compile_rules(..., placeholders={{'{name}': [...]}})",
                    severity="warning",
                    rule_uid=first.uid,
                )
            )
        return problems


@dataclass(slots=True, frozen=True)
class _Spec:
    pred: Pred
    cased: bool
    part: str | None
    modes: tuple[str, ...]
    values: tuple[str, ...]
    where: str


_KIND_HANDLERS = {
    Kind.EQ: _Compiler.eq,
    Kind.NEQ: _Compiler.neq,
    Kind.CONTAINS: _Compiler.strings,
    Kind.STARTS_WITH: _Compiler.strings,
    Kind.ENDS_WITH: _Compiler.strings,
    Kind.WILDCARD: _Compiler.strings,
    Kind.REGEX: _Compiler.regex,
    Kind.CIDR: _Compiler.cidr,
    Kind.EXISTS: _Compiler.exists,
    Kind.LT: _Compiler.compare,
    Kind.LE: _Compiler.compare,
    Kind.GT: _Compiler.compare,
    Kind.GE: _Compiler.compare,
    Kind.FIELDREF: _Compiler.fieldref,
}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
