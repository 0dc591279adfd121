"""Python regular expressions run on RE2 (`google-re2`): time linear in the text, whatever the pattern.

RE2 has no backtracking, so no input can stall it; it lacks what needs backtracking (backreferences,
lookarounds), and some of its defaults differ from Python's `re`. So the pattern is not handed over as
written: it is parsed by `re`'s own parser and written out again in RE2 syntax with Python's meaning —

- `\\d`, `\\w`, `\\s` are Unicode in Python (`\\p{Nd}`, letters/numbers/underscore, `str.isspace`); RE2's
  are ASCII. They are spelled out (ASCII under `(?a)`, as in Python);
- `$` without `m` also matches before a final newline in Python: written `\\n?\\z` where nothing can follow
  it (anywhere else the pattern is left to the other engines);
- `\\A`, `\\Z` (Python's end of text) become `\\A`, `\\z`; lazy repeats become greedy (a search only asks
  whether there is a match); characters are written as `\\x{...}`, so no escaping rule can differ.

What cannot be written exactly (lookarounds, backreferences, `\\b` — RE2's is ASCII-only —, conditionals,
repeat counts over 1000) raises `Untranslatable`, and regex_guard.py picks another engine.
"""

from __future__ import annotations

import re
import re._constants as C
import re._parser as P
from typing import Any

try:  # google-re2: a runtime dependency; without it, regex_guard.py falls back on the pure-Python engine
    import re2 as _re2_api
    from re2 import _re2
except ImportError:  # pragma: no cover - the package is in pyproject.toml
    _re2 = _re2_api = None

MAX_RE2_REPEAT = 1000  # RE2 refuses counted repeats above this
RE2_MAX_MEM = 64 << 20  # per pattern: RE2's DFA cache; a bigger program fails to compile (then: other engine)


class Untranslatable(Exception):
    """The pattern uses something RE2 cannot do with Python's meaning."""


def available() -> bool:
    return _re2 is not None


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


_SPACE: str | None = None


def _unicode_space() -> str:
    """Class items for the characters `str.isspace` accepts (all below U+3001)."""
    global _SPACE
    if _SPACE is None:
        _SPACE = "".join(_char(code) for code in range(0x3001) if chr(code).isspace())
    return _SPACE


# (positive class items, negated) per category; ASCII forms for (?a)
_CATEGORIES_UNICODE = {
    C.CATEGORY_DIGIT: ("\\p{Nd}", False),
    C.CATEGORY_NOT_DIGIT: ("\\p{Nd}", True),
    C.CATEGORY_WORD: ("\\p{L}\\p{N}_", False),
    C.CATEGORY_NOT_WORD: ("\\p{L}\\p{N}_", True),
    C.CATEGORY_SPACE: ("", False),  # filled with _unicode_space()
    C.CATEGORY_NOT_SPACE: ("", True),
}
_CATEGORIES_ASCII = {
    C.CATEGORY_DIGIT: ("0-9", False),
    C.CATEGORY_NOT_DIGIT: ("0-9", True),
    C.CATEGORY_WORD: ("0-9A-Za-z_", False),
    C.CATEGORY_NOT_WORD: ("0-9A-Za-z_", True),
    C.CATEGORY_SPACE: ("\\t\\n\\x{b}\\x{c}\\r ", False),
    C.CATEGORY_NOT_SPACE: ("\\t\\n\\x{b}\\x{c}\\r ", True),
}


def _category(code: Any, ascii_only: bool) -> tuple[str, bool]:
    table = _CATEGORIES_ASCII if ascii_only else _CATEGORIES_UNICODE
    if code not in table:
        raise Untranslatable(f"category {code}")
    items, negated = table[code]
    if not items:
        items = _unicode_space()
    return items, negated


def _flag_letters(flags: int) -> str:
    return "".join(
        letter for letter, bit in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL)) if flags & bit
    )


class _Writer:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def sequence(self, items: list[tuple[Any, Any]], flags: int, tail: bool) -> str:
        out: list[str] = []
        for position, (op, av) in enumerate(items):
            out.append(self.item(op, av, flags, tail and position == len(items) - 1))
        return "".join(out)

    def item(self, op: Any, av: Any, flags: int, tail: bool) -> str:
        ascii_only = bool(flags & re.ASCII)
        if op is C.LITERAL:
            return _char(av)
        if op is C.NOT_LITERAL:
            return f"[^{_char(av)}]"
        if op is C.ANY:
            return "."
        if op is C.IN:
            return self.char_class(list(av), ascii_only)
        if op is C.SUBPATTERN:
            _group, add, remove, sub = av
            if add & re.VERBOSE or remove & re.VERBOSE:
                add &= ~re.VERBOSE
                remove &= ~re.VERBOSE
            inner = self.sequence(list(sub), (flags | add) & ~remove, tail)
            on, off = _flag_letters(add), _flag_letters(remove)
            switch = on + (f"-{off}" if off else "")
            return f"(?{switch}:{inner})" if switch else f"(?:{inner})"
        if op is C.BRANCH:
            return "(?:" + "|".join(self.sequence(list(alt), flags, tail) for alt in av[1]) + ")"
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, sub = av
            body = self.sequence(list(sub), flags, False)
            if hi == C.MAXREPEAT:
                count = "*" if lo == 0 else "+" if lo == 1 else f"{{{lo},}}"
                if lo > MAX_RE2_REPEAT:
                    raise Untranslatable("repeat count over 1000")
            else:
                if hi > MAX_RE2_REPEAT:
                    raise Untranslatable("repeat count over 1000")
                count = f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
            return f"(?:{body}){count}"
        if op is C.AT:
            return self.anchor(av, flags, tail)
        raise Untranslatable(str(op).lower())

    @staticmethod
    def anchor(code: Any, flags: int, tail: bool) -> str:
        multiline = bool(flags & re.MULTILINE)
        if code is C.AT_BEGINNING:
            return "(?m:^)" if multiline else "\\A"
        if code is C.AT_BEGINNING_STRING:
            return "\\A"
        if code is C.AT_END_STRING:
            return "\\z"
        if code is C.AT_END:
            if multiline:
                return "(?m:$)"
            if tail:  # nothing follows: consuming the final newline changes no answer
                return "(?:\\n?\\z)"
            raise Untranslatable("$ followed by more pattern")
        raise Untranslatable(f"anchor {code}")  # \b, \B: RE2's are ASCII-only

    @staticmethod
    def char_class(items: list[tuple[Any, Any]], ascii_only: bool) -> str:
        negate = False
        positive: list[str] = []
        negated_categories: list[str] = []
        for op, av in items:
            if op is C.NEGATE:
                negate = True
            elif op is C.LITERAL:
                positive.append(_char(av))
            elif op is C.RANGE:
                positive.append(f"{_char(av[0])}-{_char(av[1])}")
            elif op is C.CATEGORY:
                text, negated = _category(av, ascii_only)
                (negated_categories if negated else positive).append(text)
            else:
                raise Untranslatable(f"class item {op}")
        if not negated_categories:
            body = "".join(positive)
            if not body:
                raise Untranslatable("empty class")
            return f"[{'^' if negate else ''}{body}]"
        # a negated category inside a class (`[\W\d]`): a union of classes, complemented when negated
        pieces = ([f"[{''.join(positive)}]"] if positive else []) + [f"[^{c}]" for c in negated_categories]
        union = "(?:" + "|".join(pieces) + ")"
        if not negate:
            return union
        if len(negated_categories) == 1:  # [^\W...]: not (not C or P) = C and not P
            if positive:
                raise Untranslatable("negated class with a negated category and other items")
            return f"[{negated_categories[0]}]"
        raise Untranslatable("negated class with several negated categories")


def translate(parsed: P.SubPattern, flags: int) -> str:
    """`parsed` (re's parse tree, global `flags`) in RE2 syntax with Python's meaning."""
    writer = _Writer()
    body = writer.sequence(list(parsed), flags, True)
    letters = _flag_letters(flags)
    return f"(?{letters}){body}" if letters else body


class Re2Search:
    """`search(text)`: whether the pattern occurs in `text`, by RE2 (linear time)."""

    __slots__ = ("_anchor", "_regexp")

    def __init__(self, translated: str) -> None:
        if _re2 is None:
            raise Untranslatable("google-re2 is not installed")
        options = _re2_api.Options()
        options.never_capture = True
        options.log_errors = False
        options.max_mem = RE2_MAX_MEM
        regexp = _re2.RE2(translated.encode("utf-8"), options)
        if not regexp.ok():
            raise Untranslatable(f"RE2: {regexp.error()}")
        self._regexp = regexp
        self._anchor = _re2.RE2.Anchor.UNANCHORED

    def __call__(self, text: str) -> bool:
        # surrogatepass: a lone surrogate (valid in JSON) must not stop the search
        data = text.encode("utf-8", "surrogatepass")
        spans: list[tuple[int, int]] = self._regexp.Match(self._anchor, data, 0, len(data))
        return spans[0][0] >= 0
