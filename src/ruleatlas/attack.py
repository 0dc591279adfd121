"""MITRE ATT&CK: load a STIX 2.x bundle into a compact `AttackData`, and map rule tags to ATT&CK coverage.

Reads the official `enterprise-attack.json` of mitre-attack/attack-stix-data (STIX 2.1) or mitre/cti (STIX 2.0)
and subsets of it holding the same object types. The catalog stores `AttackData.to_json()` and reloads it with
`AttackData.from_json()`, so pages never re-read STIX.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruleatlas.model import Problem

JSON_FORMAT = "ruleatlas-attack/1"

# Kill-chain names ATT&CK uses for its tactics (one per domain); other kill chains are not ATT&CK tactics.
ATTACK_KILL_CHAINS = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})

# ATT&CK v19 split Defense Evasion (TA0005) into Stealth and Defense Impairment, and SigmaHQ retagged its rules
# (its snapshot in ../shared tags `attack.stealth` / `attack.defense-impairment`, its Navigator layer says 19.1).
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
_CITATION = re.compile(r"\s*\(Citation:[^)]*\)")
_VERSION_IN_NAME = re.compile(r"attack-v?(\d+(?:\.\d+)+)")


class AttackDataError(Exception):
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


@dataclass(slots=True)
class AttackData:
    """One ATT&CK domain, compact. `tactics` are in matrix order; the dicts map ATT&CK id -> name."""

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
            "problems": [{"file": p.file, "message": p.message, "severity": p.severity} for p in self.problems],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], file: str = "<attack json>") -> AttackData:
        if not isinstance(d, dict) or d.get("format") != JSON_FORMAT:
            found = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise AttackDataError(file, f"not RuleAtlas ATT&CK data (format {found!r}, expected {JSON_FORMAT!r})")
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
    }


# ---------------------------------------------------------------------------------------------------------------
# Loading STIX


def find_bundle(path: Path) -> Path:
    """The STIX bundle to read: `path` itself, or the best candidate in the directory `path`.

    Preference: `enterprise-attack.json` (the official full bundle), then versioned official names
    (`enterprise-attack-18.1.json`, highest version first), then any `*stix*.json`.
    """
    if not path.exists():
        raise AttackDataError(path, "no such file or directory")
    if not path.is_dir():
        return path
    names = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix == ".json")
    official = [n for n in names if re.fullmatch(r"enterprise-attack(-\d+(\.\d+)*)?\.json", n)]
    stix = [n for n in names if "stix" in n.lower()]
    ranked = sorted(official, key=lambda n: (n != "enterprise-attack.json", [-v for v in _version_key(n)]))
    ranked += sorted(stix, key=lambda n: [-v for v in _version_key(n)])
    if not ranked:
        raise AttackDataError(path, "no STIX bundle here (looked for enterprise-attack.json and *stix*.json)")
    return path / ranked[0]


def _version_key(name: str) -> list[int]:
    m = _VERSION_IN_NAME.search(name)
    return [int(x) for x in m.group(1).split(".")] if m else []


def load_attack(path: Path) -> AttackData:
    """Read a STIX 2.x ATT&CK bundle (a file, or a directory holding one) into `AttackData`."""
    bundle_path = find_bundle(Path(path))
    bundle = _read_json(bundle_path)
    objects = bundle.get("objects") if isinstance(bundle, dict) else None
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle" or not isinstance(objects, list):
        raise AttackDataError(bundle_path, "not a STIX bundle (expected an object with type 'bundle' and objects)")
    data = _StixReader(str(bundle_path)).read(objects, str(bundle.get("id", "")), bundle_path.name)
    if not (data.groups or data.software or data.campaigns):
        _add_compact_groups(data, bundle_path.parent)
    return data


def _read_json(path: Path) -> Any:
    try:
        with path.open("rb") as fh:
            return json.load(fh)
    except OSError as exc:
        raise AttackDataError(path, f"cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise AttackDataError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from exc
    except UnicodeDecodeError as exc:
        raise AttackDataError(path, f"not UTF-8 text: {exc.reason}") from exc


def _add_compact_groups(data: AttackData, folder: Path) -> None:
    """Take groups/software/campaigns from a derived compact index beside a bundle that lacks them.

    ../shared/attack ships a detection subset of the STIX data without intrusion sets, software or campaigns,
    plus `enterprise-attack-v<version>-compact.json` (documented in its SOURCE.md) that lists them; without
    this, every `attack.gNNNN` / `attack.sNNNN` tag would be unverifiable there.
    """
    for candidate in sorted(folder.glob("*compact*.json")):
        try:
            compact = _read_json(candidate)
        except AttackDataError as exc:
            data.problems.append(Problem(exc.file, exc.cause, exc.line, severity="warning"))
            continue
        if not isinstance(compact, dict) or compact.get("attack_version") != data.version:
            continue
        for key, target in (("groups", data.groups), ("software", data.software), ("campaigns", data.campaigns)):
            for item in compact.get(key) or ():
                if isinstance(item, dict) and item.get("id") and item.get("name"):
                    target[item["id"]] = item["name"]
        data.sources.append(str(candidate))
        return


class _StixReader:
    """One pass over the objects, bucketing by type; then the relationships decide parents and replacements."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.attack_ids: dict[str, str] = {}  # STIX id -> ATT&CK id
        self.urls: dict[str, str] = {}

    def warn(self, message: str) -> None:
        self.problems.append(Problem(self.file, message, severity="warning"))

    def read(self, objects: list[Any], bundle_id: str, file_name: str) -> AttackData:
        by_type: dict[str, list[dict[str, Any]]] = {}
        for obj in objects:
            if not isinstance(obj, dict) or not isinstance(obj.get("type"), str) or "id" not in obj:
                self.warn(f"skipped an object without type or id: {str(obj)[:80]}")
                continue
            by_type.setdefault(obj["type"], []).append(obj)
            for ref in obj.get("external_references") or ():
                if isinstance(ref, dict) and ref.get("external_id") and ref.get("source_name") in _ID_SOURCES:
                    self.attack_ids[obj["id"]] = ref["external_id"]
                    self.urls[obj["id"]] = ref.get("url", "")
                    break
        get = by_type.get
        version = self._version(get("x-mitre-collection", []), bundle_id, file_name)
        tactics, domain = self._tactics(get("x-mitre-tactic", []), get("x-mitre-matrix", []))
        rels = [r for r in get("relationship", []) if not r.get("revoked") and not r.get("x_mitre_deprecated")]
        techniques = self._techniques(get("attack-pattern", []), rels, tactics)
        self._data_components(techniques, by_type, rels)
        data = AttackData(version=version, domain=domain, tactics=tactics, techniques=techniques)
        data.groups = self._names(get("intrusion-set", []))
        data.software = self._names(get("malware", []) + get("tool", []))
        data.campaigns = self._names(get("campaign", []))
        data.data_sources = self._names(get("x-mitre-data-source", []))
        data.mitigations = self._names(get("course-of-action", []))
        data.sources = [self.file]
        data.problems = self.problems
        return data

    def _version(self, collections: list[dict[str, Any]], bundle_id: str, file_name: str) -> str:
        for coll in collections:
            if coll.get("x_mitre_version"):
                return str(coll["x_mitre_version"])
        # Subsets and mitre/cti bundles may carry no collection: fall back to the bundle id, then the file name.
        for text in (bundle_id, file_name):
            m = _VERSION_IN_NAME.search(text)
            if m:
                return m.group(1)
        self.warn("ATT&CK version unknown: no x-mitre-collection with x_mitre_version, none in bundle id or name")
        return ""

    def _tactics(self, objs: list[dict[str, Any]], matrices: list[dict[str, Any]]) -> tuple[list[Tactic], str]:
        by_stix: dict[str, Tactic] = {}
        for obj in objs:
            attack_id, short = self.attack_ids.get(obj["id"]), obj.get("x_mitre_shortname")
            if not attack_id or not short:
                self.warn(f"tactic {obj['id']} has no ATT&CK id or shortname; skipped")
                continue
            name, description = obj.get("name", short), _clean(obj.get("description"))
            by_stix[obj["id"]] = Tactic(attack_id, short, name, description, self.urls.get(obj["id"], ""))
        active = [m for m in matrices if not m.get("revoked") and not m.get("x_mitre_deprecated")]
        if not active:
            self.warn("no x-mitre-matrix: tactics ordered by ATT&CK id")
            return sorted(by_stix.values(), key=lambda t: t.id), ""
        if len(active) > 1:
            self.warn(f"{len(active)} matrices; tactic order taken from the first, {active[0].get('name')!r}")
        order = [by_stix.pop(ref) for ref in active[0].get("tactic_refs") or () if ref in by_stix]
        rest = sorted(by_stix.values(), key=lambda t: t.id)  # tactics outside the matrix go last
        return order + rest, self.attack_ids.get(active[0]["id"], "")

    def _techniques(
        self, objs: list[dict[str, Any]], rels: list[dict[str, Any]], tactics: list[Tactic]
    ) -> dict[str, Technique]:
        order = {t.shortname: i for i, t in enumerate(tactics)}
        by_stix: dict[str, Technique] = {}
        for obj in objs:
            attack_id = self.attack_ids.get(obj["id"])
            if not attack_id:
                self.warn(f"attack-pattern {obj['id']} ({obj.get('name')!r}) has no ATT&CK id; skipped")
                continue
            phases = [
                p["phase_name"]
                for p in obj.get("kill_chain_phases") or ()
                if isinstance(p, dict) and p.get("kill_chain_name") in ATTACK_KILL_CHAINS and p.get("phase_name")
            ]
            description = _clean(obj.get("description"))
            by_stix[obj["id"]] = Technique(
                id=attack_id,
                name=obj.get("name", attack_id),
                tactics=tuple(sorted(dict.fromkeys(phases), key=lambda s: order.get(s, len(order)))),
                is_subtechnique=bool(obj.get("x_mitre_is_subtechnique")),
                revoked=bool(obj.get("revoked")),
                deprecated=bool(obj.get("x_mitre_deprecated")),
                platforms=tuple(obj.get("x_mitre_platforms") or ()),
                summary=description.split("\n\n", 1)[0].strip(),
                description=description,
                url=self.urls.get(obj["id"], ""),
            )
        revoked_by: dict[str, str] = {}
        for rel in rels:
            kind, src, dst = rel.get("relationship_type"), rel.get("source_ref"), rel.get("target_ref")
            if kind == "subtechnique-of" and src in by_stix and dst in by_stix:
                by_stix[src].parent = by_stix[dst].id
            elif kind == "revoked-by" and isinstance(src, str) and isinstance(dst, str):
                revoked_by[src] = dst
        for stix_id, tech in by_stix.items():
            if tech.is_subtechnique and not tech.parent and "." in tech.id:
                tech.parent = tech.id.split(".", 1)[0]  # relationship missing from a subset: the id says it
            tech.replaced_by = self._final_replacement(stix_id, revoked_by)
        techniques: dict[str, Technique] = {}
        for tech in by_stix.values():
            kept = techniques.get(tech.id)
            # Two objects with one ATT&CK id: keep the active one, a revoked copy is history.
            if kept is None or ((kept.revoked or kept.deprecated) and not (tech.revoked or tech.deprecated)):
                techniques[tech.id] = tech
        return dict(sorted(techniques.items(), key=lambda kv: technique_sort_key(kv[0])))

    def _final_replacement(self, stix_id: str, revoked_by: dict[str, str]) -> str:
        """The ATT&CK id at the end of the revoked-by chain (T1150 -> T1547.011 -> T1647 gives T1647)."""
        seen = {stix_id}
        current = revoked_by.get(stix_id)
        last = ""
        while current and current not in seen:
            seen.add(current)
            last = self.attack_ids.get(current, last)
            current = revoked_by.get(current)
        return last

    def _data_components(
        self, techniques: dict[str, Technique], by_type: dict[str, list[dict[str, Any]]], rels: list[dict[str, Any]]
    ) -> None:
        """Data component names per technique, by whichever link the bundle has.

        v18+: detection strategy -detects-> technique; strategy -> analytics -> log source refs -> component.
        v10-v17: component -detects-> technique. Older: the technique's own `x_mitre_data_sources` strings.
        """
        components = {o["id"]: o.get("name", "") for o in by_type.get("x-mitre-data-component", [])}
        analytics = {o["id"]: o for o in by_type.get("x-mitre-analytic", [])}
        strategies = {o["id"]: o for o in by_type.get("x-mitre-detection-strategy", [])}
        by_attack_id = {self.attack_ids.get(o["id"]): o for o in by_type.get("attack-pattern", [])}
        found: dict[str, set[str]] = {}
        for rel in rels:
            if rel.get("relationship_type") != "detects":
                continue
            tech_id = self.attack_ids.get(rel.get("target_ref", ""))
            if tech_id not in techniques:
                continue
            src = rel.get("source_ref", "")
            names = found.setdefault(tech_id, set())
            if src in components:
                names.add(components[src])
            for analytic_ref in (strategies.get(src) or {}).get("x_mitre_analytic_refs") or ():
                for ref in (analytics.get(analytic_ref) or {}).get("x_mitre_log_source_references") or ():
                    name = components.get(ref.get("x_mitre_data_component_ref", "")) if isinstance(ref, dict) else ""
                    if name:
                        names.add(name)
        for tech_id, tech in techniques.items():
            names = found.get(tech_id) or set()
            if not names:
                legacy = (by_attack_id.get(tech_id) or {}).get("x_mitre_data_sources") or ()
                names = {s.split(":", 1)[-1].strip() for s in legacy if isinstance(s, str)}
            tech.data_components = tuple(sorted(n for n in names if n))

    def _names(self, objs: Iterable[dict[str, Any]]) -> dict[str, str]:
        names: dict[str, str] = {}
        retired: set[str] = set()
        for obj in objs:
            attack_id = self.attack_ids.get(obj["id"])
            if not attack_id:
                self.warn(f"{obj['type']} {obj['id']} ({obj.get('name')!r}) has no ATT&CK id; skipped")
                continue
            is_retired = bool(obj.get("revoked") or obj.get("x_mitre_deprecated"))
            if attack_id in names and (is_retired or attack_id not in retired):
                continue  # the active object of a shared id wins
            names[attack_id] = obj.get("name", attack_id)
            if is_retired:
                retired.add(attack_id)
            else:
                retired.discard(attack_id)
        return dict(sorted(names.items()))


_ID_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})


def _clean(text: Any) -> str:
    """ATT&CK description text without `(Citation: ...)` markers, which only make sense with the references."""
    if not isinstance(text, str):
        return ""
    return _CITATION.sub("", text).strip()


def technique_sort_key(attack_id: str) -> tuple[int, int, str]:
    m = re.fullmatch(r"[A-Za-z]+(\d+)(?:\.(\d+))?", attack_id)
    if not m:
        return (1 << 30, 0, attack_id)
    return (int(m.group(1)), int(m.group(2) or -1), attack_id)


# ---------------------------------------------------------------------------------------------------------------
# Tags -> coverage


@dataclass(slots=True, frozen=True)
class AttackTag:
    """A tag of the `attack.` namespace, classified: kind is technique, tactic, group, software, campaign,
    data_source, mitigation or asset; value is the ATT&CK id (upper case) or the tactic shortname (hyphens)."""

    tag: str
    kind: str
    value: str


def parse_attack_tag(tag: str) -> AttackTag | None:
    """Classify a Sigma tag; None when it is not in the `attack.` namespace (cve.*, detection.*, tlp.*, ...)."""
    text = tag.strip()
    lower = text.lower()
    if not lower.startswith("attack.") or len(lower) == len("attack."):
        return None
    rest = lower[len("attack.") :]
    if _ID_TAG.fullmatch(rest):
        prefix = rest[:2] if rest.startswith("ds") else rest[0]
        return AttackTag(text, _ID_KINDS[prefix], rest.upper())
    return AttackTag(text, "tactic", rest.replace("_", "-"))


@dataclass(slots=True)
class TechniqueRef:
    id: str
    name: str
    revoked: bool = False
    deprecated: bool = False
    replaced_by: str = ""


@dataclass(slots=True)
class TacticCoverage:
    tactic: str
    tactic_id: str
    shortname: str
    techniques: list[TechniqueRef] = field(default_factory=list)


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

    def page_attack(self) -> list[dict[str, Any]]:
        """The page document's `attack` value (docs/page-document.md), with the revoked/deprecated flags."""
        return [
            {
                "tactic": tc.tactic,
                "tactic_id": tc.tactic_id,
                "shortname": tc.shortname,
                "techniques": [
                    {"id": t.id, "name": t.name, "revoked": t.revoked, "deprecated": t.deprecated,
                     "replaced_by": t.replaced_by}
                    for t in tc.techniques
                ],
            }
            for tc in self.tactics
        ]


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
            cov.tactics.append(_tactic_coverage(tactic.name, tactic.id, tactic.shortname, placed.pop(tactic.shortname)))
    for shortname, techs in placed.items():  # a technique whose tactic is missing from the data's matrix
        cov.tactics.append(_tactic_coverage("", "", shortname, techs))
    return cov


def _placement(tech: Technique, rule_tactics: set[str], data: AttackData) -> tuple[str, ...]:
    own = tech.tactics
    if not own and tech.replaced_by:
        replacement = data.techniques.get(tech.replaced_by)
        own = replacement.tactics if replacement else ()
    if not own:
        # No tactic in the data at all: the rule's tactic tags are the only placement we have.
        return tuple(sorted(rule_tactics)) or ("",)
    both = tuple(s for s in own if s in rule_tactics)
    return both or own


def _tactic_coverage(name: str, tactic_id: str, shortname: str, techs: list[Technique]) -> TacticCoverage:
    unique = {t.id: t for t in techs}
    return TacticCoverage(
        tactic=name,
        tactic_id=tactic_id,
        shortname=shortname,
        techniques=[
            TechniqueRef(t.id, t.name, t.revoked, t.deprecated, t.replaced_by)
            for t in sorted(unique.values(), key=lambda t: technique_sort_key(t.id))
        ],
    )
