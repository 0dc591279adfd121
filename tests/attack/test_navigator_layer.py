"""`ruleatlas coverage --format navigator` layers against the Navigator layer format 4.5."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from navigator_schema import validate_layer

from ruleatlas.analysis.coverage import AttackFilters, navigator_layer
from ruleatlas.cli import main
from ruleatlas.store import attack as store_attack
from ruleatlas.store import open_catalog
from ruleatlas.web import attack_answers


def layer_of(catalog_dir: Path, filters: AttackFilters | None = None) -> tuple[dict[str, Any], set[str]]:
    with open_catalog(catalog_dir) as catalog:
        attack = store_attack.attack_data(catalog)
        assert attack is not None
        index = attack_answers.coverage_index(catalog, attack, filters)
    return navigator_layer(index), {t.shortname for t in attack.tactics}


def test_the_validator_catches_what_the_format_forbids(attack_catalog: Path) -> None:
    layer, shortnames = layer_of(attack_catalog)
    assert validate_layer(layer, shortnames) == []
    broken = copy.deepcopy(layer)
    broken["versions"]["layer"] = "4.4"
    broken["versions"]["navigator"] = "4.8.1"
    broken["domain"] = "mitre-enterprise"
    broken["techniques"][0]["techniqueID"] = "1572"
    broken["techniques"][0]["tactic"] = "stealthy-ops"
    broken["techniques"][0]["score"] = True
    broken["gradient"]["maxValue"] = -1
    broken["legendItems"].append({"label": "x"})
    broken["colour"] = "red"
    del broken["name"]
    assert validate_layer(broken, shortnames) == [
        "$.name: required",
        "$.colour: not a property of the layer format",
        "$.versions.layer: must be '4.5', got '4.4'",
        "$.versions.navigator: must be at least 4.9.0, got 4.8.1",
        "$.domain: one of ('enterprise-attack', 'mobile-attack', 'ics-attack'), got 'mitre-enterprise'",
        "$.techniques[0].score: a boolean where a number belongs",
        "$.techniques[0].techniqueID: required, T#### or T####.###",
        "$.techniques[0].tactic: not a tactic shortname of the domain: 'stealthy-ops'",
        "$.gradient: minValue and maxValue required, maxValue > minValue",
        "$.legendItems[1]: label and a hexadecimal colour",
    ]


def test_scores_are_rule_counts_and_gaps_are_marked(attack_catalog: Path) -> None:
    layer, _ = layer_of(attack_catalog)
    by_key = {(t["techniqueID"], t["tactic"]): t for t in layer["techniques"]}
    assert by_key[("T1572", "command-and-control")]["score"] == 3
    assert by_key[("T1059", "execution")]["score"] == 2  # with its sub-technique's rules
    assert by_key[("T1053.005", "persistence")]["score"] == 1
    gap = by_key[("T1547", "persistence")]
    assert (
        gap["score"] == 0 and gap["comment"] == "no rule" and gap["color"] == layer["legendItems"][0]["color"]
    )
    assert layer["legendItems"][0]["label"] == "no rule"
    assert ("T1086", "execution") not in by_key  # revoked ids are not in the layer
    assert layer["gradient"]["maxValue"] == 3
    assert layer["versions"] == {
        "attack": "18.1",
        "navigator": layer["versions"]["navigator"],
        "layer": "4.5",
    }


def test_platform_layer_has_the_filter(attack_catalog: Path) -> None:
    layer, shortnames = layer_of(attack_catalog, AttackFilters(platform="Linux"))
    assert validate_layer(layer, shortnames) == []
    assert layer["filters"] == {"platforms": ["Linux"]}
    assert {t["techniqueID"] for t in layer["techniques"]}.isdisjoint(
        {"T1059.001", "T1003.001"}
    )  # Windows only


def test_cli_layer_validates(attack_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage", "--catalog", str(attack_catalog), "--format", "navigator"]) == 0
    layer = json.loads(capsys.readouterr().out)
    assert validate_layer(layer) == []


@pytest.mark.corpus
def test_corpus_layer_validates(corpus_catalog: Path) -> None:
    for filters in (None, AttackFilters(platform="Windows")):
        layer, shortnames = layer_of(corpus_catalog, filters)
        assert validate_layer(layer, shortnames) == []
        assert len(layer["techniques"]) > 500
