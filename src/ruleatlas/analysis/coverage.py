"""ATT&CK coverage of the catalog: which detection rules cover which technique, under which tactic.

Pure functions over plain rows (the store's `ruleatlas.store.attack` reads them) and `AttackData`:

- `CoverageIndex` (`index_coverage`, `restrict`): rules per (technique, tactic) after the counting rules
  below, the retired techniques rules still tag, and what was left out and why;
- `navigator_layer`: the coverage as an ATT&CK Navigator layer (format 4.5);
- the matrix, gaps and summaries built from an index are in `coverage_matrix`.

Counting rules, shared by every page, API route and CLI command so that they all agree:

- detection rules only: deprecated, unsupported, hunting, enrichment and alert-feed rules (by kind, or by
  status for the first two) are left out and reported as such;
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
from typing import NotRequired, TypedDict

from ruleatlas.attack import AttackData, Technique, technique_sort_key
from ruleatlas.model import DETECTION_KINDS, RuleKind

# Why a kind of rule that is not a detection (`model.DETECTION_KINDS`) is left out, as readers are told.
_LEFT_OUT_REASONS: dict[RuleKind, str] = {
    RuleKind.DEPRECATED: "deprecated",
    RuleKind.UNSUPPORTED: "unsupported",
    RuleKind.HUNTING: "hunting-only",
    RuleKind.FILTER: "filter",
    RuleKind.ENRICHMENT: "enrichment or lookup",
    RuleKind.ALERT_FEED: "third-party alert feed",
}
# Kinds (and statuses) of rules that the coverage never counts, with the reason shown to readers.
LEFT_OUT_KINDS: dict[str, str] = {
    kind.value: _LEFT_OUT_REASONS.get(kind, kind.value) for kind in RuleKind if kind not in DETECTION_KINDS
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
    found = {p for t in attack.techniques.values() if active(t) for p in t.platforms}
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


def active(tech: Technique) -> bool:
    """Neither revoked, deprecated, nor dropped by a newer version: a technique the matrix shows."""
    return tech.active


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
    validated: bool = False  # some log sample fires it (the build's fires-on pass)

    def left_out_reason(self) -> str:
        """Why the coverage does not count this rule ("" when it does)."""
        return LEFT_OUT_KINDS.get(self.kind) or LEFT_OUT_STATUSES.get(self.status, "")


@dataclass(slots=True)
class Placement:
    """One rule_techniques row: a rule names a technique, placed under a tactic ("" if none)."""

    uid: str
    technique_id: str
    tactic_id: str


class FiltersJson(TypedDict):
    """The filters an answer was computed with, as the API echoes them."""

    vendor: list[str]
    platform: str
    level: list[str]
    status: list[str]
    validated: bool


@dataclass(slots=True)
class AttackFilters:
    """Which counted rules to look at; an empty tuple or "" means any."""

    vendors: tuple[str, ...] = ()
    platform: str = ""
    levels: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    validated: bool = False  # only rules some log sample fires

    def __bool__(self) -> bool:
        return bool(self.vendors or self.platform or self.levels or self.statuses or self.validated)

    def accepts(self, rule: RuleInfo, platforms: set[str] | None = None) -> bool:
        """`platforms`: the rule's platforms in the data's names (computed by the caller, once per rule)."""
        if self.vendors and rule.vendor not in self.vendors:
            return False
        if self.levels and rule.level not in self.levels:
            return False
        if self.statuses and rule.status not in self.statuses:
            return False
        if self.validated and not rule.validated:
            return False
        return not self.platform or (platforms is not None and self.platform in platforms)

    def to_json(self) -> FiltersJson:
        return {
            "vendor": list(self.vendors),
            "platform": self.platform,
            "level": list(self.levels),
            "status": list(self.statuses),
            "validated": self.validated,
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
        if tech.is_subtechnique and tech.parent and active(tech):
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
    return target if target is not None and active(target) else None


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
        if not active(tech):
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


def technique_counts(index: CoverageIndex) -> dict[str, int]:
    """Every active technique -> distinct counted rules, any tactic (a parent: with its sub-techniques)."""
    return {
        tid: len(index.technique_uids(tid)) for tid, tech in index.attack.techniques.items() if active(tech)
    }


# -- Navigator layer -----------------------------------------------------------------------------------------

NAVIGATOR_LAYER_VERSION = "4.5"
NAVIGATOR_DOMAINS = ("enterprise-attack", "mobile-attack", "ics-attack")
NAVIGATOR_VERSION = "5.1.0"
NO_RULE_COLOR = "#f4a3a3"
GRADIENT = ("#ffffff", "#8ec5ff", "#1f5fbf")


class LayerTechnique(TypedDict):
    techniqueID: str
    tactic: str
    score: int
    comment: str
    color: NotRequired[str]  # techniques without a rule only


class LayerVersions(TypedDict):
    attack: str
    navigator: str
    layer: str


class LayerLayout(TypedDict):
    layout: str
    showID: bool
    showName: bool
    showAggregateScores: bool


class LayerGradient(TypedDict):
    colors: list[str]
    minValue: int
    maxValue: int


class LayerLegendItem(TypedDict):
    label: str
    color: str


class LayerMetadata(TypedDict):
    name: str
    value: str


class LayerFilters(TypedDict):
    platforms: list[str]


class NavigatorLayer(TypedDict):
    """An ATT&CK Navigator layer file (format 4.5), as far as RuleAtlas writes one."""

    name: str
    versions: LayerVersions
    domain: str
    description: str
    sorting: int
    layout: LayerLayout
    hideDisabled: bool
    techniques: list[LayerTechnique]
    gradient: LayerGradient
    legendItems: list[LayerLegendItem]
    metadata: list[LayerMetadata]
    filters: NotRequired[LayerFilters]


def navigator_layer(index: CoverageIndex, name: str = "RuleAtlas coverage") -> NavigatorLayer:
    """An ATT&CK Navigator layer (format 4.5): one entry per technique and tactic, score = rule count;
    techniques without a rule have score 0, a colour of their own and the comment "no rule"."""
    attack = index.attack
    platform = index.filters.platform
    techniques: list[LayerTechnique] = []
    top = 1
    for tech in sorted(attack.techniques.values(), key=lambda t: technique_sort_key(t.id)):
        if not active(tech) or not tech.applies_to(platform):
            continue
        for short in tech.tactics:
            tactic = attack.tactic(short)
            if tactic is None:
                continue
            n = len(index.technique_uids(tech.id, tactic.id, with_subs=not tech.is_subtechnique))
            top = max(top, n)
            entry: LayerTechnique = {
                "techniqueID": tech.id,
                "tactic": short,
                "score": n,
                "comment": f"{n} rule{'s' if n != 1 else ''}" if n else "no rule",
            }
            if not n:
                entry["color"] = NO_RULE_COLOR
            techniques.append(entry)
    left_out = ", ".join(f"{len(u)} {reason}" for reason, u in sorted(index.left_out.items()))
    description = "Detection rules per technique (score = number of rules"
    description += "; a parent counts its sub-techniques' rules)."
    if left_out:
        description += f" Left out: {left_out} rules."
    layer: NavigatorLayer = {
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


def parse_list(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """`"high,critical"` or `["high", "critical"]` -> ("high", "critical"); blanks dropped."""
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    return tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
