"""What Elastic's three query languages share once parsed: string literals, wildcard patterns as the model's
kinds, and which ECS fields select the data source rather than the behaviour (scope predicates).

Elastic's wildcard patterns (`:` and `like` in EQL, unquoted kuery values, ES|QL `LIKE`) treat `*` and `?` as
wildcards and a backslash as an ordinary character (`"C:\\\\Windows\\\\*"` is the folder's contents), so a
pattern is split here and handed to the Sigma reader's `classify`, which turns wildcards at the ends into
contains/starts_with/ends_with and writes inner ones in the model's wildcard syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ruleatlas.model import All, Any, Correlation, Expr, Kind, Not, Pred, Scalar, Stage, Wild, WildPart
from ruleatlas.sources.sigma_modifiers import classify


@dataclass(slots=True)
class Logic:
    """A query's stages, and the inline aggregation its syntax carries (an EQL sequence's keys and maxspan, an
    ES|QL STATS ... BY that a WHERE after it thresholds)."""

    stages: list[Stage]
    correlation: Correlation | None = None


# ECS fields that choose the data (which events, which host OS, which data set), as a Sigma logsource does:
# shown and used for event coverage, never indicators (vendors.md §1 item 3). `event.action`, `event.code`
# and `event.provider` name the behaviour (the API call, the Windows event id) and stay indicators.
SCOPE_FIELDS = frozenset(
    {
        "event.category",
        "event.type",
        "event.kind",
        "event.module",
        "event.dataset",
        "data_stream.dataset",
        "data_stream.namespace",
        "data_stream.type",
        "host.os.type",
        "host.os.family",
        "host.os.platform",
        "host.os.name",
        "os.type",
        "os.family",
        "os.platform",
        "_index",
        "index",
    }
)

# Endpoint `event.action` values that name the kind of event (a process started, a file created, a network
# connection attempted, a library loaded), as Elastic Defend, auditd/Auditbeat, Sysmon via Winlogbeat and
# CrowdStrike FDR write them. Such a value chooses the data as a Sigma category does (process_creation,
# file_event, file_rename, image_load, network_connection, dns_query): pySigma's own ECS macOS pipeline turns
# Sigma's `process_creation` log source into `event.action: exec`, `file_event` into `event.action: create`
# (sigma.pipelines.elasticsearch.macos), so they are scope. Values that name what was done rather than which
# record it is stay indicators: cloud API operations (CloudTrail eventName, Azure operationName, Kubernetes
# verbs, m365 Operation), and Windows Security events that Sigma writes as an EventID (`logged-in` is 4624,
# `service-installed` 4697), since Sigma counts `EventID` as an indicator. Compared case-insensitively.
EVENT_KIND_ACTIONS = frozenset(
    {
        # process events
        "exec",
        "executed",
        "exec_event",
        "start",
        "process_started",
        "processrollup2",
        "process create",
        "fork",
        "end",
        "uid_change",
        # file events
        "creation",
        "deletion",
        "modification",
        "rename",
        "open",
        "opened-file",
        "file_create_event",
        "file_rename_event",
        "file_modify_event",
        "file_delete_event",
        # library loads
        "load",
        "image loaded",
        # network events
        "connection_attempted",
        "connection_accepted",
        "connected-to",
        "disconnect_received",
        "network_flow",
        "flow_started",
        "flow_dropped",
        "lookup_requested",
    }
)
# The Sigma log source products whose rules read endpoint events (an empty product: a rule for several
# operating systems); elsewhere (`kubernetes`, cloud products) `event.action` is the service's operation.
ENDPOINT_PRODUCTS = frozenset({"windows", "linux", "macos", ""})

# ECS fields mapped as analysed text, where a quoted kuery value is a phrase found anywhere in the field,
# case-insensitively (Elastic's `match_phrase`), not the whole value: Sigma's `|contains`.
TEXT_FIELDS = frozenset(
    {"powershell.file.script_block_text", "message", "error.message", "file.Ext.header_bytes"}
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", '"': '"', "'": "'", "\\": "\\"}


def unescape(body: str) -> str:
    """A quoted string's body with its backslash escapes applied (`\\\\` → `\\`, `\\"` → `"`, `\\n`...); an
    unknown escape keeps its backslash."""
    if "\\" not in body:
        return body
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch == "\\" and i + 1 < n:
            nxt = body[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def pattern_parts(text: str, escapes: bool = False) -> list[WildPart]:
    """A wildcard pattern as literal text and wildcards, runs of `*` made one. With `escapes` (kuery's
    unquoted values), a backslash makes the next character literal; otherwise a backslash is an ordinary
    character."""
    parts: list[WildPart] = []
    acc: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if escapes and ch == "\\" and i + 1 < n:
            acc.append(text[i + 1])
            i += 2
            continue
        if ch in "*?":
            if acc:
                parts.append("".join(acc))
                acc = []
            wild = Wild.STAR if ch == "*" else Wild.ONE
            if not (wild is Wild.STAR and parts and parts[-1] is Wild.STAR):
                parts.append(wild)
        else:
            acc.append(ch)
        i += 1
    if acc:
        parts.append("".join(acc))
    return parts


def wildcard_pred(field: str | None, pattern: str, cased: bool, native: str, escapes: bool = False) -> Pred:
    """A pattern comparison: `*x` ends_with, `x*` starts_with, `*x*` contains, no wildcard eq, else wildcard;
    a lone `*` is an existence check."""
    parts = pattern_parts(pattern, escapes)
    if parts == [Wild.STAR] and field is not None:
        return Pred(field, Kind.EXISTS, True, native=native, scope=is_scope(field))
    kind, value = classify(parts)
    return Pred(field, kind, value, cased, native=native, scope=is_scope(field))


def is_scope(field: str | None) -> bool:
    return field is not None and field in SCOPE_FIELDS


def is_event_kind(pred: Pred) -> bool:
    """Whether a predicate compares `event.action` with a value naming an endpoint event kind (the caller
    checks that the rule reads endpoint data)."""
    return (
        pred.field == "event.action"
        and pred.kind is Kind.EQ
        and isinstance(pred.value, str)
        and pred.value.lower() in EVENT_KIND_ACTIONS
    )


def mark_event_kinds(expr: Expr | None) -> Expr | None:
    """The expression with its endpoint event-kind `event.action` comparisons marked scope."""
    if isinstance(expr, Pred):
        return replace(expr, scope=True) if not expr.scope and is_event_kind(expr) else expr
    if isinstance(expr, (All, Any)):
        return type(expr)(tuple(mark_event_kinds(item) or item for item in expr.items))
    if isinstance(expr, Not):
        inner = mark_event_kinds(expr.item)
        return Not(inner) if inner is not None else expr
    return expr


def one_or_any(items: list[Expr]) -> Expr:
    return items[0] if len(items) == 1 else Any(tuple(items))


def number(text: str) -> Scalar:
    """A numeric literal as int or float (as written when neither)."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
