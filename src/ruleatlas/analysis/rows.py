"""One rule → everything the catalog stores about it, as plain rows and a JSON document.

This runs in build worker processes: the result is made of strings and tuples so that sending it back to
the parent costs little (pickling rule objects or nested dicts would cost more than the analysis).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import cast

from ruleatlas.analysis.canonical import canonical
from ruleatlas.analysis.document import BridgedEventDoc, rule_document
from ruleatlas.analysis.indicators import rule_indicators
from ruleatlas.analysis.relations import rule_form
from ruleatlas.analysis.relations.actions import cloud_actions
from ruleatlas.attack import AttackData, map_tags
from ruleatlas.attack.tags import TacticDoc
from ruleatlas.model import All, Expr, Not, Pred, Problem, Ref, Rule, RuleKind
from ruleatlas.model import Any as AnyOf
from ruleatlas.telemetry import TelemetryCatalog, event_coverage
from ruleatlas.telemetry.bridged import BridgedEvent
from ruleatlas.telemetry.coverage import Coverage, CoverageDoc, RuleFacts, rule_facts

# Rules of these kinds are shown but never counted: they are not part of the live corpus.
UNCOUNTED_KINDS = frozenset({RuleKind.DEPRECATED, RuleKind.UNSUPPORTED})

NO_TELEMETRY_NOTE = "no telemetry definitions loaded (build with --telemetry)"


@dataclass(slots=True)
class RuleRow:
    uid: str
    base_uid: str
    vendor: str
    source: str  # the source name (several sources may share a vendor label)
    rule_id: str
    title: str
    status: str
    level: str
    kind: str
    folder: str
    product: str
    category: str
    service: str
    path: str
    doc_json: str
    techniques: list[tuple[str, str]] = field(default_factory=list)
    events: list[tuple[str, str, int | str, str]] = field(default_factory=list)
    # (canonical field, kind, normalised value, transforms, exclusion 0/1, the value as the rule spells it
    # (canonical form), the rule's own field name)
    indicators: list[tuple[str, str, str, str, int, str, str]] = field(default_factory=list)
    # Problems the analysis found (tags ATT&CK does not know); the parser's own are on the Rule.
    problems: list[Problem] = field(default_factory=list)
    # The rule's canonical form for relations (analysis/relations: JSON), "" when it has no logic to compare.
    relation_form: str = ""

    @property
    def counted(self) -> bool:
        return self.kind not in UNCOUNTED_KINDS

    def renamed(self, uid: str) -> RuleRow:
        """The same row under another uid (uids are made unique across files after analysis)."""
        doc = json.loads(self.doc_json)
        doc["uid"] = uid
        return RuleRow(
            uid,
            self.base_uid,
            self.vendor,
            self.source,
            self.rule_id,
            self.title,
            self.status,
            self.level,
            self.kind,
            self.folder,
            self.product,
            self.category,
            self.service,
            self.path,
            json.dumps(doc, ensure_ascii=False),
            self.techniques,
            self.events,
            self.indicators,
            self.problems,
            self.relation_form,
        )


def analyse_rule(
    rule: Rule,
    attack: AttackData | None,
    telemetry: TelemetryCatalog | None,
    source: str = "",
    bridged: list[BridgedEvent] | None = None,
) -> RuleRow:
    """`source` names the rule's source (`hayabusa`), when it is not its vendor label; `bridged`, the events
    that serve it through a bridge (the page's "also served by"), when there are any."""
    tactics: list[TacticDoc] = []
    unknown: list[str] = []
    problems: list[Problem] = []
    if attack is not None:
        # Other vendors give ATT&CK ids, not Sigma tags: both go through one mapping (repeats merged).
        tags = (*rule.tags, *(f"attack.{attack_id.lower()}" for attack_id in rule.attack_ids))
        coverage = map_tags(tags, attack)
        tactics, unknown = coverage.page_attack(), list(coverage.unknown)
        problems = [_unknown_tag(rule, tag, attack) for tag in unknown]
    events: CoverageDoc = {"events": [], "events_note": NO_TELEMETRY_NOTE}
    if telemetry is not None:
        events = page_coverage(rule, telemetry).to_json()
    indicators = rule_indicators(rule)
    doc = rule_document(
        rule,
        indicators,
        attack=tactics,
        attack_unknown=unknown,
        events=events["events"],
        events_note=events["events_note"],
    )
    if bridged:
        doc["bridged_events"] = cast("list[BridgedEventDoc]", [b.to_json() for b in bridged])
    ls = rule.logsource
    event_rows = [(e["provider"], e["channel"], e["event_id"], e["title"]) for e in events["events"]]
    form = rule_form(rule, event_rows, cloud_actions(rule, telemetry))
    return RuleRow(
        uid=rule.uid,
        base_uid=rule.uid,
        vendor=rule.vendor,
        source=source or rule.vendor,
        rule_id=rule.id,
        title=rule.title,
        status=rule.status,
        level=rule.level,
        kind=rule.kind.value,
        folder=rule.folder,
        product=ls.get("product", ""),
        category=ls.get("category", ""),
        service=ls.get("service", ""),
        path=rule.source.path,
        doc_json=json.dumps(doc, ensure_ascii=False),
        techniques=[(t["id"], tactic["tactic_id"]) for tactic in tactics for t in tactic["techniques"]],
        events=event_rows,
        indicators=[
            (
                ind.field,
                ind.key[1],
                ind.key[2],
                ind.key[3],
                flag,
                _spelling(ind.value),
                ind.native_field or "",
            )
            for flag, group in ((0, indicators.positives), (1, indicators.exclusions))
            for ind in group
        ],
        problems=problems,
        relation_form=form.to_json() if form is not None else "",
    )


def _spelling(value: object) -> str:
    """The value as the rule writes it, for pages (counting uses the folded key)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _unknown_tag(rule: Rule, tag: str, attack: AttackData) -> Problem:
    """A warning for an `attack.*` tag the loaded ATT&CK data does not know, on the tag's line."""
    versions = f"v{attack.version}" + (f" or v{attack.details_version}" if attack.details_version else "")
    return Problem(
        rule.source.path,
        f"tag {tag!r} names nothing in ATT&CK {versions}",
        _tag_line(rule, tag),
        hint="check the id on attack.mitre.org, or correct the tag (attack.t1059.001, attack.execution)",
        severity="warning",
        rule_uid=rule.uid,
    )


def _tag_line(rule: Rule, tag: str) -> int | None:
    """The file line of a tag: the rule's first body line holding it as a list item (the body is verbatim)."""
    wanted = tag.strip().casefold()
    for offset, line in enumerate(rule.body.splitlines()):
        text = line.strip().casefold()
        if text.startswith("-") and text[1:].strip().strip("'\"") == wanted:
            return rule.line + offset
    return rule.line


def page_coverage(rule: Rule, telemetry: TelemetryCatalog) -> Coverage:
    """The events a rule covers, as its page lists them: the telemetry tables (and so the event pages the
    site writes) take the same list, so that every event the page links to has its page."""
    return event_coverage(rule, telemetry, coverage_facts(rule))


def coverage_facts(rule: Rule) -> RuleFacts:
    """What a rule's logic says about its events, in Sigma's field names: a vendor rule's predicates through
    the canonicaliser (`Processes.process_name` is `Image`, `EventCode` is `EventID`), so the field-aware
    coverage check compares the event's fields with names it knows. Scope predicates (index, sourcetype,
    data model) select the data, not an event field, and are left out; a field with no Sigma name keeps its
    own (a platform event's `eventName` is read as written)."""
    if rule.vendor == "sigma":
        return rule_facts(rule)
    stages = [replace(stage, expr=_sigma_named(stage.expr, rule)) for stage in rule.stages]
    return rule_facts(replace(rule, stages=stages))


def _sigma_named(expr: Expr | None, rule: Rule) -> Expr | None:
    if expr is None or isinstance(expr, Ref):
        return expr
    if isinstance(expr, Pred):
        if expr.scope or expr.field is None:
            return None
        form = canonical(expr, rule.vendor, rule.logsource)
        return expr if form.how == "native" else replace(expr, field=form.field)
    if isinstance(expr, Not):
        inner = _sigma_named(expr.item, rule)
        return None if inner is None else Not(inner)
    items = tuple(x for x in (_sigma_named(i, rule) for i in expr.items) if x is not None)
    if not items:
        return None
    return All(items) if isinstance(expr, All) else AnyOf(items)
