"""A term's JSON, sorted so that equal forms give equal text, is what sorting by each list's encoded text
gives (term_json encodes each literal once and joins the texts itself)."""

from __future__ import annotations

import json
from typing import Any

from ruleatlas.analysis.relations.form import TRUE, Lit, Term, term_json


def _by_encoding(term: Term) -> list[Any]:
    """The definition: every list sorted by `json.dumps(item, ensure_ascii=False, sort_keys=True)`."""

    def key(item: object) -> str:
        return json.dumps(item, ensure_ascii=False, sort_keys=True)

    clauses = sorted((sorted((list(lit) for lit in clause), key=key) for clause in term.clauses), key=key)
    return [clauses, sorted((_by_encoding(t) for t in term.exclusions), key=key)]


def _clause(*lits: Lit) -> frozenset[Lit]:
    return frozenset(lits)


def test_term_json_sorts_as_the_encoded_texts_do() -> None:
    image: Lit = ("Image", "ends_with", "\\cmd.exe", False, "")
    quoted: Lit = ("CommandLine", "contains", 'say "é"', True, "")
    number: Lit = ("EventID", "eq", 4688, True, "")
    flag: Lit = ("Enabled", "eq", True, True, "")
    real: Lit = ("Score", "gt", 1.5, True, "")
    empty: Lit = ("Image", "eq", "", False, "base64")
    excluded = Term(
        frozenset({_clause(quoted, empty)}), frozenset({Term(frozenset({_clause(real)}), frozenset())})
    )
    term = Term(
        frozenset({_clause(image, number), _clause(flag), _clause(quoted, real, empty)}),
        frozenset({excluded, Term(frozenset({_clause(number)}), frozenset()), TRUE}),
    )
    assert term_json(term) == _by_encoding(term)
    assert term_json(TRUE) == [[], []]
    assert term_json(excluded) == _by_encoding(excluded)
