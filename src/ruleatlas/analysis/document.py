"""The rule page document: one JSON-ready dict per rule (see docs/page-document.md).

It joins the IR with what only the whole catalog knows (corpus counts, ATT&CK names, event coverage), so
pages, the API and `ruleatlas show --json` all print the same object.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from ruleatlas.analysis.indicators import Indicator, RuleIndicators
from ruleatlas.attack.tags import TacticDoc
from ruleatlas.model import MEMBERSHIP, Pred, Rule, Scalar, Stage, walk_preds
from ruleatlas.telemetry.coverage import EventDoc

# The document's types: what `rule_document` builds and the store stores, then what the store attaches when a
# document is read (corpus counts, relations, related links, fires-on samples, deploy-as conversions; marked
# NotRequired because a stored document lacks them). The API schema (web/api_schemas.py) describes the same
# object for clients; docs/page-document.md describes it in words.


class PredicateDoc(TypedDict):
    scope: bool
    membership: bool
    field: str | None
    kind: str
    value: Scalar
    cased: bool
    transforms: list[str]
    regex_flags: str
    native: str
    negated: bool


class StageDoc(TypedDict):
    index: int
    label: str
    op: str
    text: str
    line: int | None
    defines: list[str]
    predicates: list[PredicateDoc]


class CorpusDoc(TypedDict):
    """How many catalog rules share a key, and the split by vendor label."""

    total: int
    by_vendor: dict[str, int]


class IndicatorDoc(TypedDict):
    field: str | None
    kind: str
    value: Scalar
    key: str
    transforms: list[str]
    cased: bool
    native_field: str | None
    native_kind: str
    native_value: Scalar
    native: str
    mapping: str
    implied: bool  # the canonical comparison is implied by the native one, not equal to it
    membership: bool
    corpus: NotRequired[CorpusDoc]  # set by the store when the document is read
    looked_for: NotRequired[CorpusDoc]  # exclusions only, likewise


class SourceDoc(TypedDict):
    repo: str
    path: str
    commit: str
    url: str


class CorrelationDoc(TypedDict):
    type: str
    rules: list[str]
    group_by: list[str]
    timespan: str
    timespan_seconds: int | None
    condition: dict[str, Scalar | list[Scalar]]
    aliases: dict[str, dict[str, str]]
    generate: bool


class FilterDoc(TypedDict):
    rules: list[str]


class ProblemDoc(TypedDict):
    message: str
    line: int | None
    hint: str
    severity: str


class RelatedRuleDoc(TypedDict):
    """A rule another part of the document names (a broader/stricter neighbour, a same-action rule)."""

    uid: str
    title: str
    vendor: str
    reason: NotRequired[str]  # neighbours only: the comparisons that make it broader or stricter


class SameActionDoc(TypedDict):
    provider: str
    action: str
    total: int
    rules: list[RelatedRuleDoc]


class RuleClassDoc(TypedDict):
    id: str
    size: int


# `class` is a keyword, hence the functional form.
RelationsDoc = TypedDict(
    "RelationsDoc",
    {
        "compared": bool,
        "note": str,
        "class": RuleClassDoc | None,
        "broader": list[RelatedRuleDoc],
        "broader_total": int,
        "stricter": list[RelatedRuleDoc],
        "stricter_total": int,
        "same_action": list[SameActionDoc],
    },
)


class RelatedLinkDoc(TypedDict):
    direction: Literal["out", "in", "sibling"]
    type: str
    uid: str  # "" for an id no rule carries
    id: str
    title: str
    phrase: str


class FiresSampleDoc(TypedDict):
    name: str
    records: list[int]


class FiresOnDoc(TypedDict):
    samples_checked: int
    samples: list[FiresSampleDoc]


class DeployDoc(TypedDict):
    target: str
    label: str
    pipeline: str
    query: str
    error: str


class LinksDoc(TypedDict):
    """What store/deploy.py attaches to a document when it is read."""

    related_links: list[RelatedLinkDoc]
    fires_on: FiresOnDoc | None
    deploy: list[DeployDoc]


class BridgedViaDoc(TypedDict):
    provider: str
    event_key: str
    label: str


class BridgedEventDoc(TypedDict):
    """An event serving the rule through an event bridge (telemetry/bridged.py: `BridgedEvent.to_json`)."""

    provider: str
    event_key: str
    label: str
    channel: str
    title: str
    via: BridgedViaDoc
    bridge: str
    needs: list[list[str]]
    renames: list[list[str]]
    scanned: bool | None
    text: str


class RuleDocument(TypedDict):
    """The rule page document (docs/page-document.md)."""

    uid: str
    vendor: str
    language: str
    kind: str
    folder: str
    id: str
    name: str
    title: str
    status: str
    level: str
    logsource: dict[str, str]
    logsource_text: str
    author: str
    authors: list[str]
    date: str
    modified: str
    description: str
    references: list[str]
    related: list[dict[str, str]]  # Sigma's `related:` as written ({"id", "type"})
    falsepositives: list[str]
    tags: list[str]
    source: SourceDoc
    attack: list[TacticDoc]
    attack_unknown: list[str]
    events: list[EventDoc]
    events_note: str
    body: str
    facts: list[list[str]]  # [label, value] pairs
    output_fields: list[str]
    logic_parsed: bool
    stages: list[StageDoc]
    indicators: list[IndicatorDoc]
    exclusions: list[IndicatorDoc]
    correlation: CorrelationDoc | None
    filter: FilterDoc | None
    problems: list[ProblemDoc]
    # Attached when the document is read (the store), not stored: they depend on the whole catalog.
    bridged_events: NotRequired[list[BridgedEventDoc]]  # set by the build when some event serves it so
    relations: NotRequired[RelationsDoc]
    related_links: NotRequired[list[RelatedLinkDoc]]
    fires_on: NotRequired[FiresOnDoc | None]
    deploy: NotRequired[list[DeployDoc]]


# Log source keys in the order detection engineers read them (the seed page: "product windows, category ...").
LOGSOURCE_ORDER = ("product", "category", "service", "definition")


def logsource_text(logsource: dict[str, str]) -> str:
    keys = [k for k in LOGSOURCE_ORDER if k in logsource] + sorted(
        k for k in logsource if k not in LOGSOURCE_ORDER
    )
    return ", ".join(f"{k} {logsource[k]}" for k in keys)


def pred_dict(pred: Pred, negated: bool = False) -> PredicateDoc:
    return {
        "scope": pred.scope,
        "membership": MEMBERSHIP in pred.transforms,
        "field": pred.field,
        "kind": pred.kind.value,
        "value": pred.value,
        "cased": pred.cased,
        "transforms": list(pred.transforms),
        "regex_flags": pred.regex_flags,
        "native": pred.native,
        "negated": negated,
    }


def stage_dict(stage: Stage) -> StageDoc:
    return {
        "index": stage.index,
        "label": stage.label,
        "op": stage.op,
        "text": stage.text,
        "line": stage.line,
        "defines": list(stage.defines),
        "predicates": [pred_dict(p, neg) for p, neg in walk_preds(stage.expr)],
    }


def indicator_dict(ind: Indicator) -> IndicatorDoc:
    """An indicator as the page shows it; `key` is the normalised value it is counted under.

    `corpus` is added by the store, which alone knows the whole catalog.
    """
    return {
        "field": ind.field or None,  # canonical: what corpus counts key on
        "kind": ind.key[1],
        "value": ind.value,
        "key": ind.key[2],
        "transforms": list(ind.pred.transforms),
        "cased": ind.pred.cased,
        # The predicate as the rule wrote it, and how the canonical field was reached (pages show both).
        "native_field": ind.native_field,
        "native_kind": ind.pred.kind.value,
        "native_value": ind.pred.value,
        "native": ind.pred.native,
        "mapping": ind.how,
        # the canonical comparison is implied by the native one (`process.args : "x"`, Kusto `has`), not equal
        "implied": ind.implied,
        "membership": MEMBERSHIP in ind.pred.transforms,
    }


def rule_document(
    rule: Rule,
    indicators: RuleIndicators,
    *,
    attack: list[TacticDoc],
    attack_unknown: list[str],
    events: list[EventDoc],
    events_note: str,
) -> RuleDocument:
    return {
        "uid": rule.uid,
        "vendor": rule.vendor,
        "language": rule.language,
        "kind": rule.kind.value,
        "folder": rule.folder,
        "id": rule.id,
        "name": rule.name,
        "title": rule.title,
        "status": rule.status,
        "level": rule.level,
        "logsource": dict(rule.logsource),
        "logsource_text": logsource_text(rule.logsource),
        "author": rule.author,
        "authors": list(rule.authors),
        "date": rule.date,
        "modified": rule.modified,
        "description": rule.description,
        "references": list(rule.references),
        # Sigma's `related:` as written ({"id", "type"}): pages link both ends (analysis/related.py)
        "related": [dict(r) for r in rule.related],
        "falsepositives": list(rule.falsepositives),
        "tags": list(rule.tags),
        "source": {
            "repo": rule.source.repo,
            "path": rule.source.path,
            "commit": rule.source.commit,
            "url": rule.source.url,
        },
        "attack": attack,
        "attack_unknown": attack_unknown,
        "events": events,
        "events_note": events_note,
        "body": rule.body,
        # Header facts of the vendor's own format ("Time window", "Log types"...), in its order.
        "facts": [[label, value] for label, value in rule.facts],
        "output_fields": list(rule.output_fields),
        "logic_parsed": rule.logic_parsed,
        "stages": [stage_dict(s) for s in rule.stages],
        "indicators": [indicator_dict(i) for i in indicators.positives],
        "exclusions": [indicator_dict(i) for i in indicators.exclusions],
        "correlation": _correlation_dict(rule),
        "filter": {"rules": list(rule.filter.rules)} if rule.filter else None,
        "problems": [
            {"message": p.message, "line": p.line, "hint": p.hint, "severity": p.severity}
            for p in rule.problems
        ],
    }


def _correlation_dict(rule: Rule) -> CorrelationDoc | None:
    corr = rule.correlation
    if corr is None:
        return None
    return {
        "type": corr.type,
        "rules": list(corr.rules),
        "group_by": list(corr.group_by),
        "timespan": corr.timespan,
        "timespan_seconds": corr.timespan_seconds,
        "condition": corr.condition,
        "aliases": corr.aliases,
        "generate": corr.generate,
    }
