"""Builds over several sources of the registry: vendor labels shared by sources, uids unique across them,
companion files in the content hash, reader versions in the inputs key, and readers that fail."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ruleatlas.build import build
from ruleatlas.cli import main
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.sources import SOURCES
from ruleatlas.store import open_catalog

DATA = Path(__file__).parent / "data"
ATTACK_FIXTURE = DATA / "attack"
SIGMA = DATA / "browse" / "sigma"
VENDORS = DATA / "vendors"


@pytest.fixture
def fake_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Panther is read by the fake reader of tests/data/readers; `splunk` by a module that cannot import."""
    monkeypatch.syspath_prepend(str(DATA / "readers"))
    monkeypatch.setitem(SOURCES, "panther", ("panther", "fake_panther"))
    monkeypatch.setitem(SOURCES, "splunk", ("splunk", "broken_reader"))


def copy_sources(tmp_path: Path) -> dict[str, Path]:
    paths = {"sigma": tmp_path / "sigma", "hayabusa": tmp_path / "hayabusa", "panther": tmp_path / "panther"}
    shutil.copytree(SIGMA, paths["sigma"])
    shutil.copytree(VENDORS / "hayabusa", paths["hayabusa"])
    shutil.copytree(VENDORS / "panther", paths["panther"])
    return paths


def config_for(tmp_path: Path, paths: dict[str, Path]) -> BuildConfig:
    return BuildConfig(
        out=tmp_path / "out", sources=[SourceSpec(n, p) for n, p in paths.items()], jobs=1, pages=False
    )


def test_sources_sharing_a_vendor_label_get_unique_uids_and_one_count(
    tmp_path: Path, fake_readers: None
) -> None:
    config = config_for(tmp_path, copy_sources(tmp_path))
    summary = build(config)
    assert summary.per_folder["hayabusa/hayabusa"].rules == 1
    assert summary.per_folder["panther/rules"].files == 3
    with open_catalog(config.out) as catalog:
        original = catalog.rule_document("sigma/proc_creation_win_cmd_schtasks")
        assert original is not None and original["title"] == "Scheduled Task Created From Cmd"
        copy = catalog.rule_document("sigma/proc_creation_win_cmd_schtasks-hayabusa")
        assert copy is not None and copy["title"] == "Scheduled Task Created From Cmd (Hayabusa copy)"
        # Both copies count under the one vendor label.
        corpus = {i["value"]: i["corpus"] for i in copy["indicators"]}
        assert corpus["\\schtasks.exe"]["by_vendor"]["sigma"] >= 2
        stats = catalog.stats()
        assert stats["per_vendor"]["panther"] == 2
        assert stats["per_vendor_kind"]["panther"] == {"detection": 1, "enrichment": 1}
        assert stats["per_vendor_files"]["panther"] == {"files": 3, "error_files": 1}
        assert [(s.source, s.vendor) for s in catalog.sources()] == [
            ("panther", "panther"),
            ("hayabusa", "sigma"),
            ("sigma", "sigma"),
        ]


def test_a_panther_rule_reads_its_companion_and_keeps_attack_ids(tmp_path: Path, fake_readers: None) -> None:
    config = config_for(tmp_path, copy_sources(tmp_path))
    build(config)
    with open_catalog(config.out) as catalog:
        doc = catalog.rule_document("panther/aws_console_root_login")
        assert doc is not None
        assert 'event.get("eventName") == "ConsoleLogin"' in doc["body"]


def test_editing_a_companion_file_reparses_its_rule(tmp_path: Path, fake_readers: None) -> None:
    paths = copy_sources(tmp_path)
    config = config_for(tmp_path, paths)
    build(config)
    body = paths["panther"] / "rules" / "aws_console_root_login.py"
    body.write_text(body.read_text().replace("Root", "AssumedRole"))
    again = build(config)
    assert (again.mode, again.files_parsed) == ("incremental", 1)
    with open_catalog(config.out) as catalog:
        doc = catalog.rule_document("panther/aws_console_root_login")
        assert doc is not None and "AssumedRole" in doc["body"]


def test_a_reader_version_change_rebuilds_whole(
    tmp_path: Path, fake_readers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_for(tmp_path, copy_sources(tmp_path))
    build(config)
    assert build(config).mode == "incremental"
    import fake_panther  # type: ignore[import-not-found]

    monkeypatch.setattr(fake_panther, "PARSER_VERSION", "fake-panther-2")
    assert build(config).mode == "full"


def test_changed_analysis_code_rebuilds_whole(
    tmp_path: Path, fake_readers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A canonicaliser table changed between builds: every rule is analysed again, none keeps old rows."""
    from ruleatlas.build import plan

    config = config_for(tmp_path, copy_sources(tmp_path))
    build(config)
    assert build(config).mode == "incremental"
    monkeypatch.setattr(plan, "analysis_fingerprint", lambda: "another-canonicaliser")
    assert build(config).mode == "full"


def test_a_reader_that_raises_or_cannot_import_is_a_problem_not_a_crash(
    tmp_path: Path, fake_readers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = copy_sources(tmp_path)
    (tmp_path / "splunk").mkdir()
    paths["splunk"] = tmp_path / "splunk"
    config = config_for(tmp_path, paths)
    summary = build(config)
    assert summary.errors == 2  # the broken reader's source, and the file the fake reader raised on
    with open_catalog(config.out) as catalog:
        problems = {(p.source, p.file): p for p in catalog.problems()}
        broken = problems[("splunk", "")]
        assert broken.message == (
            f"source splunk ({tmp_path / 'splunk'}): reader broken_reader cannot be imported: "
            "RuntimeError: this reader is broken on purpose"
        )
        raised = problems[("panther", "rules/broken.yml")]
        assert (
            raised.message == "the panther reader failed on this file: ValueError: cannot cope with this file"
        )
        assert raised.hint.startswith("a reader bug, raised at fake_panther.py:")
        assert catalog.stats()["per_vendor"]["sigma"] > 0  # the other sources were built
    # The incremental build keeps exactly one copy of the source's problem.
    build(config)
    with open_catalog(config.out) as catalog:
        assert sum(p.source == "splunk" for p in catalog.problems()) == 1
    assert main(["problems", "--catalog", str(config.out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["vendor"], r["file"]) for r in rows if r["source"] == "splunk"] == [("splunk", "")]


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_pages_for_a_vendor_whose_logic_is_not_parsed(tmp_path: Path, fake_readers: None) -> None:
    config = config_for(tmp_path, copy_sources(tmp_path))
    config.pages = True
    config.attack = ATTACK_FIXTURE
    build(config)
    site = config.out / "site" / "rules"
    page = (site / "panther" / "aws_console_root_login" / "index.html").read_text()
    text = page_text(page)
    assert "Logic not parsed yet" in text
    assert "RuleAtlas does not parse python into stages and predicates yet" in text
    assert "Log types AWS.CloudTrail" in text  # the vendor's own header fact
    assert (
        "def rule(event):" in text and "&quot;ConsoleLogin&quot;" not in page
    )  # verbatim, not YAML-coloured
    assert "Not parsed yet: RuleAtlas does not read python" in text
    enrichment = (site / "panther" / "aws_ip_lookup" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in enrichment
    assert "Known bad IPs &lt;script&gt;alert(1)&lt;/script&gt;" in enrichment
    assert "Enrichment or lookup" in page_text(enrichment)
    copy = (site / "sigma" / "proc_creation_win_cmd_schtasks-hayabusa" / "index.html").read_text()
    assert "corpus 2 (sigma 2)" in page_text(copy).replace("( ", "(").replace(" )", ")")
    with open_catalog(config.out) as catalog:
        from ruleatlas.store.browse import RuleFilter, browse_rows, filter_rows

        rows = browse_rows(catalog)
        listed = {r.uid for r in filter_rows(rows, RuleFilter())}
        assert "panther/aws_console_root_login" in listed
        assert "panther/aws_ip_lookup" not in listed  # enrichment: searchable, not in the detection browse
        asked = {r.uid for r in filter_rows(rows, RuleFilter(kind=("enrichment",)))}
        assert asked == {"panther/aws_ip_lookup"}
