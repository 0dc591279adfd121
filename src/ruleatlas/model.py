"""The vendor-neutral rule model (IR).

The model keeps everything and computes nothing: original text and case are kept, there is one
variant per comparison, and no compiled state lives here. Sources build it, analysis reads it,
the engine compiles its own matchers from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum
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
    """A rule's class. Only DETECTION, CORRELATION and BUILDING_BLOCK are detections (`DETECTION_KINDS`):
    the others stay searchable but are left out of the detection browse and the ATT&CK matrix."""

    DETECTION = "detection"
    CORRELATION = "correlation"
    FILTER = "filter"
    BUILDING_BLOCK = "building_block"
    HUNTING = "hunting"
    ENRICHMENT = "enrichment"  # lookups, saved queries and data models that feed other rules
    ALERT_FEED = "alert_feed"  # a third party's alerts passed through (e.g. Elastic's endpoint promotions)
    DEPRECATED = "deprecated"
    UNSUPPORTED = "unsupported"


DETECTION_KINDS = frozenset({RuleKind.DETECTION, RuleKind.CORRELATION, RuleKind.BUILDING_BLOCK})

# Sigma's rule levels, least severe first (the order `scan --min-level` compares in).
LEVELS = ("informational", "low", "medium", "high", "critical")

# The Sigma-style log source product of email rules (Sublime's reader derives it for every rule; the telemetry
# catalog's email platform is filed under it).
EMAIL_PRODUCT = "email"


class StageOp(StrEnum):
    """What a stage does, one vocabulary for every language (DESIGN.md, "The rule model")."""

    CONDITION = "condition"  # Sigma's condition: an expression over the named searches
    SEARCH = "search"  # a named search (Sigma identifier, YARA-L `events`)
    SOURCE = "source"  # index, table, data model, FROM
    FILTER = "filter"  # search / where / WHERE: ANDed into the rule's logic up to the first aggregate
    AGGREGATE = "aggregate"  # stats / summarize / STATS / match / GROUP BY
    HAVING = "having"  # a filter after an aggregate (a threshold)
    EXTEND = "extend"  # eval / extend / EVAL / rex / parse
    PROJECT = "project"  # table / fields / project / KEEP / SELECT / outcome
    JOIN = "join"  # join / lookup / union / ENRICH
    SEQUENCE = "sequence"  # an EQL sequence header
    LET = "let"  # a named sub-query others `Ref`
    TRANSFORM = "transform"  # sort, limit, mv-expand, fillnull ...
    ML = "ml"  # a machine-learning job: no expression


class CorrelationType(StrEnum):
    """Sigma's correlation types, and the inline aggregations of other languages in the same shape."""

    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"
    VALUE_SUM = "value_sum"
    VALUE_AVG = "value_avg"
    VALUE_PERCENTILE = "value_percentile"
    VALUE_MEDIAN = "value_median"
    # inline aggregations of single rules (Correlation.rules == ()):
    THRESHOLD = "threshold"  # Elastic threshold, Kusto `summarize ... | where count > N`
    NEW_TERMS = "new_terms"  # Elastic new_terms
    SEQUENCE = "sequence"  # EQL `sequence by ... with maxspan`, Panther sequence correlations
    WINDOW = "window"  # YARA-L `match ... over`, Panther dedup


# Sigma's own correlation types in the specification's order (value_median is pySigma's: percentile 50).
SIGMA_CORRELATION_TYPES: tuple[str, ...] = (
    CorrelationType.EVENT_COUNT,
    CorrelationType.VALUE_COUNT,
    CorrelationType.TEMPORAL,
    CorrelationType.TEMPORAL_ORDERED,
    CorrelationType.VALUE_SUM,
    CorrelationType.VALUE_AVG,
    CorrelationType.VALUE_PERCENTILE,
    CorrelationType.VALUE_MEDIAN,
)
TEMPORAL_TYPES = frozenset({CorrelationType.TEMPORAL, CorrelationType.TEMPORAL_ORDERED})
# The types that aggregate a field's values (`condition.field`).
FIELD_TYPES = frozenset(
    {
        CorrelationType.VALUE_COUNT,
        CorrelationType.VALUE_SUM,
        CorrelationType.VALUE_AVG,
        CorrelationType.VALUE_PERCENTILE,
        CorrelationType.VALUE_MEDIAN,
    }
)

# Timespan units: the specification's s, m, h, d; pySigma also takes w, M (30.44 d) and y (365.24 d).
TIMESPAN_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2629746, "y": 31556952}
_TIMESPAN = re.compile(r"([0-9]+)([smhdwMy])")


def timespan_seconds(text: str) -> int | None:
    """Seconds in a timespan such as `90m` (surrounding blanks allowed), or None when it is not one."""
    match = _TIMESPAN.fullmatch(text.strip())
    if match is None or int(match.group(1)) <= 0:
        return None
    return int(match.group(1)) * TIMESPAN_UNIT_SECONDS[match.group(2)]


# A log source key a reader sets when it read the rule's Sigma category from one scope comparison of its logic
# that means exactly that category (YARA-L `metadata.event_type = "PROCESS_LAUNCH"` → process_creation, the
# only UDM event type read as that category): `<field>=<value>`, as the predicate writes them. Over the
# category's event coverage the comparison holds for every event, so the canonical form leaves it to coverage.
CATEGORY_SCOPE = "category_scope"

# What Elastic's ingest pipelines write on every event of a log (the relations' scope rules read these:
# analysis/relations/scope.py).
# Data sets that hold one Sigma service's whole log and nothing else (product, service): every event Elastic
# files from that log carries the data set (`data_stream.dataset`, `event.dataset`), so over that service's
# events a comparison with it restates the coverage. (Prefixes such as `azure.` name several logs: left out.)
SERVICE_DATASETS: dict[str, tuple[str, str]] = {
    "aws.cloudtrail": ("aws", "cloudtrail"),
    "azure.activitylogs": ("azure", "activitylogs"),
    "azure.signinlogs": ("azure", "signinlogs"),
    "azure.auditlogs": ("azure", "auditlogs"),
    "o365.audit": ("m365", "audit"),
    "gcp.audit": ("gcp", "gcp.audit"),
    "okta.system": ("okta", "okta"),
    "github.audit": ("github", "audit"),
    "google_workspace.admin": ("google_workspace", "google_workspace.admin"),
}
# The ECS scope Elastic's Windows ingest pipelines write on an event, by (catalog provider, event id): the
# Windows integration's Sysmon pipeline (1 → process/start, 3 → network, 11 → file, 12–14 → registry) and
# the System integration's Security pipeline (4688 → process/start). Only what holds of every such event.
_ECS_PROCESS_START = (("event.category", "process"), ("event.type", "start"))
SYSMON_ECS_SCOPE: dict[tuple[str, int | str], tuple[tuple[str, str], ...]] = {
    ("Sysmon", 1): _ECS_PROCESS_START,
    ("Security", 4688): _ECS_PROCESS_START,
    ("Sysmon", 3): (("event.category", "network"),),
    ("Sysmon", 11): (("event.category", "file"),),
    ("Sysmon", 12): (("event.category", "registry"),),
    ("Sysmon", 13): (("event.category", "registry"),),
    ("Sysmon", 14): (("event.category", "registry"),),
}

# A list-membership predicate (`in $org_domains`, `%list`, `_GetWatchlist()`, a lookup, a Sigma
# placeholder) is `Pred(kind=EQ, value=<the list's name>, transforms=(MEMBERSHIP,))`: shown as
# "member of <name>".
MEMBERSHIP = "expand"


@dataclass(slots=True, frozen=True)
class Vendor:
    label: str  # the label in URLs and corpus counts
    name: str  # how pages show it
    languages: tuple[str, ...]


VENDORS: dict[str, Vendor] = {
    v.label: v
    for v in (
        Vendor("sigma", "Sigma", ("sigma",)),
        Vendor("elastic", "Elastic", ("eql", "kuery", "esql", "lucene", "ml")),
        Vendor("splunk", "Splunk", ("spl",)),
        Vendor("kusto", "Kusto (Sentinel / Defender XDR)", ("kql",)),
        Vendor("yaral", "YARA-L (Google SecOps)", ("yaral",)),
        Vendor("sublime", "Sublime MQL", ("mql",)),
        Vendor("panther", "Panther", ("python", "sql", "panther-yaml")),
    )
}


@dataclass(slots=True, frozen=True)
class AttackTactic:
    shortname: str  # the tag form: Sigma writes attack.<shortname>, with hyphens or underscores
    id: str
    name: str


# ATT&CK Enterprise tactics in the order of ATT&CK's own matrix, as of v19 (2026-04-14): v19 renamed TA0005
# Defense Evasion to Stealth and split Defense Impairment (TA0112) off it, right after it. The loaded ATT&CK
# data names and describes them; this fixes their order where the data has none (v19's compact list) and
# lets the engine group matches by tactic without ATT&CK data.
ATTACK_TACTICS: tuple[AttackTactic, ...] = tuple(
    AttackTactic(*t)
    for t in (
        ("reconnaissance", "TA0043", "Reconnaissance"),
        ("resource-development", "TA0042", "Resource Development"),
        ("initial-access", "TA0001", "Initial Access"),
        ("execution", "TA0002", "Execution"),
        ("persistence", "TA0003", "Persistence"),
        ("privilege-escalation", "TA0004", "Privilege Escalation"),
        ("stealth", "TA0005", "Stealth"),
        ("defense-impairment", "TA0112", "Defense Impairment"),
        ("credential-access", "TA0006", "Credential Access"),
        ("discovery", "TA0007", "Discovery"),
        ("lateral-movement", "TA0008", "Lateral Movement"),
        ("collection", "TA0009", "Collection"),
        ("command-and-control", "TA0011", "Command and Control"),
        ("exfiltration", "TA0010", "Exfiltration"),
        ("impact", "TA0040", "Impact"),
    )
)
# Tactic tags of older ATT&CK versions and of the ICS and mobile matrices that rules still carry.
OTHER_TACTIC_TAGS: tuple[str, ...] = (
    "defense-evasion",  # TA0005 before v19
    "inhibit-response-function",
    "impair-process-control",
    "evasion",
)


Scalar: TypeAlias = str | int | float | bool | None


def scalar_text(value: Scalar) -> str:
    """A scalar as text, one way for every layer: null, true/false, integral floats without `.0`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- the wildcard syntax of `Kind.WILDCARD` values (Sigma's) -----------------------------------------------


class Wild(Enum):
    """A wildcard token of a parsed pattern."""

    STAR = "*"  # any run of characters, also empty
    ONE = "?"  # exactly one character
    DASH = "-"  # one windash character (the engine's form of a `windash` position too many to expand)


WildPart: TypeAlias = str | Wild

_SPLIT_WILDCARDS = re.compile(r"([*?])")


def parse_wildcard(text: str) -> tuple[WildPart, ...]:
    """A pattern as literal text and wildcards, exactly as pySigma's SigmaString reads it.

    `*` and `?` are wildcards; a backslash escapes `*`, `?` and itself; any other backslash (also a
    trailing one) is a literal backslash. Runs of `*` are kept as written (pySigma keeps them).
    """
    if "\\" not in text:  # the common case, without the character loop
        return tuple(
            Wild.STAR if token == "*" else Wild.ONE if token == "?" else token
            for token in _SPLIT_WILDCARDS.split(text)
            if token
        )
    parts: list[WildPart] = []
    acc: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            if ch not in "*?\\":
                acc.append("\\")  # a backslash before an ordinary character is itself ordinary
            acc.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "*" or ch == "?":
            if acc:
                parts.append("".join(acc))
                acc = []
            parts.append(Wild.STAR if ch == "*" else Wild.ONE)
        else:
            acc.append(ch)
    if escaped:
        acc.append("\\")  # a trailing backslash is literal
    if acc:
        parts.append("".join(acc))
    return tuple(parts)


def wildcard_text(parts: tuple[WildPart, ...] | list[WildPart]) -> str:
    """Parts back to the wildcard syntax with as few escapes as possible (the inverse of `parse_wildcard`):
    `*`/`?` literals become `\\*`/`\\?`, and a literal backslash is doubled only where the next character
    would otherwise read as an escape (before `\\`, `*`, `?` or a wildcard)."""
    out: list[str] = []
    flat: list[WildPart] = [c for p in parts for c in (p if isinstance(p, str) else (p,))]
    for index, item in enumerate(flat):
        if isinstance(item, Wild):
            out.append(item.value)
        elif item == "\\":
            following = flat[index + 1] if index + 1 < len(flat) else None
            out.append(
                "\\\\"
                if following is not None and (isinstance(following, Wild) or following in "*?\\")
                else "\\"
            )
        elif item in "*?":
            out.append("\\" + item)
        else:
            out.append(item)
    return "".join(out)


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
    # selects the data source (index, sourcetype, event.category, Channel...): not an indicator
    scope: bool = False
    # The comparison `kind`/`value` state is implied by the native one, not equal to it: the native operator
    # is narrower than any kind of the vocabulary (Kusto `has "cmd"` is a whole-term match, stored as
    # `contains "cmd"`, which every match of it satisfies). Indicator counts use the stored comparison;
    # relations never treat it as equal to an exact one.
    implies_only: bool = False


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
    `op` is a `StageOp` value. `defines` lists the columns the stage creates (`count` after `stats`): a later
    predicate on one of them is that stage's logic, never an indicator.
    """

    index: int
    label: str
    op: str
    text: str
    expr: Expr | None
    line: int | None = None
    defines: tuple[str, ...] = ()


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
    """A Sigma correlation, or a single rule's inline aggregation (then `rules == ()`)."""

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
    # Header facts of the vendor's own format, in display order (("Time window", "9m"), ("Log types", ...)).
    facts: tuple[tuple[str, str], ...] = ()
    output_fields: tuple[str, ...] = ()  # fields the rule emits (project, outcome, alert context)
    # False until the source parses this language's logic: the page then says the stages are not parsed.
    logic_parsed: bool = True
    # False when part of the logic is shown only as text (Panther Python not reduced): the predicates must
    # hold but are not all that must, so no relation (broader, equivalent) may be decided from them.
    logic_complete: bool = True


@dataclass(slots=True)
class SourceResult:
    """What a source produced from one input tree: rules, and a problem for every file it could not use."""

    rules: list[Rule] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    files: int = 0
    files_per_folder: dict[str, int] = field(default_factory=dict)


def walk_leaves(expr: Expr | None, negated: bool = False) -> list[tuple[Pred | Ref, bool]]:
    """Every predicate and reference under `expr` in order, with whether an odd number of `Not` lies above it.

    The one walk of an expression tree: analysis, telemetry and the engine read leaves through it.
    """
    out: list[tuple[Pred | Ref, bool]] = []
    stack: list[tuple[Expr, bool]] = [] if expr is None else [(expr, negated)]
    while stack:
        node, neg = stack.pop()
        if isinstance(node, Pred | Ref):
            out.append((node, neg))
        elif isinstance(node, Not):
            stack.append((node.item, not neg))
        else:
            stack.extend((item, neg) for item in reversed(node.items))
    return out


def walk_preds(expr: Expr | None, negated: bool = False) -> list[tuple[Pred, bool]]:
    """Every predicate under `expr`, with whether an odd number of `Not` lies above it."""
    return [(node, neg) for node, neg in walk_leaves(expr, negated) if isinstance(node, Pred)]


def walk_refs(expr: Expr | None, negated: bool = False) -> list[tuple[Ref, bool]]:
    """Every reference under `expr` (a condition's search identifiers), with its negation parity."""
    return [(node, neg) for node, neg in walk_leaves(expr, negated) if isinstance(node, Ref)]
