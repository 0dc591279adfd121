"""Panther's scheduled and saved queries (Snowflake SQL) → SOURCE/FILTER/AGGREGATE/HAVING/PROJECT stages.

Jinja is rendered first (`panther.jinja`: in a sandbox, with the templates the query imports); a template
itself (only `{% macro %}` blocks) is its macros, one `let` stage each. The grammar (`sql.lark`) is the subset
these queries use; a query outside it keeps its text as stages split at its clauses, with a Problem.

WHERE comparisons become predicates: `=`/`!=`/`<>`/`<`…, `IN (…)`, `LIKE` (`%` → `*`, so `'%x%'` is
contains), `ILIKE` (case-insensitive), `RLIKE`/`REGEXP` (regex), `IS [NOT] NULL` (exists). A Snowflake variant
path `requestParameters:roleArn` is the dotted field `requestParameters.roleArn`. Panther's time macros
(`p_occurs_since('1 day')`...) select the time range: scope predicates, no indicators. The table names the log
type (`panther_logs.public.aws_cloudtrail` → `AWS.CloudTrail`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lark import Token, Tree
from lark.exceptions import LarkError

from ruleatlas.model import All, Any, Expr, Kind, Not, Pred, Problem, Ref, Scalar, Stage, StageOp
from ruleatlas.sources.grammar import affix_kind, grammar_file, lark_parser, parse_problem
from ruleatlas.sources.panther.jinja import JINJA_MARK, is_template, macro_names, render

GRAMMAR = grammar_file(__file__, "sql.lark")
_ENDMACRO = re.compile(r"\{%-?\s*endmacro\b")
_TIME_MACRO = re.compile(r"\b(p_occurs_\w+)\(([^()]*)\)", re.IGNORECASE)
_CLAUSES = re.compile(r"\b(select|from|where|group\s+by|having|qualify|order\s+by|limit)\b", re.IGNORECASE)
_COMPARE = {
    "=": (Kind.EQ, False),
    "!=": (Kind.EQ, True),
    "<>": (Kind.EQ, True),
    "<": (Kind.LT, False),
    "<=": (Kind.LE, False),
    ">": (Kind.GT, False),
    ">=": (Kind.GE, False),
}
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!=", "<>": "<>"}


@dataclass(slots=True)
class SqlLogic:
    stages: list[Stage]
    tables: list[str] = field(default_factory=list)
    output_fields: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    templates: tuple[str, ...] = ()  # the Jinja templates whose macros it rendered
    template: bool = False  # it is a template: macros for other queries, no query of its own


def parse_sql(
    query: str, rel_path: str, first_line: int, templates: Mapping[str, str] | None = None
) -> SqlLogic:
    """The stages of one query. `templates` (template name → its SQL) are the Jinja templates it may import:
    its Jinja is rendered with them first (`jinja.render`, sandboxed), and a stage written by a macro points
    at the line that calls it."""
    text = query
    call_line: int | None = None  # the file line of the first macro call: rendered lines shift from there
    used: tuple[str, ...] = ()
    if JINJA_MARK.search(query):
        if is_template(query):
            return _template(query, rel_path, first_line)
        rendered = render(query, templates or {}, rel_path, first_line)
        if rendered.text is None:
            return _unparsed(query, first_line, rendered.problems[0])
        text, used = rendered.text, rendered.templates
        # `{% import %}` renders as an empty line, so lines keep their places up to the first expression
        call = query.find("{{")
        call_line = first_line + query[: call if call >= 0 else JINJA_MARK.search(query).start()].count("\n")  # type: ignore[union-attr]
    # Panther's time macros take bare durations and empty arguments (`p_occurs_since(1h, , p_parse_time)`):
    # their arguments become one string, so the call parses and keeps its text
    text = _TIME_MACRO.sub(lambda m: f"{m.group(1)}('{m.group(2).replace(chr(39), chr(39) * 2)}')", text)
    logic = _parse(query, text, rel_path, first_line)
    logic.templates = used
    if call_line is not None:
        for stage in logic.stages:
            if stage.line is not None and stage.line > call_line:
                stage.line = call_line
        for problem in logic.problems:
            if problem.line is not None and problem.line > call_line:
                problem.line = call_line
            problem.message += " (in the SQL its Jinja macros render)"
    return logic


def _template(query: str, rel_path: str, first_line: int) -> SqlLogic:
    """A template (only `{% macro %}` blocks): no query of its own, its macros as named sub-queries (one `let`
    stage each, as written), which the queries importing it render."""
    names = macro_names(query)
    if not names:
        return _unparsed(
            query,
            first_line,
            Problem(
                rel_path,
                "Jinja template defines no macro that parses",
                first_line,
                "a template is `{% macro name(args) %} … {% endmacro %}` blocks",
                severity="warning",
            ),
        )
    lines = query.splitlines()
    stages = []
    for index, (_name, signature, line) in enumerate(names):
        end = next((i for i in range(line - 1, len(lines)) if _ENDMACRO.search(lines[i])), len(lines) - 1)
        body = "\n".join(lines[line - 1 : end + 1])
        stages.append(Stage(index, f"macro {signature}", StageOp.LET, body, None, first_line + line - 1))
    return SqlLogic(stages, template=True)


def _parse(query: str, text: str, rel_path: str, first_line: int) -> SqlLogic:
    try:
        tree = lark_parser(GRAMMAR).parse(text)
    except LarkError as exc:
        return _unparsed(
            query, first_line, parse_problem(rel_path, exc, language="SQL", first_line=first_line)
        )
    try:
        return _Reader(text, first_line).query(tree)
    except RecursionError as exc:  # a query nested deeper than the reader follows
        return _unparsed(
            query, first_line, parse_problem(rel_path, exc, language="SQL", first_line=first_line)
        )


def _unparsed(query: str, first_line: int, problem: Problem) -> SqlLogic:
    """The query's clauses as text stages (no expressions)."""
    stages: list[Stage] = []
    cuts = [m.start() for m in _CLAUSES.finditer(query)] or [0]
    cuts = sorted({0, *cuts})
    for index, start in enumerate(cuts):
        end = cuts[index + 1] if index + 1 < len(cuts) else len(query)
        piece = query[start:end].strip()
        if not piece:
            continue
        word = piece.split(None, 1)[0].lower()
        op = {"from": StageOp.SOURCE, "where": StageOp.FILTER, "group": StageOp.AGGREGATE}.get(word)
        op = op or {"having": StageOp.HAVING, "select": StageOp.PROJECT}.get(word, StageOp.TRANSFORM)
        line = first_line + query[:start].count("\n")
        stages.append(Stage(len(stages), word, op, piece, None, line=line))
    return SqlLogic(stages, problems=[problem])


def log_type_of(table: str) -> str:
    """`panther_logs.public.aws_cloudtrail` → `aws_cloudtrail` (the caller matches it to a log type)."""
    return table.rsplit(".", 1)[-1].strip('"').lower()


class _Reader:
    def __init__(self, source: str, first_line: int) -> None:
        self.source = source
        self.first_line = first_line

    def text(self, node: Tree[Token] | Token) -> str:
        if isinstance(node, Token):
            return str(node)
        start, end = node.meta.start_pos, node.meta.end_pos
        return " ".join(self.source[start:end].split()) if start is not None else ""

    def line(self, node: Tree[Token]) -> int | None:
        return self.first_line + node.meta.line - 1 if not node.meta.empty else None

    def query(self, tree: Tree[Token]) -> SqlLogic:
        stages: list[Stage] = []
        tables: list[str] = []
        compound = next(c for c in tree.children if isinstance(c, Tree) and c.data == "compound")
        with_clause = next(
            (c for c in tree.children if isinstance(c, Tree) and c.data == "with_clause"), None
        )
        ctes: dict[str, str] = {}  # folded name → the name as its definition writes it
        for cte in with_clause.children if with_clause is not None else []:
            if isinstance(cte, Tree):
                name = str(cte.children[0])
                # A CTE's rows are the events its selects keep: a `let` the queries reading it `Ref`.
                expr = self.compound_logic(cte.children[1], ctes)
                stages.append(Stage(len(stages), name, StageOp.LET, self.text(cte), expr, self.line(cte)))
                ctes[name.strip('"').casefold()] = name
        select, *rest = _children(compound)
        outputs: tuple[str, ...] = ()
        project: Stage | None = None
        for clause in select.children:
            if not isinstance(clause, Tree):
                continue
            if clause.data == "select_list":
                outputs = self.outputs(clause)
                project = Stage(0, "SELECT", StageOp.PROJECT, self.text(clause), None, self.line(clause))
            elif clause.data == "from_clause":
                source = self.source_ref(clause, ctes)
                stages.append(
                    Stage(len(stages), "FROM", StageOp.SOURCE, self.text(clause), source, self.line(clause))
                )
                recognize = next(
                    (c for c in clause.children if isinstance(c, Tree) and _is(c, "match_recognize")), None
                )
                if recognize is not None:
                    stages.append(
                        Stage(
                            len(stages),
                            "MATCH_RECOGNIZE",
                            StageOp.SEQUENCE,
                            self.text(recognize),
                            None,
                            self.line(recognize),
                        )
                    )
            elif clause.data in ("where", "qualify"):
                expr = self.cond(clause.children[0])
                op = StageOp.FILTER if clause.data == "where" else StageOp.HAVING
                label = clause.data.upper()
                stages.append(Stage(len(stages), label, op, self.text(clause), expr, self.line(clause)))
            elif clause.data == "group_by":
                stages.append(
                    Stage(
                        len(stages), "GROUP BY", StageOp.AGGREGATE, self.text(clause), None, self.line(clause)
                    )
                )
            elif clause.data == "having":
                expr = self.cond(clause.children[0])
                stages.append(
                    Stage(len(stages), "HAVING", StageOp.HAVING, self.text(clause), expr, self.line(clause))
                )
            elif clause.data in ("order_by", "limit"):
                label = "ORDER BY" if clause.data == "order_by" else "LIMIT"
                stages.append(
                    Stage(len(stages), label, StageOp.TRANSFORM, self.text(clause), None, self.line(clause))
                )
        if project is not None:  # SELECT is written first but runs last
            stages.append(project)
        # `… MINUS SELECT …`: each further select combines with the first one's rows, as a join does
        ops = [c for c in compound.children if isinstance(c, Tree) and c.data == "set_op"]
        for op_node, other in zip(ops, rest, strict=True):
            word = " ".join(self.text(op_node).upper().split())
            text = f"{word} {self.text(other)}"
            stages.append(Stage(len(stages), word, StageOp.JOIN, text, None, self.line(op_node)))
        for index, stage in enumerate(stages):
            stage.index = index
        # the tables it reads, wherever (a CTE, a subquery, a further select): the CTEs are its own
        found = [node for node in tree.iter_subtrees() if node.data == "table"]
        for node in sorted(found, key=lambda n: n.meta.start_pos if not n.meta.empty else 0):
            name = self.text(node.children[0])
            if name.strip('"').casefold() not in ctes:
                tables.append(name)
        return SqlLogic(stages, list(dict.fromkeys(tables)), tuple(o for o in outputs if o != "*"))

    def compound_logic(self, compound: Tree[Token] | Token, ctes: dict[str, str]) -> Expr | None:
        """What every row of a compound query satisfies: its select's FROM (a CTE it reads) and WHERE; for
        UNION either select's, for INTERSECT both, for MINUS / EXCEPT the first one's."""
        if not _is(compound, "compound"):
            return None
        assert isinstance(compound, Tree)
        selects = [self.select_logic(s, ctes) for s in _children(compound)]
        ops = [" ".join(self.text(c).lower().split()) for c in compound.children if _is(c, "set_op")]
        logic = selects[0]
        for op, other in zip(ops, selects[1:], strict=True):
            if op.startswith("union"):
                logic = None if logic is None or other is None else Any((logic, other))
            elif op == "intersect":
                logic = _and([x for x in (logic, other) if x is not None])
        return logic

    def select_logic(self, select: Tree[Token], ctes: dict[str, str]) -> Expr | None:
        parts: list[Expr] = []
        for clause in select.children:
            if _is(clause, "from_clause"):
                assert isinstance(clause, Tree)
                source = self.source_ref(clause, ctes)
                if source is not None:
                    parts.append(source)
            elif _is(clause, "where"):
                assert isinstance(clause, Tree)
                cond = self.cond(clause.children[0])
                if cond is not None:
                    parts.append(cond)
        return _and(parts)

    def source_ref(self, clause: Tree[Token], ctes: dict[str, str]) -> Expr | None:
        """A reference to the CTE the FROM clause reads first (the rows the query keeps), if it reads one."""
        first = clause.children[0] if clause.children else None
        if not _is(first, "table"):
            return None
        assert isinstance(first, Tree)
        name = ctes.get(self.text(first.children[0]).strip('"').casefold())
        return Ref(name) if name is not None else None

    def outputs(self, clause: Tree[Token]) -> tuple[str, ...]:
        names: list[str] = []
        for item in clause.children:
            if not isinstance(item, Tree):
                continue
            if item.data == "star":
                names.append("*")
                continue
            alias = next((c for c in item.children if isinstance(c, Tree) and c.data == "alias"), None)
            names.append(
                self.text(alias).strip('"') if alias is not None else _field(self.text(item.children[0]))
            )
        return tuple(dict.fromkeys(names))

    def cond(self, node: Tree[Token] | Token) -> Expr | None:
        if isinstance(node, Token):
            return None
        data, kids = node.data, node.children
        if data in ("and_", "or_"):
            parts = [p for p in (self.cond(k) for k in kids) if p is not None]
            joiner = All if data == "and_" else Any
            if data == "or_" and len(parts) < len(kids):
                return None  # an unreadable branch of an or: no condition is necessary
            flat: list[Expr] = []
            for part in parts:
                flat.extend(part.items if isinstance(part, joiner) else (part,))
            return None if not flat else flat[0] if len(flat) == 1 else joiner(tuple(flat))
        if data == "not_":
            inner = self.cond(kids[0])
            return None if inner is None else inner.item if isinstance(inner, Not) else Not(inner)
        if data == "group":
            return self.cond(kids[0])
        native = self.text(node)
        if data == "compare":
            left, op, right = kids[0], str(kids[1]), kids[2]
            if _literal(left) is not None and _literal(right) is None:
                left, right, op = right, left, _MIRROR[op]
            value = _literal(right)
            if value is None:  # two columns (a join key, a computed value): a field reference for `=` only
                if op != "=":
                    return None
                return Pred(self.field_of(left), Kind.FIELDREF, self.field_of(right), native=native)
            kind, negated = _COMPARE[op]
            pred = Pred(self.field_of(left), kind, value[0], cased=True, native=native)
            return Not(pred) if negated else pred
        if data in ("like", "not_like"):
            op = str(kids[1]).lower()
            value = _literal(kids[2])
            if value is None or not isinstance(value[0], str):
                return None
            pred = _like(self.field_of(kids[0]), op, value[0], native)
            return Not(pred) if data == "not_like" else pred
        if data in ("in_", "not_in"):
            values = [_literal(a) for a in _args(kids[1])]
            if any(v is None for v in values):
                return None
            field_ = self.field_of(kids[0])
            preds = [Pred(field_, Kind.EQ, v[0], cased=True, native=native) for v in values if v is not None]
            expr: Expr = preds[0] if len(preds) == 1 else Any(tuple(preds))
            return Not(expr) if data == "not_in" else expr
        if data in ("is_null", "is_not_null"):
            return Pred(self.field_of(kids[0]), Kind.EXISTS, data == "is_not_null", native=native)
        if data == "between":
            low, high = _literal(kids[1]), _literal(kids[2])
            if low is None or high is None:
                return None
            field_ = self.field_of(kids[0])
            return All(
                (Pred(field_, Kind.GE, low[0], native=native), Pred(field_, Kind.LE, high[0], native=native))
            )
        if data == "func":
            name = str(kids[0]).lower()
            if name.startswith("p_occurs"):  # Panther's time-range macros: which events, not what they show
                return Pred(name, Kind.EXISTS, True, native=native, scope=True)
            return Pred(name, Kind.EXISTS, True, native=native)
        if data in ("column", "variant", "true"):
            return (
                None
                if data == "true"
                else Pred(self.field_of(node), Kind.EQ, True, cased=True, native=native)
            )
        return None

    def field_of(self, node: Tree[Token] | Token) -> str:
        return _field(self.text(node))


def _children(compound: Tree[Token]) -> list[Tree[Token]]:
    return [c for c in compound.children if isinstance(c, Tree) and c.data == "select_stmt"]


def _is(node: Tree[Token] | Token | None, data: str) -> bool:
    return isinstance(node, Tree) and node.data == data


def _and(parts: list[Expr]) -> Expr | None:
    flat: list[Expr] = []
    for part in parts:
        flat.extend(part.items if isinstance(part, All) else (part,))
    return None if not flat else flat[0] if len(flat) == 1 else All(tuple(flat))


def _field(text: str) -> str:
    """`requestParameters:roleArn` → `requestParameters.roleArn`; quotes and casts dropped."""
    text = text.split("::", 1)[0]
    return text.replace(":", ".").replace('"', "")


def _args(node: Tree[Token] | Token) -> list[Tree[Token] | Token]:
    return list(node.children) if isinstance(node, Tree) and node.data == "args" else [node]


def _literal(node: Tree[Token] | Token) -> tuple[Scalar] | None:
    if isinstance(node, Tree):
        if node.data == "string":
            raw = str(node.children[0])[1:-1]
            return (raw.replace("''", "'").replace("\\'", "'"),)
        if node.data == "typed":  # TIMESTAMP '2025-11-24 03:00:00': compared as its text
            return _literal(Tree("string", [node.children[1]]))
        if node.data == "number":
            text = str(node.children[0])
            return (float(text) if "." in text else int(text),)
        if node.data in ("true", "false"):
            return (node.data == "true",)
        if node.data == "null":
            return (None,)
        if node.data == "neg":
            inner = _literal(node.children[0])
            if inner is not None and isinstance(inner[0], int | float) and not isinstance(inner[0], bool):
                return (-inner[0],)
    return None


def _like(field_: str, op: str, pattern: str, native: str) -> Pred:
    if op in ("rlike", "regexp"):
        return Pred(field_, Kind.REGEX, pattern, cased=True, native=native)
    cased = op == "like"
    plain = affix_kind(pattern, "%") if "_" not in pattern else None
    if plain is not None:
        return Pred(field_, plain[0], plain[1], cased=cased, native=native)
    wildcard = pattern.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    return Pred(
        field_, Kind.WILDCARD, wildcard.replace("%", "*").replace("_", "?"), cased=cased, native=native
    )
