"""String matchers from wildcard patterns, and the merging of or-ed / and-ed comparisons of one field.

A rule value is a wildcard pattern (values.Pattern) by the time it gets here. `string_matcher` picks the
fastest test for a set of or-ed patterns of one field: plain values become one frozenset lookup, `x*` one
`startswith` call with a tuple, `*x` one `endswith`, `*x*` substring tests, anything else a GlobTest
(fixed-length segments between `*`, no backtracking). `all_of` / `any_of` build and/or nodes, merging the
string comparisons of one field so that `Image|endswith: [20 values]` costs one call.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Any as AnyType

from ruleatlas.engine.comparisons import Cidr, Keyword, NumberEq
from ruleatlas.engine.matchers import (
    AllOf,
    AnyOf,
    Const,
    Contains,
    ContainsAll,
    Exact,
    FieldMatcher,
    Glob,
    Matcher,
    Mixed,
    Prefix,
    StringMatcher,
    Suffix,
)
from ruleatlas.engine.values import DASHES, Part, Pattern, Wild, is_literal, literal_text


class GlobTest:
    """An anchored wildcard pattern, matched without backtracking.

    The pattern is cut at each `*` into fixed-length segments. The first must match at the start, the
    last at the end, and each one between at its leftmost place after the previous one (leftmost is
    always right for fixed-length segments, so there is no backtracking). Literal segments use str
    methods; segments with `?` or windash classes use a small compiled regex. Case-insensitive patterns
    run on the case-folded text, so there `?` stands for one character of the folded text ('ß' folds to
    'ss', two characters).
    """

    __slots__ = ("head", "middles", "tail", "whole")

    def __init__(self, pattern: Pattern) -> None:
        segments: list[list[Part]] = [[]]
        for part in pattern:
            if part is Wild.STAR:
                segments.append([])
            else:
                segments[-1].append(part)
        self.whole = _segment(segments[0]) if len(segments) == 1 else None
        self.head = _segment(segments[0])
        self.tail = _segment(segments[-1])
        self.middles = tuple(_segment(seg) for seg in segments[1:-1] if seg)

    def __call__(self, text: str) -> bool:
        if self.whole is not None:
            whole, size = self.whole
            if isinstance(whole, str):
                return whole == text
            return len(text) == size and whole.fullmatch(text) is not None
        head, head_size = self.head
        tail, tail_size = self.tail
        end = len(text) - tail_size
        if end < head_size:
            return False
        if head_size:
            if isinstance(head, str):
                if not text.startswith(head):
                    return False
            elif head.match(text) is None:
                return False
        if tail_size:
            if isinstance(tail, str):
                if not text.endswith(tail):
                    return False
            elif tail.match(text, end) is None:
                return False
        pos = head_size
        for middle, size in self.middles:
            if isinstance(middle, str):
                found = text.find(middle, pos, end)
                if found < 0:
                    return False
                pos = found + size
            else:
                m = middle.search(text, pos, end)
                if m is None:
                    return False
                pos = m.end()
        return True


def _segment(parts: list[Part]) -> tuple[str | re.Pattern[str], int]:
    """A fixed-length segment: a plain string, or a regex for segments with `?`/windash classes."""
    if all(isinstance(part, str) for part in parts):
        text = "".join(parts)  # type: ignore[arg-type]
        return text, len(text)
    chunks = []
    size = 0
    for part in parts:
        if isinstance(part, str):
            chunks.append(re.escape(part))
            size += len(part)
        elif part is Wild.ONE:
            chunks.append(".")
            size += 1
        else:
            chunks.append("[" + re.escape("".join(DASHES)) + "]")
            size += 1
    return re.compile("".join(chunks), re.DOTALL), size


def _any_of(tests: Sequence[Callable[[str], object]]) -> Callable[[str], bool]:
    if len(tests) == 1:
        only = tests[0]
        return lambda s: bool(only(s))

    def test(s: str) -> bool:
        for one in tests:  # noqa: SIM110 - faster than any(<genexpr>)
            if one(s):
                return True
        return False

    return test


# Above this many needles a substring test uses NeedleSet (one pass over the text) instead of a loop.
MANY_NEEDLES = 12


class NeedleSet:
    """Does any of many needles occur in a text? One pass over the text, not one per needle.

    When every needle has a non-ASCII character (SigmaHQ's emoji lists), a gate answers at once for the
    usual all-ASCII text: a needle can only occur if its first non-ASCII character does. Then an
    Aho-Corasick automaton (pyahocorasick, also the prefilter's) or, without it, a loop.
    """

    __slots__ = ("automaton", "gate", "needles")

    def __init__(self, needles: tuple[str, ...]) -> None:
        assert needles and all(needles), "empty needles are handled by the caller"
        self.needles = needles
        rare = [next((ch for ch in needle if not ch.isascii()), None) for needle in needles]
        self.gate = frozenset(rare) if None not in rare else None
        self.automaton = _automaton(needles)

    def __call__(self, text: str) -> bool:
        if self.gate is not None and (text.isascii() or self.gate.isdisjoint(text)):
            return False
        if self.automaton is not None:
            for _found in self.automaton.iter(text):
                return True
            return False
        for needle in self.needles:  # noqa: SIM110 - faster than any(<genexpr>)
            if needle in text:
                return True
        return False


def _automaton(needles: tuple[str, ...]) -> AnyType:
    try:
        import ahocorasick
    except ImportError:  # optional here: the loop gives the same answers, only slower
        return None
    automaton = ahocorasick.Automaton()
    for needle in needles:
        automaton.add_word(needle, needle)
    automaton.make_automaton()
    return automaton


def _contains_any(needles: tuple[str, ...]) -> Callable[[str], object]:
    if len(needles) == 1:
        return operator.methodcaller("__contains__", needles[0])
    if len(needles) > MANY_NEEDLES and "" not in needles:
        return NeedleSet(needles)

    def test(s: str) -> bool:
        for needle in needles:  # noqa: SIM110 - faster than any(<genexpr>)
            if needle in s:
                return True
        return False

    return test


def string_matcher(
    field: str | None,
    fold: bool,
    patterns: Sequence[Pattern],
    numbers: frozenset[int | float] = frozenset(),
) -> Matcher:
    """The fastest matcher for or-ed wildcard patterns on one field (or a keyword search if field None).

    Patterns must already be case-folded when `fold`. Plain values become set lookups, `x*` startswith,
    `*x` endswith, `*x*` substring tests, everything else a GlobTest.
    """
    unique = tuple(dict.fromkeys(patterns))
    exact: list[str] = []
    prefixes: list[str] = []
    suffixes: list[str] = []
    needles: list[str] = []
    globs: list[Pattern] = []
    for pattern in unique:
        first_star = bool(pattern) and pattern[0] is Wild.STAR
        last_star = bool(pattern) and pattern[-1] is Wild.STAR
        inner = pattern[1 if first_star else 0 : -1 if last_star and len(pattern) > 1 else len(pattern)]
        if pattern == (Wild.STAR,):
            needles.append("")
        elif not is_literal(inner):
            globs.append(pattern)
        elif first_star and last_star:
            needles.append(literal_text(inner))
        elif first_star:
            suffixes.append(literal_text(inner))
        elif last_star:
            prefixes.append(literal_text(inner))
        else:
            exact.append(literal_text(inner))
    tests: list[Callable[[str], object]] = []
    data: object = None
    if exact:
        data = frozenset(exact)
        tests.append(data.__contains__)
    if prefixes:
        data = tuple(dict.fromkeys(prefixes))
        tests.append(operator.methodcaller("startswith", data))
    if suffixes:
        data = tuple(dict.fromkeys(suffixes))
        tests.append(operator.methodcaller("endswith", data))
    if needles:
        data = tuple(dict.fromkeys(needles))
        tests.append(_contains_any(data))
    tests.extend(GlobTest(glob) for glob in globs)
    test = tests[0] if len(tests) == 1 else _any_of(tests)
    if field is None:
        return Keyword(fold, test, unique)
    kinds = sum(1 for group in (exact, prefixes, suffixes, needles) if group) + (1 if globs else 0)
    member: type[StringMatcher]
    if kinds != 1:
        member = Mixed
    elif exact:
        member = Exact
    elif prefixes:
        member = Prefix
    elif suffixes:
        member = Suffix
    elif needles:
        member = Contains
    else:
        member = Glob
    return member(field, fold, test, unique, numbers, data if member is not Mixed else None)


def contains_all(field: str, fold: bool, needles: Sequence[str], patterns: Sequence[Pattern]) -> Matcher:
    return ContainsAll(field, fold, tuple(dict.fromkeys(needles)), tuple(patterns))


# ---------------------------------------------------------------------------------------------------------
# and / or, merging string comparisons of one field


def all_of(children: list[Matcher]) -> Matcher:
    flat: list[Matcher] = []
    for child in children:
        if isinstance(child, AllOf):
            flat.extend(child.children)
        elif isinstance(child, Const):
            if not child.value:
                return child
        else:
            flat.append(child)
    flat = _merge_contains_all(flat)
    if not flat:
        return Const(True)
    return flat[0] if len(flat) == 1 else AllOf(flat)


def any_of(children: list[Matcher]) -> Matcher:
    flat: list[Matcher] = []
    for child in children:
        if isinstance(child, AnyOf):
            flat.extend(child.children)
        elif isinstance(child, Const):
            if child.value:
                return child
        else:
            flat.append(child)
    flat = _merge_numbers(_merge_cidr(_merge_strings(flat)))
    if not flat:
        return Const(False)
    return flat[0] if len(flat) == 1 else AnyOf(flat)


def _merge_strings(children: list[Matcher]) -> list[Matcher]:
    """Or-ed string matchers of one field (and fold) become one matcher; the rest stay as they are."""
    groups: dict[tuple[str | None, bool], list[StringMatcher | Keyword]] = {}
    order: list[Matcher | tuple[str | None, bool]] = []
    for child in children:
        key: tuple[str | None, bool] | None = None
        if not isinstance(child, ContainsAll) and isinstance(child, StringMatcher):
            key = (child.field, child.fold)
        elif isinstance(child, Keyword) and child.patterns:
            key = (None, child.fold)
        if key is None:
            order.append(child)
            continue
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(child)  # type: ignore[arg-type]
    out: list[Matcher] = []
    for item in order:
        if isinstance(item, Matcher):
            out.append(item)
            continue
        members = groups[item]
        if len(members) == 1:
            out.append(members[0])
            continue
        patterns = [p for m in members for p in m.patterns]
        numbers = frozenset(n for m in members if isinstance(m, StringMatcher) for n in m.numbers)
        out.append(string_matcher(item[0], item[1], patterns, numbers))  # type: ignore[arg-type]
    return out


def _merge_same_field(
    children: list[Matcher], kind: type[FieldMatcher], merge: Callable[[str, list[FieldMatcher]], Matcher]
) -> list[Matcher]:
    """Or-ed matchers of one kind on one field become the one matcher `merge` builds, in first place."""
    groups: dict[str, list[FieldMatcher]] = {}
    out: list[Matcher] = []
    for child in children:
        if type(child) is kind:
            assert isinstance(child, FieldMatcher)
            if child.field not in groups:
                groups[child.field] = []
                out.append(child)
            groups[child.field].append(child)
        else:
            out.append(child)
    return [
        merge(m.field, groups[m.field]) if isinstance(m, kind) and len(groups[m.field]) > 1 else m
        for m in out
    ]


def _merge_cidr(children: list[Matcher]) -> list[Matcher]:
    """Or-ed `|cidr` networks of one field: one matcher, the address parsed once."""
    return _merge_same_field(
        children,
        Cidr,
        lambda field, ms: Cidr(field, [n for m in ms if isinstance(m, Cidr) for n in m.networks]),
    )


def _merge_numbers(children: list[Matcher]) -> list[Matcher]:
    """Or-ed numbers of one field (`EventID: [4624, 4625]`): one set lookup."""
    return _merge_same_field(
        children,
        NumberEq,
        lambda field, ms: NumberEq(field, [n for m in ms if isinstance(m, NumberEq) for n in m.numbers]),
    )


def _merge_contains_all(children: list[Matcher]) -> list[Matcher]:
    """And-ed single-needle `contains` on one field become one ContainsAll."""
    groups: dict[tuple[str, bool], list[Contains]] = {}
    order: list[Matcher | tuple[str, bool]] = []
    for child in children:
        if type(child) is Contains and len(child.patterns) == 1:
            key = (child.field, child.fold)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(child)
        else:
            order.append(child)
    out: list[Matcher] = []
    for item in order:
        if isinstance(item, Matcher):
            out.append(item)
            continue
        members = groups[item]
        if len(members) == 1:
            out.append(members[0])
            continue
        patterns = [m.patterns[0] for m in members]
        needles = [literal_text(p) for p in patterns]  # type: ignore[arg-type]
        out.append(contains_all(item[0], item[1], needles, patterns))  # type: ignore[arg-type]
    return out
