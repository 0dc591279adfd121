"""The telemetry atlas over the whole corpus (the session's `corpus_catalog`): coverage examples the issue
names, per-field rule counts against an independent count over the stored documents, provider and vendor
views, uncovered rules."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ruleatlas.store import Catalog
from ruleatlas.store.collection import correlation_rules, rule_names, rule_needs
from ruleatlas.store.telemetry import TelemetryQueries
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.observed import sample_index
from ruleatlas.web.telemetry_views import (
    TelemetryAtlas,
    event_view,
    provider_view,
    providers_view,
    uncovered_view,
    vendor_view,
)

pytestmark = pytest.mark.corpus
SYSMON = "Microsoft-Windows-Sysmon"
SECURITY = "Microsoft-Windows-Security-Auditing"
UNCOUNTED = {"deprecated", "unsupported"}


@pytest.fixture(scope="module")
def catalog(corpus_catalog: Path) -> Iterator[Catalog]:
    opened = Catalog(corpus_catalog)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def docs(catalog: Catalog) -> dict[str, dict[str, Any]]:
    return dict(catalog.raw_documents(s["uid"] for s in catalog.summaries()))


@pytest.fixture(scope="module")
def atlas(catalog: Catalog) -> TelemetryAtlas:
    samples = catalog.blob("telemetry_samples")
    return TelemetryAtlas(
        TelemetryCatalog.from_json(catalog.blob("telemetry")),
        TelemetryQueries(catalog.db),
        sample_index(samples),
    )


def events_of(doc: dict[str, Any]) -> set[tuple[str, object]]:
    return {(e["provider_name"], e["event_id"]) for e in doc["events"]}


def test_the_issues_coverage_examples(docs: dict[str, dict[str, Any]]) -> None:
    assert events_of(docs["sigma/net_connection_win_domain_localtonet_tunnel"]) == {(SYSMON, 3)}
    # a process_creation rule testing only Image and CommandLine: Sysmon 1 and Security 4688
    image_and_command_line = [
        uid
        for uid, doc in docs.items()
        if doc["logsource"].get("category") == "process_creation"
        and doc["logsource"].get("product") == "windows"
        and {p["field"] for s in doc["stages"] for p in s["predicates"]} == {"Image", "CommandLine"}
    ]
    assert len(image_and_command_line) > 20
    for uid in image_and_command_line:
        assert events_of(docs[uid]) == {(SYSMON, 1), (SECURITY, 4688)}, uid
    # one that tests OriginalFileName: Sysmon 1 only (4688 does not carry it)
    whoami = docs["sigma/proc_creation_win_whoami_execution"]
    assert "OriginalFileName" in {p["field"] for s in whoami["stages"] for p in s["predicates"]}
    assert events_of(whoami) == {(SYSMON, 1)}


def independent_field_counts(
    docs: dict[str, dict[str, Any]], provider: str, event_id: int, renames: dict[str, str]
) -> dict[str, dict[str, int]]:
    """Per field, distinct counted rules covering the event that test it: read from the documents alone."""
    rules: dict[str, dict[str, set[str]]] = {}
    for uid, doc in docs.items():
        if doc["kind"] in UNCOUNTED or (provider, event_id) not in events_of(doc):
            continue
        for stage in doc["stages"]:
            for pred in stage["predicates"]:
                names = [pred["field"]] + ([pred["value"]] if pred["kind"] == "fieldref" else [])
                for name in names:
                    if name:
                        field = renames.get(name, name)
                        rules.setdefault(field, {}).setdefault(doc["vendor"], set()).add(uid)
    return {f: {v: len(u) for v, u in per.items()} for f, per in rules.items()}


def view_field_counts(view: dict[str, Any]) -> dict[str, dict[str, int]]:
    rows = [*view["fields"], *view["other_fields"]]
    return {row["name"]: row["rules"]["by_vendor"] for row in rows if row["rules"]["total"]}


@pytest.mark.parametrize("event_id", [1, 3, 11, 13])
def test_sysmon_per_field_counts_equal_an_independent_count(
    atlas: TelemetryAtlas, docs: dict[str, dict[str, Any]], event_id: int
) -> None:
    view = event_view(atlas, atlas.entries[SYSMON], event_id)
    expected = independent_field_counts(docs, SYSMON, event_id, {})
    assert view_field_counts(view) == expected
    assert expected["Image"]["sigma"] > 10
    # distinct rules, not predicates: no field counts more rules than cover the event
    assert max(sum(v.values()) for v in expected.values()) <= view["rules"]["total"]


def test_security_4688_counts_follow_pysigmas_renames(
    atlas: TelemetryAtlas, docs: dict[str, dict[str, Any]]
) -> None:
    view = event_view(atlas, atlas.entries[SECURITY], 4688)
    renames = {"Image": "NewProcessName", "ParentImage": "ParentProcessName"}
    assert view_field_counts(view) == independent_field_counts(docs, SECURITY, 4688, renames)
    fields = {f["name"]: f for f in view["fields"]}
    assert fields["NewProcessName"]["rule_names"] == ["Image"]
    assert fields["NewProcessName"]["rules"]["total"] > 100


def test_sysmon_provider_page_lists_every_event_with_its_title(atlas: TelemetryAtlas) -> None:
    view = provider_view(atlas, atlas.entries[SYSMON])
    definition = atlas.telemetry.providers[SYSMON]
    assert [r["id"] for r in view["event_rows"]] == sorted(definition.events)
    assert all(r["title"] for r in view["event_rows"])
    rows = {r["id"]: r for r in view["event_rows"]}
    assert rows[1]["title"] == "Process creation" and rows[3]["title"] == "Network connection"
    assert rows[1]["sample"] > 0 and rows[1]["path"] == "telemetry/microsoft-windows-sysmon/1/"
    assert view["summary"] == f"{len(definition.events)} events across 1 channel"
    counts = atlas.queries.event_rule_counts([(SYSMON, "1")])
    assert rows[1]["rules"]["by_vendor"] == counts[(SYSMON, "1")]


def test_event_page_view_has_example_enums_indicators_and_rules(atlas: TelemetryAtlas) -> None:
    view = event_view(atlas, atlas.entries[SYSMON], 3)
    assert view["sample"] is not None and view["sample"]["count"] > 0
    assert dict(view["sample"]["example"])["EventID"] == "3"
    assert any(e["field"] == "Initiated" for e in view["sample"]["enums"])
    top = view["indicators"][0]
    assert top["rules"] >= view["indicators"][-1]["rules"] and top["by_vendor"] == {"sigma": top["rules"]}
    uids = [r["uid"] for group in view["rules_by_vendor"] for r in group["rules"]]
    assert "sigma/net_connection_win_domain_localtonet_tunnel" in uids
    assert len(uids) == len(set(uids)) == view["rules"]["total"]


def test_vendor_reference_counts_events_providers_and_mappings(
    atlas: TelemetryAtlas, docs: dict[str, dict[str, Any]]
) -> None:
    view = vendor_view(atlas, "sigma")
    pairs = Counter(
        (e["provider_name"] or e["channel"], str(e["event_id"]))
        for doc in docs.values()
        if doc["kind"] not in UNCOUNTED
        for e in {(x["provider_name"], x["channel"], x["event_id"]): x for x in doc["events"]}.values()
    )
    assert view["mappings"] == sum(pairs.values())
    assert view["events"] == len(pairs)
    assert view["providers"] == len({p for p, _ in pairs})


def test_only_rules_without_any_event_are_uncovered_each_with_a_reason(
    atlas: TelemetryAtlas, docs: dict[str, dict[str, Any]]
) -> None:
    view = uncovered_view(atlas)
    listed = {r["uid"]: r for g in view["groups"] for r in g["rules"]}
    assert set(listed) == {uid for uid, doc in docs.items() if not doc["events"]}
    assert all(r["reason"] for r in listed.values())
    assert view["covered_rules"] >= view["counted_rules"] - len(listed)
    # non-Windows products have catch-all events: nearly every counted rule is covered
    assert view["counted_rules"] - view["covered_rules"] <= view["counted_rules"] // 200


def test_the_index_groups_providers(atlas: TelemetryAtlas) -> None:
    view = providers_view(atlas)
    groups = {g["id"]: g for g in view["groups"]}
    assert groups["windows"]["providers"][0]["name"] == SYSMON
    assert {"linux", "aws", "windows"} <= {p["name"] for p in groups["logsource"]["providers"]}
    assert view["events"] > 40_000 and view["mappings"] > 4000


def test_every_windows_rule_and_every_non_windows_product_rule_lists_events(
    docs: dict[str, dict[str, Any]],
) -> None:
    windows = [
        d for d in docs.values() if d["logsource"].get("product") == "windows" and d["kind"] != "correlation"
    ]
    assert len(windows) > 2500
    assert [d["uid"] for d in windows if not d["events"]] == []
    catch_alls = [d for d in windows if any(isinstance(e["event_id"], str) for e in d["events"])]
    assert all(d["events_note"] for d in catch_alls)  # each says why its events could not be named
    products = [d for d in docs.values() if d["logsource"].get("product") not in (None, "", "windows")]
    assert [d["uid"] for d in products if not d["events"]] == []
    linux = docs["sigma/net_connection_lnx_domain_localtonet_tunnel"]
    # a Sigma Linux category rule whose fields Sysmon for Linux's event carries is that event
    assert [(e["provider_name"], e["event_id"]) for e in linux["events"]] == [("Sysmon for Linux", 3)]


def test_collection_needs_read_without_fields_are_the_same_needs(catalog: Catalog) -> None:
    """Collection priority reads the rules' needs without their fields (`fields=False`), and correlations
    resolve the rules they name among their own vendors' rules only: both give what the full reads give."""
    with_fields, _ = rule_needs(catalog.db, fields=True)
    without, _ = rule_needs(catalog.db, fields=False)
    assert with_fields and without == with_fields
    # the names of one vendor's rules, read alone, are that vendor's part of every rule's names
    everyone, own = rule_names(catalog.db), rule_names(catalog.db, ["sigma"])
    assert own and own == {key: uid for key, uid in everyone.items() if key[0] == "sigma"}
    assert rule_names(catalog.db, []) == {}
    # and the correlations this catalog has resolve alike
    for correlation in correlation_rules(catalog.db):
        assert all(own.get(("sigma", r)) == everyone.get(("sigma", r)) for r in correlation.refs)
