"""The literal search behind the prefilter: both automata find the same literals, overlapping ones too."""

from __future__ import annotations

import pytest

from ruleatlas.engine.literal_search import BACKENDS, DEFAULT_BACKEND, LiteralSearch

LITERALS = ["abc", "bcd", "c", "\U0001f600", "straße", "é", "\\windows\\", "a\x00b", "\ud800x"]
TEXTS = [
    "",
    "xxabcdy",
    "\U0001f600 and straße",
    "C:\\Windows\\System32".casefold(),
    "a\x00b\x00c",
    "lone \ud800x surrogate",
    "café",
    "no hits here",
]


def naive(text: str) -> set[str]:
    return {literal for literal in LITERALS if literal in text}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", TEXTS)
def test_every_backend_finds_exactly_the_literals_in_the_text(backend: str, text: str) -> None:
    assert LiteralSearch(LITERALS, backend).found(text) == naive(text)
    clean = [literal for literal in LITERALS if literal != "\ud800x"]  # all UTF-8: the str automaton
    assert LiteralSearch(clean, backend).found(text) == {literal for literal in clean if literal in text}


def test_the_rust_automaton_is_the_default_and_empty_inputs_are_handled() -> None:
    assert DEFAULT_BACKEND == "ahocorasick_rs"  # a dependency (pyproject.toml); the other is the fallback
    assert LiteralSearch([]).found("anything") == set()
    with pytest.raises(ValueError, match="empty literal"):
        LiteralSearch(["ok", ""])
    with pytest.raises(ValueError, match="not available"):
        LiteralSearch(["ok"], "no-such-backend")
