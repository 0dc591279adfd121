"""Sublime source: sublime-security/sublime-rules YAML (MQL in `source:`) → `Rule`s.

Every YAML file of the five folders is one rule. Its class comes from the folder: `detection-rules/` detect,
`discovery-rules/` and `dlp-discovery-rules/` hunt (they surface messages to review, often without a
severity), `insights/` are the small signals (`type: query`) Sublime shows beside a message, so enrichment,
and `exclusions/` keep messages out of analysis, like a Sigma filter. `attack_types` and
`tactics_and_techniques` are Sublime's own threat taxonomy, not ATT&CK: they are facts ("Threat
classification"), never ATT&CK ids. Email rules have no Sigma log source: their product is `email`, the
telemetry catalog's email platform (`model.EMAIL_PRODUCT`); the message direction the rule tests
(`type.inbound`, `type.outbound`, `type.internal`) is kept as `sublime.message_type`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruleatlas.model import EMAIL_PRODUCT, Problem, Rule, RuleKind
from ruleatlas.sources import ParseOutput, RuleFile
from ruleatlas.sources.common import (
    YamlMapping,
    facts,
    load_mapping,
    new_rule,
    one_rule,
    part,
    severity_level,
    strings,
    text,
    walk,
)
from ruleatlas.sources.sublime.mql import parse_mql

VENDOR = "sublime"
# Bump when this reader's output changes shape or meaning: a catalog built by another version is rebuilt.
PARSER_VERSION = "sublime-2"
WHAT = "a Sublime rule (name, type, source, ...)"
FOLDERS: dict[str, RuleKind] = {
    "detection-rules": RuleKind.DETECTION,
    "discovery-rules": RuleKind.HUNTING,
    "dlp-discovery-rules": RuleKind.HUNTING,
    "insights": RuleKind.ENRICHMENT,
    "exclusions": RuleKind.FILTER,
}
_DIRECTION = re.compile(r"\btype\.(inbound|outbound|internal)\b")


def list_files(root: Path) -> Iterable[RuleFile]:
    """Every `*.yml` of the rule folders, counted per folder."""
    for top in FOLDERS:
        yield from walk(root, top, (".yml", ".yaml"), lambda rel: part(rel, 0))


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
    source = text(doc.get("source"))
    if not source.strip():
        return [], [
            *problems,
            Problem(rel_path, "rule has no 'source'", doc.line_of("source"), "a rule's MQL is in source:"),
        ]
    rule = new_rule(
        VENDOR, "mql", text_, rel_path, folder, repo_url=repo_url, commit=commit, companions=companions
    )
    _fill(rule, doc, source, rel_path, folder, problems)
    logic = parse_mql(source, rel_path, _source_line(text_, doc.line_of("source")))
    problems.extend(logic.problems)
    if logic.stage is not None:
        rule.stages = [logic.stage]
        rule.logic_parsed = True
    return one_rule(rule, problems)


def _fill(
    rule: Rule, doc: YamlMapping, source: str, rel_path: str, folder: str, problems: list[Problem]
) -> None:
    rule.id = text(doc.get("id"))
    rule.title = text(doc.get("name")).strip()
    if not rule.title:
        problems.append(Problem(rel_path, "rule has no 'name'", doc.line, "add name: <title>"))
    rule.description = text(doc.get("description")).strip()
    native_severity = text(doc.get("severity")).strip()
    rule.level = severity_level(
        native_severity,
        rel_path,
        doc.line_of("severity"),
        "informational, low, medium, high, critical",
        problems,
    )
    rule.authors = _authors(doc.get("authors"))
    rule.author = ", ".join(rule.authors)
    rule.references = strings(doc.get("references"))
    rule.falsepositives = strings(doc.get("false_positives"))
    rule.tags = strings(doc.get("tags"))
    rule.kind = FOLDERS.get(folder, RuleKind.DETECTION)
    directions = tuple(dict.fromkeys(_DIRECTION.findall(source)))
    rule.logsource = {"product": EMAIL_PRODUCT}  # the email platform of the telemetry catalog
    if directions:
        rule.logsource["sublime.message_type"] = ", ".join(directions)
    attack_types = strings(doc.get("attack_types"))
    techniques = strings(doc.get("tactics_and_techniques"))
    rule.facts = facts(
        ("Severity", native_severity),
        ("Type", doc.get("type")),
        ("Attack types", list(attack_types)),
        ("Tactics and techniques", list(techniques)),
        ("Detection methods", list(strings(doc.get("detection_methods")))),
    )
    rule.line = doc.line


def _source_line(text_: str, key_line: int | None) -> int:
    """The file line where the MQL starts: the line after `source: |` (a block scalar), else the key's."""
    if key_line is None:
        return 1
    lines = text_.splitlines()
    key = lines[key_line - 1] if 0 < key_line <= len(lines) else ""
    after = key.split(":", 1)[1].strip() if ":" in key else ""
    return key_line + 1 if after[:1] in ("|", ">", "") else key_line


def _authors(value: Any) -> tuple[str, ...]:
    """Authors are `{name: ..., twitter: ...}` mappings (some only a handle): the name, else the handle."""
    out: list[str] = []
    for item in value if isinstance(value, list) else [value] if value else []:
        if isinstance(item, dict):
            name = text(item.get("name")) or next((f"@{text(v)}" for v in item.values() if text(v)), "")
        else:
            name = text(item)
        if name.strip():
            out.append(name.strip())
    return tuple(out)
