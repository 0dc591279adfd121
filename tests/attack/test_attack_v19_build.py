"""A small catalog of our own rules (tests/data/attack_v19) built against ../shared's ATT&CK (v19 over v18.1):
v18.1-only tags count under their v19 successor, pages say so, unknown tags are build problems."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ruleatlas.build import build
from ruleatlas.cli import main
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.store import open_catalog
from ruleatlas.web import attack_answers, urls

CORPUS = Path(__file__).resolve().parents[1] / "data" / "attack_v19" / "sigma"


@pytest.fixture(scope="module")
def v19_catalog(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("attack-v19")
    config = BuildConfig(out=out, sources=[SourceSpec("sigma", CORPUS)], attack=shared_dir / "attack", jobs=1)
    build(config, log=io.StringIO())
    return out


def coverage(catalog: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> dict:  # type: ignore[type-arg]
    assert main(["coverage", "--catalog", str(catalog), "--format", fmt]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_v18_ids_count_under_their_v19_successor(
    v19_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = coverage(v19_catalog, capsys, "json")
    rules = {t["id"]: t["rules"] for t in summary["techniques"]}
    # T1685 counts the t1562.001 rule and the t1070.001 rule (through its sub-technique T1685.005).
    assert (rules["T1685"], rules["T1685.005"], rules["T1686.003"], rules["T1686"]) == (2, 1, 1, 1)
    gaps = {g["id"] for g in summary["gaps"]}
    assert not {"T1685", "T1685.005", "T1686.003"} & gaps
    assert not {"T1562", "T1562.001", "T1070.001"} & {t["id"] for t in summary["techniques"]}
    tactics = {t["id"]: t for t in summary["tactics"]}
    assert tactics["TA0112"]["rules"] == 3 and tactics["TA0005"]["rules"] == 0
    retired = {r["id"]: r for r in summary["retired"]}
    assert retired["T1562.001"] == {
        "id": "T1562.001",
        "name": "Disable or Modify Tools",
        "status": "moved",
        "note": "moved to T1685 in v19 (by name)",
        "replaced_by": "T1685",
        "rules": 1,
    }
    layer = coverage(v19_catalog, capsys, "navigator")
    cells = {(t["techniqueID"], t["tactic"]): t["score"] for t in layer["techniques"]}
    assert cells[("T1685", "defense-impairment")] == 2 and cells[("T1685.005", "defense-impairment")] == 1


def test_rule_page_shows_the_tag_as_written_and_the_move(v19_catalog: Path) -> None:
    with open_catalog(v19_catalog) as catalog:
        [(_, doc)] = list(catalog.raw_documents(["sigma/disable_defender"]))
    [tactic] = doc["attack"]
    assert (tactic["tactic"], tactic["tactic_id"], tactic["tagged_as"]) == (
        "Defense Impairment",
        "TA0112",
        ["attack.defense-evasion"],
    )
    assert tactic["techniques"][0]["note"] == "moved to T1685 in v19 (by name)"
    html = (v19_catalog / "site" / "rules" / "sigma" / "disable_defender" / "index.html").read_text("utf-8")
    assert "tagged <code>attack.defense-evasion</code>" in html
    assert "T1562.001</span> Disable or Modify Tools</a>" in html
    assert "— moved to T1685 in v19 (by name)" in html


def test_technique_pages(v19_catalog: Path) -> None:
    with open_catalog(v19_catalog) as catalog:
        t1685 = attack_answers.technique_api(catalog, "T1685")
        old = attack_answers.technique_api(catalog, "T1562.001")
    assert t1685 is not None and old is not None
    assert [r["uid"] for r in t1685["rules"]] == ["sigma/disable_defender", "sigma/clear_log"] or {
        r["uid"] for r in t1685["rules"]
    } == {"sigma/disable_defender", "sigma/clear_log"}
    assert {v["id"] for v in t1685["via_retired"]} == {"T1562.001", "T1070.001"}
    assert old["rules_total"] == 1 and old["replaced_by"] == {
        "id": "T1685",
        "name": "Disable or Modify Tools",
    }
    site = v19_catalog / "site"
    old_html = (site / urls.page_file(urls.attack_technique_path("T1562.001"))).read_text(encoding="utf-8")
    assert "Not in ATT&amp;CK v19" in old_html
    assert 'href="../T1685/index.html">T1685 Disable or Modify Tools</a>' in old_html
    new_html = (site / urls.page_file(urls.attack_technique_path("T1685"))).read_text(encoding="utf-8")
    assert "The offline ATT&amp;CK data has no description of T1685" in new_html
    assert 'href="https://attack.mitre.org/techniques/T1685"' in new_html
    shared_html = (site / urls.page_file(urls.attack_technique_path("T1059.001"))).read_text(encoding="utf-8")
    assert "From ATT&amp;CK v18.1 (names and tactics are v19)." in shared_html


def test_unknown_tags_are_build_problems(v19_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["problems", "--catalog", str(v19_catalog), "--json"]) in (0, 1)
    problems = json.loads(capsys.readouterr().out)
    items = problems["problems"] if isinstance(problems, dict) else problems
    tags = [p for p in items if "names nothing in ATT&CK" in p["message"]]
    assert sorted((p["file"], p["line"], p["severity"]) for p in tags) == [
        ("rules/windows/typo_tag.yml", 9, "warning"),
        ("rules/windows/typo_tag.yml", 10, "warning"),
    ]
    assert (
        "'attack.t1059.0001' names nothing in ATT&CK v19 or v18.1" in tags[0]["message"] + tags[1]["message"]
    )
    assert main(["stats", "--catalog", str(v19_catalog), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["problems"] == 2 and stats["problem_warnings"] == 2


def test_tactic_page_of_the_new_tactic(v19_catalog: Path) -> None:
    page = v19_catalog / "site" / urls.page_file(urls.attack_tactic_path("TA0112"))
    html = page.read_text(encoding="utf-8")
    assert '<span class="tid">TA0112</span> Defense Impairment' in html
    assert "The offline ATT&amp;CK data has no description of TA0112" in html
