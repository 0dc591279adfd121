"""The rule page document: one JSON-ready dict per rule (see docs/page-document.md).

It joins the IR with what only the whole catalog knows (corpus counts, ATT&CK names, event coverage), so
pages, the API and `ruleatlas show --json` all print the same object.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ruleatlas.analysis.indicators import Indicator, RuleIndicators
from ruleatlas.model import MEMBERSHIP, Pred, Rule, Stage, walk_preds

# Log source keys in the order detection engineers read them (the seed page: "product windows, category ...").
LOGSOURCE_ORDER = ("product", "category", "service", "definition")


def logsource_text(logsource: dict[str, str]) -> str:
    keys = [k for k in LOGSOURCE_ORDER if k in logsource] + sorted(
        k for k in logsource if k not in LOGSOURCE_ORDER
    )
    return ", ".join(f"{k} {logsource[k]}" for k in keys)


def pred_dict(pred: Pred, negated: bool = False) -> dict[str, Any]:
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


def stage_dict(stage: Stage) -> dict[str, Any]:
    return {
        "index": stage.index,
        "label": stage.label,
        "op": stage.op,
        "text": stage.text,
        "line": stage.line,
        "defines": list(stage.defines),
        "predicates": [pred_dict(p, neg) for p, neg in walk_preds(stage.expr)],
    }


def indicator_dict(ind: Indicator) -> dict[str, Any]:
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
    attack: list[dict[str, Any]],
    attack_unknown: list[str],
    events: list[dict[str, Any]],
    events_note: str,
) -> dict[str, Any]:
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
        "source": asdict(rule.source),
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


def _correlation_dict(rule: Rule) -> dict[str, Any] | None:
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
