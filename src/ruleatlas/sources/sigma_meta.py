"""Sigma rule metadata: title, ids, status, level, authors, dates, tags → ATT&CK ids, logsource, kind.

Values are kept as written (text verbatim: escaping is the web's job); Sigma 1.x dates written
2019/10/25 become ISO like pySigma reads them. Checks that pySigma makes on metadata (title present and at
most 256 characters, id a UUID, known status and level, list types) give warnings, except a missing or
non-string title, which is an error as in pySigma.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from yaml.nodes import Node

from ruleatlas.model import LEVELS as LEVEL_SCALE
from ruleatlas.model import Rule, RuleKind
from ruleatlas.sources.common import iso_date as _iso_date
from ruleatlas.sources.common import text as _text
from ruleatlas.sources.sigma_detection import Issues
from ruleatlas.sources.yaml_load import line_of, to_python

LEVELS = frozenset(LEVEL_SCALE)
STATUSES = frozenset({"stable", "test", "experimental", "deprecated", "unsupported"})
_ATTACK_TECHNIQUE = re.compile(r"attack\.(t\d{4}(?:\.\d{3})?)", re.IGNORECASE)


def fill_metadata(rule: Rule, meta: dict[str, tuple[Node, Node]], issues: Issues, doc_line: int) -> None:
    """Set the rule's descriptive fields from its top-level entries; odd values become Problems."""

    def value(name: str) -> Any:
        entry = meta.get(name)
        return None if entry is None else to_python(entry[1])

    def line(name: str) -> int:
        entry = meta.get(name)
        return line_of(entry[0]) if entry is not None else doc_line

    title = value("title")
    if title is None:
        issues.add("rule has no 'title'", doc_line, "add a title of at most 256 characters")
    elif not isinstance(title, str):
        issues.add("'title' must be a string", line("title"))
    elif len(title) > 256:
        issues.add(f"title is {len(title)} characters long (at most 256)", line("title"), severity="warning")
    rule.title = _text(title)
    rule.id = _text(value("id"))
    if rule.id and not _is_uuid(rule.id):
        issues.add(
            f"id '{rule.id}' is not a UUID", line("id"), "generate one with uuidgen", severity="warning"
        )
    rule.name = _text(value("name"))
    rule.description = _text(value("description"))
    rule.status = _text(value("status"))
    if rule.status and rule.status not in STATUSES:
        issues.add(
            f"unknown status '{rule.status}'",
            line("status"),
            "one of: " + ", ".join(sorted(STATUSES)),
            severity="warning",
        )
    rule.level = _text(value("level"))
    if rule.level and rule.level not in LEVELS:
        issues.add(
            f"unknown level '{rule.level}'",
            line("level"),
            "one of: " + ", ".join(sorted(LEVELS)),
            severity="warning",
        )
    rule.author = _text(value("author"))
    rule.authors = split_authors(rule.author)
    rule.date = _iso_date(value("date"))
    rule.modified = _iso_date(value("modified"))
    rule.references = _strings(value("references"))
    rule.falsepositives = _strings(value("falsepositives"))
    tags = value("tags")
    if tags is not None and not isinstance(tags, list):
        issues.add("'tags' must be a list", line("tags"), severity="warning")
    rule.tags = _strings(tags)
    rule.attack_ids = attack_ids(rule.tags)
    rule.fields = _strings(value("fields"))
    logsource = value("logsource")
    if isinstance(logsource, dict):
        rule.logsource = {str(k): _text(v) for k, v in logsource.items()}
    elif "logsource" in meta:
        issues.add("'logsource' must be a mapping (category, product, service)", line("logsource"))
    related = value("related")
    if isinstance(related, list):
        rule.related = tuple(
            {str(k): _text(v) for k, v in item.items()} for item in related if isinstance(item, dict)
        )
    elif related is not None:
        issues.add("'related' must be a list of {id, type}", line("related"), severity="warning")


def rule_kind(folder: str, status: str, kind: RuleKind) -> RuleKind:
    """Precedence: deprecated (folder or status), unsupported (same), correlation/filter, hunting folder."""
    if folder == "deprecated" or status == "deprecated":
        return RuleKind.DEPRECATED
    if folder == "unsupported" or status == "unsupported":
        return RuleKind.UNSUPPORTED
    if kind in (RuleKind.CORRELATION, RuleKind.FILTER):
        return kind
    if folder == "rules-threat-hunting":
        return RuleKind.HUNTING
    return RuleKind.DETECTION


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_text(item) for item in value if item is not None)
    return (_text(value),)


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def split_authors(author: str) -> tuple[str, ...]:
    """Authors from Sigma's free-text author line: split on ',', ';', ' and ', '&' outside parentheses."""
    if not author:
        return ()
    names: list[str] = []
    depth = 0
    start = 0
    pieces: list[str] = []
    for index, char in enumerate(author):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and char in ",;&":
            pieces.append(author[start:index])
            start = index + 1
    pieces.append(author[start:])
    for piece in pieces:
        names.extend(_split_and(piece))
    return tuple(name for name in (n.strip(" '\"") for n in names) if name)


def _split_and(piece: str) -> list[str]:
    if " and " not in piece:
        return [piece]
    out, depth, start, index = [], 0, 0, 0
    while index < len(piece):
        char = piece[index]
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif depth == 0 and piece.startswith(" and ", index):
            out.append(piece[start:index])
            start = index + 5
            index += 4
        index += 1
    out.append(piece[start:])
    return out


def attack_ids(tags: tuple[str, ...]) -> tuple[str, ...]:
    """ATT&CK technique ids from `attack.tNNNN[.NNN]` tags, upper-cased, in tag order, once each."""
    found: list[str] = []
    for tag in tags:
        match = _ATTACK_TECHNIQUE.fullmatch(tag.strip())
        if match:
            technique = match.group(1).upper()
            if technique not in found:
                found.append(technique)
    return tuple(found)
