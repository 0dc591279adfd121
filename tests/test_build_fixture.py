"""Building the small fixture corpus end to end through the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ruleatlas.cli import main

FIXTURE = Path(__file__).resolve().parent / "data" / "catalog" / "sigma"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("catalog")
    code = main(["build", "--source", f"sigma={FIXTURE}", "--out", str(out), "--jobs", "1"])
    assert code == 1, "the fixture holds one broken file, so the build reports problems"
    return out


def page_text(html: str) -> str:
    """The page's text without markup, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace(" )", ")").replace("( ", "(")


def show(catalog: Path, uid: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["show", uid, "--catalog", str(catalog), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def corpus_of(doc: dict[str, object], field: str, value: str) -> dict[str, object]:
    for ind in doc["indicators"]:  # type: ignore[attr-defined]
        if ind["field"] == field and ind["value"] == value:
            return ind["corpus"]  # type: ignore[no-any-return]
    raise AssertionError(f"no indicator {field}={value!r}")


def test_stats_account_for_every_file(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--catalog", str(catalog), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["files"] == 8
    assert stats["errors"] == 1
    assert stats["files_with_rules"] + stats["errors"] == stats["files"]
    assert stats["per_vendor"] == {"sigma": stats["rules"]}
    assert stats["per_kind"]["deprecated"] == 1
    assert stats["per_kind"]["unsupported"] == 1
    assert stats["per_folder"]["sigma/rules"] == {"files": 6, "rules": 5, "error_files": 1}


def test_corpus_counts_fold_case_and_wildcards_and_skip_deprecated(
    catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = show(catalog, "sigma/net_tunnel_a", capsys)
    assert corpus_of(doc, "DestinationHostname", ".localto.net") == {"total": 2, "by_vendor": {"sigma": 2}}
    assert corpus_of(doc, "DestinationHostname", ".localtonet.com") == {"total": 1, "by_vendor": {"sigma": 1}}
    assert corpus_of(doc, "Initiated", "true") == {"total": 2, "by_vendor": {"sigma": 2}}
    deprecated = show(catalog, "sigma/net_tunnel_old", capsys)
    assert deprecated["kind"] == "deprecated"
    assert corpus_of(deprecated, "DestinationHostname", ".localto.net")["total"] == 2


def test_exclusions_are_listed_apart(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = show(catalog, "sigma/proc_cmd_a", capsys)
    assert [(i["field"], i["kind"], i["value"]) for i in doc["indicators"]] == [
        ("Image", "ends_with", "\\cmd.exe")
    ]
    assert [(i["field"], i["kind"], i["value"]) for i in doc["exclusions"]] == [
        ("CommandLine", "contains", "foo")
    ]
    assert corpus_of(doc, "Image", "\\cmd.exe") == {"total": 2, "by_vendor": {"sigma": 2}}


def test_unused_identifier_gives_no_indicator(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = show(catalog, "proc_cmd_b", capsys)
    assert [i["field"] for i in doc["indicators"]] == ["Image"]
    assert [s["label"] for s in doc["stages"]] == ["condition", "selection", "unused_identifier"]


def test_problems_name_file_and_line(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["problems", "--catalog", str(catalog), "--json"]) == 0
    problems = json.loads(capsys.readouterr().out)
    broken = [p for p in problems if p["file"] == "rules/broken_yaml.yml"]
    assert broken and broken[0]["line"] is not None and broken[0]["uid"] is None
    legacy = [p for p in problems if p["file"] == "unsupported/windows/legacy_count.yml"]
    assert legacy and legacy[0]["uid"] == "sigma/legacy_count"


def test_show_text_has_the_seed_sections_in_order(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "sigma/net_tunnel_a", "--catalog", str(catalog)]) == 0
    text = capsys.readouterr().out
    sections = [
        "Tunnel Service Connection A",
        "Status",
        "Severity",
        "Log source",
        "Author",
        "Source",
        "MITRE ATT&CK coverage",
        "Event coverage",
        "Rule body",
        "Stages and predicates",
        "Indicators",
    ]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions)
    assert "corpus 2 (sigma 2)" in text


def test_show_unknown_rule_exits_1(catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "sigma/nope", "--catalog", str(catalog)]) == 1
    assert "no rule 'sigma/nope'" in capsys.readouterr().err


def test_pages_are_written_and_escape_hostile_text(catalog: Path) -> None:
    page = (catalog / "site" / "rules" / "sigma" / "hostile_title" / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert (catalog / "site" / "index.html").is_file()


def test_rebuild_parses_and_renders_only_what_changed(tmp_path: Path) -> None:
    import shutil

    from ruleatlas.build import build
    from ruleatlas.config import BuildConfig, SourceSpec
    from ruleatlas.store import open_catalog

    corpus = tmp_path / "sigma"
    shutil.copytree(FIXTURE, corpus)
    config = BuildConfig(out=tmp_path / "out", sources=[SourceSpec("sigma", corpus)], jobs=1)
    first = build(config)
    assert (first.mode, first.files_parsed, first.pages_written) == ("full", 8, first.rules)
    again = build(config)
    assert (again.mode, again.files_parsed, again.pages_written) == ("incremental", 0, 0)
    rule = corpus / "rules" / "windows" / "net_tunnel_b.yml"
    rule.write_text(rule.read_text().replace("'*.LOCALTO.NET'", "'*.example.org'"))
    changed = build(config)
    assert (changed.mode, changed.files_parsed) == ("incremental", 1)
    # The edited rule, plus the two rules whose `.localto.net` corpus count dropped from 2 to 1.
    assert changed.pages_written == 3
    with open_catalog(config.out) as catalog:
        doc = catalog.rule_document("sigma/net_tunnel_a")
        assert doc is not None
        counts = {i["value"]: i["corpus"]["total"] for i in doc["indicators"]}
        assert counts == {".localto.net": 1, ".localtonet.com": 1, "true": 2}
        page = (config.out / "site" / "rules" / "sigma" / "net_tunnel_a" / "index.html").read_text()
        assert "corpus 1 (sigma 1)" in page_text(page)
    # Adding a file changes the set of files: the catalog is rebuilt whole, with the same result.
    (corpus / "rules" / "windows" / "new_rule.yml").write_text(
        rule.read_text().replace("Connection B", "New")
    )
    added = build(config)
    assert (added.mode, added.files_parsed, added.rules) == ("full", 9, first.rules + 1)
    rule.unlink()
    removed = build(config)
    assert removed.mode == "full" and not (config.out / "site" / "rules" / "sigma" / "net_tunnel_b").exists()


def test_an_edit_that_moves_a_uid_falls_back_to_a_full_build(tmp_path: Path) -> None:
    import shutil

    from ruleatlas.build import build
    from ruleatlas.config import BuildConfig, SourceSpec
    from ruleatlas.store import open_catalog

    corpus = tmp_path / "sigma"
    shutil.copytree(FIXTURE, corpus)
    # A deprecated copy with the same file stem as a live rule gets the `-deprecated` uid.
    shutil.copy(corpus / "rules" / "windows" / "net_tunnel_a.yml", corpus / "deprecated" / "windows")
    config = BuildConfig(out=tmp_path / "out", sources=[SourceSpec("sigma", corpus)], jobs=1)
    build(config)
    with open_catalog(config.out) as catalog:
        assert catalog.find_uids("net_tunnel_a") == ["sigma/net_tunnel_a"]
        assert catalog.rule_document("sigma/net_tunnel_a-deprecated") is not None
    # Breaking the live rule leaves the deprecated copy alone with the stem: its uid changes.
    (corpus / "rules" / "windows" / "net_tunnel_a.yml").write_text("title: [broken\n")
    rebuilt = build(config)
    assert rebuilt.mode == "full"
    with open_catalog(config.out) as catalog:
        assert catalog.rule_document("sigma/net_tunnel_a") is not None
        assert catalog.rule_document("sigma/net_tunnel_a-deprecated") is None


def test_missing_sources_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RULEATLAS_SHARED", raising=False)
    assert main(["build", "--out", str(tmp_path / "o")]) == 2
    assert "no rule sources" in capsys.readouterr().err
    assert main(["build", "--source", "sigma", "--out", str(tmp_path / "o")]) == 2
    assert "expected SOURCE=PATH" in capsys.readouterr().err
    assert main(["stats", "--catalog", str(tmp_path / "none")]) == 2
