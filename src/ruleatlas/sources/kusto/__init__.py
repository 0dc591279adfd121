"""Kusto source: Azure-Sentinel analytic rules (YAML, KQL in `query:`) → `Rule`s.

Rules are the YAML files under `Detections/` and `Solutions/*/Analytic Rules/` (upstream also spells it
`Analytical`/`Analytics Rules`). A file without a `query` is not a rule: the snapshot has eight "moved to
Solutions" stubs, each reported as a Problem naming the file. Rules whose every table is `SecurityAlert` pass
another product's alerts through: they are alert feeds. The rule's time window is `queryPeriod`, its schedule
`queryFrequency`; severity Informational/Low/Medium/High maps onto Sigma's scale.

The query is parsed into stages and predicates (`kql_parser`, `kql_stages`, `kql_predicates`). A query that
does not parse keeps its text as stages split at pipes, with a Problem naming the file, line and column. The
tables the query reads complete the declared data types for the log source; custom `_CL` tables have no
telemetry definition, which the rule's facts say.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruleatlas.model import Correlation, CorrelationType, Problem, Rule, RuleKind, StageOp
from ruleatlas.sources import ParseOutput, RuleFile
from ruleatlas.sources.common import (
    YamlMapping,
    attack_ids,
    facts,
    load_mapping,
    new_rule,
    one_rule,
    part,
    severity_level,
    span_seconds,
    strings,
    text,
    walk,
)
from ruleatlas.sources.grammar import parse_problem, text_stages
from ruleatlas.sources.kusto.kql_lexer import KqlSyntaxError
from ruleatlas.sources.kusto.kql_stages import QueryLogic, query_logic
from ruleatlas.sources.kusto.logsource import derive

VENDOR = "kusto"
# Bump when this reader's output changes shape or meaning: a catalog built by another version is rebuilt.
PARSER_VERSION = "kusto-3"
WHAT = "a Sentinel analytic rule (name, query, ...)"
_RULE_FOLDERS = ("analytic rules", "analytical rules", "analytics rules")


def list_files(root: Path) -> Iterable[RuleFile]:
    """`Detections/**/*.yaml` and `Solutions/<solution>/Analytic Rules/**/*.yaml`, counted per top folder."""
    yield from walk(root, "Detections", (".yaml", ".yml"), lambda rel: part(rel, 0))
    yield from walk(root, "Solutions", (".yaml", ".yml"), lambda rel: part(rel, 0), skip=_not_analytic)


def _not_analytic(rel_path: str) -> bool:
    parts = rel_path.split("/")
    return len(parts) < 4 or parts[2].lower() not in _RULE_FOLDERS


def parse_file(
    text_: str,
    rel_path: str,
    folder: str,
    *,
    repo_url: str,
    commit: str,
    companions: dict[str, str],
) -> ParseOutput:
    doc, problems = load_mapping(text_, rel_path, WHAT)
    if doc is None:
        return [], problems
    query = text(doc.get("query"))
    if not query.strip():
        description = " ".join(text(doc.get("description")).strip(" '\"\n").split())
        moved = " (" + description + ")" if "moved" in description.lower() else ""
        return [], [
            *problems,
            Problem(
                rel_path,
                "no 'query': not an analytic rule" + moved,
                doc.line_of("query") if "query" in doc.values else doc.line,
                "an analytic rule's KQL is in query:",
                severity="warning" if moved else "error",
            ),
        ]
    rule = new_rule(
        VENDOR, "kql", text_, rel_path, folder, repo_url=repo_url, commit=commit, companions=companions
    )
    _fill(rule, doc, query, rel_path, problems)
    _logic(rule, doc, text_, query, rel_path, problems)
    return one_rule(rule, problems)


def _fill(rule: Rule, doc: YamlMapping, query: str, rel_path: str, problems: list[Problem]) -> None:
    rule.id = text(doc.get("id"))
    rule.title = text(doc.get("name")).strip()
    if not rule.title:
        problems.append(Problem(rel_path, "rule has no 'name'", doc.line, "add name: <title>"))
    rule.description = text(doc.get("description")).strip().strip("'").strip()
    rule.status = text(doc.get("status")).strip()
    native_severity = text(doc.get("severity")).strip()
    rule.level = severity_level(
        native_severity, rel_path, doc.line_of("severity"), "Informational, Low, Medium, High", problems
    )
    tactics = strings(doc.get("tactics"))
    rule.tags = tuple(f"tactic:{t}" for t in tactics) + _tags(doc.get("tags"))
    rule.attack_ids = attack_ids(strings(doc.get("relevantTechniques")) + strings(doc.get("techniques")))
    connectors, tables = _connectors(doc.get("requiredDataConnectors"))
    rule.kind = (
        RuleKind.ALERT_FEED
        if tables and all(t.startswith("SecurityAlert") for t in tables)
        else RuleKind.DETECTION
    )
    rule.logsource = derive(tables, query)
    rule.output_fields = _output_fields(doc)
    trigger = " ".join(strings([doc.get("triggerOperator"), doc.get("triggerThreshold")]))
    rule.facts = facts(
        ("Status", rule.status),
        ("Severity", native_severity),
        ("Rule kind", doc.get("kind")),
        ("Time window", doc.get("queryPeriod")),
        ("Query frequency", doc.get("queryFrequency")),
        ("Trigger", f"results {trigger}" if trigger else ""),
        ("Data connectors", list(connectors)),
        ("Tables", list(tables)),
        ("Version", doc.get("version")),
    )
    rule.line = doc.line


def _query_line(text_: str, doc: YamlMapping) -> int:
    """The file line where the query's text starts: the line after `query: |`, else the key's own line."""
    key_line = doc.line_of("query")
    lines = text_.removeprefix("\ufeff").splitlines()
    written = lines[key_line - 1] if 0 < key_line <= len(lines) else ""
    after = written.split(":", 1)[1].strip() if ":" in written else ""
    return key_line + 1 if after[:1] in ("|", ">") else key_line


def _logic(
    rule: Rule, doc: YamlMapping, text_: str, query: str, rel_path: str, problems: list[Problem]
) -> None:
    first_line = _query_line(text_, doc)
    try:
        logic = query_logic(query, first_line)
    except (KqlSyntaxError, RecursionError) as caught:
        exc = (
            caught
            if isinstance(caught, KqlSyntaxError)
            else KqlSyntaxError("nested too deeply to read", 1, 1)
        )
        problems.append(
            parse_problem(
                rel_path,
                exc,
                language="KQL",
                first_line=first_line,
                hint="the query is kept as written and shown as text stages split at pipes",
            )
        )
        rule.stages = text_stages(query, first_line, StageOp.SOURCE)
        return
    rule.stages = logic.stages
    rule.logic_parsed = True
    _apply(rule, doc, query, logic)


def _apply(rule: Rule, doc: YamlMapping, query: str, logic: QueryLogic) -> None:
    """What the parsed query adds: the tables it reads where the rule declares none, the columns it emits
    before the entity mappings' columns, its group-by and threshold, its watchlists and custom tables."""
    _, declared = _connectors(doc.get("requiredDataConnectors"))
    if not declared and logic.tables:
        rule.logsource = derive(tuple(logic.tables), query)
    rule.output_fields = tuple(dict.fromkeys([*logic.output_fields, *rule.output_fields]))
    window = text(doc.get("queryPeriod"))
    if logic.group_by and logic.having:
        rule.correlation = Correlation(
            CorrelationType.THRESHOLD,
            (),
            logic.group_by,
            window,
            span_seconds(window) if window else None,
            condition={"having": logic.having},
        )
    custom = [t for t in (*declared, *logic.tables) if t.endswith("_CL")]
    extra = facts(
        ("Group by", list(logic.group_by)),
        ("Threshold", logic.having),
        ("Tables read", [t for t in logic.tables if t not in declared]),
        ("Watchlists", logic.watchlists),
        (
            "Custom tables",
            [f"{t} (custom log table: no telemetry definition)" for t in dict.fromkeys(custom)],
        ),
    )
    rule.facts = (*rule.facts, *extra)


def _connectors(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    connectors: list[str] = []
    tables: list[str] = []
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        connector = text(item.get("connectorId"))
        if connector and connector not in connectors:
            connectors.append(connector)
        tables += [t for t in strings(item.get("dataTypes")) if t not in tables]
    return tuple(connectors), tuple(tables)


def _tags(value: Any) -> tuple[str, ...]:
    """Plain tags as written; mapping tags (`{Schema: ASimDns, SchemaVersion: 0.1}`) as `key:value`."""
    out: list[str] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            out += [f"{k}:{text(v)}" for k, v in item.items()]
        elif text(item):
            out.append(text(item))
    return tuple(out)


def _output_fields(doc: YamlMapping) -> tuple[str, ...]:
    """The columns the rule emits: entity mappings' columns, then custom details' columns."""
    found: list[str] = []
    for entity in doc.get("entityMappings") or []:
        mappings = entity.get("fieldMappings") if isinstance(entity, dict) else None
        for mapping in mappings if isinstance(mappings, list) else []:
            column = text(mapping.get("columnName")) if isinstance(mapping, dict) else ""
            if column and column not in found:
                found.append(column)
    details = doc.get("customDetails")
    for column in details.values() if isinstance(details, dict) else []:
        if text(column) and text(column) not in found:
            found.append(text(column))
    return tuple(found)
