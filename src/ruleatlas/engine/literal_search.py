"""Which of a fixed list of literals occur in a text: one multi-pattern pass (Aho-Corasick).

The prefilter asks this once per event, over a few hundred characters, so the pass itself must be
cheap. `ahocorasick_rs` (Rust's aho-corasick crate) searches the text's UTF-8 several times faster than
`pyahocorasick` walks the characters; `pyahocorasick` remains the fallback when it is not installed.
The Rust automaton is built over the literals as str and keeps them, so a match comes back as the very
literal object (no new string, its hash already known): the prefilter looks up the rules of each by it.
It is a contiguous NFA whatever its size: the crate's default makes small sets DFAs, which search no faster
here and took ~20 MB more over the automata of a SigmaHQ scan (memory the CPU caches then miss on).

Searching UTF-8 finds exactly what searching characters finds: UTF-8 is self-synchronising, so the
encoding of a literal occurs in the encoding of a text only where the literal occurs as characters.
Lone surrogates (possible in JSON input) have no UTF-8: a text or a literal holding one is searched as
bytes encoded with `surrogatepass` instead, which keeps the same property.
Every occurrence counts (overlapping search): a literal inside another one is found too.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import ahocorasick

ahocorasick_rs: Any
try:
    import ahocorasick_rs
except ImportError:  # pragma: no cover - a dependency; the slower automaton keeps the engine working
    ahocorasick_rs = None

_first = itemgetter(0)
_second = itemgetter(1)

BACKENDS = ("ahocorasick_rs", "pyahocorasick")
DEFAULT_BACKEND = BACKENDS[0] if ahocorasick_rs is not None else BACKENDS[1]


def encode(text: str) -> bytes:
    """`text` as the bytes the Rust automaton searches when the text or a literal has a lone surrogate."""
    return text.encode("utf-8", "surrogatepass")


def _utf8_safe(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class LiteralSearch:
    """The literals (as given) a text contains; `literals` must not be empty strings."""

    __slots__ = ("_bytes_automaton", "_char_automaton", "_str_automaton", "backend", "literals")

    def __init__(self, literals: Sequence[str], backend: str = DEFAULT_BACKEND) -> None:
        if backend not in BACKENDS or (backend == "ahocorasick_rs" and ahocorasick_rs is None):
            raise ValueError(f"literal search backend {backend!r} is not available")
        if not all(literals):
            raise ValueError("an empty literal occurs in every text: it cannot be searched for")
        self.literals = tuple(dict.fromkeys(literals))
        self.backend = backend
        self._str_automaton: Any = None
        self._bytes_automaton: Any = None
        self._char_automaton: Any = None
        if not self.literals:
            return
        if backend == "ahocorasick_rs":
            if all(map(_utf8_safe, self.literals)):
                self._str_automaton = ahocorasick_rs.AhoCorasick(
                    list(self.literals),
                    store_patterns=True,
                    implementation=ahocorasick_rs.Implementation.ContiguousNFA,
                )
            else:
                self._bytes_automaton = self._bytes()
        else:
            automaton = ahocorasick.Automaton()
            for literal in self.literals:
                automaton.add_word(literal, literal)
            automaton.make_automaton()
            self._char_automaton = automaton

    def _bytes(self) -> Any:
        return ahocorasick_rs.BytesAhoCorasick([encode(literal) for literal in self.literals])

    def found(self, text: str) -> set[str]:
        """The literals that occur in `text`."""
        return set(self.occurrences(text))

    def occurrences(self, text: str) -> list[str]:
        """The literals that occur in `text`, once per occurrence (a caller gathering the literals of
        several texts makes one set of them all)."""
        if self._str_automaton is not None:
            try:
                return self._str_automaton.find_matches_as_strings(text, overlapping=True)  # type: ignore[no-any-return]
            except UnicodeEncodeError:  # a lone surrogate in the text
                self._bytes_automaton = self._bytes_automaton or self._bytes()
        if self._bytes_automaton is not None:
            matches = self._bytes_automaton.find_matches_as_indexes(encode(text), True)
            return list(map(self.literals.__getitem__, map(_first, matches)))
        if self._char_automaton is not None:
            return list(map(_second, self._char_automaton.iter(text)))
        return []
