"""The KQL syntax tree `kql_parser` builds and `kql_stages` turns into stages and predicates.

Every node keeps its span in the query (`start`, `end`), so a predicate's `native` text and a stage's text
are the query's own words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from ruleatlas.model import Scalar


@dataclass(slots=True)
class Name:
    """A column, table, `let` name or path (`AdditionalFields.Foo`, `$left.Account`, `['col']`)."""

    path: str
    start: int
    end: int


@dataclass(slots=True)
class Lit:
    """A literal: string, number, bool, timespan or datetime (those two as written)."""

    value: Scalar
    start: int
    end: int


@dataclass(slots=True)
class ListN:
    """A list of values: `(a, b)` after `in`, `dynamic([...])`."""

    items: list[Node]
    start: int
    end: int


@dataclass(slots=True)
class Call:
    name: str
    args: list[Node]
    start: int
    end: int


@dataclass(slots=True)
class Binary:
    """`op` is the operator as written, lower-cased (`and`, `==`, `has_any`, `!in~`, `+`, `matches regex`)."""

    op: str
    left: Node
    right: Node
    start: int
    end: int


@dataclass(slots=True)
class Between:
    negated: bool
    left: Node
    low: Node
    high: Node
    start: int
    end: int


@dataclass(slots=True)
class Opaque:
    """An expression read but not interpreted (`-x`, `{...}`, an index): only its text counts."""

    start: int
    end: int


@dataclass(slots=True)
class Assign:
    """One item of `extend`/`project`/`summarize`: `names = expr`, or a bare `expr` (names empty)."""

    names: tuple[str, ...]
    expr: Node


@dataclass(slots=True)
class Operator:
    """One tabular operator after a pipe (`where`, `summarize`...), or a source such as `union`."""

    name: str  # lower-cased: where, extend, summarize, join, union, mv-expand...
    start: int
    end: int
    line: int  # 1-based line within the query
    condition: Node | None = None  # where/filter
    items: list[Assign] = field(default_factory=list)  # extend/project/summarize aggregates/project-rename
    by: list[Assign] = field(default_factory=list)  # summarize ... by
    kind: str = ""  # join kind=
    right: Node | None = None  # join/lookup right side
    keys: list[Node] = field(default_factory=list)  # join ... on
    tables: list[Node] = field(default_factory=list)  # union operands
    columns: tuple[str, ...] = ()  # names a skipped operator defines or lists (parse, project-away)


@dataclass(slots=True)
class Pipe:
    """`source | operator`."""

    source: Node
    op: Operator
    start: int
    end: int


@dataclass(slots=True)
class Source:
    """A tabular source that is an operator (`union`, `datatable`, `externaldata`, `print`, `search`)."""

    op: Operator
    start: int
    end: int


@dataclass(slots=True)
class Function:
    """`let f = (params) { body }`: the body's statements."""

    body: list[Statement]
    start: int
    end: int


@dataclass(slots=True)
class Statement:
    """`let name = value;` (name set) or the query's tabular expression (name empty)."""

    name: str
    value: Node
    start: int
    end: int
    line: int


Node: TypeAlias = Name | Lit | ListN | Call | Binary | Between | Opaque | Pipe | Source | Function
