"""Bad input through the whole build: each bad file becomes an error record or escaped text, and the build
goes on with the rest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ruleatlas.cli import main

DATA = Path(__file__).resolve().parent / "data"

GOOD = """title: Good Rule
id: 00000000-0000-4000-8000-0000000000aa
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\\\good.exe'
    condition: selection
level: low
"""


@pytest.fixture(scope="module")
def bad_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    corpus = tmp_path_factory.mktemp("bad") / "sigma"
    rules = corpus / "rules"
    rules.mkdir(parents=True)
    (rules / "good.yml").write_text(GOOD)
    (rules / "malformed.yml").write_text("title: x\ndetection:\n  selection: [a\n  condition: selection\n")
    shutil.copy(DATA / "sigma" / "alias_bomb.yml", rules / "alias_bomb.yml")
    (rules / "unknown_modifier.yml").write_text(GOOD.replace("Image|endswith", "Image|endswithh"))
    (rules / "missing_identifier.yml").write_text(
        GOOD.replace("condition: selection", "condition: selection and nope")
    )
    big = GOOD + "# " + "x" * 10_000_000 + "\n"
    (rules / "ten_megabytes.yml").write_text(big)
    hostile = GOOD.replace("title: Good Rule", "title: <script>alert(1)</script>").replace(
        "status: test", "status: test\ndescription: '<img src=x onerror=alert(1)>'"
    )
    (rules / "hostile.yml").write_text(hostile)
    out = corpus.parent / "out"
    code = main(["build", "--source", f"sigma={corpus}", "--out", str(out), "--jobs", "1"])
    assert code == 1
    return out


def problems_by_file(out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, list[dict[str, object]]]:
    assert main(["problems", "--catalog", str(out), "--json"]) == 0
    grouped: dict[str, list[dict[str, object]]] = {}
    for p in json.loads(capsys.readouterr().out):
        grouped.setdefault(str(p["file"]).rsplit("/", 1)[-1], []).append(p)
    return grouped


def test_each_bad_file_is_reported_and_the_rest_is_built(
    bad_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = bad_catalog
    problems = problems_by_file(out, capsys)
    assert "line" in str(problems["malformed.yml"][0]["message"]) or problems["malformed.yml"][0]["line"]
    assert problems["ten_megabytes.yml"][0]["message"].startswith("file too large")  # type: ignore[union-attr]
    assert problems["alias_bomb.yml"][0]["uid"] is None
    assert "endswithh" in str(problems["unknown_modifier.yml"][0]["message"])
    assert problems["unknown_modifier.yml"][0]["line"] == 9
    assert "nope" in str(problems["missing_identifier.yml"][0]["message"])
    assert "good.yml" not in problems and "hostile.yml" not in problems
    assert main(["stats", "--catalog", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    # Three files yield no rule; the unknown modifier and missing identifier still get pages with problems.
    assert (stats["files"], stats["errors"], stats["rules"]) == (7, 3, 4)


def test_hostile_text_is_escaped_on_the_page(bad_catalog: Path) -> None:
    out = bad_catalog
    page = (out / "site" / "rules" / "sigma" / "hostile" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_rule_problems_show_on_the_rule_page(bad_catalog: Path) -> None:
    out = bad_catalog
    page = (out / "site" / "rules" / "sigma" / "unknown_modifier" / "index.html").read_text()
    assert "endswithh" in page
