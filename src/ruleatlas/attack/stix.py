"""Read a STIX 2.x ATT&CK bundle (official enterprise-attack.json, mitre/cti, or a subset) into AttackData."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ruleatlas.attack.data import AttackData, AttackDataError, Tactic, Technique, technique_sort_key
from ruleatlas.attack.overlay import apply_newer
from ruleatlas.model import Problem

# Kill-chain names ATT&CK uses for its tactics (one per domain); other kill chains are not ATT&CK tactics.
ATTACK_KILL_CHAINS = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})
# `external_references` source names that carry ATT&CK ids.
_ID_SOURCES = frozenset({"mitre-attack", "mitre-mobile-attack", "mitre-ics-attack"})
_CITATION = re.compile(r"\s*\(Citation:[^)]*\)")
_VERSION_IN_NAME = re.compile(r"attack-v?(\d+(?:\.\d+)+)")


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
    """Read a STIX 2.x ATT&CK bundle (a file, or a directory holding one) into `AttackData`, with a newer
    version's compact list beside it laid over it (`ruleatlas.attack.overlay`)."""
    bundle_path = find_bundle(Path(path))
    return apply_newer(load_stix(bundle_path), bundle_path.parent)


def load_stix(path: Path) -> AttackData:
    """The STIX bundle alone (a file, or a directory holding one), without any newer version over it."""
    bundle_path = find_bundle(Path(path))
    bundle = _read_json(bundle_path)
    objects = bundle.get("objects") if isinstance(bundle, dict) else None
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle" or not isinstance(objects, list):
        raise AttackDataError(
            bundle_path, "not a STIX bundle (expected an object with type 'bundle' and objects)"
        )
    try:
        data = _StixReader(str(bundle_path)).read(objects, str(bundle.get("id", "")), bundle_path.name)
    except (TypeError, AttributeError, ValueError) as exc:
        # A property of an unexpected JSON type somewhere in the objects: say so instead of a traceback.
        raise AttackDataError(bundle_path, f"unexpected STIX content: {exc!r}") from exc
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
        for key, target in (
            ("groups", data.groups),
            ("software", data.software),
            ("campaigns", data.campaigns),
        ):
            for item in compact.get(key) or ():
                if isinstance(item, dict) and item.get("id") and item.get("name"):
                    target[item["id"]] = item["name"]
        data.sources.append(str(candidate))
        return


class _StixReader:
    """One pass over the objects, bucketing by type; the relationships then give parents and replacements."""

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
        rels = [
            r for r in get("relationship", []) if not r.get("revoked") and not r.get("x_mitre_deprecated")
        ]
        techniques = self._techniques(get("attack-pattern", []), rels, tactics)
        self._data_components(techniques, by_type, rels)
        data = AttackData(version=version, domain=domain, tactics=tactics, techniques=techniques)
        for tech in techniques.values():
            tech.details_version = version
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
        # Subsets and mitre/cti bundles may lack a collection: fall back to the bundle id, then the file name.
        for text in (bundle_id, file_name):
            m = _VERSION_IN_NAME.search(text)
            if m:
                return m.group(1)
        self.warn(
            "ATT&CK version unknown: no x-mitre-collection with x_mitre_version, none in bundle id or name"
        )
        return ""

    def _tactics(
        self, objs: list[dict[str, Any]], matrices: list[dict[str, Any]]
    ) -> tuple[list[Tactic], str]:
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
                if isinstance(p, dict)
                and p.get("kill_chain_name") in ATTACK_KILL_CHAINS
                and p.get("phase_name")
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
        self,
        techniques: dict[str, Technique],
        by_type: dict[str, list[dict[str, Any]]],
        rels: list[dict[str, Any]],
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
                    name = (
                        components.get(ref.get("x_mitre_data_component_ref", ""))
                        if isinstance(ref, dict)
                        else ""
                    )
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


def _clean(text: Any) -> str:
    """Description text without `(Citation: ...)` markers, which need the reference list to mean anything."""
    if not isinstance(text, str):
        return ""
    return _CITATION.sub("", text).strip()
