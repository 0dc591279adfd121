"""The counting rules of the ATT&CK views on the fixture corpus: tactics, sub-techniques, revoked and
deprecated ids, left-out kinds, platforms and filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from independent import independent_cells

from ruleatlas.analysis.coverage import (
    AttackFilters,
    index_coverage,
    resolve_platform,
    restrict,
    rule_platforms,
)
from ruleatlas.analysis.coverage_matrix import build_matrix, coverage_summary, gaps
from ruleatlas.store import Catalog, open_catalog
from ruleatlas.store import attack as store_attack
from ruleatlas.web import attack_answers


def cells_of(catalog: Catalog, filters: AttackFilters | None = None) -> dict[tuple[str, str], int]:
    matrix = attack_answers.attack_matrix(catalog, filters)
    assert matrix is not None
    out = {}
    for column in matrix.columns:
        for cell in column.cells:
            out[(column.tactic_id, cell.technique_id)] = cell.rules
            for sub in cell.subtechniques:
                out[(column.tactic_id, sub.technique_id)] = sub.rules
    return out


def test_matrix_counts_equal_an_independent_count_of_the_documents(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        attack = store_attack.attack_data(catalog)
        assert attack is not None
        docs = [doc for _, doc in catalog.raw_documents(s["uid"] for s in catalog.summaries())]
        cells = cells_of(catalog)
    expected = independent_cells(docs, attack)
    assert {k: n for k, n in cells.items() if n} == {k: len(v) for k, v in expected.items()}


def test_cells_by_tactic_sub_technique_and_replacement(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        cells = cells_of(catalog)
    assert cells[("TA0011", "T1572")] == 3  # windows, linux, proxy; hunting and deprecated left out
    assert cells[("TA0011", "T1090")] == 1 and cells[("TA0011", "T1090.001")] == 0
    # T1059.001 directly, and T1086 (revoked, replaced by T1059.001); the parent counts both.
    assert cells[("TA0002", "T1059.001")] == 2
    assert cells[("TA0002", "T1059")] == 2
    # The rule names Persistence: T1053.005 counts there, not under Execution or Privilege Escalation.
    assert cells[("TA0003", "T1053.005")] == 1 and cells[("TA0003", "T1053")] == 1
    assert cells[("TA0002", "T1053")] == 0 and cells[("TA0004", "T1053")] == 0
    # attack.stealth (ATT&CK v19) resolves to Defense Evasion in v18 data.
    assert cells[("TA0005", "T1036")] == 1
    assert ("TA0011", "T1043") not in cells  # deprecated: no cell
    assert ("TA0002", "T1086") not in cells  # revoked: no cell


def test_left_out_and_retired_are_reported(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        matrix = attack_answers.attack_matrix(catalog)
        without = store_attack.counted_rules_without_techniques(catalog)
    assert matrix is not None
    assert matrix.left_out == {"deprecated": 1, "hunting-only": 1, "unsupported": 1}
    assert matrix.retired == [
        {
            "id": "T1043",
            "name": "Commonly Used Port",
            "status": "deprecated",
            "note": "deprecated",
            "replaced_by": "",
            "rules": 1,
        },
        {
            "id": "T1086",
            "name": "PowerShell",
            "status": "revoked",
            "note": "revoked; replaced by T1059.001",
            "replaced_by": "T1059.001",
            "rules": 1,
        },
    ]
    assert matrix.rules_counted == 9  # the 11 detection rules less untagged and old_port (T1043)
    assert without == 1


@pytest.mark.parametrize(
    ("platform", "cell", "count"),
    [
        ("Windows", ("TA0011", "T1572"), 1),
        ("Linux", ("TA0011", "T1572"), 1),
        ("macOS", ("TA0011", "T1572"), 0),
        ("Windows", ("TA0006", "T1003"), 0),
        ("Windows", ("TA0002", "T1059"), 2),
    ],
)
def test_platform_filter(attack_catalog: Path, platform: str, cell: tuple[str, str], count: int) -> None:
    with open_catalog(attack_catalog) as catalog:
        cells = cells_of(catalog, AttackFilters(platform=platform))
    assert cells.get(cell, 0) == count


def test_platform_filter_hides_techniques_of_other_platforms(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        cells = cells_of(catalog, AttackFilters(platform="Windows"))
    assert ("TA0005", "T1647") not in cells  # Plist File Modification is macOS only
    assert ("TA0002", "T1059.001") in cells


def test_vendor_level_status_filters(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        assert cells_of(catalog, AttackFilters(levels=("high",)))[("TA0011", "T1572")] == 1
        assert cells_of(catalog, AttackFilters(levels=("high", "medium")))[("TA0011", "T1572")] == 2
        assert cells_of(catalog, AttackFilters(statuses=("experimental",)))[("TA0011", "T1572")] == 1
        assert cells_of(catalog, AttackFilters(vendors=("elastic",)))[("TA0011", "T1572")] == 0
        assert cells_of(catalog, AttackFilters(vendors=("sigma",)))[("TA0011", "T1572")] == 3


def test_restrict_agrees_with_filtering_the_rows(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        attack = store_attack.attack_data(catalog)
        assert attack is not None
        rules, rows = store_attack.tagged_rules(catalog), store_attack.placements(catalog)
    base = index_coverage(attack, rules, rows)
    for filters in (AttackFilters(platform="Windows"), AttackFilters(levels=("medium",), platform="Linux")):
        direct = index_coverage(attack, rules, rows, filters)
        derived = restrict(base, filters)
        assert derived.own == direct.own
        assert derived.filtered_out == direct.filtered_out
        assert build_matrix(derived).to_json() == build_matrix(direct).to_json()
    with pytest.raises(ValueError, match="unfiltered"):
        restrict(restrict(base, AttackFilters(platform="Windows")), AttackFilters(platform="Linux"))


def test_gaps_all_platforms_and_per_platform(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        attack = store_attack.attack_data(catalog)
        assert attack is not None
        index = attack_answers.coverage_index(catalog, attack)
        windows = attack_answers.coverage_index(catalog, attack, AttackFilters(platform="Windows"))
    all_gaps = [g.technique_id for g in gaps(index)]
    assert all_gaps == ["T1003.001", "T1090.001", "T1547", "T1647"]
    assert "T1059" not in all_gaps  # covered through its sub-technique only: no gap
    windows_gaps = [g.technique_id for g in gaps(windows)]
    # T1003 is covered on IaaS only; T1647 is macOS only, so no Windows gap.
    assert windows_gaps == ["T1003", "T1003.001", "T1090.001", "T1547"]


def test_summary_per_tactic(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        attack = store_attack.attack_data(catalog)
        assert attack is not None
        summary = coverage_summary(attack_answers.coverage_index(catalog, attack))
    c2 = next(t for t in summary["tactics"] if t["id"] == "TA0011")
    assert c2 == {
        "id": "TA0011",
        "name": "Command and Control",
        "techniques": 3,
        "covered": 3,
        "subtechniques": 1,
        "subtechniques_covered": 0,
        "rules": 4,
    }
    assert {t["id"]: t["rules"] for t in summary["techniques"]}["T1572"] == 3


@pytest.mark.parametrize(
    ("product", "service", "platforms"),
    [
        ("windows", "", ("Windows",)),
        ("Linux", "", ("Linux",)),
        ("azure", "signinlogs", ("Identity Provider",)),
        ("azure", "activitylogs", ("IaaS",)),
        ("m365", "audit", ("Office Suite", "SaaS")),
        ("", "", ()),
        ("zeek", "dns", ()),
    ],
)
def test_rule_platforms(product: str, service: str, platforms: tuple[str, ...]) -> None:
    assert rule_platforms(product, service) == platforms


def test_platform_names_resolve_case_and_spelling_free(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        attack = store_attack.attack_data(catalog)
    assert attack is not None
    assert resolve_platform("windows", attack) == "Windows"
    assert resolve_platform("MACOS", attack) == "macOS"
    assert resolve_platform("plan9", attack) is None
    # The fixture bundle has no cloud platform: the aws rule then counts only under "any platform".
    assert resolve_platform("iaas", attack) is None
