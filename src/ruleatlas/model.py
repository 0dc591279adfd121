"""The vendor-neutral rule model (IR).

The model keeps everything and computes nothing: original text and case are kept, there is one
variant per comparison, and no compiled state lives here. Sources build it, analysis reads it,
the engine compiles its own matchers from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias


class Kind(StrEnum):
    """One comparison vocabulary for every vendor."""

    EQ = "eq"
    NEQ = "neq"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    WILDCARD = "wildcard"
    REGEX = "regex"
    CIDR = "cidr"
    EXISTS = "exists"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    FIELDREF = "fieldref"


class RuleKind(StrEnum):
    DETECTION = "detection"
    CORRELATION = "correlation"
    FILTER = "filter"
    BUILDING_BLOCK = "building_block"
    HUNTING = "hunting"
    DEPRECATED = "deprecated"
    UNSUPPORTED = "unsupported"


Scalar: TypeAlias = str | int | float | bool | None


@dataclass(slots=True, frozen=True)
class Pred:
    """One comparison of one field (or of the whole event, for a keyword search).

    `value` is the literal to compare with, unescaped, except for `Kind.WILDCARD`, whose value is a
    pattern in Sigma's wildcard syntax (`*`, `?`, with `\\*`, `\\?`, `\\\\` for the literal characters).
    A Sigma `null` is `Kind.EQ` with value None; `''` is `Kind.EQ` with value "".
    `transforms` are value transformations in the order the source applied them to the value
    (e.g. ("utf16le", "base64offset"), ("windash",), ("expand",), ("hour",)); the engine applies them.
    """

    field: str | None
    kind: Kind
    value: Scalar
    cased: bool = False
    transforms: tuple[str, ...] = ()
    regex_flags: str = ""
    native: str = ""


@dataclass(slots=True, frozen=True)
class All:
    items: tuple[Expr, ...]


@dataclass(slots=True, frozen=True)
class Any:
    items: tuple[Expr, ...]


@dataclass(slots=True, frozen=True)
class Not:
    item: Expr


@dataclass(slots=True, frozen=True)
class Ref:
    """A reference from a condition to a named stage (a Sigma search identifier)."""

    name: str


Expr: TypeAlias = All | Any | Not | Ref | Pred


@dataclass(slots=True)
class Stage:
    """One step of a rule's logic.

    Sigma: stage 0 is the condition (op "condition"), stages 1..n the search identifiers (op "search").
    Pipeline languages: one stage per pipe operator (op "source", "filter", "aggregate", "project", ...).
    """

    index: int
    label: str
    op: str
    text: str
    expr: Expr | None
    line: int | None = None


@dataclass(slots=True)
class SourceRef:
    repo: str
    path: str
    commit: str = ""
    url: str = ""


@dataclass(slots=True)
class Problem:
    """Something wrong with a file or a rule: where, what, and what to do about it."""

    file: str
    message: str
    line: int | None = None
    hint: str = ""
    severity: str = "error"
    rule_uid: str | None = None


@dataclass(slots=True)
class Correlation:
    type: str
    rules: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    timespan: str = ""
    timespan_seconds: int | None = None
    condition: dict[str, Scalar | list[Scalar]] = field(default_factory=dict)
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    generate: bool = False


@dataclass(slots=True)
class FilterSpec:
    """A Sigma filter document: its condition is AND-ed onto the target rules."""

    rules: tuple[str, ...]


@dataclass(slots=True)
class Rule:
    uid: str
    vendor: str
    language: str
    source: SourceRef
    folder: str
    id: str = ""
    name: str = ""
    title: str = ""
    description: str = ""
    status: str = ""
    level: str = ""
    authors: tuple[str, ...] = ()
    author: str = ""
    date: str = ""
    modified: str = ""
    references: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    kind: RuleKind = RuleKind.DETECTION
    logsource: dict[str, str] = field(default_factory=dict)
    attack_ids: tuple[str, ...] = ()
    body: str = ""
    stages: list[Stage] = field(default_factory=list)
    correlation: Correlation | None = None
    filter: FilterSpec | None = None
    related: tuple[dict[str, str], ...] = ()
    fields: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    line: int = 1
    content_hash: str = ""


@dataclass(slots=True)
class SourceResult:
    """What a source produced from one input tree: rules, and a problem for every file it could not use."""

    rules: list[Rule] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    files: int = 0
    files_per_folder: dict[str, int] = field(default_factory=dict)


def walk_preds(expr: Expr | None, negated: bool = False) -> list[tuple[Pred, bool]]:
    """Every predicate under `expr`, with whether an odd number of `Not` lies above it."""
    out: list[tuple[Pred, bool]] = []
    stack: list[tuple[Expr, bool]] = [] if expr is None else [(expr, negated)]
    while stack:
        node, neg = stack.pop()
        if isinstance(node, Pred):
            out.append((node, neg))
        elif isinstance(node, Not):
            stack.append((node.item, not neg))
        elif isinstance(node, All | Any):
            stack.extend((item, neg) for item in reversed(node.items))
    return out
