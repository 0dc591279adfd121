"""ATT&CK coverage of the catalog: which detection rules cover which technique, under which tactic.

Pure functions over plain rows (the store's `ruleatlas.store.attack` reads them) and `AttackData`:

- `CoverageIndex`: rules per (technique, tactic) after the counting rules below, the retired techniques
  rules still tag, and what was left out and why;
- `Matrix` (`build_matrix`): tactics in matrix order, techniques with their sub-techniques, a count per cell;
- `gaps`: active techniques with no rule, for all platforms or one;
- `navigator_layer`: the same as an ATT&CK Navigator layer (format 4.5).

Counting rules, shared by every page, API route and CLI command so that they all agree:

- detection rules only: deprecated, unsupported and hunting rules (by kind, or by status for the first two)
  are left out and reported as such;
- a rule counts under the tactic the build placed the technique under (the rule's own tactic tags, see
  `ruleatlas.attack.map_tags`); a parent technique's cell counts distinct rules of the parent and of its
  sub-techniques under that tactic;
- a rule tagging a revoked or deprecated technique counts under the replacement ATT&CK names (the end of its
  revoked-by chain), under the same tactic when the replacement has it, else under all of the replacement's
  tactics; a retired technique with no replacement counts nowhere and is listed apart.
- platforms: a rule's platforms come from its log source (`PRODUCT_PLATFORMS`); a rule whose log source names
  no platform (proxy, web server, application logs) counts only when no platform is selected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruleatlas.attack import AttackData, Technique, technique_sort_key

# Kinds (and statuses) of rules that the coverage never counts, with the reason shown to readers.
LEFT_OUT_KINDS: dict[str, str] = {
    "deprecated": "deprecated",
    "unsupported": "unsupported",
    "hunting": "hunting-only",
}
LEFT_OUT_STATUSES: dict[str, str] = {"deprecated": "deprecated", "unsupported": "unsupported"}

# Sigma logsource product -> ATT&CK Enterprise platforms (names as of ATT&CK v18). Products missing here
# (zeek, opencanary, jvm, python, …) and rules with no product read network, web or application logs,
# which ATT&CK ties to no platform.
PRODUCT_PLATFORMS: dict[str, tuple[str, ...]] = {
    "windows": ("Windows",),
    "rpc_firewall": ("Windows",),  # the RPC Firewall runs on Windows hosts
    "linux": ("Linux",),
    "macos": ("macOS",),
    "esxi": ("ESXi",),
    "aws": ("IaaS",),
    "azure": ("IaaS",),
    "gcp": ("IaaS",),
    "m365": ("Office Suite", "SaaS"),
    "okta": ("Identity Provider",),
    "onelogin": ("Identity Provider",),
    "github": ("SaaS",),
    "bitbucket": ("SaaS",),
    "kubernetes": ("Containers",),
    "docker": ("Containers",),
    "cisco": ("Network Devices",),
    "juniper": ("Network Devices",),
    "huawei": ("Network Devices",),
    "fortigate": ("Network Devices",),
    "fortios": ("Network Devices",),
    "paloalto": ("Network Devices",),
}
# (product, service) pairs whose platforms differ from their product's: Entra ID sign-ins and directory
# audits are the identity provider; Google Workspace is an office suite.
SERVICE_PLATFORMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("azure", "signinlogs"): ("Identity Provider",),
    ("azure", "auditlogs"): ("Identity Provider",),
    ("azure", "riskdetection"): ("Identity Provider",),
    ("azure", "pim"): ("Identity Provider",),
    ("gcp", "google_workspace.admin"): ("Office Suite", "SaaS"),
    ("gcp", "google_workspace.login"): ("Identity Provider", "Office Suite"),
}
# Older ATT&CK versions name some of these platforms differently; a name resolves to the first that the
# loaded data knows.
PLATFORM_ALIASES: dict[str, tuple[str, ...]] = {
    "Identity Provider": ("Azure AD",),
    "Office Suite": ("Office 365",),
    "Network Devices": ("Network",),
    "IaaS": ("AWS", "Azure", "GCP"),
}

# Rule-count thresholds of the coverage colours: 0, 1-2, 3-9, 10-29, 30+.
COVERAGE_TIERS: tuple[int, ...] = (1, 3, 10, 30)


def coverage_tier(count: int) -> int:
    """0 for no rule, then 1..4 by `COVERAGE_TIERS`."""
    return sum(1 for bound in COVERAGE_TIERS if count >= bound)


def rule_platforms(product: str, service: str = "") -> tuple[str, ...]:
    """The ATT&CK platforms a rule's log source belongs to (v18 names); () when it names none."""
    product = product.strip().lower()
    return SERVICE_PLATFORMS.get((product, service.strip().lower())) or PRODUCT_PLATFORMS.get(product, ())


def _platform_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def data_platforms(attack: AttackData) -> list[str]:
    """The platforms of the loaded ATT&CK data's active techniques, sorted."""
    found = {p for t in attack.techniques.values() if _active(t) for p in t.platforms}
    return sorted(found, key=str.casefold)


def resolve_platform(text: str, attack: AttackData) -> str | None:
    """The data's name for a platform given as `windows`, `macos`, `identity-provider`, `Azure AD`, …"""
    known = data_platforms(attack)
    by_key = {_platform_key(p): p for p in known}
    key = _platform_key(text)
    if key in by_key:
        return by_key[key]
    for canonical, aliases in PLATFORM_ALIASES.items():
        names = (canonical, *aliases)
        if key in {_platform_key(n) for n in names}:
            return next((by_key[_platform_key(n)] for n in names if _platform_key(n) in by_key), None)
    return None


def _in_data(platforms: Iterable[str], known: set[str]) -> set[str]:
    """v18 platform names mapped to the names the loaded data uses."""
    out = set()
    for name in platforms:
        for candidate in (name, *PLATFORM_ALIASES.get(name, ())):
            if candidate in known:
                out.add(candidate)
                break
    return out


def _active(tech: Technique) -> bool:
    return not (tech.revoked or tech.deprecated)


# -- input rows ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class RuleInfo:
    """A rule as the ATT&CK views need it (one row of the store's rules table)."""

    uid: str
    title: str
    vendor: str
    kind: str
    status: str
    level: str
    product: str = ""
    service: str = ""

    def left_out_reason(self) -> str:
        """Why the coverage does not count this rule ("" when it does)."""
        return LEFT_OUT_KINDS.get(self.kind) or LEFT_OUT_STATUSES.get(self.status, "")


@dataclass(slots=True)
class Placement:
    """One rule_techniques row: a rule names a technique, placed under a tactic ("" if none)."""

    uid: str
    technique_id: str
    tactic_id: str


@dataclass(slots=True)
class AttackFilters:
    """Which counted rules to look at; an empty tuple or "" means any."""

    vendors: tuple[str, ...] = ()
    platform: str = ""
    levels: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.vendors or self.platform or self.levels or self.statuses)

    def accepts(self, rule: RuleInfo, platforms: set[str] | None = None) -> bool:
        """`platforms`: the rule's platforms in the data's names (computed by the caller, once per rule)."""
        if self.vendors and rule.vendor not in self.vendors:
            return False
        if self.levels and rule.level not in self.levels:
            return False
        if self.statuses and rule.status not in self.statuses:
            return False
        return not self.platform or (platforms is not None and self.platform in platforms)

    def to_json(self) -> dict[str, Any]:
        return {
            "vendor": list(self.vendors),
            "platform": self.platform,
            "level": list(self.levels),
            "status": list(self.statuses),
        }


# -- the index -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class CoverageIndex:
    """Counted rules per active technique and tactic, and everything left out, with the reason."""

    attack: AttackData
    filters: AttackFilters
    rules: dict[str, RuleInfo]
    # technique id -> tactic id -> uids of counted rules placing it there (the technique itself only)
    own: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # (technique id the rule tagged, uid) for tags counted under a replacement: replacement -> [(old, uid)]
    via: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # retired technique without a replacement -> uids of counted rules tagging it
    unreplaced: dict[str, set[str]] = field(default_factory=dict)
    # reason -> uids of rules with ATT&CK tags that are not counted
    left_out: dict[str, set[str]] = field(default_factory=dict)
    # uids of counted rules the filters exclude
    filtered_out: set[str] = field(default_factory=set)
    # every technique id a rule names (any kind, as tagged) -> uids; for retired techniques' own pages
    tagged: dict[str, set[str]] = field(default_factory=dict)
    # platforms per rule in the data's names
    platforms: dict[str, set[str]] = field(default_factory=dict)

    def technique_uids(self, technique_id: str, tactic_id: str = "", with_subs: bool = True) -> set[str]:
        """Counted rules covering a technique (and its sub-techniques), under one tactic or any."""
        ids = [technique_id]
        if with_subs:
            ids += self.subtechniques(technique_id)
        out: set[str] = set()
        for tid in ids:
            per_tactic = self.own.get(tid, {})
            if tactic_id:
                out |= per_tactic.get(tactic_id, set())
            else:
                for uids in per_tactic.values():
                    out |= uids
        return out

    def subtechniques(self, technique_id: str) -> list[str]:
        return _subtechniques(self.attack).get(technique_id, [])

    def counted_uids(self) -> set[str]:
        return {uid for per_tactic in self.own.values() for uids in per_tactic.values() for uid in uids}


_SUBS_CACHE: dict[int, tuple[AttackData, dict[str, list[str]]]] = {}


def _subtechniques(attack: AttackData) -> dict[str, list[str]]:
    """Active sub-techniques per parent id, in id order (cached per AttackData object)."""
    cached = _SUBS_CACHE.get(id(attack))
    if cached is not None and cached[0] is attack:
        return cached[1]
    subs: dict[str, list[str]] = {}
    for tech in attack.techniques.values():
        if tech.is_subtechnique and tech.parent and _active(tech):
            subs.setdefault(tech.parent, []).append(tech.id)
    for ids in subs.values():
        ids.sort(key=technique_sort_key)
    _SUBS_CACHE.clear()
    _SUBS_CACHE[id(attack)] = (attack, subs)
    return subs


def tactic_ids(tech: Technique, attack: AttackData) -> list[str]:
    """A technique's tactics as ATT&CK ids, in matrix order (shortnames the data lacks are skipped)."""
    return [t.id for short in tech.tactics if (t := attack.tactic(short)) is not None]


def _replacement(tech: Technique, attack: AttackData) -> Technique | None:
    if not tech.replaced_by:
        return None
    target = attack.technique(tech.replaced_by)
    return target if target is not None and _active(target) else None


def index_coverage(
    attack: AttackData,
    rules: Mapping[str, RuleInfo],
    placements: Iterable[Placement],
    filters: AttackFilters | None = None,
) -> CoverageIndex:
    """Apply the counting rules (module docstring) to the store's rows."""
    filters = filters or AttackFilters()
    known = set(data_platforms(attack))
    index = CoverageIndex(attack, filters, dict(rules))
    for uid, info in index.rules.items():
        index.platforms[uid] = _in_data(rule_platforms(info.product, info.service), known)
    for p in placements:
        rule = index.rules.get(p.uid)
        if rule is None:
            continue  # a placement whose rule row is missing cannot be shown; the store never gives one
        index.tagged.setdefault(p.technique_id, set()).add(p.uid)
        reason = rule.left_out_reason()
        if reason:
            index.left_out.setdefault(reason, set()).add(p.uid)
            continue
        if not filters.accepts(rule, index.platforms[p.uid]):
            index.filtered_out.add(p.uid)
            continue
        tech = attack.technique(p.technique_id)
        if tech is None:
            index.unreplaced.setdefault(p.technique_id, set()).add(p.uid)
            continue
        tactics = [p.tactic_id] if p.tactic_id else []
        if not _active(tech):
            target = _replacement(tech, attack)
            if target is None:
                index.unreplaced.setdefault(tech.id, set()).add(p.uid)
                continue
            index.via.setdefault(target.id, []).append((tech.id, p.uid))
            own_tactics = tactic_ids(target, attack)
            tactics = [t for t in tactics if t in own_tactics] or own_tactics
            tech = target
        if not tactics:
            tactics = tactic_ids(tech, attack) or [""]
        per_tactic = index.own.setdefault(tech.id, {})
        for tactic_id in tactics:
            per_tactic.setdefault(tactic_id, set()).add(p.uid)
    return index


def restrict(index: CoverageIndex, filters: AttackFilters) -> CoverageIndex:
    """The index under `filters`, derived from an unfiltered index without reading the rows again (the
    gaps page needs one per platform)."""
    if index.filters:
        raise ValueError("restrict() needs an unfiltered index")
    keep = {
        uid
        for uid in index.counted_uids() | {u for uids in index.unreplaced.values() for u in uids}
        if filters.accepts(index.rules[uid], index.platforms.get(uid, set()))
    }
    out = CoverageIndex(index.attack, filters, index.rules)
    out.own = {
        tid: {tactic: uids & keep for tactic, uids in per_tactic.items() if uids & keep}
        for tid, per_tactic in index.own.items()
    }
    out.own = {tid: per_tactic for tid, per_tactic in out.own.items() if per_tactic}
    out.via = {t: [(old, u) for old, u in pairs if u in keep] for t, pairs in index.via.items()}
    out.via = {t: pairs for t, pairs in out.via.items() if pairs}
    out.unreplaced = {t: uids & keep for t, uids in index.unreplaced.items() if uids & keep}
    out.left_out = index.left_out
    counted = index.counted_uids() | {u for uids in index.unreplaced.values() for u in uids}
    out.filtered_out = index.filtered_out | (counted - keep)
    out.tagged = index.tagged
    out.platforms = index.platforms
    return out


# -- the matrix ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class MatrixCell:
    technique_id: str
    name: str
    rules: int  # distinct counted rules under this tactic (a parent: with its sub-techniques)
    own: int  # the technique itself only
    platforms: tuple[str, ...]
    subtechniques: list[MatrixCell] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.technique_id,
            "name": self.name,
            "rules": self.rules,
            "own": self.own,
            "platforms": list(self.platforms),
        }
        if self.subtechniques or "." not in self.technique_id:
            out["subtechniques"] = [s.to_json() for s in self.subtechniques]
        return out


@dataclass(slots=True)
class MatrixColumn:
    tactic_id: str
    shortname: str
    name: str
    cells: list[MatrixCell] = field(default_factory=list)

    @property
    def covered(self) -> int:
        """Techniques (not sub-techniques) with at least one rule."""
        return sum(1 for c in self.cells if c.rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.tactic_id,
            "shortname": self.shortname,
            "name": self.name,
            "techniques": len(self.cells),
            "covered": self.covered,
            "cells": [c.to_json() for c in self.cells],
        }


@dataclass(slots=True)
class Matrix:
    attack_version: str
    filters: AttackFilters
    columns: list[MatrixColumn]
    rules_counted: int
    left_out: dict[str, int]
    filtered_out: int
    retired: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "attack_version": self.attack_version,
            "filters": self.filters.to_json(),
            "rules_counted": self.rules_counted,
            "left_out": self.left_out,
            "filtered_out": self.filtered_out,
            "retired": self.retired,
            "tactics": [c.to_json() for c in self.columns],
        }


def matrix_techniques(attack: AttackData, tactic_shortname: str, platform: str = "") -> list[Technique]:
    """Active parent-level techniques of a tactic, by name (the order of ATT&CK's own matrix)."""
    found = [
        t
        for t in attack.techniques.values()
        if _active(t)
        and not t.is_subtechnique
        and tactic_shortname in t.tactics
        and (not platform or platform in t.platforms)
    ]
    return sorted(found, key=lambda t: (t.name.casefold(), technique_sort_key(t.id)))


def build_matrix(index: CoverageIndex) -> Matrix:
    attack = index.attack
    platform = index.filters.platform
    columns = []
    for tactic in attack.tactics:
        column = MatrixColumn(tactic.id, tactic.shortname, tactic.name)
        for tech in matrix_techniques(attack, tactic.shortname, platform):
            subs = []
            for sub_id in index.subtechniques(tech.id):
                sub = attack.techniques[sub_id]
                if tactic.shortname not in sub.tactics or (platform and platform not in sub.platforms):
                    continue
                n = len(index.technique_uids(sub_id, tactic.id, with_subs=False))
                subs.append(MatrixCell(sub.id, sub.name, n, n, sub.platforms))
            column.cells.append(
                MatrixCell(
                    tech.id,
                    tech.name,
                    len(index.technique_uids(tech.id, tactic.id)),
                    len(index.technique_uids(tech.id, tactic.id, with_subs=False)),
                    tech.platforms,
                    subs,
                )
            )
        columns.append(column)
    return Matrix(
        attack_version=attack.version,
        filters=index.filters,
        columns=columns,
        rules_counted=len(index.counted_uids()),
        left_out={reason: len(uids) for reason, uids in sorted(index.left_out.items())},
        filtered_out=len(index.filtered_out),
        retired=retired_tags(index),
    )


def retired_tags(index: CoverageIndex) -> list[dict[str, Any]]:
    """Revoked/deprecated techniques counted rules still tag: where they went, or that they count nowhere."""
    attack = index.attack
    via: dict[str, set[str]] = {}
    target_of: dict[str, str] = {}
    for target, pairs in index.via.items():
        for old, uid in pairs:
            via.setdefault(old, set()).add(uid)
            target_of[old] = target
    out = []
    for old in sorted(set(via) | set(index.unreplaced), key=technique_sort_key):
        tech = attack.technique(old)
        out.append(
            {
                "id": old,
                "name": tech.name if tech else "",
                "status": "unknown" if tech is None else "revoked" if tech.revoked else "deprecated",
                "replaced_by": target_of.get(old, ""),
                "rules": len(via.get(old, set()) | index.unreplaced.get(old, set())),
            }
        )
    return out


# -- gaps ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Gap:
    technique_id: str
    name: str
    tactics: list[str]  # tactic ids
    is_subtechnique: bool
    platforms: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.technique_id,
            "name": self.name,
            "tactics": self.tactics,
            "is_subtechnique": self.is_subtechnique,
            "platforms": list(self.platforms),
        }


def technique_counts(index: CoverageIndex) -> dict[str, int]:
    """Every active technique -> distinct counted rules, any tactic (a parent: with its sub-techniques)."""
    return {
        tid: len(index.technique_uids(tid)) for tid, tech in index.attack.techniques.items() if _active(tech)
    }


def gaps(index: CoverageIndex) -> list[Gap]:
    """Active techniques and sub-techniques with no counted rule; with a platform filter, only those that
    apply to that platform. A parent covered only through its sub-techniques is no gap."""
    attack = index.attack
    platform = index.filters.platform
    out = []
    for tid, n in technique_counts(index).items():
        tech = attack.techniques[tid]
        if n or (platform and platform not in tech.platforms):
            continue
        out.append(Gap(tid, tech.name, tactic_ids(tech, attack), tech.is_subtechnique, tech.platforms))
    return sorted(out, key=lambda g: technique_sort_key(g.technique_id))


def gaps_report(index: CoverageIndex) -> dict[str, Any]:
    """Techniques without a rule (for the index's platform, or all), with the totals they are out of."""
    attack = index.attack
    platform = index.filters.platform
    counts = technique_counts(index)
    applicable = [tid for tid in counts if not platform or platform in attack.techniques[tid].platforms]
    found = gaps(index)
    return {
        "attack_version": attack.version,
        "filters": index.filters.to_json(),
        "techniques": sum(1 for t in applicable if not attack.techniques[t].is_subtechnique),
        "subtechniques": sum(1 for t in applicable if attack.techniques[t].is_subtechnique),
        "covered": sum(1 for t in applicable if counts[t]),
        "rules_counted": len(index.counted_uids()),
        "gaps": [g.to_json() for g in found],
    }


def tactic_report(index: CoverageIndex, matrix: Matrix, tactic_id: str) -> dict[str, Any] | None:
    """One tactic's column of the matrix with its ATT&CK facts (None for an id the data lacks)."""
    column = next((c for c in matrix.columns if c.tactic_id == tactic_id.strip().upper()), None)
    tactic = index.attack.tactic(column.shortname) if column is not None else None
    if column is None or tactic is None:
        return None
    uids = {uid for per_tactic in index.own.values() for uid in per_tactic.get(column.tactic_id, ())}
    return {
        "attack_version": matrix.attack_version,
        "filters": matrix.filters.to_json(),
        "description": tactic.description,
        "url": tactic.url,
        "rules": len(uids),
        **column.to_json(),
    }


def coverage_summary(index: CoverageIndex) -> dict[str, Any]:
    """Per tactic: techniques (and sub-techniques) applicable, covered, distinct rules; every applicable
    technique with its count; the gaps. The JSON of `ruleatlas coverage --format json`."""
    attack = index.attack
    platform = index.filters.platform
    counts = technique_counts(index)
    tactics = []
    for tactic in attack.tactics:
        ids = [
            tid
            for tid in counts
            if tactic.shortname in attack.techniques[tid].tactics
            and (not platform or platform in attack.techniques[tid].platforms)
        ]
        parents = [t for t in ids if not attack.techniques[t].is_subtechnique]
        subs = [t for t in ids if attack.techniques[t].is_subtechnique]
        uids = {u for per_tactic in index.own.values() for u in per_tactic.get(tactic.id, ())}
        tactics.append(
            {
                "id": tactic.id,
                "name": tactic.name,
                "techniques": len(parents),
                "covered": sum(1 for t in parents if len(index.technique_uids(t, tactic.id))),
                "subtechniques": len(subs),
                "subtechniques_covered": sum(
                    1 for t in subs if len(index.technique_uids(t, tactic.id, with_subs=False))
                ),
                "rules": len(uids),
            }
        )
    techniques = [
        {
            "id": tid,
            "name": attack.techniques[tid].name,
            "tactics": tactic_ids(attack.techniques[tid], attack),
            "is_subtechnique": attack.techniques[tid].is_subtechnique,
            "rules": n,
        }
        for tid, n in sorted(counts.items(), key=lambda kv: technique_sort_key(kv[0]))
        if not platform or platform in attack.techniques[tid].platforms
    ]
    return {
        "attack_version": attack.version,
        "filters": index.filters.to_json(),
        "rules_counted": len(index.counted_uids()),
        "left_out": {reason: len(uids) for reason, uids in sorted(index.left_out.items())},
        "filtered_out": len(index.filtered_out),
        "tactics": tactics,
        "techniques": techniques,
        "gaps": [g.to_json() for g in gaps(index)],
        "retired": retired_tags(index),
    }


# -- Navigator layer -----------------------------------------------------------------------------------------

NAVIGATOR_LAYER_VERSION = "4.5"
NAVIGATOR_DOMAINS = ("enterprise-attack", "mobile-attack", "ics-attack")
NAVIGATOR_VERSION = "5.1.0"
NO_RULE_COLOR = "#f4a3a3"
GRADIENT = ("#ffffff", "#8ec5ff", "#1f5fbf")


def navigator_layer(index: CoverageIndex, name: str = "RuleAtlas coverage") -> dict[str, Any]:
    """An ATT&CK Navigator layer (format 4.5): one entry per technique and tactic, score = rule count;
    techniques without a rule have score 0, a colour of their own and the comment "no rule"."""
    attack = index.attack
    platform = index.filters.platform
    techniques: list[dict[str, Any]] = []
    top = 1
    for tech in sorted(attack.techniques.values(), key=lambda t: technique_sort_key(t.id)):
        if not _active(tech) or (platform and platform not in tech.platforms):
            continue
        for short in tech.tactics:
            tactic = attack.tactic(short)
            if tactic is None:
                continue
            n = len(index.technique_uids(tech.id, tactic.id, with_subs=not tech.is_subtechnique))
            top = max(top, n)
            entry: dict[str, Any] = {"techniqueID": tech.id, "tactic": short, "score": n}
            if n:
                entry["comment"] = f"{n} rule{'s' if n != 1 else ''}"
            else:
                entry |= {"comment": "no rule", "color": NO_RULE_COLOR}
            techniques.append(entry)
    left_out = ", ".join(f"{len(u)} {reason}" for reason, u in sorted(index.left_out.items()))
    description = "Detection rules per technique (score = number of rules"
    description += "; a parent counts its sub-techniques' rules)."
    if left_out:
        description += f" Left out: {left_out} rules."
    layer: dict[str, Any] = {
        "name": name,
        "versions": {
            "attack": attack.version,
            "navigator": NAVIGATOR_VERSION,
            "layer": NAVIGATOR_LAYER_VERSION,
        },
        "domain": attack.domain if attack.domain in NAVIGATOR_DOMAINS else "enterprise-attack",
        "description": description,
        "sorting": 3,
        "layout": {"layout": "side", "showID": True, "showName": True, "showAggregateScores": False},
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": list(GRADIENT), "minValue": 0, "maxValue": top},
        "legendItems": [{"label": "no rule", "color": NO_RULE_COLOR}],
        "metadata": [
            {"name": "generated by", "value": "RuleAtlas"},
            {"name": "rules counted", "value": str(len(index.counted_uids()))},
        ],
    }
    if platform:
        layer["filters"] = {"platforms": [platform]}
    for key, values in (("vendor", index.filters.vendors), ("level", index.filters.levels)):
        if values:
            layer["metadata"].append({"name": key, "value": ", ".join(values)})
    if index.filters.statuses:
        layer["metadata"].append({"name": "status", "value": ", ".join(index.filters.statuses)})
    return layer


def sorted_ids(ids: Iterable[str]) -> list[str]:
    return sorted(ids, key=technique_sort_key)


def parse_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """`"high,critical"` or `["high", "critical"]` -> ("high", "critical"); blanks dropped."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
