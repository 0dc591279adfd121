"""Regular expressions that cannot stall a scan.

Python's `re` backtracks. A pattern with nested quantifiers such as `(a+)+$` (star height 2) takes time
exponential in the input on a near-miss ('a'*50 + '!' would run for days), and SigmaHQ has such patterns:
`rules/windows/process_creation/proc_creation_win_hktl_invoke_obfuscation_var.yml` uses `(?:.*\\)){1,}`,
which `re` needs ~50 s for on a command line ending in 30 ')'. Without nesting, several unbounded repeats
are polynomial: the stock `(?i)echo.*clip.*&&.*(?:Clipboard|...)` of
`proc_creation_win_hktl_invoke_obfuscation_via_use_clip.yml` took 24 s on a 2.2 KB command line (S1 of
the reliability study). CPython cannot interrupt `re` (no time budget short of a signal, main thread
only), so the engine is chosen per pattern at compile time, from `re`'s own parse of it:

- no unbounded repeat (`*`, `+`, `{n,}`) and no nested quantifier: `re` (fast; its work per start
  position is bounded by the pattern), behind `in` tests of the literal texts every match contains;
- otherwise RE2 (regex_re2.py: the pattern rewritten in RE2 syntax with Python's meaning), time linear in
  the text, behind the same literal tests. Without nested quantifiers, a value short enough that `re`'s
  worst case (about n**(k+1) steps for k unbounded repeats) stays within `RE_STEP_BUDGET` still goes to
  `re`: a call into RE2 costs ~3 µs against ~0.2 µs, and most values are a few dozen characters;
- what RE2 cannot express exactly (`\b`, `$` before more pattern, ...) runs on `LinearRegex`, a
  Thompson-NFA simulation (Pike VM without captures) that visits each (position, instruction) pair once,
  with the same match/no-match answer as `re.search`; state transitions are cached (a lazy DFA) when the
  pattern has no assertions;
- what neither can do (backreferences, lookarounds, atomic groups, possessive repeats): with nested
  quantifiers, `RegexError` (the engine reports the rule as a problem); with unbounded repeats only, `re`
  over the first `BACKTRACK_TEXT` characters of the value. The Sigma specification's regex flavour (v2.1,
  "Regular Expression") has none of them, and no SigmaHQ rule uses them.

`compile_search` says whether a pattern runs on a linear-time engine (`guarded`): matchers order such
comparisons after cheaper ones.
"""

from __future__ import annotations

import re
import re._constants as C
import re._parser as P
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeAlias

from ruleatlas.engine.regex_re2 import Re2Search, Untranslatable, translate

Search: TypeAlias = Callable[[str], object]
"""search(text) is truthy when the pattern occurs in text (re.Pattern.search or LinearRegex.search)."""

LOOP_THRESHOLD = 16  # a repeat allowing more than this many iterations counts as a loop
MAX_PROGRAM = 20_000  # instructions; bounded repeats are unrolled
_TRANSITION_CACHE = 50_000

FLAG_BITS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}

_CHAR, _SPLIT, _JMP, _ASSERT, _MATCH = range(5)


class RegexError(Exception):
    """A pattern the engine cannot run; the message says why."""


def python_flags(flags: str) -> int:
    bits = 0
    for letter in flags:
        if letter not in FLAG_BITS:
            raise RegexError(f"unknown regular expression flag '{letter}' (Sigma has i, m, s)")
        bits |= FLAG_BITS[letter]
    return bits


def compile_search(pattern: str, flags: str = "") -> tuple[Search, bool]:
    """A search function for `pattern` that runs in bounded time, and whether it runs on a linear-time
    engine (RE2 or LinearRegex) rather than `re` (see the module docstring for the choice)."""
    bits = python_flags(flags)
    try:
        compiled = re.compile(pattern, bits)
        parsed = P.parse(pattern, bits)
    except (re.error, RecursionError, OverflowError) as exc:
        raise RegexError(f"invalid regular expression {pattern!r}: {exc}") from exc
    items = list(parsed)
    runs = literal_runs(items, parsed.state.flags)
    shortest = _shortest_match(parsed)
    nested = has_nested_quantifiers(items)
    if not nested and not has_unbounded_repeat(items):
        return _gated(compiled.search, runs, shortest), False
    try:
        linear = Re2Search(translate(parsed, parsed.state.flags))
    except Untranslatable:
        pass
    else:
        if nested:
            return _gated(linear, runs, shortest), True
        search = _short_on_re(compiled.search, linear, unbounded_repeats(items))
        return _gated(search, runs, shortest), True
    try:
        return _gated(LinearRegex(parsed, parsed.state.flags).search, [], shortest), True
    except RegexError:
        if nested:
            raise
    # an unbounded repeat with a construct neither linear engine has (lookaround, backreference): `re`
    # on at most BACKTRACK_TEXT characters of the value, so the worst case stays bounded
    return _gated(_bounded(compiled.search), runs, shortest), False


def _shortest_match(parsed: P.SubPattern) -> int:
    """The fewest characters a match can span, by `re`'s own reckoning (lookarounds count as nothing, so
    it never overstates): a text shorter than that cannot hold a match, whatever the engine. SigmaHQ's
    `CommandLine|re: '.{1000,}'` (abnormal command line size) cost RE2 ~2 ms on each command line of
    450-1000 characters; the length alone answers those."""
    try:
        return int(parsed.getwidth()[0])
    except (OverflowError, RecursionError):  # pragma: no cover - re.compile has parsed it already
        return 0


BACKTRACK_TEXT = 4096  # characters `re` searches when neither linear engine can run the pattern
# `re`'s worst case on a pattern with k unbounded repeats (no nesting) is about n**(k+1) steps on n
# characters; up to this many steps a short value stays on `re` (a call costs ~0.2 µs, RE2's ~3 µs)
RE_STEP_BUDGET = 200_000


def _short_on_re(search: Search, linear: Search, repeats: int) -> Search:
    """`search` (re) for values short enough that its worst case stays within RE_STEP_BUDGET, `linear`
    (RE2) for longer ones: the same answers, and most values (a few dozen characters) at `re`'s speed."""
    limit = int(RE_STEP_BUDGET ** (1 / (repeats + 1)))

    def search_by_length(text: str) -> object:
        return search(text) if len(text) <= limit else linear(text)

    return search_by_length


def unbounded_repeats(items: list[tuple[Any, Any]]) -> int:
    """How many unbounded repeats (`*`, `+`, `{n,}`) the pattern has, in all branches together."""
    count = 0
    for op, av in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            count += (av[1] == C.MAXREPEAT) + unbounded_repeats(list(av[2]))
        elif op is C.SUBPATTERN:
            count += unbounded_repeats(list(av[3]))
        elif op is C.BRANCH:
            count += sum(unbounded_repeats(list(alt)) for alt in av[1])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            count += unbounded_repeats(list(av[1]))
        elif op is C.ATOMIC_GROUP:
            count += unbounded_repeats(list(av))
    return count


def _bounded(search: Search) -> Search:
    """`search` over at most the first BACKTRACK_TEXT characters of a text (see compile_search)."""

    def bounded_search(text: str) -> object:
        return search(text if len(text) <= BACKTRACK_TEXT else text[:BACKTRACK_TEXT])

    return bounded_search


def has_unbounded_repeat(items: list[tuple[Any, Any]]) -> bool:
    """True when the pattern repeats something without an upper bound (`*`, `+`, `{n,}`): `re` then tries
    each way to split the text at every start position, polynomial in the text (S1 of the reliability
    study: `echo.*clip.*&&.*` took 24 s on a 2.2 KB command line)."""
    for op, av in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            if av[1] == C.MAXREPEAT or has_unbounded_repeat(list(av[2])):
                return True
        elif op is C.SUBPATTERN:
            if has_unbounded_repeat(list(av[3])):
                return True
        elif op is C.BRANCH:
            if any(has_unbounded_repeat(list(alt)) for alt in av[1]):
                return True
        elif op in (C.ASSERT, C.ASSERT_NOT):
            if has_unbounded_repeat(list(av[1])):
                return True
        elif op is C.ATOMIC_GROUP and has_unbounded_repeat(list(av)):
            return True
    return False


GATE_NEEDLES = 2  # literal runs checked before `re` runs (the longest, counting repeats)


def _gated(search: Search, runs: list[str], shortest: int = 0) -> Search:
    r"""`search`, preceded by tests of texts every match contains (C speed, no backtracking): most values
    fail them, and `re` can take time quadratic in the value (`\w+x` on a long word) or worse.

    A run the pattern requires n times must occur n times without overlap (the runs of a match are
    disjoint parts of it): `\+.*\+.*\+` needs three "+", which `str.count` (the most non-overlapping
    occurrences) checks before `re` tries every way to place the `.*`. A text shorter than `shortest`
    (`_shortest_match`) is answered by its length."""
    counts = Counter(runs)
    chosen = sorted(counts, key=lambda run: (len(run) * counts[run], len(run)), reverse=True)[:GATE_NEEDLES]
    # the runs' own lengths already refuse texts too short for them: the length test adds only above that
    longest_run = max((len(run) * counts[run] for run in chosen), default=0)
    if shortest <= max(longest_run, 1):
        shortest = 0
    if not chosen and not shortest:
        return search
    single = tuple(run for run in chosen if counts[run] == 1)
    repeated = tuple((run, counts[run]) for run in chosen if counts[run] > 1)

    def gated_search(text: str) -> object:
        if len(text) < shortest:
            return None
        for needle in single:
            if needle not in text:
                return None
        for needle, count in repeated:
            if text.count(needle) < count:
                return None
        return search(text)

    return gated_search


def has_nested_quantifiers(items: list[tuple[Any, Any]], loop: str = "") -> bool:
    """True when a variable repeat or an alternation sits inside a loop (see the module docstring).

    `loop` is "" outside loops, "variable" inside a variable loop, "fixed" inside `{n}` with n > 16, where
    even an optional element multiplies the ways to match (`(a?){30}a{30}`).
    """
    for op, av in items:
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            variable = hi != lo
            if loop and variable and (hi > 1 or loop == "fixed"):
                return True
            inner = loop
            if hi == C.MAXREPEAT or hi > LOOP_THRESHOLD:
                inner = "variable" if variable else (loop or "fixed")
            if has_nested_quantifiers(list(sub), inner):
                return True
        elif op is C.SUBPATTERN:
            if has_nested_quantifiers(list(av[3]), loop):
                return True
        elif op is C.BRANCH:
            if loop:
                return True
            if any(has_nested_quantifiers(list(alt), loop) for alt in av[1]):
                return True
        elif op in (C.ASSERT, C.ASSERT_NOT):
            if has_nested_quantifiers(list(av[1]), loop):
                return True
        elif op is C.ATOMIC_GROUP and has_nested_quantifiers(list(av), loop):
            return True
    return False


# ---------------------------------------------------------------------------------------------------------
# Linear-time matcher


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_word_ascii(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _category_test(category: object, ascii_only: bool) -> Callable[[str], bool]:
    def digit(ch: str) -> bool:
        return ch.isdecimal() and (not ascii_only or ch.isascii())

    def space(ch: str) -> bool:
        return ch.isspace() and (not ascii_only or ch.isascii())

    word = _is_word_ascii if ascii_only else _is_word
    tests: dict[object, Callable[[str], bool]] = {
        C.CATEGORY_DIGIT: digit,
        C.CATEGORY_NOT_DIGIT: lambda ch: not digit(ch),
        C.CATEGORY_SPACE: space,
        C.CATEGORY_NOT_SPACE: lambda ch: not space(ch),
        C.CATEGORY_WORD: word,
        C.CATEGORY_NOT_WORD: lambda ch: not word(ch),
    }
    if category not in tests:
        raise RegexError(f"character category {category} is not supported by the linear matcher")
    return tests[category]


def _case_variants(ch: str) -> frozenset[str]:
    return frozenset({ch, ch.lower(), ch.upper(), ch.casefold() if len(ch.casefold()) == 1 else ch})


def _set_test(items: list[tuple[Any, Any]], ignorecase: bool, ascii_only: bool) -> Callable[[str], bool]:
    negate = False
    chars: set[str] = set()
    ranges: list[tuple[int, int]] = []
    categories: list[Callable[[str], bool]] = []
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            chars.add(chr(av))
        elif op is C.RANGE:
            ranges.append(av)
        elif op is C.CATEGORY:
            categories.append(_category_test(av, ascii_only))
        else:
            raise RegexError(f"character class item {op} is not supported by the linear matcher")
    frozen = frozenset(chars)

    def one(ch: str) -> bool:
        if ch in frozen:
            return True
        code = ord(ch)
        return any(lo <= code <= hi for lo, hi in ranges) or any(test(ch) for test in categories)

    if ignorecase:

        def test(ch: str) -> bool:
            return any(one(variant) for variant in _case_variants(ch)) != negate

    else:

        def test(ch: str) -> bool:
            return one(ch) != negate

    return test


class _Builder:
    def __init__(self) -> None:
        self.prog: list[tuple[Any, ...]] = []
        self.has_assert = False

    def emit(self, instruction: tuple[Any, ...]) -> int:
        if len(self.prog) >= MAX_PROGRAM:
            raise RegexError(f"pattern too large for the linear matcher (over {MAX_PROGRAM} steps)")
        self.prog.append(instruction)
        return len(self.prog) - 1

    def patch(self, at: int, instruction: tuple[Any, ...]) -> None:
        self.prog[at] = instruction

    def sequence(self, items: list[tuple[Any, Any]], flags: int) -> None:
        for op, av in items:
            self.item(op, av, flags)

    def item(self, op: Any, av: Any, flags: int) -> None:
        ignorecase = bool(flags & re.IGNORECASE)
        ascii_only = bool(flags & re.ASCII)
        if op is C.LITERAL:
            ch = chr(av)
            variants = _case_variants(ch) if ignorecase else None
            self.emit((_CHAR, variants.__contains__ if variants else ch.__eq__))
        elif op is C.NOT_LITERAL:
            ch = chr(av)
            if ignorecase:
                variants = _case_variants(ch)
                self.emit((_CHAR, lambda c: c not in variants))
            else:
                self.emit((_CHAR, ch.__ne__))
        elif op is C.ANY:
            self.emit((_CHAR, (lambda c: True) if flags & re.DOTALL else "\n".__ne__))
        elif op is C.IN:
            self.emit((_CHAR, _set_test(list(av), ignorecase, ascii_only)))
        elif op is C.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            self.sequence(list(sub), (flags | add_flags) & ~del_flags)
        elif op is C.BRANCH:
            self.branch(list(av[1]), flags)
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            self.repeat(av, flags)
        elif op is C.AT:
            self.has_assert = True
            self.emit((_ASSERT, self.anchor(av, flags)))
        else:
            raise RegexError(
                f"{str(op).lower()} is not supported in a pattern with nested quantifiers; rewrite the "
                "pattern without nesting quantifiers, or without this construct"
            )

    def branch(self, alternatives: list[list[tuple[Any, Any]]], flags: int) -> None:
        jumps: list[int] = []
        for index, alternative in enumerate(alternatives):
            if index < len(alternatives) - 1:
                split = self.emit((_SPLIT, 0, 0))
                self.sequence(list(alternative), flags)
                jumps.append(self.emit((_JMP, 0)))
                self.patch(split, (_SPLIT, split + 1, len(self.prog)))
            else:
                self.sequence(list(alternative), flags)
        for jump in jumps:
            self.patch(jump, (_JMP, len(self.prog)))

    def repeat(self, av: Any, flags: int) -> None:
        lo, hi, sub = av
        for _ in range(lo):
            self.sequence(list(sub), flags)
        if hi == C.MAXREPEAT:
            split = self.emit((_SPLIT, 0, 0))
            self.sequence(list(sub), flags)
            self.emit((_JMP, split))
            self.patch(split, (_SPLIT, split + 1, len(self.prog)))
            return
        splits = []
        for _ in range(hi - lo):
            splits.append(self.emit((_SPLIT, 0, 0)))
            self.sequence(list(sub), flags)
        for split in splits:
            self.patch(split, (_SPLIT, split + 1, len(self.prog)))

    @staticmethod
    def anchor(code: object, flags: int) -> str:
        multiline = bool(flags & re.MULTILINE)
        if code is C.AT_BEGINNING:
            return "bol" if multiline else "bos"
        if code is C.AT_BEGINNING_STRING:
            return "bos"
        if code is C.AT_END:
            return "eol" if multiline else "eos_nl"
        if code is C.AT_END_STRING:
            return "eos"
        if code is C.AT_BOUNDARY:
            return "ascii_b" if flags & re.ASCII else "b"
        if code is C.AT_NON_BOUNDARY:
            return "ascii_B" if flags & re.ASCII else "B"
        raise RegexError(f"anchor {code} is not supported by the linear matcher")


def _assert(kind: str, text: str, i: int) -> bool:
    n = len(text)
    if kind == "bos":
        return i == 0
    if kind == "bol":
        return i == 0 or text[i - 1] == "\n"
    if kind == "eos":
        return i == n
    if kind == "eos_nl":
        return i == n or (i == n - 1 and text[i] == "\n")
    if kind == "eol":
        return i == n or text[i] == "\n"
    word = _is_word_ascii if kind.startswith("ascii") else _is_word
    before = i > 0 and word(text[i - 1])
    after = i < n and word(text[i])
    return (before != after) if kind.endswith("b") else (before == after)


def literal_runs(items: list[tuple[Any, Any]], flags: int) -> list[str]:
    """Case-sensitive literal runs every match contains (top-level sequence; enough for a cheap gate)."""
    if flags & re.IGNORECASE:
        return []
    runs: list[str] = []
    current: list[str] = []
    for op, av in items:
        if op is C.LITERAL:
            current.append(chr(av))
            continue
        if current:
            runs.append("".join(current))
            current = []
        if op is C.SUBPATTERN and not av[1]:
            runs.extend(literal_runs(list(av[3]), flags))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
            runs.extend(literal_runs(list(av[2]), flags))
    if current:
        runs.append("".join(current))
    return runs


class LinearRegex:
    """`re.search` semantics (match or not) in time linear in the text, for the Sigma regex flavour."""

    __slots__ = ("_accepting", "_cache", "_gate", "_has_assert", "_ids", "_prog", "_sets", "_start")

    def __init__(self, parsed: P.SubPattern, flags: int) -> None:
        builder = _Builder()
        builder.sequence(list(parsed), flags)
        builder.emit((_MATCH,))
        self._prog = builder.prog
        self._has_assert = builder.has_assert
        self._gate = tuple(sorted(set(literal_runs(list(parsed), flags)), key=len, reverse=True))
        self._cache: dict[tuple[int, str], int] = {}
        self._ids: dict[tuple[int, ...], int] = {}
        self._sets: list[tuple[int, ...]] = []
        self._accepting: list[bool] = []
        self._start: tuple[int, ...] | None = None

    def _closure(
        self, pcs: list[int] | tuple[int, ...], text: str, i: int, out: list[int], seen: set[int]
    ) -> None:
        prog = self._prog
        stack = list(reversed(pcs))
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            ins = prog[pc]
            op = ins[0]
            if op == _JMP:
                stack.append(ins[1])
            elif op == _SPLIT:
                stack.append(ins[2])
                stack.append(ins[1])
            elif op == _ASSERT:
                if _assert(ins[1], text, i):
                    stack.append(pc + 1)
            else:
                out.append(pc)

    def search(self, text: str) -> bool:
        for needle in self._gate:
            if needle not in text:
                return False
        if self._has_assert:
            return self._search_with_asserts(text)
        return self._search_cached(text)

    def _step(self, states: tuple[int, ...], ch: str) -> tuple[int, ...]:
        prog = self._prog
        nxt: list[int] = []
        seen: set[int] = set()
        targets = [pc + 1 for pc in states if prog[pc][0] == _CHAR and prog[pc][1](ch)]
        targets.append(0)  # a match may also start at the next position (search, not match)
        self._closure(targets, "", 0, nxt, seen)
        return tuple(nxt)

    def _state(self, states: tuple[int, ...]) -> int:
        """The number of a DFA state (a set of NFA instructions), made on first sight."""
        known = self._ids.get(states)
        if known is None:
            known = self._ids[states] = len(self._sets)
            self._sets.append(states)
            self._accepting.append(len(self._prog) - 1 in states)
        return known

    def _search_cached(self, text: str) -> bool:
        """Lazy DFA: state sets are numbered and (state, char) transitions cached, so a known
        transition costs one dict lookup."""
        if self._start is None:
            start: list[int] = []
            self._closure([0], "", 0, start, set())
            self._start = tuple(sorted(start))
        state = self._state(self._start)
        accepting = self._accepting
        transitions = self._cache
        for ch in text:
            if accepting[state]:
                return True
            nxt = transitions.get((state, ch))
            if nxt is None:
                if len(transitions) >= _TRANSITION_CACHE:  # bounded memory: start the cache over
                    current = self._sets[state]
                    transitions.clear()
                    self._ids.clear()
                    self._sets.clear()
                    self._accepting.clear()
                    state = self._state(current)
                nxt = transitions[(state, ch)] = self._state(tuple(sorted(self._step(self._sets[state], ch))))
            state = nxt
        return accepting[state]

    def _search_with_asserts(self, text: str) -> bool:
        prog = self._prog
        match_pc = len(prog) - 1
        states: list[int] = []
        self._closure([0], text, 0, states, set())
        for i, ch in enumerate(text):
            if match_pc in states:
                return True
            targets = [pc + 1 for pc in states if prog[pc][0] == _CHAR and prog[pc][1](ch)]
            targets.append(0)
            states = []
            self._closure(targets, text, i + 1, states, set())
        return match_pc in states
