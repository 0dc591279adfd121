"""The compact ATT&CK data the catalog keeps: tactics, techniques, and names of groups/software/campaigns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruleatlas.model import Problem

JSON_FORMAT = "ruleatlas-attack/2"


class AttackDataError(ValueError):
    """An ATT&CK file that cannot be used: which file and why."""

    def __init__(self, file: Path | str, cause: str, line: int | None = None) -> None:
        self.file = str(file)
        self.cause = cause
        self.line = line
        where = f"{self.file}:{line}" if line is not None else self.file
        super().__init__(f"{where}: {cause}")


@dataclass(slots=True)
class Tactic:
    id: str
    shortname: str
    name: str
    description: str = ""
    url: str = ""


@dataclass(slots=True)
class Technique:
    id: str
    name: str
    tactics: tuple[str, ...] = ()
    is_subtechnique: bool = False
    parent: str = ""
    revoked: bool = False
    deprecated: bool = False
    replaced_by: str = ""
    platforms: tuple[str, ...] = ()
    summary: str = ""
    description: str = ""
    url: str = ""
    data_components: tuple[str, ...] = ()
    # How the id left the current matrix when a newer version dropped it ("" while it is in it): "name" or
    # "judged" (a successor in `replaced_by`, matched by name or judged from both names) or "none".
    moved: str = ""
    move_note: str = ""  # the crosswalk's reason, e.g. "same name: Disable or Modify Tools"
    # The ATT&CK version the description, platforms and data components come from; "" when the offline data
    # has none for this id (a technique new in the current version).
    details_version: str = ""

    @property
    def active(self) -> bool:
        """In the current matrix: neither revoked, deprecated, nor dropped by a newer version."""
        return not (self.revoked or self.deprecated or self.moved)

    def applies_to(self, platform: str) -> bool:
        """Whether a platform filter keeps this technique: "" keeps all; a technique whose offline data names
        no platform (new in v19 with no predecessor: T1682, T1683, T1687) is unknown, not absent, so every
        filter keeps it rather than hide it."""
        return not platform or not self.platforms or platform in self.platforms


@dataclass(slots=True)
class AttackData:
    """One ATT&CK domain, compact. `tactics` are in matrix order; the dicts map ATT&CK id -> name.

    `version` is the matrix shown; `details_version` the older version descriptions come from when a newer
    version's names and tactics were laid over it (`ruleatlas.attack.overlay`), else "".
    """

    version: str
    domain: str = ""
    tactics: list[Tactic] = field(default_factory=list)
    techniques: dict[str, Technique] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=dict)
    campaigns: dict[str, str] = field(default_factory=dict)
    data_sources: dict[str, str] = field(default_factory=dict)
    mitigations: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    details_version: str = ""
    _by_shortname: dict[str, Tactic] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_shortname = {t.shortname: t for t in self.tactics}

    def tactic(self, shortname: str) -> Tactic | None:
        return self._by_shortname.get(shortname)

    def technique(self, attack_id: str) -> Technique | None:
        return self.techniques.get(attack_id.upper())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": JSON_FORMAT,
            "version": self.version,
            "domain": self.domain,
            "tactics": [_tactic_json(t) for t in self.tactics],
            "techniques": [_technique_json(t) for t in self.techniques.values()],
            "groups": self.groups,
            "software": self.software,
            "campaigns": self.campaigns,
            "data_sources": self.data_sources,
            "mitigations": self.mitigations,
            "sources": self.sources,
            "details_version": self.details_version,
            "problems": [
                {"file": p.file, "message": p.message, "severity": p.severity} for p in self.problems
            ],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], file: str = "<attack json>") -> AttackData:
        if not isinstance(d, dict) or d.get("format") != JSON_FORMAT:
            found = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise AttackDataError(
                file, f"not RuleAtlas ATT&CK data (format {found!r}, expected {JSON_FORMAT!r})"
            )
        try:
            techniques = {}
            for t in d["techniques"]:
                tech = Technique(**t)
                tech.tactics, tech.platforms = tuple(tech.tactics), tuple(tech.platforms)
                tech.data_components = tuple(tech.data_components)
                techniques[tech.id] = tech
            return cls(
                version=d["version"],
                domain=d["domain"],
                tactics=[Tactic(**t) for t in d["tactics"]],
                techniques=techniques,
                groups=dict(d["groups"]),
                software=dict(d["software"]),
                campaigns=dict(d["campaigns"]),
                data_sources=dict(d["data_sources"]),
                mitigations=dict(d["mitigations"]),
                sources=list(d["sources"]),
                details_version=str(d["details_version"]),
                problems=[Problem(p["file"], p["message"], severity=p["severity"]) for p in d["problems"]],
            )
        except (KeyError, TypeError) as exc:
            raise AttackDataError(file, f"malformed RuleAtlas ATT&CK data: {exc!r}") from exc


def _tactic_json(t: Tactic) -> dict[str, Any]:
    return {"id": t.id, "shortname": t.shortname, "name": t.name, "description": t.description, "url": t.url}


def _technique_json(t: Technique) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "tactics": list(t.tactics),
        "is_subtechnique": t.is_subtechnique,
        "parent": t.parent,
        "revoked": t.revoked,
        "deprecated": t.deprecated,
        "replaced_by": t.replaced_by,
        "platforms": list(t.platforms),
        "summary": t.summary,
        "description": t.description,
        "url": t.url,
        "data_components": list(t.data_components),
        "moved": t.moved,
        "move_note": t.move_note,
        "details_version": t.details_version,
    }


def technique_sort_key(attack_id: str) -> tuple[int, int, str]:
    m = re.fullmatch(r"[A-Za-z]+(\d+)(?:\.(\d+))?", attack_id)
    if not m:
        return (1 << 30, 0, attack_id)
    return (int(m.group(1)), int(m.group(2) or -1), attack_id)
