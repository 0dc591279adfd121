"""The build's relations pass end to end over a small fixture: related links on both rules' pages, a
dangling id, fires-on samples with record numbers, deploy-as conversions with a refusal, `ruleatlas convert`
reading the catalog, and rebuilds that convert and scan only what changed."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.build import BuildSummary, build
from ruleatlas.cli import main
from ruleatlas.config import BuildConfig, SourceSpec
from ruleatlas.store import open_catalog
from ruleatlas.web.urls import page_file, rule_path

FIXTURE = Path(__file__).resolve().parent / "data" / "deploy"
ATTACK = Path(__file__).resolve().parent / "data" / "attack"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, BuildSummary]:
    root = tmp_path_factory.mktemp("relations")
    corpus = root / "sigma"
    shutil.copytree(FIXTURE / "sigma", corpus)
    out = root / "out"
    config = BuildConfig(
        out=out, sources=[SourceSpec("sigma", corpus)], samples=FIXTURE / "samples", attack=ATTACK, jobs=1
    )
    return out, corpus, build(config, log=io.StringIO())


def _doc(out: Path, uid: str) -> dict[str, Any]:
    with open_catalog(out) as catalog:
        doc = catalog.rule_document(uid)
    assert doc is not None
    return doc


def _page(out: Path, uid: str) -> str:
    return (out / "site" / page_file(rule_path(uid))).read_text(encoding="utf-8")


def test_related_links_show_on_both_rules_and_a_dangling_id_unlinked(
    built: tuple[Path, Path, BuildSummary],
) -> None:
    out, _, _ = built
    derived = _doc(out, "sigma/derived")["related_links"]
    assert [(x["direction"], x["type"], x["uid"], x["id"]) for x in derived] == [
        ("out", "derived", "sigma/base", "11111111-1111-4111-8111-111111111111"),
        ("out", "obsolete", "", "99999999-9999-4999-8999-999999999999"),
    ]
    base = _doc(out, "sigma/base")["related_links"]
    assert [(x["direction"], x["uid"], x["phrase"]) for x in base] == [
        ("in", "sigma/derived", "derives from this rule")
    ]
    page = _page(out, "sigma/base")
    assert (
        'href="../derived/index.html">Whoami Execution With Privileges Flag</a> derives from this rule'
        in page
    )
    derived_page = _page(out, "sigma/derived")
    assert '<code class="plain">99999999-9999-4999-8999-999999999999</code>' in derived_page
    assert "no rule in this catalog has this id" in derived_page


def test_fires_on_names_samples_and_records(built: tuple[Path, Path, BuildSummary]) -> None:
    out, _, summary = built
    assert _doc(out, "sigma/base")["fires_on"] == {
        "samples_checked": 1,
        "samples": [{"name": "samples/whoami.jsonl", "records": [2]}],
    }
    assert _doc(out, "sigma/derived")["fires_on"] == {"samples_checked": 1, "samples": []}
    assert "Seen firing on 1 sample (of 1 sample files" in _page(out, "sigma/base")
    assert "No sample fires it" in _page(out, "sigma/derived")
    assert summary.relations["fires_scans"] == 1 and summary.relations["samples"] == 1


def test_show_prints_the_relations(
    built: tuple[Path, Path, BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _, _ = built
    assert main(["show", "sigma/base", "--catalog", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Related rules\n-------------\n  sigma/derived derives from this rule\n" in text
    assert "  seen firing on 1 sample (of 1 run)\n  samples/whoami.jsonl: records 2\n" in text
    assert "  Splunk SPL (pipeline splunk_windows):\n" in text


def test_deploy_as_is_stored_shown_and_printed_by_convert(
    built: tuple[Path, Path, BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _, summary = built
    deploy = {c["target"]: c for c in _doc(out, "sigma/refused")["deploy"]}
    assert len(deploy) == 7 and summary.relations["conversions_run"] == 4
    assert deploy["defender"]["query"] == "" and "CurrentDirectory" in deploy["defender"]["error"]
    page = _page(out, "sigma/refused")
    assert "Refused by the backend:</strong> SigmaTransformationError" in page
    assert '<script src="../../../static/deploy.js" defer></script>' in page
    assert main(["convert", "sigma/refused", "--catalog", str(out), "--to", "splunk"]) == 0
    assert capsys.readouterr().out == deploy["splunk"]["query"] + "\n"
    assert main(["convert", "refused", "--catalog", str(out), "--to", "defender"]) == 1
    assert capsys.readouterr().out.startswith("# refused by the backend: SigmaTransformationError")
    assert main(["convert", "sigma/nope", "--catalog", str(out)]) == 1
    assert "names no rule" in capsys.readouterr().err


def test_a_correlation_is_converted_with_the_rule_it_names_and_not_run_over_samples(
    built: tuple[Path, Path, BuildSummary],
) -> None:
    out, _, _ = built
    doc = _doc(out, "sigma/correlation")
    splunk = next(c for c in doc["deploy"] if c["target"] == "splunk")
    # the rule it names lives in another file: the build hands its text to the backend with the correlation
    assert splunk["error"] == "" and 'Image="*\\\\whoami.exe"' in splunk["query"], splunk
    assert "| stats count as event_count by _time Computer" in splunk["query"]
    assert "| search event_count >= 5" in splunk["query"]
    assert doc["fires_on"] is None
    assert 'data-section="fires"' not in _page(out, "sigma/correlation")


def test_a_rebuild_converts_and_scans_only_what_changed(built: tuple[Path, Path, BuildSummary]) -> None:
    out, corpus, _ = built
    config = BuildConfig(
        out=out, sources=[SourceSpec("sigma", corpus)], samples=FIXTURE / "samples", attack=ATTACK, jobs=1
    )
    same = build(config, log=io.StringIO())
    # Nothing changed: the published generation stays and no relations pass runs (build/unchanged.py), so
    # nothing is converted, scanned or rendered.
    assert same.unchanged and same.relations == {} and same.pages_written == 0
    derived = corpus / "rules" / "windows" / "derived.yml"
    derived.write_text(
        derived.read_text(encoding="utf-8").replace("With Privileges Flag", "With The Priv Flag"),
        encoding="utf-8",
    )
    edited = build(config, log=io.StringIO())
    assert edited.mode == "incremental"
    # A new title is a new text to convert, but not a new logic: its fires-on results come from the cache.
    assert edited.relations["conversions_run"] == 1 and edited.relations["fires_rules_scanned"] == 0
    # The base rule's page names the edited rule: it is rendered again though its own file did not change.
    assert "Whoami Execution With The Priv Flag</a> derives from this rule" in _page(out, "sigma/base")


def test_coverage_and_technique_pages_filter_on_validated_by_a_sample(
    built: tuple[Path, Path, BuildSummary], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _, _ = built
    assert main(["coverage", "--catalog", str(out), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["rules_counted"] == 2  # base and derived tag T1059
    assert main(["coverage", "--catalog", str(out), "--format", "json", "--validated"]) == 0
    validated = json.loads(capsys.readouterr().out)
    assert (validated["rules_counted"], validated["filtered_out"], validated["filters"]["validated"]) == (
        1,
        1,
        True,
    )
    assert main(["coverage", "--catalog", str(out), "--format", "navigator", "--validated"]) == 0
    layer = json.loads(capsys.readouterr().out)
    assert [(t["techniqueID"], t["score"]) for t in layer["techniques"] if t.get("score")] == [("T1059", 1)]
    technique = (out / "site" / "attack" / "T1059" / "index.html").read_text(encoding="utf-8")
    items = re.findall(r"<li data-text[^>]*>", technique)
    # base is validated; derived (its title is edited by the rebuild test) is not
    assert len(items) == 2 and sum("data-validated" in item for item in items) == 1
    assert '<li data-text="whoami execution " data-level="low" data-validated>' in items


RELATION_TABLES = {
    "rule_links": "SELECT * FROM rule_links ORDER BY uid, position",
    "rule_conversions": "SELECT * FROM rule_conversions ORDER BY uid, position",
    "rule_fires_checked": "SELECT * FROM rule_fires_checked ORDER BY uid",
    "rule_fires": "SELECT * FROM rule_fires ORDER BY uid, sample",
    "rule_relation_inputs": "SELECT * FROM rule_relation_inputs ORDER BY uid",
}


def _relation_tables(out: Path) -> dict[str, list[Any]]:
    db = sqlite3.connect(out / "catalog.sqlite")
    try:
        return {name: db.execute(sql).fetchall() for name, sql in RELATION_TABLES.items()}
    finally:
        db.close()


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        # a new logic for the rule the correlation names: scanned again, the correlation converted again
        ("base.yml", "Image|endswith: '\\whoami.exe'", "Image|endswith: '\\whoami2.exe'"),
        # the id the correlation and the derived rule name moves away, then comes back
        ("base.yml", "id: 11111111-1111-4111-8111-111111111111", "id: 11111111-1111-4111-8111-111111111112"),
        ("base.yml", "id: 11111111-1111-4111-8111-111111111112", "id: 11111111-1111-4111-8111-111111111111"),
    ],
)
def test_an_incremental_relations_pass_ends_where_a_full_one_does(
    built: tuple[Path, Path, BuildSummary], tmp_path: Path, path: str, old: str, new: str
) -> None:
    out, corpus, _ = built
    config = BuildConfig(
        out=out, sources=[SourceSpec("sigma", corpus)], samples=FIXTURE / "samples", attack=ATTACK, jobs=1
    )
    rule = corpus / "rules" / "windows" / path
    text = rule.read_text(encoding="utf-8")
    assert old in text
    rule.write_text(text.replace(old, new), encoding="utf-8")
    edited = build(config, log=io.StringIO())
    assert edited.mode == "incremental"
    full = tmp_path / "full"
    shutil.copytree(out, full, symlinks=True)
    build(dataclasses.replace(config, out=full), log=io.StringIO(), force_full=True)
    assert _relation_tables(out) == _relation_tables(full)


def test_deploy_as_turned_off_then_on_converts_every_rule_again(
    built: tuple[Path, Path, BuildSummary], tmp_path: Path
) -> None:
    out, corpus, _ = built
    copy = tmp_path / "out"
    shutil.copytree(out, copy, symlinks=True)
    config = BuildConfig(
        out=copy, sources=[SourceSpec("sigma", corpus)], samples=FIXTURE / "samples", attack=ATTACK, jobs=1
    )
    build(dataclasses.replace(config, deploy_as=False), log=io.StringIO())
    assert _relation_tables(copy)["rule_conversions"] == []
    build(config, log=io.StringIO())
    assert _relation_tables(copy) == _relation_tables(out)


def test_relations_started_before_the_store_step_give_the_serial_builds_tables(
    built: tuple[Path, Path, BuildSummary], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers convert the rules and scan them over the samples while the catalog is stored
    (`start_relations`, here from the first rule: the fixture is small), and the relations pass collects
    them: the same tables as one process, and the same scans."""
    import ruleatlas.build as build_module
    from ruleatlas.build import relations

    out, corpus, first = built
    monkeypatch.setattr(relations, "EARLY_LEAST", 1)
    monkeypatch.setattr(relations, "_MEMO", {})  # nothing converted in this process yet
    started: list[object] = []
    start = relations.start_relations

    def spy(*args: Any, **kwargs: Any) -> relations.EarlyRelations | None:
        early = start(*args, **kwargs)
        started.append(early)
        return early

    monkeypatch.setattr(build_module, "start_relations", spy)
    config = BuildConfig(
        out=tmp_path / "out",
        sources=[SourceSpec("sigma", corpus)],
        samples=FIXTURE / "samples",
        attack=ATTACK,
        jobs=2,
    )
    summary = build(config, log=io.StringIO())
    assert len(started) == 1 and isinstance(started[0], relations.EarlyRelations)
    assert started[0].pool is None  # collected: the workers stopped
    for count in ("conversions_run", "fires_scans", "fires_rules_scanned"):
        assert summary.relations[count] == first.relations[count]
    assert _relation_tables(tmp_path / "out") == _relation_tables(out)
