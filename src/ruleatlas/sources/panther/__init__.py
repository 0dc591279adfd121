"""Panther source: panther-labs/panther-analysis analysis items (YAML + Python, SQL or YAML logic) → `Rule`s.

An analysis item is a YAML file of `rules/`, `policies/`, `queries/` or `correlation_rules/` with an
`AnalysisType`. Rules, scheduled rules and policies keep their logic in a Python file named by `Filename:`, a
companion listed with the YAML (so a change to either re-parses the rule); it is read with `ast` only, never
imported or run. Queries hold SQL in `Query:`; correlation rules and simple YAML detections hold YAML logic
(`panther.detection`).

What is a rule, and its class:
- rule / scheduled_rule / policy: detection; `CreateAlert: false` marks a signal that only feeds correlation
  rules, i.e. a building block;
- correlation_rule: correlation (its `Correlation` lists the RuleIDs it joins);
- scheduled_query: hunting (a query run on a schedule; a scheduled rule alerts on its results);
- saved_query: enrichment (run by hand or by other items);
- `Status: Deprecated`: deprecated.
Data models, lookup tables, packs and global helpers are not rules and are not listed: they carry no detection
logic or alert of their own (detection.wiki's Panther count, 1,168, leaves them out too). Data models map
Panther's unified field names to log paths, which the field canonicaliser needs: `panther.support` reads them.

The body is the item's logic in its language: the Python file, the SQL query, or the YAML for YAML logic; the
metadata YAML is the source link.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruleatlas.model import Correlation, CorrelationType, Problem, Rule, RuleKind, Stage, StageOp
from ruleatlas.sources import ParseOutput, RuleFile
from ruleatlas.sources.common import (
    YamlMapping,
    attack_ids,
    facts,
    load_mapping,
    new_rule,
    one_rule,
    part,
    read_text,
    severity_level,
    strings,
    text,
    walk,
)
from ruleatlas.sources.panther.detection import UnknownCondition, correlation, simple_stage
from ruleatlas.sources.panther.jinja import IMPORTED, is_template
from ruleatlas.sources.panther.logsource import derive, table_log_types
from ruleatlas.sources.panther.python_body import ENTRY_POINTS, read_python
from ruleatlas.sources.panther.python_logic import alert_context_keys, dedup_field, reduce_python
from ruleatlas.sources.panther.sql import parse_sql

VENDOR = "panther"
# Bump when this reader's output changes shape or meaning: a catalog built by another version is rebuilt.
PARSER_VERSION = "panther-4"
WHAT = "a Panther analysis item (AnalysisType, RuleID, ...)"
FOLDERS = ("rules", "policies", "queries", "correlation_rules")
KINDS: dict[str, RuleKind] = {
    "rule": RuleKind.DETECTION,
    "scheduled_rule": RuleKind.DETECTION,
    "policy": RuleKind.DETECTION,
    "correlation_rule": RuleKind.CORRELATION,
    "scheduled_query": RuleKind.HUNTING,
    "saved_query": RuleKind.ENRICHMENT,
}
NOT_RULES = ("datamodel", "lookup_table", "pack", "global")
_FILENAME = re.compile(r"^Filename:[ \t]*[\"']?([^\"'\s#]+)", re.MULTILINE)


def list_files(root: Path) -> Iterable[RuleFile]:
    """Every analysis-item YAML of the rule folders, with its companions: its Python file, and for a query
    the Jinja templates it imports (saved queries of `{% macro %}` blocks, `queries/macros/`), so a changed
    macro re-parses the queries that use it."""
    templates = _template_files(root)
    for top in FOLDERS:
        for file in walk(root, top, (".yml", ".yaml"), lambda rel: part(rel, 0)):
            yield _with_companions(root, file, templates)


def _template_files(root: Path) -> dict[str, str]:
    """Template name (its QueryName) → rel_path, for every template among the checkout's queries."""
    out: dict[str, str] = {}
    for file in walk(root, "queries", (".yml", ".yaml"), lambda rel: part(rel, 0)):
        content, _problem = read_text(file.path, file.rel_path)
        if content is None or "macro" not in content:  # most queries: no YAML read
            continue
        found = _template_of(file.rel_path, content)
        if found is not None:
            out.setdefault(found[0], file.rel_path)
    return out


def _with_companions(root: Path, file: RuleFile, templates: dict[str, str]) -> RuleFile:
    content, _problem = read_text(file.path, file.rel_path)  # unreadable: parse_file reports it
    companions: list[str] = []
    match = _FILENAME.search(content or "")
    if match:
        folder = file.rel_path.rsplit("/", 1)[0]
        companions.append(f"{folder}/{match.group(1)}")
    for imported in IMPORTED.finditer(content or ""):
        rel = templates.get(imported.group(2))
        if rel is not None and rel != file.rel_path and rel not in companions:
            companions.append(rel)
    return RuleFile(file.path, file.rel_path, file.folder, tuple(companions)) if companions else file


@lru_cache(maxsize=64)
def _template_of(rel_path: str, content: str) -> tuple[str, str] | None:
    """(template name, its SQL) of a companion that is a template."""
    doc, _problems = load_mapping(content, rel_path, WHAT)
    if doc is None:
        return None
    query = text(doc.get("Query"))
    name = text(doc.get("QueryName")).strip()
    return (name, query) if name and is_template(query) else None


def _templates(companions: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for rel_path, content in companions.items():
        if rel_path.endswith((".yml", ".yaml")):
            found = _template_of(rel_path, content)
            if found is not None:
                out.setdefault(*found)
    return out


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
    analysis_type = text(doc.get("AnalysisType")).strip()
    if analysis_type not in KINDS:
        known = ", ".join(KINDS)
        what = (
            f"AnalysisType '{analysis_type}' is not a rule"
            if analysis_type
            else "no 'AnalysisType': not an item"
        )
        return [], [
            *problems,
            Problem(
                rel_path,
                what,
                doc.line_of("AnalysisType"),
                f"rules are: {known}",
                severity="warning" if analysis_type in NOT_RULES else "error",
            ),
        ]
    rule = new_rule(
        VENDOR, "python", text_, rel_path, folder, repo_url=repo_url, commit=commit, companions=companions
    )
    _logic(rule, doc, analysis_type, rel_path, companions, problems)
    _fill(rule, doc, analysis_type, rel_path, problems)
    return one_rule(rule, problems)


def _fill(rule: Rule, doc: YamlMapping, analysis_type: str, rel_path: str, problems: list[Problem]) -> None:
    rule.id = text(doc.get("RuleID") or doc.get("PolicyID") or doc.get("QueryName")).strip()
    rule.title = text(doc.get("DisplayName")).strip() or rule.id
    if not rule.title:
        problems.append(
            Problem(rel_path, "item has no DisplayName nor id", doc.line, "add DisplayName: <title>")
        )
    rule.description = text(doc.get("Description")).strip()
    rule.status = text(doc.get("Status")).strip().lower()
    native_severity = text(doc.get("Severity")).strip()
    rule.level = severity_level(
        native_severity, rel_path, doc.line_of("Severity"), "Info, Low, Medium, High, Critical", problems
    )
    rule.tags = strings(doc.get("Tags"))
    reference = text(doc.get("Reference")).strip()
    rule.references = (reference,) if reference else ()
    reports = doc.get("Reports")
    reports = reports if isinstance(reports, dict) else {}
    rule.attack_ids = attack_ids(strings(reports.get("MITRE ATT&CK")))
    rule.kind = _kind(analysis_type, rule.status, doc)
    log_types, resource_types = strings(doc.get("LogTypes")), strings(doc.get("ResourceTypes"))
    if not log_types:  # a query names its log types by the tables it reads
        log_types = tuple(dict(rule.facts).get("Table log types", "").split(", ")) if rule.facts else ()
        log_types = tuple(t for t in log_types if t)
    rule.logsource = derive(log_types, resource_types)
    # SummaryAttributes first, then the alert_context keys the Python logic added
    rule.output_fields = tuple(dict.fromkeys((*strings(doc.get("SummaryAttributes")), *rule.output_fields)))
    rule.line = doc.line
    dedup = doc.get("DedupPeriodMinutes")
    joined = rule.correlation
    rule.facts = (
        facts(
            ("Status", rule.status),
            ("Analysis type", analysis_type),
            ("Enabled", {True: "yes", False: "no"}.get(doc.get("Enabled"), "")),
            ("Severity", native_severity),
            ("Rules", list(joined.rules) if joined else []),
            ("Group by", list(joined.group_by) if joined else []),
            ("Time window", joined.timespan if joined else ""),
            ("Dedup", f"{dedup}m" if dedup not in (None, "") else ""),
            ("Threshold", doc.get("Threshold")),
            ("Log types", list(log_types)),
            ("Resource types", list(resource_types)),
            ("Scheduled queries", list(strings(doc.get("ScheduledQueries")))),
            ("Schedule", _schedule(doc.get("Schedule"))),
            ("Compliance", [f"{name}: {', '.join(strings(ids))}" for name, ids in reports.items()]),
            ("Tags", list(rule.tags)),
            ("Reference", reference),
            ("Runbook", text(doc.get("Runbook")).strip()),
            ("Tests", _tests(doc.get("Tests"))),
        )
        + rule.facts
    )  # what the logic added (the Python functions)


def _kind(analysis_type: str, status: str, doc: YamlMapping) -> RuleKind:
    if status == "deprecated":
        return RuleKind.DEPRECATED
    kind = KINDS[analysis_type]
    if kind is RuleKind.DETECTION and doc.get("CreateAlert") is False:
        return RuleKind.BUILDING_BLOCK
    return kind


def _logic(
    rule: Rule,
    doc: YamlMapping,
    analysis_type: str,
    rel_path: str,
    companions: dict[str, str],
    problems: list[Problem],
) -> None:
    """The item's language and body, its YAML logic where it has one, and its Python file read with ast
    (called before `_fill`, whose facts show the correlation this sets)."""
    detection = doc.get("Detection")
    filename = text(doc.get("Filename")).strip()
    if analysis_type in ("scheduled_query", "saved_query"):
        rule.language = "sql"
        rule.body = text(doc.get("Query")) or rule.body
        if not text(doc.get("Query")).strip():
            problems.append(Problem(rel_path, "query has no 'Query'", doc.line, "a query's SQL is in Query:"))
            return
        sql = parse_sql(text(doc.get("Query")), rel_path, doc.line_of("Query") + 1, _templates(companions))
        rule.stages = sql.stages
        rule.logic_parsed = not sql.problems
        problems.extend(sql.problems)
        rule.output_fields = sql.output_fields
        rule.facts += facts(
            ("Jinja template", "macros for other queries (no query of its own)" if sql.template else ""),
            ("Jinja macros from", list(sql.templates)),
            ("Tables", sql.tables),
            ("Table log types", table_log_types(sql.tables)),
        )
        return
    if detection is not None:
        rule.language = "panther-yaml"
        rule.correlation = correlation(detection)
        rule.logic_parsed = rule.correlation is not None  # a correlation's logic is its Correlation
        if rule.correlation is None:
            try:
                rule.stages = [simple_stage(detection)]
                rule.logic_parsed = True
            except UnknownCondition as exc:
                problems.append(
                    Problem(
                        rel_path,
                        f"Detection: {exc}",
                        doc.line_of("Detection"),
                        "known: " + ", ".join(("All", "Any", "Key/Condition/Value")),
                        severity="warning",
                    )
                )
        return
    if not filename:
        problems.append(
            Problem(
                rel_path, "item has no Filename nor Detection: no logic", doc.line, "name its Python file"
            )
        )
        return
    python_path = f"{rel_path.rsplit('/', 1)[0]}/{filename}" if "/" in rel_path else filename
    source = companions.get(python_path)
    if source is None:
        problems.append(
            Problem(
                rel_path,
                f"Python file '{filename}' not found",
                doc.line_of("Filename"),
                "the file must sit next to the YAML",
            )
        )
        return
    rule.body = source
    body = read_python(source, python_path)
    problems.extend(body.problems)
    if not body.problems and not set(ENTRY_POINTS) & set(body.functions):
        problems.append(
            Problem(
                python_path,
                "no rule() or policy() function: Panther has nothing to run",
                1,
                "define def rule(event): (or def policy(resource): for policies)",
            )
        )
    rule.facts += facts(("Python functions", list(body.functions)))
    if body.tree is None:
        return
    try:
        logic = reduce_python(source, body.tree)
    except RecursionError:  # conditions nested deeper than the reducer follows: shown as Python
        problems.append(
            Problem(
                python_path,
                "Python logic nested too deeply to reduce",
                1,
                "the function is shown as written",
                severity="warning",
            )
        )
        logic = None
    if logic is not None:
        status = (
            "reduced to predicates"
            if logic.complete and logic.expr is not None
            else "partly reduced: the predicates shown must hold, the rest is Python logic not reduced"
            if logic.expr is not None
            else "Python logic not reduced"
        )
        label = f"{logic.function}()" + ("" if logic.complete and logic.expr is not None else f" — {status}")
        # The stage's text is the Python function; its line is in the Python file, not the YAML, so no link.
        rule.stages = [Stage(0, label, StageOp.FILTER, logic.text, logic.expr)]
        rule.logic_parsed = True
        rule.logic_complete = logic.complete and logic.expr is not None
        rule.facts += facts(
            ("Python logic", status),
            ("Python not reduced", logic.unreduced[:8]),
        )
    rule.output_fields = alert_context_keys(body.tree)
    dedup = doc.get("DedupPeriodMinutes")
    threshold = doc.get("Threshold")
    minutes = dedup if isinstance(dedup, int) and not isinstance(dedup, bool) and dedup > 0 else None
    count = threshold if isinstance(threshold, int) and not isinstance(threshold, bool) else None
    if minutes is not None or (count is not None and count > 1):
        key = dedup_field(source, body.tree)
        rule.correlation = Correlation(
            CorrelationType.WINDOW,
            (),
            (key,) if key else (),
            f"{minutes}m" if minutes is not None else "",
            minutes * 60 if minutes is not None else None,
            condition={"gte": count} if count is not None and count > 1 else {},
        )


def _schedule(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    if value.get("CronExpression"):
        return f"cron {value['CronExpression']}"
    rate = value.get("RateMinutes")
    return f"every {rate}m" if rate else ""


def _tests(value: Any) -> str:
    """`5 (3 expect an alert)`: the item's unit tests with sample events."""
    tests = [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []
    if not tests:
        return ""
    positive = sum(1 for t in tests if t.get("ExpectedResult") is True)
    return f"{len(tests)} ({positive} expect an alert)"
