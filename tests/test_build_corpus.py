"""The whole SigmaHQ corpus of ../shared, built end to end: every file accounted for, and the seed page's
rule with everything the seed page shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from ruleatlas.cli import main
from ruleatlas.sources.sigma import list_sigma_files

LOCALTONET = "sigma/net_connection_win_domain_localtonet_tunnel"
LOCALTONET_PATH = "rules/windows/network_connection/net_connection_win_domain_localtonet_tunnel.yml"
SEED_SELECTION = """selection:
    DestinationHostname|endswith:
        - '.localto.net'
        - '.localtonet.com'
    Initiated: 'true'
"""


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def localtonet(corpus_catalog: Path) -> dict[str, Any]:
    from ruleatlas.store import open_catalog

    with open_catalog(corpus_catalog) as catalog:
        doc = catalog.rule_document(LOCALTONET)
    assert doc is not None
    return doc


def test_rules_and_errors_account_for_every_file(
    corpus_catalog: Path, shared_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stats = cli_json(capsys, "stats", "--catalog", str(corpus_catalog))
    on_disk = list_sigma_files(shared_dir / "corpus" / "sigma")
    assert stats["files"] == len(on_disk) == 4039
    assert stats["files_with_rules"] + stats["errors"] == stats["files"]
    assert sum(f["files"] for f in stats["per_folder"].values()) == stats["files"]
    assert stats["per_folder"]["sigma/rules"]["files"] == 3141
    assert stats["per_folder"]["sigma/deprecated"]["files"] == 172
    assert stats["per_kind"]["deprecated"] >= 172
    assert stats["per_kind"]["hunting"] == 140
    # Every rule page was written.
    site_pages = list((corpus_catalog / "site" / "rules" / "sigma").glob("*/index.html"))
    assert len(site_pages) == stats["rules"]


def test_every_problem_names_its_file(corpus_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problems = cli_json(capsys, "problems", "--catalog", str(corpus_catalog))
    assert problems, "the corpus's unsupported/ folder holds legacy aggregations that must be reported"
    for p in problems:
        assert p["file"].endswith(".yml") and p["message"]
        assert p["line"] is None or p["line"] >= 1
    # SigmaHQ's live folders are clean; problems come from legacy syntax kept aside upstream.
    assert {p["file"].split("/")[0] for p in problems if p["severity"] == "error"} <= {
        "unsupported",
        "deprecated",
    }


def test_localtonet_has_everything_the_seed_page_has(localtonet: dict[str, Any], shared_dir: Path) -> None:
    doc = localtonet
    assert doc["title"] == "Communication To LocaltoNet Tunneling Service Initiated"
    assert (doc["status"], doc["level"]) == ("test", "high")
    assert doc["logsource_text"] == "product windows, category network_connection"
    assert doc["author"] == "Andreas Braathen (mnemonic.io)"
    assert doc["source"]["repo"] == "https://github.com/SigmaHQ/sigma"
    assert doc["source"]["url"].endswith(f"/blob/{doc['source']['commit']}/{LOCALTONET_PATH}")
    assert doc["description"].startswith(
        'Detects an executable initiating a network connection to "LocaltoNet"'
    )
    assert doc["falsepositives"] == ["Legitimate use of the LocaltoNet service."]
    assert [(t["tactic"], t["tactic_id"]) for t in doc["attack"]] == [("Command and Control", "TA0011")]
    assert [(t["id"], t["name"]) for t in doc["attack"][0]["techniques"]] == [
        ("T1090", "Proxy"),
        ("T1102", "Web Service"),
        ("T1572", "Protocol Tunneling"),
    ]
    assert [(e["provider"], e["event_id"], e["title"]) for e in doc["events"]] == [
        ("Sysmon", 3, "Network connection")
    ]
    body = (shared_dir / "corpus" / "sigma" / LOCALTONET_PATH).read_text(encoding="utf-8")
    assert doc["body"].strip() == body.strip()
    assert [(s["index"], s["label"], s["text"].strip()) for s in doc["stages"]] == [
        (0, "condition", "selection"),
        (1, "selection", SEED_SELECTION.strip()),
    ]


def independent_initiated_true_count(sigma_dir: Path) -> int:
    """Rules outside deprecated/ and unsupported/ that test `Initiated: 'true'` positively, by plain YAML."""
    count = 0
    for path, _rel, folder in list_sigma_files(sigma_dir):
        if not folder.startswith("rules"):
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or doc.get("status") in ("deprecated", "unsupported"):
                continue
            detection = doc.get("detection") or {}
            condition = str(detection.get("condition", ""))
            hit = False
            for name, search in detection.items():
                if name == "condition" or f"not {name}" in condition:
                    continue
                for item in search if isinstance(search, list) else [search]:
                    if isinstance(item, dict) and str(item.get("Initiated", "")).lower() == "true":
                        hit = True
            count += hit
    return count


def test_localtonet_indicators_and_corpus_counts(localtonet: dict[str, Any], shared_dir: Path) -> None:
    corpus = {(i["field"], i["kind"], i["value"]): i["corpus"] for i in localtonet["indicators"]}
    assert corpus[("DestinationHostname", "ends_with", ".localto.net")] == {
        "total": 2,
        "by_vendor": {"sigma": 2},
    }
    assert corpus[("DestinationHostname", "ends_with", ".localtonet.com")] == {
        "total": 2,
        "by_vendor": {"sigma": 2},
    }
    expected = independent_initiated_true_count(shared_dir / "corpus" / "sigma")
    assert expected > 40
    assert corpus[("Initiated", "eq", "true")] == {"total": expected, "by_vendor": {"sigma": expected}}
    assert localtonet["exclusions"] == []
    assert localtonet["problems"] == []


def test_show_text_for_the_seed_rule(corpus_catalog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["show", "net_connection_win_domain_localtonet_tunnel", "--catalog", str(corpus_catalog)]) == 0
    )
    text = capsys.readouterr().out
    for line in (
        "Command and Control (TA0011): T1090 Proxy, T1102 Web Service, T1572 Protocol Tunneling",
        "Event ID 3",
        "Network connection",
        "• .localto.net  corpus 2 (sigma 2)",
    ):
        assert line in text


def test_windows_rules_have_event_coverage(corpus_catalog: Path) -> None:
    from ruleatlas.store import open_catalog

    with open_catalog(corpus_catalog) as catalog:
        summaries = [s for s in catalog.summaries() if s["product"] == "windows" and s["kind"] == "detection"]
        missing = []
        for s in summaries:
            doc = catalog.rule_document(s["uid"])
            assert doc is not None
            if not doc["events"]:
                assert doc["events_note"], f"{s['uid']} has no events and no reason"
                missing.append(s["uid"])
    assert len(summaries) > 2500
    assert len(missing) / len(summaries) < 0.01
