"""event_coverage over the real telemetry data (../shared/providers + SigmaHQ's thor.yml/logsource.json)."""

from __future__ import annotations

import json
from dataclasses import replace

from ruleatlas.model import (
    All,
    Any,
    Correlation,
    Expr,
    Kind,
    Not,
    Pred,
    Ref,
    Rule,
    RuleKind,
    SourceRef,
    Stage,
)
from ruleatlas.telemetry import TelemetryCatalog
from ruleatlas.telemetry.coverage import EventRef, event_coverage, rule_facts

SYSMON = "Microsoft-Windows-Sysmon/Operational"
WINDOWS = {"product": "windows"}


def make_rule(
    logsource: dict[str, str],
    searches: dict[str, Expr],
    condition: Expr | None = None,
    *,
    kind: RuleKind = RuleKind.DETECTION,
) -> Rule:
    """A Sigma-shaped rule: stage 0 the condition (default: every search AND-ed), then the searches."""
    if condition is None:
        refs = tuple(Ref(name) for name in searches)
        condition = refs[0] if len(refs) == 1 else All(refs)
    stages = [Stage(0, "condition", "condition", "", condition)]
    stages += [Stage(i, name, "search", "", expr) for i, (name, expr) in enumerate(searches.items(), 1)]
    return Rule(
        uid="sigma/test_rule",
        vendor="sigma",
        language="sigma",
        source=SourceRef(repo="test", path="test_rule.yml"),
        folder="rules",
        kind=kind,
        logsource=logsource,
        stages=stages,
    )


def eq(field: str | None, value: str | int) -> Pred:
    return Pred(field, Kind.EQ, value)


def ends(field: str, value: str) -> Pred:
    return Pred(field, Kind.ENDS_WITH, value)


def named(
    telemetry: TelemetryCatalog, logsource: dict[str, str], *preds: Pred, vendor: str = "sigma"
) -> list[str]:
    """The events a rule of `vendor` with one search of `preds` (AND-ed) covers, as "provider · event"."""
    rule = replace(make_rule(logsource, {"selection": All(preds)}), vendor=vendor)
    return [f"{e.provider} · {e.event_id}" for e in event_coverage(rule, telemetry).events]


def keys(refs: list[EventRef]) -> list[tuple[str, int]]:
    return [(r.provider, r.event_id) for r in refs]


def test_network_connection_is_exactly_sysmon_3(telemetry: TelemetryCatalog) -> None:
    selection = All(
        (
            Any(
                (ends("DestinationHostname", ".localto.net"), ends("DestinationHostname", ".localtonet.com"))
            ),
            eq("Initiated", "true"),
        )
    )
    rule = make_rule({"category": "network_connection", "product": "windows"}, {"selection": selection})
    coverage = event_coverage(rule, telemetry)
    assert coverage.events == [
        EventRef("Sysmon", "Microsoft-Windows-Sysmon", SYSMON, 3, "Network connection")
    ]
    assert coverage.note == ""


def test_process_creation_with_image_and_command_line_is_sysmon_1_and_security_4688(
    telemetry: TelemetryCatalog,
) -> None:
    selection = All((ends("Image", "\\cmd.exe"), Pred("CommandLine", Kind.CONTAINS, "/c whoami")))
    coverage = event_coverage(
        make_rule({"category": "process_creation", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert coverage.events == [
        EventRef("Sysmon", "Microsoft-Windows-Sysmon", SYSMON, 1, "Process creation"),
        EventRef(
            "Security",
            "Microsoft-Windows-Security-Auditing",
            "Security",
            4688,
            "A new process has been created.",
        ),
    ]
    assert coverage.note == ""


def test_original_file_name_leaves_security_4688_out(telemetry: TelemetryCatalog) -> None:
    selection = Any((ends("Image", "\\rundll32.exe"), eq("OriginalFileName", "RUNDLL32.EXE")))
    coverage = event_coverage(
        make_rule({"category": "process_creation", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert keys(coverage.events) == [("Sysmon", 1)]
    assert coverage.note == "Security 4688 left out: it does not carry OriginalFileName, which the rule uses."


def test_negated_filter_fields_count_too(telemetry: TelemetryCatalog) -> None:
    searches: dict[str, Expr] = {
        "selection": ends("Image", "\\rundll32.exe"),
        "filter": eq("OriginalFileName", "RUNDLL32.EXE"),
    }
    rule = make_rule(
        {"category": "process_creation", "product": "windows"},
        searches,
        All((Ref("selection"), Not(Ref("filter")))),
    )
    assert keys(event_coverage(rule, telemetry).events) == [("Sysmon", 1)]


def test_no_candidate_carries_every_field_keeps_the_primary_and_says_why(telemetry: TelemetryCatalog) -> None:
    selection = All((ends("GrandParentImage", "\\winword.exe"), ends("Image", "\\cmd.exe")))
    coverage = event_coverage(
        make_rule({"category": "process_creation", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert keys(coverage.events) == [("Sysmon", 1)]
    assert "kept the primary one, Sysmon 1, which does not carry GrandParentImage" in coverage.note


def test_service_security_with_event_id_4624(telemetry: TelemetryCatalog) -> None:
    selection = All((eq("EventID", 4624), eq("LogonType", 10)))
    coverage = event_coverage(
        make_rule({"product": "windows", "service": "security"}, {"selection": selection}), telemetry
    )
    assert coverage.events == [
        EventRef(
            "Security",
            "Microsoft-Windows-Security-Auditing",
            "Security",
            4624,
            "An account was successfully logged on.",
        )
    ]
    assert coverage.note == ""


def test_event_ids_given_as_strings_and_a_provider_in_another_selection(telemetry: TelemetryCatalog) -> None:
    searches: dict[str, Expr] = {
        "selection_517": All((eq("EventID", "517"), eq("Provider_Name", "Security"))),
        "selection_1102": All((eq("EventID", "1102"), eq("Provider_Name", "Microsoft-Windows-Eventlog"))),
    }
    rule = make_rule(
        {"product": "windows", "service": "security"},
        searches,
        Any((Ref("selection_517"), Ref("selection_1102"))),
    )
    coverage = event_coverage(rule, telemetry)
    assert coverage.events == [
        EventRef("Security", "Security", "Security", 517, ""),
        EventRef("Security", "Microsoft-Windows-Eventlog", "Security", 1102, "The audit log was cleared."),
    ]
    assert coverage.note == "Not in the telemetry definitions (no title or fields known): Security 517."


def test_ps_script_is_powershell_4104(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"category": "ps_script", "product": "windows"},
        {"selection": Pred("ScriptBlockText", Kind.CONTAINS, "Invoke-Mimikatz")},
    )
    coverage = event_coverage(rule, telemetry)
    first = coverage.events[0]
    assert (first.provider, first.provider_name, first.channel, first.event_id) == (
        "PowerShell",
        "Microsoft-Windows-PowerShell",
        "Microsoft-Windows-PowerShell/Operational",
        4104,
    )
    assert first.title.startswith("Creating Scriptblock text")
    # the taxonomy maps ps_script to PowerShell 7's channel too; its manifest has no field list to check
    assert keys(coverage.events)[1:] == [("PowerShellCore", 4104)]
    assert coverage.note == "Fields not checked for PowerShellCore 4104 (no field list)."


def test_channel_predicate_narrows_a_category(telemetry: TelemetryCatalog) -> None:
    selection = All(
        (eq("Channel", "PowerShellCore/Operational"), Pred("ScriptBlockText", Kind.CONTAINS, "iex"))
    )
    coverage = event_coverage(
        make_rule({"category": "ps_script", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert [(e.provider_name, e.channel, e.event_id) for e in coverage.events] == [
        ("PowerShellCore", "PowerShellCore/Operational", 4104)
    ]


def test_channel_predicate_without_category_or_service(telemetry: TelemetryCatalog) -> None:
    selection = All((eq("Channel", "Microsoft-Windows-TaskScheduler/Operational"), eq("EventID", 106)))
    coverage = event_coverage(make_rule(WINDOWS, {"selection": selection}), telemetry)
    assert [(e.provider_name, e.channel, e.event_id) for e in coverage.events] == [
        ("Microsoft-Windows-TaskScheduler", "Microsoft-Windows-TaskScheduler/Operational", 106)
    ]
    assert coverage.events[0].title == 'User "…" registered Task Scheduler task "…"'


def test_service_system_7045_without_provider_name(telemetry: TelemetryCatalog) -> None:
    selection = All((eq("EventID", 7045), eq("ServiceName", "KrbSCM")))
    coverage = event_coverage(
        make_rule({"product": "windows", "service": "system"}, {"selection": selection}), telemetry
    )
    assert coverage.events == [
        EventRef(
            "System", "Service Control Manager", "System", 7045, "A service was installed in the system."
        )
    ]
    assert coverage.note == ""


def test_unknown_provider_event_is_listed_without_title_and_noted(telemetry: TelemetryCatalog) -> None:
    selection = All((eq("Provider_Name", "MsiInstaller"), eq("EventID", 1033)))
    coverage = event_coverage(
        make_rule({"product": "windows", "service": "application"}, {"selection": selection}), telemetry
    )
    assert coverage.events == [EventRef("Application", "MsiInstaller", "Application", 1033, "")]
    assert (
        coverage.note
        == "Not in the telemetry definitions (no title or fields known): Application 1033 (MsiInstaller)."
    )


def test_driver_load(telemetry: TelemetryCatalog) -> None:
    selection = All((ends("ImageLoaded", "\\evil.sys"), eq("Signed", "false")))
    coverage = event_coverage(
        make_rule({"category": "driver_load", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert coverage.events == [EventRef("Sysmon", "Microsoft-Windows-Sysmon", SYSMON, 6, "Driver loaded")]


def test_image_load(telemetry: TelemetryCatalog) -> None:
    selection = All((ends("ImageLoaded", "\\dbghelp.dll"), ends("Image", "\\rundll32.exe")))
    coverage = event_coverage(
        make_rule({"category": "image_load", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert coverage.events == [EventRef("Sysmon", "Microsoft-Windows-Sysmon", SYSMON, 7, "Image loaded")]


def test_registry_set_maps_to_sysmon_13_and_security_4657_through_pysigma_renames(
    telemetry: TelemetryCatalog,
) -> None:
    selection = All((Pred("TargetObject", Kind.CONTAINS, "\\CurrentVersion\\Run"), eq("Details", "x")))
    coverage = event_coverage(
        make_rule({"category": "registry_set", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert coverage.events == [
        EventRef("Sysmon", "Microsoft-Windows-Sysmon", SYSMON, 13, "RegistryEvent (Value Set)"),
        EventRef(
            "Security",
            "Microsoft-Windows-Security-Auditing",
            "Security",
            4657,
            "A registry value was modified.",
        ),
    ]


def test_registry_set_testing_event_type_has_no_4657_counterpart(telemetry: TelemetryCatalog) -> None:
    selection = All((eq("EventType", "SetValue"), Pred("TargetObject", Kind.CONTAINS, "\\Run")))
    coverage = event_coverage(
        make_rule({"category": "registry_set", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert keys(coverage.events) == [("Sysmon", 13)]
    assert coverage.note == "Security 4657 left out: it does not carry EventType, which the rule uses."


def test_registry_event_picks_the_sysmon_events_carrying_the_fields(telemetry: TelemetryCatalog) -> None:
    selection = All((Pred("TargetObject", Kind.CONTAINS, "\\Run"), eq("Details", "x")))
    coverage = event_coverage(
        make_rule({"category": "registry_event", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert keys(coverage.events) == [("Sysmon", 13), ("Security", 4657)]
    assert (
        coverage.note
        == "Left out for not carrying fields the rule uses: Sysmon 12 (Details); Sysmon 14 (Details)."
    )


def test_event_id_narrows_a_category(telemetry: TelemetryCatalog) -> None:
    selection = All((eq("EventID", 14), Pred("NewName", Kind.CONTAINS, "x")))
    coverage = event_coverage(
        make_rule({"category": "registry_event", "product": "windows"}, {"selection": selection}), telemetry
    )
    assert keys(coverage.events) == [("Sysmon", 14)]


def test_dns_query(telemetry: TelemetryCatalog) -> None:
    coverage = event_coverage(
        make_rule(
            {"category": "dns_query", "product": "windows"}, {"selection": ends("QueryName", ".onion")}
        ),
        telemetry,
    )
    assert coverage.events == [
        EventRef("Sysmon", "Microsoft-Windows-Sysmon", SYSMON, 22, "DNSEvent (DNS query)")
    ]


def test_classic_powershell_data_field(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"category": "ps_classic_start", "product": "windows"},
        {"selection": Pred("Data", Kind.CONTAINS, "HostName=ConsoleHost")},
    )
    coverage = event_coverage(rule, telemetry)
    assert coverage.events == [
        EventRef("Windows PowerShell", "PowerShell", "Windows PowerShell", 400, "Engine Lifecycle")
    ]
    assert coverage.note == ""


def test_non_windows_product_is_a_catch_all_event_of_its_product(telemetry: TelemetryCatalog) -> None:
    # another vendor's Linux rule (a Sigma one is on Sysmon for Linux: test_platforms_more.py)
    rule = make_rule(
        {"category": "process_creation", "product": "linux"}, {"selection": ends("Image", "/bash")}
    )
    rule.vendor = "elastic"
    coverage = event_coverage(rule, telemetry)
    assert coverage.events == [
        EventRef("Linux", "linux", "", "process_creation", "Linux process_creation"),
    ]
    assert coverage.note == ""


def test_a_cloud_rule_without_an_action_is_its_services_catch_all(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"product": "aws", "service": "cloudtrail"}, {"selection": eq("userIdentity.type", "Root")}
    )
    coverage = event_coverage(rule, telemetry)
    assert coverage.events == [EventRef("AWS", "aws", "", "cloudtrail", "AWS cloudtrail")]
    assert coverage.note == "The rule tests no eventName, so no single event can be named."


def test_fields_the_taxonomy_does_not_list_are_noted(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"product": "linux", "category": "process_creation"},
        {"selection": All((ends("Image", "/curl"), eq("noSuchField", "x")))},
    )
    coverage = event_coverage(rule, telemetry)
    assert keys(coverage.events) == [("Linux", "process_creation")]
    assert coverage.note == (
        "SigmaHQ's tests/logsource.json does not list noSuchField "
        "for product linux, category process_creation. Sysmon for Linux 1 does not carry noSuchField."
    )


def test_product_only_and_product_less_log_sources(telemetry: TelemetryCatalog) -> None:
    linux_only = event_coverage(make_rule({"product": "linux"}, {"keywords": eq(None, "x")}), telemetry)
    assert keys(linux_only.events) == [("Linux", "any")]
    proxy = event_coverage(make_rule({"category": "proxy"}, {"selection": eq("c-uri", "/x")}), telemetry)
    assert [(e.provider_name, e.event_id, e.title) for e in proxy.events] == [
        ("proxy", "any", "Any Proxy event")
    ]
    assert proxy.note == ""


def test_product_the_taxonomy_does_not_know_gets_a_note(telemetry: TelemetryCatalog) -> None:
    rule = make_rule({"product": "acme_os", "category": "x"}, {"selection": eq("a", "b")})
    coverage = event_coverage(rule, telemetry)
    assert coverage.events == []
    assert coverage.note == (
        "No telemetry definitions for product acme_os: SigmaHQ's tests/logsource.json does not list it."
    )


def test_unknown_category_of_a_known_product_is_an_undefined_event(telemetry: TelemetryCatalog) -> None:
    rule = make_rule({"product": "linux", "category": "teleport"}, {"selection": eq("a", "b")})
    coverage = event_coverage(rule, telemetry)
    assert coverage.events == [EventRef("Linux", "linux", "", "teleport", "")]
    assert coverage.note.startswith(
        "Not in the telemetry definitions (no title or fields known): Linux teleport;"
    )


def test_windows_category_without_mapping_is_any_windows_event(telemetry: TelemetryCatalog) -> None:
    rule = make_rule({"category": "webserver", "product": "windows"}, {"selection": eq("cs-method", "GET")})
    coverage = event_coverage(rule, telemetry)
    assert keys(coverage.events) == [("Windows", "any")]
    assert coverage.note == (
        "Category webserver has no Windows event mapping (pySigma pipelines, thor.yml). "
        "Listed as the catch-all event windows/any: any Windows event."
    )


def test_keyword_only_windows_rule_says_why_it_is_a_catch_all(telemetry: TelemetryCatalog) -> None:
    coverage = event_coverage(make_rule(WINDOWS, {"keywords": eq(None, "mimikatz")}), telemetry)
    assert keys(coverage.events) == [("Windows", "any")]
    assert coverage.note == (
        "Log source product windows names no category or service, and the rule no Channel. "
        "Listed as the catch-all event windows/any: any Windows event."
    )


def test_keyword_rule_on_a_service_is_any_event_of_its_channel(telemetry: TelemetryCatalog) -> None:
    rule = make_rule({"product": "windows", "service": "msexchange-management"}, {"k": eq(None, "x")})
    coverage = event_coverage(rule, telemetry)
    assert [(e.provider_name, e.channel, e.event_id) for e in coverage.events] == [
        ("windows", "MSExchange Management", "msexchange-management")
    ]
    assert coverage.note.endswith(
        "Listed as the catch-all event windows/msexchange-management: any event on MSExchange Management."
    )


def test_correlation_rule_has_no_events_of_its_own(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(WINDOWS, {}, Ref("x"), kind=RuleKind.CORRELATION)
    rule.correlation = Correlation(type="event_count", rules=("a",))
    coverage = event_coverage(rule, telemetry)
    assert coverage.events == []
    assert coverage.note.startswith("Correlation rule")


def test_an_inline_aggregation_covers_the_events_of_its_log_source(telemetry: TelemetryCatalog) -> None:
    rule = make_rule({"product": "windows", "category": "process_creation"}, {"s": ends("Image", "\\x.exe")})
    rule.correlation = Correlation(type="sequence", rules=(), group_by=("process.entity_id",))
    coverage = event_coverage(rule, telemetry)
    assert coverage.events and not coverage.note.startswith("Correlation rule")


def test_rule_facts_pair_event_ids_with_their_selection_providers() -> None:
    searches: dict[str, Expr] = {
        "selection": All(
            (
                Any(
                    (
                        eq("Provider_Name", "Kerberos-Key-Distribution-Center"),
                        eq("Provider_Name", "Microsoft-Windows-Kerberos-Key-Distribution-Center"),
                    )
                ),
                eq("EventID", 42),
            )
        ),
        "filter": eq("EventID", 43),
    }
    facts = rule_facts(
        make_rule(
            {"product": "windows", "service": "system"}, searches, All((Ref("selection"), Not(Ref("filter"))))
        )
    )
    assert facts.event_ids == [42]
    assert facts.excluded_ids == {43}
    assert facts.pairs == [
        (("Kerberos-Key-Distribution-Center", "Microsoft-Windows-Kerberos-Key-Distribution-Center"), 42)
    ]


def test_alternative_provider_spellings_give_one_event(telemetry: TelemetryCatalog) -> None:
    selection = All(
        (
            Any(
                (
                    eq("Provider_Name", "Kerberos-Key-Distribution-Center"),
                    eq("Provider_Name", "Microsoft-Windows-Kerberos-Key-Distribution-Center"),
                )
            ),
            eq("EventID", 42),
        )
    )
    coverage = event_coverage(
        make_rule({"product": "windows", "service": "system"}, {"selection": selection}), telemetry
    )
    assert [(e.provider, e.provider_name, e.event_id) for e in coverage.events] == [
        ("System", "Microsoft-Windows-Kerberos-Key-Distribution-Center", 42)
    ]
    assert coverage.note == ""


def test_coverage_json_matches_the_page_document_keys(telemetry: TelemetryCatalog) -> None:
    rule = make_rule(
        {"category": "network_connection", "product": "windows"}, {"selection": eq("Initiated", "true")}
    )
    assert event_coverage(rule, telemetry).to_json() == {
        "events": [
            {
                "provider": "Sysmon",
                "provider_name": "Microsoft-Windows-Sysmon",
                "channel": SYSMON,
                "event_id": 3,
                "title": "Network connection",
            }
        ],
        "events_note": "",
    }
    json.dumps(event_coverage(rule, telemetry).to_json())
