"""The matrix, the gaps and the summaries built from a `CoverageIndex` (`ruleatlas.analysis.coverage`,
whose docstring states the counting rules every page, API route and CLI command share).

- `Matrix` (`build_matrix`): tactics in matrix order, techniques with their sub-techniques, a count per cell;
- `gaps` / `gaps_report`: active techniques with no rule, for all platforms or one;
- `tactic_report`: one tactic's column; `coverage_summary`: per tactic and per technique, for the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from ruleatlas.analysis.coverage import (
    AttackFilters,
    CoverageIndex,
    FiltersJson,
    active,
    tactic_ids,
    technique_counts,
)
from ruleatlas.attack import AttackData, Technique, retired_note, technique_sort_key

# -- the matrix ----------------------------------------------------------------------------------------------


class RetiredTag(TypedDict):
    """A revoked, deprecated or moved technique counted rules still tag (`retired_tags`)."""

    id: str
    name: str
    status: str  # moved, revoked, deprecated or unknown
    note: str
    replaced_by: str  # where its rules count ("": nowhere)
    rules: int


class CellJson(TypedDict):
    id: str
    name: str
    rules: int
    own: int
    platforms: list[str]
    subtechniques: NotRequired[list[CellJson]]  # parents only


class ColumnJson(TypedDict):
    id: str
    shortname: str
    name: str
    techniques: int
    covered: int
    cells: list[CellJson]


class MatrixJson(TypedDict):
    """`/api/attack/matrix` and `ruleatlas coverage --matrix`."""

    attack_version: str
    filters: FiltersJson
    rules_counted: int
    left_out: dict[str, int]
    filtered_out: int
    retired: list[RetiredTag]
    tactics: list[ColumnJson]


class GapJson(TypedDict):
    id: str
    name: str
    tactics: list[str]
    is_subtechnique: bool
    platforms: list[str]


class GapsReport(TypedDict):
    attack_version: str
    filters: FiltersJson
    techniques: int
    subtechniques: int
    covered: int
    rules_counted: int
    gaps: list[GapJson]


class TacticReport(ColumnJson):
    attack_version: str
    filters: FiltersJson
    description: str
    url: str
    rules: int


class TacticSummary(TypedDict):
    id: str
    name: str
    techniques: int
    covered: int
    subtechniques: int
    subtechniques_covered: int
    rules: int


class TechniqueSummary(TypedDict):
    id: str
    name: str
    tactics: list[str]
    is_subtechnique: bool
    rules: int


class CoverageSummary(TypedDict):
    """`ruleatlas coverage --format json`."""

    attack_version: str
    filters: FiltersJson
    rules_counted: int
    left_out: dict[str, int]
    filtered_out: int
    tactics: list[TacticSummary]
    techniques: list[TechniqueSummary]
    gaps: list[GapJson]
    retired: list[RetiredTag]


@dataclass(slots=True)
class MatrixCell:
    technique_id: str
    name: str
    rules: int  # distinct counted rules under this tactic (a parent: with its sub-techniques)
    own: int  # the technique itself only
    platforms: tuple[str, ...]
    subtechniques: list[MatrixCell] = field(default_factory=list)

    def to_json(self) -> CellJson:
        out: CellJson = {
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

    def to_json(self) -> ColumnJson:
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
    retired: list[RetiredTag]

    def to_json(self) -> MatrixJson:
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
        if active(t) and not t.is_subtechnique and tactic_shortname in t.tactics and t.applies_to(platform)
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
                if tactic.shortname not in sub.tactics or not sub.applies_to(platform):
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


def retired_tags(index: CoverageIndex) -> list[RetiredTag]:
    """Revoked, deprecated or moved techniques counted rules still tag: where they went, or that they count
    nowhere."""
    attack = index.attack
    via: dict[str, set[str]] = {}
    target_of: dict[str, str] = {}
    for target, pairs in index.via.items():
        for old, uid in pairs:
            via.setdefault(old, set()).add(uid)
            target_of[old] = target
    out: list[RetiredTag] = []
    for old in sorted(set(via) | set(index.unreplaced), key=technique_sort_key):
        tech = attack.technique(old)
        out.append(
            {
                "id": old,
                "name": tech.name if tech else "",
                "status": "unknown"
                if tech is None
                else "moved"
                if tech.moved
                else "revoked"
                if tech.revoked
                else "deprecated",
                "note": retired_note(tech, attack) if tech else "not in the ATT&CK data",
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

    def to_json(self) -> GapJson:
        return {
            "id": self.technique_id,
            "name": self.name,
            "tactics": self.tactics,
            "is_subtechnique": self.is_subtechnique,
            "platforms": list(self.platforms),
        }


def gaps(index: CoverageIndex) -> list[Gap]:
    """Active techniques and sub-techniques with no counted rule; with a platform filter, only those that
    apply to that platform. A parent covered only through its sub-techniques is no gap."""
    attack = index.attack
    platform = index.filters.platform
    out = []
    for tid, n in technique_counts(index).items():
        tech = attack.techniques[tid]
        if n or not tech.applies_to(platform):
            continue
        out.append(Gap(tid, tech.name, tactic_ids(tech, attack), tech.is_subtechnique, tech.platforms))
    return sorted(out, key=lambda g: technique_sort_key(g.technique_id))


def gaps_report(index: CoverageIndex) -> GapsReport:
    """Techniques without a rule (for the index's platform, or all), with the totals they are out of."""
    attack = index.attack
    platform = index.filters.platform
    counts = technique_counts(index)
    applicable = [tid for tid in counts if attack.techniques[tid].applies_to(platform)]
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


def tactic_report(index: CoverageIndex, matrix: Matrix, tactic_id: str) -> TacticReport | None:
    """One tactic's column of the matrix with its ATT&CK facts (None for an id the data lacks)."""
    column = next((c for c in matrix.columns if c.tactic_id == tactic_id.strip().upper()), None)
    tactic = index.attack.tactic(column.shortname) if column is not None else None
    if column is None or tactic is None:
        return None
    uids = {uid for per_tactic in index.own.values() for uid in per_tactic.get(column.tactic_id, ())}
    report: TacticReport = {
        "attack_version": matrix.attack_version,
        "filters": matrix.filters.to_json(),
        "description": tactic.description,
        "url": tactic.url,
        "rules": len(uids),
        **column.to_json(),
    }
    return report


def coverage_summary(index: CoverageIndex) -> CoverageSummary:
    """Per tactic: techniques (and sub-techniques) applicable, covered, distinct rules; every applicable
    technique with its count; the gaps. The JSON of `ruleatlas coverage --format json`."""
    attack = index.attack
    platform = index.filters.platform
    counts = technique_counts(index)
    tactics: list[TacticSummary] = []
    for tactic in attack.tactics:
        ids = [
            tid
            for tid in counts
            if tactic.shortname in attack.techniques[tid].tactics
            and attack.techniques[tid].applies_to(platform)
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
    techniques: list[TechniqueSummary] = [
        {
            "id": tid,
            "name": attack.techniques[tid].name,
            "tactics": tactic_ids(attack.techniques[tid], attack),
            "is_subtechnique": attack.techniques[tid].is_subtechnique,
            "rules": n,
        }
        for tid, n in sorted(counts.items(), key=lambda kv: technique_sort_key(kv[0]))
        if attack.techniques[tid].applies_to(platform)
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
