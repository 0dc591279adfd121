"""YARA-L source: chronicle/detection-rules `.yaral` files → `Rule`s.

A file holds one `rule <name> { ... }` (several are read if present; the first keeps the file's uid). Its
metadata is the `meta:` section. Community rules write `rule_name`, `severity`, `type` (alert/detection →
detection, hunt → hunting) and ATT&CK as `mitre_attack_url`/`technique`; SOC Prime's Sigma conversions under
`rules/_deprecated/` are deprecated and write `mitre = "tactic, t1043"` plus the Sigma log source they came
from. Rules are counted per folder under `rules/` (`community`, `_deprecated`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ruleatlas.model import Correlation, CorrelationType, Problem, Rule, RuleKind, Scalar, Stage, StageOp
from ruleatlas.sources import ParseOutput, RuleFile
from ruleatlas.sources.common import (
    attack_ids,
    facts,
    iso_date,
    level,
    new_rule,
    part,
    span_seconds,
    split_list,
    unreadable_text,
    walk,
)
from ruleatlas.sources.grammar import parse_problem
from ruleatlas.sources.yaral.logic import SectionError, TooDeep, yaral_logic
from ruleatlas.sources.yaral.logsource import derive
from ruleatlas.sources.yaral.rulefile import RuleText, Section, split_rules

VENDOR = "yaral"
# Bump when this reader's output changes shape or meaning: a catalog built by another version is rebuilt.
PARSER_VERSION = "yaral-2"
KINDS = {"alert": RuleKind.DETECTION, "detection": RuleKind.DETECTION, "hunt": RuleKind.HUNTING}
_MATCH = re.compile(r"(.+?)\s+over\s+(\d+\s*[smhd])\b\s*(.*)", re.IGNORECASE)
_ATTACK_KEYS = (
    "mitre_attack_technique_id",
    "technique",
    "mitre_attack_url",
    "mitre",
    "mitre_attack_technique",
)


def list_files(root: Path) -> Iterable[RuleFile]:
    """Every `rules/**/*.yaral`, counted per folder under `rules/`."""
    return walk(root, "rules", (".yaral",), lambda rel: part(rel, 1))


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
    found = split_rules(text_)
    if not found:
        return [], [
            Problem(
                rel_path, "no 'rule <name> {' in file: not a YARA-L rule", 1, "a YARA-L file starts a rule"
            )
        ]
    rules = []
    for number, found_rule in enumerate(found):
        rule = new_rule(
            VENDOR, "yaral", text_, rel_path, folder, repo_url=repo_url, commit=commit, companions=companions
        )
        if number:
            rule.uid = f"{rule.uid}-{number + 1}"
        _fill(rule, found_rule, rel_path)
        rules.append(rule)
    return rules, []


def _fill(rule: Rule, found: RuleText, rel_path: str) -> None:
    meta = found.meta
    rule.name = found.name
    rule.line = found.line
    rule.title = meta.get("rule_name") or found.name
    rule.id = meta.get("rule_id", "")
    rule.description = meta.get("description", "")
    rule.author = meta.get("author", "")
    rule.authors = split_list(rule.author)
    rule.date = iso_date(meta.get("created", ""))
    rule.status = meta.get("sigma_status", "")
    native_severity = meta.get("severity", "")
    rule.level = level(native_severity)
    rule.references = tuple(
        ref
        for key in ("reference", "references", "reference1", "reference2")
        for ref in split_list(meta.get(key))
    )
    rule.falsepositives = split_list(meta.get("false_positives") or meta.get("falsepositives"))
    rule.tags = split_list(meta.get("tags")) + tuple(
        f"{key}:{meta[key]}" for key in ("mitre_attack_tactic", "tactic") if meta.get(key)
    )
    rule.attack_ids = attack_ids(meta.get(key, "") for key in _ATTACK_KEYS)
    if meta.get("sigma_uuid"):
        rule.related = ({"id": meta["sigma_uuid"], "type": "derived"},)
    native_type = meta.get("type", "")
    rule.kind = _kind(rel_path, rule.status, native_type)
    events = found.sections["events"].text if "events" in found.sections else ""
    rule.logsource = derive(meta, events)
    match = found.sections.get("match")
    rule.correlation = _window(match.text) if match else None
    rule.facts = facts(
        ("Severity", native_severity),
        ("Priority", meta.get("priority", "")),
        ("Type", native_type),
        ("Group by", list(rule.correlation.group_by) if rule.correlation else []),
        ("Time window", rule.correlation.timespan if rule.correlation else ""),
        ("Platform", meta.get("platform", "")),
        ("Data source", meta.get("data_source", "")),
        ("References", list(rule.references)),
    )
    problems = [Problem(rel_path, m, line, hint, severity="warning") for m, line, hint in found.problems]
    problems.extend(_logic(rule, found, rel_path))
    for problem in problems:
        if problem.message.startswith(("rule has no", "rule is not closed")):
            problem.severity = "error"
        problem.rule_uid = rule.uid
    rule.problems = sorted(problems, key=lambda p: p.line or 0)


def _logic(rule: Rule, found: RuleText, rel_path: str) -> list[Problem]:
    """Stages and predicates from the events, condition and outcome sections; a section that does not parse
    leaves every section as a text stage and a Problem at its line and column."""
    try:
        logic = yaral_logic(found, rule.correlation.group_by if rule.correlation is not None else ())
    except SectionError as exc:
        return _unparsed(rule, found, rel_path, exc.section, exc.error)
    except RecursionError:  # thousands of nested `or`s: kept as text, as a syntax error is
        where = found.sections.get("events") or next(iter(found.sections.values()))
        return _unparsed(rule, found, rel_path, where, TooDeep())
    rule.stages = logic.stages
    rule.logic_parsed = True
    rule.output_fields = logic.output_fields
    if rule.correlation is not None and logic.condition:
        rule.correlation.condition = {**rule.correlation.condition, "condition": logic.condition}
    rule.facts = (
        *rule.facts,
        *facts(("Condition", logic.condition), ("Risk score", logic.risk_score)),
    )
    return []


def _unparsed(
    rule: Rule, found: RuleText, rel_path: str, section: Section, error: Exception
) -> list[Problem]:
    present = [found.sections[n] for n in _TEXT_OPS if n in found.sections]
    rule.stages = [
        Stage(index, s.name, _TEXT_OPS[s.name], s.text, None, s.text_line) for index, s in enumerate(present)
    ]
    return [
        parse_problem(
            rel_path,
            error,
            language=f"YARA-L {section.name}",
            first_line=section.text_line,
            hint="the rule is kept as written; its sections are shown as text",
        )
    ]


_TEXT_OPS = {
    "condition": StageOp.CONDITION,
    "events": StageOp.SEARCH,
    "match": StageOp.AGGREGATE,
    "outcome": StageOp.PROJECT,
}


def _window(match: str) -> Correlation | None:
    """`match: $user, $host over 5m` → the rule's inline aggregation: group by the variables, over the window
    (YARA-L also allows `over 1h before $e`; the text after the duration is kept in the condition)."""
    written = " ".join(line.split("//", 1)[0] for line in match.splitlines()).strip()
    found = _MATCH.fullmatch(written)
    if found is None:
        return None
    variables = tuple(v.strip() for v in found.group(1).split(",") if v.strip())
    condition: dict[str, Scalar | list[Scalar]] = {"match": written} if found.group(3) else {}
    return Correlation(
        CorrelationType.WINDOW,
        (),
        variables,
        found.group(2),
        span_seconds(found.group(2)),
        condition=condition,
    )


def _kind(rel_path: str, status: str, native_type: str) -> RuleKind:
    if "/_deprecated/" in f"/{rel_path}" or status == "deprecated":
        return RuleKind.DEPRECATED
    return KINDS.get(native_type.strip().lower(), RuleKind.DETECTION)
