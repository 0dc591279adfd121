"""Macro expansion for SPL: `` `name` `` and `` `name(a, b)` `` replaced by their definitions before parsing.

Definitions come from security_content's `macros/` (`support.Macro`); `$arg$` in a definition is replaced by
the call's argument, and expansions are expanded again (`security_content_summariesonly` calls
`summariesonly_config`), up to a depth that stops cycles. Two kinds of call are not replaced:

- `drop_dm_object_name(X)` is an ESCU core macro that is not in `macros/`; it is a known rename (strip the
  `X.` prefix of data-model fields) that the stage builder understands, so it is kept as written.
- a macro with no definition: the per-detection `<name>_filter` macros are empty by design (ESCU ships them
  empty for customers to fill), so they expand to nothing, which is what Splunk runs; any other missing macro
  (`get_asset`) is left in the text, reported by name, and never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ruleatlas.sources.splunk.support import Macro

BUILTIN_RENAMES = frozenset({"drop_dm_object_name"})
_CALL = re.compile(r"`([^`(]*)(?:\(((?:[^`()]|\([^`()]*\))*)\))?`")
_MAX_DEPTH = 8
# An expansion longer than this stops expanding (macros calling macros many times each would grow without
# bound); the calls left are reported as unresolved.
MAX_EXPANDED = 200_000


@dataclass(slots=True)
class Expansion:
    text: str
    unresolved: list[str] = field(default_factory=list)  # macro names with no definition (not `_filter`)
    empty_filters: list[str] = field(default_factory=list)  # `<name>_filter` macros that expand to nothing
    size: int = 0  # characters of macro bodies substituted so far


def split_arguments(text: str) -> list[str]:
    """A macro call's arguments: split at commas outside quotes and parentheses, blanks stripped."""
    out: list[str] = []
    depth = 0
    quote = False
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and index + 1 < len(text):
                current.append(text[index : index + 2])
                index += 2
                continue
            quote = char != '"'
        elif char == '"':
            quote = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            out.append("".join(current).strip())
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    out.append("".join(current).strip())
    return [a for a in out if a] if any(out) else []


def expand(text: str, macros: Mapping[str, Macro]) -> Expansion:
    """`text` with every defined macro call replaced (recursively), and what could not be."""
    result = Expansion(text)
    result.text = _expand(text, macros, result, 0)
    return result


def _expand(text: str, macros: Mapping[str, Macro], result: Expansion, depth: int) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        arguments = split_arguments(match.group(2)) if match.group(2) is not None else []
        if name in BUILTIN_RENAMES:
            return match.group(0)
        macro = macros.get(f"{name}({len(arguments)})" if arguments else name)
        if macro is None:
            if name.endswith("_filter") and not arguments:
                if name not in result.empty_filters:
                    result.empty_filters.append(name)
                return ""
            if name and name not in result.unresolved:
                result.unresolved.append(name)
            return match.group(0)
        body = macro.definition
        for parameter, argument in zip(macro.arguments, arguments, strict=False):
            body = body.replace(f"${parameter}$", argument)
        if depth >= _MAX_DEPTH or result.size + len(body) > MAX_EXPANDED:
            if name not in result.unresolved:
                result.unresolved.append(name)
            return match.group(0)
        result.size += len(body)
        text = match.string
        quoted = (
            match.start() > 0
            and text[match.start() - 1] == '"'
            and text[match.end() : match.end() + 1] == '"'
        )
        if quoted and len(body) >= 2 and body[0] == body[-1] == '"':
            body = body[1:-1]  # `"`window`"` with a quoted definition: one string, not two
        return _expand(body, macros, result, depth + 1)

    return _CALL.sub(replace, text)


def called(text: str) -> list[str]:
    """The names of the macros `text` calls (with `(N)` for N arguments, as `Macro.call_name`), in order."""
    out: list[str] = []
    for match in _CALL.finditer(text):
        name = match.group(1).strip()
        arguments = split_arguments(match.group(2)) if match.group(2) is not None else []
        key = f"{name}({len(arguments)})" if arguments else name
        if name and key not in out:
            out.append(key)
    return out
