"""The ATT&CK views over the whole SigmaHQ corpus of ../shared, built once per session (`corpus_catalog`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from independent import counted, independent_cells

from ruleatlas.analysis.coverage import AttackFilters
from ruleatlas.attack import parse_attack_tag
from ruleatlas.store import Catalog, open_catalog
from ruleatlas.store import attack as store_attack
from ruleatlas.web import attack_answers, urls

pytestmark = pytest.mark.corpus
SEED = "sigma/net_connection_win_domain_localtonet_tunnel"


def all_docs(catalog: Catalog) -> list[dict]:  # type: ignore[type-arg]
    return [doc for _, doc in catalog.raw_documents(s["uid"] for s in catalog.summaries())]


def test_t1572_lists_the_localtonet_rule(corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        report = attack_answers.technique_api(catalog, "T1572")
    assert report is not None
    assert SEED in [r["uid"] for r in report["rules"]]
    assert report["name"] == "Protocol Tunneling"
    events = {(e["provider"], e["event_id"]) for e in report["events"]}
    assert ("Sysmon", 3) in events
    top = {(i["field"], i["kind"], i["value"]): i for i in report["indicators"]}
    localtonet = top[("DestinationHostname", "ends_with", ".localto.net")]
    assert set(localtonet["uids"]) >= {SEED}
    assert localtonet["corpus"]["total"] == 2
    page = corpus_catalog / "site" / urls.page_file(urls.attack_technique_path("T1572"))
    html = page.read_text(encoding="utf-8")
    assert 'href="../../rules/sigma/net_connection_win_domain_localtonet_tunnel/index.html"' in html
    assert "Communication To LocaltoNet Tunneling Service Initiated" in html
    # The events link to the telemetry pages of the same site.
    event_link = 'href="../../telemetry/microsoft-windows-sysmon/3/index.html"'
    assert event_link in html
    assert (corpus_catalog / "site" / "telemetry" / "microsoft-windows-sysmon" / "3" / "index.html").is_file()


def test_matrix_counts_equal_an_independent_count(corpus_catalog: Path) -> None:
    """Every cell of the matrix against a count made from the stored documents alone."""
    with open_catalog(corpus_catalog) as catalog:
        attack = store_attack.attack_data(catalog)
        assert attack is not None
        matrix = attack_answers.attack_matrix(catalog)
        docs = all_docs(catalog)
    assert matrix is not None
    expected = independent_cells(docs, attack)
    shown: dict[tuple[str, str], int] = {}
    for column in matrix.columns:
        for cell in column.cells:
            shown[(column.tactic_id, cell.technique_id)] = cell.rules
            for sub in cell.subtechniques:
                shown[(column.tactic_id, sub.technique_id)] = sub.rules
    assert {k: n for k, n in shown.items() if n} == {k: len(v) for k, v in expected.items()}
    assert sum(shown.values()) > 5000
    assert matrix.rules_counted == len({u for uids in expected.values() for u in uids})
    left_out_docs = [d for d in docs if any(g["techniques"] for g in d["attack"]) and not counted(d)]
    assert sum(matrix.left_out.values()) == len(left_out_docs)


def test_sigmahq_v19_tactic_tags_resolve(corpus_catalog: Path) -> None:
    """SigmaHQ tags ATT&CK v19's stealth / defense-impairment, which the v19 matrix knows: no such tag is
    unknown, and each lands on its own v19 tactic."""
    with open_catalog(corpus_catalog) as catalog:
        docs = all_docs(catalog)
        matrix = attack_answers.attack_matrix(catalog)
    assert matrix is not None and matrix.attack_version == "19"
    assert len(matrix.columns) == 15
    expected = {"stealth": "TA0005", "defense-impairment": "TA0112"}
    newer = 0
    for doc in docs:
        tagged = {t.value for tag in doc["tags"] if (t := parse_attack_tag(tag)) and t.value in expected}
        if not tagged:
            continue
        newer += 1
        assert not any(u.endswith(("stealth", "defense-impairment")) for u in doc["attack_unknown"]), doc[
            "uid"
        ]
        assert {expected[v] for v in tagged} & {g["tactic_id"] for g in doc["attack"]}, doc["uid"]
    assert newer > 100
    impairment = next(c for c in matrix.columns if c.tactic_id == "TA0112")
    assert impairment.name == "Defense Impairment" and impairment.covered >= 5


def test_platform_filters_add_up(corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        all_rules = attack_answers.attack_matrix(catalog)
        windows = attack_answers.attack_matrix(catalog, AttackFilters(platform="Windows"))
        linux = attack_answers.attack_matrix(catalog, AttackFilters(platform="Linux"))
        gaps = attack_answers.gaps_api(catalog, AttackFilters(platform="Windows"))
    assert all_rules is not None and windows is not None and linux is not None and gaps is not None
    assert windows.rules_counted + linux.rules_counted < all_rules.rules_counted
    assert windows.rules_counted > 2000 and linux.rules_counted > 100
    assert gaps["filters"]["platform"] == "Windows"
    assert 0 < len(gaps["gaps"]) < gaps["techniques"] + gaps["subtechniques"]


def test_retired_techniques_are_shown_with_their_replacement(corpus_catalog: Path) -> None:
    with open_catalog(corpus_catalog) as catalog:
        t1086 = attack_answers.technique_api(catalog, "T1086")
    assert t1086 is not None
    assert t1086["revoked"] and t1086["replaced_by"] == {"id": "T1059.001", "name": "PowerShell"}
    page = corpus_catalog / "site" / urls.page_file(urls.attack_technique_path("T1086"))
    assert 'href="../T1059.001/index.html"' in page.read_text(encoding="utf-8")
