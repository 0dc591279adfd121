"""Relations in a built catalog (tests/data/relations: Sigma rules made in pairs, with telemetry so that cloud
actions resolve), class ids stable across builds, and known SigmaHQ pairs (a rule and its threat-hunting
variant) found in the real corpus."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from relations_support import relations_config, relations_rules
from ruleatlas.analysis.relations import relate, rule_form
from ruleatlas.build import build
from ruleatlas.sources.sigma import read_sigma_tree
from ruleatlas.store import relations as relations_store

ENCODED = (
    "sigma/proc_powershell_encoded",
    "sigma/proc_powershell_encoded_copy",
    "sigma/proc_powershell_encoded_quoted",
)


def _build(rules: Path, out: Path, force_full: bool = False) -> None:
    # with conversions: the batch readers' test compares each rule's deploy links
    build(relations_config(rules, out, deploy_as=True), force_full=force_full)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(catalog folder, the copy of the fixture rules it was built from)."""
    rules = relations_rules(tmp_path_factory, "relations-rules")
    out = tmp_path_factory.mktemp("relations-catalog")
    _build(rules, out)
    return out, rules


@pytest.fixture(scope="module")
def catalog(built: tuple[Path, Path]) -> Path:
    return built[0]


def _db(catalog: Path) -> sqlite3.Connection:
    return sqlite3.connect(catalog / "catalog.sqlite")


def test_broader_and_stricter_rules_with_reasons(catalog: Path) -> None:
    db = _db(catalog)
    encoded = relations_store.rule_relations(db, "sigma/proc_powershell_encoded")
    broader = {b["uid"]: b["reason"] for b in encoded["broader"]}
    assert set(broader) == {"sigma/proc_powershell_any", "sigma/proc_powershell_or_pwsh"}
    assert broader["sigma/proc_powershell_any"].startswith(
        "drops `CommandLine contains  -enc `; drops 1 filter this rule applies"
    )
    assert "accepts 1 more value of `Image`" in broader["sigma/proc_powershell_or_pwsh"]
    hunting = relations_store.rule_relations(db, "sigma/proc_powershell_any")
    stricter = {s["uid"]: s["reason"] for s in hunting["stricter"]}
    assert set(ENCODED) | {"sigma/proc_powershell_regex"} <= set(stricter)
    assert stricter["sigma/proc_powershell_encoded"].startswith(
        "adds `CommandLine contains  -enc `; adds 1 filter"
    )
    assert [b["uid"] for b in hunting["broader"]] == ["sigma/proc_powershell_or_pwsh"]
    # Members of one class are never each other's neighbours.
    assert not set(ENCODED) & {b["uid"] for b in encoded["broader"] + encoded["stricter"]}


def test_undecidable_comparisons_are_said(catalog: Path) -> None:
    regex = relations_store.rule_relations(_db(catalog), "sigma/proc_powershell_regex")
    assert "regex comparisons are undecidable" in regex["note"]
    assert regex["stricter"] == [] and {b["uid"] for b in regex["broader"]} == {
        "sigma/proc_powershell_any",
        "sigma/proc_powershell_or_pwsh",
    }


def test_equivalence_class_and_its_page_data(catalog: Path) -> None:
    db = _db(catalog)
    (only,) = relations_store.classes(db)
    assert only["size"] == 3 and only["vendors"] == ["sigma"] and only["shape"] == "single event"
    detail = relations_store.class_detail(db, only["id"])
    assert detail is not None
    # by vendor, then title
    assert [m["uid"] for m in detail["members"]] == [
        "sigma/proc_powershell_encoded_quoted",
        "sigma/proc_powershell_encoded",
        "sigma/proc_powershell_encoded_copy",
    ]
    copy = next(m for m in detail["members"] if m["uid"] == "sigma/proc_powershell_encoded_copy")
    assert copy["stage_count"] == 3 and "all of sel_*" in copy["stages"][0]["text"]
    for uid in ENCODED:
        assert relations_store.rule_relations(db, uid)["class"] == {"id": only["id"], "size": 3}
    assert relations_store.rule_relations(db, "sigma/proc_powershell_any")["class"] is None


def test_same_cloud_action(catalog: Path) -> None:
    db = _db(catalog)
    found = relations_store.rule_relations(db, "sigma/aws_iam_create_access_key")
    (group,) = found["same_action"]
    assert (group["provider"], group["action"]) == ("iam.amazonaws.com", "CreateAccessKey")
    assert [(r["uid"], r["vendor"]) for r in group["rules"]] == [
        ("sigma/aws_iam_create_access_key_root", "sigma")
    ]
    assert [s["uid"] for s in found["stricter"]] == ["sigma/aws_iam_create_access_key_root"]
    assert relations_store.rule_relations(db, "sigma/proc_powershell_any")["same_action"] == []


def test_relations_read_in_batches_are_each_rules_own(catalog: Path, tmp_path: Path) -> None:
    """The page workers read relations, links and documents of many rules at once: each rule gets what it
    gets read alone, and a rule page rendered from them is byte for byte the one `serve` renders."""
    from ruleatlas.store import Catalog
    from ruleatlas.store import deploy as deploy_store
    from ruleatlas.web import site as web_site
    from ruleatlas.web.render import SiteRenderer
    from ruleatlas.web.urls import page_file, rule_path

    db = _db(catalog)
    uids = [uid for (uid,) in db.execute("SELECT uid FROM rules ORDER BY uid DESC")]
    assert len(uids) > 5
    together = relations_store.rules_relations(db, [*uids, uids[0], "sigma/no_such_rule"])
    assert {uid: together[uid] for uid in uids} == {
        uid: relations_store.rule_relations(db, uid) for uid in uids
    }
    assert any(together[uid]["broader"] for uid in uids) and any(together[uid]["class"] for uid in uids)
    assert together["sigma/no_such_rule"]["compared"] is False
    links = deploy_store.relations_of(db, uids)
    assert links == {uid: deploy_store.relations(db, uid) for uid in uids}
    assert all(links[uid]["deploy"] for uid in uids)  # conversions were made: the test compares something
    store = Catalog(catalog / "catalog.sqlite")
    try:
        order = [*uids[::2], *uids[1::2], uids[0]]
        assert [uid for uid, _ in store.raw_documents([*order, "sigma/no_such_rule"])] == order
        renderer = SiteRenderer(indicator_pages=True, field_pages=True, telemetry_pages=True)
        web_site._worker = (renderer, store, store.counts())
        site = tmp_path / "site"
        assert web_site._render_batch(site, catalog / "catalog.sqlite", uids) == len(uids)
        for uid in uids:
            written = (site / page_file(rule_path(uid))).read_text(encoding="utf-8")
            doc = store.rule_document(uid)
            assert doc is not None and written == renderer.render_rule_page(doc), uid
    finally:
        web_site._worker = None
        store.close()


def test_class_ids_are_stable_across_rebuilds_and_changes_reach_neighbours(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    catalog, rules = built
    before = {c["id"] for c in relations_store.classes(_db(catalog))}
    # A copy of the catalog folder (its build cache too: telemetry is not loaded again), rebuilt in full.
    out = tmp_path / "out"
    shutil.copytree(catalog, out, symlinks=True)
    _build(rules, out, force_full=True)
    assert {c["id"] for c in relations_store.classes(_db(out))} == before
    # One rule changes (incrementally): its neighbours' sections follow, and a second refresh changes nothing.
    hunting = rules / "rules-threat-hunting" / "proc_powershell_any.yml"
    original = hunting.read_text(encoding="utf-8")
    try:
        hunting.write_text(original.replace("'\\powershell.exe'", "'\\cmd.exe'"), encoding="utf-8")
        _build(rules, out)
    finally:
        hunting.write_text(original, encoding="utf-8")
    after = relations_store.rule_relations(_db(out), "sigma/proc_powershell_encoded")
    assert "sigma/proc_powershell_any" not in {b["uid"] for b in after["broader"]}
    assert {c["id"] for c in relations_store.classes(_db(out))} == before
    assert relations_store.refresh(sqlite3.connect(out / "catalog.sqlite")).changed == set()


@pytest.fixture(scope="module")
def sigma_relations(shared_dir: Path) -> dict[tuple[str, str], str]:
    rules = read_sigma_tree(shared_dir / "corpus" / "sigma").rules
    forms = [f for r in rules if (f := rule_form(r, [])) is not None]
    return {(n.narrow, n.broad): n.broad_reason for n in relate(forms).neighbours}


@pytest.mark.parametrize(
    ("narrow", "broad", "reason"),
    [
        (
            "sigma/proc_creation_win_curl_susp_download",
            "sigma/proc_creation_win_curl_execution",  # rules-threat-hunting/
            "drops 1 filter this rule applies",
        ),
        (
            "sigma/file_delete_win_zone_identifier_ads_uncommon",
            "sigma/file_delete_win_zone_identifier_ads",  # rules-threat-hunting/
            "drops 2 filters this rule applies",
        ),
        (
            "sigma/proc_creation_win_net_stop_service",
            "sigma/proc_creation_win_net_execution",  # rules-threat-hunting/
            "accepts 7 more values of `CommandLine`",
        ),
        (
            "sigma/proc_creation_win_whoami_priv_discovery",
            "sigma/proc_creation_win_whoami_execution",
            "drops `CommandLine contains  -priv,  /priv`",
        ),
    ],
)
def test_known_sigmahq_pairs(
    sigma_relations: dict[tuple[str, str], str], narrow: str, broad: str, reason: str
) -> None:
    assert reason in sigma_relations[(narrow, broad)]
    assert (broad, narrow) not in sigma_relations
