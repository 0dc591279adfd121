"""Sound implication between canonical literals, clauses, terms and forms: "every event that matches this
also matches that". Sound, not complete: `False` means "not shown", never "shown not to".

Between literals of one field, one transform set and one case rule (a case-sensitive comparison is implied
only by case-sensitive ones; case-insensitive values are folded already):

- `eq x` implies `starts_with`/`ends_with` of a prefix/suffix of x, `contains` of a substring of x, a
  wildcard pattern x matches, `exists`, a number comparison x satisfies, a CIDR range holding x;
- `starts_with x` / `ends_with x` imply the same kind of a prefix / suffix of x, and `contains` of a
  substring; `contains x` implies `contains` of a substring;
- a wildcard pattern implies `starts_with` of a prefix of its leading literal text, `ends_with` of a suffix
  of its trailing one and `contains` of a substring of any of its literal parts;
- `gt`/`ge`/`lt`/`le` imply the looser bound of the same direction; a CIDR range implies a range holding it;
- regexes, field references, `neq`, keyword searches and transformed values (base64, windash, membership)
  only when identical.

A clause (an OR of literals) implies another when each of its literals implies one of the other's, so a value
list implies a longer list. A term implies another when each of the other's clauses is implied by one of its
clauses, and each of the other's excluded terms implies one of its own excluded terms (the stricter rule may
add filters, the broader one may drop them). A form implies another when each of its terms implies one of the
other's.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache

import ahocorasick_rs

from ruleatlas.analysis.relations.form import OPAQUE_KINDS, Lit, Term
from ruleatlas.model import Kind, Scalar, Wild, parse_wildcard

_STRING_KINDS = frozenset({Kind.EQ, Kind.STARTS_WITH, Kind.ENDS_WITH, Kind.CONTAINS, Kind.WILDCARD})
_BOUNDS = frozenset({Kind.LT, Kind.LE, Kind.GT, Kind.GE})


def _number(value: Scalar) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


@lru_cache(maxsize=65536)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@lru_cache(maxsize=16384)
def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    parts = parse_wildcard(pattern)
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(re.escape(part))
        else:  # `*` any run, `?` (and a windash position) one character
            pieces.append(".*" if part is Wild.STAR else ".")
    body = "".join(pieces)
    return re.compile(body, re.DOTALL)


def _string_implies(q_kind: str, q_value: str, p_kind: str, p_value: str) -> bool:
    """q (a string comparison) implies p (another), both on the same text."""
    if q_kind == Kind.WILDCARD:
        if p_kind == Kind.WILDCARD:
            return q_value == p_value
        parts = parse_wildcard(q_value)
        if not parts:
            return False
        if p_kind == Kind.STARTS_WITH:
            return isinstance(parts[0], str) and parts[0].startswith(p_value)
        if p_kind == Kind.ENDS_WITH:
            return isinstance(parts[-1], str) and parts[-1].endswith(p_value)
        if p_kind == Kind.CONTAINS:
            return any(isinstance(part, str) and p_value in part for part in parts)
        return False
    if p_kind == Kind.WILDCARD:
        return q_kind == Kind.EQ and _wildcard_regex(p_value).fullmatch(q_value) is not None
    if p_kind == Kind.CONTAINS:
        return p_value in q_value
    if p_kind == Kind.EQ:
        return q_kind == Kind.EQ and q_value == p_value
    if p_kind == Kind.STARTS_WITH:
        return q_kind in (Kind.EQ, Kind.STARTS_WITH) and q_value.startswith(p_value)
    if p_kind == Kind.ENDS_WITH:
        return q_kind in (Kind.EQ, Kind.ENDS_WITH) and q_value.endswith(p_value)
    return False


def _bound_implies(q_kind: str, q: float, p_kind: str, p: float) -> bool:
    """A number satisfying `q_kind q` (eq, or a bound) satisfies `p_kind p`."""
    if q_kind == Kind.EQ:
        return {
            Kind.LT: q < p,
            Kind.LE: q <= p,
            Kind.GT: q > p,
            Kind.GE: q >= p,
            Kind.EQ: q == p,
        }.get(Kind(p_kind), False)
    if q_kind in (Kind.GT, Kind.GE) and p_kind in (Kind.GT, Kind.GE):
        # x > q implies x > p when q >= p; x >= q implies x > p only when q > p.
        return q > p or (q == p and (q_kind == p_kind or q_kind == Kind.GT))
    if q_kind in (Kind.LT, Kind.LE) and p_kind in (Kind.LT, Kind.LE):
        return q < p or (q == p and (q_kind == p_kind or q_kind == Kind.LT))
    return False


def literal_implies(q: Lit, p: Lit) -> bool:
    """Every event that satisfies q satisfies p (soundly; module docstring)."""
    if q == p:
        return True
    q_field, q_kind, q_value, q_cased, q_extra = q
    p_field, p_kind, p_value, p_cased, p_extra = p
    if q_field != p_field or not q_field or q_extra or p_extra:
        return False
    if p_kind in _STRING_KINDS and q_kind in _STRING_KINDS:
        if not isinstance(q_value, str) or not isinstance(p_value, str):
            return False
        if p_cased and not q_cased:
            return False  # q also matches other spellings that a case-sensitive p refuses
        if q_cased and not p_cased:
            if q_kind == Kind.WILDCARD:
                return False  # folding a pattern's text could change what it escapes
            q_value = q_value.casefold()
        return _string_implies(q_kind, q_value, p_kind, p_value)
    if q_kind in OPAQUE_KINDS or p_kind in OPAQUE_KINDS:
        return False
    if p_kind == Kind.EXISTS:
        # Any comparison with a non-empty value needs the field to be there.
        if p_value is not True or q_value is None or q_value == "":
            return False
        return q_kind in _STRING_KINDS or q_kind in _BOUNDS
    if p_kind == Kind.CIDR:
        if not isinstance(p_value, str) or not isinstance(q_value, str):
            return False
        net = _network(p_value)
        if net is None:
            return False
        if q_kind == Kind.CIDR:
            inner = _network(q_value)
            return inner is not None and inner.version == net.version and inner.subnet_of(net)  # type: ignore[arg-type]
        if q_kind == Kind.EQ:
            address = _address(q_value)
            return address is not None and address in net
        return False
    if p_kind in _BOUNDS or (q_kind in _BOUNDS and p_kind == Kind.EQ):
        q_number, p_number = _number(q_value), _number(p_value)
        if q_number is None or p_number is None:
            return False
        return _bound_implies(q_kind, q_number, p_kind, p_number)
    return False


@dataclass(slots=True)
class _TextTargets:
    """A clause's plain text literals of one field and one case rule, by kind, for checking many at once."""

    eq: set[str] = field(default_factory=set)
    starts: tuple[str, ...] = ()
    ends: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    def implied_by(self, kind: str, value: str) -> bool:
        """Some literal here is implied by `kind value` (value folded when these are case-insensitive)."""
        if self.contains:
            if len(self.contains) > _AUTOMATON_FROM:
                # Any occurrence of a needle gives at least one non-overlapping match.
                if "" in self.contains or _automaton(self.contains).find_matches_as_indexes(value):
                    return True
            elif any(w in value for w in self.contains):
                return True
        if kind == Kind.EQ:
            return (
                value in self.eq
                or value.startswith(self.starts)
                or value.endswith(self.ends)
                or any(_wildcard_regex(p).fullmatch(value) is not None for p in self.patterns)
            )
        if kind == Kind.STARTS_WITH:
            return value.startswith(self.starts)
        if kind == Kind.ENDS_WITH:
            return value.endswith(self.ends)
        return False


@dataclass(slots=True)
class _Targets:
    """A clause's literals grouped for `clause_implies`: text literals by field and case rule, the rest by
    field."""

    text: dict[tuple[str, bool], _TextTargets] = field(default_factory=dict)
    rest: dict[str, list[Lit]] = field(default_factory=dict)


# Long `contains` lists are searched in one Aho-Corasick pass (Rust's aho-corasick, as in the engine).
_AUTOMATON_FROM = 12


@lru_cache(maxsize=4096)
def _automaton(needles: tuple[str, ...]) -> ahocorasick_rs.AhoCorasick:
    return ahocorasick_rs.AhoCorasick([n for n in needles if n] or ["\x00"])


_PLAIN_TEXT = frozenset({Kind.EQ, Kind.STARTS_WITH, Kind.ENDS_WITH, Kind.CONTAINS})


@lru_cache(maxsize=65536)
def _targets(clause: frozenset[Lit]) -> _Targets:
    out = _Targets()
    grouped: dict[tuple[str, bool], dict[str, list[str]]] = {}
    for lit in clause:
        name, kind, value, cased, extra = lit
        if name and not extra and isinstance(value, str) and (kind in _PLAIN_TEXT or kind == Kind.WILDCARD):
            grouped.setdefault((name, cased), {}).setdefault(kind, []).append(value)
        out.rest.setdefault(name, []).append(lit)
    for key, kinds in grouped.items():
        out.text[key] = _TextTargets(
            set(kinds.get(Kind.EQ, ())),
            tuple(kinds.get(Kind.STARTS_WITH, ())),
            tuple(kinds.get(Kind.ENDS_WITH, ())),
            tuple(kinds.get(Kind.CONTAINS, ())),
            tuple(kinds.get(Kind.WILDCARD, ())),
        )
    return out


def _implied(q: Lit, targets: _Targets) -> bool:
    """q implies some literal of the clause `targets` describes (the same answer as `literal_implies` over
    each of them, faster for value lists)."""
    name, kind, value, cased, extra = q
    if name and not extra and isinstance(value, str) and kind in _PLAIN_TEXT:
        # A case-insensitive q implies only case-insensitive literals; a case-sensitive one either kind.
        insensitive = targets.text.get((name, False))
        folded = value.casefold() if cased else value
        if insensitive is not None and insensitive.implied_by(kind, folded):
            return True
        sensitive = targets.text.get((name, True)) if cased else None
        if sensitive is not None and sensitive.implied_by(kind, value):
            return True
        others = targets.rest.get(name, ())
        return any(literal_implies(q, p) for p in others if p[1] not in _PLAIN_TEXT and p[1] != Kind.WILDCARD)
    return any(literal_implies(q, p) for p in targets.rest.get(name, ()))


def clause_implies(narrow: frozenset[Lit], broad: frozenset[Lit]) -> bool:
    """Every literal of `narrow` implies some literal of `broad` (an OR implies a wider OR)."""
    if narrow <= broad:
        return True
    targets = _targets(broad)
    return all(q in broad or _implied(q, targets) for q in narrow)


def term_implies(narrow: Term, broad: Term) -> bool:
    """Every event matching `narrow` matches `broad` (soundly: module docstring)."""
    for clause in broad.clauses:
        if clause in narrow.clauses:
            continue
        if not any(clause_implies(mine, clause) for mine in narrow.clauses):
            return False
    for excluded in broad.exclusions:
        if excluded in narrow.exclusions:
            continue
        # An event of `narrow` matches none of its excluded terms; if `broad`'s excluded term implies one
        # of them, the event matches that one neither.
        if not any(term_implies(excluded, mine) for mine in narrow.exclusions):
            return False
    return True


def terms_imply(narrow: tuple[Term, ...], broad: tuple[Term, ...]) -> bool:
    """Every term of `narrow` implies some term of `broad`: `broad` matches every event `narrow` matches."""
    return all(t in broad or any(term_implies(t, b) for b in broad) for t in narrow)
