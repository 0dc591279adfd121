"""`ruleatlas export`: JSON Lines and CSV of the rules a selection lists, with their indicators, and an ATT&CK
Navigator layer checked against the layer format 4.5 (mitre-attack/attack-navigator layers/spec/v4.5)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.build import build
from ruleatlas.cli import main
from ruleatlas.config import BuildConfig, SourceSpec

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def catalog(store_catalog: Path) -> Path:
    return store_catalog  # read only: the export tests share the store tests' build


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["export", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_writes_page_documents(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--catalog", str(catalog), "--format", "jsonl", "--technique", "T1059")
    assert code == 0 and err == "ruleatlas export: 3 rules (jsonl)\n"
    docs = [json.loads(line) for line in out.splitlines()]
    assert [d["title"] for d in docs] == [
        "Linux Base64 Decode Piped To Shell",
        "PowerShell Download Cradle",
        "Suspicious PowerShell Encoded Command",
    ]  # the browse list's order (the hunting query only with --retired or --kind hunting)
    image = next(i for i in docs[2]["indicators"] if i["field"] == "Image")
    assert image["corpus"] == {"total": 3, "by_vendor": {"sigma": 3}}  # as `show --json` has it


def test_csv_has_a_row_per_indicator(
    catalog: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "rules.csv"
    code, _, err = run(
        capsys, "--catalog", str(catalog), "--format", "csv", "--level", "critical", "-o", str(target)
    )
    assert code == 0 and "1 rules" in err
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert {(r["role"], r["field"], r["comparison"], r["value"]) for r in rows} == {
        ("indicator", "CommandLine", "contains", "sekurlsa::"),
        ("indicator", "CommandLine", "contains", "mimikatz"),
        ("exclusion", "Image", "ends_with", "\\admin_tool.exe"),
    }
    assert {r["uid"] for r in rows} == {"sigma/proc_creation_win_mimikatz_cli"}
    assert rows[0]["techniques"] == "T1003.001" and rows[0]["tactics"] == "TA0006"


def test_csv_keeps_rules_without_indicators_and_hostile_text(
    catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--catalog", str(catalog), "--format", "csv", "--logsource", "file_event")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows[0]["title"] == "<script>alert(1)</script> Hostile Title"  # data, not markup


def test_filters_like_the_browse_list(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def count(*args: str) -> int:
        return len(run(capsys, "--catalog", str(catalog), "--format", "jsonl", *args)[1].splitlines())

    assert count() == 10  # the deprecated rule and the hunting query only on request
    assert count("--retired") == 12
    assert count("--status", "deprecated") == 1
    assert count("--tactic", "persistence") == 2
    assert count("--level", "high,critical", "--product", "windows") == 3
    assert count("--vendor", "sigma", "--kind", "hunting") == 1
    code, out, err = run(capsys, "--catalog", str(catalog), "--format", "jsonl", "--level", "nope")
    assert (code, out, err) == (1, "", "ruleatlas export: 0 rules (jsonl)\n")  # nothing found: exit 1


def test_export_needs_a_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--catalog", str(tmp_path), "--format", "csv")
    assert code == 2 and f"no catalog in {tmp_path}" in err


# -- the Navigator layer ------------------------------------------------------------------------------------

HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
TECHNIQUE_ID = re.compile(r"T\d{4}(\.\d{3})?")
LAYER_KEYS = {
    "versions", "name", "description", "domain", "customDataURL", "filters", "sorting", "layout",
    "hideDisabled", "techniques", "gradient", "legendItems", "showTacticRowBackground", "tacticRowBackground",
    "selectTechniquesAcrossTactics", "selectSubtechniquesWithParent", "selectVisibleTechniques", "metadata",
    "links",
}  # fmt: skip
TECHNIQUE_KEYS = {
    "techniqueID",
    "tactic",
    "comment",
    "enabled",
    "score",
    "color",
    "metadata",
    "links",
    "showSubtechniques",
}
LAYOUT_KEYS = {"layout", "showID", "showName", "showAggregateScores", "countUnscored", "aggregateFunction",
               "expandedSubtechniques"}  # fmt: skip


def layer_problems(layer: Any, tactics: set[str]) -> list[str]:
    """Every way `layer` departs from the Navigator layer format 4.5 (required properties, types, values)."""
    problems = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    need(isinstance(layer, dict), "a layer is an object")
    need(set(layer) <= LAYER_KEYS, f"unknown properties {set(layer) - LAYER_KEYS}")
    need(isinstance(layer.get("name"), str) and bool(layer["name"]), "name: required string")
    need(layer.get("domain") in ("enterprise-attack", "mobile-attack", "ics-attack"), "domain")
    versions = layer.get("versions", {})
    need(versions.get("layer") == "4.5", "versions.layer must be 4.5")
    navigator = tuple(int(p) for p in str(versions.get("navigator", "0")).split("."))
    need(navigator >= (4, 9, 0), "versions.navigator must be at least 4.9.0")
    need(isinstance(versions.get("attack", ""), str), "versions.attack: string")
    need(layer.get("sorting", 0) in (0, 1, 2, 3), "sorting: 0..3")
    need(isinstance(layer.get("description", ""), str), "description: string")
    need(isinstance(layer.get("hideDisabled", False), bool), "hideDisabled: boolean")
    layout = layer.get("layout", {})
    need(set(layout) <= LAYOUT_KEYS, f"layout: unknown {set(layout) - LAYOUT_KEYS}")
    need(layout.get("layout", "side") in ("side", "flat", "mini"), "layout.layout")
    platforms = layer.get("filters", {}).get("platforms", [])
    need(isinstance(platforms, list) and all(isinstance(p, str) for p in platforms), "filters.platforms")
    for t in layer.get("techniques", []):
        need(set(t) <= TECHNIQUE_KEYS, f"technique: unknown {set(t) - TECHNIQUE_KEYS}")
        need(
            bool(TECHNIQUE_ID.fullmatch(str(t.get("techniqueID", "")))), f"techniqueID {t.get('techniqueID')}"
        )
        need(t.get("tactic", next(iter(tactics))) in tactics, f"tactic {t.get('tactic')}")
        need(
            isinstance(t.get("score", 0), int | float) and not isinstance(t.get("score"), bool),
            "score: number",
        )
        need(bool(HEX_COLOR.fullmatch(t["color"])) if "color" in t else True, "color: #rrggbb")
        need(isinstance(t.get("comment", ""), str), "comment: string")
    gradient = layer.get("gradient")
    if gradient is not None:
        colors = gradient.get("colors", [])
        need(len(colors) >= 2 and all(HEX_COLOR.fullmatch(c) for c in colors), "gradient.colors")
        need(gradient.get("maxValue", 0) > gradient.get("minValue", 0), "gradient: maxValue > minValue")
    for item in layer.get("legendItems", []):
        need(set(item) == {"label", "color"} and bool(HEX_COLOR.fullmatch(item["color"])), "legendItems")
    for item in layer.get("metadata", []):
        need(
            item == {"divider": True}
            or (set(item) == {"name", "value"} and all(isinstance(v, str) for v in item.values())),
            "metadata",
        )
    return problems


def test_navigator_layer_is_loadable_as_is(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--catalog", str(catalog), "--format", "navigator", "--product", "windows")
    assert code == 0 and "7 rules" in err  # the hunting query is not a detection: only on request
    layer = json.loads(out)
    tactics = {"execution", "persistence", "privilege-escalation", "defense-evasion", "credential-access",
               "command-and-control"}  # fmt: skip
    assert layer_problems(layer, tactics) == []
    scores = {(t["techniqueID"], t["tactic"]): t["score"] for t in layer["techniques"]}
    assert scores[("T1059", "execution")] == 2  # two windows detection rules (the hunting one is left out)
    assert scores[("T1059.001", "execution")] == 2
    assert scores[("T1003", "credential-access")] == 1
    assert scores[("T1547", "persistence")] == 1
    assert {"name": "rules selected", "value": "7"} in layer["metadata"]


def test_the_validator_catches_bad_layers() -> None:
    tactics = {"execution"}
    good = {"name": "x", "domain": "enterprise-attack", "versions": {"layer": "4.5", "navigator": "5.1.0"}}
    assert layer_problems(good, tactics) == []
    assert layer_problems({**good, "versions": {"layer": "4.4", "navigator": "4.8.0"}}, tactics) == [
        "versions.layer must be 4.5", "versions.navigator must be at least 4.9.0",
    ]  # fmt: skip
    assert layer_problems(
        {**good, "techniques": [{"techniqueID": "1059", "tactic": "nope", "score": "9"}]}, tactics
    )
    assert layer_problems({**good, "gradient": {"colors": ["#fff"], "minValue": 1, "maxValue": 1}}, tactics)
    assert layer_problems({**good, "colour": "red"}, tactics) == ["unknown properties {'colour'}"]


def test_navigator_needs_attack_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    build(BuildConfig(out=out, sources=[SourceSpec("sigma", DATA / "browse" / "sigma")], jobs=1, pages=False))
    code, _, err = run(capsys, "--catalog", str(out), "--format", "navigator")
    assert code == 2 and "built without ATT&CK data" in err
