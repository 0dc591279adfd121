"""Technique reports (the API answer and the technique page's data): rules, left-out rules, the authoring
guide, retired ids, and the bulk path of the static build giving the same answer as the API's."""

from __future__ import annotations

from pathlib import Path

from ruleatlas.analysis.coverage import AttackFilters, index_coverage
from ruleatlas.analysis.technique_guide import CorpusReach, group_rows, rule_keys, technique_report
from ruleatlas.store import attack as store_attack
from ruleatlas.store import open_catalog
from ruleatlas.web import attack_answers


def report(catalog_dir: Path, technique_id: str, filters: AttackFilters | None = None) -> dict:  # type: ignore[type-arg]
    with open_catalog(catalog_dir) as catalog:
        found = attack_answers.technique_api(catalog, technique_id, filters)
    assert found is not None
    return found


def test_t1572_rules_and_left_out(attack_catalog: Path) -> None:
    r = report(attack_catalog, "T1572")
    assert [rule["uid"] for rule in r["rules"]] == [
        "sigma/tunnel_win",
        "sigma/tunnel_lnx",
        "sigma/proxy_tunnel",
    ]
    assert r["rules_total"] == r["rules_own"] == 3
    assert r["rules_by_vendor"] == {"sigma": 3}
    assert r["left_out"] == {"deprecated": ["sigma/old_tunnel"], "hunting-only": ["sigma/hunt_tunnel"]}
    assert r["tactics"] == [
        {"id": "TA0011", "shortname": "command-and-control", "name": "Command and Control", "rules": 3}
    ]
    assert r["platforms"] == ["Linux", "Windows", "macOS"]


def test_t1572_authoring_guide(attack_catalog: Path) -> None:
    r = report(attack_catalog, "T1572")
    fields = {f["field"]: f for f in r["fields"]}
    # Two rules filter DestinationHostname; the Linux rule's upper-case value is the same indicator.
    assert fields["DestinationHostname"] == {
        "field": "DestinationHostname",
        "rules": 2,
        "kinds": {"ends_with": 2},
        "samples": [
            {
                "kind": "ends_with",
                "value": ".localto.net",
                "key_value": ".localto.net",
                "transforms": [],
                "rules": 2,
            }
        ],
    }
    top = r["indicators"][0]
    assert (top["field"], top["kind"], top["value"], top["rules"]) == (
        "DestinationHostname",
        "ends_with",
        ".localto.net",
        2,
    )
    assert top["uids"] == ["sigma/tunnel_lnx", "sigma/tunnel_win"]
    # Corpus reach: counted rules of the whole catalog (the deprecated copy is left out).
    assert top["corpus"] == {"total": 2, "by_vendor": {"sigma": 2}}
    assert r["exclusions"] == [
        {
            "field": "Image",
            "kind": "ends_with",
            "value": "\\svchost.exe",
            "key_value": "\\svchost.exe",
            "transforms": [],
            "rules": 1,
            "uids": ["sigma/tunnel_win"],
        }
    ]


def test_parent_takes_sub_techniques_and_revoked_ids(attack_catalog: Path) -> None:
    r = report(attack_catalog, "T1059")
    assert [rule["uid"] for rule in r["rules"]] == ["sigma/ps_encoded", "sigma/ps_old_tag"]
    assert [rule["techniques"] for rule in r["rules"]] == [["T1059.001"], ["T1086"]]
    assert r["rules_total"] == 2 and r["rules_own"] == 0
    assert r["subtechniques"] == [{"id": "T1059.001", "name": "PowerShell", "rules": 2}]
    assert r["via_retired"] == [{"id": "T1086", "rules": ["sigma/ps_old_tag"]}]
    assert r["left_out"] == {"unsupported": ["sigma/legacy_ps"]}
    assert r["exclusions"][0]["field"] == "ParentImage" and r["exclusions"][0]["rules"] == 2
    image = next(f for f in r["fields"] if f["field"] == "Image")
    assert image["rules"] == 2 and image["samples"][0]["value"] == "\\powershell.exe"


def test_revoked_technique_names_its_replacement(attack_catalog: Path) -> None:
    r = report(attack_catalog, "t1086")
    assert r["revoked"] is True
    assert r["replaced_by"] == {"id": "T1059.001", "name": "PowerShell"}
    assert [rule["uid"] for rule in r["rules"]] == ["sigma/ps_old_tag"]
    chain = report(attack_catalog, "T1150")  # T1150 -> T1547.011 -> T1647: the end of the chain
    assert chain["replaced_by"] == {"id": "T1647", "name": "Plist File Modification"}


def test_deprecated_technique_without_replacement(attack_catalog: Path) -> None:
    r = report(attack_catalog, "T1043")
    assert r["deprecated"] is True and r["replaced_by"] is None
    assert [rule["uid"] for rule in r["rules"]] == ["sigma/old_port"]


def test_filters_narrow_the_rules(attack_catalog: Path) -> None:
    assert [x["uid"] for x in report(attack_catalog, "T1572", AttackFilters(platform="Linux"))["rules"]] == [
        "sigma/tunnel_lnx"
    ]
    high = report(attack_catalog, "T1572", AttackFilters(levels=("high",)))
    assert [x["uid"] for x in high["rules"]] == ["sigma/tunnel_win"]
    assert high["filters"]["level"] == ["high"]


def test_unknown_technique(attack_catalog: Path) -> None:
    with open_catalog(attack_catalog) as catalog:
        assert attack_answers.technique_api(catalog, "T9999") is None
        assert attack_answers.tactic_api(catalog, "TA9999") is None


def test_bulk_path_gives_the_api_answer(attack_catalog: Path) -> None:
    """The static build reads every rule once and reports all techniques; the API reads one technique's
    rules. Both must give the same object (house rule 7: a page and its JSON twin from one query)."""
    with open_catalog(attack_catalog) as catalog:
        attack = store_attack.attack_data(catalog)
        assert attack is not None
        index = index_coverage(attack, store_attack.tagged_rules(catalog), store_attack.placements(catalog))
        keys = rule_keys(store_attack.indicator_rows(catalog))
        events = group_rows(store_attack.event_rows(catalog))
        reach = CorpusReach(store_attack.corpus_reach(catalog), spellings=catalog.spellings())
        for tid in attack.techniques:
            assert technique_report(index, tid, keys, events, reach) == attack_answers.technique_api(
                catalog, tid
            ), tid


def test_guide_shows_values_as_rules_spell_them(attack_catalog: Path) -> None:
    """Counting groups by the folded key; the guide shows the spelling most of the key's rules use."""
    with open_catalog(attack_catalog) as catalog:
        attack = store_attack.attack_data(catalog)
        assert attack is not None
        index = index_coverage(attack, store_attack.tagged_rules(catalog), store_attack.placements(catalog))
        keys = rule_keys(store_attack.indicator_rows(catalog))
        events = group_rows(store_attack.event_rows(catalog))
        key = ("DestinationHostname", "ends_with", ".localto.net", "")
        reach = CorpusReach(store_attack.corpus_reach(catalog), spellings={key: ".LocalTo.Net"})
        r = technique_report(index, "T1572", keys, events, reach)
    assert r is not None
    top = r["indicators"][0]
    assert (top["value"], top["key_value"]) == (".LocalTo.Net", ".localto.net")
    sample = next(f for f in r["fields"] if f["field"] == "DestinationHostname")["samples"][0]
    assert (sample["value"], sample["key_value"]) == (".LocalTo.Net", ".localto.net")
