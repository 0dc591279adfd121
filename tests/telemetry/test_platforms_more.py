"""The platforms of issue 15's list that were missing (Sysmon for Linux, Defender XDR, Intune, Power Platform)
and every vendor's native log source and action fields: loaders on the pinned package versions with counts
checked independently, event coverage of small rules, and the share of Sentinel's cloud and SaaS rules that
name an action precisely (the Kusto corpus: the cheapest vendor corpus to read)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from test_event_coverage import ends, eq, make_rule, named

from ruleatlas.model import All, Kind, Pred, Problem, RuleKind
from ruleatlas.sources import SHARED_FOLDERS, SOURCES
from ruleatlas.sources.common import read_tree
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.catalog import DEFINED, PLATFORM_KIND, SEEN
from ruleatlas.telemetry.coverage import event_coverage, rule_facts
from ruleatlas.telemetry.platforms import add_platforms, defender_xdr, sysmon_linux
from ruleatlas.telemetry.platforms.actions import action_source, logsource_values, resolve_actions
from ruleatlas.telemetry.platforms.packages import package_version
from ruleatlas.telemetry.platforms.samples import platform_event

KUSTO_PINNED = "1.0.1"
SYSMON_SCHEMA = Path("ossem-dd/resources/schemas/sysmon/sysmonv15.15_4.90.xml")


# -- loaders -------------------------------------------------------------------------------------------------


def test_defender_xdr_tables_agree_with_the_packages_own_module() -> None:
    from sigma.pipelines.microsoftxdr.tables import MICROSOFT_XDR_TABLES

    assert package_version(defender_xdr.DISTRIBUTION) == KUSTO_PINNED
    problems: list[Problem] = []
    platform, providers = defender_xdr.load_defender_xdr(problems)
    assert problems == [] and platform.status == DEFINED
    assert platform.source.startswith(f"pySigma-backend-kusto {KUSTO_PINNED}")
    got = {p.name.removeprefix(defender_xdr.PROVIDER_PREFIX): p for p in providers}
    assert set(got) == set(MICROSOFT_XDR_TABLES) and len(got) == 38
    columns = {t: [f.name for f in p.events[t].fields] for t, p in got.items()}
    assert columns == {t: list(c) for t, c in MICROSOFT_XDR_TABLES.items()}
    assert sum(map(len, columns.values())) == 934
    device = got["DeviceEvents"]
    assert device.label == "Defender XDR · DeviceEvents" and device.kind == PLATFORM_KIND
    assert "ActionType" in columns["DeviceEvents"] and device.events["DeviceEvents"].named


def test_defender_xdr_reads_its_file_as_data_and_reports_a_damaged_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / defender_xdr.TABLES_FILE).parent.mkdir(parents=True)
    (tmp_path / defender_xdr.TABLES_FILE).write_text("MICROSOFT_XDR_TABLES = {broken")
    monkeypatch.setattr(defender_xdr, "package_dir", lambda _: tmp_path)
    problems: list[Problem] = []
    platform, providers = defender_xdr.load_defender_xdr(problems)
    assert providers == [] and "could not be read" in platform.note
    assert [p.file for p in problems] == [str(tmp_path / defender_xdr.TABLES_FILE)]
    (tmp_path / defender_xdr.TABLES_FILE).write_text(
        "import os\nMICROSOFT_XDR_TABLES = {'T': {'ActionType': {'data_type': 'string'}}}\n"
    )
    _, providers = defender_xdr.load_defender_xdr([])
    assert [(p.name, [f.name for f in p.events["T"].fields]) for p in providers] == [
        ("Defender XDR T", ["ActionType"])
    ]


def test_sysmon_for_linux_events_agree_with_the_sysmon_schema(
    telemetry: TelemetryCatalog, shared_dir: Path
) -> None:
    # an independent read of the schema manifest: <event value="N" ...> with its <data name=...> children
    text = (shared_dir / "providers" / SYSMON_SCHEMA).read_text(encoding="utf-8")
    schema = {
        int(m.group(1)): re.findall(r'<data name="([^"]+)"', m.group(2))
        for m in re.finditer(r'<event name="[^"]*" value="(\d+)"[^>]*>(.*?)</event>', text, re.DOTALL)
    }
    platform = telemetry.platforms[sysmon_linux.KEY]
    provider = telemetry.provider(sysmon_linux.PROVIDER)
    assert platform.status == DEFINED and "SysmonForLinux" in platform.source
    assert provider is not None and provider.platform == sysmon_linux.KEY
    assert sorted(provider.events) == [i for i in sysmon_linux.LINUX_EVENTS if i in schema]
    assert len(provider.events) == 10
    for event_id, event in provider.events.items():
        assert [f.name for f in event.fields] == schema[event_id], event_id
    assert provider.events[1].title == "Process creation"


def test_without_a_sysmon_schema_the_platform_says_so() -> None:
    catalog = TelemetryCatalog()
    add_platforms(catalog)
    assert catalog.platforms[sysmon_linux.KEY].status == SEEN
    assert "Sysmon schema was not loaded" in catalog.platforms[sysmon_linux.KEY].note
    assert any(p.file == sysmon_linux.PROVIDER for p in catalog.problems)
    assert {"intune", "power_platform", "defender_xdr"} <= set(catalog.platforms)


# -- coverage ------------------------------------------------------------------------------------------------


def test_vendor_action_fields_name_platform_events(telemetry: TelemetryCatalog) -> None:
    aws = {"product": "aws", "service": "cloudtrail"}
    elastic = named(
        telemetry,
        aws,
        eq("event.provider", "iam.amazonaws.com"),
        eq("event.action", "CreateAccessKey"),
        vendor="elastic",
    )
    assert elastic == ["AWS · iam · CreateAccessKey"]
    udm = named(telemetry, aws, Pred("metadata.product_event_type", Kind.REGEX, "^StopLogging$"))
    assert udm == ["AWS · cloudtrail · StopLogging"]
    alternation = named(
        telemetry, aws, Pred("metadata.product_event_type", Kind.REGEX, "DeleteTrail|StopLogging")
    )
    assert alternation == ["AWS · cloudtrail · DeleteTrail", "AWS · cloudtrail · StopLogging"]
    k8s = named(
        telemetry,
        {"product": "kubernetes", "service": "audit"},
        eq("kubernetes.audit.verb", "create"),
        eq("kubernetes.audit.objectRef.resource", "pods"),
    )
    assert k8s == ["Kubernetes · core · create pods"]
    okta = named(
        telemetry, {"product": "okta", "service": "okta"}, eq("okta.event_type", "user.session.start")
    )
    assert okta == ["Okta · user.session.start"]
    gcp = named(
        telemetry,
        {"product": "gcp", "service": "gcp.audit"},
        ends("event.action", ".compute.firewalls.insert"),
    )
    assert gcp == ["Google Cloud · compute · compute.firewalls.insert"]
    workspace = named(telemetry, {"product": "google_workspace"}, eq("event.action", "CHANGE_PASSWORD"))
    assert workspace == ["Google Workspace · admin · CHANGE_PASSWORD"]


def test_splunk_data_source_names_name_the_action(telemetry: TelemetryCatalog) -> None:
    logsource = {
        "product": "aws",
        "service": "cloudtrail",
        "splunk.data_source": "AWS CloudTrail CreateLoginProfile AND AWS CloudTrail ConsoleLogin",
    }
    assert logsource_values(logsource) == {
        "eventname": [(Kind.EQ, "CreateLoginProfile"), (Kind.EQ, "ConsoleLogin")]
    }
    assert named(telemetry, logsource, eq("userIdentity.type", "IAMUser"), vendor="splunk") == [
        "AWS · iam · CreateLoginProfile",
        "AWS · signin · ConsoleLogin",
    ]
    # a log's own name is no action
    assert logsource_values({"splunk.data_source": "O365 Universal Audit Log"}) == {}


def test_guardduty_findings_take_no_cloudtrail_table(telemetry: TelemetryCatalog) -> None:
    assert action_source("aws", "guardduty") is None
    assert resolve_actions(telemetry, "aws", "guardduty", {"eventname": [(Kind.EQ, "X")]}) is None


def test_a_phrase_names_a_seen_event_and_a_fragment_does_not(telemetry: TelemetryCatalog) -> None:
    entra = {"product": "azure", "service": "auditlogs"}
    phrase = Pred("ActivityDisplayName", Kind.CONTAINS, "Add service principal")
    assert named(telemetry, entra, phrase) == ["Entra ID · audit · Add service principal"]
    fragment = event_coverage(
        make_rule(entra, {"s": All((Pred("OperationName", Kind.CONTAINS, "add"),))}), telemetry
    )
    assert "is a pattern and no event list is defined" in fragment.note


def test_kusto_queries_on_defender_xdr_tables(telemetry: TelemetryCatalog) -> None:
    one = {"product": "windows", "category": "process_creation", "kusto.table": "DeviceProcessEvents"}
    assert named(telemetry, one, eq("FileName", "adfind.exe"), vendor="kusto") == [
        "Defender XDR · DeviceProcessEvents · DeviceProcessEvents"
    ]
    events = {"product": "windows", "kusto.table": "DeviceEvents"}
    got = named(telemetry, events, eq("ActionType", "NamedPipeEvent"), vendor="kusto")
    assert got == ["Defender XDR · DeviceEvents · NamedPipeEvent"]
    several = {"product": "windows", "kusto.table": "DeviceFileEvents, DeviceEvents, DeviceLogonEvents"}
    got = named(
        telemetry,
        several,
        eq("ActionType", "FileCreated"),
        eq("ActionType", "LdapSearch"),
        vendor="kusto",
    )
    assert got == [
        "Defender XDR · DeviceFileEvents · FileCreated",
        "Defender XDR · DeviceEvents · LdapSearch",
        "Defender XDR · DeviceLogonEvents · DeviceLogonEvents",
    ]
    # another table first: its events, and the Defender XDR table's besides
    mixed = {"product": "windows", "service": "security", "kusto.table": "SecurityEvent, DeviceProcessEvents"}
    got = named(telemetry, mixed, eq("EventID", 4688), vendor="kusto")
    assert got == ["Security · 4688", "Defender XDR · DeviceProcessEvents · DeviceProcessEvents"]


def test_linux_categories_are_sysmon_for_linux_events_for_sigma_and_sysmon_rules(
    telemetry: TelemetryCatalog,
) -> None:
    linux = {"product": "linux", "category": "process_creation"}
    assert named(telemetry, linux, eq("Image", "/usr/bin/curl")) == ["Sysmon for Linux · 1"]
    splunk = {"product": "linux", "category": "file_event", "service": "sysmon"}
    assert named(telemetry, splunk, eq("TargetFilename", "/etc/passwd"), vendor="splunk") == [
        "Sysmon for Linux · 11"
    ]
    # Elastic's Linux rules read Elastic Defend or auditd, not Sysmon
    assert "Sysmon for Linux · 1" not in named(telemetry, linux, eq("process.name", "curl"), vendor="elastic")


def test_intune_and_dataverse_rules_and_samples(telemetry: TelemetryCatalog) -> None:
    intune = {"product": "intune", "service": "auditlogs"}
    assert named(telemetry, intune, eq("operationName", "Create MobileApp"), vendor="panther") == [
        "Intune · audit · Create MobileApp"
    ]
    dataverse = {"product": "power_platform", "service": "dataverse"}
    assert named(telemetry, dataverse, eq("Message", "RetrieveMultiple"), vendor="kusto") == [
        "Power Platform · Dataverse · RetrieveMultiple"
    ]
    record = {
        "category": "AuditLogs",
        "operationName": "Create MobileApp",
        "properties": {"ActivityResultStatus": 1},
    }
    assert platform_event(record, telemetry) == ("Intune audit logs", "Create MobileApp")
    entra = {"category": "AuditLogs", "operationName": "Add user", "properties": {"targetResources": []}}
    assert platform_event(entra, telemetry) == ("Entra ID audit logs", "Add user")


# -- corpus --------------------------------------------------------------------------------------------------


@pytest.mark.corpus
def test_sentinel_cloud_rules_that_name_an_action_are_precise(
    telemetry: TelemetryCatalog, shared_dir: Path
) -> None:
    vendor, module = SOURCES["kusto"]
    result = read_tree(importlib.import_module(module), shared_dir / "corpus" / SHARED_FOLDERS["kusto"])
    named_rules = precise = xdr = 0
    for rule in result.rules:
        if rule.kind is not RuleKind.DETECTION:
            continue
        product, service = rule.logsource.get("product", ""), rule.logsource.get("service", "")
        coverage = event_coverage(rule, telemetry)
        if any(e.provider_name.startswith(defender_xdr.PROVIDER_PREFIX) for e in coverage.events):
            xdr += 1
        if product in ("windows", "linux", "") or action_source(product, service) is None:
            continue
        resolution = resolve_actions(telemetry, product, service, rule_facts(rule).values, rule.logsource)
        if resolution is None or not resolution.named_action:
            continue
        named_rules += 1
        providers = [telemetry.provider(e.provider_name) for e in coverage.events]
        if coverage.events and all(p is None or p.kind == PLATFORM_KIND for p in providers):
            precise += 1
        else:
            assert coverage.note, rule.uid  # an imprecise rule says why
    assert vendor == "kusto" and named_rules > 140
    assert precise / named_rules >= 0.9, (precise, named_rules)
    assert xdr > 60  # the queries on Defender XDR tables
