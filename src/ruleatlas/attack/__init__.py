"""MITRE ATT&CK: load a STIX 2.x bundle into a compact `AttackData`, and map rule tags to ATT&CK coverage.

Reads the official `enterprise-attack.json` of mitre-attack/attack-stix-data (STIX 2.1) or of mitre/cti
(STIX 2.0), and subsets of it holding the same object types. The catalog stores `AttackData.to_json()` and
reloads it with `AttackData.from_json()`, so pages never re-read STIX.

- `data`: the dataclasses and their JSON form; `stix`: the loader; `overlay`: a newer version's names and
  tactics laid over the STIX data (ATT&CK v19 over v18.1); `tags`: tag parsing and `map_tags`.
"""

from ruleatlas.attack.data import (
    JSON_FORMAT,
    AttackData,
    AttackDataError,
    Tactic,
    Technique,
    technique_sort_key,
)
from ruleatlas.attack.stix import find_bundle, load_attack, load_stix
from ruleatlas.attack.tags import (
    TACTIC_ALIASES,
    AttackCoverage,
    AttackTag,
    TacticCoverage,
    TechniqueRef,
    map_tags,
    parse_attack_tag,
    resolve_tactic,
    retired_note,
)

__all__ = [
    "JSON_FORMAT",
    "TACTIC_ALIASES",
    "AttackCoverage",
    "AttackData",
    "AttackDataError",
    "AttackTag",
    "Tactic",
    "TacticCoverage",
    "Technique",
    "TechniqueRef",
    "find_bundle",
    "load_attack",
    "load_stix",
    "map_tags",
    "parse_attack_tag",
    "resolve_tactic",
    "retired_note",
    "technique_sort_key",
]
