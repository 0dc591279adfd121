"""Panther's SQL templates: Jinja macros rendered in a sandbox before a query is parsed.

A saved query whose SQL is only `{% macro %}` blocks is a template (`queries/macros/anomalies.yml`,
`QueryName: anomalies`); another query (`-- pragma: template`: render my Jinja) imports its macros and calls
them where its SQL continues (`{{ new_unique_values('subquery', ...) }}`). Panther writes two things its own
way, read as the Jinja they stand for:

- `{% import 'anomalies' new_unique_values %}` is Jinja's `{% from 'anomalies' import new_unique_values %}`;
- `{% macro name(args) export %}` marks a macro others may import: Jinja's `{% macro name(args) %}`.

Rendering runs in Jinja's `SandboxedEnvironment` (no attribute of Python's internals, no unsafe call), with an
undefined name an error (never silently empty), and with budgets, so that a hostile file cannot make the build
run away: calls (macros calling themselves), `range` elements, repeated strings, loops inside loops and the
output's size are bounded. A template that breaks one is not rendered: the query is kept as text with a
Problem naming the file, the line and the cause.

Panther's run-time macros (`p_occurs_since(...)`, `p_occurs_between(...)`) are SQL functions, not Jinja: they
stay in the rendered SQL, where the SQL reader makes them time-range scope predicates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import DictLoader, StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from ruleatlas.model import Problem

_MACRO_BLOCK = re.compile(r"\{%-?\s*macro\b.*?\{%-?\s*endmacro\s*-?%\}", re.DOTALL)
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_SQL_COMMENT = re.compile(r"--[^\n]*")
# `{% import 'name' a, b %}` (Panther) → `{% from 'name' import a, b %}` (Jinja)
_PANTHER_IMPORT = re.compile(r"\{%(-?)\s*import\s+(['\"])([^'\"]+)\2\s+(?!as\b)([\w\s,]+?)\s*(-?)%\}")
_EXPORT = re.compile(r"(\{%-?\s*macro\s+\w+\s*\((?:[^()]|\([^()]*\))*\))\s*export\s*(-?%\})")
# Names a query imports, as `list_files` reads them to find the template files a query needs.
IMPORTED = re.compile(r"\{%-?\s*(?:import|from)\s+(['\"])([^'\"]+)\1")
JINJA_MARK = re.compile(r"\{\{|\{%")

MAX_CALLS = 2_000  # macro and function calls in one rendering
MAX_RANGE = 10_000  # elements `range` may make in one rendering
MAX_OUTPUT = 500_000  # characters of rendered SQL
MAX_LOOP_DEPTH = 1  # `for` loops inside `for` loops multiply: one level only
MAX_REPEAT = 100_000  # characters a `*` or `**` may make


class RenderBudget(Exception):
    """A template went over one of the rendering budgets."""


@dataclass(slots=True)
class Rendered:
    """A query's SQL with its Jinja rendered (`text`), or None with the problems that stopped it."""

    text: str | None
    problems: list[Problem] = field(default_factory=list)
    templates: tuple[str, ...] = ()  # the template names it imported


def panther_to_jinja(source: str) -> str:
    """Panther's import and export spellings as plain Jinja (module docstring)."""
    source = _PANTHER_IMPORT.sub(lambda m: f"{{%{m[1]} from '{m[3]}' import {m[4].strip()} {m[5]}%}}", source)
    return _EXPORT.sub(lambda m: f"{m[1]} {m[2]}", source)


def is_template(query: str) -> bool:
    """A template others import: `{% macro %}` blocks and nothing else but comments. (Panther's
    `-- pragma: template` marks every query with Jinja to render, the importing ones too.)"""
    if _MACRO_BLOCK.search(query) is None:
        return False
    rest = _SQL_COMMENT.sub("", _JINJA_COMMENT.sub("", _MACRO_BLOCK.sub("", query)))
    return not rest.strip()


def macro_names(template: str) -> list[tuple[str, str, int]]:
    """(name, signature, line) of every macro a template defines, in order; [] when it does not parse."""
    env = _Environment()
    try:
        tree = env.parse(panther_to_jinja(template))
    except TemplateSyntaxError:
        return []
    out: list[tuple[str, str, int]] = []
    for macro in tree.find_all(nodes.Macro):
        params = ", ".join(arg.name for arg in macro.args)
        out.append((macro.name, f"{macro.name}({params})", macro.lineno))
    return out


class _Environment(SandboxedEnvironment):
    """The sandbox with budgets on calls, ranges and repetition (Jinja's own `range` allows 100,000 elements
    per call and nothing bounds calls)."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, templates: Mapping[str, str] | None = None) -> None:
        super().__init__(
            loader=DictLoader(dict(templates or {})),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
        )
        self.calls = 0
        self.range_left = MAX_RANGE
        self.globals["range"] = self._range

    def _range(self, *args: int) -> range:
        made = range(*args)
        self.range_left -= len(made)
        if self.range_left < 0:
            raise RenderBudget(f"range() made more than {MAX_RANGE} elements")
        return made

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.calls += 1
        if __self.calls > MAX_CALLS:
            raise RenderBudget(f"more than {MAX_CALLS} calls (a macro calling itself?)")
        return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise RenderBudget("an exponent above 64")
        if operator == "*":
            sequence, times = (left, right) if isinstance(right, int) else (right, left)
            repeats = isinstance(sequence, str | list | tuple) and isinstance(times, int)
            if repeats and len(sequence) * times > MAX_REPEAT:
                raise RenderBudget(f"a repetition of more than {MAX_REPEAT:,} elements")
        return super().call_binop(context, operator, left, right)


def _loop_depth(node: nodes.Node, depth: int = 0) -> int:
    deepest = depth
    for child in node.iter_child_nodes():
        inner = depth + 1 if isinstance(child, nodes.For) else depth
        deepest = max(deepest, _loop_depth(child, inner))
    return deepest


def render(query: str, templates: Mapping[str, str], rel_path: str, first_line: int) -> Rendered:
    """`query` with its Jinja rendered, the macros of `templates` (template name → its SQL) importable.

    `first_line` is the file line where the query starts; a problem's line is the file line of the cause
    when Jinja knows it (a template's own lines are counted in the template)."""
    source = panther_to_jinja(query)
    imported = tuple(dict.fromkeys(m[2] for m in IMPORTED.finditer(source)))
    missing = [name for name in imported if name not in templates]
    if missing:
        return Rendered(
            None,
            [
                Problem(
                    rel_path,
                    f"SQL query imports Jinja template '{missing[0]}', which no saved query defines",
                    first_line + source[: source.find(missing[0])].count("\n"),
                    "a template is a saved query of `{% macro %}` blocks whose QueryName is the imported "
                    "name; the query is kept as text",
                    severity="warning",
                )
            ],
            imported,
        )
    jinja = {name: panther_to_jinja(templates[name]) for name in imported}
    env = _Environment(jinja)
    try:
        for name, text in (("", source), *jinja.items()):
            if _loop_depth(env.parse(text, name or None)) > MAX_LOOP_DEPTH:
                raise RenderBudget(f"`for` loops nested more than {MAX_LOOP_DEPTH} deep")
        chunks: list[str] = []
        size = 0
        for chunk in env.from_string(source).generate():
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise RenderBudget(f"more than {MAX_OUTPUT:,} characters of SQL")
            chunks.append(chunk)
    except TemplateSyntaxError as exc:
        where = exc.name or "the query"
        line = first_line + exc.lineno - 1 if exc.name is None and exc.lineno else None
        return Rendered(
            None, [_problem(rel_path, f"Jinja syntax error in {where}: {exc.message}", line)], imported
        )
    except RenderBudget as exc:
        return Rendered(
            None, [_problem(rel_path, f"Jinja template not rendered: {exc}", first_line)], imported
        )
    except (TemplateError, RecursionError, ArithmeticError, TypeError, ValueError) as exc:
        cause = str(exc) or type(exc).__name__
        return Rendered(
            None, [_problem(rel_path, f"Jinja template does not render: {cause}", first_line)], imported
        )
    return Rendered("".join(chunks), [], imported)


def _problem(rel_path: str, message: str, line: int | None) -> Problem:
    return Problem(
        rel_path,
        message,
        line,
        "the query's SQL is kept as written, its clauses shown as text stages",
        severity="warning",
    )
