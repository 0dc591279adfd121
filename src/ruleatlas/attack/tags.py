"""Sigma `attack.*` tags -> ATT&CK coverage (tactic -> techniques), groups, software, unknown tags."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from ruleatlas.attack.data import AttackData, Tactic, Technique, technique_sort_key

# ATT&CK v19 split Defense Evasion (TA0005) into Stealth and Defense Impairment and SigmaHQ retagged its rules
# (its snapshot in ../shared tags attack.stealth / attack.defense-impairment; its Navigator layer says 19.1).
# A tag resolves through this table only when the loaded data lacks the tag's own shortname: against v18 or
# older data the new names land on Defense Evasion; against v19+ data an old `defense-evasion` tag lands on
# whichever successor the rule's techniques belong to (both when the rule names no technique).
TACTIC_ALIASES: dict[str, tuple[str, ...]] = {
    "stealth": ("defense-evasion",),
    "defense-impairment": ("defense-evasion",),
    "defense-evasion": ("stealth", "defense-impairment"),
}

# The Sigma tag appendix (v2.1) names these forms inside the `attack.` namespace; anything else is a tactic.
_ID_TAG = re.compile(r"(t\d{4}(?:\.\d{3})?|g\d{4}|s\d{4}|c\d{4}|ds\d{4}|m\d{4}|a\d{4})")
_ID_KINDS = {"t": "technique", "g": "group", "s": "software", "c": "campaign", "ds": "data_source"}
_ID_KINDS |= {"m": "mitigation", "a": "asset"}


@dataclass(slots=True, frozen=True)
class AttackTag:
    """A tag of the `attack.` namespace, classified.

    kind: technique, tactic, group, software, campaign, data_source, mitigation or asset.
    value: the ATT&CK id (upper case), or for a tactic its shortname with hyphens.
    """

    tag: str
    kind: str
    value: str


def parse_attack_tag(tag: str) -> AttackTag | None:
    """Classify a Sigma tag; None when it is outside the `attack.` namespace (cve.*, detection.*, tlp.*)."""
    if not isinstance(tag, str):  # YAML can hand us a number or null as a tag
        return None
    text = tag.strip()
    lower = text.lower()
    if not lower.startswith("attack.") or len(lower) == len("attack."):
        return None
    rest = lower[len("attack.") :]
    if _ID_TAG.fullmatch(rest):
        prefix = rest[:2] if rest.startswith("ds") else rest[0]
        return AttackTag(text, _ID_KINDS[prefix], rest.upper())
    return AttackTag(text, "tactic", rest.replace("_", "-"))


class TechniqueDoc(TypedDict):
    """A technique of the rule page document's `attack[].techniques` (docs/page-document.md)."""

    id: str
    name: str
    revoked: bool
    deprecated: bool
    replaced_by: str
    replaced_by_name: str
    moved: str
    note: str


class TacticDoc(TypedDict):
    """One entry of the rule page document's `attack` (docs/page-document.md)."""

    tactic: str
    tactic_id: str
    shortname: str
    tagged_as: list[str]
    techniques: list[TechniqueDoc]


@dataclass(slots=True)
class TechniqueRef:
    id: str
    name: str
    revoked: bool = False
    deprecated: bool = False
    replaced_by: str = ""
    moved: str = ""  # `Technique.moved`: the id left the current matrix ("name", "judged", "none")
    replaced_by_name: str = ""
    note: str = ""  # `retired_note`: what became of a retired id, in words


@dataclass(slots=True)
class TacticCoverage:
    tactic: str
    tactic_id: str
    shortname: str
    techniques: list[TechniqueRef] = field(default_factory=list)
    # The rule's tactic tags that reached this tactic under another name (`attack.defense-evasion` on a
    # Defense Impairment rule against v19 data), as the rule wrote them.
    tagged_as: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AttackCoverage:
    """What a rule's tags say in ATT&CK terms.

    `unknown`: attack.* tags naming nothing in the loaded data (as written in the rule).
    `unverified`: well-formed id tags of a kind the loaded data does not carry (e.g. groups, when the bundle
    has no intrusion sets), so they can be neither confirmed nor called unknown.
    """

    tactics: list[TacticCoverage] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    groups: list[tuple[str, str]] = field(default_factory=list)
    software: list[tuple[str, str]] = field(default_factory=list)
    campaigns: list[tuple[str, str]] = field(default_factory=list)
    data_sources: list[tuple[str, str]] = field(default_factory=list)
    mitigations: list[tuple[str, str]] = field(default_factory=list)

    def page_attack(self) -> list[TacticDoc]:
        """The page document's `attack` value (docs/page-document.md), with the revoked/deprecated flags."""
        return [
            {
                "tactic": tc.tactic,
                "tactic_id": tc.tactic_id,
                "shortname": tc.shortname,
                "tagged_as": list(tc.tagged_as),
                "techniques": [
                    {
                        "id": t.id,
                        "name": t.name,
                        "revoked": t.revoked,
                        "deprecated": t.deprecated,
                        "replaced_by": t.replaced_by,
                        "replaced_by_name": t.replaced_by_name,
                        "moved": t.moved,
                        "note": t.note,
                    }
                    for t in tc.techniques
                ],
            }
            for tc in self.tactics
        ]


_BASIS_WORDS = {"name": "by name", "judged": "judged from both names"}


def retired_note(tech: Technique, data: AttackData) -> str:
    """What became of an id the current matrix lacks, in words ("" for an active technique):
    "moved to T1685 in v19 (by name)", "not in v19; no successor", "revoked; replaced by T1059.001"."""
    if tech.moved:
        if tech.replaced_by:
            return (
                f"moved to {tech.replaced_by} in v{data.version} ({_BASIS_WORDS.get(tech.moved, tech.moved)})"
            )
        return f"not in v{data.version}; no successor"
    if tech.revoked or tech.deprecated:
        state = "revoked" if tech.revoked else "deprecated"
        return f"{state}; replaced by {tech.replaced_by}" if tech.replaced_by else state
    return ""


def resolve_tactic(shortname: str, data: AttackData) -> tuple[Tactic, ...]:
    """The loaded tactics a tactic shortname stands for: itself, else its aliases present in the data."""
    own = data.tactic(shortname)
    if own is not None:
        return (own,)
    return tuple(t for alias in TACTIC_ALIASES.get(shortname, ()) if (t := data.tactic(alias)) is not None)


def map_tags(tags: Sequence[str], data: AttackData) -> AttackCoverage:
    """Map Sigma-style tags to ATT&CK coverage: tactics in matrix order, techniques sorted by id under each.

    A technique shows under its tactics that the rule also tags; when the rule tags none of them, under all of
    its tactics. A tagged tactic with no technique still shows, with an empty list.
    """
    cov = AttackCoverage()
    tactic_tags: list[tuple[Tactic, ...]] = []
    aliased: dict[str, list[str]] = {}  # tactic shortname -> the rule's tags that resolved to it by alias
    techniques: list[Technique] = []
    named: dict[str, tuple[dict[str, str], list[tuple[str, str]]]] = {
        "group": (data.groups, cov.groups),
        "software": (data.software, cov.software),
        "campaign": (data.campaigns, cov.campaigns),
        "data_source": (data.data_sources, cov.data_sources),
        "mitigation": (data.mitigations, cov.mitigations),
    }
    seen: set[tuple[str, str]] = set()
    for tag in tags:
        parsed = parse_attack_tag(tag)
        if parsed is None or (parsed.kind, parsed.value) in seen:
            continue
        seen.add((parsed.kind, parsed.value))
        if parsed.kind == "tactic":
            resolved = resolve_tactic(parsed.value, data)
            if resolved:
                tactic_tags.append(resolved)
                for t in resolved:
                    if t.shortname != parsed.value:
                        aliased.setdefault(t.shortname, []).append(parsed.tag)
            else:
                cov.unknown.append(parsed.tag)
        elif parsed.kind == "technique":
            tech = data.techniques.get(parsed.value)
            if tech is None:
                cov.unknown.append(parsed.tag)
            else:
                techniques.append(tech)
        elif parsed.kind in named:
            table, out = named[parsed.kind]
            if parsed.value in table:
                out.append((parsed.value, table[parsed.value]))
            elif table:
                cov.unknown.append(parsed.tag)
            else:
                cov.unverified.append(parsed.tag)
        else:  # assets exist only in ATT&CK for ICS, which this data model does not load
            cov.unverified.append(parsed.tag)
    for _, out in named.values():
        out.sort()

    rule_tactics = {t.shortname for group in tactic_tags for t in group}
    placed: dict[str, list[Technique]] = {}
    for tech in techniques:
        for shortname in _placement(tech, rule_tactics, data):
            placed.setdefault(shortname, []).append(tech)
    for group in tactic_tags:
        if not any(t.shortname in placed for t in group):
            for t in group:
                placed.setdefault(t.shortname, [])

    for tactic in data.tactics:
        if tactic.shortname in placed:
            tc = _tactic_coverage(
                tactic.name, tactic.id, tactic.shortname, placed.pop(tactic.shortname), data
            )
            tc.tagged_as = aliased.get(tactic.shortname, [])
            cov.tactics.append(tc)
    for shortname, techs in placed.items():  # a technique whose tactic is missing from the data's matrix
        cov.tactics.append(_tactic_coverage("", "", shortname, techs, data))
    return cov


def _placement(tech: Technique, rule_tactics: set[str], data: AttackData) -> tuple[str, ...]:
    # A retired id may name tactics the current matrix no longer has (Defense Evasion after v19): its
    # replacement's tactics say where it belongs now.
    own = tuple(s for s in tech.tactics if data.tactic(s) is not None)
    if not own and tech.replaced_by:
        replacement = data.techniques.get(tech.replaced_by)
        own = replacement.tactics if replacement else ()
    if not own:
        # No tactic in the data at all: the rule's tactic tags are the only placement we have.
        return tuple(sorted(rule_tactics)) or ("",)
    both = tuple(s for s in own if s in rule_tactics)
    return both or own


def _tactic_coverage(
    name: str, tactic_id: str, shortname: str, techs: list[Technique], data: AttackData
) -> TacticCoverage:
    unique = {t.id: t for t in techs}
    refs = []
    for t in sorted(unique.values(), key=lambda t: technique_sort_key(t.id)):
        target = data.techniques.get(t.replaced_by) if t.replaced_by else None
        target_name = target.name if target else ""
        note = retired_note(t, data)
        refs.append(
            TechniqueRef(t.id, t.name, t.revoked, t.deprecated, t.replaced_by, t.moved, target_name, note)
        )
    return TacticCoverage(tactic=name, tactic_id=tactic_id, shortname=shortname, techniques=refs)
