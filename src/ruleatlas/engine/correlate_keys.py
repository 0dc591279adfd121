"""Partition keys for running correlations apart, one `Correlator` per key (the Spark engine's second stage).

A correlation's state is per group: the values of its group-by fields. Matches can therefore be split by
those values and each part fed to a correlator of its own, which gives the same alerts as one correlator
over everything, provided that everything one group window can see lands in the same part:

- Correlations that refer to each other (a chain) run together: they form one *family*, and a family's
  key is built from the group-by names all its correlations share (a chained correlation groups by fields
  of the alerts below it). A family whose correlations share no name has one key: it runs unsplit.
- A rule's events are keyed by the fields its slots read for those names (aliases applied). When two slots
  of the same family read different fields for a name, one event could belong to two groups: that family
  runs unsplit too.
- Values are compared as the correlator compares them (`comparable`: case-folded, numbers as their text);
  a missing value is a key of its own, and the correlator reports the event as skipped there.

`keys(uid, fields)` gives the (family, key) pairs of one match; `correlations(family)` the correlation rules
to give that family's correlator. Problems of the correlations are the correlator's (`Correlator.problems`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ruleatlas.engine.correlate import comparable
from ruleatlas.engine.correlate_rules import CompiledCorrelation, compile_correlations
from ruleatlas.logs.event import lookup
from ruleatlas.model import Rule

Key = tuple[str | None, ...]


@dataclass(slots=True, frozen=True)
class Family:
    """Correlations that chain into each other, and how their base rules' events are keyed."""

    correlations: tuple[Rule, ...]
    # base rule uid -> the event fields giving the key, in `names` order (empty: one key for the family)
    key_fields: Mapping[str, tuple[str, ...]]


class PartitionKeys:
    def __init__(self, correlations: Sequence[Rule], base_rules: Sequence[Rule]) -> None:
        specs, _problems = compile_correlations(correlations, base_rules)  # reported by the Correlator
        self.families: list[Family] = [_family(group) for group in _chains(specs)]
        self._of_rule: dict[str, list[int]] = {}
        for number, family in enumerate(self.families):
            for uid in family.key_fields:
                self._of_rule.setdefault(uid, []).append(number)

    @property
    def referenced_uids(self) -> frozenset[str]:
        return frozenset(self._of_rule)

    def keys(self, uid: str, fields: dict[str, object]) -> list[tuple[int, Key]]:
        """The (family, key) of each family that a match of rule `uid` with these event fields feeds."""
        out: list[tuple[int, Key]] = []
        for number in self._of_rule.get(uid, ()):
            names = self.families[number].key_fields[uid]
            values = (lookup(fields, name) for name in names)
            out.append((number, tuple(None if v is None else comparable(v) for v in values)))
        return out

    def correlations(self, family: int) -> list[Rule]:
        return list(self.families[family].correlations)


def _chains(specs: Sequence[CompiledCorrelation]) -> list[list[CompiledCorrelation]]:
    """Correlations grouped by reference (either way), in input order."""
    by_uid = {spec.rule.uid: spec for spec in specs}
    parent: dict[str, str] = {uid: uid for uid in by_uid}

    def root(uid: str) -> str:
        while parent[uid] != uid:
            parent[uid] = parent[parent[uid]]
            uid = parent[uid]
        return uid

    for spec in specs:
        for slot in spec.slots:
            for target in slot.rules:
                if target.uid in by_uid:
                    parent[root(target.uid)] = root(spec.rule.uid)
    groups: dict[str, list[CompiledCorrelation]] = {}
    for spec in specs:
        groups.setdefault(root(spec.rule.uid), []).append(spec)
    return list(groups.values())


def _family(specs: Sequence[CompiledCorrelation]) -> Family:
    uids = {spec.rule.uid for spec in specs}
    shared = set(specs[0].group_by)
    for spec in specs[1:]:
        shared &= set(spec.group_by)
    names = sorted(shared)
    fields: dict[str, set[tuple[str, ...]]] = {}
    for spec in specs:
        for slot in spec.slots:
            by_name = dict(zip(spec.group_by, slot.group_fields, strict=True))
            for target in slot.rules:
                if target.uid not in uids:  # a base rule (a chained correlation's alerts stay inside)
                    fields.setdefault(target.uid, set()).add(tuple(by_name[name] for name in names))
    split = all(len(choices) == 1 for choices in fields.values())
    key_fields = {uid: (next(iter(choices)) if split else ()) for uid, choices in fields.items()}
    return Family(tuple(spec.rule for spec in specs), key_fields)
