"""A Panther detection's `rule(event)` / `policy(resource)` reduced to predicates, read with `ast` only.

What is plainly a comparison of an event field becomes a `Pred` whose `native` is its Python text:
`event.get("eventName") == "X"`, `event.get("x") in {…}` (a literal or a module-level constant),
`deep_get(event, "a", "b")`, `event.deep_get(…)`, `event["a"]["b"]`, `event.udm("name")` (a data-model name),
`"x" in event.get(…)`, `.startswith/.endswith`, `.lower()` (case-insensitive), `is None`, truthiness
(exists), and the success/ event-type helpers of `global_helpers/` listed in `HELPERS`. `and`/`or`/`not`
become All/Any/Not; statements are followed in order: an early `if X: return False` is a guard (`not X and
…`), `if X: return True` an alternative (`X or …`), a local `name = event.get(…)` an alias of that field.

What does not reduce is never guessed: an `or` with an unreadable branch is unreadable as a whole, an
unreadable `and` operand is left out (the rest still must hold, so the predicates stay necessary), a loop or
an unknown call stops the walk there. `PythonLogic.complete` says whether the whole function reduced.

A policy returns True for a compliant resource and alerts on False, so its expression is negated: the
stage says when the policy alerts, as a rule's says when the rule alerts. Only a completely reduced policy
has predicates: the negation of a partial compliance condition is no necessary condition of an alert.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Scalar

# Helpers of panther-analysis `global_helpers/` that are a plain condition on the event, as the Python
# expression they evaluate (`event` is the argument).
HELPERS: dict[str, str] = {
    "aws_cloudtrail_success": 'not event.get("errorCode") and not event.get("errorMessage")',
    "azure_activity_success": 'event.get("resultType") in ("Success", "Succeeded")',
    "azure_signin_success": 'event.get("resultSignature") == "SUCCESS"',
    "wiz_success": 'event.get("status") == "SUCCESS"',
    "zia_success": 'event.deep_get("event", "errorcode") == "None" '
    'and event.deep_get("event", "result") == "SUCCESS"',
    "azure_resource_logs_success": 'event.deep_get("properties", "metricResponseType") == "Success"',
    "is_sign_in_event": 'event.get("operationName") == "Sign-in activity"',
    "is_auth0_config_event": 'event.deep_get("data", "details", "request", "channel") '
    '== "https://manage.auth0.com/"',
}
ENTRY_POINTS = ("rule", "policy")
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
# How exact a reduced condition must be (`_Reducer.cond`); EXACT is 0 so that negation keeps it.
POSITIVE, NEGATIVE, EXACT = 1, -1, 0
_COMPARE: dict[type[ast.cmpop], tuple[Kind, bool]] = {
    ast.Eq: (Kind.EQ, False),
    ast.NotEq: (Kind.EQ, True),
    ast.Lt: (Kind.LT, False),
    ast.LtE: (Kind.LE, False),
    ast.Gt: (Kind.GT, False),
    ast.GtE: (Kind.GE, False),
}
_MIRROR: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.Gt,
    ast.LtE: ast.GtE,
    ast.Gt: ast.Lt,
    ast.GtE: ast.LtE,
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
}


@dataclass(slots=True)
class PythonLogic:
    function: str  # "rule" or "policy"
    text: str  # the function's source
    line: int
    expr: Expr | None  # when the detection alerts, as far as it reduces
    complete: bool  # every condition of the function reduced
    unreduced: list[str] = field(default_factory=list)  # the Python of what did not reduce


@dataclass(slots=True, frozen=True)
class _Field:
    path: str
    cased: bool = True
    udm: bool = False


class _Unreduced(Exception):
    pass


def reduce_python(source: str, tree: ast.Module) -> PythonLogic | None:
    """The logic of the module's `rule` or `policy` function, or None when it has neither."""
    function = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ENTRY_POINTS), None)
    if function is None or not function.args.args:
        return None
    reducer = _Reducer(source, function.args.args[0].arg, _constants(tree))
    expr = reducer.body(function.body)
    if expr is _TRUE or expr is _FALSE:
        expr = None
    if function.name == "policy" and expr is not None:
        # A partial compliance condition is necessary for compliance; its negation is not necessary for an
        # alert (the unreduced part can fail too), so nothing honest is left to show as predicates.
        expr = None if reducer.unreduced else expr.item if isinstance(expr, Not) else Not(expr)
    text = ast.get_source_segment(source, function) or ""
    return PythonLogic(function.name, text, function.lineno, expr, not reducer.unreduced, reducer.unreduced)


def _constants(tree: ast.Module) -> dict[str, tuple[Scalar, ...]]:
    """Module-level names bound to a literal or a literal collection (`CLOUDTRAIL_STOP_DELETE = {…}`)."""
    out: dict[str, tuple[Scalar, ...]] = {}
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and value is not None:
            values = _literals(value)
            if values is not None:
                out[target.id] = values
            elif isinstance(value, ast.Dict):  # `x in D` reads the keys, `x in D[k]` one of the values
                keys = _literals(ast.Tuple([k for k in value.keys if k is not None]))
                if keys is not None:
                    out[target.id] = keys
                members = [_literals(v) for v in value.values]
                if all(m is not None for m in members):
                    out[f"{target.id}[]"] = tuple(x for m in members if m is not None for x in m)
    return out


def _literals(node: ast.expr) -> tuple[Scalar, ...] | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("set", "frozenset")
    ):
        return _literals(node.args[0]) if len(node.args) == 1 else () if not node.args else None
    if isinstance(node, ast.Set | ast.List | ast.Tuple):
        items: list[Scalar] = []
        for item in node.elts:
            if not isinstance(item, ast.Constant) or not isinstance(item.value, str | int | float | bool):
                return None
            items.append(item.value)
        return tuple(items)
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool):
        return (node.value,)
    return None


class _Reducer:
    def __init__(self, source: str, param: str, constants: dict[str, tuple[Scalar, ...]]) -> None:
        self.source = source
        self.lines = _LINES.findall(source)  # Python's own line ends only (splitlines also splits at \f)
        self.param = param
        self.constants = constants
        self.aliases: dict[str, _Field] = {}
        self.unreduced: list[str] = []

    def text(self, node: ast.AST) -> str:
        """The node's Python as written, whitespace runs folded (lines split once, not per node as
        `ast.get_source_segment` does: a long function stays linear)."""
        start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        first, last = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if start is None or end is None or first is None or last is None or end > len(self.lines):
            return " ".join(ast.unparse(node).split())
        if start == end:
            text = self.lines[start - 1].encode()[first:last].decode(errors="replace")
        else:
            head = self.lines[start - 1].encode()[first:].decode(errors="replace")
            tail = self.lines[end - 1].encode()[:last].decode(errors="replace")
            text = head + "".join(self.lines[start : end - 1]) + tail
        return " ".join(text.split())

    # -- statements

    def body(self, statements: list[ast.stmt]) -> Expr | None:
        """The condition under which these statements return a true value."""
        guards: list[Expr] = []
        alternatives: list[Expr] = []
        for stmt in statements:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # a docstring
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
            ):
                accessor = self.try_field(stmt.value)
                if accessor is not None:
                    self.aliases[stmt.targets[0].id] = accessor
                else:
                    self.aliases.pop(stmt.targets[0].id, None)
                    self.note(stmt)  # a computed value: conditions on it will not reduce
                continue
            if isinstance(stmt, ast.Return):
                result = self.returned(stmt.value)
                return self.combine(guards, alternatives, result)
            if isinstance(stmt, ast.Global | ast.Nonlocal | ast.Pass):
                continue
            if (
                isinstance(stmt, ast.If)
                and _always_returns(stmt.body)
                and _returns_constant(stmt.body) is None
            ):
                # `if C: <a block that returns>`: the block's own condition, under C
                inner = self.body(stmt.body)
                polarity = EXACT if stmt.orelse else NEGATIVE if inner is _FALSE else POSITIVE
                test = self.try_cond(stmt.test, polarity)
                if stmt.orelse and _always_returns(stmt.orelse):
                    other = self.body(stmt.orelse)
                    if test is None or inner is None or other is None:
                        self.note(stmt.test)
                        return self.combine(guards, alternatives, None, open_ended=True)
                    both = _or([_and([test, inner]) or test, _and([_negate(test), other]) or _negate(test)])
                    return self.combine(guards, alternatives, _drop_sentinels(both))
                if test is None or inner is None or stmt.orelse:
                    self.note(stmt.test)
                    return self.combine(guards, alternatives, None, open_ended=True)
                if inner is _FALSE:
                    guards.append(_negate(test))
                else:
                    alternatives.append(_and([*guards, test, inner]) or test)
                continue
            if isinstance(stmt, ast.If) and _returns_constant(stmt.body) is not None and not stmt.orelse:
                returns = _returns_constant(stmt.body)
                condition = self.try_cond(stmt.test, NEGATIVE if returns is False else POSITIVE)
                if returns is False:
                    if condition is None:
                        self.note(stmt.test)
                    else:
                        guards.append(_negate(condition))
                elif condition is None:
                    self.note(stmt.test)
                    return self.combine(guards, alternatives, None, open_ended=True)
                else:
                    alternatives.append(_and([*guards, condition]) or condition)
                continue
            if _only_rejects(stmt):
                # A loop or branch that can only return False (or fall through) only ever rules events out:
                # what follows still must hold. Names it binds are no longer known aliases.
                self.note(stmt)
                for name in _bound_names(stmt):
                    self.aliases.pop(name, None)
                continue
            # a loop, a branch with its own logic, anything else: what follows depends on it
            self.note(stmt)
            return self.combine(guards, alternatives, None, open_ended=True)
        return self.combine(guards, alternatives, _FALSE)

    def combine(
        self, guards: list[Expr], alternatives: list[Expr], result: Expr | None, *, open_ended: bool = False
    ) -> Expr | None:
        if result is _FALSE:
            tail: Expr | None = None
            closed = True
        else:
            tail, closed = result, result is not None and not open_ended
        if not closed and alternatives:
            return None  # an unknown path next to known alternatives: no condition is necessary
        if closed and tail is _TRUE and not guards:
            return None  # returns true whatever the event: no condition
        parts = list(alternatives)
        if tail is not None or not closed:
            items: list[Expr | None] = [*guards, tail]
            last = _and(items)
            if last is None:
                return None if not parts else None if not closed else _or(parts)
            parts.append(last)
        return _or(parts)

    def returned(self, value: ast.expr | None) -> Expr | None:
        if value is None or (isinstance(value, ast.Constant) and value.value in (False, None)):
            return _FALSE
        if isinstance(value, ast.Constant) and value.value is True:
            return _TRUE
        condition = self.try_cond(value)
        if condition is None:
            self.note(value)
        return condition

    def note(self, node: ast.AST) -> None:
        self.unreduced.append(self.text(node))

    # -- conditions

    def try_cond(self, node: ast.expr, polarity: int = POSITIVE) -> Expr | None:
        try:
            return self.cond(node, polarity)
        except _Unreduced:
            return None

    def cond(self, node: ast.expr, polarity: int = POSITIVE) -> Expr:
        """The condition `node` tests. With POSITIVE polarity the result may be weaker than the Python (an
        unreadable `and` operand left out: what is kept still must hold); NEGATIVE, stronger (an unreadable
        `or` branch left out, for a condition that is negated, as a guard's); EXACT, neither."""
        if isinstance(node, ast.BoolOp):
            conjunction = isinstance(node.op, ast.And)
            may_drop = polarity == (POSITIVE if conjunction else NEGATIVE)
            parts: list[Expr] = []
            for value in node.values:
                part = self.try_cond(value, polarity)
                if part is None:
                    if not may_drop:
                        raise _Unreduced
                    self.note(value)
                else:
                    parts.append(part)
            if not parts:
                raise _Unreduced
            return (_and(list(parts)) or _TRUE) if conjunction else _or(parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return _negate(self.cond(node.operand, -polarity))
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return self.compare(node.left, node.ops[0], node.comparators[0], self.text(node), polarity)
        if isinstance(node, ast.Call):
            return self.call(node, polarity)
        accessor = self.try_field(node)
        if accessor is not None:  # truthiness: present and not empty
            return self.pred(accessor, Kind.EXISTS, True, self.text(node))
        raise _Unreduced

    def call(self, node: ast.Call, polarity: int) -> Expr:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "bool" and len(node.args) == 1:
            return self.cond(node.args[0], polarity)
        if (
            isinstance(func, ast.Name)
            and func.id in ("all", "any")
            and len(node.args) == 1
            and isinstance(node.args[0], ast.List | ast.Tuple | ast.Set)
        ):  # all([a, b]) is `a and b`, any([a, b]) `a or b`
            joined = ast.BoolOp(ast.And() if func.id == "all" else ast.Or(), list(node.args[0].elts))
            return self.cond(ast.copy_location(joined, node), polarity)
        if isinstance(func, ast.Name) and func.id in HELPERS and len(node.args) == 1:
            if not (isinstance(node.args[0], ast.Name) and node.args[0].id == self.param):
                raise _Unreduced
            helper = ast.parse(HELPERS[func.id], mode="eval").body
            inner = _Reducer(HELPERS[func.id], "event", {})
            return _renative(inner.cond(helper, EXACT), self.text(node))
        if isinstance(func, ast.Attribute) and func.attr in ("startswith", "endswith") and node.args:
            accessor = self.field(func.value)
            kind = Kind.STARTS_WITH if func.attr == "startswith" else Kind.ENDS_WITH
            values = self.values(node.args[0])
            return _or([self.pred(accessor, kind, v, self.text(node)) for v in values])
        accessor = self.field(node)  # a field read used as a truth value: present and not empty
        return self.pred(accessor, Kind.EXISTS, True, self.text(node))

    def compare(
        self, left: ast.expr, op: ast.cmpop, right: ast.expr, native: str, polarity: int = EXACT
    ) -> Expr:
        if isinstance(op, ast.Is | ast.IsNot) and isinstance(right, ast.Constant) and right.value is None:
            return self.pred(self.field(left), Kind.EXISTS, isinstance(op, ast.IsNot), native)
        if (
            isinstance(op, ast.Is | ast.IsNot)
            and isinstance(right, ast.Constant)
            and isinstance(right.value, bool)
        ):
            same = self.pred(self.field(left), Kind.EQ, right.value, native)
            return _negate(same) if isinstance(op, ast.IsNot) else same
        if isinstance(op, ast.In | ast.NotIn):
            member: Expr
            accessor = self.try_field(right)
            if accessor is not None:  # "x" in event.get("field"): a substring or a list member
                values = self.values(left)
                member = _or([self.pred(accessor, Kind.CONTAINS, v, native) for v in values])
            else:
                accessor = self.field(left)
                values = self.values(right, polarity if isinstance(op, ast.In) else -polarity)
                member = _or([self.pred(accessor, Kind.EQ, v, native) for v in values])
            return _negate(member) if isinstance(op, ast.NotIn) else member
        if type(op) not in _COMPARE:
            raise _Unreduced
        accessor = self.try_field(left)
        if accessor is None:
            accessor, right, op = self.field(right), left, _MIRROR[type(op)]()
        kind, negated = _COMPARE[type(op)]
        values = self.values(right)
        if len(values) != 1:
            raise _Unreduced
        if values[0] is None:
            return self.pred(accessor, Kind.EXISTS, negated, native)
        pred = self.pred(accessor, kind, values[0], native)
        return _negate(pred) if negated else pred

    def pred(self, accessor: _Field, kind: Kind, value: Scalar, native: str) -> Pred:
        if accessor.udm and ".udm(" not in native:  # read through an alias: say it is a data-model name
            native = f'{native}  [{accessor.path} = event.udm("{accessor.path}")]'
        return Pred(accessor.path, kind, value, cased=accessor.cased, native=native)

    def values(self, node: ast.expr, polarity: int = EXACT) -> tuple[Scalar, ...]:
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, str | int | float)
        ):
            return (node.value,)
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.constants[node.id]
        if (
            polarity == POSITIVE
            and isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and f"{node.value.id}[]" in self.constants
        ):  # one of a constant dict's value lists, the key unknown: any of them (a weaker condition)
            return self.constants[f"{node.value.id}[]"]
        literal = _literals(node)
        if literal is None or not literal:
            raise _Unreduced
        return literal

    # -- fields

    def try_field(self, node: ast.expr) -> _Field | None:
        try:
            return self.field(node)
        except _Unreduced:
            return None

    def field(self, node: ast.expr) -> _Field:
        """The event field an expression reads: `event.get("a")`, `event.deep_get("a", "b")`,
        `deep_get(event, "a", "b")`, `event["a"]["b"]`, `event.get("a", {}).get("b")`, `event.udm("x")`, a
        local alias of one, each optionally through `.lower()`/`.upper()`/`str()`."""
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return self.aliases[node.id]
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("lower", "upper", "casefold")
                and not node.args
            ):
                inner = self.field(func.value)
                return _Field(inner.path, False, inner.udm)
            if isinstance(func, ast.Name) and func.id == "str" and len(node.args) == 1:
                return self.field(node.args[0])
            deep_get = isinstance(func, ast.Name) and func.id == "deep_get" and len(node.args) >= 2
            if deep_get and self._is_event(node.args[0]):
                return _Field(".".join(_keys(node.args[1:])))
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("get", "deep_get", "deep_walk", "udm")
                and node.args
            ):
                base = func.value
                if func.attr == "get":
                    keys = _keys(node.args[:1])
                    if self._is_event(base):
                        return _Field(keys[0])
                    parent = self.field(base)
                    return _Field(f"{parent.path}.{keys[0]}", parent.cased, parent.udm)
                if self._is_event(base):
                    keys = _keys(node.args)
                    return _Field(".".join(keys), udm=func.attr == "udm")
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
            if isinstance(key, str):
                if self._is_event(node.value):
                    return _Field(key)
                parent = self.field(node.value)
                return _Field(f"{parent.path}.{key}", parent.cased, parent.udm)
        raise _Unreduced

    def _is_event(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id == self.param


def _keys(args: list[ast.expr]) -> list[str]:
    keys = []
    for arg in args:
        if not isinstance(arg, ast.Constant) or not isinstance(arg.value, str):
            raise _Unreduced
        keys.append(arg.value)
    return keys


def _only_rejects(stmt: ast.stmt) -> bool:
    """A loop, branch, `with` or `try` whose every `return` returns False or None (nested functions aside)."""
    if not isinstance(stmt, ast.For | ast.While | ast.If | ast.With | ast.Try):
        return False
    for node in ast.walk(stmt):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.Yield | ast.YieldFrom):
            return False
        if isinstance(node, ast.Return) and not (
            node.value is None or (isinstance(node.value, ast.Constant) and node.value.value in (False, None))
        ):
            return False
    return True


def _bound_names(stmt: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _always_returns(body: list[ast.stmt]) -> bool:
    """Whether every path through the block ends in a `return` (so nothing after it runs)."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False


def _drop_sentinels(expr: Expr) -> Expr | None:
    return None if expr is _TRUE else expr


def _returns_constant(body: list[ast.stmt]) -> bool | None:
    """True/False when the block is only `return True` / `return False` (or None)."""
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return None
    value = body[0].value
    if value is None:
        return False
    if isinstance(value, ast.Constant) and value.value in (True, False, None):
        return bool(value.value)
    return None


# Sentinels for a function that always / never returns true (never part of a result expression).
_TRUE = All(())
_FALSE = Any(())


def _and(parts: list[Expr | None]) -> Expr | None:
    items: list[Expr] = []
    for part in parts:
        if part is None or part is _TRUE:
            continue
        items.extend(part.items if isinstance(part, All) else (part,))
    return None if not items else items[0] if len(items) == 1 else All(tuple(items))


def _or(parts: list[Expr]) -> Expr:
    items: list[Expr] = []
    for part in parts:
        if part is _FALSE:
            continue
        items.extend(part.items if isinstance(part, Any) else (part,))
    return _FALSE if not items else items[0] if len(items) == 1 else Any(tuple(items))


def _negate(expr: Expr) -> Expr:
    return expr.item if isinstance(expr, Not) else Not(expr)


def _renative(expr: Expr, native: str) -> Expr:
    """A helper's predicates, each saying which helper call it came from."""
    if isinstance(expr, Pred):
        return Pred(expr.field, expr.kind, expr.value, expr.cased, expr.transforms, expr.regex_flags, native)
    if isinstance(expr, Not):
        return Not(_renative(expr.item, native))
    if isinstance(expr, All | Any):
        return type(expr)(tuple(_renative(i, native) for i in expr.items))
    return expr


def alert_context_keys(tree: ast.Module) -> tuple[str, ...]:
    """The keys `alert_context(event)` returns: a dict literal's string keys (every `return {…}`, and
    `context["key"] = …` assignments), else the helper it returns (`aws_rule_context(event)` → that name)."""
    function = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "alert_context"), None
    )
    if function is None:
        return ()
    keys: list[str] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            keys += [
                k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
            ]
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name and name != "dict":
                keys.append(f"{name}()")
        elif isinstance(node, ast.Assign):
            keys += [
                t.slice.value
                for t in node.targets
                if isinstance(t, ast.Subscript)
                and isinstance(t.slice, ast.Constant)
                and isinstance(t.slice.value, str)
            ]
    return tuple(dict.fromkeys(keys))


def dedup_field(source: str, tree: ast.Module) -> str:
    """The field `dedup(event)` returns when it is plainly one (`event.deep_get("a", "b", default=…)`), else
    `dedup()` when the function exists (a computed key), else ""."""
    function = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "dedup"), None)
    if function is None or not function.args.args:
        return ""
    returns = [s for s in function.body if isinstance(s, ast.Return) and s.value is not None]
    if len(returns) == 1 and returns[0].value is not None:
        found = _Reducer(source, function.args.args[0].arg, {}).try_field(returns[0].value)
        if found is not None:
            return found.path
    return "dedup()"
