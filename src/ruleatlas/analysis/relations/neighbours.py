"""Rules in relation over the whole catalog: broader and stricter neighbours, equivalence classes, and rules
on the same cloud action. Pure functions over `RuleForm`s (the store reads and writes them).

Neighbours are never searched among all pairs. Rule W can only be broader than rule N if each clause of
one of W's terms is implied by a clause of N, so N holds a literal implying a literal of that clause: on the
same field, with W's literal text inside N's (for text comparisons). For each W, the clause whose literals
are implied by the fewest catalog rules picks the candidates, found through an index of every positive
literal by (field, trigram of its folded text) — or by field for number bounds, CIDR ranges and `exists`,
or by the literal itself for what only identity implies; then event coverage (N's events within W's, or one
vendor's rules on one log source: fed the same events)
filters them and the implication check (`implication`) decides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import ahocorasick_rs

from ruleatlas.analysis.relations.form import OPAQUE_KINDS, Lit, RuleForm, clause_text
from ruleatlas.analysis.relations.implication import clause_implies, term_implies, terms_imply
from ruleatlas.model import Kind, Wild, parse_wildcard

_TEXT_KINDS = frozenset({Kind.EQ, Kind.STARTS_WITH, Kind.ENDS_WITH, Kind.CONTAINS, Kind.WILDCARD})
_BY_FIELD_KINDS = frozenset({Kind.EXISTS, Kind.CIDR, Kind.LT, Kind.LE, Kind.GT, Kind.GE})
GRAM = 3


@dataclass(slots=True, frozen=True)
class Neighbour:
    """`narrow` matches a subset of the events `broad` matches; each reason is read on the other's page."""

    narrow: str
    broad: str
    broad_reason: str  # shown on the narrow rule's page beside the broader rule ("drops `x`")
    narrow_reason: str  # shown on the broad rule's page beside the stricter rule ("adds `x`")


@dataclass(slots=True)
class Relations:
    neighbours: list[Neighbour] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)  # class key -> member uids (2 or more)
    actions: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # action -> uids (2 or more)
    candidates: int = 0  # pairs the implication check ran on (the index's cost)


def comparable(form: RuleForm) -> bool:
    """Single-event rules whose logic could be put in terms (and matches something) take part."""
    return form.shape is None and form.terms is not None and len(form.terms) > 0


def _grams(text: str) -> set[str]:
    return {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}


class _Index:
    """Positive literals of every comparable rule, for finding the rules that may imply a literal."""

    def __init__(self, forms: list[RuleForm]) -> None:
        self.exact: dict[Lit, set[int]] = defaultdict(set)
        self.by_field: dict[str, set[int]] = defaultdict(set)
        self.texts: dict[tuple[str, str], set[int]] = defaultdict(set)  # (field, folded text) -> rules
        self.grams: dict[tuple[str, str], list[str]] = defaultdict(list)  # (field, gram) -> texts
        self.field_texts: dict[str, list[str]] = defaultdict(list)
        for number, form in enumerate(forms):
            if not comparable(form):
                continue
            for term in form.terms or ():
                for clause in term.clauses:
                    for lit in clause:
                        self.exact[lit].add(number)
                        self.by_field[lit[0]].add(number)
                        if isinstance(lit[2], str) and lit[1] in _TEXT_KINDS and not lit[4] and lit[0]:
                            self.texts[(lit[0], lit[2].casefold())].add(number)
        for field_name, text in self.texts:
            self.field_texts[field_name].append(text)
            for gram in _grams(text):
                self.grams[(field_name, gram)].append(text)

    def implying(self, lit: Lit) -> set[int]:
        """A superset of the rules holding a literal that implies `lit`."""
        field_name, kind, _value, _cased, extra = lit
        if extra or not field_name or kind in OPAQUE_KINDS:
            return self.exact.get(lit, set())
        if kind in _BY_FIELD_KINDS:
            return self.by_field.get(field_name, set())
        needle = _needle(lit)
        if needle is None:
            return self.exact.get(lit, set())
        if len(needle) < GRAM:
            return self._scan(field_name, (needle,))
        lists = [self.grams.get((field_name, g), []) for g in _grams(needle)]
        rarest = min(lists, key=len)
        out: set[int] = set()
        for text in rarest:
            if needle in text:
                out |= self.texts[(field_name, text)]
        return out

    def _scan(self, field_name: str, needles: tuple[str, ...]) -> set[int]:
        """Rules with a text on `field_name` holding one of `needles` (one automaton pass per text)."""
        if "" in needles:
            return self.by_field.get(field_name, set())
        automaton = ahocorasick_rs.AhoCorasick(list(needles))
        out: set[int] = set()
        for text in self.field_texts.get(field_name, ()):
            if automaton.find_matches_as_indexes(text):
                out |= self.texts[(field_name, text)]
        return out

    def implying_clause(self, clause: frozenset[Lit], enough: int | None) -> set[int]:
        """A superset of the rules holding a literal that implies some literal of `clause`; may stop early
        once it holds `enough` rules (the caller then has a smaller set already)."""
        found: set[int] = set()
        short: dict[str, list[str]] = defaultdict(list)
        for lit in clause:
            needle = _needle(lit) if not lit[4] and lit[0] and lit[1] not in OPAQUE_KINDS else None
            if needle is not None and len(needle) < GRAM:
                short[lit[0]].append(needle)  # searched together below: a gram index cannot hold them
                continue
            found |= self.implying(lit)
            if enough is not None and len(found) >= enough:
                return found
        for field_name, needles in short.items():
            found |= self._scan(field_name, tuple(needles))
        return found

    def candidates(self, form: RuleForm) -> set[int] | None:
        """Rules that may be stricter than `form`; None when a term has no clause (nothing to index by)."""
        out: set[int] = set()
        for term in form.terms or ():
            if not term.clauses:
                return None
            best: set[int] | None = None
            for clause in term.clauses:
                found = self.implying_clause(clause, None if best is None else len(best))
                if best is None or len(found) < len(best):
                    best = found
            out |= best or set()
        return out


def _needle(lit: Lit) -> str | None:
    """Text every literal implying a text comparison holds (folded): its value, or a wildcard pattern's
    longest literal part; None for other comparisons."""
    kind, value = lit[1], lit[2]
    if kind not in _TEXT_KINDS or not isinstance(value, str):
        return None
    if kind == Kind.WILDCARD:
        # Only an `eq` the pattern matches implies it: such a value holds every literal part.
        parts = [p.casefold() for p in parse_wildcard(value) if not isinstance(p, Wild)]
        return max(parts, key=len, default="")
    return value.casefold()


def relate(forms: list[RuleForm]) -> Relations:
    """Neighbours, classes and same-action groups of `forms` (one per rule)."""
    relations = Relations()
    index = _Index(forms)
    for number, broad in enumerate(forms):
        if not comparable(broad):
            continue
        found = index.candidates(broad)
        if not found:
            continue
        for other in found:
            narrow = forms[other]
            if other == number or not fed_within(narrow, broad):
                continue
            relations.candidates += 1
            neighbour = pair(narrow, broad)
            if neighbour is not None:
                relations.neighbours.append(neighbour)
    relations.classes = equivalence_classes(forms)
    relations.actions = same_actions(forms)
    return relations


def may_be_broad(form: RuleForm) -> bool:
    """Whether `relate` looks for stricter rules of `form`: a term without a clause gives its index nothing
    to search by, so such a rule is never anyone's broader neighbour."""
    return comparable(form) and all(term.clauses for term in form.terms or ())


def fed_within(narrow: RuleForm, broad: RuleForm) -> bool:
    """The coverage test of a pair: `narrow`'s events within `broad`'s, or one vendor's log source; forms of
    one class are equivalent, never neighbours."""
    if narrow.class_key == broad.class_key:
        return False
    return narrow.coverage <= broad.coverage or narrow.source == broad.source


def pair(narrow: RuleForm, broad: RuleForm) -> Neighbour | None:
    """The neighbour relation of two comparable forms that pass `fed_within`, or None (the implication
    check; `relate` and an incremental refresh decide every pair here)."""
    assert narrow.terms is not None and broad.terms is not None
    if not terms_imply(narrow.terms, broad.terms):
        return None
    same_events = narrow.coverage == broad.coverage or narrow.source == broad.source
    if same_events and terms_imply(broad.terms, narrow.terms):
        return None  # the same events either way: equivalent, not a neighbour
    broad_reason, narrow_reason = describe(narrow, broad)
    return Neighbour(narrow.uid, broad.uid, broad_reason, narrow_reason)


def equivalence_classes(forms: Iterable[RuleForm]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for form in forms:
        by_key[form.class_key].append(form.uid)
    return {key: sorted(uids) for key, uids in by_key.items() if len(uids) >= 2}


def same_actions(forms: Iterable[RuleForm]) -> dict[tuple[str, str], list[str]]:
    by_action: dict[tuple[str, str], list[str]] = defaultdict(list)
    for form in forms:
        for action in form.actions:
            by_action[action].append(form.uid)
    return {action: sorted(uids) for action, uids in by_action.items() if len(uids) >= 2}


# --- reasons in words --------------------------------------------------------------------------------------


def _field_of(clause: frozenset[Lit]) -> str | None:
    fields = {lit[0] for lit in clause}
    return next(iter(fields)) if len(fields) == 1 else None


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def describe(narrow: RuleForm, broad: RuleForm) -> tuple[str, str]:
    """(what the broader rule does differently, read on the narrow rule's page; what the stricter rule does
    differently, read on the broad rule's page)."""
    assert narrow.terms is not None and broad.terms is not None
    n_term = narrow.terms[0]
    b_term = next((b for b in broad.terms if term_implies(n_term, b)), None)
    widen: list[str] = []
    narrow_words: list[str] = []
    if b_term is not None:
        used: set[frozenset[Lit]] = set()
        for clause in sorted(b_term.clauses, key=clause_text):
            if clause in n_term.clauses:
                used.add(clause)
                continue
            mine = next(
                (c for c in sorted(n_term.clauses, key=clause_text) if clause_implies(c, clause)), None
            )
            if mine is None:
                continue
            used.add(mine)
            name = _field_of(clause)
            if mine < clause and name is not None and _field_of(mine) == name:
                extra = len(clause) - len(mine)
                widen.append(f"accepts {_count(extra, 'more value', 'more values')} of `{name or 'keyword'}`")
                narrow_words.append(
                    f"accepts {_count(extra, 'fewer value', 'fewer values')} of `{name or 'keyword'}`"
                )
            else:
                widen.append(f"widens `{clause_text(mine)}` to `{clause_text(clause)}`")
                narrow_words.append(f"narrows `{clause_text(clause)}` to `{clause_text(mine)}`")
        dropped = sorted((c for c in n_term.clauses if c not in used), key=clause_text)
        shown = dropped[:2]
        broad_words = [f"drops `{clause_text(c)}`" for c in shown]
        narrow_adds = [f"adds `{clause_text(c)}`" for c in shown]
        if len(dropped) > len(shown):
            more = len(dropped) - len(shown)
            broad_words.append(f"drops {_count(more, 'more condition', 'more conditions')}")
            narrow_adds.append(f"adds {_count(more, 'more condition', 'more conditions')}")
        kept = {
            x
            for x in n_term.exclusions
            if x in b_term.exclusions or any(term_implies(b, x) for b in b_term.exclusions)
        }
        filters = len(n_term.exclusions) - len(kept)
        if filters:
            broad_words.append(f"drops {_count(filters, 'filter', 'filters')} this rule applies")
            narrow_adds.append(f"adds {_count(filters, 'filter', 'filters')}")
        broad_words += widen
        narrow_words = narrow_adds + narrow_words
    else:
        broad_words = ["matches every alternative of this rule"]
        narrow_words = ["matches a subset of this rule's alternatives"]
    if len(broad.terms) > len(narrow.terms):
        more = len(broad.terms) - len(narrow.terms)
        broad_words.append(f"has {_count(more, 'more alternative', 'more alternatives')}")
        narrow_words.append(f"has {_count(more, 'fewer alternative', 'fewer alternatives')}")
    if broad.coverage != narrow.coverage and broad.source != narrow.source:
        more = len(broad.coverage) - len(narrow.coverage)
        broad_words.append(f"covers {_count(more, 'more event', 'more events')}")
        narrow_words.append(f"covers {_count(more, 'fewer event', 'fewer events')}")
    return "; ".join(broad_words) or "matches more events", "; ".join(narrow_words) or "matches fewer events"
