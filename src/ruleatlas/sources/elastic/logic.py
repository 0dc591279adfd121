"""An Elastic rule's logic as stages, by rule type: EQL, kuery (with the TOML's query DSL `filters`, and the
threshold, new_terms and indicator-match steps), ES|QL, and machine-learning jobs (one `ml` stage, no
expression).

A query that does not parse keeps its text as stages split at pipes and gets a Problem with the file, the line
and column in the file, and a hint; its `logic_parsed` stays False, so the page says so.
"""

from __future__ import annotations

import re
from typing import Any

from ruleatlas.model import Correlation, Rule, Stage, StageOp
from ruleatlas.sources.common import strings, text
from ruleatlas.sources.elastic.eql import parse_eql
from ruleatlas.sources.elastic.esql import parse_esql
from ruleatlas.sources.elastic.filters import filter_stages
from ruleatlas.sources.elastic.kuery import parse_kuery
from ruleatlas.sources.elastic.values import ENDPOINT_PRODUCTS, mark_event_kinds
from ruleatlas.sources.grammar import parse_problem, text_stages

_QUERY_KEY = re.compile(r"^query\s*=\s*('''|\"\"\"|'|\")(.*)$", re.MULTILINE)
_HINTS = {
    "eql": "check the EQL syntax near this place (Elastic's EQL reference); the query is kept as written",
    "kuery": "check the kuery syntax near this place (Kibana's KQL reference); the query is kept as written",
    "lucene": "Lucene syntax beyond kuery's is not read; the query is kept as written",
    "esql": "check the ES|QL syntax near this place (Elastic's ES|QL reference); the query is kept as is",
}


def fill_logic(rule: Rule, body: dict[str, Any], file_text: str, rel_path: str) -> Correlation | None:
    """Set `rule.stages` and `rule.logic_parsed` (and add a Problem when the query does not parse); return the
    inline aggregation the query itself carries (an EQL sequence), if any."""
    if rule.language == "ml":
        jobs = ", ".join(strings(body.get("machine_learning_job_id")))
        threshold = text(body.get("anomaly_threshold"))
        label = f"{jobs} ≥ {threshold}" if threshold else jobs
        rule.stages = [Stage(0, "ml", StageOp.ML, f"machine learning job {label}", None, rule.line)]
        rule.logic_parsed = True
        return None
    query = text(body.get("query"))
    first_line = query_line(file_text, rule.line)
    language = rule.language
    try:
        correlation = None
        if language == "eql":
            logic = parse_eql(query, first_line)
            stages, correlation = logic.stages, logic.correlation
        elif language == "esql":
            logic = parse_esql(query, first_line)
            stages, correlation = logic.stages, logic.correlation
        elif language in ("kuery", "lucene"):
            expr = parse_kuery(query)
            stages = (
                [Stage(0, language, StageOp.FILTER, query.strip(), expr, first_line)] if query.strip() else []
            )
        else:
            return None  # a rule type without a query language: metadata only
    except Exception as error:
        rule.stages = text_stages(query, first_line, StageOp.SOURCE if language == "esql" else None)
        problem = parse_problem(
            rel_path, error, language=language, first_line=first_line, hint=_HINTS.get(language, "")
        )
        if problem.line is None:  # not a syntax error with a place (nesting too deep): the query's first line
            problem.line = first_line
        rule.problems.append(problem)
        rule.logic_parsed = False
        return None
    stages += filter_stages(body.get("filters"), rule.line, start=len(stages))
    stages += _rule_type_stages(body, rule.line, start=len(stages))
    if rule.logsource.get("product", "") in ENDPOINT_PRODUCTS:
        for stage in stages:  # `event.action == "exec"` chooses process events, as the category does
            stage.expr = mark_event_kinds(stage.expr)
    rule.stages = stages
    rule.logic_parsed = True
    return correlation


def query_line(file_text: str, table_line: int = 1) -> int:
    """The file line where the `query` value of the table starting at `table_line` (`[rule]`) begins (TOML
    drops a newline right after `'''`); other tables (`[[transform.osquery]]`) have queries too."""
    offset = 0
    for _ in range(table_line - 1):
        offset = file_text.find("\n", offset) + 1
    match = _QUERY_KEY.search(file_text, offset)
    if match is None:
        return table_line
    line = file_text.count("\n", 0, match.start()) + 1
    multiline = len(match.group(1)) == 3 and not match.group(2).strip()
    return line + 1 if multiline else line


def _rule_type_stages(body: dict[str, Any], line: int, start: int) -> list[Stage]:
    """The step a rule type adds after its query: a threshold's or new terms' aggregation, an indicator
    match's join with the threat index."""
    kind = body.get("type")
    threshold, new_terms = body.get("threshold"), body.get("new_terms")
    if kind == "threshold" and isinstance(threshold, dict):
        fields = ", ".join(strings(threshold.get("field")))
        words = f"count ≥ {text(threshold.get('value'))}" + (f" by {fields}" if fields else "")
        cardinality = threshold.get("cardinality")
        if isinstance(cardinality, list):
            for item in cardinality:
                if isinstance(item, dict):
                    words += f", distinct {text(item.get('field'))} ≥ {text(item.get('value'))}"
        return [Stage(start, "threshold", StageOp.AGGREGATE, words, None, line, ("count",))]
    if kind == "new_terms" and isinstance(new_terms, dict):
        fields = ", ".join(strings(new_terms.get("value")))
        return [Stage(start, "new terms", StageOp.AGGREGATE, f"first seen values of {fields}", None, line)]
    if kind == "threat_match":
        pairs: list[str] = []
        for group in body.get("threat_mapping") or []:
            entries = group.get("entries") if isinstance(group, dict) else None
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    pairs.append(f"{text(entry.get('field'))} = {text(entry.get('value'))}")
        index = ", ".join(strings(body.get("threat_index")))
        words = (
            f"indicator match with {index}: " + " or ".join(pairs)
            if pairs
            else f"indicator match with {index}"
        )
        return [Stage(start, "indicator match", StageOp.JOIN, words, None, line)]
    return []
