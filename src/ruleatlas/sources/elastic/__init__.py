"""Elastic source: elastic/detection-rules TOML files → `Rule`s, with their EQL, kuery and ES|QL logic as
stages and predicates (`logic.py`, one grammar per language beside it).

One TOML file is one rule (`[metadata]` + `[rule]`). Files under `rules/_deprecated/` (or with maturity
`deprecated`) are deprecated; `building_block_type` marks building blocks; promotion rules
(`metadata.promotion`, `rules/promotions/`) forward another product's alerts (Elastic Defend, Okta
ThreatInsight...), so they are alert feeds, as are indicator-match (`threat_match`) rules. Threshold and
new_terms rules carry their aggregation in TOML
tables, not in the query: they become the rule's inline `Correlation` (rules=()). TOML is read with `tomli`,
the standard library's `tomllib` compiled (3x faster on this corpus): plain data, no code; nesting past
Python's recursion limit is a RecursionError, reported like a syntax error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomli

from ruleatlas.model import Correlation, CorrelationType, Problem, Rule, RuleKind
from ruleatlas.sources import ParseOutput, RuleFile
from ruleatlas.sources.common import (
    attack_ids,
    facts,
    iso_date,
    new_rule,
    one_rule,
    part,
    severity_level,
    span_seconds,
    strings,
    text,
    unreadable_text,
    walk,
)
from ruleatlas.sources.elastic.logic import fill_logic
from ruleatlas.sources.elastic.logsource import derive

VENDOR = "elastic"
# Bump when this reader's output changes shape or meaning: a catalog built by another version is rebuilt.
PARSER_VERSION = "elastic-2"
TOP_FOLDERS = ("rules", "rules_building_block")
_TOML_PLACE = re.compile(r"\(at line (\d+), column (\d+)\)")
_LOOKBACK = re.compile(r"^now-(\d+)([smhd])$")


def list_files(root: Path) -> Iterable[RuleFile]:
    """Every `*.toml` under `rules/` and `rules_building_block/`, counted per top folder."""
    for top in TOP_FOLDERS:
        yield from walk(root, top, (".toml",), lambda rel: part(rel, 0))


def parse_file(
    text_: str,
    rel_path: str,
    folder: str,
    *,
    repo_url: str,
    commit: str,
    companions: dict[str, str],
) -> ParseOutput:
    unusable = unreadable_text(text_, rel_path)
    if unusable is not None:
        return [], [unusable]
    try:
        data = tomli.loads(text_.removeprefix("\ufeff"))
    except tomli.TOMLDecodeError as exc:
        place = _TOML_PLACE.search(str(exc))
        message = _TOML_PLACE.sub("", str(exc)).strip()
        return [], [
            Problem(
                rel_path,
                f"malformed TOML: {message}",
                int(place.group(1)) if place else 1,
                "check quoting ('''...''' for queries with quotes) and table headers around this line",
            )
        ]
    except (RecursionError, UnicodeError) as exc:
        return [], [
            Problem(rel_path, f"unusable TOML: {type(exc).__name__}", 1, "an Elastic rule is flat TOML")
        ]
    meta, body = data.get("metadata"), data.get("rule")
    if not isinstance(body, dict):
        return [], [
            Problem(
                rel_path,
                "no [rule] table: not an Elastic rule",
                1,
                "an Elastic rule has [metadata] and [rule]",
            )
        ]
    meta = meta if isinstance(meta, dict) else {}
    rule = new_rule(
        VENDOR,
        _language(body),
        text_,
        rel_path,
        folder,
        repo_url=repo_url,
        commit=commit,
        companions=companions,
    )
    problems: list[Problem] = []
    _fill(rule, meta, body, rel_path, text_, problems)
    return one_rule(rule, problems)


def _language(body: dict[str, Any]) -> str:
    if body.get("type") == "machine_learning":
        return "ml"
    return text(body.get("language")) or text(body.get("type"))


def _fill(
    rule: Rule, meta: dict[str, Any], body: dict[str, Any], rel_path: str, text_: str, problems: list[Problem]
) -> None:
    rule.line = _line(text_, "rule", table=True) or 1
    rule.id = text(body.get("rule_id"))
    rule.title = text(body.get("name"))
    if not rule.title:
        problems.append(Problem(rel_path, "rule has no 'name'", rule.line, 'add name = "..." to [rule]'))
    rule.description = text(body.get("description")).strip()
    rule.status = text(meta.get("maturity"))
    native_severity = text(body.get("severity"))
    rule.level = severity_level(
        native_severity, rel_path, _line(text_, "severity"), "low, medium, high, critical", problems
    )
    rule.authors = strings(body.get("author"))
    rule.author = ", ".join(rule.authors)
    rule.date = iso_date(meta.get("creation_date"))
    rule.modified = iso_date(meta.get("updated_date"))
    rule.references = strings(body.get("references"))
    rule.falsepositives = strings(body.get("false_positives"))
    rule.tags = strings(body.get("tags"))
    rule.attack_ids = attack_ids(_technique_ids(body.get("threat")))
    rule.kind = _kind(rel_path, rule.status, meta, body)
    query = text(body.get("query"))
    index = strings(body.get("index"))
    rule.logsource = derive(rule.language, query, index, rule.tags)
    integration = strings(meta.get("integration"))
    if integration:
        rule.logsource["elastic.integration"] = ", ".join(integration)
    investigation = body.get("investigation_fields")
    if isinstance(investigation, dict):
        rule.output_fields = strings(investigation.get("field_names"))
    window = _lookback(text(body.get("from")))
    rule.correlation = _aggregation(body, window)
    rule.problems = problems  # the query's parse problem, if any, joins the metadata ones
    rule.correlation = fill_logic(rule, body, text_, rel_path) or rule.correlation
    sequence = (
        rule.correlation if rule.correlation and rule.correlation.type == CorrelationType.SEQUENCE else None
    )
    group_by = rule.correlation.group_by if rule.correlation else ()
    rule.facts = facts(
        ("Status", rule.status),
        ("Rule type", body.get("type")),
        ("Building block", "yes" if body.get("building_block_type") else ""),
        ("Severity", native_severity),
        ("Risk score", body.get("risk_score")),
        ("Time window", window),
        ("Max span", sequence.timespan if sequence else ""),
        ("Schedule", body.get("interval")),
        ("Group by", list(group_by)),
        ("Index", list(index)),
        ("ML job", body.get("machine_learning_job_id")),
        ("Anomaly threshold", body.get("anomaly_threshold")),
    )


def _kind(rel_path: str, status: str, meta: dict[str, Any], body: dict[str, Any]) -> RuleKind:
    """Precedence: deprecated, alert feed (promotion, indicator match), building block, detection."""
    if rel_path.startswith("rules/_deprecated/") or status == "deprecated":
        return RuleKind.DEPRECATED
    if meta.get("promotion") is True or rel_path.startswith("rules/promotions/"):
        return RuleKind.ALERT_FEED
    if body.get("type") == "threat_match":
        # an indicator match alerts on a threat-intel feed's indicators, not on a behaviour it describes
        return RuleKind.ALERT_FEED
    if body.get("building_block_type"):
        return RuleKind.BUILDING_BLOCK
    return RuleKind.DETECTION


def _technique_ids(threat: Any) -> list[str]:
    """Technique then sub-technique ids of every `[[rule.threat]]` entry, in file order."""
    ids: list[str] = []
    for entry in threat if isinstance(threat, list) else []:
        techniques = entry.get("technique") if isinstance(entry, dict) else None
        for technique in techniques if isinstance(techniques, list) else []:
            if not isinstance(technique, dict):
                continue
            ids.append(text(technique.get("id")))
            subs = technique.get("subtechnique")
            ids += [text(s.get("id")) for s in subs if isinstance(s, dict)] if isinstance(subs, list) else []
    return ids


def _lookback(value: str) -> str:
    """`now-9m` → `9m`: how far back each run looks (the schedule is `interval`)."""
    match = _LOOKBACK.match(value.strip())
    return f"{match.group(1)}{match.group(2)}" if match else value


def _aggregation(body: dict[str, Any], window: str) -> Correlation | None:
    threshold, new_terms = body.get("threshold"), body.get("new_terms")
    if body.get("type") == "threshold" and isinstance(threshold, dict):
        condition: dict[str, Any] = {"gte": threshold.get("value")}
        cardinality = threshold.get("cardinality")
        if isinstance(cardinality, list) and cardinality and isinstance(cardinality[0], dict):
            # and at least this many distinct values of one field per group (Sigma's value_count shape)
            condition["field"] = cardinality[0].get("field")
            condition["distinct_gte"] = cardinality[0].get("value")
        return Correlation(
            CorrelationType.THRESHOLD,
            (),
            strings(threshold.get("field")),
            window,
            span_seconds(window),
            condition=condition,
        )
    if body.get("type") == "new_terms" and isinstance(new_terms, dict):
        history = ""
        for item in new_terms.get("history_window_start") or []:
            if isinstance(item, dict) and item.get("field") == "history_window_start":
                history = _lookback(text(item.get("value")))
        return Correlation(
            CorrelationType.NEW_TERMS, (), strings(new_terms.get("value")), history, span_seconds(history)
        )
    return None


def _line(text_: str, key: str, *, table: bool = False) -> int | None:
    """The 1-based line where a top-level key (or `[key]` table) is written; tomllib keeps no positions."""
    pattern = rf"^\[{re.escape(key)}\]" if table else rf"^{re.escape(key)}\s*="
    match = re.search(pattern, text_, re.MULTILINE)
    return text_.count("\n", 0, match.start()) + 1 if match else None
