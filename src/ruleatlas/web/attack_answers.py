"""The ATT&CK answers of the pages, the API and `ruleatlas coverage`: coverage indexes, the matrix and the
technique, tactic and gaps reports, built from store/attack.py's rows by the analysis modules."""

from __future__ import annotations

from collections.abc import Iterable

from ruleatlas.analysis.coverage import AttackFilters, CoverageIndex, index_coverage
from ruleatlas.analysis.coverage_matrix import (
    GapsReport,
    Matrix,
    TacticReport,
    build_matrix,
    gaps_report,
    tactic_report,
)
from ruleatlas.analysis.technique_guide import (
    CorpusReach,
    TechniqueReport,
    group_rows,
    rule_keys,
    technique_report,
)
from ruleatlas.attack import AttackData
from ruleatlas.store.attack import (
    attack_data,
    corpus_reach,
    event_rows,
    indicator_rows,
    placements,
    tagged_rules,
)
from ruleatlas.store.catalog import Catalog


def coverage_index(
    catalog: Catalog,
    attack: AttackData,
    filters: AttackFilters | None = None,
    technique_ids: Iterable[str] | None = None,
) -> CoverageIndex:
    """The coverage of the whole catalog, or of the rules naming some techniques (with their other tags)."""
    if technique_ids is None:
        rules = tagged_rules(catalog)
        rows = placements(catalog)
    else:
        uids = {p.uid for p in placements(catalog, technique_ids)}
        rules = tagged_rules(catalog, uids)
        rows = placements(catalog, uids=uids)
    return index_coverage(attack, rules, rows, filters)


def attack_matrix(catalog: Catalog, filters: AttackFilters | None = None) -> Matrix | None:
    """The enterprise matrix with a rule count per cell (`ruleatlas.analysis.coverage` says what counts);
    None when the catalog has no ATT&CK data."""
    attack = attack_data(catalog)
    if attack is None:
        return None
    return build_matrix(coverage_index(catalog, attack, filters))


def covered_ids(attack: AttackData, technique_id: str) -> list[str]:
    """The ids whose rules a technique's report reads: itself, its sub-techniques, and the retired ids
    whose replacement is one of those."""
    tech = attack.technique(technique_id)
    if tech is None:
        return []
    ids = {tech.id}
    if tech.active:
        ids |= {t.id for t in attack.techniques.values() if t.parent == tech.id and t.is_subtechnique}
        ids |= {t.id for t in attack.techniques.values() if t.replaced_by in ids}
    return sorted(ids)


def technique_api(
    catalog: Catalog, technique_id: str, filters: AttackFilters | None = None
) -> TechniqueReport | None:
    """`/api/attack/techniques/{id}`: one technique's report (`technique_guide.technique_report`), reading
    only the rules under it. None for an id the ATT&CK data lacks (or no ATT&CK data)."""
    attack = attack_data(catalog)
    if attack is None or attack.technique(technique_id) is None:
        return None
    index = coverage_index(catalog, attack, filters, covered_ids(attack, technique_id))
    uids = list(index.rules)
    rows = indicator_rows(catalog, uids)
    return technique_report(
        index,
        technique_id,
        rule_keys(rows),
        group_rows(event_rows(catalog, uids)),
        CorpusReach(corpus_reach(catalog, {r.key for r in rows}), spellings=catalog.spellings()),
    )


def tactic_api(catalog: Catalog, tactic_id: str, filters: AttackFilters | None = None) -> TacticReport | None:
    """`/api/attack/tactics/{id}`: the tactic's techniques with their counts (None for an unknown id)."""
    attack = attack_data(catalog)
    if attack is None:
        return None
    index = coverage_index(catalog, attack, filters)
    return tactic_report(index, build_matrix(index), tactic_id)


def gaps_api(catalog: Catalog, filters: AttackFilters | None = None) -> GapsReport | None:
    """`/api/attack/gaps`: active techniques with no counted rule (for a platform, with `filters`)."""
    attack = attack_data(catalog)
    if attack is None:
        return None
    return gaps_report(coverage_index(catalog, attack, filters))
