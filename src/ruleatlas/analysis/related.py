"""Sigma's own links between rules: `related:` both ways, and siblings in other log sources.

`related:` is written on one rule only (rule A says `related: [{id: B, type: derived}]`: A was derived from
B). Pages show it on both: A says "derived from B", B says "A derives from this rule". An id no catalog rule
carries stays on A's page as a dangling id, unlinked.

Siblings are the same detection written for several log sources, which SigmaHQ titles as one base title
with a log-source suffix ("Scheduled Task Created - Registry", "Scheduled Task Created - FileCreation",
"... Child Process (Linux)"). Two rules are siblings when their titles are equal after removing such a
suffix, case-folded, and their log sources differ. A suffix is removed only when it names the rule's own log
source: its folded letters start with a word of the rule's category, product or service of at least three
letters ("Registry" for `registry_set`, "DNS" for `dns_query`), or are a prefix of one of those values
("Web" for `webserver`). So "Remote Access Tool - AnyDesk Execution" keeps its suffix, and is no sibling
of every other "Remote Access Tool - ..." rule.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class RelationType(StrEnum):
    """The types of Sigma's `related:` (the specification's list; v1's `obsoletes` reads as `obsolete`)."""

    DERIVED = "derived"
    OBSOLETE = "obsolete"
    MERGED = "merged"
    RENAMED = "renamed"
    SIMILAR = "similar"


# How a page says a link: on the rule that writes it ("this rule ... X"), on its target ("X ... this rule").
OUTGOING_PHRASE = {
    RelationType.DERIVED: "Derived from",
    RelationType.OBSOLETE: "Obsoletes",
    RelationType.MERGED: "Merged from",
    RelationType.RENAMED: "Renamed from",
    RelationType.SIMILAR: "Similar to",
}
INCOMING_PHRASE = {
    RelationType.DERIVED: "derives from this rule",
    RelationType.OBSOLETE: "obsoletes this rule",
    RelationType.MERGED: "was merged from this rule",
    RelationType.RENAMED: "is this rule renamed",
    RelationType.SIMILAR: "is similar to this rule",
}
_V1_TYPES = {"obsoletes": "obsolete"}  # Sigma 2.0 renamed it (specification, other/version-1.0-2.0.md)
LOGSOURCE_KEYS = ("category", "product", "service")


@dataclass(slots=True, frozen=True)
class RuleFacts:
    """What the links need of one rule."""

    uid: str
    source: str  # the source name: ids resolve within the rule's own source first
    rule_id: str
    title: str
    logsource: tuple[tuple[str, str], ...]  # (key, value) of category, product, service
    related: tuple[tuple[str, str], ...]  # (id, type) as written


@dataclass(slots=True, frozen=True)
class Link:
    """One line of a rule page's "Related rules": `uid` empty for a dangling id."""

    direction: str  # "out": this rule wrote it; "in": the other rule did; "sibling"
    type: str
    uid: str
    rule_id: str
    title: str
    phrase: str

    def to_json(self) -> dict[str, str]:
        return {
            "direction": self.direction,
            "type": self.type,
            "uid": self.uid,
            "id": self.rule_id,
            "title": self.title,
            "phrase": self.phrase,
        }


_SUFFIX = re.compile(r"^(?P<base>.+?)\s*(?:[-–—]\s*(?P<dash>[^-–—()]+)|\((?P<paren>[^()]+)\))\s*$")
_NOT_LETTERS = re.compile(r"[^a-z0-9]")


def _fold(text: str) -> str:
    return _NOT_LETTERS.sub("", text.casefold())


def names_logsource(suffix: str, logsource: Iterable[tuple[str, str]]) -> bool:
    """Whether a title suffix names the rule's own log source (module docstring)."""
    folded = _fold(suffix)
    if not folded:
        return False
    for _, value in logsource:
        whole = _fold(value)
        if whole and whole.startswith(folded) and len(folded) >= 3:
            return True
        if any(len(w) >= 3 and folded.startswith(w) for w in (_fold(p) for p in re.split(r"[_\s-]+", value))):
            return True
    return False


def title_family(title: str, logsource: Iterable[tuple[str, str]]) -> str:
    """The folded title without a log-source suffix (the whole folded title when it has none)."""
    match = _SUFFIX.match(title.strip())
    if match is not None:
        suffix = match.group("dash") or match.group("paren") or ""
        if names_logsource(suffix, logsource):
            return " ".join(match.group("base").casefold().split())
    return " ".join(title.casefold().split())


def rule_links(rules: Sequence[RuleFacts]) -> dict[str, list[Link]]:
    """Every rule's links: its own `related:` entries (resolved or dangling), the entries of other rules
    that name it, and its siblings. Rules without any are left out."""
    by_id: dict[str, list[RuleFacts]] = defaultdict(list)
    for rule in rules:
        if rule.rule_id:
            by_id[rule.rule_id.casefold()].append(rule)
    out: dict[str, list[Link]] = defaultdict(list)
    for rule in rules:
        for target_id, raw_type in rule.related:
            kind = _relation(raw_type)
            phrase = OUTGOING_PHRASE[kind] if kind is not None else f"Related ({raw_type or 'no type'})"
            shown_type = kind.value if kind is not None else raw_type
            targets = _resolve(by_id.get(target_id.casefold(), []), rule)
            if not targets:
                out[rule.uid].append(Link("out", shown_type, "", target_id, "", phrase))
            for target in targets:
                out[rule.uid].append(Link("out", shown_type, target.uid, target_id, target.title, phrase))
                back = INCOMING_PHRASE[kind] if kind is not None else f"is related ({raw_type}) to this rule"
                out[target.uid].append(Link("in", shown_type, rule.uid, rule.rule_id, rule.title, back))
    for family in _families(rules):
        for rule in family:
            for other in family:
                if other.uid != rule.uid and other.logsource != rule.logsource:
                    phrase = "Same detection for " + (
                        _logsource_words(other.logsource) or "another log source"
                    )
                    out[rule.uid].append(
                        Link("sibling", "sibling", other.uid, other.rule_id, other.title, phrase)
                    )
    return {uid: _unique(links) for uid, links in out.items()}


def _relation(raw: str) -> RelationType | None:
    folded = raw.strip().casefold()
    try:
        return RelationType(_V1_TYPES.get(folded, folded))
    except ValueError:
        return None


def _resolve(candidates: list[RuleFacts], rule: RuleFacts) -> list[RuleFacts]:
    """The rules an id names: those of the rule's own source when there are any (Hayabusa and Suzaku carry
    copies of SigmaHQ rules under the same ids), else every one; never the rule itself."""
    others = [c for c in candidates if c.uid != rule.uid]
    same_source = [c for c in others if c.source == rule.source]
    return same_source or others


def _families(rules: Sequence[RuleFacts]) -> list[list[RuleFacts]]:
    groups: dict[tuple[str, str], list[RuleFacts]] = defaultdict(list)
    for rule in rules:
        if rule.title:
            groups[(rule.source, title_family(rule.title, rule.logsource))].append(rule)
    return [g for g in groups.values() if len({r.logsource for r in g}) > 1]


def _logsource_words(logsource: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{k} {v}" for k, v in logsource)


def _unique(links: list[Link]) -> list[Link]:
    seen: set[Link] = set()
    out = []
    for link in links:
        if link not in seen:
            seen.add(link)
            out.append(link)
    return out


def facts_of(
    uid: str,
    source: str,
    rule_id: str,
    title: str,
    logsource: dict[str, str],
    related: Iterable[dict[str, str]],
) -> RuleFacts:
    """A rule's facts from its stored document's parts."""
    return RuleFacts(
        uid,
        source,
        rule_id,
        title,
        tuple((k, logsource[k]) for k in LOGSOURCE_KEYS if logsource.get(k)),
        tuple((str(r.get("id", "")), str(r.get("type", ""))) for r in related if r.get("id")),
    )
