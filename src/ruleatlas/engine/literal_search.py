"""Which of a fixed list of literals occur in a text: one multi-pattern pass (Aho-Corasick).

The prefilter asks this once per event, over a few hundred characters, so the pass itself must be
cheap. `ahocorasick_rs` (Rust's aho-corasick crate) searches the UTF-8 bytes several times faster than
`pyahocorasick` walks the characters; `pyahocorasick` remains the fallback when it is not installed.

Searching bytes finds exactly what searching characters finds: UTF-8 is self-synchronising, so the
encoding of a literal occurs in the encoding of a text only where the literal occurs as characters.
`surrogatepass` keeps lone surrogates (possible in JSON input) encodable on both sides.
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
    """`text` as the bytes the Rust automaton searches."""
    return text.encode("utf-8", "surrogatepass")


class LiteralSearch:
    """The indexes (into `literals`) of the literals a text contains; `literals` must not be empty strings."""

    __slots__ = ("_bytes_automaton", "_char_automaton", "backend", "literals")

    def __init__(self, literals: Sequence[str], backend: str = DEFAULT_BACKEND) -> None:
        if backend not in BACKENDS or (backend == "ahocorasick_rs" and ahocorasick_rs is None):
            raise ValueError(f"literal search backend {backend!r} is not available")
        if not all(literals):
            raise ValueError("an empty literal occurs in every text: it cannot be searched for")
        self.literals = tuple(literals)
        self.backend = backend
        self._bytes_automaton: Any = None
        self._char_automaton: Any = None
        if not self.literals:
            return
        if backend == "ahocorasick_rs":
            self._bytes_automaton = ahocorasick_rs.BytesAhoCorasick([encode(lit) for lit in self.literals])
        else:
            automaton = ahocorasick.Automaton()
            for index, literal in enumerate(self.literals):
                automaton.add_word(literal, index)
            automaton.make_automaton()
            self._char_automaton = automaton

    def found(self, text: str) -> set[int]:
        """Indexes of the literals that occur in `text`."""
        if self._bytes_automaton is not None:
            matches = self._bytes_automaton.find_matches_as_indexes(text.encode("utf-8", "surrogatepass"), True)
            return set(map(_first, matches)) if matches else set()
        if self._char_automaton is not None:
            return set(map(_second, self._char_automaton.iter(text)))
        return set()
