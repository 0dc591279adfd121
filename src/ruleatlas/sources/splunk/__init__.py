"""Splunk source: splunk/security_content detections (YAML, SPL in `search:`) → `Rule`s.

Only `detections/**` are rules; macros, data sources, stories and lookup definitions are supporting data
(`splunk.support`). Each detection lists the macro files its search calls (directly or through other macros)
as companions, so the build's content hash covers them and a changed macro re-parses the rules that use it;
the search is then expanded and parsed into stages (`splunk.parse`). A detection's class comes from its
`type` (TTP and Anomaly detect, Hunting hunts, Correlation correlates risk events) and its folder
(`detections/deprecated/`).
Severity is not a field of the v5 format: it is derived from the highest RBA risk score on ESCU's stated
scale, and the score itself is kept as a fact. Rules are counted per domain folder (`endpoint`, `cloud`, ...,
`deprecated`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruleatlas.model import Problem, Rule, RuleKind, Stage
from ruleatlas.sources import ParseOutput, RuleFile
from ruleatlas.sources.common import (
    YamlMapping,
    attack_ids,
    facts,
    iso_date,
    load_mapping,
    new_rule,
    one_rule,
    part,
    read_text,
    strings,
    text,
    walk,
)
from ruleatlas.sources.grammar import parse_problem, text_stages
from ruleatlas.sources.splunk.logsource import derive
from ruleatlas.sources.splunk.macros import called
from ruleatlas.sources.splunk.parse import SplError, build_stages
from ruleatlas.sources.splunk.spl import group_by
from ruleatlas.sources.splunk.support import Macro

VENDOR = "splunk"
# Bump when this reader's output changes shape or meaning: a catalog built by another version is rebuilt.
PARSER_VERSION = "splunk-2"
WHAT = "a Splunk detection (name, search, ...)"
# ESCU's risk score scale ("How are risk scores calculated for RBA", security_content wiki): the lowest
# score of each level, highest first.
RISK_LEVELS: tuple[tuple[int, str], ...] = ((80, "critical"), (50, "high"), (25, "medium"), (0, "low"))
TYPES = {"ttp": RuleKind.DETECTION, "anomaly": RuleKind.DETECTION, "hunting": RuleKind.HUNTING}


MACRO_FOLDER = "macros"
_LOOK_BACK = 20  # lines a stage's line is looked for before the previous stage's
_BLOCK_SCALAR = re.compile(r"^\s*[|>][+-]?[0-9]?\s*(#.*)?$")


def list_files(root: Path) -> Iterable[RuleFile]:
    """Every `detections/**/*.yml`, counted per domain folder (`detections/<domain>/...`), with the macro
    files it calls as companions."""
    macro_files = _macro_files(root)
    for file in walk(root, "detections", (".yml", ".yaml"), lambda rel: part(rel, 1)):
        content, _problem = read_text(file.path, file.rel_path)  # unreadable: parse_file reports it
        companions = _macros_called(content or "", macro_files)
        yield RuleFile(file.path, file.rel_path, file.folder, companions) if companions else file


def _macro_files(root: Path) -> dict[str, tuple[str, str]]:
    """Macro name → (its file's rel_path, the file's text), for the checkout's `macros/` folder."""
    out: dict[str, tuple[str, str]] = {}
    for file in walk(root, MACRO_FOLDER, (".yml", ".yaml"), lambda _rel: MACRO_FOLDER):
        content, _problem = read_text(file.path, file.rel_path)
        if content is not None:
            out[file.path.stem] = (file.rel_path, content)
    return out


def _macros_called(content: str, macro_files: dict[str, tuple[str, str]]) -> tuple[str, ...]:
    found: list[str] = []
    pending = [content]
    while pending:
        for call in called(pending.pop()):
            entry = macro_files.get(call.split("(", 1)[0])
            if entry is not None and entry[0] not in found:
                found.append(entry[0])
                pending.append(entry[1])
    return tuple(sorted(found))


@lru_cache(maxsize=512)
def _macro(rel_path: str, content: str) -> Macro | None:
    doc, _problems = load_mapping(content, rel_path, "a Splunk macro")
    if doc is None or not text(doc.get("name")).strip():
        return None
    name = text(doc.get("name")).strip()
    return Macro(name, text(doc.get("definition")), strings(doc.get("arguments")), "", rel_path)


def _macros(companions: dict[str, str]) -> dict[str, Macro]:
    out: dict[str, Macro] = {}
    for rel_path, content in companions.items():
        macro = _macro(rel_path, content)
        if macro is not None:
            out[macro.call_name] = macro
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
    search = text(doc.get("search"))
    if not search.strip():
        return [], [
            *problems,
            Problem(
                rel_path,
                "detection has no 'search'",
                doc.line_of("search"),
                "a detection's SPL is in search:",
            ),
        ]
    rule = new_rule(
        VENDOR, "spl", text_, rel_path, folder, repo_url=repo_url, commit=commit, companions=companions
    )
    _fill(rule, doc, search, rel_path, problems)
    _logic(rule, search, text_, doc.line_of("search"), _macros(companions), problems)
    return one_rule(rule, problems)


def _fill(rule: Rule, doc: YamlMapping, search: str, rel_path: str, problems: list[Problem]) -> None:
    rule.id = text(doc.get("id"))
    rule.title = text(doc.get("name")).strip()
    if not rule.title:
        problems.append(Problem(rel_path, "detection has no 'name'", doc.line, "add name: <title>"))
    rule.description = text(doc.get("description")).strip()
    rule.status = text(doc.get("status")).strip()
    rule.author = text(doc.get("author")).strip()
    rule.authors = tuple(a.strip() for a in rule.author.split(",") if a.strip())
    rule.date = iso_date(doc.get("date"))
    rule.references = strings(doc.get("references"))
    rule.falsepositives = strings(doc.get("known_false_positives"))
    tags = doc.get("tags")
    tags = tags if isinstance(tags, dict) else {}
    rule.attack_ids = attack_ids(strings(tags.get("mitre_attack_id")))
    stories = strings(tags.get("analytic_story"))
    rule.tags = (
        tuple(f"analytic_story:{s}" for s in stories)
        + tuple(f"cve:{c}" for c in strings(tags.get("cve")))
        + tuple(f"security_domain:{d}" for d in strings(tags.get("security_domain")))
        + tuple(f"asset_type:{a}" for a in strings(tags.get("asset_type")))
    )
    native_type = text(doc.get("type")).strip()
    rule.kind = _kind(rel_path, rule.status, native_type, doc, problems)
    score = _risk_score(doc.get("rba"))
    rule.level = (
        next((name for floor, name in RISK_LEVELS if score >= floor), "") if score is not None else ""
    )
    data_sources = strings(doc.get("data_source"))
    rule.logsource = derive(data_sources)
    rule.output_fields = _rba_fields(doc.get("rba"))
    by = group_by(search)
    rule.facts = facts(
        ("Status", rule.status),
        ("Type", native_type),
        ("Severity", rule.level),
        ("Risk score", score),
        ("Group by", list(by)),
        ("Data source", list(data_sources)),
        ("Analytic story", list(stories)),
    )
    rule.line = doc.line


def _search_line(content: str, key_line: int) -> int:
    """The file line where the search text starts: the key's line, or the next for a block scalar."""
    lines = content.splitlines()
    if 0 < key_line <= len(lines):
        after = lines[key_line - 1].split(":", 1)[-1]
        if _BLOCK_SCALAR.match(after):
            return key_line + 1
    return key_line


def _relocate(stages: list[Stage], content: str, first_line: int) -> None:
    """Stage lines of a search written as a folded (quoted or plain) scalar, whose line breaks are not the
    file's: each stage's first word looked up in the file's lines of the search, in order."""
    lines = content.splitlines()
    end = next(
        (n for n in range(first_line + 1, len(lines) + 1) if lines[n - 1][:1] not in (" ", "\t", "")),
        len(lines) + 1,
    )
    cursor = first_line
    for stage in stages:
        words = stage.text.split(None, 1)
        if not words:
            continue
        needle = words[0]
        found = next((n for n in range(cursor, end) if needle in lines[n - 1]), None)
        if found is None:  # a stage of the same command written earlier (tstats' aggregate after its where)
            back = range(cursor - 1, max(first_line, cursor - _LOOK_BACK) - 1, -1)
            found = next((n for n in back if needle in lines[n - 1]), None)
        if found is not None:
            stage.line = found
            cursor = max(cursor, found)


def _logic(
    rule: Rule,
    search: str,
    content: str,
    key_line: int,
    macros: dict[str, Macro],
    problems: list[Problem],
) -> None:
    """Stages from the search; a search that does not parse keeps text stages and gets a located Problem."""
    first_line = _search_line(content, key_line)
    try:
        parsed = build_stages(search, macros, first_line)
    except SplError as exc:
        line = first_line + search.count("\n", 0, exc.offset)
        command = " ".join(exc.command.split())
        shown = command if len(command) <= 100 else command[:97] + "..."
        problems.append(
            parse_problem(
                rule.source.path,
                exc.error,
                language="SPL",
                first_line=line,
                hint=f"in the command `{shown}` (after macro expansion); the search is kept as text stages",
            )
        )
        rule.stages = text_stages(search, first_line)
        rule.logic_parsed = False
        return
    rule.stages = parsed.stages
    if first_line == key_line:
        _relocate(rule.stages, content, first_line)
    rule.logic_parsed = True
    rule.output_fields = tuple(dict.fromkeys((*parsed.output_fields, *rule.output_fields)))
    for name in parsed.unresolved:
        problems.append(
            Problem(
                rule.source.path,
                f"macro `{name}` is not defined in macros/",
                first_line,
                "its text is kept as written; RuleAtlas does not guess what it does",
                severity="warning",
            )
        )


def _kind(rel_path: str, status: str, native: str, doc: YamlMapping, problems: list[Problem]) -> RuleKind:
    if rel_path.startswith("detections/deprecated/") or status == "deprecated":
        return RuleKind.DEPRECATED
    lowered = native.lower()
    if lowered == "correlation":
        return RuleKind.CORRELATION
    if lowered not in TYPES:
        problems.append(
            Problem(
                rel_path,
                f"unknown detection type '{native}'" if native else "detection has no 'type'",
                doc.line_of("type"),
                "one of: TTP, Anomaly, Hunting, Correlation",
                severity="warning",
            )
        )
    return TYPES.get(lowered, RuleKind.DETECTION)


def _risk_score(rba: Any) -> int | None:
    """The highest score of the detection's risk objects (None without RBA: Hunting and Correlation)."""
    if not isinstance(rba, dict):
        return None
    scores = [o.get("score") for o in rba.get("risk_objects") or [] if isinstance(o, dict)]
    numbers = [s for s in scores if isinstance(s, int | float) and not isinstance(s, bool)]
    return int(max(numbers)) if numbers else None


def _rba_fields(rba: Any) -> tuple[str, ...]:
    """The fields the detection's risk and threat objects name (what it emits for RBA)."""
    if not isinstance(rba, dict):
        return ()
    found: list[str] = []
    for key in ("risk_objects", "threat_objects"):
        for item in rba.get(key) or []:
            name = text(item.get("field")) if isinstance(item, dict) else ""
            if name and name not in found:
                found.append(name)
    return tuple(found)
