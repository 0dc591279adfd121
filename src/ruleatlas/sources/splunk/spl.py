"""The few SPL facts the metadata pass needs, read without a grammar: pipe commands and the first group-by.

The full SPL parser (search expressions, macros, stages) is a later issue; this splitter is the piece it will
start from. It respects double-quoted strings (with `\\` escapes), `[subsearch]` brackets and backquoted macro
calls, which may all contain `|`.
"""

from __future__ import annotations

import re

_BY = re.compile(r"\bby\b", re.IGNORECASE)
_AGGREGATES = ("tstats", "stats", "mstats", "eventstats", "streamstats")


def commands(search: str) -> list[str]:
    """The pipe commands of a search, stripped, empty ones (a leading `|`) left out."""
    return [command for command, _ in command_spans(search)]


def command_spans(search: str) -> list[tuple[str, int]]:
    """The pipe commands of a search, stripped, each with the offset where its text starts."""
    out: list[tuple[str, int]] = []
    depth = 0
    quote = macro = False
    start = 0
    index = 0
    while index < len(search):
        char = search[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == '"':
                quote = False
        elif char == "\\" and not macro:
            index += 1  # `\"` outside quotes is a literal quote in a value (`f=*\"x\":true*`), no string
        elif char == '"':
            quote = True
        elif char == "`":
            macro = not macro
        elif not macro:
            if char == "[":
                depth += 1
            elif char == "]":
                depth = max(0, depth - 1)
            elif char == "|" and depth == 0:
                out.append(_span(search, start, index))
                start = index + 1
        index += 1
    out.append(_span(search, start, len(search)))
    return [(command, offset) for command, offset in out if command]


def _span(search: str, start: int, end: int) -> tuple[str, int]:
    piece = search[start:end]
    return piece.strip(), start + len(piece) - len(piece.lstrip())


def group_by(search: str) -> tuple[str, ...]:
    """The `by` fields of the first tstats/stats command, as written (`Processes.dest`, `_time span=1h`)."""
    for command in commands(search):
        name = command.split(None, 1)[0].lower() if command.split() else ""
        if name not in _AGGREGATES:
            continue
        matches = list(_BY.finditer(command))
        if not matches:
            return ()
        clause = command[matches[-1].end() :]
        return tuple(f for f in (f.strip() for f in re.split(r",|\s+(?=[^=\s]+(?:\s|$))", clause)) if f)
    return ()
