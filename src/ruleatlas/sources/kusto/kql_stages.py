"""A parsed KQL query → the rule's stages (`model.Stage`), the tables it reads and the columns it emits.

- Every `let` is a `let` stage labelled with its name. A scalar or list `let` (`let procs = dynamic([...])`)
  has no expression of its own: its values are inlined where a comparison names it (the predicate's `native`
  keeps the name). A tabular `let` (a sub-query, a table, a watchlist) has the logic of its own pipeline: its
  filters up to its first aggregate, ANDed, with references followed.
- The query's pipeline: its source is a `source` stage (a table, an ASIM parser call, a `union`; a `let`
  name or sub-query as a `Ref`); each operator after a pipe is one stage: `where` a filter (`having` after
  the first aggregate), `extend`/`parse` extend (with the columns they define), `summarize`/`distinct`/
  `make-series` aggregate (with the columns they define), `project*` project, `join`/`lookup`/`union` join,
  everything else transform.
- A `join` with a sub-query or tabular `let` on its right: the right side is a `let` stage of its own
  (`join 1` when it has no name), and the join stage is `Ref` to it (inner and semi joins), `Not(Ref)` (anti
  joins: the rule's exclusions) or no expression (outer joins and lookups, which filter nothing).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from ruleatlas.model import All, Expr, Not, Ref, Stage, StageOp
from ruleatlas.model import Any as AnyOf
from ruleatlas.sources.kusto.kql_ast import (
    Assign,
    Call,
    Function,
    ListN,
    Lit,
    Name,
    Node,
    Operator,
    Pipe,
    Source,
    Statement,
)
from ruleatlas.sources.kusto.kql_parser import parse_query
from ruleatlas.sources.kusto.kql_predicates import Predicates, Value, membership_name

# Columns that pick the data rather than describe the behaviour, as a Sigma log source does: the time
# range, a union's table name, the `Event` table's log and provider (`Source == "Microsoft-Windows-Sysmon"`).
SCOPE_FIELDS = frozenset(
    {"TimeGenerated", "Timestamp", "_TimeReceived", "Type", "EventLog", "Channel", "Source", "Provider"}
)
# Functions that read a column without changing what it is: `extend X = tostring(X)` defines no new column.
_SAME_COLUMN = frozenset({"tostring", "tolower", "toupper", "trim", "column_ifexists", "toint", "tolong"})
_OPS: dict[str, StageOp] = {
    "extend": StageOp.EXTEND,
    "parse": StageOp.EXTEND,
    "parse-where": StageOp.EXTEND,
    "parse-kv": StageOp.EXTEND,
    "summarize": StageOp.AGGREGATE,
    "distinct": StageOp.AGGREGATE,
    "make-series": StageOp.AGGREGATE,
    "count": StageOp.AGGREGATE,
    "top-nested": StageOp.AGGREGATE,
    "project": StageOp.PROJECT,
    "project-away": StageOp.PROJECT,
    "project-keep": StageOp.PROJECT,
    "project-rename": StageOp.PROJECT,
    "project-reorder": StageOp.PROJECT,
    "join": StageOp.JOIN,
    "lookup": StageOp.JOIN,
    "union": StageOp.JOIN,
}
# A right anti join keeps the right side's rows that the left lacks: no expression says that here.
_ANTI_JOINS = frozenset({"leftanti", "anti", "leftantisemi"})
_FILTERING_JOINS = frozenset({"", "inner", "innerunique", "leftsemi", "rightsemi"})
_TABULAR_CALLS = frozenset({"_getwatchlist", "materialize", "view", "table", "externaldata", "datatable"})
# The column an aggregation function makes when the rule does not name it: `dcount(x)` → `dcount_x`.
_AGGREGATE_PREFIX = {"make_set": "set", "make_list": "list", "make_bag": "bag", "take_any": "any"}


@dataclass(slots=True)
class QueryLogic:
    stages: list[Stage] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # tables and functions the query reads (not its lets)
    output_fields: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ()  # the main pipeline's first `summarize ... by`
    having: str = ""  # the first filter after that aggregate (`where count_ > 5`)
    watchlists: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Let:
    statement: Statement
    tabular: bool


class _Builder:
    def __init__(self, query: str, first_line: int) -> None:
        self.query = query
        self.first_line = first_line
        self.newlines = [i for i, ch in enumerate(query) if ch == "\n"]
        self.lets: dict[str, _Let] = {}
        self.logic = QueryLogic()
        self.anonymous = 0
        self.resolving: set[str] = set()
        self.preds = Predicates(query, self.resolve, SCOPE_FIELDS)

    # --- lets ------------------------------------------------------------------------------------

    def is_tabular(self, node: Node) -> bool:
        if isinstance(node, Pipe | Source | Function):
            return True
        if isinstance(node, Name):
            known = self.lets.get(node.path)
            return known.tabular if known is not None else True  # an unknown bare name is a table
        if isinstance(node, Call):
            known = self.lets.get(node.name)
            asim = node.name.startswith(("_Im_", "_ASim_")) or (
                node.name[:2] == "im" and node.name[2:3].isupper()
            )
            return node.name.lower() in _TABULAR_CALLS or asim or (known is not None and known.tabular)
        return False

    def resolve(self, name: str) -> list[Value] | None:
        """A let's values where a comparison names it; None when `name` is no let (then it is a column)."""
        known = self.lets.get(name)
        if known is None:
            return None
        value = known.statement.value
        if known.tabular:
            if isinstance(value, Pipe | Call):
                watched = membership_name(value, self.query)
                if "_GetWatchlist" in self.query[value.start : value.end]:
                    self.add_watchlist(watched)
                    return [Value(watched, member_of=True)]
            return [Value(name, member_of=True)]
        if name in self.resolving:  # `let a = b; let b = a;` is no value
            return []
        self.resolving.add(name)
        try:
            return self.preds.values(value)
        finally:
            self.resolving.discard(name)

    def add_watchlist(self, name: str) -> None:
        if name not in self.logic.watchlists:
            self.logic.watchlists.append(name)

    # --- stages ----------------------------------------------------------------------------------

    def line(self, offset: int) -> int:
        return self.first_line + bisect_left(self.newlines, offset)

    def text(self, node: Node | Operator | Statement) -> str:
        return self.query[node.start : node.end].strip()

    def build(self, statements: list[Statement]) -> QueryLogic:
        main = [s for s in statements if not s.name][-1]
        for statement in statements:
            if statement.name:
                self.let_stage(statement)
        self.logic.stages.extend(self.pipeline(main.value, main=True))
        for index, stage in enumerate(self.logic.stages):
            stage.index = index
        return self.logic

    def let_stage(self, statement: Statement) -> None:
        value = statement.value
        tabular = self.is_tabular(value)
        self.lets[statement.name] = _Let(statement, tabular)
        stage = Stage(0, statement.name, StageOp.LET, self.text(statement), None, self.line(statement.start))
        if tabular:
            body = value
            if isinstance(value, Function):
                for inner in value.body:
                    if inner.name:
                        self.let_stage(inner)
                tail = [s for s in value.body if not s.name]
                body = tail[-1].value if tail else value
            if not isinstance(body, Function):
                sub = self.pipeline(body, main=False)
                stage.expr = _logic(sub)
                stage.defines = tuple(dict.fromkeys(c for s in sub for c in s.defines))
        self.logic.stages.append(stage)

    def sub_query(self, node: Node, label: str) -> Expr | None:
        """A sub-query (join's right side, a union member) as a `Ref`: to its let, or to a new let stage."""
        if isinstance(node, Name):
            if node.path in self.lets:
                return Ref(node.path) if self.lets[node.path].tabular else None
            self.add_table(node.path)
            return None
        if isinstance(node, ListN) and len(node.items) == 1:
            node = node.items[0]
        sub = self.pipeline(node, main=False)
        expr = _logic(sub)
        self.anonymous += 1
        name = f"{label} {self.anonymous}"
        stage = Stage(0, name, StageOp.LET, self.text(node), expr, self.line(node.start))
        stage.defines = tuple(dict.fromkeys(c for s in sub for c in s.defines))
        self.logic.stages.append(stage)
        return Ref(name) if expr is not None else None

    def add_table(self, name: str) -> None:
        if name not in self.logic.tables:
            self.logic.tables.append(name)

    def pipeline(self, node: Node, *, main: bool) -> list[Stage]:
        ops: list[Operator] = []
        while isinstance(node, Pipe):
            ops.append(node.op)
            node = node.source
        ops.reverse()
        stages = [self.source_stage(node)]
        aggregated = False
        columns: list[str] | None = None
        extended: list[str] = []
        for op in ops:
            stage = self.operator_stage(op, aggregated)
            if stage.op == StageOp.AGGREGATE and not aggregated:
                aggregated = True
                if main:
                    self.logic.group_by = tuple(_names(op.by, self.query))
            elif main and stage.op == StageOp.HAVING and not self.logic.having:
                self.logic.having = stage.text
            stages.append(stage)
            if main:
                columns, extended = _columns(op, columns, extended, self.query)
        if main:
            self.logic.output_fields = tuple(dict.fromkeys(columns if columns is not None else extended))
        return stages

    def source_stage(self, node: Node) -> Stage:
        line = self.line(node.start)
        text = self.text(node)
        if isinstance(node, Name):
            if node.path in self.lets:
                return Stage(0, node.path, StageOp.SOURCE, text, Ref(node.path), line)
            self.add_table(node.path)
            return Stage(0, node.path, StageOp.SOURCE, text, None, line)
        if isinstance(node, Call):
            if node.name in self.lets:
                return Stage(0, node.name, StageOp.SOURCE, text, Ref(node.name), line)
            if node.name == "_GetWatchlist":
                self.add_watchlist(membership_name(node, self.query))
            elif node.name.lower() in ("materialize", "view", "table") and node.args:
                return Stage(0, node.name, StageOp.SOURCE, text, self.sub_query(node.args[0], "query"), line)
            else:
                self.add_table(node.name)
            return Stage(0, node.name, StageOp.SOURCE, text, None, line)
        if isinstance(node, Source):
            expr = self.union(node.op) if node.op.name == "union" else None
            label = node.op.name if node.op.name != "union" else "union"
            return Stage(0, label, StageOp.SOURCE, text, expr, line)
        return Stage(0, "source", StageOp.SOURCE, text, None, line)

    def union(self, op: Operator) -> Expr | None:
        refs = [r for item in op.tables if (r := self.sub_query(item, "union")) is not None]
        if not refs:
            return None
        return refs[0] if len(refs) == 1 else AnyOf(tuple(refs))

    def operator_stage(self, op: Operator, aggregated: bool) -> Stage:
        text = self.text(op)
        line = self.first_line + op.line - 1
        if op.name in ("where", "filter"):
            where = StageOp.HAVING if aggregated else StageOp.FILTER
            expr = self.preds.expr(op.condition) if op.condition is not None else None
            return Stage(0, op.name, where, text, expr, line)
        stage_op = _OPS.get(op.name, StageOp.TRANSFORM)
        stage = Stage(0, op.name, stage_op, text, None, line)
        if op.name in ("join", "lookup") and op.right is not None:
            ref = self.sub_query(op.right, op.name)
            kind = op.kind or ("leftouter" if op.name == "lookup" else "")
            if ref is not None and kind in _ANTI_JOINS:
                stage.expr = Not(ref)
            elif ref is not None and kind in _FILTERING_JOINS:
                stage.expr = ref
        elif op.name == "union":
            for item in op.tables:  # added rows filter nothing: the members are shown, not ANDed
                self.sub_query(item, "union")
        elif op.name in ("extend", "project", "project-rename"):
            stage.defines = tuple(n for a in op.items for n in a.names if not _same_column(n, a.expr))
        elif op.name.startswith("parse"):
            stage.defines = op.columns
        elif stage_op == StageOp.AGGREGATE:
            stage.defines = tuple(dict.fromkeys([*_aggregate_names(op.items), *_by_defines(op.by)]))
            if op.name == "count":
                stage.defines = ("Count",)
        return stage


def _logic(stages: list[Stage]) -> Expr | None:
    """A sub-pipeline's logic: its source, filter and join expressions up to its first aggregate, ANDed."""
    parts: list[Expr] = []
    for stage in stages:
        if stage.op == StageOp.AGGREGATE:
            break
        if stage.op in (StageOp.SOURCE, StageOp.FILTER, StageOp.JOIN) and stage.expr is not None:
            parts.append(stage.expr)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _same_column(name: str, expr: Node) -> bool:
    """`X = tostring(X)`, `X = column_ifexists("X", "")`: the column keeps its meaning, so predicates on it
    stay indicators."""
    while isinstance(expr, Call) and expr.name.lower() in _SAME_COLUMN and expr.args:
        first = expr.args[0]
        if isinstance(first, Lit) and first.value == name:
            return True
        expr = first
    return isinstance(expr, Name) and expr.path == name


def _aggregate_names(items: list[Assign]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item.names:
            out.extend(item.names)
        elif isinstance(item.expr, Call):
            name = item.expr.name.lower()
            if name in ("arg_max", "arg_min"):
                out.extend(a.path for a in item.expr.args if isinstance(a, Name) and a.path != "*")
                continue
            first = item.expr.args[0] if item.expr.args else None
            prefix = _AGGREGATE_PREFIX.get(name, name)
            suffix = first.path if isinstance(first, Name) and name not in ("count", "countif") else ""
            out.append(f"{prefix}_{suffix}")
    return out


def _by_defines(items: list[Assign]) -> list[str]:
    return [n for item in items for n in item.names]


def _names(items: list[Assign], query: str) -> list[str]:
    """The columns of a `by` or `project` list: a name given, the column itself, else the expression."""
    out: list[str] = []
    for item in items:
        if item.names:
            out.extend(item.names)
        elif isinstance(item.expr, Name):
            out.append(item.expr.path)
        elif isinstance(item.expr, Call) and item.expr.args and isinstance(item.expr.args[0], Name):
            out.append(item.expr.args[0].path)  # `bin(TimeGenerated, 1h)` keeps the column's name
        else:
            out.append(" ".join(query[item.expr.start : item.expr.end].split()))
    return out


def _columns(
    op: Operator, columns: list[str] | None, extended: list[str], query: str
) -> tuple[list[str] | None, list[str]]:
    """The columns the pipeline emits after `op`: fixed by project/summarize/distinct, grown by extend and
    parse, renamed by project-rename, shrunk by project-away; `extended` collects new columns while the
    input's own are unknown."""
    name = op.name
    if name == "project":
        return _names(op.items, query), extended
    if name == "summarize":
        return [*_names(op.by, query), *_aggregate_names(op.items)], extended
    if name == "distinct":
        return _names(op.items, query), extended
    added = (
        [n for a in op.items for n in a.names]
        if name in ("extend", "project-rename")
        else list(op.columns)
        if name.startswith("parse")
        else []
    )
    if name == "project-rename" and columns is not None:
        renamed = {a.expr.path: a.names[0] for a in op.items if a.names and isinstance(a.expr, Name)}
        return [renamed.get(c, c) for c in columns], extended
    if name == "project-away" and columns is not None:
        return [c for c in columns if c not in op.columns], extended
    if not added:
        return columns, extended
    if columns is None:
        return None, [*extended, *(a for a in added if a not in extended)]
    return [*columns, *(a for a in added if a not in columns)], extended


def query_logic(query: str, first_line: int = 1) -> QueryLogic:
    """The stages of a KQL query whose first line is line `first_line` of its file; raises
    `KqlSyntaxError` when the query does not parse."""
    parsed = parse_query(query)
    logic = _Builder(query, first_line).build(parsed.statements)
    for name in parsed.watchlists:
        if name not in logic.watchlists:
            logic.watchlists.append(name)
    return logic
