"""The shape of a `.yaral` file: `rule <name> { meta: ... events: ... [match: ...] [outcome: ...] condition:
... [options: ...] }`, its sections with their lines, and the `key = value` pairs of `meta:`.

This is not the YARA-L grammar (`yaral.lark`, read by `logic`, parses `events`, `outcome` and `condition`);
it finds the sections by their headers, which YARA-L writes alone on a line, and reads
`meta:`, whose entries are one `key = "string"` (or number, or boolean) per line, optionally followed by a
`//` comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SECTIONS = ("meta", "strings", "events", "match", "outcome", "condition", "options")
REQUIRED = ("meta", "events", "condition")
# The brace may open on the next line; files may have Windows line ends (hence `\r?` before `$`).
_HEADER = re.compile(r"^[ \t]*rule[ \t]+([A-Za-z_][A-Za-z0-9_]*)\s*\{", re.MULTILINE)
_SECTION = re.compile(rf"^[ \t]*({'|'.join(SECTIONS)})[ \t]*:[ \t]*(?://[^\n]*)?\r?$", re.MULTILINE)
_META = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$"
)  # the value is stripped in Python: no backtracking
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(?://.*)?$')
_BARE = re.compile(r"([^\s/\"]+)\s*(?://.*)?$")
_ESCAPE = re.compile(r"\\(.)")


@dataclass(slots=True)
class Section:
    name: str
    line: int  # 1-based line of the header
    text: str  # the body, verbatim, up to the next header (or the rule's closing brace)
    text_line: int = 0  # the file line of the body's first line


@dataclass(slots=True)
class RuleText:
    name: str
    line: int
    sections: dict[str, Section] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    meta_lines: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, int, str]] = field(default_factory=list)  # (message, line, hint)


def split_rules(text: str) -> list[RuleText]:
    """Every `rule NAME {` of the file with its sections; the problems of each are listed on it."""
    headers = list(_HEADER.finditer(text))
    out = []
    for number, header in enumerate(headers):
        end = headers[number + 1].start() if number + 1 < len(headers) else len(text)
        out.append(_read(text, header, end))
    return out


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _read(text: str, header: re.Match[str], end: int) -> RuleText:
    rule = RuleText(header.group(1), _line(text, header.start()))
    body_end = text.rfind("}", header.end(), end)
    if body_end < 0 or not _only_comments(text[body_end + 1 : end]):
        rule.problems.append(
            ("rule is not closed with '}'", _line(text, end - 1), "end the rule with a closing brace")
        )
        body_end = end
    headers = list(_SECTION.finditer(text, header.end(), body_end))
    for number, match in enumerate(headers):
        name = match.group(1)
        stop = headers[number + 1].start() if number + 1 < len(headers) else body_end
        line = _line(text, match.start())
        if name in rule.sections:
            rule.problems.append(
                (f"section '{name}:' written twice", line, f"merge the two '{name}:' sections")
            )
            continue
        raw = text[match.end() : stop]
        body = raw.lstrip("\n")
        rule.sections[name] = Section(name, line, body.rstrip("\n"), line + len(raw) - len(body))
    for name in REQUIRED:
        if name not in rule.sections:
            rule.problems.append(
                (
                    f"rule has no '{name}:' section",
                    rule.line,
                    "a YARA-L rule needs meta, events and condition",
                )
            )
    if "meta" in rule.sections:
        _read_meta(rule, rule.sections["meta"])
    return rule


def _only_comments(rest: str) -> bool:
    stripped = re.sub(r"/\*.*?\*/", "", rest, flags=re.DOTALL)
    return all(not line.strip() or line.strip().startswith("//") for line in stripped.splitlines())


def _read_meta(rule: RuleText, section: Section) -> None:
    for offset, raw in enumerate(section.text.replace("\r\n", "\n").split("\n"), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("//"):
            continue
        line = section.text_line + offset - 1
        match = _META.match(raw)
        value = _value(match.group(2).strip()) if match else None
        if match is None or value is None:
            rule.problems.append(
                (
                    f'meta line is not key = "value": {stripped[:80]}',
                    line,
                    'write one key = "value" per line',
                )
            )
            continue
        key = match.group(1)
        if key in rule.meta:
            rule.problems.append((f"meta key '{key}' written twice", line, "the last value is kept"))
        rule.meta[key] = value
        rule.meta_lines[key] = line


def _value(written: str) -> str | None:
    quoted = _QUOTED.match(written)
    if quoted:
        return _ESCAPE.sub(r"\1", quoted.group(1))
    bare = _BARE.match(written)
    return bare.group(1) if bare else None
